#!/usr/bin/env bash
# Builds the demo agent image `cattery/demo-agent:latest` without a registry:
# a root filesystem of Debian's static busybox plus assets/agents/demo.sh,
# imported with `docker import`. Uses whatever engine DOCKER_HOST names.
#   apt-get install -y busybox-static   # provides /bin/busybox
set -euo pipefail
cd "$(dirname "$0")/.."

busybox=${BUSYBOX:-/bin/busybox}
if ! "$busybox" --list >/dev/null 2>&1; then
  echo "build-demo-image: $busybox is not a static busybox; install busybox-static" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/bin "$root"/tmp "$root"/etc "$root"/proc "$root"/sys "$root"/dev "$root"/opt/cattery "$root"/cattery
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  # Linking busybox itself would overwrite the binary with a symlink to itself.
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
install -m 0755 assets/agents/demo.sh "$root/opt/cattery/demo.sh"
echo "nobody:x:65534:65534:nobody:/tmp:/bin/sh" >"$root/etc/passwd"
chmod 1777 "$root/tmp"

tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/bin' \
  -c 'WORKDIR /tmp' \
  -c 'CMD ["sh", "/opt/cattery/demo.sh"]' \
  - cattery/demo-agent:latest >/dev/null
echo "built cattery/demo-agent:latest"

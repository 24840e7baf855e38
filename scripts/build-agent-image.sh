#!/usr/bin/env bash
# Builds the agent image `cattery/agent:latest` without a registry: a Debian
# root filesystem from mmdebstrap (git, ca-certificates), plus the native
# Claude Code and Codex binaries of the pinned npm packages, imported with
# `docker import`. Uses whatever engine DOCKER_HOST names. The same image,
# built the usual way, is assets/images/agent/Dockerfile.
#   AGENT_CLIS=/opt/cattery-agents   # reuse an npm prefix holding both CLIs
#   apt-get install -y mmdebstrap    # when it is missing
set -euo pipefail
cd "$(dirname "$0")/.."

CLAUDE_CODE_VERSION=${CLAUDE_CODE_VERSION:-2.1.332}
CODEX_VERSION=${CODEX_VERSION:-0.171.0}
SUITE=${SUITE:-bookworm}
IMAGE=${IMAGE:-cattery/agent:latest}

if ! command -v mmdebstrap >/dev/null; then
  echo "build-agent-image: mmdebstrap is missing; apt-get install -y mmdebstrap" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

clis=${AGENT_CLIS:-}
if [ -z "$clis" ]; then
  clis="$work/npm"
  npm install -g --prefix "$clis" --no-fund --no-audit --loglevel=error \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "@openai/codex@$CODEX_VERSION" >/dev/null
fi
# The native binaries live in each package's platform dependency.
claude=$(find "$clis/lib/node_modules/@anthropic-ai" -path '*claude-code-linux-x64/claude' -type f | head -n1)
codex_dir=$(find "$clis/lib/node_modules/@openai" -path '*/vendor/x86_64-unknown-linux-musl' -type d | head -n1)
if [ ! -x "$claude" ] || [ ! -x "$codex_dir/bin/codex" ]; then
  echo "build-agent-image: no native claude or codex binary under $clis" >&2
  exit 1
fi

root="$work/root"
mmdebstrap --quiet --variant=minbase --include=git,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$SUITE" "$root"
install -m 0755 "$claude" "$root/usr/local/bin/claude"
mkdir -p "$root/usr/local/lib/codex"
cp -a "$codex_dir/." "$root/usr/local/lib/codex/"
ln -sf /usr/local/lib/codex/bin/codex "$root/usr/local/bin/codex"
rm -rf "$root/var/lib/apt/lists"/* "$root/var/cache/apt"/*
chmod 1777 "$root/tmp"

tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'ENV DISABLE_AUTOUPDATER=1' \
  -c 'WORKDIR /tmp' \
  - "$IMAGE" >/dev/null
echo "built $IMAGE (claude $CLAUDE_CODE_VERSION, codex $CODEX_VERSION)"

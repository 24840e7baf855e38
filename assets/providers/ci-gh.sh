#!/bin/sh
# cattery's `gh` CI provider: the checks of the pull request for the run's
# branch, as {"checks":[{name,status,conclusion,url}]}. Runs on the host in
# the run's worktree, with the user's own `gh` login. A branch with no pull
# request (or no checks yet) has no checks, which the ci gate passes.
set -u
branch="${CATTERY_BRANCH:?the daemon sets CATTERY_BRANCH}"
if ! command -v gh >/dev/null 2>&1; then
  echo "gh is not installed; install GitHub's CLI and run gh auth login, or set the frame's ci provider to local or a command" >&2
  exit 2
fi
[ -n "${CATTERY_REPOSITORY:-}" ] && cd "$CATTERY_REPOSITORY"
out=$(gh pr checks "$branch" --json name,bucket,link --jq '
  {checks: [.[] | {
    name: .name,
    url: .link,
    status: (if .bucket == "pending" then "in_progress" else "completed" end),
    conclusion: ({"pass": "success", "fail": "failure", "skipping": "skipped", "cancel": "cancelled"}[.bucket])
  }]}' 2>/tmp/cattery-gh-ci.$$)
code=$?
err=$(cat /tmp/cattery-gh-ci.$$ 2>/dev/null); rm -f /tmp/cattery-gh-ci.$$
case "$err" in
  *"no pull requests found"*|*"no checks reported"*) echo '{"checks":[]}'; exit 0 ;;
esac
# gh exits 8 while checks are pending, with the answer printed all the same.
if [ $code -ne 0 ] && [ $code -ne 8 ]; then
  echo "gh pr checks $branch failed ($code): $err" >&2
  exit 1
fi
printf '%s\n' "$out"

//! Real git for the end-to-end tests: running the git CLI as a user would,
//! and the state of a user's checkout that cattery must never change.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Runs `git -C dir ARGS` as a user called `u` (and trusting any owner, for
/// clones given to another user), asserting success; its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "safe.directory=*", "-C"])
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "u")
        .env("GIT_AUTHOR_EMAIL", "u@example.com")
        .env("GIT_COMMITTER_NAME", "u")
        .env("GIT_COMMITTER_EMAIL", "u@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Makes `dir` a clone on `branch` with one commit holding `file`.
pub fn one_commit_clone(dir: &Path, branch: &str, file: &str, text: &str) {
    git(dir, &["init", "-q", "-b", branch]);
    std::fs::write(dir.join(file), text).expect("the clone writes");
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", "first"]);
}

/// What a careless tool could disturb in a user's clone: every file of the
/// working tree (uncommitted edits included), HEAD, the index and the stash.
pub fn checkout_state(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut state = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("the clone reads").flatten() {
            let path = entry.path();
            let name = path
                .strip_prefix(dir)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if name == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                state.insert(name, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    for name in [".git/HEAD", ".git/index", ".git/refs/stash"] {
        state.insert(
            name.to_owned(),
            std::fs::read(dir.join(name)).unwrap_or_default(),
        );
    }
    state
}

/// Commits `file` = `text` on `branch` of the clone, the way a colleague's
/// push would land, without touching the clone's checkout (a throwaway
/// worktree); answers the branch's new tip.
pub fn move_branch(clone: &Path, branch: &str, file: &str, text: &str) -> String {
    let side = tempfile::tempdir().expect("a temp dir");
    let at = side.path().join("wt");
    let at_str = at.display().to_string();
    git(clone, &["worktree", "add", "-q", &at_str, branch]);
    std::fs::write(at.join(file), text).expect("the file is written");
    git(&at, &["add", file]);
    git(&at, &["commit", "-q", "-m", "colleague"]);
    git(clone, &["worktree", "remove", &at_str]);
    git(clone, &["rev-parse", branch])
}

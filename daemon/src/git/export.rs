//! Plain copies of a branch's committed tree, for the commands the daemon
//! runs on the host with the user's credentials (CI and health providers).
//! They run the base branch as committed, never a file an agent just
//! wrote in its worktree.

use super::{RepoError, open_exactly};
use std::path::{Path, PathBuf};

/// Written last into a finished copy, so a copy cut short by a crash is
/// never taken for a whole one.
const COMPLETE: &str = ".cattery-complete";

/// A folder under `root` holding the tree of `branch`'s tip in the clone at
/// `repository` (one folder per commit, made once and then reused).
pub fn committed_tree(repository: &str, branch: &str, root: &Path) -> Result<PathBuf, RepoError> {
    let repo = open_exactly(Path::new(repository), repository)?;
    let commit = repo
        .find_branch(branch, git2::BranchType::Local)
        .and_then(|b| b.get().peel_to_commit())
        .map_err(RepoError::git(repository, "read the base branch"))?;
    let folder = root.join(commit.id().to_string());
    if folder.join(COMPLETE).exists() {
        return Ok(folder);
    }
    let shown = folder.display().to_string();
    let io = |action: &'static str| {
        let shown = shown.clone();
        move |e: std::io::Error| RepoError::Git {
            path: shown.clone(),
            action,
            message: e.to_string(),
        }
    };
    let partial = root.join(format!(".{}.{}", commit.id(), std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(io("make a folder for the base's tree"))?;
    let tree = commit
        .tree()
        .map_err(RepoError::git(repository, "read the base's tree"))?;
    repo.checkout_tree(
        tree.as_object(),
        Some(
            git2::build::CheckoutBuilder::new()
                .target_dir(&partial)
                .force()
                .recreate_missing(true)
                // The clone's own index is the user's: never write it.
                .update_index(false),
        ),
    )
    .map_err(RepoError::git(repository, "copy the base's tree"))?;
    std::fs::write(partial.join(COMPLETE), b"").map_err(io("finish the base's tree"))?;
    match std::fs::rename(&partial, &folder) {
        Ok(()) => Ok(folder),
        // Another probe finished the same commit first: use its copy.
        Err(_) if folder.join(COMPLETE).exists() => {
            let _ = std::fs::remove_dir_all(&partial);
            Ok(folder)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&folder);
            std::fs::rename(&partial, &folder).map_err(|_| io("keep the base's tree")(e))?;
            Ok(folder)
        }
    }
}

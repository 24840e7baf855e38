//! Recovering a run's worktree from a daemon that died mid-work: a step's
//! job killed halfway, and git's own lock files left by a write that never
//! finished. The daemon is the only writer of its worktrees and of its
//! runs' branches, so a lock older than this daemon process was left by a
//! dead one and is safe to clear.

use super::{RepoError, open_exactly, staged};
use cattery_protocol::Worktree;
use std::path::Path;
use std::time::SystemTime;

/// When this daemon process started: locks from before it are a dead
/// daemon's.
fn process_start() -> SystemTime {
    static START: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
    *START.get_or_init(SystemTime::now)
}

/// Notes the process start; call once at boot, before any git work.
pub fn note_process_start() {
    let _ = process_start();
}

/// Removes the lock files a killed git write leaves for this run: the
/// worktree's index lock and HEAD lock in its git folder, and the lock of
/// its branch in the clone. Only locks made before this process started.
pub fn clear_stale_locks(worktree: &Worktree) -> Vec<std::path::PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(repo) = open_exactly(Path::new(&worktree.path), &worktree.path) {
        let own = repo.path().to_owned();
        candidates.push(own.join("index.lock"));
        candidates.push(own.join("HEAD.lock"));
    }
    if let Ok(clone) = open_exactly(Path::new(&worktree.repository), &worktree.repository) {
        let common = clone.commondir().to_owned();
        candidates.push(
            common
                .join("refs/heads")
                .join(format!("{}.lock", worktree.branch)),
        );
        candidates.push(common.join("packed-refs.lock"));
    }
    candidates
        .into_iter()
        .filter(|lock| older_than_process(lock))
        .filter(|lock| std::fs::remove_file(lock).is_ok())
        .collect()
}

fn older_than_process(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|at| at < process_start())
}

/// The ref that keeps what a killed attempt of a step left behind.
pub fn recovery_ref(run_id: &str, step_index: usize, recovery: u32) -> String {
    format!("refs/cattery/attempts/{run_id}-step{step_index}-recovery{recovery}")
}

/// Puts the worktree back at `to` (the commit the killed attempt started
/// from), so the step runs again on what it first saw and its work is not
/// applied twice. Whatever the killed attempt left (commits past `to`,
/// changes not committed) is kept first under `keep_as`. Returns the
/// commit kept, if there was anything to keep.
pub fn rewind(worktree: &Worktree, to: &str, keep_as: &str) -> Result<Option<String>, RepoError> {
    let path = worktree.path.as_str();
    let repo = open_exactly(Path::new(path), path)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(RepoError::git(path, "read the worktree's HEAD"))?;
    let target = git2::Oid::from_str(to)
        .and_then(|oid| repo.find_commit(oid))
        .map_err(RepoError::git(
            path,
            "find the commit the step started from",
        ))?;
    let tree = staged(&repo, path)?
        .write_tree_to(&repo)
        .map_err(RepoError::git(path, "write the killed attempt's tree"))?;
    if tree == target.tree_id() && head.id() == target.id() {
        return Ok(None);
    }
    let kept = if tree == head.tree_id() {
        head.id()
    } else {
        let tree = repo
            .find_tree(tree)
            .map_err(RepoError::git(path, "read the killed attempt's tree"))?;
        let who = git2::Signature::now("cattery", "cattery@localhost")
            .map_err(RepoError::git(path, "make the snapshot's author"))?;
        let message = "attempt: work a killed job left uncommitted\n";
        repo.commit(None, &who, &who, message, &tree, &[&head])
            .map_err(RepoError::git(path, "commit the killed attempt's snapshot"))?
    };
    repo.reference(keep_as, kept, true, "cattery: keep a killed attempt")
        .map_err(RepoError::git(path, "keep the killed attempt"))?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force().remove_untracked(true);
    repo.reset(
        target.as_object(),
        git2::ResetType::Hard,
        Some(&mut checkout),
    )
    .map_err(RepoError::git(
        path,
        "put the worktree back where the step started",
    ))?;
    Ok(Some(kept.to_string()))
}

/// Forgets git's records of worktrees under `worktrees` whose folder is
/// gone and that no live run keeps: a daemon killed while removing one
/// leaves the record behind. Returns the records pruned.
pub fn prune_records(
    clone: &str,
    worktrees: &Path,
    keep: &std::collections::HashSet<std::path::PathBuf>,
) -> Vec<String> {
    let Ok(repo) = open_exactly(Path::new(clone), clone) else {
        return Vec::new();
    };
    let Ok(names) = repo.worktrees() else {
        return Vec::new();
    };
    let mut pruned = Vec::new();
    for name in names.iter().flatten().flatten() {
        let Ok(known) = repo.find_worktree(name) else {
            continue;
        };
        let folder = known.path().to_owned();
        let ours = folder.starts_with(worktrees);
        if !ours || keep.contains(&folder) || folder.exists() {
            continue;
        }
        let mut options = git2::WorktreePruneOptions::new();
        options.valid(true).working_tree(true);
        if known.prune(Some(&mut options)).is_ok() {
            pruned.push(name.to_owned());
        }
    }
    pruned
}

//! Finalising a run's branch into its base without a working tree: a
//! fast-forward or an in-memory merge commit, and a compare-and-swap of the
//! base ref on the tip it was read at. The user's checkout is never touched;
//! a base checked out anywhere is left for the user to merge there.

use super::{Author, RepoError, author, open_exactly};
use std::path::{Path, PathBuf};

/// What a local merge did.
#[derive(Debug, Clone, PartialEq)]
pub enum Merged {
    /// Base now points at this commit.
    Into { commit: String, fast_forward: bool },
    /// Base is checked out in the worktree at this path; nothing was merged.
    CheckedOut { at: PathBuf },
    /// The branch and base change the same lines of these paths.
    Conflicts { paths: Vec<String> },
}

/// Merges `branch` into `base` in the clone at `repository`: fast-forward
/// when base has not moved, else a merge commit when the trees merge
/// cleanly. The base ref moves only from the tip read here; if someone
/// moved it meanwhile the merge is refused, to be tried again.
pub fn local(
    repository: &str,
    branch: &str,
    base: &str,
    message: &str,
    configured: Option<&Author>,
) -> Result<Merged, RepoError> {
    let repo = open_exactly(Path::new(repository), repository)?;
    if let Some(at) = checked_out_at(&repo, base) {
        return Ok(Merged::CheckedOut { at });
    }
    let failed = |action| RepoError::git(repository, action);
    let tip_of = |name: &str| {
        repo.find_branch(name, git2::BranchType::Local)
            .and_then(|b| b.get().peel_to_commit())
    };
    let ours = tip_of(base).map_err(failed("read the base branch"))?;
    let theirs = tip_of(branch).map_err(failed("read the run's branch"))?;
    let (new, fast_forward) = if repo
        .graph_descendant_of(ours.id(), theirs.id())
        .map_err(failed("compare the branches"))?
        || ours.id() == theirs.id()
    {
        // Merged already (a merger run again after a crash): nothing to do.
        return Ok(Merged::Into {
            commit: ours.id().to_string(),
            fast_forward: false,
        });
    } else if repo
        .graph_descendant_of(theirs.id(), ours.id())
        .map_err(failed("compare the branches"))?
    {
        (theirs.id(), true)
    } else {
        let mut index = repo
            .merge_commits(&ours, &theirs, None)
            .map_err(failed("merge the branches in memory"))?;
        if index.has_conflicts() {
            return Ok(Merged::Conflicts {
                paths: conflict_paths(&index),
            });
        }
        let tree = index
            .write_tree_to(&repo)
            .and_then(|id| repo.find_tree(id))
            .map_err(failed("write the merged tree"))?;
        let who = author(&repo, repository, configured)?;
        let commit = repo
            .commit(None, &who, &who, message, &tree, &[&ours, &theirs])
            .map_err(failed("write the merge commit"))?;
        (commit, false)
    };
    repo.reference_matching(
        &format!("refs/heads/{base}"),
        new,
        true,
        ours.id(),
        &format!("cattery: merge {branch}"),
    )
    .map_err(|e| RepoError::Git {
        path: repository.to_owned(),
        action: "move the base branch",
        message: format!(
            "{} (base moved while merging; retry the run to merge the new tip)",
            e.message()
        ),
    })?;
    Ok(Merged::Into {
        commit: new.to_string(),
        fast_forward,
    })
}

/// Whether a run's branch merges with its base's tip as it is now.
#[derive(Debug, Clone, PartialEq)]
pub enum Mergeability {
    /// The branch merges cleanly; `base_moved` when base gained commits
    /// the branch does not have.
    Clean { base_moved: bool },
    /// The branch and base change the same lines of these paths.
    Conflicted { paths: Vec<String> },
}

/// Merges `branch` with `base` in memory (libgit2's merge-tree) and says
/// whether it would merge cleanly. Reads only: no ref moves, no object is
/// written, no checkout is touched.
pub fn mergeability(repository: &str, branch: &str, base: &str) -> Result<Mergeability, RepoError> {
    let repo = open_exactly(Path::new(repository), repository)?;
    let failed = |action| RepoError::git(repository, action);
    let tip_of = |name: &str| {
        repo.find_branch(name, git2::BranchType::Local)
            .and_then(|b| b.get().peel_to_commit())
    };
    let ours = tip_of(base).map_err(failed("read the base branch"))?;
    let theirs = tip_of(branch).map_err(failed("read the run's branch"))?;
    let contained = ours.id() == theirs.id()
        || repo
            .graph_descendant_of(theirs.id(), ours.id())
            .map_err(failed("compare the branches"))?;
    if contained {
        return Ok(Mergeability::Clean { base_moved: false });
    }
    let index = repo
        .merge_commits(&ours, &theirs, None)
        .map_err(failed("merge the branches in memory"))?;
    Ok(match index.has_conflicts() {
        true => Mergeability::Conflicted {
            paths: conflict_paths(&index),
        },
        false => Mergeability::Clean { base_moved: true },
    })
}

fn conflict_paths(index: &git2::Index) -> Vec<String> {
    let mut paths: Vec<String> = index
        .conflicts()
        .map(|conflicts| {
            conflicts
                .flatten()
                .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths.dedup();
    paths
}

/// Where `base` is checked out: the clone's own working tree or any of its
/// linked worktrees.
fn checked_out_at(repo: &git2::Repository, base: &str) -> Option<PathBuf> {
    let on_base = |r: &git2::Repository| {
        r.head_detached().ok() == Some(false)
            && r.find_reference("HEAD")
                .ok()
                .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_owned))
                .as_deref()
                == Some(&format!("refs/heads/{base}"))
    };
    if !repo.is_bare() && on_base(repo) {
        // Without the trailing `/` git2 gives, as a user would write it.
        return repo.workdir().map(|dir| dir.components().collect());
    }
    let names = repo.worktrees().ok()?;
    names.iter().flatten().flatten().find_map(|name| {
        let worktree = repo.find_worktree(name).ok()?;
        let linked = git2::Repository::open_from_worktree(&worktree).ok()?;
        on_base(&linked).then(|| worktree.path().to_owned())
    })
}

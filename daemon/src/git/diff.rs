//! A change between two commits of a run's branch, read by libgit2 and
//! turned into the wire's files and hunks. Renames are found as `git diff
//! -M` finds them; binary files are marked and carry no hunks.

use super::{RepoError, open_exactly};
use cattery_protocol::diff::{DiffLine, FileDiff, FileStatus, Hunk, LineKind};
use std::path::Path;

/// The files changed from `from` to `to` in the clone at `repository`.
/// Reads the object store only, so it works after the worktree is gone.
pub fn between(repository: &str, from: &str, to: &str) -> Result<Vec<FileDiff>, RepoError> {
    let repo = open_exactly(Path::new(repository), repository)?;
    let tree_of = |rev: &str| {
        git2::Oid::from_str(rev)
            .and_then(|oid| repo.find_commit(oid))
            .and_then(|commit| commit.tree())
            .map_err(RepoError::git(
                repository,
                "read a commit of the run's branch",
            ))
    };
    let (old, new) = (tree_of(from)?, tree_of(to)?);
    let mut diff = repo
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .map_err(RepoError::git(repository, "diff the run's change"))?;
    let mut find = git2::DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))
        .map_err(RepoError::git(repository, "find renamed files"))?;
    (0..diff.deltas().len())
        .map(|index| file(&diff, index, repository))
        .collect()
}

fn file(diff: &git2::Diff<'_>, index: usize, repository: &str) -> Result<FileDiff, RepoError> {
    let failed = RepoError::git(repository, "read a file's change");
    let patch = git2::Patch::from_diff(diff, index).map_err(&failed)?;
    let delta = diff.get_delta(index).ok_or_else(|| RepoError::Git {
        path: repository.to_owned(),
        action: "read a file's change",
        message: format!("the diff has no file {index}"),
    })?;
    let status = status(delta.status());
    let path_of = |f: git2::DiffFile<'_>| f.path().map(|p| p.display().to_string());
    let new_path = path_of(delta.new_file());
    let old_path = path_of(delta.old_file());
    let path = new_path.clone().or(old_path.clone()).unwrap_or_default();
    let moved = matches!(status, FileStatus::Renamed | FileStatus::Copied);
    let binary = delta.flags().is_binary() || patch.is_none();
    let (hunks, insertions, deletions) = match patch.filter(|_| !binary) {
        Some(patch) => {
            let (_, insertions, deletions) = patch.line_stats().map_err(&failed)?;
            (hunks(&patch).map_err(&failed)?, insertions, deletions)
        }
        None => (Vec::new(), 0, 0),
    };
    Ok(FileDiff {
        path,
        old_path: old_path.filter(|_| moved),
        status,
        binary,
        insertions: insertions as u32,
        deletions: deletions as u32,
        hunks,
    })
}

fn hunks(patch: &git2::Patch<'_>) -> Result<Vec<Hunk>, git2::Error> {
    (0..patch.num_hunks())
        .map(|h| {
            let (hunk, count) = patch.hunk(h)?;
            let lines = (0..count)
                .map(|l| patch.line_in_hunk(h, l).map(|line| line_of(&line)))
                .filter_map(|line| line.transpose())
                .collect::<Result<_, _>>()?;
            Ok(Hunk {
                header: String::from_utf8_lossy(hunk.header()).trim_end().to_owned(),
                old_start: hunk.old_start(),
                old_lines: hunk.old_lines(),
                new_start: hunk.new_start(),
                new_lines: hunk.new_lines(),
                lines,
            })
        })
        .collect()
}

/// A hunk's line; git's end-of-file markers carry no line and are left out.
fn line_of(line: &git2::DiffLine<'_>) -> Option<DiffLine> {
    let kind = match line.origin() {
        ' ' => LineKind::Context,
        '+' => LineKind::Added,
        '-' => LineKind::Removed,
        _ => return None,
    };
    let text = String::from_utf8_lossy(line.content());
    Some(DiffLine {
        kind,
        old_line: line.old_lineno(),
        new_line: line.new_lineno(),
        text: text.trim_end_matches(['\n', '\r']).to_owned(),
    })
}

fn status(delta: git2::Delta) -> FileStatus {
    match delta {
        git2::Delta::Added | git2::Delta::Untracked => FileStatus::Added,
        git2::Delta::Deleted => FileStatus::Deleted,
        git2::Delta::Renamed => FileStatus::Renamed,
        git2::Delta::Copied => FileStatus::Copied,
        git2::Delta::Typechange => FileStatus::TypeChanged,
        _ => FileStatus::Modified,
    }
}

/// The tip of `branch` in the clone at `repository`.
pub fn branch_tip(repository: &str, branch: &str) -> Result<String, RepoError> {
    let repo = open_exactly(Path::new(repository), repository)?;
    repo.find_branch(branch, git2::BranchType::Local)
        .and_then(|b| b.get().peel_to_commit())
        .map(|c| c.id().to_string())
        .map_err(RepoError::git(repository, "read the run's branch"))
}

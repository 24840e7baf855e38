//! Everything cattery does with git, through libgit2 (`git2`). It reads the
//! user's clone and never writes to its working tree, index, stash or
//! checked-out branch.

use cattery_protocol::{Repository, RepositorySpec};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RepoError {
    #[error("{path} does not exist; give the path of a local git clone")]
    Missing { path: String },
    #[error(
        "{path} is not a git repository; give the path of a local clone (or run `git init` there and commit once)"
    )]
    NotARepository { path: String },
    #[error(
        "{path} is a bare repository, and runs need a clone with a working tree: clone it (`git clone {path} DIR`) and give DIR"
    )]
    Bare { path: String },
    #[error("{path} has no commits yet; commit once so runs have a base to start from")]
    NoCommits { path: String },
    #[error(
        "{path} has no current branch (HEAD is detached); name the branch runs start from with --base (or `base` in the workspace file)"
    )]
    Detached { path: String },
    #[error("{path} has no branch {base}; its branches: {known}")]
    NoSuchBranch {
        path: String,
        base: String,
        known: String,
    },
    #[error("cannot read the git repository at {path}: {message}")]
    Unreadable { path: String, message: String },
}

/// Checks that `spec` names a usable clone and resolves it: an absolute
/// path, and the base branch (the clone's current branch when not given).
/// Reads only; refuses with what is wrong and what to do.
pub fn check(spec: &RepositorySpec) -> Result<Repository, RepoError> {
    let path = absolute(Path::new(&spec.path));
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(RepoError::Missing { path: shown });
    }
    let repo = open_exactly(&path, &shown)?;
    if repo.is_bare() {
        return Err(RepoError::Bare { path: shown });
    }
    let base = match &spec.base {
        Some(base) => existing_branch(&repo, base, &shown)?,
        None => current_branch(&repo, &shown)?,
    };
    Ok(Repository {
        path: shown,
        base,
        remote: spec.remote.clone(),
        merge: spec.merge.unwrap_or_default(),
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The repository at `path` itself, not one found in a parent folder: a
/// frame pointed at a subfolder of a clone is a mistake worth naming.
fn open_exactly(path: &Path, shown: &str) -> Result<git2::Repository, RepoError> {
    let flags = git2::RepositoryOpenFlags::NO_SEARCH;
    git2::Repository::open_ext(path, flags, std::iter::empty::<&std::ffi::OsStr>()).map_err(|e| {
        match e.code() {
            git2::ErrorCode::NotFound => RepoError::NotARepository {
                path: shown.to_owned(),
            },
            _ => RepoError::Unreadable {
                path: shown.to_owned(),
                message: e.message().to_owned(),
            },
        }
    })
}

fn current_branch(repo: &git2::Repository, shown: &str) -> Result<String, RepoError> {
    let head = repo.head().map_err(|e| match e.code() {
        git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound => RepoError::NoCommits {
            path: shown.to_owned(),
        },
        _ => RepoError::Unreadable {
            path: shown.to_owned(),
            message: e.message().to_owned(),
        },
    })?;
    if !head.is_branch() {
        return Err(RepoError::Detached {
            path: shown.to_owned(),
        });
    }
    head.shorthand()
        .map(str::to_owned)
        .map_err(|_| RepoError::Unreadable {
            path: shown.to_owned(),
            message: "the current branch's name is not UTF-8".to_owned(),
        })
}

fn existing_branch(repo: &git2::Repository, base: &str, shown: &str) -> Result<String, RepoError> {
    if repo.find_branch(base, git2::BranchType::Local).is_ok() {
        return Ok(base.to_owned());
    }
    let known: Vec<String> = repo
        .branches(Some(git2::BranchType::Local))
        .map(|branches| {
            branches
                .flatten()
                .filter_map(|(branch, _)| branch.name().ok().flatten().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Err(RepoError::NoSuchBranch {
        path: shown.to_owned(),
        base: base.to_owned(),
        known: if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        },
    })
}

#[cfg(test)]
mod tests;

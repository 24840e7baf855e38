//! Everything cattery does with git, through libgit2 (`git2`). It reads the
//! user's clone and never writes to its working tree, index, stash or
//! checked-out branch.

pub mod demo;
pub mod diff;
pub mod export;
pub mod merge;
pub mod recover;

use cattery_protocol::{Repository, RepositorySpec, StepChange, Worktree};
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
    #[error("git could not {action} in {path}: {message}")]
    Git {
        path: String,
        action: &'static str,
        message: String,
    },
}

impl RepoError {
    fn git<'a>(path: &'a str, action: &'static str) -> impl Fn(git2::Error) -> Self + 'a {
        move |e| Self::Git {
            path: path.to_owned(),
            action,
            message: e.message().to_owned(),
        }
    }
}

/// The branch a run of a task works on: `cattery/<task slug>-<short run id>`.
pub fn branch_name(title: &str, run_id: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "task" } else { slug };
    let short: String = run_id
        .chars()
        .rev()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("cattery/{slug}-{short}")
}

/// Plans a run's worktree: its branch, the base tip it starts from, and its
/// folder under `worktrees`. Reads the clone only; `ensure` makes it.
pub fn plan(
    repository: &Repository,
    title: &str,
    run_id: &str,
    worktrees: &Path,
) -> Result<Worktree, RepoError> {
    let path = &repository.path;
    let repo = open_exactly(Path::new(path), path)?;
    // Refuses a base deleted since the frame was set, naming the branches.
    existing_branch(&repo, &repository.base, path)?;
    let tip = repo
        .find_branch(&repository.base, git2::BranchType::Local)
        .and_then(|branch| branch.get().peel_to_commit())
        .map_err(RepoError::git(path, "read the base branch's tip"))?;
    Ok(Worktree {
        repository: path.clone(),
        branch: branch_name(title, run_id),
        base: repository.base.clone(),
        base_commit: tip.id().to_string(),
        path: worktrees.join(run_id).display().to_string(),
        start_commit: None,
    })
}

/// Makes sure the run's branch exists (at its base commit when new) and is
/// checked out in the run's worktree. Idempotent, so a daemon killed
/// halfway finds what it made, or makes the rest. Touches only the new
/// branch, the worktree and git's record of it: never the user's checkout.
pub fn ensure(worktree: &Worktree) -> Result<(), RepoError> {
    let path = worktree.repository.as_str();
    let repo = open_exactly(Path::new(path), path)?;
    let branch = match repo.find_branch(&worktree.branch, git2::BranchType::Local) {
        Ok(branch) => branch,
        Err(_) => {
            let oid = git2::Oid::from_str(worktree.branch_point())
                .map_err(RepoError::git(path, "read the branch's starting commit"))?;
            let commit = repo
                .find_commit(oid)
                .map_err(RepoError::git(path, "find the base commit"))?;
            repo.branch(&worktree.branch, &commit, false)
                .map_err(RepoError::git(path, "create the run's branch"))?
        }
    };
    let folder = Path::new(&worktree.path);
    if checked_out(folder, &worktree.branch) {
        return Ok(());
    }
    // A worktree git knows of but whose folder is gone or broken (a crash
    // mid-creation): forget it and make it again.
    discard(&repo, folder, path)?;
    if let Some(parent) = folder.parent() {
        std::fs::create_dir_all(parent).map_err(|e| RepoError::Git {
            path: parent.display().to_string(),
            action: "create the worktrees folder",
            message: e.to_string(),
        })?;
    }
    let reference = branch.into_reference();
    let mut options = git2::WorktreeAddOptions::new();
    options.reference(Some(&reference));
    // libgit2 makes `.git/worktrees` with a plain mkdir: two runs adding the
    // clone's first worktrees at once would see "directory exists". Adds
    // take turns, and the folder is made beforehand either way.
    let _turn = WORKTREE_ADDS.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::create_dir_all(repo.path().join("worktrees")).map_err(|e| RepoError::Git {
        path: path.to_owned(),
        action: "create git's worktrees folder",
        message: e.to_string(),
    })?;
    repo.worktree(&worktree_name(folder), folder, Some(&options))
        .map_err(RepoError::git(path, "add the run's worktree"))?;
    Ok(())
}

/// Worktree adds in this daemon, one at a time (see [`ensure`]).
static WORKTREE_ADDS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What a job needs of its run's worktree, made ready.
pub struct Prepared {
    /// The branch tip the job starts from.
    pub tip: String,
    /// The run's change so far, base commit to tip.
    pub diff: Vec<cattery_protocol::diff::FileDiff>,
    /// The clone's git folder, which the worktree points into.
    pub git_dir: PathBuf,
    /// Who owns the clone.
    pub owner: (u32, u32),
}

/// Makes the run's worktree ready for a job ([`ensure`]) and reads what
/// the job is told about it. A daemon running as root gives what it made
/// back to the clone's owner, so an agent running as them can write it.
pub fn prepare(worktree: &Worktree) -> Result<Prepared, RepoError> {
    recover::clear_stale_locks(worktree);
    ensure(worktree)?;
    let tip = tip(worktree)?;
    let diff = diff::between(&worktree.repository, &worktree.base_commit, &tip)?;
    let clone = Path::new(&worktree.repository);
    // Without the trailing `/` git2 gives, so it can name a bind mount.
    let git_dir = open_exactly(clone, &worktree.repository)?
        .commondir()
        .components()
        .collect();
    let owner = owner_of(clone)?;
    keep_owner(worktree, owner);

    Ok(Prepared {
        tip,
        diff,
        git_dir,
        owner,
    })
}

/// [`keep_owner`] after the daemon wrote to the clone (a commit, a ref).
fn give_back_what_was_written(worktree: &Worktree) {
    if let Ok(owner) = owner_of(Path::new(&worktree.repository)) {
        keep_owner(worktree, owner);
    }
}

fn owner_of(path: &Path) -> Result<(u32, u32), RepoError> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| (m.uid(), m.gid()))
        .map_err(|e| RepoError::Unreadable {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

/// Under a root daemon, gives the run's worktree and what the daemon wrote
/// in the clone's git folder back to a clone owner who is not root.
fn keep_owner(worktree: &Worktree, owner: (u32, u32)) {
    if owner.0 == 0 || !crate::os::is_root() {
        return;
    }
    let git_dir =
        open_exactly(Path::new(&worktree.repository), "").map(|r| r.commondir().to_owned());
    let folders = [Some(PathBuf::from(&worktree.path)), git_dir.ok()];
    for folder in folders.into_iter().flatten() {
        if let Err(e) = crate::os::hand_over_tree(&folder, 0, owner) {
            tracing::warn!(path = %folder.display(), "cannot give files back to the clone's owner: {e}");
        }
    }
}

/// A daemon running as root opens the clones its users named although it
/// does not own them (git's "dubious ownership" check, which libgit2 also
/// makes). Only the paths set on frames are ever opened.
#[allow(unsafe_code)]
pub fn trust_named_clones() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if crate::os::is_root() {
            // SAFETY: catteryd calls this from main before the runtime and
            // its threads start, so no other git2 call reads the option
            // meanwhile; `Once` keeps a second caller out.
            if let Err(e) = unsafe { git2::opts::set_verify_owner_validation(false) } {
                tracing::warn!("cannot open clones owned by other users: {e}");
            }
        }
    });
}

/// Removes a finished run's worktree and git's record of it, keeping its
/// branch (and so every commit). Idempotent; a retry makes it again from
/// the branch.
pub fn remove(worktree: &Worktree) -> Result<(), RepoError> {
    let path = worktree.repository.as_str();
    let repo = open_exactly(Path::new(path), path)?;
    discard(&repo, Path::new(&worktree.path), path)
}

/// The ref that keeps a discarded run's work reachable.
pub fn attempt_ref(run_id: &str) -> String {
    format!("refs/cattery/attempts/{run_id}")
}

/// Keeps what a run that did not finish (failed, cancelled, superseded)
/// left in its worktree under [`attempt_ref`]: its branch tip, or a
/// snapshot commit on top of it when the worktree has uncommitted work.
/// The branch itself does not move. Returns the commit kept, if the run
/// did anything at all.
pub fn keep_attempt(
    worktree: &Worktree,
    run_id: &str,
    configured: Option<&Author>,
) -> Result<Option<String>, RepoError> {
    let path = worktree.path.as_str();
    if !Path::new(path).exists() {
        return Ok(None);
    }
    let repo = open_exactly(Path::new(path), path)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(RepoError::git(path, "read the worktree's HEAD"))?;
    // Written to the object store only: the worktree's index stays as it is.
    let tree = staged(&repo, path)?
        .write_tree_to(&repo)
        .map_err(RepoError::git(path, "write the attempt's tree"))?;
    let kept = match tree {
        tree if tree != head.tree_id() => {
            let tree = repo
                .find_tree(tree)
                .map_err(RepoError::git(path, "read the snapshot's tree"))?;
            let author = author(&repo, path, configured)?;
            let message = format!(
                "attempt: work left uncommitted when run {run_id} ended\n\nCattery-Run: {run_id}\n"
            );
            repo.commit(None, &author, &author, &message, &tree, &[&head])
                .map_err(RepoError::git(path, "commit the attempt's snapshot"))?
        }
        _ if head.id().to_string() == worktree.branch_point() => return Ok(None),
        _ => head.id(),
    };
    repo.reference(
        &attempt_ref(run_id),
        kept,
        true,
        "cattery: keep a discarded attempt",
    )
    .map_err(RepoError::git(path, "write the attempt's ref"))?;
    Ok(Some(kept.to_string()))
}

/// An index of everything in the worktree that `.gitignore` lets in,
/// deletions included, in memory until written.
fn staged(repo: &git2::Repository, path: &str) -> Result<git2::Index, RepoError> {
    let mut index = repo
        .index()
        .map_err(RepoError::git(path, "read the index"))?;
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .and_then(|()| index.update_all(["*"], None))
        .map_err(RepoError::git(path, "stage the worktree's changes"))?;
    Ok(index)
}

/// Who cattery's commits are by, when `commit_author` in config.toml
/// names someone.
#[derive(Debug, Clone, PartialEq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// Reads `Name <email>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (name, rest) = text.trim().split_once('<')?;
        let email = rest.strip_suffix('>')?.trim();
        let name = name.trim();
        (!name.is_empty() && email.contains('@')).then(|| Self {
            name: name.to_owned(),
            email: email.to_owned(),
        })
    }
}

/// The configured author, else the repository's own, else `cattery`.
fn author(
    repo: &git2::Repository,
    path: &str,
    configured: Option<&Author>,
) -> Result<git2::Signature<'static>, RepoError> {
    let signature = match configured {
        Some(who) => git2::Signature::now(&who.name, &who.email),
        None => repo
            .signature()
            .or_else(|_| git2::Signature::now("cattery", "cattery@localhost")),
    };
    signature.map_err(RepoError::git(path, "make the commit's author"))
}

/// Forgets the worktree at `folder` in `repo` (git's record of it) and
/// removes whatever is left of the folder. Idempotent.
fn discard(repo: &git2::Repository, folder: &Path, path: &str) -> Result<(), RepoError> {
    if let Ok(known) = repo.find_worktree(&worktree_name(folder)) {
        let mut prune = git2::WorktreePruneOptions::new();
        prune.valid(true).working_tree(true);
        known
            .prune(Some(&mut prune))
            .map_err(RepoError::git(path, "prune the worktree"))?;
    }
    if folder.exists() {
        std::fs::remove_dir_all(folder).map_err(|e| RepoError::Git {
            path: folder.display().to_string(),
            action: "remove the worktree folder",
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// Removes every worktree folder under `worktrees` that is not in `keep`
/// (the live runs' worktrees), with git's record of it in its clone:
/// leftovers of a crash never block a new run. Returns the folders removed.
pub fn sweep(worktrees: &Path, keep: &std::collections::HashSet<PathBuf>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(worktrees) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for folder in entries.flatten().map(|e| e.path()) {
        if !folder.is_dir() || keep.contains(&folder) {
            continue;
        }
        let discarded = match clone_of(&folder) {
            Some(clone) => discard(&clone, &folder, &folder.display().to_string()).is_ok(),
            None => std::fs::remove_dir_all(&folder).is_ok(),
        };
        if discarded {
            removed.push(folder);
        }
    }
    removed
}

/// The branch checked out in the worktree at `folder`, if it is one.
pub fn branch_at(folder: &Path) -> Option<String> {
    let repo = open_exactly(folder, "").ok()?;
    let head = repo.head().ok()?;
    head.shorthand().ok().map(str::to_owned)
}

/// Bytes the files under `folder` take, symlinks not followed.
pub fn folder_bytes(folder: &Path) -> u64 {
    let mut bytes = 0;
    let mut stack = vec![folder.to_owned()];
    while let Some(next) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&next) else {
            continue;
        };
        if meta.is_dir() {
            let entries = std::fs::read_dir(&next).into_iter().flatten().flatten();
            stack.extend(entries.map(|e| e.path()));
        } else {
            bytes += meta.len();
        }
    }
    bytes
}

/// The clone a worktree folder belongs to, if it is a worktree at all.
fn clone_of(folder: &Path) -> Option<git2::Repository> {
    let worktree = open_exactly(folder, "").ok()?;
    worktree
        .is_worktree()
        .then(|| git2::Repository::open(worktree.commondir()).ok())
        .flatten()
}

/// The tip of the run's branch, as checked out in its worktree.
pub fn tip(worktree: &Worktree) -> Result<String, RepoError> {
    let repo = open_exactly(Path::new(&worktree.path), &worktree.path)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(RepoError::git(&worktree.path, "read the worktree's HEAD"))?;
    Ok(head.id().to_string())
}

/// What a finished step's commit says about it.
pub struct StepCommit<'a> {
    pub subject: String,
    pub run_id: &'a str,
    pub step_index: usize,
    pub attempt: u32,
    /// `commit_author` from config.toml, if set.
    pub author: Option<&'a Author>,
}

/// Commits what the step's agent left in the worktree (all of it that
/// `.gitignore` lets in, deletions included) on the run's branch, with the
/// configured author (else the repository's own, else `cattery`), and no hooks (libgit2 runs
/// none). An agent that committed by itself is taken as it is; a step
/// done again after a crash finds nothing new and commits nothing twice.
/// Returns the change from `start` (the tip at dispatch) to the new tip.
pub fn commit_step(
    worktree: &Worktree,
    start: Option<&str>,
    step: &StepCommit<'_>,
) -> Result<StepChange, RepoError> {
    let path = worktree.path.as_str();
    recover::clear_stale_locks(worktree);
    let repo = open_exactly(Path::new(path), path)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(RepoError::git(path, "read the worktree's HEAD"))?;
    let mut index = staged(&repo, path)?;
    index
        .write()
        .map_err(RepoError::git(path, "write the index"))?;
    let tree_id = index
        .write_tree()
        .map_err(RepoError::git(path, "write the step's tree"))?;
    let trailers = format!(
        "Cattery-Run: {}\nCattery-Step: {}\nCattery-Attempt: {}\n",
        step.run_id, step.step_index, step.attempt
    );
    let tip = if tree_id == head.tree_id() {
        head.id()
    } else {
        let tree = repo
            .find_tree(tree_id)
            .map_err(RepoError::git(path, "read the step's tree"))?;
        let author = author(&repo, path, step.author)?;
        let message = format!("{}\n\n{trailers}", step.subject);
        // This step's attempt already has its commit (a daemon killed
        // between committing and recording it): amend it, never a second.
        if head.message().is_ok_and(|m| m.ends_with(&trailers)) {
            head.amend(Some("HEAD"), None, None, None, Some(&message), Some(&tree))
                .map_err(RepoError::git(path, "amend the step's commit"))?
        } else {
            repo.commit(Some("HEAD"), &author, &author, &message, &tree, &[&head])
                .map_err(RepoError::git(path, "commit the step's changes"))?
        }
    };
    let start = start
        .and_then(|s| git2::Oid::from_str(s).ok())
        .unwrap_or(head.id());
    give_back_what_was_written(worktree);
    diff_stat(&repo, start, tip, path)
}

/// The diff stat from `from` to `to` in the clone at `repository`.
pub fn change_between(repository: &str, from: &str, to: &str) -> Result<StepChange, RepoError> {
    let repo = open_exactly(Path::new(repository), repository)?;
    let oid = |rev: &str| {
        git2::Oid::from_str(rev).map_err(RepoError::git(repository, "read a commit id"))
    };
    diff_stat(&repo, oid(from)?, oid(to)?, repository)
}

fn diff_stat(
    repo: &git2::Repository,
    start: git2::Oid,
    tip: git2::Oid,
    path: &str,
) -> Result<StepChange, RepoError> {
    let tree_of = |oid| {
        repo.find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(RepoError::git(path, "read a commit's tree"))
    };
    let (old, new) = (tree_of(start)?, tree_of(tip)?);
    let stats = repo
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .and_then(|diff| diff.stats())
        .map_err(RepoError::git(path, "diff the step's change"))?;
    Ok(StepChange {
        commit: (tip != start).then(|| tip.to_string()),
        start_commit: start.to_string(),
        files: stats.files_changed() as u32,
        insertions: stats.insertions() as u32,
        deletions: stats.deletions() as u32,
    })
}

/// git's name for a run's worktree: its folder's name (the run id).
fn worktree_name(folder: &Path) -> String {
    folder.file_name().map_or_else(
        || "cattery-run".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Whether `folder` is a worktree with `branch` checked out.
fn checked_out(folder: &Path, branch: &str) -> bool {
    let Ok(repo) = open_exactly(folder, "") else {
        return false;
    };
    let head = repo.head().ok();
    repo.is_worktree() && head.as_ref().and_then(|h| h.shorthand().ok()) == Some(branch)
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
        providers: spec.providers.clone(),
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

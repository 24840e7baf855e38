#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A clone on branch `trunk` with one commit.
fn clone_on_trunk() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "trunk"]);
    std::fs::write(dir.path().join("README"), "hi\n").unwrap();
    git(dir.path(), &["add", "README"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    dir
}

fn spec(path: &Path) -> RepositorySpec {
    RepositorySpec {
        path: path.display().to_string(),
        ..RepositorySpec::default()
    }
}

#[test]
fn a_clone_is_accepted_with_its_current_branch_as_the_base() {
    let dir = clone_on_trunk();
    let repo = check(&spec(dir.path())).unwrap();
    assert_eq!(repo.base, "trunk");
    assert_eq!(
        repo.path,
        std::fs::canonicalize(dir.path())
            .unwrap()
            .display()
            .to_string()
    );
    assert_eq!(repo.merge, cattery_protocol::MergeMode::Branch);
}

#[test]
fn a_named_base_must_exist_and_the_refusal_lists_the_branches() {
    let dir = clone_on_trunk();
    let mut named = spec(dir.path());
    named.base = Some("develop".into());
    let err = check(&named).unwrap_err().to_string();
    assert!(
        err.contains("no branch develop") && err.contains("trunk"),
        "{err}"
    );
    git(dir.path(), &["branch", "develop"]);
    assert_eq!(check(&named).unwrap().base, "develop");
}

#[test]
fn a_folder_a_subfolder_a_bare_repository_and_an_empty_one_are_refused_with_the_fix() {
    let plain = tempfile::tempdir().unwrap();
    let err = check(&spec(plain.path())).unwrap_err();
    assert!(matches!(err, RepoError::NotARepository { .. }), "{err}");

    let dir = clone_on_trunk();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let err = check(&spec(&dir.path().join("src"))).unwrap_err();
    assert!(
        matches!(err, RepoError::NotARepository { .. }),
        "a subfolder is not the clone: {err}"
    );

    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["init", "-q", "--bare"]);
    let err = check(&spec(bare.path())).unwrap_err().to_string();
    assert!(err.contains("bare") && err.contains("git clone"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    git(empty.path(), &["init", "-q"]);
    let err = check(&spec(empty.path())).unwrap_err().to_string();
    assert!(err.contains("no commits"), "{err}");

    let err = check(&spec(Path::new("/no/such/clone")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn a_detached_head_needs_a_named_base() {
    let dir = clone_on_trunk();
    git(dir.path(), &["checkout", "-q", "--detach"]);
    let err = check(&spec(dir.path())).unwrap_err().to_string();
    assert!(err.contains("detached") && err.contains("--base"), "{err}");
}

#[test]
fn branch_names_are_a_slug_of_the_title_and_the_run_ids_tail() {
    assert_eq!(
        branch_name("Add a Refund endpoint!", "r_01abcdef99"),
        "cattery/add-a-refund-endpoint-abcdef99"
    );
    assert_eq!(branch_name("¿¿", "r_1"), "cattery/task-r1");
    assert!(git2::Branch::name_is_valid(&branch_name("a/b..c", "r_9")).unwrap());
}

#[test]
fn a_worktree_is_made_once_on_its_own_branch_and_made_again_when_lost() {
    let dir = clone_on_trunk();
    let repo = check(&spec(dir.path())).unwrap();
    let home = tempfile::tempdir().unwrap();
    let planned = plan(&repo, "Refunds", "r_0042", &home.path().join("worktrees")).unwrap();
    assert_eq!(planned.branch, "cattery/refunds-r0042");
    let trunk = git2::Repository::open(dir.path())
        .unwrap()
        .revparse_single("trunk")
        .unwrap()
        .id();
    assert_eq!(planned.base_commit, trunk.to_string());
    ensure(&planned).unwrap();
    let folder = Path::new(&planned.path);
    assert_eq!(
        std::fs::read_to_string(folder.join("README")).unwrap(),
        "hi\n"
    );
    assert!(checked_out(folder, &planned.branch));
    ensure(&planned).unwrap();
    std::fs::remove_dir_all(folder).unwrap();
    ensure(&planned).unwrap();
    assert!(
        checked_out(folder, &planned.branch),
        "a lost worktree is made again"
    );
    std::fs::write(folder.join("work.txt"), "done\n").unwrap();
    let step = StepCommit {
        subject: "coder: Refunds".into(),
        run_id: "r_0042",
        step_index: 0,
        attempt: 1,
        author: None,
    };
    let change = commit_step(&planned, Some(&planned.base_commit), &step).unwrap();
    remove(&planned).unwrap();
    assert!(!folder.exists());
    remove(&planned).unwrap();
    ensure(&planned).unwrap();
    assert_eq!(
        std::fs::read_to_string(folder.join("work.txt")).unwrap(),
        "done\n",
        "made again from the branch, with the step's commit"
    );
    assert_eq!(tip(&planned).unwrap(), change.commit.unwrap());
    let clone = git2::Repository::open(dir.path()).unwrap();
    assert_eq!(
        clone.head().unwrap().shorthand().unwrap(),
        "trunk",
        "the user's branch is untouched"
    );
}

/// Every ref and the working tree's files of `dir`: what a read-only probe
/// must leave as it was.
fn refs_and_files(dir: &Path) -> (String, Vec<(String, Vec<u8>)>) {
    let refs = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["show-ref"])
        .output()
        .unwrap();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    (String::from_utf8_lossy(&refs.stdout).into_owned(), files)
}

#[test]
fn the_merge_probe_says_clean_moved_or_conflicted_and_writes_nothing() {
    let dir = clone_on_trunk();
    let path = dir.path().display().to_string();
    git(dir.path(), &["branch", "run"]);
    let probe = || merge::mergeability(&path, "run", "trunk").unwrap();
    assert_eq!(
        probe(),
        merge::Mergeability::Clean { base_moved: false },
        "nothing to merge yet"
    );

    git(dir.path(), &["checkout", "-q", "run"]);
    std::fs::write(dir.path().join("README"), "hi from the run\n").unwrap();
    git(dir.path(), &["commit", "-q", "-am", "run edits README"]);
    git(dir.path(), &["checkout", "-q", "trunk"]);
    assert_eq!(
        probe(),
        merge::Mergeability::Clean { base_moved: false },
        "base has not moved"
    );

    std::fs::write(dir.path().join("NOTES"), "elsewhere\n").unwrap();
    git(dir.path(), &["add", "NOTES"]);
    git(
        dir.path(),
        &["commit", "-q", "-m", "base gains another file"],
    );
    assert_eq!(
        probe(),
        merge::Mergeability::Clean { base_moved: true },
        "a base that moved without conflict passes"
    );

    std::fs::write(dir.path().join("README"), "hi from trunk\n").unwrap();
    git(
        dir.path(),
        &["commit", "-q", "-am", "base edits README too"],
    );
    let before = refs_and_files(dir.path());
    assert_eq!(
        probe(),
        merge::Mergeability::Conflicted {
            paths: vec!["README".to_owned()]
        }
    );
    assert_eq!(
        refs_and_files(dir.path()),
        before,
        "the probe moved no ref and touched no file"
    );
    let missing = merge::mergeability(&path, "gone", "trunk").unwrap_err();
    assert!(
        missing.to_string().contains("read the run's branch"),
        "{missing}"
    );
}

#[test]
fn runs_adding_a_fresh_clones_first_worktrees_at_once_all_get_theirs() {
    for round in 0..10 {
        let dir = clone_on_trunk();
        let repo = check(&spec(dir.path())).unwrap();
        let home = tempfile::tempdir().unwrap();
        let planned: Vec<_> = (0..4)
            .map(|n| {
                let run = format!("r_{round}{n:03}");
                plan(&repo, "Race", &run, &home.path().join("worktrees")).unwrap()
            })
            .collect();
        std::thread::scope(|scope| {
            let adds: Vec<_> = planned
                .iter()
                .map(|p| scope.spawn(move || ensure(p)))
                .collect();
            for add in adds {
                add.join().unwrap().unwrap();
            }
        });
        for p in &planned {
            assert!(checked_out(Path::new(&p.path), &p.branch), "{p:?}");
        }
    }
}

/// A clone, a run's worktree made on it, and the home holding it.
fn made_worktree() -> (tempfile::TempDir, tempfile::TempDir, Worktree) {
    let dir = clone_on_trunk();
    let repo = check(&spec(dir.path())).unwrap();
    let home = tempfile::tempdir().unwrap();
    let planned = plan(&repo, "Refunds", "r_0042", &home.path().join("worktrees")).unwrap();
    ensure(&planned).unwrap();
    (dir, home, planned)
}

fn step_commit(attempt: u32) -> StepCommit<'static> {
    StepCommit {
        subject: "coder: Refunds".into(),
        run_id: "r_0042",
        step_index: 0,
        attempt,
        author: None,
    }
}

#[test]
fn a_killed_attempts_commits_and_edits_are_put_aside_and_the_worktree_goes_back_to_its_start() {
    let (_dir, _home, wt) = made_worktree();
    let folder = Path::new(&wt.path);
    let start = tip(&wt).unwrap();
    // The killed job committed once by itself, then edited more.
    std::fs::write(folder.join("README"), "hi\nedited once\n").unwrap();
    git(folder, &["commit", "-q", "-am", "agent's own commit"]);
    std::fs::write(folder.join("notes.txt"), "half\n").unwrap();
    let keep_as = recover::recovery_ref("r_0042", 0, 1);
    let kept = recover::rewind(&wt, &start, &keep_as).unwrap().unwrap();
    assert_eq!(tip(&wt).unwrap(), start);
    assert_eq!(
        std::fs::read_to_string(folder.join("README")).unwrap(),
        "hi\n"
    );
    assert!(
        !folder.join("notes.txt").exists(),
        "untracked leftovers go too"
    );
    let repo = git2::Repository::open(folder).unwrap();
    let kept_commit = repo
        .revparse_single(&keep_as)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(kept_commit.id().to_string(), kept);
    let tree = kept_commit.tree().unwrap();
    assert!(tree.get_name("notes.txt").is_some(), "the edits are kept");
    assert_eq!(
        recover::rewind(&wt, &start, &keep_as).unwrap(),
        None,
        "a clean worktree at its start needs nothing"
    );
}

#[test]
fn a_second_commit_of_the_same_step_and_attempt_amends_the_first() {
    let (_dir, _home, wt) = made_worktree();
    let folder = Path::new(&wt.path);
    std::fs::write(folder.join("a.txt"), "1\n").unwrap();
    let first = commit_step(&wt, None, &step_commit(1)).unwrap();
    std::fs::write(folder.join("a.txt"), "2\n").unwrap();
    let again = commit_step(&wt, None, &step_commit(1)).unwrap();
    let repo = git2::Repository::open(folder).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert_ne!(again.commit, first.commit);
    assert_eq!(
        head.parent_id(0).unwrap().to_string(),
        wt.base_commit,
        "one commit for the step"
    );
    std::fs::write(folder.join("a.txt"), "3\n").unwrap();
    commit_step(&wt, None, &step_commit(2)).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(
        head.parent_id(0).unwrap().to_string(),
        again.commit.unwrap(),
        "a new attempt commits anew"
    );
}

#[test]
fn a_lock_a_dead_daemon_left_is_cleared_and_a_fresh_one_is_not() {
    recover::note_process_start();
    let (_dir, _home, wt) = made_worktree();
    let folder = Path::new(&wt.path);
    let git_dir = git2::Repository::open(folder).unwrap().path().to_owned();
    let lock = git_dir.join("index.lock");
    let old = std::fs::File::create(&lock).unwrap();
    old.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    drop(old);
    std::fs::write(folder.join("a.txt"), "1\n").unwrap();
    commit_step(&wt, None, &step_commit(1)).unwrap();
    assert!(!lock.exists());
    std::fs::File::create(&lock).unwrap();
    assert!(
        recover::clear_stale_locks(&wt).is_empty(),
        "a lock made now may be live"
    );
    assert!(lock.exists());
}

#[test]
fn a_worktree_record_whose_folder_is_gone_is_pruned_unless_a_live_run_keeps_it() {
    let (dir, home, wt) = made_worktree();
    std::fs::remove_dir_all(&wt.path).unwrap();
    let worktrees = home.path().join("worktrees");
    let clone = dir.path().display().to_string();
    let kept: std::collections::HashSet<PathBuf> = [PathBuf::from(&wt.path)].into();
    assert!(recover::prune_records(&clone, &worktrees, &kept).is_empty());
    let pruned = recover::prune_records(&clone, &worktrees, &Default::default());
    assert_eq!(pruned, ["r_0042"]);
    let repo = git2::Repository::open(dir.path()).unwrap();
    assert!(repo.find_worktree("r_0042").is_err());
}

//! cattery's git work against plain git on a generated repository of
//! 10,000 files, in one run, interleaved round by round: making a run's
//! branch and worktree (`git::ensure` against `git worktree add -b`), and
//! a step's commit with its diff stat (`git::commit_step` and the run's
//! stat so far, against `git add -A && git commit`, then `git diff
//! --shortstat`). `BENCH_ROUNDS` (default
//! 7) sets the rounds. Method and figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cattery_daemon::git;
use cattery_protocol::Worktree;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FILES: usize = 10_000;

fn sh_git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A clone on `main` with `FILES` small source files in 100 folders.
fn generated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sh_git(dir.path(), &["init", "-q", "-b", "main"]);
    for i in 0..FILES {
        let folder = dir.path().join(format!("src/m{:02}", i % 100));
        std::fs::create_dir_all(&folder).unwrap();
        let text = format!("// file {i}\npub fn f{i}() -> u64 {{\n    {i}\n}}\n");
        std::fs::write(folder.join(format!("f{i}.rs")), text).unwrap();
    }
    sh_git(dir.path(), &["add", "-A"]);
    sh_git(dir.path(), &["commit", "-q", "-m", "generated"]);
    dir
}

/// What a coder step leaves: ten files edited, two added, one deleted.
fn edit(worktree: &Path, round: usize) {
    for i in 0..10 {
        let file = worktree.join(format!("src/m{:02}/f{}.rs", i, i + 100 * round));
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(&format!("// edited in round {round}\n"));
        std::fs::write(file, text).unwrap();
    }
    for i in 0..2 {
        std::fs::write(
            worktree.join(format!("src/new_{round}_{i}.rs")),
            "pub fn new() {}\n",
        )
        .unwrap();
    }
    std::fs::remove_file(worktree.join(format!("src/m50/f{}.rs", 50 + 100 * round))).unwrap();
}

fn time(work: impl FnOnce()) -> Duration {
    let start = Instant::now();
    work();
    start.elapsed()
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let clone = generated();
    let base = sh_git(clone.path(), &["rev-parse", "main"]);
    let trees = tempfile::tempdir().unwrap();
    let (mut plain_add, mut ours_add) = (Vec::new(), Vec::new());
    let (mut plain_commit, mut ours_commit) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Plain git: a branch and a worktree, then a commit and its stat.
        let plain = trees.path().join(format!("plain-{round}"));
        let plain_str = plain.display().to_string();
        plain_add.push(time(|| {
            sh_git(
                clone.path(),
                &[
                    "worktree",
                    "add",
                    "-q",
                    "-b",
                    &format!("plain-{round}"),
                    &plain_str,
                    &base,
                ],
            );
        }));
        edit(&plain, round);
        plain_commit.push(time(|| {
            sh_git(&plain, &["add", "-A"]);
            sh_git(&plain, &["commit", "-q", "--no-verify", "-m", "step"]);
            sh_git(&plain, &["diff", "--shortstat", "HEAD~1", "HEAD"]);
        }));
        sh_git(clone.path(), &["worktree", "remove", "--force", &plain_str]);

        // cattery: the same through the daemon's own git module.
        let worktree = Worktree {
            repository: clone.path().display().to_string(),
            branch: format!("cattery/bench-{round}"),
            base: "main".into(),
            base_commit: base.clone(),
            path: trees
                .path()
                .join(format!("ours-{round}"))
                .display()
                .to_string(),
            start_commit: None,
        };
        ours_add.push(time(|| git::ensure(&worktree).unwrap()));
        edit(Path::new(&worktree.path), round);
        let step = git::StepCommit {
            subject: "coder: bench".into(),
            run_id: "r_bench",
            step_index: 0,
            attempt: 1,
            author: None,
        };
        ours_commit.push(time(|| {
            let change = git::commit_step(&worktree, Some(&base), &step).unwrap();
            assert_eq!(
                (change.files, change.insertions, change.deletions),
                (13, 12, 4)
            );
        }));
        git::remove(&worktree).unwrap();
    }
    report("branch + worktree", &plain_add, &ours_add);
    report("step commit + diff stat", &plain_commit, &ours_commit);
}

fn median(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2].as_secs_f64() * 1e3
}

fn report(what: &str, plain: &[Duration], ours: &[Duration]) {
    let (p, o) = (median(plain), median(ours));
    println!(
        "{what:<26} plain git median {p:>8.1} ms   cattery median {o:>8.1} ms   cattery/plain {:.2}",
        o / p
    );
}

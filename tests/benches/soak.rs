//! The kill -9 soak: `cargo bench -p cattery-tests --bench soak [TRIALS]
//! [--repository]` (default 100). Each trial runs three tasks through
//! approvals, decisions and companion reworks while catteryd is SIGKILLed
//! four times; with `--repository` the tasks sit under a frame with a real
//! clone, so every step also edits and commits a worktree. The figures
//! and the method are in BENCHMARKS.md. Fails if any trial finds a lost
//! run, a re-run completed step, a lost decision, a step running twice at
//! once or an agent left after stop.
#![allow(clippy::print_stdout)]

use cattery_tests::soak::{Figures, Tasks, trial};
use std::time::Instant;

fn main() {
    let trials: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let tasks = match std::env::args().any(|a| a == "--repository") {
        true => Tasks::InARepository,
        false => Tasks::Plain,
    };
    let started = Instant::now();
    let mut total = Figures::default();
    let mut failed = Vec::new();
    for seed in 1..=trials {
        let found = trial(seed, tasks);
        if !found.failures().is_empty() {
            println!("trial {seed}: {:?}", found.failures());
            failed.push(seed);
        }
        total.add(&found);
    }
    println!(
        "{} trials in {:.0}s: {} SIGKILLs, {} agent attempts recovered after a kill, {} decisions acknowledged, {} rework attempts",
        total.trials,
        started.elapsed().as_secs_f64(),
        total.kills,
        total.redispatched,
        total.decisions,
        total.reworks
    );
    println!(
        "runs lost {}, completed steps re-run {}, acknowledged decisions lost {}, same step twice at once {}, processes left after stop {}",
        total.runs_lost,
        total.completed_steps_rerun,
        total.decisions_lost,
        total.same_step_twice_at_once,
        total.processes_left
    );
    if tasks == Tasks::InARepository {
        println!(
            "step commits {}, git failures {}, step commits made twice {}, edits applied twice {}, worktrees left {}",
            total.step_commits,
            total.git_failures,
            total.step_commits_twice,
            total.edits_applied_twice,
            total.worktrees_left
        );
    }
    if !failed.is_empty() {
        println!("failed trials (replay with their seed): {failed:?}");
        std::process::exit(1);
    }
}

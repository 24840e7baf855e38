//! A few trials of the kill -9 soak (`cattery_tests::soak`); the bench of
//! the same name runs a hundred (BENCHMARKS.md).

use cattery_tests::soak::{Figures, Tasks, trial};

#[test]
fn random_sigkills_across_approvals_decisions_and_reworks_lose_and_repeat_nothing() {
    soak(Tasks::Plain);
}

#[test]
fn random_sigkills_in_the_middle_of_git_work_leave_no_failed_run_doubled_commit_or_worktree() {
    let total = soak(Tasks::InARepository);
    assert!(total.step_commits > 0, "no step was committed: {total:?}");
}

fn soak(tasks: Tasks) -> Figures {
    let trials: u64 = std::env::var("SOAK_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let mut total = Figures::default();
    for seed in 1..=trials {
        let found = trial(seed, tasks);
        assert!(
            found.failures().is_empty(),
            "trial {seed}: {:?} ({found:?})",
            found.failures()
        );
        total.add(&found);
    }
    assert_eq!(total.kills as u64, 4 * trials);
    assert!(
        total.agents_seen > 0,
        "the process scan saw no agent: {total:?}"
    );
    assert!(total.decisions > 0, "no decision was made: {total:?}");
    assert!(
        total.redispatched > 0,
        "no kill caught an agent at work: {total:?}"
    );
    total
}

use cattery_protocol::{AgentRole, BlockStatus, Run, RunStatus};

/// The block status a run implies (DOMAIN.md "Block"). Cancel overrides this
/// with `planned`, which the run alone cannot tell. A finished run whose
/// merger merged into base is `done`; one whose merger left a branch, a
/// pull request or a checked-out base to a human is `pr_ready`. A merger
/// with no repository owned the merge itself (`done`). Without a merger a
/// run is `done` unless an agent opened a pull request (`pr_ready`). The
/// status a delivery set is sticky while the run goes on, and a run that
/// then fails (a release regression) leaves its block `blocked`.
pub fn block_status_for(run: &Run) -> BlockStatus {
    match run.status {
        // Once the merger has delivered, the block's status stays what the
        // delivery made it while later steps (a release watch) run.
        RunStatus::Running if run.delivery.is_some() => delivered_status(run),
        RunStatus::Running => BlockStatus::InProgress,
        RunStatus::Blocked | RunStatus::Paused | RunStatus::Failed => BlockStatus::Blocked,
        RunStatus::Done if run.delivery.as_ref().is_some_and(|d| !d.merged()) => {
            BlockStatus::PrReady
        }
        RunStatus::Done if has_merger(run) => BlockStatus::Done,
        RunStatus::Done if run.pull_request.is_some() => BlockStatus::PrReady,
        RunStatus::Done => BlockStatus::Done,
    }
}

fn delivered_status(run: &Run) -> BlockStatus {
    match run.delivery.as_ref().is_some_and(|d| d.merged()) {
        true => BlockStatus::Done,
        false => BlockStatus::PrReady,
    }
}

/// Whether a step with the merger role ran (not skipped) in this run.
pub fn has_merger(run: &Run) -> bool {
    run.steps
        .iter()
        .any(|s| s.role == AgentRole::Merger && s.skipped.is_none())
}

use cattery_protocol::{BlockStatus, Run, RunStatus};

/// The block status a run implies (DOMAIN.md "Block"). Cancel overrides this
/// with `planned`, which the run alone cannot tell.
pub fn block_status_for(run: &Run) -> BlockStatus {
    match run.status {
        RunStatus::Running => BlockStatus::InProgress,
        RunStatus::Blocked | RunStatus::Paused | RunStatus::Failed => BlockStatus::Blocked,
        RunStatus::Done if ends_with_merger(run) => BlockStatus::Done,
        RunStatus::Done => BlockStatus::PrReady,
    }
}

fn ends_with_merger(run: &Run) -> bool {
    run.steps
        .iter()
        .any(|s| s.agent_kind == "merger" && s.skipped.is_none())
}

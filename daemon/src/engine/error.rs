use super::advice::Advice;
use cattery_protocol::wire::ErrorCode;
use cattery_protocol::{GateKind, RunStatus};

/// Why the engine refused an operation. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("run {run_id} is not probing a gate at step {step_index} any more; nothing changed")]
    StaleProbe { run_id: String, step_index: usize },
    #[error(
        "run {run_id} changed since you looked (you saw rev {seen}, it is now rev {current}); refresh and decide again"
    )]
    Stale {
        run_id: String,
        seen: u64,
        current: u64,
    },
    #[error("gate {gate_id} was already resolved ({choice}); nothing changed")]
    AlreadyResolved { gate_id: String, choice: String },
    #[error("gate {gate_id} is not pending on run {run_id}; {pending}")]
    GateNotPending {
        gate_id: String,
        run_id: String,
        pending: String,
    },
    #[error(
        "gate {gate_id} is a gate of kind {}, but {action} only closes gates of kind {}; use the action for that gate kind",
        .actual.label(), .expected.label()
    )]
    WrongKind {
        gate_id: String,
        actual: GateKind,
        expected: GateKind,
        action: String,
    },
    #[error("option {option:?} is not one of the offered options {options:?}")]
    InvalidOption {
        option: String,
        options: Vec<String>,
    },
    #[error("step index {index} is out of range: run {run_id} has steps 0 to {last}")]
    StepOutOfRange {
        run_id: String,
        index: usize,
        last: usize,
    },
    #[error("run {run_id} is {status}; {what}")]
    NotAllowed {
        run_id: String,
        status: RunStatus,
        what: String,
    },
    #[error("job {job_id} is not the job run {run_id} waits on; its result was ignored")]
    StaleJob { run_id: String, job_id: String },
    #[error("run {run_id} {why}, so it cannot be retried; {advice}")]
    NotRetryable {
        run_id: String,
        why: String,
        advice: Advice,
    },
    #[error("run {run_id} is {status}, and only a failed run can be retried; {advice}")]
    NotFailed {
        run_id: String,
        status: RunStatus,
        advice: Advice,
    },
    #[error(
        "run {run_id} is not the current run of block {block_id} (run {current} is), and only the current run may be retried or restarted; {advice}"
    )]
    NotCurrent {
        run_id: String,
        block_id: String,
        current: String,
        advice: Advice,
    },
    #[error(
        "run {run_id} never reached step {index}, and restarting there would skip the gates before it; {advice}"
    )]
    NotReached {
        run_id: String,
        index: usize,
        advice: Advice,
    },
    #[error(
        "gate {gate_id} can no longer be decided: run {run_id} is {status} since {ended_at} ({reason}); {advice}"
    )]
    RunEnded {
        gate_id: String,
        run_id: String,
        status: RunStatus,
        ended_at: String,
        reason: String,
        advice: Advice,
    },
    #[error(
        "gate {gate_id} is a review gate; answer it with `cattery ctl review BLOCK` (reply, resolve, dismiss, incorporate, proceed) or the findings pane"
    )]
    ReviewGate { gate_id: String },
    #[error("Answer or dismiss all {open} remaining finding(s) before incorporating")]
    FindingsOpen { open: usize },
    #[error("{reason}")]
    ReviewRefused { reason: String },
}

impl EngineError {
    /// The same refusal, advising on `current` when the block's current
    /// run is not the run refused: only the current one can be acted on.
    pub fn advise_on(self, current: &cattery_protocol::Run) -> Self {
        match self {
            Self::RunEnded {
                gate_id,
                run_id,
                status,
                ended_at,
                reason,
                ..
            } if run_id != current.id => Self::RunEnded {
                gate_id,
                run_id,
                status,
                ended_at,
                reason,
                advice: super::advice::for_current(current),
            },
            other => other,
        }
    }

    /// The wire error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Stale { .. }
            | Self::AlreadyResolved { .. }
            | Self::StaleJob { .. }
            | Self::StaleProbe { .. } => ErrorCode::Stale,
            Self::GateNotPending { .. }
            | Self::NotAllowed { .. }
            | Self::NotRetryable { .. }
            | Self::NotFailed { .. }
            | Self::NotCurrent { .. }
            | Self::NotReached { .. }
            | Self::RunEnded { .. }
            | Self::ReviewGate { .. }
            | Self::ReviewRefused { .. } => ErrorCode::Conflict,
            Self::FindingsOpen { .. } => ErrorCode::Invalid,
            Self::WrongKind { .. } | Self::InvalidOption { .. } | Self::StepOutOfRange { .. } => {
                ErrorCode::Invalid
            }
        }
    }
}

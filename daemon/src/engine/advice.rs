//! What a person may do about a run now. A lifecycle refusal ends with this
//! advice, and every move in it is one the lifecycle would accept, so a
//! refusal never points at another refusal.

use cattery_protocol::{Run, RunStatus};
use std::fmt;

/// One action the lifecycle accepts on a run in its present state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Answer the gate the run waits on.
    Decide { run_id: String, gate_id: String },
    /// Stop the live run; a stopped run may be retried.
    Stop { run_id: String },
    /// Retry the failed run from its failed step.
    Retry { run_id: String },
    /// Restart from any step `0..=last`.
    RestartFrom { run_id: String, last: usize },
    /// Start the pipeline on the block again.
    StartAgain,
}

/// The moves open on a block, for the run the block holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice(pub Box<[Move]>);

/// What may be done about `current`, the block's current run. Only the
/// current run may be retried or restarted, so advice never names another.
pub fn for_current(current: &Run) -> Advice {
    let id = || current.id.clone();
    let mut moves = Vec::new();
    if let Some(gate) = current.pending_gate() {
        moves.push(Move::Decide {
            run_id: id(),
            gate_id: gate.id,
        });
    }
    if current.status.is_live() {
        moves.push(Move::Stop { run_id: id() });
    }
    if retryable(current).is_ok() {
        moves.push(Move::Retry { run_id: id() });
    }
    moves.push(Move::RestartFrom {
        run_id: id(),
        last: current.last_reached_step(),
    });
    moves.push(Move::StartAgain);
    Advice(moves.into_boxed_slice())
}

/// Why `run` cannot be retried, if it cannot: it is not failed, or it was
/// ended on purpose in a way retry does not revive.
pub(super) fn retryable(run: &Run) -> Result<usize, Refusal> {
    let failure = run
        .failure
        .as_ref()
        .filter(|_| run.status == RunStatus::Failed);
    let Some(failure) = failure else {
        return Err(Refusal::NotFailed);
    };
    if let Some(how) = failure.cancellation.filter(|c| !c.retryable()) {
        return Err(Refusal::Discarded(how));
    }
    Ok(failure.step_index.min(run.steps.len().saturating_sub(1)))
}

/// Why a retry was refused, before it is worded.
pub(super) enum Refusal {
    NotFailed,
    Discarded(cattery_protocol::Cancellation),
}

impl fmt::Display for Move {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decide { run_id, gate_id } => {
                write!(f, "answer gate {gate_id} of run {run_id} in the inbox")
            }
            Self::Stop { run_id } => {
                write!(
                    f,
                    "stop run {run_id} (`cattery ctl stop {run_id}`) and retry it later"
                )
            }
            Self::Retry { run_id } => {
                write!(f, "retry run {run_id} (`cattery ctl retry {run_id}`)")
            }
            Self::RestartFrom { run_id, last: 0 } => write!(
                f,
                "restart run {run_id} from step 0 (`cattery ctl restart-from {run_id} 0`)"
            ),
            Self::RestartFrom { run_id, last } => write!(
                f,
                "restart run {run_id} from a step it reached, 0 to {last} (`cattery ctl restart-from {run_id} STEP`)"
            ),
            Self::StartAgain => f.write_str("start the pipeline again"),
        }
    }
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.0.len().saturating_sub(1);
        for (i, m) in self.0.iter().enumerate() {
            match i {
                0 => {}
                i if i == last => f.write_str(", or ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

//! The run state machine. Pure and deterministic: every function takes the
//! current run plus an injected clock reading and id generator (the traits
//! in `clock`, its only crate import), and returns the next state without
//! touching I/O. The service layer persists what these
//! functions return in one transaction.

pub mod advice;
mod block;
mod companion;
mod error;
mod estimate;
pub mod gate;
mod gates;
pub mod lifecycle;
pub mod merge_policy;
#[cfg(test)]
mod proptests;
mod record;
pub mod review;
pub mod schedule;
mod step;
pub mod tester;
#[cfg(test)]
pub(crate) mod tests;

pub use block::{block_status_for, has_merger};
pub use error::EngineError;
pub use gates::decide;
pub use lifecycle::{cancel, restart_from, retry, start, stop};
pub use record::{JobResult, record_result};

use crate::clock::IdGen;
use cattery_protocol::agent::PullRequest;
use cattery_protocol::{BlockStatus, Delivery, Millis, Run, RunStatus, StepState};

/// The injected world an engine call sees.
pub struct Cx<'a> {
    pub now: Millis,
    pub ids: &'a dyn IdGen,
    pub actor: &'a str,
}

/// What one `advance` (or a recorded result, or a decision) means for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The run moved; call `advance` again.
    Continue,
    /// Parked on a human gate.
    AwaitingDecision {
        gate_id: String,
    },
    /// A job must be dispatched (or is in flight) for this step.
    AwaitingJob {
        job_id: String,
        step_index: usize,
    },
    /// A polling gate probes when `due` comes (now when none); the run
    /// holds no task until then.
    AwaitingProbe {
        step_index: usize,
        due: Option<cattery_protocol::Millis>,
    },
    /// The run failed: a job's failure, or a person's reject, stop or cancel.
    Failed {
        error: String,
        kind: cattery_protocol::FailureKind,
        detail: Option<String>,
    },
    JobEvicted {
        error: String,
        detail: Option<String>,
    },
    Done,
    Paused,
    /// Nothing to do: the run is not running.
    Noop,
}

/// The block fields that follow a run.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockUpdate {
    pub status: BlockStatus,
    pub progress: f64,
    pub pull_request: Option<PullRequest>,
}

/// One engine step: the next run state, what the block becomes, and what to do next.
#[derive(Debug, Clone)]
pub struct Transition {
    pub run: Run,
    pub block: BlockUpdate,
    pub outcome: Outcome,
}

impl Transition {
    /// The same transition with the merger's delivery on its run, and the
    /// block status and pull request that follow from it.
    pub fn with_delivery(self, delivery: Delivery) -> Self {
        let mut run = self.run;
        let opened = match &delivery {
            Delivery::PullRequest { url, .. } | Delivery::PullRequestMerged { url, .. } => {
                Some(url)
            }
            Delivery::Review { url, .. } => url.as_ref(),
            _ => None,
        };
        if let Some(url) = opened {
            run.pull_request = Some(PullRequest { url: url.clone() });
        }
        run.delivery = Some(delivery);
        Self::new(run, self.outcome)
    }

    pub(crate) fn new(run: Run, outcome: Outcome) -> Self {
        let block = BlockUpdate {
            status: block_status_for(&run),
            progress: progress_of(&run),
            pull_request: run.pull_request.clone(),
        };
        Self {
            run,
            block,
            outcome,
        }
    }

    /// A change that moves nothing (live metrics, a job handle).
    pub fn unchanged(run: Run) -> Self {
        Self::new(run, Outcome::Noop)
    }

    pub(crate) fn with_block_status(mut self, status: BlockStatus) -> Self {
        self.block.status = status;
        self
    }
}

/// Share of steps done.
pub fn progress_of(run: &Run) -> f64 {
    if run.steps.is_empty() {
        return 0.0;
    }
    let done = run
        .steps
        .iter()
        .filter(|s| s.state == StepState::Done)
        .count();
    done as f64 / run.steps.len() as f64
}

/// Spend and other checks the engine consults before starting a step.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdvanceOptions {
    pub over_budget: bool,
}

/// Moves a running run by exactly one step.
pub fn advance(run: &Run, options: AdvanceOptions, cx: &Cx) -> Transition {
    let mut next = run.clone();
    let outcome = advance_in_place(&mut next, options, cx);
    if next != *run {
        next.updated_at = cx.now;
    }
    Transition::new(next, outcome)
}

fn advance_in_place(run: &mut Run, options: AdvanceOptions, cx: &Cx) -> Outcome {
    match run.status {
        RunStatus::Running => {}
        RunStatus::Paused if !options.over_budget => run.status = RunStatus::Running,
        RunStatus::Paused => return Outcome::Paused,
        RunStatus::Blocked => return blocked_outcome(run),
        RunStatus::Done | RunStatus::Failed => return Outcome::Noop,
    }
    let index = run.current_step;
    let Some(state) = run.steps.get(index).map(|s| s.state) else {
        run.status = RunStatus::Done;
        return Outcome::Done;
    };
    match state {
        StepState::Pending if options.over_budget => {
            run.status = RunStatus::Paused;
            Outcome::Paused
        }
        StepState::Pending if let Some(reason) = estimate::skip_reason(run, index) => {
            estimate::skip(run, index, reason, cx)
        }
        StepState::Pending if is_gate(run, index) => gate::enter(run, index, cx),
        StepState::Pending if review::is_review(run, index) => review::enter(run, index, cx),
        StepState::Pending => step::start(run, index, cx),
        StepState::Working if is_gate(run, index) => gate::awaiting(run, index),
        StepState::Working => step::awaiting_job(run, index),
        StepState::WaitingDecision => {
            run.status = RunStatus::Blocked;
            blocked_outcome(run)
        }
        StepState::Done => step::move_past(run, index),
    }
}

fn is_gate(run: &Run, index: usize) -> bool {
    run.steps.get(index).is_some_and(|s| s.gate.is_some())
}

fn blocked_outcome(run: &Run) -> Outcome {
    match run.pending_gate() {
        Some(gate) => Outcome::AwaitingDecision { gate_id: gate.id },
        None => Outcome::Noop,
    }
}

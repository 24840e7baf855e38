//! Starting, retrying, restarting, cancelling and stopping runs.

use super::advice::{self, Refusal};
use super::step::{self, FailureSpec};
use super::{Cx, EngineError, Outcome, Transition};
use cattery_protocol::{
    Block, BlockStatus, Cancellation, FailureKind, Pipeline, Run, RunStatus, Worktree,
};

/// A new run on a block, and the prior run it supersedes, if that was live.
#[derive(Debug)]
pub struct Started {
    pub run: Transition,
    pub superseded: Option<Transition>,
}

/// Starts `pipeline` on `block`, replacing (and failing as cancelled) a live prior run.
pub fn start(block: &Block, pipeline: &Pipeline, prior: Option<&Run>, cx: &Cx) -> Started {
    let run = Run {
        id: cx.ids.mint("r"),
        block_id: block.id.clone(),
        pipeline_id: pipeline.id.clone(),
        pipeline_name: pipeline.name.clone(),
        steps: pipeline.steps.iter().map(step::from_spec).collect(),
        current_step: 0,
        status: RunStatus::Running,
        failure: None,
        failure_history: Vec::new(),
        output_history: Vec::new(),
        resolved_gates: Vec::new(),
        previous_run_id: prior.map(|p| p.id.clone()),
        pull_request: None,
        worktree: None,
        change: None,
        delivery: None,
        estimate: block.estimate.clone(),
        initiated_by: cx.actor.to_owned(),
        created_at: cx.now,
        updated_at: cx.now,
        rev: 0,
    };
    let superseded = prior
        .filter(|p| p.status.is_live())
        .map(|p| supersede(p, &run.id, cx));
    Started {
        run: Transition::new(run, Outcome::Continue),
        superseded,
    }
}

fn supersede(prior: &Run, by: &str, cx: &Cx) -> Transition {
    let mut old = prior.clone();
    let message = format!("superseded by run {by}");
    step::fail(
        &mut old,
        FailureSpec::cancelled(Cancellation::Superseded, message),
        cx,
    );
    Transition::new(old, Outcome::Noop)
}

/// Resumes a failed run at its failed step under a new run id. Work the
/// user threw away (cancel, stop-reset, a newer run) is not revived, and
/// only the block's `current` run may be retried.
pub fn retry(run: &Run, current: Option<&Run>, cx: &Cx) -> Result<Transition, EngineError> {
    check_current(run, current)?;
    let from = advice::retryable(run).map_err(|refusal| match refusal {
        Refusal::NotFailed => EngineError::NotFailed {
            run_id: run.id.clone(),
            status: run.status,
            advice: advice::for_current(run),
        },
        Refusal::Discarded(how) => EngineError::NotRetryable {
            run_id: run.id.clone(),
            why: not_retryable_reason(how, run),
            advice: advice::for_current(run),
        },
    })?;
    Ok(Transition::new(successor(run, from, cx), Outcome::Continue))
}

fn not_retryable_reason(how: Cancellation, run: &Run) -> String {
    match how {
        Cancellation::Cancelled => "was cancelled by you".to_owned(),
        Cancellation::StopReset => {
            "was stopped by you at its iteration cap (stop-reset)".to_owned()
        }
        Cancellation::Superseded | Cancellation::Stopped => {
            let message = run.failure.as_ref().map_or("", |f| f.message.as_str());
            format!("was {message}")
        }
    }
}

/// Refuses acting on a run the block no longer holds: a newer run
/// replaced it, and reviving it would give the block two live runs.
fn check_current(run: &Run, current: Option<&Run>) -> Result<(), EngineError> {
    match current {
        Some(current) if current.id != run.id => Err(EngineError::NotCurrent {
            run_id: run.id.clone(),
            block_id: run.block_id.clone(),
            current: current.id.clone(),
            advice: advice::for_current(current),
        }),
        _ => Ok(()),
    }
}

/// Rewinds to `index` under a new run id; steps before it keep their results,
/// steps from it on start fresh (as [`retry`] does from the failed step).
/// Only a step the run reached qualifies: every step before it then passed
/// its gates in this run. A live run is superseded, so its job must be
/// stopped by the caller.
pub fn restart_from(
    run: &Run,
    current: Option<&Run>,
    index: usize,
    cx: &Cx,
) -> Result<Started, EngineError> {
    check_current(run, current)?;
    if index >= run.steps.len() {
        return Err(EngineError::StepOutOfRange {
            run_id: run.id.clone(),
            index,
            last: run.steps.len().saturating_sub(1),
        });
    }
    if index > run.last_reached_step() {
        return Err(EngineError::NotReached {
            run_id: run.id.clone(),
            index,
            advice: advice::for_current(run),
        });
    }
    let next = successor(run, index, cx);
    let superseded = run.status.is_live().then(|| supersede(run, &next.id, cx));
    Ok(Started {
        run: Transition::new(next, Outcome::Continue),
        superseded,
    })
}

fn successor(run: &Run, from: usize, cx: &Cx) -> Run {
    let mut next = run.clone();
    next.id = cx.ids.mint("r");
    next.previous_run_id = Some(run.id.clone());
    if let Some(failure) = next.failure.take() {
        next.failure_history.push(failure);
        step::trim_front(&mut next.failure_history);
    }
    for s in next.steps.iter_mut().skip(from) {
        *s = step::fresh_copy(s);
    }
    // The successor's branch starts where step `from` first started; the
    // service names its branch and folder. The prior branch keeps the rest.
    next.worktree = run.worktree.clone().map(|w| Worktree {
        start_commit: Some(commit_before(run, from)),
        ..w
    });
    next.current_step = from;
    next.status = RunStatus::Running;
    next.initiated_by = cx.actor.to_owned();
    next.created_at = cx.now;
    next.updated_at = cx.now;
    next.rev = 0;
    next
}

/// The branch tip before step `index` ran: the last commit an earlier step
/// recorded, else the base commit the task started from. Work of step `index` and
/// later (even an agent's own commits) is not in it.
pub fn commit_before(run: &Run, index: usize) -> String {
    let recorded = run.steps.iter().take(index).rev().find_map(|s| {
        s.change
            .as_ref()
            .map(|c| c.commit.clone().unwrap_or_else(|| c.start_commit.clone()))
    });
    match (recorded, &run.worktree) {
        (Some(commit), _) => commit,
        (None, Some(w)) => w.base_commit.clone(),
        (None, None) => String::new(),
    }
}

/// Cancels a live run; the block goes back to `planned`.
pub fn cancel(run: &Run, cx: &Cx) -> Result<Transition, EngineError> {
    let message = format!("cancelled by {}", cx.actor);
    end_live(run, Cancellation::Cancelled, message, cx)
        .map(|t| t.with_block_status(BlockStatus::Planned))
}

/// Stops a live run: it fails as `cancelled` and its job must be killed.
pub fn stop(run: &Run, cx: &Cx) -> Result<Transition, EngineError> {
    let message = format!("stopped by {}", cx.actor);
    end_live(run, Cancellation::Stopped, message, cx)
}

fn end_live(
    run: &Run,
    how: Cancellation,
    message: String,
    cx: &Cx,
) -> Result<Transition, EngineError> {
    if !run.status.is_live() {
        return Err(not_allowed(
            run,
            "only a live run can be stopped or cancelled",
        ));
    }
    let mut next = run.clone();
    step::fail(&mut next, FailureSpec::cancelled(how, message.clone()), cx);
    Ok(Transition::new(
        next,
        Outcome::Failed {
            error: message,
            kind: FailureKind::Cancelled,
            detail: None,
        },
    ))
}

fn not_allowed(run: &Run, what: &str) -> EngineError {
    EngineError::NotAllowed {
        run_id: run.id.clone(),
        status: run.status,
        what: what.to_owned(),
    }
}

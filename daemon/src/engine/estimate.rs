//! Estimate-gated steps (DELIVERY.md §5): an estimator's reply becomes the
//! run's (and block's) estimate, and a gated step, or a companion whose
//! producer was skipped, is skipped before it starts.

use super::{Cx, Outcome, step};
use cattery_protocol::estimate::Estimate;
use cattery_protocol::{AgentRole, Run, SkipReason, StepState};

/// Why the pending step at `index` does not run, if it does not.
pub fn skip_reason(run: &Run, index: usize) -> Option<SkipReason> {
    let step = run.steps.get(index)?;
    if step
        .gating
        .as_ref()
        .is_some_and(|g| !g.runs(run.estimate.as_ref()))
    {
        return Some(SkipReason::Gated);
    }
    // A companion grades the step just before it; with that skipped it
    // would grade whatever came earlier.
    let producer_skipped = step.companion.is_some()
        && index
            .checked_sub(1)
            .and_then(|i| run.steps.get(i))
            .is_some_and(|p| p.skipped.is_some());
    producer_skipped.then_some(SkipReason::ProducerSkipped)
}

/// Marks the step done without an agent and moves past it.
pub fn skip(run: &mut Run, index: usize, reason: SkipReason, cx: &Cx) -> Outcome {
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    step.skipped = Some(reason);
    step.output = Some(String::new());
    step.progress = 1.0;
    step.state = StepState::Done;
    step.started_at = Some(cx.now);
    step.finished_at = Some(cx.now);
    step::move_past(run, index)
}

/// An estimator's reply: its scores become the run's estimate and the
/// step's output their summary. An unreadable reply leaves the previous
/// estimate in force, with a warning on the step.
pub fn record(run: &mut Run, index: usize, cx: &Cx) {
    let Some(step) = run.steps.get_mut(index) else {
        return;
    };
    if step.role != AgentRole::Estimator {
        return;
    }
    let reply = step.output.clone().unwrap_or_default();
    match Estimate::coerce(&reply, cx.now) {
        Some(estimate) => {
            step.output = Some(estimate.summary());
            run.estimate = Some(estimate);
        }
        None => {
            step.warnings.push(
                "the estimator's reply has no complexity, risk and impact scores; the task's previous estimate stays".to_owned(),
            );
            step::trim_front(&mut step.warnings);
        }
    }
}

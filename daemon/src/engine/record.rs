//! Folding a finished job back into its run.

use super::step::{self, FailureSpec};
use super::{Cx, EngineError, Outcome, Transition, companion};
use cattery_protocol::agent::AgentResult;
use cattery_protocol::gate::HelperOutcome;
use cattery_protocol::{Decision, FailureKind, Run, RunStatus, StepState};

/// How a dispatched job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobResult {
    Succeeded(AgentResult),
    Failed {
        kind: FailureKind,
        message: String,
        detail: Option<String>,
        hint: Option<String>,
    },
    /// The job was in flight when the daemon died: it runs again, counted.
    Lost {
        detail: String,
    },
    /// The executor lost the job (container killed, engine restarted): it runs
    /// again once; a second eviction fails the run.
    Evicted {
        detail: String,
    },
    /// The agent printed nothing for its kind's inactivity limit and was
    /// killed: it runs again once; stalling twice fails the run.
    Stalled {
        detail: String,
    },
    /// The gateway refused the job's model call because the month's budget
    /// is spent: the step goes back to pending and the run pauses, to run
    /// the step again once resumed.
    OverBudget {
        detail: String,
    },
}

/// Records the result of the job the run's current step waits on.
pub fn record_result(
    run: &Run,
    job_id: &str,
    result: JobResult,
    cx: &Cx,
) -> Result<Transition, EngineError> {
    let index = run.current_step;
    let waiting_job = run
        .current()
        .filter(|s| s.state == StepState::Working)
        .and_then(|s| s.job.as_ref())
        .map(|j| j.id.as_str());
    if run.status != RunStatus::Running || waiting_job != Some(job_id) {
        return Err(EngineError::StaleJob {
            run_id: run.id.clone(),
            job_id: job_id.to_owned(),
        });
    }
    let mut next = run.clone();
    next.updated_at = cx.now;
    if run
        .current()
        .is_some_and(|s| s.test.as_ref().is_some_and(|t| t.fixer_working().is_some()))
    {
        let outcome = fixer_result(&mut next, index, result, cx);
        return Ok(Transition::new(next, outcome));
    }
    if run.current().is_some_and(|s| s.review.is_some()) {
        let outcome = review_result(&mut next, index, result, cx);
        return Ok(Transition::new(next, outcome));
    }
    if run.current().is_some_and(|s| {
        s.gate
            .as_ref()
            .is_some_and(|g| g.helper_working().is_some())
    }) {
        let outcome = helper_result(&mut next, index, result, cx);
        return Ok(Transition::new(next, outcome));
    }
    let outcome = match result {
        JobResult::Succeeded(result) => succeeded(&mut next, index, result, cx),
        JobResult::Failed {
            kind,
            message,
            detail,
            hint,
        } => job_failed(&mut next, kind, message, detail, hint, cx),
        JobResult::Lost { .. } => redispatch(&mut next, index, cx),
        JobResult::Evicted { detail } => evicted(&mut next, index, detail, cx),
        JobResult::Stalled { detail } => stalled(&mut next, index, detail, cx),
        JobResult::OverBudget { .. } => paused_mid_step(&mut next, index),
    };
    Ok(Transition::new(next, outcome))
}

/// A helper's or fixer's job as one round: how it ended and what it said.
/// A lost job or a budget stop is no round.
fn round_of(result: JobResult) -> Option<(HelperOutcome, String)> {
    match result {
        JobResult::Succeeded(result) => Some((HelperOutcome::Completed, result.output)),
        JobResult::Failed { message, .. } => Some((HelperOutcome::Failed, message)),
        JobResult::Evicted { detail } | JobResult::Stalled { detail } => {
            Some((HelperOutcome::Failed, detail))
        }
        JobResult::Lost { .. } | JobResult::OverBudget { .. } => None,
    }
}

/// A gate helper's result: a lost job runs again, a budget stop pauses
/// the run with the gate probing again on resume, and anything else is one
/// helper round, logged, after which the gate probes again.
fn helper_result(run: &mut Run, index: usize, result: JobResult, cx: &Cx) -> Outcome {
    if matches!(result, JobResult::Lost { .. }) {
        return redispatch(run, index, cx);
    }
    match round_of(result) {
        Some((outcome, summary)) => super::gate::helper_settled(run, index, outcome, summary, cx),
        None => {
            if let Some(step) = run.steps.get_mut(index) {
                step.job = None;
                step.state = StepState::Pending;
                if let Some(gate) = step.gate.as_mut() {
                    gate.phase = cattery_protocol::gate::GatePhase::Checking;
                }
            }
            run.status = RunStatus::Paused;
            Outcome::Paused
        }
    }
}

/// A fixer's result: a lost job runs again, a budget stop pauses the run
/// to test afresh on resume; anything else is one fixer round, after which
/// the tester runs again.
fn fixer_result(run: &mut Run, index: usize, result: JobResult, cx: &Cx) -> Outcome {
    if matches!(result, JobResult::Lost { .. }) {
        return redispatch(run, index, cx);
    }
    match round_of(result) {
        Some((outcome, summary)) => super::tester::fixer_settled(run, index, outcome, summary, cx),
        None => paused_mid_step(run, index),
    }
}

/// A review step's job: the reviewer's findings or the writer's revised
/// document, which the review folds in; a budget stop keeps the answers.
fn review_result(run: &mut Run, index: usize, result: JobResult, cx: &Cx) -> Outcome {
    let writing = run
        .steps
        .get(index)
        .and_then(|s| s.review.as_ref())
        .is_some_and(|r| r.writer_working().is_some());
    match result {
        JobResult::Succeeded(result) => {
            step::push_output(run, index, &result.output, cx);
            match writing {
                true => super::review::written(run, index, &result.output, cx),
                false => super::review::reviewed(run, index, &result.output, cx),
            }
        }
        JobResult::Failed {
            kind,
            message,
            detail,
            hint,
        } => job_failed(run, kind, message, detail, hint, cx),
        JobResult::Lost { .. } => redispatch(run, index, cx),
        JobResult::Evicted { detail } => evicted(run, index, detail, cx),
        JobResult::Stalled { detail } => stalled(run, index, detail, cx),
        JobResult::OverBudget { .. } => {
            super::review::paused(run, index, cx).unwrap_or_else(|| paused_mid_step(run, index))
        }
    }
}

/// A job that failed fails its run as it said.
fn job_failed(
    run: &mut Run,
    kind: FailureKind,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    cx: &Cx,
) -> Outcome {
    let spec = FailureSpec {
        kind,
        message,
        detail,
        hint,
        cancellation: None,
    };
    step::failed(run, spec, cx)
}

/// A stalled job runs once more; stalling again fails the run as stalled.
fn stalled(run: &mut Run, index: usize, detail: String, cx: &Cx) -> Outcome {
    let already_recovered = run.steps.get(index).is_some_and(|s| s.recoveries >= 1);
    if !already_recovered {
        return redispatch(run, index, cx);
    }
    let error = "the step's agent stalled twice (no output within its inactivity limit)".to_owned();
    let spec = FailureSpec {
        kind: FailureKind::Stalled,
        message: error.clone(),
        detail: Some(detail.clone()),
        hint: Some(
            "see its last lines; raise inactivity_secs for the kind in agents.toml if it is just slow, then retry"
                .to_owned(),
        ),
        cancellation: None,
    };
    step::fail(run, spec, cx);
    Outcome::Failed {
        error,
        kind: FailureKind::Stalled,
        detail: Some(detail),
    }
}

/// A step stopped by the budget runs again, from the start, on resume.
fn paused_mid_step(run: &mut Run, index: usize) -> Outcome {
    if let Some(step) = run.steps.get_mut(index) {
        *step = step::fresh_copy(step);
    }
    run.status = RunStatus::Paused;
    Outcome::Paused
}

/// An evicted job runs once more; a second eviction fails the run.
fn evicted(run: &mut Run, index: usize, detail: String, cx: &Cx) -> Outcome {
    let already_recovered = run.steps.get(index).is_some_and(|s| s.recoveries >= 1);
    if already_recovered {
        let error = "the step's job was evicted twice".to_owned();
        let spec = FailureSpec {
            kind: FailureKind::Evicted,
            message: error.clone(),
            detail: Some(detail.clone()),
            hint: Some("check the executor and retry the run".to_owned()),
            cancellation: None,
        };
        step::fail(run, spec, cx);
        return Outcome::JobEvicted {
            error,
            detail: Some(detail),
        };
    }
    redispatch(run, index, cx)
}

/// Mints a fresh job for the step and counts the recovery.
fn redispatch(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let job_id = cx.ids.mint("j");
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    step.recoveries += 1;
    // The new job starts where the lost one did: the driver puts the
    // worktree back there, so the lost job's half-done work is not built on.
    let started_at = step.job.as_ref().and_then(|j| j.start_commit.clone());
    let outcome = step::new_job(step, index, job_id);
    if let Some(job) = step.job.as_mut() {
        job.start_commit = started_at;
    }
    outcome
}

fn succeeded(run: &mut Run, index: usize, result: AgentResult, cx: &Cx) -> Outcome {
    let is_final = index + 1 == run.steps.len();
    step::push_output(run, index, &result.output, cx);
    if let Some(pr) = result.pull_request {
        run.pull_request = Some(pr);
    }
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    step.job = None;
    step.progress = 1.0;
    step.finished_at = Some(cx.now);
    step.output = Some(result.output.clone());
    step.merge_assessment = result.merge_assessment;
    super::estimate::record(run, index, cx);
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    if let Some(ask) = result.decision {
        // A step asks a human once: after an answer, asking again would loop
        // the human forever, so the result stands as the step's output.
        match step.decision.as_ref().and_then(|d| d.chosen.as_deref()) {
            Some(chosen) => {
                let warning = format!(
                    "asked again after \"{chosen}\" was chosen, and was not parked: {}",
                    ask.question
                );
                step.warnings.push(warning);
                step::trim_front(&mut step.warnings);
            }
            None => {
                step.decision = Some(Decision {
                    id: cx.ids.mint("g"),
                    question: ask.question,
                    options: ask.options,
                    chosen: None,
                });
                return step::park(run, index, cx);
            }
        }
    }
    if step.companion.is_some() {
        return companion::judge(run, index, result.grade, cx);
    }
    if let Some(report) = result.test_report.filter(|_| step.test.is_some())
        && let Some(outcome) = super::tester::resolve(run, index, *report, cx)
    {
        return outcome;
    }
    step::finish_or_gate(run, index, is_final, cx)
}

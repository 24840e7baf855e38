//! Human decisions on a parked run's gate.

use super::step::{self, FailureSpec};
use super::step::{finish, finish_or_gate};
use super::{Cx, EngineError, Outcome, Transition, companion};
use cattery_protocol::{
    ApprovalStatus, BlockStatus, Cancellation, FailureKind, GateAction, GateDecision,
    IterationCapChoice, PendingGate, ResolvedGate, ReviewComment, Rework, ReworkSource, Run,
};

/// Applies a human decision. Stale, repeated or mismatched decisions are
/// refused with the reason and leave the run untouched.
pub fn decide(run: &Run, decision: &GateDecision, cx: &Cx) -> Result<Transition, EngineError> {
    let gate = check(run, decision)?;
    let mut next = run.clone();
    next.updated_at = cx.now;
    next.resolved_gates.push(ResolvedGate {
        id: gate.id.clone(),
        kind: gate.kind,
        step_index: gate.step_index,
        choice: decision.action.choice(),
        resolved_at: cx.now,
    });
    let index = gate.step_index;
    let mut block_override = None;
    let outcome = match &decision.action {
        GateAction::Approve { edited_proposal } => approve(&mut next, index, edited_proposal, cx),
        GateAction::RequestChanges { feedback, comments } => {
            request_changes(&mut next, index, feedback, comments)
        }
        GateAction::Reject { reason } => reject(&mut next, index, reason, cx),
        GateAction::ChooseOption { option } => choose(&mut next, index, option),
        GateAction::ResolveIterationCap { choice } => {
            if *choice == IterationCapChoice::StopReset {
                block_override = Some(BlockStatus::Planned);
            }
            resolve_cap(&mut next, index, *choice, cx)
        }
    };
    let transition = Transition::new(next, outcome);
    Ok(match block_override {
        Some(status) => transition.with_block_status(status),
        None => transition,
    })
}

fn check(run: &Run, decision: &GateDecision) -> Result<PendingGate, EngineError> {
    if let Some(done) = run.resolved_gates.iter().find(|g| g.id == decision.gate_id) {
        return Err(EngineError::AlreadyResolved {
            gate_id: done.id.clone(),
            choice: done.choice.clone(),
        });
    }
    if !run.status.is_live() {
        return Err(run_ended(run, &decision.gate_id));
    }
    let pending = run.pending_gate();
    let Some(gate) = pending.filter(|g| g.id == decision.gate_id) else {
        return Err(EngineError::GateNotPending {
            gate_id: decision.gate_id.clone(),
            run_id: run.id.clone(),
            pending: describe_pending(run),
        });
    };
    if decision.rev != run.rev {
        return Err(EngineError::Stale {
            run_id: run.id.clone(),
            seen: decision.rev,
            current: run.rev,
        });
    }
    if gate.kind == cattery_protocol::GateKind::Review {
        return Err(EngineError::ReviewGate { gate_id: gate.id });
    }
    let expected = decision.action.gate_kind();
    if gate.kind != expected {
        return Err(EngineError::WrongKind {
            gate_id: gate.id,
            actual: gate.kind,
            expected,
            action: decision.action.choice(),
        });
    }
    if let GateAction::ChooseOption { option } = &decision.action
        && !gate.options.contains(option)
    {
        return Err(EngineError::InvalidOption {
            option: option.clone(),
            options: gate.options,
        });
    }
    Ok(gate)
}

/// A gate of a run that ended while it waited: say which run, how and when.
fn run_ended(run: &Run, gate_id: &str) -> EngineError {
    let (ended_at, reason) = match &run.failure {
        Some(f) => (f.occurred_at, f.message.clone()),
        None => (run.updated_at, "it finished".to_owned()),
    };
    EngineError::RunEnded {
        gate_id: gate_id.to_owned(),
        run_id: run.id.clone(),
        status: run.status,
        ended_at: cattery_protocol::format_utc(ended_at),
        reason,
        advice: super::advice::for_current(run),
    }
}

fn describe_pending(run: &Run) -> String {
    match run.pending_gate() {
        Some(gate) => format!("it waits on gate {} instead", gate.id),
        None => format!("it is {} with no open gate", run.status),
    }
}

fn approve(run: &mut Run, index: usize, edited: &Option<String>, cx: &Cx) -> Outcome {
    // A companion's gate shows its producer's work, so an edit replaces that.
    let edited_step = step::proposer_index(run, index);
    if let (Some(text), Some(producer)) = (edited, run.steps.get_mut(edited_step)) {
        producer.output = Some(text.clone());
    }
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    if let Some(approval) = step.approval.as_mut() {
        approval.status = ApprovalStatus::Approved;
        if let Some(text) = edited {
            approval.proposal = text.clone();
        }
    }
    finish(step, cx);
    run.status = cattery_protocol::RunStatus::Running;
    Outcome::Continue
}

fn request_changes(
    run: &mut Run,
    index: usize,
    feedback: &str,
    comments: &[ReviewComment],
) -> Outcome {
    // On a companion the human's feedback goes to the producer, with its own
    // last output, and unlike an automatic round it spends no budget.
    let from = step::proposer_index(run, index);
    let previous_proposal = run.steps.get(from).and_then(|s| s.output.clone());
    let rework = Rework {
        previous_proposal,
        feedback: feedback.to_owned(),
        comments: comments.to_vec(),
        requested_by: ReworkSource::Human,
    };
    if let Some(approval) = run.steps.get_mut(index).and_then(|s| s.approval.as_mut()) {
        approval.status = ApprovalStatus::ChangesRequested;
    }
    step::rerun_range(run, from, index, rework);
    Outcome::Continue
}

fn reject(run: &mut Run, index: usize, reason: &str, cx: &Cx) -> Outcome {
    let kind = run.steps.get(index).map(|s| s.agent_kind.clone());
    if let Some(approval) = run.steps.get_mut(index).and_then(|s| s.approval.as_mut()) {
        approval.status = ApprovalStatus::Rejected;
        approval.feedback = Some(reason.to_owned());
    }
    let message = format!(
        "{} rejected the {} proposal: {reason}",
        cx.actor,
        kind.unwrap_or_default()
    );
    fail_with(run, FailureSpec::plain(FailureKind::Rejected, message), cx)
}

fn choose(run: &mut Run, index: usize, option: &str) -> Outcome {
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    if let Some(decision) = step.decision.as_mut() {
        decision.chosen = Some(option.to_owned());
    }
    step::reset(step);
    run.status = cattery_protocol::RunStatus::Running;
    Outcome::Continue
}

fn resolve_cap(run: &mut Run, index: usize, choice: IterationCapChoice, cx: &Cx) -> Outcome {
    let is_final = index + 1 == run.steps.len();
    let Some(state) = run.steps.get_mut(index).and_then(|s| s.companion.as_mut()) else {
        return Outcome::Noop;
    };
    state.exceeded = false;
    state.cap_gate_id = None;
    let (feedback, comments) = match state.verdicts.last() {
        Some(v) => (v.feedback.clone(), v.comments.clone()),
        None => (String::new(), Vec::new()),
    };
    if choice == IterationCapChoice::ExtraRound {
        state.max_attempts += 1;
    }
    if choice != IterationCapChoice::StopReset {
        run.status = cattery_protocol::RunStatus::Running;
    }
    match choice {
        IterationCapChoice::ExtraRound => match step::producer_index(run, index) {
            Some(producer) => {
                companion::loop_producer(run, producer, index, feedback, comments);
                Outcome::Continue
            }
            None => finish_or_gate(run, index, is_final, cx),
        },
        // Proceeding is the human's approval: a gated companion opens no
        // second gate.
        IterationCapChoice::Proceed => {
            if let Some(step) = run.steps.get_mut(index) {
                finish(step, cx);
            }
            Outcome::Continue
        }
        IterationCapChoice::StopReset => {
            let message = format!("{} stopped the run at the iteration cap", cx.actor);
            let spec = FailureSpec::cancelled(Cancellation::StopReset, message);
            fail_with(run, spec, cx)
        }
    }
}

fn fail_with(run: &mut Run, spec: FailureSpec, cx: &Cx) -> Outcome {
    let error = spec.message.clone();
    let kind = spec.kind;
    step::fail(run, spec, cx);
    Outcome::Failed {
        error,
        kind,
        detail: None,
    }
}

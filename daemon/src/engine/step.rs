//! Step-level moves shared by advance, results and decisions.

use super::{Cx, Outcome};
use cattery_protocol::{
    Approval, ApprovalStatus, Cancellation, CompanionSpec, CompanionState, Failure, FailureKind,
    JobRef, OutputRecord, Rework, Run, RunStatus, Step, StepMetrics, StepSpec, StepState,
};

/// Histories keep the newest entries only.
pub const HISTORY_LIMIT: usize = 20;

pub fn from_spec(spec: &StepSpec) -> Step {
    Step {
        gate: spec
            .gate
            .clone()
            .map(cattery_protocol::gate::GateState::new),
        test: spec
            .test
            .clone()
            .map(cattery_protocol::tester::TestLoop::new),
        merge_assessment: None,
        gating: spec.gating.clone(),
        review: spec
            .review
            .clone()
            .map(cattery_protocol::review::ReviewState::new),
        agent_kind: spec.agent_kind.clone(),
        role: spec.role,
        state: StepState::Pending,
        progress: 0.0,
        progress_label: None,
        output: None,
        model: None,
        decision: None,
        requires_approval: spec.requires_approval,
        approval: None,
        companion: spec.companion.as_ref().map(|c| CompanionState {
            producer_kind: c.producer_kind.clone(),
            threshold: c.threshold,
            max_attempts: c.max_attempts,
            attempts: 0,
            verdicts: Vec::new(),
            exceeded: false,
            cap_gate_id: None,
            grade_repairs: 0,
        }),
        rework: None,
        metrics: StepMetrics::default(),
        job: None,
        timeout_secs: spec.timeout_secs,
        started_at: None,
        finished_at: None,
        attempts: 0,
        recoveries: 0,
        change: None,
        skipped: None,
        warnings: Vec::new(),
    }
}

/// The same step as the pipeline defines it, with none of its history: no
/// rounds, verdicts, answers, rework or approval. The attempt counter keeps
/// counting, so an agent can tell a retry from its first try (the demo
/// agent's `fail N` relies on it).
pub fn fresh_copy(step: &Step) -> Step {
    let spec = StepSpec {
        agent_kind: step.agent_kind.clone(),
        role: step.role,
        requires_approval: step.requires_approval,
        companion: step.companion.as_ref().map(|c| CompanionSpec {
            producer_kind: c.producer_kind.clone(),
            threshold: c.threshold,
            max_attempts: c.max_attempts,
        }),
        timeout_secs: step.timeout_secs,
        gate: step.gate.as_ref().map(|g| g.spec.clone()),
        test: step.test.as_ref().map(|t| t.spec.clone()),
        gating: step.gating.clone(),
        review: step.review.as_ref().map(|r| r.spec.clone()),
    };
    let mut fresh = from_spec(&spec);
    fresh.attempts = step.attempts;
    fresh
}

pub fn start(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let job_id = cx.ids.mint("j");
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    step.state = StepState::Working;
    step.attempts += 1;
    step.started_at = Some(cx.now);
    step.finished_at = None;
    step.progress = 0.0;
    step.progress_label = None;
    new_job(step, index, job_id)
}

/// Gives the step a fresh, not yet dispatched job.
pub fn new_job(step: &mut Step, index: usize, job_id: String) -> Outcome {
    step.job = Some(JobRef {
        id: job_id.clone(),
        handle: None,
        dispatched_at: None,
        metrics_at_start: step.metrics.clone(),
        start_commit: None,
        metered: StepMetrics::default(),
    });
    Outcome::AwaitingJob {
        job_id,
        step_index: index,
    }
}

pub fn awaiting_job(run: &Run, index: usize) -> Outcome {
    match run.steps.get(index).and_then(|s| s.job.as_ref()) {
        Some(job) => Outcome::AwaitingJob {
            job_id: job.id.clone(),
            step_index: index,
        },
        None => Outcome::Noop,
    }
}

pub fn move_past(run: &mut Run, index: usize) -> Outcome {
    if index + 1 >= run.steps.len() {
        run.status = RunStatus::Done;
        return Outcome::Done;
    }
    run.current_step = index + 1;
    Outcome::Continue
}

/// Puts a step back to pending so it runs again; keeps attempts and metrics.
pub fn reset(step: &mut Step) {
    step.state = StepState::Pending;
    step.job = None;
    step.progress = 0.0;
    step.progress_label = None;
    step.finished_at = None;
    step.approval = None;
}

/// Re-runs `from..=through` with `rework` folded into the first of them.
pub fn rerun_range(run: &mut Run, from: usize, through: usize, rework: Rework) {
    for step in run.steps.iter_mut().take(through + 1).skip(from) {
        reset(step);
    }
    if let Some(first) = run.steps.get_mut(from) {
        first.rework = Some(rework);
    }
    run.current_step = from;
    run.status = RunStatus::Running;
}

pub fn push_output(run: &mut Run, index: usize, output: &str, cx: &Cx) {
    let Some(step) = run.steps.get(index) else {
        return;
    };
    run.output_history.push(OutputRecord {
        step_index: index,
        agent_kind: step.agent_kind.clone(),
        output: output.to_owned(),
        recorded_at: cx.now,
    });
    trim_front(&mut run.output_history);
}

pub fn trim_front<T>(list: &mut Vec<T>) {
    if list.len() > HISTORY_LIMIT {
        list.drain(..list.len() - HISTORY_LIMIT);
    }
}

pub struct FailureSpec {
    pub kind: FailureKind,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub cancellation: Option<Cancellation>,
}

impl FailureSpec {
    /// A failure of the run's own making, with nothing more to say.
    pub fn plain(kind: FailureKind, message: String) -> Self {
        Self {
            kind,
            message,
            detail: None,
            hint: None,
            cancellation: None,
        }
    }

    /// A run ended on purpose.
    pub fn cancelled(how: Cancellation, message: String) -> Self {
        Self {
            cancellation: Some(how),
            ..Self::plain(FailureKind::Cancelled, message)
        }
    }
}

/// Fails the run as `spec` says and answers the outcome that reports it.
pub fn failed(run: &mut Run, spec: FailureSpec, cx: &Cx) -> Outcome {
    let outcome = Outcome::Failed {
        error: spec.message.clone(),
        kind: spec.kind,
        detail: spec.detail.clone(),
    };
    fail(run, spec, cx);
    outcome
}

/// Fails a live run. The first failure wins and a done run is never failed.
pub fn fail(run: &mut Run, spec: FailureSpec, cx: &Cx) {
    if !run.status.is_live() {
        return;
    }
    let unfinished =
        |s: &&mut Step| matches!(s.state, StepState::Working | StepState::WaitingDecision);
    for step in run.steps.iter_mut().filter(unfinished) {
        step.state = StepState::Pending;
        step.job = None;
    }
    run.status = RunStatus::Failed;
    run.failure = Some(Failure {
        kind: spec.kind,
        message: spec.message,
        detail: spec.detail,
        hint: spec.hint,
        occurred_at: cx.now,
        step_index: run.current_step,
        cancellation: spec.cancellation,
    });
    run.updated_at = cx.now;
}

/// Index of the nearest step before `companion_index` of the producer kind.
pub fn producer_index(run: &Run, companion_index: usize) -> Option<usize> {
    let kind = &run
        .steps
        .get(companion_index)?
        .companion
        .as_ref()?
        .producer_kind;
    run.steps
        .iter()
        .take(companion_index)
        .rposition(|s| &s.agent_kind == kind)
}

/// The step whose work a gate on `index` puts before a human: a companion's
/// producer, or the step itself.
pub fn proposer_index(run: &Run, index: usize) -> usize {
    producer_index(run, index).unwrap_or(index)
}

/// Parks the run on the step's open gate.
pub fn park(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    if let Some(step) = run.steps.get_mut(index) {
        step.state = StepState::WaitingDecision;
        step.finished_at = Some(cx.now);
    }
    run.status = RunStatus::Blocked;
    match run.pending_gate() {
        Some(gate) => Outcome::AwaitingDecision { gate_id: gate.id },
        None => Outcome::Noop,
    }
}

/// Marks a step done, or parks it on approval when the pipeline gates it.
/// A companion's gate proposes its producer's work, which is what the
/// companion just cleared.
pub(super) fn finish_or_gate(run: &mut Run, index: usize, is_final: bool, cx: &Cx) -> Outcome {
    let gated = run
        .steps
        .get(index)
        .is_some_and(|s| s.requires_approval && !is_final);
    // Only a gate needs the proposal, so only a gate copies it.
    let proposal = gated
        .then(|| run.steps.get(proposer_index(run, index)))
        .flatten()
        .and_then(|s| s.output.clone());
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    if gated {
        step.approval = Some(Approval {
            id: cx.ids.mint("g"),
            status: ApprovalStatus::Pending,
            proposal: proposal.unwrap_or_default(),
            feedback: None,
            comments: Vec::new(),
        });
        return park(run, index, cx);
    }
    finish(step, cx);
    Outcome::Continue
}

/// A step's work is accepted.
pub(super) fn finish(step: &mut Step, cx: &Cx) {
    step.state = StepState::Done;
    step.finished_at = Some(cx.now);
    step.rework = None;
}

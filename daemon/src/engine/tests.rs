//! Unit tests for every engine rule, driven through the public functions.

use super::*;
use crate::clock::SeqIds;
use cattery_protocol::agent::{AgentResult, DecisionRequest, Grade};
use cattery_protocol::*;

/// A step of an agent with the merger role, whatever its name.
pub(crate) fn merger(kind: &str) -> StepSpec {
    StepSpec {
        role: cattery_protocol::AgentRole::Merger,
        ..spec(kind)
    }
}

pub(crate) fn spec(kind: &str) -> StepSpec {
    StepSpec {
        gating: None,
        review: None,
        role: cattery_protocol::AgentRole::Producer,
        agent_kind: kind.into(),
        requires_approval: false,
        companion: None,
        timeout_secs: 60,
        gate: None,
        test: None,
    }
}

pub(crate) fn quick() -> Pipeline {
    let mut architect = spec("architect");
    architect.requires_approval = true;
    let mut reviewer = spec("reviewer");
    reviewer.role = cattery_protocol::AgentRole::Grader;
    reviewer.companion = Some(CompanionSpec {
        producer_kind: "coder".into(),
        threshold: 0.8,
        max_attempts: 3,
    });
    Pipeline {
        id: "quick".into(),
        name: "Quick".into(),
        description: String::new(),
        steps: vec![architect, spec("coder"), reviewer, merger("merger")],
    }
}

pub(crate) fn block() -> Block {
    Block {
        estimate: None,
        pull_request: None,
        id: "b_1".into(),
        level: BlockLevel::Task,
        parent_id: None,
        title: "t".into(),
        description: String::new(),
        status: BlockStatus::Planned,
        progress: 0.0,
        run_id: None,
        repository: None,
        created_at: 0,
        updated_at: 0,
    }
}

pub(crate) fn output(text: &str) -> JobResult {
    JobResult::Succeeded(AgentResult {
        output: text.into(),
        decision: None,
        grade: None,
        pull_request: None,
        merge_assessment: None,
        test_report: None,
    })
}

fn grade(rating: f64) -> JobResult {
    JobResult::Succeeded(AgentResult {
        output: format!("rated {rating}"),
        decision: None,
        grade: Some(Grade {
            rating,
            feedback: format!("feedback at {rating}"),
            blockers: Vec::new(),
            comments: Vec::new(),
        }),
        pull_request: None,
        merge_assessment: None,
        test_report: None,
    })
}

/// A run plus the store's rev bump, as the service would persist it.
struct Harness {
    run: Run,
    ids: SeqIds,
    now: Millis,
    last_block: Option<BlockUpdate>,
}

impl Harness {
    fn new(pipeline: &Pipeline) -> Self {
        let ids = SeqIds::default();
        let started = start(&block(), pipeline, None, &cx(&ids, 1));
        let mut run = started.run.run;
        run.rev = 1;
        Self {
            run,
            ids,
            now: 1,
            last_block: None,
        }
    }

    fn cx(&self) -> Cx<'_> {
        cx(&self.ids, self.now)
    }

    fn apply(&mut self, t: Transition) -> Outcome {
        self.now += 1;
        self.run = t.run;
        self.run.rev += 1;
        self.last_block = Some(t.block);
        t.outcome
    }

    fn advance(&mut self) -> Outcome {
        let t = advance(&self.run, AdvanceOptions::default(), &self.cx());
        self.apply(t)
    }

    /// Advances until a job is wanted and returns its id.
    fn next_job(&mut self) -> String {
        for _ in 0..10 {
            match self.advance() {
                Outcome::AwaitingJob { job_id, .. } => return job_id,
                Outcome::Continue => continue,
                other => panic!("expected a job, got {other:?}"),
            }
        }
        panic!("no job after 10 advances")
    }

    fn finish(&mut self, result: JobResult) -> Outcome {
        let job = self.next_job();
        let t = record_result(&self.run, &job, result, &self.cx()).unwrap();
        self.apply(t)
    }

    fn decide(&mut self, action: GateAction) -> Result<Outcome, EngineError> {
        let gate = self.run.pending_gate().expect("a pending gate");
        let decision = GateDecision {
            gate_id: gate.id,
            rev: self.run.rev,
            actor: "ana".into(),
            action,
        };
        let t = decide(&self.run, &decision, &self.cx())?;
        Ok(self.apply(t))
    }

    fn kind_at(&self) -> &str {
        &self.run.steps[self.run.current_step].agent_kind
    }

    fn run_to_end(&mut self) -> Outcome {
        loop {
            match self.advance() {
                Outcome::AwaitingJob { job_id, .. } => {
                    let t = record_result(&self.run, &job_id, grade(0.95), &self.cx()).unwrap();
                    self.apply(t);
                }
                Outcome::Continue => {}
                other => return other,
            }
        }
    }
}

pub(crate) fn cx(ids: &SeqIds, now: Millis) -> Cx<'_> {
    Cx {
        now,
        ids,
        actor: "ana",
    }
}

fn approve() -> GateAction {
    GateAction::Approve {
        edited_proposal: None,
    }
}

#[test]
fn start_creates_a_running_run_with_pending_steps() {
    let h = Harness::new(&quick());
    assert_eq!(h.run.status, RunStatus::Running);
    assert_eq!(h.run.steps.len(), 4);
    assert!(h.run.steps.iter().all(|s| s.state == StepState::Pending));
    assert_eq!(h.run.initiated_by, "ana");
}

#[test]
fn advance_moves_exactly_one_step_per_call() {
    let mut h = Harness::new(&quick());
    let first = h.advance();
    assert!(matches!(first, Outcome::AwaitingJob { step_index: 0, .. }));
    assert_eq!(h.run.steps[0].state, StepState::Working);
    assert_eq!(h.run.steps[1].state, StepState::Pending);
    // A second advance while the job is in flight only repeats the job.
    assert_eq!(h.advance(), first);
}

#[test]
fn approval_gate_parks_with_the_output_as_proposal() {
    let mut h = Harness::new(&quick());
    let outcome = h.finish(output("the plan"));
    let gate = h.run.pending_gate().unwrap();
    assert_eq!(
        outcome,
        Outcome::AwaitingDecision {
            gate_id: gate.id.clone()
        }
    );
    assert_eq!(gate.kind, GateKind::Approval);
    assert_eq!(gate.prompt, "the plan");
    assert_eq!(h.run.status, RunStatus::Blocked);
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::Blocked);
}

#[test]
fn approve_with_edited_proposal_replaces_the_output_and_advances() {
    let mut h = Harness::new(&quick());
    h.finish(output("draft"));
    let edited = GateAction::Approve {
        edited_proposal: Some("better".into()),
    };
    assert_eq!(h.decide(edited).unwrap(), Outcome::Continue);
    assert_eq!(h.run.steps[0].output.as_deref(), Some("better"));
    assert_eq!(h.run.steps[0].state, StepState::Done);
    h.advance();
    assert_eq!(h.kind_at(), "coder");
    assert_eq!(
        h.last_block.as_ref().unwrap().status,
        BlockStatus::InProgress
    );
}

#[test]
fn request_changes_reruns_the_step_with_feedback_in_its_rework() {
    let mut h = Harness::new(&quick());
    h.finish(output("draft"));
    let comments = vec![ReviewComment {
        quote: Some("draft".into()),
        severity: CommentSeverity::Major,
        body: "too vague".into(),
        path: None,
        line: None,
    }];
    h.decide(GateAction::RequestChanges {
        feedback: "add detail".into(),
        comments: comments.clone(),
    })
    .unwrap();
    let step = &h.run.steps[0];
    assert_eq!(step.state, StepState::Pending);
    let rework = step.rework.as_ref().unwrap();
    assert_eq!(rework.feedback, "add detail");
    assert_eq!(rework.comments, comments);
    assert_eq!(rework.previous_proposal.as_deref(), Some("draft"));
    assert_eq!(rework.requested_by, ReworkSource::Human);
    // It runs again as attempt 2 and parks on a fresh gate.
    h.finish(output("detailed"));
    assert_eq!(h.run.steps[0].attempts, 2);
    assert_eq!(h.run.pending_gate().unwrap().prompt, "detailed");
}

#[test]
fn reject_fails_the_run_as_rejected() {
    let mut h = Harness::new(&quick());
    h.finish(output("draft"));
    h.decide(GateAction::Reject {
        reason: "wrong idea".into(),
    })
    .unwrap();
    let failure = h.run.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Rejected);
    assert!(failure.message.contains("wrong idea"));
    assert_eq!(h.run.status, RunStatus::Failed);
    assert!(h.run.steps.iter().all(|s| s.state != StepState::Working));
}

#[test]
fn final_step_is_never_gated() {
    let mut pipeline = quick();
    pipeline.steps[3].requires_approval = true;
    let mut h = Harness::new(&pipeline);
    h.finish(output("plan"));
    h.decide(approve()).unwrap();
    assert_eq!(h.run_to_end(), Outcome::Done);
    assert_eq!(h.run.status, RunStatus::Done);
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::Done);
    assert_eq!(h.last_block.as_ref().unwrap().progress, 1.0);
}

#[test]
fn agent_decision_parks_and_the_chosen_option_reruns_the_step() {
    let mut h = Harness::new(&Pipeline {
        steps: vec![spec("coder"), merger("merger")],
        ..quick()
    });
    let ask = JobResult::Succeeded(AgentResult {
        output: String::new(),
        decision: Some(DecisionRequest {
            question: "which db?".into(),
            options: vec!["sqlite".into(), "postgres".into()],
        }),
        grade: None,
        pull_request: None,
        merge_assessment: None,
        test_report: None,
    });
    h.finish(ask);
    let gate = h.run.pending_gate().unwrap();
    assert_eq!(gate.kind, GateKind::Decision);
    assert_eq!(gate.options, ["sqlite", "postgres"]);
    let bad = h.decide(GateAction::ChooseOption {
        option: "mysql".into(),
    });
    assert!(matches!(bad, Err(EngineError::InvalidOption { .. })));
    h.decide(GateAction::ChooseOption {
        option: "postgres".into(),
    })
    .unwrap();
    let step = &h.run.steps[0];
    assert_eq!(step.state, StepState::Pending);
    assert_eq!(
        step.decision.as_ref().unwrap().chosen.as_deref(),
        Some("postgres")
    );
}

fn at_reviewer() -> Harness {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    h.decide(approve()).unwrap();
    h.finish(output("code v1"));
    h
}

#[test]
fn companion_passes_at_threshold() {
    let mut h = at_reviewer();
    assert_eq!(h.finish(grade(0.8)), Outcome::Continue);
    let state = h.run.steps[2].companion.clone().unwrap();
    assert!(state.verdicts[0].passed);
    assert_eq!(h.run.steps[2].state, StepState::Done);
}

#[test]
fn companion_below_threshold_reruns_producer_through_companion() {
    let mut h = at_reviewer();
    h.finish(grade(0.5));
    assert_eq!(h.run.current_step, 1);
    assert_eq!(h.run.steps[1].state, StepState::Pending);
    assert_eq!(h.run.steps[2].state, StepState::Pending);
    let rework = h.run.steps[1].rework.clone().unwrap();
    assert_eq!(rework.requested_by, ReworkSource::Reviewer);
    assert_eq!(rework.previous_proposal.as_deref(), Some("code v1"));
    assert_eq!(rework.feedback, "feedback at 0.5");
    assert_eq!(h.run.steps[2].companion.as_ref().unwrap().attempts, 1);
}

fn at_cap() -> Harness {
    let mut h = at_reviewer();
    for round in 0..3 {
        h.finish(grade(0.5));
        assert_eq!(
            h.run.steps[2].companion.as_ref().unwrap().attempts,
            round + 1
        );
        h.finish(output("code again"));
    }
    let outcome = h.finish(grade(0.5));
    assert!(matches!(outcome, Outcome::AwaitingDecision { .. }));
    h
}

#[test]
fn companion_parks_at_the_iteration_cap_after_max_reworks() {
    let h = at_cap();
    let gate = h.run.pending_gate().unwrap();
    assert_eq!(gate.kind, GateKind::IterationCap);
    assert_eq!(gate.options, ["extra-round", "proceed", "stop-reset"]);
    let state = h.run.steps[2].companion.as_ref().unwrap();
    assert!(state.exceeded);
    assert_eq!(state.verdicts.len(), 4);
}

#[test]
fn iteration_cap_extra_round_loops_once_more() {
    let mut h = at_cap();
    let choice = IterationCapChoice::ExtraRound;
    h.decide(GateAction::ResolveIterationCap { choice })
        .unwrap();
    assert_eq!(h.run.current_step, 1);
    let state = h.run.steps[2].companion.clone().unwrap();
    assert_eq!((state.attempts, state.max_attempts), (4, 4));
    h.finish(output("code v5"));
    assert!(matches!(
        h.finish(grade(0.5)),
        Outcome::AwaitingDecision { .. }
    ));
}

#[test]
fn iteration_cap_proceed_accepts_and_advances() {
    let mut h = at_cap();
    let choice = IterationCapChoice::Proceed;
    h.decide(GateAction::ResolveIterationCap { choice })
        .unwrap();
    assert_eq!(h.run.steps[2].state, StepState::Done);
    assert_eq!(h.run_to_end(), Outcome::Done);
}

#[test]
fn iteration_cap_stop_reset_cancels_and_plans_the_block() {
    let mut h = at_cap();
    let choice = IterationCapChoice::StopReset;
    h.decide(GateAction::ResolveIterationCap { choice })
        .unwrap();
    assert_eq!(h.run.failure.as_ref().unwrap().kind, FailureKind::Cancelled);
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::Planned);
}

#[test]
fn blocker_finding_reworks_whatever_the_rating() {
    let mut h = at_reviewer();
    let result = JobResult::Succeeded(AgentResult {
        output: String::new(),
        decision: None,
        grade: Some(Grade {
            rating: 0.99,
            feedback: "unsafe".into(),
            blockers: vec!["sql injection".into()],
            comments: Vec::new(),
        }),
        pull_request: None,
        merge_assessment: None,
        test_report: None,
    });
    h.finish(result);
    assert_eq!(h.run.current_step, 1);
    let rework = h.run.steps[1].rework.clone().unwrap();
    assert_eq!(rework.comments[0].severity, CommentSeverity::Blocker);
}

#[test]
fn verdict_rule_order() {
    use super::companion::{Disposition, VerdictInput, dispose};
    let major = [ReviewComment {
        quote: None,
        severity: CommentSeverity::Major,
        body: "x".into(),
        path: None,
        line: None,
    }];
    let minor = [ReviewComment {
        severity: CommentSeverity::Minor,
        ..major[0].clone()
    }];
    let input = |rating, findings, attempts, has_producer| VerdictInput {
        rating,
        threshold: 0.8,
        findings,
        attempts,
        max_attempts: 3,
        has_producer,
    };
    assert_eq!(dispose(&input(0.1, &[], 3, false)), Disposition::Pass);
    assert_eq!(dispose(&input(0.9, &major, 0, true)), Disposition::Rework);
    assert_eq!(dispose(&input(0.9, &major, 1, true)), Disposition::Pass);
    assert_eq!(dispose(&input(0.9, &minor, 0, true)), Disposition::Pass);
    assert_eq!(dispose(&input(0.5, &[], 2, true)), Disposition::Rework);
    assert_eq!(dispose(&input(0.5, &[], 3, true)), Disposition::Park);
}

#[test]
fn human_request_changes_on_a_companion_does_not_spend_the_budget() {
    let mut pipeline = quick();
    pipeline.steps[2].requires_approval = true;
    let mut h = Harness::new(&pipeline);
    h.finish(output("plan"));
    h.decide(approve()).unwrap();
    h.finish(output("code"));
    h.finish(grade(0.9));
    assert_eq!(h.run.pending_gate().unwrap().kind, GateKind::Approval);
    h.decide(GateAction::RequestChanges {
        feedback: "rename things".into(),
        comments: Vec::new(),
    })
    .unwrap();
    assert_eq!(h.run.current_step, 1, "the producer re-runs");
    assert_eq!(h.run.steps[2].companion.as_ref().unwrap().attempts, 0);
    assert_eq!(
        h.run.steps[1].rework.as_ref().unwrap().requested_by,
        ReworkSource::Human
    );
}

#[test]
fn stale_repeated_and_wrong_kind_decisions_change_nothing() {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    let gate = h.run.pending_gate().unwrap();
    let before = h.run.clone();
    let mut decision = GateDecision {
        gate_id: gate.id.clone(),
        rev: h.run.rev - 1,
        actor: "ana".into(),
        action: approve(),
    };
    let stale = decide(&h.run, &decision, &h.cx()).unwrap_err();
    assert!(matches!(stale, EngineError::Stale { .. }));
    assert!(stale.to_string().contains("refresh"));
    decision.rev = h.run.rev;
    decision.action = GateAction::ChooseOption { option: "a".into() };
    let wrong = decide(&h.run, &decision, &h.cx()).unwrap_err();
    assert!(matches!(wrong, EngineError::WrongKind { .. }), "{wrong}");
    assert_eq!(h.run, before);
    decision.action = approve();
    let t = decide(&h.run, &decision, &h.cx()).unwrap();
    h.apply(t);
    decision.rev = h.run.rev;
    let repeated = decide(&h.run, &decision, &h.cx()).unwrap_err();
    assert_eq!(
        repeated,
        EngineError::AlreadyResolved {
            gate_id: gate.id,
            choice: "approve".into()
        }
    );
    decision.gate_id = "g_nope".into();
    let unknown = decide(&h.run, &decision, &h.cx()).unwrap_err();
    assert!(matches!(unknown, EngineError::GateNotPending { .. }));
}

#[test]
fn a_result_for_another_job_is_refused() {
    let mut h = Harness::new(&quick());
    h.next_job();
    let err = record_result(&h.run, "j_other", output("x"), &h.cx()).unwrap_err();
    assert!(matches!(err, EngineError::StaleJob { .. }));
}

fn failed_at_coder() -> Harness {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    h.decide(approve()).unwrap();
    let failed = JobResult::Failed {
        kind: FailureKind::Agent,
        message: "exit 3".into(),
        detail: Some("tail".into()),
        hint: None,
    };
    let outcome = h.finish(failed);
    assert!(matches!(
        outcome,
        Outcome::Failed {
            kind: FailureKind::Agent,
            ..
        }
    ));
    h
}

#[test]
fn job_failure_fails_the_run_and_blocks_the_block() {
    let h = failed_at_coder();
    let failure = h.run.failure.as_ref().unwrap();
    assert_eq!((failure.kind, failure.step_index), (FailureKind::Agent, 1));
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::Blocked);
    assert!(h.run.steps.iter().all(|s| s.state != StepState::Working));
}

#[test]
fn retry_resumes_at_the_failed_step_with_a_new_id_and_history() {
    let h = failed_at_coder();
    let t = retry(&h.run, None, &h.cx()).unwrap();
    let next = t.run;
    assert_ne!(next.id, h.run.id);
    assert_eq!(next.previous_run_id.as_deref(), Some(h.run.id.as_str()));
    assert_eq!(next.current_step, 1);
    assert_eq!(next.steps[0].state, StepState::Done);
    assert_eq!(next.failure_history.len(), 1);
    assert_eq!(next.output_history, h.run.output_history);
    assert!(next.failure.is_none());
    assert!(
        retry(&next, None, &h.cx()).is_err(),
        "a running run is not retried"
    );
}

#[test]
fn restart_from_rewinds_and_supersedes_a_live_run() {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    h.decide(approve()).unwrap();
    h.finish(output("code"));
    let started = restart_from(&h.run, None, 1, &h.cx()).unwrap();
    let next = started.run.run;
    assert_eq!(next.current_step, 1);
    assert_eq!(next.steps[0].state, StepState::Done);
    assert!(
        next.steps[1..]
            .iter()
            .all(|s| s.state == StepState::Pending)
    );
    let old = started.superseded.unwrap().run;
    assert_eq!(old.failure.unwrap().kind, FailureKind::Cancelled);
    let out_of_range = restart_from(&h.run, None, 9, &h.cx());
    assert!(matches!(
        out_of_range,
        Err(EngineError::StepOutOfRange { last: 3, .. })
    ));
}

#[test]
fn cancel_plans_the_block_and_stop_blocks_it() {
    let mut h = Harness::new(&quick());
    h.next_job();
    let cancelled = cancel(&h.run, &h.cx()).unwrap();
    assert_eq!(cancelled.block.status, BlockStatus::Planned);
    assert_eq!(cancelled.run.failure.unwrap().kind, FailureKind::Cancelled);
    let stopped = stop(&h.run, &h.cx()).unwrap();
    assert_eq!(stopped.block.status, BlockStatus::Blocked);
    assert!(
        stopped
            .run
            .steps
            .iter()
            .all(|s| s.state != StepState::Working)
    );
}

#[test]
fn done_runs_never_change() {
    let mut h = Harness::new(&Pipeline {
        steps: vec![spec("coder")],
        ..quick()
    });
    assert_eq!(h.run_to_end(), Outcome::Done);
    let done = h.run.clone();
    assert_eq!(h.advance(), Outcome::Noop);
    assert!(stop(&done, &h.cx()).is_err());
    assert!(retry(&done, None, &h.cx()).is_err());
    assert_eq!(h.run.steps, done.steps);
}

#[test]
fn a_job_lost_with_the_daemon_is_redispatched_and_counted_every_time() {
    let mut h = Harness::new(&quick());
    for round in 1..=3 {
        let job = h.next_job();
        let lost = JobResult::Lost {
            detail: "daemon restarted".into(),
        };
        let t = record_result(&h.run, &job, lost, &h.cx()).unwrap();
        assert!(matches!(h.apply(t), Outcome::AwaitingJob { .. }));
        assert_eq!(h.run.steps[0].recoveries, round);
        assert_eq!(
            h.run.steps[0].attempts, 1,
            "a recovery is not a new attempt"
        );
    }
}

#[test]
fn an_evicted_job_is_redispatched_once_then_the_run_fails_as_evicted() {
    let mut h = Harness::new(&quick());
    let job = h.next_job();
    let lost = || JobResult::Evicted {
        detail: "container killed".into(),
    };
    let t = record_result(&h.run, &job, lost(), &h.cx()).unwrap();
    let Outcome::AwaitingJob { job_id, .. } = h.apply(t) else {
        panic!("expected a re-dispatch")
    };
    assert_ne!(job_id, job);
    assert_eq!(h.run.steps[0].recoveries, 1);
    let t = record_result(&h.run, &job_id, lost(), &h.cx()).unwrap();
    assert!(matches!(h.apply(t), Outcome::JobEvicted { .. }));
    assert_eq!(h.run.failure.as_ref().unwrap().kind, FailureKind::Evicted);
}

#[test]
fn over_budget_pauses_before_a_step_and_resumes_after() {
    let mut h = Harness::new(&quick());
    let paused = advance(&h.run, AdvanceOptions { over_budget: true }, &h.cx());
    assert_eq!(paused.outcome, Outcome::Paused);
    h.apply(paused);
    assert_eq!(h.run.status, RunStatus::Paused);
    assert!(matches!(h.advance(), Outcome::AwaitingJob { .. }));
    assert_eq!(h.run.status, RunStatus::Running);
}

#[test]
fn a_job_stopped_by_the_budget_pauses_its_run_and_its_step_runs_again_from_the_start() {
    let mut h = Harness::new(&quick());
    let job = h.next_job();
    let stopped = JobResult::OverBudget {
        detail: "the gateway refused a call".into(),
    };
    let t = record_result(&h.run, &job, stopped, &h.cx()).unwrap();
    assert_eq!(h.apply(t), Outcome::Paused);
    assert_eq!(h.run.status, RunStatus::Paused);
    assert!(h.run.failure.is_none(), "paused, not failed");
    assert_eq!(h.run.steps[0].state, StepState::Pending);
    assert!(h.run.steps[0].job.is_none());
    let Outcome::AwaitingJob { job_id, .. } = h.advance() else {
        panic!("a resume runs the step again")
    };
    assert_ne!(job_id, job);
}

mod advice;
mod conformance;
mod review;

//! Rules where cattery once disagreed with the reference engine, each pinned
//! by a test named after the behaviour.

use super::*;
use cattery_protocol::agent::PullRequest;

fn no_grade(reply: &str) -> JobResult {
    output(reply)
}

fn ask(question: &str) -> JobResult {
    JobResult::Succeeded(AgentResult {
        output: format!("asking: {question}"),
        decision: Some(DecisionRequest {
            question: question.into(),
            options: vec!["kafka".into(), "sqs".into()],
        }),
        grade: None,
        pull_request: None,
        merge_assessment: None,
        test_report: None,
    })
}

fn with_pr(text: &str, url: &str) -> JobResult {
    JobResult::Succeeded(AgentResult {
        output: text.into(),
        decision: None,
        grade: None,
        pull_request: Some(PullRequest { url: url.into() }),
        merge_assessment: None,
        test_report: None,
    })
}

fn gated_reviewer() -> Harness {
    let mut pipeline = quick();
    pipeline.steps[2].requires_approval = true;
    let mut h = Harness::new(&pipeline);
    h.finish(output("plan"));
    h.decide(approve()).unwrap();
    h.finish(output("code v1"));
    h
}

#[test]
fn a_grader_that_returns_no_grade_is_asked_once_more_then_fails_the_run_as_companion_rejected() {
    let mut h = at_reviewer();
    assert_eq!(h.finish(no_grade("sorry, I ran out of")), Outcome::Continue);
    assert_eq!(
        h.run.current_step, 2,
        "the grader runs again, not the coder"
    );
    assert_eq!(h.run.steps[1].attempts, 1);
    let state = h.run.steps[2].companion.as_ref().unwrap();
    assert_eq!((state.grade_repairs, state.attempts), (1, 0));
    assert!(state.verdicts.is_empty(), "no grade is no verdict");

    let outcome = h.finish(no_grade("still no grade here"));
    assert!(matches!(
        outcome,
        Outcome::Failed {
            kind: FailureKind::CompanionRejected,
            ..
        }
    ));
    assert_eq!(h.run.status, RunStatus::Failed);
    let failure = h.run.failure.as_ref().unwrap();
    assert_eq!(failure.step_index, 2);
    assert!(
        failure.message.contains("returned no verdict"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("\"still no grade here\""),
        "the message quotes the reply: {}",
        failure.message
    );
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::Blocked);
}

#[test]
fn a_grader_repaired_on_its_second_try_is_judged_as_usual_and_its_repair_count_resets() {
    let mut h = at_reviewer();
    h.finish(no_grade(""));
    assert_eq!(h.finish(grade(0.9)), Outcome::Continue);
    let state = h.run.steps[2].companion.as_ref().unwrap();
    assert_eq!(state.grade_repairs, 0);
    assert!(state.verdicts[0].passed);
    assert_eq!(h.run.steps[2].state, StepState::Done);
}

#[test]
fn a_grader_with_no_producer_before_it_passes_without_a_grade() {
    let mut pipeline = quick();
    pipeline.steps = vec![pipeline.steps[2].clone(), merger("merger")];
    let mut h = Harness::new(&pipeline);
    assert_eq!(h.finish(no_grade("nothing to grade")), Outcome::Continue);
    assert_eq!(h.run.steps[0].state, StepState::Done);
}

#[test]
fn a_decision_asked_again_after_an_answer_is_taken_as_the_output_with_a_warning() {
    let mut h = Harness::new(&Pipeline {
        steps: vec![spec("coder"), merger("merger")],
        ..quick()
    });
    h.finish(ask("which queue?"));
    h.decide(GateAction::ChooseOption {
        option: "sqs".into(),
    })
    .unwrap();
    assert_eq!(h.finish(ask("which queue, really?")), Outcome::Continue);
    assert_eq!(h.run.status, RunStatus::Running);
    let step = &h.run.steps[0];
    assert_eq!(step.state, StepState::Done);
    assert_eq!(step.output.as_deref(), Some("asking: which queue, really?"));
    assert_eq!(
        step.decision.as_ref().unwrap().chosen.as_deref(),
        Some("sqs")
    );
    assert_eq!(step.warnings.len(), 1);
    assert!(
        step.warnings[0].contains("which queue, really?") && step.warnings[0].contains("sqs"),
        "{:?}",
        step.warnings
    );
    assert_eq!(h.advance(), Outcome::Continue);
    assert_eq!(h.run.current_step, 1, "the run goes on");
}

#[test]
fn proceed_at_the_cap_of_a_gated_companion_finishes_the_step_without_a_second_gate() {
    let mut h = gated_reviewer();
    for _ in 0..3 {
        h.finish(grade(0.5));
        h.finish(output("code again"));
    }
    h.finish(grade(0.5));
    assert_eq!(h.run.pending_gate().unwrap().kind, GateKind::IterationCap);
    let outcome = h
        .decide(GateAction::ResolveIterationCap {
            choice: IterationCapChoice::Proceed,
        })
        .unwrap();
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(h.run.steps[2].state, StepState::Done);
    assert!(h.run.steps[2].approval.is_none(), "no approval gate opened");
    assert_eq!(h.run_to_end(), Outcome::Done);
}

#[test]
fn a_gated_companion_proposes_the_producers_output_and_request_changes_hands_it_back() {
    let mut h = gated_reviewer();
    h.finish(grade(0.9));
    let gate = h.run.pending_gate().unwrap();
    assert_eq!(gate.kind, GateKind::Approval);
    assert_eq!(gate.prompt, "code v1", "the coder's work, not the grade");
    h.decide(GateAction::RequestChanges {
        feedback: "split the module".into(),
        comments: Vec::new(),
    })
    .unwrap();
    let rework = h.run.steps[1].rework.as_ref().unwrap();
    assert_eq!(rework.previous_proposal.as_deref(), Some("code v1"));
    assert_eq!(rework.feedback, "split the module");
}

#[test]
fn an_edited_approve_on_a_gated_companion_replaces_the_producers_output() {
    let mut h = gated_reviewer();
    h.finish(grade(0.9));
    h.decide(GateAction::Approve {
        edited_proposal: Some("code v1, edited".into()),
    })
    .unwrap();
    assert_eq!(h.run.steps[1].output.as_deref(), Some("code v1, edited"));
    assert_eq!(h.run.steps[2].state, StepState::Done);
}

/// A run that spent a companion round and answered a decision at the
/// coder, then failed there.
fn failed_after_a_round_and_an_answer() -> Harness {
    let mut h = at_reviewer();
    h.finish(grade(0.5));
    h.finish(ask("which queue?"));
    h.decide(GateAction::ChooseOption {
        option: "kafka".into(),
    })
    .unwrap();
    let failed = JobResult::Failed {
        kind: FailureKind::Agent,
        message: "exit 3".into(),
        detail: None,
        hint: None,
    };
    h.finish(failed);
    assert_eq!(h.run.status, RunStatus::Failed);
    assert_eq!(h.run.failure.as_ref().unwrap().step_index, 1);
    h
}

#[test]
fn retry_rebuilds_the_steps_it_resumes_from_their_definition() {
    let h = failed_after_a_round_and_an_answer();
    let next = retry(&h.run, None, &h.cx()).unwrap().run;
    assert_eq!(next.steps[0], h.run.steps[0], "steps before it are kept");
    let coder = &next.steps[1];
    assert!(coder.decision.is_none() && coder.rework.is_none() && coder.approval.is_none());
    assert!(coder.output.is_none() && coder.metrics.is_empty());
    assert_eq!(
        coder.attempts, h.run.steps[1].attempts,
        "attempts keep counting"
    );
    let reviewer = next.steps[2].companion.as_ref().unwrap();
    assert_eq!((reviewer.attempts, reviewer.max_attempts), (0, 3));
    assert!(reviewer.verdicts.is_empty() && !reviewer.exceeded);
}

#[test]
fn after_a_retry_the_decision_is_asked_again_and_the_companion_grants_its_full_budget() {
    let h = failed_after_a_round_and_an_answer();
    let mut next = Harness {
        run: retry(&h.run, None, &h.cx()).unwrap().run,
        ids: SeqIds::default(),
        now: h.now + 1,
        last_block: None,
    };
    next.run.rev = 1;
    assert!(matches!(
        next.finish(ask("which queue?")),
        Outcome::AwaitingDecision { .. }
    ));
    next.decide(GateAction::ChooseOption {
        option: "sqs".into(),
    })
    .unwrap();
    next.finish(output("code"));
    for round in 1..=3 {
        next.finish(grade(0.5));
        assert_eq!(next.run.current_step, 1, "round {round} reworks");
        next.finish(output("code again"));
    }
    next.finish(grade(0.5));
    assert_eq!(
        next.run.pending_gate().unwrap().kind,
        GateKind::IterationCap
    );
}

fn two_steps() -> Pipeline {
    Pipeline {
        steps: vec![spec("architect"), spec("coder")],
        ..quick()
    }
}

#[test]
fn a_run_without_a_merger_or_a_pull_request_leaves_its_block_done() {
    let mut h = Harness::new(&two_steps());
    h.finish(output("plan"));
    h.finish(output("code"));
    assert_eq!(h.advance(), Outcome::Done);
    assert_eq!(h.run.status, RunStatus::Done);
    let block = h.last_block.as_ref().unwrap();
    assert_eq!(
        (block.status, block.pull_request.as_ref()),
        (BlockStatus::Done, None)
    );
}

#[test]
fn a_run_without_a_merger_that_opened_a_pull_request_leaves_its_block_pr_ready() {
    let mut h = Harness::new(&two_steps());
    h.finish(output("plan"));
    h.finish(with_pr("code", "https://git.example/pr/7"));
    h.advance();
    assert_eq!(h.run.status, RunStatus::Done);
    let pr = h.run.pull_request.as_ref().unwrap();
    assert_eq!(pr.url, "https://git.example/pr/7");
    let block = h.last_block.as_ref().unwrap();
    assert_eq!(block.status, BlockStatus::PrReady);
    assert_eq!(block.pull_request.as_ref(), Some(pr));
}

#[test]
fn a_run_with_a_merger_leaves_its_block_done_even_with_a_pull_request() {
    let mut h = Harness::new(&Pipeline {
        steps: vec![spec("coder"), merger("merger")],
        ..quick()
    });
    h.finish(with_pr("code", "https://git.example/pr/8"));
    h.finish(output("merged"));
    h.advance();
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::Done);
}

#[test]
fn a_decision_on_a_run_stopped_while_it_waited_names_the_run_its_status_and_when_it_ended() {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    let gate = h.run.pending_gate().unwrap();
    let stopped = stop(&h.run, &h.cx()).unwrap();
    h.apply(stopped);
    assert!(h.run.opened_gate(&gate.id), "the gate is still found");
    let decision = GateDecision {
        gate_id: gate.id.clone(),
        rev: h.run.rev,
        actor: "ana".into(),
        action: approve(),
    };
    let refused = decide(&h.run, &decision, &h.cx()).unwrap_err();
    let EngineError::RunEnded {
        run_id,
        status,
        ended_at,
        reason,
        ..
    } = &refused
    else {
        panic!("expected RunEnded, got {refused:?}");
    };
    assert_eq!(
        (run_id.as_str(), *status),
        (h.run.id.as_str(), RunStatus::Failed)
    );
    assert_eq!(ended_at, "1970-01-01 00:00:00 UTC");
    assert_eq!(reason, "stopped by ana");
    let message = refused.to_string();
    assert!(
        message.contains(&gate.id) && message.contains(&h.run.id),
        "{message}"
    );
}

fn ended(how: fn(&Run, &Cx) -> Result<Transition, EngineError>) -> Run {
    let mut h = Harness::new(&quick());
    h.next_job();
    let t = how(&h.run, &h.cx()).unwrap();
    t.run
}

#[test]
fn retry_of_a_cancelled_run_is_refused_with_what_to_do_instead() {
    let ids = SeqIds::default();
    let run = ended(cancel);
    let refused = retry(&run, None, &cx(&ids, 9)).unwrap_err();
    let text = refused.to_string();
    let expected = format!(
        "run {} was cancelled by you, so it cannot be retried; restart run {}",
        run.id, run.id
    );
    assert!(text.starts_with(&expected), "{text}");
    assert!(text.ends_with("or start the pipeline again"), "{text}");
}

#[test]
fn retry_of_a_run_ended_by_stop_reset_is_refused() {
    let mut h = at_cap();
    h.decide(GateAction::ResolveIterationCap {
        choice: IterationCapChoice::StopReset,
    })
    .unwrap();
    let refused = retry(&h.run, None, &h.cx()).unwrap_err();
    assert!(matches!(refused, EngineError::NotRetryable { .. }));
    assert!(refused.to_string().contains("stop-reset"), "{refused}");
}

#[test]
fn retry_of_a_superseded_run_is_refused() {
    let mut h = Harness::new(&quick());
    h.next_job();
    let started = restart_from(&h.run, None, 0, &h.cx()).unwrap();
    let old = started.superseded.unwrap().run;
    let refused = retry(&old, None, &h.cx()).unwrap_err();
    assert!(refused.to_string().contains("superseded by"), "{refused}");
}

#[test]
fn retry_of_a_stopped_run_or_one_that_failed_on_its_own_is_allowed() {
    let ids = SeqIds::default();
    assert!(retry(&ended(stop), None, &cx(&ids, 9)).is_ok());
    let failed = failed_at_coder();
    assert!(retry(&failed.run, None, &failed.cx()).is_ok());
}

/// The pipeline `ship` from a user's config dir whose agents.toml defines
/// `merge-bot` with `role`.
fn ship_with_merge_bot(role: &str) -> Pipeline {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agents.toml"),
        format!("[agents.merge-bot]\nrole = \"{role}\"\n\n[agents.merger]\nrole = \"producer\"\n"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("pipelines")).unwrap();
    std::fs::write(
        dir.path().join("pipelines/ship.toml"),
        "name = \"Ship\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"merge-bot\"\n",
    )
    .unwrap();
    let catalog =
        crate::config::Catalog::load(Some(dir.path()), std::path::Path::new("/a")).unwrap();
    catalog.pipelines["ship"].clone()
}

#[test]
fn a_merge_bot_with_the_merger_role_finishes_its_block_exactly_like_merger() {
    let pipeline = ship_with_merge_bot("merger");
    assert_eq!(pipeline.steps[1].role, cattery_protocol::AgentRole::Merger);
    let mut h = Harness::new(&pipeline);
    h.finish(with_pr("code", "https://git.example/pr/9"));
    h.finish(output("merged"));
    h.advance();
    assert_eq!(h.run.status, RunStatus::Done);
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::Done);
}

#[test]
fn an_agent_named_merger_without_the_merger_role_leaves_a_pull_request_for_a_human() {
    let mut pipeline = ship_with_merge_bot("producer");
    pipeline.steps[1].agent_kind = "merger".into();
    pipeline.steps[1].role = cattery_protocol::AgentRole::Producer;
    let mut h = Harness::new(&pipeline);
    h.finish(with_pr("code", "https://git.example/pr/10"));
    h.finish(output("not merged"));
    h.advance();
    assert_eq!(h.last_block.as_ref().unwrap().status, BlockStatus::PrReady);
}

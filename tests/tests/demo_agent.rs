//! The demo agent runs as real child processes through every kind of gate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::*;
use cattery_tests::Home;

fn decision(gate: &PendingGate, action: GateAction) -> GateDecision {
    GateDecision {
        gate_id: gate.id.clone(),
        rev: gate.rev,
        actor: "ana".into(),
        action,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_agent_passes_an_approval_a_decision_and_an_iteration_cap() {
    let mut home = Home::new();
    let description =
        "@demo * sleep 0\n@demo coder ask Which queue? | kafka | sqs\n@demo reviewer rating 0.3";
    let block = home.add_task(description);
    let run = home.daemon.start(&block.id, "quick", "ana").await.unwrap();

    let approval = home.next_gate(20).await;
    assert_eq!(approval.kind, GateKind::Approval);
    assert_eq!(approval.prompt, "architect output, attempt 1");
    let approve = GateAction::Approve {
        edited_proposal: Some("the edited plan".into()),
    };
    home.daemon
        .decide(&run.id, &decision(&approval, approve))
        .await
        .unwrap();

    let ask = home.next_gate(20).await;
    assert_eq!(ask.kind, GateKind::Decision);
    assert_eq!(ask.prompt, "Which queue?");
    assert_eq!(ask.options, ["kafka", "sqs"]);
    let choose = GateAction::ChooseOption {
        option: "sqs".into(),
    };
    home.daemon
        .decide(&run.id, &decision(&ask, choose))
        .await
        .unwrap();

    let cap = home.next_gate(60).await;
    assert_eq!(cap.kind, GateKind::IterationCap);
    let parked = home.daemon.run(&run.id).unwrap();
    let coder = &parked.steps[1];
    assert!(
        coder.output.as_deref().unwrap().contains("going with sqs"),
        "{coder:?}"
    );
    assert!(
        coder
            .output
            .as_deref()
            .unwrap()
            .contains("reworked after feedback")
    );
    assert_eq!(
        coder.attempts, 5,
        "first try, the answered decision, three reworks"
    );
    assert!(coder.metrics.calls >= 3, "llm_call lines were rolled up");
    assert_eq!(parked.steps[0].output.as_deref(), Some("the edited plan"));
    let reviewer = parked.steps[2].companion.as_ref().unwrap();
    assert_eq!(reviewer.verdicts.len(), 4);
    assert!(
        reviewer
            .verdicts
            .iter()
            .all(|v| v.rating == 0.3 && !v.passed)
    );

    let proceed = GateAction::ResolveIterationCap {
        choice: IterationCapChoice::Proceed,
    };
    home.daemon
        .decide(&run.id, &decision(&cap, proceed))
        .await
        .unwrap();
    let done = home.wait_run(&run.id, 20, |r| !r.status.is_live()).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let board = home.daemon.board().unwrap();
    assert_eq!(board[0].status, BlockStatus::Done);
    let audit = home.daemon.audit(None).unwrap();
    let choices: Vec<_> = audit.iter().map(|e| e.choice.as_str()).collect();
    assert_eq!(choices, ["approve_edited", "option:sqs", "proceed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_decision_is_refused_and_changes_nothing() {
    let mut home = Home::new();
    let block = home.add_task("@demo * sleep 0");
    let run = home.daemon.start(&block.id, "quick", "ana").await.unwrap();
    let gate = home.next_gate(20).await;
    let approve = decision(
        &gate,
        GateAction::Approve {
            edited_proposal: None,
        },
    );
    home.daemon.decide(&run.id, &approve).await.unwrap();
    let err = home.daemon.decide(&run.id, &approve).await.unwrap_err();
    assert_eq!(err.code(), cattery_protocol::wire::ErrorCode::Stale);
    assert!(err.to_string().contains("already resolved"), "{err}");
    assert_eq!(home.daemon.audit(None).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agent_fails_the_run_with_its_output_tail_and_retry_finishes_it() {
    let home = Home::new();
    let block = home.add_task("@demo * sleep 0\n@demo coder fail 1");
    let run = home.daemon.start(&block.id, "build", "ana").await.unwrap();
    let failed = home.wait_run(&run.id, 30, |r| !r.status.is_live()).await;
    let failure = failed.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Agent);
    assert_eq!(failure.step_index, 2);
    assert!(
        failure.message.contains("exited with status 3"),
        "{failure:?}"
    );
    let detail = failure.detail.unwrap();
    assert!(
        detail.contains("simulated failure on attempt 1"),
        "{detail}"
    );
    assert!(failure.hint.is_some());

    let retried = home.daemon.retry(&run.id, "ana").await.unwrap();
    let done = home
        .wait_run(&retried.id, 30, |r| !r.status.is_live())
        .await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(done.failure_history.len(), 1);
    assert_eq!(
        done.steps[0].attempts, 1,
        "steps before the failure did not run again"
    );
}

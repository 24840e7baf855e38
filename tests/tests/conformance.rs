//! The rules where cattery once disagreed with the reference engine, end
//! to end: the real `cattery ctl` against a real `catteryd` running the
//! demo agent as local processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{
    AuditEntry, BlockStatus, FailureKind, GateKind, Notification, NotificationType, RunStatus,
};
use cattery_tests::CtlHome;

/// coder, then a reviewer whose approval is also gated, then the merger;
/// one automatic round before the cap.
const GATED: &str = "name = \"Gated\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"reviewer\"\nrequires_approval = true\nmax_attempts = 1\n[[steps]]\nagent = \"merger\"\n";

/// No merger: a plan and the code.
const NO_MERGER: &str =
    "name = \"No merger\"\n[[steps]]\nagent = \"architect\"\n[[steps]]\nagent = \"coder\"\n";

fn home() -> CtlHome {
    CtlHome::with_config(&[
        ("pipelines/gated.toml", GATED),
        ("pipelines/nomerge.toml", NO_MERGER),
    ])
}

#[test]
fn a_grader_that_twice_returns_no_grade_fails_the_run_as_companion_rejected() {
    let home = home();
    let run = home.start_task("@demo * sleep 0\n@demo reviewer nograde 9", "gated");
    let run = home.wait_run(&run.id, "failed", |r| r.status == RunStatus::Failed);
    let failure = run.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::CompanionRejected);
    assert_eq!(failure.step_index, 1);
    assert!(
        failure.message.contains("returned no verdict")
            && failure.message.contains("reviewer output, attempt 2"),
        "{}",
        failure.message
    );
    assert_eq!(run.steps[1].attempts, 2, "graded once more, then failed");
    assert_eq!(run.steps[0].attempts, 1, "no rework round was spent");
    assert_eq!(home.block(&run.block_id).status, BlockStatus::Blocked);
}

#[test]
fn a_grader_that_returns_a_grade_on_its_repair_attempt_lets_the_run_go_on() {
    let home = home();
    let run = home.start_task("@demo * sleep 0\n@demo reviewer nograde 1", "gated");
    let gate = home.gate(&run.id, GateKind::Approval);
    assert_eq!(gate.step_index, 1);
    let run = home.run(&run.id);
    assert_eq!(run.steps[1].attempts, 2, "the grader was asked once more");
    assert_eq!(run.steps[0].attempts, 1, "the repair spent no rework round");
    let verdicts = &run.steps[1].companion.as_ref().unwrap().verdicts;
    assert_eq!(verdicts.len(), 1);
    assert!(verdicts[0].passed);
}

#[test]
fn a_decision_asked_again_after_an_answer_does_not_park_the_run_twice() {
    let home = home();
    let run = home.start_task(
        "@demo * sleep 0\n@demo coder ask-always Which queue? | kafka | sqs",
        "quick",
    );
    let approval = home.gate(&run.id, GateKind::Approval);
    home.ctl(&["approve", &approval.id]);
    let decision = home.gate(&run.id, GateKind::Decision);
    home.ctl(&["decide", &decision.id, "sqs"]);
    let run = home.wait_run(&run.id, "got past the coder", |r| r.current_step > 1);
    let coder = &run.steps[1];
    assert_eq!(coder.attempts, 2);
    assert_eq!(coder.output.as_deref(), Some("coder needs a decision"));
    assert_eq!(coder.warnings.len(), 1, "{:?}", coder.warnings);
    assert!(coder.warnings[0].contains("Which queue?"));
    let decisions = run
        .resolved_gates
        .iter()
        .filter(|g| g.kind == GateKind::Decision)
        .count();
    assert_eq!(decisions, 1);
}

#[test]
fn proceed_at_the_cap_of_a_gated_companion_finishes_it_without_an_approval_gate() {
    let home = home();
    let run = home.start_task("@demo * sleep 0\n@demo reviewer rating 0.2", "gated");
    let cap = home.gate(&run.id, GateKind::IterationCap);
    home.ctl(&["cap", &cap.id, "proceed"]);
    let run = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    assert_eq!(run.status, RunStatus::Done);
    assert!(run.steps[1].approval.is_none());
    assert_eq!(run.resolved_gates.len(), 1, "only the cap was decided");
}

#[test]
fn a_gated_companion_shows_the_producers_work_and_request_changes_hands_it_back() {
    let home = home();
    let run = home.start_task("@demo * sleep 0", "gated");
    let gate = home.gate(&run.id, GateKind::Approval);
    assert_eq!(gate.step_index, 1);
    assert_eq!(gate.prompt, "coder output, attempt 1");
    home.ctl(&["request-changes", &gate.id, "-m", "split the module"]);
    let run = home.wait_run(&run.id, "parked again", |r| {
        r.pending_gate().is_some_and(|g| g.id != gate.id)
    });
    let again = run.pending_gate().unwrap();
    assert_eq!(
        again.prompt,
        "coder output, attempt 2, reworked after feedback on [coder output, attempt 1]"
    );
}

#[test]
fn retry_asks_a_decision_again_at_the_step_it_resumes() {
    let home = home();
    let run = home.start_task(
        "@demo * sleep 0\n@demo coder ask Which queue? | kafka | sqs\n@demo coder fail-at 2",
        "gated",
    );
    let decision = home.gate(&run.id, GateKind::Decision);
    home.ctl(&["decide", &decision.id, "kafka"]);
    let failed = home.wait_run(&run.id, "failed", |r| r.status == RunStatus::Failed);
    assert_eq!(failed.failure.as_ref().unwrap().step_index, 0);
    let retried: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["retry", &run.id])).unwrap();
    let asked = home.gate(&retried.id, GateKind::Decision);
    assert_ne!(asked.id, decision.id, "a new question, asked again");
    assert_eq!(home.run(&retried.id).steps[0].attempts, 3);
}

#[test]
fn a_run_without_a_merger_or_a_pull_request_leaves_its_block_done_with_no_card() {
    let home = home();
    let run = home.start_task("@demo * sleep 0", "nomerge");
    let run = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    assert_eq!(run.status, RunStatus::Done);
    let block = home.block(&run.block_id);
    assert_eq!(
        (block.status, block.pull_request),
        (BlockStatus::Done, None)
    );
    let cards: Vec<Notification> = serde_json::from_value(home.ctl(&["notifications"])).unwrap();
    assert!(cards.is_empty(), "{cards:#?}");
}

#[test]
fn a_run_without_a_merger_that_opened_a_pull_request_leaves_its_block_pr_ready_with_a_card() {
    let home = home();
    let run = home.start_task(
        "@demo * sleep 0\n@demo coder pr https://git.example/acme/pull/7",
        "nomerge",
    );
    let run = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    assert_eq!(
        run.pull_request.as_ref().map(|p| p.url.as_str()),
        Some("https://git.example/acme/pull/7")
    );
    let block = home.block(&run.block_id);
    assert_eq!(block.status, BlockStatus::PrReady);
    assert_eq!(block.pull_request, run.pull_request);
    let cards: Vec<Notification> = serde_json::from_value(home.ctl(&["notifications"])).unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].kind, NotificationType::PipelineComplete);
    assert!(cards[0].body.contains("https://git.example/acme/pull/7"));
}

#[test]
fn a_pipeline_with_a_step_between_a_companion_and_its_producer_is_refused_at_load() {
    let gap = "name = \"Gap\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"tester\"\n[[steps]]\nagent = \"reviewer\"\n";
    let home = CtlHome::with_config(&[("pipelines/gap.toml", gap)]);
    let out = std::process::Command::new(cattery_tests::catteryd())
        .arg("--home")
        .arg(home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "pipelines/gap.toml:7: a companion must run immediately after the step it grades"
        ),
        "{err}"
    );
    assert!(err.contains("`tester` runs between them"), "{err}");
}

#[test]
fn daemon_start_on_a_bad_pipeline_prints_the_daemons_own_reason() {
    let gap = "name = \"Gap\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"tester\"\n[[steps]]\nagent = \"reviewer\"\n";
    let home = CtlHome::with_config(&[("pipelines/gap.toml", gap)]);
    let (code, _, err) = home.cli(&["daemon", "start"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("catteryd exited at once"), "{err}");
    assert!(
        err.contains("pipelines/gap.toml:7: a companion must run immediately after"),
        "{err}"
    );
}

#[test]
fn a_decision_on_a_run_stopped_while_it_waited_says_which_run_ended_and_when() {
    let home = home();
    let run = home.start_task("@demo * sleep 0", "quick");
    let gate = home.gate(&run.id, GateKind::Approval);
    home.ctl(&["stop", &run.id]);
    let (code, _, err) = home.cli(&["ctl", "approve", &gate.id]);
    assert_eq!(code, 6, "a conflict: {err}");
    assert!(err.contains(&gate.id) && err.contains(&run.id), "{err}");
    assert!(
        err.contains("is failed since") && err.contains("UTC (stopped by"),
        "{err}"
    );
}

#[test]
fn retry_of_a_cancelled_run_is_refused_and_retry_of_a_stopped_one_is_not() {
    let home = home();
    let run = home.start_task("@demo * sleep 0", "quick");
    home.gate(&run.id, GateKind::Approval);
    home.ctl(&["cancel", &run.block_id]);
    let (code, _, err) = home.cli(&["ctl", "retry", &run.id]);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains(&format!(
            "run {} was cancelled by you, so it cannot be retried; restart run {} from",
            run.id, run.id
        )) && err.contains("or start the pipeline again"),
        "{err}"
    );
    // What the refusal offers is accepted.
    let restarted: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["restart-from", &run.id, "0"])).unwrap();
    assert_eq!(restarted.previous_run_id.as_deref(), Some(run.id.as_str()));

    let again = home.start_task("@demo * sleep 0", "quick");
    home.gate(&again.id, GateKind::Approval);
    home.ctl(&["stop", &again.id]);
    let retried: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["retry", &again.id])).unwrap();
    assert_eq!(retried.previous_run_id.as_deref(), Some(again.id.as_str()));
}

#[test]
fn ctl_audit_lists_each_accepted_decision_with_who_when_and_the_text() {
    let home = home();
    let run = home.start_task("@demo * sleep 0", "quick");
    let gate = home.gate(&run.id, GateKind::Approval);
    home.ctl(&["request-changes", &gate.id, "-m", "name the table refunds"]);
    let second = home.wait_run(&run.id, "parked again", |r| {
        r.pending_gate().is_some_and(|g| g.id != gate.id)
    });
    let second = second.pending_gate().unwrap();
    home.ctl(&["approve", &second.id]);
    let other = home.start_task("@demo * sleep 0", "quick");
    let other_gate = home.gate(&other.id, GateKind::Approval);
    home.ctl(&["approve", &other_gate.id]);

    let entries: Vec<AuditEntry> =
        serde_json::from_value(home.ctl(&["audit", "--run", &run.id])).unwrap();
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e.gate_id.as_str(), e.choice.as_str(), e.text.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                gate.id.as_str(),
                "request_changes",
                Some("name the table refunds")
            ),
            (second.id.as_str(), "approve", None),
        ]
    );
    assert!(entries.iter().all(|e| !e.actor.is_empty() && e.at > 0));
    let all: Vec<AuditEntry> = serde_json::from_value(home.ctl(&["audit"])).unwrap();
    assert_eq!(all.len(), 3);

    let plain = std::process::Command::new(cattery_tests::cattery())
        .arg("--home")
        .arg(home.path())
        .args(["ctl", "audit", "--run", &run.id])
        .output()
        .unwrap();
    assert!(plain.status.success());
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains("request_changes: name the table refunds"),
        "{text}"
    );
    let (code, _, err) = home.cli(&["ctl", "audit", "--run", "r_nope"]);
    assert_eq!(code, 4, "an unknown run is not found: {err}");
}

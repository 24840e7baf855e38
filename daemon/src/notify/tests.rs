#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::clock::ManualClock;
use crate::clock::SeqIds;
use crate::engine::tests::{block, quick};
use crate::engine::{Cx, start};
use crate::events::Bus;
use cattery_protocol::{Approval, ApprovalStatus, RunStatus, Severity, StepState};
use tokio::sync::mpsc;

const MINUTE: i64 = 60_000;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    clock: Arc<ManualClock>,
    attention: Attention,
    alerts: mpsc::UnboundedReceiver<Alert>,
}

fn attention_on(dir: tempfile::TempDir, clock: Arc<ManualClock>) -> Fixture {
    let store = Arc::new(Store::open(&dir.path().join("cattery.db")).unwrap());
    let attention = Attention::new(
        Arc::clone(&store),
        clock.clone(),
        Arc::new(SeqIds::default()),
        Arc::new(Bus::new(64)),
    );
    let (tx, alerts) = mpsc::unbounded_channel();
    attention.send_alerts_to(tx);
    Fixture {
        _dir: dir,
        store,
        clock,
        attention,
        alerts,
    }
}

fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::default());
    clock.set(1_000 * MINUTE);
    let f = attention_on(tempfile::tempdir().unwrap(), clock);
    f.store.insert_block(&block()).unwrap();
    f
}

/// A quick run parked on the architect's approval.
fn parked() -> Run {
    let ids = SeqIds::default();
    let cx = Cx {
        now: 0,
        ids: &ids,
        actor: "ana",
    };
    let mut run = start(&block(), &quick(), None, &cx).run.run;
    run.status = RunStatus::Blocked;
    let step = &mut run.steps[0];
    step.state = StepState::WaitingDecision;
    step.approval = Some(Approval {
        id: "g_1".into(),
        status: ApprovalStatus::Pending,
        proposal: "Plan: add a refunds table\nthen the endpoint".into(),
        feedback: None,
        comments: Vec::new(),
    });
    run
}

#[test]
fn a_parked_run_raises_one_card_and_moving_on_closes_it() {
    let mut f = fixture();
    let run = parked();
    f.attention.on_run(&run);
    f.attention.on_run(&run);
    let open = f.store.notifications(false).unwrap();
    assert_eq!(open.len(), 1, "raised once, not twice: {open:?}");
    let card = &open[0];
    assert_eq!(card.kind, NotificationType::DecisionRequired);
    assert_eq!(card.title, "t: approval waiting (architect)");
    assert_eq!(card.body, "Plan: add a refunds table");
    assert_eq!(card.payload["gate_id"], "g_1");
    assert!(matches!(f.alerts.try_recv(), Ok(Alert::NewGate(c)) if c.id == card.id));
    assert!(f.alerts.try_recv().is_err(), "one alert for one new gate");

    let mut moved = run.clone();
    moved.status = RunStatus::Running;
    f.attention.on_run(&moved);
    assert!(f.store.notifications(false).unwrap().is_empty());
    let closed = f.store.notifications(true).unwrap();
    assert_eq!(closed[0].status, NotificationStatus::Acted);
}

#[test]
fn escalation_happens_at_the_threshold_on_the_injected_clock_and_survives_a_restart() {
    let mut f = fixture();
    f.attention.configure(NotifySettings {
        escalate_after_ms: 120 * MINUTE,
        on_new_gate: false,
    });
    f.attention.on_run(&parked());
    let raised_at = f.clock.now();
    f.clock.set(raised_at + 119 * MINUTE);
    assert!(f.attention.sweep().unwrap().is_empty(), "not yet");
    f.clock.set(raised_at + 120 * MINUTE);
    let escalated = f.attention.sweep().unwrap();
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].severity, Severity::Urgent);
    assert!(matches!(f.alerts.try_recv(), Ok(Alert::Escalated(_))));
    assert!(f.attention.sweep().unwrap().is_empty(), "escalated once");

    // A new daemon on the same database knows the card is urgent already.
    let Fixture {
        _dir: dir, clock, ..
    } = f;
    let restarted = attention_on(dir, clock);
    assert!(restarted.attention.sweep().unwrap().is_empty());
    let open = restarted.store.notifications(false).unwrap();
    assert_eq!(open[0].severity, Severity::Urgent);
}

#[test]
fn a_card_older_than_the_threshold_at_start_escalates_on_the_first_sweep() {
    let f = fixture();
    f.attention.on_run(&parked());
    let Fixture {
        _dir: dir, clock, ..
    } = f;
    clock.set(clock.now() + 500 * MINUTE);
    let restarted = attention_on(dir, clock);
    assert_eq!(restarted.attention.sweep().unwrap().len(), 1);
}

#[test]
fn acting_on_a_card_twice_is_refused_and_changes_nothing() {
    let f = fixture();
    let mut done = parked();
    done.status = RunStatus::Done;
    f.attention.on_run(&done);
    let card = f.store.notifications(false).unwrap().remove(0);
    assert_eq!(card.kind, NotificationType::PipelineComplete);
    let acted = f
        .attention
        .resolve(&card.id, NotificationStatus::Acted)
        .unwrap();
    assert_eq!(acted.status, NotificationStatus::Acted);
    let again = f.attention.resolve(&card.id, NotificationStatus::Dismissed);
    assert!(matches!(again, Err(StoreError::AlreadyClosed { .. })));
    let stored = f.store.notifications(true).unwrap().remove(0);
    assert_eq!(stored.status, NotificationStatus::Acted);
}

/// The parked run, failed at its first step, an agent `kind` with `role`.
fn failed_at(kind: &str, role: cattery_protocol::AgentRole, message: &str) -> Run {
    let mut run = parked();
    run.status = RunStatus::Failed;
    run.steps[0].agent_kind = kind.into();
    run.steps[0].role = role;
    run.failure = Some(cattery_protocol::Failure {
        cancellation: None,
        kind: cattery_protocol::FailureKind::Agent,
        message: message.into(),
        detail: None,
        hint: None,
        occurred_at: 0,
        step_index: 0,
    });
    run
}

#[test]
fn a_failed_test_step_raises_test_failed_and_a_plain_failure_raises_nothing() {
    let f = fixture();
    let mut run = failed_at(
        "api-checks",
        cattery_protocol::AgentRole::Tester,
        "3 tests failed",
    );
    f.attention.on_run(&run);
    let open = f.store.notifications(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, NotificationType::TestFailed);
    assert_eq!(open[0].body, "3 tests failed");
    run.steps[0].role = cattery_protocol::AgentRole::Producer;
    run.block_id = "b_2".into();
    let mut other = block();
    other.id = "b_2".into();
    f.store.insert_block(&other).unwrap();
    f.attention.on_run(&run);
    assert_eq!(f.store.notifications(false).unwrap().len(), 1);
}

#[test]
fn a_run_done_without_a_merger_raises_no_card_unless_it_opened_a_pull_request() {
    let f = fixture();
    let mut done = parked();
    done.status = RunStatus::Done;
    done.steps
        .retain(|s| s.role != cattery_protocol::AgentRole::Merger);
    f.attention.on_run(&done);
    assert!(f.store.notifications(false).unwrap().is_empty());
    done.pull_request = Some(cattery_protocol::agent::PullRequest {
        url: "https://git.example/pr/3".into(),
    });
    f.attention.on_run(&done);
    let open = f.store.notifications(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, NotificationType::PipelineComplete);
    assert!(
        open[0].body.contains("https://git.example/pr/3"),
        "{}",
        open[0].body
    );
    assert_eq!(open[0].payload["pr_url"], "https://git.example/pr/3");
}

#[test]
fn a_gate_on_a_step_with_the_merger_role_is_a_merge_review_whatever_its_name() {
    let f = fixture();
    let mut run = parked();
    run.steps[0].agent_kind = "merge-bot".into();
    run.steps[0].role = cattery_protocol::AgentRole::Merger;
    f.attention.on_run(&run);
    let open = f.store.notifications(false).unwrap();
    assert_eq!(open[0].kind, NotificationType::MergeReview);
}

#[test]
fn a_failed_gate_helper_raises_ci_failed_whatever_its_name() {
    let f = fixture();
    let run = failed_at(
        "lint-and-build",
        cattery_protocol::AgentRole::GateHelper,
        "build red",
    );
    f.attention.on_run(&run);
    let open = f.store.notifications(false).unwrap();
    assert_eq!(open[0].kind, NotificationType::CiFailed);
}

//! Cards, the spend safeguard and run limits on a real daemon running the
//! demo agent as child processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::config::Settings;
use cattery_daemon::service::ServiceError;
use cattery_protocol::*;
use cattery_tests::Home;

const TWO_CODERS: (&str, &str) = (
    "pipelines/two.toml",
    "name = \"Two\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"coder\"\n",
);

fn open_cards(home: &Home) -> Vec<Notification> {
    home.daemon.notifications(false).unwrap()
}

/// Cards follow their run on a thread of their own; wait until they agree.
async fn cards_when(home: &Home, ready: impl Fn(&[Notification]) -> bool) -> Vec<Notification> {
    cattery_tests::eventually_async(
        10,
        || std::future::ready(Some(open_cards(home)).filter(|cards| ready(cards))),
        || format!("the cards never settled: {:?}", open_cards(home)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_raises_a_card_deciding_closes_it_and_a_finished_run_leaves_one() {
    let mut home = Home::new();
    let task = home.add_block(
        BlockLevel::Task,
        None,
        "Refunds",
        "@demo * sleep 0\n@demo reviewer rating 0.9",
    );
    let run = home.daemon.start(&task.id, "quick", "ana").await.unwrap();
    let gate = home.next_gate(20).await;
    let cards = cards_when(&home, |c| !c.is_empty()).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0].kind, NotificationType::DecisionRequired);
    assert_eq!(cards[0].title, "Refunds: approval waiting (architect)");
    assert_eq!(cards[0].payload["gate_id"], gate.id.as_str());
    let approve = GateDecision {
        gate_id: gate.id.clone(),
        rev: gate.rev,
        actor: "ana".into(),
        action: GateAction::Approve {
            edited_proposal: None,
        },
    };
    home.daemon.decide(&run.id, &approve).await.unwrap();
    home.wait_run(&run.id, 30, |r| r.status == RunStatus::Done)
        .await;
    let cards = cards_when(&home, |c| {
        !c.is_empty()
            && c.iter()
                .all(|c| c.kind == NotificationType::PipelineComplete)
    })
    .await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    let all = home.daemon.notifications(true).unwrap();
    let waited = all
        .iter()
        .find(|c| c.kind == NotificationType::DecisionRequired)
        .unwrap();
    assert_eq!(
        waited.status,
        NotificationStatus::Acted,
        "moving past the gate closed it"
    );
}

fn priced(budget: f64) -> String {
    format!(
        "executor = \"process\"\n[spend]\nmonthly_budget = {budget}\ncurrency = \"EUR\"\n[prices.\"demo-large\"]\nprompt_per_million = 100.0\ncompletion_per_million = 1000.0\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_budget_a_run_pauses_with_a_card_and_resumes_only_once_there_is_room() {
    let config = priced(0.5);
    let home = Home::with_config(&[("config.toml", &config), TWO_CODERS]);
    let task = home.add_block(
        BlockLevel::Task,
        None,
        "Pricey",
        "@demo * sleep 0\n@demo * tokens 1000",
    );
    let run = home.daemon.start(&task.id, "two", "ana").await.unwrap();
    let paused = home
        .wait_run(&run.id, 30, |r| r.status == RunStatus::Paused)
        .await;
    assert_eq!(
        paused.current_step, 1,
        "the first step ran, the second waits"
    );
    let cost = paused.steps[0].metrics.cost_estimate.unwrap();
    assert!(cost >= 0.5, "the first step spent the budget: {cost}");
    assert_eq!(paused.steps[0].metrics.currency.as_deref(), Some("EUR"));
    let report = home.daemon.spend_report();
    assert!(
        report.over_budget && (report.spent - cost).abs() < 1e-9,
        "{report:?}"
    );
    let cards = cards_when(&home, |c| !c.is_empty()).await;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].kind, NotificationType::BudgetPaused);

    assert_eq!(home.daemon.resume_paused().unwrap(), 1);
    // The re-driven run finds the budget still spent and stays paused
    // without a write; wait for its driver to finish rather than for a time.
    cattery_tests::eventually_async(
        10,
        || std::future::ready((home.daemon.active_drivers() == 0).then_some(())),
        || "the resumed run's driver never finished".to_owned(),
    )
    .await;
    let still = home.daemon.run(&run.id).unwrap();
    assert_eq!(still.rev, paused.rev, "re-pausing writes nothing");
    assert_eq!(
        still.steps[1].state,
        StepState::Pending,
        "nothing was dispatched"
    );

    let mut roomier = Settings::load(&home.daemon.paths().config).unwrap();
    roomier.spend.monthly_budget = 1_000.0;
    home.daemon.configure(&roomier);
    home.daemon.resume_paused().unwrap();
    home.wait_run(&run.id, 30, |r| r.status == RunStatus::Done)
        .await;
    // The pause card closes once the run goes on.
    cards_when(&home, |c| {
        c.iter().all(|c| c.kind != NotificationType::BudgetPaused)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_no_price_has_an_unknown_cost_never_zero() {
    let home = Home::with_config(&[("config.toml", "executor = \"process\"\n"), TWO_CODERS]);
    let task = home.add_block(BlockLevel::Task, None, "Unpriced", "@demo * sleep 0");
    let run = home.daemon.start(&task.id, "two", "ana").await.unwrap();
    let done = home
        .wait_run(&run.id, 30, |r| r.status == RunStatus::Done)
        .await;
    let metrics = &done.steps[0].metrics;
    assert!(metrics.calls > 0);
    assert_eq!(metrics.cost_estimate, None, "unknown, not 0.0");
    let report = home.daemon.spend_report();
    assert_eq!(report.spent, 0.0);
    assert!(report.unpriced_calls >= metrics.calls, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_service_refuses_one_more_run_naming_the_limit_and_its_holders() {
    let config =
        "executor = \"process\"\n[limits]\nrunning_per_frame = 1\n[limits.per_pipeline]\ntwo = 1\n";
    let home = Home::with_config(&[("config.toml", config), TWO_CODERS]);
    let payments = home.add_block(BlockLevel::Frame, None, "Payments", "");
    let api = home.add_block(BlockLevel::Module, Some(&payments.id), "API", "");
    let slow = "@demo * sleep 20000";
    let first = home.add_block(BlockLevel::Task, Some(&api.id), "Refunds", slow);
    let second = home.add_block(BlockLevel::Task, Some(&api.id), "Webhooks", slow);
    let ledger = home.add_block(BlockLevel::Frame, None, "Ledger", "");
    let elsewhere = home.add_block(BlockLevel::Task, Some(&ledger.id), "Rounding", slow);

    let held = home.daemon.start(&first.id, "two", "ana").await.unwrap();
    let refused = home
        .daemon
        .start(&second.id, "two", "ana")
        .await
        .unwrap_err();
    let ServiceError::Limit(message) = &refused else {
        panic!("not a limit refusal: {refused:?}");
    };
    assert_eq!(refused.code(), cattery_protocol::wire::ErrorCode::Conflict);
    assert!(message.contains("`Payments`"), "{message}");
    assert!(message.contains("running_per_frame"), "{message}");
    assert!(
        message.contains(&format!("Refunds (two run {})", held.id)),
        "{message}"
    );
    home.daemon
        .start(&elsewhere.id, "two", "ana")
        .await
        .unwrap();
    // Restarting the block that holds the slot replaces its own run.
    home.daemon.start(&first.id, "two", "ana").await.unwrap();
    for run in home.daemon.live_runs().unwrap() {
        home.daemon.stop(&run.id, "ana").await.unwrap();
    }
}

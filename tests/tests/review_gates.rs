//! Requirements and clarity review gates and estimate-gated steps against
//! a real daemon, driven through `cattery ctl` as a script would
//! (DELIVERY.md §4 and §5). The reviewer and investigator are the demo
//! agent; the writer is a command agent that proves it got the answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::review::{FindingStatus, ReviewState, ReviewStatus};
use cattery_protocol::{
    BlockStatus, Cancellation, GateKind, NotificationType, Run, RunStatus, SkipReason,
};
use cattery_tests::CtlHome;

/// A writer that folds in only what the human answered: it fails unless
/// its brief carries the reply and the dismissal.
const AGENTS: &str = r##"[agents.requirements-writer]
workspace = "none"
command = ["sh", "-c", "grep -q 'A: EUR only' \"$CATTERY_CONTEXT\" && grep -q -- '- Rounding' \"$CATTERY_CONTEXT\" && sleep ${WRITER_SLEEP:-0} && printf '%s\\n' '{\"type\":\"result\",\"output\":\"# Refunds\\nRefunds are paid in EUR only.\"}'"]
"##;

const REVIEWED: &str = "name = \"Reviewed\"\n[[steps]]\nagent = \"requirements-review\"\n[[steps]]\nagent = \"coder\"\n";
const CAPPED: &str = "name = \"Capped\"\n[[steps]]\nagent = \"requirements-review\"\nmax_iterations = 1\n[[steps]]\nagent = \"coder\"\n";
const TOLERANT: &str = "name = \"Tolerant\"\n[[steps]]\nagent = \"requirements-review\"\nconcern_threshold = \"medium\"\n[[steps]]\nagent = \"coder\"\n";
const TRIAGE: &str = "name = \"Triage\"\n[[steps]]\nagent = \"bug-investigator\"\n[[steps]]\nagent = \"clarity-review\"\n[[steps]]\nagent = \"coder\"\n";
const GATED: &str = "name = \"Gated\"\n[[steps]]\nagent = \"task-estimator\"\n[[steps]]\nagent = \"architect\"\nmin_complexity = 0.4\n[[steps]]\nagent = \"architect-companion\"\n[[steps]]\nagent = \"coder\"\n";

fn home() -> CtlHome {
    CtlHome::with_config(&[
        ("agents.toml", AGENTS),
        ("pipelines/reviewed.toml", REVIEWED),
        ("pipelines/capped.toml", CAPPED),
        ("pipelines/tolerant.toml", TOLERANT),
        ("pipelines/triage.toml", TRIAGE),
        ("pipelines/gated.toml", GATED),
    ])
}

/// Two findings on the first pass, none after.
const FINDINGS: &str = "Refunds.\n@demo * sleep 0\n@demo requirements-review finding 1 high question Which currency is refunded?\n@demo requirements-review finding 1 low gap Rounding of cents";

fn review_of(run: &Run) -> &ReviewState {
    run.steps[0].review.as_ref().expect("a review step")
}

fn finding_id(run: &Run, title: &str) -> String {
    let review = review_of(run);
    let found = review.findings.iter().find(|f| f.title == title);
    found
        .unwrap_or_else(|| panic!("no finding {title}: {review:#?}"))
        .id
        .clone()
}

fn parked(home: &CtlHome, run: &Run) -> Run {
    home.gate(&run.id, GateKind::Review);
    home.run(&run.id)
}

/// Answers the currency finding "EUR only" and dismisses the rounding one,
/// as the writer expects.
fn answer_currency_dismiss_rounding(home: &CtlHome, at_gate: &Run) {
    let block = &at_gate.block_id;
    let currency = finding_id(at_gate, "Which currency is refunded?");
    let rounding = finding_id(at_gate, "Rounding of cents");
    home.ctl(&["review", block, "reply", &currency, "EUR only"]);
    home.ctl(&["review", block, "dismiss", &rounding]);
}

#[test]
fn findings_park_the_run_with_a_requirements_card_and_incorporate_waits_for_every_answer() {
    let home = home();
    let run = home.start_task(FINDINGS, "reviewed");
    let at_gate = parked(&home, &run);
    let review = review_of(&at_gate);
    assert_eq!(review.status, ReviewStatus::Ready);
    let titles: Vec<&str> = review.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["Which currency is refunded?", "Rounding of cents"]);
    let card = home.card_of(&at_gate);
    assert_eq!(card.kind, NotificationType::RequirementReview);
    assert_eq!(card.title, "Requirements review: t");
    assert_eq!(card.body, "The reviewer raised 2 findings to react to.");
    // The generic approve is refused and says where to go.
    let gate = at_gate.pending_gate().unwrap();
    let (code, _, err) = home.cli(&["ctl", "approve", &gate.id]);
    assert_ne!(code, 0);
    assert!(err.contains("ctl review"), "{err}");

    // Incorporate is refused while both are open, and changes nothing.
    let block = &at_gate.block_id;
    let (code, _, err) = home.cli(&["ctl", "review", block, "incorporate"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Answer or dismiss all 2 remaining finding(s)"),
        "{err}"
    );
    assert_eq!(home.run(&run.id).rev, at_gate.rev);

    let currency = finding_id(&at_gate, "Which currency is refunded?");
    let rounding = finding_id(&at_gate, "Rounding of cents");
    let replied = home.ctl(&["review", block, "reply", &currency, "EUR only"]);
    assert_eq!(replied["review"]["findings"][0]["status"], "answered");
    home.ctl(&["review", block, "dismiss", &rounding]);
    let (code, _, err) = home.cli(&["ctl", "review", block, "incorporate"]);
    assert_eq!(code, 0, "{err}");

    // The writer's document is what the task's requirements are now; the
    // second pass found nothing, so the run went on to the coder.
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let review = review_of(&done);
    assert_eq!(
        (review.status, review.iteration),
        (ReviewStatus::Incorporated, 2)
    );
    assert_eq!(
        done.steps[0].output.as_deref(),
        Some("# Refunds\nRefunds are paid in EUR only.")
    );
    assert!(review.findings.is_empty());
    assert!(
        home.cards_of(&done)
            .iter()
            .all(|c| c.kind != NotificationType::RequirementReview)
    );
    let audit = home.ctl(&["audit", "--run", &run.id]);
    let choices: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["choice"].as_str())
        .collect();
    assert_eq!(choices, ["reply", "dismiss", "incorporate"]);
}

#[test]
fn at_the_cap_an_extra_round_keeps_the_run_parked_and_stop_reset_plans_the_task() {
    let home = home();
    let run = home.start_task(FINDINGS, "capped");
    let at_gate = parked(&home, &run);
    assert_eq!(review_of(&at_gate).status, ReviewStatus::Exceeded);
    let block = at_gate.block_id.clone();
    let shown = home.ctl(&["review", &block, "extra-round"]);
    assert_eq!(shown["review"]["status"], "ready");
    assert_eq!(shown["review"]["max_iterations"], 2);
    assert_eq!(shown["run_status"], "blocked");
    let (code, _, err) = home.cli(&["ctl", "review", &block, "extra-round"]);
    assert_ne!(code, 0, "an extra round is only for a review at its cap");
    assert!(err.contains("at its cap"), "{err}");
    home.ctl(&["review", &block, "stop-reset"]);
    let ended = home.finish(&run);
    assert_eq!(ended.status, RunStatus::Failed);
    assert_eq!(
        ended.failure.as_ref().unwrap().cancellation,
        Some(Cancellation::StopReset)
    );
    assert_eq!(home.block(&block).status, BlockStatus::Planned);
}

#[test]
fn proceed_accepts_the_requirements_as_they_are_with_findings_open() {
    let home = home();
    let run = home.start_task(FINDINGS, "reviewed");
    let at_gate = parked(&home, &run);
    home.ctl(&["review", &at_gate.block_id, "proceed"]);
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let review = review_of(&done);
    assert_eq!(review.status, ReviewStatus::Incorporated);
    assert!(
        review
            .findings
            .iter()
            .all(|f| f.status == FindingStatus::Open)
    );
}

#[test]
fn findings_at_or_below_the_concern_threshold_pass_without_a_card() {
    let home = home();
    let description =
        "x\n@demo * sleep 0\n@demo requirements-review finding 1 medium risk Partial refunds";
    let run = home.start_task(description, "tolerant");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(review_of(&done).findings.len(), 1);
    assert!(home.cards_of(&done).is_empty());
}

#[test]
fn a_bug_investigators_questions_park_the_clarity_review_and_a_clear_report_passes() {
    let home = home();
    let description = "Crash on refund.\n@demo * sleep 0\n@demo bug-investigator question Which browser shows it?";
    let run = home.start_task(description, "triage");
    home.gate(&run.id, GateKind::Review);
    let at_gate = home.run(&run.id);
    let review = at_gate.steps[1].review.as_ref().unwrap();
    assert!(review.seeded);
    assert_eq!(review.findings.len(), 1);
    assert_eq!(review.findings[0].title, "Which browser shows it?");
    let card = home.card_of(&at_gate);
    assert_eq!(card.kind, NotificationType::ClarityReview);
    assert_eq!(card.title, "Bug-report triage: t");

    let clear = home.start_task(
        "Crash.\n@demo * sleep 0\n@demo bug-investigator clear",
        "triage",
    );
    let done = home.finish(&clear);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert!(done.steps[1].review.as_ref().unwrap().findings.is_empty());
    assert!(home.cards_of(&done).is_empty());
}

#[test]
fn kill_9_while_the_writer_incorporates_finishes_the_review_once() {
    let home = home();
    // The writer takes its time: the daemon dies while it works.
    let agents = AGENTS.replace("${WRITER_SLEEP:-0}", "2");
    cattery_tests::write_config(home.path(), &[("agents.toml", &agents)]);
    let run = home.start_task(FINDINGS, "reviewed");
    let at_gate = parked(&home, &run);
    answer_currency_dismiss_rounding(&home, &at_gate);
    home.ctl(&["review", &at_gate.block_id, "incorporate"]);
    home.wait_run(&run.id, "sent the writer", |r| {
        review_of(r).status == ReviewStatus::Incorporating
    });
    home.kill_daemon();
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let review = review_of(&done);
    assert_eq!(
        (review.status, review.iteration),
        (ReviewStatus::Incorporated, 2)
    );
    assert_eq!(review.previous_document, None, "one revision, not two");
    assert_eq!(
        review.document.as_deref(),
        Some("# Refunds\nRefunds are paid in EUR only.")
    );
}

#[test]
fn a_low_estimate_skips_the_gated_architect_and_its_companion_and_the_block_keeps_the_estimate() {
    let home = home();
    let low = "x\n@demo * sleep 0\n@demo task-estimator estimate 0.2 0.1 0.3";
    let run = home.start_task(low, "gated");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let skipped: Vec<Option<SkipReason>> = done.steps.iter().map(|s| s.skipped).collect();
    assert_eq!(
        skipped,
        [
            None,
            Some(SkipReason::Gated),
            Some(SkipReason::ProducerSkipped),
            None
        ]
    );
    assert_eq!(
        done.steps[0].output.as_deref(),
        Some("**Task estimate**: Complexity 20% · Risk 10% · Impact 30%\n\ndemo estimate")
    );
    let estimate = home
        .block(&done.block_id)
        .estimate
        .expect("the block's estimate");
    assert_eq!(
        (estimate.complexity, estimate.risk, estimate.impact),
        (0.2, 0.1, 0.3)
    );

    let high = "x\n@demo * sleep 0\n@demo task-estimator estimate 0.7 0.1 0.3";
    let done = home.finish(&home.start_task(high, "gated"));
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert!(done.steps.iter().all(|s| s.skipped.is_none()));
}

#[test]
fn a_second_pass_that_still_finds_something_parks_again_and_a_restart_reviews_afresh() {
    let home = home();
    // The currency question stays open through pass 2, then is gone.
    let description = "Refunds.\n@demo * sleep 0\n@demo requirements-review finding 2 high question Which currency is refunded?\n@demo requirements-review finding 1 low gap Rounding of cents";
    let run = home.start_task(description, "reviewed");
    let at_gate = parked(&home, &run);
    answer_currency_dismiss_rounding(&home, &at_gate);
    home.ctl(&["review", &at_gate.block_id, "incorporate"]);
    let again = home.wait_run(&run.id, "parked on pass 2", |r| {
        review_of(r).iteration == 2 && review_of(r).status == ReviewStatus::Ready
    });
    let review = review_of(&again);
    assert_eq!(
        review.findings.len(),
        1,
        "pass 2's findings replace pass 1's"
    );
    assert_eq!(review.findings[0].status, FindingStatus::Open);
    assert_eq!(
        review.document.as_deref(),
        Some("# Refunds\nRefunds are paid in EUR only.")
    );
    let card = home.card_of(&again);
    assert_eq!(card.body, "The reviewer raised 1 finding to react to.");

    // Restarting the run from its review starts the review over.
    let restarted: Run = serde_json::from_value(home.ctl(&["restart-from", &run.id, "0"])).unwrap();
    let fresh = parked(&home, &restarted);
    let review = review_of(&fresh);
    assert_eq!((review.iteration, review.findings.len()), (1, 2));
    assert!(review.document.is_none());
}

#[test]
fn incorporate_with_nothing_answered_finishes_the_review_without_the_writer() {
    let home = home();
    let run = home.start_task(FINDINGS, "reviewed");
    let at_gate = parked(&home, &run);
    let block = at_gate.block_id.clone();
    for title in ["Which currency is refunded?", "Rounding of cents"] {
        home.ctl(&["review", &block, "dismiss", &finding_id(&at_gate, title)]);
    }
    home.ctl(&["review", &block, "incorporate"]);
    // This writer fails without a reply to fold in: the run finishing
    // proves it never ran.
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let review = review_of(&done);
    assert_eq!(
        (review.status, review.iteration),
        (ReviewStatus::Incorporated, 1)
    );
    assert!(review.document.is_none());
}

#[test]
fn review_actions_that_cannot_apply_are_refused_with_what_to_do() {
    let home = home();
    let run = home.start_task(FINDINGS, "reviewed");
    let at_gate = parked(&home, &run);
    let block = at_gate.block_id.clone();
    let (code, _, err) = home.cli(&["ctl", "review", &block, "resolve", "f_nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("no finding `f_nope`"), "{err}");
    let currency = finding_id(&at_gate, "Which currency is refunded?");
    let (code, _, err) = home.cli(&["ctl", "review", &block, "reply", &currency, "  "]);
    assert_ne!(code, 0);
    assert!(err.contains("a reply needs some text"), "{err}");
    home.ctl(&["review", &block, "proceed"]);
    home.finish(&run);
    let (code, _, err) = home.cli(&["ctl", "review", &block, "proceed"]);
    assert_ne!(code, 0, "a finished review takes no action");
    assert!(err.contains("only while it waits on you"), "{err}");
    let plain = home.start_task("x\n@demo * sleep 0", "gated");
    home.finish(&plain);
    let (code, _, err) = home.cli(&["ctl", "review", &plain.block_id]);
    assert_ne!(code, 0);
    assert!(err.contains("has no review step"), "{err}");
}

#[test]
fn catteryd_refuses_a_pipeline_that_gates_a_step_with_no_estimator_before_it() {
    let (code, stderr) = cattery_tests::catteryd_on_config(&[(
        "pipelines/gated.toml",
        "name = \"x\"\n[[steps]]\nagent = \"architect\"\nmin_complexity = 0.4\n",
    )]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("pipelines/gated.toml:3: step `architect` is gated on the task's estimate, but no estimator step comes before it"),
        "{stderr}"
    );
    assert!(stderr.contains("add a `task-estimator` step"), "{stderr}");
    let refusals = [
        (
            "agent = \"merger\"\nmin_risk = 0.5",
            "is the merger, which an estimate cannot skip",
        ),
        (
            "agent = \"ci\"\nmin_risk = 0.5",
            "is a polling gate, which an estimate cannot skip",
        ),
        (
            "agent = \"coder\"\non_missing_estimate = \"skip\"",
            "but no threshold, so it would never run",
        ),
    ];
    for (step, why) in refusals {
        let text =
            format!("name = \"x\"\n[[steps]]\nagent = \"task-estimator\"\n[[steps]]\n{step}\n");
        let (code, stderr) = cattery_tests::catteryd_on_config(&[("pipelines/gated.toml", &text)]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains("pipelines/gated.toml:5:") && stderr.contains(why),
            "{stderr}"
        );
    }
}

//! Review gates and estimate gating, driven through the engine's public
//! functions (DELIVERY.md §4 and §5).

use super::*;
use cattery_protocol::estimate::{Gating, OnMissingEstimate};
use cattery_protocol::review::*;

fn review_spec(kind: &str, subject: ReviewSubject, max_iterations: u32) -> StepSpec {
    StepSpec {
        review: Some(ReviewSpec {
            subject,
            writer: "writer".into(),
            max_iterations,
            concern_threshold: ConcernThreshold::None,
        }),
        ..spec(kind)
    }
}

fn pipeline(steps: Vec<StepSpec>) -> Pipeline {
    Pipeline {
        id: "p".into(),
        name: "P".into(),
        description: String::new(),
        steps,
    }
}

fn reviewing(max_iterations: u32) -> Harness {
    Harness::new(&pipeline(vec![
        review_spec(
            "requirements-review",
            ReviewSubject::Requirements,
            max_iterations,
        ),
        spec("coder"),
    ]))
}

const TWO_FINDINGS: &str = r#"Findings:
```json
{"items": [
  {"category": "gap", "severity": "low", "title": "Rounding?", "detail": "How are cents rounded?"},
  {"category": "nonsense", "severity": "urgent", "question": "Which currency?"},
  {"title": "", "detail": ""},
  {"category": "risk", "severity": "high", "title": "Refunds above the payment", "autoAnswerable": "yes"}
]}
```"#;

impl Harness {
    fn act(&mut self, action: ReviewAction) -> Result<Outcome, EngineError> {
        let t = crate::engine::review::act(&self.run, self.run.rev, &action, &self.cx())?;
        Ok(self.apply(t))
    }

    /// Advances past finished steps to the one that waits.
    fn settle(&mut self) {
        while self.run.status == RunStatus::Running
            && self
                .run
                .current()
                .is_some_and(|s| s.state == StepState::Done)
        {
            self.advance();
        }
    }

    fn review(&self) -> &ReviewState {
        self.run.steps[self.run.current_step]
            .review
            .as_ref()
            .expect("a review step")
    }

    fn finding(&self, title: &str) -> String {
        let found = self.review().findings.iter().find(|f| f.title == title);
        found.expect("the finding").id.clone()
    }
}

#[test]
fn findings_are_coerced_sorted_high_first_and_park_the_run_with_a_review_gate() {
    let mut h = reviewing(6);
    h.finish(output(TWO_FINDINGS));
    assert_eq!(h.run.status, RunStatus::Blocked);
    let review = h.review();
    assert_eq!(review.status, ReviewStatus::Ready);
    let shape: Vec<(FindingSeverity, FindingCategory, &str)> = review
        .findings
        .iter()
        .map(|f| (f.severity, f.category, f.title.as_str()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                FindingSeverity::High,
                FindingCategory::Risk,
                "Refunds above the payment"
            ),
            (
                FindingSeverity::Medium,
                FindingCategory::Question,
                "Which currency?"
            ),
            (FindingSeverity::Low, FindingCategory::Gap, "Rounding?"),
        ]
    );
    assert_eq!(review.findings[0].detail, "Refunds above the payment");
    assert!(
        review
            .findings
            .iter()
            .all(|f| f.status == FindingStatus::Open && !f.auto_answerable)
    );
    let gate = h.run.pending_gate().unwrap();
    assert_eq!(gate.kind, GateKind::Review);
    assert_eq!(gate.prompt, "The reviewer raised 3 findings to react to.");
    // The generic approve is refused: the review has its own actions.
    assert!(matches!(
        h.decide(approve()),
        Err(EngineError::ReviewGate { .. })
    ));
}

#[test]
fn more_than_twenty_findings_are_capped_at_twenty() {
    let items: Vec<String> = (0..25)
        .map(|i| format!(r#"{{"severity": "low", "title": "t{i}"}}"#))
        .collect();
    let mut h = reviewing(6);
    h.finish(output(&format!("[{}]", items.join(","))));
    assert_eq!(h.review().findings.len(), 20);
}

#[test]
fn no_findings_pass_the_gate_and_a_reply_without_json_fails_it() {
    let mut h = reviewing(6);
    h.finish(output(r#"{"items": []}"#));
    assert_eq!(h.run.steps[0].state, StepState::Done);
    h.settle();
    assert_eq!(h.kind_at(), "coder");
    let mut h = reviewing(6);
    h.finish(output("looks fine to me"));
    assert_eq!(h.run.status, RunStatus::Failed);
    let failure = h.run.failure.as_ref().unwrap();
    assert_eq!(failure.message, "the reviewer's reply has no findings JSON");
}

#[test]
fn incorporate_is_refused_while_findings_are_open_then_the_writer_revises_and_the_reviewer_looks_again()
 {
    let mut h = reviewing(6);
    h.finish(output(TWO_FINDINGS));
    let currency = h.finding("Which currency?");
    let refunds = h.finding("Refunds above the payment");
    let rounding = h.finding("Rounding?");
    let refused = h.act(ReviewAction::Incorporate { feedback: None });
    assert_eq!(refused, Err(EngineError::FindingsOpen { open: 3 }));
    assert_eq!(
        refused.unwrap_err().to_string(),
        "Answer or dismiss all 3 remaining finding(s) before incorporating"
    );
    h.act(ReviewAction::Reply {
        finding: currency.clone(),
        text: "EUR only".into(),
    })
    .unwrap();
    h.act(ReviewAction::Dismiss { finding: rounding }).unwrap();
    h.act(ReviewAction::Resolve {
        finding: refunds.clone(),
    })
    .unwrap();
    h.act(ReviewAction::Reopen {
        finding: refunds.clone(),
    })
    .unwrap();
    assert_eq!(h.review().open_count(), 1);
    h.act(ReviewAction::Resolve { finding: refunds }).unwrap();
    let sent = h.act(ReviewAction::Incorporate { feedback: None }).unwrap();
    assert!(matches!(sent, Outcome::AwaitingJob { .. }), "{sent:?}");
    assert_eq!(h.review().status, ReviewStatus::Incorporating);
    assert_eq!(h.review().writer_working(), Some("writer"));
    // The writer's document replaces the description; pass 2 reviews it.
    let job = h.next_job();
    let t = record_result(&h.run, &job, output("# Refunds\nEUR only."), &h.cx()).unwrap();
    h.apply(t);
    assert_eq!(h.review().iteration, 2);
    assert_eq!(h.review().status, ReviewStatus::Reviewing);
    assert_eq!(h.review().document.as_deref(), Some("# Refunds\nEUR only."));
    h.finish(output(r#"{"items": []}"#));
    assert_eq!(h.run.steps[0].state, StepState::Done);
    assert_eq!(
        h.run.steps[0].output.as_deref(),
        Some("# Refunds\nEUR only.")
    );
    h.settle();
    assert_eq!(h.kind_at(), "coder");
}

#[test]
fn nothing_to_fold_in_completes_the_review_without_the_writer() {
    let mut h = reviewing(6);
    h.finish(output(TWO_FINDINGS));
    for title in ["Which currency?", "Refunds above the payment", "Rounding?"] {
        let id = h.finding(title);
        h.act(ReviewAction::Dismiss { finding: id }).unwrap();
    }
    let outcome = h.act(ReviewAction::Incorporate { feedback: None }).unwrap();
    assert_eq!(outcome, Outcome::Continue);
    assert_eq!(h.run.steps[0].state, StepState::Done);
    assert_eq!(h.run.resolved_gates.last().unwrap().choice, "incorporate");
}

#[test]
fn at_the_cap_extra_round_stays_parked_proceed_goes_on_and_stop_reset_plans_the_block() {
    let mut h = reviewing(1);
    h.finish(output(TWO_FINDINGS));
    assert_eq!(h.review().status, ReviewStatus::Exceeded);
    assert!(
        h.run
            .pending_gate()
            .unwrap()
            .prompt
            .contains("cap of 1 passes")
    );
    let outcome = h.act(ReviewAction::ExtraRound).unwrap();
    assert_eq!(outcome, Outcome::Noop);
    assert_eq!(
        (h.review().status, h.review().max_iterations),
        (ReviewStatus::Ready, 2)
    );
    assert_eq!(h.run.status, RunStatus::Blocked);
    let again = h.act(ReviewAction::ExtraRound);
    assert!(
        matches!(again, Err(EngineError::ReviewRefused { .. })),
        "{again:?}"
    );
    // Proceed does not look at open findings.
    assert_eq!(h.act(ReviewAction::Proceed).unwrap(), Outcome::Continue);
    h.settle();
    assert_eq!(h.kind_at(), "coder");

    let mut h = reviewing(1);
    h.finish(output(TWO_FINDINGS));
    let t =
        crate::engine::review::act(&h.run, h.run.rev, &ReviewAction::StopReset, &h.cx()).unwrap();
    assert_eq!(t.block.status, BlockStatus::Planned);
    h.apply(t);
    assert_eq!(h.run.status, RunStatus::Failed);
    let failure = h.run.failure.as_ref().unwrap();
    assert_eq!(failure.cancellation, Some(Cancellation::StopReset));
}

#[test]
fn a_stale_review_action_changes_nothing() {
    let mut h = reviewing(6);
    h.finish(output(TWO_FINDINGS));
    let id = h.finding("Rounding?");
    let stale = crate::engine::review::act(
        &h.run,
        h.run.rev - 1,
        &ReviewAction::Dismiss { finding: id },
        &h.cx(),
    );
    assert!(matches!(stale, Err(EngineError::Stale { .. })));
    let unknown = h.act(ReviewAction::Resolve {
        finding: "f_nope".into(),
    });
    assert!(
        matches!(unknown, Err(EngineError::ReviewRefused { reason }) if reason.contains("no finding `f_nope`"))
    );
}

#[test]
fn a_bug_investigators_questions_seed_the_clarity_review_and_always_park() {
    let mut h = Harness::new(&pipeline(vec![
        spec("bug-investigator"),
        review_spec("clarity-review", ReviewSubject::Clarity, 6),
        spec("coder"),
    ]));
    h.finish(output(
        "Looked.\n```json\n{\"clarity\": \"needs_clarification\", \"questions\": [\"Which browser?\", \" \"]}\n```",
    ));
    h.advance();
    let outcome = h.advance();
    assert!(
        matches!(outcome, Outcome::AwaitingDecision { .. }),
        "{outcome:?}"
    );
    let review = h.review();
    assert!(review.seeded);
    assert_eq!(review.findings.len(), 1);
    assert_eq!(review.findings[0].severity, FindingSeverity::High);
    assert_eq!(review.findings[0].category, FindingCategory::Question);

    let mut clear = Harness::new(&pipeline(vec![
        spec("bug-investigator"),
        review_spec("clarity-review", ReviewSubject::Clarity, 6),
        spec("coder"),
    ]));
    clear.finish(output(
        "```json\n{\"clarity\": \"clear\", \"questions\": []}\n```",
    ));
    clear.advance();
    clear.advance();
    clear.settle();
    assert_eq!(
        clear.kind_at(),
        "coder",
        "a clear report passes with no reviewer job"
    );
}

fn gated(gating: Gating) -> Pipeline {
    let estimator = StepSpec {
        role: AgentRole::Estimator,
        ..spec("task-estimator")
    };
    let architect = StepSpec {
        gating: Some(gating),
        ..spec("architect")
    };
    let companion = StepSpec {
        role: AgentRole::Grader,
        companion: Some(CompanionSpec {
            producer_kind: "architect".into(),
            threshold: 0.8,
            max_attempts: 3,
        }),
        ..spec("architect-companion")
    };
    pipeline(vec![estimator, architect, companion, spec("coder")])
}

#[test]
fn a_low_estimate_skips_the_gated_step_and_its_companion() {
    let gating = Gating {
        min_complexity: Some(0.4),
        ..Gating::default()
    };
    let mut h = Harness::new(&gated(gating));
    h.finish(output(r#"{"complexity": 0.2, "risk": 0.9, "impact": 0.1}"#));
    assert_eq!(
        h.run.steps[0].output.as_deref(),
        Some("**Task estimate**: Complexity 20% · Risk 90% · Impact 10%")
    );
    assert_eq!(h.run.estimate.as_ref().unwrap().complexity, 0.2);
    assert!(h.last_block.as_ref().is_some());
    h.next_job();
    h.settle();
    assert_eq!(h.kind_at(), "coder");
    assert_eq!(h.run.steps[1].skipped, Some(SkipReason::Gated));
    assert_eq!(h.run.steps[2].skipped, Some(SkipReason::ProducerSkipped));
    assert_eq!(h.run.steps[1].state, StepState::Done);
}

#[test]
fn a_high_estimate_runs_the_gated_step_and_a_missing_one_follows_on_missing_estimate() {
    let gating = Gating {
        min_complexity: Some(0.4),
        ..Gating::default()
    };
    let mut h = Harness::new(&gated(gating.clone()));
    h.finish(output(r#"{"complexity": 0.4, "risk": 0, "impact": 0}"#));
    h.next_job();
    assert_eq!(h.kind_at(), "architect");

    // An unreadable estimate records nothing: the default runs the step…
    let mut h = Harness::new(&gated(gating.clone()));
    h.finish(output("no idea"));
    assert!(h.run.estimate.is_none());
    assert_eq!(h.run.steps[0].warnings.len(), 1);
    h.next_job();
    assert_eq!(h.kind_at(), "architect");
    // …and `skip` skips it.
    let skip = Gating {
        on_missing_estimate: OnMissingEstimate::Skip,
        ..gating
    };
    let mut h = Harness::new(&gated(skip));
    h.finish(output("no idea"));
    h.next_job();
    h.settle();
    assert_eq!(h.kind_at(), "coder");
}

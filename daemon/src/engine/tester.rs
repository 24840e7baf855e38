//! The tester fix loop (DELIVERY.md §2): a tester's report decides whether
//! the step is done, a fixer is sent, or the run stops for a human.

use super::Cx;
use super::Outcome;
use super::step::{self, FailureSpec};
use cattery_protocol::agent::{ConcernSeverity, TestReport};
use cattery_protocol::gate::HelperOutcome;
use cattery_protocol::tester::{FixAttempt, TestLoop, TestPhase};
use cattery_protocol::{FailureKind, Run};

/// The reference's acceptance: the first round accepts no concern at all;
/// later rounds tolerate low and medium ones; a failed outcome or a
/// withheld greenlight is never accepted.
pub fn accepts(report: &TestReport, first_round: bool) -> bool {
    if !report.greenlight || report.abort.is_some() || report.has_failed_outcome() {
        return false;
    }
    match first_round {
        true => report.concerns.is_empty(),
        false => !report.concerns.iter().any(|c| {
            matches!(
                c.severity,
                ConcernSeverity::High | ConcernSeverity::Critical
            )
        }),
    }
}

/// Folds a tester's report into its step (`resolveTesterResult`): abort,
/// accept, send the fixer while the budget lasts, or fail.
pub fn resolve(run: &mut Run, index: usize, report: TestReport, cx: &Cx) -> Option<Outcome> {
    let has_worktree = run.worktree.is_some();
    let step = run.steps.get_mut(index)?;
    let test = step.test.as_mut()?;
    test.last_report = Some(report.clone());
    test.aborted = report.abort.is_some();
    let (attempts, budget) = (test.attempts, test.spec.max_attempts);
    if let Some(abort) = &report.abort {
        let reason = abort.reason.clone();
        step.output = Some(reason.clone());
        let message = format!("Testing could not run: {reason}");
        return Some(stop(run, message, Some(reason), cx));
    }
    if accepts(&report, attempts == 0) {
        return None;
    }
    if attempts < budget && has_worktree {
        return Some(send_fixer(run, index, cx));
    }
    step.output = Some(summary_or_default(&report));
    let message = match attempts < budget {
        true => format!(
            "Tester withheld its greenlight and there is no PR branch for the fixer to push to. {}",
            report.concerns_line()
        ),
        false => format!(
            "Tester withheld its greenlight after {attempts} fix attempt(s). {}",
            report.concerns_line()
        ),
    };
    Some(stop(run, message.trim().to_owned(), None, cx))
}

fn summary_or_default(report: &TestReport) -> String {
    match report.summary.is_empty() {
        true => "Tester withheld its greenlight.".to_owned(),
        false => report.summary.clone(),
    }
}

fn send_fixer(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let job_id = cx.ids.mint("j");
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    if let Some(test) = step.test.as_mut() {
        test.phase = TestPhase::Fixing;
        test.attempts += 1;
        step.progress_label = Some(format!(
            "fixer {}/{}",
            test.attempts, test.spec.max_attempts
        ));
    }
    step.job = None;
    step::new_job(step, index, job_id)
}

/// The tester's failure: the step stays unfinished and the run fails as
/// `agent`, which raises `test_failed`.
fn stop(run: &mut Run, message: String, detail: Option<String>, cx: &Cx) -> Outcome {
    let spec = FailureSpec {
        detail,
        hint: Some(
            "see the tester's report on the step, fix the cause, then retry the run".to_owned(),
        ),
        ..FailureSpec::plain(FailureKind::Agent, message)
    };
    step::failed(run, spec, cx)
}

/// The fixer's job ended, done or failed: the round is logged and the
/// tester runs again. A fixer never fails the run.
pub fn fixer_settled(
    run: &mut Run,
    index: usize,
    outcome: HelperOutcome,
    summary: String,
    cx: &Cx,
) -> Outcome {
    let job_id = cx.ids.mint("j");
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(test) = step.test.as_mut() else {
        return Outcome::Noop;
    };
    log_round(test, outcome, summary, cx);
    test.phase = TestPhase::Testing;
    step.attempts += 1;
    step.progress = 0.0;
    step.progress_label = Some("testing again".to_owned());
    step::new_job(step, index, job_id)
}

fn log_round(test: &mut TestLoop, outcome: HelperOutcome, summary: String, cx: &Cx) {
    let concerns = test
        .last_report
        .as_ref()
        .map(|r| r.concerns.clone())
        .unwrap_or_default();
    test.attempt_log.push(FixAttempt {
        attempt: test.attempts,
        at: cx.now,
        outcome,
        summary,
        concerns,
    });
    step::trim_front(&mut test.attempt_log);
}

#[cfg(test)]
mod tests {
    use super::*;
    use cattery_protocol::agent::{OutcomeStatus, TestConcern, TestOutcome};

    fn report(greenlight: bool, concerns: &[ConcernSeverity], failed: bool) -> TestReport {
        TestReport {
            greenlight,
            concerns: concerns
                .iter()
                .map(|s| TestConcern {
                    title: "t".into(),
                    detail: "d".into(),
                    severity: *s,
                })
                .collect(),
            outcomes: vec![TestOutcome {
                name: "refunds".into(),
                status: if failed {
                    OutcomeStatus::Failed
                } else {
                    OutcomeStatus::Passed
                },
                detail: None,
            }],
            ..TestReport::default()
        }
    }

    #[test]
    fn the_first_round_accepts_no_concern_at_all_even_a_low_one() {
        assert!(accepts(&report(true, &[], false), true));
        assert!(!accepts(
            &report(true, &[ConcernSeverity::Low], false),
            true
        ));
    }

    #[test]
    fn later_rounds_tolerate_low_and_medium_concerns_but_not_high_or_critical() {
        let tolerated = [ConcernSeverity::Low, ConcernSeverity::Medium];
        assert!(accepts(&report(true, &tolerated, false), false));
        assert!(!accepts(
            &report(true, &[ConcernSeverity::High], false),
            false
        ));
        assert!(!accepts(
            &report(true, &[ConcernSeverity::Critical], false),
            false
        ));
    }

    #[test]
    fn a_failed_outcome_or_a_withheld_greenlight_is_never_accepted() {
        assert!(!accepts(&report(true, &[], true), false));
        assert!(!accepts(&report(false, &[], false), false));
    }
}

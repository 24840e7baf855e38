//! Polling gates (DELIVERY.md §1): a step that probes something outside
//! the agents, waits while the answer is pending, sends a helper agent when
//! it fails, and probes again. Everything the machine needs is stored on the
//! step (`GateState`), so the daemon's timers re-arm it from the database.
//!
//! The probes themselves (git, provider commands) are I/O and live in the
//! service; what a probe's raw answer means is decided here.

use super::step::{self, FailureSpec};
use super::{Cx, EngineError, Outcome, Transition};
use cattery_protocol::gate::{
    CiReport, GateAttempt, GateCheck, GatePhase, GateState, GateVerdict, HealthReport,
    HealthStatus, HelperOutcome,
};
use cattery_protocol::{FailureKind, Millis, Run, RunStatus, StepState};

/// What one probe found, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub verdict: GateVerdict,
    pub summary: String,
    pub failing_checks: Vec<String>,
    /// The branch head the probe looked at.
    pub head: Option<String>,
}

impl Probe {
    fn new(verdict: GateVerdict, summary: impl Into<String>) -> Self {
        Self {
            verdict,
            summary: summary.into(),
            failing_checks: Vec::new(),
            head: None,
        }
    }

    pub fn pass(summary: impl Into<String>) -> Self {
        Self::new(GateVerdict::Pass, summary)
    }

    pub fn pending(summary: impl Into<String>) -> Self {
        Self::new(GateVerdict::Pending, summary)
    }

    pub fn fail(summary: impl Into<String>) -> Self {
        Self::new(GateVerdict::Fail, summary)
    }

    pub fn at(mut self, head: Option<String>) -> Self {
        self.head = head;
        self
    }
}

/// The output of a gate with no provider to ask: it passes through.
pub fn unwired(check: GateCheck) -> Probe {
    Probe::pass(match check {
        GateCheck::Conflicts => "Conflict gate skipped (no mergeability provider configured).",
        GateCheck::Ci => "CI gate skipped (no CI status provider configured).",
        GateCheck::PostReleaseHealth => {
            "Post-release health gate skipped (no release health provider configured)."
        }
    })
}

/// The conflicts probe: a clean merge passes, conflicting paths fail.
pub fn classify_conflicts(conflicting: &[String]) -> Probe {
    if conflicting.is_empty() {
        return Probe::pass("Conflict gate passed: the PR merges cleanly with its base.");
    }
    let mut probe = Probe::fail(format!(
        "The branch conflicts with its base in: {}",
        conflicting.join(", ")
    ));
    probe.failing_checks = conflicting.to_vec();
    probe
}

/// A completed check's conclusion that counts as green.
fn is_green(conclusion: Option<&str>) -> bool {
    matches!(
        conclusion,
        Some("success" | "neutral" | "skipped" | "stale")
    )
}

/// The reference's `aggregateCi`: no checks pass; a completed check that is
/// not green fails (failure beats pending); anything still running is
/// pending; else all green.
pub fn classify_ci(report: &CiReport) -> Probe {
    if report.checks.is_empty() {
        return Probe::pass("CI gate passed: no checks configured for the PR head(s).");
    }
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status == "completed" && !is_green(c.conclusion.as_deref()))
        .collect();
    if !failed.is_empty() {
        let named: Vec<String> = failed
            .iter()
            .map(|c| format!("{} ({})", c.name, c.conclusion.as_deref().unwrap_or("none")))
            .collect();
        let mut summary = format!("Failing checks: {}", named.join(", "));
        for check in &failed {
            if let Some(tail) = check.log_tail.as_deref().filter(|t| !t.trim().is_empty()) {
                summary.push_str(&format!(
                    "\n\n--- {} (log tail)\n{}",
                    check.name,
                    tail.trim_end()
                ));
            }
        }
        let mut probe = Probe::fail(summary);
        probe.failing_checks = failed.iter().map(|c| c.name.clone()).collect();
        return probe;
    }
    let running = report
        .checks
        .iter()
        .filter(|c| c.status != "completed")
        .count();
    if running > 0 {
        return Probe::pending(format!("{running} check(s) still running"));
    }
    Probe::pass(format!(
        "CI gate passed: {} check(s) green.",
        report.checks.len()
    ))
}

/// What the release-health probe needs besides the provider's report.
pub struct HealthWatch {
    pub block_merged: bool,
    pub watch_since: Millis,
    pub window_secs: u64,
    pub now: Millis,
}

/// The reference's order: an unmerged block has nothing deployed; no
/// signals pass; a regression fails whatever the window says; anything
/// else holds until the watch window from gate entry has passed.
pub fn classify_health(report: Option<&HealthReport>, watch: &HealthWatch) -> Probe {
    if !watch.block_merged {
        return Probe::pass(
            "Post-release health gate skipped: the PR was not merged (nothing deployed to watch).",
        );
    }
    let Some(report) = report else {
        return unwired(GateCheck::PostReleaseHealth);
    };
    if report.signals.is_empty() {
        return Probe::pass(
            "Post-release health gate passed: no monitors/SLOs configured for this release.",
        );
    }
    if report.status == HealthStatus::Regressed {
        let alerting: Vec<String> = report
            .signals
            .iter()
            .filter(|s| s.state == "alert")
            .map(|s| s.name.clone())
            .collect();
        let mut probe = Probe::fail(format!(
            "The release regressed: {}",
            if alerting.is_empty() {
                "the provider reports a regression".to_owned()
            } else {
                alerting.join(", ")
            }
        ));
        probe.failing_checks = alerting;
        return probe;
    }
    let watched_ms = watch.now - watch.watch_since;
    if watched_ms >= (watch.window_secs * 1000) as i64 {
        return Probe::pass(format!(
            "Post-release health gate passed: {} signal(s) healthy through the watch window.",
            report.signals.len()
        ));
    }
    Probe::pending(format!(
        "watching {} signal(s), {} s of {} s",
        report.signals.len(),
        watched_ms / 1000,
        watch.window_secs
    ))
}

/// Enters a pending gate step: it probes at once. A gate entered again
/// (after a restart) keeps its state; `watch_since` is set only once.
pub fn enter(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(gate) = step.gate.as_mut() else {
        return Outcome::Noop;
    };
    gate.watch_since.get_or_insert(cx.now);
    gate.phase = GatePhase::Checking;
    gate.next_probe_at = None;
    step.state = StepState::Working;
    step.attempts += 1;
    step.started_at = Some(cx.now);
    step.finished_at = None;
    step.progress = 0.0;
    step.progress_label = Some("checking".to_owned());
    Outcome::AwaitingProbe {
        step_index: index,
        due: None,
    }
}

/// A working gate step waits on its helper's job or on its next probe.
pub fn awaiting(run: &Run, index: usize) -> Outcome {
    let Some(gate) = run.steps.get(index).and_then(|s| s.gate.as_ref()) else {
        return Outcome::Noop;
    };
    match gate.phase {
        GatePhase::Working => step::awaiting_job(run, index),
        GatePhase::Checking => Outcome::AwaitingProbe {
            step_index: index,
            due: gate.next_probe_at,
        },
    }
}

/// Folds one probe into the gate on the run's current step.
pub fn record_probe(
    run: &Run,
    index: usize,
    probe: Probe,
    cx: &Cx,
) -> Result<Transition, EngineError> {
    let checking = run.status == RunStatus::Running
        && run.current_step == index
        && run
            .steps
            .get(index)
            .and_then(|s| s.gate.as_ref())
            .is_some_and(|g| g.phase == GatePhase::Checking);
    if !checking || run.steps.get(index).map(|s| s.state) != Some(StepState::Working) {
        return Err(EngineError::StaleProbe {
            run_id: run.id.clone(),
            step_index: index,
        });
    }
    let mut next = run.clone();
    next.updated_at = cx.now;
    let outcome = apply_probe(&mut next, index, probe, cx);
    Ok(Transition::new(next, outcome))
}

fn gate_mut(run: &mut Run, index: usize) -> Option<&mut GateState> {
    run.steps.get_mut(index).and_then(|s| s.gate.as_mut())
}

fn apply_probe(run: &mut Run, index: usize, probe: Probe, cx: &Cx) -> Outcome {
    let Some(gate) = gate_mut(run, index) else {
        return Outcome::Noop;
    };
    gate.last_verdict = Some(probe.verdict);
    gate.last_summary = Some(probe.summary.clone());
    gate.failing_checks = probe.failing_checks.clone();
    if probe.head.is_some() {
        gate.head = probe.head.clone();
    }
    match probe.verdict {
        GateVerdict::Pass => pass(run, index, &probe.summary, cx),
        GateVerdict::Pending => pending(run, index, cx),
        GateVerdict::Fail => failing(run, index, &probe.summary, cx),
    }
}

fn pass(run: &mut Run, index: usize, summary: &str, cx: &Cx) -> Outcome {
    let is_final = index + 1 == run.steps.len();
    step::push_output(run, index, summary, cx);
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    if let Some(gate) = step.gate.as_mut() {
        gate.polls = 0;
        gate.next_probe_at = None;
    }
    step.output = Some(summary.to_owned());
    step.progress = 1.0;
    step.progress_label = None;
    step::finish_or_gate(run, index, is_final, cx)
}

/// Pending: probe again after the gate's interval, until the poll budget
/// is spent (§1.6).
fn pending(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let Some(gate) = gate_mut(run, index) else {
        return Outcome::Noop;
    };
    gate.polls += 1;
    if gate.polls < gate.spec.max_polls {
        let outcome = probe_later(gate, index, cx);
        if let Some(step) = run.steps.get_mut(index) {
            step.progress_label = Some("waiting".to_owned());
        }
        return outcome;
    }
    poll_budget_spent(run, index, cx)
}

/// The next probe comes one poll interval from now.
fn probe_later(gate: &mut GateState, index: usize, cx: &Cx) -> Outcome {
    let due = cx.now + (gate.spec.poll_secs * 1000) as i64;
    gate.next_probe_at = Some(due);
    Outcome::AwaitingProbe {
        step_index: index,
        due: Some(due),
    }
}

/// The reference's `resolveGatePollExhaustion`: a release watch passes once
/// its window has elapsed (and waits on while it has not); every other gate
/// fails as a timeout, with no card.
fn poll_budget_spent(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let Some(gate) = gate_mut(run, index) else {
        return Outcome::Noop;
    };
    if gate.spec.kind == GateCheck::PostReleaseHealth {
        let window_ms = (gate.spec.watch_window_secs.unwrap_or(0) * 1000) as i64;
        let since = gate.watch_since.unwrap_or(cx.now);
        if cx.now - since < window_ms {
            gate.polls = 0;
            return probe_later(gate, index, cx);
        }
        let summary =
            "post-release-health gate passed: watch window elapsed with no regression observed.";
        return pass(run, index, summary, cx);
    }
    let message = "Gate precheck did not settle within its polling budget".to_owned();
    step::failed(run, FailureSpec::plain(FailureKind::Timeout, message), cx)
}

/// Failing: send the helper while its budget lasts, else the gate is spent.
fn failing(run: &mut Run, index: usize, summary: &str, cx: &Cx) -> Outcome {
    let job_id = cx.ids.mint("j");
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(gate) = step.gate.as_mut() else {
        return Outcome::Noop;
    };
    if gate.spec.helper.is_some() && gate.attempts < gate.spec.max_attempts {
        gate.phase = GatePhase::Working;
        gate.attempts += 1;
        gate.polls = 0;
        gate.next_probe_at = None;
        step.progress_label = Some(format!(
            "helper {}/{}",
            gate.attempts, gate.spec.max_attempts
        ));
        return step::new_job(step, index, job_id);
    }
    gate.exhausted = true;
    let (message, detail) = exhausted_message(gate, summary);
    let spec = FailureSpec {
        detail,
        ..FailureSpec::plain(FailureKind::JobFailed, message)
    };
    step::failed(run, spec, cx)
}

/// The reference's `onExhausted` error for each gate.
fn exhausted_message(gate: &GateState, summary: &str) -> (String, Option<String>) {
    let n = gate.attempts;
    match gate.spec.kind {
        GateCheck::Ci => (
            format!("CI did not pass after {n} CI-fixer attempt(s). {summary}"),
            None,
        ),
        GateCheck::Conflicts => (
            format!(
                "The pull request still conflicts with its base after {n} conflict-resolver attempt(s). Resolve the conflict manually, then retry the run."
            ),
            Some(summary.to_owned()),
        ),
        GateCheck::PostReleaseHealth => (
            format!(
                "Post-release health regressed and no on-call investigation was configured. {summary}"
            ),
            None,
        ),
    }
}

/// A helper's job ended, done or failed: the gate logs the round and probes
/// again; a helper never fails the run. The release watch's on-call helper
/// is the exception the reference makes: it investigates once, and the step
/// completes with its assessment (a `release_regression` card follows from
/// the gate's failing verdict).
pub fn helper_settled(
    run: &mut Run,
    index: usize,
    outcome: HelperOutcome,
    summary: String,
    cx: &Cx,
) -> Outcome {
    let is_final = index + 1 == run.steps.len();
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    step.job = None;
    let Some(gate) = step.gate.as_mut() else {
        return Outcome::Noop;
    };
    let entry = GateAttempt {
        attempt: gate.attempts,
        at: cx.now,
        outcome,
        head: gate.head.clone(),
        instructions: gate.last_summary.clone().unwrap_or_default(),
        failing_checks: gate.failing_checks.clone(),
        summary: summary.clone(),
    };
    gate.attempt_log.push(entry);
    step::trim_front(&mut gate.attempt_log);
    gate.phase = GatePhase::Checking;
    gate.next_probe_at = None;
    if gate.spec.kind == GateCheck::PostReleaseHealth {
        let output = match outcome {
            HelperOutcome::Completed => format!("On-call investigation: {summary}"),
            HelperOutcome::Failed => "On-call investigation did not complete; raised a release-regression notification for manual triage.".to_owned(),
        };
        step.output = Some(output.clone());
        step.progress = 1.0;
        step::push_output(run, index, &output, cx);
        return step::finish_or_gate(run, index, is_final, cx);
    }
    step.progress_label = Some("checking".to_owned());
    Outcome::AwaitingProbe {
        step_index: index,
        due: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cattery_protocol::gate::{CiCheck, HealthSignal};

    fn check(name: &str, status: &str, conclusion: Option<&str>) -> CiCheck {
        CiCheck {
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(Into::into),
            url: None,
            log_tail: None,
        }
    }

    fn ci(checks: Vec<CiCheck>) -> Probe {
        classify_ci(&CiReport { checks })
    }

    #[test]
    fn no_checks_pass_ci() {
        let probe = ci(vec![]);
        assert_eq!(probe.verdict, GateVerdict::Pass);
        assert_eq!(
            probe.summary,
            "CI gate passed: no checks configured for the PR head(s)."
        );
    }

    #[test]
    fn a_failed_conclusion_beats_a_pending_check() {
        let probe = ci(vec![
            check("build", "in_progress", None),
            check("lint", "completed", Some("failure")),
        ]);
        assert_eq!(probe.verdict, GateVerdict::Fail);
        assert_eq!(probe.failing_checks, ["lint"]);
        assert_eq!(probe.summary, "Failing checks: lint (failure)");
    }

    #[test]
    fn neutral_skipped_and_stale_count_as_green_and_cancelled_or_none_fail() {
        let green = ci(vec![
            check("a", "completed", Some("neutral")),
            check("b", "completed", Some("skipped")),
            check("c", "completed", Some("stale")),
            check("d", "completed", Some("success")),
        ]);
        assert_eq!(green.summary, "CI gate passed: 4 check(s) green.");
        for bad in [
            Some("cancelled"),
            Some("timed_out"),
            Some("action_required"),
            None,
        ] {
            let probe = ci(vec![check("x", "completed", bad)]);
            assert_eq!(probe.verdict, GateVerdict::Fail, "{bad:?}");
        }
    }

    #[test]
    fn a_check_still_running_is_pending() {
        assert_eq!(
            ci(vec![check("a", "queued", None)]).verdict,
            GateVerdict::Pending
        );
    }

    fn watch(merged: bool, watched_secs: i64) -> HealthWatch {
        HealthWatch {
            block_merged: merged,
            watch_since: 0,
            window_secs: 60,
            now: watched_secs * 1000,
        }
    }

    fn report(status: HealthStatus, signals: usize) -> HealthReport {
        let signal = |i: usize| HealthSignal {
            id: format!("m{i}"),
            name: format!("monitor {i}"),
            state: if status == HealthStatus::Regressed {
                "alert"
            } else {
                "ok"
            }
            .into(),
            detail: None,
        };
        HealthReport {
            status,
            signals: (0..signals).map(signal).collect(),
        }
    }

    fn gated_run(check: GateCheck, window_secs: Option<u64>) -> (Run, crate::clock::SeqIds) {
        use cattery_protocol::gate::GateSpec;
        let mut step = crate::engine::tests::spec("watch");
        step.gate = Some(GateSpec {
            kind: check,
            helper: None,
            max_attempts: 0,
            poll_secs: 1,
            max_polls: 2,
            watch_window_secs: window_secs,
        });
        let pipeline = cattery_protocol::Pipeline {
            id: "p".into(),
            name: "P".into(),
            description: String::new(),
            steps: vec![step],
        };
        let ids = crate::clock::SeqIds::default();
        let started = crate::engine::start(
            &crate::engine::tests::block(),
            &pipeline,
            None,
            &crate::engine::tests::cx(&ids, 0),
        );
        let run = started.run.run;
        let entered = crate::engine::advance(
            &run,
            crate::engine::AdvanceOptions::default(),
            &crate::engine::tests::cx(&ids, 0),
        );
        assert_eq!(
            entered.outcome,
            Outcome::AwaitingProbe {
                step_index: 0,
                due: None
            }
        );
        (entered.run, ids)
    }

    fn probe_at(run: &Run, ids: &crate::clock::SeqIds, now: Millis, probe: Probe) -> Transition {
        record_probe(run, 0, probe, &crate::engine::tests::cx(ids, now)).unwrap()
    }

    #[test]
    fn a_spent_poll_budget_fails_a_ci_gate_as_a_timeout() {
        let (run, ids) = gated_run(GateCheck::Ci, None);
        let first = probe_at(&run, &ids, 1_000, Probe::pending("queued"));
        assert_eq!(
            first.outcome,
            Outcome::AwaitingProbe {
                step_index: 0,
                due: Some(2_000)
            }
        );
        let second = probe_at(&first.run, &ids, 2_000, Probe::pending("queued"));
        assert!(
            matches!(&second.outcome, Outcome::Failed { kind: FailureKind::Timeout, error, .. } if error == "Gate precheck did not settle within its polling budget"),
            "{:?}",
            second.outcome
        );
    }

    #[test]
    fn a_spent_poll_budget_rearms_a_release_watch_inside_its_window_and_passes_it_after() {
        let (run, ids) = gated_run(GateCheck::PostReleaseHealth, Some(10));
        let one = probe_at(&run, &ids, 1_000, Probe::pending("watching"));
        let rearmed = probe_at(&one.run, &ids, 2_000, Probe::pending("watching"));
        assert_eq!(
            rearmed.outcome,
            Outcome::AwaitingProbe {
                step_index: 0,
                due: Some(3_000)
            }
        );
        assert_eq!(rearmed.run.steps[0].gate.as_ref().unwrap().polls, 0);
        let later = probe_at(&rearmed.run, &ids, 11_000, Probe::pending("watching"));
        let passed = probe_at(&later.run, &ids, 12_000, Probe::pending("watching"));
        assert_eq!(
            passed.run.steps[0].output.as_deref(),
            Some(
                "post-release-health gate passed: watch window elapsed with no regression observed."
            )
        );
        assert_eq!(passed.run.steps[0].state, cattery_protocol::StepState::Done);
    }

    #[test]
    fn a_probe_for_a_gate_that_moved_on_is_refused_as_stale() {
        let (run, ids) = gated_run(GateCheck::Ci, None);
        let passed = probe_at(&run, &ids, 1_000, Probe::pass("green"));
        let again = record_probe(
            &passed.run,
            0,
            Probe::pass("green"),
            &crate::engine::tests::cx(&ids, 2_000),
        );
        assert!(
            matches!(again, Err(EngineError::StaleProbe { .. })),
            "{again:?}"
        );
    }

    #[test]
    fn release_health_follows_the_reference_order() {
        let unmerged = classify_health(Some(&report(HealthStatus::Regressed, 1)), &watch(false, 0));
        assert_eq!(
            unmerged.verdict,
            GateVerdict::Pass,
            "an unmerged block has nothing deployed"
        );
        let quiet = classify_health(Some(&report(HealthStatus::Healthy, 0)), &watch(true, 0));
        assert_eq!(quiet.verdict, GateVerdict::Pass, "no signals pass");
        let early = classify_health(Some(&report(HealthStatus::Healthy, 2)), &watch(true, 30));
        assert_eq!(
            early.verdict,
            GateVerdict::Pending,
            "healthy holds until the window ends"
        );
        let late = classify_health(Some(&report(HealthStatus::Pending, 2)), &watch(true, 60));
        assert_eq!(late.verdict, GateVerdict::Pass);
        let regressed = classify_health(Some(&report(HealthStatus::Regressed, 2)), &watch(true, 1));
        assert_eq!(
            regressed.verdict,
            GateVerdict::Fail,
            "a regression fails whatever the window"
        );
        assert_eq!(regressed.failing_checks, ["monitor 0", "monitor 1"]);
    }
}

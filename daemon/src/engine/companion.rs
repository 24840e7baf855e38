//! The companion verdict rule and its rework loop.

use super::step;
use super::step::finish_or_gate;
use super::{Cx, Outcome};
use cattery_protocol::agent::Grade;
use cattery_protocol::{
    CommentSeverity, FailureKind, ReviewComment, Rework, ReworkSource, Run, Verdict,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Pass,
    Rework,
    Park,
}

pub struct VerdictInput<'a> {
    pub rating: f64,
    pub threshold: f64,
    pub findings: &'a [ReviewComment],
    pub attempts: u32,
    pub max_attempts: u32,
    pub has_producer: bool,
}

/// The verdict rule, in order: no producer passes; a blocker reworks while
/// budget lasts, else parks; the first round reworks on any non-minor finding;
/// a rating at the threshold passes; otherwise rework while budget lasts.
pub fn dispose(input: &VerdictInput) -> Disposition {
    if !input.has_producer {
        return Disposition::Pass;
    }
    let budget_left = input.attempts < input.max_attempts;
    let rework_or_park = if budget_left {
        Disposition::Rework
    } else {
        Disposition::Park
    };
    let has = |severity| input.findings.iter().any(|c| c.severity == severity);
    if has(CommentSeverity::Blocker) {
        return rework_or_park;
    }
    let first_round = input.attempts == 0;
    let non_minor = input
        .findings
        .iter()
        .any(|c| c.severity != CommentSeverity::Minor);
    if first_round && non_minor && budget_left {
        return Disposition::Rework;
    }
    if input.rating >= input.threshold {
        return Disposition::Pass;
    }
    rework_or_park
}

/// How many times a grading runs again when the grader returns no grade.
pub const GRADE_REPAIRS: u32 = 1;

/// Judges the producer from the companion's grade and moves the run.
pub fn judge(run: &mut Run, index: usize, grade: Option<Grade>, cx: &Cx) -> Outcome {
    let producer = step::producer_index(run, index);
    let is_final = index + 1 == run.steps.len();
    let Some(companion) = run.steps.get(index).and_then(|s| s.companion.clone()) else {
        return Outcome::Noop;
    };
    let grade = match (grade, producer) {
        (Some(grade), Some(_)) => grade,
        // Nothing to grade: the producer is missing, so nothing is held back.
        (_, None) => return finish_or_gate(run, index, is_final, cx),
        // A grader that returned no grade must not pass the work.
        (None, Some(_)) => return no_grade(run, index, companion.grade_repairs, cx),
    };
    let findings = grade.findings();
    let disposition = dispose(&VerdictInput {
        rating: grade.rating,
        threshold: companion.threshold,
        findings: &findings,
        attempts: companion.attempts,
        max_attempts: companion.max_attempts,
        has_producer: true,
    });
    let verdict = Verdict {
        rating: grade.rating,
        threshold: companion.threshold,
        passed: disposition == Disposition::Pass,
        feedback: grade.feedback.clone(),
        comments: findings.clone(),
    };
    let Some(state) = run.steps.get_mut(index).and_then(|s| s.companion.as_mut()) else {
        return Outcome::Noop;
    };
    state.grade_repairs = 0;
    state.verdicts.push(verdict);
    step::trim_front(&mut state.verdicts);
    match (disposition, producer) {
        (Disposition::Rework, Some(producer)) => {
            loop_producer(run, producer, index, grade.feedback, findings);
            Outcome::Continue
        }
        (Disposition::Park, Some(_)) => park_at_cap(run, index, cx),
        _ => finish_or_gate(run, index, is_final, cx),
    }
}

/// The grader's reply had no grade: grade again (a repair round, which
/// spends no rework budget), then fail the run as `companion_rejected`.
fn no_grade(run: &mut Run, index: usize, repairs: u32, cx: &Cx) -> Outcome {
    let Some(grader) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    if repairs < GRADE_REPAIRS {
        if let Some(state) = grader.companion.as_mut() {
            state.grade_repairs += 1;
        }
        step::reset(grader);
        return Outcome::Continue;
    }
    let reply = grader.output.clone().unwrap_or_default();
    let message = format!(
        "grader `{}` returned no verdict, also after a repair attempt; it returned: {}",
        grader.agent_kind,
        quote_start(&reply, 200)
    );
    let detail: String = reply.chars().take(2000).collect();
    let spec = step::FailureSpec {
        hint: Some(
            "make the grader end with a result line that carries a `grade`, then retry the run"
                .to_owned(),
        ),
        detail: Some(detail.clone()),
        ..step::FailureSpec::plain(FailureKind::CompanionRejected, message.clone())
    };
    step::fail(run, spec, cx);
    Outcome::Failed {
        error: message,
        kind: FailureKind::CompanionRejected,
        detail: Some(detail),
    }
}

/// The first `max` characters of `text`, quoted, with an ellipsis if cut.
fn quote_start(text: &str, max: usize) -> String {
    if text.trim().is_empty() {
        return "nothing (an empty reply)".to_owned();
    }
    let start: String = text.chars().take(max).collect();
    let more = if text.chars().count() > max {
        "…"
    } else {
        ""
    };
    format!("\"{start}{more}\"")
}

/// Spends one automatic round and re-runs producer..=companion.
pub fn loop_producer(
    run: &mut Run,
    producer: usize,
    companion_index: usize,
    feedback: String,
    comments: Vec<ReviewComment>,
) {
    if let Some(state) = run
        .steps
        .get_mut(companion_index)
        .and_then(|s| s.companion.as_mut())
    {
        state.attempts += 1;
        state.exceeded = false;
        state.cap_gate_id = None;
    }
    let previous_proposal = run.steps.get(producer).and_then(|s| s.output.clone());
    let rework = Rework {
        previous_proposal,
        feedback,
        comments,
        requested_by: ReworkSource::Reviewer,
    };
    step::rerun_range(run, producer, companion_index, rework);
}

fn park_at_cap(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    if let Some(state) = run.steps.get_mut(index).and_then(|s| s.companion.as_mut()) {
        state.exceeded = true;
        state.cap_gate_id = Some(cx.ids.mint("g"));
    }
    step::park(run, index, cx)
}

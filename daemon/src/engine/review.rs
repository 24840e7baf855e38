//! Requirements and clarity review gates (DELIVERY.md §4): the reviewer's
//! findings park the run until a human works them; incorporate sends the
//! writer, whose revised document the reviewer reviews again, up to the
//! iteration cap. The state lives on the step (`ReviewState`); every move
//! here is a pure function of the run.

use super::step::{self, FailureSpec};
use super::{Cx, EngineError, Outcome, Transition};
use cattery_protocol::review::{
    Disposition, Finding, FindingCategory, FindingSeverity, FindingStatus, ReviewAction,
    ReviewState, ReviewStatus, ReviewSubject,
};
use cattery_protocol::{
    Approval, ApprovalStatus, BlockStatus, Cancellation, FailureKind, GateKind, ResolvedGate, Run,
    RunStatus, StepState,
};
use serde_json::Value;

/// The reference's cap on findings per pass.
pub const MAX_FINDINGS: usize = 20;

/// Whether the step at `index` is a review gate.
pub fn is_review(run: &Run, index: usize) -> bool {
    run.steps.get(index).is_some_and(|s| s.review.is_some())
}

/// A fresh entry: any earlier review is replaced (back to pass 1). A
/// clarity review after a structured bug investigation is seeded from it
/// with no reviewer job; otherwise the reviewer is dispatched.
pub fn enter(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let seed = clarity_seed(run, index);
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(review) = step.review.as_mut() else {
        return Outcome::Noop;
    };
    *review = ReviewState::new(review.spec.clone());
    let Some(questions) = seed else {
        return step::start(run, index, cx);
    };
    review.seeded = true;
    review.findings = questions
        .iter()
        .map(|q| question(q, cx.ids.mint("f")))
        .collect();
    step.started_at = Some(cx.now);
    step.attempts += 1;
    dispose(run, index, cx)
}

/// A bug investigator's verdict, if one ran before the clarity review at
/// `index`: its questions (none when the report is clear).
fn clarity_seed(run: &Run, index: usize) -> Option<Vec<String>> {
    let step = run.steps.get(index)?;
    if step.review.as_ref()?.spec.subject != ReviewSubject::Clarity {
        return None;
    }
    run.steps.iter().take(index).rev().find_map(|s| {
        let value = cattery_protocol::text::json_in(s.output.as_deref()?)?;
        match value.get("clarity")?.as_str()? {
            "clear" => Some(Vec::new()),
            "needs_clarification" => Some(
                value
                    .get("questions")
                    .and_then(Value::as_array)
                    .map(|qs| {
                        qs.iter()
                            .filter_map(Value::as_str)
                            .map(str::trim)
                            .filter(|q| !q.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        }
    })
}

fn question(text: &str, id: String) -> Finding {
    Finding {
        id,
        category: FindingCategory::Question,
        severity: FindingSeverity::High,
        title: cattery_protocol::text::cut(text, 80),
        detail: text.to_owned(),
        status: FindingStatus::Open,
        reply: None,
        auto_answerable: false,
    }
}

/// The reviewer's findings (`coerceReviewItems`): from `{"items": […]}`
/// or a bare array; unknown categories become questions and unknown
/// severities medium; an item with neither title nor detail is dropped;
/// high first, at most 20, all open. `None` when the reply holds no JSON.
pub fn coerce_findings(reply: &str, cx: &Cx) -> Option<Vec<Finding>> {
    let value = cattery_protocol::text::json_in(reply)?;
    let list = match (&value, value.get("items")) {
        (_, Some(Value::Array(items))) => items.clone(),
        (Value::Array(items), _) => items.clone(),
        _ => Vec::new(),
    };
    let text = |entry: &Value, key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let mut findings: Vec<Finding> = list
        .iter()
        .filter(|entry| entry.is_object())
        .filter_map(|entry| {
            let title = text(entry, "title");
            let detail = Some(text(entry, "detail"))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| text(entry, "question"));
            if title.is_empty() && detail.is_empty() {
                return None;
            }
            let pick = |key| entry.get(key).and_then(Value::as_str).unwrap_or_default();
            Some(Finding {
                id: cx.ids.mint("f"),
                category: FindingCategory::parse(pick("category"))
                    .unwrap_or(FindingCategory::Question),
                severity: FindingSeverity::parse(pick("severity"))
                    .unwrap_or(FindingSeverity::Medium),
                title: match title.is_empty() {
                    true => cattery_protocol::text::cut(&detail, 80),
                    false => title.clone(),
                },
                detail: match detail.is_empty() {
                    true => title,
                    false => detail,
                },
                status: FindingStatus::Open,
                reply: None,
                auto_answerable: entry.get("autoAnswerable") == Some(&Value::Bool(true))
                    || entry.get("auto_answerable") == Some(&Value::Bool(true)),
            })
        })
        .collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity.rank()));
    findings.truncate(MAX_FINDINGS);
    Some(findings)
}

/// The reviewer's reply on the step at `index`: its findings, then the
/// disposition. A reply with no findings JSON fails the step with what it
/// said, so a broken reviewer never passes a task.
pub fn reviewed(run: &mut Run, index: usize, reply: &str, cx: &Cx) -> Outcome {
    let Some(findings) = coerce_findings(reply, cx) else {
        let spec = FailureSpec {
            detail: Some(cattery_protocol::text::cut(reply, 2_000)),
            hint: Some(
                "the reviewer must reply with JSON findings: {\"items\": [{\"category\", \"severity\", \"title\", \"detail\"}]}; fix its prompt, then retry".to_owned(),
            ),
            ..FailureSpec::plain(
                FailureKind::Agent,
                "the reviewer's reply has no findings JSON".to_owned(),
            )
        };
        return step::failed(run, spec, cx);
    };
    if let Some(review) = run.steps.get_mut(index).and_then(|s| s.review.as_mut()) {
        review.findings = findings;
    }
    dispose(run, index, cx)
}

/// Passes the gate, or parks it (`ready`, or `exceeded` at the cap).
fn dispose(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(review) = step.review.as_mut() else {
        return Outcome::Noop;
    };
    step.job = None;
    step.progress = 1.0;
    match review.disposition() {
        Disposition::Pass => complete(run, index, cx),
        Disposition::Park => park(run, index, ReviewStatus::Ready, cx),
        Disposition::Exceeded => park(run, index, ReviewStatus::Exceeded, cx),
    }
}

fn park(run: &mut Run, index: usize, status: ReviewStatus, cx: &Cx) -> Outcome {
    let gate_id = cx.ids.mint("g");
    if let Some(step) = run.steps.get_mut(index) {
        let summary = step.review.as_mut().map(|review| {
            review.status = status;
            summary(review)
        });
        step.approval = Some(Approval {
            id: gate_id,
            status: ApprovalStatus::Pending,
            proposal: summary.unwrap_or_default(),
            feedback: None,
            comments: Vec::new(),
        });
    }
    step::park(run, index, cx)
}

/// What the gate's prompt and card say.
pub fn summary(review: &ReviewState) -> String {
    let n = review.findings.len();
    let raised = format!(
        "The reviewer raised {n} finding{} to react to.",
        if n == 1 { "" } else { "s" }
    );
    match review.status {
        ReviewStatus::Exceeded => format!(
            "{raised} The review reached its cap of {} passes: grant an extra round, proceed, or stop and reset.",
            review.max_iterations
        ),
        _ => raised,
    }
}

/// The gate is done: the revised document (if any) becomes the step's
/// output, which later steps read as the task's requirements.
fn complete(run: &mut Run, index: usize, cx: &Cx) -> Outcome {
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(review) = step.review.as_mut() else {
        return Outcome::Noop;
    };
    review.status = ReviewStatus::Incorporated;
    let output = match &review.document {
        Some(document) => document.clone(),
        None => format!(
            "{} passed on pass {} with no finding outstanding.",
            cattery_protocol::text::capitalised(review.spec.subject.label()),
            review.iteration
        ),
    };
    step.output = Some(output.clone());
    step::push_output(run, index, &output, cx);
    if let Some(step) = run.steps.get_mut(index) {
        step::finish(step, cx);
    }
    run.status = RunStatus::Running;
    Outcome::Continue
}

/// The writer's revised document: it replaces the previous one, and the
/// reviewer looks again on the next pass. An empty reply fails the step.
pub fn written(run: &mut Run, index: usize, document: &str, cx: &Cx) -> Outcome {
    let document = document.trim();
    if document.is_empty() {
        let noun = run
            .steps
            .get(index)
            .and_then(|s| s.review.as_ref())
            .map_or("requirements", ReviewState::noun);
        let spec = FailureSpec {
            hint: Some("retry the run; the review's findings start again".to_owned()),
            ..FailureSpec::plain(
                FailureKind::Agent,
                format!("The writer produced no revised {noun}"),
            )
        };
        return step::failed(run, spec, cx);
    }
    let job_id = cx.ids.mint("j");
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(review) = step.review.as_mut() else {
        return Outcome::Noop;
    };
    review.previous_document = review.document.take();
    review.document = Some(document.to_owned());
    review.feedback = None;
    review.iteration += 1;
    review.status = ReviewStatus::Reviewing;
    step.progress_label = Some(format!("review pass {}", review.iteration));
    step::new_job(step, index, job_id)
}

/// A budget stop while the review works: with findings to keep, the gate
/// parks again (answers kept) and the run pauses; the human incorporates
/// again once resumed. A first pass simply runs again on resume.
pub fn paused(run: &mut Run, index: usize, cx: &Cx) -> Option<Outcome> {
    let step = run.steps.get(index)?;
    let review = step.review.as_ref()?;
    if review.findings.is_empty() {
        return None;
    }
    park(run, index, ReviewStatus::Ready, cx);
    run.status = RunStatus::Paused;
    Some(Outcome::Paused)
}

/// A human's action at the review gate of the run parked on it. Every
/// action names the rev it saw; a stale one changes nothing.
pub fn act(run: &Run, rev: u64, action: &ReviewAction, cx: &Cx) -> Result<Transition, EngineError> {
    let index = run.current_step;
    let review = parked_review(run)?;
    if rev != run.rev {
        return Err(EngineError::Stale {
            run_id: run.id.clone(),
            seen: rev,
            current: run.rev,
        });
    }
    let mut next = run.clone();
    next.updated_at = cx.now;
    let outcome = match action {
        ReviewAction::Reply { finding, text } => {
            let text = text.trim();
            if text.is_empty() {
                return Err(EngineError::ReviewRefused {
                    reason: "a reply needs some text".to_owned(),
                });
            }
            with_finding(&mut next, review, finding, |f| {
                f.reply = Some(text.to_owned());
                if f.status == FindingStatus::Open {
                    f.status = FindingStatus::Answered;
                }
            })?
        }
        ReviewAction::Resolve { finding } => with_finding(&mut next, review, finding, |f| {
            f.status = FindingStatus::Resolved
        })?,
        ReviewAction::Dismiss { finding } => with_finding(&mut next, review, finding, |f| {
            f.status = FindingStatus::Dismissed
        })?,
        ReviewAction::Reopen { finding } => with_finding(&mut next, review, finding, |f| {
            f.status = FindingStatus::Open
        })?,
        ReviewAction::Incorporate { feedback } => {
            let open = review.open_count();
            if open > 0 {
                return Err(EngineError::FindingsOpen { open });
            }
            close_gate(&mut next, action, cx);
            incorporate(&mut next, index, feedback.clone(), cx)
        }
        ReviewAction::Proceed => {
            close_gate(&mut next, action, cx);
            complete(&mut next, index, cx)
        }
        ReviewAction::ExtraRound => {
            if review.status != ReviewStatus::Exceeded {
                return Err(EngineError::ReviewRefused {
                    reason: format!(
                        "an extra round is for a review at its cap, and this one is {} (pass {} of {})",
                        review.status.label(),
                        review.iteration,
                        review.max_iterations
                    ),
                });
            }
            if let Some(state) = next.steps.get_mut(index).and_then(|s| s.review.as_mut()) {
                state.max_iterations += 1;
                state.status = ReviewStatus::Ready;
            }
            refresh_prompt(&mut next, index);
            Outcome::Noop
        }
        ReviewAction::StopReset => {
            close_gate(&mut next, action, cx);
            let message = format!(
                "{} stopped the run at its review and reset the task",
                cx.actor
            );
            let spec = FailureSpec::cancelled(Cancellation::StopReset, message);
            let outcome = step::failed(&mut next, spec, cx);
            return Ok(Transition::new(next, outcome).with_block_status(BlockStatus::Planned));
        }
    };
    Ok(Transition::new(next, outcome))
}

fn parked_review(run: &Run) -> Result<&ReviewState, EngineError> {
    let step = run.current();
    let review = step.and_then(|s| s.review.as_ref());
    match (run.status, step.map(|s| s.state), review) {
        (RunStatus::Blocked, Some(StepState::WaitingDecision), Some(review))
            if review.status.parked() =>
        {
            Ok(review)
        }
        _ if let Some((_, review)) = run.review() => Err(EngineError::ReviewRefused {
            reason: format!(
                "the review is {} and the run is {}; it takes actions only while it waits on you",
                review.status.label(),
                run.status
            ),
        }),
        _ => Err(EngineError::ReviewRefused {
            reason: format!(
                "run {} is not at a review gate (it is {} at step {})",
                run.id,
                run.status,
                run.current_step + 1
            ),
        }),
    }
}

fn with_finding(
    run: &mut Run,
    review: &ReviewState,
    id: &str,
    change: impl FnOnce(&mut Finding),
) -> Result<Outcome, EngineError> {
    let index = run.current_step;
    let finding = run
        .steps
        .get_mut(index)
        .and_then(|s| s.review.as_mut())
        .and_then(|r| r.findings.iter_mut().find(|f| f.id == id));
    let Some(finding) = finding else {
        let known: Vec<&str> = review.findings.iter().map(|f| f.id.as_str()).collect();
        return Err(EngineError::ReviewRefused {
            reason: format!(
                "the review has no finding `{id}`; its findings are {}",
                known.join(", ")
            ),
        });
    };
    change(finding);
    refresh_prompt(run, index);
    Ok(Outcome::Noop)
}

fn refresh_prompt(run: &mut Run, index: usize) {
    if let Some(step) = run.steps.get_mut(index) {
        let text = step.review.as_ref().map(summary);
        if let (Some(approval), Some(text)) = (step.approval.as_mut(), text) {
            approval.proposal = text;
        }
    }
}

/// Closes the parked gate for good, so a repeat of it is recognised.
fn close_gate(run: &mut Run, action: &ReviewAction, cx: &Cx) {
    let index = run.current_step;
    let Some(step) = run.steps.get_mut(index) else {
        return;
    };
    let Some(approval) = step.approval.as_mut() else {
        return;
    };
    approval.status = ApprovalStatus::Approved;
    let id = approval.id.clone();
    run.resolved_gates.push(ResolvedGate {
        id,
        kind: GateKind::Review,
        step_index: index,
        choice: action.name().to_owned(),
        resolved_at: cx.now,
    });
}

/// Sends the writer with the answers; with nothing to fold in, the review
/// is simply done (`markIncorporated`, no model call).
fn incorporate(run: &mut Run, index: usize, feedback: Option<String>, cx: &Cx) -> Outcome {
    let job_id = cx.ids.mint("j");
    let Some(step) = run.steps.get_mut(index) else {
        return Outcome::Noop;
    };
    let Some(review) = step.review.as_mut() else {
        return Outcome::Noop;
    };
    review.feedback = feedback.filter(|f| !f.trim().is_empty());
    if !review.has_notes() {
        return complete(run, index, cx);
    }
    review.status = ReviewStatus::Incorporating;
    step.approval = None;
    step.state = StepState::Working;
    step.finished_at = None;
    step.progress = 0.0;
    step.progress_label = Some("incorporating the answers".to_owned());
    run.status = RunStatus::Running;
    step::new_job(step, index, job_id)
}

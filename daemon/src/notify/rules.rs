//! Which attention card a committed run calls for. Pure: a run in, the card
//! to raise and the kinds to close out.

use crate::engine;
use cattery_protocol::diff::stat_line;
use cattery_protocol::gate::{GateCheck, GateVerdict};
use cattery_protocol::review::ReviewSubject;
use cattery_protocol::text::first_line;
use cattery_protocol::{AgentRole, Delivery, NotificationType, ReviewReason, Run, RunStatus};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub kind: NotificationType,
    pub title: String,
    pub body: String,
    pub payload: serde_json::Value,
}

/// The card kind a run's state calls for, before any text is built.
pub fn wanted_kind(run: &Run) -> Option<NotificationType> {
    match run.status {
        RunStatus::Running => None,
        RunStatus::Blocked => Some(waiting_kind(run)),
        RunStatus::Paused => Some(NotificationType::BudgetPaused),
        RunStatus::Done => finished_kind(run),
        RunStatus::Failed => failure_kind(run),
    }
}

/// Kinds a run in this state no longer calls for.
pub fn stale_kinds(run: &Run) -> Vec<NotificationType> {
    let wanted = wanted_kind(run);
    let mut kinds: Vec<NotificationType> = NotificationType::WAITING.to_vec();
    kinds.push(NotificationType::BudgetPaused);
    if run.status == RunStatus::Done {
        kinds.extend([NotificationType::CiFailed, NotificationType::TestFailed]);
    }
    kinds.retain(|k| Some(*k) != wanted);
    kinds
}

/// The card a run calls for, with its text, if any.
pub fn card_for(run: &Run, block_title: &str) -> Option<Draft> {
    wanted_kind(run).map(|kind| draft(run, kind, block_title))
}

fn waiting_kind(run: &Run) -> NotificationType {
    if let Some(review) = run.current().and_then(|s| s.review.as_ref()) {
        return match review.spec.subject {
            ReviewSubject::Requirements => NotificationType::RequirementReview,
            ReviewSubject::Clarity => NotificationType::ClarityReview,
        };
    }
    match run.current().map(|s| s.role) {
        Some(AgentRole::Merger) => NotificationType::MergeReview,
        _ => NotificationType::DecisionRequired,
    }
}

/// A finished run asks a human to look when there is something to review:
/// a merger's result, or a pull request no merger took. A merge left undone
/// because base is checked out is a merge review. A run that produced
/// neither is simply done.
fn finished_kind(run: &Run) -> Option<NotificationType> {
    if regression_step(run).is_some() {
        return Some(NotificationType::ReleaseRegression);
    }
    if matches!(
        run.delivery,
        Some(Delivery::CheckedOut { .. } | Delivery::Review { .. })
    ) {
        return Some(NotificationType::MergeReview);
    }
    (engine::has_merger(run) || run.pull_request.is_some())
        .then_some(NotificationType::PipelineComplete)
}

/// A failing tester or gate helper (a CI check) gets its own card; other
/// failures show on the board and need no card.
fn failure_kind(run: &Run) -> Option<NotificationType> {
    let failure = run.failure.as_ref()?;
    let step = run.steps.get(failure.step_index)?;
    if let Some(gate) = &step.gate {
        // A spent poll budget or a conflict left to a human raises nothing
        // (the reference's rule); spent CI and an uninvestigated regression do.
        return match gate.spec.kind {
            GateCheck::Ci if gate.exhausted => Some(NotificationType::CiFailed),
            GateCheck::PostReleaseHealth if gate.exhausted => {
                Some(NotificationType::ReleaseRegression)
            }
            _ => None,
        };
    }
    match step.role {
        AgentRole::Tester => Some(NotificationType::TestFailed),
        AgentRole::GateHelper => Some(NotificationType::CiFailed),
        AgentRole::Producer | AgentRole::Grader | AgentRole::Merger | AgentRole::Estimator => None,
    }
}

fn draft(run: &Run, kind: NotificationType, block: &str) -> Draft {
    let (title, body, payload) = match kind {
        NotificationType::MergeReview if matches!(run.delivery, Some(Delivery::Review { .. })) => {
            merge_review(run, block)
        }
        NotificationType::MergeReview if run.status == RunStatus::Done => finished(run, block),
        NotificationType::DecisionRequired | NotificationType::MergeReview => waiting(run, block),
        NotificationType::RequirementReview | NotificationType::ClarityReview => review(run, block),
        NotificationType::BudgetPaused => (
            format!("{block}: paused, over the spend budget"),
            format!(
                "the {} run waits for budget; resume it once there is room",
                run.pipeline_name
            ),
            json!({ "run_id": run.id }),
        ),
        NotificationType::PipelineComplete => finished(run, block),
        NotificationType::CiFailed if failed_gate(run).is_some() => ci_failed(run, block),
        NotificationType::ReleaseRegression => regression(run, block),
        NotificationType::TestFailed if failed_test_loop(run).is_some() => test_failed(run, block),
        _ => failed(run, block),
    };
    Draft {
        kind,
        title,
        body,
        payload,
    }
}

/// A parked review (`notifyFindings`): `Requirements review: <task>` or
/// `Bug-report triage: <task>`, the number of findings, and the cap when
/// it is reached.
fn review(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let Some(review) = run.current().and_then(|s| s.review.as_ref()) else {
        return waiting(run, block);
    };
    let title = match review.spec.subject {
        ReviewSubject::Requirements => format!("Requirements review: {block}"),
        ReviewSubject::Clarity => format!("Bug-report triage: {block}"),
    };
    let payload = json!({
        "run_id": run.id,
        "finding_count": review.findings.len(),
        "open": review.open_count(),
        "status": review.status,
        "iteration": review.iteration,
        "max_iterations": review.max_iterations,
    });
    (title, engine::review::summary(review), payload)
}

fn waiting(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let Some(gate) = run.pending_gate() else {
        return (
            format!("{block}: waiting for a human"),
            String::new(),
            json!({ "run_id": run.id }),
        );
    };
    let title = format!(
        "{block}: {} waiting ({})",
        gate.kind.label(),
        gate.agent_kind
    );
    let body = first_line(&gate.prompt, 200);
    let payload = json!({
        "gate_id": gate.id,
        "gate_kind": gate.kind,
        "run_id": gate.run_id,
        "step_index": gate.step_index,
        "agent_kind": gate.agent_kind,
        "options": gate.options,
    });
    (title, body, payload)
}

fn finished(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let title = format!("{block}: {} finished", run.pipeline_name);
    if let Some(delivery) = &run.delivery {
        let payload = json!({ "run_id": run.id, "delivery": delivery });
        return (title, delivered(delivery), payload);
    }
    match &run.pull_request {
        Some(pr) if !engine::has_merger(run) => (
            title,
            format!(
                "pull request {} is open and no merger ran; review and merge it",
                pr.url
            ),
            json!({ "run_id": run.id, "pr_url": pr.url }),
        ),
        _ => (
            title,
            format!("all {} steps are done", run.steps.len()),
            json!({ "run_id": run.id }),
        ),
    }
}

/// What the merger did with the branch, and what is left to a human.
fn delivered(delivery: &Delivery) -> String {
    match delivery {
        Delivery::Branch {
            branch,
            files,
            insertions,
            deletions,
        } => format!(
            "branch {branch} is ready for review ({}); merge it or open a pull request",
            stat_line(*files, *insertions, *deletions)
        ),
        Delivery::Merged {
            base,
            commit,
            fast_forward,
        } => {
            let how = if *fast_forward {
                "fast-forward"
            } else {
                "merge commit"
            };
            format!("merged into {base} at {} ({how})", short(commit))
        }
        Delivery::CheckedOut { base, at, command } => format!(
            "{base} is checked out at {at}, so cattery did not merge behind it; merge there with `{command}` (or set merge = \"branch\" or \"pr\" on the frame)"
        ),
        Delivery::PullRequest { url, .. } => {
            format!("pull request {url} is open; review and merge it")
        }
        Delivery::PullRequestMerged { url, .. } => format!("pull request {url} was merged"),
        Delivery::Review { reason, branch, .. } => {
            format!("{branch} waits for a human: {}", reason.label())
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

/// The reference's `merge_review` card: why the merge waits for a human,
/// the merger's scores and rationale, and the change.
fn merge_review(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let Some(Delivery::Review {
        reason,
        exceeded,
        files,
        insertions,
        deletions,
        url,
        ..
    }) = &run.delivery
    else {
        return finished(run, block);
    };
    let assessment = run
        .steps
        .iter()
        .rev()
        .find(|s| s.role == AgentRole::Merger)
        .and_then(|s| s.merge_assessment.as_ref());
    let lead = match reason {
        ReviewReason::ExceededThresholds => {
            format!(
                "The change is over the merge policy's ceilings ({}).",
                exceeded.join(", ")
            )
        }
        other => format!("{}.", cattery_protocol::text::capitalised(other.label())),
    };
    let scores = assessment.map_or_else(String::new, |a| {
        format!(
            " Its scores were complexity {:.0}%, risk {:.0}%, impact {:.0}%. {}",
            a.complexity * 100.0,
            a.risk * 100.0,
            a.impact * 100.0,
            first_line(&a.rationale, 200)
        )
    });
    let body = format!(
        "{lead}{scores} ({})",
        stat_line(*files, *insertions, *deletions)
    );
    let payload = json!({
        "run_id": run.id,
        "pipeline_name": run.pipeline_name,
        "reason": reason,
        "exceeded_axes": exceeded,
        "assessment": assessment,
        "pr_url": url,
        "files": files,
        "insertions": insertions,
        "deletions": deletions,
    });
    (format!("Review PR for \"{block}\""), body, payload)
}

/// The health gate that saw a regression, if any step did.
fn regression_step(run: &Run) -> Option<&cattery_protocol::Step> {
    run.steps.iter().find(|s| {
        s.gate.as_ref().is_some_and(|g| {
            g.spec.kind == GateCheck::PostReleaseHealth && g.last_verdict == Some(GateVerdict::Fail)
        })
    })
}

fn failed_gate(run: &Run) -> Option<&cattery_protocol::gate::GateState> {
    let failure = run.failure.as_ref()?;
    run.steps.get(failure.step_index)?.gate.as_ref()
}

fn failed_test_loop(run: &Run) -> Option<&cattery_protocol::tester::TestLoop> {
    let failure = run.failure.as_ref()?;
    run.steps.get(failure.step_index)?.test.as_ref()
}

/// The reference's two `test_failed` cards: the tester stopped without a
/// fix (an abort), or the fixer's budget ran out.
fn test_failed(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let test = failed_test_loop(run);
    let report = test.and_then(|t| t.last_report.as_ref());
    let payload = json!({ "run_id": run.id, "pipeline_name": run.pipeline_name, "pr_url": run.pull_request.as_ref().map(|p| &p.url) });
    if let Some(abort) = report.and_then(|r| r.abort.as_ref()) {
        return (
            format!("Testing could not run for \"{block}\""),
            format!(
                "The Tester stopped the run without attempting a fix: {} Resolve the cause, then retry the run.",
                end_with_stop(&abort.reason)
            ),
            payload,
        );
    }
    let attempts = test.map_or(0, |t| t.attempts);
    let summary = report.map(|r| r.concerns_line()).unwrap_or_default();
    (
        format!("Tests are still failing for \"{block}\""),
        format!(
            "The Fixer agent tried {attempts} time(s) but the Tester still won't greenlight. {} Take a look and retry the run once fixed.",
            end_with_stop(&first_line(&summary, 200))
        ),
        payload,
    )
}

/// A sentence that ends in punctuation, so the next one does not run into it.
fn end_with_stop(text: &str) -> String {
    let text = text.trim();
    match text.ends_with(['.', '!', '?']) || text.is_empty() {
        true => text.to_owned(),
        false => format!("{text}."),
    }
}

fn ci_failed(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let gate = failed_gate(run);
    let attempts = gate.map_or(0, |g| g.attempts);
    let summary = gate.and_then(|g| g.last_summary.as_deref()).unwrap_or("");
    (
        format!("CI is still failing for \"{block}\""),
        format!(
            "The CI-fixer agent tried {attempts} time(s) but CI is still red. {} Take a look and retry the run once fixed.",
            first_line(summary, 200)
        ),
        json!({ "run_id": run.id, "pipeline_name": run.pipeline_name, "pr_url": run.pull_request.as_ref().map(|p| &p.url) }),
    )
}

fn regression(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let step = regression_step(run);
    let gate = step.and_then(|s| s.gate.as_ref());
    let seen = gate.and_then(|g| g.last_summary.as_deref()).unwrap_or("");
    let assessment = step
        .filter(|s| s.state == cattery_protocol::StepState::Done)
        .and_then(|s| s.output.as_deref());
    let body = match assessment {
        Some(assessment) => format!("{} {}", first_line(seen, 120), first_line(assessment, 200)),
        None => format!(
            "{} No on-call investigation ran; triage it by hand.",
            first_line(seen, 200)
        ),
    };
    (
        format!("Release of \"{block}\" regressed"),
        body,
        json!({ "run_id": run.id, "pipeline_name": run.pipeline_name, "failing_signals": gate.map(|g| &g.failing_checks) }),
    )
}

fn failed(run: &Run, block: &str) -> (String, String, serde_json::Value) {
    let failure = run.failure.as_ref();
    let agent = failure
        .and_then(|f| run.steps.get(f.step_index))
        .map_or("a step", |s| s.agent_kind.as_str());
    (
        format!("{block}: {agent} failed"),
        failure.map_or_else(String::new, |f| first_line(&f.message, 200)),
        json!({ "run_id": run.id }),
    )
}

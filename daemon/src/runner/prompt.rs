//! Role prompts: `prompts/<kind>.md` in the config dir, else the built-in
//! one for the kind (`assets/prompts`), else the coder's (graders: the
//! reviewer's), with the step's context filled in.

use cattery_protocol::agent::StepContext;
use std::fmt::Write;
use std::path::Path;

const BUILT_IN: &[(&str, &str)] = &[
    (
        "architect",
        include_str!("../../../assets/prompts/architect.md"),
    ),
    (
        "architect-companion",
        include_str!("../../../assets/prompts/architect-companion.md"),
    ),
    ("coder", include_str!("../../../assets/prompts/coder.md")),
    (
        "reviewer",
        include_str!("../../../assets/prompts/reviewer.md"),
    ),
    ("tester", include_str!("../../../assets/prompts/tester.md")),
    ("merger", include_str!("../../../assets/prompts/merger.md")),
    (
        "conflict-resolver",
        include_str!("../../../assets/prompts/conflict-resolver.md"),
    ),
    (
        "ci-fixer",
        include_str!("../../../assets/prompts/ci-fixer.md"),
    ),
    ("fixer", include_str!("../../../assets/prompts/fixer.md")),
    (
        "on-call",
        include_str!("../../../assets/prompts/on-call.md"),
    ),
    (
        "task-estimator",
        include_str!("../../../assets/prompts/task-estimator.md"),
    ),
    (
        "requirements-review",
        include_str!("../../../assets/prompts/requirements-review.md"),
    ),
    (
        "requirements-writer",
        include_str!("../../../assets/prompts/requirements-writer.md"),
    ),
    (
        "clarity-review",
        include_str!("../../../assets/prompts/clarity-review.md"),
    ),
    (
        "clarity-writer",
        include_str!("../../../assets/prompts/clarity-writer.md"),
    ),
    (
        "bug-investigator",
        include_str!("../../../assets/prompts/bug-investigator.md"),
    ),
];

/// How a grader must end, so cattery can read its verdict.
pub const VERDICT_FORMAT: &str = "End with your verdict as a fenced JSON block, exactly:\n```json\n{\"rating\": 0.0, \"feedback\": \"what to change\", \"blockers\": [\"must fix\"], \"comments\": [{\"severity\": \"major\", \"body\": \"why\", \"path\": \"src/file.py\", \"line\": 12}]}\n```\nrating is from 0 (unusable) to 1 (ready); severity is blocker, major or minor.";

/// The prompt for the step in `context`, from `prompts` (the config dir's
/// overrides) or the built-in templates.
pub fn render(prompts: &Path, context: &StepContext) -> String {
    let kind = context.agent_kind.as_str();
    let own = std::fs::read_to_string(prompts.join(format!("{kind}.md"))).ok();
    let fallback = if context.grades.is_some() {
        "reviewer"
    } else {
        "coder"
    };
    let built_in = |name: &str| BUILT_IN.iter().find(|(k, _)| *k == name).map(|(_, t)| *t);
    let template = own
        .or_else(|| built_in(kind).map(str::to_owned))
        .or_else(|| built_in(fallback).map(str::to_owned))
        .unwrap_or_default();
    fill(&template, context)
}

fn fill(template: &str, context: &StepContext) -> String {
    let parts = [
        ("{{task}}", context.block_title.clone()),
        ("{{description}}", context.block_description.join("\n")),
        ("{{repository}}", repository(context)),
        ("{{prior_outputs}}", prior_outputs(context)),
        ("{{rework}}", rework(context)),
        ("{{decision}}", decision(context)),
        ("{{diff}}", diff(context)),
        ("{{verdict_format}}", VERDICT_FORMAT.to_owned()),
    ];
    let mut text = template.to_owned();
    for (placeholder, value) in parts {
        text = text.replace(placeholder, &value);
    }
    // Sections with nothing in them leave no run of blank lines.
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text.trim().to_owned()
}

fn repository(context: &StepContext) -> String {
    context.workspace.as_ref().map_or_else(String::new, |w| {
        format!(
            "The service's repository is {} (base branch {}, at {}); you work on branch {}.",
            w.repository, w.base, w.base_commit, w.branch
        )
    })
}

fn prior_outputs(context: &StepContext) -> String {
    let mut text = String::new();
    for prior in &context.prior_outputs {
        let _ = write!(
            text,
            "The {} said (step {}):\n{}\n\n",
            prior.agent_kind,
            prior.step_index + 1,
            prior.output
        );
    }
    text
}

fn rework(context: &StepContext) -> String {
    let Some(rework) = &context.rework else {
        return String::new();
    };
    let mut text = format!(
        "Your last attempt was sent back. Feedback:\n{}\n",
        rework.feedback
    );
    for comment in &rework.comments {
        let at = match (&comment.path, comment.line) {
            (Some(path), Some(line)) => format!("{path}:{line}: "),
            (Some(path), None) => format!("{path}: "),
            _ => String::new(),
        };
        let _ = writeln!(
            text,
            "- {at}{} ({})",
            comment.body,
            comment.severity.as_str()
        );
        if let Some(quote) = &comment.quote {
            let _ = writeln!(text, "  on:\n{quote}");
        }
    }
    text
}

fn decision(context: &StepContext) -> String {
    context
        .chosen_option
        .as_ref()
        .map_or_else(String::new, |chosen| {
            format!(
                "A human answered \"{}\" with: {}.",
                chosen.question, chosen.option
            )
        })
}

fn diff(context: &StepContext) -> String {
    let Some(workspace) = &context.workspace else {
        return String::new();
    };
    if workspace.diff.is_empty() {
        return "Nothing has changed on the branch yet.".to_owned();
    }
    let mut text = format!("The change so far (git diff {}):\n", workspace.base_commit);
    for file in &workspace.diff {
        let _ = writeln!(
            text,
            "--- {} ({}, +{} -{})",
            file.path,
            file.status.as_str(),
            file.insertions,
            file.deletions
        );
        for line in file.hunks.iter().flat_map(|h| h.unified()) {
            let _ = writeln!(text, "{line}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_conflict_resolvers_prompt_names_the_conflicting_paths_the_gate_found() {
        let context: StepContext = serde_json::from_value(serde_json::json!({
            "protocol_version": cattery_protocol::PROTOCOL_VERSION,
            "run_id": "r_1", "job_id": "j_1", "pipeline_id": "build", "step_index": 5,
            "agent_kind": "conflict-resolver", "attempt": 1,
            "block_id": "b_1", "block_title": "Add refunds", "block_description": [],
            "prior_outputs": [{"step_index": 5, "agent_kind": "conflicts",
                "output": "The branch conflicts with its base in: app.py, ledger.py"}]
        }))
        .unwrap();
        let prompt = render(Path::new("/nonexistent"), &context);
        assert!(
            prompt.starts_with("You are the conflict resolver"),
            "{prompt}"
        );
        assert!(prompt.contains("app.py, ledger.py"), "{prompt}");
    }
}

//! `cattery ctl review BLOCK [ACTION]`: the review gate a task's run is
//! parked on, its findings, and the actions a human takes on them.

use super::CtlError;
use crate::client::Client;
use cattery_protocol::review::{ReviewAction, ReviewState};
use cattery_protocol::wire::Call;
use cattery_protocol::{Block, Run};
use clap::Subcommand;

#[derive(Subcommand, Debug, Clone)]
pub enum ReviewCommand {
    /// Answer a finding (it becomes answered).
    Reply { finding: String, text: String },
    /// Mark a finding resolved.
    Resolve { finding: String },
    /// Dismiss a finding as out of scope; the writer keeps it out.
    Dismiss { finding: String },
    /// Put a finding back to open.
    Reopen { finding: String },
    /// Have the writer fold the answers into revised requirements, then
    /// review again; refused while any finding is open.
    Incorporate {
        /// Direction for the writer.
        #[arg(long)]
        feedback: Option<String>,
    },
    /// Accept the requirements as they are and go on.
    Proceed,
    /// At the iteration cap: one more pass (the run stays parked).
    ExtraRound,
    /// At the iteration cap: end the run and put the task back to planned.
    StopReset,
}

impl From<ReviewCommand> for ReviewAction {
    fn from(command: ReviewCommand) -> Self {
        match command {
            ReviewCommand::Reply { finding, text } => Self::Reply { finding, text },
            ReviewCommand::Resolve { finding } => Self::Resolve { finding },
            ReviewCommand::Dismiss { finding } => Self::Dismiss { finding },
            ReviewCommand::Reopen { finding } => Self::Reopen { finding },
            ReviewCommand::Incorporate { feedback } => Self::Incorporate { feedback },
            ReviewCommand::Proceed => Self::Proceed,
            ReviewCommand::ExtraRound => Self::ExtraRound,
            ReviewCommand::StopReset => Self::StopReset,
        }
    }
}

/// Shows the block's review, or applies `action` at the run's current rev
/// and shows the review after it.
pub async fn review(
    client: &mut Client,
    block_id: &str,
    action: Option<ReviewCommand>,
    json: bool,
) -> Result<(), CtlError> {
    let mut run = review_run(client, block_id).await?;
    if let Some(action) = action {
        let call = Call::Review {
            run_id: run.id.clone(),
            rev: run.rev,
            action: action.into(),
        };
        run = client.call_as(call).await?;
    }
    let (index, review) = run
        .review()
        .ok_or_else(|| CtlError::Input(format!("run {} has no review step", run.id)))?;
    if json {
        let value = serde_json::json!({
            "run_id": run.id,
            "rev": run.rev,
            "run_status": run.status,
            "step_index": index,
            "gate_id": run.pending_gate().map(|g| g.id),
            "review": review,
        });
        println!("{value}");
        return Ok(());
    }
    for line in lines(&run, review) {
        println!("{line}");
    }
    Ok(())
}

/// The run of `block_id` that holds a review step.
async fn review_run(client: &mut Client, block_id: &str) -> Result<Run, CtlError> {
    let blocks: Vec<Block> = client.call_as(Call::Board).await?;
    let block = blocks.iter().find(|b| b.id == block_id).ok_or_else(|| {
        CtlError::Input(format!(
            "no block {block_id}; `cattery ctl board` lists them"
        ))
    })?;
    let run_id = block.run_id.clone().ok_or_else(|| {
        CtlError::Input(format!(
            "block {block_id} has no run; start a pipeline with a review step on it"
        ))
    })?;
    let runs: Vec<Run> = client.call_as(Call::Runs).await?;
    runs.into_iter()
        .find(|r| r.id == run_id)
        .ok_or_else(|| CtlError::Input(format!("run {run_id} of block {block_id} is gone")))
}

fn lines(run: &Run, review: &ReviewState) -> Vec<String> {
    let mut lines = vec![format!(
        "{} · run {} ({}) · {} · pass {} of {} · {} open of {}",
        review.spec.subject.label(),
        run.id,
        run.status,
        review.status.label(),
        review.iteration,
        review.max_iterations,
        review.open_count(),
        review.findings.len()
    )];
    for f in &review.findings {
        lines.push(format!(
            "  {}  {:<6} {:<13} {:<9} {}",
            f.id,
            f.severity.as_str(),
            f.category.as_str(),
            f.status.as_str(),
            f.title
        ));
        if f.detail != f.title {
            lines.push(format!("      {}", f.detail));
        }
        if let Some(reply) = &f.reply {
            lines.push(format!("      reply: {reply}"));
        }
    }
    if let Some(document) = &review.document {
        lines.push("revised:".to_owned());
        lines.extend(document.lines().map(|l| format!("  {l}")));
    }
    lines
}

//! What the daemon shows: the board, runs, the inbox, cards, spend. Reads
//! change nothing; the server answers calls and snapshots from these alone.

use super::{Daemon, Result, ServiceError};
use crate::config::Paths;
use crate::notify::Attention;
use cattery_protocol::diff::Diff;
use cattery_protocol::wire::SpendReport;
use cattery_protocol::{Notification, NotificationStatus, PendingGate, Pipeline, Run};
use std::sync::Arc;

/// Everything a subscribing client starts from, as of one committed state.
pub struct Snapshot {
    pub board: Vec<cattery_protocol::Block>,
    pub runs: Vec<Run>,
    pub inbox: Vec<PendingGate>,
    pub notifications: Vec<Notification>,
}

impl Daemon {
    pub fn runs(&self) -> Result<Vec<Run>> {
        Ok(self.store.runs()?)
    }

    /// Runs that may still change: running, blocked or paused.
    pub fn live_runs(&self) -> Result<Vec<Run>> {
        Ok(self.store.live_runs()?)
    }

    /// Gates waiting for a human across all live runs, oldest first.
    pub fn inbox(&self) -> Result<Vec<PendingGate>> {
        Ok(inbox_of(&self.live_runs()?))
    }

    /// Attention cards: the open ones, or with `all` every card.
    pub fn notifications(&self, all: bool) -> Result<Vec<Notification>> {
        Ok(self.store.notifications(all)?)
    }

    /// The board, runs, inbox and open cards read in one transaction.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let stored = self.store.snapshot()?;
        let live: Vec<Run> = stored
            .runs
            .iter()
            .filter(|r| r.status.is_live())
            .cloned()
            .collect();
        Ok(Snapshot {
            board: stored.board,
            inbox: inbox_of(&live),
            runs: stored.runs,
            notifications: stored.notifications,
        })
    }

    /// What the run changed on its branch (base commit to branch tip), or
    /// what step `step` changed, read from the clone's object store.
    pub fn diff(&self, run_id: &str, step: Option<usize>) -> Result<Diff> {
        let run = self.run(run_id)?;
        let Some(worktree) = &run.worktree else {
            return Err(ServiceError::Conflict(format!(
                "run {run_id} has no repository, so it changed no code; point its frame at a clone (`ctl block set FRAME --repo PATH`) and start again"
            )));
        };
        let (from, to) = match step {
            None => (
                worktree.base_commit.clone(),
                crate::git::diff::branch_tip(&worktree.repository, &worktree.branch)?,
            ),
            Some(index) => step_range(&run, index)?,
        };
        let files = crate::git::diff::between(&worktree.repository, &from, &to)?;
        Ok(Diff {
            run_id: run.id.clone(),
            step_index: step,
            from_commit: from,
            to_commit: to,
            files,
        })
    }

    /// A page of a step's stored transcript (the current step by default).
    pub fn logs(
        &self,
        run_id: &str,
        step: Option<usize>,
        offset: u64,
        limit: Option<u32>,
    ) -> Result<cattery_protocol::transcript::LogPage> {
        let run = self.run(run_id)?;
        let step_index = step.unwrap_or(run.current_step);
        let Some(at) = run.steps.get(step_index) else {
            return Err(ServiceError::Invalid(format!(
                "run {run_id} has steps 1 to {}; step {} is not one of them",
                run.steps.len(),
                step_index + 1
            )));
        };
        let limit = limit.map_or(crate::transcript::MAX_PAGE, |l| l as usize);
        let (entries, total) = self
            .transcripts()
            .read(&run.id, step_index, offset, limit)
            .map_err(|e| {
                ServiceError::Unavailable(format!(
                    "cannot read the transcript of run {run_id} step {}: {e}",
                    step_index + 1
                ))
            })?;
        Ok(cattery_protocol::transcript::LogPage {
            run_id: run.id.clone(),
            step_index,
            offset,
            entries,
            total,
            // A pending step of a live run may still write its transcript.
            finished: match at.state {
                cattery_protocol::StepState::Working => false,
                cattery_protocol::StepState::Pending => !run.status.is_live(),
                _ => true,
            },
        })
    }

    pub fn pipelines(&self) -> Vec<Pipeline> {
        self.catalog.pipelines.values().cloned().collect()
    }

    pub fn spend_report(&self) -> SpendReport {
        self.spend.report()
    }

    /// Marks an open card acted on or dismissed.
    pub fn close_card(&self, id: &str, status: NotificationStatus) -> Result<Notification> {
        Ok(self.attention.resolve(id, status)?)
    }

    /// The executor's name: `docker`, `process` or why it is unavailable.
    pub fn executor_name(&self) -> &str {
        self.executor.name()
    }

    /// Engine transitions committed since open, and the SQLite
    /// transactions they took (fewer, under group commit).
    pub fn commit_counts(&self) -> (u64, u64) {
        (self.store.commits(), self.store.transactions())
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The attention inbox, for the escalation sweep and alert wiring.
    pub(crate) fn attention(&self) -> Arc<Attention> {
        Arc::clone(&self.attention)
    }
}

/// The commits step `index` started and ended at.
fn step_range(run: &Run, index: usize) -> Result<(String, String)> {
    let step = run.steps.get(index).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "run {} has no step {index}; its steps are 0 to {}",
            run.id,
            run.steps.len().saturating_sub(1)
        ))
    })?;
    let change = step.change.as_ref().ok_or_else(|| {
        ServiceError::Conflict(format!(
            "step {index} ({}) of run {} has recorded no change: it has not finished yet; ask for the run's diff so far without --step",
            step.agent_kind, run.id
        ))
    })?;
    let to = change.commit.clone().unwrap_or(change.start_commit.clone());
    Ok((change.start_commit.clone(), to))
}

fn inbox_of(live: &[Run]) -> Vec<PendingGate> {
    let mut gates: Vec<_> = live.iter().filter_map(Run::pending_gate).collect();
    gates.sort_by_key(|g| g.since);
    gates
}

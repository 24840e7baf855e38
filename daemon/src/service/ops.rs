//! One method per user-facing operation.

use super::drive;
use super::{Daemon, Planned, Result, ServiceError, retry_lost_cas};
use crate::engine::{self, EngineError};
use crate::store::NewAudit;
use cattery_protocol::review::ReviewAction;
use cattery_protocol::wire::WorktreeInfo;
use cattery_protocol::{
    AuditEntry, Block, BlockLevel, BlockStatus, GateDecision, GateKind, Notification,
    NotificationStatus, NotificationType, Repository, RepositorySpec, Run, RunStatus,
};
use std::sync::Arc;

/// What a new block needs from its creator.
#[derive(Debug, Clone)]
pub struct NewBlock {
    pub level: BlockLevel,
    pub parent_id: Option<String>,
    pub title: String,
    pub description: String,
    /// Only on a frame; checked against the clone before anything is stored.
    pub repository: Option<RepositorySpec>,
}

impl Daemon {
    pub fn add_block(&self, new: NewBlock) -> Result<Block> {
        if new.title.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "a block needs a non-empty title".to_owned(),
            ));
        }
        let block = self.planned_block(new)?;
        self.store.insert_block(&block)?;
        self.events.publish(cattery_protocol::event::Event::Block {
            block: block.clone(),
        });
        Ok(block)
    }

    /// Points a frame at a repository (checked first), or at none.
    pub fn set_repository(&self, block_id: &str, spec: Option<RepositorySpec>) -> Result<Block> {
        let block = self.block(block_id)?;
        let repository = match spec {
            Some(spec) => Some(checked_repository(block.level, &spec)?),
            None => None,
        };
        let block = self
            .store
            .set_repository(&block.id, repository.as_ref(), self.clock.now())?;
        self.events.publish(cattery_protocol::event::Event::Block {
            block: block.clone(),
        });
        Ok(block)
    }

    /// A new planned block with a fresh id, not yet stored; its repository
    /// is checked against the clone.
    pub(super) fn planned_block(&self, new: NewBlock) -> Result<Block> {
        let repository = match &new.repository {
            Some(spec) => Some(checked_repository(new.level, spec)?),
            None => None,
        };
        let now = self.clock.now();
        Ok(Block {
            id: self.ids.mint("b"),
            level: new.level,
            parent_id: new.parent_id,
            title: new.title,
            description: new.description,
            status: BlockStatus::Planned,
            progress: 0.0,
            run_id: None,
            pull_request: None,
            repository,
            estimate: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Accepted decisions, oldest first; a run that does not exist is
    /// refused rather than answered with an empty history.
    pub fn audit(&self, run_id: Option<&str>) -> Result<Vec<AuditEntry>> {
        if let Some(id) = run_id {
            self.run(id)?;
        }
        Ok(self.store.audit_entries(run_id)?)
    }

    pub fn board(&self) -> Result<Vec<Block>> {
        Ok(self.store.blocks()?)
    }

    pub(super) fn block(&self, id: &str) -> Result<Block> {
        self.store
            .block(id)?
            .ok_or_else(|| ServiceError::not_found("block", id, "list the board to see block ids"))
    }

    /// Starts a pipeline on a block, replacing its prior run.
    pub async fn start(
        self: &Arc<Self>,
        block_id: &str,
        pipeline_id: &str,
        actor: &str,
    ) -> Result<Arc<Run>> {
        if let Some(reason) = self.executor.unavailable() {
            return Err(ServiceError::Unavailable(reason));
        }
        let block = self.block(block_id)?;
        let pipeline = self.catalog.pipelines.get(pipeline_id).ok_or_else(|| {
            let known: Vec<_> = self.catalog.pipelines.keys().cloned().collect();
            ServiceError::not_found(
                "pipeline",
                pipeline_id,
                &format!("known pipelines: {}", known.join(", ")),
            )
        })?;
        let claim = self.check_limits(&block, pipeline_id)?;
        let repository = self.frame_repository(&block)?;
        // A start names no rev: the prior run's driver committing at the
        // same moment only means superseding the newer copy.
        retry_lost_cas(|| async {
            let prior = block.run_id.as_deref().map(|id| self.run(id)).transpose()?;
            let mut started = engine::start(&block, pipeline, prior.as_deref(), &self.cx(actor));
            if let Some(repository) = &repository {
                let run = &mut started.run.run;
                let planned =
                    crate::git::plan(repository, &block.title, &run.id, &self.paths.worktrees())
                        .map_err(|e| {
                            ServiceError::Invalid(format!(
                                "{e}; fix the frame's repository (`ctl block set FRAME --repo PATH`) and start again"
                            ))
                        })?;
                run.worktree = Some(planned);
            }
            self.commit_started(None, started, claim.clone()).await
        })
        .await
        .map_err(|e| self.refused_claim(&block, pipeline_id, e))
    }

    /// The repository of the frame above `block` (or of `block` itself).
    /// The providers of the frame `run` works under; none without a frame
    /// repository or when the board cannot be read.
    pub(crate) fn frame_providers(&self, run: &Run) -> Option<cattery_protocol::Providers> {
        let block = self.store.block(&run.block_id).ok().flatten()?;
        let repository = self.frame_repository(&block).ok().flatten()?;
        Some(*repository.providers)
    }

    pub(crate) fn frame_repository(&self, block: &Block) -> Result<Option<Repository>> {
        let mut at = block.clone();
        // Bounded: a board is a tree, but a damaged one must not loop.
        for _ in 0..64 {
            if at.repository.is_some() || at.level == BlockLevel::Frame {
                return Ok(at.repository);
            }
            match at.parent_id.as_deref() {
                Some(parent) => at = self.block(parent)?,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Re-drives runs paused over budget; each pauses again at its next
    /// metered step while the budget is still spent. Returns how many.
    pub fn resume_paused(self: &Arc<Self>) -> Result<usize> {
        let paused: Vec<_> = self
            .store
            .live_runs()?
            .into_iter()
            .filter(|r| r.status == RunStatus::Paused)
            .collect();
        for run in &paused {
            drive::spawn(self, &run.id);
        }
        Ok(paused.len())
    }

    async fn commit_started(
        self: &Arc<Self>,
        previous: Option<Arc<Run>>,
        started: engine::lifecycle::Started,
        claim: Option<crate::store::FrameClaim>,
    ) -> Result<Arc<Run>> {
        let superseded_id = started.superseded.as_ref().map(|t| t.run.id.clone());
        let mut planned = vec![Planned {
            previous: None,
            transition: started.run,
        }];
        if let Some(old) = started.superseded {
            let prior = match previous {
                Some(p) => p,
                None => self.run(&old.run.id)?,
            };
            planned.push(Planned {
                previous: Some(prior),
                transition: old,
            });
        }
        let stored = self.commit_claiming(planned, None, claim).await?;
        if let Some(old) = superseded_id {
            self.signal_stop(&old);
            self.retire(&old);
        }
        let run = stored.into_iter().next().ok_or_else(|| {
            ServiceError::Invalid("the store returned no run for a start".to_owned())
        })?;
        drive::spawn(self, &run.id);
        Ok(run)
    }

    /// Applies a human decision on a gate and re-arms the run.
    pub async fn decide(
        self: &Arc<Self>,
        run_id: &str,
        decision: &GateDecision,
    ) -> Result<Arc<Run>> {
        // Written only if the engine accepts the decision, which it does only
        // when the gate is of the action's kind.
        let audit = NewAudit {
            at: self.clock.now(),
            actor: decision.actor.clone(),
            run_id: run_id.to_owned(),
            gate_id: decision.gate_id.clone(),
            gate_kind: decision.action.gate_kind(),
            choice: decision.action.choice(),
            text: decision.action.text(),
        };
        let (run, _) = self
            .transact(run_id, &decision.actor, Some(audit), |run, cx| {
                engine::decide(run, decision, cx)
            })
            .await
            .map_err(stale_on_conflict)
            .map_err(|e| self.advise_on_current(run_id, e))?;
        if run.status == RunStatus::Running {
            drive::spawn(self, &run.id);
        }
        Ok(run)
    }

    /// A human's action at a review gate (`engine::review::act`), audited
    /// like a decision; a run it sends on is driven again.
    pub async fn review(
        self: &Arc<Self>,
        run_id: &str,
        rev: u64,
        action: &ReviewAction,
        actor: &str,
    ) -> Result<Arc<Run>> {
        let gate_id = self
            .store
            .run(run_id)?
            .and_then(|run| run.pending_gate())
            .map(|gate| gate.id)
            .unwrap_or_default();
        let text = match action {
            ReviewAction::Reply { finding, text } => Some(format!("{finding}: {text}")),
            ReviewAction::Resolve { finding }
            | ReviewAction::Dismiss { finding }
            | ReviewAction::Reopen { finding } => Some(finding.clone()),
            ReviewAction::Incorporate { feedback } => feedback.clone(),
            _ => None,
        };
        let audit = NewAudit {
            at: self.clock.now(),
            actor: actor.to_owned(),
            run_id: run_id.to_owned(),
            gate_id,
            gate_kind: GateKind::Review,
            choice: action.name().to_owned(),
            text,
        };
        let (run, _) = self
            .transact(run_id, actor, Some(audit), |run, cx| {
                engine::review::act(run, rev, action, cx)
            })
            .await
            .map_err(stale_on_conflict)
            .map_err(|e| self.advise_on_current(run_id, e))?;
        if run.status == RunStatus::Running {
            drive::spawn(self, &run.id);
        }
        Ok(run)
    }

    /// Acting on a card does what it asks: a failed-CI or failed-tests
    /// card retries its run (the reference's notification actions); other
    /// cards are marked handled.
    pub async fn act_on_card(self: &Arc<Self>, id: &str, actor: &str) -> Result<Notification> {
        let card = self.close_card(id, NotificationStatus::Acted)?;
        let retries = matches!(
            card.kind,
            NotificationType::CiFailed | NotificationType::TestFailed
        );
        if let (true, Some(run_id)) = (retries, card.run_id.as_deref()) {
            self.retry(run_id, actor).await?;
        }
        let merges = matches!(
            card.kind,
            NotificationType::MergeReview | NotificationType::PipelineComplete
        );
        let pr_ready = self
            .store
            .block(&card.block_id)?
            .is_some_and(|b| b.status == BlockStatus::PrReady);
        if merges && pr_ready {
            self.merge_block(&card.block_id, actor).await?;
        }
        Ok(card)
    }

    /// Merges what the merge policy left to a human (the reference's
    /// `mergePr`): only a `pr_ready` block, through its frame's merge mode.
    pub async fn merge_block(self: &Arc<Self>, block_id: &str, actor: &str) -> Result<Arc<Run>> {
        let block = self
            .store
            .block(block_id)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "block",
                id: block_id.to_owned(),
                hint: String::new(),
            })?;
        let run_id = block
            .run_id
            .clone()
            .filter(|_| block.status == BlockStatus::PrReady);
        let Some(run_id) = run_id else {
            return Err(ServiceError::Conflict(format!(
                "block {block_id} is {}, so there is no pull request or branch to merge (no_pr_to_merge); only a pr_ready block can be merged",
                block.status.label()
            )));
        };
        let run = self.run(&run_id)?;
        let merged = drive::merge_reviewed(self, &run, &block)
            .await
            .map_err(|refusal| ServiceError::Conflict(refusal.to_string()))?;
        let (run, _) = self
            .transact(&run_id, actor, None, move |run, _cx| {
                Ok(engine::Transition::unchanged(run.clone()).with_delivery(merged))
            })
            .await?;
        Ok(run)
    }

    pub async fn retry(self: &Arc<Self>, run_id: &str, actor: &str) -> Result<Arc<Run>> {
        let old = self.run(run_id)?;
        let current = self.current_run(&old)?;
        let mut transition = engine::retry(&old, current.as_deref(), &self.cx(actor))?;
        let claim = self.claim_for(&old)?;
        self.own_worktree(&mut transition.run)?;
        let started = engine::lifecycle::Started {
            run: transition,
            superseded: None,
        };
        let block = self.block(&old.block_id)?;
        self.commit_started(Some(old.clone()), started, claim)
            .await
            .map_err(|e| self.refused_claim(&block, &old.pipeline_id, e))
    }

    pub async fn restart_from(
        self: &Arc<Self>,
        run_id: &str,
        step: usize,
        actor: &str,
    ) -> Result<Arc<Run>> {
        let old = self.run(run_id)?;
        let current = self.current_run(&old)?;
        let mut started = engine::restart_from(&old, current.as_deref(), step, &self.cx(actor))?;
        let claim = self.claim_for(&old)?;
        self.own_worktree(&mut started.run.run)?;
        let block = self.block(&old.block_id)?;
        self.commit_started(Some(old.clone()), started, claim)
            .await
            .map_err(|e| self.refused_claim(&block, &old.pipeline_id, e))
    }

    /// The frame claim a retry or restart of `old` makes: it starts a live
    /// run like a start does, so it counts against the same limits.
    fn claim_for(&self, old: &Run) -> Result<Option<crate::store::FrameClaim>> {
        let block = self.block(&old.block_id)?;
        self.check_limits(&block, &old.pipeline_id)
    }

    /// A refusal about an ended run advises on the block's current run,
    /// the only one that can still be acted on.
    fn advise_on_current(&self, run_id: &str, e: ServiceError) -> ServiceError {
        let ServiceError::Engine(refusal) = e else {
            return e;
        };
        let current = self
            .run(run_id)
            .and_then(|run| self.current_run(&run))
            .ok()
            .flatten();
        match current {
            Some(current) => ServiceError::Engine(refusal.advise_on(&current)),
            None => ServiceError::Engine(refusal),
        }
    }

    /// The run `run`'s block holds now, which alone may be retried or
    /// restarted.
    fn current_run(&self, run: &Run) -> Result<Option<Arc<Run>>> {
        let block = self.block(&run.block_id)?;
        match block.run_id.as_deref() {
            Some(id) if id == run.id => Ok(None),
            Some(id) => Ok(Some(self.run(id)?)),
            None => Ok(None),
        }
    }

    /// A retry or restart works on a branch and folder of its own, made at
    /// the commit the engine chose; the prior run's branch keeps its work.
    fn own_worktree(&self, run: &mut Run) -> Result<()> {
        let Some(worktree) = run.worktree.as_mut() else {
            return Ok(());
        };
        let title = self.block(&run.block_id)?.title;
        worktree.branch = crate::git::branch_name(&title, &run.id);
        worktree.path = self.paths.worktrees().join(&run.id).display().to_string();
        Ok(())
    }

    /// Cancels the block's live run (if any) and plans the block again.
    pub async fn cancel(self: &Arc<Self>, block_id: &str, actor: &str) -> Result<Block> {
        let block = self.block(block_id)?;
        let live = match block.run_id.as_deref() {
            Some(id) => Some(self.run(id)?).filter(|r| r.status.is_live()),
            None => None,
        };
        match live {
            Some(run) => {
                self.transact_latest(&run.id, actor, engine::cancel)
                    .await
                    .map_err(stale_on_conflict)?;
                self.signal_stop(&run.id);
                self.retire(&run.id);
            }
            None => {
                return Err(ServiceError::Conflict(format!(
                    "block {block_id} has no live run to cancel; start one first, or leave it planned"
                )));
            }
        }
        self.block(block_id)
    }

    pub async fn stop(self: &Arc<Self>, run_id: &str, actor: &str) -> Result<Arc<Run>> {
        let (run, _) = self
            .transact_latest(run_id, actor, engine::stop)
            .await
            .map_err(stale_on_conflict)?;
        self.signal_stop(run_id);
        self.retire(run_id);
        Ok(run)
    }

    /// An ended run's driver gives its worktree back as it exits. A run
    /// parked at a gate has no driver, so one is started for it: it finds
    /// the run ended and does only that. A driver still running ignores it.
    fn retire(self: &Arc<Self>, run_id: &str) {
        drive::spawn(self, run_id);
    }

    /// Makes the demo's repository under the data dir, once; its path.
    pub fn demo_repository(&self) -> Result<String> {
        let path = self.paths.demo_repository();
        crate::git::demo::create(&path, crate::config::DEMO_REPOSITORY)?;
        Ok(path.display().to_string())
    }

    /// The folders under the data dir's `worktrees`, with their disk use;
    /// with `prune`, those no live run needs are removed as the start-up
    /// sweep removes them (their branches stay).
    pub fn worktrees(&self, prune: bool) -> Result<Vec<WorktreeInfo>> {
        let root = self.paths.worktrees();
        let folders: Vec<std::path::PathBuf> = match std::fs::read_dir(&root) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(ServiceError::Unavailable(format!(
                    "cannot read {}: {e}",
                    root.display()
                )));
            }
        };
        let mut listed = Vec::new();
        for folder in folders {
            let name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
            let run = name
                .as_deref()
                .and_then(|id| self.store.run(id).ok().flatten());
            listed.push(WorktreeInfo {
                path: folder.display().to_string(),
                needed: run.as_ref().is_some_and(|r| r.status.is_live()),
                run_id: run.as_ref().map(|r| r.id.clone()),
                run_status: run.as_ref().map(|r| r.status),
                branch: crate::git::branch_at(&folder),
                bytes: crate::git::folder_bytes(&folder),
                removed: false,
            });
        }
        if prune {
            let keep = listed
                .iter()
                .filter(|w| w.needed)
                .map(|w| std::path::PathBuf::from(&w.path))
                .collect();
            let removed = crate::git::sweep(&root, &keep);
            for info in &mut listed {
                info.removed = removed.iter().any(|r| r.display().to_string() == info.path);
            }
        }
        Ok(listed)
    }

    /// Re-arms every running run after a start; parked runs stay parked.
    pub async fn resume_all(self: &Arc<Self>) -> Result<usize> {
        let runs = self.store.live_runs()?;
        // Jobs no live run waits on (a result recorded just before a crash,
        // a run cancelled meanwhile) are removed before anything resumes.
        let keep = runs
            .iter()
            .filter_map(|r| r.current().and_then(|s| s.job.as_ref()))
            .map(|job| job.id.clone())
            .collect();
        self.executor.sweep(keep).await;
        // The same for worktrees: only live runs keep theirs.
        let keep_worktrees = runs
            .iter()
            .filter_map(|r| r.worktree.as_ref())
            .map(|w| std::path::PathBuf::from(&w.path))
            .collect();
        let worktrees = self.paths.worktrees();
        let clones: Vec<String> = self
            .store
            .blocks()?
            .into_iter()
            .filter_map(|b| b.repository.map(|r| r.path))
            .collect();
        let swept = tokio::task::spawn_blocking(move || {
            let swept = crate::git::sweep(&worktrees, &keep_worktrees);
            // A daemon killed while removing a worktree can leave git's
            // record of it behind with the folder gone.
            for clone in clones {
                crate::git::recover::prune_records(&clone, &worktrees, &keep_worktrees);
            }
            swept
        })
        .await
        .unwrap_or_default();
        if !swept.is_empty() {
            tracing::info!(count = swept.len(), "removed worktrees no live run needs");
        }
        // Copies of base branches are remade on demand; none outlives a start.
        let trees = self.paths.provider_trees();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(trees)).await;
        self.prune_transcripts().await;
        let live: std::collections::HashSet<String> = runs.iter().map(|r| r.id.clone()).collect();
        let state = self.paths.agent_state();
        let pruned = tokio::task::spawn_blocking(move || prune_agent_state(&state, &live))
            .await
            .unwrap_or_default();
        if pruned > 0 {
            tracing::info!(runs = pruned, "removed agent CLI state no live run needs");
        }
        // A crash between a run's commit and its card write is healed here.
        self.attention.on_runs(&runs);
        let running: Vec<_> = runs
            .into_iter()
            .filter(|r| r.status == RunStatus::Running)
            .collect();
        for run in &running {
            drive::spawn(self, &run.id);
        }
        Ok(running.len())
    }
}

/// A CAS conflict on a human operation means the run moved under the user.
fn stale_on_conflict(e: ServiceError) -> ServiceError {
    match e {
        ServiceError::Store(crate::store::StoreError::Conflict {
            run_id,
            expected,
            found: Some(found),
        }) => ServiceError::Engine(EngineError::Stale {
            run_id,
            seen: expected,
            current: found,
        }),
        other => other,
    }
}

/// A repository a user named for a block: only a frame carries one, and it
/// must be a usable clone (`git::check` says what is wrong otherwise).
fn checked_repository(level: BlockLevel, spec: &RepositorySpec) -> Result<Repository> {
    if level != BlockLevel::Frame {
        return Err(ServiceError::Invalid(format!(
            "only a frame names a repository; this {level} works in its frame's, so set it on the frame"
        )));
    }
    crate::git::check(spec).map_err(|e| ServiceError::Invalid(e.to_string()))
}

/// Removes the agent CLIs' state of every run not in `live`: only a live
/// run's next round can resume a session. Answers how many runs' went.
fn prune_agent_state(root: &std::path::Path, live: &std::collections::HashSet<String>) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let run = entry.file_name().to_string_lossy().into_owned();
        if live.contains(&run) {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(path = %entry.path().display(), "cannot remove agent state: {e}")
            }
        }
    }
    removed
}

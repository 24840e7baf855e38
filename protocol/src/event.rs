//! Change notifications published by the daemon after each committed write.

use crate::agent::LogLevel;
use crate::domain::{Block, Run, StepMetrics};
use crate::{Millis, Notification, PendingGate};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A block was created or changed.
    Block { block: Block },
    /// A run was created or changed; carries the whole committed run,
    /// shared with the daemon's cache rather than copied.
    Run { run: Arc<Run> },
    /// A run changed: only what the transition changed, on top of the
    /// previous rev. Most run changes arrive this way.
    RunPatch { patch: RunPatch },
    /// A run parked on a human gate.
    GateOpened { gate: PendingGate },
    /// A live log line from a working step (not stored in the run).
    StepLog {
        run_id: String,
        step_index: usize,
        at: Millis,
        level: LogLevel,
        line: String,
    },
    /// An attention card was raised, changed, escalated or closed.
    Notification { card: Notification },
    /// No desktop or command could be reached: attached clients should ring
    /// the terminal bell and show this.
    Bell { title: String, body: String },
    /// The daemon became degraded, or recovered.
    Health { health: crate::wire::Health },
    /// Fresh metrics for a working step.
    StepMetrics {
        run_id: String,
        step_index: usize,
        metrics: StepMetrics,
    },
    /// A schedule was added, removed, fired or held: a client showing
    /// schedules asks for them again.
    SchedulesChanged,
}

/// One step of a run, by position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepAt {
    pub index: usize,
    pub step: crate::Step,
}

/// What one committed transition changed in a run: its head, the steps that
/// differ, and the rest only when the rest changed. Applies to the copy at
/// `base_rev`; a client holding another rev asks for a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPatch {
    pub id: String,
    pub base_rev: u64,
    pub rev: u64,
    pub status: crate::RunStatus,
    pub current_step: usize,
    pub updated_at: Millis,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepAt>,
    /// Step outputs appended to the run's output history, when that is all
    /// that changed besides the head and the steps (a step finishing): far
    /// smaller than the whole rest of the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<crate::OutputRecord>,
    /// The whole run without its steps, when anything besides the head and
    /// the steps changed (failure, histories, gates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<Box<Run>>,
}

impl RunPatch {
    /// The patch that turns `old` into `new`; `None` when they are not the
    /// same run or differ in step count (send the whole run then).
    pub fn between(old: &Run, new: &Run) -> Option<Self> {
        if old.id != new.id || old.steps.len() != new.steps.len() {
            return None;
        }
        let steps = new
            .steps
            .iter()
            .enumerate()
            .filter(|(i, step)| old.steps.get(*i) != Some(*step))
            .map(|(index, step)| StepAt {
                index,
                step: step.clone(),
            })
            .collect();
        let appended = new
            .output_history
            .strip_prefix(old.output_history.as_slice())
            .filter(|added| !added.is_empty());
        let rest_changed = old.failure != new.failure
            || old.failure_history != new.failure_history
            || (old.output_history != new.output_history && appended.is_none())
            || old.resolved_gates != new.resolved_gates
            || old.previous_run_id != new.previous_run_id
            || old.pull_request != new.pull_request
            || old.worktree != new.worktree
            || old.delivery != new.delivery
            || old.change != new.change
            || old.block_id != new.block_id
            || old.pipeline_id != new.pipeline_id
            || old.pipeline_name != new.pipeline_name
            || old.initiated_by != new.initiated_by
            || old.created_at != new.created_at;
        let rest = rest_changed.then(|| {
            Box::new(Run {
                steps: Vec::new(),
                ..new.clone()
            })
        });
        let outputs = match (&rest, appended) {
            (None, Some(added)) => added.to_vec(),
            _ => Vec::new(),
        };
        Some(Self {
            id: new.id.clone(),
            base_rev: old.rev,
            rev: new.rev,
            status: new.status,
            current_step: new.current_step,
            updated_at: new.updated_at,
            steps,
            outputs,
            rest,
        })
    }

    /// Applies to `run` if it is the base; false (and `run` untouched) if not.
    pub fn apply(&self, run: &mut Run) -> bool {
        let fits = run.id == self.id
            && run.rev == self.base_rev
            && self.steps.iter().all(|s| s.index < run.steps.len());
        if !fits {
            return false;
        }
        if let Some(rest) = &self.rest {
            let steps = std::mem::take(&mut run.steps);
            *run = Run {
                steps,
                ..(**rest).clone()
            };
        }
        for at in &self.steps {
            run.steps[at.index] = at.step.clone();
        }
        run.output_history.extend(self.outputs.iter().cloned());
        run.rev = self.rev;
        run.status = self.status;
        run.current_step = self.current_step;
        run.updated_at = self.updated_at;
        true
    }
}

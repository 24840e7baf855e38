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
    /// Fresh metrics for a working step.
    StepMetrics {
        run_id: String,
        step_index: usize,
        metrics: StepMetrics,
    },
}

//! The websocket protocol between catteryd and its clients: JSON text
//! frames, each an object with a `type`.

use crate::event::Event;
use crate::{Block, IterationCapChoice, Notification, PendingGate, ReviewComment, Run};
use serde::{Deserialize, Serialize};

/// Largest frame a peer may send; bigger ones are refused.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Must be the first frame.
    Hello {
        protocol_version: u32,
        token: String,
        client: String,
    },
    /// Start (or restart) the event stream: missed events from `since_seq`
    /// when the daemon still has them, else a snapshot.
    Subscribe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_seq: Option<u64>,
    },
    Request {
        id: u64,
        #[serde(flatten)]
        call: Call,
    },
}

/// Every operation a client can ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Call {
    Status,
    /// Stop the daemon gracefully; in-flight jobs are followed again at the next start.
    Shutdown,
    Board,
    Runs,
    Inbox,
    /// The pipelines a run can be started with.
    Pipelines,
    /// Attention cards: the open ones, or with `all` the closed ones too (newest first).
    Notifications {
        #[serde(default)]
        all: bool,
    },
    /// Mark an open card handled.
    Act {
        id: String,
    },
    /// Close an open card without acting on it.
    Dismiss {
        id: String,
    },
    /// Re-drive runs paused by the spend budget; each pauses again if still over it.
    ResumePaused,
    /// Month-to-date spend against the budget.
    Spend,
    /// Accepted human decisions from the append-only audit log, oldest
    /// first: every run's, or one run's.
    Audit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_id: Option<String>,
    },
    AddBlock {
        title: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        parent_id: Option<String>,
        #[serde(default = "task_level")]
        level: crate::BlockLevel,
    },
    Start {
        block_id: String,
        pipeline_id: String,
    },
    Approve {
        gate_id: String,
        rev: u64,
        #[serde(default)]
        edited_proposal: Option<String>,
    },
    RequestChanges {
        gate_id: String,
        rev: u64,
        feedback: String,
        #[serde(default)]
        comments: Vec<ReviewComment>,
    },
    Reject {
        gate_id: String,
        rev: u64,
        reason: String,
    },
    ResolveDecision {
        gate_id: String,
        rev: u64,
        option: String,
    },
    ResolveIterationCap {
        gate_id: String,
        rev: u64,
        choice: IterationCapChoice,
    },
    Retry {
        run_id: String,
    },
    RestartFromStep {
        run_id: String,
        step: usize,
    },
    Cancel {
        block_id: String,
    },
    Stop {
        run_id: String,
    },
}

fn task_level() -> crate::BlockLevel {
    crate::BlockLevel::Task
}

crate::wire_enum! {
    pub enum ErrorCode {
        NotFound = "not_found" / "not found",
        Stale = "stale" / "stale",
        Conflict = "conflict" / "conflict",
        Invalid = "invalid" / "invalid",
        Unavailable = "unavailable" / "unavailable",
        /// The frame itself was malformed or too big.
        BadFrame = "bad_frame" / "bad frame",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

/// Month-to-date spend against the workspace's budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendReport {
    /// `YYYY-MM`, UTC.
    pub month: String,
    pub spent: f64,
    pub budget: f64,
    pub currency: String,
    /// Model calls with no price in config; their cost is unknown, not zero.
    pub unpriced_calls: u64,
    pub over_budget: bool,
}

/// What a daemon says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub daemon_version: String,
    pub protocol_version: u32,
    pub executor: String,
    pub pid: u32,
    pub seq: u64,
    pub live_runs: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        protocol_version: u32,
        daemon_version: String,
        executor: String,
        seq: u64,
    },
    /// The whole state as of `seq`; events after it follow.
    Snapshot {
        seq: u64,
        board: Vec<Block>,
        runs: Vec<Run>,
        inbox: Vec<PendingGate>,
        /// Open attention cards.
        #[serde(default)]
        notifications: Vec<Notification>,
    },
    Event {
        seq: u64,
        event: Event,
    },
    Response {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<WireError>,
    },
    /// Sent every few seconds; `seq` is the newest event number.
    Heartbeat {
        seq: u64,
    },
    /// This client fell behind and was dropped from the stream; subscribe again.
    Resync {
        reason: String,
    },
    /// A frame that was not a request could not be used.
    Error {
        error: WireError,
    },
}

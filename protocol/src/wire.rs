//! The websocket protocol between catteryd and its clients: JSON text
//! frames, each an object with a `type`.

use crate::event::Event;
use crate::{AuditEntry, Block, GateAction, Notification, PendingGate, Pipeline, Run};
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
        /// Only on a frame.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<crate::RepositorySpec>,
    },
    /// Points a frame at a repository, or (with `None`) at none.
    SetRepository {
        block_id: String,
        #[serde(default)]
        repository: Option<crate::RepositorySpec>,
    },
    Start {
        block_id: String,
        pipeline_id: String,
    },
    /// A workspace file's blocks, checked whole and created in one
    /// transaction; blocks whose key is on the board already are skipped.
    Import {
        /// The file's name, for refusals (`demo.toml:12: ...`).
        source: String,
        blocks: Vec<crate::workspace::ImportBlock>,
    },
    /// A human decision on one gate of one run, made at the run's `rev`.
    Decide {
        run_id: String,
        gate_id: String,
        rev: u64,
        action: GateAction,
    },
    /// A human's action on the review gate a run is parked on, made at
    /// the run's `rev`.
    Review {
        run_id: String,
        rev: u64,
        action: crate::review::ReviewAction,
    },
    Retry {
        run_id: String,
    },
    /// Merges a `pr_ready` block's branch (or its pull request) the merge
    /// policy left to a human.
    Merge {
        block_id: String,
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
    /// Makes the demo's git repository under the data dir (once) and
    /// answers its path.
    DemoRepository,
    /// Every schedule, by next fire.
    Schedules,
    /// A new schedule on a frame: a recurring task under it, fired with
    /// `pipeline_id` as `recurrence` allows; first at `first_at`, else one
    /// interval from now.
    AddSchedule {
        frame_id: String,
        pipeline_id: String,
        title: String,
        #[serde(default)]
        description: String,
        recurrence: crate::schedule::Recurrence,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_at: Option<crate::Millis>,
    },
    /// Removes a schedule; its task and runs stay.
    RemoveSchedule {
        id: String,
    },
    /// Fires a schedule now, unless its task's previous run is still live.
    RunSchedule {
        id: String,
    },
    /// A schedule's fires, oldest first.
    ScheduleHistory {
        id: String,
    },
    /// The worktrees under the data dir with their disk use; with `prune`,
    /// those no live run needs are removed (their branches stay).
    Worktrees {
        #[serde(default)]
        prune: bool,
    },
    /// What a run changed on its branch so far, or what one step changed.
    Diff {
        run_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
    },
    /// A step's stored transcript from `offset` (an entry index), at most
    /// `limit` entries; without `step`, the run's current step.
    Logs {
        run_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        #[serde(default)]
        offset: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
}

impl Call {
    /// Whether this call changes anything; a read-only client may send only
    /// the others.
    pub fn mutates(&self) -> bool {
        match self {
            Call::Status
            | Call::Board
            | Call::Runs
            | Call::Inbox
            | Call::Pipelines
            | Call::Notifications { .. }
            | Call::Spend
            | Call::Audit { .. }
            | Call::Diff { .. }
            | Call::Logs { .. }
            | Call::Schedules
            | Call::ScheduleHistory { .. } => false,
            Call::Worktrees { prune } => *prune,
            Call::DemoRepository => true,
            Call::Shutdown
            | Call::Act { .. }
            | Call::Dismiss { .. }
            | Call::ResumePaused
            | Call::AddBlock { .. }
            | Call::SetRepository { .. }
            | Call::Start { .. }
            | Call::Import { .. }
            | Call::Decide { .. }
            | Call::Review { .. }
            | Call::Retry { .. }
            | Call::Merge { .. }
            | Call::RestartFromStep { .. }
            | Call::Cancel { .. }
            | Call::Stop { .. }
            | Call::AddSchedule { .. }
            | Call::RemoveSchedule { .. }
            | Call::RunSchedule { .. } => true,
        }
    }

    /// The decision `action` on an inbox gate, at the rev it was seen at:
    /// the one way the TUI and `ctl` build a decision.
    pub fn decide(gate: &PendingGate, action: GateAction) -> Self {
        Self::Decide {
            run_id: gate.run_id.clone(),
            gate_id: gate.id.clone(),
            rev: gate.rev,
            action,
        }
    }
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
        /// The client greeted with the read-only token and asked for a change.
        ReadOnly = "read_only" / "read-only",
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
    #[serde(default)]
    pub health: Health,
    /// The agent CLIs the configured kinds run, as found at start.
    #[serde(default)]
    pub runners: Vec<RunnerFound>,
    /// Where agents reach the model gateway, if it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayStatus>,
    /// What the daemon warns about while it runs, such as agents that can
    /// reach the vendor keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The model gateway's addresses: on loopback for processes, and on the
/// containers' gateway network, or why containers cannot reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayStatus {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_problem: Option<String>,
}

/// An agent CLI the daemon looked for: its version, or why it is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerFound {
    pub runner: crate::Runner,
    pub binary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The agent kinds that run it.
    pub kinds: Vec<String>,
}

/// Whether the daemon can do everything it should. Degraded, it keeps
/// serving reads and refuses (or holds back) writes until the cause clears,
/// which it watches for by itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    #[default]
    Ok,
    Degraded {
        /// What is wrong and what to do, in one sentence.
        reason: String,
        since: crate::Millis,
    },
}

impl Health {
    pub fn is_degraded(&self) -> bool {
        matches!(self, Self::Degraded { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        protocol_version: u32,
        daemon_version: String,
        executor: String,
        seq: u64,
        #[serde(default)]
        health: Health,
    },
    /// The whole state as of `seq`; events after it follow.
    Snapshot {
        seq: u64,
        #[serde(default)]
        health: Health,
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
        result: Option<Reply>,
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

/// What `resume_paused` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    /// Runs driven again; each pauses again if still over budget.
    pub resumed: usize,
    pub spend: SpendReport,
}

/// The answer to a [`Call`], one variant per shape of answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
pub enum Reply {
    /// The call was carried out and has nothing to show (`shutdown`).
    Done,
    Status(Box<DaemonStatus>),
    Board(Vec<Block>),
    /// The block a call created or changed (`add_block`, `cancel`).
    Block(Box<Block>),
    Runs(Vec<Run>),
    /// The run a call started or changed (`start`, `decide`, `retry`, ...).
    Run(Box<Run>),
    Inbox(Vec<PendingGate>),
    Pipelines(Vec<Pipeline>),
    Notifications(Vec<Notification>),
    /// The card `act` or `dismiss` closed.
    Notification(Box<Notification>),
    Resumed(Resumed),
    Spend(SpendReport),
    Audit(Vec<AuditEntry>),
    Imported(crate::workspace::Imported),
    Diff(Box<crate::diff::Diff>),
    Logs(Box<crate::transcript::LogPage>),
    Worktrees(Vec<WorktreeInfo>),
    /// The path of the demo's repository.
    DemoRepository(String),
    Schedules(Vec<crate::schedule::Schedule>),
    /// The schedule a call made.
    Schedule(Box<crate::schedule::Schedule>),
    ScheduleFires(Vec<crate::schedule::ScheduleFire>),
}

/// One folder under the data dir's `worktrees`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorktreeInfo {
    pub path: String,
    /// The run it was made for (its folder's name), if the daemon knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_status: Option<crate::RunStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Bytes on disk, git's own files in the clone not counted.
    pub bytes: u64,
    /// A live run works in it, so it is never pruned.
    pub needed: bool,
    /// Removed by this call (`prune`).
    #[serde(default)]
    pub removed: bool,
}

/// A type a [`Reply`] can carry; lets a client ask for the answer it expects.
pub trait FromReply: Sized {
    /// The payload, or the reply back when it carries something else.
    fn from_reply(reply: Reply) -> Result<Self, Reply>;
}

/// Lets one macro arm serve boxed and unboxed payloads alike.
trait Unbox<T> {
    fn unbox(self) -> T;
}

impl<T> Unbox<T> for T {
    fn unbox(self) -> T {
        self
    }
}

impl<T> Unbox<T> for Box<T> {
    fn unbox(self) -> T {
        *self
    }
}

macro_rules! from_reply {
    ($($variant:ident => $ty:ty),+ $(,)?) => {
        $(impl FromReply for $ty {
            fn from_reply(reply: Reply) -> Result<Self, Reply> {
                match reply {
                    Reply::$variant(value) => Ok(Unbox::unbox(value)),
                    other => Err(other),
                }
            }
        })+

        impl Reply {
            /// The payload alone, as JSON, for scripts (`ctl --json`).
            pub fn payload(&self) -> Result<serde_json::Value, serde_json::Error> {
                match self {
                    Reply::Done => Ok(serde_json::Value::Null),
                    $(Reply::$variant(value) => serde_json::to_value(value),)+
                }
            }

            /// The variant's name, for an error that got a reply it did not expect.
            pub fn name(&self) -> &'static str {
                match self {
                    Reply::Done => "done",
                    $(Reply::$variant(_) => stringify!($variant),)+
                }
            }
        }
    };
}

from_reply! {
    Status => DaemonStatus,
    Board => Vec<Block>,
    Block => Block,
    Runs => Vec<Run>,
    Run => Run,
    Inbox => Vec<PendingGate>,
    Pipelines => Vec<Pipeline>,
    Notifications => Vec<Notification>,
    Notification => Notification,
    Resumed => Resumed,
    Spend => SpendReport,
    Audit => Vec<AuditEntry>,
    Imported => crate::workspace::Imported,
    Diff => crate::diff::Diff,
    Logs => crate::transcript::LogPage,
    Worktrees => Vec<WorktreeInfo>,
    DemoRepository => String,
    Schedules => Vec<crate::schedule::Schedule>,
    Schedule => crate::schedule::Schedule,
    ScheduleFires => Vec<crate::schedule::ScheduleFire>,
}

//! The board and run model: blocks, pipelines, runs, steps and their gates.

use crate::Millis;
use crate::agent::PullRequest;
use serde::{Deserialize, Serialize};

crate::wire_enum! {
    /// Where a block sits in the board's hierarchy.
    pub enum BlockLevel {
        Frame = "frame" / "frame",
        Module = "module" / "module",
        Task = "task" / "task",
        Epic = "epic" / "epic",
        Initiative = "initiative" / "initiative",
    }
}

crate::wire_enum! {
    pub enum BlockStatus {
        Planned = "planned" / "planned",
        Ready = "ready" / "ready",
        InProgress = "in_progress" / "in progress",
        Blocked = "blocked" / "blocked",
        PrReady = "pr_ready" / "pr ready",
        Done = "done" / "done",
    }
}

crate::wire_enum! {
    /// How a run's branch is finalised by its merger step.
    pub enum MergeMode {
        Branch = "branch" / "branch",
        Local = "local" / "local merge",
        Pr = "pr" / "pull request",
    }
}

impl Default for MergeMode {
    /// Leaving the branch for a human is the one mode that changes nothing
    /// of the user's.
    fn default() -> Self {
        Self::Branch
    }
}

/// A service frame's git repository, as checked by the daemon. The frame's
/// modules and tasks work in it too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    /// Absolute path of a local clone with a working tree.
    pub path: String,
    /// The branch runs start from and finish into.
    pub base: String,
    /// Where pull requests go (`merge = "pr"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default)]
    pub merge: MergeMode,
    #[serde(default, skip_serializing_if = "Providers::is_empty")]
    pub providers: Box<Providers>,
}

/// The commands a frame's delivery gates and built-in tester ask.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Providers {
    /// The `ci` gate's provider: `gh` (the pull request's checks), `local`
    /// (the `checks` below, run on the branch's commit) or a shell command
    /// printing `{"checks":[{name,status,conclusion,url}]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
    /// The `local` CI provider's checks: name → shell command.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<String, String>,
    /// The `post-release-health` gate's provider: a shell command printing
    /// `{"status":"healthy|pending|regressed","signals":[…]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The built-in tester's command, run in the run's worktree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// The merge policy (default `balanced`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_preset: Option<RiskPreset>,
}

impl Providers {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a run's agents work: a branch of their own, made from the base
/// tip when the run started, checked out in a worktree under the daemon's
/// data dir. Recorded with the run before its first agent starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worktree {
    /// The frame's clone.
    pub repository: String,
    pub branch: String,
    pub base: String,
    /// The base tip the task's work started from; a run's diff is taken
    /// against it.
    pub base_commit: String,
    pub path: String,
    /// Where the branch was made when that is not `base_commit`: a retry or
    /// restart starts at the commit recorded before its first fresh step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_commit: Option<String>,
}

impl Worktree {
    /// The commit the run's branch is made at.
    pub fn branch_point(&self) -> &str {
        self.start_commit.as_deref().unwrap_or(&self.base_commit)
    }
}

/// A repository as a user names it; the daemon checks it and fills in the
/// base (the clone's current branch) when it is left out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RepositorySpec {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeMode>,
    #[serde(default, skip_serializing_if = "Providers::is_empty")]
    pub providers: Box<Providers>,
}

/// A card on the board: a service frame, a module or a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub id: String,
    pub level: BlockLevel,
    pub parent_id: Option<String>,
    pub title: String,
    pub description: String,
    pub status: BlockStatus,
    /// Share of the current run's steps that are done, 0..=1.
    pub progress: f64,
    /// The latest run started on this block, live or not.
    pub run_id: Option<String>,
    /// The pull request an agent of the latest run reported opening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
    /// A frame's repository (modules and tasks inherit their frame's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    /// The task's latest estimate, kept across runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<crate::estimate::Estimate>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

crate::wire_enum! {
    /// What an agent does in a pipeline; the engine, the cards and the
    /// block's final status read this, never the agent's name.
    #[derive(Default)]
    pub enum AgentRole {
        /// Makes the work: plans, code, documents.
        #[default]
        Producer = "producer" / "producer",
        /// Grades the step before it (a companion).
        Grader = "grader" / "grader",
        /// Runs the tests; its failure raises a failed-tests card.
        Tester = "tester" / "tester",
        /// Merges the work; a run with one finishes its block as done.
        Merger = "merger" / "merger",
        /// Helps a human decide at a gate, such as a CI check.
        GateHelper = "gate-helper" / "gate helper",
        /// Scores the task (complexity, risk, impact); later steps may be
        /// gated on its estimate.
        Estimator = "estimator" / "estimator",
    }
}

impl AgentRole {
    pub fn is_producer(&self) -> bool {
        *self == Self::Producer
    }

    /// How a kind of this role gets the run's worktree unless agents.toml
    /// says otherwise: those that make changes may write it, those that
    /// judge them only read it.
    pub fn workspace(self) -> WorkspaceMode {
        match self {
            Self::Producer | Self::Tester | Self::GateHelper => WorkspaceMode::ReadWrite,
            Self::Grader | Self::Merger | Self::Estimator => WorkspaceMode::ReadOnly,
        }
    }
}

crate::wire_enum! {
    /// How an agent kind's job runs (`runner` in agents.toml).
    #[derive(Default)]
    pub enum Runner {
        /// A program speaking cattery's JSON lines.
        #[default]
        Command = "command" / "command",
        /// Claude Code headless, through the daemon's gateway.
        ClaudeCode = "claude-code" / "Claude Code",
        /// OpenAI's Codex CLI (`codex exec --json`), through the gateway.
        Codex = "codex" / "Codex",
        /// The frame's test command (`test_command`), run on the worktree;
        /// its exit status and output become a tester's report.
        TestCommand = "test-command" / "test command",
    }
}

crate::wire_enum! {
    /// How an agent kind gets the run's worktree (`workspace` in agents.toml).
    pub enum WorkspaceMode {
        ReadWrite = "rw" / "read-write",
        ReadOnly = "ro" / "read-only",
        /// No worktree at all: the agent works in its job folder.
        None = "none" / "none",
    }
}

/// Automatic grading of a producer step by the step that holds this spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanionSpec {
    /// Agent kind of the producer this step grades.
    pub producer_kind: String,
    pub threshold: f64,
    /// Automatic rework rounds allowed before the run parks at the cap.
    pub max_attempts: u32,
}

/// One step of a pipeline definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    pub agent_kind: String,
    /// What the agent does here; from `role` in agents.toml.
    #[serde(default)]
    pub role: AgentRole,
    #[serde(default)]
    pub requires_approval: bool,
    #[serde(default)]
    pub companion: Option<CompanionSpec>,
    pub timeout_secs: u64,
    /// A polling gate (`gate` in agents.toml) instead of an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<crate::gate::GateSpec>,
    /// A tester's fix loop: its fixer and budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<crate::tester::TestSpec>,
    /// Runs only when the task's estimate meets a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gating: Option<crate::estimate::Gating>,
    /// A requirements or clarity review gate: its writer and cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::review::ReviewSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub steps: Vec<StepSpec>,
}

crate::wire_enum! {
    pub enum RunStatus {
        Running = "running" / "running",
        /// Parked on a human gate.
        Blocked = "blocked" / "blocked",
        /// Spend budget exhausted.
        Paused = "paused" / "paused",
        Done = "done" / "done",
        Failed = "failed" / "failed",
    }
}

impl RunStatus {
    /// Live runs may still change; `done` and `failed` are final.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Running | Self::Blocked | Self::Paused)
    }

    /// The live statuses, for a store that filters on their wire names.
    pub fn live() -> impl Iterator<Item = Self> {
        Self::ALL.iter().copied().filter(|s| s.is_live())
    }
}

crate::wire_enum! {
    pub enum StepState {
        Pending = "pending" / "pending",
        Working = "working" / "working",
        WaitingDecision = "waiting_decision" / "waiting",
        Done = "done" / "done",
    }
}

crate::wire_enum! {
    pub enum SkipReason {
        Gated = "gated" / "gated",
        Condition = "condition" / "condition",
        ProducerSkipped = "producer_skipped" / "producer skipped",
        RunComplete = "run_complete" / "run complete",
        NoPullRequest = "no_pull_request" / "no pull request",
    }
}

/// A question an agent put to a human, with the answers it offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
}

crate::wire_enum! {
    pub enum ApprovalStatus {
        Pending = "pending" / "pending",
        Approved = "approved" / "approved",
        ChangesRequested = "changes_requested" / "changes requested",
        Rejected = "rejected" / "rejected",
    }
}

crate::wire_enum! {
    pub enum CommentSeverity {
        Blocker = "blocker" / "blocker",
        Major = "major" / "major",
        Minor = "minor" / "minor",
    }
}

/// A review remark on a proposal, optionally anchored to quoted text or
/// to a line of the run's code (`path:line`, the line's new number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewComment {
    #[serde(default)]
    pub quote: Option<String>,
    pub severity: CommentSeverity,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl ReviewComment {
    /// Reads `path:line: text` (or `path: text`) as a comment on that line.
    pub fn parse_anchored(text: &str, severity: CommentSeverity) -> Option<Self> {
        let (anchor, body) = text.split_once(": ")?;
        let (path, line) = match anchor.rsplit_once(':') {
            Some((path, line)) => (path, Some(line.parse().ok()?)),
            None => (anchor, None),
        };
        (!path.is_empty() && !body.trim().is_empty()).then(|| Self {
            quote: None,
            severity,
            body: body.trim().to_owned(),
            path: Some(path.to_owned()),
            line,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub status: ApprovalStatus,
    pub proposal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    #[serde(default)]
    pub comments: Vec<ReviewComment>,
}

crate::wire_enum! {
    pub enum ReworkSource {
        Human = "human" / "human",
        Reviewer = "reviewer" / "reviewer",
    }
}

/// What a step must address when it runs again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rework {
    pub previous_proposal: Option<String>,
    pub feedback: String,
    #[serde(default)]
    pub comments: Vec<ReviewComment>,
    pub requested_by: ReworkSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub rating: f64,
    pub threshold: f64,
    pub passed: bool,
    #[serde(default)]
    pub feedback: String,
    #[serde(default)]
    pub comments: Vec<ReviewComment>,
}

/// Live state of a grading step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanionState {
    pub producer_kind: String,
    pub threshold: f64,
    pub max_attempts: u32,
    /// Automatic rework rounds spent so far.
    pub attempts: u32,
    pub verdicts: Vec<Verdict>,
    /// The automatic budget ran out and the run waits at the iteration cap.
    pub exceeded: bool,
    /// Gate id of the open iteration cap, while `exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_gate_id: Option<String>,
    /// Times this round's grading ran again because the grader returned no
    /// grade; a parsed grade sets it back to zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grade_repairs: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// LLM observability rolled up from an agent's `llm_call` lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub completion_tokens: u64,
    pub peak_completion_tokens: u64,
    pub max_output_tokens: u64,
    /// Calls cut off by the output limit (finish reason `length`).
    pub truncated_calls: u64,
    pub upstream_ms: u64,
    pub overhead_ms: u64,
    pub errors: u64,
    pub warnings: u64,
    /// `None` while no price is known for a model that was called.
    pub cost_estimate: Option<f64>,
    pub currency: Option<String>,
    /// The step's latest calls, oldest first, at most [`RECENT_CALLS`]:
    /// what the run view draws per call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_calls: Vec<CallBrief>,
}

/// How many of a step's calls its metrics keep one by one.
pub const RECENT_CALLS: usize = 24;

/// One model call as the run view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallBrief {
    pub prompt_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub completion_tokens: u64,
    pub max_output_tokens: u64,
    pub upstream_ms: u64,
    #[serde(default)]
    pub first_token_ms: u64,
    pub finish_reason: crate::agent::FinishReason,
}

impl CallBrief {
    pub fn of(call: &crate::agent::LlmCall) -> Self {
        Self {
            prompt_tokens: call.prompt_tokens,
            cache_read_tokens: call.cache_read_tokens,
            cache_write_tokens: call.cache_write_tokens,
            completion_tokens: call.completion_tokens,
            max_output_tokens: call.max_output_tokens,
            upstream_ms: call.upstream_ms,
            first_token_ms: call.first_token_ms,
            finish_reason: call.finish_reason,
        }
    }

    /// Every input token the call sent, cached or not.
    pub fn input_tokens(&self) -> u64 {
        self.prompt_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

impl StepMetrics {
    /// The share of the recent calls' input read from the cache.
    pub fn cache_share(&self) -> Option<f64> {
        let input: u64 = self.recent_calls.iter().map(CallBrief::input_tokens).sum();
        let cached: u64 = self.recent_calls.iter().map(|c| c.cache_read_tokens).sum();
        (input > 0).then(|| cached as f64 / input as f64)
    }
}

impl StepMetrics {
    /// True until the step's first model call.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// These metrics with `other`'s calls added after them.
    pub fn absorbing(&self, other: &StepMetrics) -> StepMetrics {
        let mut sum = self.clone();
        sum.calls += other.calls;
        sum.prompt_tokens += other.prompt_tokens;
        sum.cache_read_tokens += other.cache_read_tokens;
        sum.cache_write_tokens += other.cache_write_tokens;
        sum.completion_tokens += other.completion_tokens;
        sum.peak_completion_tokens = sum.peak_completion_tokens.max(other.peak_completion_tokens);
        sum.max_output_tokens = sum.max_output_tokens.max(other.max_output_tokens);
        sum.truncated_calls += other.truncated_calls;
        sum.upstream_ms += other.upstream_ms;
        sum.overhead_ms += other.overhead_ms;
        sum.errors += other.errors;
        sum.warnings += other.warnings;
        // A cost is known only while every call had a price.
        (sum.cost_estimate, sum.currency) = match (self.calls, other.calls) {
            (_, 0) => (self.cost_estimate, self.currency.clone()),
            (0, _) => (other.cost_estimate, other.currency.clone()),
            _ => match (self.cost_estimate, other.cost_estimate) {
                (Some(a), Some(b)) => (Some(a + b), other.currency.clone()),
                _ => (None, None),
            },
        };
        sum.recent_calls.extend(other.recent_calls.iter().cloned());
        let over = sum.recent_calls.len().saturating_sub(RECENT_CALLS);
        sum.recent_calls.drain(..over);
        sum
    }

    /// Peak completion as a share of the output limit; near 1 means truncation risk.
    pub fn headroom_used(&self) -> Option<f64> {
        (self.max_output_tokens > 0)
            .then(|| self.peak_completion_tokens as f64 / self.max_output_tokens as f64)
    }
}

/// The executor-side job a working step waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRef {
    pub id: String,
    /// Executor handle (pid group, container id) once dispatched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<Millis>,
    /// The step's metrics before this job; a job followed again after a
    /// restart replays its whole output on top of these.
    #[serde(default, skip_serializing_if = "StepMetrics::is_empty")]
    pub metrics_at_start: StepMetrics,
    /// The run's branch tip when this job was dispatched: what its change
    /// is measured from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_commit: Option<String>,
    /// The calls the gateway metered for this job so far. Its output is
    /// replayed when a later daemon follows it again; these calls are not,
    /// so they are kept here.
    #[serde(default, skip_serializing_if = "StepMetrics::is_empty")]
    pub metered: StepMetrics,
}

/// What a finished step changed in its run's worktree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepChange {
    /// The commit the step ended at (the daemon's, or the agent's own);
    /// `None` when it changed nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The branch tip the step started from.
    pub start_commit: String,
    pub files: u32,
    pub insertions: u32,
    pub deletions: u32,
}

/// One step of a live run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub agent_kind: String,
    /// A polling gate's state; its helper's jobs run on this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<crate::gate::GateState>,
    /// A tester's fix loop; its fixer's jobs run on this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<crate::tester::TestLoop>,
    /// A merger step's assessment of the change, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_assessment: Option<crate::agent::MergeAssessment>,
    /// The step's estimate gate, as its pipeline set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gating: Option<crate::estimate::Gating>,
    /// A review gate's findings and passes; its writer's jobs run on this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::review::ReviewState>,
    /// What the agent does here; the engine and the cards read this, never
    /// the kind's name. Left out when `producer`, to keep stored steps small.
    #[serde(default, skip_serializing_if = "AgentRole::is_producer")]
    pub role: AgentRole,
    pub state: StepState,
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    pub requires_approval: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companion: Option<CompanionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rework: Option<Rework>,
    #[serde(default, skip_serializing_if = "StepMetrics::is_empty")]
    pub metrics: StepMetrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRef>,
    /// What the step changed in the run's worktree, once it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<StepChange>,
    pub timeout_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// Times this step was started for real work (reworks and retries count).
    pub attempts: u32,
    /// Times a job lost with the daemon or its executor was dispatched again.
    pub recoveries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipReason>,
    /// Things the engine noticed about this step's results and set aside,
    /// such as a decision asked again after a human had answered it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

crate::wire_enum! {
    pub enum FailureKind {
        Preflight = "preflight" / "preflight check failed",
        Dispatch = "dispatch" / "could not start the job",
        Environment = "environment" / "environment problem",
        Evicted = "evicted" / "job evicted",
        HarnessShutdown = "harness_shutdown" / "executor shut down",
        Timeout = "timeout" / "timed out",
        Agent = "agent" / "agent error",
        JobFailed = "job_failed" / "job failed",
        Rejected = "rejected" / "rejected",
        CompanionRejected = "companion_rejected" / "grader rejected",
        Stalled = "stalled" / "stalled",
        StateUnreadable = "state_unreadable" / "state unreadable",
        Cancelled = "cancelled" / "cancelled",
        Unknown = "unknown" / "unknown failure",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub occurred_at: Millis,
    pub step_index: usize,
    /// Set when a person (or a newer run) ended the run on purpose, as
    /// opposed to a failure of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
}

crate::wire_enum! {
    /// How a run was ended on purpose. Retry refuses every kind but `stopped`:
    /// a stopped run is one the user paused for good but may resume, while the
    /// others are work the user (or a newer run) threw away.
    pub enum Cancellation {
        /// `cancel`: the block went back to planned.
        Cancelled = "cancelled" / "cancelled",
        /// `stop-reset` at an iteration cap.
        StopReset = "stop_reset" / "stopped and reset",
        /// `stop`: the job was killed; the run can be retried.
        Stopped = "stopped" / "stopped",
        /// A new run was started on the same block.
        Superseded = "superseded" / "superseded by a newer run",
    }
}

impl Cancellation {
    /// Whether `retry` may bring such a run back.
    pub fn retryable(self) -> bool {
        self == Self::Stopped
    }
}

/// A step output kept for context and audit across reworks and restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRecord {
    pub step_index: usize,
    pub agent_kind: String,
    pub output: String,
    pub recorded_at: Millis,
}

crate::wire_enum! {
    /// Kinds of human gate a blocked run can wait on.
    pub enum GateKind {
        Approval = "approval" / "approval",
        Decision = "decision" / "decision",
        IterationCap = "iteration_cap" / "iteration cap",
        /// A requirements or clarity review: answered with review actions.
        Review = "review" / "review",
    }
}

/// A gate that was closed, kept so a repeated decision is recognised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedGate {
    pub id: String,
    pub kind: GateKind,
    pub step_index: usize,
    pub choice: String,
    pub resolved_at: Millis,
}

/// One execution of a pipeline against a block (`ExecutionInstance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub block_id: String,
    pub pipeline_id: String,
    pub pipeline_name: String,
    pub steps: Vec<Step>,
    pub current_step: usize,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub failure_history: Vec<Failure>,
    pub output_history: Vec<OutputRecord>,
    pub resolved_gates: Vec<ResolvedGate>,
    /// The run this one was retried or restarted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_run_id: Option<String>,
    /// The pull request an agent of this run reported opening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
    /// The run's own branch and worktree, when its frame has a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<Worktree>,
    /// What the run changed so far: its base commit to its branch tip,
    /// as of the last step that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<StepChange>,
    /// What the merger step did with the run's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// The task's estimate: the block's at the start, then what this
    /// run's estimator gave. Gated steps decide on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<crate::estimate::Estimate>,
    pub initiated_by: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Bumped on every write; decisions name the rev they saw.
    pub rev: u64,
}

/// How a run's merger step finalised its branch, by the frame's `merge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Delivery {
    /// `merge = "branch"`: the branch waits for a human.
    Branch {
        branch: String,
        files: u32,
        insertions: u32,
        deletions: u32,
    },
    /// `merge = "local"`: base now points at `commit`.
    Merged {
        base: String,
        commit: String,
        fast_forward: bool,
    },
    /// `merge = "local"` left to the user, because base is checked out at
    /// `at`; `command` merges it there.
    CheckedOut {
        base: String,
        at: String,
        command: String,
    },
    /// `merge = "pr"`: the branch was pushed to `remote` and a pull request
    /// opened (the run's `pull_request`).
    PullRequest { remote: String, url: String },
    /// `merge = "pr"` within the merge policy: the pull request was merged.
    PullRequestMerged { remote: String, url: String },
    /// The merge policy left the merge to a human (a `merge_review` card):
    /// why, which axes went over their ceilings, and the change.
    Review {
        reason: ReviewReason,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exceeded: Vec<String>,
        branch: String,
        files: u32,
        insertions: u32,
        deletions: u32,
        /// The pull request it waits in, for `merge = "pr"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
}

crate::wire_enum! {
    /// Why the merge policy asked a human (the reference's review reasons,
    /// first that applies).
    pub enum ReviewReason {
        AutoMergeDisabled = "auto_merge_disabled" / "auto-merge is off for the frame's risk preset",
        NoAssessment = "no_assessment" / "the merger gave no assessment",
        NoRationale = "no_rationale" / "the merger's assessment has no rationale",
        ExceededThresholds = "exceeded_thresholds" / "the change is over the preset's ceilings",
        MergeFailed = "merge_failed" / "the automatic merge failed",
    }
}

crate::wire_enum! {
    /// A frame's merge policy: whether a merger may merge on its own, and
    /// within which ceilings.
    #[derive(Default)]
    pub enum RiskPreset {
        /// Auto-merge when complexity ≤ 0.5, risk ≤ 0.4 and impact ≤ 0.5.
        #[default]
        Balanced = "balanced" / "balanced",
        /// Every merge goes to a human.
        ManualReview = "manual-review" / "manual review",
    }
}

impl RiskPreset {
    /// Auto-merge on, and its ceilings (complexity, risk, impact), inclusive.
    pub fn ceilings(self) -> Option<[f64; 3]> {
        match self {
            Self::Balanced => Some([0.5, 0.4, 0.5]),
            Self::ManualReview => None,
        }
    }
}

impl Delivery {
    /// Whether the work reached base; otherwise a human has it next.
    pub fn merged(&self) -> bool {
        matches!(self, Self::Merged { .. } | Self::PullRequestMerged { .. })
    }
}

/// The gate a blocked run waits on, as shown in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingGate {
    pub id: String,
    pub kind: GateKind,
    pub run_id: String,
    pub block_id: String,
    pub step_index: usize,
    pub agent_kind: String,
    /// The question, the proposal or the companion's last feedback.
    pub prompt: String,
    pub options: Vec<String>,
    pub rev: u64,
    pub since: Millis,
}

impl Run {
    pub fn current(&self) -> Option<&Step> {
        self.steps.get(self.current_step)
    }

    /// The last step this run reached. A restart may begin there or at any
    /// step before it: each of those passed its gates in this run, while a
    /// later step never ran, so starting there would skip its approvals.
    pub fn last_reached_step(&self) -> usize {
        self.current_step.min(self.steps.len().saturating_sub(1))
    }

    /// Whether any step of this run ever opened `gate_id`, resolved or not.
    pub fn opened_gate(&self, gate_id: &str) -> bool {
        self.steps.iter().any(|s| {
            s.decision.as_ref().is_some_and(|d| d.id == gate_id)
                || s.approval.as_ref().is_some_and(|a| a.id == gate_id)
                || s.companion
                    .as_ref()
                    .and_then(|c| c.cap_gate_id.as_deref())
                    .is_some_and(|id| id == gate_id)
        }) || self.resolved_gates.iter().any(|g| g.id == gate_id)
    }

    /// The run's review step: the current one when it is a review, else
    /// the last one that ran.
    pub fn review(&self) -> Option<(usize, &crate::review::ReviewState)> {
        match self.current().and_then(|s| s.review.as_ref()) {
            Some(review) => Some((self.current_step, review)),
            None => self
                .steps
                .iter()
                .enumerate()
                .rev()
                .find_map(|(i, s)| s.review.as_ref().map(|r| (i, r))),
        }
    }

    /// The one gate this run waits on, when it is blocked.
    pub fn pending_gate(&self) -> Option<PendingGate> {
        if self.status != RunStatus::Blocked {
            return None;
        }
        let step = self.current()?;
        let (id, kind, prompt, options) = gate_of(step)?;
        Some(PendingGate {
            id,
            kind,
            run_id: self.id.clone(),
            block_id: self.block_id.clone(),
            step_index: self.current_step,
            agent_kind: step.agent_kind.clone(),
            prompt,
            options,
            rev: self.rev,
            since: step.finished_at.unwrap_or(self.updated_at),
        })
    }
}

fn gate_of(step: &Step) -> Option<(String, GateKind, String, Vec<String>)> {
    if step.state != StepState::WaitingDecision {
        return None;
    }
    if let Some(cap) = step.companion.as_ref().filter(|c| c.exceeded) {
        let feedback = cap.verdicts.last().map(|v| v.feedback.clone());
        let options = IterationCapChoice::ALL
            .iter()
            .map(|c| c.as_str().to_owned());
        return Some((
            cap.cap_gate_id.clone()?,
            GateKind::IterationCap,
            feedback.unwrap_or_default(),
            options.collect(),
        ));
    }
    if step.review.as_ref().is_some_and(|r| r.status.parked()) {
        let approval = step.approval.as_ref()?;
        return Some((
            approval.id.clone(),
            GateKind::Review,
            approval.proposal.clone(),
            Vec::new(),
        ));
    }
    if let Some(decision) = step.decision.as_ref().filter(|d| d.chosen.is_none()) {
        return Some((
            decision.id.clone(),
            GateKind::Decision,
            decision.question.clone(),
            decision.options.clone(),
        ));
    }
    let approval = step.approval.as_ref()?;
    (approval.status == ApprovalStatus::Pending).then(|| {
        (
            approval.id.clone(),
            GateKind::Approval,
            approval.proposal.clone(),
            Vec::new(),
        )
    })
}

crate::wire_enum! {
    /// The three ways out of an exhausted companion loop.
    pub enum IterationCapChoice {
        /// One more automatic round: the budget grows by one and the producer re-runs.
        ExtraRound = "extra-round" / "extra round",
        /// Accept the producer's current output and go on.
        Proceed = "proceed" / "proceed",
        /// Cancel the run and put the block back to planned.
        StopReset = "stop-reset" / "stop and reset",
    }
}

/// What a human decided at a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum GateAction {
    Approve {
        #[serde(default)]
        edited_proposal: Option<String>,
    },
    RequestChanges {
        feedback: String,
        #[serde(default)]
        comments: Vec<ReviewComment>,
    },
    Reject {
        reason: String,
    },
    ChooseOption {
        option: String,
    },
    ResolveIterationCap {
        choice: IterationCapChoice,
    },
}

impl GateAction {
    /// The gate kind this action can close.
    pub fn gate_kind(&self) -> GateKind {
        match self {
            Self::Approve { .. } | Self::RequestChanges { .. } | Self::Reject { .. } => {
                GateKind::Approval
            }
            Self::ChooseOption { .. } => GateKind::Decision,
            Self::ResolveIterationCap { .. } => GateKind::IterationCap,
        }
    }

    /// Short name written to the audit log.
    pub fn choice(&self) -> String {
        match self {
            Self::Approve { edited_proposal } => match edited_proposal {
                Some(_) => "approve_edited".to_owned(),
                None => "approve".to_owned(),
            },
            Self::RequestChanges { .. } => "request_changes".to_owned(),
            Self::Reject { .. } => "reject".to_owned(),
            Self::ChooseOption { option } => format!("option:{option}"),
            Self::ResolveIterationCap { choice } => choice.as_str().to_owned(),
        }
    }

    /// Free text that goes with the choice, for the audit log.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Approve { edited_proposal } => edited_proposal.clone(),
            Self::RequestChanges { feedback, .. } => Some(feedback.clone()),
            Self::Reject { reason } => Some(reason.clone()),
            Self::ChooseOption { .. } | Self::ResolveIterationCap { .. } => None,
        }
    }
}

/// A human decision on one gate, naming the run revision it was made against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    pub gate_id: String,
    pub rev: u64,
    pub actor: String,
    #[serde(flatten)]
    pub action: GateAction,
}

crate::wire_enum! {
    pub enum NotificationType {
        DecisionRequired = "decision_required" / "decision",
        MergeReview = "merge_review" / "merge review",
        CiFailed = "ci_failed" / "ci failed",
        PipelineComplete = "pipeline_complete" / "finished",
        ReleaseRegression = "release_regression" / "regression",
        TestFailed = "test_failed" / "tests failed",
        BudgetPaused = "budget_paused" / "over budget",
        RequirementReview = "requirement_review" / "requirements",
        ClarityReview = "clarity_review" / "clarity",
        HumanReview = "human_review" / "review",
    }
}

impl NotificationType {
    /// Cards that stand for a run waiting at a gate (the gate is the thing
    /// to act on; the card is how it reaches a human).
    pub const WAITING: [Self; 4] = [
        Self::DecisionRequired,
        Self::MergeReview,
        Self::RequirementReview,
        Self::ClarityReview,
    ];

    pub fn is_waiting(self) -> bool {
        Self::WAITING.contains(&self)
    }
}

crate::wire_enum! {
    pub enum NotificationStatus {
        Open = "open" / "open",
        Acted = "acted" / "acted on",
        Dismissed = "dismissed" / "dismissed",
    }
}

crate::wire_enum! {
    pub enum Severity {
        Normal = "normal" / "normal",
        Urgent = "urgent" / "urgent",
    }
}

/// A card in the attention inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub status: NotificationStatus,
    pub severity: Severity,
    pub block_id: String,
    pub run_id: Option<String>,
    pub title: String,
    pub body: String,
    pub payload: serde_json::Value,
    pub created_at: Millis,
    pub resolved_at: Option<Millis>,
}

/// One accepted human decision, as kept in the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Millis,
    pub actor: String,
    pub run_id: String,
    pub gate_id: String,
    pub gate_kind: GateKind,
    pub choice: String,
    pub text: Option<String>,
}

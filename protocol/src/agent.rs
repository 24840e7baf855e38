//! The agent protocol: the context handed to an agent and the JSON lines it
//! writes back. Shared by every executor so that a line means the same thing
//! from a local process and from a container.

use crate::domain::{CommentSeverity, ReviewComment, Rework, StepMetrics};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    #[serde(other)]
    Other,
}

/// One model call an agent made, as reported on its `llm_call` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmCall {
    pub model: String,
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    #[serde(default)]
    pub max_output_tokens: u64,
    pub finish_reason: FinishReason,
    #[serde(default)]
    pub upstream_ms: u64,
    #[serde(default)]
    pub overhead_ms: u64,
    /// From the request to the answer's first byte (the gateway's view).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_token_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StepMetrics {
    /// Folds one call into the step's running totals, and keeps it among
    /// the most recent calls.
    pub fn record_call(&mut self, call: &LlmCall) {
        if self.recent_calls.len() >= crate::domain::RECENT_CALLS {
            self.recent_calls.remove(0);
        }
        self.recent_calls.push(crate::domain::CallBrief::of(call));
        self.calls += 1;
        self.prompt_tokens += call.prompt_tokens;
        self.completion_tokens += call.completion_tokens;
        self.cache_read_tokens += call.cache_read_tokens;
        self.cache_write_tokens += call.cache_write_tokens;
        self.peak_completion_tokens = self.peak_completion_tokens.max(call.completion_tokens);
        self.max_output_tokens = self.max_output_tokens.max(call.max_output_tokens);
        if call.finish_reason == FinishReason::Length {
            self.truncated_calls += 1;
        }
        self.upstream_ms += call.upstream_ms;
        self.overhead_ms += call.overhead_ms;
    }
}

/// A companion's grading of its producer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub rating: f64,
    #[serde(default)]
    pub feedback: String,
    /// Findings that must be fixed whatever the rating.
    #[serde(default)]
    pub blockers: Vec<String>,
    #[serde(default)]
    pub comments: Vec<ReviewComment>,
}

impl Grade {
    /// Blockers and comments as one list of findings.
    pub fn findings(&self) -> Vec<ReviewComment> {
        let blockers = self.blockers.iter().map(|body| ReviewComment {
            quote: None,
            severity: CommentSeverity::Blocker,
            body: body.clone(),
            path: None,
            line: None,
        });
        blockers.chain(self.comments.iter().cloned()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRequest {
    pub question: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub url: String,
}

/// The last word of a successful agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentResult {
    #[serde(default)]
    pub output: String,
    #[serde(default)]
    pub decision: Option<DecisionRequest>,
    #[serde(default)]
    pub grade: Option<Grade>,
    #[serde(default)]
    pub pull_request: Option<PullRequest>,
    /// A merger's assessment of the change, read by the merge policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_assessment: Option<MergeAssessment>,
    /// A tester's report, read by the tester fix loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_report: Option<Box<TestReport>>,
}

crate::wire_enum! {
    /// How one tested thing went.
    pub enum OutcomeStatus {
        Passed = "passed" / "passed",
        Failed = "failed" / "failed",
        Skipped = "skipped" / "skipped",
    }
}

crate::wire_enum! {
    /// How much a tester's concern matters; high and critical block a release.
    pub enum ConcernSeverity {
        Low = "low" / "low",
        Medium = "medium" / "medium",
        High = "high" / "high",
        Critical = "critical" / "critical",
    }
}

/// One thing a tester tried, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub name: String,
    pub status: OutcomeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Something a tester wants fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestConcern {
    pub title: String,
    #[serde(default)]
    pub detail: String,
    pub severity: ConcernSeverity,
}

/// Why a tester could not test at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestAbort {
    pub reason: String,
}

/// A tester's report (the reference's `testReport`): whether it gives its
/// greenlight, what it tried and what it wants fixed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    #[serde(default)]
    pub greenlight: bool,
    #[serde(default)]
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tested: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<TestOutcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concerns: Vec<TestConcern>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<TestAbort>,
}

/// How safe a change is to merge, as its merger judged it: each axis from
/// 0 (none) to 1 (most), and why. Without a rationale it is not credible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeAssessment {
    pub complexity: f64,
    pub risk: f64,
    pub impact: f64,
    #[serde(default)]
    pub rationale: String,
}

impl MergeAssessment {
    /// Every axis within 0 to 1, and a rationale that says something.
    pub fn is_credible(&self) -> bool {
        let axes = [self.complexity, self.risk, self.impact];
        axes.iter().all(|a| (0.0..=1.0).contains(a)) && !self.rationale.trim().is_empty()
    }
}

/// One structured line from an agent's stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentLine {
    Log {
        #[serde(default = "default_level")]
        level: LogLevel,
        msg: String,
    },
    Progress {
        done: u64,
        total: u64,
        #[serde(default)]
        label: Option<String>,
    },
    LlmCall(LlmCall),
    Result(Box<AgentResult>),
}

fn default_level() -> LogLevel {
    LogLevel::Info
}

impl AgentLine {
    /// Reads one output line. Anything that is not a protocol line, including
    /// malformed JSON, is kept as a log line so nothing the agent said is lost.
    pub fn parse(line: &str, level_for_plain: LogLevel) -> Self {
        let trimmed = line.trim();
        if trimmed.starts_with('{')
            && let Ok(parsed) = serde_json::from_str::<AgentLine>(trimmed)
        {
            return parsed;
        }
        AgentLine::Log {
            level: level_for_plain,
            msg: line.trim_end().to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorOutput {
    pub step_index: usize,
    pub agent_kind: String,
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChosenOption {
    pub question: String,
    pub option: String,
}

/// Everything an agent is told about the step it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepContext {
    pub protocol_version: u32,
    pub run_id: String,
    pub job_id: String,
    pub pipeline_id: String,
    pub step_index: usize,
    pub agent_kind: String,
    /// 1 on the first run of the step; reworks and retries count up.
    pub attempt: u32,
    /// The producer kind this step grades, when it is a companion.
    pub grades: Option<String>,
    pub block_id: String,
    pub block_title: String,
    /// The block description, one element per line, so simple agents can grep it.
    pub block_description: Vec<String>,
    pub prior_outputs: Vec<PriorOutput>,
    pub rework: Option<Rework>,
    pub chosen_option: Option<ChosenOption>,
    /// Where the code is, when the task's frame names a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<Workspace>,
    /// A review gate's pass (1 first) while its reviewer is at work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_pass: Option<u32>,
}

/// The run's code, as its agent finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// The frame's clone.
    pub repository: String,
    pub branch: String,
    pub base: String,
    /// The base tip the task's work started from.
    pub base_commit: String,
    /// The run's worktree as the agent sees it: its working directory, or
    /// `/workspace` in a container (absent when the kind gets none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The run's change so far, base commit to branch tip. Past
    /// [`Workspace::DIFF_LINES`] lines, hunks are left out (`git diff
    /// BASE_COMMIT` in the worktree shows them) and only files and counts stay.
    pub diff: Vec<crate::diff::FileDiff>,
    #[serde(default)]
    pub hunks_left_out: bool,
}

impl Workspace {
    pub const DIFF_LINES: usize = 5_000;
}

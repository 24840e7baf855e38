//! Polling gates: a step that holds its run until something outside the
//! agents says yes (the branch merges cleanly, CI is green, the release is
//! healthy), with a helper agent that repairs what failed. The step keeps
//! the gate's whole state, so a restarted daemon picks it up where it was.

use crate::Millis;
use serde::{Deserialize, Serialize};

crate::wire_enum! {
    /// What a gate checks.
    pub enum GateCheck {
        /// The run's branch merges cleanly with the base tip.
        Conflicts = "conflicts" / "conflicts",
        /// The frame's CI provider reports the branch's checks green.
        Ci = "ci" / "ci",
        /// The frame's release-health provider sees no regression.
        PostReleaseHealth = "post-release-health" / "release health",
    }
}

crate::wire_enum! {
    /// Whether a gate is probing or waiting on its helper.
    pub enum GatePhase {
        Checking = "checking" / "checking",
        Working = "working" / "helper",
    }
}

crate::wire_enum! {
    /// What one probe said.
    pub enum GateVerdict {
        Pass = "pass" / "pass",
        Pending = "pending" / "pending",
        Fail = "fail" / "fail",
    }
}

crate::wire_enum! {
    /// How a helper's job ended, as a gate's attempt log keeps it.
    pub enum HelperOutcome {
        Completed = "completed" / "completed",
        Failed = "failed" / "failed",
    }
}

/// A gate step as the pipeline defines it (agents.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSpec {
    pub kind: GateCheck,
    /// The agent kind that repairs a failing probe; none means a failure
    /// exhausts the gate at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper: Option<String>,
    /// Helper dispatches allowed (0: none).
    pub max_attempts: u32,
    /// Time between probes while the verdict is pending.
    pub poll_secs: u64,
    /// Pending probes in a row before the poll budget is spent.
    pub max_polls: u32,
    /// How long `post-release-health` watches from gate entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_window_secs: Option<u64>,
}

/// One helper round, as the gate logs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateAttempt {
    pub attempt: u32,
    pub at: Millis,
    pub outcome: HelperOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// What the helper was told to fix.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instructions: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_checks: Vec<String>,
    /// The helper's output, or its error.
    pub summary: String,
}

/// A gate step's state, stored with the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateState {
    pub spec: GateSpec,
    pub phase: GatePhase,
    /// Helper dispatches so far.
    pub attempts: u32,
    /// Pending probes since the last helper round (the poll budget counts these).
    #[serde(default)]
    pub polls: u32,
    /// When the next probe is due; none means now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_probe_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verdict: Option<GateVerdict>,
    /// The last probe's words: why it failed, or what it saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_summary: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_checks: Vec<String>,
    /// The branch head the last probe saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// When the gate was first entered; a watch window runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_since: Option<Millis>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempt_log: Vec<GateAttempt>,
    /// The helper's budget ran out while the probe still failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exhausted: bool,
}

impl GateState {
    pub fn new(spec: GateSpec) -> Self {
        Self {
            spec,
            phase: GatePhase::Checking,
            attempts: 0,
            polls: 0,
            next_probe_at: None,
            last_verdict: None,
            last_summary: None,
            failing_checks: Vec::new(),
            head: None,
            watch_since: None,
            attempt_log: Vec::new(),
            exhausted: false,
        }
    }

    /// The agent kind a job of this gate runs: its helper while working.
    pub fn helper_working(&self) -> Option<&str> {
        match self.phase {
            GatePhase::Working => self.spec.helper.as_deref(),
            GatePhase::Checking => None,
        }
    }
}

/// One CI check as a provider reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiCheck {
    pub name: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// Once completed: `success`, `failure`, `neutral`, `skipped`, `stale`, …
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The end of the check's log, for the fixer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
}

/// What a CI provider command prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiReport {
    #[serde(default)]
    pub checks: Vec<CiCheck>,
}

crate::wire_enum! {
    /// A release-health provider's reading.
    pub enum HealthStatus {
        Healthy = "healthy" / "healthy",
        Pending = "pending" / "pending",
        Regressed = "regressed" / "regressed",
    }
}

/// One monitor or SLO a release-health provider watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSignal {
    pub id: String,
    pub name: String,
    /// `ok`, `warn`, `alert` or `no_data`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a release-health provider command prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub status: HealthStatus,
    #[serde(default)]
    pub signals: Vec<HealthSignal>,
}

//! The tester fix loop's state: a tester's report that is not accepted
//! sends a fixer, then the tester runs again, within a budget. Stored on
//! the tester's step, like a gate's state.

use crate::Millis;
use crate::agent::{TestConcern, TestReport};
use crate::gate::HelperOutcome;
use serde::{Deserialize, Serialize};

crate::wire_enum! {
    /// Whether the tester or its fixer is at work.
    pub enum TestPhase {
        Testing = "testing" / "testing",
        Fixing = "fixing" / "fixing",
    }
}

/// A tester step's loop as the pipeline defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    /// The producer kind that fixes what the tester reports.
    pub fixer: String,
    /// Fixer dispatches allowed.
    pub max_attempts: u32,
}

/// One fixer round, as the loop logs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixAttempt {
    pub attempt: u32,
    pub at: Millis,
    pub outcome: HelperOutcome,
    /// The fixer's output, or its error.
    pub summary: String,
    /// The concerns it was handed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concerns: Vec<TestConcern>,
}

/// A tester step's loop state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestLoop {
    pub spec: TestSpec,
    pub phase: TestPhase,
    /// Fixer dispatches so far.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report: Option<TestReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempt_log: Vec<FixAttempt>,
    /// The tester said it could not test at all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
}

impl TestLoop {
    pub fn new(spec: TestSpec) -> Self {
        Self {
            spec,
            phase: TestPhase::Testing,
            attempts: 0,
            last_report: None,
            attempt_log: Vec::new(),
            aborted: false,
        }
    }

    /// The agent kind a job of this step runs: the fixer while fixing.
    pub fn fixer_working(&self) -> Option<&str> {
        match self.phase {
            TestPhase::Fixing => Some(&self.spec.fixer),
            TestPhase::Testing => None,
        }
    }
}

impl TestReport {
    /// Whether any tested thing outright failed.
    pub fn has_failed_outcome(&self) -> bool {
        self.outcomes
            .iter()
            .any(|o| o.status == crate::agent::OutcomeStatus::Failed)
    }

    /// The report as the fixer gets it: the summary, the concerns to fix
    /// and the failed checks.
    pub fn for_fixer(&self) -> String {
        let mut lines = vec![
            "Tester report: fix the concerns below, then the tester runs again.".to_owned(),
            String::new(),
        ];
        if !self.summary.is_empty() {
            lines.extend([self.summary.clone(), String::new()]);
        }
        if !self.concerns.is_empty() {
            lines.push("Concerns to fix:".to_owned());
            for c in &self.concerns {
                lines.push(format!(
                    "- [{}] {}: {}",
                    c.severity.as_str(),
                    c.title,
                    c.detail
                ));
            }
            lines.push(String::new());
        }
        let failed: Vec<_> = self
            .outcomes
            .iter()
            .filter(|o| o.status == crate::agent::OutcomeStatus::Failed)
            .collect();
        if !failed.is_empty() {
            lines.push("Failed checks:".to_owned());
            for o in failed {
                match &o.detail {
                    Some(detail) => lines.push(format!("- {}: {detail}", o.name)),
                    None => lines.push(format!("- {}", o.name)),
                }
            }
        }
        lines.join("\n").trim().to_owned()
    }

    /// One line naming the concerns (at most five), for failure messages.
    pub fn concerns_line(&self) -> String {
        if self.concerns.is_empty() {
            return match self.summary.is_empty() {
                true => "No greenlight given.".to_owned(),
                false => self.summary.clone(),
            };
        }
        let named: Vec<String> = self
            .concerns
            .iter()
            .take(5)
            .map(|c| format!("{} ({})", c.title, c.severity.as_str()))
            .collect();
        let more = if self.concerns.len() > 5 { ", …" } else { "" };
        format!("Concerns: {}{more}", named.join(", "))
    }
}

//! Requirements and clarity review gates (DELIVERY.md §4): a reviewer's
//! findings on a task's requirements or a bug report, which a human works
//! (reply, resolve, dismiss, reopen) before a writer folds the answers into
//! a revised document and the reviewer looks again. Stored on the review
//! step, like a polling gate's state.

use serde::{Deserialize, Serialize};

crate::wire_enum! {
    /// What a review gate reviews.
    pub enum ReviewSubject {
        Requirements = "requirements" / "requirements review",
        Clarity = "clarity" / "bug-report triage",
    }
}

crate::wire_enum! {
    pub enum FindingCategory {
        Gap = "gap" / "gap",
        Clarification = "clarification" / "clarification",
        Assumption = "assumption" / "assumption",
        Risk = "risk" / "risk",
        Question = "question" / "question",
    }
}

crate::wire_enum! {
    pub enum FindingSeverity {
        Low = "low" / "low",
        Medium = "medium" / "medium",
        High = "high" / "high",
    }
}

crate::wire_enum! {
    /// The highest finding severity a run lets pass without a human.
    #[derive(Default)]
    pub enum ConcernThreshold {
        /// Any finding parks the run.
        #[default]
        None = "none" / "none",
        Low = "low" / "low",
        Medium = "medium" / "medium",
        High = "high" / "high",
    }
}

impl FindingSeverity {
    /// The reference's concern rank: none 0, low 1, medium 2, high 3.
    pub fn rank(self) -> u8 {
        match self {
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
        }
    }
}

impl ConcernThreshold {
    pub fn rank(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
        }
    }
}

crate::wire_enum! {
    pub enum FindingStatus {
        Open = "open" / "open",
        /// A human replied; the writer folds the reply in.
        Answered = "answered" / "answered",
        Resolved = "resolved" / "resolved",
        /// Out of scope: the writer keeps it out.
        Dismissed = "dismissed" / "dismissed",
    }
}

impl FindingStatus {
    /// Still counts against the threshold.
    pub fn outstanding(self) -> bool {
        matches!(self, Self::Open | Self::Answered)
    }
}

crate::wire_enum! {
    pub enum ReviewStatus {
        /// The reviewer is at work.
        Reviewing = "reviewing" / "reviewing",
        /// Parked: findings wait on a human.
        Ready = "ready" / "waiting on you",
        /// The writer is folding the answers in.
        Incorporating = "incorporating" / "incorporating",
        /// Parked at the iteration cap.
        Exceeded = "exceeded" / "at the iteration cap",
        /// Done: the run goes on.
        Incorporated = "incorporated" / "incorporated",
    }
}

impl ReviewStatus {
    /// Waits on a human.
    pub fn parked(self) -> bool {
        matches!(self, Self::Ready | Self::Exceeded)
    }
}

/// One thing the reviewer wants a human to react to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub category: FindingCategory,
    pub severity: FindingSeverity,
    pub title: String,
    pub detail: String,
    pub status: FindingStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The reviewer thinks best practice answers it, no owner needed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_answerable: bool,
}

/// A review step as the pipeline defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewSpec {
    pub subject: ReviewSubject,
    /// The kind that folds the answers into a revised document.
    pub writer: String,
    /// Review passes before the gate stops at its cap (the preset's 6).
    pub max_iterations: u32,
    pub concern_threshold: ConcernThreshold,
}

/// A review step's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewState {
    pub spec: ReviewSpec,
    pub status: ReviewStatus,
    /// The pass the findings come from; the first is 1.
    pub iteration: u32,
    /// The cap; an extra round grows it by one.
    pub max_iterations: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The revised document, once a writer wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// What the last revision replaced: the previous revision, or the
    /// task's own description on the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_document: Option<String>,
    /// The human's direction for the writer, with incorporate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// Seeded from a bug investigator's questions: any finding parks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seeded: bool,
}

/// How a review pass ends (`disposeReview`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Pass,
    Park,
    Exceeded,
}

impl ReviewState {
    pub fn new(spec: ReviewSpec) -> Self {
        Self {
            max_iterations: spec.max_iterations,
            spec,
            status: ReviewStatus::Reviewing,
            iteration: 1,
            findings: Vec::new(),
            document: None,
            previous_document: None,
            feedback: None,
            seeded: false,
        }
    }

    /// The kind at work when the writer is.
    pub fn writer_working(&self) -> Option<&str> {
        (self.status == ReviewStatus::Incorporating).then_some(self.spec.writer.as_str())
    }

    pub fn open_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.status == FindingStatus::Open)
            .count()
    }

    /// The threshold in force: a seeded review parks on any finding.
    pub fn threshold(&self) -> ConcernThreshold {
        match self.seeded {
            true => ConcernThreshold::None,
            false => self.spec.concern_threshold,
        }
    }

    /// The reference's disposition: nothing outstanding above the
    /// threshold passes; otherwise the cap decides between parking and
    /// `exceeded`.
    pub fn disposition(&self) -> Disposition {
        let worst = self
            .findings
            .iter()
            .filter(|f| f.status.outstanding())
            .map(|f| f.severity.rank())
            .max();
        match worst {
            Some(rank) if rank > self.threshold().rank() => {
                match self.iteration >= self.max_iterations {
                    true => Disposition::Exceeded,
                    false => Disposition::Park,
                }
            }
            _ => Disposition::Pass,
        }
    }

    /// Whether the writer has anything to fold in (`hasNotesToIncorporate`).
    pub fn has_notes(&self) -> bool {
        self.feedback
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty())
            || self.findings.iter().any(|f| {
                matches!(f.status, FindingStatus::Answered | FindingStatus::Resolved)
                    && f.reply.as_deref().is_some_and(|r| !r.trim().is_empty())
            })
    }

    /// What the reviewer is shown on a later pass: the revised document.
    pub fn for_reviewer(&self) -> Option<String> {
        let document = self.document.as_deref()?;
        Some(format!(
            "Current revised {} (under review; the task description above is the original request):\n\n{document}",
            self.noun()
        ))
    }

    /// The writer's brief: what to fold in and what to keep out.
    pub fn for_writer(&self) -> String {
        let mut lines = Vec::new();
        if let Some(document) = &self.document {
            lines.push(format!("Current revised {}:\n\n{document}\n", self.noun()));
        }
        let answered: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| {
                matches!(f.status, FindingStatus::Answered | FindingStatus::Resolved)
                    && f.reply.as_deref().is_some_and(|r| !r.trim().is_empty())
            })
            .collect();
        if !answered.is_empty() {
            lines.push("Answers to fold in:".to_owned());
            for f in answered {
                lines.push(format!("- Q ({}): {} — {}", f.category, f.title, f.detail));
                lines.push(format!("  A: {}", f.reply.as_deref().unwrap_or("").trim()));
            }
            lines.push(String::new());
        }
        let dismissed: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.status == FindingStatus::Dismissed)
            .collect();
        if !dismissed.is_empty() {
            lines.push("Dismissed as out of scope (do NOT add these):".to_owned());
            lines.extend(dismissed.iter().map(|f| format!("- {}", f.title)));
            lines.push(String::new());
        }
        if let Some(feedback) = self.feedback.as_deref().filter(|f| !f.trim().is_empty()) {
            lines.push(format!(
                "Direction from the human, follow it closely:\n{}\n",
                feedback.trim()
            ));
        }
        lines.push(format!(
            "Rewrite the {} as one self-contained Markdown document that folds in every answer above. Output the document only.",
            self.noun()
        ));
        lines.join("\n")
    }

    /// What is reviewed, as a sentence names it.
    pub fn noun(&self) -> &'static str {
        match self.spec.subject {
            ReviewSubject::Requirements => "requirements",
            ReviewSubject::Clarity => "bug report",
        }
    }
}

/// What a human does at a review gate (`ctl review`, the findings pane).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ReviewAction {
    /// Answers a finding (open → answered).
    Reply {
        finding: String,
        text: String,
    },
    Resolve {
        finding: String,
    },
    Dismiss {
        finding: String,
    },
    /// Back to open.
    Reopen {
        finding: String,
    },
    /// Has the writer fold the answers in; refused while any finding is open.
    Incorporate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        feedback: Option<String>,
    },
    /// Accepts the requirements as they are and goes on.
    Proceed,
    /// At the cap: one more pass, the run stays parked.
    ExtraRound,
    /// At the cap: ends the run and puts the task back to planned.
    StopReset,
}

impl ReviewAction {
    /// Its name, as `ctl review` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reply { .. } => "reply",
            Self::Resolve { .. } => "resolve",
            Self::Dismiss { .. } => "dismiss",
            Self::Reopen { .. } => "reopen",
            Self::Incorporate { .. } => "incorporate",
            Self::Proceed => "proceed",
            Self::ExtraRound => "extra-round",
            Self::StopReset => "stop-reset",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: FindingSeverity, status: FindingStatus) -> Finding {
        Finding {
            id: "f".into(),
            category: FindingCategory::Gap,
            severity,
            title: "t".into(),
            detail: "d".into(),
            status,
            reply: None,
            auto_answerable: false,
        }
    }

    fn state(threshold: ConcernThreshold, findings: Vec<Finding>) -> ReviewState {
        let mut state = ReviewState::new(ReviewSpec {
            subject: ReviewSubject::Requirements,
            writer: "w".into(),
            max_iterations: 2,
            concern_threshold: threshold,
        });
        state.findings = findings;
        state
    }

    #[test]
    fn only_outstanding_findings_above_the_threshold_park_and_the_cap_makes_it_exceeded() {
        use FindingSeverity::*;
        use FindingStatus::*;
        assert_eq!(
            state(ConcernThreshold::None, vec![]).disposition(),
            Disposition::Pass
        );
        let low = vec![finding(Low, Open)];
        assert_eq!(
            state(ConcernThreshold::None, low.clone()).disposition(),
            Disposition::Park
        );
        assert_eq!(
            state(ConcernThreshold::Low, low).disposition(),
            Disposition::Pass
        );
        let dismissed = vec![finding(High, Dismissed), finding(High, Resolved)];
        assert_eq!(
            state(ConcernThreshold::None, dismissed).disposition(),
            Disposition::Pass
        );
        let mut capped = state(ConcernThreshold::Medium, vec![finding(High, Answered)]);
        assert_eq!(capped.disposition(), Disposition::Park);
        capped.iteration = 2;
        assert_eq!(capped.disposition(), Disposition::Exceeded);
        capped.seeded = true;
        capped.findings = vec![finding(Low, Open)];
        assert_eq!(capped.disposition(), Disposition::Exceeded);
    }

    #[test]
    fn the_writer_is_told_the_answers_and_the_dismissals() {
        let mut answered = finding(FindingSeverity::High, FindingStatus::Answered);
        answered.reply = Some("EUR only".into());
        let mut dismissed = finding(FindingSeverity::Low, FindingStatus::Dismissed);
        dismissed.title = "crypto".into();
        let review = state(ConcernThreshold::None, vec![answered, dismissed]);
        assert!(review.has_notes());
        let brief = review.for_writer();
        assert!(brief.contains("A: EUR only"), "{brief}");
        assert!(brief.contains("- crypto"), "{brief}");
        let mut silent = state(
            ConcernThreshold::None,
            vec![finding(FindingSeverity::Low, FindingStatus::Resolved)],
        );
        assert!(!silent.has_notes());
        silent.feedback = Some("shorter".into());
        assert!(silent.has_notes());
    }
}

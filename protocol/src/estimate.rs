//! A task's estimate (complexity, risk, impact in 0..1), written by a
//! `task-estimator` step, and the thresholds that gate later steps on it
//! (DELIVERY.md §5).

use crate::Millis;
use serde::{Deserialize, Serialize};

/// A task's scores, as its estimator last gave them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub complexity: f64,
    pub risk: f64,
    pub impact: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rationale: String,
    pub at: Millis,
}

impl Estimate {
    /// Reads an estimator's reply: the JSON in it (bare or fenced) with all
    /// three axes as numbers, each clamped to 0..1. `None` when any axis is
    /// missing, so an unreadable reply records nothing.
    pub fn coerce(reply: &str, at: Millis) -> Option<Self> {
        let value = crate::text::json_in(reply)?;
        let axis = |name: &str| {
            value
                .get(name)
                .and_then(serde_json::Value::as_f64)
                .filter(|v| v.is_finite())
                .map(|v| v.clamp(0.0, 1.0))
        };
        Some(Self {
            complexity: axis("complexity")?,
            risk: axis("risk")?,
            impact: axis("impact")?,
            rationale: value
                .get("rationale")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            at,
        })
    }

    /// The readable form a step shows in place of the raw reply.
    pub fn summary(&self) -> String {
        let head = format!("**Task estimate**: {}", self.axes_line());
        match self.rationale.trim().is_empty() {
            true => head,
            false => format!("{head}\n\n{}", self.rationale.trim()),
        }
    }

    /// `Complexity 40% · Risk 20% · Impact 70%`.
    pub fn axes_line(&self) -> String {
        let pct = |v: f64| (v * 100.0).round() as i64;
        format!(
            "Complexity {}% · Risk {}% · Impact {}%",
            pct(self.complexity),
            pct(self.risk),
            pct(self.impact)
        )
    }
}

crate::wire_enum! {
    /// What a gated step does when the task has no estimate.
    #[derive(Default)]
    pub enum OnMissingEstimate {
        #[default]
        Run = "run" / "run",
        Skip = "skip" / "skip",
    }
}

/// A pipeline step's estimate gate: the step runs iff any axis with a
/// threshold is at or above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Gating {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_complexity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_risk: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_impact: Option<f64>,
    #[serde(default)]
    pub on_missing_estimate: OnMissingEstimate,
}

impl Gating {
    /// The reference's `shouldRunGatedStep`: with no estimate, as
    /// `on_missing_estimate` says; otherwise run iff any thresholded axis
    /// meets its threshold (so no thresholds at all never runs).
    pub fn runs(&self, estimate: Option<&Estimate>) -> bool {
        let Some(estimate) = estimate else {
            return self.on_missing_estimate == OnMissingEstimate::Run;
        };
        [
            (self.min_complexity, estimate.complexity),
            (self.min_risk, estimate.risk),
            (self.min_impact, estimate.impact),
        ]
        .iter()
        .any(|(threshold, value)| threshold.is_some_and(|t| *value >= t))
    }

    pub fn has_thresholds(&self) -> bool {
        self.min_complexity.is_some() || self.min_risk.is_some() || self.min_impact.is_some()
    }

    /// `complexity ≥ 0.4 or risk ≥ 0.3`, for screens.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("complexity", self.min_complexity),
            ("risk", self.min_risk),
            ("impact", self.min_impact),
        ]
        .iter()
        .filter_map(|(name, t)| t.map(|t| format!("{name} ≥ {t}")))
        .collect();
        parts.join(" or ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(complexity: f64, risk: f64, impact: f64) -> Estimate {
        Estimate {
            complexity,
            risk,
            impact,
            rationale: String::new(),
            at: 0,
        }
    }

    #[test]
    fn an_estimate_is_read_from_prose_clamped_and_needs_all_three_axes() {
        let reply = "Here it is:\n```json\n{\"complexity\": 1.7, \"risk\": -0.2, \"impact\": 0.5, \"rationale\": \"big\"}\n```";
        let found = Estimate::coerce(reply, 5).unwrap();
        assert_eq!(
            (found.complexity, found.risk, found.impact),
            (1.0, 0.0, 0.5)
        );
        assert_eq!(found.rationale, "big");
        assert_eq!(
            found.summary(),
            "**Task estimate**: Complexity 100% · Risk 0% · Impact 50%\n\nbig"
        );
        assert!(
            Estimate::coerce(
                "{\"complexity\": 0.2, \"risk\": \"high\", \"impact\": 0.1}",
                0
            )
            .is_none()
        );
        assert!(Estimate::coerce("no json here", 0).is_none());
    }

    #[test]
    fn a_gated_step_runs_when_any_thresholded_axis_meets_its_threshold() {
        let gating = Gating {
            min_complexity: Some(0.4),
            min_risk: Some(0.3),
            ..Gating::default()
        };
        assert!(gating.runs(Some(&estimate(0.4, 0.0, 0.0))));
        assert!(gating.runs(Some(&estimate(0.0, 0.9, 0.0))));
        assert!(!gating.runs(Some(&estimate(0.39, 0.29, 1.0))));
        assert!(gating.runs(None));
        let skip = Gating {
            on_missing_estimate: OnMissingEstimate::Skip,
            ..gating
        };
        assert!(!skip.runs(None));
        assert!(!Gating::default().runs(Some(&estimate(1.0, 1.0, 1.0))));
    }
}

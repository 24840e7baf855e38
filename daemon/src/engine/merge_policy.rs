//! Whether a merger's change merges on its own (DELIVERY.md §3.2): only
//! with auto-merge on for the frame's risk preset, a credible assessment
//! (a rationale that says something) and every axis at or below its
//! ceiling. Otherwise the first reason that applies goes to a human.

use cattery_protocol::agent::MergeAssessment;
use cattery_protocol::{ReviewReason, RiskPreset};

#[derive(Debug, Clone, PartialEq)]
pub enum MergeCall {
    Merge,
    Review {
        reason: ReviewReason,
        /// The axes over their ceilings, by name.
        exceeded: Vec<String>,
    },
}

fn review(reason: ReviewReason) -> MergeCall {
    MergeCall::Review {
        reason,
        exceeded: Vec::new(),
    }
}

pub fn decide(preset: RiskPreset, assessment: Option<&MergeAssessment>) -> MergeCall {
    let Some(ceilings) = preset.ceilings() else {
        return review(ReviewReason::AutoMergeDisabled);
    };
    let Some(assessment) = assessment else {
        return review(ReviewReason::NoAssessment);
    };
    if assessment.rationale.trim().is_empty() {
        return review(ReviewReason::NoRationale);
    }
    let axes = [
        ("complexity", assessment.complexity),
        ("risk", assessment.risk),
        ("impact", assessment.impact),
    ];
    let exceeded: Vec<String> = axes
        .iter()
        .zip(ceilings)
        .filter(|((_, score), ceiling)| *score > *ceiling)
        .map(|((name, _), _)| (*name).to_owned())
        .collect();
    if exceeded.is_empty() {
        return MergeCall::Merge;
    }
    MergeCall::Review {
        reason: ReviewReason::ExceededThresholds,
        exceeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(complexity: f64, risk: f64, impact: f64, rationale: &str) -> MergeAssessment {
        MergeAssessment {
            complexity,
            risk,
            impact,
            rationale: rationale.into(),
        }
    }

    #[test]
    fn every_axis_at_its_ceiling_merges_because_the_ceilings_are_inclusive() {
        let at = scores(0.5, 0.4, 0.5, "small and tested");
        assert_eq!(decide(RiskPreset::Balanced, Some(&at)), MergeCall::Merge);
    }

    #[test]
    fn one_axis_over_its_ceiling_goes_to_review_naming_it() {
        let over = scores(0.2, 0.41, 0.9, "touches billing");
        assert_eq!(
            decide(RiskPreset::Balanced, Some(&over)),
            MergeCall::Review {
                reason: ReviewReason::ExceededThresholds,
                exceeded: vec!["risk".into(), "impact".into()],
            }
        );
    }

    #[test]
    fn an_empty_rationale_never_merges_and_the_reasons_come_in_the_references_order() {
        let blank = scores(0.0, 0.0, 0.0, "  ");
        assert_eq!(
            decide(RiskPreset::Balanced, Some(&blank)),
            review(ReviewReason::NoRationale)
        );
        assert_eq!(
            decide(RiskPreset::Balanced, None),
            review(ReviewReason::NoAssessment)
        );
        let fine = scores(0.0, 0.0, 0.0, "trivial");
        assert_eq!(
            decide(RiskPreset::ManualReview, Some(&fine)),
            review(ReviewReason::AutoMergeDisabled)
        );
    }
}

//! A CLI agent's final text as the step's result, by two conventions the
//! role prompts teach:
//! - a grader ends with a fenced ```json verdict (`verdict.rs`); without a
//!   valid one the step fails with the text it got;
//! - any agent may raise a decision for a human with a fenced ```decision
//!   block holding `{"question": "...", "options": ["...", "..."]}`
//!   (at least two options); a malformed block fails the step, so a
//!   question is never lost;
//! - a merger ends with a fenced ```json assessment, `{"complexity",
//!   "risk", "impact"}` each from 0 to 1 and a `rationale`; without a
//!   credible one the step still succeeds, with no assessment (the merge
//!   policy then asks a human), and a warning says why;
//! - a tester ends with a fenced ```json test report (`greenlight`,
//!   `summary`, `outcomes`, `concerns` with severities, `abort`), which
//!   drives the fix loop; an unreadable one fails the step (the
//!   reference's "unparseable test report"), and none at all completes it
//!   like any other step, with a warning.

use super::shown;
use cattery_protocol::agent::{AgentLine, AgentResult, DecisionRequest, LogLevel, MergeAssessment};

/// What a job's final text is read as, by its kind's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Plain,
    /// Must end with a verdict.
    Grader,
    /// Ends with a merge assessment, when it can.
    Merger,
    /// Ends with a test report.
    Tester,
}

const DECISION_FENCE: &str = "```decision";

/// The lines a final text stands for: its result, or an error line saying
/// why it stands for none; a merger's missing assessment adds a warning.
pub fn read(text: &str, ending: Ending) -> Vec<AgentLine> {
    let mut result = AgentResult {
        output: text.to_owned(),
        decision: None,
        grade: None,
        pull_request: None,
        merge_assessment: None,
        test_report: None,
    };
    let mut lines = Vec::new();
    match ending {
        Ending::Grader => match super::verdict::read(text) {
            Ok(grade) => result.grade = Some(grade),
            Err(why) => return vec![failure(format!("{why}; the grader said: {}", shown(text)))],
        },
        Ending::Merger => match assessment(text) {
            Ok(found) => result.merge_assessment = Some(found),
            Err(why) => lines.push(AgentLine::Log {
                level: LogLevel::Warn,
                msg: format!("{why}; the merge goes to a human"),
            }),
        },
        Ending::Tester => match test_report(text) {
            Ok(Some(report)) => result.test_report = Some(Box::new(report)),
            Ok(None) => lines.push(AgentLine::Log {
                level: LogLevel::Warn,
                msg: "the tester's final text has no fenced ```json test report; the step completes without the fix loop".to_owned(),
            }),
            Err(why) => return vec![failure(format!("Tester returned an unparseable test report: {why}; it said: {}", shown(text)))],
        },
        Ending::Plain => {}
    }
    match decision(text) {
        Ok(found) => result.decision = found,
        Err(why) => return vec![failure(format!("{why}; the agent said: {}", shown(text)))],
    }
    lines.push(AgentLine::Result(Box::new(result)));
    lines
}

/// A tester's report: the last fenced ```json block of its text.
fn test_report(text: &str) -> Result<Option<cattery_protocol::agent::TestReport>, String> {
    let Some(block) = super::last_fenced(text, "```json") else {
        return Ok(None);
    };
    let block = block.map_err(|()| "its ```json block is not closed".to_owned())?;
    serde_json::from_str(block)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A merger's assessment: the last fenced ```json block of its text.
fn assessment(text: &str) -> Result<MergeAssessment, String> {
    let block = super::last_fenced(text, "```json")
        .ok_or_else(|| "the merger's final text has no fenced ```json assessment".to_owned())?
        .map_err(|()| "the merger's ```json assessment is not closed".to_owned())?;
    let found: MergeAssessment = serde_json::from_str(block)
        .map_err(|e| format!("the merger's assessment is not valid: {e}"))?;
    let axes = [found.complexity, found.risk, found.impact];
    if !axes.iter().all(|a| (0.0..=1.0).contains(a)) {
        return Err(
            "the merger's assessment needs complexity, risk and impact from 0 to 1".to_owned(),
        );
    }
    // Kept without a rationale too: the merge policy names that reason.
    Ok(found)
}

/// The decision block in `text`, if there is one.
fn decision(text: &str) -> Result<Option<DecisionRequest>, String> {
    let Some(block) = super::last_fenced(text, DECISION_FENCE) else {
        return Ok(None);
    };
    let block = block.map_err(|()| "the ```decision block is not closed".to_owned())?;
    let asked: DecisionRequest = serde_json::from_str(block)
        .map_err(|e| format!("the ```decision block is not valid: {e}"))?;
    if asked.question.trim().is_empty() || asked.options.len() < 2 {
        return Err("a ```decision block needs a question and at least two options".to_owned());
    }
    Ok(Some(asked))
}

fn failure(msg: String) -> AgentLine {
    AgentLine::Log {
        level: LogLevel::Error,
        msg,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_testers_json_report_drives_the_fix_loop_and_an_unreadable_one_fails() {
        let text = "Ran it.\n```json\n{\"greenlight\": false, \"summary\": \"refund doubles\", \"concerns\": [{\"title\": \"2x\", \"severity\": \"high\"}]}\n```\n";
        let Some(AgentLine::Result(result)) = read(text, Ending::Tester).pop() else {
            panic!("a result");
        };
        let report = result.test_report.expect("a report");
        assert!(!report.greenlight);
        assert_eq!(report.concerns[0].title, "2x");
        let bad = "```json\n{\"greenlight\": \"yes\"}\n```";
        let Some(AgentLine::Log { msg, .. }) = read(bad, Ending::Tester).pop() else {
            panic!("an error line");
        };
        assert!(
            msg.starts_with("Tester returned an unparseable test report"),
            "{msg}"
        );
        let none = read("All good.", Ending::Tester);
        assert!(matches!(none.last(), Some(AgentLine::Result(r)) if r.test_report.is_none()));
    }

    #[test]
    fn a_decision_block_raises_the_question_with_its_options() {
        let text = "Two ways to go.\n```decision\n{\"question\": \"Keep the v1 API?\", \"options\": [\"keep\", \"drop\"]}\n```\n";
        let Some(AgentLine::Result(result)) = read(text, Ending::Plain).pop() else {
            panic!("no result");
        };
        let asked = result.decision.unwrap();
        assert_eq!(asked.question, "Keep the v1 API?");
        assert_eq!(asked.options, ["keep", "drop"]);
        assert_eq!(result.output, text);
    }

    #[test]
    fn a_malformed_decision_block_fails_rather_than_losing_the_question() {
        for bad in [
            "```decision\n{\"question\": \"Which?\", \"options\": [\"only one\"]}\n```",
            "```decision\n{\"question\": \"Which?\"\n```",
            "```decision\n{\"question\": \"Which?\", \"options\": [\"a\", \"b\"]}",
        ] {
            let Some(AgentLine::Log { level, msg }) = read(bad, Ending::Plain).pop() else {
                panic!("{bad} passed");
            };
            assert_eq!(level, LogLevel::Error);
            assert!(msg.contains("decision"), "{msg}");
        }
    }

    #[test]
    fn plain_text_is_a_plain_result_and_a_grader_needs_its_verdict() {
        assert!(
            matches!(read("done", Ending::Plain).as_slice(), [AgentLine::Result(r)] if r.decision.is_none())
        );
        assert!(matches!(
            read("done", Ending::Grader).as_slice(),
            [AgentLine::Log {
                level: LogLevel::Error,
                ..
            }]
        ));
    }

    #[test]
    fn a_mergers_assessment_is_kept_and_a_missing_or_out_of_range_one_warns_but_succeeds() {
        let text = "Small and tested.\n```json\n{\"complexity\": 0.2, \"risk\": 0.1, \"impact\": 0.3, \"rationale\": \"one function, covered\"}\n```";
        let Some(AgentLine::Result(result)) = read(text, Ending::Merger).pop() else {
            panic!("no result");
        };
        let found = result.merge_assessment.unwrap();
        assert_eq!(
            (found.complexity, found.risk, found.impact),
            (0.2, 0.1, 0.3)
        );
        for weak in [
            "Looks fine.",
            "```json\n{\"complexity\": 0.2, \"risk\": 1.5, \"impact\": 0.3, \"rationale\": \"x\"}\n```",
        ] {
            let lines = read(weak, Ending::Merger);
            assert!(
                matches!(&lines[0], AgentLine::Log { level: LogLevel::Warn, msg } if msg.contains("goes to a human")),
                "{weak}: {lines:?}"
            );
            assert!(
                matches!(&lines[1], AgentLine::Result(r) if r.merge_assessment.is_none()),
                "{weak}"
            );
        }
        let blank = "```json\n{\"complexity\": 0.2, \"risk\": 0.1, \"impact\": 0.3, \"rationale\": \"  \"}\n```";
        let Some(AgentLine::Result(result)) = read(blank, Ending::Merger).pop() else {
            panic!("no result");
        };
        assert!(
            result.merge_assessment.is_some(),
            "kept, so the merge policy can say it has no rationale"
        );
    }
}

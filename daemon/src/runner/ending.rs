//! A CLI agent's final text as the step's result, by two conventions the
//! role prompts teach:
//! - a grader ends with a fenced ```json verdict (`verdict.rs`); without a
//!   valid one the step fails with the text it got;
//! - any agent may raise a decision for a human with a fenced ```decision
//!   block holding `{"question": "...", "options": ["...", "..."]}`
//!   (at least two options); a malformed block fails the step, so a
//!   question is never lost.

use cattery_protocol::agent::{AgentLine, AgentResult, DecisionRequest, LogLevel};

const DECISION_FENCE: &str = "```decision";

/// The result a final text stands for, or an error line saying why it
/// stands for none.
pub fn read(text: &str, grader: bool) -> AgentLine {
    let mut result = AgentResult {
        output: text.to_owned(),
        decision: None,
        grade: None,
        pull_request: None,
    };
    if grader {
        match super::verdict::read(text) {
            Ok(grade) => result.grade = Some(grade),
            Err(why) => return failure(format!("{why}; the grader said: {}", shown(text))),
        }
    }
    match decision(text) {
        Ok(found) => result.decision = found,
        Err(why) => return failure(format!("{why}; the agent said: {}", shown(text))),
    }
    AgentLine::Result(result)
}

/// The decision block in `text`, if there is one.
fn decision(text: &str) -> Result<Option<DecisionRequest>, String> {
    let Some(start) = text.rfind(DECISION_FENCE) else {
        return Ok(None);
    };
    let rest = &text[start + DECISION_FENCE.len()..];
    let end = rest
        .find("```")
        .ok_or_else(|| "the ```decision block is not closed".to_owned())?;
    let asked: DecisionRequest = serde_json::from_str(rest[..end].trim())
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

fn shown(text: &str) -> String {
    let flat = text.replace('\n', " ");
    match flat.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_decision_block_raises_the_question_with_its_options() {
        let text = "Two ways to go.\n```decision\n{\"question\": \"Keep the v1 API?\", \"options\": [\"keep\", \"drop\"]}\n```\n";
        let AgentLine::Result(result) = read(text, false) else {
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
            let AgentLine::Log { level, msg } = read(bad, false) else {
                panic!("{bad} passed");
            };
            assert_eq!(level, LogLevel::Error);
            assert!(msg.contains("decision"), "{msg}");
        }
    }

    #[test]
    fn plain_text_is_a_plain_result_and_a_grader_needs_its_verdict() {
        assert!(matches!(read("done", false), AgentLine::Result(r) if r.decision.is_none()));
        assert!(matches!(
            read("done", true),
            AgentLine::Log {
                level: LogLevel::Error,
                ..
            }
        ));
    }
}

//! Claude Code's `stream-json` lines as cattery's agent lines. Tool uses
//! and assistant text become log lines and progress; the `result` line
//! becomes the step's output, or, when it is an error (even with exit 0),
//! no result at all and an error line carrying the API's message, so the
//! step fails with it. Model calls are not read here: the gateway meters
//! them exactly.

use super::{log, shown};
use cattery_protocol::agent::{AgentLine, LogLevel};
use serde_json::Value;

/// Whether Claude Code kept a session in `state` (its `CLAUDE_CONFIG_DIR`):
/// a conversation file under `projects/`, which `--continue` picks up.
pub fn has_session(state: &std::path::Path) -> bool {
    let Ok(projects) = std::fs::read_dir(state.join("projects")) else {
        return false;
    };
    projects.flatten().any(|project| {
        std::fs::read_dir(project.path()).is_ok_and(|files| {
            files
                .flatten()
                .any(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
        })
    })
}

pub struct Translator {
    max_turns: u64,
    tool_uses: u64,
    /// How the final text is read (a grader's verdict, a merger's
    /// assessment).
    ending: super::ending::Ending,
}

impl Translator {
    pub fn new(max_turns: u64, ending: super::ending::Ending) -> Self {
        Self {
            max_turns,
            tool_uses: 0,
            ending,
        }
    }

    /// The agent lines one line of Claude Code's output stands for.
    pub fn line(&mut self, raw: &str) -> Vec<AgentLine> {
        let Ok(line) = serde_json::from_str::<Value>(raw) else {
            return vec![log(LogLevel::Info, shown(raw))];
        };
        match (line["type"].as_str(), line["subtype"].as_str()) {
            (Some("system"), Some("init")) => vec![log(
                LogLevel::Info,
                format!(
                    "claude-code {} on {}",
                    line["claude_code_version"].as_str().unwrap_or("?"),
                    line["model"].as_str().unwrap_or("?")
                ),
            )],
            (Some("system"), Some("api_retry")) => vec![log(
                LogLevel::Warn,
                format!(
                    "the model API answered {} ({}); retry {} of {}",
                    line["error_status"],
                    line["error"].as_str().unwrap_or("error"),
                    line["attempt"],
                    line["max_retries"]
                ),
            )],
            (Some("assistant"), _) => self.assistant(&line["message"]["content"]),
            (Some("user"), _) => tool_errors(&line["message"]["content"]),
            (Some("result"), _) => self.result(&line),
            _ => Vec::new(),
        }
    }

    fn assistant(&mut self, content: &Value) -> Vec<AgentLine> {
        let mut lines = Vec::new();
        for block in content.as_array().into_iter().flatten() {
            match block["type"].as_str() {
                Some("text") => {
                    let text = block["text"].as_str().unwrap_or_default();
                    if !text.trim().is_empty() {
                        lines.push(log(LogLevel::Info, shown(text)));
                    }
                }
                Some("tool_use") => {
                    self.tool_uses += 1;
                    let name = block["name"].as_str().unwrap_or("tool");
                    lines.push(log(
                        LogLevel::Info,
                        format!("▸ {name} {}", shown(&block["input"].to_string())),
                    ));
                    lines.push(AgentLine::Progress {
                        done: self.tool_uses.min(self.max_turns),
                        total: self.max_turns.max(1),
                        label: Some(format!("{name} ({} tool uses)", self.tool_uses)),
                    });
                }
                _ => {}
            }
        }
        lines
    }

    fn result(&self, line: &Value) -> Vec<AgentLine> {
        let text = line["result"].as_str().unwrap_or_default().to_owned();
        if line["is_error"].as_bool() != Some(false) {
            let errors: Vec<String> = line["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect();
            let status = line["api_error_status"]
                .as_u64()
                .map_or_else(String::new, |s| format!(" (API status {s})"));
            let why = [text.clone(), errors.join("; ")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            // An API failure says `success` as its subtype; its terminal
            // reason says what it was.
            let kind = line["terminal_reason"]
                .as_str()
                .or(line["subtype"].as_str().filter(|s| *s != "success"))
                .unwrap_or("an error");
            return vec![log(
                LogLevel::Error,
                format!("claude-code ended with {kind}{status}: {why}"),
            )];
        }
        super::ending::read(&text, self.ending)
    }
}

fn tool_errors(content: &Value) -> Vec<AgentLine> {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["is_error"].as_bool() == Some(true))
        .map(|block| {
            let said = match &block["content"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            log(LogLevel::Warn, format!("a tool failed: {}", shown(&said)))
        })
        .collect()
}

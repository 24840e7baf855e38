//! OpenAI's Codex CLI: `codex exec --json` pointed at the daemon's gateway
//! through a provider of its own (Codex ignores `OPENAI_BASE_URL`), and its
//! JSONL events read as cattery's agent lines. Commands and file changes
//! become log lines and progress, the last agent message the output, and
//! `turn.failed` an error line with the API's message. Model calls are
//! metered by the gateway, not read from `turn.completed`.

use super::{log, shown};
use crate::config::{AgentDef, CliRunner};
use cattery_protocol::agent::{AgentLine, LogLevel, StepContext};
use serde_json::Value;
use std::path::Path;

/// The provider id the command line defines.
const PROVIDER: &str = "cattery";
/// The variable Codex reads the provider's key from: the job's token.
pub const KEY_VARIABLE: &str = "OPENAI_API_KEY";

/// How one job runs Codex.
pub struct Runner<'a> {
    pub cli: &'a CliRunner,
    pub agent: &'a AgentDef,
    /// The gateway's OpenAI address as the agent reaches it (ends in `/v1`).
    pub openai_base: &'a str,
    /// Its writable state folder as the agent sees it (`CODEX_HOME`).
    pub state: &'a str,
    /// In a container, the container's isolation replaces Codex's own
    /// sandbox, which needs user namespaces.
    pub in_container: bool,
}

impl Runner<'_> {
    /// The command line and environment that run Codex on the step.
    pub fn command(
        &self,
        context: &StepContext,
        prompts: &Path,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let cli = self.cli;
        let mut argv: Vec<String> = [cli.binary.as_str(), "exec", "--json", "--ephemeral"]
            .map(str::to_owned)
            .to_vec();
        argv.push("--skip-git-repo-check".to_owned());
        let sandbox = match (self.in_container, self.agent.workspace) {
            (true, _) => None,
            (false, cattery_protocol::WorkspaceMode::ReadWrite) => Some("workspace-write"),
            (false, _) => Some("read-only"),
        };
        match sandbox {
            Some(mode) => argv.extend(["--sandbox".to_owned(), mode.to_owned()]),
            None => argv.push("--dangerously-bypass-approvals-and-sandbox".to_owned()),
        }
        if let Some(model) = &cli.model {
            argv.extend(["-m".to_owned(), model.clone()]);
        }
        let provider = format!(
            "model_providers.{PROVIDER}={{name=\"{PROVIDER}\",base_url=\"{}\",env_key=\"{KEY_VARIABLE}\",wire_api=\"responses\",request_max_retries={r},stream_max_retries={r}}}",
            self.openai_base,
            r = cli.max_retries
        );
        for setting in [format!("model_provider={PROVIDER}"), provider] {
            argv.extend(["-c".to_owned(), setting]);
        }
        argv.push("--".to_owned());
        argv.push(super::prompt::render(prompts, context));
        let env = vec![("CODEX_HOME".to_owned(), self.state.to_owned())];
        (argv, env)
    }
}

pub struct Translator {
    commands: u64,
    ending: super::ending::Ending,
    /// The newest agent message: the output once the turn completes.
    last_message: Option<String>,
}

impl Translator {
    pub fn new(ending: super::ending::Ending) -> Self {
        Self {
            commands: 0,
            ending,
            last_message: None,
        }
    }

    /// The agent lines one line of Codex's output stands for.
    pub fn line(&mut self, raw: &str) -> Vec<AgentLine> {
        let Ok(event) = serde_json::from_str::<Value>(raw) else {
            return vec![log(LogLevel::Info, shown(raw))];
        };
        match event["type"].as_str() {
            Some("thread.started") => vec![log(
                LogLevel::Info,
                format!(
                    "codex session {}",
                    event["thread_id"].as_str().unwrap_or("?")
                ),
            )],
            Some("item.started") => self.started(&event["item"]),
            Some("item.completed") => self.completed(&event["item"]),
            // Top-level errors are the CLI's retries; the fatal one is
            // `turn.failed`.
            Some("error") => vec![log(
                LogLevel::Warn,
                format!("codex: {}", event["message"].as_str().unwrap_or("an error")),
            )],
            Some("turn.failed") => vec![log(
                LogLevel::Error,
                format!(
                    "codex ended with an error: {}",
                    event["error"]["message"].as_str().unwrap_or("no message")
                ),
            )],
            Some("turn.completed") => match self.last_message.take() {
                Some(text) => super::ending::read(&text, self.ending),
                None => vec![log(
                    LogLevel::Error,
                    "codex finished its turn without a final message".to_owned(),
                )],
            },
            _ => Vec::new(),
        }
    }

    fn started(&mut self, item: &Value) -> Vec<AgentLine> {
        if item["type"].as_str() != Some("command_execution") {
            return Vec::new();
        }
        self.commands += 1;
        let command = item["command"].as_str().unwrap_or("?");
        vec![
            log(LogLevel::Info, format!("▸ {}", shown(command))),
            AgentLine::Progress {
                done: self.commands,
                total: self.commands + 1,
                label: Some(format!("{} commands", self.commands)),
            },
        ]
    }

    fn completed(&mut self, item: &Value) -> Vec<AgentLine> {
        match item["type"].as_str() {
            Some("agent_message") => {
                let text = item["text"].as_str().unwrap_or_default().to_owned();
                let shown = log(LogLevel::Info, shown(&text));
                self.last_message = Some(text);
                vec![shown]
            }
            Some("command_execution") => {
                let code = item["exit_code"].as_i64();
                let level = match code {
                    Some(0) => LogLevel::Info,
                    _ => LogLevel::Warn,
                };
                vec![log(
                    level,
                    format!(
                        "  exit {}",
                        code.map_or_else(|| "?".to_owned(), |c| c.to_string())
                    ),
                )]
            }
            Some("file_change") => {
                let paths: Vec<&str> = item["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["path"].as_str())
                    .collect();
                vec![log(
                    LogLevel::Info,
                    format!("▸ edited {}", paths.join(", ")),
                )]
            }
            Some("error") => vec![log(
                LogLevel::Warn,
                format!("codex: {}", item["message"].as_str().unwrap_or("an error")),
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lines(events: &[&str], grader: bool) -> Vec<AgentLine> {
        let ending = match grader {
            true => crate::runner::ending::Ending::Grader,
            false => crate::runner::ending::Ending::Plain,
        };
        let mut t = Translator::new(ending);
        events.iter().flat_map(|e| t.line(e)).collect()
    }

    #[test]
    fn the_last_agent_message_becomes_the_output_when_the_turn_completes() {
        let out = lines(
            &[
                r#"{"type":"thread.started","thread_id":"t-1"}"#,
                r#"{"type":"item.started","item":{"id":"i1","type":"command_execution","command":"bash -lc 'echo hi > a.txt'","status":"in_progress"}}"#,
                r#"{"type":"item.completed","item":{"id":"i1","type":"command_execution","command":"x","exit_code":0,"status":"completed"}}"#,
                r#"{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"first"}}"#,
                r#"{"type":"item.completed","item":{"id":"i3","type":"agent_message","text":"Wrote a.txt."}}"#,
                r#"{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":2}}"#,
            ],
            false,
        );
        let AgentLine::Result(result) = out.last().unwrap() else {
            panic!("{out:?}");
        };
        assert_eq!(result.output, "Wrote a.txt.");
        assert!(
            out.iter()
                .any(|l| matches!(l, AgentLine::Log { msg, .. } if msg.contains("echo hi")))
        );
        assert!(
            out.iter()
                .any(|l| matches!(l, AgentLine::Progress { done: 1, .. }))
        );
    }

    #[test]
    fn a_failed_turn_is_an_error_with_the_apis_message_and_no_result() {
        let out = lines(
            &[
                r#"{"type":"error","message":"Reconnecting... 1/2 (unexpected status 401)"}"#,
                r#"{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: bad key"}}"#,
            ],
            false,
        );
        assert!(!out.iter().any(|l| matches!(l, AgentLine::Result(_))));
        let Some(AgentLine::Log { level, msg }) = out.last() else {
            panic!("{out:?}");
        };
        assert_eq!(*level, LogLevel::Error);
        assert!(msg.contains("bad key"), "{msg}");
    }

    #[test]
    fn a_grader_without_a_verdict_fails_with_its_text() {
        let out = lines(
            &[
                r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"looks fine"}}"#,
                r#"{"type":"turn.completed","usage":{}}"#,
            ],
            true,
        );
        assert!(
            matches!(out.last(), Some(AgentLine::Log { level: LogLevel::Error, msg }) if msg.contains("looks fine"))
        );
    }
}

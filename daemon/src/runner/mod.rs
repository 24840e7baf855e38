//! Runners: how an agent kind's job is started and how its output is read.
//! `command` is cattery's own JSON-line protocol; `claude-code` runs Claude
//! Code headless against the daemon's gateway, with the role prompt, and
//! reads its `stream-json` (`claude.rs`). Graders end with a verdict
//! (`verdict.rs`); prompts come from templates (`prompt.rs`).

pub mod claude;
pub mod prompt;
pub mod verdict;

use crate::config::{AgentDef, ClaudeCli};
use cattery_protocol::agent::StepContext;
use std::path::Path;

/// Read-only tools, for kinds that must not edit the worktree.
const READ_ONLY_TOOLS: &str = "Read,Grep,Glob";
const EDIT_TOOLS: &str = "Bash,Edit,Write,Read,Grep,Glob";

/// The command line and environment that run `cli` on the step in
/// `context`: headless, streaming, bounded in turns, the prompt after `--`
/// (a tool list would swallow it otherwise), its state in the job folder.
pub fn claude_command(
    cli: &ClaudeCli,
    agent: &AgentDef,
    context: &StepContext,
    prompts: &Path,
    workdir: &Path,
) -> (Vec<String>, Vec<(String, String)>) {
    let tools = match agent.workspace {
        cattery_protocol::WorkspaceMode::ReadWrite => EDIT_TOOLS,
        _ => READ_ONLY_TOOLS,
    };
    let mut argv: Vec<String> = [
        cli.binary.as_str(),
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--permission-mode",
        "acceptEdits",
    ]
    .map(str::to_owned)
    .to_vec();
    argv.extend(["--max-turns".to_owned(), cli.max_turns.to_string()]);
    if let Some(model) = &cli.model {
        argv.extend(["--model".to_owned(), model.clone()]);
    }
    argv.push(format!("--allowedTools={tools}"));
    argv.push("--".to_owned());
    argv.push(prompt::render(prompts, context));
    let env = [
        (
            "CLAUDE_CONFIG_DIR",
            workdir.join("claude").display().to_string(),
        ),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
        ("CLAUDE_CODE_MAX_RETRIES", cli.max_retries.to_string()),
        ("DISABLE_AUTOUPDATER", "1".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec();
    (argv, env)
}

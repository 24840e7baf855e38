//! Runners: how an agent kind's job is started and how its output is read.
//! `command` is cattery's own JSON-line protocol; `claude-code` runs Claude
//! Code headless against the daemon's gateway, with the role prompt, and
//! reads its `stream-json` (`claude.rs`). Graders end with a verdict
//! (`verdict.rs`); prompts come from templates (`prompt.rs`).

pub mod claude;
pub mod codex;
pub mod ending;
pub mod prompt;
pub mod verdict;

use crate::config::{AgentDef, CliRunner};
use cattery_protocol::agent::StepContext;
use std::path::Path;

/// Each CLI binary the catalog's kinds run, with those kinds.
pub fn wanted(
    catalog: &crate::config::Catalog,
) -> Vec<(cattery_protocol::Runner, String, Vec<String>)> {
    let mut wanted: Vec<(cattery_protocol::Runner, String, Vec<String>)> = Vec::new();
    for agent in catalog.agents.values() {
        let Some(cli) = &agent.cli else {
            continue;
        };
        match wanted
            .iter_mut()
            .find(|(_, binary, _)| *binary == cli.binary)
        {
            Some((_, _, kinds)) => kinds.push(agent.kind.clone()),
            None => wanted.push((agent.runner, cli.binary.clone(), vec![agent.kind.clone()])),
        }
    }
    wanted
}

/// Runs `binary --version`: the version it prints, or why there is none.
pub async fn probe(
    runner: cattery_protocol::Runner,
    binary: &str,
    kinds: Vec<String>,
) -> cattery_protocol::wire::RunnerFound {
    let asked = crate::children::command(binary, crate::children::Purpose::Probe)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let (version, problem) = match tokio::time::timeout(std::time::Duration::from_secs(10), asked)
        .await
    {
        Ok(Ok(out)) if out.status.success() => {
            let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (Some(said), None)
        }
        Ok(Ok(out)) => (
            None,
            Some(format!("`{binary} --version` failed ({})", out.status)),
        ),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => (
            None,
            Some(format!(
                "`{binary}` is not installed (not on PATH); install it or set binary for these kinds in agents.toml"
            )),
        ),
        Ok(Err(e)) => (None, Some(format!("cannot run `{binary}`: {e}"))),
        Err(_) => (
            None,
            Some(format!("`{binary} --version` did not answer within 10 s")),
        ),
    };
    cattery_protocol::wire::RunnerFound {
        runner,
        binary: binary.to_owned(),
        version,
        problem,
        kinds,
    }
}

/// The longest piece of a CLI's text or tool input a log line shows.
const SHOWN: usize = 300;

/// `text` on one line, cut to what a log line shows.
pub(crate) fn shown(text: &str) -> String {
    let flat = text.replace('\n', " ");
    match flat.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

fn log(
    level: cattery_protocol::agent::LogLevel,
    msg: String,
) -> cattery_protocol::agent::AgentLine {
    cattery_protocol::agent::AgentLine::Log { level, msg }
}

/// The last block of `text` fenced as `fence` (```` ```json ````,
/// ```` ```decision ````): `None` without one, `Err` when it is not closed.
fn last_fenced<'t>(text: &'t str, fence: &str) -> Option<Result<&'t str, ()>> {
    let start = text.rfind(fence)? + fence.len();
    let rest = &text[start..];
    Some(rest.find("```").map(|end| rest[..end].trim()).ok_or(()))
}

/// Read-only tools, for kinds that must not edit the worktree.
const READ_ONLY_TOOLS: &str = "Read,Grep,Glob";
const EDIT_TOOLS: &str = "Bash,Edit,Write,Read,Grep,Glob";

/// The command line and environment that run `cli` on the step in
/// `context`: headless, streaming, bounded in turns, the prompt after `--`
/// (a tool list would swallow it otherwise), its state in the job folder.
pub fn claude_command(
    cli: &CliRunner,
    agent: &AgentDef,
    context: &StepContext,
    prompts: &Path,
    state: &str,
    resume: bool,
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
    if resume {
        argv.push("--continue".to_owned());
    }
    argv.push("--".to_owned());
    argv.push(prompt::render(prompts, context));
    let env = [
        ("CLAUDE_CONFIG_DIR", state.to_owned()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
        ("CLAUDE_CODE_MAX_RETRIES", cli.max_retries.to_string()),
        ("DISABLE_AUTOUPDATER", "1".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec();
    (argv, env)
}

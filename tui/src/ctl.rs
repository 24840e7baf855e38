//! `cattery ctl`: every operation from a script, with `--json` and exit codes.

use crate::client::{Client, ClientError};
use cattery_protocol::wire::{Call, ServerFrame};
use cattery_protocol::workspace::WorkspaceFile;
use cattery_protocol::{AuditEntry, Block, BlockLevel, IterationCapChoice, PendingGate, Run};
use clap::{Subcommand, ValueEnum};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Blocks on the board.
    Board,
    /// Every run, newest last.
    Runs,
    /// Gates waiting for a human.
    Inbox,
    /// Attention cards: the open ones, or with --all every card.
    Notifications {
        #[arg(long)]
        all: bool,
    },
    /// Mark an open card handled.
    Act { id: String },
    /// Close an open card without acting on it.
    Dismiss { id: String },
    /// Re-drive runs paused by the spend budget; they pause again if still over it.
    ResumePaused,
    /// Month-to-date spend against the budget.
    Spend,
    /// Accepted human decisions, oldest first: who, when, which gate, the choice.
    Audit {
        /// Only this run's decisions.
        #[arg(long)]
        run: Option<String>,
    },
    /// Create or import blocks.
    Block {
        #[command(subcommand)]
        action: BlockCommand,
    },
    /// Start PIPELINE on BLOCK (replacing its prior run).
    Start { block: String, pipeline: String },
    /// Approve a gate, optionally with an edited proposal.
    Approve {
        gate: String,
        #[arg(long, value_name = "FILE")]
        proposal_file: Option<PathBuf>,
    },
    /// Send a gate's step back with feedback.
    RequestChanges {
        gate: String,
        #[arg(short, long)]
        message: String,
    },
    /// Reject a gate; the run fails as rejected.
    Reject {
        gate: String,
        #[arg(short, long)]
        message: String,
    },
    /// Answer an agent's decision with one of its options.
    Decide { gate: String, option: String },
    /// Resolve an iteration cap.
    Cap { gate: String, choice: CapChoice },
    /// Retry a failed run from its failed step.
    Retry { run: String },
    /// Restart a run from step STEP (0-based).
    RestartFrom { run: String, step: usize },
    /// Cancel a block's live run; the block goes back to planned.
    Cancel { block: String },
    /// Stop a run and kill its job.
    Stop { run: String },
    /// Print events as JSON lines.
    Watch {
        #[arg(long)]
        since: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BlockCommand {
    Add {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        parent: Option<String>,
        #[arg(long, value_enum, default_value = "task")]
        level: Level,
    },
    /// Blocks from a TOML file: [[blocks]] with title, description, level,
    /// key, parent (a key or an id) and pipeline (started after import).
    Import { file: PathBuf },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Level {
    Frame,
    Module,
    Task,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum CapChoice {
    ExtraRound,
    Proceed,
    StopReset,
}

impl From<Level> for BlockLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Frame => BlockLevel::Frame,
            Level::Module => BlockLevel::Module,
            Level::Task => BlockLevel::Task,
        }
    }
}

impl From<CapChoice> for IterationCapChoice {
    fn from(choice: CapChoice) -> Self {
        match choice {
            CapChoice::ExtraRound => IterationCapChoice::ExtraRound,
            CapChoice::Proceed => IterationCapChoice::Proceed,
            CapChoice::StopReset => IterationCapChoice::StopReset,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Input(String),
}

/// Runs one command and prints its answer.
pub async fn run(client: &mut Client, command: CtlCommand, json: bool) -> Result<(), CtlError> {
    let value = match command {
        CtlCommand::Watch { since } => return watch(client, since).await,
        CtlCommand::Block {
            action: BlockCommand::Import { file },
        } => import(client, &file).await?,
        other => {
            let call = to_call(client, other).await?;
            client.call(call).await?
        }
    };
    print(&value, json);
    Ok(())
}

async fn to_call(client: &mut Client, command: CtlCommand) -> Result<Call, CtlError> {
    Ok(match command {
        CtlCommand::Board => Call::Board,
        CtlCommand::Runs => Call::Runs,
        CtlCommand::Inbox => Call::Inbox,
        CtlCommand::Notifications { all } => Call::Notifications { all },
        CtlCommand::Act { id } => Call::Act { id },
        CtlCommand::Dismiss { id } => Call::Dismiss { id },
        CtlCommand::ResumePaused => Call::ResumePaused,
        CtlCommand::Spend => Call::Spend,
        CtlCommand::Audit { run } => Call::Audit { run_id: run },
        CtlCommand::Block {
            action:
                BlockCommand::Add {
                    title,
                    description,
                    parent,
                    level,
                },
        } => Call::AddBlock {
            title,
            description,
            parent_id: parent,
            level: level.into(),
        },
        CtlCommand::Start { block, pipeline } => Call::Start {
            block_id: block,
            pipeline_id: pipeline,
        },
        CtlCommand::Approve {
            gate,
            proposal_file,
        } => {
            let edited_proposal = match proposal_file {
                Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                    CtlError::Input(format!("cannot read {}: {e}", path.display()))
                })?),
                None => None,
            };
            let rev = rev_of(client, &gate).await?;
            Call::Approve {
                gate_id: gate,
                rev,
                edited_proposal,
            }
        }
        CtlCommand::RequestChanges { gate, message } => Call::RequestChanges {
            rev: rev_of(client, &gate).await?,
            gate_id: gate,
            feedback: message,
            comments: Vec::new(),
        },
        CtlCommand::Reject { gate, message } => Call::Reject {
            rev: rev_of(client, &gate).await?,
            gate_id: gate,
            reason: message,
        },
        CtlCommand::Decide { gate, option } => Call::ResolveDecision {
            rev: rev_of(client, &gate).await?,
            gate_id: gate,
            option,
        },
        CtlCommand::Cap { gate, choice } => Call::ResolveIterationCap {
            rev: rev_of(client, &gate).await?,
            gate_id: gate,
            choice: choice.into(),
        },
        CtlCommand::Retry { run } => Call::Retry { run_id: run },
        CtlCommand::RestartFrom { run, step } => Call::RestartFromStep { run_id: run, step },
        CtlCommand::Cancel { block } => Call::Cancel { block_id: block },
        CtlCommand::Stop { run } => Call::Stop { run_id: run },
        CtlCommand::Watch { .. } | CtlCommand::Block { .. } => {
            return Err(CtlError::Input("not a single request".to_owned()));
        }
    })
}

/// The rev a gate was seen at; a gate no longer open is sent with rev 0 so
/// the daemon answers why (already resolved, not pending).
async fn rev_of(client: &mut Client, gate: &str) -> Result<u64, CtlError> {
    let inbox: Vec<PendingGate> = client.call_as(Call::Inbox).await?;
    Ok(inbox.iter().find(|g| g.id == gate).map_or(0, |g| g.rev))
}

async fn import(client: &mut Client, file: &std::path::Path) -> Result<Value, CtlError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CtlError::Input(format!("cannot read {}: {e}", file.display())))?;
    import_text(client, &file.display().to_string(), &text).await
}

/// The demo workspace, built into the client.
pub const DEMO: &str = include_str!("../../assets/demo.toml");

/// Seeds the demo workspace unless the board already has blocks.
pub async fn demo(client: &mut Client) -> Result<usize, CtlError> {
    let board: Vec<Block> = client.call_as(Call::Board).await?;
    if !board.is_empty() {
        return Ok(0);
    }
    let created = import_text(client, "the demo workspace", DEMO).await?;
    Ok(created.as_array().map_or(0, Vec::len))
}

async fn import_text(client: &mut Client, label: &str, text: &str) -> Result<Value, CtlError> {
    let parsed: WorkspaceFile =
        toml::from_str(text).map_err(|e| CtlError::Input(format!("{label}: {e}")))?;
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut created = Vec::new();
    for entry in parsed.blocks {
        let parent_id = entry.parent.map(|p| keys.get(&p).cloned().unwrap_or(p));
        let call = Call::AddBlock {
            title: entry.title,
            description: entry.description,
            parent_id,
            level: entry.level,
        };
        let block: Block = client.call_as(call).await?;
        if let Some(key) = entry.key {
            keys.insert(key, block.id.clone());
        }
        if let Some(pipeline) = entry.pipeline {
            let start = Call::Start {
                block_id: block.id.clone(),
                pipeline_id: pipeline,
            };
            client.call(start).await?;
        }
        created.push(block);
    }
    serde_json::to_value(created).map_err(|e| CtlError::Input(e.to_string()))
}

async fn watch(client: &mut Client, since: Option<u64>) -> Result<(), CtlError> {
    client.subscribe(since).await?;
    let mut out = std::io::stdout().lock();
    loop {
        let line = match client.next_frame().await? {
            ServerFrame::Event { seq, event } => serde_json::json!({ "seq": seq, "event": event }),
            ServerFrame::Snapshot {
                seq,
                board,
                runs,
                inbox,
                notifications,
            } => {
                serde_json::json!({ "seq": seq, "snapshot": { "board": board, "runs": runs, "inbox": inbox, "notifications": notifications } })
            }
            ServerFrame::Resync { .. } => {
                client.subscribe(None).await?;
                continue;
            }
            _ => continue,
        };
        // A closed pipe (`| head`) ends the watch quietly.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}

fn print(value: &Value, json: bool) {
    if json {
        println!("{value}");
        return;
    }
    if let Ok(blocks) = serde_json::from_value::<Vec<Block>>(value.clone()) {
        for b in blocks {
            println!(
                "{:<18} {:<7} {:<12} {:>4.0}%  {}",
                b.id,
                format!("{:?}", b.level).to_lowercase(),
                format!("{:?}", b.status).to_lowercase(),
                b.progress * 100.0,
                b.title
            );
        }
    } else if let Ok(runs) = serde_json::from_value::<Vec<Run>>(value.clone()) {
        for r in runs {
            let step = r.current().map(|s| s.agent_kind.as_str()).unwrap_or("-");
            println!(
                "{:<18} {:<18} {:<8} {:<8} step {} {}",
                r.id,
                r.block_id,
                r.pipeline_id,
                format!("{:?}", r.status).to_lowercase(),
                r.current_step,
                step
            );
        }
    } else if let Ok(gates) = serde_json::from_value::<Vec<PendingGate>>(value.clone()) {
        for g in gates {
            let options = if g.options.is_empty() {
                String::new()
            } else {
                format!(" [{}]", g.options.join(" | "))
            };
            println!(
                "{:<18} {:<13} run {} step {} {}: {}{}",
                g.id,
                format!("{:?}", g.kind).to_lowercase(),
                g.run_id,
                g.step_index,
                g.agent_kind,
                g.prompt.lines().next().unwrap_or(""),
                options
            );
        }
    } else if let Ok(entries) = serde_json::from_value::<Vec<AuditEntry>>(value.clone()) {
        for e in entries {
            println!("{}", audit_line(&e));
        }
    } else if let Some(id) = value.get("id").and_then(Value::as_str) {
        println!("{id}");
    } else if !value.is_null() {
        println!("{value}");
    }
}

/// One audit entry as a line: when, who, the run and gate, the choice and
/// the first line of any text that went with it.
pub fn audit_line(e: &AuditEntry) -> String {
    let text = e
        .text
        .as_deref()
        .and_then(|t| t.lines().next())
        .map(|t| format!(": {t}"))
        .unwrap_or_default();
    format!(
        "{}  {:<10} run {} gate {} ({}) {}{}",
        cattery_protocol::format_local(e.at),
        e.actor,
        e.run_id,
        e.gate_id,
        e.gate_kind.label(),
        e.choice,
        text
    )
}

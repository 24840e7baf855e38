//! `cattery ctl`: every operation from a script, with `--json` and exit codes.

use crate::client::{Client, ClientError};
use cattery_protocol::diff::Diff;
use cattery_protocol::wire::{Call, ErrorCode, Reply, ServerFrame, WireError, WorktreeInfo};
use cattery_protocol::workspace::{ImportBlock, Imported, WorkspaceBlock};
use cattery_protocol::{
    AuditEntry, Block, BlockLevel, CommentSeverity, GateAction, IterationCapChoice, MergeMode,
    PendingGate, RepositorySpec, ReviewComment, Run,
};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

mod review;
mod schedules;

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
        /// A remark on a line of the run's code, `PATH:LINE: TEXT` (or
        /// `PATH: TEXT` for the whole file); repeat for more.
        #[arg(long, value_name = "PATH:LINE: TEXT")]
        comment: Vec<String>,
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
    /// Merge a pr_ready block the merge policy left to a human.
    Merge { block: String },
    /// Recurring pipelines on frames: list them, or add, rm, run-now, history.
    Schedules {
        #[command(subcommand)]
        action: Option<schedules::ScheduleCommand>,
    },
    /// The requirements or clarity review a task's run waits on: its
    /// findings, or one action on them.
    Review {
        block: String,
        #[command(subcommand)]
        action: Option<review::ReviewCommand>,
    },
    /// A run's delivery gates and tester loops: phase, rounds against the
    /// budget, last verdict, failing checks and every round.
    Gates { run: String },
    /// Restart a run from step STEP (0-based).
    RestartFrom { run: String, step: usize },
    /// Cancel a block's live run; the block goes back to planned.
    Cancel { block: String },
    /// Stop a run and kill its job.
    Stop { run: String },
    /// What RUN changed on its branch, or what one step changed: files
    /// and hunks (--stat: files and counts only).
    Diff {
        run: String,
        /// Only this step's change (0-based).
        #[arg(long)]
        step: Option<usize>,
        #[arg(long)]
        stat: bool,
    },
    /// A step's stored transcript: every line its jobs printed, with each
    /// model call on one line (--json: one entry per line). Without --step,
    /// the run's current step; --follow waits for new lines until the step
    /// is no longer working.
    Logs {
        run: String,
        /// The step (0-based).
        #[arg(long)]
        step: Option<usize>,
        #[arg(long, short)]
        follow: bool,
        /// Start at this entry.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    /// The runs' worktrees under the data dir, with their disk use;
    /// --prune removes those no live run needs (their branches stay).
    Worktrees {
        #[arg(long)]
        prune: bool,
    },
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
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// Point a frame at a git repository (--repo), or at none (--no-repo).
    Set {
        block: String,
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long, conflicts_with = "repo")]
        no_repo: bool,
    },
    /// Blocks from a TOML file: [[blocks]] with title, description, level,
    /// key, parent (a key or an id) and pipeline (started after import).
    Import { file: PathBuf },
}

/// A frame's repository, as `block add` and `block set` take it.
#[derive(Args, Debug, Clone, Default)]
pub struct RepoArgs {
    /// A frame's git repository: the path of a local clone.
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// The branch runs start from (default: the clone's current branch).
    #[arg(long, requires = "repo")]
    base: Option<String>,
    /// The remote pull requests go to.
    #[arg(long, requires = "repo")]
    remote: Option<String>,
    /// How a finished run's branch is finalised.
    #[arg(long, value_enum, requires = "repo")]
    merge: Option<Merge>,
    /// The `ci` gate's provider: `gh`, `local` (the --check commands) or a
    /// shell command printing {"checks":[{name,status,conclusion,url}]}.
    #[arg(long, requires = "repo", value_name = "PROVIDER")]
    ci: Option<String>,
    /// A check for `--ci local`, as NAME=COMMAND; repeat for more.
    #[arg(long = "check", requires = "repo", value_name = "NAME=COMMAND")]
    checks: Vec<String>,
    /// The `post-release-health` gate's provider: a shell command printing
    /// {"status":"healthy|pending|regressed","signals":[…]}.
    #[arg(long, requires = "repo", value_name = "COMMAND")]
    health: Option<String>,
    /// The built-in tester's command, run in the run's worktree.
    #[arg(long, requires = "repo", value_name = "COMMAND")]
    test_command: Option<String>,
    /// The merge policy: `balanced` (auto-merge within its ceilings) or
    /// `manual-review` (every merge goes to a human).
    #[arg(long, requires = "repo", value_name = "PRESET", value_parser = risk_preset)]
    risk_preset: Option<cattery_protocol::RiskPreset>,
}

fn risk_preset(text: &str) -> Result<cattery_protocol::RiskPreset, String> {
    cattery_protocol::RiskPreset::parse(text).ok_or_else(|| {
        let known: Vec<_> = cattery_protocol::RiskPreset::ALL
            .iter()
            .map(|p| p.as_str())
            .collect();
        format!(
            "unknown risk preset {text:?}; use one of: {}",
            known.join(", ")
        )
    })
}

impl RepoArgs {
    /// The repository named, with its path made absolute here: the daemon
    /// runs in another directory.
    fn spec(self) -> Result<Option<RepositorySpec>, CtlError> {
        let Some(path) = self.repo else {
            return Ok(None);
        };
        let path = std::path::absolute(&path)
            .map_err(|e| CtlError::Input(format!("cannot resolve {}: {e}", path.display())))?;
        let mut checks = std::collections::BTreeMap::new();
        for check in &self.checks {
            let Some((name, command)) = check
                .split_once('=')
                .filter(|(n, c)| !n.trim().is_empty() && !c.trim().is_empty())
            else {
                return Err(CtlError::Input(format!(
                    "--check {check:?} is not NAME=COMMAND; write it like --check 'tests=make test'"
                )));
            };
            checks.insert(name.trim().to_owned(), command.to_owned());
        }
        Ok(Some(RepositorySpec {
            path: path.display().to_string(),
            base: self.base,
            remote: self.remote,
            merge: self.merge.map(MergeMode::from),
            providers: Box::new(cattery_protocol::Providers {
                ci: self.ci,
                checks,
                health: self.health,
                test_command: self.test_command,
                risk_preset: self.risk_preset,
            }),
        }))
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Merge {
    Branch,
    Local,
    Pr,
}

impl From<Merge> for MergeMode {
    fn from(merge: Merge) -> Self {
        match merge {
            Merge::Branch => MergeMode::Branch,
            Merge::Local => MergeMode::Local,
            Merge::Pr => MergeMode::Pr,
        }
    }
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
    let reply = match command {
        CtlCommand::Watch { since } => return watch(client, since).await,
        CtlCommand::Gates { run } => return gates(client, &run, json).await,
        CtlCommand::Schedules { action } => schedules::schedules(client, action).await?,
        CtlCommand::Review { block, action } => {
            return review::review(client, &block, action, json).await;
        }
        CtlCommand::Logs {
            run,
            step,
            follow,
            from,
        } => return logs(client, run, step, follow, from, json).await,
        CtlCommand::Diff { run, step, stat } => {
            let call = Call::Diff { run_id: run, step };
            let mut diff: Diff = client.call_as(call).await?;
            if stat {
                diff.files.iter_mut().for_each(|f| f.hunks.clear());
            }
            Reply::Diff(Box::new(diff))
        }
        CtlCommand::Block {
            action: BlockCommand::Import { file },
        } => Reply::Imported(import(client, &file).await?),
        other => {
            let call = to_call(client, other).await?;
            client.call(call).await?
        }
    };
    print(&reply, json)
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
        CtlCommand::Worktrees { prune } => Call::Worktrees { prune },
        CtlCommand::Audit { run } => Call::Audit { run_id: run },
        CtlCommand::Block {
            action:
                BlockCommand::Add {
                    title,
                    description,
                    parent,
                    level,
                    repo,
                },
        } => Call::AddBlock {
            title,
            description,
            parent_id: parent,
            level: level.into(),
            repository: repo.spec()?,
        },
        CtlCommand::Block {
            action:
                BlockCommand::Set {
                    block,
                    repo,
                    no_repo,
                },
        } => {
            let repository = repo.spec()?;
            if repository.is_none() && !no_repo {
                return Err(CtlError::Input(
                    "say what to set: --repo PATH (with --base, --remote, --merge), or --no-repo"
                        .to_owned(),
                ));
            }
            Call::SetRepository {
                block_id: block,
                repository,
            }
        }
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
            decide(client, gate, GateAction::Approve { edited_proposal }).await?
        }
        CtlCommand::RequestChanges {
            gate,
            message,
            comment,
        } => {
            let comments = comment
                .iter()
                .map(|text| {
                    ReviewComment::parse_anchored(text, CommentSeverity::Major).ok_or_else(|| {
                        CtlError::Input(format!(
                            "--comment {text:?} names no line; write it PATH:LINE: TEXT, such as src/app.py:12: check for None"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            let action = GateAction::RequestChanges {
                feedback: message,
                comments,
            };
            decide(client, gate, action).await?
        }
        CtlCommand::Reject { gate, message } => {
            decide(client, gate, GateAction::Reject { reason: message }).await?
        }
        CtlCommand::Decide { gate, option } => {
            decide(client, gate, GateAction::ChooseOption { option }).await?
        }
        CtlCommand::Cap { gate, choice } => {
            let action = GateAction::ResolveIterationCap {
                choice: choice.into(),
            };
            decide(client, gate, action).await?
        }
        CtlCommand::Retry { run } => Call::Retry { run_id: run },
        CtlCommand::Merge { block } => Call::Merge { block_id: block },
        CtlCommand::RestartFrom { run, step } => Call::RestartFromStep { run_id: run, step },
        CtlCommand::Cancel { block } => Call::Cancel { block_id: block },
        CtlCommand::Stop { run } => Call::Stop { run_id: run },
        CtlCommand::Watch { .. }
        | CtlCommand::Logs { .. }
        | CtlCommand::Gates { .. }
        | CtlCommand::Review { .. }
        | CtlCommand::Schedules { .. }
        | CtlCommand::Diff { .. }
        | CtlCommand::Block { .. } => {
            return Err(CtlError::Input("not a single request".to_owned()));
        }
    })
}

/// The decision call for `gate`, made at the rev the gate is seen at now.
/// A gate no longer open is looked up in every run and sent with rev 0, so
/// the daemon answers why (already resolved, its run ended).
async fn decide(client: &mut Client, gate: String, action: GateAction) -> Result<Call, CtlError> {
    let inbox: Vec<PendingGate> = client.call_as(Call::Inbox).await?;
    let (run_id, rev) = match inbox.iter().find(|g| g.id == gate) {
        Some(open) => return Ok(Call::decide(open, action)),
        None => {
            let runs: Vec<Run> = client.call_as(Call::Runs).await?;
            let run = runs.iter().rev().find(|r| r.opened_gate(&gate));
            let run_id = run.map(|r| r.id.clone()).ok_or_else(|| {
                ClientError::Daemon(WireError {
                    code: ErrorCode::NotFound,
                    message: format!("gate `{gate}` not found; list the inbox to see open gates"),
                })
            })?;
            (run_id, 0)
        }
    };
    Ok(Call::Decide {
        run_id,
        gate_id: gate,
        rev,
        action,
    })
}

async fn import(client: &mut Client, file: &std::path::Path) -> Result<Imported, CtlError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CtlError::Input(format!("cannot read {}: {e}", file.display())))?;
    let dir = std::path::absolute(file)
        .ok()
        .and_then(|f| f.parent().map(std::path::Path::to_owned))
        .unwrap_or_default();
    import_text(client, &file.display().to_string(), &text, &dir).await
}

/// The demo workspace, built into the client.
pub const DEMO: &str = include_str!("../../assets/demo.toml");

/// Seeds the demo workspace unless the board already has blocks.
pub async fn demo(client: &mut Client) -> Result<usize, CtlError> {
    let board: Vec<Block> = client.call_as(Call::Board).await?;
    if !board.is_empty() {
        return Ok(0);
    }
    // The daemon makes the toy service's repository; the workspace's frame
    // names it relative to the folder it is in.
    let repository: String = client.call_as(Call::DemoRepository).await?;
    let folder = std::path::Path::new(&repository)
        .parent()
        .map(std::path::Path::to_owned)
        .unwrap_or_default();
    let imported = import_text(client, "the demo workspace", DEMO, &folder).await?;
    Ok(imported.created.len())
}

/// The blocks of a workspace file with the line each starts on.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LinedFile {
    blocks: Vec<toml::Spanned<WorkspaceBlock>>,
}

/// Sends a workspace file as one import: the daemon checks every block
/// before it writes any, and skips blocks already imported. A relative
/// `repo` is taken from `dir`, the file's folder.
async fn import_text(
    client: &mut Client,
    label: &str,
    text: &str,
    dir: &std::path::Path,
) -> Result<Imported, CtlError> {
    let parsed: LinedFile =
        toml::from_str(text).map_err(|e| CtlError::Input(format!("{label}: {e}")))?;
    let blocks = parsed
        .blocks
        .into_iter()
        .map(|spanned| {
            let before = &text[..spanned.span().start.min(text.len())];
            let mut block = spanned.into_inner();
            block.repo = block.repo.map(|repo| dir.join(repo).display().to_string());
            ImportBlock {
                line: before.matches('\n').count() as u32 + 1,
                block,
            }
        })
        .collect();
    let call = Call::Import {
        source: label.to_owned(),
        blocks,
    };
    Ok(client.call_as(call).await?)
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
                health,
            } => {
                serde_json::json!({ "seq": seq, "snapshot": { "board": board, "runs": runs, "inbox": inbox, "notifications": notifications, "health": health } })
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

/// How often `logs --follow` asks for new lines.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(300);

/// Prints a step's transcript page by page; with `follow`, until the step
/// stops working and every line is out.
async fn logs(
    client: &mut Client,
    run: String,
    step: Option<usize>,
    follow: bool,
    mut offset: u64,
    json: bool,
) -> Result<(), CtlError> {
    let mut step = step;
    let mut out = std::io::stdout().lock();
    loop {
        let call = Call::Logs {
            run_id: run.clone(),
            step,
            offset,
            limit: None,
        };
        let page: cattery_protocol::transcript::LogPage = client.call_as(call).await?;
        // Followed from the step it started on, even once the run moves on.
        step = Some(page.step_index);
        for entry in &page.entries {
            let line = match json {
                true => serde_json::to_string(entry).unwrap_or_default(),
                false => entry_line(entry),
            };
            // A closed pipe (`| head`) ends the listing quietly.
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
        }
        let _ = out.flush();
        offset = page.next_offset();
        if offset < page.total && !page.entries.is_empty() {
            continue;
        }
        if !follow || page.finished {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

fn entry_line(entry: &cattery_protocol::transcript::LogEntry) -> String {
    use cattery_protocol::transcript::EntryKind;
    let time = cattery_protocol::format_local(entry.at);
    let level = format!("{:?}", entry.level).to_lowercase();
    match entry.kind {
        EntryKind::Attempt => format!("── {time} {} ──", entry.text),
        EntryKind::Cut => format!("… {}", entry.text),
        EntryKind::Line | EntryKind::Call => format!("{time} {level:<5} {}", entry.text),
    }
}

fn print(reply: &Reply, json: bool) -> Result<(), CtlError> {
    if json {
        let value = reply
            .payload()
            .map_err(|e| CtlError::Input(format!("cannot print the answer: {e}")))?;
        println!("{value}");
        return Ok(());
    }
    for line in lines(reply) {
        println!("{line}");
    }
    Ok(())
}

/// The answer as lines for people; one line per listed thing.
fn lines(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::Done => Vec::new(),
        Reply::Board(blocks) => blocks.iter().map(block_line).collect(),
        Reply::Runs(runs) => runs.iter().map(run_line).collect(),
        Reply::Inbox(gates) => gates.iter().map(gate_line).collect(),
        Reply::Audit(entries) => entries.iter().map(audit_line).collect(),
        Reply::Block(block) => vec![block.id.clone()],
        Reply::Run(run) => vec![run.id.clone()],
        Reply::Schedules(all) => all.iter().map(schedules::schedule_line).collect(),
        Reply::Schedule(one) => vec![schedules::schedule_line(one)],
        Reply::ScheduleFires(fires) => fires.iter().map(schedules::fire_line).collect(),
        Reply::Notification(card) => vec![card.id.clone()],
        Reply::Imported(imported) => {
            let mut lines: Vec<String> = imported.created.iter().map(block_line).collect();
            lines.push(format!(
                "created {} block(s); {} already imported, left unchanged",
                imported.created.len(),
                imported.unchanged
            ));
            lines
        }
        Reply::Diff(diff) => diff_lines(diff),
        Reply::Worktrees(worktrees) => worktree_lines(worktrees),
        other => vec![other.payload().map(|v| v.to_string()).unwrap_or_default()],
    }
}

/// One line per worktree: its disk use, who needs it, and what happened.
fn worktree_lines(worktrees: &[WorktreeInfo]) -> Vec<String> {
    let mut lines: Vec<String> = worktrees
        .iter()
        .map(|w| {
            let who = match (&w.run_id, w.run_status) {
                (Some(run), Some(status)) => format!("{run} {}", status.as_str()),
                _ => "no run".to_owned(),
            };
            let state = match (w.removed, w.needed) {
                (true, _) => "removed",
                (false, true) => "in use",
                (false, false) => "not needed",
            };
            format!(
                "{:>9}  {:<10}  {who}  {}  {}",
                human_bytes(w.bytes),
                state,
                w.branch.as_deref().unwrap_or("-"),
                w.path
            )
        })
        .collect();
    let total: u64 = worktrees.iter().map(|w| w.bytes).sum();
    let removed = worktrees.iter().filter(|w| w.removed).count();
    lines.push(format!(
        "{} worktree(s), {} on disk; {removed} removed",
        worktrees.len(),
        human_bytes(total)
    ));
    lines
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// A diff as `git diff` prints it; a `--stat` diff (no hunks) as one line
/// per file and a total.
fn diff_lines(diff: &Diff) -> Vec<String> {
    let stat = diff.files.iter().all(|f| f.hunks.is_empty());
    let mut lines = Vec::new();
    for file in &diff.files {
        let name = match &file.old_path {
            Some(old) => format!("{old} → {}", file.path),
            None => file.path.clone(),
        };
        let counts = if file.binary {
            "binary".to_owned()
        } else {
            format!("+{} −{}", file.insertions, file.deletions)
        };
        if stat {
            lines.push(format!("{name} | {} {counts}", file.status.label()));
            continue;
        }
        lines.push(format!("─── {name} ({}, {counts})", file.status.label()));
        lines.extend(file.hunks.iter().flat_map(|h| h.unified()));
    }
    lines.push(diff.stat());
    lines
}

fn block_line(b: &Block) -> String {
    format!(
        "{:<18} {:<7} {:<12} {:>4.0}%  {}",
        b.id,
        b.level.as_str(),
        b.status.as_str(),
        b.progress * 100.0,
        b.title
    )
}

/// `ctl gates RUN`: each gate or tester step of the run.
async fn gates(client: &mut Client, run_id: &str, json: bool) -> Result<(), CtlError> {
    let runs: Vec<Run> = client.call_as(Call::Runs).await?;
    let run = runs.into_iter().find(|r| r.id == run_id).ok_or_else(|| {
        CtlError::Input(format!("no run {run_id}; `cattery ctl runs` lists them"))
    })?;
    let steps: Vec<(usize, &cattery_protocol::Step)> = run
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.gate.is_some() || s.test.is_some())
        .collect();
    if json {
        let value: Vec<serde_json::Value> = steps
            .iter()
            .map(|(i, s)| {
                serde_json::json!({
                    "step_index": i,
                    "agent_kind": s.agent_kind,
                    "state": s.state,
                    "gate": s.gate,
                    "test": s.test,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(value));
        return Ok(());
    }
    for (i, step) in steps {
        for line in gate_lines(i, step) {
            println!("{line}");
        }
    }
    Ok(())
}

fn gate_lines(index: usize, step: &cattery_protocol::Step) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(g) = &step.gate {
        lines.push(format!(
            "step {index} {} ({} gate): {} · rounds {}/{} · polls {}/{} · last {}",
            step.agent_kind,
            g.spec.kind.as_str(),
            g.phase.as_str(),
            g.attempts,
            g.spec.max_attempts,
            g.polls,
            g.spec.max_polls,
            g.last_verdict.map_or("-", |v| v.as_str()),
        ));
        if !g.failing_checks.is_empty() {
            lines.push(format!("  failing: {}", g.failing_checks.join(", ")));
        }
        for a in &g.attempt_log {
            lines.push(format!(
                "  #{} {}: {}",
                a.attempt,
                a.outcome.as_str(),
                a.summary
            ));
        }
    }
    if let Some(t) = &step.test {
        let verdict = t
            .last_report
            .as_ref()
            .map_or("no report", |r| match r.greenlight {
                true => "greenlight",
                false => "withheld",
            });
        lines.push(format!(
            "step {index} {} (tester, fixer {}): {} · rounds {}/{} · {verdict}",
            step.agent_kind,
            t.spec.fixer,
            t.phase.as_str(),
            t.attempts,
            t.spec.max_attempts
        ));
        for a in &t.attempt_log {
            lines.push(format!(
                "  #{} {}: {}",
                a.attempt,
                a.outcome.as_str(),
                a.summary
            ));
        }
    }
    lines
}

fn run_line(r: &Run) -> String {
    let step = r.current().map(|s| s.agent_kind.as_str()).unwrap_or("-");
    format!(
        "{:<18} {:<18} {:<8} {:<8} step {} {}",
        r.id,
        r.block_id,
        r.pipeline_id,
        r.status.as_str(),
        r.current_step,
        step
    )
}

fn gate_line(g: &PendingGate) -> String {
    let options = if g.options.is_empty() {
        String::new()
    } else {
        format!(" [{}]", g.options.join(" | "))
    };
    format!(
        "{:<18} {:<13} run {} step {} {}: {}{}",
        g.id,
        g.kind.as_str(),
        g.run_id,
        g.step_index,
        g.agent_kind,
        g.prompt.lines().next().unwrap_or(""),
        options
    )
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

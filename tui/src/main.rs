//! cattery: the terminal control room, and the `daemon` / `ctl` commands.

use cattery_protocol::wire::ErrorCode;
use cattery_tui::app::keymap::{Keymap, KeymapError};
use cattery_tui::client::{Client, ClientError};
use cattery_tui::ctl::{self, CtlCommand, CtlError};
use cattery_tui::home::Home;
use cattery_tui::lifecycle::{self, LifecycleError};
use cattery_tui::runtime;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "cattery",
    version,
    about = "Terminal control room for AI-agent delivery pipelines"
)]
struct Cli {
    /// Talk to the daemon whose files are under this folder.
    #[arg(long, global = true, env = "CATTERY_HOME")]
    home: Option<PathBuf>,
    /// Print answers as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Open the control room without decision keys: watch, never change.
    #[arg(long)]
    read_only: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start, stop or inspect the daemon.
    Daemon {
        #[command(subcommand)]
        action: DaemonAction,
    },
    /// Every operation, for scripts. Starts the daemon if none answers.
    Ctl {
        #[command(subcommand)]
        command: Box<CtlCommand>,
    },
    /// Seed the demo workspace (once) on the daemon, starting it if needed,
    /// then open the control room on it (when run in a terminal).
    Demo,
}

#[derive(Subcommand, Debug)]
enum DaemonAction {
    Start,
    Stop,
    Status,
    Restart,
}

/// Exit codes scripts can rely on.
mod exit {
    pub const FAILED: u8 = 1;
    pub const NO_DAEMON: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const STALE: u8 = 5;
    pub const CONFLICT: u8 = 6;
    pub const INVALID: u8 = 7;
    pub const UNAVAILABLE: u8 = 8;
    pub const READ_ONLY: u8 = 9;
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Ctl(#[from] CtlError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
    #[error("no catteryd is running for this home")]
    NotRunning,
    #[error(transparent)]
    Keys(#[from] KeymapError),
    #[error("the terminal failed: {0}")]
    Terminal(#[from] std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cattery: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cattery: {e}");
            ExitCode::from(code_of(&e))
        }
    }
}

fn code_of(failure: &Failure) -> u8 {
    let client = match failure {
        Failure::Ctl(CtlError::Client(e)) | Failure::Client(e) => e,
        Failure::Lifecycle(LifecycleError::Client(e)) => e,
        Failure::NotRunning | Failure::Lifecycle(LifecycleError::Unreachable { .. }) => {
            return exit::NO_DAEMON;
        }
        Failure::Usage(_) | Failure::Keys(_) => return 2,
        _ => return exit::FAILED,
    };
    match client {
        ClientError::NoDaemon { .. } => exit::NO_DAEMON,
        ClientError::Daemon(error) => match error.code {
            ErrorCode::NotFound => exit::NOT_FOUND,
            ErrorCode::Stale => exit::STALE,
            ErrorCode::Conflict => exit::CONFLICT,
            ErrorCode::Invalid | ErrorCode::BadFrame => exit::INVALID,
            ErrorCode::Unavailable => exit::UNAVAILABLE,
            ErrorCode::ReadOnly => exit::READ_ONLY,
        },
        _ => exit::FAILED,
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let home = Home::resolve(cli.home)
        .ok_or_else(|| Failure::Usage("no home directory found; pass --home DIR".to_owned()))?;
    match cli.command {
        None => control_room(&home, cli.read_only).await,
        Some(Command::Daemon { action }) => daemon(&home, action, cli.json).await,
        Some(Command::Demo) => {
            lifecycle::ensure_running(&home).await?;
            let mut client = Client::connect(&home, "demo").await?;
            let seeded = ctl::demo(&mut client).await?;
            if std::io::stdout().is_terminal() {
                return control_room(&home, cli.read_only).await;
            }
            match seeded {
                0 => println!("the board already has blocks; the demo was not seeded again"),
                n => println!("seeded {n} demo blocks; open the control room with `cattery`"),
            }
            Ok(())
        }
        Some(Command::Ctl { command }) => {
            lifecycle::ensure_running(&home).await?;
            let mut client = match cli.read_only {
                true => Client::connect_read_only(&home, "ctl").await?,
                false => Client::connect(&home, "ctl").await?,
            };
            ctl::run(&mut client, *command, cli.json).await?;
            Ok(())
        }
    }
}

/// The TUI. A daemon that cannot be started is no reason not to open:
/// the header shows the connection retrying and the footer says why.
async fn control_room(home: &Home, read_only: bool) -> Result<(), Failure> {
    let keymap = Keymap::load(&home.config)?;
    let notice = lifecycle::ensure_running(home)
        .await
        .err()
        .map(|e| format!("cannot start catteryd: {e}"));
    runtime::run(runtime::Options {
        home: home.layout.clone(),
        keymap,
        read_only,
        notice,
    })
    .await?;
    Ok(())
}

async fn daemon(home: &Home, action: DaemonAction, json: bool) -> Result<(), Failure> {
    let status = match action {
        DaemonAction::Status => match lifecycle::status(home).await {
            Some(status) => status,
            None => match lifecycle::owner(home) {
                Some(pid) => return Err(LifecycleError::Unreachable { pid }.into()),
                None => return Err(Failure::NotRunning),
            },
        },
        DaemonAction::Start => lifecycle::ensure_running(home).await?,
        DaemonAction::Stop => {
            let stopped = lifecycle::stop(home).await?;
            println!("{}", if stopped { "stopped" } else { "not running" });
            return Ok(());
        }
        DaemonAction::Restart => {
            lifecycle::stop(home).await?;
            lifecycle::ensure_running(home).await?
        }
    };
    if json {
        println!("{}", serde_json::to_string(&status).unwrap_or_default());
    } else {
        println!(
            "catteryd {} running (pid {}), executor {}, protocol {}, {} live runs, seq {}",
            status.daemon_version,
            status.pid,
            status.executor,
            status.protocol_version,
            status.live_runs,
            status.seq
        );
        if let cattery_protocol::wire::Health::Degraded { reason, .. } = &status.health {
            println!("degraded: {reason}");
        }
        for warning in &status.warnings {
            println!("warning: {warning}");
        }
        if let Some(gateway) = &status.gateway {
            let containers = match (&gateway.container_url, &gateway.container_problem) {
                (Some(url), _) => format!(", containers reach it at {url}"),
                (None, Some(why)) => format!(", containers cannot reach it: {why}"),
                (None, None) => String::new(),
            };
            println!("model gateway at {}{containers}", gateway.url);
        }
        for found in &status.runners {
            let state = match (&found.version, &found.problem) {
                (Some(version), _) => version.clone(),
                (None, Some(problem)) => problem.clone(),
                (None, None) => "not checked yet".to_owned(),
            };
            println!(
                "runner {} ({}) for {}: {state}",
                found.runner.as_str(),
                found.binary,
                found.kinds.join(", ")
            );
        }
    }
    Ok(())
}

//! cattery: the terminal control room. The TUI and the `daemon` / `ctl`
//! commands talk to catteryd over its websocket, which is not built yet; for
//! now this is the command-line skeleton they will fill.

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "cattery",
    version,
    about = "Terminal control room for AI-agent delivery pipelines"
)]
struct Cli {
    /// Keep every file under this folder (the daemon's --home).
    #[arg(long, global = true, env = "CATTERY_HOME")]
    home: Option<PathBuf>,
    /// Refuse every decision; only look.
    #[arg(long, global = true)]
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
    /// Scriptable access to the board, runs and gates.
    Ctl {
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Seed the demo workspace and open the control room on it.
    Demo,
}

#[derive(Subcommand, Debug)]
enum DaemonAction {
    Start,
    Stop,
    Status,
    Restart,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cattery: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let home = cli
        .home
        .map(|h| format!(" --home {}", h.display()))
        .unwrap_or_default();
    match cli.command {
        None | Some(Command::Demo) => bail!(
            "the control room needs the daemon's websocket API, which is not built yet; \
             run `catteryd{home} --demo` to watch the demo pipelines in the terminal"
        ),
        Some(Command::Daemon { action }) => bail!(
            "`cattery daemon {}` is not built yet; run `catteryd{home}` in the foreground",
            format!("{action:?}").to_lowercase()
        ),
        Some(Command::Ctl { .. }) => {
            bail!("`cattery ctl` needs the daemon's websocket API, which is not built yet")
        }
    }
}

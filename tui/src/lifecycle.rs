//! `cattery daemon start | stop | status | restart`: liveness is a ping over
//! the API, never a pid that may have been reused.

use crate::client::{Client, ClientError};
use crate::home::Home;
use cattery_protocol::wire::{Call, DaemonStatus};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "cannot find catteryd next to cattery or on PATH; build it with `cargo build --release`"
    )]
    NoBinary,
    #[error("cannot start catteryd: {0}")]
    Spawn(std::io::Error),
    #[error("catteryd did not answer within {secs}s; see {log}")]
    NoAnswer { secs: u64, log: String },
    #[error("catteryd exited at once ({status}):\n{said}\n(the whole log: {log})")]
    Exited {
        status: String,
        said: String,
        log: String,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The daemon's status, or `None` when nothing answers (stale files are removed).
pub async fn status(home: &Home) -> Option<DaemonStatus> {
    match Client::connect(&home.data, "cattery").await {
        Ok(mut client) => client.call_as(Call::Status).await.ok(),
        Err(ClientError::NoDaemon { .. }) => {
            // A port file nobody answers on is left over from a killed daemon.
            let _ = std::fs::remove_file(home.data.join("port"));
            None
        }
        Err(_) => None,
    }
}

/// Starts a daemon in the background unless one answers; waits until it does.
pub async fn ensure_running(home: &Home) -> Result<DaemonStatus, LifecycleError> {
    if let Some(status) = status(home).await {
        return Ok(status);
    }
    let log = home.data.join("logs").join("catteryd.log");
    std::fs::create_dir_all(log.parent().unwrap_or(&home.data)).map_err(LifecycleError::Spawn)?;
    let out = std::fs::File::create(&log).map_err(LifecycleError::Spawn)?;
    let err = out.try_clone().map_err(LifecycleError::Spawn)?;
    let mut command = Command::new(catteryd()?);
    if let Some(root) = &home.root {
        command.arg("--home").arg(root);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group, so a Ctrl-C in this terminal does not reach it.
        .process_group(0)
        .spawn()
        .map_err(LifecycleError::Spawn)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = status(home).await {
            return Ok(status);
        }
        if let Ok(Some(exit)) = child.try_wait() {
            return Err(LifecycleError::Exited {
                status: exit.to_string(),
                said: last_words(&log),
                log: log.display().to_string(),
            });
        }
        if Instant::now() > deadline {
            return Err(LifecycleError::NoAnswer {
                secs: 15,
                log: log.display().to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks the daemon to stop and waits until it no longer answers.
/// Returns false when none was running.
pub async fn stop(home: &Home) -> Result<bool, LifecycleError> {
    let mut client = match Client::connect(&home.data, "cattery").await {
        Ok(client) => client,
        Err(ClientError::NoDaemon { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    client.call(Call::Shutdown).await?;
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(home).await.is_some() {
        if Instant::now() > deadline {
            return Err(LifecycleError::NoAnswer {
                secs: 15,
                log: "the daemon log".to_owned(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(true)
}

fn catteryd() -> Result<PathBuf, LifecycleError> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("catteryd")))
        .filter(|path| path.exists());
    if let Some(path) = beside {
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("catteryd"))
            .find(|path| path.exists())
    });
    on_path.ok_or(LifecycleError::NoBinary)
}

/// The end of a daemon's log, where a daemon that refused to start says why
/// (a config error with its file, line and fix).
fn last_words(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.len() {
        0 => "it printed nothing".to_owned(),
        n => lines[n.saturating_sub(8)..].join("\n"),
    }
}

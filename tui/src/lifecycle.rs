//! `cattery daemon start | stop | status | restart`: liveness is a ping over
//! the API, never a pid that may have been reused.

use crate::client::{Client, ClientError};
use crate::home::Home;
use cattery_protocol::wire::{Call, DaemonStatus};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
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
    #[error("cannot take the start lock {path}: {source}")]
    StartLock {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "catteryd (pid {pid}) owns this home but does not answer; `cattery daemon restart` stops it and starts a fresh one"
    )]
    Unreachable { pid: u32 },
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The pid of a daemon that owns `home` (holds its lock), answering or not.
pub fn owner(home: &Home) -> Option<u32> {
    crate::lockcheck::lock_holder(&home.pidfile())
}

/// How long a client waits for a daemon to answer after starting it (or
/// for another client that is starting one).
const START_WAIT: Duration = Duration::from_secs(15);

/// The home's start lock, held while this client starts a daemon. A second
/// client waits on it and then finds the first one's daemon answering, so
/// two `cattery` commands started at once start one daemon between them.
struct StartLock {
    _file: std::fs::File,
}

impl StartLock {
    async fn acquire(home: &Home) -> Result<Self, LifecycleError> {
        let path = home.start_lock();
        let fail = |source| LifecycleError::StartLock {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&home.data).map_err(fail)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(fail)?;
        let deadline = Instant::now() + START_WAIT * 2;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LifecycleError::NoAnswer {
                        secs: (START_WAIT * 2).as_secs(),
                        log: home.daemon_log().display().to_string(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
            }
        }
    }
}

/// The daemon's status, or `None` when nothing answers (stale files are removed).
pub async fn status(home: &Home) -> Option<DaemonStatus> {
    match Client::connect(home, "cattery").await {
        Ok(mut client) => client.call_as(Call::Status).await.ok(),
        Err(ClientError::NoDaemon { .. }) => {
            // A port file nobody answers on is left over from a killed
            // daemon, but only if no daemon owns the home: one that is
            // starting, or restarting, may be about to answer on it.
            if owner(home).is_none() {
                let _ = std::fs::remove_file(home.port_file());
            }
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
    let _lock = StartLock::acquire(home).await?;
    // Another client may have started one while this one waited for the lock.
    if let Some(status) = status(home).await {
        return Ok(status);
    }
    if let Some(pid) = owner(home) {
        // A daemon owns the home but has not answered yet: wait for it
        // rather than start a second one that would find the home locked.
        return answer_of(home, pid).await;
    }
    let log = home.daemon_log();
    let mut child = spawn_daemon(home)?;
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Some(status) = status(home).await {
            return Ok(status);
        }
        if let Ok(Some(exit)) = child.try_wait() {
            return exited(home, &log, exit).await;
        }
        if Instant::now() > deadline {
            return Err(LifecycleError::NoAnswer {
                secs: START_WAIT.as_secs(),
                log: log.display().to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spawn_daemon(home: &Home) -> Result<std::process::Child, LifecycleError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let opened =
        crate::daemon_log::open_for_start(&home.layout, &cattery_protocol::format_utc(now))
            .map_err(LifecycleError::Spawn)?;
    if let Some(previous) = &opened.unclean {
        // On stderr, so a script's JSON on stdout stays whole.
        eprintln!(
            "cattery: the last catteryd did not stop cleanly (killed or crashed); its log is kept in {}",
            previous.display()
        );
    }
    let out = opened.file;
    let err = out.try_clone().map_err(LifecycleError::Spawn)?;
    let mut command = Command::new(catteryd()?);
    if let Some(root) = &home.root {
        command.arg("--home").arg(root);
    }
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group, so a Ctrl-C in this terminal does not reach it.
        .process_group(0)
        .spawn()
        .map_err(LifecycleError::Spawn)
}

/// The started daemon exited. When a daemon started some other way owns the
/// home (the child lost the home lock to it), that one answers soon and is
/// the answer; otherwise the child's last words say why it stopped.
async fn exited(
    home: &Home,
    log: &Path,
    exit: std::process::ExitStatus,
) -> Result<DaemonStatus, LifecycleError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Some(status) = status(home).await {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(LifecycleError::Exited {
        status: exit.to_string(),
        said: last_words(log),
        log: log.display().to_string(),
    })
}

/// Waits for the daemon `pid`, which owns the home, to answer.
async fn answer_of(home: &Home, pid: u32) -> Result<DaemonStatus, LifecycleError> {
    let deadline = Instant::now() + START_WAIT;
    while Instant::now() < deadline {
        if let Some(status) = status(home).await {
            return Ok(status);
        }
        if owner(home).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(LifecycleError::Unreachable { pid })
}

/// Stops the daemon that owns the home and waits until it has exited (its
/// lock is free). One that answers is asked to shut down; one that owns the
/// home but does not answer gets SIGTERM. Returns false when none was
/// running.
pub async fn stop(home: &Home) -> Result<bool, LifecycleError> {
    match Client::connect(home, "cattery").await {
        Ok(mut client) => {
            client.call(Call::Shutdown).await?;
        }
        Err(ClientError::NoDaemon { .. }) => match owner(home) {
            Some(pid) => {
                crate::lockcheck::terminate(pid);
            }
            None => return Ok(false),
        },
        Err(e) => return Err(e.into()),
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Some(pid) = owner(home) {
        if Instant::now() > deadline {
            return Err(LifecycleError::Unreachable { pid });
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
fn last_words(log: &Path) -> String {
    let text = crate::daemon_log::since_last_start(log);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.len() {
        0 => "it printed nothing".to_owned(),
        n => lines[n.saturating_sub(8)..].join("\n"),
    }
}

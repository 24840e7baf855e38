//! Helpers for end-to-end tests that start the real binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::app;
use cattery_daemon::config::Paths;
use cattery_daemon::events::{Bus, Numbered};
use cattery_daemon::exec::ProcessExecutor;
use cattery_daemon::service::Daemon;
use cattery_protocol::event::Event;
use cattery_protocol::{PendingGate, Run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// The `catteryd` binary of this workspace, brought up to date once per
/// test process (a test crate does not rebuild another package's binaries).
pub fn catteryd() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "cattery-daemon",
                    "--bin",
                    "catteryd",
                ])
                .status()
                .unwrap();
            assert!(status.success(), "building catteryd failed");
            let exe = std::env::current_exe().unwrap();
            let target = exe.parent().and_then(Path::parent).unwrap();
            target.join("catteryd")
        })
        .clone()
}

/// A daemon on a temp home running agents as real child processes.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub daemon: Arc<Daemon>,
    pub events: broadcast::Receiver<Numbered>,
}

impl Home {
    pub fn new() -> Self {
        Self::with_config(&[])
    }

    /// A home whose config dir holds `files` (name, text) before the daemon opens.
    pub fn with_config(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = Paths::under(dir.path()).config.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let bus = Arc::new(Bus::new(65_536));
        let events = bus.subscribe();
        let paths = Paths::under(dir.path());
        let daemon = app::open(paths, Arc::new(ProcessExecutor), bus).unwrap();
        Self {
            dir,
            daemon,
            events,
        }
    }

    /// Waits for the next gate to open, up to `secs`.
    pub async fn next_gate(&mut self, secs: u64) -> PendingGate {
        let wait = async {
            loop {
                if let Ok(Numbered {
                    event: Event::GateOpened { gate },
                    ..
                }) = self.events.recv().await
                {
                    return gate;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(secs), wait)
            .await
            .expect("no gate opened in time")
    }

    /// Waits until the run satisfies `done`, up to `secs`.
    pub async fn wait_run(&self, id: &str, secs: u64, done: impl Fn(&Run) -> bool) -> Arc<Run> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let run = self.daemon.run(id).unwrap();
            if done(&run) {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {id} did not get there in {secs}s: {run:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

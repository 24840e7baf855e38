//! Helpers for end-to-end tests that start the real binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fuzz;
pub mod gitfix;
pub mod model_server;
pub mod soak;

use cattery_daemon::app;
use cattery_daemon::config::Paths;
use cattery_daemon::events::{Bus, Numbered};
use cattery_daemon::exec::{DockerExecutor, Executor, ProcessExecutor};
use cattery_daemon::service::Daemon;
use cattery_daemon::service::ops::NewBlock;
use cattery_protocol::event::Event;
use cattery_protocol::home::Layout;
use cattery_protocol::wire::Call;
use cattery_protocol::{Block, BlockLevel, PendingGate, Run};
use cattery_tui::client::Client;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// The `catteryd` binary of this workspace, brought up to date once per
/// test process (a test crate does not rebuild another package's binaries).
pub fn catteryd() -> PathBuf {
    built().join("catteryd")
}

/// The `cattery` binary, built beside `catteryd` (it starts the daemon from there).
pub fn cattery() -> PathBuf {
    built().join("cattery")
}

fn built() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let target = exe.parent().and_then(Path::parent).unwrap().to_owned();
            // Benches run from the release dir and need release binaries beside them.
            let release = target.file_name().is_some_and(|name| name == "release");
            let mut build = Command::new(env!("CARGO"));
            build.args([
                "build",
                "--quiet",
                "-p",
                "cattery-daemon",
                "--bin",
                "catteryd",
            ]);
            build.args(["-p", "cattery-tui", "--bin", "cattery"]);
            if release {
                build.arg("--release");
            }
            assert!(
                build.status().unwrap().success(),
                "building the binaries failed"
            );
            target
        })
        .clone()
}

/// A daemon on a temp home running agents as real child processes, started
/// through the same `app::boot` as catteryd (alerts, delivery, escalation).
/// Needs a Tokio runtime.
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
        Self::with_executor(files, Arc::new(ProcessExecutor))
    }

    /// Like [`Home::with_config`], with the given executor.
    pub fn with_executor(files: &[(&str, &str)], executor: Arc<dyn Executor>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), files);
        let bus = Arc::new(Bus::new(65_536));
        let events = bus.subscribe();
        let paths = Paths::under(dir.path());
        let settings = cattery_daemon::config::Settings::load(&paths.config).unwrap();
        let daemon = app::boot(paths, &settings, executor, bus).unwrap();
        Self {
            dir,
            daemon,
            events,
        }
    }

    /// A block on the board, through the daemon's own operation.
    pub fn add_block(
        &self,
        level: BlockLevel,
        parent: Option<&str>,
        title: &str,
        description: &str,
    ) -> Block {
        let new = NewBlock {
            repository: None,
            level,
            parent_id: parent.map(str::to_owned),
            title: title.into(),
            description: description.into(),
        };
        self.daemon.add_block(new).unwrap()
    }

    /// A top-level task whose description scripts the demo agent.
    pub fn add_task(&self, description: &str) -> Block {
        self.add_block(BlockLevel::Task, None, "t", description)
    }

    /// Waits for the next gate to open, up to `secs`.
    pub async fn next_gate(&mut self, secs: u64) -> PendingGate {
        let wait = async {
            loop {
                if let Ok(Numbered { event, .. }) = self.events.recv().await
                    && let Event::GateOpened { gate } = &*event
                {
                    return gate.clone();
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(secs), wait)
            .await
            .expect("no gate opened in time")
    }

    /// Waits until the run satisfies `done`, up to `secs`.
    pub async fn wait_run(&self, id: &str, secs: u64, done: impl Fn(&Run) -> bool) -> Arc<Run> {
        let run = || self.daemon.run(id).unwrap();
        eventually_async(
            secs,
            || std::future::ready(Some(run()).filter(|r| done(r))),
            || format!("run {id} did not get there: {:#?}", run()),
        )
        .await
    }
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `files` (name, text) into the config dir of the home at `home`.
pub fn write_config(home: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = Paths::under(home).config.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// What an end-to-end test may need from the machine. Without it the test
/// is skipped and says so, unless the tool's `CATTERY_REQUIRE_*` variable
/// is `1` (CI sets all three), which makes a missing tool a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Docker,
    Tmux,
    Desktop,
    /// Mounting a small tmpfs (root with CAP_SYS_ADMIN), for disk faults.
    Mount,
    /// The real agent CLIs (`claude`), pinned and installed from npm.
    Agents,
}

impl Tool {
    fn required_by(self) -> &'static str {
        match self {
            Tool::Docker => "CATTERY_REQUIRE_DOCKER",
            Tool::Tmux => "CATTERY_REQUIRE_TMUX",
            Tool::Desktop => "CATTERY_REQUIRE_DESKTOP",
            Tool::Mount => "CATTERY_REQUIRE_MOUNT",
            Tool::Agents => "CATTERY_REQUIRE_AGENTS",
        }
    }
}

/// The agent CLI that `variable` names (else `default` on PATH) when it
/// answers `--version`; else a [`skip`] of [`Tool::Agents`].
pub fn agent_cli(variable: &str, default: &str) -> Option<String> {
    let named = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    let found = Command::new(&named).arg("--version").output();
    match found {
        Ok(out) if out.status.success() => Some(named),
        _ => skip(
            Tool::Agents,
            &format!("{named} is not installed (set {variable})"),
        ),
    }
}

/// Every file under `dir` whose bytes hold `needle`: where a secret leaked.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// A test cannot have `tool` (`why` says what is missing): fails when the
/// tool is required, else writes a SKIPPED line and returns `None`. The line
/// goes to the process's stderr itself, which the test harness does not
/// capture, so a skip shows even when the test "passes".
pub fn skip<T>(tool: Tool, why: &str) -> Option<T> {
    let var = tool.required_by();
    if std::env::var(var).is_ok_and(|v| v == "1") {
        panic!("{var}=1 but this test cannot run: {why}");
    }
    let line = format!("SKIPPED ({tool:?}): {why}; set {var}=1 to make this a failure\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    None
}

/// `Some(())` when every program in `programs` is on PATH; otherwise
/// [`skip`] for `tool`, naming the first one missing.
pub fn require(tool: Tool, programs: &[&str]) -> Option<()> {
    let missing = programs.iter().find(|program| {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    });
    match missing {
        Some(program) => skip(tool, &format!("{program} is not installed")),
        None => Some(()),
    }
}

/// Polls `check` until it returns `Some`, for up to `secs` seconds, and
/// returns what it found. When time runs out the test fails with `fail()`,
/// built then, so it can show the state that never came right.
pub fn eventually<T>(
    secs: u64,
    mut check: impl FnMut() -> Option<T>,
    fail: impl FnOnce() -> String,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = check() {
            return found;
        }
        if std::time::Instant::now() >= deadline {
            panic!("{} (waited {secs}s)", fail());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// [`eventually`] for async tests: polls without blocking the runtime.
pub async fn eventually_async<T, Fut>(
    secs: u64,
    mut check: impl FnMut() -> Fut,
    fail: impl FnOnce() -> String,
) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{} (waited {secs}s)", fail());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Awaits `work`, failing the test with `what` if it takes over `secs`
/// seconds: for waits that need `&mut` access, such as reading a client.
pub async fn within<T>(secs: u64, what: &str, work: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), work).await {
        Ok(done) => done,
        Err(_) => panic!("{what} (waited {secs}s)"),
    }
}

/// The engine the Docker tests use: `DOCKER_HOST`, else the default socket.
pub fn docker_socket() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// A Docker executor on the test engine, or a [`skip`] when no engine answers.
pub async fn docker(daemon_id: &str) -> Option<DockerExecutor> {
    match DockerExecutor::connect(&docker_socket(), daemon_id.to_owned()).await {
        Ok(executor) => Some(executor),
        Err(reason) => skip(Tool::Docker, &format!("no Docker engine answers: {reason}")),
    }
}

/// Runs the docker CLI against the test engine and returns its stdout.
pub fn docker_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", docker_socket())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// A real `catteryd` child on a temp home (process executor, a free port),
/// killed when dropped.
pub struct DaemonProcess {
    child: std::process::Child,
    pub dir: tempfile::TempDir,
    /// Where this daemon's files are; clients connect through it.
    pub home: Layout,
}

impl DaemonProcess {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &[("config.toml", "executor = \"process\"\nport = 0\n")],
        );
        let home = Layout::under(dir.path());
        let child = spawn_catteryd_with(dir.path(), &[]);
        Self { child, dir, home }
    }

    /// Kills the daemon hard, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new daemon on the same home.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_catteryd_with(self.dir.path(), &[]);
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cattery --home HOME --json ARGS…`; returns exit code, stdout and stderr.
pub fn cattery_cli(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cattery())
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// Like [`cattery_cli`], asserting success and parsing the JSON answer.
pub fn cattery_ok(home: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = cattery_cli(home, args);
    assert_eq!(code, 0, "cattery {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
}

/// `catteryd --home HOME` on a home whose config is already written, with
/// extra environment; returns once it listens.
pub fn spawn_catteryd_with(home: &Path, env: &[(&str, &Path)]) -> std::process::Child {
    let port_file = Paths::under(home).port_file();
    let _ = std::fs::remove_file(&port_file);
    let mut command = Command::new(catteryd());
    command
        .arg("--home")
        .arg(home)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().unwrap();
    eventually(
        20,
        || port_file.exists().then_some(()),
        || "catteryd wrote no port file".to_owned(),
    );
    child
}

/// `catteryd` on a fresh home whose config dir holds `files` (name, text),
/// for a config it must refuse: its exit code and stderr.
pub fn catteryd_on_config(files: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), files);
    let out = Command::new(catteryd())
        .arg("--home")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Adds the blocks of a workspace file through `cattery ctl block import`,
/// starting the pipelines it names.
pub fn import_workspace(home: &Path, toml: &str) {
    let file = home.join("workspace-import.toml");
    std::fs::write(&file, toml).unwrap();
    cattery_ok(home, &["ctl", "block", "import", file.to_str().unwrap()]);
}

/// Waits until no run is running (each is done, failed or parked at a gate),
/// then stops the daemon through the API and waits for it to exit.
pub fn settle_then_stop(home: &Path, child: &mut std::process::Child, secs: u64) {
    // Three quiet looks in a row, a moment apart: a run between steps is
    // briefly not running.
    let mut quiet = 0;
    eventually(
        secs,
        || {
            assert!(child.try_wait().unwrap().is_none(), "catteryd exited early");
            let runs: Vec<Run> =
                serde_json::from_value(cattery_ok(home, &["ctl", "runs"])).unwrap();
            let running = runs
                .iter()
                .any(|r| r.status == cattery_protocol::RunStatus::Running);
            quiet = if running { 0 } else { quiet + 1 };
            std::thread::sleep(Duration::from_millis(150));
            (quiet >= 3).then_some(())
        },
        || "runs were still running".to_owned(),
    );
    cattery_ok(home, &["daemon", "stop"]);
    assert!(
        child.wait().unwrap().success(),
        "catteryd did not stop cleanly"
    );
}

/// Adds a task and starts `pipeline` on it through the websocket API.
pub async fn start_task_over_api(
    client: &mut Client,
    title: &str,
    description: &str,
    pipeline: &str,
) -> Run {
    let block: Block = client
        .call_as(Call::AddBlock {
            repository: None,
            title: title.into(),
            description: description.into(),
            parent_id: None,
            level: BlockLevel::Task,
        })
        .await
        .unwrap();
    client
        .call_as(Call::Start {
            block_id: block.id,
            pipeline_id: pipeline.into(),
        })
        .await
        .unwrap()
}

/// A temp home driven only through the `cattery` binary, as a script would:
/// the first command starts a real `catteryd` (process executor, a free
/// port), which is stopped when this is dropped.
pub struct CtlHome {
    dir: tempfile::TempDir,
}

impl CtlHome {
    /// A home whose config dir also holds `files` (name, text).
    pub fn with_config(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &[("config.toml", "executor = \"process\"\nport = 0\n")],
        );
        write_config(dir.path(), files);
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the daemon an Anthropic key the way a user would: in
    /// `config/secrets.toml`, readable by its user only.
    pub fn set_anthropic_key(&self, key: &str) {
        self.set_api_keys(&[("anthropic", key)]);
    }

    /// Gives the daemon each vendor's key (`anthropic`, `openai`) in
    /// `config/secrets.toml`, readable by its user only.
    pub fn set_api_keys(&self, keys: &[(&str, &str)]) {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Paths::under(self.path()).secrets();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .unwrap();
        let text: String = keys
            .iter()
            .map(|(vendor, key)| format!("[{vendor}]\napi_key = \"{key}\"\n\n"))
            .collect();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    }

    /// Adds a frame on the clone at `repo` and a task under it; answers the
    /// task's id.
    pub fn task_under_frame(&self, repo: &Path, title: &str, description: &str) -> String {
        let repo = repo.display().to_string();
        let frame = self.ctl(&[
            "block", "add", "--level", "frame", "--title", "Service", "--repo", &repo,
        ]);
        let parent = frame["id"].as_str().unwrap_or_default().to_owned();
        let task = self.ctl(&[
            "block",
            "add",
            "--title",
            title,
            "--description",
            description,
            "--parent",
            &parent,
        ]);
        task["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Runs `cattery --json ARGS…`: exit code, stdout, stderr.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        cattery_cli(self.path(), args)
    }

    /// Runs `cattery --json ctl ARGS…`, asserting success.
    pub fn ctl(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["ctl"];
        all.extend_from_slice(args);
        cattery_ok(self.path(), &all)
    }

    /// Adds a task with `description` and starts `pipeline` on it.
    pub fn start_task(&self, description: &str, pipeline: &str) -> Run {
        let block = self.ctl(&["block", "add", "--title", "t", "--description", description]);
        let block_id = block["id"].as_str().unwrap().to_owned();
        serde_json::from_value(self.ctl(&["start", &block_id, pipeline])).unwrap()
    }

    pub fn run(&self, id: &str) -> Run {
        let runs: Vec<Run> = serde_json::from_value(self.ctl(&["runs"])).unwrap();
        runs.into_iter().find(|r| r.id == id).unwrap()
    }

    pub fn block(&self, id: &str) -> Block {
        let board: Vec<Block> = serde_json::from_value(self.ctl(&["board"])).unwrap();
        board.into_iter().find(|b| b.id == id).unwrap()
    }

    /// Polls run `id` until `done` holds, for up to a minute.
    pub fn wait_run(&self, id: &str, what: &str, done: impl Fn(&Run) -> bool) -> Run {
        eventually(
            60,
            || Some(self.run(id)).filter(|r| done(r)),
            || format!("run {id} never {what}: {:#?}", self.run(id)),
        )
    }

    /// A frame "Payments" on the clone at `repo` (with `repo_args`, such
    /// as `--base trunk` or `--ci local`), a task "Add refunds" ("Refund a
    /// payment.") under it, and `pipeline` started on the task.
    pub fn start_in_frame(&self, repo: &Path, repo_args: &[&str], pipeline: &str) -> Run {
        let path = repo.display().to_string();
        let mut args = vec![
            "block", "add", "--level", "frame", "--title", "Payments", "--repo", &path,
        ];
        args.extend_from_slice(repo_args);
        let frame = self.ctl(&args);
        let task = self.ctl(&[
            "block",
            "add",
            "--title",
            "Add refunds",
            "--description",
            "Refund a payment.",
            "--parent",
            frame["id"].as_str().unwrap_or_default(),
        ]);
        let task = task["id"].as_str().unwrap_or_default();
        serde_json::from_value(self.ctl(&["start", task, pipeline])).unwrap()
    }

    /// Waits for `run` to end and answers it as it ended.
    pub fn finish(&self, run: &Run) -> Run {
        self.wait_run(&run.id, "ended", |r| !r.status.is_live())
    }

    /// The open cards raised for `run`.
    pub fn cards_of(&self, run: &Run) -> Vec<cattery_protocol::Notification> {
        let cards: Vec<cattery_protocol::Notification> =
            serde_json::from_value(self.ctl(&["notifications"])).unwrap();
        cards
            .into_iter()
            .filter(|c| c.run_id.as_deref() == Some(run.id.as_str()))
            .collect()
    }

    /// The one open card raised for `run`.
    pub fn card_of(&self, run: &Run) -> cattery_protocol::Notification {
        self.cards_of(run)
            .pop()
            .unwrap_or_else(|| panic!("no card for {}", run.id))
    }

    /// Kills the home's daemon with SIGKILL, as a crash would; the next
    /// command starts a new one.
    pub fn kill_daemon(&self) {
        let status = self.cli(&["daemon", "status"]).1;
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        let pid = status["pid"].as_i64().unwrap();
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Waits for run `id` to park and returns the gate it waits on.
    pub fn gate(
        &self,
        id: &str,
        kind: cattery_protocol::GateKind,
    ) -> cattery_protocol::PendingGate {
        let run = self.wait_run(id, &format!("parked at {kind:?}"), |r| {
            r.pending_gate().is_some_and(|g| g.kind == kind) || !r.status.is_live()
        });
        // Status and failure first: CI keeps a dump's head and tail only.
        run.pending_gate().unwrap_or_else(|| {
            panic!(
                "run {id} ended {:?} instead of parking: {:?}\n{run:#?}",
                run.status, run.failure
            )
        })
    }
}

impl Drop for CtlHome {
    fn drop(&mut self) {
        let _ = cattery_cli(self.path(), &["daemon", "stop"]);
    }
}

//! Regression tests for the defects found by attacking the release binaries
//! from outside, each named after the behaviour it pins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::RunStatus;
use cattery_tests::{CtlHome, cattery_cli, eventually};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z")
}

#[test]
fn regression_clients_polling_through_restarts_never_leave_an_unreachable_daemon() {
    let home = CtlHome::with_config(&[]);
    assert_eq!(home.cli(&["daemon", "start"]).0, 0);
    let done = Arc::new(AtomicBool::new(false));
    let pollers: Vec<_> = (0..6)
        .map(|_| {
            let path = home.path().to_owned();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let _ = cattery_cli(&path, &["daemon", "status"]);
                }
            })
        })
        .collect();
    for round in 0..5 {
        let (code, _, err) = home.cli(&["daemon", "restart"]);
        assert_eq!(code, 0, "restart {round} failed: {err}");
        let (code, _, err) = home.cli(&["daemon", "status"]);
        assert_eq!(
            code, 0,
            "after restart {round} the daemon is unreachable: {err}"
        );
    }
    done.store(true, Ordering::Relaxed);
    for poller in pollers {
        poller.join().unwrap();
    }
    let (code, _, err) = home.cli(&["daemon", "status"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn regression_daemon_stop_stops_a_daemon_whose_port_file_is_gone() {
    let home = CtlHome::with_config(&[]);
    let status: serde_json::Value =
        serde_json::from_str(&home.cli(&["daemon", "start"]).1).unwrap();
    let pid = status["pid"].as_u64().unwrap() as u32;
    std::fs::remove_file(home.path().join("data/port")).unwrap();
    let (code, _, err) = home.cli(&["daemon", "status"]);
    assert_eq!(code, 3);
    assert!(
        err.contains(&format!("pid {pid}")) && err.contains("does not answer"),
        "{err}"
    );
    let (code, out, err) = home.cli(&["daemon", "stop"]);
    assert_eq!((code, out.as_str()), (0, "stopped"), "{err}");
    assert!(
        !alive(pid),
        "daemon stop said stopped, but {pid} still runs"
    );
}

/// A child forked from the daemon (to run an agent) that has not exec'ed yet
/// must not hold the home lock: a daemon killed at that moment would
/// otherwise lock the next one out.
#[test]
#[allow(unsafe_code)]
fn regression_a_forked_child_does_not_keep_the_home_lock() {
    let dir = tempfile::tempdir().unwrap();
    cattery_tests::write_config(
        dir.path(),
        &[("config.toml", "executor = \"process\"\nport = 0\n")],
    );
    let paths = cattery_daemon::config::Paths::under(dir.path());
    let lock = cattery_daemon::app::lock_home(&paths).unwrap();
    // SAFETY: the child only sleeps and exits, both async-signal-safe.
    let child = unsafe { libc::fork() };
    if child == 0 {
        unsafe {
            libc::sleep(5);
            libc::_exit(0);
        }
    }
    assert!(child > 0, "fork failed");
    drop(lock);
    let mut daemon = cattery_tests::spawn_catteryd_with(dir.path(), &[]);
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "catteryd was locked out"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    // SAFETY: plain integers.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
}

#[test]
fn regression_a_home_is_private_to_its_user_under_umask_022() {
    let home = CtlHome::with_config(&[]);
    let data = home.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let loose = data.join("left-by-an-older-version");
    std::fs::write(&loose, "x").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut daemon = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 022; exec '{}' --home '{}'",
            cattery_tests::catteryd().display(),
            home.path().display()
        ))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually(
        20,
        || data.join("port").exists().then_some(()),
        || "no port file".into(),
    );
    let run = home.start_task("@demo * sleep 0", "quick");
    home.wait_run(&run.id, "parked or ended", |r| {
        r.status != RunStatus::Running
    });
    assert_eq!(mode(&data), 0o700, "the data dir");
    assert_eq!(mode(&loose), 0o600, "an existing file is tightened");
    for name in [
        "cattery.db",
        "cattery.db-wal",
        "cattery.db-shm",
        "token",
        "port",
        "catteryd.pid",
    ] {
        let path = data.join(name);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    let jobs: Vec<_> = std::fs::read_dir(data.join("jobs"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!jobs.is_empty(), "a job folder was written");
    for job in jobs {
        assert_eq!(mode(&job.path()), 0o700, "{:?}", job.path());
        for file in std::fs::read_dir(job.path()).unwrap().flatten() {
            assert_eq!(mode(&file.path()), 0o600, "{:?}", file.path());
        }
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// Live processes that carry a `CATTERY_JOB_ID`: (job id, process group).
fn job_processes() -> Vec<(String, i32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let job = env
            .split(|b| *b == 0)
            .find_map(|var| var.strip_prefix(b"CATTERY_JOB_ID="))
            .map(|id| String::from_utf8_lossy(id).into_owned());
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let group = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse().ok());
        if let (Some(job), Some(group)) = (job, group) {
            found.push((job, group));
        }
    }
    found
}

/// A home whose architect runs `script` under `sh -c` as a local process.
fn home_with_architect(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let agents = format!(
        "[agents.architect]\ncommand = [\"sh\", \"-c\", {}]\n",
        toml_string(script)
    );
    cattery_tests::write_config(
        dir.path(),
        &[
            ("config.toml", "executor = \"process\"\nport = 0\n"),
            ("agents.toml", &agents),
        ],
    );
    dir
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn start_quick(home: &Path) -> String {
    let block = cattery_tests::cattery_ok(home, &["ctl", "block", "add", "--title", "t"]);
    let run = cattery_tests::cattery_ok(
        home,
        &["ctl", "start", block["id"].as_str().unwrap(), "quick"],
    );
    run["id"].as_str().unwrap().to_owned()
}

/// A catteryd child killed (SIGKILL) when dropped, even by a failing test.
struct Killed(std::process::Child);

impl Killed {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn regression_daemon_stop_kills_an_agents_grandchildren_too() {
    let marker = tempfile::tempdir().unwrap();
    let pidfile = marker.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > '{}'; wait", pidfile.display());
    let dir = home_with_architect(&script);
    let mut daemon = Killed(cattery_tests::spawn_catteryd_with(dir.path(), &[]));
    start_quick(dir.path());
    let grandchild: u32 = eventually(
        20,
        || std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok(),
        || "the agent never started its grandchild".into(),
    );
    assert!(alive(grandchild));
    let (code, out, err) = cattery_cli(dir.path(), &["daemon", "stop"]);
    assert_eq!((code, out.as_str()), (0, "stopped"), "{err}");
    let _ = daemon.0.wait();
    eventually(
        5,
        || (!alive(grandchild)).then_some(()),
        || format!("grandchild {grandchild} outlived daemon stop"),
    );
}

#[test]
fn regression_a_job_spawned_just_before_a_sigkill_never_runs_twice_at_once() {
    let dir = home_with_architect("sleep 30");
    let mut daemon = Killed(cattery_tests::spawn_catteryd_with(dir.path(), &[]));
    let mut two_at_once = Vec::new();
    for trial in 0..5u64 {
        let known: Vec<String> = job_processes().into_iter().map(|(job, _)| job).collect();
        start_quick(dir.path());
        // The moment a new job's process appears, kill the daemon 0-9 ms later.
        eventually(
            20,
            || {
                job_processes()
                    .iter()
                    .any(|(job, _)| !known.contains(job))
                    .then_some(())
            },
            || "no agent process appeared".into(),
        );
        std::thread::sleep(std::time::Duration::from_millis(trial * 2));
        daemon.kill();
        daemon = Killed(cattery_tests::spawn_catteryd_with(dir.path(), &[]));
        for _ in 0..40 {
            let mut groups: std::collections::BTreeMap<String, std::collections::BTreeSet<i32>> =
                Default::default();
            for (job, group) in job_processes() {
                groups.entry(job).or_default().insert(group);
            }
            two_at_once.extend(groups.into_iter().filter(|(_, g)| g.len() > 1));
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
    let _ = cattery_cli(dir.path(), &["daemon", "stop"]);
    drop(daemon);
    assert!(
        two_at_once.is_empty(),
        "one job ran in two process groups at once: {two_at_once:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_idle_and_half_open_connections_cannot_shut_clients_out() {
    use std::io::Write;
    let _ = cattery_daemon::os::raise_file_limit();
    let d = cattery_tests::DaemonProcess::start();
    let (port, _) = cattery_tui::client::endpoint(&d.home).unwrap();
    let address = format!("127.0.0.1:{port}");
    let mut held = Vec::new();
    for _ in 0..2_000 {
        held.push(std::net::TcpStream::connect(&address).unwrap());
    }
    for _ in 0..500 {
        let mut half = std::net::TcpStream::connect(&address).unwrap();
        // An upgrade request that never ends its headers.
        let _ = half.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
        held.push(half);
    }
    let mut client = cattery_tui::client::Client::connect(&d.home, "after-the-flood")
        .await
        .expect("a real client still gets in");
    let run =
        cattery_tests::start_task_over_api(&mut client, "t", "@demo * sleep 0", "quick").await;
    let gate = cattery_tests::within(30, "the run never reached its first gate", async {
        loop {
            let runs: Vec<cattery_protocol::Run> = client
                .call_as(cattery_protocol::wire::Call::Runs)
                .await
                .unwrap();
            let now = runs.into_iter().find(|r| r.id == run.id).unwrap();
            if let Some(gate) = now.pending_gate() {
                return gate;
            }
            assert!(
                now.status.is_live(),
                "the run failed under the flood: {:?}",
                now.failure
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(gate.kind, cattery_protocol::GateKind::Approval);
    drop(held);
}

#[test]
fn regression_an_import_with_a_bad_block_creates_nothing_and_a_second_import_changes_nothing() {
    let home = CtlHome::with_config(&[]);
    let file = home.path().join("work.toml");
    let block = |key: &str, parent: &str, pipeline: &str| {
        format!(
            "[[blocks]]\nkey = \"{key}\"\nlevel = \"task\"\n{parent}title = \"{key}\"\ndescription = \"@demo * sleep 0\"\npipeline = \"{pipeline}\"\n\n"
        )
    };
    let bad = [
        block("a", "", "quick"),
        block("b", "parent = \"a\"\n", "quick"),
        block("c", "", "no-such-pipeline"),
    ]
    .concat();
    std::fs::write(&file, &bad).unwrap();
    let (code, _, err) = home.cli(&["ctl", "block", "import", file.to_str().unwrap()]);
    assert_eq!(code, 7, "an invalid file is refused: {err}");
    assert!(
        err.contains("work.toml:16:") && err.contains("no-such-pipeline"),
        "{err}"
    );
    let board = home.ctl(&["board"]);
    assert_eq!(
        board.as_array().unwrap().len(),
        0,
        "nothing was created: {board}"
    );
    assert_eq!(
        home.ctl(&["runs"]).as_array().unwrap().len(),
        0,
        "nothing was started"
    );

    let good = bad.replace("no-such-pipeline", "quick");
    std::fs::write(&file, &good).unwrap();
    let first = home.ctl(&["block", "import", file.to_str().unwrap()]);
    assert_eq!(
        (
            first["created"].as_array().unwrap().len(),
            first["unchanged"].as_u64()
        ),
        (3, Some(0))
    );
    let again = home.ctl(&["block", "import", file.to_str().unwrap()]);
    assert_eq!(
        (
            again["created"].as_array().unwrap().len(),
            again["unchanged"].as_u64()
        ),
        (0, Some(3))
    );
    assert_eq!(
        home.ctl(&["board"]).as_array().unwrap().len(),
        3,
        "no duplicates"
    );
    assert_eq!(
        home.ctl(&["runs"]).as_array().unwrap().len(),
        3,
        "each started once"
    );

    std::fs::write(&file, "[[blocks]]\ntitle = \" \"\n").unwrap();
    let (code, _, err) = home.cli(&["ctl", "block", "import", file.to_str().unwrap()]);
    assert_eq!(code, 7);
    assert!(
        err.contains("work.toml:1:") && err.contains("empty title"),
        "{err}"
    );
    std::fs::write(&file, "[[blocks]]\ntitle = \"x\"\nparent = \"nope\"\n").unwrap();
    let (_, _, err) = home.cli(&["ctl", "block", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("work.toml:1:") && err.contains("parent `nope` not found"),
        "{err}"
    );
}

/// catteryd on `home` run to its end: exit code and what it said.
fn catteryd_says(home: &Path) -> (Option<i32>, String) {
    let out = Command::new(cattery_tests::catteryd())
        .arg("--home")
        .arg(home)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A home whose database was made by a daemon that then stopped.
fn stopped_home() -> CtlHome {
    let home = CtlHome::with_config(&[]);
    home.start_task("@demo * sleep 0", "quick");
    assert_eq!(home.cli(&["daemon", "stop"]).0, 0);
    home
}

#[test]
fn regression_a_damaged_database_is_refused_at_start_and_left_as_it_is() {
    let home = stopped_home();
    let db = home.path().join("data/cattery.db");
    // Everything into the main file, so the damage below hits real pages.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8192, "the database has more than one page");
    for byte in &mut bytes[4096..8192] {
        *byte = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let (code, said) = catteryd_says(home.path());
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("is damaged") && said.contains("restore it from a backup"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "the file was not touched"
    );
}

#[test]
fn regression_a_database_from_a_newer_cattery_is_refused_naming_both_versions() {
    let home = stopped_home();
    let db = home.path().join("data/cattery.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let supported: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let (code, said) = catteryd_says(home.path());
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("schema version 99") && said.contains(&format!("({supported})")),
        "{said}"
    );
}

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Self(dir.to_owned())),
            Ok(out) => cattery_tests::skip(
                cattery_tests::Tool::Mount,
                &format!(
                    "cannot mount a tmpfs: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ),
            Err(e) => cattery_tests::skip(cattery_tests::Tool::Mount, &format!("no mount: {e}")),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A home (process executor, free port) on its own small tmpfs. The disk is
/// unmounted before the temp dir is removed (fields drop in this order).
struct DiskHome {
    _disk: SmallDisk,
    outer: tempfile::TempDir,
    home: std::path::PathBuf,
}

impl DiskHome {
    fn new(size: &str) -> Option<Self> {
        let outer = tempfile::tempdir().unwrap();
        let disk = SmallDisk::mount(outer.path(), size)?;
        let home = outer.path().join("home");
        cattery_tests::write_config(
            &home,
            &[("config.toml", "executor = \"process\"\nport = 0\n")],
        );
        Some(Self {
            _disk: disk,
            outer,
            home,
        })
    }
}

/// Fills the file system under `dir` with one file; returns its path.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.flush();
    path
}

#[test]
fn a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers_without_a_restart() {
    let Some(disk) = DiskHome::new("8m") else {
        return;
    };
    let (outer, home) = (disk.outer.path(), disk.home.clone());
    let _daemon = Killed(cattery_tests::spawn_catteryd_with(&home, &[]));
    let ok = |args: &[&str]| cattery_tests::cattery_ok(&home, args);
    ok(&["ctl", "block", "add", "--title", "before"]);
    let filler = fill(outer);
    let (code, _, err) = cattery_cli(&home, &["ctl", "block", "add", "--title", "during"]);
    assert_eq!(
        code, 8,
        "a write on a full disk is refused as unavailable: {err}"
    );
    assert!(
        err.contains("disk") && err.contains("full") && err.contains("free some space"),
        "{err}"
    );
    let health =
        |home: &Path| cattery_tests::cattery_ok(home, &["daemon", "status"])["health"].clone();
    let degraded = health(&home);
    assert_eq!(degraded["state"], "degraded", "{degraded}");
    assert!(
        degraded["reason"].as_str().unwrap().contains("is full"),
        "the reason says what is wrong: {degraded}"
    );
    let board = ok(&["ctl", "board"]);
    let titles: Vec<&str> = board
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        ["before"],
        "reads keep serving and nothing saved was lost"
    );
    std::fs::remove_file(filler).unwrap();
    eventually(
        20,
        || (health(&home)["state"] == "ok").then_some(()),
        || {
            format!(
                "still {} with space freed and no write tried",
                health(&home)
            )
        },
    );
    ok(&["ctl", "block", "add", "--title", "after"]);
    let board = ok(&["ctl", "board"]);
    assert_eq!(
        board.as_array().unwrap().len(),
        2,
        "the same daemon writes again: {board}"
    );
}

#[test]
fn a_step_that_finishes_on_a_full_disk_is_recorded_once_space_is_freed_not_failed() {
    let Some(disk) = DiskHome::new("8m") else {
        return;
    };
    let (outer, home) = (disk.outer.path(), disk.home.clone());
    let signals = tempfile::tempdir().unwrap();
    let go = signals.path().join("go");
    let agent = format!(
        "[agents.coder]\ncommand = [\"sh\", \"-c\", \"while [ ! -e {} ]; do sleep 0.05; done; echo '{{\\\"type\\\":\\\"result\\\",\\\"output\\\":\\\"built\\\"}}'\"]\n",
        go.display()
    );
    cattery_tests::write_config(
        &home,
        &[
            ("agents.toml", &agent),
            (
                "pipelines/one.toml",
                "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
            ),
        ],
    );
    let _daemon = Killed(cattery_tests::spawn_catteryd_with(&home, &[]));
    let ok = |args: &[&str]| cattery_tests::cattery_ok(&home, args);
    let block = ok(&["ctl", "block", "add", "--title", "build it"]);
    let run = ok(&["ctl", "start", block["id"].as_str().unwrap(), "one"]);
    let run_id = run["id"].as_str().unwrap().to_owned();
    let status = |home: &Path, id: &str| {
        let runs = cattery_tests::cattery_ok(home, &["ctl", "runs"]);
        let run = runs
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["id"] == id))
            .cloned()
            .unwrap_or_default();
        (run["status"].as_str().unwrap_or("?").to_owned(), run)
    };
    eventually(
        20,
        || (status(&home, &run_id).1["steps"][0]["state"] == "working").then_some(()),
        || format!("the step never started: {}", status(&home, &run_id).1),
    );
    let filler = fill(outer);
    std::fs::write(&go, "").unwrap();
    eventually(
        20,
        || {
            let health = cattery_tests::cattery_ok(&home, &["daemon", "status"])["health"].clone();
            (health["state"] == "degraded").then_some(())
        },
        || "the step's result was never refused by the full disk".to_owned(),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (held, run) = status(&home, &run_id);
    assert_eq!(
        held, "running",
        "the run waits for room, it does not fail: {run}"
    );
    std::fs::remove_file(filler).unwrap();
    eventually(
        30,
        || (status(&home, &run_id).0 == "done").then_some(()),
        || {
            format!(
                "the run did not finish once space was freed: {}",
                status(&home, &run_id).1
            )
        },
    );
    let (_, run) = status(&home, &run_id);
    assert_eq!(run["steps"][0]["output"], "built", "{run}");
    assert_eq!(run["steps"][0]["attempts"], 1, "the agent ran once: {run}");
}

#[test]
fn a_read_only_data_dir_is_refused_at_start_with_what_to_do() {
    let Some(disk) = DiskHome::new("4m") else {
        return;
    };
    let (outer, home) = (disk.outer.path(), disk.home.clone());
    std::fs::create_dir_all(home.join("data")).unwrap();
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(outer)
        .status()
        .unwrap();
    assert!(remounted.success(), "cannot remount read-only");
    let (code, said) = catteryd_says(&home);
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("read-only file system") && said.contains("remount it read-write"),
        "{said}"
    );
}

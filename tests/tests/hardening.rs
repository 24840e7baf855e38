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

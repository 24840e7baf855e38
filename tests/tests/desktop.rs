//! Desktop notifications from a real catteryd to a real notification server
//! (dunst under Xvfb, on a private session bus), and the fallbacks when
//! there is none: the configured command, then the terminal bell.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::event::Event;
use cattery_protocol::wire::ServerFrame;
use cattery_protocol::{Notification, NotificationType};
use cattery_tests::{import_workspace, settle_then_stop, spawn_catteryd_with, write_config};
use cattery_tui::client::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Xvfb, a session bus started without DISPLAY (so nothing auto-starts
/// behind the test's back) and dunst, whose rule script logs every
/// notification as `summary<TAB>body<TAB>urgency`.
struct Desktop {
    dir: tempfile::TempDir,
    bus: String,
    bus_pid: u32,
    xvfb: Child,
    dunst: Child,
}

impl Desktop {
    fn start() -> Option<Self> {
        cattery_tests::require(
            cattery_tests::Tool::Desktop,
            &["Xvfb", "dunst", "dbus-daemon", "dbus-send"],
        )?;
        let dir = tempfile::tempdir().unwrap();
        // Tests in one process run side by side: each needs its own display,
        // or a second Xvfb fails and its dunst dies with the first one's.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 16;
        let display = format!(":{}", 100 + (std::process::id() % 500) * 16 + n);
        let xvfb = Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let socket = format!("/tmp/.X11-unix/X{}", &display[1..]);
        wait_until("Xvfb to listen", 10, || Path::new(&socket).exists());
        let out = Command::new("dbus-daemon")
            .env_remove("DISPLAY")
            .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
            .arg(format!(
                "--address=unix:path={}",
                dir.path().join("bus").display()
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let bus = lines.next().unwrap().to_owned();
        let bus_pid = lines.next().unwrap().trim().parse().unwrap();
        let log = dir.path().join("seen.log");
        let script = dir.path().join("record.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nbody=$(printf '%s' \"$DUNST_BODY\" | tr '\\n' ' ')\nprintf '%s\\t%s\\t%s\\n' \"$DUNST_SUMMARY\" \"$body\" \"$DUNST_URGENCY\" >> {}\n",
                log.display()
            ),
        )
        .unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        let rc = dir.path().join("dunstrc");
        std::fs::write(
            &rc,
            format!("[global]\n    font = Monospace 8\n\n[zz_all]\n    summary = \"*\"\n    script = {}\n", script.display()),
        )
        .unwrap();
        let dunst = Command::new("dunst")
            .arg("-config")
            .arg(&rc)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let desktop = Self {
            dir,
            bus,
            bus_pid,
            xvfb,
            dunst,
        };
        wait_until("dunst to own org.freedesktop.Notifications", 15, || {
            desktop.server_up()
        });
        Some(desktop)
    }

    fn server_up(&self) -> bool {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", self.bus))
            .args([
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.Notifications",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// Every notification shown so far, as (summary, body, urgency).
    fn seen(&self) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(self.dir.path().join("seen.log")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let mut parts = l.split('\t').map(str::to_owned);
                (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn wait_seen(&self, count: usize, secs: u64) -> Vec<(String, String, String)> {
        wait_until(&format!("{count} notification(s)"), secs, || {
            self.seen().len() >= count
        });
        self.seen()
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.dunst.kill();
        let _ = self.dunst.wait();
        let _ = Command::new("kill").arg(self.bus_pid.to_string()).status();
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

fn wait_until(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
    cattery_tests::eventually(
        secs,
        || ready().then_some(()),
        || format!("gave up waiting for {what}"),
    );
}

fn home(notify: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("executor = \"process\"\nport = 0\n[notify]\n{notify}");
    write_config(dir.path(), &[("config.toml", &config)]);
    dir
}

fn task(title: &str) -> String {
    format!(
        "[[blocks]]\nlevel = \"task\"\ntitle = \"{title}\"\npipeline = \"quick\"\ndescription = \"@demo * sleep 0\"\n"
    )
}

fn daemon_on(home: &Path, bus: &str) -> Child {
    spawn_catteryd_with(home, &[("DBUS_SESSION_BUS_ADDRESS", Path::new(bus))])
}

#[test]
fn a_new_gate_and_its_escalation_each_make_exactly_one_desktop_notification() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let dir = home("coalesce_ms = 200\n");
    let mut daemon = daemon_on(dir.path(), &desktop.bus);
    import_workspace(dir.path(), &task("Refunds"));
    let seen = desktop.wait_seen(1, 30);
    assert_eq!(
        seen[0],
        (
            "Refunds: approval waiting (architect)".to_owned(),
            "architect output, attempt 1".to_owned(),
            "NORMAL".to_owned()
        )
    );
    settle_then_stop(dir.path(), &mut daemon, 30);

    // The card was raised three hours ago as far as the store knows: the
    // sweep at the next start escalates it from the stored timestamp.
    let db = cattery_daemon::config::Paths::under(dir.path()).database();
    let conn = rusqlite::Connection::open(db).unwrap();
    let aged = conn
        .execute(
            "UPDATE notifications SET created_at = created_at - 10800000",
            [],
        )
        .unwrap();
    assert_eq!(aged, 1);
    drop(conn);
    let mut daemon = daemon_on(dir.path(), &desktop.bus);
    let seen = desktop.wait_seen(2, 30);
    assert_eq!(seen[1].0, "Refunds: approval waiting (architect)");
    assert_eq!(seen[1].2, "CRITICAL", "escalated to urgent");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        desktop.seen().len(),
        2,
        "exactly one per event: {:?}",
        desktop.seen()
    );
    settle_then_stop(dir.path(), &mut daemon, 30);
}

#[test]
fn a_burst_of_gates_is_coalesced_into_one_summary() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    let dir = home("coalesce_ms = 3000\n");
    let mut daemon = daemon_on(dir.path(), &desktop.bus);
    let burst: String = (1..=5).map(|n| task(&format!("Task {n}"))).collect();
    import_workspace(dir.path(), &burst);
    let seen = desktop.wait_seen(1, 30);
    std::thread::sleep(Duration::from_secs(4));
    let seen_now = desktop.seen();
    assert_eq!(seen_now.len(), 1, "one summary, not five: {seen_now:?}");
    assert_eq!(seen[0].0, "cattery: 5 cards need you");
    assert!(seen[0].1.contains("and 2 more"), "{:?}", seen[0]);
    settle_then_stop(dir.path(), &mut daemon, 30);
}

/// A `notify_command` that writes the card it is given to a file.
struct CardFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl CardFile {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        Self { _dir: dir, path }
    }

    /// `[notify]` lines that route to this file after `timeout_ms`.
    fn notify(&self, timeout_ms: u64) -> String {
        format!(
            "coalesce_ms = 100\ntimeout_ms = {timeout_ms}\nnotify_command = [\"sh\", \"-c\", \"cat > {}\"]\n",
            self.path.display()
        )
    }

    /// The card, once the command has written all of it.
    fn wait(&self, secs: u64) -> Notification {
        let read = || {
            let text = std::fs::read_to_string(&self.path).ok()?;
            serde_json::from_str::<Notification>(&text).ok()
        };
        wait_until("the command to write the card", secs, || read().is_some());
        read().unwrap()
    }
}

fn no_bus() -> PathBuf {
    PathBuf::from("unix:path=/nonexistent/cattery-test-bus")
}

#[test]
fn with_no_desktop_the_notify_command_gets_the_card_as_json() {
    let file = CardFile::new();
    let dir = home(&file.notify(3_000));
    let mut daemon = spawn_catteryd_with(dir.path(), &[("DBUS_SESSION_BUS_ADDRESS", &no_bus())]);
    import_workspace(dir.path(), &task("Refunds"));
    let card = file.wait(30);
    assert_eq!(card.kind, NotificationType::DecisionRequired);
    assert_eq!(card.title, "Refunds: approval waiting (architect)");
    settle_then_stop(dir.path(), &mut daemon, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_command_stalls_nothing_and_attached_clients_get_the_bell() {
    let dir = home(
        "coalesce_ms = 100\ntimeout_ms = 300\ndesktop = false\nnotify_command = [\"sleep\", \"30\"]\n",
    );
    let mut daemon = spawn_catteryd_with(dir.path(), &[("DBUS_SESSION_BUS_ADDRESS", &no_bus())]);
    let layout = cattery_daemon::config::Paths::under(dir.path());
    let mut watcher = Client::connect(&layout, "watcher").await.unwrap();
    watcher.subscribe(None).await.unwrap();
    let started = Instant::now();
    import_workspace(dir.path(), &task("Refunds"));
    let bell = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let ServerFrame::Event {
                event: Event::Bell { title, .. },
                ..
            } = watcher.next_frame().await.unwrap()
            {
                return title;
            }
        }
    })
    .await
    .expect("no bell reached the client");
    assert_eq!(bell, "Refunds: approval waiting (architect)");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the hung command was abandoned"
    );
    // The daemon still answers and the run still moves.
    let (code, out, err) = cattery_tests::cattery_cli(dir.path(), &["ctl", "inbox"]);
    assert_eq!(code, 0, "{err}");
    let inbox: Vec<cattery_protocol::PendingGate> = serde_json::from_str(&out).unwrap();
    let (code, _, err) = cattery_tests::cattery_cli(dir.path(), &["ctl", "approve", &inbox[0].id]);
    assert_eq!(code, 0, "{err}");
    let stopping = Instant::now();
    settle_then_stop(dir.path(), &mut daemon, 30);
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "the hung command held the exit"
    );
}

#[test]
fn a_server_that_takes_the_call_and_never_answers_stalls_nothing() {
    let Some(desktop) = Desktop::start() else {
        return;
    };
    // A stopped dunst still owns the name: the bus takes the call and the
    // answer never comes.
    let pid = desktop.dunst.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let file = CardFile::new();
    let dir = home(&file.notify(500));
    let mut daemon = daemon_on(dir.path(), &desktop.bus);
    let started = Instant::now();
    import_workspace(dir.path(), &task("Refunds"));
    assert!(file.wait(20).title.contains("approval waiting"));
    assert!(started.elapsed() < Duration::from_secs(10));
    let (code, _, err) = cattery_tests::cattery_cli(dir.path(), &["ctl", "board"]);
    assert_eq!(code, 0, "the daemon still answers: {err}");
    let stopping = Instant::now();
    settle_then_stop(dir.path(), &mut daemon, 30);
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "the stuck call held the exit"
    );
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
}

#[test]
fn a_bus_with_no_notification_server_falls_back_to_the_command_at_once() {
    let Some(mut desktop) = Desktop::start() else {
        return;
    };
    // The bus stays; nobody owns org.freedesktop.Notifications any more.
    let _ = desktop.dunst.kill();
    let _ = desktop.dunst.wait();
    wait_until("the server's name to be released", 10, || {
        !desktop.server_up()
    });
    let file = CardFile::new();
    let dir = home(&file.notify(5_000));
    let mut daemon = daemon_on(dir.path(), &desktop.bus);
    let started = Instant::now();
    import_workspace(dir.path(), &task("Refunds"));
    assert!(file.wait(20).title.contains("approval waiting"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the missing server was noticed at once, not after the 5 s timeout"
    );
    settle_then_stop(dir.path(), &mut daemon, 30);
}

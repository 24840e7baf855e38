//! The real `cattery` control room in a real terminal (tmux) against a real
//! daemon running the demo agent: every decision is made by keystroke and
//! read back from the screen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::wire::Call;
use cattery_protocol::*;
use cattery_tests::{DaemonProcess, Tool, eventually};
use cattery_tui::client::Client;
use std::process::Command;

/// One tmux server per test, on its own socket, killed when dropped.
struct Screen {
    socket: String,
}

impl Screen {
    fn open(home: &std::path::Path, name: &str) -> Option<Self> {
        Self::open_then(home, name, "")
    }

    /// Runs `cattery`, then `after` in the same shell once it exits.
    fn open_then(home: &std::path::Path, name: &str, after: &str) -> Option<Self> {
        cattery_tests::require(Tool::Tmux, &["tmux"])?;
        let screen = Self {
            socket: format!("cattery-{name}-{}", std::process::id()),
        };
        let command = format!(
            "EDITOR= VISUAL= {} --home {}{after}",
            cattery_tests::cattery().display(),
            home.display()
        );
        let ok = screen
            .tmux(&["new-session", "-d", "-x", "120", "-y", "40", &command])
            .status
            .success();
        assert!(ok, "tmux would not start");
        Some(screen)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    /// Types `keys` in order; callers wait for what they should show.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p"]).stdout).into_owned()
    }

    /// Waits until the screen shows `what`; fails with the screen if not.
    fn wait_for(&self, what: &str, secs: u64) -> String {
        eventually(
            secs,
            || Some(self.text()).filter(|text| text.contains(what)),
            || format!("the screen never showed `{what}`:\n{}", self.text()),
        )
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

async fn start_task(daemon: &DaemonProcess, title: &str, description: &str) -> Run {
    let mut client = Client::connect(&daemon.home, "test").await.unwrap();
    cattery_tests::start_task_over_api(&mut client, title, description, "quick").await
}

async fn run_now(daemon: &DaemonProcess, id: &str) -> Run {
    let mut client = Client::connect(&daemon.home, "test").await.unwrap();
    let runs: Vec<Run> = client.call_as(Call::Runs).await.unwrap();
    runs.into_iter().find(|r| r.id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_answer_and_resolve_a_cap_by_keystrokes_and_watch_the_run_advance() {
    let daemon = DaemonProcess::start();
    let description =
        "@demo * sleep 0\n@demo coder ask Which queue? | kafka | sqs\n@demo reviewer rating 0.3";
    let run = start_task(&daemon, "Queue the refunds", description).await;
    let Some(screen) = Screen::open(daemon.dir.path(), "gates") else {
        return;
    };
    screen.wait_for("● connected", 20);

    screen.keys(&["3"]);
    let inbox = screen.wait_for("architect output, attempt 1", 20);
    assert!(inbox.contains("approval"), "{inbox}");
    screen.keys(&["a"]);
    let asked = screen.wait_for("Which queue?", 30);
    assert!(asked.contains("decision"), "{asked}");
    assert!(
        asked.contains(" 1 kafka"),
        "the options are numbered:\n{asked}"
    );
    let approved = run_now(&daemon, &run.id).await;
    assert_eq!(
        approved.steps[0].state,
        StepState::Done,
        "the approval advanced the run"
    );

    screen.keys(&["2"]);
    let capped = screen.wait_for("iteration cap", 60);
    assert!(
        !capped.contains("Which queue?"),
        "the decision left the inbox:\n{capped}"
    );
    let at_cap = run_now(&daemon, &run.id).await;
    assert!(
        at_cap.steps[1]
            .output
            .as_deref()
            .unwrap()
            .contains("going with sqs"),
        "the coder heard the answer"
    );

    screen.keys(&["p"]);
    // The finished run leaves a card; dismissing it empties the inbox.
    let finished = screen.wait_for("finished", 60);
    assert!(finished.contains("Quick finished"), "{finished}");
    screen.keys(&["d"]);
    screen.wait_for("nothing waits for you", 30);
    screen.keys(&["1"]);
    // The board row itself: its title and its status on one line (a toast
    // saying "done" may still be on screen from the dismiss).
    eventually(
        60,
        || {
            let text = screen.text();
            text.lines()
                .any(|l| l.contains("Queue the refunds") && l.contains("done"))
                .then_some(())
        },
        || format!("the board never showed the task done:\n{}", screen.text()),
    );
    let finished = run_now(&daemon, &run.id).await;
    assert_eq!(finished.status, RunStatus::Done, "{finished:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_is_reconnected_to_and_the_selection_is_kept() {
    let mut daemon = DaemonProcess::start();
    let description = "@demo * sleep 0";
    start_task(&daemon, "First task", description).await;
    start_task(&daemon, "Second task", description).await;
    let Some(screen) = Screen::open(daemon.dir.path(), "reconnect") else {
        return;
    };
    screen.wait_for("Second task", 20);
    screen.keys(&["3", "j"]);
    let before = screen.wait_for("2 waiting", 20);
    let selected = selected_line(&screen);
    assert!(selected.contains("task"), "{before}");

    daemon.kill();
    screen.wait_for("down", 20);
    screen.keys(&["a"]);
    screen.wait_for("not connected to catteryd", 5);

    daemon.restart();
    screen.wait_for("● connected", 30);
    screen.wait_for("2 waiting", 30);
    assert_eq!(
        selected_line(&screen),
        selected,
        "the same gate is still selected"
    );
}

/// The inbox row drawn reversed; tmux shows it with escape codes, so
/// the row is found by asking tmux for attributes.
fn selected_line(screen: &Screen) -> String {
    let raw =
        String::from_utf8_lossy(&screen.tmux(&["capture-pane", "-p", "-e"]).stdout).into_owned();
    raw.lines()
        .find(|l| l.contains("\u{1b}[7m") && l.contains("approval"))
        .map(|l| l.replace(|c: char| c.is_control(), ""))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_the_terminal_back_in_cooked_mode() {
    let daemon = DaemonProcess::start();
    let after = "; echo \"EXITED $?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo; echo CHECKED; sleep 30";
    let Some(screen) = Screen::open_then(daemon.dir.path(), "sigterm", after) else {
        return;
    };
    screen.wait_for("● connected", 20);
    let pane = screen.tmux(&["list-panes", "-F", "#{pane_pid}"]);
    let shell: u32 = String::from_utf8_lossy(&pane.stdout)
        .trim()
        .parse()
        .unwrap();
    let tui = child_of(shell).expect("cattery runs under the pane's shell");
    assert!(
        Command::new("kill")
            .args(["-TERM", &tui.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // The settings print after EXITED; wait for the line after them.
    let after = screen.wait_for("CHECKED", 10);
    assert!(after.contains("EXITED 0"), "{after}");
    let settings: Vec<&str> = after.lines().map(str::trim).collect();
    assert!(
        settings.contains(&"icanon"),
        "raw mode was left on:\n{after}"
    );
    assert!(settings.contains(&"echo"), "echo was left off:\n{after}");
    assert!(
        !after.contains("Board"),
        "the alternate screen was left:\n{after}"
    );
}

fn child_of(parent: u32) -> Option<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// A pipeline whose first step is a requirements review.
const REVIEWED: &str = "name = \"Reviewed\"\n[[steps]]\nagent = \"requirements-review\"\n[[steps]]\nagent = \"coder\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_replied_to_dismissed_and_incorporated_by_keystrokes() {
    let mut daemon = DaemonProcess::start();
    cattery_tests::write_config(daemon.dir.path(), &[("pipelines/reviewed.toml", REVIEWED)]);
    daemon.restart();
    let description = "@demo * sleep 0\n@demo requirements-review finding 1 high question Which currency is refunded?\n@demo requirements-review finding 1 low gap Rounding of cents";
    let mut client = Client::connect(&daemon.home, "test").await.unwrap();
    let run =
        cattery_tests::start_task_over_api(&mut client, "Refunds", description, "reviewed").await;
    let Some(screen) = Screen::open(daemon.dir.path(), "review") else {
        return;
    };
    screen.wait_for("● connected", 20);
    screen.keys(&["3"]);
    screen.wait_for("The reviewer raised 2 findings", 30);
    screen.keys(&["Enter"]);
    screen.wait_for("Requirements review · Refunds", 10);

    // Refused while both findings are open, with the count.
    screen.keys(&["I"]);
    screen.wait_for("2 findings are still open", 10);

    screen.keys(&["r"]);
    screen.wait_for("Your answer to the finding", 10);
    screen.keys(&["EUR only"]);
    screen.keys(&["C-s"]);
    screen.wait_for("reply: EUR only", 20);
    screen.keys(&["j", "d"]);
    eventually(
        20,
        || {
            let text = screen.text();
            text.lines()
                .any(|l| l.contains("Rounding of cents") && l.contains("dismissed"))
                .then_some(())
        },
        || format!("the finding was never dismissed:\n{}", screen.text()),
    );

    screen.keys(&["I"]);
    let done = eventually(
        60,
        || {
            let run = run_by_cli(&daemon, &run.id);
            (run.status == RunStatus::Done).then_some(run)
        },
        || "the run never finished after incorporating".to_owned(),
    );
    let (_, review) = done.review().expect("a review step");
    assert_eq!(review.iteration, 2, "the reviewer looked again");
    assert_eq!(
        review.document.as_deref(),
        Some("requirements-writer output, attempt 1")
    );
}

/// The run as the daemon has it now, read from a blocking context.
fn run_by_cli(daemon: &DaemonProcess, id: &str) -> Run {
    let (code, out, err) = cattery_tests::cattery_cli(daemon.dir.path(), &["ctl", "runs"]);
    assert_eq!(code, 0, "{err}");
    let runs: Vec<Run> = serde_json::from_str(&out).unwrap();
    runs.into_iter().find(|r| r.id == id).unwrap()
}

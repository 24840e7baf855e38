//! The control room's costs: frame render time (TestBackend, release build)
//! for a board of 10,000 blocks and a run of 50 steps, and wake-ups per
//! minute of a real `cattery` idling in tmux against a real daemon.
//! `BENCH_ONLY=render|idle` runs one part; `BENCH_IDLE_SECS` (default 60)
//! sets the idle window. Method and figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cattery_protocol::wire::Call;
use cattery_protocol::{Block, BlockLevel};
use cattery_tests::DaemonProcess;
use cattery_tui::app::App;
use cattery_tui::app::keymap::Keymap;
use cattery_tui::fixtures::{self, NOW};
use cattery_tui::ui;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::process::Command;
use std::time::{Duration, Instant};

const FRAMES: usize = 500;

fn main() {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only != "idle" {
        render();
    }
    if only != "render" {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(idle());
    }
}

fn app_with(board: Vec<Block>, runs: Vec<cattery_protocol::Run>) -> App {
    let mut app = App::new(Keymap::defaults(), false, false, NOW);
    app.on_connected(cattery_tui::client::Welcome::from("0.1.0", "process"));
    app.on_frame(fixtures::snapshot(board, runs, 1));
    app
}

fn render() {
    let (board, runs) = fixtures::large(10_000);
    for (w, h) in [(80, 24), (200, 50)] {
        let mut app = app_with(board.clone(), runs.clone());
        // Mid-board, so the window is not the cheap first page.
        for _ in 0..5_000 {
            app.on_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::empty()));
        }
        report(
            &format!("board 10,110 blocks {w}x{h}"),
            frame_times(&mut app, w, h),
        );
        let mut filtered = app_with(board.clone(), runs.clone());
        filtered.on_key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::empty()));
        for c in "status:in_progress 99".chars() {
            filtered.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::empty()));
        }
        filtered.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::empty()));
        report(
            &format!("board 10,110 blocks, facet filter {w}x{h}"),
            frame_times(&mut filtered, w, h),
        );
        let mut run = app_with(Vec::new(), vec![fixtures::long_run(50)]);
        run.sel.run = Some("run-long".into());
        run.on_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::empty()));
        run.sel.run = Some("run-long".into());
        run.sel.step = 25;
        report(
            &format!("run of 50 steps {w}x{h}"),
            frame_times(&mut run, w, h),
        );
        // The same view over a short diff and a 20,000-line one, mid-way:
        // the long one must cost no more than the short one.
        let mut short = diff_app(fixtures::large_diff(2, 10));
        let short_times = frame_times(&mut short, w, h);
        let mut long = diff_app(fixtures::large_diff(20, 1_000));
        for _ in 0..500 {
            long.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::empty()));
        }
        let long_times = frame_times(&mut long, w, h);
        let ratio = median(&long_times) / median(&short_times);
        report(&format!("diff of 20 lines {w}x{h}"), short_times);
        report(
            &format!("diff of 20,000 lines, mid-way {w}x{h}"),
            long_times,
        );
        println!(
            "{:<44} {ratio:.2}x the 20-line diff",
            "  20,000-line diff frame"
        );
        // A finished step's stored transcript: 100,000 lines against 1,000,
        // paged back half-way.
        let mut short = transcript_app(1_000);
        let short_times = frame_times(&mut short, w, h);
        let mut long = transcript_app(100_000);
        for _ in 0..1_000 {
            long.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::empty()));
        }
        let long_times = frame_times(&mut long, w, h);
        let ratio = median(&long_times) / median(&short_times);
        report(&format!("transcript of 1,000 lines {w}x{h}"), short_times);
        report(
            &format!("transcript of 100,000 lines, paged back {w}x{h}"),
            long_times,
        );
        println!(
            "{:<44} {ratio:.2}x the 1,000-line transcript",
            "  100,000-line transcript frame"
        );
        // The same with a search on: its match count is remembered, so a
        // frame over an unchanged transcript does not search it again.
        let mut short = searched(transcript_app(1_000));
        let short_times = frame_times(&mut short, w, h);
        let mut long = searched(transcript_app(100_000));
        let long_times = frame_times(&mut long, w, h);
        let ratio = median(&long_times) / median(&short_times);
        report(
            &format!("transcript of 1,000 lines, searched {w}x{h}"),
            short_times,
        );
        report(
            &format!("transcript of 100,000 lines, searched {w}x{h}"),
            long_times,
        );
        println!(
            "{:<44} {ratio:.2}x the 1,000-line search",
            "  100,000-line searched frame"
        );
    }
}

/// `app` with `/line 99` searched in its log.
fn searched(mut app: App) -> App {
    app.on_key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::empty()));
    for c in "line 99".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::empty()));
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::empty()));
    assert!(app.logs.search.is_some());
    app
}

/// The Logs view of the finished run's second step, its transcript of
/// `lines` entries read in pages as the daemon sends them.
fn transcript_app(lines: u64) -> App {
    use cattery_protocol::transcript::{EntryKind, LogEntry, LogPage};
    let (board, runs) = fixtures::busy();
    let mut app = app_with(board, runs);
    app.sel.run = Some("run-docs".into());
    app.sel.step = 1;
    let mut effects = app.on_key(KeyEvent::new(KeyCode::Char('4'), KeyModifiers::empty()));
    while let Some(offset) = effects.iter().find_map(|e| match e {
        cattery_tui::app::Effect::Send {
            call: Call::Logs { offset, .. },
            ..
        } => Some(*offset),
        _ => None,
    }) {
        let count = (lines - offset).min(5_000);
        let entries = (offset..offset + count)
            .map(|i| LogEntry {
                at: NOW,
                level: cattery_protocol::agent::LogLevel::Info,
                kind: if i % 50 == 0 {
                    EntryKind::Call
                } else {
                    EntryKind::Line
                },
                text: format!("tool Bash: cargo test --package ledger -- line {i}"),
            })
            .collect();
        let page = LogPage {
            run_id: "run-docs".into(),
            step_index: 1,
            offset,
            entries,
            total: lines,
            finished: true,
        };
        let reply = cattery_protocol::wire::Reply::Logs(Box::new(page));
        let answer = fixtures::answer(&effects, |c| matches!(c, Call::Logs { .. }), reply).unwrap();
        effects = app.on_frame(answer);
    }
    app
}

/// The Diff view of run-vault's first step, showing `diff`.
fn diff_app(diff: cattery_protocol::diff::Diff) -> App {
    let (board, runs) = fixtures::busy();
    let mut app = app_with(board, runs);
    app.sel.run = Some("run-vault".into());
    app.on_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::empty()));
    app.sel.run = Some("run-vault".into());
    app.sel.step = 0;
    let effects = app.on_key(KeyEvent::new(KeyCode::Char('D'), KeyModifiers::SHIFT));
    let reply = cattery_protocol::wire::Reply::Diff(Box::new(diff));
    let answer = fixtures::answer(&effects, |c| matches!(c, Call::Diff { .. }), reply).unwrap();
    app.on_frame(answer);
    app
}

fn median(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2].as_secs_f64()
}

fn frame_times(app: &mut App, w: u16, h: u16) -> Vec<Duration> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    (0..FRAMES)
        .map(|_| {
            let start = Instant::now();
            let mut drawn = Default::default();
            terminal.draw(|frame| drawn = ui::draw(frame, app)).unwrap();
            app.on_drawn(drawn);
            start.elapsed()
        })
        .collect()
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{what:<44} median {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

/// Context switches of every thread of `pid`: each is one wake-up.
fn switches(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn tui_pid(home: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_tui = args.first().is_some_and(|a| a.ends_with("/cattery"));
            (is_tui && args.iter().any(|a| a == home)).then_some(pid)
        })
}

async fn idle() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("idle: skipped, tmux is not installed");
        return;
    }
    let secs: u64 = std::env::var("BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let daemon = DaemonProcess::start();
    let mut client = cattery_tui::client::Client::connect(&daemon.home, "bench")
        .await
        .unwrap();
    for i in 0..50 {
        let _: Block = client
            .call_as(Call::AddBlock {
                repository: None,
                title: format!("idle task {i}"),
                description: String::new(),
                parent_id: None,
                level: BlockLevel::Task,
            })
            .await
            .unwrap();
    }
    let home = daemon.dir.path().display().to_string();
    let socket = format!("cattery-bench-{}", std::process::id());
    let command = format!("{} --home {home}", cattery_tests::cattery().display());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .unwrap()
    };
    tmux(&["new-session", "-d", "-x", "120", "-y", "40", &command]);
    std::thread::sleep(Duration::from_secs(3));
    let pid = tui_pid(&home).expect("cattery is running in tmux");
    let before = switches(pid);
    std::thread::sleep(Duration::from_secs(secs));
    let after = switches(pid);
    tmux(&["kill-server"]);
    let per_minute = (after - before) as f64 * 60.0 / secs as f64;
    println!(
        "idle wake-ups: {per_minute:.0} per minute over {secs} s (50 blocks, no live run, connected)"
    );
}

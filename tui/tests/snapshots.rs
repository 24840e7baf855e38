//! Every view drawn into ratatui's TestBackend at 80×24 and 200×50, in
//! empty, busy and error states. Review changes with `cargo insta review`
//! (or read the `.snap.new` files) before accepting them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::wire::ServerFrame;
use cattery_protocol::{GateKind, Pipeline, StepSpec};
use cattery_tui::app::keymap::{Key, Keymap};
use cattery_tui::app::{App, ConnState, View};
use cattery_tui::fixtures::{self, NOW};
use cattery_tui::ui;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 50)];

fn connected(read_only: bool) -> App {
    let mut app = App::new(Keymap::defaults(), read_only, false, NOW);
    app.on_connected(cattery_tui::client::Welcome::from("0.1.0", "docker"));
    app
}

/// Makes `run` its block's current run, as the daemon's block event does
/// when a run starts.
fn make_current(app: &mut App, seq: u64, run: &str) {
    let block_id = app.model.runs[run].block_id.clone();
    let mut block = app.model.blocks[&block_id].clone();
    block.run_id = Some(run.to_owned());
    app.on_frame(ServerFrame::Event {
        seq,
        event: cattery_protocol::event::Event::Block { block },
    });
}

fn busy() -> App {
    let mut app = connected(false);
    let (board, runs) = fixtures::busy();
    app.on_frame(fixtures::snapshot(board, runs, 10));
    app.model.pipelines = vec![
        pipeline("quick", "Plan, build, review and merge"),
        pipeline("bugfix", "Investigate, fix, review"),
    ];
    app
}

fn pipeline(id: &str, description: &str) -> Pipeline {
    let step = |agent: &str| StepSpec {
        gating: None,
        review: None,
        role: cattery_protocol::AgentRole::Producer,
        agent_kind: agent.into(),
        requires_approval: false,
        companion: None,
        timeout_secs: 600,
        gate: None,
        test: None,
    };
    Pipeline {
        id: id.into(),
        name: id.into(),
        description: description.into(),
        steps: vec![step("architect"), step("coder"), step("reviewer")],
    }
}

fn keys(app: &mut App, names: &[&str]) {
    for name in names {
        let key = Key::parse(name).unwrap();
        let modifiers = if key.ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::empty()
        };
        app.on_key(KeyEvent::new(key.code, modifiers));
    }
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::empty()));
    }
}

fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut drawn = Default::default();
    terminal.draw(|frame| drawn = ui::draw(frame, app)).unwrap();
    app.on_drawn(drawn);
    terminal.backend().to_string()
}

/// Snapshots `make()` at both sizes; each size gets a fresh app.
fn snap(name: &str, make: impl Fn() -> App) {
    for (w, h) in SIZES {
        let mut app = make();
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(&mut app, w, h));
    }
}

fn at_gate(app: &mut App, kind: GateKind) {
    keys(app, &["3"]);
    while app.selected_gate().map(|g| g.kind) != Some(kind) {
        keys(app, &["j"]);
    }
}

#[test]
fn board_busy() {
    snap("board_busy", || {
        let mut app = busy();
        keys(&mut app, &["j", "j", "j"]);
        app
    });
}

#[test]
fn board_empty() {
    snap("board_empty", || {
        let mut app = connected(false);
        app.on_frame(fixtures::snapshot(Vec::new(), Vec::new(), 0));
        app
    });
}

#[test]
fn board_filtered_to_nothing() {
    snap("board_filtered_to_nothing", || {
        let mut app = busy();
        keys(&mut app, &["/"]);
        typed(&mut app, "status:done age<1m");
        app
    });
}

#[test]
fn board_read_only() {
    snap("board_read_only", || {
        let mut app = connected(true);
        let (board, runs) = fixtures::busy();
        app.on_frame(fixtures::snapshot(board, runs, 10));
        app
    });
}

#[test]
fn error_state_daemon_down() {
    snap("error_daemon_down", || {
        let mut app = busy();
        app.on_conn_state(ConnState::Down {
            why: "no daemon answers for /home/ana/.local/share/cattery: connection refused".into(),
            retry_secs: 4,
        });
        at_gate(&mut app, GateKind::Approval);
        keys(&mut app, &["a"]);
        app
    });
}

#[test]
fn error_state_protocol_mismatch() {
    snap("error_protocol_mismatch", || {
        let mut app = App::new(Keymap::defaults(), false, false, NOW);
        app.on_conn_state(ConnState::Down {
            why: "catteryd refused the connection: protocol version 2 is not supported; this daemon speaks 1".into(),
            retry_secs: 5,
        });
        app
    });
}

#[test]
fn run_working_step_with_live_metrics() {
    snap("run_working", || {
        let mut app = busy();
        for (i, tokens) in [300u64, 900, 1500, 2600, 3900].into_iter().enumerate() {
            let mut metrics = fixtures::metrics(i as u64 + 1, tokens);
            metrics.max_output_tokens = 4_096;
            app.on_frame(ServerFrame::Event {
                seq: 11 + i as u64,
                event: cattery_protocol::event::Event::StepMetrics {
                    run_id: "run-vault".into(),
                    step_index: 1,
                    metrics,
                },
            });
        }
        app.sel.run = Some("run-vault".into());
        app.sel.step = 1;
        keys(&mut app, &["2"]);
        app.sel.run = Some("run-vault".into());
        app
    });
}

#[test]
fn a_finished_step_shows_its_commit_and_diff_stat() {
    snap("run_step_change", || {
        let mut app = busy();
        app.sel.run = Some("run-vault".into());
        keys(&mut app, &["2"]);
        app.sel.run = Some("run-vault".into());
        app.sel.step = 0;
        app
    });
}

#[test]
fn run_failed() {
    snap("run_failed", || {
        let mut app = busy();
        keys(&mut app, &["2"]);
        app.sel.run = Some("run-rounding".into());
        app
    });
}

#[test]
fn run_at_the_iteration_cap() {
    snap("run_iteration_cap", || {
        let mut app = busy();
        at_gate(&mut app, GateKind::IterationCap);
        keys(&mut app, &["2"]);
        app
    });
}

#[test]
fn a_ci_gate_shows_its_phase_helper_rounds_failing_checks_and_attempt_log() {
    for (name, step) in [("run_ci_gate", 3), ("run_tester_loop", 1)] {
        snap(name, || {
            let mut app = busy();
            app.on_frame(fixtures::run_event(11, fixtures::gated_run()));
            make_current(&mut app, 12, "run-gated");
            keys(&mut app, &["2"]);
            app.sel.run = Some("run-gated".into());
            app.sel.step = step;
            app
        });
    }
}

#[test]
fn run_of_fifty_steps_scrolls_to_the_selection() {
    snap("run_fifty_steps", || {
        let mut app = busy();
        let run = fixtures::long_run(50);
        app.on_frame(fixtures::run_event(11, run));
        make_current(&mut app, 12, "run-long");
        keys(&mut app, &["2"]);
        app.sel.run = Some("run-long".into());
        app.sel.step = 25;
        app
    });
}

#[test]
fn run_none_selected() {
    snap("run_none_selected", || {
        let mut app = connected(false);
        app.on_frame(fixtures::snapshot(Vec::new(), Vec::new(), 0));
        keys(&mut app, &["2"]);
        app
    });
}

#[test]
fn inbox_busy() {
    snap("inbox_busy", || {
        let mut app = busy();
        at_gate(&mut app, GateKind::Decision);
        keys(&mut app, &["space"]);
        app
    });
}

#[test]
fn inbox_empty() {
    snap("inbox_empty", || {
        let mut app = connected(false);
        app.on_frame(fixtures::snapshot(Vec::new(), Vec::new(), 0));
        keys(&mut app, &["3"]);
        app
    });
}

#[test]
fn logs_following_with_a_search() {
    snap("logs_search", || {
        let mut app = busy();
        for i in 0..60u64 {
            let line = match i % 7 {
                0 => format!("writing migration step {i}"),
                _ => format!("llm call {i} finished"),
            };
            app.on_frame(fixtures::log_event(11 + i, "run-vault", 1, &line));
        }
        app.sel.run = Some("run-vault".into());
        keys(&mut app, &["4"]);
        app.sel.run = Some("run-vault".into());
        keys(&mut app, &["/"]);
        typed(&mut app, "migration");
        keys(&mut app, &["enter", "f"]);
        app
    });
}

#[test]
fn viewer_shows_an_edit_as_a_diff() {
    snap("viewer_diff", || {
        let mut app = App::new(Keymap::defaults(), false, true, NOW);
        app.on_connected(cattery_tui::client::Welcome::from("0.1.0", "docker"));
        let (board, runs) = fixtures::busy();
        app.on_frame(fixtures::snapshot(board, runs, 10));
        at_gate(&mut app, GateKind::Approval);
        let gate = app.selected_gate().unwrap();
        let edited = gate
            .prompt
            .replace("Emit refund.created", "Emit refund.issued");
        app.on_edited(cattery_tui::app::EditPurpose::Proposal(gate), Ok(edited));
        assert_eq!(app.view(), View::Viewer);
        app
    });
}

#[test]
fn help_overlay_searched() {
    snap("help", || {
        let mut app = busy();
        keys(&mut app, &["?"]);
        app
    });
    snap("help_searched", || {
        let mut app = busy();
        keys(&mut app, &["?"]);
        typed(&mut app, "iteration");
        app
    });
}

#[test]
fn palette_confirm_picker_and_inline_editor() {
    snap("palette", || {
        let mut app = busy();
        keys(&mut app, &[":"]);
        typed(&mut app, "re");
        app
    });
    snap("confirm_approve_marked", || {
        let mut app = busy();
        at_gate(&mut app, GateKind::Approval);
        keys(&mut app, &["space", "A"]);
        app
    });
    snap("picker", || {
        let mut app = busy();
        keys(&mut app, &["s"]);
        app
    });
    snap("inline_editor", || {
        let mut app = busy();
        at_gate(&mut app, GateKind::Approval);
        keys(&mut app, &["c"]);
        typed(&mut app, "Split the ledger write");
        keys(&mut app, &["enter"]);
        typed(&mut app, "into its own step");
        app
    });
}

#[test]
fn a_terminal_too_small_says_so() {
    let mut app = busy();
    insta::assert_snapshot!("too_small_50x10", render(&mut app, 50, 10));
}

#[test]
fn every_view_draws_at_every_size_from_tiny_to_huge_without_panicking() {
    for (w, h) in [
        (1, 1),
        (59, 11),
        (60, 12),
        (61, 13),
        (80, 24),
        (120, 40),
        (300, 100),
    ] {
        for view in ["1", "2", "3", "4"] {
            let mut app = busy();
            app.sel.run = Some("run-vault".into());
            keys(&mut app, &[view]);
            render(&mut app, w, h);
        }
    }
}

#[test]
fn a_click_selects_the_row_under_it_and_the_wheel_scrolls() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = busy();
    let screen = render(&mut app, 80, 24);
    let row = screen
        .lines()
        .position(|l| l.contains("Choose the ledger storage"))
        .unwrap() as u16;
    let mouse = |kind, row| MouseEvent {
        kind,
        column: 10,
        row,
        modifiers: KeyModifiers::empty(),
    };
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), row));
    assert_eq!(app.sel.board.as_deref(), Some("task-ledger"));
    app.on_mouse(mouse(MouseEventKind::ScrollDown, 0));
    assert_eq!(
        app.sel.board.as_deref(),
        Some("task-idle"),
        "three rows down"
    );
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 23));
    assert_eq!(
        app.sel.board.as_deref(),
        Some("task-idle"),
        "the footer is not a row"
    );
}

#[test]
fn inbox_with_cards_and_spend_in_the_header() {
    snap("inbox_cards_spend", || {
        let mut app = busy();
        for (n, card) in fixtures::busy_cards().into_iter().enumerate() {
            app.on_frame(fixtures::card_event(11 + n as u64, card));
        }
        app.spend = Some(cattery_protocol::wire::SpendReport {
            month: "2023-11".into(),
            spent: 84.5,
            budget: 100.0,
            currency: "EUR".into(),
            unpriced_calls: 3,
            over_budget: false,
        });
        keys(&mut app, &["3", "G"]);
        app
    });
}

/// The Diff view of run-vault's first step, answered with `diff`.
fn diff_view(diff: cattery_protocol::diff::Diff) -> App {
    let mut app = busy();
    app.sel.run = Some("run-vault".into());
    keys(&mut app, &["2"]);
    app.sel.run = Some("run-vault".into());
    app.sel.step = 0;
    let effects = app.on_key(KeyEvent::new(KeyCode::Char('D'), KeyModifiers::SHIFT));
    let answer = fixtures::answer(
        &effects,
        |c| matches!(c, cattery_protocol::wire::Call::Diff { step: Some(0), .. }),
        cattery_protocol::wire::Reply::Diff(Box::new(diff)),
    )
    .expect("D asked for the step's diff");
    app.on_frame(answer);
    app
}

#[test]
fn a_steps_diff_shows_its_files_and_coloured_hunks_with_line_numbers() {
    snap("diff_step", || diff_view(fixtures::vault_diff()));
}

#[test]
fn bracket_keys_move_between_the_diffs_files() {
    snap("diff_next_file", || {
        let mut app = diff_view(fixtures::vault_diff());
        keys(&mut app, &["]", "]"]);
        app
    });
    let mut app = diff_view(fixtures::vault_diff());
    let mut files = Vec::new();
    for key in ["]", "]", "]", "]", "[", "["] {
        keys(&mut app, &[key]);
        files.push(app.diff.as_ref().unwrap().current_file());
    }
    assert_eq!(
        files,
        [1, 2, 3, 3, 2, 1],
        "] stops at the last file, [ at the first"
    );
}

#[test]
fn run_with_its_decision_history() {
    snap("run_history", || {
        let mut app = busy();
        app.sel.run = Some("run-rounding".into());
        let effects = app.on_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::empty()));
        let history = cattery_protocol::wire::Reply::Audit(fixtures::rounding_history());
        let answer = fixtures::answer(
            &effects,
            |c| matches!(c, cattery_protocol::wire::Call::Audit { .. }),
            history,
        )
        .unwrap();
        app.on_frame(answer);
        app
    });
}

#[test]
fn a_degraded_daemon_shows_in_the_header_with_its_reason() {
    snap("degraded_daemon", || {
        let mut app = busy();
        let health = cattery_protocol::wire::Health::Degraded {
            reason:
                "the disk holding /home/me/.cattery/data/cattery.db is full, so writes are refused"
                    .into(),
            since: NOW,
        };
        app.on_frame(ServerFrame::Event {
            seq: 11,
            event: cattery_protocol::event::Event::Health { health },
        });
        app
    });
}

#[test]
fn logs_of_a_finished_step_show_its_stored_transcript() {
    use cattery_protocol::agent::LogLevel;
    use cattery_protocol::transcript::{EntryKind, LogEntry, LogPage};
    snap("logs_transcript", || {
        let mut app = busy();
        app.sel.run = Some("run-docs".into());
        app.sel.step = 1;
        let effects = app.on_key(KeyEvent::new(KeyCode::Char('4'), KeyModifiers::empty()));
        let entry = |level, kind, text: &str| LogEntry {
            at: NOW,
            level,
            kind,
            text: text.into(),
        };
        let entries = vec![
            entry(
                LogLevel::Info,
                EntryKind::Attempt,
                "attempt 1 · job j_9 · coder",
            ),
            entry(
                LogLevel::Info,
                EntryKind::Line,
                "tool Read: src/docs/index.md",
            ),
            entry(
                LogLevel::Info,
                EntryKind::Call,
                "llm_call claude-sonnet-4-5 · in 1830 (cache read 1200, write 0) · out 212/8192 · stop · 911 ms",
            ),
            entry(
                LogLevel::Info,
                EntryKind::Line,
                "tool Edit: src/docs/index.md",
            ),
            entry(LogLevel::Warn, EntryKind::Line, "the CLI retried a request"),
            entry(
                LogLevel::Info,
                EntryKind::Line,
                "Updated the index and fixed two links.",
            ),
            entry(LogLevel::Info, EntryKind::Line, "the job succeeded"),
        ];
        let page = LogPage {
            run_id: "run-docs".into(),
            step_index: 1,
            offset: 0,
            total: entries.len() as u64,
            entries,
            finished: true,
        };
        let answer = fixtures::answer(
            &effects,
            |c| matches!(c, cattery_protocol::wire::Call::Logs { .. }),
            cattery_protocol::wire::Reply::Logs(Box::new(page)),
        )
        .expect("asked for the transcript");
        app.on_frame(answer);
        app
    });
}

#[test]
fn run_step_with_per_call_tokens_latency_and_a_truncation() {
    use cattery_protocol::agent::{FinishReason, LlmCall};
    snap("run_per_call", || {
        let mut app = busy();
        let mut metrics = cattery_protocol::StepMetrics::default();
        let latencies = [820u64, 910, 760, 4_300, 880, 950, 1_020, 990];
        for (n, upstream_ms) in latencies.into_iter().enumerate() {
            let n = n as u64;
            metrics.record_call(&LlmCall {
                model: "claude-sonnet-4-5".into(),
                prompt_tokens: 300 + 40 * n,
                completion_tokens: if n == 5 { 4_096 } else { 200 + 90 * n },
                cache_read_tokens: 1_800 + 350 * n,
                cache_write_tokens: if n == 0 { 1_800 } else { 0 },
                max_output_tokens: 4_096,
                finish_reason: if n == 5 {
                    FinishReason::Length
                } else {
                    FinishReason::Stop
                },
                upstream_ms,
                overhead_ms: 0,
                first_token_ms: upstream_ms / 6,
            });
        }
        app.on_frame(ServerFrame::Event {
            seq: 11,
            event: cattery_protocol::event::Event::StepMetrics {
                run_id: "run-vault".into(),
                step_index: 1,
                metrics,
            },
        });
        app.sel.run = Some("run-vault".into());
        keys(&mut app, &["2"]);
        app.sel.run = Some("run-vault".into());
        app.sel.step = 1;
        app
    });
}

/// The busy board plus a run parked at a requirements review, its findings
/// pane open from the inbox.
fn review_pane() -> App {
    let mut app = busy();
    app.on_frame(fixtures::run_event(11, fixtures::review_run()));
    keys(&mut app, &["3"]);
    for _ in 0..10 {
        if app
            .selected_gate()
            .is_some_and(|g| g.kind == GateKind::Review)
        {
            break;
        }
        keys(&mut app, &["j"]);
    }
    keys(&mut app, &["enter"]);
    assert_eq!(app.view(), View::Review);
    app
}

#[test]
fn review_pane_with_findings_by_severity_and_the_revision_as_a_diff() {
    snap("review_findings", review_pane);
}

#[test]
fn review_pane_refuses_incorporate_with_the_open_count() {
    snap("review_incorporate_refused", || {
        let mut app = review_pane();
        keys(&mut app, &["I"]);
        app
    });
}

#[test]
fn run_with_steps_skipped_by_the_estimate() {
    snap("run_skipped_gated", || {
        let mut app = busy();
        app.on_frame(fixtures::run_event(11, fixtures::estimated_run()));
        app.sel.run = Some("run-estimated".into());
        keys(&mut app, &["2"]);
        app
    });
}

#[test]
fn schedules_with_a_held_fire_and_the_selected_ones_history() {
    snap("schedules", || {
        let mut app = busy();
        let effects = app.on_key(KeyEvent::new(KeyCode::Char('5'), KeyModifiers::empty()));
        let list = cattery_protocol::wire::Reply::Schedules(fixtures::schedules());
        let answer = fixtures::answer(
            &effects,
            |c| matches!(c, cattery_protocol::wire::Call::Schedules),
            list,
        )
        .unwrap();
        let effects = app.on_frame(answer);
        let fires = cattery_protocol::wire::Reply::ScheduleFires(fixtures::schedule_fires());
        let answer = fixtures::answer(
            &effects,
            |c| matches!(c, cattery_protocol::wire::Call::ScheduleHistory { .. }),
            fires,
        )
        .unwrap();
        app.on_frame(answer);
        app
    });
}

#[test]
fn run_parked_at_a_requirements_review() {
    snap("run_review", || {
        let mut app = busy();
        app.on_frame(fixtures::run_event(11, fixtures::review_run()));
        app.sel.run = Some("run-review".into());
        keys(&mut app, &["2"]);
        app
    });
}

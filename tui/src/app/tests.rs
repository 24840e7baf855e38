#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::keymap::{Key, Keymap};
use super::*;
use crate::fixtures::{self, NOW};
use cattery_protocol::wire::ErrorCode;
use cattery_protocol::{
    GateAction, GateKind, IterationCapChoice, Pipeline, ResolvedGate, StepSpec,
};
use crossterm::event::{KeyCode, KeyModifiers};

fn app_with(keymap: Keymap, read_only: bool, editor: bool) -> App {
    let mut app = App::new(keymap, read_only, editor, NOW);
    app.on_connected(crate::client::Welcome::from("0.1.0", "process"));
    let (board, runs) = fixtures::busy();
    app.on_frame(fixtures::snapshot(board, runs, 10));
    app.model.pipelines = vec![Pipeline {
        id: "quick".into(),
        name: "Quick".into(),
        description: "plan, build, review".into(),
        steps: vec![StepSpec {
            gating: None,
            review: None,
            role: cattery_protocol::AgentRole::Producer,
            agent_kind: "architect".into(),
            requires_approval: true,
            companion: None,
            timeout_secs: 600,
            gate: None,
            test: None,
        }],
    }];
    app
}

fn app() -> App {
    app_with(Keymap::defaults(), false, false)
}

fn event(name: &str) -> KeyEvent {
    let key = Key::parse(name).unwrap_or_else(|| panic!("bad key {name}"));
    let mut modifiers = KeyModifiers::empty();
    if key.ctrl {
        modifiers |= KeyModifiers::CONTROL;
    }
    if matches!(key.code, KeyCode::Char(c) if c.is_ascii_uppercase()) {
        modifiers |= KeyModifiers::SHIFT;
    }
    KeyEvent::new(key.code, modifiers)
}

fn press(app: &mut App, keys: &[&str]) -> Vec<Effect> {
    keys.iter().flat_map(|k| app.on_key(event(k))).collect()
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::empty()));
    }
}

/// The app shows a message containing `text`.
#[track_caller]
fn assert_toast(app: &App, text: &str) {
    let shown = app.toast.as_ref().map(|t| t.text.as_str());
    assert!(
        shown.is_some_and(|t| t.contains(text)),
        "expected a message with `{text}`, got {shown:?}"
    );
}

fn calls(effects: &[Effect]) -> Vec<Call> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { call, .. } => Some(call.clone()),
            _ => None,
        })
        .collect()
}

/// The decision call the app should send for the fixture gate `gate_id`.
fn decided(app: &App, gate_id: &str, action: GateAction) -> Call {
    let run_id = app
        .model
        .inbox()
        .into_iter()
        .find(|g| g.id == gate_id)
        .map(|g| g.run_id)
        .unwrap_or_default();
    Call::Decide {
        run_id,
        gate_id: gate_id.into(),
        rev: 7,
        action,
    }
}

/// The inbox with the gate of `kind` selected (order: cap, decision, approval).
fn at_gate(app: &mut App, kind: GateKind) {
    press(app, &["3"]);
    let downs = match kind {
        GateKind::IterationCap => 0,
        GateKind::Decision => 1,
        GateKind::Approval => 2,
        GateKind::Review => unreachable!("the fixture has no review gate"),
    };
    for _ in 0..downs {
        press(app, &["j"]);
    }
    assert_eq!(app.selected_gate().unwrap().kind, kind);
}

#[test]
fn the_inbox_lists_caps_then_decisions_then_approvals() {
    let app = app();
    let kinds: Vec<GateKind> = app.model.inbox().iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        [
            GateKind::IterationCap,
            GateKind::Decision,
            GateKind::Approval
        ]
    );
}

#[test]
fn a_approves_the_selected_gate_at_the_rev_it_was_seen() {
    let mut app = app();
    at_gate(&mut app, GateKind::Approval);
    let sent = calls(&press(&mut app, &["a"]));
    let approve = GateAction::Approve {
        edited_proposal: None,
    };
    assert_eq!(sent, [decided(&app, "gate-approval", approve)]);
}

#[test]
fn digits_answer_a_selected_decision_and_jump_views_elsewhere() {
    let mut app = app();
    at_gate(&mut app, GateKind::Decision);
    let expected = decided(
        &app,
        "gate-decision",
        GateAction::ChooseOption {
            option: "PostgreSQL".into(),
        },
    );
    let sent = calls(&press(&mut app, &["2"]));
    assert_eq!(sent, [expected]);
    let again = calls(&press(&mut app, &["2"]));
    assert!(
        again.iter().all(|c| matches!(c, Call::Audit { .. })),
        "the decision is sent once only: {again:?}"
    );
    press(&mut app, &["1"]);
    assert_eq!(app.view(), View::Board, "1 jumps once the decision is sent");
    press(&mut app, &["2"]);
    assert_eq!(app.view(), View::Run);
}

#[test]
fn a_digit_past_the_options_does_not_answer() {
    let mut app = app();
    at_gate(&mut app, GateKind::Decision);
    let effects = press(&mut app, &["3"]);
    assert!(calls(&effects).is_empty());
    assert_eq!(app.view(), View::Inbox, "3 is the inbox itself");
}

#[test]
fn iteration_cap_keys_send_extra_round_and_proceed_and_confirm_stop_reset() {
    let at_cap = || {
        let mut app = app();
        at_gate(&mut app, GateKind::IterationCap);
        app
    };
    let cap = |choice| {
        decided(
            &app(),
            "gate-cap",
            GateAction::ResolveIterationCap { choice },
        )
    };
    assert_eq!(
        calls(&press(&mut at_cap(), &["+"])),
        [cap(IterationCapChoice::ExtraRound)]
    );
    assert_eq!(
        calls(&press(&mut at_cap(), &["p"])),
        [cap(IterationCapChoice::Proceed)]
    );
    let mut app = at_cap();
    assert!(calls(&press(&mut app, &["S"])).is_empty(), "S asks first");
    assert!(matches!(app.modal, Some(Modal::Confirm { .. })));
    assert!(calls(&press(&mut app, &["n"])).is_empty());
    assert_toast(&app, "nothing was sent");
    press(&mut app, &["S"]);
    assert_eq!(
        calls(&press(&mut app, &["y"])),
        [cap(IterationCapChoice::StopReset)]
    );
}

#[test]
fn a_second_key_on_a_gate_already_decided_waits_instead_of_sending_again() {
    let mut app = app();
    at_gate(&mut app, GateKind::IterationCap);
    assert_eq!(calls(&press(&mut app, &["+"])).len(), 1);
    assert!(calls(&press(&mut app, &["p"])).is_empty());
    assert_toast(&app, "on its way");
}

#[test]
fn a_gate_key_on_the_wrong_kind_of_gate_says_which_keys_fit() {
    let mut app = app();
    at_gate(&mut app, GateKind::Decision);
    assert!(calls(&press(&mut app, &["a"])).is_empty());
    assert_toast(&app, "answer with 1-2");
}

#[test]
fn reject_takes_a_reason_in_the_inline_editor_then_asks_for_confirmation() {
    let mut app = app();
    at_gate(&mut app, GateKind::Approval);
    press(&mut app, &["X"]);
    assert!(matches!(app.modal, Some(Modal::Input { .. })));
    typed(&mut app, "wrong service");
    assert!(calls(&press(&mut app, &["ctrl-s"])).is_empty());
    let Some(Modal::Confirm { prompt, .. }) = &app.modal else {
        panic!("no confirmation: {:?}", app.modal);
    };
    assert!(prompt.contains("Reject"), "{prompt}");
    let reject = GateAction::Reject {
        reason: "wrong service".into(),
    };
    let expected = decided(&app, "gate-approval", reject);
    assert_eq!(calls(&press(&mut app, &["y"])), [expected]);
}

#[test]
fn empty_feedback_sends_nothing_and_says_so() {
    let mut app = app();
    at_gate(&mut app, GateKind::Approval);
    press(&mut app, &["c"]);
    typed(&mut app, "   ");
    assert!(calls(&press(&mut app, &["ctrl-s"])).is_empty());
    let toast = app.toast.clone().unwrap();
    assert!(toast.error && toast.text.contains("empty"), "{toast:?}");
}

#[test]
fn request_changes_sends_the_feedback() {
    let mut app = app();
    at_gate(&mut app, GateKind::Approval);
    press(&mut app, &["c"]);
    typed(&mut app, "split the migration");
    let changes = GateAction::RequestChanges {
        feedback: "split the migration".into(),
        comments: Vec::new(),
    };
    let expected = decided(&app, "gate-approval", changes);
    assert_eq!(calls(&press(&mut app, &["ctrl-s"])), [expected]);
}

#[test]
fn an_edited_proposal_is_shown_as_a_diff_before_it_is_sent() {
    let mut app = app_with(Keymap::defaults(), false, true);
    at_gate(&mut app, GateKind::Approval);
    let effects = press(&mut app, &["e"]);
    let Some(Effect::Edit { text, purpose }) = effects.first().cloned() else {
        panic!("no editor: {effects:?}");
    };
    assert!(text.starts_with("Plan for the refund endpoint"));
    let edited = text.replace("3. Emit refund.created", "3. Emit refund.issued");
    assert!(
        app.on_edited(purpose, Ok(edited.clone())).is_empty(),
        "nothing sent yet"
    );
    assert_eq!(app.view(), View::Viewer);
    let lines = &app.viewer.as_ref().unwrap().lines;
    assert!(lines.contains(&(DiffTag::Removed, "3. Emit refund.created".into())));
    assert!(lines.contains(&(DiffTag::Added, "3. Emit refund.issued".into())));
    let approve = GateAction::Approve {
        edited_proposal: Some(edited.trim_end().to_owned()),
    };
    let expected = decided(&app, "gate-approval", approve);
    let sent = calls(&press(&mut app, &["enter"]));
    assert_eq!(sent, [expected]);
}

#[test]
fn an_editor_that_fails_sends_nothing_and_says_why() {
    let mut app = app_with(Keymap::defaults(), false, true);
    at_gate(&mut app, GateKind::Approval);
    let Some(Effect::Edit { purpose, .. }) = press(&mut app, &["c"]).pop() else {
        panic!("no editor");
    };
    let effects = app.on_edited(purpose, Err("the editor `vim` exited with 1".into()));
    assert!(effects.is_empty());
    assert_toast(&app, "nothing was sent");
}

#[test]
fn approve_marked_names_the_count_and_approves_only_approvals() {
    let mut app = app();
    press(&mut app, &["3", "space", "space", "space"]);
    assert_eq!(app.marked.len(), 3);
    press(&mut app, &["A"]);
    let Some(Modal::Confirm { prompt, .. }) = &app.modal else {
        panic!("no confirmation");
    };
    assert_eq!(prompt, "Approve 1 marked gate?");
    let sent = calls(&press(&mut app, &["y"]));
    assert!(
        matches!(sent.as_slice(), [Call::Decide { gate_id, action: GateAction::Approve { .. }, .. }] if gate_id == "gate-approval")
    );
}

#[test]
fn read_only_hides_decisions_and_refuses_their_keys() {
    let mut app = app_with(Keymap::defaults(), true, false);
    at_gate(&mut app, GateKind::Approval);
    assert!(calls(&press(&mut app, &["a"])).is_empty());
    assert_toast(&app, "read-only");
    let names: Vec<&str> = hints(&app).iter().map(|(_, n)| *n).collect();
    assert!(!names.contains(&"approve"), "{names:?}");
    assert!(app.palette_matches("appr").is_empty());
}

#[test]
fn a_key_with_no_action_changes_nothing() {
    let mut app = app();
    app.dirty = false;
    let before = hints(&app);
    assert!(press(&mut app, &["z"]).is_empty());
    assert!(!app.dirty && app.toast.is_none());
    assert_eq!(hints(&app), before);
}

#[test]
fn a_remapped_key_moves_the_action_and_its_footer_hint() {
    let keymap = Keymap::with_overrides("keys.toml", "approve = \"y\"\n").unwrap();
    let mut app = app_with(keymap, false, false);
    at_gate(&mut app, GateKind::Approval);
    assert!(calls(&press(&mut app, &["a"])).is_empty());
    assert!(hints(&app).contains(&("y".to_owned(), "approve")));
    assert_eq!(calls(&press(&mut app, &["y"])).len(), 1);
}

#[test]
fn a_bad_keys_toml_says_what_is_wrong_and_how_to_fix_it() {
    let unknown = Keymap::with_overrides("keys.toml", "aprove = \"y\"").unwrap_err();
    assert!(unknown.to_string().contains("`aprove` is not an action"));
    let clash = Keymap::with_overrides("keys.toml", "approve = \"q\"").unwrap_err();
    assert!(clash.to_string().contains("bound to both"), "{clash}");
    let bad = Keymap::with_overrides("keys.toml", "approve = \"ctrl-\"").unwrap_err();
    assert!(bad.to_string().contains("is not a key"), "{bad}");
    let syntax = Keymap::with_overrides("keys.toml", "approve = ").unwrap_err();
    assert!(syntax.to_string().contains("fix:"), "{syntax}");
}

#[test]
fn remapped_movement_keys_move_the_pipeline_picker_too() {
    let keymap = Keymap::with_overrides("keys.toml", "down = \"n\"\nup = \"m\"\n").unwrap();
    let mut app = app_with(keymap, false, false);
    app.model.pipelines.push(Pipeline {
        id: "build".into(),
        name: "Build".into(),
        ..app.model.pipelines[0].clone()
    });
    let planned = app
        .model
        .blocks
        .values()
        .find(|b| {
            app.model
                .run_of_block(&b.id)
                .is_none_or(|r| !r.status.is_live())
        })
        .map(|b| b.id.clone())
        .unwrap();
    app.sel.board = Some(planned);
    press(&mut app, &["s", "n"]);
    assert!(
        matches!(app.modal, Some(Modal::Picker { selected: 1, .. })),
        "{:?}",
        app.modal
    );
    press(&mut app, &["j"]);
    assert!(
        matches!(app.modal, Some(Modal::Picker { selected: 1, .. })),
        "j is no longer down"
    );
    press(&mut app, &["m"]);
    assert!(matches!(app.modal, Some(Modal::Picker { selected: 0, .. })));
}

#[test]
fn the_default_keys_have_no_conflicts_and_every_action_exactly_one_row() {
    assert!(Keymap::with_overrides("keys.toml", "").is_ok());
    for &action in Action::ALL {
        let rows = actions::REGISTRY
            .iter()
            .filter(|s| s.action == action)
            .count();
        assert_eq!(rows, 1, "{action:?} has {rows} registry rows");
        let spec = actions::spec_of(action);
        assert!(!spec.keys.is_empty(), "{} has no key", spec.name);
    }
    assert_eq!(actions::REGISTRY.len(), Action::ALL.len());
}

/// Places in the control room, as the keys that reach them from the start.
const PLACES: &[&[&str]] = &[
    &[],
    &["j"],
    &["j", "j"],
    &["j", "j", "j"],
    &["2"],
    &["2", "j"],
    &["3"],
    &["3", "j"],
    &["3", "j", "j"],
    &["3", "j", "j", "j"],
    &["3", "j", "j", "j", "j"],
    &["3", "space"],
    &["4"],
];

#[test]
fn every_key_the_footer_offers_means_its_action_there_and_is_not_refused() {
    for place in PLACES {
        for read_only in [false, true] {
            let mut app = app_with(Keymap::defaults(), read_only, false);
            press(&mut app, place);
            for (_, name) in hints(&app) {
                let action = actions::by_name(name).unwrap().action;
                let key = app.keymap.keys_of(action)[0];
                let (meant, index) = app.resolve(&key).unwrap_or_else(|| {
                    panic!("at {place:?} the footer offers {name}, but its key means nothing")
                });
                assert_eq!(
                    meant, action,
                    "at {place:?} the key of {name} means another action"
                );
                assert_eq!(app.applies(meant, index), Ok(()), "at {place:?}: {name}");
            }
        }
    }
}

#[test]
fn an_action_that_does_not_apply_says_why_and_sends_nothing() {
    let mut app = app();
    press(&mut app, &["3"]);
    assert!(calls(&press(&mut app, &["r"])).is_empty());
    let toast = app.toast.clone().unwrap();
    assert_eq!(Err(toast.text), app.applies(Action::Retry, 0));
}

#[test]
fn a_refused_decision_shows_the_daemons_message_and_refreshes() {
    let mut app = app();
    at_gate(&mut app, GateKind::Approval);
    let Some(Effect::Send { id, .. }) = press(&mut app, &["a"]).pop() else {
        panic!("nothing sent");
    };
    let effects = app.on_frame(ServerFrame::Response {
        id,
        result: None,
        error: Some(WireError {
            code: ErrorCode::Stale,
            message: "gate-approval was already decided".into(),
        }),
    });
    assert_eq!(effects, [Effect::Resubscribe]);
    let toast = app.toast.unwrap();
    assert!(
        toast.error && toast.text.contains("already decided"),
        "{toast:?}"
    );
}

#[test]
fn a_gap_in_sequence_numbers_asks_for_a_snapshot() {
    let mut app = app();
    let frame = fixtures::log_event(12, "run-vault", 1, "skipped one");
    assert_eq!(app.on_frame(frame), [Effect::Resubscribe]);
    let next = fixtures::log_event(11, "run-vault", 1, "in order");
    assert!(app.on_frame(next).is_empty());
    assert_eq!(app.model.seq, 11);
}

#[test]
fn the_selection_survives_a_resync() {
    let mut app = app();
    press(&mut app, &["j", "j", "j"]);
    let selected = app.sel.board.clone().unwrap();
    let (mut board, runs) = fixtures::busy();
    board.reverse();
    app.on_frame(fixtures::snapshot(board, runs, 40));
    assert_eq!(app.sel.board.as_deref(), Some(selected.as_str()));
    let rows = app.visible_board();
    let at = app.board_position(&rows);
    assert_eq!(app.model.board_order()[rows[at]].0, selected);
}

#[test]
fn while_disconnected_a_decision_is_not_sent_and_the_user_is_told() {
    let mut app = app();
    app.on_conn_state(ConnState::Down {
        why: "closed".into(),
        retry_secs: 1,
    });
    at_gate(&mut app, GateKind::Approval);
    assert!(calls(&press(&mut app, &["a"])).is_empty());
    assert!(app.toast.unwrap().text.contains("not connected"));
}

#[test]
fn the_palette_runs_any_action_by_name_with_completion() {
    let mut app = app();
    press(&mut app, &[":"]);
    typed(&mut app, "inb");
    press(&mut app, &["tab"]);
    assert!(matches!(&app.modal, Some(Modal::Palette { input, .. }) if input == "inbox "));
    press(&mut app, &["enter"]);
    assert_eq!(app.view(), View::Inbox);
    press(&mut app, &["j", ":"]);
    typed(&mut app, "choose 1");
    let sent = calls(&press(&mut app, &["enter"]));
    assert!(
        matches!(sent.as_slice(), [Call::Decide { action: GateAction::ChooseOption { option }, .. }] if option == "SQLite")
    );
}

#[test]
fn a_facet_filter_narrows_the_board_and_a_bad_one_says_how_to_write_it() {
    let mut app = app();
    press(&mut app, &["/"]);
    typed(&mut app, "status:blocked pipeline:quick");
    press(&mut app, &["enter"]);
    let rows = app.visible_board();
    let order = app.model.board_order().to_vec();
    let ids: Vec<&str> = rows.iter().map(|i| order[*i].0.as_str()).collect();
    assert_eq!(ids, ["task-refund", "task-webhooks"]);
    press(&mut app, &["/"]);
    typed(&mut app, " owner:me");
    assert_toast(&app, "status:");
    press(&mut app, &["esc"]);
    assert!(app.filter.is_empty());
}

#[test]
fn help_is_searchable() {
    let mut app = app();
    press(&mut app, &["?"]);
    typed(&mut app, "reject");
    assert!(matches!(&app.modal, Some(Modal::Help { query, .. }) if query == "reject"));
    press(&mut app, &["esc"]);
    assert!(app.modal.is_none());
}

#[test]
fn esc_backs_out_one_level_and_q_quits_only_at_the_top() {
    let mut app = app();
    press(&mut app, &["3", "enter"]);
    assert_eq!(app.stack, [View::Board, View::Inbox, View::Viewer]);
    press(&mut app, &["esc"]);
    assert_eq!(app.view(), View::Inbox);
    assert!(press(&mut app, &["q"]).is_empty());
    assert_eq!(app.view(), View::Board);
    assert_eq!(press(&mut app, &["q"]), [Effect::Quit]);
}

#[test]
fn run_keys_retry_a_failed_run_and_confirm_restart_and_stop() {
    let mut app = app();
    app.sel.run = Some("run-rounding".into());
    press(&mut app, &["2"]);
    app.sel.run = Some("run-rounding".into());
    assert_eq!(
        calls(&press(&mut app, &["r"])),
        [Call::Retry {
            run_id: "run-rounding".into()
        }]
    );
    app.sel.run = Some("run-vault".into());
    press(&mut app, &["j", "R"]);
    assert!(matches!(&app.modal, Some(Modal::Confirm { prompt, .. }) if prompt.contains("step 2")));
    assert_eq!(
        calls(&press(&mut app, &["y"])),
        [Call::RestartFromStep {
            run_id: "run-vault".into(),
            step: 1
        }]
    );
    press(&mut app, &["x"]);
    assert_eq!(
        calls(&press(&mut app, &["y"])),
        [Call::Stop {
            run_id: "run-vault".into()
        }]
    );
}

#[test]
fn s_starts_a_pipeline_picked_from_the_list() {
    let mut app = app();
    let rows = app.visible_board();
    let idle = rows
        .iter()
        .position(|i| app.model.board_order()[*i].0 == "task-idle")
        .unwrap();
    for _ in 0..idle {
        press(&mut app, &["j"]);
    }
    press(&mut app, &["s"]);
    assert!(matches!(app.modal, Some(Modal::Picker { .. })));
    assert_eq!(
        calls(&press(&mut app, &["enter"])),
        [Call::Start {
            block_id: "task-idle".into(),
            pipeline_id: "quick".into()
        }]
    );
}

#[test]
fn the_log_keeps_a_bounded_tail() {
    let mut app = app();
    let total = model::LOG_LINES + 50;
    for i in 0..total {
        app.on_frame(fixtures::log_event(
            11 + i as u64,
            "run-vault",
            1,
            &format!("line {i}"),
        ));
    }
    let log = &app.model.logs[&("run-vault".to_owned(), 1)];
    assert_eq!(log.len(), model::LOG_LINES);
    assert_eq!(log.back().unwrap().text, format!("line {}", total - 1));
}

#[test]
fn the_clock_ticks_only_while_something_on_screen_moves() {
    let mut app = App::new(Keymap::defaults(), false, false, NOW);
    app.on_connected(crate::client::Welcome::from("0.1.0", "process"));
    let (board, _) = fixtures::busy();
    app.on_frame(fixtures::snapshot(board, Vec::new(), 1));
    assert!(!app.needs_clock(), "nothing live, no toast: no ticks");
    app.info("hello".into());
    assert!(app.needs_clock());
    app.dirty = false;
    assert!(app.on_tick(NOW + 6_000));
    assert!(app.toast.is_none() && !app.needs_clock());
}

#[test]
fn a_frozen_log_stays_on_its_lines_while_new_ones_arrive() {
    let mut app = app();
    app.on_frame(fixtures::log_event(11, "run-vault", 1, "first"));
    app.sel.run = Some("run-vault".into());
    press(&mut app, &["4"]);
    app.sel.run = Some("run-vault".into());
    press(&mut app, &["f"]);
    app.on_frame(fixtures::log_event(12, "run-vault", 1, "second"));
    app.on_frame(fixtures::log_event(13, "run-vault", 1, "third"));
    assert_eq!(
        app.logs.scroll_back, 2,
        "still showing `first` at the bottom"
    );
    press(&mut app, &["f"]);
    assert_eq!(app.logs.scroll_back, 0, "following again");
}

fn with_cards(app: &mut App) {
    for (n, card) in fixtures::busy_cards().into_iter().enumerate() {
        app.on_frame(fixtures::card_event(11 + n as u64, card));
    }
}

#[test]
fn the_inbox_puts_urgent_gates_first_and_lists_cards_that_stand_for_no_gate() {
    let mut app = app();
    with_cards(&mut app);
    let rows = app.model.inbox_rows();
    let ids: Vec<&str> = rows.iter().map(|r| r.id()).collect();
    assert_eq!(
        ids,
        ["gate-approval", "gate-cap", "gate-decision", "n_done"]
    );
    assert!(rows[0].urgent(), "the escalated approval leads");
}

#[test]
fn opening_a_merge_review_card_shows_its_runs_diff() {
    let mut app = app();
    let card = fixtures::card(
        "n_review",
        cattery_protocol::NotificationType::MergeReview,
        "task-docs",
        "run-docs",
        cattery_protocol::Severity::Normal,
        "Review PR for \"Document the API errors\"",
    );
    app.on_frame(fixtures::card_event(11, card));
    press(&mut app, &["3", "G"]);
    assert_eq!(app.selected_card().unwrap().id, "n_review");
    let effects = press(&mut app, &["enter"]);
    assert_eq!(app.view(), View::Diff);
    assert!(
        calls(&effects)
            .iter()
            .any(|c| matches!(c, Call::Diff { run_id, step: None } if run_id == "run-docs")),
        "{effects:?}"
    );
}

#[test]
fn o_acts_on_and_d_dismisses_the_selected_card_but_not_a_gate() {
    let mut app = app();
    with_cards(&mut app);
    press(&mut app, &["3", "G"]);
    assert_eq!(app.selected_card().unwrap().id, "n_done");
    assert_eq!(
        calls(&press(&mut app, &["o"])),
        [Call::Act {
            id: "n_done".into()
        }]
    );
    assert_eq!(
        calls(&press(&mut app, &["d"])),
        [Call::Dismiss {
            id: "n_done".into()
        }]
    );
    press(&mut app, &["g"]);
    assert!(calls(&press(&mut app, &["d"])).is_empty());
    assert!(
        app.toast
            .as_ref()
            .unwrap()
            .text
            .contains("gates are decided"),
        "{:?}",
        app.toast
    );
    let closed = cattery_protocol::Notification {
        status: cattery_protocol::NotificationStatus::Dismissed,
        ..app.model.cards["n_done"].clone()
    };
    app.on_frame(fixtures::card_event(13, closed));
    assert!(
        !app.model.cards.contains_key("n_done"),
        "a closed card leaves the inbox"
    );
}

#[test]
fn u_resumes_paused_runs_only_when_some_are_paused() {
    let mut app = app();
    assert!(calls(&press(&mut app, &["u"])).is_empty());
    assert!(!hints(&app).iter().any(|(_, n)| *n == "resume-paused"));
    let mut paused = (*app.model.runs["run-vault"]).clone();
    paused.status = cattery_protocol::RunStatus::Paused;
    paused.rev += 1;
    app.on_frame(fixtures::run_event(11, paused));
    assert!(hints(&app).iter().any(|(_, n)| *n == "resume-paused"));
    assert_eq!(calls(&press(&mut app, &["u"])), [Call::ResumePaused]);
}

#[test]
fn spend_is_asked_for_on_connect_and_again_as_metered_calls_arrive() {
    let mut app = App::new(Keymap::defaults(), false, false, NOW);
    let asked = calls(&app.on_connected(crate::client::Welcome::from("0.1.0", "process")));
    assert!(asked.contains(&Call::Spend), "{asked:?}");
    let (board, runs) = fixtures::busy();
    app.on_frame(fixtures::snapshot(board, runs, 10));
    let metrics = |seq| ServerFrame::Event {
        seq,
        event: cattery_protocol::event::Event::StepMetrics {
            run_id: "run-vault".into(),
            step_index: 1,
            metrics: fixtures::metrics(1, 10),
        },
    };
    assert!(
        calls(&app.on_frame(metrics(11))).is_empty(),
        "asked a moment ago"
    );
    app.now += 6_000;
    assert_eq!(calls(&app.on_frame(metrics(12))), [Call::Spend]);
}

#[test]
fn a_bell_from_the_daemon_rings_the_terminal_and_says_why() {
    let mut app = app();
    let bell = ServerFrame::Event {
        seq: 11,
        event: cattery_protocol::event::Event::Bell {
            title: "cattery: 2 cards need you".into(),
            body: String::new(),
        },
    };
    let effects = app.on_frame(bell);
    assert!(effects.contains(&Effect::Bell), "{effects:?}");
    assert!(app.toast.unwrap().text.contains("2 cards need you"));
    assert_eq!(app.model.seq, 11, "the bell still counts in the sequence");
}

#[test]
fn a_run_patch_updates_the_run_one_it_already_holds_is_ignored_and_one_from_ahead_asks_for_a_snapshot()
 {
    let mut app = app();
    let old = (*app.model.runs["run-vault"]).clone();
    let mut new = old.clone();
    new.rev += 1;
    new.steps[1].progress = 0.9;
    let patch = cattery_protocol::event::RunPatch::between(&old, &new).unwrap();
    let frame = |seq, patch| ServerFrame::Event {
        seq,
        event: cattery_protocol::event::Event::RunPatch { patch },
    };
    assert!(app.on_frame(frame(11, patch.clone())).is_empty());
    assert_eq!(*app.model.runs["run-vault"], new);
    assert!(
        app.on_frame(frame(12, patch)).is_empty(),
        "a patch whose rev is held (a snapshot raced its event) is no gap"
    );
    assert_eq!(*app.model.runs["run-vault"], new);
    let mut newer = new.clone();
    newer.rev += 1;
    let mut newest = newer.clone();
    newest.rev += 1;
    newest.steps[1].progress = 1.0;
    let ahead = cattery_protocol::event::RunPatch::between(&newer, &newest).unwrap();
    assert_eq!(
        app.on_frame(frame(13, ahead)),
        [Effect::Resubscribe],
        "a patch on a rev this client never saw"
    );
}

fn audit_calls(effects: &[Effect]) -> Vec<Option<String>> {
    calls(effects)
        .into_iter()
        .filter_map(|c| match c {
            Call::Audit { run_id } => Some(run_id),
            _ => None,
        })
        .collect()
}

#[test]
fn the_run_view_asks_for_its_history_once_and_again_after_a_decision() {
    let mut app = app();
    app.sel.run = Some("run-rounding".into());
    let effects = press(&mut app, &["2"]);
    assert_eq!(audit_calls(&effects), [Some("run-rounding".to_owned())]);
    let history = cattery_protocol::wire::Reply::Audit(fixtures::rounding_history());
    let answer = fixtures::answer(&effects, |c| matches!(c, Call::Audit { .. }), history).unwrap();
    app.on_frame(answer);
    assert_eq!(app.history.run_id.as_deref(), Some("run-rounding"));
    assert_eq!(app.history.entries.len(), 2);

    let effects = press(&mut app, &["j", "k"]);
    assert!(audit_calls(&effects).is_empty(), "moving asks nothing");

    let mut run = (**app.model.runs.get("run-rounding").unwrap()).clone();
    run.resolved_gates.push(ResolvedGate {
        id: "gate-new".into(),
        kind: GateKind::Approval,
        step_index: 0,
        choice: "approve".into(),
        resolved_at: NOW,
    });
    let effects = app.on_frame(fixtures::run_event(11, run));
    assert_eq!(audit_calls(&effects), [Some("run-rounding".to_owned())]);
}

#[test]
fn a_history_lost_with_the_connection_is_asked_for_again() {
    let mut app = app();
    app.sel.run = Some("run-rounding".into());
    assert_eq!(audit_calls(&press(&mut app, &["2"])).len(), 1);
    app.on_conn_state(ConnState::Connecting { attempt: 1 });
    app.on_connected(crate::client::Welcome::from("0.1.0", "process"));
    let (board, runs) = fixtures::busy();
    let effects = app.on_frame(fixtures::snapshot(board, runs, 20));
    assert_eq!(audit_calls(&effects), [Some("run-rounding".to_owned())]);
}

#[test]
fn the_daemons_health_follows_its_welcome_its_snapshot_and_its_health_events() {
    use cattery_protocol::wire::Health;
    let degraded = Health::Degraded {
        reason: "the disk is full".into(),
        since: NOW,
    };
    let mut app = App::new(Keymap::defaults(), false, false, NOW);
    let mut welcome = crate::client::Welcome::from("0.1.0", "process");
    welcome.health = degraded.clone();
    app.on_connected(welcome);
    assert_eq!(app.model.health, degraded, "a welcome says it first");
    let (board, runs) = fixtures::busy();
    app.on_frame(fixtures::snapshot(board, runs, 10));
    assert_eq!(app.model.health, Health::Ok, "the snapshot is newer");
    let health = |seq, health| ServerFrame::Event {
        seq,
        event: cattery_protocol::event::Event::Health { health },
    };
    app.dirty = false;
    app.on_frame(health(11, degraded.clone()));
    assert_eq!(app.model.health, degraded);
    assert!(app.dirty, "the header is redrawn");
    let told = app.toast.clone().unwrap();
    assert!(
        told.error && told.text.contains("the disk is full"),
        "{told:?}"
    );
    app.on_frame(health(12, Health::Ok));
    assert_eq!(
        app.model.health,
        Health::Ok,
        "recovery shows without a restart"
    );
    assert!(app.toast.unwrap().text.contains("healthy again"));
}

/// The approval fixture's gate with its step's code committed, so opening
/// it shows the diff.
fn app_with_coded_approval() -> App {
    let mut app = app_with(Keymap::defaults(), false, true);
    let gate = app
        .model
        .inbox()
        .into_iter()
        .find(|g| g.id == "gate-approval")
        .unwrap();
    let mut run = (**app.model.runs.get(&gate.run_id).unwrap()).clone();
    run.worktree = fixtures::busy()
        .1
        .into_iter()
        .find_map(|r| r.worktree.clone());
    run.steps[gate.step_index].change = Some(cattery_protocol::StepChange {
        commit: Some("4be7c01d".into()),
        start_commit: "91aa03cc".into(),
        files: 4,
        insertions: 6,
        deletions: 1,
    });
    run.rev += 1;
    app.on_frame(fixtures::run_event(11, run));
    app
}

#[test]
fn opening_an_approval_whose_step_changed_code_shows_its_diff_and_a_line_comment_reaches_the_decision()
 {
    let mut app = app_with_coded_approval();
    at_gate(&mut app, GateKind::Approval);
    let step = app.selected_gate().unwrap().step_index;
    let effects = press(&mut app, &["enter"]);
    assert_eq!(app.view(), View::Diff);
    let mut diff = fixtures::vault_diff();
    diff.step_index = Some(step);
    let answer = fixtures::answer(
        &effects,
        |c| matches!(c, Call::Diff { step: s, .. } if *s == Some(step)),
        Reply::Diff(Box::new(diff)),
    )
    .expect("opening asked for the step's diff");
    app.on_frame(answer);
    assert_eq!(app.diff.as_ref().unwrap().rows.len(), 19);
    press(&mut app, &["j", "j", "j", "j"]);
    let Some(Effect::Edit { text, purpose }) = press(&mut app, &["c"]).pop() else {
        panic!("no editor");
    };
    assert_eq!(
        text, "src/vault.rs:11: ",
        "the remark starts at the line on screen"
    );
    let written = format!("{text}why seal here?\nAnd name the error.");
    let sent = calls(&app.on_edited(purpose, Ok(written)));
    let changes = GateAction::RequestChanges {
        feedback: "And name the error.".into(),
        comments: vec![cattery_protocol::ReviewComment {
            quote: None,
            severity: cattery_protocol::CommentSeverity::Major,
            body: "why seal here?".into(),
            path: Some("src/vault.rs".into()),
            line: Some(11),
        }],
    };
    let mut expected = decided(&app, "gate-approval", changes);
    if let Call::Decide { rev, .. } = &mut expected {
        *rev = 8; // the fixture's rev, bumped by the change above
    }
    assert_eq!(sent, [expected]);
    assert_ne!(app.view(), View::Diff, "the diff has done its job");
}

#[test]
fn a_diff_the_daemon_refuses_closes_the_view_and_says_why() {
    let mut app = app_with_coded_approval();
    at_gate(&mut app, GateKind::Approval);
    let effects = press(&mut app, &["enter"]);
    let Some(Effect::Send { id, .. }) = effects.first() else {
        panic!("{effects:?}");
    };
    app.on_frame(ServerFrame::Response {
        id: *id,
        result: None,
        error: Some(WireError {
            code: ErrorCode::Conflict,
            message: "cannot read the run's branch".into(),
        }),
    });
    assert_ne!(app.view(), View::Diff);
    assert_toast(&app, "cannot read the run's branch");
}

#[test]
fn d_on_a_run_without_a_repository_says_no_code_changed() {
    let mut app = app();
    app.sel.run = Some("run-rounding".into());
    press(&mut app, &["2"]);
    app.sel.run = Some("run-rounding".into());
    assert!(calls(&press(&mut app, &["D"])).is_empty());
    assert_toast(&app, "no repository");
}

/// The board's cursor on block `id`.
fn select_block(app: &mut App, id: &str) {
    press(app, &["1"]);
    let rows = app.visible_board();
    let at = rows
        .iter()
        .position(|i| app.model.board_order()[*i].0 == id)
        .unwrap();
    for _ in 0..at {
        press(app, &["j"]);
    }
}

fn log_page(offset: u64, count: u64, total: u64) -> Reply {
    use cattery_protocol::transcript::{EntryKind, LogEntry, LogPage};
    let entries = (offset..offset + count)
        .map(|i| LogEntry {
            at: NOW,
            level: cattery_protocol::agent::LogLevel::Info,
            kind: if i == 0 {
                EntryKind::Attempt
            } else {
                EntryKind::Line
            },
            text: format!("entry {i}"),
        })
        .collect();
    Reply::Logs(Box::new(LogPage {
        run_id: "run-docs".into(),
        step_index: 1,
        offset,
        entries,
        total,
        finished: true,
    }))
}

#[test]
fn the_logs_view_of_a_finished_step_reads_its_whole_transcript_page_by_page() {
    let mut app = app();
    select_block(&mut app, "task-docs");
    press(&mut app, &["2", "k", "k"]);
    assert_eq!(app.selected_step(), 1);
    let effects = press(&mut app, &["4"]);
    let asked = |offset: u64| move |c: &Call| matches!(c, Call::Logs { step: Some(1), offset: o, .. } if *o == offset);
    let first = fixtures::answer(&effects, asked(0), log_page(0, 5_000, 7_000))
        .expect("the view asked for the selected step's transcript");
    let effects = app.on_frame(first);
    let second = fixtures::answer(&effects, asked(5_000), log_page(5_000, 2_000, 7_000))
        .expect("and then for the rest");
    let effects = app.on_frame(second);
    assert!(
        calls(&effects).is_empty(),
        "the transcript is whole: {effects:?}"
    );
    let run = app.selected_run().unwrap().clone();
    let (lines, stored) = app.shown_log(&run);
    let lines = lines.unwrap();
    assert!(stored);
    assert_eq!(lines.len(), 7_000);
    assert_eq!(
        lines[0].text, "── entry 0 ──",
        "an attempt reads as a ruler"
    );
    assert_eq!(lines[6_999].text, "entry 6999");
}

#[test]
fn a_transcript_page_for_a_step_no_longer_shown_is_dropped() {
    let mut app = app();
    select_block(&mut app, "task-docs");
    press(&mut app, &["2", "k", "k"]);
    let effects = press(&mut app, &["4"]);
    let page = fixtures::answer(
        &effects,
        |c| matches!(c, Call::Logs { .. }),
        log_page(0, 10, 10),
    )
    .unwrap();
    press(&mut app, &["2", "j"]);
    press(&mut app, &["1"]);
    select_block(&mut app, "task-refund");
    app.on_frame(page);
    let run = app.selected_run().unwrap().clone();
    assert!(
        !app.shown_log(&run).1,
        "another run's log is not shown as this one's"
    );
}

#[test]
fn brackets_in_the_logs_view_step_through_a_finished_runs_steps_reading_each_transcript() {
    let mut app = app();
    select_block(&mut app, "task-docs");
    press(&mut app, &["2", "k", "k"]);
    press(&mut app, &["4"]);
    let effects = press(&mut app, &["]"]);
    assert!(
        calls(&effects).iter().any(|c| matches!(
            c,
            Call::Logs {
                step: Some(2),
                offset: 0,
                ..
            }
        )),
        "the next step's transcript is asked for: {effects:?}"
    );
    let run = app.selected_run().unwrap().clone();
    assert_eq!(app.log_step(&run), 2);
    press(&mut app, &["[", "["]);
    assert_eq!(app.log_step(&run), 0);
    assert!(
        press(&mut app, &["["]).is_empty(),
        "no step before the first"
    );
    // In the Diff view the same keys still step through files.
    assert_eq!(spec_of(Action::NextFile).keys, ["]"]);
}

#[test]
fn a_log_search_count_follows_new_lines_even_in_a_full_buffer() {
    let mut app = app();
    for i in 0..model::LOG_LINES as u64 {
        app.on_frame(fixtures::log_event(
            11 + i,
            "run-vault",
            1,
            &format!("line {i}"),
        ));
    }
    let key = ("run-vault".to_owned(), 1);
    let count = |app: &App| {
        let lines = &app.model.logs[&key];
        app.logs.matches("run-vault", 1, "needle", lines)
    };
    assert_eq!(count(&app), 0);
    let seq = 11 + model::LOG_LINES as u64;
    app.on_frame(fixtures::log_event(seq, "run-vault", 1, "a needle here"));
    assert_eq!(
        app.model.logs[&key].len(),
        model::LOG_LINES,
        "the buffer stayed full"
    );
    assert_eq!(count(&app), 1, "the new line is counted");
    assert_eq!(count(&app), 1, "and remembered");
}

/// The findings pane of the fixture's review run, opened from the inbox.
fn at_review(editor: bool) -> App {
    let mut app = app_with(Keymap::defaults(), false, editor);
    app.on_frame(fixtures::run_event(11, fixtures::review_run()));
    press(&mut app, &["3"]);
    for _ in 0..10 {
        if app
            .selected_gate()
            .is_some_and(|g| g.kind == GateKind::Review)
        {
            break;
        }
        press(&mut app, &["j"]);
    }
    press(&mut app, &["enter"]);
    assert_eq!(app.view(), View::Review);
    app
}

fn review_call(action: cattery_protocol::review::ReviewAction) -> Call {
    Call::Review {
        run_id: "run-review".into(),
        rev: 7,
        action,
    }
}

#[test]
fn in_the_findings_pane_r_replies_through_the_editor_and_d_dismisses_the_selected_finding() {
    use cattery_protocol::review::ReviewAction;
    let mut app = at_review(true);
    let effects = press(&mut app, &["r"]);
    let Some(Effect::Edit { purpose, .. }) = effects.first().cloned() else {
        panic!("r opens the editor: {effects:?}");
    };
    let sent = app.on_edited(purpose, Ok("Closed over a year ago.\n".into()));
    assert_eq!(
        calls(&sent),
        [review_call(ReviewAction::Reply {
            finding: "f_1".into(),
            text: "Closed over a year ago.".into(),
        })]
    );
    // One action at a time per run: the next waits for the answer.
    assert!(calls(&press(&mut app, &["d"])).is_empty());
    let mut app = at_review(true);
    let sent = press(&mut app, &["j", "j", "o"]);
    assert_eq!(
        calls(&sent),
        [review_call(ReviewAction::Reopen {
            finding: "f_3".into()
        })]
    );
    let mut app = at_review(true);
    let sent = press(&mut app, &["d"]);
    assert_eq!(
        calls(&sent),
        [review_call(ReviewAction::Dismiss {
            finding: "f_1".into()
        })]
    );
}

#[test]
fn incorporate_is_refused_with_the_open_count_then_sent_once_nothing_is_open() {
    use cattery_protocol::review::{FindingStatus, ReviewAction};
    let mut app = at_review(false);
    assert!(calls(&press(&mut app, &["I"])).is_empty());
    assert_toast(&app, "1 finding is still open");
    let mut resolved = fixtures::review_run();
    if let Some(review) = resolved.steps[0].review.as_mut() {
        review.findings[0].status = FindingStatus::Resolved;
    }
    resolved.rev = 8;
    app.on_frame(fixtures::run_event(12, resolved));
    let sent = press(&mut app, &["I"]);
    assert_eq!(
        calls(&sent),
        [Call::Review {
            run_id: "run-review".into(),
            rev: 8,
            action: ReviewAction::Incorporate { feedback: None },
        }]
    );
}

#[test]
fn the_cap_keys_resolve_a_review_only_at_its_cap_and_retry_keys_are_shadowed_in_the_pane() {
    use cattery_protocol::review::{ReviewAction, ReviewStatus};
    let mut app = at_review(false);
    assert!(calls(&press(&mut app, &["+"])).is_empty());
    assert_toast(&app, "an extra round is for a review at its cap");
    let mut capped = fixtures::review_run();
    if let Some(review) = capped.steps[0].review.as_mut() {
        review.status = ReviewStatus::Exceeded;
    }
    app.on_frame(fixtures::run_event(12, capped));
    assert_eq!(
        calls(&press(&mut app, &["+"])),
        [review_call(ReviewAction::ExtraRound)]
    );
    let mut app = at_review(false);
    assert_eq!(
        calls(&press(&mut app, &["p"])),
        [review_call(ReviewAction::Proceed)]
    );
    // `R` is restart-from elsewhere; in the pane it resolves.
    let mut app = at_review(false);
    assert_eq!(
        calls(&press(&mut app, &["R"])),
        [review_call(ReviewAction::Resolve {
            finding: "f_1".into()
        })]
    );
}

#[test]
fn the_schedules_view_asks_for_the_list_then_the_selected_history_and_n_fires_it() {
    let mut app = app();
    let effects = press(&mut app, &["5"]);
    assert_eq!(calls(&effects), [Call::Schedules]);
    assert!(
        calls(&press(&mut app, &["n"])).is_empty(),
        "nothing to fire before the list"
    );
    let list = Reply::Schedules(fixtures::schedules());
    let answer = fixtures::answer(&effects, |c| matches!(c, Call::Schedules), list).unwrap();
    let effects = app.on_frame(answer);
    assert_eq!(
        calls(&effects),
        [Call::ScheduleHistory {
            id: "s_nightly".into()
        }]
    );
    let effects = press(&mut app, &["j"]);
    assert_eq!(
        calls(&effects),
        [Call::ScheduleHistory {
            id: "s_weekly".into()
        }]
    );
    let effects = press(&mut app, &["n"]);
    assert_eq!(
        calls(&effects),
        [
            Call::RunSchedule {
                id: "s_weekly".into()
            },
            Call::Schedules
        ]
    );
}

#[test]
fn a_schedules_changed_event_refreshes_the_schedules_view_only_while_it_is_open() {
    let event = |seq| ServerFrame::Event {
        seq,
        event: cattery_protocol::event::Event::SchedulesChanged,
    };
    let mut app = app();
    assert!(
        calls(&app.on_frame(event(11))).is_empty(),
        "the board asks nothing"
    );
    press(&mut app, &["5"]);
    assert_eq!(calls(&app.on_frame(event(12))), [Call::Schedules]);
}

#[test]
fn enter_on_a_review_step_in_the_run_view_opens_its_findings() {
    let mut app = app();
    app.on_frame(fixtures::run_event(11, fixtures::review_run()));
    app.sel.run = Some("run-review".into());
    press(&mut app, &["2", "enter"]);
    assert_eq!(app.view(), View::Review);
    press(&mut app, &["esc"]);
    assert_eq!(app.view(), View::Run);
}

#[test]
fn restart_from_a_step_the_run_never_reached_or_a_replaced_run_does_not_apply() {
    let mut app = app();
    press(&mut app, &["2"]);
    app.sel.run = Some("run-vault".into());
    let last = app.model.runs["run-vault"].last_reached_step();
    app.sel.step = last + 1;
    let why = app.applies(Action::RestartFrom, 0).unwrap_err();
    assert!(why.contains("never reached"), "{why}");
    app.sel.step = last;
    assert_eq!(app.applies(Action::RestartFrom, 0), Ok(()));
    let block = app.model.runs["run-vault"].block_id.clone();
    app.model.blocks.get_mut(&block).unwrap().run_id = Some("run-newer".into());
    let why = app.applies(Action::RestartFrom, 0).unwrap_err();
    assert!(why.contains("run-newer"), "{why}");
    let why = app.applies(Action::Retry, 0).unwrap_err();
    assert!(why.contains("run-newer"), "{why}");
}

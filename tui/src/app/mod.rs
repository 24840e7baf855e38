//! The control room's state machine: server frames and key presses in,
//! effects (requests, editor sessions, quit) out. No I/O happens here, so
//! every key path is testable without a terminal.

pub mod actions;
mod applies;
mod decide;
mod diffview;
pub mod filter;
mod hints;
pub mod keymap;
mod modal;
pub mod model;
mod nav;
mod requests;
mod review;
mod schedules;
mod storedlog;

use actions::{Action, Scope, spec_of};
use cattery_protocol::wire::{Call, FromReply, Reply, ServerFrame, WireError};
use cattery_protocol::{GateKind, Millis, PendingGate, Run};
use crossterm::event::{KeyEvent, KeyEventKind, MouseEvent, MouseEventKind};
pub use decide::diff_lines;
pub use diffview::{DiffRow, DiffView};
use filter::Filter;
pub use hints::hints;
use keymap::{Key, Keymap};
pub use modal::{EditPurpose, Modal};
use model::{Applied, Model};
use requests::{Pending, Requests};
use std::collections::HashSet;
use std::sync::Arc;

/// The top-level views, in `tab` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Board,
    Run,
    Inbox,
    Logs,
    /// A proposal, an output, or an edited proposal's diff.
    Viewer,
    /// A step's or run's code change: its files and hunks.
    Diff,
    /// A review gate's findings, with the revised requirements.
    Review,
    /// Recurring pipelines and their fires.
    Schedules,
}

impl View {
    pub const TOP: [View; 5] = [
        View::Board,
        View::Run,
        View::Inbox,
        View::Logs,
        View::Schedules,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Board => "Board",
            View::Run => "Run",
            View::Inbox => "Inbox",
            View::Logs => "Logs",
            View::Viewer => "Viewer",
            View::Diff => "Diff",
            View::Review => "Review",
            View::Schedules => "Schedules",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    Connecting { attempt: u32 },
    Connected,
    Down { why: String, retry_secs: u64 },
}

/// What the runtime must do for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send {
        id: u64,
        call: Call,
    },
    /// Ask for a fresh snapshot (after a gap or a refused decision).
    Resubscribe,
    /// Ring the terminal bell: the daemon could reach no desktop.
    Bell,
    /// Open `$EDITOR` on this text; the result comes back through [`App::on_edited`].
    Edit {
        text: String,
        purpose: EditPurpose,
    },
    Quit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub text: String,
    pub error: bool,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DiffTag {
    Same,
    Added,
    Removed,
    Plain,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    pub title: String,
    pub lines: Vec<(DiffTag, String)>,
    pub scroll: usize,
    /// An edited proposal waiting for `enter` to be sent.
    pub pending: Option<(PendingGate, String)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogView {
    pub frozen: bool,
    /// Lines up from the bottom while frozen or scrolled.
    pub scroll_back: usize,
    pub search: Option<String>,
    /// The step picked with `[`/`]`, instead of the one the view follows.
    pub step: Option<usize>,
    /// The last search count: (what was searched, lines searched, matches),
    /// so a frame over an unchanged log does not search it again.
    pub search_memo: std::cell::Cell<Option<(u64, usize, usize)>>,
    /// A finished step's transcript, as read from the daemon.
    pub stored: Option<storedlog::StoredLog>,
}

/// What the last frame told the app: where the list was (for mouse clicks
/// and keeping the scroll steady) and how many log rows fit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Drawn {
    pub list: ListArea,
    pub log_rows: usize,
    /// Diff rows on screen, for paging the Diff view.
    pub diff_rows: usize,
}

/// Screen regions the last frame drew, for mouse clicks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ListArea {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    pub offset: usize,
}

impl ListArea {
    /// The rows of a table drawn in `inner` below its one-line header.
    pub fn below_header(inner: ratatui::layout::Rect, offset: usize) -> Self {
        Self {
            x: inner.x,
            y: inner.y + 1,
            width: inner.width,
            height: inner.height.saturating_sub(1),
            offset,
        }
    }
}

/// The selection in each view: by id, so it follows its row as rows come
/// and go, with the position as the fallback when the row is gone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub board: Option<String>,
    pub board_index: usize,
    pub inbox: Option<String>,
    pub inbox_index: usize,
    pub run: Option<String>,
    pub step: usize,
}

#[derive(Debug, Clone, Default)]
pub struct DaemonInfo {
    pub version: String,
    pub executor: String,
}

/// The audit log of the run on screen, as last asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub run_id: Option<String>,
    pub entries: Vec<cattery_protocol::AuditEntry>,
    /// The run and its count of resolved gates when last asked; a new
    /// decision changes the count and so asks again.
    asked: Option<(String, usize)>,
}

pub struct App {
    pub model: Model,
    pub keymap: Keymap,
    pub read_only: bool,
    /// `$EDITOR` can be launched; otherwise the inline editor is used.
    pub editor: bool,
    pub conn: ConnState,
    pub daemon: DaemonInfo,
    pub stack: Vec<View>,
    pub modal: Option<Modal>,
    pub viewer: Option<Viewer>,
    /// The code change on screen in the Diff view.
    pub diff: Option<DiffView>,
    /// The review on screen in the findings pane.
    pub review: Option<review::ReviewPane>,
    /// The schedules, as last asked.
    pub schedules: schedules::SchedulesView,
    pub filter: Filter,
    /// What is selected in each view.
    pub sel: Selection,
    pub logs: LogView,
    pub marked: HashSet<String>,
    /// Requests on their way, and the gates with a decision in flight.
    pub requests: Requests,
    pub toast: Option<Toast>,
    pub now: Millis,
    /// Set when the screen must be drawn again.
    pub dirty: bool,
    /// Where the last frame drew the list; set by [`App::on_drawn`] only.
    pub list_area: ListArea,
    /// Month-to-date spend, as last asked.
    pub spend: Option<cattery_protocol::wire::SpendReport>,
    spend_asked: Millis,
    /// Decisions on the run in the Run view, for its history pane.
    pub history: History,
}

impl App {
    pub fn new(keymap: Keymap, read_only: bool, editor: bool, now: Millis) -> Self {
        Self {
            model: Model::default(),
            keymap,
            read_only,
            editor,
            conn: ConnState::Connecting { attempt: 1 },
            daemon: DaemonInfo::default(),
            stack: vec![View::Board],
            modal: None,
            viewer: None,
            diff: None,
            review: None,
            schedules: schedules::SchedulesView::default(),
            filter: Filter::default(),
            sel: Selection::default(),
            logs: LogView::default(),
            marked: HashSet::new(),
            requests: Requests::default(),
            toast: None,
            now,
            dirty: true,
            list_area: ListArea::default(),
            spend: None,
            spend_asked: 0,
            history: History::default(),
        }
    }

    pub fn view(&self) -> View {
        self.stack.last().copied().unwrap_or(View::Board)
    }

    /// The frame just drawn: keeps the list geometry for the mouse and the
    /// next frame's scroll, and holds the log scroll within the log.
    pub fn on_drawn(&mut self, drawn: Drawn) {
        self.list_area = drawn.list;
        if self.view() == View::Logs {
            let lines = self.shown_log_len();
            let most = lines.saturating_sub(drawn.log_rows);
            self.logs.scroll_back = self.logs.scroll_back.min(most);
        }
        if let Some(diff) = self.diff.as_mut().filter(|_| drawn.diff_rows > 0) {
            diff.page = drawn.diff_rows;
        }
    }

    /// Lines in the log the Logs view shows.
    fn shown_log_len(&self) -> usize {
        self.selected_run()
            .and_then(|run| self.shown_log(run).0)
            .map_or(0, |lines| lines.len())
    }

    /// The step selected in the Run view, within the run's steps.
    pub fn selected_step(&self) -> usize {
        let steps = self.selected_run().map_or(0, |r| r.steps.len());
        self.sel.step.min(steps.saturating_sub(1))
    }

    // ---- inputs from the connection ----

    pub fn on_connected(&mut self, welcome: crate::client::Welcome) -> Vec<Effect> {
        self.daemon = DaemonInfo {
            version: welcome.daemon_version,
            executor: welcome.executor,
        };
        self.model.health = welcome.health;
        self.conn = ConnState::Connected;
        self.dirty = true;
        let id = self.register(Pending::Pipelines);
        let pipelines = Effect::Send {
            id,
            call: Call::Pipelines,
        };
        vec![pipelines, self.ask_spend()]
    }

    fn ask_spend(&mut self) -> Effect {
        self.spend_asked = self.now;
        let id = self.register(Pending::Spend);
        Effect::Send {
            id,
            call: Call::Spend,
        }
    }

    /// Spend moves with model calls; ask again at most every few seconds.
    fn refresh_spend(&mut self, frame: &ServerFrame) -> Option<Effect> {
        let metered = matches!(
            frame,
            ServerFrame::Event {
                event: cattery_protocol::event::Event::StepMetrics { .. },
                ..
            }
        );
        (metered && self.conn == ConnState::Connected && self.now - self.spend_asked >= 5_000)
            .then(|| self.ask_spend())
    }

    pub fn on_conn_state(&mut self, state: ConnState) {
        if state != ConnState::Connected {
            // An answer lost with the connection is asked for again.
            self.history.asked = None;
        }
        if state != ConnState::Connected {
            let decisions = self.requests.lose_all();
            if decisions > 0 {
                self.error(format!(
                    "the connection broke with {decisions} request(s) unanswered; check the run before deciding again"
                ));
            }
        }
        self.conn = state;
        self.dirty = true;
    }

    pub fn on_frame(&mut self, frame: ServerFrame) -> Vec<Effect> {
        let mut effects = self.frame_effects(frame);
        effects.extend(self.refresh_history());
        effects
    }

    /// Asks for the audit log of the run in the Run view when it is another
    /// run, or the same run after a decision, than the one last asked for.
    fn refresh_history(&mut self) -> Option<Effect> {
        if self.view() != View::Run || self.conn != ConnState::Connected {
            return None;
        }
        let run = self.selected_run()?;
        let wanted = (run.id.clone(), run.resolved_gates.len());
        if self.history.asked.as_ref() == Some(&wanted) {
            return None;
        }
        let run_id = wanted.0.clone();
        self.history.asked = Some(wanted);
        let id = self.register(Pending::Audit {
            run_id: run_id.clone(),
        });
        Some(Effect::Send {
            id,
            call: Call::Audit {
                run_id: Some(run_id),
            },
        })
    }

    fn frame_effects(&mut self, frame: ServerFrame) -> Vec<Effect> {
        if let ServerFrame::Response { id, result, error } = frame {
            return self.on_response(id, result, error);
        }
        if let ServerFrame::Error { error } = &frame {
            self.error(format!("catteryd: {}", error.message));
            return Vec::new();
        }
        let bell = match &frame {
            ServerFrame::Event {
                event: cattery_protocol::event::Event::Bell { title, .. },
                ..
            } => Some(title.clone()),
            _ => None,
        };
        let schedules_changed = matches!(
            &frame,
            ServerFrame::Event {
                event: cattery_protocol::event::Event::SchedulesChanged,
                ..
            }
        );
        self.hold_frozen_log(&frame);
        let was_degraded = self.model.health.is_degraded();
        let mut effects: Vec<Effect> = self.refresh_spend(&frame).into_iter().collect();
        effects.extend(self.apply_to_model(frame));
        if let Some(title) = bell {
            self.info(format!("⚑ {title}"));
            effects.push(Effect::Bell);
        }
        self.tell_health_change(was_degraded);
        if schedules_changed && self.view() == View::Schedules {
            effects.extend(self.ask_schedules());
        }
        effects
    }

    /// The header says degraded for as long as it lasts; the footer says
    /// the whole reason once, when it starts, and says when it is over.
    fn tell_health_change(&mut self, was_degraded: bool) {
        match (&self.model.health, was_degraded) {
            (cattery_protocol::wire::Health::Degraded { reason, .. }, false) => {
                self.error(format!("catteryd is degraded: {reason}"));
            }
            (cattery_protocol::wire::Health::Ok, true) => {
                self.info("catteryd is healthy again".to_owned());
            }
            _ => {}
        }
    }

    fn apply_to_model(&mut self, frame: ServerFrame) -> Vec<Effect> {
        match self.model.apply(frame) {
            Applied::Changed => {
                self.dirty = true;
                Vec::new()
            }
            Applied::Unchanged => Vec::new(),
            Applied::Gap => vec![Effect::Resubscribe],
        }
    }

    /// A frozen log stays on the lines it showed while new ones arrive.
    fn hold_frozen_log(&mut self, frame: &ServerFrame) {
        let ServerFrame::Event {
            event:
                cattery_protocol::event::Event::StepLog {
                    run_id, step_index, ..
                },
            ..
        } = frame
        else {
            return;
        };
        let watched = self.view() == View::Logs
            && self.logs.frozen
            && self.sel.run.as_ref() == Some(run_id)
            && self.model.runs.get(run_id).map(|r| r.current_step) == Some(*step_index);
        if watched {
            self.logs.scroll_back += 1;
        }
    }

    fn on_response(
        &mut self,
        id: u64,
        result: Option<Reply>,
        error: Option<WireError>,
    ) -> Vec<Effect> {
        let Some(pending) = self.requests.answered(id) else {
            return Vec::new();
        };
        match (pending, error) {
            (Pending::Pipelines, None) => {
                let list = result.and_then(|r| FromReply::from_reply(r).ok());
                self.model.pipelines = list.unwrap_or_default();
                Vec::new()
            }
            (Pending::Spend, None) => {
                self.spend = result.and_then(|r| FromReply::from_reply(r).ok());
                self.dirty = true;
                Vec::new()
            }
            (Pending::Spend, Some(_)) => Vec::new(),
            (Pending::Audit { run_id }, None) => {
                let entries = result.and_then(|r| FromReply::from_reply(r).ok());
                self.history.run_id = Some(run_id);
                self.history.entries = entries.unwrap_or_default();
                self.dirty = true;
                Vec::new()
            }
            (Pending::Audit { .. }, Some(e)) => {
                self.history.asked = None;
                self.error(format!("cannot read the run's history: {}", e.message));
                Vec::new()
            }
            (Pending::Pipelines, Some(e)) => {
                self.error(format!("cannot list pipelines: {}", e.message));
                Vec::new()
            }
            (Pending::Logs { run_id, step }, error) => {
                self.on_log_page((run_id, step), result, error)
            }
            (Pending::Diff { run_id, step }, error) => {
                self.on_diff(&run_id, step, result, error);
                Vec::new()
            }
            (Pending::Schedules, error) => self.on_schedules(result, error),
            (Pending::ScheduleHistory { id }, error) => {
                self.on_schedule_history(id, result, error);
                Vec::new()
            }
            (Pending::Decision { what, .. }, None) => {
                self.info(format!("{what}: done"));
                Vec::new()
            }
            (Pending::Decision { what, gate }, Some(e)) => {
                if let Some(gate) = gate {
                    self.requests.refused(&gate);
                }
                self.error(format!("{what} refused: {}", e.message));
                vec![Effect::Resubscribe]
            }
        }
    }

    // ---- inputs from the user ----

    pub fn on_key(&mut self, event: KeyEvent) -> Vec<Effect> {
        let mut effects = self.key_effects(event);
        effects.extend(self.refresh_history());
        effects
    }

    fn key_effects(&mut self, event: KeyEvent) -> Vec<Effect> {
        if event.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if let Some(modal) = self.modal.take() {
            self.dirty = true;
            return self.modal_key(modal, event);
        }
        let key = Key::from_event(&event);
        match self.resolve(&key) {
            Some((action, index)) => {
                self.dirty = true;
                self.perform(action, index)
            }
            None => Vec::new(),
        }
    }

    pub fn on_mouse(&mut self, event: MouseEvent) {
        match event.kind {
            MouseEventKind::ScrollUp => self.move_by(-3),
            MouseEventKind::ScrollDown => self.move_by(3),
            MouseEventKind::Down(_) => self.click(event.column, event.row),
            _ => return,
        }
        self.dirty = true;
    }

    /// Advances the clock; true when something on screen changed with it.
    pub fn on_tick(&mut self, now: Millis) -> bool {
        self.now = now;
        if self.toast.as_ref().is_some_and(|t| now - t.at > 5_000) {
            self.toast = None;
            self.dirty = true;
        }
        if self.needs_clock() {
            self.dirty = true;
        }
        self.dirty
    }

    /// Whether anything shown moves with the clock (live durations, a
    /// toast to expire, a retry countdown); the runtime only ticks then.
    pub fn needs_clock(&self) -> bool {
        self.toast.is_some()
            || !matches!(self.conn, ConnState::Connected)
            || self.model.runs.values().any(|r| r.status.is_live())
    }

    /// The action a key means here, if any. Digits answer a decision where
    /// one is selected and otherwise jump between views.
    fn resolve(&self, key: &Key) -> Option<(Action, usize)> {
        let candidates = self.keymap.actions_for(key);
        // In a view with actions of its own, their keys win over the same
        // keys elsewhere.
        if let Some(own) = candidates
            .iter()
            .find(|(a, _)| spec_of(*a).scope.view() == Some(self.view()))
        {
            return Some(*own);
        }
        let answer = candidates
            .iter()
            .find(|(a, _)| *a == Action::ChooseOption)
            .filter(|(_, index)| self.can_answer(*index));
        answer
            .or_else(|| {
                candidates
                    .iter()
                    .find(|(a, _)| *a != Action::ChooseOption && spec_of(*a).scope.view().is_none())
            })
            .copied()
            .filter(|(action, _)| self.in_scope(*action))
    }

    fn can_answer(&self, index: usize) -> bool {
        matches!(
            self.view(),
            View::Inbox | View::Run | View::Viewer | View::Diff
        ) && self
            .selected_gate()
            .is_some_and(|g| g.kind == GateKind::Decision && index < g.options.len())
    }

    fn in_scope(&self, action: Action) -> bool {
        match spec_of(action).scope {
            Scope::Logs => self.view() == View::Logs,
            Scope::Parts => matches!(self.view(), View::Diff | View::Logs),
            Scope::Card => self.view() == View::Inbox,
            Scope::Review => self.view() == View::Review,
            Scope::Schedules => self.view() == View::Schedules,
            Scope::Global | Scope::Gate | Scope::Run => true,
        }
    }

    fn perform(&mut self, action: Action, index: usize) -> Vec<Effect> {
        if let Err(why) = self.applies(action, index) {
            if self.shows(action) {
                self.info(why);
            } else {
                self.error(why);
            }
            return Vec::new();
        }
        match action {
            Action::Quit => return self.quit(),
            Action::Back => self.back(),
            Action::Help => self.modal = Some(Modal::help()),
            Action::Palette => self.modal = Some(Modal::palette()),
            Action::Filter => self.modal = Some(self.filter_modal()),
            Action::NextView => {
                self.next_view();
                if self.view() == View::Schedules {
                    return self.ask_schedules();
                }
            }
            Action::ViewBoard => self.jump(View::Board),
            Action::ViewRun => self.jump(View::Run),
            Action::ViewInbox => self.jump(View::Inbox),
            Action::ViewLogs => {
                self.jump(View::Logs);
                return self.load_transcript();
            }
            Action::ViewSchedules => return self.open_schedules(),
            Action::Up | Action::Down if self.view() == View::Schedules => {
                return self.move_schedule(if action == Action::Up { -1 } else { 1 });
            }
            Action::Refresh if self.view() == View::Schedules => return self.ask_schedules(),
            Action::RunScheduleNow => return self.run_schedule_now(),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-self.page_rows()),
            Action::PageDown => self.move_by(self.page_rows()),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.go_bottom(),
            Action::Open => return self.open(),
            Action::Refresh => return vec![Effect::Resubscribe],
            Action::Freeze => self.toggle_freeze(),
            Action::Diff => return self.open_diff(None),
            Action::NextFile | Action::PrevFile if self.view() == View::Logs => {
                return self.step_log(action == Action::NextFile);
            }
            Action::NextFile | Action::PrevFile => {
                if let Some(diff) = &mut self.diff {
                    diff.jump_file(action == Action::NextFile);
                }
            }
            other => return self.decide(other, index),
        }
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        if self.stack.len() > 1 {
            self.back();
            return Vec::new();
        }
        vec![Effect::Quit]
    }

    fn register(&mut self, pending: Pending) -> u64 {
        self.requests.register(pending)
    }

    /// A request for a decision, or nothing (and a message) when offline.
    fn send(&mut self, call: Call, what: String) -> Option<Effect> {
        if self.conn != ConnState::Connected {
            self.error(format!("not connected to catteryd; {what} was not sent"));
            return None;
        }
        let gate = gate_of(&call);
        let id = self.register(Pending::Decision { what, gate });
        Some(Effect::Send { id, call })
    }

    pub fn info(&mut self, text: String) {
        self.toast = Some(Toast {
            text,
            error: false,
            at: self.now,
        });
        self.dirty = true;
    }

    pub fn error(&mut self, text: String) {
        self.toast = Some(Toast {
            text,
            error: true,
            at: self.now,
        });
        self.dirty = true;
    }

    /// The run the current view is about.
    pub fn selected_run(&self) -> Option<&Arc<Run>> {
        match self.view() {
            View::Board => self.model.run_of_block(self.sel.board.as_deref()?),
            View::Inbox => {
                let gate = self.inbox_gate()?;
                self.model.runs.get(&gate.run_id)
            }
            View::Run | View::Logs | View::Viewer => self.model.runs.get(self.sel.run.as_deref()?),
            View::Diff => self.model.runs.get(&self.diff.as_ref()?.run_id),
            View::Review => self.model.runs.get(&self.review.as_ref()?.run_id),
            View::Schedules => None,
        }
    }

    /// The gate a decision key acts on here; none while a decision on it
    /// is on its way.
    pub fn selected_gate(&self) -> Option<PendingGate> {
        self.shown_gate()
            .filter(|g| !self.requests.is_in_flight(&g.id))
    }

    pub(super) fn shown_gate(&self) -> Option<PendingGate> {
        match self.view() {
            View::Inbox => self.inbox_gate(),
            View::Viewer => match &self.viewer {
                Some(Viewer {
                    pending: Some((gate, _)),
                    ..
                }) => Some(gate.clone()),
                _ => self.selected_run()?.pending_gate(),
            },
            _ => self.selected_run()?.pending_gate(),
        }
    }

    /// The inbox row under the cursor.
    pub fn inbox_row(&self) -> Option<model::InboxRow> {
        let rows = self.visible_inbox();
        let at = self.inbox_position(&rows);
        rows.into_iter().nth(at)
    }

    pub fn inbox_gate(&self) -> Option<PendingGate> {
        self.inbox_row()?.gate().cloned()
    }

    /// The card under the cursor, when the inbox row is a card.
    pub fn selected_card(&self) -> Option<cattery_protocol::Notification> {
        match (self.view(), self.inbox_row()?) {
            (View::Inbox, model::InboxRow::Card(card)) => Some(card),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;

fn gate_of(call: &Call) -> Option<String> {
    match call {
        Call::Decide { gate_id, .. } => Some(gate_id.clone()),
        // A review action is in flight until its run's rev moves past the
        // one it named.
        Call::Review { run_id, rev, .. } => Some(review::in_flight_key(run_id, *rev)),
        _ => None,
    }
}

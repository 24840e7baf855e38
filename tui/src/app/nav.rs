//! Moving around: views, selection, scrolling, drilling in and out.

use super::filter::Subject;
use super::model::InboxRow;
use super::requests::Pending;
use super::{App, ConnState, DiffTag, DiffView, Effect, Modal, View, Viewer};
use cattery_protocol::wire::{Call, FromReply, Reply, WireError};
use cattery_protocol::{NotificationType, PendingGate};

impl App {
    pub(super) fn back(&mut self) {
        if self.stack.len() > 1 {
            match self.stack.pop() {
                Some(View::Viewer) => self.viewer = None,
                Some(View::Diff) => self.diff = None,
                _ => {}
            }
        } else if !self.filter.is_empty() {
            self.filter = Default::default();
        }
    }

    pub(super) fn jump(&mut self, view: View) {
        if view == View::Run || view == View::Logs {
            self.follow_selected_run();
        }
        self.viewer = None;
        self.diff = None;
        self.stack = match view {
            View::Board => vec![View::Board],
            other => vec![View::Board, other],
        };
    }

    pub(super) fn next_view(&mut self) {
        let at = View::TOP.iter().position(|v| *v == self.view());
        let next = at.map_or(0, |i| (i + 1) % View::TOP.len());
        self.jump(View::TOP[next]);
    }

    /// The Run and Logs views show whatever run the board or inbox points at.
    fn follow_selected_run(&mut self) {
        let run = match self.view() {
            View::Board | View::Inbox => self.selected_run().map(|r| r.id.clone()),
            _ => None,
        };
        if let Some(run) = run {
            if self.sel.run.as_ref() != Some(&run) {
                self.sel.step = self.model.runs.get(&run).map_or(0, |r| r.current_step);
                self.logs = Default::default();
            }
            self.sel.run = Some(run);
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        match self.view() {
            View::Board => {
                let rows = self.visible_board();
                let at = step(self.board_position(&rows), delta, rows.len());
                self.select_board(&rows, at);
            }
            View::Inbox => {
                let rows = self.visible_inbox();
                let at = step(self.inbox_position(&rows), delta, rows.len());
                self.sel.inbox_index = at;
                self.sel.inbox = rows.get(at).map(|row| row.id().to_owned());
            }
            View::Run => {
                let steps = self.selected_run().map_or(0, |r| r.steps.len());
                self.sel.step = step(self.sel.step, delta, steps);
            }
            View::Logs => {
                self.logs.scroll_back = step(self.logs.scroll_back, -delta, usize::MAX / 2);
                self.logs.frozen = self.logs.frozen || self.logs.scroll_back > 0;
            }
            View::Viewer => {
                if let Some(viewer) = &mut self.viewer {
                    viewer.scroll = step(viewer.scroll, delta, viewer.lines.len());
                }
            }
            View::Diff => {
                if let Some(diff) = &mut self.diff {
                    diff.scroll_by(delta);
                }
            }
            View::Review => self.move_finding(delta),
            View::Schedules => {
                let count = self.schedules.list.len();
                self.schedules.selected = step(self.schedules.selected, delta, count);
            }
        }
    }

    /// How far a page moves: a screenful in a diff, ten rows elsewhere.
    pub(super) fn page_rows(&self) -> isize {
        match (&self.diff, self.view()) {
            (Some(diff), View::Diff) => diff.page.max(1) as isize,
            _ => 10,
        }
    }

    /// Opens the Diff view on `target` (a run, and a step or the whole run),
    /// or on what `D` shows here, and asks the daemon for the change.
    pub(super) fn open_diff(&mut self, target: Option<(String, Option<usize>)>) -> Vec<Effect> {
        let target = match target.map_or_else(|| self.diffable(), Ok) {
            Ok(target) => target,
            Err(why) => {
                self.info(why);
                return Vec::new();
            }
        };
        if self.conn != ConnState::Connected {
            self.error("not connected to catteryd; the diff cannot be read".to_owned());
            return Vec::new();
        }
        let (run_id, step) = target;
        let run = self.model.runs.get(&run_id);
        let title = match (step, run) {
            (Some(index), Some(run)) => {
                let kind = run.steps.get(index).map_or("?", |s| s.agent_kind.as_str());
                format!("step {} · {kind}", index + 1)
            }
            _ => "the run so far".to_owned(),
        };
        self.diff = Some(DiffView::asking(run_id.clone(), step, title));
        if self.view() != View::Diff {
            self.stack.push(View::Diff);
        }
        let id = self.register(Pending::Diff {
            run_id: run_id.clone(),
            step,
        });
        vec![Effect::Send {
            id,
            call: Call::Diff { run_id, step },
        }]
    }

    /// The daemon's diff for the Diff view, if it still shows that change.
    pub(super) fn on_diff(
        &mut self,
        run_id: &str,
        step: Option<usize>,
        result: Option<Reply>,
        error: Option<WireError>,
    ) {
        let Some(view) = self
            .diff
            .as_mut()
            .filter(|d| d.run_id == run_id && d.step == step)
        else {
            return;
        };
        let diff = result.and_then(|r| cattery_protocol::diff::Diff::from_reply(r).ok());
        match (error, diff) {
            (None, Some(diff)) => view.load(diff),
            (error, _) => {
                let why = error.map_or_else(|| "catteryd sent no diff".to_owned(), |e| e.message);
                self.error(format!("cannot show the diff: {why}"));
                if self.view() == View::Diff {
                    self.back();
                }
            }
        }
        self.dirty = true;
    }

    pub(super) fn go_bottom(&mut self) {
        match self.view() {
            View::Logs => {
                self.logs.scroll_back = 0;
                self.logs.frozen = false;
            }
            _ => self.move_by(isize::MAX / 2),
        }
    }

    pub(super) fn toggle_freeze(&mut self) {
        self.logs.frozen = !self.logs.frozen;
        if !self.logs.frozen {
            self.logs.scroll_back = 0;
        }
    }

    pub(super) fn open(&mut self) -> Vec<Effect> {
        match self.view() {
            View::Board => match self.selected_run() {
                Some(_) => {
                    self.follow_selected_run();
                    self.stack.push(View::Run);
                }
                None => self.info("no run on this block yet; press s to start one".to_owned()),
            },
            View::Inbox => match self.inbox_gate() {
                None if self.selected_card().is_some() => {
                    let Some(card) = self.selected_card() else {
                        return Vec::new();
                    };
                    // A review card opens its findings.
                    if let (
                        NotificationType::RequirementReview | NotificationType::ClarityReview,
                        Some(run_id),
                    ) = (card.kind, &card.run_id)
                    {
                        let run_id = run_id.clone();
                        self.open_review(&run_id);
                        return Vec::new();
                    }
                    // A merge review is about the change: it opens the run's diff.
                    if let (NotificationType::MergeReview, Some(run_id)) = (card.kind, &card.run_id)
                    {
                        self.sel.run = Some(run_id.clone());
                        return self.open_diff(Some((run_id.clone(), None)));
                    }
                    let text = format!("{}\n\n{}", card.body, card.payload);
                    self.show(card.title.clone(), &text);
                }
                Some(gate) if gate.kind == cattery_protocol::GateKind::Review => {
                    self.open_review(&gate.run_id);
                }
                Some(gate) => {
                    self.sel.run = Some(gate.run_id.clone());
                    self.sel.step = gate.step_index;
                    if self.changed_code(&gate) {
                        return self.open_diff(Some((gate.run_id.clone(), Some(gate.step_index))));
                    }
                    let title = format!("{} · {}", gate.agent_kind, gate.kind.as_str());
                    self.show(title, &gate.prompt);
                }
                None => self.info("the inbox is empty".to_owned()),
            },
            View::Run => self.open_step(),
            View::Viewer => return self.send_edited(),
            View::Logs | View::Diff | View::Review | View::Schedules => {}
        }
        Vec::new()
    }

    /// Whether an approval's step committed code, so opening it shows the diff.
    fn changed_code(&self, gate: &PendingGate) -> bool {
        gate.kind == cattery_protocol::GateKind::Approval
            && self
                .model
                .runs
                .get(&gate.run_id)
                .and_then(|r| r.steps.get(gate.step_index))
                .and_then(|s| s.change.as_ref())
                .is_some_and(|c| c.commit.is_some())
    }

    fn open_step(&mut self) {
        let Some(run) = self.selected_run().cloned() else {
            return;
        };
        let Some(step) = run.steps.get(self.sel.step) else {
            return;
        };
        // A review step opens its findings, wherever the run is now.
        if step.review.as_ref().is_some_and(|r| !r.findings.is_empty())
            && run.review().is_some_and(|(i, _)| i == self.sel.step)
        {
            self.open_review(&run.id);
            return;
        }
        let mut text = step.output.clone().unwrap_or_default();
        if let Some(failure) = run
            .failure
            .as_ref()
            .filter(|f| f.step_index == self.sel.step)
        {
            text = format!(
                "{}\n\n{}",
                failure.message,
                failure.detail.clone().unwrap_or_default()
            );
        }
        if text.trim().is_empty() {
            self.info("this step has no output yet".to_owned());
            return;
        }
        self.show(format!("{} · output", step.agent_kind), &text);
    }

    pub(super) fn show(&mut self, title: String, text: &str) {
        let lines = text
            .lines()
            .map(|l| (DiffTag::Plain, l.to_owned()))
            .collect();
        self.viewer = Some(Viewer {
            title,
            lines,
            scroll: 0,
            pending: None,
        });
        self.stack.push(View::Viewer);
    }

    pub(super) fn click(&mut self, column: u16, row: u16) {
        let area = self.list_area;
        let inside = column >= area.x
            && column < area.x + area.width
            && row >= area.y
            && row < area.y + area.height;
        if !inside {
            return;
        }
        let target = area.offset + usize::from(row - area.y);
        match self.view() {
            View::Board => {
                let rows = self.visible_board();
                if target < rows.len() {
                    self.select_board(&rows, target);
                }
            }
            View::Inbox => {
                let rows = self.visible_inbox();
                if let Some(row) = rows.get(target) {
                    self.sel.inbox_index = target;
                    self.sel.inbox = Some(row.id().to_owned());
                }
            }
            View::Run => {
                let steps = self.selected_run().map_or(0, |r| r.steps.len());
                if target < steps {
                    self.sel.step = target;
                }
            }
            _ => {}
        }
    }

    pub(super) fn filter_modal(&self) -> Modal {
        let text = match self.view() {
            View::Logs => self.logs.search.clone().unwrap_or_default(),
            _ => self.filter.text.clone(),
        };
        Modal::Filter { input: text }
    }

    /// Board rows passing the filter, as indices into the tree order.
    pub fn visible_board(&self) -> Vec<usize> {
        let len = self.model.board_order().len();
        if self.filter.is_empty() {
            return (0..len).collect();
        }
        let model = &self.model;
        let order = model.board_order();
        (0..len)
            .filter(|i| {
                order
                    .get(*i)
                    .and_then(|(id, _)| model.blocks.get(id))
                    .is_some_and(|block| self.block_matches(block))
            })
            .collect()
    }

    fn block_matches(&self, block: &cattery_protocol::Block) -> bool {
        let run = self.model.run_of_block(&block.id);
        // Building the pending gate clones its texts; only a kind facet needs it.
        let kind = match self.filter.wants_kind() {
            true => run.and_then(|r| r.pending_gate()).map(|g| g.kind.as_str()),
            false => None,
        };
        let statuses = [block.status.as_str(), run.map_or("", |r| r.status.as_str())];
        self.filter.matches(&Subject {
            title: &block.title,
            statuses: &statuses,
            pipeline: run.map(|r| r.pipeline_id.as_str()),
            kind,
            age_ms: u64::try_from(self.now - block.updated_at).unwrap_or(0),
        })
    }

    /// Inbox rows passing the filter.
    pub fn visible_inbox(&self) -> Vec<InboxRow> {
        let rows = self.model.inbox_rows();
        if self.filter.is_empty() {
            return rows;
        }
        rows.into_iter()
            .filter(|row| self.row_matches(row))
            .collect()
    }

    fn row_matches(&self, row: &InboxRow) -> bool {
        let run_id = match row {
            InboxRow::Gate { gate, .. } => Some(gate.run_id.as_str()),
            InboxRow::Card(card) => card.run_id.as_deref(),
        };
        let run = run_id.and_then(|id| self.model.runs.get(id));
        let title = self
            .model
            .blocks
            .get(row.block_id())
            .map_or("", |b| b.title.as_str());
        let kind = match row {
            InboxRow::Gate { gate, .. } => gate.kind.as_str(),
            InboxRow::Card(card) => card.kind.as_str(),
        };
        let severity = if row.urgent() { "urgent" } else { "normal" };
        self.filter.matches(&Subject {
            title,
            statuses: &["blocked", kind, severity],
            pipeline: run.map(|r| r.pipeline_id.as_str()),
            kind: Some(kind),
            age_ms: u64::try_from(self.now - row.since()).unwrap_or(0),
        })
    }

    /// Where the selection sits in `rows`: the selected block if it is
    /// still shown, else the same position, so updates never lose the place.
    pub fn board_position(&self, rows: &[usize]) -> usize {
        let sel = self.sel.board.clone();
        let order = self.model.board_order();
        sel.and_then(|id| {
            rows.iter()
                .position(|i| order.get(*i).is_some_and(|(b, _)| *b == id))
        })
        .unwrap_or(self.sel.board_index.min(rows.len().saturating_sub(1)))
    }

    fn select_board(&mut self, rows: &[usize], at: usize) {
        self.sel.board_index = at;
        let order = self.model.board_order();
        self.sel.board = rows
            .get(at)
            .and_then(|i| order.get(*i))
            .map(|(id, _)| id.clone());
    }

    pub fn inbox_position(&self, rows: &[InboxRow]) -> usize {
        let sel = self.sel.inbox.as_deref();
        rows.iter()
            .position(|row| Some(row.id()) == sel)
            .unwrap_or(self.sel.inbox_index.min(rows.len().saturating_sub(1)))
    }
}

/// `at + delta` kept within `0..len`.
pub(super) fn step(at: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    at.saturating_add_signed(delta).min(len - 1)
}

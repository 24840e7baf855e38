//! The Logs view's stored transcript: a step that is no longer working is
//! read from the daemon's transcript, page by page, instead of from the
//! live lines this client happened to see.

use super::model::{LogLine, StepKey};
use super::requests::Pending;
use super::{App, Effect};
use cattery_protocol::transcript::{EntryKind, LogEntry, LogPage};
use cattery_protocol::wire::{Call, FromReply, Reply, WireError};
use cattery_protocol::{Run, StepState};
use std::collections::VecDeque;

/// Entries asked for per page.
const PAGE: u32 = 5_000;

/// A step's transcript as read so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredLog {
    pub key: StepKey,
    pub lines: VecDeque<LogLine>,
    pub total: u64,
    pub complete: bool,
}

impl super::LogView {
    /// How many of `lines` hold `needle` (lower case): counted once per
    /// log, step, search and content, then remembered.
    pub fn matches(
        &self,
        run_id: &str,
        step: usize,
        needle: &str,
        lines: &VecDeque<LogLine>,
    ) -> usize {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        // A capped live log keeps its length as lines come: its ends say
        // whether it changed.
        let ends = (
            lines.front().map(|l| (l.at, &l.text)),
            lines.back().map(|l| (l.at, &l.text)),
        );
        (run_id, step, needle, ends).hash(&mut hasher);
        let what = hasher.finish();
        if let Some((seen, len, count)) = self.search_memo.get()
            && seen == what
            && len == lines.len()
        {
            return count;
        }
        let count = lines
            .iter()
            .filter(|l| l.text.to_lowercase().contains(needle))
            .count();
        self.search_memo.set(Some((what, lines.len(), count)));
        count
    }
}

impl App {
    /// The step the Logs view shows: the one picked with `[`/`]`, else a
    /// live run's working step, else the step selected in the Run view.
    pub fn log_step(&self, run: &Run) -> usize {
        let last = run.steps.len().saturating_sub(1);
        match (self.logs.step, run.status.is_live()) {
            (Some(step), _) => step.min(last),
            (None, true) => run.current_step,
            (None, false) => self.selected_step(),
        }
    }

    /// `]` / `[` in the Logs view: the next or previous step's log, read
    /// from its transcript when it is not working.
    pub(super) fn step_log(&mut self, forward: bool) -> Vec<Effect> {
        let Some(run) = self.selected_run() else {
            return Vec::new();
        };
        let (at, last) = (self.log_step(run), run.steps.len().saturating_sub(1));
        let next = match forward {
            true => (at + 1).min(last),
            false => at.saturating_sub(1),
        };
        if next == at {
            return Vec::new();
        }
        self.logs.step = Some(next);
        self.logs.scroll_back = 0;
        self.logs.frozen = false;
        self.load_transcript()
    }

    /// The lines the Logs view shows for `run`, and whether they are the
    /// stored transcript.
    pub fn shown_log(&self, run: &Run) -> (Option<&VecDeque<LogLine>>, bool) {
        let key = (run.id.clone(), self.log_step(run));
        match &self.logs.stored {
            Some(stored) if stored.key == key => (Some(&stored.lines), true),
            _ => (self.model.logs.get(&key), false),
        }
    }

    /// Asks for the shown step's transcript when the step is not working
    /// (a working step's lines arrive live).
    pub(super) fn load_transcript(&mut self) -> Vec<Effect> {
        let Some(run) = self.selected_run() else {
            return Vec::new();
        };
        let step = self.log_step(run);
        let working = run
            .steps
            .get(step)
            .is_none_or(|s| s.state == StepState::Working);
        if working || self.conn != super::ConnState::Connected {
            return Vec::new();
        }
        let key = (run.id.clone(), step);
        self.logs.stored = Some(StoredLog {
            key: key.clone(),
            ..StoredLog::default()
        });
        vec![self.ask_page(key, 0)]
    }

    fn ask_page(&mut self, key: StepKey, offset: u64) -> Effect {
        let (run_id, step) = key;
        let id = self.register(Pending::Logs {
            run_id: run_id.clone(),
            step,
        });
        Effect::Send {
            id,
            call: Call::Logs {
                run_id,
                step: Some(step),
                offset,
                limit: Some(PAGE),
            },
        }
    }

    /// A page arrived: kept if the view still wants that step, and the next
    /// page asked for until the transcript is whole.
    pub(super) fn on_log_page(
        &mut self,
        key: StepKey,
        result: Option<Reply>,
        error: Option<WireError>,
    ) -> Vec<Effect> {
        if let Some(e) = error {
            self.error(format!("cannot read the step's transcript: {}", e.message));
            return Vec::new();
        }
        let Some(page) = result.and_then(|r| LogPage::from_reply(r).ok()) else {
            return Vec::new();
        };
        let Some(stored) = self.logs.stored.as_mut().filter(|s| s.key == key) else {
            return Vec::new();
        };
        if page.offset != stored.lines.len() as u64 {
            return Vec::new();
        }
        stored.total = page.total;
        let next = page.next_offset();
        let more = next < page.total && !page.entries.is_empty();
        stored
            .lines
            .extend(page.entries.into_iter().map(entry_line));
        stored.complete = !more;
        self.dirty = true;
        match more {
            true => vec![self.ask_page(key, next)],
            false => Vec::new(),
        }
    }
}

/// One stored entry as a log line: attempts and cuts read as rulers.
fn entry_line(entry: LogEntry) -> LogLine {
    let text = match entry.kind {
        EntryKind::Attempt => format!("── {} ──", entry.text),
        EntryKind::Cut => format!("… {}", entry.text),
        EntryKind::Line | EntryKind::Call => entry.text,
    };
    LogLine {
        at: entry.at,
        level: entry.level,
        kind: entry.kind,
        text,
    }
}

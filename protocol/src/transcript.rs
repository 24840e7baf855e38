//! A step's stored transcript: every line its jobs printed, kept on disk by
//! the daemon and read back in pages from any offset.

use crate::Millis;
use crate::agent::LogLevel;
use serde::{Deserialize, Serialize};

/// What a transcript entry is; clients fold and colour by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A line the agent printed (a tool use, its text, an error).
    #[default]
    Line,
    /// One model call, folded into a line: model, tokens, stop reason, time.
    Call,
    /// A job of the step began (its first attempt, a retry, a rework).
    Attempt,
    /// The oldest lines of a job were cut to keep it within its bound.
    Cut,
}

/// One entry of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at: Millis,
    pub level: LogLevel,
    #[serde(default, skip_serializing_if = "is_line")]
    pub kind: EntryKind,
    pub text: String,
}

fn is_line(kind: &EntryKind) -> bool {
    *kind == EntryKind::Line
}

/// A page of a step's transcript: the entries from `offset`, the total
/// stored so far, and whether the step has finished writing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    pub run_id: String,
    pub step_index: usize,
    pub offset: u64,
    pub entries: Vec<LogEntry>,
    pub total: u64,
    /// The step has stopped working, or will never run: nothing more is
    /// appended unless it runs again.
    pub finished: bool,
}

impl LogPage {
    /// The offset of the entry after this page.
    pub fn next_offset(&self) -> u64 {
        self.offset + self.entries.len() as u64
    }
}

//! The code change at a gate, or of a step or run: the daemon's diff laid
//! out as rows once, so a frame draws only the rows on screen however
//! long the diff is.

use cattery_protocol::diff::{Diff, DiffLine, FileDiff};

/// One row of the laid-out diff; lines point into the diff, not copies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiffRow {
    File {
        file: usize,
    },
    Hunk {
        file: usize,
        hunk: usize,
    },
    Line {
        file: usize,
        hunk: usize,
        line: usize,
    },
    /// A binary file, or a file whose change has no lines (a rename).
    NoText {
        file: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffView {
    pub run_id: String,
    /// The step whose change this is; `None` for the whole run.
    pub step: Option<usize>,
    pub title: String,
    /// `None` until the daemon answers.
    pub diff: Option<Diff>,
    pub rows: Vec<DiffRow>,
    /// The row each file starts at, in file order.
    pub file_starts: Vec<usize>,
    /// The first row on screen.
    pub scroll: usize,
    /// Rows the last frame showed, for paging.
    pub page: usize,
}

impl DiffView {
    pub fn asking(run_id: String, step: Option<usize>, title: String) -> Self {
        Self {
            run_id,
            step,
            title,
            diff: None,
            rows: Vec::new(),
            file_starts: Vec::new(),
            scroll: 0,
            page: 10,
        }
    }

    /// The daemon's answer, laid out.
    pub fn load(&mut self, diff: Diff) {
        self.rows.clear();
        self.file_starts.clear();
        for (f, file) in diff.files.iter().enumerate() {
            self.file_starts.push(self.rows.len());
            self.rows.push(DiffRow::File { file: f });
            if file.hunks.is_empty() {
                self.rows.push(DiffRow::NoText { file: f });
            }
            for (h, hunk) in file.hunks.iter().enumerate() {
                self.rows.push(DiffRow::Hunk { file: f, hunk: h });
                self.rows
                    .extend((0..hunk.lines.len()).map(|line| DiffRow::Line {
                        file: f,
                        hunk: h,
                        line,
                    }));
            }
        }
        self.diff = Some(diff);
        self.scroll = 0;
    }

    /// The file the top row on screen belongs to.
    pub fn current_file(&self) -> usize {
        self.file_starts
            .partition_point(|start| *start <= self.scroll)
            .saturating_sub(1)
    }

    pub fn file(&self, index: usize) -> Option<&FileDiff> {
        self.diff.as_ref()?.files.get(index)
    }

    pub fn line(&self, file: usize, hunk: usize, line: usize) -> Option<&DiffLine> {
        self.file(file)?.hunks.get(hunk)?.lines.get(line)
    }

    /// Moves the top row by `delta`, within the diff.
    pub fn scroll_by(&mut self, delta: isize) {
        let last = self.rows.len().saturating_sub(1);
        self.scroll = self.scroll.saturating_add_signed(delta).min(last);
    }

    /// Puts the next (`forward`) or previous file's header at the top.
    pub fn jump_file(&mut self, forward: bool) {
        let at = self.current_file();
        let target = if forward {
            (at + 1).min(self.file_starts.len().saturating_sub(1))
        } else if self.file_starts.get(at).is_some_and(|s| *s < self.scroll) {
            at
        } else {
            at.saturating_sub(1)
        };
        if let Some(start) = self.file_starts.get(target) {
            self.scroll = *start;
        }
    }

    /// The `path:line` the top row on screen is at, for a review comment.
    pub fn anchor(&self) -> Option<String> {
        let file = self.file(self.current_file())?;
        let line = self.rows[self.scroll..].iter().find_map(|row| match *row {
            DiffRow::Line {
                file: f,
                hunk,
                line,
            } => self
                .line(f, hunk, line)
                .and_then(|l| l.new_line.or(l.old_line)),
            _ => None,
        });
        Some(match line {
            Some(line) => format!("{}:{line}", file.path),
            None => file.path.clone(),
        })
    }
}

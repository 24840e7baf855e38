//! A run's or a step's code change, as the daemon reads it from git: the
//! files with their status and counts, and their hunks with line numbers.

use serde::{Deserialize, Serialize};

crate::wire_enum! {
    /// What happened to a file between the two commits.
    pub enum FileStatus {
        Added = "added" / "added",
        Modified = "modified" / "modified",
        Deleted = "deleted" / "deleted",
        Renamed = "renamed" / "renamed",
        Copied = "copied" / "copied",
        /// A file that became a symlink or the other way round.
        TypeChanged = "type_changed" / "type changed",
    }
}

crate::wire_enum! {
    pub enum LineKind {
        Context = "context" / "context",
        Added = "added" / "added",
        Removed = "removed" / "removed",
    }
}

/// One line of a hunk. Removed lines have only an old number, added lines
/// only a new one, context lines both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffLine {
    pub kind: LineKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_line: Option<u32>,
    /// The line without its end-of-line.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hunk {
    /// git's `@@ -a,b +c,d @@ context` line.
    pub header: String,
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<DiffLine>,
}

impl LineKind {
    /// The mark `git diff` puts before such a line.
    pub fn mark(self) -> char {
        match self {
            Self::Added => '+',
            Self::Removed => '-',
            Self::Context => ' ',
        }
    }
}

impl Hunk {
    /// The hunk as `git diff` prints it: its header, then each line marked.
    pub fn unified(&self) -> impl Iterator<Item = String> + '_ {
        let lines = self
            .lines
            .iter()
            .map(|line| format!("{}{}", line.kind.mark(), line.text));
        std::iter::once(self.header.clone()).chain(lines)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDiff {
    /// The path after the change (before it, for a deleted file).
    pub path: String,
    /// The path before a rename or copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub status: FileStatus,
    /// git found no text to diff; such a file has no hunks.
    #[serde(default)]
    pub binary: bool,
    pub insertions: u32,
    pub deletions: u32,
    #[serde(default)]
    pub hunks: Vec<Hunk>,
}

/// The change from one commit to another on a run's branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub run_id: String,
    /// The step whose change this is; `None` for the whole run so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<usize>,
    pub from_commit: String,
    pub to_commit: String,
    pub files: Vec<FileDiff>,
}

impl Diff {
    pub fn insertions(&self) -> u32 {
        self.files.iter().map(|f| f.insertions).sum()
    }

    pub fn deletions(&self) -> u32 {
        self.files.iter().map(|f| f.deletions).sum()
    }

    /// `3 files +48 −7`, as the board and the run view say it.
    pub fn stat(&self) -> String {
        stat_line(self.files.len() as u32, self.insertions(), self.deletions())
    }
}

/// The one way a diff stat is written for people.
pub fn stat_line(files: u32, insertions: u32, deletions: u32) -> String {
    let noun = if files == 1 { "file" } else { "files" };
    format!("{files} {noun} +{insertions} −{deletions}")
}

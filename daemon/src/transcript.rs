//! Stored transcripts: every line a job printed, appended to one file per
//! job under the data dir, so a step's log outlives the clients that
//! watched it. A file is bounded (the oldest lines are cut first) and files
//! older than the configured age are removed.
//!
//! Layout: `transcripts/<run id>/<step:03>-<seq:03>-<job id>.jsonl`, one
//! JSON `LogEntry` per line; `seq` orders a step's jobs.

use cattery_protocol::Millis;
use cattery_protocol::agent::{FinishReason, LlmCall, LogLevel};
use cattery_protocol::transcript::{EntryKind, LogEntry};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How many entries one read answers, at most.
pub const MAX_PAGE: usize = 20_000;
/// Roughly how many bytes of entries one read answers, at most, so a page
/// of long lines stays well within a client's frame limit.
const PAGE_BYTES: usize = 4 << 20;

/// Where transcripts live and how big one job's may grow.
#[derive(Debug, Clone)]
pub struct Transcripts {
    root: PathBuf,
    max_bytes: u64,
}

impl Transcripts {
    pub fn new(root: PathBuf, max_bytes: u64) -> Self {
        Self { root, max_bytes }
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join(run_id)
    }

    /// Opens `job_id`'s file for appending. A job followed again replays its
    /// whole output, so its file starts over; a new job of the step gets
    /// the next file.
    pub fn writer(&self, run_id: &str, step: usize, job_id: &str) -> std::io::Result<Writer> {
        let dir = self.run_dir(run_id);
        std::fs::create_dir_all(&dir)?;
        let files = step_files(&dir, step)?;
        let path = match files.iter().find(|p| file_job(p) == Some(job_id)) {
            Some(existing) => existing.clone(),
            None => dir.join(format!("{step:03}-{:03}-{job_id}.jsonl", files.len())),
        };
        let file = std::fs::File::create(&path)?;
        Ok(Writer {
            file: BufWriter::new(file),
            path,
            bytes: 0,
            max_bytes: self.max_bytes,
            cut: 0,
        })
    }

    /// Up to `limit` entries of a step's transcript from entry `offset`,
    /// across its jobs in order, and how many entries it holds in all.
    pub fn read(
        &self,
        run_id: &str,
        step: usize,
        offset: u64,
        limit: usize,
    ) -> std::io::Result<(Vec<LogEntry>, u64)> {
        let dir = self.run_dir(run_id);
        let files = match step_files(&dir, step) {
            Ok(files) => files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        let limit = limit.min(MAX_PAGE);
        let mut total = 0u64;
        let mut entries = Vec::new();
        let mut page_bytes = 0;
        for path in files {
            let bytes = std::fs::read(&path)?;
            // A line still being written has no newline yet: not counted.
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                if line.last() != Some(&b'\n') {
                    break;
                }
                let room = entries.len() < limit && (entries.is_empty() || page_bytes < PAGE_BYTES);
                if total >= offset && room {
                    page_bytes += line.len();
                    entries.push(parse_entry(line));
                }
                total += 1;
            }
        }
        Ok((entries, total))
    }

    /// Removes the transcripts of runs none of whose files changed within
    /// `age`; answers how many runs' transcripts went.
    pub fn prune_older_than(&self, age: std::time::Duration) -> std::io::Result<usize> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for dir in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            let newest = newest_change(&dir)?;
            let old = newest.is_none_or(|at| now.duration_since(at).is_ok_and(|d| d > age));
            if old {
                std::fs::remove_dir_all(&dir)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn newest_change(dir: &Path) -> std::io::Result<Option<std::time::SystemTime>> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let at = entry.metadata()?.modified()?;
        newest = newest.max(Some(at));
    }
    Ok(newest)
}

/// A step's job files in the order its jobs ran.
fn step_files(dir: &Path, step: usize) -> std::io::Result<Vec<PathBuf>> {
    let prefix = format!("{step:03}-");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The job id a file is named after.
fn file_job(path: &Path) -> Option<&str> {
    let name = path.file_stem()?.to_str()?;
    let mut parts = name.splitn(3, '-');
    parts.next()?;
    parts.next()?;
    parts.next()
}

fn parse_entry(line: &[u8]) -> LogEntry {
    serde_json::from_slice(line).unwrap_or_else(|e| LogEntry {
        at: 0,
        level: LogLevel::Warn,
        kind: EntryKind::Line,
        text: format!("(an unreadable transcript line: {e})"),
    })
}

/// Appends one job's entries; flushed by the caller's rhythm and on drop.
pub struct Writer {
    file: BufWriter<std::fs::File>,
    path: PathBuf,
    bytes: u64,
    max_bytes: u64,
    /// Lines cut so far; the file starts with a cut line saying so once
    /// this is above zero (a writer always starts its file afresh).
    cut: u64,
}

impl Writer {
    pub fn append(&mut self, entry: &LogEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.bytes += line.len() as u64;
        if self.bytes > self.max_bytes {
            self.cut_oldest(entry.at)?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// Keeps the newest half of the bound, under a line saying how many
    /// lines went.
    fn cut_oldest(&mut self, at: Millis) -> std::io::Result<()> {
        self.file.flush()?;
        let bytes = std::fs::read(&self.path)?;
        let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        let keep_bytes = self.max_bytes / 2;
        let mut kept = 0u64;
        let mut first = lines.len();
        while first > 0 && kept + lines[first - 1].len() as u64 <= keep_bytes {
            first -= 1;
            kept += lines[first].len() as u64;
        }
        // The file's first line is the last cut's own line: not a line cut.
        let earlier_cut_line = self.cut > 0 && first > 0;
        self.cut += first as u64 - u64::from(earlier_cut_line);
        let cut = LogEntry {
            at,
            level: LogLevel::Warn,
            kind: EntryKind::Cut,
            text: format!(
                "{} earlier lines cut to keep this job's transcript within {} bytes",
                self.cut, self.max_bytes
            ),
        };
        let tmp = self.path.with_extension("cut");
        {
            let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
            let mut head = serde_json::to_vec(&cut).map_err(std::io::Error::other)?;
            head.push(b'\n');
            out.write_all(&head)?;
            for line in &lines[first..] {
                out.write_all(line)?;
            }
            out.flush()?;
            self.bytes = head.len() as u64 + kept;
        }
        std::fs::rename(&tmp, &self.path)?;
        let file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        self.file = BufWriter::new(file);
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// One model call as one transcript line.
pub fn call_entry(at: Millis, call: &LlmCall) -> LogEntry {
    let stop = match call.finish_reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "max_tokens (truncated)",
        FinishReason::Other => "other",
    };
    LogEntry {
        at,
        level: match call.finish_reason {
            FinishReason::Length => LogLevel::Warn,
            _ => LogLevel::Info,
        },
        kind: EntryKind::Call,
        text: format!(
            "llm_call {} · in {} (cache read {}, write {}) · out {}/{} · {} · {} ms",
            call.model,
            call.prompt_tokens,
            call.cache_read_tokens,
            call.cache_write_tokens,
            call.completion_tokens,
            call.max_output_tokens,
            stop,
            call.upstream_ms
        ),
    }
}

#[cfg(test)]
mod tests;

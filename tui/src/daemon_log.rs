//! The log of a daemon started in the background. Each start appends, so
//! the log of a daemon that crashed is still there for the next one to
//! point at; a log over [`MAX_BYTES`] is rotated, keeping [`KEEP`] older ones.

use cattery_protocol::home::{CLEAN_STOP, Layout};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// A log this size or larger is rotated before the next start.
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Rotated logs kept: `catteryd.log.1` (newest) to `catteryd.log.KEEP`.
pub const KEEP: u32 = 3;
/// The line each start writes before the daemon's own output.
const START_MARK: &str = "==== cattery started catteryd";
/// How much of a log's end is read to find the last start.
const TAIL: u64 = 256 * 1024;

/// The opened log, and where the previous daemon's log is when that daemon
/// did not stop cleanly.
pub struct Opened {
    pub file: File,
    pub unclean: Option<PathBuf>,
}

/// Opens the daemon log for a new start: rotated when large, appended to,
/// with a start line, and with the previous daemon's ending judged first.
pub fn open_for_start(layout: &Layout, now: &str) -> std::io::Result<Opened> {
    let log = layout.daemon_log();
    std::fs::create_dir_all(layout.logs())?;
    let unclean = ended_unclean(&log).then(|| log.clone());
    let rotated = std::fs::metadata(&log).is_ok_and(|m| m.len() >= MAX_BYTES);
    let unclean = match rotated {
        true => {
            rotate(layout)?;
            unclean.map(|_| layout.daemon_log_rotated(1))
        }
        false => unclean,
    };
    let mut file = OpenOptions::new().create(true).append(true).open(&log)?;
    writeln!(file, "{START_MARK} at {now} ====")?;
    Ok(Opened { file, unclean })
}

/// Whether the last daemon this log records was started here and never
/// logged a clean stop: it was killed, or it crashed.
fn ended_unclean(log: &std::path::Path) -> bool {
    let Ok(tail) = tail(log) else {
        return false;
    };
    match tail.rfind(START_MARK) {
        Some(at) => !tail[at..].contains(CLEAN_STOP),
        // The last daemon wrote more than the tail since its start line (a
        // log this long and unmarked is one from before start lines too).
        None => {
            let long = std::fs::metadata(log).is_ok_and(|m| m.len() > TAIL);
            long && !tail.contains(CLEAN_STOP)
        }
    }
}

/// What the daemon started last wrote: the log after its start line.
pub fn since_last_start(log: &std::path::Path) -> String {
    let tail = tail(log).unwrap_or_default();
    match tail.rfind(START_MARK) {
        Some(at) => tail[at..].lines().skip(1).collect::<Vec<_>>().join("\n"),
        None => tail,
    }
}

fn tail(log: &std::path::Path) -> std::io::Result<String> {
    let mut file = File::open(log)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `catteryd.log` becomes `.1`, `.1` becomes `.2`, …; the oldest is dropped.
fn rotate(layout: &Layout) -> std::io::Result<()> {
    let _ = std::fs::remove_file(layout.daemon_log_rotated(KEEP));
    for n in (1..KEEP).rev() {
        let from = layout.daemon_log_rotated(n);
        if from.exists() {
            std::fs::rename(&from, layout.daemon_log_rotated(n + 1))?;
        }
    }
    std::fs::rename(layout.daemon_log(), layout.daemon_log_rotated(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::under(dir.path());
        (dir, layout)
    }

    fn append(layout: &Layout, text: &str) {
        let mut file = OpenOptions::new()
            .append(true)
            .open(layout.daemon_log())
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn each_start_appends_and_a_log_without_a_clean_stop_is_named_as_unclean() {
        let (_dir, layout) = layout();
        let first = open_for_start(&layout, "t1").unwrap();
        assert!(first.unclean.is_none(), "no daemon ran before");
        drop(first);
        append(&layout, "the first daemon's words\n");
        let second = open_for_start(&layout, "t2").unwrap();
        assert_eq!(second.unclean, Some(layout.daemon_log()));
        drop(second);
        append(&layout, &format!("working\n{CLEAN_STOP}\n"));
        let third = open_for_start(&layout, "t3").unwrap();
        assert!(third.unclean.is_none(), "the second one stopped cleanly");
        let text = std::fs::read_to_string(layout.daemon_log()).unwrap();
        assert!(text.contains("the first daemon's words"), "{text}");
        assert_eq!(text.matches(START_MARK).count(), 3);
    }

    #[test]
    fn a_large_log_is_rotated_keeping_three_and_an_unclean_one_is_named_where_it_went() {
        let (_dir, layout) = layout();
        for round in 0..5 {
            drop(open_for_start(&layout, &format!("t{round}")).unwrap());
            let big = "x".repeat(MAX_BYTES as usize);
            append(&layout, &format!("round {round}\n{big}\n"));
        }
        let opened = open_for_start(&layout, "last").unwrap();
        assert_eq!(opened.unclean, Some(layout.daemon_log_rotated(1)));
        let newest = std::fs::read_to_string(layout.daemon_log_rotated(1)).unwrap();
        assert!(newest.contains("round 4"));
        assert!(layout.daemon_log_rotated(KEEP).exists());
        assert!(!layout.daemon_log_rotated(KEEP + 1).exists());
        let current = std::fs::read_to_string(layout.daemon_log()).unwrap();
        assert!(current.starts_with(START_MARK), "{current}");
    }
}

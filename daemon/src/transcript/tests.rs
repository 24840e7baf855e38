use super::*;

fn entry(text: &str) -> LogEntry {
    LogEntry {
        at: 1,
        level: LogLevel::Info,
        kind: EntryKind::Line,
        text: text.to_owned(),
    }
}

fn texts(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.text.as_str()).collect()
}

#[test]
fn a_step_reads_across_its_jobs_in_order_from_any_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = Transcripts::new(dir.path().to_owned(), 1 << 20);
    for (job, lines) in [("j_b", ["one", "two"]), ("j_a", ["three", "four"])] {
        let mut writer = store.writer("r_1", 2, job).unwrap();
        for line in lines {
            writer.append(&entry(line)).unwrap();
        }
    }
    store
        .writer("r_1", 3, "j_c")
        .unwrap()
        .append(&entry("other step"))
        .unwrap();
    let (all, total) = store.read("r_1", 2, 0, 100).unwrap();
    assert_eq!(texts(&all), ["one", "two", "three", "four"]);
    assert_eq!(total, 4);
    let (page, total) = store.read("r_1", 2, 1, 2).unwrap();
    assert_eq!(texts(&page), ["two", "three"]);
    assert_eq!(total, 4);
    assert_eq!(store.read("r_9", 0, 0, 10).unwrap(), (Vec::new(), 0));
}

#[test]
fn a_job_followed_again_starts_its_file_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = Transcripts::new(dir.path().to_owned(), 1 << 20);
    store
        .writer("r_1", 0, "j_1")
        .unwrap()
        .append(&entry("first life"))
        .unwrap();
    store
        .writer("r_1", 0, "j_1")
        .unwrap()
        .append(&entry("replayed"))
        .unwrap();
    let (all, _) = store.read("r_1", 0, 0, 100).unwrap();
    assert_eq!(texts(&all), ["replayed"]);
}

#[test]
fn unflushed_lines_are_not_read_until_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Transcripts::new(dir.path().to_owned(), 1 << 20);
    let mut writer = store.writer("r_1", 0, "j_1").unwrap();
    writer.append(&entry("buffered")).unwrap();
    assert_eq!(store.read("r_1", 0, 0, 10).unwrap().1, 0);
    writer.flush().unwrap();
    assert_eq!(store.read("r_1", 0, 0, 10).unwrap().1, 1);
}

#[test]
fn a_job_past_its_bound_loses_its_oldest_lines_first_and_says_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let store = Transcripts::new(dir.path().to_owned(), 4_000);
    let mut writer = store.writer("r_1", 0, "j_1").unwrap();
    for n in 0..1_000 {
        writer.append(&entry(&format!("line {n:04}"))).unwrap();
    }
    writer.flush().unwrap();
    let size = std::fs::metadata(&writer.path).unwrap().len();
    assert!(size <= 4_000, "the file stays within its bound: {size}");
    let (all, total) = store.read("r_1", 0, 0, MAX_PAGE).unwrap();
    assert_eq!(
        all.last().unwrap().text,
        "line 0999",
        "the newest line is kept"
    );
    assert_eq!(all[0].kind, EntryKind::Cut);
    let cut: u64 = all[0]
        .text
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        cut + total - 1,
        1_000,
        "the cut count and the kept lines add up: {}",
        all[0].text
    );
    let first_kept: u64 = all[1].text[5..].parse().unwrap();
    assert_eq!(first_kept, cut, "exactly the oldest lines went");
}

#[test]
fn transcripts_older_than_the_age_are_removed_and_newer_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Transcripts::new(dir.path().to_owned(), 1 << 20);
    store
        .writer("r_old", 0, "j_1")
        .unwrap()
        .append(&entry("x"))
        .unwrap();
    store
        .writer("r_new", 0, "j_2")
        .unwrap()
        .append(&entry("y"))
        .unwrap();
    let old = std::fs::File::options()
        .write(true)
        .open(dir.path().join("r_old/000-000-j_1.jsonl"))
        .unwrap();
    let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86_400);
    old.set_modified(month_ago).unwrap();
    let removed = store
        .prune_older_than(std::time::Duration::from_secs(14 * 86_400))
        .unwrap();
    assert_eq!(removed, 1);
    assert!(!dir.path().join("r_old").exists());
    assert_eq!(store.read("r_new", 0, 0, 10).unwrap().1, 1);
}

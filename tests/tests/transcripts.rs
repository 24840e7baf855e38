//! Stored transcripts: every line a job printed is kept under the data dir,
//! outlives the daemon and its clients, and `cattery ctl logs` reads it from
//! any offset or follows it while the step works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::transcript::{EntryKind, LogEntry};
use cattery_tests::{CtlHome, cattery};

fn entries(stdout: &str) -> Vec<LogEntry> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const CHATTY: &str = r#"[agents.chatty]
command = ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done; echo '{\"type\":\"llm_call\",\"model\":\"demo-large\",\"prompt_tokens\":120,\"completion_tokens\":7,\"cache_read_tokens\":30,\"max_output_tokens\":64,\"finish_reason\":\"length\",\"upstream_ms\":41}'; echo 'oops' >&2; echo '{\"type\":\"result\",\"output\":\"done\"}'"]
"#;

fn chatty_home() -> CtlHome {
    CtlHome::with_config(&[
        ("agents.toml", CHATTY),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"chatty\"\n",
        ),
    ])
}

#[test]
fn a_finished_steps_transcript_outlives_the_daemon_and_reads_from_any_offset() {
    let home = chatty_home();
    let run = home.start_task("talk a lot", "one");
    home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    // A new daemon, with no client ever attached to the old one's events.
    let (code, _, err) = home.cli(&["daemon", "stop"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = home.cli(&["ctl", "logs", &run.id, "--step", "0"]);
    assert_eq!(code, 0, "{err}");
    let all = entries(&out);
    assert_eq!(all[0].kind, EntryKind::Attempt, "{:?}", all[0]);
    assert!(all[0].text.contains("chatty"), "{:?}", all[0]);
    let lines: Vec<&str> = all
        .iter()
        .filter(|e| e.kind == EntryKind::Line && e.text.starts_with("line "))
        .map(|e| e.text.as_str())
        .collect();
    let expected: Vec<String> = (0..3000).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, expected, "every line, in order, none twice");
    let calls: Vec<&LogEntry> = all.iter().filter(|e| e.kind == EntryKind::Call).collect();
    assert_eq!(calls.len(), 1, "the call is one folded line");
    for part in [
        "demo-large",
        "in 120",
        "cache read 30",
        "out 7/64",
        "truncated",
        "41 ms",
    ] {
        assert!(calls[0].text.contains(part), "{part} in {:?}", calls[0]);
    }
    assert!(all.iter().any(|e| e.text == "oops"), "stderr is kept too");
    assert!(
        all.last().unwrap().text.contains("succeeded"),
        "it ends with how the job ended: {:?}",
        all.last()
    );

    let (code, out, err) = home.cli(&["ctl", "logs", &run.id, "--from", "2990"]);
    assert_eq!(code, 0, "{err}");
    let tail = entries(&out);
    assert_eq!(tail, all[2990..], "a read from an offset is the rest");
}

#[test]
fn logs_of_a_step_that_does_not_exist_is_refused_with_the_steps_there_are() {
    let home = chatty_home();
    let run = home.start_task("talk", "one");
    home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    let (code, _, err) = home.cli(&["ctl", "logs", &run.id, "--step", "7"]);
    assert_ne!(code, 0);
    assert!(err.contains("steps 1 to 1"), "{err}");
}

#[test]
fn logs_follow_prints_lines_as_they_come_and_ends_when_the_step_does() {
    let agents = r#"[agents.slow]
command = ["sh", "-c", "echo first; sleep 2; echo second; echo '{\"type\":\"result\",\"output\":\"ok\"}'"]
"#;
    let home = CtlHome::with_config(&[
        ("agents.toml", agents),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"slow\"\n",
        ),
    ]);
    let run = home.start_task("slowly", "one");
    let follower = std::process::Command::new(cattery())
        .arg("--home")
        .arg(home.path())
        .args(["ctl", "logs", &run.id, "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.find("first").expect("the first line");
    let second = text.find("second").expect("the line after the pause");
    assert!(first < second, "{text}");
    assert!(
        text.contains("the job succeeded"),
        "it ran to the end: {text}"
    );
    let done = home.run(&run.id);
    assert!(!done.status.is_live(), "it ended with the step");
}

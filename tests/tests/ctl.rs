//! `cattery ctl` and `cattery daemon` as a script would use them: real
//! binaries, a real daemon, exit codes and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{GateKind, Notification, NotificationStatus, PendingGate, Run, RunStatus};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    cattery_tests::write_config(
        dir.path(),
        &[("config.toml", "executor = \"process\"\nport = 0\n")],
    );
    dir
}

use cattery_tests::{cattery_cli as cattery, cattery_ok as ok, eventually};

struct Stopper<'a>(&'a Path);

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        let _ = cattery(self.0, &["daemon", "stop"]);
    }
}

fn inbox(home: &Path) -> Vec<PendingGate> {
    serde_json::from_value(ok(home, &["ctl", "inbox"])).unwrap()
}

fn next_gate(home: &Path, kind: GateKind) -> PendingGate {
    eventually(
        60,
        || inbox(home).into_iter().find(|g| g.kind == kind),
        || format!("no {kind:?} gate opened"),
    )
}

#[test]
fn ctl_drives_a_run_through_an_approval_a_decision_and_an_iteration_cap() {
    let dir = home();
    let home = dir.path();
    let _stop = Stopper(home);
    let description =
        "@demo * sleep 0\n@demo coder ask Which queue? | kafka | sqs\n@demo reviewer rating 0.2";
    let block = ok(
        home,
        &[
            "ctl",
            "block",
            "add",
            "--title",
            "queue work",
            "--description",
            description,
        ],
    );
    let block_id = block["id"].as_str().unwrap().to_owned();
    let run: Run = serde_json::from_value(ok(home, &["ctl", "start", &block_id, "quick"])).unwrap();

    let approval = next_gate(home, GateKind::Approval);
    let proposal = home.join("plan.md");
    std::fs::write(&proposal, "an edited plan").unwrap();
    ok(
        home,
        &[
            "ctl",
            "approve",
            &approval.id,
            "--proposal-file",
            proposal.to_str().unwrap(),
        ],
    );
    let (code, _, err) = cattery(home, &["ctl", "approve", &approval.id]);
    assert_eq!(code, 5, "a repeated decision exits 5 (stale): {err}");
    assert!(err.contains("already resolved"), "{err}");

    let decision = next_gate(home, GateKind::Decision);
    assert_eq!(decision.options, ["kafka", "sqs"]);
    let (code, _, err) = cattery(home, &["ctl", "decide", &decision.id, "rabbit"]);
    assert_eq!(code, 7, "an option not offered exits 7 (invalid): {err}");
    ok(home, &["ctl", "decide", &decision.id, "kafka"]);

    let cap = next_gate(home, GateKind::IterationCap);
    ok(home, &["ctl", "cap", &cap.id, "proceed"]);

    let done = eventually(
        60,
        || {
            let runs: Vec<Run> = serde_json::from_value(ok(home, &["ctl", "runs"])).unwrap();
            let current = runs.into_iter().find(|r| r.id == run.id).unwrap();
            (!current.status.is_live()).then_some(current)
        },
        || "the run did not finish".to_owned(),
    );
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(done.steps[0].output.as_deref(), Some("an edited plan"));
    assert!(
        done.steps[1]
            .output
            .as_deref()
            .unwrap()
            .contains("going with kafka")
    );
}

#[test]
fn daemon_start_status_stop_and_restart() {
    let dir = home();
    let home = dir.path();
    let _stop = Stopper(home);
    let (code, _, _) = cattery(home, &["daemon", "status"]);
    assert_eq!(code, 3, "nothing runs yet");
    let first = ok(home, &["daemon", "start"]);
    let again = ok(home, &["daemon", "start"]);
    assert_eq!(
        first["pid"], again["pid"],
        "a second start finds the running daemon"
    );
    assert_eq!(ok(home, &["daemon", "status"])["executor"], "process");
    let restarted = ok(home, &["daemon", "restart"]);
    assert_ne!(restarted["pid"], first["pid"]);
    let (code, out, _) = cattery(home, &["daemon", "stop"]);
    assert_eq!((code, out.as_str()), (0, "stopped"));
    let (code, _, _) = cattery(home, &["daemon", "status"]);
    assert_eq!(code, 3);
    assert!(
        !home.join("data/port").exists(),
        "no port file is left behind"
    );
}

#[test]
fn cattery_commands_started_at_once_share_one_daemon_and_none_reports_an_early_exit() {
    let dir = home();
    let home = dir.path().to_owned();
    let _stop = Stopper(&home);
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let home = home.clone();
            std::thread::spawn(move || cattery(&home, &["daemon", "start"]))
        })
        .collect();
    let mut pids = Vec::new();
    for start in starts {
        let (code, out, err) = start.join().unwrap();
        assert_eq!(code, 0, "a start failed: {err}");
        assert!(!err.contains("exited at once"), "{err}");
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        pids.push(status["pid"].as_i64().unwrap());
    }
    pids.dedup();
    assert_eq!(pids.len(), 1, "one daemon answers every start: {pids:?}");
    let log = std::fs::read_to_string(home.join("data/logs/catteryd.log")).unwrap();
    // Each spawn appends one start line; a second catteryd would also have
    // appended its refusal of the home lock. Only the winner's lines remain.
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let start_lines = lines.iter().filter(|l| l.starts_with("====")).count();
    assert_eq!(start_lines, 1, "only one catteryd was started:\n{log}");
    assert!(
        lines
            .iter()
            .filter(|l| !l.starts_with("===="))
            .all(|l| l.starts_with(|c: char| c.is_ascii_digit())),
        "only one catteryd was started:\n{log}"
    );
}

#[test]
fn a_stale_port_file_from_a_killed_daemon_is_cleaned_up() {
    let dir = home();
    let home = dir.path();
    let _stop = Stopper(home);
    let status = ok(home, &["daemon", "start"]);
    let pid = status["pid"].as_i64().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        home.join("data/port").exists(),
        "SIGKILL leaves the port file"
    );
    let (code, _, _) = cattery(home, &["daemon", "status"]);
    assert_eq!(
        code, 3,
        "a dead daemon does not answer, whatever its files say"
    );
    assert!(
        !home.join("data/port").exists(),
        "the stale port file is removed"
    );
    // ctl starts a fresh daemon when none answers.
    let board = ok(home, &["ctl", "board"]);
    assert!(board.is_array());
}

#[test]
fn the_demo_fills_the_inbox_with_every_gate_kind_within_a_minute() {
    let dir = home();
    let home = dir.path();
    let _stop = Stopper(home);
    let (code, out, err) = cattery(home, &["demo"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("seeded 11 demo blocks"), "{out}");
    let all_kinds = |gates: &[PendingGate]| {
        let has = |kind| gates.iter().any(|g| g.kind == kind);
        has(GateKind::Approval)
            && has(GateKind::Decision)
            && has(GateKind::IterationCap)
            && has(GateKind::Review)
    };
    eventually(
        60,
        || all_kinds(&inbox(home)).then_some(()),
        || {
            let runs: Vec<Run> = serde_json::from_value(ok(home, &["ctl", "runs"])).unwrap();
            let states: Vec<_> = runs
                .iter()
                .map(|r| {
                    (
                        r.pipeline_id.clone(),
                        r.status,
                        r.current_step,
                        r.failure.clone(),
                    )
                })
                .collect();
            format!(
                "the inbox never held all four kinds: {:?}; runs: {states:?}",
                inbox(home)
            )
        },
    );
    let runs: Vec<Run> = serde_json::from_value(ok(home, &["ctl", "runs"])).unwrap();
    let working = runs
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .count();
    assert!(working >= 2, "other runs keep working");
    let metered = runs
        .iter()
        .filter(|r| r.steps.iter().any(|s| s.metrics.calls > 0))
        .count();
    assert!(metered >= 2, "with live metrics");
    // The approvals show real diffs of the demo's own repository.
    let coded = inbox(home).into_iter().find_map(|gate| {
        let run = runs.iter().find(|r| r.id == gate.run_id)?;
        let change = run.steps.get(gate.step_index)?.change.clone()?;
        (gate.kind == GateKind::Approval && change.commit.is_some()).then_some(gate)
    });
    let gate = coded.expect("an approval whose step committed code");
    let step = gate.step_index.to_string();
    let diff: cattery_protocol::diff::Diff =
        serde_json::from_value(ok(home, &["ctl", "diff", &gate.run_id, "--step", &step])).unwrap();
    let written = &diff.files[0];
    assert_eq!(written.path, "docs/refunds.md", "{diff:?}");
    assert!(
        written.hunks[0].lines[1].text.contains("POST /refunds"),
        "{written:?}"
    );
    let repo = home.join("data/demo-repo");
    let log = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["-c", "safe.directory=*", "status", "--porcelain"])
        .output()
        .unwrap();
    assert!(log.status.success(), "the demo repository is a git clone");
    assert_eq!(
        String::from_utf8_lossy(&log.stdout),
        "",
        "its checkout is untouched"
    );
    // The refund cap's ci gate fails its check until the ci-fixer caps it.
    let capped = eventually(
        90,
        || {
            let runs: Vec<Run> = serde_json::from_value(ok(home, &["ctl", "runs"])).unwrap();
            runs.into_iter().find(|r| {
                r.pipeline_id == "build"
                    && !r.status.is_live()
                    && r.steps.iter().any(|s| {
                        s.agent_kind == "ci" && s.gate.as_ref().is_some_and(|g| g.attempts > 0)
                    })
            })
        },
        || "the refund cap's run never went through its ci fixer".to_owned(),
    );
    assert_eq!(capped.status, RunStatus::Done, "{:?}", capped.failure);
    let ci = capped.steps.iter().find(|s| s.agent_kind == "ci").unwrap();
    let gate = ci.gate.as_ref().unwrap();
    assert_eq!(gate.attempts, 1);
    assert_eq!(gate.attempt_log[0].failing_checks, ["refunds"]);
    assert_eq!(
        ci.output.as_deref(),
        Some("CI gate passed: 1 check(s) green.")
    );
    let (_, again, _) = cattery(home, &["demo"]);
    assert!(again.contains("not seeded again"), "{again}");
}

#[test]
fn ctl_watch_prints_events_as_json_lines_and_replays_from_since() {
    use std::io::{BufRead, BufReader};
    let dir = home();
    let home = dir.path();
    let _stop = Stopper(home);
    ok(home, &["daemon", "start"]);
    let watch = |since: Option<&str>| {
        let mut args = vec![
            "--home".to_owned(),
            home.display().to_string(),
            "ctl".into(),
            "watch".into(),
        ];
        if let Some(since) = since {
            args.extend(["--since".into(), since.into()]);
        }
        Command::new(cattery_tests::cattery())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut live = watch(None);
    let mut lines = BufReader::new(live.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(
        first["snapshot"].is_object(),
        "a fresh watch starts from a snapshot: {first}"
    );
    ok(home, &["ctl", "block", "add", "--title", "watched"]);
    let event: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(event["event"]["kind"], "block");
    assert_eq!(event["event"]["block"]["title"], "watched");
    let seq = event["seq"].as_u64().unwrap();
    let _ = live.kill();
    let _ = live.wait();

    let mut replay = watch(Some(&(seq - 1).to_string()));
    let mut lines = BufReader::new(replay.stdout.take().unwrap()).lines();
    let again: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        again["seq"].as_u64(),
        Some(seq),
        "the missed event is replayed: {again}"
    );
    let _ = replay.kill();
    let _ = replay.wait();
}

#[test]
fn ctl_lists_cards_acts_on_one_and_a_second_act_exits_stale() {
    let dir = home();
    let home = dir.path();
    let _stop = Stopper(home);
    cattery_tests::import_workspace(
        home,
        "[[blocks]]\nlevel = \"task\"\ntitle = \"Docs\"\npipeline = \"quick\"\ndescription = \"@demo * sleep 0\"\n",
    );
    let card = eventually(
        30,
        || {
            let cards: Vec<Notification> =
                serde_json::from_value(ok(home, &["ctl", "notifications"])).unwrap();
            cards.into_iter().next()
        },
        || "no card was raised".to_owned(),
    );
    let acted: Notification = serde_json::from_value(ok(home, &["ctl", "act", &card.id])).unwrap();
    assert_eq!(acted.status, NotificationStatus::Acted);
    let (code, _, err) = cattery(home, &["ctl", "dismiss", &card.id]);
    assert_eq!(code, 5, "a closed card is stale: {err}");
    assert!(err.contains("already acted"), "{err}");
    let (code, _, _) = cattery(home, &["ctl", "act", "n_nope"]);
    assert_eq!(code, 4);
    let all: Vec<Notification> =
        serde_json::from_value(ok(home, &["ctl", "notifications", "--all"])).unwrap();
    assert!(all.iter().any(|c| c.id == card.id));
    let spend = ok(home, &["ctl", "spend"]);
    assert_eq!(spend["budget"], 100.0);
}

#[test]
fn ctl_with_read_only_lists_but_exits_9_on_a_change() {
    let dir = home();
    let home = dir.path();
    let _stop = Stopper(home);
    ok(home, &["daemon", "start"]);
    let (code, out, err) = cattery(home, &["--read-only", "ctl", "board"]);
    assert_eq!((code, out.as_str()), (0, "[]"), "{err}");
    let (code, _, err) = cattery(
        home,
        &["--read-only", "ctl", "block", "add", "--title", "t"],
    );
    assert_eq!(code, 9, "{err}");
    assert!(err.contains("read-only"), "{err}");
    let board = ok(home, &["ctl", "board"]);
    assert_eq!(board.as_array().unwrap().len(), 0, "nothing was added");
}

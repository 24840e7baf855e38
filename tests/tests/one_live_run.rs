//! A block holds one live run, and a frame its configured number, however
//! many clients race: twenty `cattery ctl` processes at once, many rounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::Run;
use cattery_tests::{CtlHome, cattery};
use std::process::{Command, Output};

const ONE: (&str, &str) = (
    "pipelines/one.toml",
    "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
);

/// A step that takes a minute, so a won run stays live while the rest race.
const SLOW: &str = "@demo * sleep 60000";

/// Runs `cattery ctl ARGS` in twenty processes started together; answers
/// each one's output.
fn race(home: &CtlHome, args: &[&str]) -> Vec<Output> {
    let children: Vec<_> = (0..20)
        .map(|_| {
            Command::new(cattery())
                .arg("--home")
                .arg(home.path())
                .args(["--json", "ctl"])
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// The runs the winners started, and every loser's message.
fn split(outputs: Vec<Output>) -> (Vec<Run>, Vec<String>) {
    let mut won = Vec::new();
    let mut refused = Vec::new();
    for out in outputs {
        if out.status.success() {
            won.push(serde_json::from_slice(&out.stdout).unwrap());
        } else {
            refused.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    (won, refused)
}

fn runs_of(home: &CtlHome, block: &str) -> Vec<Run> {
    let runs: Vec<Run> = serde_json::from_value(home.ctl(&["runs"])).unwrap();
    runs.into_iter().filter(|r| r.block_id == block).collect()
}

fn add_task(home: &CtlHome, parent: Option<&str>, description: &str) -> String {
    let mut args = vec!["block", "add", "--title", "t", "--description", description];
    if let Some(parent) = parent {
        args.extend(["--parent", parent]);
    }
    home.ctl(&args)["id"].as_str().unwrap().to_owned()
}

#[test]
fn twenty_racing_starts_of_a_fresh_block_start_exactly_one_run_fifty_times() {
    let home = CtlHome::with_config(&[ONE]);
    for round in 0..50 {
        let block = add_task(&home, None, SLOW);
        let (won, refused) = split(race(&home, &["start", &block, "one"]));
        let runs = runs_of(&home, &block);
        let live: Vec<_> = runs.iter().filter(|r| r.status.is_live()).collect();
        assert_eq!(live.len(), 1, "round {round}: live runs {live:#?}");
        // A start that came after the winner replaced it on purpose; no two
        // starts may replace the same run, and only one may find none.
        let mut replaced: Vec<_> = won.iter().map(|r| r.previous_run_id.clone()).collect();
        replaced.sort();
        let before = replaced.len();
        replaced.dedup();
        assert_eq!(
            replaced.len(),
            before,
            "round {round}: two starts replaced one run"
        );
        assert_eq!(
            won.len(),
            runs.len(),
            "round {round}: every run was a winner's"
        );
        for message in &refused {
            assert!(
                message.contains("already has a live run") && message.contains("r_"),
                "round {round}: {message}"
            );
        }
        home.ctl(&["stop", &live[0].id]);
    }
}

#[test]
fn twenty_racing_retries_of_one_failed_run_start_exactly_one_successor() {
    let home = CtlHome::with_config(&[ONE]);
    for round in 0..20 {
        let block = add_task(&home, None, SLOW);
        let first: Run = serde_json::from_value(home.ctl(&["start", &block, "one"])).unwrap();
        // A stopped run is one retry may revive.
        home.ctl(&["stop", &first.id]);
        let (won, refused) = split(race(&home, &["retry", &first.id]));
        assert_eq!(won.len(), 1, "round {round}: {refused:#?}");
        assert_eq!(runs_of(&home, &block).len(), 2, "round {round}");
        for message in &refused {
            let names_current = message.contains(&won[0].id);
            assert!(names_current, "round {round}: {message}");
        }
        let again = home.cli(&["ctl", "retry", &first.id]);
        assert_ne!(again.0, 0, "a replaced run is retried again: {}", again.1);
        assert!(again.2.contains("not the current run"), "{}", again.2);
        home.ctl(&["stop", &won[0].id]);
    }
}

#[test]
fn twenty_racing_starts_on_twenty_tasks_of_a_frame_limited_to_one_admit_exactly_one() {
    let home = CtlHome::with_config(&[
        ONE,
        (
            "config.toml",
            "executor = \"process\"\nport = 0\n[limits]\nrunning_per_frame = 1\n",
        ),
    ]);
    let frame = home.ctl(&["block", "add", "--level", "frame", "--title", "Payments"]);
    let frame = frame["id"].as_str().unwrap().to_owned();
    let tasks: Vec<String> = (0..20)
        .map(|_| add_task(&home, Some(&frame), SLOW))
        .collect();
    for round in 0..50 {
        let children: Vec<_> = tasks
            .iter()
            .map(|task| {
                Command::new(cattery())
                    .arg("--home")
                    .arg(home.path())
                    .args(["--json", "ctl", "start", task, "one"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let (won, refused) = split(outputs);
        assert_eq!(won.len(), 1, "round {round}: {won:#?}");
        for message in &refused {
            assert!(
                message.contains("running_per_frame"),
                "round {round}: {message}"
            );
        }
        home.ctl(&["stop", &won[0].id]);
    }
}

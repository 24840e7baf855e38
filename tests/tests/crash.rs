//! SIGKILL a real catteryd mid-run, restart it on the same home, and prove
//! from the agents' own dispatch log that no completed step ran twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::config::Paths;
use cattery_daemon::store::Store;
use cattery_protocol::{GateKind, RunStatus, StepState};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

const SEED: &str = r#"
[[blocks]]
level = "task"
title = "one"
pipeline = "build"
description = "@demo * sleep 1500"

[[blocks]]
level = "task"
title = "two"
pipeline = "build"
description = "@demo * sleep 1200"

[[blocks]]
level = "task"
title = "three"
pipeline = "build"
description = "@demo * sleep 1800\n@demo architect-companion rating 0.5 0.95"
"#;

fn start(home: &Path, log: &Path) -> Child {
    // Local processes: they write the dispatch log this test counts from.
    cattery_tests::write_config(
        home,
        &[("config.toml", "executor = \"process\"\nport = 0\n")],
    );
    cattery_tests::spawn_catteryd_with(home, &[("CATTERY_DEMO_LOG", log)])
}

type Key = (String, String, String);

/// Every `start` line of the dispatch log, keyed by run, step and attempt.
fn starts(log: &Path) -> Vec<Key> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let parts: Vec<_> = line.split_whitespace().collect();
            (parts.first() == Some(&"start")).then(|| {
                (
                    parts[1].to_owned(),
                    parts[2].to_owned(),
                    parts[3].to_owned(),
                )
            })
        })
        .collect()
}

/// The last dispatch of each run: the only step a kill may have interrupted.
fn in_flight(log: &Path) -> HashSet<Key> {
    let mut last: HashMap<String, Key> = HashMap::new();
    for key in starts(log) {
        last.insert(key.0.clone(), key);
    }
    last.into_values().collect()
}

#[test]
fn sigkill_mid_run_then_restart_finishes_every_run_without_rerunning_completed_steps() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let log = dir.path().join("dispatch.log");

    let mut interrupted: HashMap<Key, usize> = HashMap::new();
    for (round, pause_ms) in [700u64, 1100, 450, 1300, 900].into_iter().enumerate() {
        let mut child = start(&home, &log);
        if round == 0 {
            cattery_tests::import_workspace(&home, SEED);
        }
        std::thread::sleep(Duration::from_millis(pause_ms));
        if child.try_wait().unwrap().is_some() {
            panic!("catteryd exited early in round {round}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // An agent spawned just before the kill outlives the daemon and may
        // not have logged its start yet; let it, so the snapshot includes it.
        std::thread::sleep(Duration::from_millis(600));
        for key in in_flight(&log) {
            *interrupted.entry(key).or_default() += 1;
        }
    }
    let mut last = start(&home, &log);
    cattery_tests::settle_then_stop(&home, &mut last, 120);

    let mut counts: HashMap<Key, usize> = HashMap::new();
    for key in starts(&log) {
        *counts.entry(key).or_default() += 1;
    }
    for (key, count) in &counts {
        let allowed = 1 + interrupted.get(key).copied().unwrap_or(0);
        assert!(
            *count <= allowed,
            "{key:?} ran {count} times but was in flight at only {} kills",
            allowed - 1
        );
    }

    let store = Store::open(&Paths::under(&home).database()).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 3);
    for run in &runs {
        assert_eq!(run.status, RunStatus::Done, "{:?}", run.failure);
        assert!(run.steps.iter().all(|s| s.state == StepState::Done));
    }
    let rerun: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    for ((run_id, step, _), _) in &rerun {
        let run = runs.iter().find(|r| &r.id == run_id).unwrap();
        let index: usize = step.parse().unwrap();
        assert!(
            run.steps[index].recoveries >= 1,
            "a re-dispatch is counted on the step"
        );
    }
    // A run whose steps all finished between kills proves nothing; make sure
    // the kills really interrupted work.
    assert!(!rerun.is_empty(), "no kill interrupted a step: {counts:?}");
}

#[test]
fn a_parked_gate_survives_a_sigkill_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let log = dir.path().join("dispatch.log");
    let text = "[[blocks]]\nlevel = \"task\"\ntitle = \"gated\"\npipeline = \"quick\"\ndescription = \"@demo * sleep 0\"\n";

    let mut first = start(&home, &log);
    cattery_tests::import_workspace(&home, text);
    cattery_tests::settle_then_stop(&home, &mut first, 60);
    let db = Paths::under(&home).database();
    let before = Store::open(&db).unwrap().runs().unwrap().remove(0);
    let gate = before
        .pending_gate()
        .expect("parked on the architect's approval");
    assert_eq!(gate.kind, GateKind::Approval);

    let mut second = start(&home, &log);
    std::thread::sleep(Duration::from_millis(400));
    let _ = second.kill();
    second.wait().unwrap();
    let mut third = start(&home, &log);
    cattery_tests::settle_then_stop(&home, &mut third, 60);

    let after = Store::open(&db).unwrap().runs().unwrap().remove(0);
    assert_eq!(after.pending_gate().map(|g| g.id), Some(gate.id));
    assert_eq!(after.rev, before.rev, "nothing was written to a parked run");
    assert_eq!(starts(&log).len(), 1, "the architect ran once");
}

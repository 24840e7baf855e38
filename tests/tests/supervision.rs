//! Supervising agents that hang: one that prints nothing for its kind's
//! inactivity limit is killed as stalled, run once more, then fails as
//! stalled with its last lines; one that outlives its result line is
//! killed and its result kept. Nothing of either is left running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{FailureKind, RunStatus};
use cattery_tests::CtlHome;
use std::path::Path;

fn alive(pids: &Path) -> Vec<String> {
    std::fs::read_to_string(pids)
        .unwrap_or_default()
        .lines()
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_agent_silent_past_its_inactivity_limit_runs_once_more_then_fails_as_stalled_with_its_last_lines()
 {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let agents = format!(
        "[agents.quiet]\ninactivity_secs = 1\ncommand = [\"sh\", \"-c\", \"echo $$ >> {pids}; echo '{{\\\"type\\\":\\\"log\\\",\\\"level\\\":\\\"info\\\",\\\"msg\\\":\\\"thinking hard\\\"}}'; exec sleep 60\"]\n",
        pids = pids.display()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"quiet\"\n",
        ),
    ]);
    let started = std::time::Instant::now();
    let run = home.start_task("hang", "one");
    let failed = home.wait_run(&run.id, "failed", |r| !r.status.is_live());
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Stalled, "{failure:?}");
    assert!(
        failure.detail.unwrap_or_default().contains("thinking hard"),
        "its last lines"
    );
    assert_eq!(
        failed.steps[0].recoveries, 1,
        "run once more before failing"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "well before its 60 s sleep"
    );
    let runs = std::fs::read_to_string(&pids).unwrap();
    assert_eq!(runs.lines().count(), 2);
    assert!(
        alive(&pids).is_empty(),
        "nothing left running: {:?}",
        alive(&pids)
    );
}

#[test]
fn an_agent_that_lingers_after_its_result_is_killed_and_its_result_kept() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let agents = format!(
        "[agents.lingerer]\ncommand = [\"sh\", \"-c\", \"echo $$ >> {pids}; echo '{{\\\"type\\\":\\\"result\\\",\\\"output\\\":\\\"all done\\\"}}'; exec sleep 300\"]\n",
        pids = pids.display()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"lingerer\"\n",
        ),
    ]);
    let started = std::time::Instant::now();
    let run = home.start_task("linger", "one");
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(done.steps[0].output.as_deref(), Some("all done"));
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert!(alive(&pids).is_empty(), "the lingering process was killed");
}

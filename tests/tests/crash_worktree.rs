//! A daemon killed while a step's agent has half-edited the run's worktree:
//! the step runs again on the worktree as the step first found it, so its
//! work lands once, and what the killed attempt left is kept aside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::Run;
use cattery_tests::gitfix::{checkout_state, git, one_commit_clone};
use cattery_tests::{CtlHome, eventually};

#[test]
fn a_step_rerun_after_kill_9_starts_from_its_first_commit_so_its_edit_lands_once() {
    let clone = tempfile::tempdir().unwrap();
    one_commit_clone(clone.path(), "main", "README", "hi\n");
    let before = checkout_state(clone.path());
    let spy = tempfile::tempdir().unwrap();
    let mark = spy.path().join("first-attempt-hung");
    // The first attempt edits, then hangs until the daemon is killed; the
    // second edits and finishes.
    let agent = spy.path().join("agent.sh");
    std::fs::write(
        &agent,
        format!(
            "echo 'one line per attempt' >> notes.txt\nif [ ! -e '{m}' ]; then touch '{m}'; sleep 120; fi\necho '{{\"type\":\"result\",\"output\":\"noted\"}}'\n",
            m = mark.display()
        ),
    )
    .unwrap();
    let agents = format!(
        "[agents.coder]\ncommand = [\"sh\", \"{}\"]\n",
        agent.display()
    );
    let pipeline = "name = \"One\"\n[[steps]]\nagent = \"coder\"\n";
    let home = CtlHome::with_config(&[("agents.toml", &agents), ("pipelines/one.toml", pipeline)]);
    let task = home.task_under_frame(clone.path(), "Notes", "Write notes.");
    let run: Run = serde_json::from_value(home.ctl(&["start", &task, "one"])).unwrap();
    eventually(
        30,
        || mark.exists().then_some(()),
        || "the agent never started".into(),
    );
    home.kill_daemon();

    let done = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    assert_eq!(done.status, cattery_protocol::RunStatus::Done, "{done:#?}");
    let worktree = done.worktree.clone().unwrap();
    let branch = format!("refs/heads/{}", worktree.branch);
    let notes = git(clone.path(), &["show", &format!("{branch}:notes.txt")]);
    assert_eq!(notes, "one line per attempt", "the edit landed once");
    let step_commits = git(
        clone.path(),
        &[
            "log",
            "--format=%H",
            "--grep=Cattery-Step: 0",
            &format!("{}..{branch}", worktree.base_commit),
        ],
    );
    assert_eq!(step_commits.lines().count(), 1, "one commit for the step");
    let kept = format!("refs/cattery/attempts/{}-step0-recovery1", run.id);
    let kept_notes = git(clone.path(), &["show", &format!("{kept}:notes.txt")]);
    assert_eq!(
        kept_notes, "one line per attempt",
        "the killed attempt's edit is kept"
    );
    assert_eq!(
        checkout_state(clone.path()),
        before,
        "the user's checkout is untouched"
    );
}

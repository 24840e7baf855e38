//! The delivery tail's polling gates against a real daemon and real git:
//! `conflicts` merges the run's branch with the base tip in memory and
//! sends its resolver, `ci` asks the frame's provider (a command, or the
//! `local` checks run on the worktree) and sends its fixer. The helpers are
//! command agents that really edit the worktree; the probes are real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::gate::{GateState, GateVerdict, HelperOutcome};
use cattery_protocol::{FailureKind, GateKind, NotificationType, Run, RunStatus};
use cattery_tests::CtlHome;
use cattery_tests::gitfix::{checkout_state, git, move_branch};
use std::path::Path;

const AGENTS: &str = r#"[agents.coder]
command = ["sh", "-c", "printf 'a = 1\\nb = 20\\nc = 3\\n' > app.py && echo '{\"type\":\"result\",\"output\":\"coded\"}'"]

# Merges base into the branch in the worktree, keeping the branch's side.
[agents.conflict-resolver]
role = "gate-helper"
command = ["sh", "-c", "grep -q 'app.py' \"$CATTERY_CONTEXT\" && git -c user.name=r -c user.email=r@x merge -q --no-edit -X ours trunk && echo '{\"type\":\"result\",\"output\":\"merged trunk in\"}'"]

# A resolver that gives up.
[agents.idle-resolver]
role = "gate-helper"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"could not\"}'"]

[agents.stuck-conflicts]
gate = "conflicts"
helper = "idle-resolver"

# Fixes the `tests` check, but only when told that it failed.
[agents.ci-fixer]
role = "gate-helper"
command = ["sh", "-c", "grep -q 'no fixed.txt' \"$CATTERY_CONTEXT\" && echo ok > fixed.txt && echo '{\"type\":\"result\",\"output\":\"fixed\"}'"]

[agents.slow-fixer]
role = "gate-helper"
command = ["sh", "-c", "sleep 3; echo ok > fixed.txt && echo '{\"type\":\"result\",\"output\":\"fixed slowly\"}'"]

[agents.idle-fixer]
role = "gate-helper"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"tried\"}'"]

[agents.ci]
gate = "ci"
helper = "ci-fixer"
poll_secs = 1
max_polls = 3

[agents.ci-idle]
gate = "ci"
helper = "idle-fixer"
max_attempts = 2
poll_secs = 1

[agents.ci-slow]
gate = "ci"
helper = "slow-fixer"
poll_secs = 1

[agents.merger]
role = "merger"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"ok\",\"merge_assessment\":{\"complexity\":0.1,\"risk\":0.1,\"impact\":0.1,\"rationale\":\"small\"}}'"]

[agents.on-call]
role = "gate-helper"
workspace = "ro"
command = ["sh", "-c", "grep -q 'error rate' \"$CATTERY_CONTEXT\" && echo '{\"type\":\"result\",\"output\":\"revert (culprit confidence 90%). The refund change broke checkout.\"}'"]

[agents.watch]
gate = "post-release-health"
helper = "on-call"
poll_secs = 1
watch_window_secs = 2

[agents.watch-alone]
gate = "post-release-health"
helper = "on-call"
max_attempts = 0
poll_secs = 1
watch_window_secs = 2

[agents.ci-nohelper]
gate = "ci"
poll_secs = 1
max_polls = 2
"#;

fn pipeline(name: &str, steps: &[(&str, bool)]) -> String {
    let mut text = format!("name = \"{name}\"\n");
    for (agent, approval) in steps {
        text.push_str(&format!("[[steps]]\nagent = \"{agent}\"\n"));
        if *approval {
            text.push_str("requires_approval = true\n");
        }
    }
    text
}

fn home() -> CtlHome {
    let pipelines = [
        (
            "pipelines/merge-check.toml",
            pipeline("Merge check", &[("coder", true), ("conflicts", false)]),
        ),
        (
            "pipelines/stuck.toml",
            pipeline("Stuck", &[("coder", true), ("stuck-conflicts", false)]),
        ),
        (
            "pipelines/ci.toml",
            pipeline("CI", &[("coder", false), ("ci", false)]),
        ),
        (
            "pipelines/ci-idle.toml",
            pipeline("CI idle", &[("coder", false), ("ci-idle", false)]),
        ),
        (
            "pipelines/ci-slow.toml",
            pipeline("CI slow", &[("coder", false), ("ci-slow", false)]),
        ),
        (
            "pipelines/no-resolver.toml",
            "name = \"No resolver\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"conflicts\"\nmax_attempts = 0\n".to_owned(),
        ),
        (
            "pipelines/release.toml",
            pipeline(
                "Release",
                &[("coder", false), ("merger", false), ("watch", false)],
            ),
        ),
        (
            "pipelines/release-alone.toml",
            pipeline(
                "Release alone",
                &[("coder", false), ("merger", false), ("watch-alone", false)],
            ),
        ),
        (
            "pipelines/ci-nohelper.toml",
            pipeline("CI no helper", &[("coder", false), ("ci-nohelper", false)]),
        ),
    ];
    let mut files: Vec<(&str, &str)> = vec![("agents.toml", AGENTS)];
    files.extend(pipelines.iter().map(|(p, t)| (*p, t.as_str())));
    CtlHome::with_config(&files)
}

/// A user's clone with `app.py` on trunk, on a branch of their own with
/// an untracked file of theirs.
fn users_clone() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "trunk"]);
    std::fs::write(dir.path().join("app.py"), "a = 1\nb = 2\nc = 3\n").unwrap();
    git(dir.path(), &["add", "app.py"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    git(dir.path(), &["checkout", "-q", "-b", "mine"]);
    std::fs::write(dir.path().join("notes.txt"), "mine\n").unwrap();
    dir
}

fn start(home: &CtlHome, clone: &Path, repo_args: &[&str], pipeline: &str) -> Run {
    let mut args = vec!["--base", "trunk"];
    args.extend_from_slice(repo_args);
    home.start_in_frame(clone, &args, pipeline)
}

fn move_trunk(clone: &Path, file: &str, text: &str) {
    move_branch(clone, "trunk", file, text);
}

fn gate_of(run: &Run) -> &GateState {
    run.steps
        .iter()
        .find_map(|s| s.gate.as_ref())
        .expect("a gate step")
}

#[test]
fn a_base_that_moved_without_conflict_passes_the_conflicts_gate() {
    let home = home();
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let run = start(&home, clone.path(), &[], "merge-check");
    let gate = home.gate(&run.id, GateKind::Approval);
    move_trunk(clone.path(), "other.py", "x = 1\n");
    home.ctl(&["approve", &gate.id]);
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let state = gate_of(&done);
    assert_eq!(state.last_verdict, Some(GateVerdict::Pass));
    assert_eq!(state.attempts, 0, "no helper was needed");
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("Conflict gate passed: the PR merges cleanly with its base.")
    );
    assert_eq!(
        checkout_state(clone.path()),
        before,
        "the user's checkout is untouched"
    );
}

#[test]
fn a_base_that_gains_a_conflicting_commit_while_waiting_at_approval_sends_the_resolver() {
    let home = home();
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let run = start(&home, clone.path(), &[], "merge-check");
    let gate = home.gate(&run.id, GateKind::Approval);
    move_trunk(clone.path(), "app.py", "a = 1\nb = 30\nc = 3\n");
    home.ctl(&["approve", &gate.id]);
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let state = gate_of(&done);
    assert_eq!(state.attempts, 1, "{done:#?}");
    let round = &state.attempt_log[0];
    assert_eq!(round.outcome, HelperOutcome::Completed);
    assert!(
        round.instructions.contains("app.py"),
        "the resolver was told the path: {round:?}"
    );
    assert_eq!(round.summary, "merged trunk in");
    assert_eq!(
        state.last_verdict,
        Some(GateVerdict::Pass),
        "probed again, clean"
    );
    // The branch really holds trunk now: the merge is an ancestor check away.
    let branch = &done.worktree.as_ref().unwrap().branch;
    git(
        clone.path(),
        &["merge-base", "--is-ancestor", "trunk", branch],
    );
    assert_eq!(
        checkout_state(clone.path()),
        before,
        "the user's checkout is untouched"
    );
}

#[test]
fn a_conflict_left_after_the_resolvers_budget_fails_the_run_with_the_reference_message_and_no_card()
{
    let home = home();
    let clone = users_clone();
    let run = start(&home, clone.path(), &[], "stuck");
    let gate = home.gate(&run.id, GateKind::Approval);
    move_trunk(clone.path(), "app.py", "a = 1\nb = 30\nc = 3\n");
    home.ctl(&["approve", &gate.id]);
    let failed = home.finish(&run);
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::JobFailed);
    assert_eq!(
        failure.message,
        "The pull request still conflicts with its base after 3 conflict-resolver attempt(s). Resolve the conflict manually, then retry the run."
    );
    assert!(failure.detail.as_deref().unwrap_or("").contains("app.py"));
    let state = gate_of(&failed);
    assert_eq!(state.attempts, 3);
    assert_eq!(state.attempt_log.len(), 3);
    assert!(
        home.cards_of(&failed).is_empty(),
        "a conflict raises no card"
    );
}

#[test]
fn local_ci_checks_fail_until_the_fixer_fixes_them_in_the_worktree() {
    let home = home();
    let clone = users_clone();
    let run = start(
        &home,
        clone.path(),
        &[
            "--ci",
            "local",
            "--check",
            "tests=test -f fixed.txt || { echo no fixed.txt; exit 1; }",
        ],
        "ci",
    );
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let state = gate_of(&done);
    assert_eq!(state.attempts, 1);
    let round = &state.attempt_log[0];
    assert_eq!(round.failing_checks, ["tests"]);
    assert!(
        round
            .instructions
            .contains("Failing checks: tests (failure)"),
        "{round:?}"
    );
    assert!(
        round.instructions.contains("no fixed.txt"),
        "the fixer got the log tail: {round:?}"
    );
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("CI gate passed: 1 check(s) green.")
    );
    let listed = home.ctl(&["gates", &run.id]);
    assert_eq!(listed[0]["step_index"], 1);
    assert_eq!(listed[0]["gate"]["attempts"], 1);
    assert_eq!(
        listed[0]["gate"]["attempt_log"][0]["failing_checks"][0],
        "tests"
    );
    let human = std::process::Command::new(cattery_tests::cattery())
        .arg("--home")
        .arg(home.path())
        .args(["ctl", "gates", &run.id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("step 1 ci (ci gate): checking · rounds 1/10"),
        "{text}"
    );
    assert!(text.contains("#1 completed: fixed"), "{text}");
}

#[test]
fn ci_still_red_after_the_fixers_budget_raises_ci_failed_and_acting_on_it_retries_the_run() {
    let home = home();
    let clone = users_clone();
    let run = start(
        &home,
        clone.path(),
        &["--ci", "local", "--check", "lint=exit 3"],
        "ci-idle",
    );
    let failed = home.finish(&run);
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::JobFailed);
    assert!(
        failure.message.starts_with(
            "CI did not pass after 2 CI-fixer attempt(s). Failing checks: lint (failure)"
        ),
        "{}",
        failure.message
    );
    let cards = home.cards_of(&failed);
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0].kind, NotificationType::CiFailed);
    assert_eq!(cards[0].title, "CI is still failing for \"Add refunds\"");
    assert!(
        cards[0]
            .body
            .starts_with("The CI-fixer agent tried 2 time(s) but CI is still red.")
    );
    home.ctl(&["act", &cards[0].id]);
    let retried = home.block(&failed.block_id).run_id.clone().unwrap();
    assert_ne!(retried, failed.id, "acting retried the run");
    let again = home.wait_run(&retried, "ended", |r| !r.status.is_live());
    assert_eq!(
        gate_of(&again).attempts,
        2,
        "the retry's gate started its budget afresh"
    );
}

#[test]
fn a_ci_provider_that_stays_pending_fails_as_a_timeout_once_the_poll_budget_is_spent_with_no_card()
{
    let home = home();
    let clone = users_clone();
    let pending = r#"echo '{"checks":[{"name":"build","status":"in_progress","conclusion":null},{"name":"lint","status":"completed","conclusion":"skipped"}]}'"#;
    let run = start(&home, clone.path(), &["--ci", pending], "ci-nohelper");
    let failed = home.finish(&run);
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(
        failure.message,
        "Gate precheck did not settle within its polling budget"
    );
    assert_eq!(gate_of(&failed).polls, 2);
    assert!(
        home.cards_of(&failed).is_empty(),
        "a poll budget raises no card"
    );
}

#[test]
fn a_frame_with_no_ci_provider_passes_the_ci_gate_through_as_skipped() {
    let home = home();
    let clone = users_clone();
    let run = start(&home, clone.path(), &[], "ci");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done);
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("CI gate skipped (no CI status provider configured).")
    );
}

#[test]
fn kill_9_while_a_gate_waits_between_polls_resumes_at_the_next_poll() {
    let home = home();
    let clone = users_clone();
    // Pending for the first two probes, then green: a counter file outside the worktree.
    let counter = tempfile::tempdir().unwrap();
    let count = counter.path().join("n");
    let provider = format!(
        r#"n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; if [ $n -le 2 ]; then echo '{{"checks":[{{"name":"build","status":"queued"}}]}}'; else echo '{{"checks":[{{"name":"build","status":"completed","conclusion":"success"}}]}}'; fi"#,
        c = count.display()
    );
    let run = start(&home, clone.path(), &["--ci", &provider], "ci");
    home.wait_run(&run.id, "probed once", |r| {
        r.steps
            .get(1)
            .and_then(|s| s.gate.as_ref())
            .is_some_and(|g| g.polls >= 1)
    });
    home.kill_daemon();
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("CI gate passed: 1 check(s) green.")
    );
    let probes: u32 = std::fs::read_to_string(&count)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        probes, 3,
        "no probe was lost or repeated beyond the restart's one"
    );
}

#[test]
fn kill_9_during_a_helper_runs_the_helper_again_in_the_same_round() {
    let home = home();
    let clone = users_clone();
    let run = start(
        &home,
        clone.path(),
        &["--ci", "local", "--check", "tests=test -f fixed.txt"],
        "ci-slow",
    );
    home.wait_run(&run.id, "sent its helper", |r| {
        r.steps
            .get(1)
            .and_then(|s| s.gate.as_ref())
            .is_some_and(|g| g.attempts == 1)
            && r.steps[1]
                .job
                .as_ref()
                .is_some_and(|j| j.dispatched_at.is_some())
    });
    home.kill_daemon();
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let state = gate_of(&done);
    assert_eq!(
        state.attempts, 1,
        "the lost helper ran again in its own round"
    );
    assert_eq!(state.attempt_log.len(), 1);
    assert_eq!(done.steps[1].recoveries, 1);
}

const HEALTHY: &str = r#"echo '{"status":"healthy","signals":[{"id":"m1","name":"checkout error rate","state":"ok"}]}'"#;
const REGRESSED: &str = r#"echo '{"status":"regressed","signals":[{"id":"m1","name":"checkout error rate","state":"alert","detail":"4% errors"}]}'"#;

#[test]
fn a_release_watch_passes_at_once_when_the_block_was_not_merged() {
    let home = home();
    let clone = users_clone();
    let run = start(&home, clone.path(), &["--health", REGRESSED], "release");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(
        done.steps[2].output.as_deref(),
        Some(
            "Post-release health gate skipped: the PR was not merged (nothing deployed to watch)."
        )
    );
}

#[test]
fn a_healthy_release_is_watched_through_its_window_from_gate_entry_then_passes() {
    let home = home();
    let clone = users_clone();
    let run = start(
        &home,
        clone.path(),
        &["--merge", "local", "--health", HEALTHY],
        "release",
    );
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(
        done.steps[2].output.as_deref(),
        Some("Post-release health gate passed: 1 signal(s) healthy through the watch window.")
    );
    let gate = gate_of(&done);
    let watched = done.steps[2].finished_at.unwrap() - gate.watch_since.unwrap();
    assert!(
        watched >= 2_000,
        "the window ran from gate entry: {watched} ms"
    );
    assert_eq!(
        home.block(&done.block_id).status,
        cattery_protocol::BlockStatus::Done
    );
}

#[test]
fn a_regression_sends_on_call_once_raises_release_regression_and_completes_the_step() {
    let home = home();
    let clone = users_clone();
    let run = start(
        &home,
        clone.path(),
        &["--merge", "local", "--health", REGRESSED],
        "release",
    );
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(
        done.steps[2].output.as_deref(),
        Some(
            "On-call investigation: revert (culprit confidence 90%). The refund change broke checkout."
        )
    );
    let gate = gate_of(&done);
    assert_eq!(
        (gate.attempts, gate.attempt_log.len()),
        (1, 1),
        "on-call ran once"
    );
    assert_eq!(gate.failing_checks, ["checkout error rate"]);
    let cards = home.cards_of(&done);
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0].kind, NotificationType::ReleaseRegression);
    assert!(
        cards[0].body.contains("revert (culprit confidence 90%)"),
        "{}",
        cards[0].body
    );
}

#[test]
fn a_regression_with_no_on_call_allowed_fails_the_run_and_blocks_the_merged_block() {
    let home = home();
    let clone = users_clone();
    let run = start(
        &home,
        clone.path(),
        &["--merge", "local", "--health", REGRESSED],
        "release-alone",
    );
    let failed = home.finish(&run);
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.as_ref().unwrap();
    assert!(
        failure.message.starts_with(
            "Post-release health regressed and no on-call investigation was configured."
        ),
        "{}",
        failure.message
    );
    assert_eq!(
        home.block(&failed.block_id).status,
        cattery_protocol::BlockStatus::Blocked
    );
    let cards = home.cards_of(&failed);
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0].kind, NotificationType::ReleaseRegression);
}

#[test]
fn max_attempts_0_on_the_conflicts_step_fails_at_the_first_conflict_with_no_helper() {
    let home = home();
    let clone = users_clone();
    let run = start(&home, clone.path(), &[], "no-resolver");
    let gate = home.gate(&run.id, GateKind::Approval);
    move_trunk(clone.path(), "app.py", "a = 1\nb = 30\nc = 3\n");
    home.ctl(&["approve", &gate.id]);
    let failed = home.finish(&run);
    assert_eq!(
        failed.failure.as_ref().unwrap().message,
        "The pull request still conflicts with its base after 0 conflict-resolver attempt(s). Resolve the conflict manually, then retry the run."
    );
    assert!(gate_of(&failed).attempt_log.is_empty(), "no helper ran");
}

#[test]
fn kill_9_in_the_middle_of_a_probe_probes_again_after_the_restart() {
    let home = home();
    let clone = users_clone();
    let counter = tempfile::tempdir().unwrap();
    let count = counter.path().join("n");
    let started = counter.path().join("started");
    // The first probe hangs (the daemon is killed under it); the next is green.
    let provider = format!(
        r#"n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; if [ $n -eq 1 ]; then touch {s}; sleep 30; fi; echo '{{"checks":[{{"name":"build","status":"completed","conclusion":"success"}}]}}'"#,
        c = count.display(),
        s = started.display()
    );
    let run = start(&home, clone.path(), &["--ci", &provider], "ci");
    cattery_tests::eventually(
        60,
        || started.exists().then_some(()),
        || "the first probe never started".to_owned(),
    );
    home.kill_daemon();
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("CI gate passed: 1 check(s) green.")
    );
    let probes: u32 = std::fs::read_to_string(&count)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(probes, 2, "the interrupted probe ran again once");
}

/// Runs the shipped `gh` CI provider with a stand-in `gh` on PATH that
/// answers `gh pr checks` as GitHub's CLI does (its `--jq` through jq).
fn gh_provider(checks: &str, exit: i32, stderr: &str) -> (bool, String) {
    let fake = tempfile::tempdir().unwrap();
    let gh = fake.path().join("gh");
    std::fs::write(
        &gh,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --jq ] && expr=\"$2\"; shift; done\necho '{stderr}' >&2\nprintf '%s' '{checks}' | jq -c \"$expr\"\nexit {exit}\n"
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&gh)
        .status()
        .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/providers/ci-gh.sh");
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = std::process::Command::new("sh")
        .arg(script)
        .env("PATH", path)
        .env("CATTERY_BRANCH", "cattery/add-refunds-1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_gh_provider_maps_a_pull_requests_checks_and_a_branch_without_one_has_none() {
    assert!(
        std::process::Command::new("jq")
            .arg("--version")
            .output()
            .is_ok(),
        "this test needs jq (apt-get install jq), as gh's --jq does"
    );
    let checks = r#"[{"name":"build","bucket":"fail","link":"https://ci.test/1"},{"name":"lint","bucket":"pending","link":"https://ci.test/2"},{"name":"docs","bucket":"skipping","link":""}]"#;
    // gh exits 8 while checks are pending, with its answer printed.
    let (ok, out) = gh_provider(checks, 8, "");
    assert!(ok, "{out}");
    let report: cattery_protocol::gate::CiReport = serde_json::from_str(&out).unwrap();
    let seen: Vec<_> = report
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.status.as_str(), c.conclusion.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("build", "completed", Some("failure")),
            ("lint", "in_progress", None),
            ("docs", "completed", Some("skipped")),
        ]
    );
    assert_eq!(report.checks[0].url.as_deref(), Some("https://ci.test/1"));
    let (ok, out) = gh_provider(
        "[]",
        1,
        "no pull requests found for branch \"cattery/add-refunds-1\"",
    );
    assert!(ok);
    assert_eq!(
        out.trim(),
        r#"{"checks":[]}"#,
        "no pull request: no checks, so the gate passes"
    );
    let (ok, _) = gh_provider("[]", 4, "HTTP 401: Bad credentials");
    assert!(!ok, "a real gh failure is an unreadable poll, not a pass");
}

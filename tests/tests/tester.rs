//! The tester fix loop against a real daemon and real git: a tester's
//! report (an agent's `test_report`, or the built-in `test-command`
//! tester running the frame's test command on the worktree) sends a fixer
//! that edits the worktree, then the tester runs again, within a budget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::gate::HelperOutcome;
use cattery_protocol::tester::TestLoop;
use cattery_protocol::{FailureKind, NotificationType, Run, RunStatus};
use cattery_tests::CtlHome;
use cattery_tests::gitfix::git;

const AGENTS: &str = r#"[agents.coder]
command = ["sh", "-c", "printf 'def refund(amount):\\n    return amount * 2\\n' > refund.py && echo '{\"type\":\"result\",\"output\":\"coded\"}'"]

# Fixes the refund, but only when the tester's report says what is wrong.
[agents.fixer]
command = ["sh", "-c", "grep -q 'refund doubles' \"$CATTERY_CONTEXT\" && printf 'def refund(amount):\\n    return amount\\n' > refund.py && touch fixed && echo '{\"type\":\"result\",\"output\":\"fixed the refund\"}'"]

[agents.broken-fixer]
command = ["sh", "-c", "echo 'cannot' >&2; exit 2"]

[agents.test-command]
role = "tester"
runner = "test-command"

[agents.picky]
role = "tester"
fixer = "broken-fixer"
max_attempts = 2
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"still wrong\",\"test_report\":{\"greenlight\":false,\"summary\":\"refund is wrong\",\"concerns\":[{\"title\":\"refund over the payment\",\"detail\":\"refunds 2x\",\"severity\":\"high\"}]}}'"]

# Round one: greenlight with a low concern (not enough for a first round);
# after the fix: greenlight with a medium concern (tolerated later).
[agents.fussy]
role = "tester"
command = ["sh", "-c", "if [ -f fixed ]; then echo '{\"type\":\"result\",\"output\":\"ok now\",\"test_report\":{\"greenlight\":true,\"summary\":\"fine\",\"concerns\":[{\"title\":\"naming\",\"detail\":\"d\",\"severity\":\"medium\"}]}}'; else echo '{\"type\":\"result\",\"output\":\"nearly\",\"test_report\":{\"greenlight\":true,\"summary\":\"the refund doubles\",\"concerns\":[{\"title\":\"refund doubles\",\"detail\":\"2x\",\"severity\":\"low\"}]}}'; fi"]

[agents.aborter]
role = "tester"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"no\",\"test_report\":{\"greenlight\":true,\"abort\":{\"reason\":\"the test database is not reachable\"}}}'"]
"#;

fn home() -> CtlHome {
    let pipeline = |tester: &str| {
        format!(
            "name = \"{tester}\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"{tester}\"\n"
        )
    };
    let pipelines: Vec<(String, String)> = ["test-command", "picky", "fussy", "aborter"]
        .iter()
        .map(|t| (format!("pipelines/{t}.toml"), pipeline(t)))
        .collect();
    let mut files: Vec<(&str, &str)> = vec![("agents.toml", AGENTS)];
    files.extend(pipelines.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    CtlHome::with_config(&files)
}

fn clone() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("README"), "payments\n").unwrap();
    git(dir.path(), &["add", "README"]);
    git(
        dir.path(),
        &[
            "-c",
            "user.name=u",
            "-c",
            "user.email=u@x",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    );
    dir
}

fn loop_of(run: &Run) -> &TestLoop {
    run.steps[1].test.as_ref().expect("a tester step")
}

#[test]
fn the_test_command_fails_until_the_fixer_fixes_the_code_in_the_worktree() {
    let home = home();
    let clone = clone();
    let test =
        "grep -q 'return amount$' refund.py || { echo 'the refund doubles the amount'; exit 1; }";
    let run = home.start_in_frame(clone.path(), &["--test-command", test], "test-command");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let test = loop_of(&done);
    assert_eq!(test.attempts, 1, "one fixer round");
    assert_eq!(test.attempt_log[0].outcome, HelperOutcome::Completed);
    assert_eq!(test.attempt_log[0].summary, "fixed the refund");
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("The test command passed.")
    );
    assert!(test.last_report.as_ref().unwrap().greenlight);
    let worktree = done.worktree.as_ref().unwrap();
    let fixed = git(
        clone.path(),
        &["show", &format!("{}:refund.py", worktree.branch)],
    );
    assert!(
        fixed.contains("return amount") && !fixed.contains("* 2"),
        "the fix is committed on the branch: {fixed}"
    );
}

#[test]
fn a_low_concern_loops_the_fixer_in_the_first_round_and_a_medium_one_is_tolerated_later() {
    let home = home();
    let clone = clone();
    let run = home.start_in_frame(clone.path(), &[], "fussy");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let test = loop_of(&done);
    assert_eq!(test.attempts, 1);
    assert_eq!(test.attempt_log[0].concerns[0].title, "refund doubles");
    assert_eq!(done.steps[1].output.as_deref(), Some("ok now"));
}

#[test]
fn a_tester_that_never_greenlights_fails_after_its_budget_and_a_failing_fixer_never_fails_the_run()
{
    let home = home();
    let clone = clone();
    let run = home.start_in_frame(clone.path(), &[], "picky");
    let failed = home.finish(&run);
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Agent);
    assert_eq!(
        failure.message,
        "Tester withheld its greenlight after 2 fix attempt(s). Concerns: refund over the payment (high)"
    );
    let test = loop_of(&failed);
    assert_eq!(test.attempt_log.len(), 2, "both fixer rounds were logged");
    assert!(
        test.attempt_log
            .iter()
            .all(|a| a.outcome == HelperOutcome::Failed)
    );
    let card = home.card_of(&failed);
    assert_eq!(card.kind, NotificationType::TestFailed);
    assert_eq!(card.title, "Tests are still failing for \"Add refunds\"");
    assert!(
        card.body
            .starts_with("The Fixer agent tried 2 time(s) but the Tester still won't greenlight."),
        "{}",
        card.body
    );
}

#[test]
fn a_tester_abort_stops_the_run_for_a_human_without_a_fixer() {
    let home = home();
    let clone = clone();
    let run = home.start_in_frame(clone.path(), &[], "aborter");
    let failed = home.finish(&run);
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Agent);
    assert_eq!(
        failure.message,
        "Testing could not run: the test database is not reachable"
    );
    assert_eq!(loop_of(&failed).attempts, 0, "no fixer was sent");
    let card = home.card_of(&failed);
    assert_eq!(card.title, "Testing could not run for \"Add refunds\"");
    assert_eq!(
        card.body,
        "The Tester stopped the run without attempting a fix: the test database is not reachable. Resolve the cause, then retry the run."
    );
}

#[test]
fn the_test_command_tester_on_a_frame_without_one_fails_preflight_naming_the_fix() {
    let home = home();
    let clone = clone();
    let run = home.start_in_frame(clone.path(), &[], "test-command");
    let failed = home.finish(&run);
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.kind, FailureKind::Preflight);
    assert!(
        failure.message.contains("the frame sets none"),
        "{}",
        failure.message
    );
    assert!(
        failure
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("--test-command")
    );
}

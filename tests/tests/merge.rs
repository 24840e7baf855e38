//! The merger step finalises a run's branch by its frame's `merge` mode:
//! `branch` leaves it, `local` merges into base by plumbing (never behind a
//! checkout), `pr` pushes and opens a pull request. Real git, real clones;
//! the user's checkout is byte-identical after every mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{BlockStatus, Delivery, GateKind, NotificationType, Run, RunStatus};
use cattery_tests::CtlHome;
use cattery_tests::gitfix::{checkout_state, git, move_branch};
use std::path::Path;

/// A user's clone with `trunk` and, if `on` is not trunk, a checked-out
/// branch `on`; with a staged file and an uncommitted edit.
fn users_clone(on: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "trunk"]);
    std::fs::write(dir.path().join("app.py"), "a = 1\nb = 2\nc = 3\n").unwrap();
    git(dir.path(), &["add", "app.py"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    if on != "trunk" {
        git(dir.path(), &["checkout", "-q", "-b", on]);
    }
    std::fs::write(dir.path().join("staged.py"), "x = 1\n").unwrap();
    git(dir.path(), &["add", "staged.py"]);
    std::fs::write(dir.path().join("app.py"), "edited by the user\n").unwrap();
    dir
}

/// A user's clone on trunk whose remote `origin` is a bare repository.
fn clone_with_remote() -> (tempfile::TempDir, tempfile::TempDir) {
    let clone = users_clone("trunk");
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare"]);
    let url = remote.path().display().to_string();
    git(clone.path(), &["remote", "add", "origin", &url]);
    (clone, remote)
}

fn start(home: &CtlHome, clone: &Path, repo_args: &[&str], pipeline: &str) -> Run {
    let mut args = vec!["--base", "trunk"];
    args.extend_from_slice(repo_args);
    home.start_in_frame(clone, &args, pipeline)
}

fn move_trunk(clone: &Path, file: &str, text: &str) -> String {
    move_branch(clone, "trunk", file, text)
}

const AGENTS: &str = r#"[agents.coder]
command = ["sh", "-c", "echo 'def refund(): pass' > refunds.py && echo '{\"type\":\"result\",\"output\":\"coded\"}'"]

[agents.clasher]
command = ["sh", "-c", "printf 'a = 1\\nb = 20\\nc = 3\\n' > app.py && echo '{\"type\":\"result\",\"output\":\"clashed\"}'"]

[agents.risky-merger]
role = "merger"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"careful\",\"merge_assessment\":{\"complexity\":0.1,\"risk\":0.9,\"impact\":0.1,\"rationale\":\"rewrites the ledger\"}}'"]

[agents.blank-merger]
role = "merger"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"fine\",\"merge_assessment\":{\"complexity\":0.0,\"risk\":0.0,\"impact\":0.0,\"rationale\":\"\"}}'"]

[agents.trailer]
command = ["sh", "-c", "sleep 5; echo '{\"type\":\"result\",\"output\":\"watched\"}'"]

# Low scores with a rationale: within the balanced preset's ceilings.
[agents.merger]
role = "merger"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"looks good\",\"merge_assessment\":{\"complexity\":0.1,\"risk\":0.1,\"impact\":0.1,\"rationale\":\"one small function\"}}'"]
"#;

fn home(extra: &[(&str, &str)]) -> CtlHome {
    let mut files = vec![
        ("agents.toml", AGENTS),
        (
            "pipelines/ship.toml",
            "name = \"Ship\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"merger\"\n",
        ),
        (
            "pipelines/gated.toml",
            "name = \"Gated\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"merger\"\n",
        ),
        (
            "pipelines/risky.toml",
            "name = \"Risky\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"risky-merger\"\n",
        ),
        (
            "pipelines/blank.toml",
            "name = \"Blank\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"blank-merger\"\n",
        ),
        (
            "pipelines/tail.toml",
            "name = \"Tail\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"merger\"\n[[steps]]\nagent = \"trailer\"\n",
        ),
        (
            "pipelines/clash.toml",
            "name = \"Clash\"\n[[steps]]\nagent = \"clasher\"\nrequires_approval = true\n[[steps]]\nagent = \"merger\"\n",
        ),
    ];
    files.extend_from_slice(extra);
    CtlHome::with_config(&files)
}

#[test]
fn branch_mode_leaves_the_branch_sets_pr_ready_and_raises_a_card_naming_the_branch_and_its_stat() {
    let home = home(&[]);
    let clone = users_clone("trunk");
    let before = checkout_state(clone.path());
    let trunk = git(clone.path(), &["rev-parse", "trunk"]);
    let run = start(&home, clone.path(), &[], "ship");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let branch = done.worktree.clone().unwrap().branch;
    assert!(
        matches!(&done.delivery, Some(Delivery::Branch { branch: b, files: 1, insertions: 1, .. }) if *b == branch),
        "{:?}",
        done.delivery
    );
    assert_eq!(home.block(&done.block_id).status, BlockStatus::PrReady);
    let card = home.card_of(&done);
    assert_eq!(card.kind, NotificationType::PipelineComplete);
    assert!(
        card.body.contains(&branch) && card.body.contains("1 file +1 −0"),
        "{}",
        card.body
    );
    assert_eq!(
        git(clone.path(), &["rev-parse", "trunk"]),
        trunk,
        "base untouched"
    );
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn local_mode_fast_forwards_a_base_that_did_not_move_and_is_not_checked_out() {
    let home = home(&[]);
    let clone = users_clone("dev");
    let before = checkout_state(clone.path());
    let run = start(&home, clone.path(), &["--merge", "local"], "ship");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let branch = done.worktree.clone().unwrap().branch;
    let tip = git(clone.path(), &["rev-parse", &branch]);
    assert_eq!(
        git(clone.path(), &["rev-parse", "trunk"]),
        tip,
        "fast-forwarded"
    );
    assert!(
        matches!(&done.delivery, Some(Delivery::Merged { fast_forward: true, commit, .. }) if *commit == tip)
    );
    assert_eq!(home.block(&done.block_id).status, BlockStatus::Done);
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn local_mode_makes_a_merge_commit_when_base_moved_without_conflict() {
    let home = home(&[]);
    let clone = users_clone("dev");
    let run = start(&home, clone.path(), &["--merge", "local"], "gated");
    let gate = home.gate(&run.id, GateKind::Approval);
    let moved = move_trunk(clone.path(), "other.py", "y = 2\n");
    let before = checkout_state(clone.path());
    home.ctl(&["approve", &gate.id]);
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let branch = done.worktree.clone().unwrap().branch;
    let merge = git(clone.path(), &["rev-parse", "trunk"]);
    assert_eq!(git(clone.path(), &["rev-parse", "trunk^1"]), moved);
    assert_eq!(
        git(clone.path(), &["rev-parse", "trunk^2"]),
        git(clone.path(), &["rev-parse", &branch])
    );
    let files = git(clone.path(), &["ls-tree", "--name-only", "trunk"]);
    assert!(
        files.contains("other.py") && files.contains("refunds.py"),
        "{files}"
    );
    assert!(
        matches!(&done.delivery, Some(Delivery::Merged { fast_forward: false, commit, .. }) if *commit == merge)
    );
    assert!(
        git(clone.path(), &["log", "-1", "--format=%B", "trunk"])
            .contains(&format!("Cattery-Run: {}", run.id))
    );
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn local_mode_does_not_merge_behind_a_checked_out_base_and_its_card_names_the_command() {
    let home = home(&[]);
    let clone = users_clone("trunk");
    let before = checkout_state(clone.path());
    let trunk = git(clone.path(), &["rev-parse", "trunk"]);
    let run = start(&home, clone.path(), &["--merge", "local"], "ship");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let branch = done.worktree.clone().unwrap().branch;
    assert_eq!(
        git(clone.path(), &["rev-parse", "trunk"]),
        trunk,
        "not merged"
    );
    assert_eq!(home.block(&done.block_id).status, BlockStatus::PrReady);
    let card = home.card_of(&done);
    assert_eq!(card.kind, NotificationType::MergeReview);
    let command = format!("git -C {} merge {branch}", clone.path().display());
    assert!(card.body.contains(&command), "{}", card.body);
    assert!(card.body.contains("checked out at"), "{}", card.body);
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn local_mode_leaves_a_conflicting_merge_to_a_human_as_merge_failed_and_leaves_base_alone() {
    let home = home(&[]);
    let clone = users_clone("dev");
    let run = start(&home, clone.path(), &["--merge", "local"], "clash");
    let gate = home.gate(&run.id, GateKind::Approval);
    let moved = move_trunk(clone.path(), "app.py", "a = 1\nb = 99\nc = 3\n");
    let before = checkout_state(clone.path());
    home.ctl(&["approve", &gate.id]);
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert!(
        matches!(
            &done.delivery,
            Some(Delivery::Review {
                reason: cattery_protocol::ReviewReason::MergeFailed,
                ..
            })
        ),
        "{:?}",
        done.delivery
    );
    assert_eq!(home.block(&done.block_id).status, BlockStatus::PrReady);
    assert_eq!(home.card_of(&done).kind, NotificationType::MergeReview);
    assert_eq!(
        git(clone.path(), &["rev-parse", "trunk"]),
        moved,
        "base left alone"
    );
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn pr_mode_pushes_opens_a_request_through_the_pr_command_and_merges_it_within_the_ceilings() {
    let recorded = tempfile::tempdir().unwrap();
    let args = recorded.path().join("args");
    let body = recorded.path().join("body");
    let merged = recorded.path().join("merged");
    let config = format!(
        "executor = \"process\"\nport = 0\npr_command = [\"sh\", \"-c\", \"echo \\\"$@\\\" > {args} && cp \\\"$4\\\" {body} && echo https://example.test/pulls/7\", \"pr\", \"{{branch}}\", \"{{base}}\", \"{{title}}\", \"{{body}}\", \"{{remote}}\"]\npr_merge_command = [\"sh\", \"-c\", \"echo \\\"$@\\\" > {merged}\", \"merge\", \"{{url}}\"]\n",
        args = args.display(),
        body = body.display(),
        merged = merged.display()
    );
    let home = home(&[("config.toml", &config)]);
    let (clone, remote) = clone_with_remote();
    let before = checkout_state(clone.path());
    let run = start(
        &home,
        clone.path(),
        &["--remote", "origin", "--merge", "pr"],
        "ship",
    );
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let branch = done.worktree.clone().unwrap().branch;
    assert_eq!(
        git(remote.path(), &["rev-parse", &branch]),
        git(clone.path(), &["rev-parse", &branch]),
        "the branch reached the remote"
    );
    let said = std::fs::read_to_string(&args).unwrap();
    assert!(
        said.starts_with(&format!("{branch} trunk Add refunds "))
            && said.trim().ends_with(" origin"),
        "{said}"
    );
    let described = std::fs::read_to_string(&body).unwrap();
    assert!(
        described.contains("Refund a payment.") && described.contains(&run.id),
        "{described}"
    );
    assert_eq!(
        done.pull_request.clone().unwrap().url,
        "https://example.test/pulls/7"
    );
    assert!(
        matches!(&done.delivery, Some(Delivery::PullRequestMerged { remote, .. }) if remote == "origin"),
        "within the ceilings the request is merged: {:?}",
        done.delivery
    );
    assert_eq!(
        std::fs::read_to_string(&merged).unwrap().trim(),
        "https://example.test/pulls/7",
        "pr_merge_command got the request's URL"
    );
    assert_eq!(home.block(&done.block_id).status, BlockStatus::Done);
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn pr_mode_without_the_pr_program_fails_the_merger_step_clearly_and_the_run_can_be_retried() {
    let home = home(&[(
        "config.toml",
        "executor = \"process\"\nport = 0\npr_command = [\"cattery-no-such-gh\", \"pr\", \"create\", \"--head\", \"{branch}\"]\n",
    )]);
    let (clone, _remote) = clone_with_remote();
    let before = checkout_state(clone.path());
    let run = start(
        &home,
        clone.path(),
        &["--remote", "origin", "--merge", "pr"],
        "ship",
    );
    let failed = home.finish(&run);
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.clone().unwrap();
    assert!(
        failure
            .message
            .contains("`cattery-no-such-gh` is not installed"),
        "{}",
        failure.message
    );
    assert!(
        failure.hint.clone().unwrap().contains("pr_command"),
        "{failure:?}"
    );
    let retried: Run = serde_json::from_value(home.ctl(&["retry", &run.id])).unwrap();
    assert_eq!(retried.current_step, 1, "the retry resumes at the merger");
    home.finish(&retried);
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn a_mergers_assessment_is_kept_on_its_step_for_the_merge_policy() {
    let agents = r#"[agents.merger]
role = "merger"
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"ready\",\"merge_assessment\":{\"complexity\":0.2,\"risk\":0.1,\"impact\":0.3,\"rationale\":\"one function, covered\"}}'"]
"#;
    let home = CtlHome::with_config(&[
        ("agents.toml", agents),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"merger\"\n",
        ),
    ]);
    let run = home.start_task("merge me", "one");
    let done = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    let assessment = done.steps[0].merge_assessment.clone().expect("kept");
    assert_eq!(
        (assessment.complexity, assessment.risk, assessment.impact),
        (0.2, 0.1, 0.3)
    );
    assert!(assessment.is_credible());
}

fn review_of(run: &Run) -> (cattery_protocol::ReviewReason, Vec<String>) {
    match &run.delivery {
        Some(Delivery::Review {
            reason, exceeded, ..
        }) => (*reason, exceeded.clone()),
        other => panic!("not left for review: {other:?}"),
    }
}

#[test]
fn over_a_ceiling_the_merger_raises_merge_review_sets_pr_ready_and_ctl_merge_then_merges() {
    let home = home(&[]);
    let clone = users_clone("dev");
    let before = checkout_state(clone.path());
    let trunk = git(clone.path(), &["rev-parse", "trunk"]);
    let run = start(&home, clone.path(), &["--merge", "local"], "risky");
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done, "the run is not parked");
    assert_eq!(
        review_of(&done),
        (
            cattery_protocol::ReviewReason::ExceededThresholds,
            vec!["risk".to_owned()]
        )
    );
    assert_eq!(home.block(&done.block_id).status, BlockStatus::PrReady);
    assert_eq!(
        git(clone.path(), &["rev-parse", "trunk"]),
        trunk,
        "nothing merged yet"
    );
    let card = home.card_of(&done);
    assert_eq!(card.kind, NotificationType::MergeReview);
    assert_eq!(card.title, "Review PR for \"Add refunds\"");
    assert!(
        card.body.starts_with("The change is over the merge policy's ceilings (risk). Its scores were complexity 10%, risk 90%, impact 10%. rewrites the ledger"),
        "{}",
        card.body
    );
    assert!(card.body.contains("1 file"), "the diff stat: {}", card.body);
    let merged: Run = serde_json::from_value(home.ctl(&["merge", &done.block_id])).unwrap();
    assert!(
        matches!(merged.delivery, Some(Delivery::Merged { .. })),
        "{:?}",
        merged.delivery
    );
    assert_eq!(home.block(&done.block_id).status, BlockStatus::Done);
    let branch = &done.worktree.as_ref().unwrap().branch;
    git(
        clone.path(),
        &["merge-base", "--is-ancestor", branch, "trunk"],
    );
    assert_eq!(checkout_state(clone.path()), before);
    let (code, _, err) = home.cli(&["ctl", "merge", &done.block_id]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no_pr_to_merge"),
        "a second merge is refused: {err}"
    );
}

#[test]
fn acting_on_a_merge_review_card_merges_and_dismissing_one_leaves_the_block_pr_ready() {
    let home = home(&[]);
    let clone = users_clone("dev");
    let acted = home.finish(&start(&home, clone.path(), &["--merge", "local"], "risky"));
    home.ctl(&["act", &home.card_of(&acted).id]);
    assert_eq!(home.block(&acted.block_id).status, BlockStatus::Done);

    let other = users_clone("dev");
    let dismissed = home.finish(&start(&home, other.path(), &["--merge", "local"], "risky"));
    home.ctl(&["dismiss", &home.card_of(&dismissed).id]);
    assert_eq!(home.block(&dismissed.block_id).status, BlockStatus::PrReady);
}

#[test]
fn an_empty_rationale_never_auto_merges_and_manual_review_never_does() {
    let home = home(&[]);
    let clone = users_clone("dev");
    let blank = home.finish(&start(&home, clone.path(), &["--merge", "local"], "blank"));
    assert_eq!(
        review_of(&blank).0,
        cattery_protocol::ReviewReason::NoRationale
    );
    let other = users_clone("dev");
    let manual = start(
        &home,
        other.path(),
        &["--merge", "local", "--risk-preset", "manual-review"],
        "ship",
    );
    let manual = home.finish(&manual);
    assert_eq!(
        review_of(&manual).0,
        cattery_protocol::ReviewReason::AutoMergeDisabled
    );
    assert_eq!(home.block(&manual.block_id).status, BlockStatus::PrReady);
}

#[test]
fn a_merged_blocks_done_status_is_sticky_while_a_later_step_runs() {
    let home = home(&[]);
    let clone = users_clone("dev");
    let run = start(&home, clone.path(), &["--merge", "local"], "tail");
    home.wait_run(&run.id, "ran its trailing step", |r| {
        r.current_step == 2 && r.steps[2].state == cattery_protocol::StepState::Working
    });
    assert_eq!(
        home.block(&run.block_id).status,
        BlockStatus::Done,
        "merged, then the trailing step runs"
    );
    let done = home.finish(&run);
    assert_eq!(done.status, RunStatus::Done);
    assert_eq!(home.block(&run.block_id).status, BlockStatus::Done);
}

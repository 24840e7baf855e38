//! The Docker executor and the run's worktree: mounted at /workspace as
//! each kind gets it (rw, ro, none), and what a container writes belongs
//! to the clone's owner, never root. Says SKIPPED without an engine,
//! unless CATTERY_REQUIRE_DOCKER=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::service::ops::NewBlock;
use cattery_protocol::*;
use cattery_tests::gitfix::git;
use cattery_tests::{Home, docker};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// The clone's owner when the test runs as root: not root.
const OWNER: u32 = 1000;

/// A clone on `trunk` with one commit, given to `owner` if one is named.
fn clone(owner: Option<u32>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "trunk"]);
    std::fs::write(dir.path().join("app.py"), "print('hi')\n").unwrap();
    git(dir.path(), &["add", "app.py"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    std::fs::write(dir.path().join("app.py"), "print('edited by the user')\n").unwrap();
    if let Some(owner) = owner {
        let status = Command::new("chown")
            .args(["-R", &format!("{owner}:{owner}")])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    dir
}

fn owners_under(dir: &Path) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        let meta = std::fs::symlink_metadata(&next).unwrap();
        found.push((next.display().to_string(), meta.uid()));
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&next).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found
}

const RESULT: &str = r#"echo '{\"type\":\"result\",\"output\":\"'\"$out\"'\"}'"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_gets_the_worktree_as_its_kind_says_and_what_it_writes_is_the_clone_owners() {
    // As root, the clone belongs to another user; else to whoever runs this.
    let owner = cattery_daemon::os::is_root().then_some(OWNER);
    mounts_and_owners(owner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_owned_clones_agent_runs_as_nobody_and_what_it_writes_goes_back_to_root() {
    if !cattery_daemon::os::is_root() {
        eprintln!("SKIPPED: only root can own a clone as root");
        return;
    }
    mounts_and_owners(None).await;
}

/// Runs rw, ro and none kinds in containers on a clone owned by `owner`
/// (this process's user when `None`) and checks who owns what.
async fn mounts_and_owners(owner: Option<u32>) {
    cattery_daemon::git::trust_named_clones();
    let agents = format!(
        r#"[agents.coder]
image_command = ["sh", "-c", "echo made > made.txt && out=$(pwd):$(id -u); {RESULT}"]

[agents.peeker]
workspace = "ro"
image_command = ["sh", "-c", "if echo x > /workspace/ro.txt 2>/dev/null; then out=wrote; else out=refused:$(cat /workspace/made.txt); fi; {RESULT}"]

[agents.blind]
workspace = "none"
image_command = ["sh", "-c", "if [ -e /workspace ]; then out=sees; else out=none; fi; {RESULT}"]
"#
    );
    let pipeline = "name = \"Mounts\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"peeker\"\n[[steps]]\nagent = \"blind\"\n";
    let id = format!("test-wt-{}-{}", std::process::id(), owner.unwrap_or(0));
    let Some(executor) = docker(&id).await else {
        return;
    };
    let home = Home::with_executor(
        &[
            ("agents.toml", &agents),
            ("pipelines/mounts.toml", pipeline),
        ],
        Arc::new(executor),
    );
    let clone = clone(owner);
    let before = cattery_tests::gitfix::checkout_state(clone.path());
    let owner = clone.path().metadata().unwrap().uid();
    // Agents never run as root: a root-owned clone's run as nobody.
    let agent_uid = if owner == 0 { 65534 } else { owner };
    let frame = home
        .daemon
        .add_block(NewBlock {
            level: BlockLevel::Frame,
            parent_id: None,
            title: "Payments".into(),
            description: String::new(),
            repository: Some(RepositorySpec {
                path: clone.path().display().to_string(),
                ..RepositorySpec::default()
            }),
        })
        .unwrap();
    let task = home.add_block(BlockLevel::Task, Some(&frame.id), "Add refunds", "");
    let run = home.daemon.start(&task.id, "mounts", "ana").await.unwrap();
    let parked = home
        .wait_run(&run.id, 60, |r| {
            r.pending_gate().is_some() || !r.status.is_live()
        })
        .await;
    let gate = parked
        .pending_gate()
        .unwrap_or_else(|| panic!("{parked:#?}"));
    assert_eq!(
        parked.steps[0].output.as_deref(),
        Some(format!("/workspace:{agent_uid}").as_str()),
        "the coder worked in /workspace as the clone's owner (never root)"
    );
    let expected_uid = owner;
    let worktree = parked.worktree.clone().unwrap();
    let made = Path::new(&worktree.path).join("made.txt");
    assert_eq!(made.metadata().unwrap().uid(), expected_uid);
    let by_root: Vec<_> = owners_under(Path::new(&worktree.path))
        .into_iter()
        .chain(owners_under(&clone.path().join(".git")))
        .filter(|(_, uid)| *uid != expected_uid)
        .collect();
    assert!(by_root.is_empty(), "not the owner's: {by_root:?}");

    let approve = GateDecision {
        gate_id: gate.id.clone(),
        rev: gate.rev,
        actor: "ana".into(),
        action: GateAction::Approve {
            edited_proposal: None,
        },
    };
    home.daemon.decide(&run.id, &approve).await.unwrap();
    let done = home.wait_run(&run.id, 60, |r| !r.status.is_live()).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("refused:made"),
        "a read-only kind reads the worktree and cannot write it"
    );
    assert_eq!(
        done.steps[2].output.as_deref(),
        Some("none"),
        "a kind with none gets no worktree"
    );
    let committed = git(
        clone.path(),
        &["show", &format!("{}:made.txt", worktree.branch)],
    );
    assert_eq!(committed, "made");
    let left: Vec<_> = owners_under(&clone.path().join(".git"))
        .into_iter()
        .filter(|(_, uid)| *uid != expected_uid)
        .collect();
    assert_eq!(cattery_tests::gitfix::checkout_state(clone.path()), before);
    assert!(
        left.is_empty(),
        "the daemon's commits left files not the owner's: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_ci_checks_run_in_a_container_on_the_worktree_read_only_until_the_fixer_fixes_them() {
    cattery_daemon::git::trust_named_clones();
    let agents = format!(
        r#"[agents.coder]
image_command = ["sh", "-c", "echo broken > status.txt && out=coded; {RESULT}"]

[agents.ci-fixer]
role = "gate-helper"
image_command = ["sh", "-c", "grep -q 'status is broken' /cattery/context.json && echo green > status.txt && out=fixed; {RESULT}"]

[agents.ci]
gate = "ci"
helper = "ci-fixer"
poll_secs = 1
"#
    );
    let pipeline = "name = \"CI\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"ci\"\n";
    let id = format!("test-ci-{}", std::process::id());
    let Some(executor) = docker(&id).await else {
        return;
    };
    let home = Home::with_executor(
        &[("agents.toml", &agents), ("pipelines/ci.toml", pipeline)],
        Arc::new(executor),
    );
    let clone = clone(None);
    // The check proves where it ran: in a container (no daemon home there),
    // on the worktree at /workspace, which it cannot write.
    let check = "test \"$(pwd)\" = /workspace && ! touch /workspace/x 2>/dev/null && grep -q green status.txt || { echo \"status is $(cat status.txt)\"; exit 1; }";
    let frame = home
        .daemon
        .add_block(NewBlock {
            level: BlockLevel::Frame,
            parent_id: None,
            title: "Payments".into(),
            description: String::new(),
            repository: Some(RepositorySpec {
                path: clone.path().display().to_string(),
                providers: Box::new(Providers {
                    ci: Some("local".into()),
                    checks: [("status".to_owned(), check.to_owned())].into(),
                    ..Providers::default()
                }),
                ..RepositorySpec::default()
            }),
        })
        .unwrap();
    let task = home.add_block(BlockLevel::Task, Some(&frame.id), "Add refunds", "");
    let run = home.daemon.start(&task.id, "ci", "ana").await.unwrap();
    let done = home.wait_run(&run.id, 120, |r| !r.status.is_live()).await;
    assert_eq!(done.status, RunStatus::Done, "{:#?}", done.failure);
    let gate = done.steps[1].gate.as_ref().unwrap();
    assert_eq!(gate.attempts, 1, "{gate:#?}");
    assert!(
        gate.attempt_log[0]
            .instructions
            .contains("status is broken"),
        "the fixer got the check's log tail: {gate:#?}"
    );
    assert_eq!(
        done.steps[1].output.as_deref(),
        Some("CI gate passed: 1 check(s) green.")
    );
    let (listed, left) = cattery_tests::docker_cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=cattery-{id}-c_"),
        "--format",
        "{{.Names}}",
    ]);
    assert!(listed);
    assert_eq!(left, "", "each check's container went once it answered");
}

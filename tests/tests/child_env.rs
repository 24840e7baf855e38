//! The keys stay in the daemon: catteryd is started with canary keys in its
//! environment, and every kind of child it starts (an agent, the built-in
//! tester's test command, a CI provider, a release-health provider, `git
//! push`, the PR and merge commands, the notify command and a CLI's
//! `--version` probe) copies its own `/proc/<pid>/environ` to a file. None
//! may hold a canary, nor may anything the daemon wrote in its home.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{GateKind, Run, RunStatus};
use cattery_tests::gitfix::{checkout_state, git};
use cattery_tests::{cattery_ok, eventually, files_containing, spawn_catteryd_with, write_config};
use std::path::{Path, PathBuf};

const CANARIES: &[(&str, &str)] = &[
    ("ANTHROPIC_API_KEY", "sk-ant-canary-4a7f19"),
    ("OPENAI_API_KEY", "sk-oai-canary-b3c802"),
    ("ANTHROPIC_AUTH_TOKEN", "sk-ant-auth-canary-77d1"),
    ("CODEX_API_KEY", "sk-codex-canary-e95a"),
    ("AWS_SECRET_ACCESS_KEY", "aws-canary-0c4e66"),
];

/// A folder of spy scripts: `NAME.sh` copies the environment of the
/// process running it to `NAME.env`, then does `then`.
struct Spies {
    dir: tempfile::TempDir,
}

impl Spies {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn script(&self, name: &str, then: &str) -> PathBuf {
        let path = self.path().join(format!("{name}.sh"));
        let env = self.path().join(format!("{name}.env"));
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\ntr '\\0' '\\n' < /proc/$$/environ > '{}'\n{then}\n",
                env.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The environment `name` ran with, once it has run.
    fn environment(&self, name: &str) -> String {
        let file = self.path().join(format!("{name}.env"));
        eventually(
            60,
            || {
                std::fs::read_to_string(&file)
                    .ok()
                    .filter(|t| !t.is_empty())
            },
            || format!("{name} never ran"),
        )
    }
}

fn agents(spies: &Spies) -> String {
    // The agent rewrites the CI script the frame's provider names.
    let rewritten = format!(
        "touch '{}'; echo '{{\"checks\":[]}}'",
        spies.path().join("ran-from-worktree").display()
    );
    let coder = spies.script(
        "agent",
        &format!(
            "mkdir -p scripts && cat > scripts/ci.sh <<'EOF'\n{rewritten}\nEOF\necho refund > refunds.py && echo '{{\"type\":\"result\",\"output\":\"coded\"}}'"
        ),
    );
    let merger = spies.script(
        "merger",
        "echo '{\"type\":\"result\",\"output\":\"ok\",\"merge_assessment\":{\"complexity\":0.1,\"risk\":0.1,\"impact\":0.1,\"rationale\":\"small\"}}'",
    );
    let probe = spies.script("probe", "echo '9.9.9 (Claude Code)'");
    format!(
        r#"[agents.coder]
command = ["sh", "{coder}"]

[agents.test-command]
role = "tester"
runner = "test-command"

[agents.ci]
gate = "ci"
poll_secs = 1
max_polls = 3

[agents.merger]
role = "merger"
command = ["sh", "{merger}"]

[agents.watch]
gate = "post-release-health"
max_attempts = 0
poll_secs = 1
watch_window_secs = 1

[agents.fake-claude]
runner = "claude-code"
binary = "{probe}"
max_turns = 1
"#,
        coder = coder.display(),
        merger = merger.display(),
        probe = probe.display(),
    )
}

const PIPELINE: &str = "name = \"Everything\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"test-command\"\n[[steps]]\nagent = \"ci\"\n[[steps]]\nagent = \"merger\"\n[[steps]]\nagent = \"watch\"\n";

fn config(spies: &Spies) -> String {
    let pr = spies.script("pr", "echo https://forge.test/pulls/9");
    let merge = spies.script("pr-merge", "true");
    let notify = spies.script("notify", "cat >/dev/null");
    format!(
        "executor = \"process\"\nport = 0\npr_command = [\"sh\", \"{}\"]\npr_merge_command = [\"sh\", \"{}\"]\n\n[notify]\ncoalesce_ms = 100\ntimeout_ms = 3000\ndesktop = false\nnotify_command = [\"sh\", \"{}\"]\n",
        pr.display(),
        merge.display(),
        notify.display(),
    )
}

/// A user's clone on trunk whose committed `scripts/ci.sh` passes, with a
/// bare `origin` to push to.
fn clone_with_ci_script(spies: &Spies) -> (tempfile::TempDir, tempfile::TempDir) {
    let clone = tempfile::tempdir().unwrap();
    git(clone.path(), &["init", "-q", "-b", "trunk"]);
    std::fs::create_dir(clone.path().join("scripts")).unwrap();
    let ci = spies.script(
        "ci",
        &format!(
            "touch '{}'; echo '{{\"checks\":[]}}'",
            spies.path().join("ran-from-base").display()
        ),
    );
    std::fs::write(
        clone.path().join("scripts/ci.sh"),
        format!("#!/bin/sh\nsh '{}'\n", ci.display()),
    )
    .unwrap();
    git(clone.path(), &["add", "scripts/ci.sh"]);
    git(clone.path(), &["commit", "-q", "-m", "ci"]);
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare"]);
    let url = remote.path().display().to_string();
    git(clone.path(), &["remote", "add", "origin", &url]);
    (clone, remote)
}

fn assert_no_canary(what: &str, text: &str) {
    for (name, canary) in CANARIES {
        assert!(!text.contains(canary), "{what} got {name}'s value:\n{text}");
    }
}

#[test]
fn no_child_of_any_kind_inherits_a_key_and_providers_run_the_base_branch_as_committed() {
    let spies = Spies::new();
    let home = tempfile::tempdir().unwrap();
    let agents = agents(&spies);
    let config = config(&spies);
    write_config(
        home.path(),
        &[
            ("config.toml", config.as_str()),
            ("agents.toml", agents.as_str()),
            ("pipelines/everything.toml", PIPELINE),
        ],
    );
    let (clone, _remote) = clone_with_ci_script(&spies);
    let before = checkout_state(clone.path());
    let canaries: Vec<(&str, &Path)> = CANARIES
        .iter()
        .map(|(name, value)| (*name, Path::new(*value)))
        .collect();
    let mut daemon = spawn_catteryd_with(home.path(), &canaries);

    let test = spies.script("test", "exit 0");
    let test = format!("sh {}", test.display());
    let health = spies.script("health", "echo '{\"status\":\"healthy\",\"signals\":[]}'");
    let health = format!("sh {}", health.display());
    let repo = clone.path().display().to_string();
    let frame = cattery_ok(
        home.path(),
        &[
            "ctl",
            "block",
            "add",
            "--level",
            "frame",
            "--title",
            "Payments",
            "--repo",
            &repo,
            "--base",
            "trunk",
            "--remote",
            "origin",
            "--merge",
            "pr",
            "--ci",
            "sh ./scripts/ci.sh",
            "--health",
            &health,
            "--test-command",
            &test,
        ],
    );
    let task = cattery_ok(
        home.path(),
        &[
            "ctl",
            "block",
            "add",
            "--title",
            "Refunds",
            "--parent",
            frame["id"].as_str().unwrap(),
        ],
    );
    let run: Run = serde_json::from_value(cattery_ok(
        home.path(),
        &["ctl", "start", task["id"].as_str().unwrap(), "everything"],
    ))
    .unwrap();
    let gate = eventually(
        60,
        || {
            let runs: Vec<Run> =
                serde_json::from_value(cattery_ok(home.path(), &["ctl", "runs"])).unwrap();
            let run = runs.into_iter().find(|r| r.id == run.id)?;
            run.pending_gate().filter(|g| g.kind == GateKind::Approval)
        },
        || "the run never parked at its approval".to_owned(),
    );
    // The card is delivered to the notify command while the run waits.
    let notified = spies.environment("notify");
    cattery_ok(home.path(), &["ctl", "approve", &gate.id]);
    let done = eventually(
        90,
        || {
            let runs: Vec<Run> =
                serde_json::from_value(cattery_ok(home.path(), &["ctl", "runs"])).unwrap();
            runs.into_iter()
                .find(|r| r.id == run.id && !r.status.is_live())
        },
        || "the run never ended".to_owned(),
    );
    assert_eq!(done.status, RunStatus::Done, "{:#?}", done.failure);

    let mut seen = vec![("notify_command", notified)];
    for (what, spy) in [
        ("the agent", "agent"),
        ("the merger agent", "merger"),
        ("the test command", "test"),
        ("the CI provider", "ci"),
        ("the release-health provider", "health"),
        ("pr_command", "pr"),
        ("pr_merge_command", "pr-merge"),
        ("the --version probe", "probe"),
    ] {
        seen.push((what, spies.environment(spy)));
    }
    for (what, environment) in &seen {
        assert_no_canary(what, environment);
        assert!(
            environment.contains("PATH="),
            "{what} has a PATH: {environment}"
        );
    }
    let agent = &seen[1].1;
    assert!(
        agent.contains("ANTHROPIC_API_KEY=") && agent.contains("ANTHROPIC_BASE_URL="),
        "the agent has its job token and the gateway instead: {agent}"
    );

    // The provider ran the committed scripts/ci.sh, not the agent's.
    assert!(
        !spies.path().join("ran-from-worktree").exists(),
        "the agent's rewritten scripts/ci.sh ran"
    );
    assert!(
        spies.path().join("ran-from-base").exists(),
        "the base branch's scripts/ci.sh ran"
    );
    assert_eq!(
        checkout_state(clone.path()),
        before,
        "the user's checkout is untouched"
    );

    cattery_ok(home.path(), &["daemon", "stop"]);
    let _ = daemon.wait();
    for (name, canary) in CANARIES {
        let found = files_containing(home.path(), canary);
        assert!(found.is_empty(), "{name}'s value was written to {found:?}");
    }
}

//! A `build`-shaped pipeline run by the real Claude Code CLI through the
//! real daemon and gateway, first as local processes, then in containers on
//! the gateway network (the agent image): the architect's plan reaches the
//! coder, the coder's tool calls edit the worktree and the daemon commits
//! them, the approval shows the real diff, the reviewer's verdict below the
//! threshold sends its `path:line` feedback back to the coder, and the
//! second round passes. Only the vendor's API is the scripted stand-in.
//! Says SKIPPED without `claude`, an engine or the agent image, unless
//! CATTERY_REQUIRE_AGENTS=1 / CATTERY_REQUIRE_DOCKER=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{GateKind, RunStatus};
use cattery_tests::gitfix::{checkout_state, git, one_commit_clone};
use cattery_tests::model_server::{ModelServer, Reply, Usage};
use cattery_tests::{CtlHome, Tool};

const KEY: &str = "sk-ant-api03-REAL-KEY-for-the-build-test";
const PLAN: &str = "PLAN: add refund.py with refund(payment) returning the payment.";

fn claude() -> Option<String> {
    cattery_tests::agent_cli("CATTERY_CLAUDE", "claude")
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input,
        output,
        cache_read: 100,
        cache_write: 0,
    }
}

fn said(text: &str) -> Reply {
    Reply::Text {
        model: "claude-mock".into(),
        text: text.into(),
        usage: usage(900, 20),
        stop_reason: "end_turn".into(),
        hold: None,
    }
}

fn bash(command: &str) -> Reply {
    Reply::ToolUse {
        model: "claude-mock".into(),
        name: "Bash".into(),
        input: serde_json::json!({"command": command, "description": "edit"}),
        usage: usage(1_000, 30),
    }
}

fn verdict(rating: f64, comments: serde_json::Value) -> Reply {
    let grade = serde_json::json!({"rating": rating, "feedback": "see the comments", "blockers": [], "comments": comments});
    said(&format!("Reviewed.\n```json\n{grade}\n```\n"))
}

/// The model's side of the whole run, in the order the steps ask.
fn script() -> Vec<Reply> {
    vec![
        said(PLAN),
        bash("printf 'def refund(payment):\\n    return payment\\n' > refund.py"),
        said("Wrote refund.py."),
        verdict(
            0.4,
            serde_json::json!([{"path": "refund.py", "line": 2, "body": "check payment.amount first", "severity": "major"}]),
        ),
        bash(
            "printf 'def refund(payment):\\n    assert payment.amount > 0\\n    return payment\\n' > refund.py",
        ),
        said("Added the amount check."),
        verdict(0.9, serde_json::json!([])),
    ]
}

enum Executor {
    Process,
    Docker,
}

fn build_pipeline_runs(executor: Executor) {
    let Some(claude) = claude() else {
        return;
    };
    let (executor_line, binary) = match executor {
        Executor::Process => ("executor = \"process\"".to_owned(), claude.clone()),
        Executor::Docker => {
            let socket = cattery_tests::docker_socket();
            let (present, _) =
                cattery_tests::docker_cli(&["image", "inspect", "cattery/agent:latest"]);
            if !present {
                cattery_tests::skip::<()>(
                    Tool::Agents,
                    "the agent image is not built (scripts/build-agent-image.sh)",
                );
                return;
            }
            (
                format!("executor = \"docker\"\ndocker_socket = \"{socket}\""),
                "claude".to_owned(),
            )
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(ModelServer::start(script()));
    let agents = format!(
        r#"[defaults]
runner = "claude-code"
binary = "{binary}"
model = "claude-mock"
max_turns = 4
memory_mb = 1024
pids_limit = 512

[agents.architect]
workspace = "ro"

[agents.coder]

[agents.reviewer]
companion_of = "coder"
threshold = 0.8
"#
    );
    let config = format!(
        "{executor_line}\nport = 0\nanthropic_url = \"{}\"\n\n[prices.claude-mock]\nprompt_per_million = 3.0\ncompletion_per_million = 15.0\n",
        server.url()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        ("config.toml", &config),
        (
            "pipelines/build.toml",
            "name = \"Build\"\n[[steps]]\nagent = \"architect\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"reviewer\"\n",
        ),
    ]);
    home.set_anthropic_key(KEY);
    cattery_daemon::git::trust_named_clones();
    let clone = tempfile::tempdir().unwrap();
    one_commit_clone(clone.path(), "main", "app.py", "print('hi')\n");
    let before = checkout_state(clone.path());
    let task = home.task_under_frame(clone.path(), "Add refunds", "Refund a payment.");
    let run: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["start", &task, "build"])).unwrap();
    let transcript = |step: &str| home.cli(&["ctl", "logs", &run.id, "--step", step]).1;

    // Round one: the plan reached the coder, whose edit is the real diff.
    let gate = home.gate(&run.id, GateKind::Approval);
    let diff: cattery_protocol::diff::Diff =
        serde_json::from_value(home.ctl(&["diff", &run.id, "--step", "1"])).unwrap();
    assert_eq!(diff.files.len(), 1, "{diff:?}\n{}", transcript("1"));
    assert_eq!(diff.files[0].path, "refund.py");
    let seen = server.seen();
    assert!(
        seen[1].body.to_string().contains(PLAN),
        "the architect's plan is in the coder's prompt"
    );
    home.ctl(&["approve", &gate.id]);

    // The reviewer's 0.4 sends its line comment back to the coder.
    let second = home.wait_run(&run.id, "parked for round two", |r| {
        r.pending_gate().is_some_and(|g| g.id != gate.id) || !r.status.is_live()
    });
    let gate = second
        .pending_gate()
        .unwrap_or_else(|| panic!("ended early: {:?}\n{}", second.failure, transcript("2")));
    assert_eq!(gate.kind, GateKind::Approval);
    let rework_prompt = server.seen()[4].body.to_string();
    assert!(
        rework_prompt.contains("refund.py:2: check payment.amount first"),
        "the coder's second prompt carries the reviewer's path:line comment"
    );
    assert!(
        rework_prompt.contains("Wrote refund.py."),
        "the rework resumed the coder's session: its first round is in the conversation"
    );
    home.ctl(&["approve", &gate.id]);
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(
        done.status,
        RunStatus::Done,
        "{:?}\n{}",
        done.failure,
        transcript("2")
    );
    let companion = done.steps[2]
        .companion
        .clone()
        .expect("the reviewer's verdicts");
    let ratings: Vec<f64> = companion.verdicts.iter().map(|v| v.rating).collect();
    assert_eq!(ratings, [0.4, 0.9], "a rework round, then a pass");
    assert_eq!(
        server.seen().len(),
        7,
        "one request per model turn, nothing else"
    );
    let calls: u64 = done.steps.iter().map(|s| s.metrics.calls).sum();
    assert!(calls >= 3, "every step's calls are metered: {calls}");

    // The branch holds the second round's code; the user's checkout is untouched.
    let branch = done.worktree.clone().unwrap().branch;
    let code = git(clone.path(), &["show", &format!("{branch}:refund.py")]);
    assert!(code.contains("assert payment.amount > 0"), "{code}");
    assert_eq!(checkout_state(clone.path()), before);
    // The CLI's own state (its config dir and session files, in the job
    // folders), transcripts, contexts and the database never hold the key.
    let leaks = cattery_tests::files_containing(&home.path().join("data"), KEY);
    assert!(leaks.is_empty(), "the key leaked into {leaks:?}");
    if matches!(executor, Executor::Docker) {
        let (_, status, _) = home.cli(&["daemon", "status"]);
        let status: cattery_protocol::wire::DaemonStatus = serde_json::from_str(&status).unwrap();
        let gateway = status.gateway.unwrap();
        assert!(
            gateway
                .container_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://172.30.77.") && u.ends_with(":8080")),
            "the containers' way to the gateway is the relay on their network: {gateway:?}"
        );
    }
    drop(runtime);
}

#[test]
fn a_build_pipeline_of_claude_code_processes_plans_codes_reviews_and_reworks() {
    build_pipeline_runs(Executor::Process);
}

#[test]
fn a_build_pipeline_of_claude_code_in_containers_on_the_gateway_network_does_the_same() {
    let (engine, _) = cattery_tests::docker_cli(&["version"]);
    if !engine {
        cattery_tests::skip::<()>(Tool::Docker, "no Docker engine answers");
        return;
    }
    build_pipeline_runs(Executor::Docker);
}

//! The real Claude Code CLI in a container on the gateway network, with its
//! daemon killed by SIGKILL between two model calls: the next daemon
//! re-attaches to the container, whose CLI still reaches the gateway at the
//! address and with the token it was started with, and the step finishes
//! once, with both calls metered once. Only the vendor's API is scripted.
//! Says SKIPPED without an engine or the agent image, unless
//! CATTERY_REQUIRE_DOCKER=1 / CATTERY_REQUIRE_AGENTS=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::RunStatus;
use cattery_tests::gitfix::one_commit_clone;
use cattery_tests::model_server::{ModelServer, Reply, Usage};
use cattery_tests::{CtlHome, Tool, eventually};

const KEY: &str = "sk-ant-api03-REAL-KEY-for-the-reattach-test";

fn usage() -> Usage {
    Usage {
        input: 1_000,
        output: 40,
        cache_read: 0,
        cache_write: 0,
    }
}

#[test]
fn a_container_cli_reattached_after_sigkill_still_reaches_the_gateway_and_its_step_is_metered_once()
{
    let (engine, _) = cattery_tests::docker_cli(&["version"]);
    if !engine {
        cattery_tests::skip::<()>(Tool::Docker, "no Docker engine answers");
        return;
    }
    let (image, _) = cattery_tests::docker_cli(&["image", "inspect", "cattery/agent:latest"]);
    if !image {
        cattery_tests::skip::<()>(
            Tool::Agents,
            "no cattery/agent image (scripts/build-agent-image.sh)",
        );
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The first answer has the CLI run a command long enough for the
    // daemon to be killed and started again under it.
    let server = runtime.block_on(ModelServer::start(vec![
        Reply::ToolUse {
            model: "claude-mock".into(),
            name: "Bash".into(),
            input: serde_json::json!({"command": "sleep 12; echo slept > slept.txt", "description": "wait"}),
            usage: usage(),
        },
        Reply::Text {
            model: "claude-mock".into(),
            text: "Slept, and wrote slept.txt.".into(),
            usage: usage(),
            stop_reason: "end_turn".into(),
            hold: None,
        },
    ]));
    let agents = "[agents.coder]\nrunner = \"claude-code\"\nbinary = \"claude\"\nmodel = \"claude-mock\"\nmax_turns = 4\nmemory_mb = 1024\npids_limit = 512\n";
    let config = format!(
        "executor = \"docker\"\ndocker_socket = \"{}\"\nport = 0\nanthropic_url = \"{}\"\n\n[prices.claude-mock]\nprompt_per_million = 3.0\ncompletion_per_million = 15.0\n",
        cattery_tests::docker_socket(),
        server.url()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", agents),
        ("config.toml", &config),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
        ),
    ]);
    home.set_anthropic_key(KEY);
    cattery_daemon::git::trust_named_clones();
    let clone = tempfile::tempdir().unwrap();
    one_commit_clone(clone.path(), "main", "app.py", "print('hi')\n");
    let task = home.task_under_frame(clone.path(), "Sleep", "Sleep, then note it.");
    let run: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["start", &task, "one"])).unwrap();
    eventually(
        60,
        || (!server.seen().is_empty()).then_some(()),
        || "the CLI never made its first call".into(),
    );
    // The answer is streamed by now; let the daemon meter it before it dies.
    eventually(
        20,
        || (home.run(&run.id).steps[0].metrics.calls == 1).then_some(()),
        || "the first call was never metered".into(),
    );
    home.kill_daemon();
    // The next command starts a new daemon, which re-attaches.
    let (code, _, err) = home.cli(&["daemon", "start"]);
    assert_eq!(code, 0, "{err}");

    let done = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    let (_, log, _) = home.cli(&["ctl", "logs", &run.id]);
    assert_eq!(done.status, RunStatus::Done, "{:?}\n{log}", done.failure);
    assert_eq!(done.steps[0].attempts, 1, "the step ran once: {log}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one request per model turn, none repeated");
    assert_eq!(
        seen[1].header("x-api-key"),
        Some(KEY),
        "the real key upstream"
    );
    let metrics = &done.steps[0].metrics;
    assert_eq!(metrics.calls, 2, "both calls metered once: {metrics:?}");
    assert_eq!(metrics.prompt_tokens, 2_000);
    assert_eq!(metrics.completion_tokens, 80);
    let spend = home.ctl(&["spend"]);
    let spent = spend["spent"].as_f64().unwrap();
    let two_calls = 2.0 * (1_000.0 * 3.0 + 40.0 * 15.0) / 1e6;
    assert!(
        (spent - two_calls).abs() < 1e-9,
        "the ledger holds each call once: {spend}"
    );
    drop(runtime);
}

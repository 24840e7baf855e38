//! The real Codex CLI as a runner, through the real daemon and its gateway
//! (OpenAI Responses), in a real worktree; only the vendor's API is the
//! scripted stand-in. Says SKIPPED without `codex` (CATTERY_CODEX names
//! it), unless CATTERY_REQUIRE_AGENTS=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::RunStatus;
use cattery_tests::gitfix::{checkout_state, one_commit_clone};
use cattery_tests::model_server::{ModelServer, Reply, Usage};
use cattery_tests::{CtlHome, Tool};

const KEY: &str = "sk-proj-REAL-OPENAI-KEY-for-the-codex-test";

fn codex() -> Option<String> {
    cattery_tests::agent_cli("CATTERY_CODEX", "codex")
}

/// A home whose pipeline `code` runs a Codex `coder` (with `settings`
/// added to its table, `extra` to config.toml) against `server` on
/// `executor`, the key set.
fn codex_home(
    codex: &str,
    server: &ModelServer,
    executor: &str,
    settings: &str,
    extra: &str,
) -> CtlHome {
    let agents = format!(
        "[agents.coder]\nrunner = \"codex\"\nbinary = \"{codex}\"\nmodel = \"gpt-mock\"\nmemory_mb = 1024\npids_limit = 512\n{settings}"
    );
    let config = format!(
        "{executor}\nport = 0\nopenai_url = \"{}\"\n\n{extra}",
        server.url()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        ("config.toml", &config),
        (
            "pipelines/code.toml",
            "name = \"Code\"\n[[steps]]\nagent = \"coder\"\n",
        ),
    ]);
    home.set_api_keys(&[("openai", KEY)]);
    home
}

/// A clone with one commit, and a frame on it with `task` under it.
fn frame_with_task(home: &CtlHome, clone: &std::path::Path, task: &str) -> String {
    one_commit_clone(clone, "main", "README.md", "# greeter\n");
    home.task_under_frame(clone, task, "Say hello in a file.")
}

#[test]
fn codex_codes_in_the_worktree_through_the_gateway_and_its_calls_are_metered_exactly() {
    let Some(codex) = codex() else {
        return;
    };
    codes_and_is_metered("executor = \"process\"".to_owned(), &codex);
}

#[test]
fn codex_in_a_container_on_the_gateway_network_does_the_same() {
    if codex().is_none() {
        return;
    }
    let (image, _) = cattery_tests::docker_cli(&["image", "inspect", "cattery/agent:latest"]);
    if !image {
        cattery_tests::skip::<()>(
            Tool::Docker,
            "no engine, or no cattery/agent image (scripts/build-agent-image.sh)",
        );
        return;
    }
    let executor = format!(
        "executor = \"docker\"\ndocker_socket = \"{}\"",
        cattery_tests::docker_socket()
    );
    codes_and_is_metered(executor, "codex");
}

fn codes_and_is_metered(executor: String, codex: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let first = Usage {
        input: 2_000,
        output: 30,
        cache_read: 600,
        cache_write: 0,
    };
    let second = Usage {
        input: 2_100,
        output: 9,
        cache_read: 0,
        cache_write: 0,
    };
    let server = runtime.block_on(ModelServer::start(vec![
        Reply::ToolUse {
            model: "gpt-mock".into(),
            name: "exec_command".into(),
            input: serde_json::json!({"cmd": "printf 'hello from codex\\n' > hello.txt"}),
            usage: first,
        },
        Reply::Text {
            model: "gpt-mock".into(),
            text: "Wrote hello.txt.".into(),
            usage: second,
            stop_reason: "end_turn".into(),
            hold: None,
        },
    ]));
    let prices = "[prices.gpt-mock]\nprompt_per_million = 2.0\ncompletion_per_million = 8.0\n";
    let home = codex_home(codex, &server, &executor, "max_retries = 0\n", prices);
    let clone = tempfile::tempdir().unwrap();
    let task = frame_with_task(&home, clone.path(), "Greet");
    let before = checkout_state(clone.path());
    let run: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["start", &task, "code"])).unwrap();
    let done = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    let (_, log, _) = home.cli(&["ctl", "logs", &run.id]);
    assert_eq!(done.status, RunStatus::Done, "{done:#?}\n{log}");
    let coder = &done.steps[0];
    assert_eq!(coder.output.as_deref(), Some("Wrote hello.txt."));
    let change = coder
        .change
        .clone()
        .expect("the daemon committed Codex's edit");
    assert_eq!((change.files, change.insertions), (1, 1), "{change:?}");

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one request per model turn: {seen:#?}");
    assert!(seen.iter().all(|s| s.path == "/v1/responses"));
    assert!(
        seen.iter()
            .all(|s| s.header("authorization") == Some(&format!("Bearer {KEY}"))),
        "the gateway sends the real key"
    );
    assert!(
        seen[0].body.to_string().contains("Say hello in a file."),
        "the role prompt carries the task"
    );
    let m = &coder.metrics;
    assert_eq!(
        (
            m.calls,
            m.prompt_tokens,
            m.cache_read_tokens,
            m.completion_tokens
        ),
        (2, 4_100, 600, 39),
        "exactly the server's figures, cached input apart: {m:?}"
    );
    let cost = ((4_100.0 + 600.0) * 2.0 + 39.0 * 8.0) / 1e6;
    assert!((m.cost_estimate.unwrap() - cost).abs() < 1e-12, "{m:?}");
    assert!(
        log.contains("printf 'hello from codex"),
        "the transcript shows the command: {log}"
    );

    let leaks = cattery_tests::files_containing(&home.path().join("data"), KEY);
    assert!(leaks.is_empty(), "the key leaked into {leaks:?}");
    assert_eq!(
        checkout_state(clone.path()),
        before,
        "the user's checkout is untouched"
    );
    drop(runtime);
}

#[test]
fn a_401_through_codex_fails_the_step_with_the_apis_message_after_a_bounded_number_of_requests() {
    let Some(codex) = codex() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let refusal = || Reply::Error {
        status: 401,
        kind: "invalid_request_error".into(),
        message: "Incorrect API key provided: sk-proj-***".into(),
    };
    let server = runtime.block_on(ModelServer::start((0..10).map(|_| refusal()).collect()));
    let home = codex_home(
        &codex,
        &server,
        "executor = \"process\"",
        "max_retries = 1\n",
        "",
    );
    let clone = tempfile::tempdir().unwrap();
    let task = frame_with_task(&home, clone.path(), "Greet");
    let run: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["start", &task, "code"])).unwrap();
    let failed = home.wait_run(&run.id, "failed", |r| !r.status.is_live());
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.unwrap();
    assert!(
        failure.message.contains("Incorrect API key provided"),
        "the API's own words: {failure:?}"
    );
    let requests = server.seen().len();
    assert!(
        (1..=2).contains(&requests),
        "max_retries = 1 bounds the requests: {requests}"
    );
    drop(runtime);
}

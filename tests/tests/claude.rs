//! The real Claude Code CLI as a runner, through the real daemon and its
//! gateway, in a real worktree; only the vendor's API is the scripted
//! stand-in. Says SKIPPED without `claude` (CATTERY_CLAUDE names it), unless
//! CATTERY_REQUIRE_AGENTS=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{GateKind, RunStatus};
use cattery_tests::CtlHome;
use cattery_tests::gitfix::{checkout_state, git};
use cattery_tests::model_server::{ModelServer, Reply, Usage};

const KEY: &str = "sk-ant-api03-REAL-KEY-for-the-claude-test";

fn claude() -> Option<String> {
    cattery_tests::agent_cli("CATTERY_CLAUDE", "claude")
}

/// A home whose one-step pipeline `one` runs a Claude Code `coder` (with
/// `settings` added to its table) against `server`, the key set.
fn one_coder_home(claude: &str, server: &ModelServer, settings: &str) -> CtlHome {
    claude_home(
        claude,
        server,
        ("coder", &format!("max_turns = 4\n{settings}")),
        ("one", "name = \"One\"\n[[steps]]\nagent = \"coder\"\n"),
    )
}

/// A home whose agent kind (name, settings) runs Claude Code against
/// `server`, with `pipeline` (id, text), the key set.
fn claude_home(
    claude: &str,
    server: &ModelServer,
    (kind, settings): (&str, &str),
    pipeline: (&str, &str),
) -> CtlHome {
    let agents = format!(
        "[agents.{kind}]\nrunner = \"claude-code\"\nbinary = \"{claude}\"\nmodel = \"claude-mock\"\n{settings}"
    );
    let config = format!(
        "executor = \"process\"\nport = 0\nanthropic_url = \"{}\"\n",
        server.url()
    );
    let pipeline_file = format!("pipelines/{}.toml", pipeline.0);
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        ("config.toml", &config),
        (&pipeline_file, pipeline.1),
    ]);
    home.set_anthropic_key(KEY);
    home
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input,
        output,
        cache_read: 10,
        cache_write: 5,
    }
}

#[test]
fn claude_code_codes_in_the_worktree_through_the_gateway_and_its_calls_are_metered_exactly() {
    let Some(claude) = claude() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(ModelServer::start(vec![
        Reply::ToolUse {
            model: "claude-mock".into(),
            name: "Bash".into(),
            input: serde_json::json!({"command": "printf 'def refund(payment):\\n    return payment\\n' > refund.py", "description": "write refund.py"}),
            usage: usage(1200, 40),
        },
        Reply::Text {
            model: "claude-mock".into(),
            text: "Wrote refund.py.".into(),
            usage: usage(1300, 12),
            stop_reason: "end_turn".into(),
            hold: None,
        },
    ]));
    let agents = format!(
        "[agents.coder]\nrunner = \"claude-code\"\nbinary = \"{claude}\"\nmodel = \"claude-mock\"\nmax_turns = 4\n\n[agents.reader]\ncommand = [\"sh\", \"-c\", \"echo '{{\\\"type\\\":\\\"result\\\",\\\"output\\\":\\\"read\\\"}}'\"]\n"
    );
    let config = format!(
        "executor = \"process\"\nport = 0\nanthropic_url = \"{}\"\n\n[prices.claude-mock]\nprompt_per_million = 3.0\ncompletion_per_million = 15.0\n",
        server.url()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        ("config.toml", &config),
        (
            "pipelines/code.toml",
            "name = \"Code\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"reader\"\n",
        ),
    ]);
    home.set_anthropic_key(KEY);
    let clone = tempfile::tempdir().unwrap();
    git(clone.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(clone.path().join("app.py"), "print('hi')\n").unwrap();
    git(clone.path(), &["add", "app.py"]);
    git(clone.path(), &["commit", "-q", "-m", "first"]);
    let before = checkout_state(clone.path());
    let frame = home.ctl(&[
        "block",
        "add",
        "--level",
        "frame",
        "--title",
        "Payments",
        "--repo",
        &clone.path().display().to_string(),
    ]);
    let task = home.ctl(&[
        "block",
        "add",
        "--title",
        "Add refunds",
        "--description",
        "Refund a payment.",
        "--parent",
        frame["id"].as_str().unwrap(),
    ]);
    let run: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["start", task["id"].as_str().unwrap(), "code"])).unwrap();

    let gate = home.gate(&run.id, GateKind::Approval);
    let parked = home.run(&run.id);
    let coder = &parked.steps[0];
    assert_eq!(
        coder.output.as_deref(),
        Some("Wrote refund.py."),
        "the CLI's final text is the output"
    );
    let change = coder
        .change
        .clone()
        .expect("the daemon committed the CLI's edit");
    assert_eq!((change.files, change.insertions), (1, 2), "{change:?}");
    let m = &coder.metrics;
    assert_eq!(
        (m.calls, m.prompt_tokens, m.completion_tokens),
        (2, 2500, 52),
        "{m:?}"
    );
    assert_eq!((m.cache_read_tokens, m.cache_write_tokens), (20, 10));
    let cost = ((2500.0 + 20.0 + 10.0) * 3.0 + 52.0 * 15.0) / 1e6;
    assert!((m.cost_estimate.unwrap() - cost).abs() < 1e-12, "{m:?}");

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one request per turn, nothing else");
    assert!(seen.iter().all(|s| s.header("x-api-key") == Some(KEY)));
    let prompt = seen[0].body["messages"].to_string();
    assert!(
        prompt.contains("Add refunds") && prompt.contains("Refund a payment."),
        "the role prompt carries the task"
    );
    let diff: cattery_protocol::diff::Diff =
        serde_json::from_value(home.ctl(&["diff", &run.id, "--step", "0"])).unwrap();
    assert_eq!(
        diff.files[0].path, "refund.py",
        "the approval shows the real diff"
    );

    home.ctl(&["approve", &gate.id]);
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(checkout_state(clone.path()), before);
    drop(runtime);
}

#[test]
fn a_401_fails_the_step_fast_with_the_apis_message_after_a_bounded_number_of_requests() {
    let Some(claude) = claude() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let refusal = || Reply::Error {
        status: 401,
        kind: "authentication_error".into(),
        message: "invalid x-api-key".into(),
    };
    let server = runtime.block_on(ModelServer::start((0..20).map(|_| refusal()).collect()));
    let home = one_coder_home(&claude, &server, "max_retries = 1\n");
    let started = std::time::Instant::now();
    let run = home.start_task("refused", "one");
    let failed = home.wait_run(&run.id, "failed", |r| !r.status.is_live());
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.clone().unwrap();
    let said = format!(
        "{} {}",
        failure.message,
        failure.detail.clone().unwrap_or_default()
    );
    // Claude Code words a 401 its own way; the step's message carries it.
    assert!(
        failure.message.contains("Invalid API key") && failure.message.contains("401"),
        "the API's refusal, in the message: {said}"
    );
    let requests = server.seen().len();
    assert!(
        (1..=2).contains(&requests),
        "max_retries = 1 bounds the requests to 2, not a retry storm: {requests}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    drop(runtime);
}

#[test]
fn daemon_status_names_each_runner_cli_with_its_version_or_why_it_is_missing() {
    let Some(claude) = claude() else {
        return;
    };
    let agents = format!(
        "[agents.coder]\nrunner = \"claude-code\"\nbinary = \"{claude}\"\nmax_turns = 4\n\n[agents.reviewer]\nrunner = \"claude-code\"\nbinary = \"{claude}\"\nmax_turns = 4\n\n[agents.tester]\nrunner = \"claude-code\"\nbinary = \"cattery-no-such-claude\"\nmax_turns = 4\n"
    );
    let home = CtlHome::with_config(&[("agents.toml", &agents)]);
    assert_eq!(home.cli(&["daemon", "start"]).0, 0);
    let status = cattery_tests::eventually(
        20,
        || {
            let (code, out, _) = home.cli(&["daemon", "status"]);
            let status: cattery_protocol::wire::DaemonStatus = serde_json::from_str(&out).ok()?;
            (code == 0 && status.runners.len() == 2).then_some(status)
        },
        || "daemon status never listed the runners".to_owned(),
    );
    let real = status.runners.iter().find(|r| r.binary == claude).unwrap();
    assert!(
        real.version
            .as_deref()
            .unwrap_or_default()
            .contains("Claude Code"),
        "{real:?}"
    );
    assert_eq!(real.kinds, ["coder", "reviewer"]);
    let missing = status.runners.iter().find(|r| r.binary != claude).unwrap();
    assert!(
        missing
            .problem
            .as_deref()
            .unwrap_or_default()
            .contains("not installed"),
        "{missing:?}"
    );
    assert_eq!(missing.kinds, ["tester"]);
}

/// Processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn a_model_server_that_stops_answering_mid_stream_fails_the_step_as_stalled_and_leaves_nothing_running()
 {
    let Some(claude) = claude() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Each answer starts, then never goes on: the hold is never released.
    let hung = || Reply::Text {
        model: "claude-mock".into(),
        text: "never".into(),
        usage: usage(10, 1),
        stop_reason: "end_turn".into(),
        hold: Some(std::sync::Arc::new(tokio::sync::Notify::new())),
    };
    let server = runtime.block_on(ModelServer::start((0..4).map(|_| hung()).collect()));
    // Long enough for the CLI to start on a loaded machine and send its
    // first request, which then hangs.
    let home = one_coder_home(&claude, &server, "max_retries = 0\ninactivity_secs = 5\n");
    let marker = "cattery-stall-marker-7f3a";
    let started = std::time::Instant::now();
    let run = home.start_task(marker, "one");
    let failed = home.wait_run(&run.id, "failed", |r| !r.status.is_live());
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.clone().unwrap();
    assert_eq!(
        failure.kind,
        cattery_protocol::FailureKind::Stalled,
        "{failure:?}"
    );
    assert_eq!(
        failed.steps[0].recoveries, 1,
        "it ran once more before failing"
    );
    assert_eq!(server.seen().len(), 2, "one hung request per attempt");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "within its timeout, not the CLI's own"
    );
    let left = cattery_tests::eventually(
        10,
        || Some(processes_with(marker)).filter(|p| p.is_empty()),
        || format!("still running: {:?}", processes_with(marker)),
    );
    assert!(left.is_empty());
    drop(runtime);
}

#[test]
fn a_graders_final_text_without_a_valid_verdict_fails_the_step_with_that_text() {
    let Some(claude) = claude() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(ModelServer::start(vec![Reply::Text {
        model: "claude-mock".into(),
        text: "Looks fine to me, ship it.".into(),
        usage: usage(300, 9),
        stop_reason: "end_turn".into(),
        hold: None,
    }]));
    let agents = format!(
        "[agents.coder]\ncommand = [\"sh\", \"-c\", \"echo '{{\\\"type\\\":\\\"result\\\",\\\"output\\\":\\\"coded\\\"}}'\"]\n\n[agents.reviewer]\nrunner = \"claude-code\"\nbinary = \"{claude}\"\nmodel = \"claude-mock\"\nmax_turns = 2\ncompanion_of = \"coder\"\n"
    );
    let config = format!(
        "executor = \"process\"\nport = 0\nanthropic_url = \"{}\"\n",
        server.url()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        ("config.toml", &config),
        (
            "pipelines/review.toml",
            "name = \"Review\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"reviewer\"\n",
        ),
    ]);
    home.set_anthropic_key(KEY);
    let run = home.start_task("review me", "review");
    let failed = home.wait_run(&run.id, "failed", |r| !r.status.is_live());
    assert_eq!(failed.status, RunStatus::Failed, "it never passes silently");
    let failure = failed.failure.unwrap();
    assert_eq!(failure.step_index, 1);
    assert!(
        failure.message.contains("no fenced ```json verdict")
            && failure.message.contains("Looks fine to me, ship it."),
        "the step fails with the text it got: {failure:?}"
    );
    assert_eq!(server.seen().len(), 1, "one call, no repair loop");
    drop(runtime);
}

#[test]
fn a_claude_code_requirements_reviewer_parks_the_run_on_the_findings_it_replies() {
    let Some(claude) = claude() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let findings = "```json\n{\"items\": [{\"category\": \"question\", \"severity\": \"high\", \"title\": \"Partial refunds?\", \"detail\": \"May a refund be smaller than the payment?\"}, {\"category\": \"gap\", \"severity\": \"low\", \"title\": \"Currency\"}]}\n```";
    let server = runtime.block_on(ModelServer::start(vec![Reply::Text {
        model: "claude-mock".into(),
        text: findings.into(),
        usage: usage(900, 60),
        stop_reason: "end_turn".into(),
        hold: None,
    }]));
    let home = claude_home(
        &claude,
        &server,
        ("requirements-review", "max_turns = 2\n"),
        (
            "reviewed",
            "name = \"Reviewed\"\n[[steps]]\nagent = \"requirements-review\"\n[[steps]]\nagent = \"coder\"\n",
        ),
    );
    let run = home.start_task("Refund a payment.\n@demo * sleep 0", "reviewed");
    home.gate(&run.id, GateKind::Review);
    let parked = home.run(&run.id);
    let review = parked.steps[0].review.as_ref().unwrap();
    let titles: Vec<&str> = review.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["Partial refunds?", "Currency"]);
    assert_eq!(
        review.findings[1].detail, "Currency",
        "detail falls back to the title"
    );
    // The reviewer got the role prompt that asks for findings.
    let seen = server.seen();
    let prompt = seen[0].body.to_string();
    assert!(prompt.contains("autoAnswerable"), "{prompt}");
    drop(runtime);
}

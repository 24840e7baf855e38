//! The daemon's overhead per step with a real agent CLI: from one step's
//! last model answer to the next step's first model request, through a
//! real catteryd (its gateway, its commit, the next job's spawn), as a
//! process and in a container, against the same CLI run twice in a row by
//! hand. Needs Claude Code (CATTERY_CLAUDE); the container part needs an
//! engine and the agent image. `BENCH_RUNS` (default 10) runs per mode.
//! Method and figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cattery_tests::CtlHome;
use cattery_tests::model_server::{ModelServer, Reply, Usage};
use std::time::Duration;

fn main() {
    let claude = std::env::var("CATTERY_CLAUDE").unwrap_or_else(|_| "claude".to_owned());
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bare = bare_cli(&runtime, &claude, runs);
    report("bare CLI, run twice in a row", &bare, None);
    let process = through_daemon(&runtime, runs, "executor = \"process\"".into(), &claude);
    report("catteryd, process executor", &process, Some(&bare));
    let (engine, _) = cattery_tests::docker_cli(&["image", "inspect", "cattery/agent:latest"]);
    if engine {
        let docker = format!(
            "executor = \"docker\"\ndocker_socket = \"{}\"",
            cattery_tests::docker_socket()
        );
        let container = through_daemon(&runtime, runs, docker, "claude");
        report("catteryd, docker executor", &container, Some(&bare));
    } else {
        println!("(no engine or no cattery/agent image: the container part is skipped)");
    }
}

fn answer() -> Reply {
    Reply::Text {
        model: "claude-mock".into(),
        text: "done".into(),
        usage: Usage {
            input: 100,
            output: 5,
            cache_read: 0,
            cache_write: 0,
        },
        stop_reason: "end_turn".into(),
        hold: None,
    }
}

/// Gaps between consecutive requests: each is one answer's end to the
/// next CLI's first request.
fn gaps(server: &ModelServer) -> Vec<Duration> {
    let seen = server.seen();
    seen.windows(2).map(|w| w[1].at - w[0].at).collect()
}

/// The CLI as a script would chain it: one `claude -p` after another.
fn bare_cli(runtime: &tokio::runtime::Runtime, claude: &str, runs: usize) -> Vec<Duration> {
    let server = runtime.block_on(ModelServer::start(vec![answer(); runs + 1]));
    let config = tempfile::tempdir().unwrap();
    for _ in 0..=runs {
        let status = std::process::Command::new(claude)
            .args([
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--max-turns",
                "2",
                "--model",
                "claude-mock",
                "--",
                "say done",
            ])
            .env("ANTHROPIC_BASE_URL", server.url())
            .env("ANTHROPIC_API_KEY", "sk-bench")
            .env("CLAUDE_CONFIG_DIR", config.path())
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    gaps(&server)
}

/// Two-step runs through a real daemon; the gap between each run's two
/// requests is the daemon's step change.
fn through_daemon(
    runtime: &tokio::runtime::Runtime,
    runs: usize,
    executor: String,
    binary: &str,
) -> Vec<Duration> {
    let server = runtime.block_on(ModelServer::start(vec![answer(); 2 * runs]));
    let agents = format!(
        "[defaults]\nrunner = \"claude-code\"\nbinary = \"{binary}\"\nmodel = \"claude-mock\"\nmax_turns = 2\nmemory_mb = 1024\npids_limit = 512\n\n[agents.first]\n\n[agents.second]\n"
    );
    let config = format!(
        "{executor}\nport = 0\nanthropic_url = \"{}\"\n",
        server.url()
    );
    let home = CtlHome::with_config(&[
        ("agents.toml", &agents),
        ("config.toml", &config),
        (
            "pipelines/two.toml",
            "name = \"Two\"\n[[steps]]\nagent = \"first\"\n[[steps]]\nagent = \"second\"\n",
        ),
    ]);
    home.set_anthropic_key("sk-bench");
    let mut between = Vec::new();
    for _ in 0..runs {
        let before = server.seen().len();
        let run = home.start_task("bench", "two");
        let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
        assert_eq!(
            done.status,
            cattery_protocol::RunStatus::Done,
            "{:?}",
            done.failure
        );
        let seen = server.seen();
        between.push(seen[before + 1].at - seen[before].at);
    }
    between
}

fn report(what: &str, gaps: &[Duration], baseline: Option<&[Duration]>) {
    let mut sorted = gaps.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let added = baseline.map(|b| {
        let mut b = b.to_vec();
        b.sort();
        let base = b[b.len() / 2].as_secs_f64() * 1e3;
        format!(
            "  added over the bare CLI {:>7.1} ms ({:.2}x)",
            at(0.5) - base,
            at(0.5) / base
        )
    });
    println!(
        "{what:<32} answer→next request median {:>7.1} ms  max {:>7.1} ms{}",
        at(0.5),
        at(1.0),
        added.unwrap_or_default()
    );
}

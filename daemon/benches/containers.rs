//! Per-step container overhead: the docker executor (bollard) against
//! `docker run --rm` of the same image through the CLI, median of 20 each,
//! in one run. Needs an engine (DOCKER_HOST); method in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cattery_daemon::config::{AgentDef, ContainerLimits};
use cattery_daemon::engine::JobResult;
use cattery_daemon::exec::{DockerExecutor, Executor, JobEvent, JobSpec};
use cattery_protocol::PROTOCOL_VERSION;
use cattery_protocol::agent::StepContext;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

const ROUNDS: usize = 20;
const IMAGE: &str = "cattery/demo-agent:latest";
const SCRIPT: &str = r#"echo '{"type":"result","output":"ok"}'"#;

fn main() {
    let socket =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Ok(executor) = runtime.block_on(DockerExecutor::connect(&socket, "bench".to_owned()))
    else {
        println!("SKIPPED: no Docker engine answers at {socket}");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // One warm-up of each, so neither side pays for a cold image cache.
    runtime.block_on(executor_step(&executor, work.path(), 0));
    cli_step(&socket);
    let mut ours = Vec::new();
    let mut to_running = Vec::new();
    let mut cli = Vec::new();
    for round in 1..=ROUNDS {
        let (total, dispatched) = runtime.block_on(executor_step(&executor, work.path(), round));
        ours.push(total);
        to_running.push(dispatched);
        cli.push(cli_step(&socket));
    }
    let (ours, to_running, cli) = (median(ours), median(to_running), median(cli));
    println!(
        "docker executor (bollard), dispatch -> result recorded and container removed: median {ours:?}"
    );
    println!("  of which dispatch -> container created (context written): median {to_running:?}");
    println!("docker run --rm (CLI), same image and command: median {cli:?}");
    println!(
        "ratio executor / CLI: {:.2}",
        ours.as_secs_f64() / cli.as_secs_f64()
    );
}

async fn executor_step(
    executor: &DockerExecutor,
    dir: &std::path::Path,
    round: usize,
) -> (Duration, Duration) {
    let job_id = format!("bench-{}-{round}", std::process::id());
    let job = JobSpec {
        workspace: None,
        env: Vec::new(),
        agent_state: None,
        job_id: job_id.clone(),
        agent: AgentDef {
            review: None,
            kind: "bench".to_owned(),
            role: cattery_protocol::AgentRole::Producer,
            command: Vec::new(),
            image: Some(IMAGE.to_owned()),
            image_command: vec!["sh".to_owned(), "-c".to_owned(), SCRIPT.to_owned()],
            env: Default::default(),
            limits: ContainerLimits {
                memory_mb: 64,
                cpus: 1.0,
                pids: 64,
                network: "none".to_owned(),
            },
            timeout_secs: 60,
            companion_of: None,
            threshold: 0.8,
            max_attempts: 3,
            workspace: cattery_protocol::WorkspaceMode::None,
            runner: cattery_protocol::Runner::Command,
            cli: None,
            inactivity_secs: None,
            gate: None,
            test: None,
        },
        context: StepContext {
            review_pass: None,
            protocol_version: PROTOCOL_VERSION,
            run_id: "r_bench".to_owned(),
            job_id: job_id.clone(),
            pipeline_id: "bench".to_owned(),
            step_index: 0,
            agent_kind: "bench".to_owned(),
            attempt: 1,
            grades: None,
            block_id: "b".to_owned(),
            block_title: "bench".to_owned(),
            block_description: Vec::new(),
            prior_outputs: Vec::new(),
            rework: None,
            chosen_option: None,
            workspace: None,
        },
        timeout_secs: 60,
        ran_secs: 0,
        workdir: dir.join(&job_id),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (_stop_tx, stop) = watch::channel(false);
    let started = Instant::now();
    let watcher = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let JobEvent::Dispatched { handle } = event {
                return Some((Instant::now(), handle));
            }
        }
        None
    });
    let result = executor.run(job, tx, stop).await;
    let (created_at, handle) = watcher.await.unwrap().unwrap();
    assert!(matches!(result, JobResult::Succeeded(_)), "{result:?}");
    executor.release(&handle).await;
    let dispatched = created_at - started;
    (started.elapsed(), dispatched)
}

fn cli_step(socket: &str) -> Duration {
    let started = Instant::now();
    let out = Command::new("docker")
        .env("DOCKER_HOST", socket)
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            "--memory",
            "64m",
            IMAGE,
            "sh",
            "-c",
            SCRIPT,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    started.elapsed()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

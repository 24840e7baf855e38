//! The Docker executor against a real engine: lifecycle, limits, timeouts,
//! stops, evictions and bad input. Each test says SKIPPED when no engine
//! answers, unless CATTERY_REQUIRE_DOCKER=1 (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::*;
use cattery_tests::{Home, docker, docker_cli};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ONE_STEP: (&str, &str) = (
    "pipelines/one.toml",
    "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
);

async fn home(files: &[(&str, &str)]) -> Option<Home> {
    let id = format!("test-{}", std::process::id());
    let executor = docker(&id).await?;
    Some(Home::with_executor(files, Arc::new(executor)))
}

/// Runs the one-step pipeline on a new task until the run ends.
async fn run_to_end(home: &Home, description: &str, secs: u64) -> Arc<Run> {
    let block = home.add_task(description);
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    home.wait_run(&run.id, secs, |r| !r.status.is_live()).await
}

async fn wait_handle(home: &Home, run_id: &str) -> String {
    let run = home
        .wait_run(run_id, 20, |r| {
            r.current()
                .and_then(|s| s.job.as_ref())
                .is_some_and(|j| j.handle.is_some())
        })
        .await;
    run.current().unwrap().job.clone().unwrap().handle.unwrap()
}

fn inspect(id: &str, format: &str) -> Option<String> {
    let (ok, out) = docker_cli(&["inspect", "--format", format, id]);
    ok.then_some(out)
}

async fn wait_gone(id: &str) {
    cattery_tests::eventually_async(
        10,
        || std::future::ready(inspect(id, "{{.Id}}").is_none().then_some(())),
        || format!("container {id} was not removed"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_runs_in_a_locked_down_labelled_container_with_live_metrics() {
    let Some(mut home) = home(&[]).await else {
        return;
    };
    let block = home.add_task("@demo * sleep 1500\n@demo architect tokens 1234");
    let run = home.daemon.start(&block.id, "quick", "ana").await.unwrap();
    let id = wait_handle(&home, &run.id).await;

    let labels = inspect(&id, "{{json .Config.Labels}}").unwrap();
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["cattery.run"], run.id.as_str());
    assert_eq!(labels["cattery.step"], "0");
    assert!(labels["cattery.job"].as_str().unwrap().starts_with("j_"));
    assert!(
        labels["cattery.daemon"]
            .as_str()
            .unwrap()
            .starts_with("test-")
    );
    let host = inspect(&id, "{{.HostConfig.NetworkMode}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}").unwrap();
    assert_eq!(host, "none [\"ALL\"] [\"no-new-privileges\"] 268435456 128");
    let mounts = inspect(&id, "{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}").unwrap();
    assert_eq!(mounts, "/cattery false", "the context is mounted read-only");

    // Metrics arrive while the container still runs.
    let live = home
        .wait_run(&run.id, 20, |r| r.steps[0].metrics.calls >= 1)
        .await;
    assert_eq!(live.steps[0].state, StepState::Working);
    assert_eq!(live.steps[0].metrics.completion_tokens % 1234, 0);

    let gate = home.next_gate(30).await;
    assert_eq!(gate.prompt, "architect output, attempt 1");
    let parked = home.daemon.run(&run.id).unwrap();
    assert_eq!(parked.steps[0].metrics.calls, 3);
    assert_eq!(parked.steps[0].metrics.completion_tokens, 3 * 1234);
    assert_eq!(parked.steps[0].model.as_deref(), Some("demo-large"));
    wait_gone(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_past_its_timeout_is_killed_and_the_step_fails_as_timeout() {
    let agents = (
        "agents.toml",
        "[agents.coder]\ntimeout_secs = 1\nenv = { MODEL = \"big\" }\n",
    );
    let Some(home) = home(&[agents, ONE_STEP]).await else {
        return;
    };
    let block = home.add_task("@demo * sleep 30000");
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    let id = wait_handle(&home, &run.id).await;
    let env = inspect(&id, "{{json .Config.Env}}").unwrap();
    assert!(
        env.contains("\"MODEL=big\""),
        "the agent's env reaches its container: {env}"
    );
    let ended = home.wait_run(&run.id, 20, |r| !r.status.is_live()).await;
    let failure = ended.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Timeout, "{failure:?}");
    assert!(failure.detail.unwrap().contains("coder starting attempt 1"));
    wait_gone(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_the_container_within_five_seconds() {
    let Some(home) = home(&[ONE_STEP]).await else {
        return;
    };
    let block = home.add_task("@demo * sleep 60000");
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    let id = wait_handle(&home, &run.id).await;
    assert_eq!(inspect(&id, "{{.State.Running}}").as_deref(), Some("true"));
    let stopped_at = Instant::now();
    home.daemon.stop(&run.id, "ana").await.unwrap();
    loop {
        let running = inspect(&id, "{{.State.Running}}");
        if running.as_deref() != Some("true") {
            break;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(5),
            "still running 5s after stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped = home.daemon.run(&run.id).unwrap();
    assert_eq!(
        stopped.failure.as_ref().unwrap().kind,
        FailureKind::Cancelled
    );
    wait_gone(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_killed_container_is_redispatched_once_then_the_run_fails_as_evicted() {
    let hog = "[agents.coder]\nmemory_mb = 8\nimage_command = [\"sh\", \"-c\", \"echo eating; x=$(head -c 64000000 /dev/zero | tr '\\\\0' x); echo survived\"]\n";
    let Some(home) = home(&[("agents.toml", hog), ONE_STEP]).await else {
        return;
    };
    let ended = run_to_end(&home, "", 60).await;
    let failure = ended.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Evicted, "{failure:?}");
    let detail = failure.detail.unwrap();
    assert!(detail.contains("OOM killed: true"), "{detail}");
    assert!(detail.contains("eating"), "{detail}");
    assert_eq!(ended.steps[0].recoveries, 1, "one automatic re-dispatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_fails_the_step_with_how_to_build_it() {
    let agents = (
        "agents.toml",
        "[agents.coder]\nimage = \"cattery/no-such-image:1\"\n",
    );
    let Some(home) = home(&[agents, ONE_STEP]).await else {
        return;
    };
    let ended = run_to_end(&home, "", 20).await;
    let failure = ended.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Dispatch);
    assert!(
        failure.message.contains("cattery/no-such-image:1"),
        "{failure:?}"
    );
    assert!(failure.hint.unwrap().contains("build-demo-image.sh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_missing_from_the_image_fails_and_leaves_no_container() {
    let agents = (
        "agents.toml",
        "[agents.coder]\nimage_command = [\"/no/such/agent\"]\n",
    );
    let Some(home) = home(&[agents, ONE_STEP]).await else {
        return;
    };
    let ended = run_to_end(&home, "", 20).await;
    let failure = ended.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Dispatch, "{failure:?}");
    // The engine's own words vary with its load; ours say what failed and the fix.
    assert!(failure.message.contains("container"), "{failure:?}");
    assert!(failure.hint.is_some(), "{failure:?}");
    let (_, left) = docker_cli(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=cattery.run={}", ended.id),
    ]);
    assert_eq!(left, "", "no container is left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_flooding_stdout_keeps_only_a_bounded_tail() {
    let flood = "[agents.coder]\nimage_command = [\"sh\", \"-c\", \"yes 'spam spam spam' | head -n 200000; echo last words; exit 4\"]\n";
    let Some(home) = home(&[("agents.toml", flood), ONE_STEP]).await else {
        return;
    };
    let ended = run_to_end(&home, "", 60).await;
    let failure = ended.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Agent, "{failure:?}");
    let detail = failure.detail.unwrap();
    assert!(
        detail.ends_with("last words"),
        "{}",
        &detail[detail.len().saturating_sub(200)..]
    );
    assert!(
        detail.len() < 8 * 1024,
        "the tail is bounded: {} bytes",
        detail.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_over_the_limit_fails_before_any_container_starts() {
    let Some(home) = home(&[ONE_STEP]).await else {
        return;
    };
    let huge = "x".repeat(9 * 1024 * 1024);
    let ended = run_to_end(&home, &huge, 20).await;
    let failure = ended.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Environment);
    assert!(failure.message.contains("over the"), "{failure:?}");
    assert!(ended.steps[0].job.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_mode_with_no_engine_refuses_runs_naming_the_socket() {
    use cattery_daemon::config::{ExecutorChoice, Paths, Settings};
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        executor: ExecutorChoice::Docker,
        docker_socket: Some("/nonexistent/docker.sock".into()),
        ..Settings::default()
    };
    let executor = cattery_daemon::app::choose_executor(&settings, &Paths::under(dir.path()))
        .await
        .unwrap();
    assert_eq!(executor.name(), "docker");
    let home = Home::with_executor(&[], executor);
    let block = home.add_task("");
    let err = home
        .daemon
        .start(&block.id, "quick", "ana")
        .await
        .unwrap_err();
    assert_eq!(err.code(), cattery_protocol::wire::ErrorCode::Unavailable);
    let message = err.to_string();
    assert!(message.contains("/nonexistent/docker.sock"), "{message}");
    assert!(message.contains("executor = \"process\""), "{message}");
    assert!(home.daemon.runs().unwrap().is_empty());
    // The daemon keeps serving: the board still answers.
    assert_eq!(home.daemon.board().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_from_outside_is_redispatched_once_and_the_run_goes_on() {
    let Some(home) = home(&[ONE_STEP]).await else {
        return;
    };
    let block = home.add_task("@demo * sleep 3000");
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    let first = wait_handle(&home, &run.id).await;
    let (killed, _) = docker_cli(&["kill", &first]);
    assert!(killed);
    let redispatched = home
        .wait_run(&run.id, 20, |r| {
            r.steps[0].recoveries == 1
                && r.steps[0].job.as_ref().is_some_and(|j| j.handle.is_some())
        })
        .await;
    let second = redispatched.steps[0].job.clone().unwrap().handle.unwrap();
    assert_ne!(second, first, "a new container");
    let done = home.wait_run(&run.id, 30, |r| !r.status.is_live()).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    assert_eq!(done.steps[0].recoveries, 1);
    wait_gone(&first).await;
    wait_gone(&second).await;
}

//! Bad input of every kind gets a clear error or a clearly failed run, never a wedged one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::*;
use cattery_tests::Home;

async fn failure_of(agents_toml: &str) -> Failure {
    let home = Home::with_config(&[
        ("agents.toml", agents_toml),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"merger\"\n",
        ),
    ]);
    let block = home.add_task("");
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    let ended = home.wait_run(&run.id, 20, |r| !r.status.is_live()).await;
    assert_eq!(ended.status, RunStatus::Failed);
    assert!(ended.steps.iter().all(|s| s.state != StepState::Working));
    ended.failure.clone().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_command_that_does_not_exist_fails_the_step_with_a_hint() {
    let failure = failure_of("[agents.coder]\ncommand = [\"/nonexistent/agent\"]\n").await;
    assert_eq!(failure.kind, FailureKind::Dispatch);
    assert!(
        failure.message.contains("/nonexistent/agent"),
        "{failure:?}"
    );
    assert!(failure.hint.unwrap().contains("[agents.coder]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_prints_garbage_and_no_result_fails_with_its_output_tail() {
    let script = "echo '{broken json'; echo 'plain words'; echo oops >&2";
    let toml = format!("[agents.coder]\ncommand = [\"sh\", \"-c\", \"{script}\"]\n");
    let failure = failure_of(&toml).await;
    assert_eq!(failure.kind, FailureKind::Agent);
    assert!(
        failure.message.contains("without a result line"),
        "{failure:?}"
    );
    let detail = failure.detail.unwrap();
    assert!(
        detail.contains("{broken json")
            && detail.contains("plain words")
            && detail.contains("oops"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_past_its_timeout_is_killed_and_fails_as_timeout() {
    let toml = "[agents.coder]\ncommand = [\"sh\", \"-c\", \"echo started; sleep 30\"]\ntimeout_secs = 1\n";
    let failure = failure_of(toml).await;
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert!(failure.detail.unwrap().contains("started"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_the_running_agent_and_fails_the_run_as_cancelled() {
    let home = Home::with_config(&[
        (
            "agents.toml",
            "[agents.coder]\ncommand = [\"sh\", \"-c\", \"echo started; sleep 30\"]\n",
        ),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
        ),
    ]);
    let block = home.add_task("");
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    let working = home
        .wait_run(&run.id, 10, |r| {
            r.steps[0].job.as_ref().is_some_and(|j| j.handle.is_some())
        })
        .await;
    let pid = working.steps[0].job.clone().unwrap().handle.unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    home.daemon.stop(&run.id, "ana").await.unwrap();
    let stopped = home.daemon.run(&run.id).unwrap();
    assert_eq!(
        stopped.failure.as_ref().unwrap().kind,
        FailureKind::Cancelled
    );
    // A zombie still has a /proc entry until reaped; its state says so.
    let gone = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        (stat.is_empty() || stat.contains(") Z")).then_some(())
    };
    cattery_tests::eventually_async(
        5,
        || std::future::ready(gone()),
        || format!("agent {pid} still alive after stop"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_pipeline_or_block_is_refused_with_what_exists() {
    let home = Home::new();
    let block = home.add_task("");
    let err = home
        .daemon
        .start(&block.id, "quik", "ana")
        .await
        .unwrap_err();
    assert_eq!(err.code(), cattery_protocol::wire::ErrorCode::NotFound);
    assert!(
        err.to_string()
            .contains("known pipelines: bugfix, build, full, quick"),
        "{err}"
    );
    let err = home
        .daemon
        .start("b_nope", "quick", "ana")
        .await
        .unwrap_err();
    assert_eq!(err.code(), cattery_protocol::wire::ErrorCode::NotFound);
    assert!(err.to_string().contains("b_nope"), "{err}");
    assert!(
        home.daemon.runs().unwrap().is_empty(),
        "nothing was started"
    );
}

#[test]
fn catteryd_refuses_a_malformed_pipeline_with_file_line_and_fix() {
    let (code, stderr) = cattery_tests::catteryd_on_config(&[(
        "pipelines/mine.toml",
        "name = \"x\"\n[[steps]]\nagent = \"codr\"\n",
    )]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("pipelines/mine.toml:3: unknown agent kind `codr`"),
        "{stderr}"
    );
    assert!(stderr.contains("fix: use one of:"), "{stderr}");
}

#[test]
fn a_second_catteryd_on_the_same_home_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    cattery_tests::write_config(dir.path(), &[("config.toml", "port = 0\n")]);
    let mut first = std::process::Command::new(cattery_tests::catteryd())
        .arg("--home")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pidfile = dir.path().join("data/catteryd.pid");
    cattery_tests::eventually(
        10,
        || {
            let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
            (!pid.trim().is_empty()).then_some(())
        },
        || "first daemon never locked its home".to_owned(),
    );
    let second = std::process::Command::new(cattery_tests::catteryd())
        .arg("--home")
        .arg(dir.path())
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another catteryd already runs"), "{stderr}");
}

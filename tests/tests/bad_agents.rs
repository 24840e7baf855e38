//! Agents that cannot start or misbehave fail the run clearly, never wedge it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::service::ops::NewBlock;
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
    let block = home
        .daemon
        .add_block(NewBlock {
            level: BlockLevel::Task,
            parent_id: None,
            title: "t".into(),
            description: String::new(),
        })
        .unwrap();
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    let ended = home.wait_run(&run.id, 20, |r| !r.status.is_live()).await;
    assert_eq!(ended.status, RunStatus::Failed);
    assert!(ended.steps.iter().all(|s| s.state != StepState::Working));
    ended.failure.unwrap()
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
    let block = home
        .daemon
        .add_block(NewBlock {
            level: BlockLevel::Task,
            parent_id: None,
            title: "t".into(),
            description: String::new(),
        })
        .unwrap();
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
    assert_eq!(stopped.failure.unwrap().kind, FailureKind::Cancelled);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        // A zombie still has a /proc entry until reaped; its state says so.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.contains(") Z") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "agent {pid} still alive 5s after stop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

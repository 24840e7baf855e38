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
    let run = home.daemon.start(&block.id, "one", "ana").unwrap();
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

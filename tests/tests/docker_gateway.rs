//! The containers' gateway network when it cannot be made: the daemon
//! still starts, `daemon status` says why containers cannot reach the
//! gateway, and a kind on `network = "gateway"` fails preflight with that
//! reason and the fix, instead of hanging on a call that goes nowhere.
//! Says SKIPPED without an engine, unless CATTERY_REQUIRE_DOCKER=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{FailureKind, RunStatus};
use cattery_tests::{CtlHome, Tool};

#[test]
fn a_gateway_subnet_this_machine_already_has_is_refused_and_gateway_kinds_fail_preflight_saying_why()
 {
    let (engine, _) = cattery_tests::docker_cli(&["version"]);
    if !engine {
        cattery_tests::skip::<()>(Tool::Docker, "no Docker engine answers");
        return;
    }
    // 127.0.0.1 is on the loopback interface of every machine.
    let config = format!(
        "executor = \"docker\"\ndocker_socket = \"{}\"\nport = 0\ndocker_gateway_subnet = \"127.0.0.0/24\"\n",
        cattery_tests::docker_socket()
    );
    let agents = "[agents.caller]\nnetwork = \"gateway\"\nimage = \"cattery/demo-agent:latest\"\nimage_command = [\"sh\", \"-c\", \"echo '{\\\"type\\\":\\\"result\\\",\\\"output\\\":\\\"x\\\"}'\"]\n";
    let home = CtlHome::with_config(&[
        ("config.toml", &config),
        ("agents.toml", agents),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"caller\"\n",
        ),
    ]);
    let run = home.start_task("call out", "one");
    let failed = home.wait_run(&run.id, "failed", |r| !r.status.is_live());
    assert_eq!(failed.status, RunStatus::Failed);
    let failure = failed.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Preflight, "{failure:?}");
    assert!(
        failure
            .message
            .contains("already on one of this machine's interfaces"),
        "{failure:?}"
    );
    assert!(
        failure.message.contains("docker_gateway_subnet"),
        "{failure:?}"
    );
    let (_, status, _) = home.cli(&["daemon", "status"]);
    let status: cattery_protocol::wire::DaemonStatus = serde_json::from_str(&status).unwrap();
    let gateway = status.gateway.unwrap();
    assert!(gateway.container_url.is_none());
    assert!(
        gateway
            .container_problem
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "status names the address"
    );
}

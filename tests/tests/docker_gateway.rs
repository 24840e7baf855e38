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

#[test]
fn a_container_on_the_gateway_network_reaches_the_gateway_with_its_token_and_nothing_else_and_never_holds_the_key()
 {
    const KEY: &str = "sk-ant-api03-REAL-KEY-never-in-a-container";
    let (engine, _) = cattery_tests::docker_cli(&["version"]);
    if !engine {
        cattery_tests::skip::<()>(Tool::Docker, "no Docker engine answers");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(one_answer_server());
    let config = format!(
        "executor = \"docker\"\ndocker_socket = \"{}\"\nport = 0\nanthropic_url = \"{}\"\n",
        cattery_tests::docker_socket(),
        server.url()
    );
    // Busybox's nc: one call to the gateway with the job's token, one try
    // at an address outside; then a pause, so the test can inspect it.
    let probe = format!(
        r#"{GATEWAY_CALL}; if nc -w 2 1.1.1.1 80 </dev/null 2>/dev/null; then out=escaped; else out=sealed; fi; sleep 4; echo "{{\"type\":\"result\",\"output\":\"$status|$out\"}}""#
    );
    let agents = format!(
        "[agents.prober]\nnetwork = \"gateway\"\nimage = \"cattery/demo-agent:latest\"\nimage_command = [\"sh\", \"-c\", {}]\n",
        toml_string(&probe)
    );
    let home = CtlHome::with_config(&[
        ("config.toml", &config),
        ("agents.toml", &agents),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"prober\"\n",
        ),
    ]);
    home.set_anthropic_key(KEY);
    let run = home.start_task("probe", "one");
    let env = cattery_tests::eventually(
        30,
        || {
            let filter = format!("label=cattery.run={}", run.id);
            let (_, id) = cattery_tests::docker_cli(&["ps", "-q", "--filter", &filter]);
            let id = id.lines().next()?.to_owned();
            let (ok, env) =
                cattery_tests::docker_cli(&["inspect", "--format", "{{json .Config.Env}}", &id]);
            ok.then_some(env)
        },
        || "the agent's container never showed up".to_owned(),
    );
    assert!(
        env.contains("ANTHROPIC_API_KEY=cattery-job-"),
        "a job token: {env}"
    );
    assert!(!env.contains(KEY), "docker inspect shows no key: {env}");
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let output = done.steps[0].output.clone().unwrap_or_default();
    let (_, log, _) = home.cli(&["ctl", "logs", &run.id]);
    assert!(
        output.starts_with("HTTP/1.0 200"),
        "the gateway answered the container: {output}\n{log}"
    );
    assert!(
        output.ends_with("|sealed"),
        "and nothing else did: {output}"
    );
    assert_eq!(done.steps[0].metrics.calls, 1, "the call was metered");
    assert_eq!(server.seen()[0].header("x-api-key"), Some(KEY));
    drop(runtime);
}

/// `text` as a TOML basic string.
#[test]
fn daemons_started_at_once_on_a_fresh_subnet_all_reach_the_gateway_on_the_one_network_they_share() {
    let (engine, _) = cattery_tests::docker_cli(&["version"]);
    if !engine {
        cattery_tests::skip::<()>(Tool::Docker, "no Docker engine answers");
        return;
    }
    const SUBNET: &str = "172.30.93.0/24";
    let network = "cattery-gateway-172-30-93-0-24";
    cattery_tests::docker_cli(&["network", "rm", network]);
    let config = format!(
        "executor = \"docker\"\ndocker_socket = \"{}\"\nport = 0\ndocker_gateway_subnet = \"{SUBNET}\"\n",
        cattery_tests::docker_socket()
    );
    let homes: Vec<CtlHome> = (0..8)
        .map(|_| {
            CtlHome::with_config(&[
                ("config.toml", &config),
                (
                    "agents.toml",
                    "[agents.caller]\nnetwork = \"gateway\"\nimage = \"cattery/demo-agent:latest\"\n",
                ),
            ])
        })
        .collect();
    // Eight daemons start at once and race to make the network.
    std::thread::scope(|scope| {
        let started: Vec<_> = homes
            .iter()
            .map(|home| scope.spawn(|| home.cli(&["daemon", "start"])))
            .collect();
        for start in started {
            let (code, _, err) = start.join().unwrap();
            assert_eq!(code, 0, "{err}");
        }
    });
    let mut relays = std::collections::HashSet::new();
    for home in &homes {
        let (_, status, _) = home.cli(&["daemon", "status"]);
        let status: cattery_protocol::wire::DaemonStatus = serde_json::from_str(&status).unwrap();
        let gateway = status.gateway.unwrap();
        let url = gateway.container_url.clone().unwrap_or_default();
        assert!(
            url.starts_with("http://172.30.93."),
            "every daemon reaches its containers: {gateway:?}"
        );
        relays.insert(url);
    }
    assert_eq!(relays.len(), homes.len(), "a relay each: {relays:?}");
    let (_, listed) = cattery_tests::docker_cli(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("name={network}"),
    ]);
    assert_eq!(listed.lines().count(), 1, "one network: {listed}");
    drop(homes);
    cattery_tests::docker_cli(&["network", "rm", network]);
}

#[test]
fn a_gateway_container_reaches_no_port_of_the_host_and_reads_nothing_of_the_daemons_home() {
    const KEY: &str = "sk-ant-api03-REAL-KEY-never-in-a-container";
    let (engine, _) = cattery_tests::docker_cli(&["version"]);
    if !engine {
        cattery_tests::skip::<()>(Tool::Docker, "no Docker engine answers");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(one_answer_server());
    // A server on every address of the host, as a careless one would be.
    let everywhere = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let open_port = everywhere.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in everywhere.incoming().flatten() {
            let mut stream = stream;
            let _ = std::io::Write::write_all(&mut stream, b"HTTP/1.0 200 OK\r\n\r\nhost\n");
        }
    });
    let daemon_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let model_port = server.url().rsplit(':').next().unwrap().to_owned();
    // Every address of this machine, and the subnet's first one, where the
    // host sat on the network before the relay.
    let addresses = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .unwrap();
    let addresses = String::from_utf8_lossy(&addresses.stdout).into_owned();
    let mut hosts: Vec<String> = addresses
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|a| a.split('/').next())
        .map(str::to_owned)
        .collect();
    hosts.push("172.30.77.1".to_owned());
    let targets: Vec<String> = hosts
        .iter()
        .flat_map(|h| {
            [
                open_port.to_string(),
                daemon_port.to_string(),
                model_port.clone(),
            ]
            .map(|p| format!("{h}:{p}"))
        })
        .collect();
    let config = format!(
        "executor = \"docker\"\ndocker_socket = \"{}\"\nport = {daemon_port}\nanthropic_url = \"{}\"\n",
        cattery_tests::docker_socket(),
        server.url()
    );
    let home = CtlHome::with_config(&[("config.toml", &config)]);
    let home_dir = home.path().display().to_string();
    let docker_socket = cattery_tests::docker_socket()
        .trim_start_matches("unix://")
        .to_owned();
    let probe = format!(
        r#"{GATEWAY_CALL}; reached=""; for t in {targets}; do if nc -w 2 "${{t%:*}}" "${{t#*:}}" </dev/null >/dev/null 2>&1; then reached="$reached $t"; fi; done; for s in /var/run/docker.sock /run/docker.sock {docker_socket}; do [ -e "$s" ] && reached="$reached $s"; done; read=""; for f in {home_dir} {home_dir}/config/secrets.toml {home_dir}/data/token {home_dir}/data/jobs /cattery-relay; do [ -e "$f" ] && read="$read $f"; done; echo "{{\"type\":\"result\",\"output\":\"$status|reached:$reached|read:$read\"}}""#,
        targets = targets.join(" ")
    );
    let agents = format!(
        "[agents.prober]\nnetwork = \"gateway\"\nimage = \"cattery/demo-agent:latest\"\nimage_command = [\"sh\", \"-c\", {}]\n",
        toml_string(&probe)
    );
    cattery_tests::write_config(
        home.path(),
        &[
            ("agents.toml", &agents),
            (
                "pipelines/one.toml",
                "name = \"One\"\n[[steps]]\nagent = \"prober\"\n",
            ),
        ],
    );
    home.set_anthropic_key(KEY);
    let run = home.start_task("probe", "one");
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.failure);
    let output = done.steps[0].output.clone().unwrap_or_default();
    assert!(
        output.starts_with("HTTP/1.0 200"),
        "the gateway answered the container: {output}"
    );
    assert!(
        output.contains("|reached:|"),
        "no port of the host answered, nor any engine socket: {output}"
    );
    assert!(
        output.ends_with("|read:"),
        "nothing of the daemon's home is in the container: {output}"
    );
    assert_eq!(done.steps[0].metrics.calls, 1, "the call was metered");
    drop(runtime);
}

/// Busybox's nc: one call to the gateway (`$ANTHROPIC_BASE_URL`) with the
/// job's token; the answer's status line is left in `$status`.
const GATEWAY_CALL: &str = r#"host=${ANTHROPIC_BASE_URL#http://}; ip=${host%:*}; port=${host#*:}; body='{"model":"claude-mock","max_tokens":5,"stream":true,"messages":[]}'; status=$(printf 'POST /v1/messages HTTP/1.0\r\nx-api-key: %s\r\ncontent-type: application/json\r\ncontent-length: %s\r\n\r\n%s' "$ANTHROPIC_API_KEY" "${#body}" "$body" | nc -w 5 "$ip" "$port" | head -n1 | tr -d '\r')"#;

/// A scripted model server with one short answer.
async fn one_answer_server() -> cattery_tests::model_server::ModelServer {
    cattery_tests::model_server::ModelServer::start(vec![
        cattery_tests::model_server::Reply::Text {
            model: "claude-mock".into(),
            text: "hi".into(),
            usage: cattery_tests::model_server::Usage {
                input: 7,
                output: 2,
                cache_read: 0,
                cache_write: 0,
            },
            stop_reason: "end_turn".into(),
            hold: None,
        },
    ])
    .await
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

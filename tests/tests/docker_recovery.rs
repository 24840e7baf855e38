//! A real catteryd on the Docker executor survives SIGKILL: it re-attaches to
//! a container still running, records exactly once the result of one that
//! finished while it was down, and removes containers no live run needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::config::Paths;
use cattery_daemon::store::Store;
use cattery_protocol::{Run, RunStatus};
use cattery_tests::{docker, docker_cli, docker_socket, write_config};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

fn seed(sleep_ms: u32) -> String {
    format!(
        "[[blocks]]\nlevel = \"task\"\ntitle = \"t\"\npipeline = \"one\"\ndescription = \"@demo * sleep {sleep_ms}\"\n"
    )
}

/// A home on the test engine with a known daemon id; `None` when no engine.
async fn home(daemon_id: &str) -> Option<tempfile::TempDir> {
    docker("probe").await?;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "executor = \"docker\"\ndocker_socket = \"{}\"\nport = 0\n",
        docker_socket()
    );
    write_config(
        dir.path(),
        &[
            ("config.toml", &config),
            (
                "pipelines/one.toml",
                "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
            ),
        ],
    );
    let paths = Paths::under(dir.path());
    std::fs::create_dir_all(&paths.data).unwrap();
    std::fs::write(paths.daemon_id(), daemon_id).unwrap();
    Some(dir)
}

/// A daemon on `home`, with the seed's blocks imported and started.
fn catteryd(home: &Path, seed: Option<&str>) -> Child {
    let child = cattery_tests::spawn_catteryd_with(home, &[]);
    if let Some(seed) = seed {
        cattery_tests::import_workspace(home, seed);
    }
    child
}

fn containers(daemon_id: &str, extra: &[&str]) -> Vec<String> {
    let label = format!("label=cattery.daemon={daemon_id}");
    let mut args = vec!["ps", "-q", "--no-trunc", "--filter", label.as_str()];
    args.extend_from_slice(extra);
    let (_, out) = docker_cli(&args);
    out.lines().map(str::to_owned).collect()
}

fn wait_for(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
    cattery_tests::eventually(
        secs,
        || ready().then_some(()),
        || format!("timed out waiting for {what}"),
    );
}

/// Containers the engine created for this daemon since `since` (unix secs).
fn created_since(daemon_id: &str, since: u64) -> usize {
    let now = (std::time::SystemTime::now() + Duration::from_secs(1))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let label = format!("label=cattery.daemon={daemon_id}");
    let (since, until) = (since.to_string(), now.to_string());
    let (ok, out) = docker_cli(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--filter",
        &label,
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert!(ok);
    out.lines().count()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn only_run(home: &Path) -> Run {
    let store = Store::open(&Paths::under(home).database()).unwrap();
    store.runs().unwrap().remove(0)
}

/// Starts the seeded run, SIGKILLs catteryd while its container runs, calls
/// `meanwhile`, restarts, and returns the finished run.
fn kill_mid_container(
    home: &Path,
    daemon_id: &str,
    sleep_ms: u32,
    meanwhile: impl FnOnce(&str),
) -> Run {
    let mut first = catteryd(home, Some(&seed(sleep_ms)));
    wait_for("a running container", 30, || {
        !containers(daemon_id, &[]).is_empty()
    });
    let container = containers(daemon_id, &[]).remove(0);
    first.kill().unwrap();
    first.wait().unwrap();
    let (_, running) = docker_cli(&["inspect", "--format", "{{.State.Running}}", &container]);
    assert_eq!(running, "true", "the container outlives the daemon");
    meanwhile(&container);
    let mut second = catteryd(home, None);
    cattery_tests::settle_then_stop(home, &mut second, 60);
    only_run(home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_the_daemon_reattaches_to_a_running_container() {
    let id = format!("reattach-{}", std::process::id());
    let Some(dir) = home(&id).await else { return };
    let since = unix_now();
    let run = kill_mid_container(dir.path(), &id, 4000, |_| {});
    assert_eq!(run.status, RunStatus::Done, "{:?}", run.failure);
    assert_eq!(
        run.steps[0].recoveries, 0,
        "followed again, not re-dispatched"
    );
    assert_eq!(created_since(&id, since), 1, "no second container");
    assert_eq!(
        run.steps[0].metrics.calls, 3,
        "replayed output is not counted twice"
    );
    wait_for("the finished container's removal", 10, || {
        containers(&id, &["-a"]).is_empty()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_finished_while_the_daemon_was_down_is_recorded_once() {
    let id = format!("finished-{}", std::process::id());
    let Some(dir) = home(&id).await else { return };
    let since = unix_now();
    let run = kill_mid_container(dir.path(), &id, 1500, |container| {
        wait_for("the container to exit", 30, || {
            let (_, running) =
                docker_cli(&["inspect", "--format", "{{.State.Running}}", container]);
            running == "false"
        });
    });
    assert_eq!(run.status, RunStatus::Done, "{:?}", run.failure);
    assert_eq!(
        run.steps[0].output.as_deref(),
        Some("coder output, attempt 1")
    );
    assert_eq!(run.steps[0].recoveries, 0);
    assert_eq!(
        created_since(&id, since),
        1,
        "the result came from the first container"
    );
    assert_eq!(run.output_history.len(), 1, "recorded exactly once");
    wait_for("the finished container's removal", 10, || {
        containers(&id, &["-a"]).is_empty()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_no_live_run_needs_are_removed_on_start() {
    let id = format!("orphans-{}", std::process::id());
    let Some(dir) = home(&id).await else { return };
    let daemon_label = format!("cattery.daemon={id}");
    let (ok, orphan) = docker_cli(&[
        "create",
        "--label",
        &daemon_label,
        "--label",
        "cattery.job=j_orphan",
        "cattery/demo-agent:latest",
        "true",
    ]);
    assert!(ok, "creating the orphan failed");
    let (ok, stranger) = docker_cli(&[
        "create",
        "--label",
        "cattery.daemon=someone-else",
        "--label",
        "cattery.job=j_x",
        "cattery/demo-agent:latest",
        "true",
    ]);
    assert!(ok);
    let mut daemon = catteryd(dir.path(), None);
    cattery_tests::settle_then_stop(dir.path(), &mut daemon, 30);
    let (gone, _) = docker_cli(&["inspect", &orphan]);
    assert!(!gone, "the orphan was removed");
    let (kept, _) = docker_cli(&["inspect", &stranger]);
    assert!(kept, "another daemon's container was left alone");
    docker_cli(&["rm", "-f", &stranger]);
}

//! An engine that dies under a running step: the step fails with a clear
//! message instead of wedging, and once an engine is back, the daemon's sweep
//! leaves no container behind. Runs its own dockerd, so the other Docker tests
//! keep theirs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::exec::DockerExecutor;
use cattery_daemon::service::ops::NewBlock;
use cattery_protocol::*;
use cattery_tests::Home;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Engine {
    dir: tempfile::TempDir,
    child: Child,
}

impl Engine {
    fn socket(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// Starts a dockerd of our own, or `None` (said) when this machine cannot.
    fn start(dir: tempfile::TempDir) -> Option<Self> {
        let w = dir.path();
        let spawned = Command::new("dockerd")
            .args([
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--bridge=none",
            ])
            .args(["--shutdown-timeout", "1"])
            .arg("--data-root")
            .arg(w.join("data"))
            .arg("--exec-root")
            .arg(w.join("exec"))
            .arg("--pidfile")
            .arg(w.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", w.join("docker.sock").display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(w.join("dockerd.log")).unwrap())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => return skip(&format!("cannot start dockerd: {e}")),
        };
        let engine = Self { dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !engine.answers() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(engine.dir.path().join("dockerd.log"))
                    .unwrap_or_default();
                return skip(&format!("dockerd did not answer: {log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(engine)
    }

    fn answers(&self) -> bool {
        Command::new("docker")
            .env("DOCKER_HOST", self.socket())
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn stop(mut self) -> tempfile::TempDir {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.dir
    }

    fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .env("DOCKER_HOST", self.socket())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn skip<T>(reason: &str) -> Option<T> {
    cattery_tests::skip(
        cattery_tests::Tool::Docker,
        &format!("this test runs its own Docker engine: {reason}"),
    )
}

fn build_image(engine: &Engine) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-demo-image.sh");
    let status = Command::new("bash")
        .arg(script)
        .env("DOCKER_HOST", engine.socket())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "building the demo image failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_engine_fails_the_step_clearly_and_leaves_no_container() {
    let Some(engine) = Engine::start(tempfile::tempdir().unwrap()) else {
        return;
    };
    build_image(&engine);
    let daemon_id = format!("dies-{}", std::process::id());
    let executor = DockerExecutor::connect(&engine.socket(), daemon_id.clone())
        .await
        .unwrap();
    let one = (
        "pipelines/one.toml",
        "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
    );
    let home = Home::with_executor(&[one], Arc::new(executor.clone()));
    let block = home
        .daemon
        .add_block(NewBlock {
            repository: None,
            level: BlockLevel::Task,
            parent_id: None,
            title: "t".into(),
            description: "@demo * sleep 60000".into(),
        })
        .unwrap();
    let run = home.daemon.start(&block.id, "one", "ana").await.unwrap();
    home.wait_run(&run.id, 30, |r| {
        r.steps[0].job.as_ref().is_some_and(|j| j.handle.is_some())
    })
    .await;

    let dir = engine.stop();
    let ended = home.wait_run(&run.id, 60, |r| !r.status.is_live()).await;
    let failure = ended.failure.clone().unwrap();
    assert!(
        matches!(failure.kind, FailureKind::Dispatch | FailureKind::Evicted),
        "{failure:?}"
    );
    assert!(failure.hint.is_some(), "{failure:?}");
    assert!(
        ended.steps.iter().all(|s| s.state != StepState::Working),
        "not wedged"
    );

    // The engine comes back with the dead step's container; the next start's
    // sweep removes it.
    let engine = Engine::start(dir).expect("the engine restarts");
    let label = format!("label=cattery.daemon={daemon_id}");
    let back = DockerExecutor::connect(&engine.socket(), daemon_id.clone())
        .await
        .unwrap();
    let leftover = engine.docker(&["ps", "-aq", "--filter", &label]);
    assert!(
        !leftover.is_empty(),
        "the dead step's container is still there"
    );
    let revived = Home::with_executor(&[one], Arc::new(back));
    revived.daemon.resume_all().await.unwrap();
    assert_eq!(
        engine.docker(&["ps", "-aq", "--filter", &label]),
        "",
        "no container leaked"
    );
    engine.stop();
}

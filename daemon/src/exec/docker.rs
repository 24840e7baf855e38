//! Runs each job as a Docker container through bollard: one container per
//! job, labelled so a later daemon can find it, followed live, and removed
//! once its result is recorded.

use super::lines::LineSplitter;
use super::outcome::{self, failed};
use super::output::OutputReader;
use super::{Chore, Executor, JobEvent, JobFuture, JobSpec, JobWorkspace};
use crate::engine::JobResult;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, WaitContainerOptions,
};
use cattery_protocol::FailureKind;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub const LABEL_DAEMON: &str = "cattery.daemon";
pub const LABEL_RUN: &str = "cattery.run";
pub const LABEL_STEP: &str = "cattery.step";
pub const LABEL_JOB: &str = "cattery.job";

/// Where the step context appears inside the container.
const CONTEXT_DIR: &str = "/cattery";
/// Where a container finds the run's worktree.
const WORKSPACE_DIR: &str = "/workspace";
/// Where the job's writable agent state is mounted.
const AGENT_STATE: &str = "/cattery-agent";
/// Who agents run as when no user of their own will do: never root.
const NOBODY: u32 = 65534;

const REMOVE_ATTEMPTS: u32 = 6;

#[derive(Clone)]
pub struct DockerExecutor {
    docker: Docker,
    /// The gateway network's name, once made.
    gateway_network: std::sync::Arc<std::sync::OnceLock<String>>,
    /// Tells this daemon's containers from other daemons' on the same engine.
    daemon_id: String,
}

/// Why a Docker engine could not be used.
pub fn unreachable_message(socket: &str, error: &str) -> String {
    format!(
        "the Docker engine at {socket} does not answer ({error}); start dockerd, point docker_socket in config.toml (or DOCKER_HOST) at a running engine, or set executor = \"process\""
    )
}

impl DockerExecutor {
    /// Connects to the engine at `socket` (a path or `unix://` address),
    /// agrees on an API version and checks that it answers.
    pub async fn connect(socket: &str, daemon_id: String) -> Result<Self, String> {
        let path = socket.trim_start_matches("unix://");
        let docker = Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION)
            .map_err(|e| unreachable_message(socket, &e.to_string()))?;
        let answer = async {
            let docker = docker.negotiate_version().await?;
            docker.ping().await?;
            Ok::<_, bollard::errors::Error>(docker)
        };
        let docker = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .map_err(|_| unreachable_message(socket, "no answer within 5s"))?
            .map_err(|e| unreachable_message(socket, &e.to_string()))?;
        Ok(Self {
            docker,
            daemon_id,
            gateway_network: std::sync::Arc::default(),
        })
    }

    async fn run_job(
        self,
        job: JobSpec,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobResult {
        let Some(image) = job.agent.image.clone() else {
            let kind = &job.agent.kind;
            return failed(
                FailureKind::Preflight,
                format!("agent `{kind}` has no image, so it cannot run in Docker"),
                None,
                &format!("set image for [agents.{kind}] in agents.toml"),
            );
        };
        if let Err(failure) = super::write_context(&job).await {
            return failure;
        }
        let id = match self.create(&job, &image).await {
            Ok(id) => id,
            Err(failure) => return failure,
        };
        let _ = events.send(JobEvent::Dispatched { handle: id.clone() });
        if let Err(e) = self
            .docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
        {
            self.remove(&id).await;
            let kind = &job.agent.kind;
            return failed(
                FailureKind::Dispatch,
                format!(
                    "cannot start the container for `{kind}`: {}",
                    docker_message(&e)
                ),
                None,
                &format!("check image_command for [agents.{kind}] exists in image {image}"),
            );
        }
        self.follow(&id, &job, events, stop).await
    }

    async fn create(&self, job: &JobSpec, image: &str) -> Result<String, JobResult> {
        let options = CreateContainerOptionsBuilder::new()
            .name(&format!("cattery-{}-{}", self.daemon_id, job.job_id))
            .build();
        let created = self
            .docker
            .create_container(Some(options), self.container_body(job, image))
            .await;
        match created {
            Ok(response) => Ok(response.id),
            Err(e) => {
                let missing = is_status(&e, 404);
                let hint = if missing {
                    format!(
                        "build it (scripts/build-agent-image.sh for cattery/agent, scripts/build-demo-image.sh for the demo agent) or fix image for [agents.{}] in agents.toml",
                        job.agent.kind
                    )
                } else {
                    "check that the Docker engine is healthy, then retry".to_owned()
                };
                let message = if missing {
                    format!("image {image} is not on the Docker engine")
                } else {
                    format!("cannot create a container: {}", docker_message(&e))
                };
                Err(failed(FailureKind::Dispatch, message, None, &hint))
            }
        }
    }

    fn container_body(&self, job: &JobSpec, image: &str) -> ContainerCreateBody {
        let limits = &job.agent.limits;
        let labels = HashMap::from([
            (LABEL_DAEMON.to_owned(), self.daemon_id.clone()),
            (LABEL_RUN.to_owned(), job.context.run_id.clone()),
            (LABEL_STEP.to_owned(), job.context.step_index.to_string()),
            (LABEL_JOB.to_owned(), job.job_id.clone()),
        ]);
        let memory = (limits.memory_mb * 1024 * 1024) as i64;
        let host_config = HostConfig {
            binds: Some(binds(job)),
            network_mode: Some(match limits.network.as_str() {
                // Never made: the job failed preflight before it got here.
                "gateway" => self
                    .gateway_network
                    .get()
                    .cloned()
                    .unwrap_or_else(|| "none".to_owned()),
                other => other.to_owned(),
            }),
            cap_drop: Some(vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            memory: Some(memory),
            // No swap beyond the memory limit, so the limit is a real limit.
            memory_swap: Some(memory),
            nano_cpus: Some((limits.cpus * 1e9) as i64),
            pids_limit: Some(limits.pids),
            ..HostConfig::default()
        };
        let cmd = (!job.agent.image_command.is_empty()).then(|| job.agent.image_command.clone());
        ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd,
            env: Some(environment(job)),
            user: Some(container_user(job)),
            working_dir: job.workspace.as_ref().map(|_| WORKSPACE_DIR.to_owned()),
            labels: Some(labels),
            host_config: Some(host_config),
            ..ContainerCreateBody::default()
        }
    }

    /// Streams the container's output from its start until it exits, enforcing
    /// the timeout and the stop switch, then reads how it ended.
    async fn follow(
        &self,
        id: &str,
        job: &JobSpec,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobResult {
        let mut reader = OutputReader::for_job(events, job);
        let activity = reader.activity();
        let supervised = super::supervise::watch(&activity, job.agent.inactivity_secs);
        tokio::pin!(supervised);
        let mut splitter = LineSplitter::default();
        let options = LogsOptionsBuilder::new()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(id, Some(options));
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        let deadline = tokio::time::sleep(job.time_left());
        tokio::pin!(deadline);
        let stopped = async move {
            let mut stop = stop;
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        tokio::pin!(stopped);
        let mut ended: Option<Ending> = None;
        let mut logs_open = true;
        while logs_open || ended.is_none() {
            tokio::select! {
                chunk = logs.next(), if logs_open => match chunk {
                    Some(Ok(LogOutput::StdErr { message })) => splitter.feed(&message, true, &mut reader),
                    Some(Ok(other)) => splitter.feed(&other.into_bytes(), false, &mut reader),
                    _ => logs_open = false,
                },
                waited = wait.next(), if ended.is_none() => ended = Some(Ending::Exited(exit_code(waited))),
                () = &mut deadline, if ended.is_none() => {
                    self.kill(id).await;
                    ended = Some(Ending::TimedOut);
                }
                () = &mut stopped, if ended.is_none() => {
                    self.kill(id).await;
                    ended = Some(Ending::Stopped);
                }
                verdict = &mut supervised, if ended.is_none() => {
                    self.kill(id).await;
                    ended = Some(Ending::Supervised(verdict));
                }
            }
        }
        splitter.finish(&mut reader);
        let ending = ended.unwrap_or(Ending::Exited(Err("no exit status".to_owned())));
        let state = self.post_mortem(id).await;
        conclude(ending, state, job, &mut reader)
    }

    async fn post_mortem(&self, id: &str) -> PostMortem {
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => {
                let state = info.state.unwrap_or_default();
                PostMortem {
                    oom_killed: state.oom_killed.unwrap_or(false),
                    exit_code: state.exit_code,
                    error: state.error.filter(|e| !e.is_empty()),
                    gone: false,
                }
            }
            Err(_) => PostMortem {
                gone: true,
                ..PostMortem::default()
            },
        }
    }

    async fn kill(&self, id: &str) {
        let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        if let Err(e) = self.docker.kill_container(id, Some(options)).await {
            tracing::debug!(container = id, "kill: {}", docker_message(&e));
        }
    }

    /// Right after a failed start the engine can still be tearing the task
    /// down and refuse a removal (409, "in use"); a few short retries
    /// outlast that, so no container is left behind.
    async fn remove(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        for attempt in 1..=REMOVE_ATTEMPTS {
            let removed = self
                .docker
                .remove_container(id, Some(options.clone()))
                .await;
            // Already gone is what we wanted.
            let Some(e) = removed.err().filter(|e| !is_status(e, 404)) else {
                return;
            };
            if attempt == REMOVE_ATTEMPTS {
                tracing::warn!(
                    container = id,
                    "cannot remove container: {}",
                    docker_message(&e)
                );
                return;
            }
            tracing::debug!(
                container = id,
                attempt,
                "remove refused: {}",
                docker_message(&e)
            );
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
    }

    async fn resume_job(
        self,
        job: JobSpec,
        handle: String,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobResult {
        if self.post_mortem(&handle).await.gone {
            return JobResult::Lost {
                detail: format!("container {handle} of job {} is gone", job.job_id),
            };
        }
        self.follow(&handle, &job, events, stop).await
    }

    async fn sweep_except(self, keep: HashSet<String>) {
        let filters =
            HashMap::from([("label", vec![format!("{LABEL_DAEMON}={}", self.daemon_id)])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = match self.docker.list_containers(Some(options)).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!("cannot list containers to clean up: {}", docker_message(&e));
                return;
            }
        };
        for container in containers {
            let job = container
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_JOB))
                .cloned();
            let (Some(id), Some(job)) = (container.id, job) else {
                continue;
            };
            if !keep.contains(&job) {
                tracing::info!(container = %id, job = %job, "removing a container no live run needs");
                self.remove(&id).await;
            }
        }
    }
}

impl Executor for DockerExecutor {
    fn workspace_path(&self, _worktree: &std::path::Path) -> String {
        WORKSPACE_DIR.to_owned()
    }

    fn in_containers(&self) -> bool {
        true
    }

    fn agent_state_path(&self, _state: &std::path::Path) -> String {
        AGENT_STATE.to_owned()
    }

    fn gateway_network(&self, relay: super::relay::RelaySpec) -> super::GatewayNetwork {
        let docker = self.docker.clone();
        let daemon_id = self.daemon_id.clone();
        let made = std::sync::Arc::clone(&self.gateway_network);
        Box::pin(async move {
            let (network, address) = super::relay::connect(&docker, &daemon_id, &relay).await?;
            let _ = made.set(network);
            Ok(Some(address))
        })
    }

    fn release_gateway_network(&self) -> Chore {
        let docker = self.docker.clone();
        let daemon_id = self.daemon_id.clone();
        Box::pin(async move { super::relay::release(&docker, &daemon_id).await })
    }

    fn name(&self) -> &'static str {
        "docker"
    }

    fn run(
        &self,
        job: JobSpec,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobFuture {
        let workspace = job.workspace.clone();
        Box::pin(lent(workspace, self.clone().run_job(job, events, stop)))
    }

    fn resume(
        &self,
        job: JobSpec,
        handle: &str,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobFuture {
        let workspace = job.workspace.clone();
        let followed = self
            .clone()
            .resume_job(job, handle.to_owned(), events, stop);
        Box::pin(lent(workspace, followed))
    }

    fn release(&self, handle: &str) -> Chore {
        let me = self.clone();
        let id = handle.to_owned();
        Box::pin(async move { me.remove(&id).await })
    }

    fn sweep(&self, keep: HashSet<String>) -> Chore {
        Box::pin(self.clone().sweep_except(keep))
    }
}

enum Ending {
    Exited(Result<i64, String>),
    TimedOut,
    Stopped,
    /// Killed by its supervisor: silent too long, or alive past its result.
    Supervised(super::supervise::Verdict),
}

#[derive(Default)]
struct PostMortem {
    oom_killed: bool,
    exit_code: Option<i64>,
    error: Option<String>,
    gone: bool,
}

fn exit_code(
    waited: Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>,
) -> Result<i64, String> {
    match waited {
        Some(Ok(response)) => Ok(response.status_code),
        // bollard reports a non-zero exit as an error carrying the code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(docker_message(&e)),
        None => Err("the engine closed the wait stream".to_owned()),
    }
}

fn conclude(
    ending: Ending,
    state: PostMortem,
    job: &JobSpec,
    reader: &mut OutputReader,
) -> JobResult {
    let code = match ending {
        Ending::TimedOut => return outcome::timed_out(job, reader),
        Ending::Stopped => return outcome::stopped(reader),
        Ending::Supervised(super::supervise::Verdict::Stalled) => {
            return super::supervise::stalled(job, reader);
        }
        // Its result is in: the container that would not end is killed.
        Ending::Supervised(super::supervise::Verdict::Lingered) => {
            return outcome::finished(job, reader);
        }
        Ending::Exited(code) => code,
    };
    let code = code.ok().or(state.exit_code);
    let killed_from_outside = state.oom_killed || state.gone || code == Some(137);
    match code {
        Some(0) if !state.oom_killed => outcome::finished(job, reader),
        Some(code) if !killed_from_outside => {
            outcome::agent_failed(job, &format!("exited with status {code}"), reader)
        }
        // Killed from outside (OOM, `docker kill`, an engine restart) or gone.
        _ => JobResult::Evicted {
            detail: format!(
                "container died without a result (exit code {}, OOM killed: {}{}); output tail:\n{}",
                code.map_or("unknown".to_owned(), |c| c.to_string()),
                state.oom_killed,
                state
                    .error
                    .map(|e| format!(", engine error: {e}"))
                    .unwrap_or_default(),
                reader.tail()
            ),
        },
    }
}

/// The agent's own variables, then cattery's, which win on a clash.
fn environment(job: &JobSpec) -> Vec<String> {
    let own = job
        .agent
        .env
        .iter()
        .map(|(key, value)| format!("{key}={value}"));
    let ours = [
        format!("CATTERY_CONTEXT={CONTEXT_DIR}/context.json"),
        format!("CATTERY_JOB_ID={}", job.job_id),
    ];
    // The worktree is the agent's, whoever owns it on the host: git in the
    // container must not refuse it as of dubious ownership.
    let git = job.workspace.as_ref().map_or_else(Vec::new, |_| {
        vec![
            "GIT_CONFIG_COUNT=1".to_owned(),
            "GIT_CONFIG_KEY_0=safe.directory".to_owned(),
            "GIT_CONFIG_VALUE_0=*".to_owned(),
        ]
    });
    let gateway = job.env.iter().map(|(k, v)| format!("{k}={v}"));
    own.chain(ours).chain(git).chain(gateway).collect()
}

pub(super) fn is_status(error: &bollard::errors::Error, status: u16) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == status)
}

pub(super) fn docker_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The job folder, read-only; the run's worktree at `/workspace` as the
/// kind gets it, with the clone's git folder at its own path, so git works
/// in the worktree as it does on the host.
fn binds(job: &JobSpec) -> Vec<String> {
    let mut binds = vec![format!("{}:{CONTEXT_DIR}:ro", job.workdir.display())];
    if let Some(state) = &job.agent_state {
        binds.push(format!("{}:{AGENT_STATE}:rw", state.display()));
    }
    if let Some(workspace) = &job.workspace {
        let mode = if workspace.writable { "rw" } else { "ro" };
        binds.push(format!(
            "{}:{WORKSPACE_DIR}:{mode}",
            workspace.path.display()
        ));
        let git = workspace.git_dir.display();
        binds.push(format!("{git}:{git}:{mode}"));
    }
    binds
}

/// Who the agent runs as inside its container, so it can read the job folder
/// the daemon keeps private (0700, files 0600). With a worktree, the agent
/// runs as the clone's owner, so what it writes belongs to them. Otherwise
/// a daemon running as a user runs its agents as that same unprivileged
/// user. Agents never run as root: a daemon running as root hands the job
/// folder to the agent's user (`nobody`, 65534, when the clone's owner is
/// root too), still unreadable to every other local user.
fn container_user(job: &JobSpec) -> String {
    use std::os::unix::fs::MetadataExt;
    let daemon = std::fs::metadata(&job.workdir)
        .map(|m| (m.uid(), m.gid()))
        .ok();
    let user = match (job.workspace.as_ref().map(|w| w.owner), daemon) {
        (Some((0, _)), _) | (None, Some((0, _)) | None) => (NOBODY, NOBODY),
        (Some(owner), _) => owner,
        (None, Some(user)) => user,
    };
    if daemon.map(|(uid, _)| uid) != Some(user.0) {
        hand_over(&job.workdir, user);
        if let Some(state) = &job.agent_state {
            hand_over(state, user);
        }
    }
    format!("{}:{}", user.0, user.1)
}

/// Runs `job` with a root-owned clone's worktree and git folder lent to
/// `nobody`, who the agent runs as (the daemon made them private); gives them
/// back to root when the job ends, so they stay the owner's.
async fn lent(
    workspace: Option<JobWorkspace>,
    job: impl std::future::Future<Output = JobResult>,
) -> JobResult {
    let lend = workspace.filter(|w| w.owner.0 == 0 && crate::os::is_root());
    let Some(workspace) = lend else {
        return job.await;
    };
    let folders = [workspace.path.clone(), workspace.git_dir.clone()];
    let hand = move |folders: [std::path::PathBuf; 2], from: u32, to: (u32, u32)| {
        tokio::task::spawn_blocking(move || {
            for folder in &folders {
                if let Err(e) = crate::os::hand_over_tree(folder, from, to) {
                    tracing::warn!(path = %folder.display(), "cannot hand the worktree over: {e}");
                }
            }
        })
    };
    let _ = hand(folders.clone(), 0, (NOBODY, NOBODY)).await;
    let result = job.await;
    let _ = hand(folders, NOBODY, (0, 0)).await;
    result
}

/// Gives `dir` and the files in it to `user`, so a container user can read them.
fn hand_over(dir: &std::path::Path, (uid, gid): (u32, u32)) {
    let chown = |path: &std::path::Path| {
        if let Err(e) = std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
            tracing::warn!(path = %path.display(), "cannot hand a job file to the agent's user: {e}");
        }
    };
    chown(dir);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            chown(&entry.path());
        }
    }
}

//! Executors run one step's job and stream what the agent says.

mod docker;
mod lines;
mod outcome;
mod output;
mod process;
pub mod relay;
mod scripted;
pub(crate) mod supervise;
mod sys;
mod unavailable;

pub use docker::DockerExecutor;
pub use output::OutputReader;
pub use process::ProcessExecutor;
pub use scripted::ScriptedExecutor;
pub use unavailable::UnavailableExecutor;

use crate::config::AgentDef;
use crate::engine::JobResult;
use cattery_protocol::agent::{LlmCall, LogLevel, StepContext};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use tokio::sync::{mpsc, watch};

/// Everything needed to run one step's job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job_id: String,
    pub agent: AgentDef,
    pub context: StepContext,
    pub timeout_secs: u64,
    /// How long the job already ran under an earlier daemon; a followed-again
    /// job gets only the rest of its timeout.
    pub ran_secs: u64,
    /// A folder the executor may use for this job's files.
    pub workdir: PathBuf,
    /// The run's worktree, where the agent works, when it has one and its
    /// kind gets it.
    pub workspace: Option<JobWorkspace>,
    /// More environment for the agent: the model gateway and its job token.
    pub env: Vec<(String, String)>,
    /// A CLI runner's writable state (its config, sessions and, in a
    /// container, its home), kept per run step so a rework can resume.
    pub agent_state: Option<PathBuf>,
}

/// A run's worktree as one job gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobWorkspace {
    pub path: PathBuf,
    /// Read-write or read-only; a kind with `none` gets no workspace.
    pub writable: bool,
    /// The clone's git folder, which the worktree's `.git` file points into:
    /// a container needs it at the same path for git to work there.
    pub git_dir: PathBuf,
    /// Who owns the clone: a container agent runs as them, so what it
    /// writes belongs to them.
    pub owner: (u32, u32),
}

/// Live output from a running job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The job exists; `handle` lets a later daemon find it again.
    Dispatched {
        handle: String,
    },
    Log {
        level: LogLevel,
        line: String,
    },
    Progress {
        done: u64,
        total: u64,
        label: Option<String>,
    },
    LlmCall(LlmCall),
}

pub type JobFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;
impl JobSpec {
    /// Time left before the job must be killed.
    pub fn time_left(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.saturating_sub(self.ran_secs).max(1))
    }
}

pub type Chore = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The biggest step context handed to an agent.
pub const MAX_CONTEXT_BYTES: usize = 8 * 1024 * 1024;

/// Runs jobs. `stop` flips to true when the run is stopped; the executor must
/// then kill the job promptly and report it as cancelled.
pub trait Executor: Send + Sync {
    fn name(&self) -> &'static str;

    fn run(
        &self,
        job: JobSpec,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobFuture;

    /// Follows a job that an earlier daemon dispatched, from the start of its
    /// output, or reports it lost when it cannot be followed any more.
    fn resume(
        &self,
        job: JobSpec,
        handle: &str,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobFuture;

    /// Frees what a finished job holds, once its result is recorded.
    fn release(&self, _handle: &str) -> Chore {
        Box::pin(std::future::ready(()))
    }

    /// Removes jobs this daemon left behind, except those in `keep` (job ids).
    fn sweep(&self, _keep: std::collections::HashSet<String>) -> Chore {
        Box::pin(std::future::ready(()))
    }

    /// Why no job can run right now, if so; starting a run is refused with it.
    fn unavailable(&self) -> Option<String> {
        None
    }

    /// Whether agents run in containers: their own isolation, a path of
    /// their own for the worktree, and the gateway only over a network.
    fn in_containers(&self) -> bool {
        false
    }

    /// Where the agent finds a run's worktree: where it is, for a process.
    fn workspace_path(&self, worktree: &std::path::Path) -> String {
        worktree.display().to_string()
    }

    /// Where the agent finds its writable state folder: the CLI's config,
    /// sessions and home.
    fn agent_state_path(&self, state: &std::path::Path) -> String {
        state.display().to_string()
    }

    /// Makes (once) the network agents on `network = "gateway"` join, and
    /// the relay on it that forwards to the gateway's socket; answers where
    /// those agents reach the gateway, or `None` for an executor with no
    /// such network.
    fn gateway_network(&self, _relay: relay::RelaySpec) -> GatewayNetwork {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// At a clean stop: lets go of what [`Executor::gateway_network`] made
    /// if no job is left that needs it.
    fn release_gateway_network(&self) -> Chore {
        Box::pin(std::future::ready(()))
    }
}

/// Where agents on the gateway network reach the gateway, or why they cannot.
pub type GatewayNetwork = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<std::net::SocketAddr>, String>> + Send>,
>;

/// Writes the step context as pretty JSON (so simple agents can grep it)
/// to `context.json` in the job's folder, refusing one that is too large.
pub(crate) async fn write_context(job: &JobSpec) -> Result<std::path::PathBuf, JobResult> {
    let path = job.workdir.join("context.json");
    let failed = |message: String, hint: &str| JobResult::Failed {
        kind: cattery_protocol::FailureKind::Environment,
        message,
        detail: None,
        hint: Some(hint.to_owned()),
    };
    let json = serde_json::to_vec_pretty(&job.context).map_err(|e| {
        failed(
            format!("cannot encode the step context: {e}"),
            "report this as a bug",
        )
    })?;
    if json.len() > MAX_CONTEXT_BYTES {
        return Err(failed(
            format!(
                "the step context is {} bytes, over the {MAX_CONTEXT_BYTES}-byte limit",
                json.len()
            ),
            "shorten the task description or the earlier steps' outputs, then retry",
        ));
    }
    let written = async {
        tokio::fs::create_dir_all(&job.workdir).await?;
        tokio::fs::write(&path, json).await
    };
    written.await.map_err(|e| {
        failed(
            format!("cannot write the step context to {}: {e}", path.display()),
            "check that the data dir is writable and has free space",
        )
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Catalog, Paths};

    fn spec(timeout_secs: u64, ran_secs: u64) -> JobSpec {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::load(None, &Paths::under(dir.path()).assets()).unwrap();
        let json = serde_json::json!({
            "protocol_version": 1, "run_id": "r", "job_id": "j", "pipeline_id": "p",
            "step_index": 0, "agent_kind": "coder", "attempt": 1, "grades": null,
            "block_id": "b", "block_title": "t", "block_description": [],
            "prior_outputs": [], "rework": null, "chosen_option": null
        });
        JobSpec {
            workspace: None,
            env: Vec::new(),
            agent_state: None,
            job_id: "j".into(),
            agent: catalog.agents["coder"].clone(),
            context: serde_json::from_value(json).unwrap(),
            timeout_secs,
            ran_secs,
            workdir: dir.path().to_owned(),
        }
    }

    #[test]
    fn a_job_followed_again_gets_only_the_rest_of_its_timeout() {
        assert_eq!(spec(600, 0).time_left().as_secs(), 600);
        assert_eq!(spec(600, 590).time_left().as_secs(), 10);
        assert_eq!(
            spec(600, 900).time_left().as_secs(),
            1,
            "overdue jobs still get a moment"
        );
    }
}

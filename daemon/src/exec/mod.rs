//! Executors run one step's job and stream what the agent says.

mod output;
mod process;
mod scripted;
mod sys;

pub use output::OutputReader;
pub use process::ProcessExecutor;
pub use scripted::ScriptedExecutor;

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
    /// A folder the executor may use for this job's files.
    pub workdir: PathBuf,
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

    /// Cleans up after a job that a previous daemon dispatched and lost.
    fn reclaim(&self, handle: &str);
}

//! Stands in for an executor that cannot run anything (the Docker engine
//! configured but not answering), so the daemon keeps serving and says why.

use super::{Executor, JobEvent, JobFuture, JobSpec};
use crate::engine::JobResult;
use cattery_protocol::FailureKind;
use tokio::sync::{mpsc, watch};

pub struct UnavailableExecutor {
    name: &'static str,
    reason: String,
}

impl UnavailableExecutor {
    pub fn new(name: &'static str, reason: String) -> Self {
        Self { name, reason }
    }

    fn failure(&self) -> JobFuture {
        Box::pin(std::future::ready(JobResult::Failed {
            kind: FailureKind::Environment,
            message: self.reason.clone(),
            detail: None,
            hint: Some(
                "start the engine, or set executor = \"process\" in config.toml, then retry"
                    .to_owned(),
            ),
        }))
    }
}

impl Executor for UnavailableExecutor {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(
        &self,
        _job: JobSpec,
        _events: mpsc::UnboundedSender<JobEvent>,
        _stop: watch::Receiver<bool>,
    ) -> JobFuture {
        self.failure()
    }

    fn resume(
        &self,
        _job: JobSpec,
        _handle: &str,
        _events: mpsc::UnboundedSender<JobEvent>,
        _stop: watch::Receiver<bool>,
    ) -> JobFuture {
        self.failure()
    }

    fn unavailable(&self) -> Option<String> {
        Some(self.reason.clone())
    }
}

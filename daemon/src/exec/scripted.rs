//! An instant executor with per-kind scripted results, for engine tests and benchmarks.

use super::{Executor, JobEvent, JobFuture, JobSpec};
use crate::engine::JobResult;
use cattery_protocol::agent::{AgentResult, FinishReason, LlmCall};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};

#[derive(Default)]
pub struct ScriptedExecutor {
    scripts: Mutex<HashMap<String, VecDeque<JobResult>>>,
    dispatches: AtomicU64,
}

impl ScriptedExecutor {
    /// Queues results for a kind; once used up, the kind succeeds with a plain output.
    pub fn script(&self, kind: &str, results: impl IntoIterator<Item = JobResult>) {
        let mut scripts = self.scripts.lock().unwrap_or_else(|p| p.into_inner());
        scripts.entry(kind.to_owned()).or_default().extend(results);
    }

    pub fn dispatches(&self) -> u64 {
        self.dispatches.load(Ordering::Relaxed)
    }

    fn next_result(&self, kind: &str) -> JobResult {
        let mut scripts = self.scripts.lock().unwrap_or_else(|p| p.into_inner());
        let scripted = scripts.get_mut(kind).and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| {
            JobResult::Succeeded(AgentResult {
                output: format!("{kind} done"),
                decision: None,
                grade: None,
                pull_request: None,
                merge_assessment: None,
                test_report: None,
            })
        })
    }
}

impl Executor for ScriptedExecutor {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn run(
        &self,
        job: JobSpec,
        events: mpsc::UnboundedSender<JobEvent>,
        _stop: watch::Receiver<bool>,
    ) -> JobFuture {
        let n = self.dispatches.fetch_add(1, Ordering::Relaxed);
        let result = self.next_result(&job.agent.kind);
        let _ = events.send(JobEvent::Dispatched {
            handle: format!("scripted-{n}"),
        });
        let _ = events.send(JobEvent::LlmCall(LlmCall {
            model: "scripted".to_owned(),
            prompt_tokens: 100,
            completion_tokens: 50,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            max_output_tokens: 1000,
            finish_reason: FinishReason::Stop,
            upstream_ms: 1,
            overhead_ms: 0,
            first_token_ms: 0,
        }));
        Box::pin(std::future::ready(result))
    }

    fn resume(
        &self,
        job: JobSpec,
        _handle: &str,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobFuture {
        self.run(job, events, stop)
    }
}

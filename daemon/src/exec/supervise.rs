//! Supervision shared by every executor: a job that prints nothing for its
//! kind's `inactivity_secs` has stalled, and one still running a few
//! seconds after its result line lingers. The executor kills either (its
//! process group, or its container); a stalled job runs once more, a
//! lingering one keeps its result.

use super::JobSpec;
use super::output::{Activity, OutputReader};
use crate::engine::JobResult;

/// How long an agent may live on after printing its result.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a watched job must be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Stalled,
    Lingered,
}

/// Returns once the job stalls or lingers; never while it behaves.
pub async fn watch(activity: &Activity, inactivity_secs: Option<u64>) -> Verdict {
    let limit = inactivity_secs.map(std::time::Duration::from_secs);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        if activity.since_result().is_some_and(|since| since >= LINGER) {
            return Verdict::Lingered;
        }
        if limit.is_some_and(|limit| activity.quiet_for() >= limit) {
            return Verdict::Stalled;
        }
    }
}

/// A stalled job's result, with its last lines.
pub fn stalled(job: &JobSpec, reader: &OutputReader) -> JobResult {
    JobResult::Stalled {
        detail: format!(
            "agent `{}` printed nothing for {} s; its last lines:\n{}",
            job.agent.kind,
            job.agent.inactivity_secs.unwrap_or_default(),
            reader.tail()
        ),
    }
}

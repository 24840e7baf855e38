//! How a job ended, in words shared by every executor, so a timeout or a
//! missing result reads the same from a process and from a container.

use super::{JobSpec, OutputReader};
use crate::engine::JobResult;
use cattery_protocol::FailureKind;

pub fn failed(kind: FailureKind, message: String, detail: Option<String>, hint: &str) -> JobResult {
    JobResult::Failed {
        kind,
        message,
        detail,
        hint: Some(hint.to_owned()),
    }
}

pub fn timed_out(job: &JobSpec, reader: &OutputReader) -> JobResult {
    let kind = &job.agent.kind;
    failed(
        FailureKind::Timeout,
        format!(
            "agent `{kind}` ran past its timeout of {}s and was killed",
            job.timeout_secs
        ),
        Some(reader.tail()),
        &format!("raise timeout_secs for [agents.{kind}] in agents.toml, or look at why it hangs"),
    )
}

pub fn stopped(reader: &OutputReader) -> JobResult {
    failed(
        FailureKind::Cancelled,
        "the run was stopped and the agent killed".to_owned(),
        Some(reader.tail()),
        "retry the run to continue",
    )
}

/// Exit 0: the result line, or a failure for its absence.
pub fn finished(job: &JobSpec, reader: &mut OutputReader) -> JobResult {
    match reader.take_result() {
        Some(result) => JobResult::Succeeded(result),
        None => failed(
            FailureKind::Agent,
            match reader.reported_error() {
                Some(error) => format!("agent `{}`: {error}", job.agent.kind),
                None => format!("agent `{}` exited without a result line", job.agent.kind),
            },
            Some(reader.tail()),
            "an agent must print {\"type\":\"result\",...} on stdout before exiting 0",
        ),
    }
}

/// A non-zero exit the agent chose (`how` says which).
pub fn agent_failed(job: &JobSpec, how: &str, reader: &OutputReader) -> JobResult {
    let message = match reader.reported_error() {
        Some(error) => format!("agent `{}` {how}: {error}", job.agent.kind),
        None => format!("agent `{}` {how}", job.agent.kind),
    };
    failed(
        FailureKind::Agent,
        message,
        Some(reader.tail()),
        "read the output tail, fix the cause, then retry the run",
    )
}

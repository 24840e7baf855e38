//! Runs an agent as a local child process in its own process group.

use super::outcome::{self, failed};
use super::output::OutputReader;
use super::{Executor, JobEvent, JobFuture, JobSpec, sys};
use crate::engine::JobResult;
use cattery_protocol::FailureKind;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

/// The embedded default executor.
#[derive(Debug, Default, Clone)]
pub struct ProcessExecutor;

impl Executor for ProcessExecutor {
    fn name(&self) -> &'static str {
        "process"
    }

    fn run(
        &self,
        job: JobSpec,
        events: mpsc::UnboundedSender<JobEvent>,
        stop: watch::Receiver<bool>,
    ) -> JobFuture {
        Box::pin(run_job(job, events, stop))
    }

    fn resume(
        &self,
        job: JobSpec,
        handle: &str,
        _events: mpsc::UnboundedSender<JobEvent>,
        _stop: watch::Receiver<bool>,
    ) -> JobFuture {
        // A process job cannot be followed again: its pipes died with the old
        // daemon. Kill what is left of it so the re-dispatch runs alone.
        if let Ok(pgid) = handle.parse::<i32>() {
            sys::kill_group(pgid);
        }
        let detail = format!(
            "job {} (process group {handle}) was running when the daemon stopped",
            job.job_id
        );
        Box::pin(std::future::ready(JobResult::Lost { detail }))
    }
}

async fn run_job(
    job: JobSpec,
    events: mpsc::UnboundedSender<JobEvent>,
    mut stop: watch::Receiver<bool>,
) -> JobResult {
    let context_path = match super::write_context(&job).await {
        Ok(path) => path,
        Err(failure) => return failure,
    };
    // A daemon killed right after spawning this job, before it recorded the
    // process group, leaves a copy running that no handle names. It carries
    // the job id in its environment; kill it so this dispatch runs alone.
    let leftovers = sys::kill_job_leftovers(&job.job_id);
    if leftovers > 0 {
        tracing::warn!(
            job = job.job_id,
            leftovers,
            "killed what a previous daemon left of this job"
        );
    }
    let mut child = match spawn_when_descriptors_allow(&job, &context_path).await {
        Ok(child) => child,
        Err(e) => {
            let message = format!(
                "cannot start agent command `{}`: {e}",
                job.agent.command.join(" ")
            );
            let hint = format!(
                "fix `command` for [agents.{}] in agents.toml",
                job.agent.kind
            );
            return failed(FailureKind::Dispatch, message, None, &hint);
        }
    };
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    // Whatever ends this job (exit, stop, timeout, or the daemon shutting
    // down and dropping it), no process of its group outlives it.
    let _group = GroupGuard(pgid);
    let _ = events.send(JobEvent::Dispatched {
        handle: pgid.to_string(),
    });
    let mut reader = OutputReader::for_job(events, &job);
    let timeout = job.time_left();
    let activity = reader.activity();
    let ended = tokio::select! {
        status = pump(&mut child, &mut reader) => Ended::Exited(status),
        _ = tokio::time::sleep(timeout) => Ended::TimedOut,
        _ = stop.wait_for(|stopped| *stopped) => Ended::Stopped,
        watched = super::supervise::watch(&activity, job.agent.inactivity_secs) => match watched {
            super::supervise::Verdict::Stalled => Ended::Stalled,
            super::supervise::Verdict::Lingered => Ended::Lingered,
        },
    };
    if !matches!(ended, Ended::Exited(_)) {
        sys::kill_group(pgid);
        let _ = child.wait().await;
    }
    conclude(ended, &job, &mut reader)
}

/// Kills a job's whole process group when dropped, so an agent's children
/// die with it on stop, timeout and shutdown alike.
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        sys::kill_group(self.0);
    }
}

enum Ended {
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Stopped,
    /// No line for the kind's `inactivity_secs`.
    Stalled,
    /// Still running a few seconds after its result line.
    Lingered,
}

fn conclude(ended: Ended, job: &JobSpec, reader: &mut OutputReader) -> JobResult {
    match ended {
        Ended::TimedOut => outcome::timed_out(job, reader),
        Ended::Stopped => outcome::stopped(reader),
        // Its result is in: the process that would not end is killed.
        Ended::Lingered => outcome::finished(job, reader),
        Ended::Stalled => super::supervise::stalled(job, reader),
        Ended::Exited(Err(e)) => failed(
            FailureKind::Environment,
            format!("lost track of agent `{}`: {e}", job.agent.kind),
            Some(reader.tail()),
            "retry the run",
        ),
        Ended::Exited(Ok(status)) if status.success() => outcome::finished(job, reader),
        Ended::Exited(Ok(status)) => outcome::agent_failed(job, &describe(status), reader),
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "ended in an unknown way".to_owned(),
    }
}

/// How long a spawn waits for file descriptors to free up.
const DESCRIPTOR_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Spawns the agent; while the process is out of file descriptors (a flood
/// of connections, say), waits and tries again instead of failing the run.
async fn spawn_when_descriptors_allow(
    job: &JobSpec,
    context_path: &std::path::Path,
) -> std::io::Result<Child> {
    let started = tokio::time::Instant::now();
    loop {
        match spawn(job, context_path) {
            Err(e) if out_of_descriptors(&e) && started.elapsed() < DESCRIPTOR_WAIT => {
                tracing::warn!(
                    job = job.job_id,
                    "no file descriptors to start the agent; waiting: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

fn spawn(job: &JobSpec, context_path: &std::path::Path) -> std::io::Result<Child> {
    let (program, args) = job
        .agent
        .command
        .split_first()
        .ok_or_else(|| std::io::Error::other("the command is empty"))?;
    // The vendors' keys stay in the daemon: an agent reaches the model
    // through the gateway, with its job's token, and inherits only the
    // allow-listed basics.
    let mut command = crate::children::command(program, crate::children::Purpose::Agent);
    command
        .args(args)
        .envs(&job.agent.env)
        .envs(job.env.iter().cloned())
        .env("CATTERY_CONTEXT", context_path)
        .env("CATTERY_JOB_ID", &job.job_id)
        .current_dir(job.workspace.as_ref().map_or(&job.workdir, |w| &w.path))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

/// Feeds both output streams to the reader until they close, then reaps the child.
async fn pump(child: &mut Child, reader: &mut OutputReader) -> std::io::Result<ExitStatus> {
    let stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
    let stderr = child.stderr.take().map(|s| BufReader::new(s).lines());
    let (Some(mut stdout), Some(mut stderr)) = (stdout, stderr) else {
        return child.wait().await;
    };
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            line = stdout.next_line(), if out_open => match line {
                Ok(Some(line)) => reader.line(&line, false),
                _ => out_open = false,
            },
            line = stderr.next_line(), if err_open => match line {
                Ok(Some(line)) => reader.line(&line, true),
                _ => err_open = false,
            },
        }
    }
    child.wait().await
}

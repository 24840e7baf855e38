//! One driver task per live run: advance → dispatch → follow the job →
//! record → continue, or park. A parked run holds no task; a decision
//! re-arms it through [`spawn`].

mod deliver;
pub(crate) use deliver::merge_reviewed;
mod job;
mod probe;

use crate::engine::{self, AdvanceOptions, JobResult, Outcome};
use crate::service::{Daemon, ServiceError};
use cattery_protocol::{Run, RunStatus};
use std::sync::Arc;
use tokio::sync::watch;

/// The actor name the daemon writes under for automatic transitions.
pub const ENGINE_ACTOR: &str = "catteryd";

enum Exit {
    /// Parked, finished, failed or stopped: nothing left to drive.
    Settled,
    /// Waiting on its wake-up (a gate's next probe).
    Waiting,
    Error,
}

/// Starts a driver for the run unless one is already running.
pub fn spawn(daemon: &Arc<Daemon>, run_id: &str) {
    let Some(stop) = daemon.claim_driver(run_id) else {
        return;
    };
    let daemon = daemon.clone();
    let run_id = run_id.to_owned();
    tokio::spawn(async move {
        let exit = drive(&daemon, &run_id, stop).await;
        daemon.release_driver(&run_id);
        remove_finished_worktree(&daemon, &run_id).await;
        // A decision may have landed while this driver was on its way out
        // and seen it still registered; pick the run up again if so.
        let run = daemon.run(&run_id).ok();
        let still_running = run.as_ref().is_some_and(|r| r.status == RunStatus::Running);
        let again = match exit {
            Exit::Settled => still_running,
            // A wake-up that came due before this driver let go found it
            // still registered and was dropped: take its place.
            Exit::Waiting => {
                still_running && run.as_deref().is_some_and(|r| due(r, daemon.clock.now()))
            }
            Exit::Error => false,
        };
        if again {
            spawn(&daemon, &run_id);
        }
    });
}

/// Whether the run's current step is a gate whose next probe is due.
fn due(run: &Run, now: cattery_protocol::Millis) -> bool {
    run.current()
        .and_then(|s| s.gate.as_ref())
        .and_then(|g| g.next_probe_at)
        .is_some_and(|at| at <= now)
}

/// A run that has ended (done, failed, cancelled) gives its worktree back;
/// its branch stays, and the work of one that did not finish is kept
/// under `refs/cattery/attempts/<run>`. A parked run keeps its worktree.
async fn remove_finished_worktree(daemon: &Daemon, run_id: &str) {
    let Ok(run) = daemon.run(run_id) else {
        return;
    };
    let Some(worktree) = run.worktree.clone().filter(|_| !run.status.is_live()) else {
        return;
    };
    let discarded = run.status == RunStatus::Failed;
    let id = run_id.to_owned();
    let author = daemon.commit_author();
    let removed = tokio::task::spawn_blocking(move || {
        if discarded {
            crate::git::keep_attempt(&worktree, &id, author.as_ref())?;
        }
        crate::git::remove(&worktree)
    })
    .await;
    if let Ok(Err(e)) = removed {
        tracing::warn!(run = run_id, "cannot remove the run's worktree: {e}");
    }
}

async fn drive(daemon: &Arc<Daemon>, run_id: &str, stop: watch::Receiver<bool>) -> Exit {
    loop {
        if *stop.borrow() {
            return Exit::Settled;
        }
        let (run, outcome) = match patiently(run_id, || advance(daemon, run_id)).await {
            Ok(next) => next,
            Err(e) => return report(run_id, "advance", &e),
        };
        match outcome {
            Outcome::Continue => continue,
            Outcome::AwaitingJob { job_id, step_index } => {
                let (result, handle) =
                    follow_job(daemon, &run, &job_id, step_index, stop.clone()).await;
                let recorded = patiently(run_id, || {
                    job::record(daemon, run_id, &job_id, result.clone())
                })
                .await;
                // Once recorded, or refused because the run moved on (a stop),
                // nothing needs the job any more. After a store error it stays,
                // so the next daemon can follow it again.
                let done_with = matches!(
                    recorded,
                    Ok(()) | Err(ServiceError::Engine(engine::EngineError::StaleJob { .. }))
                );
                if let Some(handle) = handle.filter(|_| done_with) {
                    tokio::spawn(daemon.executor.release(&handle));
                }
                match recorded {
                    Ok(()) => continue,
                    Err(ServiceError::Engine(engine::EngineError::StaleJob { .. })) => continue,
                    Err(e) => return report(run_id, "record a result", &e),
                }
            }
            Outcome::AwaitingProbe { step_index, due } => {
                if let Some(due) = due.filter(|at| *at > daemon.clock.now()) {
                    daemon.wakeups.at(run_id, due);
                    return Exit::Waiting;
                }
                let probe = probe::probe(daemon, &run, step_index, stop.clone()).await;
                let recorded = patiently(run_id, || {
                    let probe = probe.clone();
                    daemon.transact(run_id, ENGINE_ACTOR, None, move |run, cx| {
                        engine::gate::record_probe(run, step_index, probe, cx)
                    })
                })
                .await;
                match recorded {
                    Ok(_) | Err(ServiceError::Engine(engine::EngineError::StaleProbe { .. })) => {
                        continue;
                    }
                    Err(e) => return report(run_id, "record a probe", &e),
                }
            }
            _ => return Exit::Settled,
        }
    }
}

/// The one task that starts the drivers of runs whose wake-up is due.
pub async fn serve_wakeups(daemon: Arc<Daemon>) {
    loop {
        let (due, next) = daemon.wakeups.take_due(daemon.clock.now());
        for run_id in due {
            spawn(&daemon, &run_id);
        }
        let wait = next.map_or(std::time::Duration::from_secs(3600), |at| {
            std::time::Duration::from_millis((at - daemon.clock.now()).max(0) as u64)
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = daemon.wakeups.changed() => {}
        }
    }
}

/// A job dispatched by an earlier daemon is followed again where the
/// executor can (a container), else reported lost so it runs once more;
/// otherwise the job starts now. Returns the result and the job's handle.
async fn follow_job(
    daemon: &Arc<Daemon>,
    run: &Run,
    job_id: &str,
    step_index: usize,
    stop: watch::Receiver<bool>,
) -> (JobResult, Option<String>) {
    let inherited = run
        .steps
        .get(step_index)
        .and_then(|s| s.job.as_ref())
        .filter(|j| j.dispatched_at.is_some());
    let Some(inherited) = inherited else {
        return job::run(daemon, run, job_id, step_index, stop, None).await;
    };
    match inherited.handle.clone() {
        Some(handle) => job::run(daemon, run, job_id, step_index, stop, Some(handle)).await,
        None => {
            let detail = format!("job {job_id} was in flight when the daemon stopped");
            (JobResult::Lost { detail }, None)
        }
    }
}

async fn advance(daemon: &Daemon, run_id: &str) -> Result<(Arc<Run>, Outcome), ServiceError> {
    let run = daemon.run(run_id)?;
    let options = AdvanceOptions {
        over_budget: daemon.spend.over_budget(),
    };
    let transition = engine::advance(&run, options, &daemon.cx(ENGINE_ACTOR));
    if transition.run == *run {
        // Parked, finished or waiting on a job already: nothing to write.
        return Ok((run, transition.outcome));
    }
    let outcome = transition.outcome.clone();
    let planned = crate::service::Planned {
        previous: Some(run),
        transition,
    };
    let mut stored = daemon.commit(vec![planned], None).await?;
    let run = stored
        .pop()
        .ok_or_else(|| ServiceError::Invalid("the store returned no run".to_owned()))?;
    Ok((run, outcome))
}

/// Runs `attempt` until it succeeds or fails for a reason other than a full
/// disk. A full disk refuses the write and keeps nothing half-done, so the
/// same write is tried again once there is room: the run goes on with no
/// restart.
async fn patiently<T, Fut>(
    run_id: &str,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, ServiceError>
where
    Fut: std::future::Future<Output = Result<T, ServiceError>>,
{
    let mut warned = false;
    loop {
        match attempt().await {
            Err(ServiceError::Store(e)) if e.is_disk_full() => {
                if !warned {
                    tracing::error!(run = run_id, "{e}");
                    warned = true;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

fn report(run_id: &str, what: &str, error: &ServiceError) -> Exit {
    if matches!(
        error,
        ServiceError::Store(crate::store::StoreError::Conflict { .. })
    ) {
        // Someone else (a stop, a restart) moved the run; the next driver sees it.
        tracing::debug!(run = run_id, "run changed under its driver: {error}");
        return Exit::Settled;
    }
    tracing::error!(run = run_id, "driver could not {what}: {error}");
    Exit::Error
}

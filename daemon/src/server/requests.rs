//! One request, one engine operation, one answer.

use super::Shared;
use crate::service::ServiceError;
use crate::service::ops::NewBlock;
use cattery_protocol::wire::{Call, DaemonStatus, Reply, Resumed, WireError};
use cattery_protocol::{GateDecision, Notification, NotificationStatus, PROTOCOL_VERSION, Run};

/// Runs a read that may take a while (a whole board, every run) without
/// holding up the async worker it was called on: the worker's other tasks,
/// the event stream among them, move to another thread meanwhile. On a
/// current-thread runtime (some tests) it simply runs.
pub(super) fn off_worker<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(read),
        _ => read(),
    }
}

pub async fn handle(shared: &Shared, actor: &str, call: Call) -> Result<Reply, WireError> {
    let daemon = &shared.daemon;
    Ok(match call {
        Call::Status => Reply::Status(Box::new(DaemonStatus {
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol_version: PROTOCOL_VERSION,
            executor: daemon.executor_name().to_owned(),
            pid: std::process::id(),
            seq: shared.bus.seq(),
            live_runs: off_worker(|| daemon.live_runs()).map_err(service)?.len(),
            health: daemon.health(),
            runners: daemon.runners(),
            gateway: daemon.gateway_status(),
            warnings: daemon.warnings(),
        })),
        Call::Shutdown => {
            shared.shutdown.notify_one();
            Reply::Done
        }
        Call::Board => Reply::Board(off_worker(|| daemon.board()).map_err(service)?),
        Call::Runs => Reply::Runs(off_worker(|| daemon.runs()).map_err(service)?),
        Call::Inbox => Reply::Inbox(off_worker(|| daemon.inbox()).map_err(service)?),
        Call::Notifications { all } => {
            Reply::Notifications(off_worker(|| daemon.notifications(all)).map_err(service)?)
        }
        Call::Act { id } => Reply::Notification(Box::new(
            daemon.act_on_card(&id, actor).await.map_err(service)?,
        )),
        Call::Dismiss { id } => Reply::Notification(Box::new(close_card(
            shared,
            &id,
            NotificationStatus::Dismissed,
        )?)),
        Call::ResumePaused => Reply::Resumed(Resumed {
            resumed: daemon.resume_paused().map_err(service)?,
            spend: daemon.spend_report(),
        }),
        Call::Spend => Reply::Spend(daemon.spend_report()),
        Call::Audit { run_id } => {
            Reply::Audit(off_worker(|| daemon.audit(run_id.as_deref())).map_err(service)?)
        }
        Call::Pipelines => Reply::Pipelines(daemon.pipelines()),
        Call::Schedules => Reply::Schedules(daemon.schedules().map_err(service)?),
        Call::AddSchedule {
            frame_id,
            pipeline_id,
            title,
            description,
            recurrence,
            first_at,
        } => {
            let new = crate::service::schedules::NewSchedule {
                frame_id,
                pipeline_id,
                title,
                description,
                recurrence,
                first_at,
            };
            Reply::Schedule(Box::new(daemon.add_schedule(new).map_err(service)?))
        }
        Call::RemoveSchedule { id } => {
            daemon.remove_schedule(&id).map_err(service)?;
            Reply::Done
        }
        Call::RunSchedule { id } => run_reply(daemon.run_schedule(&id, actor).await)?,
        Call::ScheduleHistory { id } => {
            Reply::ScheduleFires(daemon.schedule_history(&id).map_err(service)?)
        }
        Call::DemoRepository => {
            Reply::DemoRepository(off_worker(|| daemon.demo_repository()).map_err(service)?)
        }
        Call::Worktrees { prune } => {
            Reply::Worktrees(off_worker(|| daemon.worktrees(prune)).map_err(service)?)
        }
        Call::Diff { run_id, step } => Reply::Diff(Box::new(
            off_worker(|| daemon.diff(&run_id, step)).map_err(service)?,
        )),
        Call::Logs {
            run_id,
            step,
            offset,
            limit,
        } => Reply::Logs(Box::new(
            off_worker(|| daemon.logs(&run_id, step, offset, limit)).map_err(service)?,
        )),
        Call::AddBlock {
            title,
            description,
            parent_id,
            level,
            repository,
        } => {
            let new = NewBlock {
                level,
                parent_id,
                title,
                description,
                repository,
            };
            Reply::Block(Box::new(daemon.add_block(new).map_err(service)?))
        }
        Call::SetRepository {
            block_id,
            repository,
        } => Reply::Block(Box::new(
            daemon
                .set_repository(&block_id, repository)
                .map_err(service)?,
        )),
        Call::Start {
            block_id,
            pipeline_id,
        } => run_reply(daemon.start(&block_id, &pipeline_id, actor).await)?,
        Call::Import { source, blocks } => Reply::Imported(
            daemon
                .import(&source, blocks, actor)
                .await
                .map_err(service)?,
        ),
        Call::Decide {
            run_id,
            gate_id,
            rev,
            action,
        } => {
            let decision = GateDecision {
                gate_id,
                rev,
                actor: actor.to_owned(),
                action,
            };
            run_reply(daemon.decide(&run_id, &decision).await)?
        }
        Call::Retry { run_id } => run_reply(daemon.retry(&run_id, actor).await)?,
        Call::Merge { block_id } => run_reply(daemon.merge_block(&block_id, actor).await)?,
        Call::Review {
            run_id,
            rev,
            action,
        } => run_reply(daemon.review(&run_id, rev, &action, actor).await)?,
        Call::RestartFromStep { run_id, step } => {
            run_reply(daemon.restart_from(&run_id, step, actor).await)?
        }
        Call::Cancel { block_id } => Reply::Block(Box::new(
            daemon.cancel(&block_id, actor).await.map_err(service)?,
        )),
        Call::Stop { run_id } => run_reply(daemon.stop(&run_id, actor).await)?,
    })
}

fn run_reply(run: Result<std::sync::Arc<Run>, ServiceError>) -> Result<Reply, WireError> {
    let run = run.map_err(service)?;
    Ok(Reply::Run(Box::new(Run::clone(&run))))
}

fn close_card(
    shared: &Shared,
    id: &str,
    status: NotificationStatus,
) -> Result<Notification, WireError> {
    shared.daemon.close_card(id, status).map_err(service)
}

pub fn service(error: impl Into<ServiceError>) -> WireError {
    let error = error.into();
    let code = error.code();
    WireError {
        code,
        message: error.to_string(),
    }
}

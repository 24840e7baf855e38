//! Running one step's job and folding its live output into the run.

use super::ENGINE_ACTOR;
use crate::engine::{self, JobResult};
use crate::exec::{JobEvent, JobSpec, JobWorkspace};
use crate::git::Prepared;
use crate::service::{Daemon, ServiceError};
use crate::spend::CallSite;
use cattery_protocol::agent::{ChosenOption, PriorOutput, StepContext};
use cattery_protocol::agent::{LlmCall, Workspace};
use cattery_protocol::event::Event;
use cattery_protocol::{AgentRole, Delivery, Rework, StepChange, WorkspaceMode};
use cattery_protocol::{FailureKind, PROTOCOL_VERSION, Run, StepMetrics, StepState};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Live progress and metrics are persisted at most this often.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// A job that failed after the gateway refused its call over budget did
/// not fail: it was stopped by the budget, and its run pauses.
fn over_budget(result: JobResult, admitted: &crate::gateway::Admission) -> JobResult {
    let refused = admitted
        .refused_over_budget
        .load(std::sync::atomic::Ordering::SeqCst);
    match result {
        JobResult::Failed { message, .. } if refused => JobResult::OverBudget {
            detail: format!(
                "the gateway refused a model call over budget; the agent then said: {message}"
            ),
        },
        other => other,
    }
}

#[derive(Default)]
struct Live {
    metrics: StepMetrics,
    model: Option<String>,
    progress: Option<(f64, Option<String>)>,
    dirty: bool,
    handle: Option<String>,
    /// Model calls seen in this job's output so far; keys the spend ledger.
    calls_seen: u64,
    /// The gateway's calls for this job, kept on the job across restarts.
    metered: StepMetrics,
    /// The branch tip as the job starts, recorded with its dispatch.
    start_commit: Option<String>,
    /// Where every line of the job is kept; `None` if it cannot be written
    /// (the job still runs, and the daemon log says why).
    transcript: Option<crate::transcript::Writer>,
    /// The job's last lines, for a built-in tester's report.
    tail: std::collections::VecDeque<String>,
}

/// Lines of a test command's output its report keeps.
const TEST_TAIL_LINES: usize = 60;

impl Live {
    fn keep(&mut self, entry: &cattery_protocol::transcript::LogEntry) {
        let Some(writer) = self.transcript.as_mut() else {
            return;
        };
        if let Err(e) = writer.append(entry) {
            tracing::warn!("a transcript stopped being written: {e}");
            self.transcript = None;
        }
    }
}

/// Opens the job's transcript with a line naming the attempt.
fn open_transcript(
    daemon: &Daemon,
    run: &Run,
    job_id: &str,
    step_index: usize,
) -> Option<crate::transcript::Writer> {
    let store = daemon.transcripts();
    let mut writer = match store.writer(&run.id, step_index, job_id) {
        Ok(writer) => writer,
        Err(e) => {
            tracing::warn!(run = run.id, job = job_id, "cannot keep a transcript: {e}");
            return None;
        }
    };
    let step = run.steps.get(step_index);
    let head = cattery_protocol::transcript::LogEntry {
        at: daemon.clock.now(),
        level: cattery_protocol::agent::LogLevel::Info,
        kind: cattery_protocol::transcript::EntryKind::Attempt,
        text: format!(
            "attempt {} · job {job_id} · {}",
            step.map_or(0, |s| s.attempts),
            step.map_or("", |s| s.agent_kind.as_str())
        ),
    };
    writer.append(&head).ok().map(|()| writer)
}

/// The last transcript line: how the job ended.
fn ending(
    at: cattery_protocol::Millis,
    result: &JobResult,
) -> cattery_protocol::transcript::LogEntry {
    use cattery_protocol::agent::LogLevel;
    let (level, text) = match result {
        JobResult::Succeeded(_) => (LogLevel::Info, "the job succeeded".to_owned()),
        JobResult::Failed { kind, message, .. } => (
            LogLevel::Error,
            format!("the job failed ({}): {message}", kind.as_str()),
        ),
        JobResult::Lost { detail } => (LogLevel::Warn, format!("the job was lost: {detail}")),
        JobResult::Evicted { detail } => (LogLevel::Warn, format!("the job was evicted: {detail}")),
        JobResult::Stalled { detail } => (LogLevel::Error, format!("the job stalled: {detail}")),
        JobResult::OverBudget { detail } => (LogLevel::Warn, format!("over budget: {detail}")),
    };
    cattery_protocol::transcript::LogEntry {
        at,
        level,
        kind: cattery_protocol::transcript::EntryKind::Line,
        text,
    }
}

pub async fn run(
    daemon: &Arc<Daemon>,
    run: &Run,
    job_id: &str,
    step_index: usize,
    stop: watch::Receiver<bool>,
    resume: Option<String>,
) -> (JobResult, Option<String>) {
    // A job followed again works on as it was; a new one starts clean.
    let rewind = resume
        .is_none()
        .then(|| rewind_for(run, step_index))
        .flatten();
    let prepared = match prepare_worktree(run, rewind).await {
        Ok(prepared) => prepared,
        Err(failure) => return (*failure, None),
    };
    let mut spec = match job_spec(daemon, run, job_id, step_index, prepared.as_ref()) {
        Ok(spec) => spec,
        Err(failure) => return (*failure, None),
    };
    if spec.agent.runner == cattery_protocol::Runner::TestCommand
        && let Err(failure) = as_test_command(daemon, run, &mut spec)
    {
        return (*failure, None);
    }
    if let Err(why) = daemon.gateway_url_now(&spec.agent).await {
        let failure = JobResult::Failed {
            kind: FailureKind::Preflight,
            message: format!(
                "agent `{}` is on network = \"gateway\", but {why}",
                spec.agent.kind
            ),
            detail: None,
            hint: Some(
                "start catteryd with a Docker engine that can make the network (see docker_gateway_subnet), or set network = \"host\" for the kind".to_owned(),
            ),
        };
        return (failure, None);
    }
    let start_commit = prepared.map(|p| p.tip);
    let spec_runner = spec.agent.runner;
    // The agent reaches the model through the gateway with a token of its
    // own; the gateway reports each call it makes, metered.
    let mut admitted = daemon.gateway().map(|gateway| {
        let admission = gateway.admit(job_id);
        let base = daemon.gateway_url_for(&spec.agent).unwrap_or_default();
        spec.env.extend(gateway.agent_env(&base, &admission.token));
        admission
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut job = match &resume {
        Some(handle) => daemon.executor.resume(spec, handle, tx, stop),
        None => daemon.executor.run(spec, tx, stop),
    };
    // A resumed job replays its whole output, so count from the metrics the
    // step had before the job began, plus the gateway's calls (which are
    // not replayed), not from what was flushed since.
    let base = run.steps.get(step_index).and_then(|s| s.job.as_ref());
    let mut live = Live {
        metrics: base
            .map(|j| j.metrics_at_start.absorbing(&j.metered))
            .unwrap_or_default(),
        metered: base.map(|j| j.metered.clone()).unwrap_or_default(),
        handle: resume,
        start_commit,
        transcript: open_transcript(daemon, run, job_id, step_index),
        ..Live::default()
    };
    let mut last_flush = Instant::now();
    let result = loop {
        let metered = async {
            match admitted.as_mut() {
                Some(admitted) => admitted.calls.recv().await,
                None => std::future::pending().await,
            }
        };
        // Lines wait in the transcript's buffer at most one flush period,
        // even when the agent then goes quiet.
        let tick = tokio::time::sleep_until((last_flush + FLUSH_EVERY).into());
        tokio::select! {
            result = &mut job => break result,
            Some(event) = rx.recv() => {
                on_event(daemon, run, job_id, step_index, event, &mut live).await;
            }
            Some(call) = metered => {
                on_call(daemon, run, (job_id, step_index), Metered::ByGateway(call), &mut live)
                    .await;
            }
            () = tick => {}
        };
        if last_flush.elapsed() >= FLUSH_EVERY {
            flush(daemon, &run.id, job_id, &mut live).await;
            last_flush = Instant::now();
        }
    };
    while let Ok(event) = rx.try_recv() {
        on_event(daemon, run, job_id, step_index, event, &mut live).await;
    }
    let mut result = result;
    if let (Some(admitted), Some(gateway)) = (admitted.as_mut(), daemon.gateway()) {
        result = over_budget(result, admitted);
        gateway.dismiss(&admitted.token);
        while let Ok(call) = admitted.calls.try_recv() {
            on_call(
                daemon,
                run,
                (job_id, step_index),
                Metered::ByGateway(call),
                &mut live,
            )
            .await;
        }
    }
    if spec_runner == cattery_protocol::Runner::TestCommand {
        result = test_report_of(result, &live.tail);
    }
    live.keep(&ending(daemon.clock.now(), &result));
    flush(daemon, &run.id, job_id, &mut live).await;
    (result, live.handle)
}

async fn on_event(
    daemon: &Daemon,
    run: &Run,
    job_id: &str,
    step_index: usize,
    event: JobEvent,
    live: &mut Live,
) {
    match event {
        JobEvent::Dispatched { handle } => {
            live.handle = Some(handle.clone());
            let start = live.start_commit.clone();
            mark_dispatched(daemon, &run.id, job_id, handle, start).await
        }
        JobEvent::Log { level, line } => {
            live.tail.push_back(line.clone());
            if live.tail.len() > TEST_TAIL_LINES {
                live.tail.pop_front();
            }
            let at = daemon.clock.now();
            live.keep(&cattery_protocol::transcript::LogEntry {
                at,
                level,
                kind: cattery_protocol::transcript::EntryKind::Line,
                text: line.clone(),
            });
            daemon.events.publish(Event::StepLog {
                run_id: run.id.clone(),
                step_index,
                at,
                level,
                line,
            })
        }
        JobEvent::Progress { done, total, label } => {
            let share = if total == 0 {
                0.0
            } else {
                (done as f64 / total as f64).min(1.0)
            };
            live.progress = Some((share, label));
            live.dirty = true;
        }
        JobEvent::LlmCall(call) => {
            on_call(
                daemon,
                run,
                (job_id, step_index),
                Metered::InOutput(call),
                live,
            )
            .await
        }
    }
}

/// Who told the daemon of a model call.
enum Metered {
    /// The agent, in its output, which is replayed when the job is followed
    /// again after a restart (the ledger ignores the repeats by number).
    InOutput(LlmCall),
    /// The gateway, once; kept on the job across restarts.
    ByGateway(LlmCall),
}

/// The gateway's calls are numbered apart from the agent's own reports, so
/// a replay of the output renumbers neither.
const GATEWAY_CALL_NUMBERS: u64 = 1 << 32;

async fn on_call(
    daemon: &Daemon,
    run: &Run,
    (job_id, step_index): (&str, usize),
    call: Metered,
    live: &mut Live,
) {
    let (call_no, call, by_gateway) = match call {
        Metered::InOutput(call) => {
            live.calls_seen += 1;
            (live.calls_seen - 1, call, false)
        }
        Metered::ByGateway(call) => (GATEWAY_CALL_NUMBERS + live.metered.calls, call, true),
    };
    let site = CallSite {
        job_id,
        call_no,
        run_id: &run.id,
        step_index,
    };
    live.keep(&crate::transcript::call_entry(daemon.clock.now(), &call));
    let cost = daemon.spend.record(&site, &call).await;
    let currency = daemon.spend.currency();
    if by_gateway {
        add_cost(&mut live.metered, cost, currency.clone());
        live.metered.record_call(&call);
    }
    add_cost(&mut live.metrics, cost, currency);
    live.metrics.record_call(&call);
    live.model = Some(call.model);
    live.dirty = true;
    daemon.events.publish(Event::StepMetrics {
        run_id: run.id.clone(),
        step_index,
        metrics: live.metrics.clone(),
    });
}

/// A step's cost is known only while every call it made had a price.
fn add_cost(metrics: &mut cattery_protocol::StepMetrics, cost: Option<f64>, currency: String) {
    match cost {
        Some(cost) if metrics.calls == 0 || metrics.cost_estimate.is_some() => {
            metrics.cost_estimate = Some(metrics.cost_estimate.unwrap_or(0.0) + cost);
            metrics.currency = Some(currency);
        }
        _ => metrics.cost_estimate = None,
    }
}

/// Persists the job handle, so a later daemon knows the job was started.
async fn mark_dispatched(
    daemon: &Daemon,
    run_id: &str,
    job_id: &str,
    handle: String,
    start_commit: Option<String>,
) {
    let now = daemon.clock.now();
    let marked = update_job_step(daemon, run_id, job_id, |step| {
        if let Some(job) = step.job.as_mut() {
            job.handle = Some(handle.clone());
            job.dispatched_at = Some(now);
            // A job followed again keeps the tip it first started from.
            if job.start_commit.is_none() {
                job.start_commit = start_commit;
            }
        }
    })
    .await;
    if let Err(e) = marked {
        tracing::warn!(run = run_id, job = job_id, "cannot record a dispatch: {e}");
    }
}

/// Writes out the transcript's buffer, and the live metrics if they changed.
async fn flush(daemon: &Daemon, run_id: &str, job_id: &str, live: &mut Live) {
    if let Some(writer) = live.transcript.as_mut()
        && let Err(e) = writer.flush()
    {
        tracing::warn!(run = run_id, "a transcript stopped being written: {e}");
        live.transcript = None;
    }
    if !live.dirty {
        return;
    }
    live.dirty = false;
    let written = update_job_step(daemon, run_id, job_id, |step| apply_live(step, live)).await;
    if let Err(e) = written {
        tracing::debug!(run = run_id, "live metrics not written: {e}");
    }
}

fn apply_live(step: &mut cattery_protocol::Step, live: &Live) {
    step.metrics = live.metrics.clone();
    if let Some(job) = step.job.as_mut() {
        job.metered = live.metered.clone();
    }
    if live.model.is_some() {
        step.model = live.model.clone();
    }
    if let Some((share, label)) = &live.progress {
        step.progress = *share;
        step.progress_label = label.clone();
    }
}

/// Changes the working step that waits on `job_id`; refused if the run moved on.
async fn update_job_step(
    daemon: &Daemon,
    run_id: &str,
    job_id: &str,
    change: impl FnOnce(&mut cattery_protocol::Step),
) -> Result<(), ServiceError> {
    daemon
        .transact(run_id, ENGINE_ACTOR, None, |run, cx| {
            let mut next = run.clone();
            let index = next.current_step;
            let step = next
                .steps
                .get_mut(index)
                .filter(|s| {
                    s.state == StepState::Working && s.job.as_ref().is_some_and(|j| j.id == job_id)
                })
                .ok_or_else(|| engine::EngineError::StaleJob {
                    run_id: run.id.clone(),
                    job_id: job_id.to_owned(),
                })?;
            change(step);
            next.updated_at = cx.now;
            Ok(engine::Transition::unchanged(next))
        })
        .await?;
    Ok(())
}

/// Records a finished job's result.
pub async fn record(
    daemon: &Daemon,
    run_id: &str,
    job_id: &str,
    result: JobResult,
) -> Result<(), ServiceError> {
    let run = daemon.run(run_id)?;
    let (result, change) = commit_change(daemon, &run, job_id, result).await;
    let (result, delivery) = finalise(daemon, &run, job_id, result).await;
    daemon
        .transact(run_id, ENGINE_ACTOR, None, |run, cx| {
            let mut transition = engine::record_result(run, job_id, result, cx)?;
            if let Some(Committed { step, change, run }) = change {
                if let Some(at) = transition.run.steps.get_mut(step) {
                    at.change = Some(change);
                }
                transition.run.change = Some(run);
            }
            Ok(match delivery {
                Some(delivery) => transition.with_delivery(delivery),
                None => transition,
            })
        })
        .await?;
    Ok(())
}

/// A succeeded merger step finalises the run's branch (its frame's `merge`
/// mode) before its result is recorded; a failure to do so fails the step.
async fn finalise(
    daemon: &Daemon,
    run: &Run,
    job_id: &str,
    result: JobResult,
) -> (JobResult, Option<Delivery>) {
    let merger = run
        .steps
        .iter()
        .find(|s| s.job.as_ref().is_some_and(|j| j.id == job_id))
        .is_some_and(|s| s.role == AgentRole::Merger);
    let JobResult::Succeeded(agent) = &result else {
        return (result, None);
    };
    if !merger {
        return (result, None);
    }
    let assessment = agent.merge_assessment.clone();
    let block = match daemon.store.block(&run.block_id) {
        Ok(Some(block)) => block,
        _ => return (result, None),
    };
    match super::deliver::deliver(daemon, run, &block, assessment.as_ref()).await {
        Ok(delivery) => (result, delivery),
        Err(refusal) => (refusal.into_failure(), None),
    }
}

/// Makes the run's worktree before its agent starts (again after a crash,
/// if it was lost); a failure fails the step with git's own message.
/// Returns what the job is told of it (`None` without a worktree).
async fn prepare_worktree(
    run: &Run,
    rewind: Option<Rewind>,
) -> Result<Option<Prepared>, Box<JobResult>> {
    let Some(worktree) = run.worktree.clone() else {
        return Ok(None);
    };
    let made = tokio::task::spawn_blocking(move || {
        if let Some(rewind) = rewind {
            rewind.apply(&worktree)?;
        }
        crate::git::prepare(&worktree)
    })
    .await;
    match made {
        Ok(Ok(prepared)) => Ok(Some(prepared)),
        Ok(Err(e)) => Err(git_failure(e.to_string())),
        Err(e) => Err(git_failure(format!("the worktree set-up stopped: {e}"))),
    }
}

/// Where a new job's worktree must be before it starts: the commit the
/// lost job it replaces started from, else the branch tip. Anything else
/// there (a killed job's edits or commits) is kept under `keep_as`.
struct Rewind {
    to: Option<String>,
    keep_as: String,
}

fn rewind_for(run: &Run, step_index: usize) -> Option<Rewind> {
    run.worktree.as_ref()?;
    let step = run.steps.get(step_index)?;
    Some(Rewind {
        to: step.job.as_ref().and_then(|j| j.start_commit.clone()),
        keep_as: crate::git::recover::recovery_ref(&run.id, step_index, step.recoveries),
    })
}

impl Rewind {
    fn apply(&self, worktree: &cattery_protocol::Worktree) -> Result<(), crate::git::RepoError> {
        crate::git::ensure(worktree)?;
        let to = match &self.to {
            Some(commit) => commit.clone(),
            None => crate::git::tip(worktree)?,
        };
        if let Some(kept) = crate::git::recover::rewind(worktree, &to, &self.keep_as)? {
            tracing::warn!(
                worktree = worktree.path,
                kept,
                "a killed job's work was put aside under {} before its step runs again",
                self.keep_as
            );
        }
        Ok(())
    }
}

fn git_failure(message: String) -> Box<JobResult> {
    Box::new(JobResult::Failed {
        kind: FailureKind::Preflight,
        message,
        detail: None,
        hint: Some(
            "fix the repository (a branch or worktree git refuses, a full disk), then retry the run"
                .to_owned(),
        ),
    })
}

/// A step's commit: what the step changed, and the run's change so far.
struct Committed {
    step: usize,
    change: StepChange,
    run: StepChange,
}

/// Commits what a succeeded step changed in the run's worktree, before
/// the result is recorded; the change goes into the same transaction. A
/// commit git refuses fails the step instead.
async fn commit_change(
    daemon: &Daemon,
    run: &Run,
    job_id: &str,
    result: JobResult,
) -> (JobResult, Option<Committed>) {
    let Some(worktree) = run.worktree.clone() else {
        return (result, None);
    };
    if !matches!(result, JobResult::Succeeded(_)) {
        return (result, None);
    }
    let Some((index, step)) = run
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.job.as_ref().is_some_and(|j| j.id == job_id))
    else {
        return (result, None);
    };
    let title = daemon
        .store
        .block(&run.block_id)
        .ok()
        .flatten()
        .map_or_else(|| run.block_id.clone(), |b| b.title);
    let start = step.job.as_ref().and_then(|j| j.start_commit.clone());
    let (run_id, kind, attempt) = (run.id.clone(), step.agent_kind.clone(), step.attempts);
    let author = daemon.commit_author();
    let committed = tokio::task::spawn_blocking(move || {
        let commit = crate::git::StepCommit {
            subject: format!("{kind}: {title}"),
            run_id: &run_id,
            step_index: index,
            attempt,
            author: author.as_ref(),
        };
        let change = crate::git::commit_step(&worktree, start.as_deref(), &commit)?;
        let tip = change.commit.as_deref().unwrap_or(&change.start_commit);
        let so_far = crate::git::change_between(&worktree.repository, &worktree.base_commit, tip)?;
        Ok::<_, crate::git::RepoError>(Committed {
            step: index,
            change,
            run: so_far,
        })
    })
    .await;
    match committed {
        Ok(Ok(committed)) => (result, Some(committed)),
        Ok(Err(e)) => (*git_failure(e.to_string()), None),
        Err(e) => (
            *git_failure(format!("the step's commit stopped: {e}")),
            None,
        ),
    }
}

/// The output of a check's job whose command exited 0.
pub(super) const CHECK_PASSED: &str = "exit 0";

/// Makes the job run `command` (`sh -c`, as a process or in the kind's
/// image) and end with a result line naming its exit status, so a failing
/// command is not a failing job.
fn run_as_check(spec: &mut JobSpec, command: String) {
    let wrapper = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        r#"sh -c "$CATTERY_CHECK" 2>&1 </dev/null; printf '{"type":"result","output":"exit %d"}\n' "$?""#
            .to_owned(),
    ];
    spec.agent.command = wrapper.clone();
    spec.agent.image_command = wrapper;
    spec.env.push(("CATTERY_CHECK".to_owned(), command));
}

/// The built-in tester runs its frame's `test_command` on the worktree.
fn as_test_command(daemon: &Daemon, run: &Run, spec: &mut JobSpec) -> Result<(), Box<JobResult>> {
    let command = daemon.frame_providers(run).and_then(|p| p.test_command);
    let Some(command) = command else {
        return Err(Box::new(JobResult::Failed {
            kind: FailureKind::Preflight,
            message: format!(
                "`{}` runs the frame's test command, but the frame sets none",
                spec.agent.kind
            ),
            detail: None,
            hint: Some(
                "set one with `cattery ctl block set FRAME --repo PATH --test-command 'make test'`, or use another tester"
                    .to_owned(),
            ),
        }));
    };
    run_as_check(spec, command);
    Ok(())
}

/// A test command's exit status and output, as a tester's report.
fn test_report_of(result: JobResult, tail: &std::collections::VecDeque<String>) -> JobResult {
    use cattery_protocol::agent::{OutcomeStatus, TestOutcome, TestReport};
    let JobResult::Succeeded(mut agent) = result else {
        return result;
    };
    let passed = agent.output == CHECK_PASSED;
    let output = tail.iter().cloned().collect::<Vec<_>>().join("\n");
    let summary = match passed {
        true => "The test command passed.".to_owned(),
        false => format!("The test command failed ({}).", agent.output),
    };
    agent.test_report = Some(Box::new(TestReport {
        greenlight: passed,
        summary: summary.clone(),
        tested: vec!["test_command".to_owned()],
        outcomes: vec![TestOutcome {
            name: "test_command".to_owned(),
            status: if passed {
                OutcomeStatus::Passed
            } else {
                OutcomeStatus::Failed
            },
            detail: (!output.is_empty()).then_some(output),
        }],
        ..TestReport::default()
    }));
    agent.output = summary;
    JobResult::Succeeded(agent)
}

/// A job that runs one named check (`sh -c`) on the run's worktree, read
/// only, in the gate kind's image or as a process: the executor's own
/// isolation and supervision apply. It ends with a result line naming the
/// check's exit status, so a check's failure is not the job's.
pub(super) async fn check_spec(
    daemon: &Daemon,
    run: &Run,
    step_index: usize,
    name: &str,
    command: &str,
) -> Result<JobSpec, String> {
    let prepared = prepare_worktree(run, None)
        .await
        .map_err(|failure| format!("{failure:?}"))?;
    let job_id = daemon.ids.mint("c");
    let mut spec = job_spec(daemon, run, &job_id, step_index, prepared.as_ref())
        .map_err(|failure| format!("{failure:?}"))?;
    run_as_check(&mut spec, command.to_owned());
    spec.agent.cli = None;
    spec.agent.kind = format!("{}:{name}", spec.agent.kind);
    spec.agent_state = None;
    if let Some(workspace) = spec.workspace.as_mut() {
        workspace.writable = false;
    }
    Ok(spec)
}

fn job_spec(
    daemon: &Daemon,
    run: &Run,
    job_id: &str,
    step_index: usize,
    prepared: Option<&Prepared>,
) -> Result<JobSpec, Box<JobResult>> {
    let preflight = |message: String, hint: &str| {
        Box::new(JobResult::Failed {
            kind: FailureKind::Preflight,
            message,
            detail: None,
            hint: Some(hint.to_owned()),
        })
    };
    let step = run.steps.get(step_index).ok_or_else(|| {
        preflight(
            format!("run {} has no step {step_index}", run.id),
            "restart the run",
        )
    })?;
    // A gate's job is its helper's, a tester's its fixer's while fixing,
    // a review's its writer's while incorporating.
    let kind = step
        .gate
        .as_ref()
        .and_then(|g| g.helper_working())
        .or_else(|| step.test.as_ref().and_then(|t| t.fixer_working()))
        .or_else(|| step.review.as_ref().and_then(|r| r.writer_working()))
        .unwrap_or(&step.agent_kind);
    let agent = daemon.catalog.agents.get(kind).cloned().ok_or_else(|| {
        preflight(
            format!("agent kind `{kind}` is not defined any more"),
            "define it again in agents.toml, or restart the run on another pipeline",
        )
    })?;
    let block = match daemon.store.block(&run.block_id) {
        Ok(Some(block)) => block,
        Ok(None) => {
            return Err(preflight(
                format!("block {} is gone", run.block_id),
                "start the pipeline on an existing block",
            ));
        }
        Err(e) => {
            return Err(preflight(
                format!("cannot read block {}: {e}", run.block_id),
                "check the database",
            ));
        }
    };
    let context = StepContext {
        protocol_version: PROTOCOL_VERSION,
        run_id: run.id.clone(),
        job_id: job_id.to_owned(),
        pipeline_id: run.pipeline_id.clone(),
        step_index,
        agent_kind: kind.to_owned(),
        attempt: step.attempts,
        grades: step.companion.as_ref().map(|c| c.producer_kind.clone()),
        block_id: block.id.clone(),
        block_title: block.title.clone(),
        block_description: block.description.lines().map(str::to_owned).collect(),
        prior_outputs: with_gate_instructions(prior_outputs(run, step_index), step, step_index),
        rework: step.rework.clone().map(|r| quote_anchors(r, prepared)),
        chosen_option: step.decision.as_ref().and_then(|d| {
            d.chosen.as_ref().map(|option| ChosenOption {
                question: d.question.clone(),
                option: option.clone(),
            })
        }),
        workspace: None,
        review_pass: step
            .review
            .as_ref()
            .filter(|r| r.writer_working().is_none())
            .map(|r| r.iteration),
    };
    let (workspace, context) = match (&run.worktree, prepared) {
        (Some(worktree), Some(prepared)) => {
            let (job, told) = workspace_for(daemon, &agent, worktree, prepared);
            (
                job,
                StepContext {
                    workspace: Some(told),
                    ..context
                },
            )
        }
        _ => (None, context),
    };
    let workdir = daemon.paths.jobs().join(job_id);
    let state = agent.cli.is_some().then(|| {
        let dir = daemon.paths.agent_state().join(&run.id);
        dir.join(format!("{step_index:03}"))
    });
    let (agent, env) = runner_command(daemon, agent, &context, state.as_deref());
    Ok(JobSpec {
        job_id: job_id.to_owned(),
        agent,
        context,
        timeout_secs: step.timeout_secs,
        ran_secs: step
            .job
            .as_ref()
            .and_then(|j| j.dispatched_at)
            .map_or(0, |at| (daemon.clock.now() - at).max(0) as u64 / 1000),
        workdir,
        workspace,
        env,
        agent_state: state,
    })
}

/// A CLI runner's command line (the role prompt in it) and environment;
/// a `command` kind runs as configured.
fn runner_command(
    daemon: &Daemon,
    mut agent: crate::config::AgentDef,
    context: &StepContext,
    state_dir: Option<&std::path::Path>,
) -> (crate::config::AgentDef, Vec<(String, String)>) {
    let (Some(cli), Some(state_dir)) = (agent.cli.clone(), state_dir) else {
        return (agent, Vec::new());
    };
    let prompts = daemon.paths.config.join("prompts");
    // The CLI's config, sessions and (in a container) home, writable by the
    // agent and kept across the step's jobs; Codex refuses one that does
    // not exist.
    if let Err(e) = std::fs::create_dir_all(state_dir) {
        tracing::warn!(path = %state_dir.display(), "cannot make the agent's state folder: {e}");
    }
    let state = daemon.executor.agent_state_path(state_dir);
    // A rework of the step goes on with the conversation its last round
    // had, so the CLI keeps what it read and did.
    let resume = context.rework.is_some() && crate::runner::claude::has_session(state_dir);
    let in_container = daemon.executor.in_containers();
    let (argv, mut env) = match cli.runner {
        cattery_protocol::Runner::Codex => {
            let base = daemon.gateway_url_for(&agent).unwrap_or_default();
            let openai = format!("{base}{}/v1", crate::gateway::OPENAI_PREFIX);
            let runner = crate::runner::codex::Runner {
                cli: &cli,
                agent: &agent,
                openai_base: &openai,
                state: &state,
                in_container,
            };
            runner.command(context, &prompts)
        }
        _ => crate::runner::claude_command(&cli, &agent, context, &prompts, &state, resume),
    };
    // A container's user has no home of its own.
    if in_container {
        env.push(("HOME".to_owned(), state));
    }
    agent.command = argv.clone();
    agent.image_command = argv;
    (agent, env)
}

/// The worktree as the job gets it (none for a kind with `workspace =
/// "none"`), and what its agent is told about it.
fn workspace_for(
    daemon: &Daemon,
    agent: &crate::config::AgentDef,
    worktree: &cattery_protocol::Worktree,
    prepared: &Prepared,
) -> (Option<JobWorkspace>, Workspace) {
    let path = std::path::PathBuf::from(&worktree.path);
    let job = (agent.workspace != WorkspaceMode::None).then(|| JobWorkspace {
        path: path.clone(),
        writable: agent.workspace == WorkspaceMode::ReadWrite,
        git_dir: prepared.git_dir.clone(),
        owner: prepared.owner,
    });
    let mut diff = prepared.diff.clone();
    let lines: usize = diff
        .iter()
        .flat_map(|f| &f.hunks)
        .map(|h| h.lines.len())
        .sum();
    let hunks_left_out = lines > Workspace::DIFF_LINES;
    if hunks_left_out {
        diff.iter_mut().for_each(|f| f.hunks.clear());
    }
    let told = Workspace {
        repository: worktree.repository.clone(),
        branch: worktree.branch.clone(),
        base: worktree.base.clone(),
        base_commit: worktree.base_commit.clone(),
        path: job.as_ref().map(|_| daemon.executor.workspace_path(&path)),
        diff,
        hunks_left_out,
    };
    (job, told)
}

/// A rework's `path:line` comments carry the hunk of the run's diff that
/// holds the line, so the agent sees what was meant.
fn quote_anchors(mut rework: Rework, prepared: Option<&Prepared>) -> Rework {
    let Some(prepared) = prepared else {
        return rework;
    };
    for comment in rework.comments.iter_mut().filter(|c| c.quote.is_none()) {
        let (Some(path), Some(line)) = (&comment.path, comment.line) else {
            continue;
        };
        let hunk = prepared
            .diff
            .iter()
            .filter(|f| &f.path == path)
            .flat_map(|f| &f.hunks)
            .find(|h| (h.new_start..h.new_start + h.new_lines.max(1)).contains(&line));
        comment.quote = hunk.map(hunk_text);
    }
    rework
}

/// A hunk as `git diff` prints it.
fn hunk_text(hunk: &cattery_protocol::diff::Hunk) -> String {
    hunk.unified().collect::<Vec<_>>().join("\n")
}

/// A gate's helper is told what the probe found (the conflicting paths,
/// the failing checks and their log tails), a tester's fixer the tester's
/// report, and a review's writer its brief, as the step's own output.
fn with_gate_instructions(
    mut outputs: Vec<PriorOutput>,
    step: &cattery_protocol::Step,
    step_index: usize,
) -> Vec<PriorOutput> {
    let gate = step
        .gate
        .as_ref()
        .filter(|g| g.helper_working().is_some())
        .map(|g| g.last_summary.clone().unwrap_or_default());
    let report = step
        .test
        .as_ref()
        .filter(|t| t.fixer_working().is_some())
        .and_then(|t| t.last_report.as_ref())
        .map(|r| r.for_fixer());
    // A review's writer gets the answers to fold in; its reviewer, on a
    // later pass, the revised document.
    let review = step.review.as_ref().and_then(|r| match r.writer_working() {
        Some(_) => Some(r.for_writer()),
        None => r.for_reviewer(),
    });
    if let Some(output) = gate.or(report).or(review) {
        outputs.push(PriorOutput {
            step_index,
            agent_kind: step.agent_kind.clone(),
            output,
        });
    }
    outputs
}

fn prior_outputs(run: &Run, step_index: usize) -> Vec<PriorOutput> {
    run.steps
        .iter()
        .enumerate()
        .take(step_index)
        .filter(|(_, s)| s.skipped.is_none())
        .filter_map(|(i, s)| {
            s.output.as_ref().map(|output| PriorOutput {
                step_index: i,
                agent_kind: s.agent_kind.clone(),
                output: output.clone(),
            })
        })
        .collect()
}

//! A polling gate's probe: the I/O behind each gate (an in-memory merge,
//! a CI provider, a release-health provider). What the answer means is the
//! engine's (`engine::gate`); a probe only gathers it.

use crate::engine::JobResult;
use crate::engine::gate::{self, HealthWatch, Probe};
use crate::exec::JobEvent;
use crate::service::Daemon;
use cattery_protocol::gate::{CiCheck, CiReport, GateCheck, GateState, HealthReport};
use cattery_protocol::{BlockStatus, Providers, Run, Worktree};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Lines of a failing check's output the fixer gets.
const LOG_TAIL_LINES: usize = 40;
/// A provider command that runs longer than this counts as an unreadable poll.
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Probes the gate on the run's step `index`.
pub async fn probe(
    daemon: &Arc<Daemon>,
    run: &Run,
    index: usize,
    stop: watch::Receiver<bool>,
) -> Probe {
    let Some(gate) = run.steps.get(index).and_then(|s| s.gate.clone()) else {
        return Probe::pass("not a gate");
    };
    let head = match branch_head(run).await {
        Ok(head) => head,
        Err(probe) => return probe,
    };
    let providers = daemon.frame_providers(run);
    let probe = match gate.spec.kind {
        GateCheck::Conflicts => conflicts(run).await,
        GateCheck::Ci => ci(daemon, run, index, providers.as_ref(), stop).await,
        GateCheck::PostReleaseHealth => health(daemon, run, &gate, providers.as_ref()).await,
    };
    probe.at(head)
}

/// The branch tip the probe looks at. A gate may be the run's first step,
/// so its branch and worktree are made here as before any job (idempotent).
async fn branch_head(run: &Run) -> Result<Option<String>, Probe> {
    let Some(worktree) = run.worktree.clone() else {
        return Ok(None);
    };
    let made = tokio::task::spawn_blocking(move || {
        crate::git::ensure(&worktree)?;
        crate::git::tip(&worktree)
    })
    .await;
    match made {
        Ok(Ok(head)) => Ok(Some(head)),
        Ok(Err(e)) => Err(Probe::pending(format!(
            "cannot make the run's worktree: {e}"
        ))),
        Err(e) => Err(Probe::pending(format!("the worktree set-up stopped: {e}"))),
    }
}

async fn conflicts(run: &Run) -> Probe {
    let Some(worktree) = run.worktree.clone() else {
        return gate::unwired(GateCheck::Conflicts);
    };
    let probed = tokio::task::spawn_blocking(move || {
        crate::git::merge::mergeability(&worktree.repository, &worktree.branch, &worktree.base)
    })
    .await;
    match probed {
        Ok(Ok(crate::git::merge::Mergeability::Clean { .. })) => gate::classify_conflicts(&[]),
        Ok(Ok(crate::git::merge::Mergeability::Conflicted { paths })) => {
            gate::classify_conflicts(&paths)
        }
        Ok(Err(e)) => Probe::pending(format!("cannot probe the merge: {e}")),
        Err(e) => Probe::pending(format!("the merge probe stopped: {e}")),
    }
}

async fn ci(
    daemon: &Arc<Daemon>,
    run: &Run,
    index: usize,
    providers: Option<&Providers>,
    stop: watch::Receiver<bool>,
) -> Probe {
    let Some(provider) = providers.and_then(|p| p.ci.clone()) else {
        return gate::unwired(GateCheck::Ci);
    };
    let report = match provider.as_str() {
        "local" => {
            let checks = providers.map(|p| p.checks.clone()).unwrap_or_default();
            Ok(local_checks(daemon, run, index, &checks, stop).await)
        }
        "gh" => {
            let script = daemon.paths.assets().join("providers/ci-gh.sh");
            let command = format!("sh '{}'", script.display());
            provider_json::<CiReport>(daemon, &command, run, None).await
        }
        command => provider_json::<CiReport>(daemon, command, run, None).await,
    };
    match report {
        Ok(report) => gate::classify_ci(&report),
        Err(why) => Probe::pending(format!("the CI provider gave no answer: {why}")),
    }
}

/// Runs each named check as a job on the run's worktree, one at a time.
async fn local_checks(
    daemon: &Arc<Daemon>,
    run: &Run,
    index: usize,
    checks: &std::collections::BTreeMap<String, String>,
    stop: watch::Receiver<bool>,
) -> CiReport {
    let mut report = CiReport { checks: Vec::new() };
    for (name, command) in checks {
        report
            .checks
            .push(local_check(daemon, run, index, name, command, stop.clone()).await);
    }
    report
}

async fn local_check(
    daemon: &Arc<Daemon>,
    run: &Run,
    index: usize,
    name: &str,
    command: &str,
    stop: watch::Receiver<bool>,
) -> CiCheck {
    let completed = |conclusion: &str, tail: String| CiCheck {
        name: name.to_owned(),
        status: "completed".to_owned(),
        conclusion: Some(conclusion.to_owned()),
        url: None,
        log_tail: Some(tail),
    };
    let spec = match super::job::check_spec(daemon, run, index, name, command).await {
        Ok(spec) => spec,
        Err(why) => return completed("failure", format!("the check could not start: {why}")),
    };
    let job_id = spec.job_id.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let job = daemon.executor.run(spec, tx, stop);
    let mut lines = std::collections::VecDeque::new();
    let mut handle = None;
    let collect = async {
        while let Some(event) = rx.recv().await {
            match event {
                JobEvent::Log { line, .. } => {
                    lines.push_back(line);
                    if lines.len() > LOG_TAIL_LINES {
                        lines.pop_front();
                    }
                }
                JobEvent::Dispatched { handle: h } => handle = Some(h),
                _ => {}
            }
        }
    };
    let (result, ()) = tokio::join!(job, collect);
    // A check's container (or process record) goes as soon as it has answered.
    if let Some(handle) = handle {
        daemon.executor.release(&handle).await;
    }
    let _ = tokio::fs::remove_dir_all(daemon.paths.jobs().join(&job_id)).await;
    let tail = lines.into_iter().collect::<Vec<_>>().join("\n");
    match result {
        JobResult::Succeeded(r) if r.output == super::job::CHECK_PASSED => {
            completed("success", tail)
        }
        JobResult::Succeeded(r) => completed("failure", format!("{tail}\n({})", r.output)),
        JobResult::Failed { message, .. } => completed("failure", format!("{tail}\n{message}")),
        other => completed("cancelled", format!("{tail}\n{other:?}")),
    }
}

async fn health(
    daemon: &Arc<Daemon>,
    run: &Run,
    gate: &GateState,
    providers: Option<&Providers>,
) -> Probe {
    let block = daemon.store.block(&run.block_id).ok().flatten();
    let watch = HealthWatch {
        block_merged: block.is_some_and(|b| b.status == BlockStatus::Done),
        watch_since: gate.watch_since.unwrap_or_else(|| daemon.clock.now()),
        window_secs: gate.spec.watch_window_secs.unwrap_or(0),
        now: daemon.clock.now(),
    };
    if !watch.block_merged {
        return gate::classify_health(None, &watch);
    }
    let Some(command) = providers.and_then(|p| p.health.clone()) else {
        return gate::unwired(GateCheck::PostReleaseHealth);
    };
    match provider_json::<HealthReport>(daemon, &command, run, gate.watch_since).await {
        Ok(report) => gate::classify_health(Some(&report), &watch),
        Err(why) => Probe::pending(format!("the release-health provider gave no answer: {why}")),
    }
}

/// Runs a provider command on the host (it holds the user's credentials,
/// like `gh`) and reads its JSON answer. It runs in a copy of the base
/// branch as committed (`git::export`), so a script an agent rewrote in
/// its worktree is not what runs, with the allow-listed environment
/// (`children::Purpose::Forge`) and the run's facts as `CATTERY_*`.
async fn provider_json<T: serde::de::DeserializeOwned>(
    daemon: &Arc<Daemon>,
    command: &str,
    run: &Run,
    since: Option<cattery_protocol::Millis>,
) -> Result<T, String> {
    let mut cmd = crate::children::command("sh", crate::children::Purpose::Forge);
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(worktree) = &run.worktree {
        let (repository, base) = (worktree.repository.clone(), worktree.base.clone());
        let root = daemon.paths.provider_trees();
        let tree = tokio::task::spawn_blocking(move || {
            crate::git::export::committed_tree(&repository, &base, &root)
        })
        .await
        .map_err(|e| format!("the copy of the base branch was lost: {e}"))?
        .map_err(|e| e.to_string())?;
        cmd.current_dir(tree).envs(provider_env(worktree));
    }
    if let Some(since) = since {
        cmd.env("CATTERY_WATCH_SINCE", since.to_string());
    }
    cmd.env("CATTERY_RUN_ID", &run.id);
    let output = tokio::time::timeout(PROVIDER_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("`{command}` ran past {} s", PROVIDER_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`{command}` exited with {}: {}",
            output.status,
            cattery_protocol::text::cut(stderr.trim(), 300)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "`{command}` printed no valid answer ({e}): {}",
            cattery_protocol::text::cut(String::from_utf8_lossy(&output.stdout).trim(), 300)
        )
    })
}

fn provider_env(worktree: &Worktree) -> Vec<(&'static str, String)> {
    vec![
        ("CATTERY_REPOSITORY", worktree.repository.clone()),
        ("CATTERY_BRANCH", worktree.branch.clone()),
        ("CATTERY_BASE", worktree.base.clone()),
        ("CATTERY_WORKTREE", worktree.path.clone()),
    ]
}

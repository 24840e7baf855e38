//! The merger step's last act: its run's branch finalised by the frame's
//! `merge` mode. `branch` leaves it for a human, `local` merges it into
//! base by plumbing, `pr` pushes it and opens a pull request. A failure
//! fails the merger step with what went wrong, so the run can be retried.

use crate::engine::JobResult;
use crate::engine::merge_policy::{self, MergeCall};
use crate::git::merge::{self, Merged};
use crate::service::Daemon;
use cattery_protocol::agent::MergeAssessment;
use cattery_protocol::{
    Block, Delivery, FailureKind, MergeMode, Repository, ReviewReason, Run, Worktree,
};
use std::path::Path;
use std::time::Duration;

/// The longest a push or the pull-request command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Finalises `run`'s branch as its frame says, under its merge policy:
/// `local` and `pr` merge only when the policy lets the merger's
/// `assessment` through, and otherwise leave a review for a human;
/// `branch` always leaves the branch. `None` for a run without a worktree,
/// whose merger owned the merge itself.
pub async fn deliver(
    daemon: &Daemon,
    run: &Run,
    block: &Block,
    assessment: Option<&MergeAssessment>,
) -> Result<Option<Delivery>, Refusal> {
    let Some(worktree) = run.worktree.clone() else {
        return Ok(None);
    };
    let repository = daemon.frame_repository(block).ok().flatten();
    let mode = repository.as_ref().map_or(MergeMode::Branch, |r| r.merge);
    let preset = repository
        .as_ref()
        .and_then(|r| r.providers.risk_preset)
        .unwrap_or_default();
    let call = merge_policy::decide(preset, assessment);
    let delivered = match (mode, call) {
        (MergeMode::Branch, _) => blocking(move || branch(&worktree)).await?,
        (MergeMode::Local, MergeCall::Merge) => {
            merge_locally(daemon, run, block, &worktree).await?
        }
        (MergeMode::Pr, MergeCall::Merge) => {
            let opened = pull_request(daemon, run, block, &worktree, repository.as_ref()).await?;
            merge_pull_request(daemon, &worktree, opened).await?
        }
        (MergeMode::Local, MergeCall::Review { reason, exceeded }) => {
            blocking(move || review(&worktree, reason, exceeded, None)).await?
        }
        (MergeMode::Pr, MergeCall::Review { reason, exceeded }) => {
            let opened = pull_request(daemon, run, block, &worktree, repository.as_ref()).await?;
            let url = match opened {
                Delivery::PullRequest { url, .. } => Some(url),
                _ => None,
            };
            blocking(move || review(&worktree, reason, exceeded, url)).await?
        }
    };
    Ok(Some(delivered))
}

/// What a human merges on the card (`ctl merge`, `o`): the branch locally,
/// or the pull request it waits in.
pub async fn merge_reviewed(
    daemon: &Daemon,
    run: &Run,
    block: &Block,
) -> Result<Delivery, Refusal> {
    let Some(worktree) = run.worktree.clone() else {
        return Err(failure(
            format!("run {} has no branch to merge", run.id),
            "merge it where its merger left it",
        ));
    };
    if let Some(Delivery::Review { url: Some(url), .. } | Delivery::PullRequest { url, .. }) =
        &run.delivery
    {
        let remote = daemon
            .frame_repository(block)
            .ok()
            .flatten()
            .and_then(|r| r.remote)
            .unwrap_or_default();
        let opened = Delivery::PullRequest {
            remote,
            url: url.clone(),
        };
        return merge_pull_request(daemon, &worktree, opened).await;
    }
    match merge_locally(daemon, run, block, &worktree).await? {
        Delivery::Review { .. } => Err(failure(
            format!(
                "{} does not merge cleanly into {}",
                worktree.branch, worktree.base
            ),
            &format!(
                "merge it by hand (`git -C {} merge {}` where {} is checked out)",
                worktree.repository, worktree.branch, worktree.base
            ),
        )),
        merged => Ok(merged),
    }
}

async fn merge_locally(
    daemon: &Daemon,
    run: &Run,
    block: &Block,
    worktree: &Worktree,
) -> Result<Delivery, Refusal> {
    let message = merge_message(worktree, &block.title, &run.id);
    let author = daemon.commit_author();
    let worktree = worktree.clone();
    blocking(move || local(&worktree, &message, author.as_ref())).await
}

/// The branch left for a human, with why and what it changes.
fn review(
    worktree: &Worktree,
    reason: ReviewReason,
    exceeded: Vec<String>,
    url: Option<String>,
) -> Result<Delivery, Refusal> {
    let change = stat(worktree)?;
    Ok(Delivery::Review {
        reason,
        exceeded,
        branch: worktree.branch.clone(),
        files: change.files,
        insertions: change.insertions,
        deletions: change.deletions,
        url,
    })
}

/// Runs `pr_merge_command` on an opened pull request; a refusal leaves it
/// for a human (`merge_failed`), as the reference does.
async fn merge_pull_request(
    daemon: &Daemon,
    worktree: &Worktree,
    opened: Delivery,
) -> Result<Delivery, Refusal> {
    let Delivery::PullRequest { remote, url } = opened else {
        return Ok(opened);
    };
    let fill = |arg: &String| {
        arg.replace("{url}", &url)
            .replace("{branch}", &worktree.branch)
            .replace("{base}", &worktree.base)
            .replace("{remote}", &remote)
    };
    let argv: Vec<String> = daemon.pr_merge_command().iter().map(fill).collect();
    match command(&argv, Path::new(&worktree.repository)).await {
        Ok(_) => Ok(Delivery::PullRequestMerged { remote, url }),
        Err(why) => {
            tracing::warn!(url, "the pull request was not merged: {why}");
            let worktree = worktree.clone();
            blocking(move || review(&worktree, ReviewReason::MergeFailed, Vec::new(), Some(url)))
                .await
        }
    }
}

async fn blocking(
    work: impl FnOnce() -> Result<Delivery, Refusal> + Send + 'static,
) -> Result<Delivery, Refusal> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(failure(format!("the merge stopped: {e}"), "retry the run")))
}

fn branch(worktree: &Worktree) -> Result<Delivery, Refusal> {
    let change = stat(worktree)?;
    Ok(Delivery::Branch {
        branch: worktree.branch.clone(),
        files: change.files,
        insertions: change.insertions,
        deletions: change.deletions,
    })
}

fn stat(worktree: &Worktree) -> Result<cattery_protocol::StepChange, Refusal> {
    let git =
        |e: crate::git::RepoError| failure(e.to_string(), "check the clone, then retry the run");
    let tip = crate::git::diff::branch_tip(&worktree.repository, &worktree.branch).map_err(git)?;
    crate::git::change_between(&worktree.repository, &worktree.base_commit, &tip).map_err(git)
}

fn merge_message(worktree: &Worktree, title: &str, run_id: &str) -> String {
    format!(
        "Merge {} into {}: {title}\n\nCattery-Run: {run_id}\n",
        worktree.branch, worktree.base
    )
}

fn local(
    worktree: &Worktree,
    message: &str,
    author: Option<&crate::git::Author>,
) -> Result<Delivery, Refusal> {
    let merged = merge::local(
        &worktree.repository,
        &worktree.branch,
        &worktree.base,
        message,
        author,
    )
    .map_err(|e| failure(e.to_string(), "check the clone, then retry the run"))?;
    match merged {
        Merged::Into {
            commit,
            fast_forward,
        } => Ok(Delivery::Merged {
            base: worktree.base.clone(),
            commit,
            fast_forward,
        }),
        Merged::CheckedOut { at } => Ok(Delivery::CheckedOut {
            base: worktree.base.clone(),
            command: format!("git -C {} merge {}", at.display(), worktree.branch),
            at: at.display().to_string(),
        }),
        // The automatic merge failed: a human takes it, as in the reference.
        Merged::Conflicts { paths } => {
            tracing::info!(
                branch = worktree.branch,
                "conflicts with base in {}",
                paths.join(", ")
            );
            review(worktree, ReviewReason::MergeFailed, Vec::new(), None)
        }
    }
}

async fn pull_request(
    daemon: &Daemon,
    run: &Run,
    block: &Block,
    worktree: &Worktree,
    repository: Option<&Repository>,
) -> Result<Delivery, Refusal> {
    let Some(remote) = repository.and_then(|r| r.remote.clone()) else {
        return Err(failure(
            "merge = \"pr\" needs a remote to push to, and the frame names none".to_owned(),
            "set one (`ctl block set FRAME --repo PATH --remote origin --merge pr`), then retry the run",
        ));
    };
    let refspec = format!("refs/heads/{0}:refs/heads/{0}", worktree.branch);
    let git = [
        "git",
        "-C",
        &worktree.repository,
        "push",
        "--quiet",
        &remote,
        &refspec,
    ];
    let pushed = command(&git.map(str::to_owned), Path::new(&worktree.repository)).await;
    pushed.map_err(|why| {
        failure(
            format!("cannot push {} to {remote}: {why}", worktree.branch),
            "check the remote and your credentials for it, then retry the run",
        )
    })?;
    let body = daemon.paths().jobs().join(format!("{}-pr-body.md", run.id));
    let text = pr_body(block, run, worktree);
    tokio::fs::write(&body, text).await.map_err(|e| {
        failure(
            format!(
                "cannot write the pull request's description to {}: {e}",
                body.display()
            ),
            "free some disk space, then retry the run",
        )
    })?;
    let fill = |arg: &String| {
        arg.replace("{branch}", &worktree.branch)
            .replace("{base}", &worktree.base)
            .replace("{remote}", &remote)
            .replace("{title}", &block.title)
            .replace("{body}", &body.display().to_string())
    };
    let argv: Vec<String> = daemon.pr_command().iter().map(fill).collect();
    let printed = command(&argv, Path::new(&worktree.repository)).await;
    let _ = tokio::fs::remove_file(&body).await;
    let printed = printed.map_err(|why| {
        failure(
            format!("the pull request was not opened: {why}"),
            "fix pr_command in config.toml (or install and sign in to `gh`), or set merge = \"branch\" on the frame, then retry the run",
        )
    })?;
    let url = printed
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            failure(
                format!("{} printed no pull request URL", argv[0]),
                "make pr_command print the request's URL, then retry the run",
            )
        })?;
    Ok(Delivery::PullRequest { remote, url })
}

fn pr_body(block: &Block, run: &Run, worktree: &Worktree) -> String {
    let stat = stat(worktree)
        .map(|c| cattery_protocol::diff::stat_line(c.files, c.insertions, c.deletions))
        .unwrap_or_default();
    format!(
        "{}\n\n{stat}\n\nOpened by cattery run {} ({}).\n",
        block.description, run.id, run.pipeline_name
    )
}

/// Runs `argv` in `dir` with no input and no terminal prompts, within
/// [`COMMAND_TIMEOUT`]; its stdout, or why it failed.
async fn command(argv: &[String], dir: &Path) -> Result<String, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("the command is empty".to_owned());
    };
    let child = crate::children::command(program, crate::children::Purpose::Forge)
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GH_PROMPT_DISABLED", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
        Err(_) => {
            return Err(format!(
                "`{program}` did not finish within {}s",
                COMMAND_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("`{program}` is not installed (not found on PATH)"));
        }
        Ok(Err(e)) => return Err(format!("cannot run `{program}`: {e}")),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "`{program}` failed ({}): {}",
            out.status,
            cattery_protocol::text::first_line(said.trim(), 400)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Why the branch could not be finalised, and what to do.
#[derive(Debug)]
pub struct Refusal {
    message: String,
    hint: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.message, self.hint)
    }
}

impl Refusal {
    /// The merger step fails with it.
    pub fn into_failure(self) -> JobResult {
        JobResult::Failed {
            kind: FailureKind::JobFailed,
            message: self.message,
            detail: None,
            hint: Some(self.hint),
        }
    }
}

fn failure(message: String, hint: &str) -> Refusal {
    Refusal {
        message,
        hint: hint.to_owned(),
    }
}

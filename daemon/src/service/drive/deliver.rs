//! The merger step's last act: its run's branch finalised by the frame's
//! `merge` mode. `branch` leaves it for a human, `local` merges it into
//! base by plumbing, `pr` pushes it and opens a pull request. A failure
//! fails the merger step with what went wrong, so the run can be retried.

use crate::engine::JobResult;
use crate::git::merge::{self, Merged};
use crate::service::Daemon;
use cattery_protocol::{Block, Delivery, FailureKind, MergeMode, Repository, Run, Worktree};
use std::path::Path;
use std::time::Duration;

/// The longest a push or the pull-request command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Finalises `run`'s branch as its frame says; `None` for a run without a
/// worktree, whose merger owned the merge itself.
pub async fn deliver(
    daemon: &Daemon,
    run: &Run,
    block: &Block,
) -> Result<Option<Delivery>, Refusal> {
    let Some(worktree) = run.worktree.clone() else {
        return Ok(None);
    };
    let repository = daemon.frame_repository(block).ok().flatten();
    let mode = repository.as_ref().map_or(MergeMode::Branch, |r| r.merge);
    let delivered = match mode {
        MergeMode::Branch => blocking(move || branch(&worktree)).await?,
        MergeMode::Local => {
            let message = merge_message(&worktree, &block.title, &run.id);
            let author = daemon.commit_author();
            blocking(move || local(&worktree, &message, author.as_ref())).await?
        }
        MergeMode::Pr => pull_request(daemon, run, block, &worktree, repository.as_ref()).await?,
    };
    Ok(Some(delivered))
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
        Merged::Conflicts { paths } => Err(failure(
            format!(
                "{} does not merge cleanly into {}: both change {}",
                worktree.branch,
                worktree.base,
                paths.join(", ")
            ),
            &format!(
                "merge it by hand (`git -C {} merge {}` where {} is checked out), or set merge = \"branch\" on the frame and retry the run",
                worktree.repository, worktree.branch, worktree.base
            ),
        )),
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
    let child = tokio::process::Command::new(program)
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

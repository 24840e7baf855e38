//! Frames name their git repository: checked against the real clone when
//! set, refused with the fix when unusable, and never written to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::{Block, BlockLevel, MergeMode};
use cattery_tests::CtlHome;
use cattery_tests::gitfix::{checkout_state, git};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A user's clone on `trunk` with a commit, a staged change and an
/// uncommitted edit: everything a careless tool could disturb.
fn users_clone() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "trunk"]);
    std::fs::write(dir.path().join("app.py"), "print('hi')\n").unwrap();
    git(dir.path(), &["add", "app.py"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    std::fs::write(dir.path().join("staged.py"), "x = 1\n").unwrap();
    git(dir.path(), &["add", "staged.py"]);
    std::fs::write(dir.path().join("app.py"), "print('edited')\n").unwrap();
    dir
}

/// Every file under `dir`, `.git` included, by path: its bytes.
fn checksum(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn repo_arg(dir: &Path) -> String {
    dir.display().to_string()
}

#[test]
fn a_frame_names_its_clone_and_runs_start_from_its_current_branch_unless_told() {
    let home = CtlHome::with_config(&[]);
    let clone = users_clone();
    let before = checksum(clone.path());
    let frame: Block = serde_json::from_value(home.ctl(&[
        "block",
        "add",
        "--level",
        "frame",
        "--title",
        "Payments",
        "--repo",
        &repo_arg(clone.path()),
    ]))
    .unwrap();
    let repository = frame.repository.clone().unwrap();
    assert_eq!(repository.base, "trunk", "the clone's current branch");
    assert_eq!(
        repository.path,
        std::fs::canonicalize(clone.path())
            .unwrap()
            .display()
            .to_string()
    );
    assert_eq!(repository.merge, MergeMode::Branch);
    assert_eq!(home.block(&frame.id).repository, frame.repository, "stored");

    git(clone.path(), &["branch", "release"]);
    let set: Block = serde_json::from_value(home.ctl(&[
        "block",
        "set",
        &frame.id,
        "--repo",
        &repo_arg(clone.path()),
        "--base",
        "release",
        "--merge",
        "local",
    ]))
    .unwrap();
    let repository = set.repository.unwrap();
    assert_eq!(
        (repository.base.as_str(), repository.merge),
        ("release", MergeMode::Local)
    );
    let cleared: Block =
        serde_json::from_value(home.ctl(&["block", "set", &frame.id, "--no-repo"])).unwrap();
    assert_eq!(cleared.repository, None);
    git(clone.path(), &["branch", "-D", "release"]);
    assert_eq!(
        checksum(clone.path()),
        before,
        "the user's clone was only read"
    );
}

#[test]
fn unusable_repositories_are_refused_with_the_path_what_is_wrong_and_the_fix() {
    let home = CtlHome::with_config(&[]);
    let refused = |args: &[&str]| {
        let mut all = vec!["ctl", "block", "add", "--level", "frame", "--title", "F"];
        all.extend_from_slice(args);
        let (code, _, err) = home.cli(&all);
        assert_ne!(code, 0, "{args:?} was accepted");
        err
    };
    let plain = tempfile::tempdir().unwrap();
    let err = refused(&["--repo", &repo_arg(plain.path())]);
    assert!(
        err.contains("is not a git repository") && err.contains("git init"),
        "{err}"
    );

    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["init", "-q", "--bare"]);
    let err = refused(&["--repo", &repo_arg(bare.path())]);
    assert!(
        err.contains("bare repository") && err.contains("git clone"),
        "{err}"
    );

    let clone = users_clone();
    let err = refused(&["--repo", &repo_arg(clone.path()), "--base", "develop"]);
    assert!(
        err.contains("no branch develop") && err.contains("trunk"),
        "{err}"
    );

    let err = refused(&["--repo", "/no/such/clone"]);
    assert!(
        err.contains("/no/such/clone") && err.contains("does not exist"),
        "{err}"
    );

    let (code, _, err) = home.cli(&[
        "ctl",
        "block",
        "add",
        "--title",
        "a task",
        "--repo",
        &repo_arg(clone.path()),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("only a frame names a repository"), "{err}");
    let board: Vec<Block> = serde_json::from_value(home.ctl(&["board"])).unwrap();
    assert!(board.is_empty(), "nothing refused was stored: {board:?}");
}

#[test]
fn a_workspace_file_names_a_frames_repository_relative_to_the_file() {
    let home = CtlHome::with_config(&[]);
    let root = tempfile::tempdir().unwrap();
    let clone = root.path().join("payments");
    std::fs::create_dir(&clone).unwrap();
    git(&clone, &["init", "-q", "-b", "main"]);
    std::fs::write(clone.join("README"), "r\n").unwrap();
    git(&clone, &["add", "README"]);
    git(&clone, &["commit", "-q", "-m", "first"]);
    let file = root.path().join("workspace.toml");
    std::fs::write(
        &file,
        "[[blocks]]\nkey = \"pay\"\nlevel = \"frame\"\ntitle = \"Payments\"\nrepo = \"payments\"\nmerge = \"pr\"\nremote = \"origin\"\n\n[[blocks]]\nparent = \"pay\"\ntitle = \"Refunds\"\n",
    )
    .unwrap();
    home.ctl(&["block", "import", file.to_str().unwrap()]);
    let board: Vec<Block> = serde_json::from_value(home.ctl(&["board"])).unwrap();
    let frame = board.iter().find(|b| b.level == BlockLevel::Frame).unwrap();
    let repository = frame.repository.clone().unwrap();
    assert_eq!(
        repository.path,
        std::fs::canonicalize(&clone).unwrap().display().to_string()
    );
    assert_eq!(repository.base, "main");
    assert_eq!(repository.merge, MergeMode::Pr);
    assert_eq!(repository.remote.as_deref(), Some("origin"));
    let task = board.iter().find(|b| b.level == BlockLevel::Task).unwrap();
    assert_eq!(task.repository, None, "a task works in its frame's");

    let bad = root.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[blocks]]\nlevel = \"frame\"\ntitle = \"X\"\nbase = \"main\"\n",
    )
    .unwrap();
    let (code, _, err) = home.cli(&["ctl", "block", "import", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.toml:1") && err.contains("belong with `repo`"),
        "{err}"
    );
}

/// What the user sees of their checkout: the working tree (uncommitted
/// edits included), the index, HEAD and the stash.
/// A home whose agents.toml is `agents` and whose pipeline `name` runs
/// `steps` in order (`kind!` for a step that asks for approval).
fn pipeline_home(agents: &str, name: &str, steps: &[&str]) -> CtlHome {
    let mut pipeline = format!("name = \"{name}\"\n");
    for step in steps {
        let kind = step.trim_end_matches('!');
        pipeline.push_str(&format!("[[steps]]\nagent = \"{kind}\"\n"));
        if step.ends_with('!') {
            pipeline.push_str("requires_approval = true\n");
        }
    }
    let file = format!("pipelines/{name}.toml");
    CtlHome::with_config(&[("agents.toml", agents), (&file, &pipeline)])
}

/// Adds a frame on `clone` with task "Add refunds" under it, and starts
/// `pipeline` on the task.
fn start_under_frame(home: &CtlHome, clone: &Path, pipeline: &str) -> cattery_protocol::Run {
    let frame = home.ctl(&[
        "block",
        "add",
        "--level",
        "frame",
        "--title",
        "Payments",
        "--repo",
        &repo_arg(clone),
    ]);
    let parent = frame["id"].as_str().unwrap();
    let task = home.ctl(&["block", "add", "--title", "Add refunds", "--parent", parent]);
    let start = ["start", task["id"].as_str().unwrap(), pipeline];
    serde_json::from_value(home.ctl(&start)).unwrap()
}

fn rev_parse(dir: &Path, rev: &str) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", rev])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_run_of_a_task_under_a_frame_with_a_repository_works_in_its_own_branch_and_worktree() {
    let agent = r#"[agents.coder]
command = ["sh", "-c", "printf '{\"type\":\"result\",\"output\":\"%s %s\"}\n' \"$(pwd)\" \"$(cat app.py)\""]
"#;
    let home = CtlHome::with_config(&[
        ("agents.toml", agent),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
        ),
    ]);
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let run = start_under_frame(&home, clone.path(), "one");
    let worktree = run
        .worktree
        .clone()
        .expect("recorded with the run at its start");
    assert!(
        worktree.branch.starts_with("cattery/add-refunds-"),
        "{worktree:?}"
    );
    assert_eq!(worktree.base, "trunk");
    assert_eq!(worktree.base_commit, rev_parse(clone.path(), "trunk"));
    assert!(
        Path::new(&worktree.path).starts_with(home.path().join("data/worktrees")),
        "{worktree:?}"
    );
    let done = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    assert_eq!(
        done.status,
        cattery_protocol::RunStatus::Done,
        "{:?}",
        done.failure
    );
    assert_eq!(
        done.steps[0].output.as_deref(),
        Some(format!("{} print('hi')", worktree.path).as_str()),
        "the agent ran in the worktree, which holds the base commit, not the user's edits"
    );
    assert_eq!(
        rev_parse(clone.path(), &worktree.branch),
        worktree.base_commit
    );
    cattery_tests::eventually(
        20,
        || (!Path::new(&worktree.path).exists()).then_some(()),
        || {
            format!(
                "the finished run's worktree {} is still there",
                worktree.path
            )
        },
    );
    assert_eq!(
        rev_parse(clone.path(), &worktree.branch),
        worktree.base_commit,
        "the branch outlives the worktree"
    );
    assert!(
        !git_out(clone.path(), &["worktree", "list"]).contains(&worktree.path),
        "git no longer lists it"
    );
    assert_eq!(
        checkout_state(clone.path()),
        before,
        "the user's checkout was not touched"
    );
}

#[test]
fn a_start_whose_base_branch_is_gone_is_refused_naming_the_branch_and_the_fix() {
    let home = CtlHome::with_config(&[]);
    let clone = users_clone();
    git(clone.path(), &["branch", "release"]);
    let frame = home.ctl(&[
        "block",
        "add",
        "--level",
        "frame",
        "--title",
        "P",
        "--repo",
        &repo_arg(clone.path()),
        "--base",
        "release",
    ]);
    let task = home.ctl(&[
        "block",
        "add",
        "--title",
        "t",
        "--parent",
        frame["id"].as_str().unwrap(),
    ]);
    git(clone.path(), &["branch", "-D", "release"]);
    let (code, _, err) = home.cli(&["ctl", "start", task["id"].as_str().unwrap(), "quick"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no branch release") && err.contains("ctl block set"),
        "{err}"
    );
    let runs: Vec<cattery_protocol::Run> = serde_json::from_value(home.ctl(&["runs"])).unwrap();
    assert!(runs.is_empty(), "nothing was started: {runs:?}");
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn each_step_is_committed_on_the_runs_branch_with_trailers_the_repos_author_and_no_hooks() {
    // The coder edits, adds and deletes; the fixer commits by itself.
    let agents = r#"[agents.coder]
command = ["sh", "-c", "echo more >> app.py && echo new > new.py && echo '{\"type\":\"result\",\"output\":\"coded\"}'"]

[agents.fixer]
command = ["sh", "-c", "echo fix > fix.py && git add fix.py && git -c user.name=agent -c user.email=a@example.com commit -q --no-verify -m 'agent commit' && echo '{\"type\":\"result\",\"output\":\"fixed\"}'"]

[agents.reader]
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"read\"}'"]
"#;
    let home = pipeline_home(agents, "three", &["coder", "fixer", "reader"]);
    let clone = users_clone();
    git(clone.path(), &["config", "user.name", "Repo Owner"]);
    git(clone.path(), &["config", "user.email", "owner@example.com"]);
    let hook = clone.path().join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = checkout_state(clone.path());
    let run = start_under_frame(&home, clone.path(), "three");
    let done = home.wait_run(&run.id, "finished", |r| !r.status.is_live());
    assert_eq!(
        done.status,
        cattery_protocol::RunStatus::Done,
        "{:?}",
        done.failure
    );
    let worktree = done.worktree.clone().unwrap();
    let [coded, fixed, read] = [0, 1, 2].map(|i| done.steps[i].change.clone().unwrap());

    assert_eq!(coded.start_commit, worktree.base_commit);
    let first = coded
        .commit
        .clone()
        .expect("the coder's edits were committed");
    assert_eq!((coded.files, coded.insertions), (2, 2), "{coded:?}");
    let message = git_out(clone.path(), &["log", "-1", "--format=%B", &first]);
    assert!(message.starts_with("coder: Add refunds"), "{message}");
    assert!(
        message.contains(&format!("Cattery-Run: {}", run.id)),
        "{message}"
    );
    assert!(
        message.contains("Cattery-Step: 0") && message.contains("Cattery-Attempt: 1"),
        "{message}"
    );
    let author = git_out(clone.path(), &["log", "-1", "--format=%an <%ae>", &first]);
    assert_eq!(
        author, "Repo Owner <owner@example.com>",
        "the repository's own author"
    );

    let second = fixed.commit.clone().unwrap();
    assert_eq!(fixed.start_commit, first);
    assert_eq!(
        git_out(clone.path(), &["log", "-1", "--format=%s", &second]),
        "agent commit",
        "an agent's own commit is taken as it is, not committed again"
    );
    assert_eq!(
        read.commit, None,
        "a step that changed nothing commits nothing"
    );
    assert_eq!(read.files, 0);
    assert_eq!(
        git_out(clone.path(), &["rev-parse", &worktree.branch]),
        second
    );
    let count = git_out(
        clone.path(),
        &[
            "rev-list",
            "--count",
            &format!("{}..{}", worktree.base_commit, worktree.branch),
        ],
    );
    assert_eq!(count, "2", "one commit per changing step, none twice");
    let so_far = done.change.clone().expect("the run's change so far");
    assert_eq!(
        (so_far.start_commit.as_str(), so_far.commit.as_deref()),
        (worktree.base_commit.as_str(), Some(second.as_str()))
    );
    assert_eq!((so_far.files, so_far.insertions), (3, 3), "{so_far:?}");
    assert_eq!(
        checkout_state(clone.path()),
        before,
        "the user's checkout was not touched"
    );
}

#[test]
fn at_start_the_daemon_removes_worktrees_no_live_run_needs_and_keeps_a_parked_runs() {
    let agents = "[agents.coder]\ncommand = [\"sh\", \"-c\", \"echo '{\\\"type\\\":\\\"result\\\",\\\"output\\\":\\\"plan\\\"}'\"]\n";
    let home = pipeline_home(agents, "gated", &["coder!", "coder"]);
    let clone = users_clone();
    let run = start_under_frame(&home, clone.path(), "gated");
    home.gate(&run.id, cattery_protocol::GateKind::Approval);
    let kept = run.worktree.unwrap().path;
    assert!(Path::new(&kept).exists(), "the parked run's worktree");
    let stray = home.path().join("data/worktrees/stray");
    git(
        clone.path(),
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "stray",
            stray.to_str().unwrap(),
        ],
    );
    assert_eq!(home.cli(&["daemon", "stop"]).0, 0);
    assert_eq!(home.cli(&["daemon", "start"]).0, 0);
    cattery_tests::eventually(
        20,
        || (!stray.exists()).then_some(()),
        || "the stray worktree survived a start".to_owned(),
    );
    let listed = git_out(clone.path(), &["worktree", "list"]);
    assert!(!listed.contains("stray"), "git forgot it too: {listed}");
    assert!(Path::new(&kept).exists(), "a parked run keeps its worktree");
    assert_eq!(
        rev_parse(clone.path(), "stray").len(),
        40,
        "its branch is kept"
    );
}

#[test]
fn retry_resumes_from_the_failed_steps_start_restart_from_resets_the_branch_and_discarded_work_stays_reachable()
 {
    // The flaky step leaves work behind and fails until the flag exists.
    let flags = tempfile::tempdir().unwrap();
    let flag = flags.path().join("ok");
    let agents = format!(
        r#"[agents.coder]
command = ["sh", "-c", "echo one >> app.py && echo '{{\"type\":\"result\",\"output\":\"coded\"}}'"]

[agents.flaky]
command = ["sh", "-c", "echo wip > wip.txt; test -f {flag} || exit 3; echo '{{\"type\":\"result\",\"output\":\"done\"}}'"]
"#,
        flag = flag.display()
    );
    let home = pipeline_home(&agents, "two", &["coder", "flaky"]);
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let first = start_under_frame(&home, clone.path(), "two");
    let failed = home.wait_run(&first.id, "failed", |r| !r.status.is_live());
    assert_eq!(failed.status, cattery_protocol::RunStatus::Failed);
    let coded = failed.steps[0].change.clone().unwrap().commit.unwrap();
    let kept = format!("refs/cattery/attempts/{}", first.id);
    let attempt = cattery_tests::eventually(
        10,
        || {
            let found = git_out(clone.path(), &["rev-parse", "-q", "--verify", &kept]);
            (!found.is_empty()).then_some(found)
        },
        || format!("no {kept}"),
    );
    assert_eq!(
        git_out(clone.path(), &["show", &format!("{attempt}:wip.txt")]),
        "wip",
        "the failed step's uncommitted work is reachable"
    );
    assert_eq!(rev_parse(clone.path(), &format!("{attempt}^")), coded);

    std::fs::write(&flag, "").unwrap();
    let retried: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["retry", &first.id])).unwrap();
    let retried = home.wait_run(&retried.id, "done", |r| !r.status.is_live());
    assert_eq!(
        retried.status,
        cattery_protocol::RunStatus::Done,
        "{:?}",
        retried.failure
    );
    let worktree = retried.worktree.clone().unwrap();
    assert_ne!(worktree.branch, failed.worktree.clone().unwrap().branch);
    let resumed = retried.steps[1].change.clone().unwrap();
    assert_eq!(
        resumed.start_commit, coded,
        "the retry resumed from the failed step's starting commit"
    );
    assert_eq!(
        rev_parse(clone.path(), &format!("{}^", worktree.branch)),
        coded,
        "the coder did not run again"
    );

    let restarted: cattery_protocol::Run =
        serde_json::from_value(home.ctl(&["restart-from", &retried.id, "0"])).unwrap();
    let restarted = home.wait_run(&restarted.id, "done", |r| !r.status.is_live());
    assert_eq!(restarted.status, cattery_protocol::RunStatus::Done);
    let again = restarted.steps[0].change.clone().unwrap();
    assert_eq!(
        again.start_commit, worktree.base_commit,
        "a restart from step 0 starts at the base commit"
    );
    let count = git_out(
        clone.path(),
        &[
            "rev-list",
            "--count",
            &format!(
                "{}..{}",
                worktree.base_commit,
                restarted.worktree.clone().unwrap().branch
            ),
        ],
    );
    assert_eq!(
        count, "2",
        "two steps' commits on a branch made at the base"
    );
    assert_eq!(
        rev_parse(clone.path(), &worktree.branch),
        resumed.commit.unwrap(),
        "the retried run's branch is kept as it was"
    );
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn the_diff_of_a_run_and_of_one_step_lists_files_with_status_and_hunks_and_marks_renames_and_binaries()
 {
    let agents = r#"[agents.coder]
command = ["sh", "-c", "mv app.py main.py && printf 'PNG\\000\\001\\002' > logo.png && echo '{\"type\":\"result\",\"output\":\"coded\"}'"]

[agents.fixer]
command = ["sh", "-c", "printf 'a\\nb\\nc\\n' > notes.txt && echo '{\"type\":\"result\",\"output\":\"fixed\"}'"]
"#;
    let home = pipeline_home(agents, "two", &["coder", "fixer"]);
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let run = start_under_frame(&home, clone.path(), "two");
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(
        done.status,
        cattery_protocol::RunStatus::Done,
        "{:?}",
        done.failure
    );

    let whole: cattery_protocol::diff::Diff =
        serde_json::from_value(home.ctl(&["diff", &run.id])).unwrap();
    let by_path = |path: &str| {
        whole
            .files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} in {whole:?}"))
            .clone()
    };
    use cattery_protocol::diff::{FileStatus, LineKind};
    let renamed = by_path("main.py");
    assert_eq!(renamed.status, FileStatus::Renamed);
    assert_eq!(renamed.old_path.as_deref(), Some("app.py"));
    let logo = by_path("logo.png");
    assert!(logo.binary && logo.hunks.is_empty(), "{logo:?}");
    let notes = by_path("notes.txt");
    assert_eq!((notes.status, notes.insertions), (FileStatus::Added, 3));
    let hunk = &notes.hunks[0];
    assert_eq!((hunk.new_start, hunk.new_lines), (1, 3));
    let numbered: Vec<_> = hunk
        .lines
        .iter()
        .map(|l| (l.kind, l.new_line, l.text.as_str()))
        .collect();
    assert_eq!(
        numbered,
        [
            (LineKind::Added, Some(1), "a"),
            (LineKind::Added, Some(2), "b"),
            (LineKind::Added, Some(3), "c")
        ]
    );
    assert_eq!(
        whole.from_commit,
        done.worktree.clone().unwrap().base_commit
    );

    let step: cattery_protocol::diff::Diff =
        serde_json::from_value(home.ctl(&["diff", &run.id, "--step", "1"])).unwrap();
    let paths: Vec<_> = step.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["notes.txt"], "only the fixer's change");

    let text = Command::new(cattery_tests::cattery())
        .arg("--home")
        .arg(home.path())
        .args(["ctl", "diff", &run.id, "--stat"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("app.py → main.py | renamed +0 −0"), "{text}");
    assert!(text.contains("logo.png | added binary"), "{text}");
    assert!(text.contains("3 files +3 −0"), "{text}");

    let (code, _, err) = home.cli(&["ctl", "diff", &run.id, "--step", "7"]);
    assert_ne!(code, 0);
    assert!(err.contains("has no step 7"), "{err}");
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn an_agent_is_told_its_worktree_and_the_diff_so_far_and_a_path_line_comment_reaches_it_with_its_hunk()
 {
    let seen = tempfile::tempdir().unwrap();
    let agents = format!(
        r#"[agents.coder]
command = ["sh", "-c", "printf 'a\\nb\\nc\\n' > notes.txt && cp \"$CATTERY_CONTEXT\" {seen}/coder-$(ls {seen} | wc -l).json && echo '{{\"type\":\"result\",\"output\":\"coded\"}}'"]

[agents.reader]
command = ["sh", "-c", "echo '{{\"type\":\"result\",\"output\":\"read\"}}'"]
"#,
        seen = seen.path().display()
    );
    let home = pipeline_home(&agents, "gated", &["coder!", "reader"]);
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let run = start_under_frame(&home, clone.path(), "gated");
    let gate = home.gate(&run.id, cattery_protocol::GateKind::Approval);
    home.ctl(&[
        "request-changes",
        &gate.id,
        "-m",
        "explain b",
        "--comment",
        "notes.txt:2: why b?",
    ]);
    let gate = home.gate(&run.id, cattery_protocol::GateKind::Approval);
    home.ctl(&["approve", &gate.id]);
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    let worktree = done.worktree.clone().unwrap();

    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(seen.path().join(name)).unwrap()).unwrap()
    };
    let first = read("coder-0.json");
    let told = &first["workspace"];
    assert_eq!(told["path"], worktree.path.as_str(), "{told}");
    assert_eq!(told["branch"], worktree.branch.as_str());
    assert_eq!(told["base_commit"], worktree.base_commit.as_str());
    assert_eq!(told["repository"], worktree.repository.as_str());
    assert_eq!(told["diff"], serde_json::json!([]), "nothing changed yet");

    let second = read("coder-1.json");
    let files = second["workspace"]["diff"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], "notes.txt");
    assert_eq!(files[0]["insertions"], 3);
    let comment = &second["rework"]["comments"][0];
    assert_eq!(
        (comment["path"].as_str(), comment["line"].as_u64()),
        (Some("notes.txt"), Some(2))
    );
    assert_eq!(comment["body"], "why b?");
    let quote = comment["quote"].as_str().unwrap();
    assert!(
        quote.starts_with("@@ -0,0 +1,3 @@") && quote.contains("\n+b"),
        "{quote}"
    );
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn ctl_worktrees_lists_disk_use_and_prune_removes_only_what_no_live_run_needs_and_a_cancel_frees_a_parked_runs()
 {
    let home = CtlHome::with_config(&[(
        "pipelines/gated.toml",
        "name = \"Gated\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"coder\"\n",
    )]);
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let run = start_under_frame(&home, clone.path(), "gated");
    home.gate(&run.id, cattery_protocol::GateKind::Approval);
    let parked = run.worktree.clone().unwrap().path;
    let stray = home.path().join("data/worktrees/stray");
    git(
        clone.path(),
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "stray",
            stray.to_str().unwrap(),
        ],
    );
    let listed: Vec<cattery_protocol::wire::WorktreeInfo> =
        serde_json::from_value(home.ctl(&["worktrees"])).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let of = |path: &str| listed.iter().find(|w| w.path == path).unwrap().clone();
    let live = of(&parked);
    assert!(live.needed && live.bytes > 0, "{live:?}");
    assert_eq!(live.run_id.as_deref(), Some(run.id.as_str()));
    let left = of(&stray.display().to_string());
    assert!(
        !left.needed && left.run_id.is_none() && left.bytes > 0,
        "{left:?}"
    );
    assert_eq!(left.branch.as_deref(), Some("stray"));

    let pruned: Vec<cattery_protocol::wire::WorktreeInfo> =
        serde_json::from_value(home.ctl(&["worktrees", "--prune"])).unwrap();
    assert_eq!(pruned.iter().filter(|w| w.removed).count(), 1);
    assert!(!stray.exists() && Path::new(&parked).exists());
    assert_eq!(
        rev_parse(clone.path(), "stray").len(),
        40,
        "its branch is kept"
    );

    let (code, _, err) = home.cli(&["--read-only", "ctl", "worktrees", "--prune"]);
    assert_ne!(code, 0, "a read-only client cannot prune");
    assert!(err.contains("read"), "{err}");

    home.ctl(&["cancel", &run.block_id]);
    cattery_tests::eventually(
        20,
        || (!Path::new(&parked).exists()).then_some(()),
        || "a cancelled parked run kept its worktree".to_owned(),
    );
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn a_sigkilled_daemon_mid_step_loses_no_commit_makes_none_twice_and_finishes_in_the_same_worktree()
{
    let agents = r#"[agents.coder]
command = ["sh", "-c", "sleep 2; echo one > a.txt; echo '{\"type\":\"result\",\"output\":\"coded\"}'"]

[agents.second]
command = ["sh", "-c", "echo two > b.txt; echo '{\"type\":\"result\",\"output\":\"more\"}'"]
"#;
    let home = pipeline_home(agents, "two", &["coder", "second"]);
    let clone = users_clone();
    let before = checkout_state(clone.path());
    let run = start_under_frame(&home, clone.path(), "two");
    let worktree = run.worktree.clone().unwrap();
    home.wait_run(&run.id, "the coder dispatched", |r| {
        r.steps[0].job.as_ref().is_some_and(|j| j.handle.is_some())
    });
    assert!(Path::new(&worktree.path).join(".git").exists());
    let layout = cattery_protocol::home::Layout::under(home.path());
    let pid: i32 = std::fs::read_to_string(layout.pidfile())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // The next ctl starts a new daemon, which follows the run again.
    let done = home.wait_run(&run.id, "done after the kill", |r| !r.status.is_live());
    assert_eq!(
        done.status,
        cattery_protocol::RunStatus::Done,
        "{:?}",
        done.failure
    );
    assert_eq!(
        done.worktree.as_ref(),
        Some(&worktree),
        "the same branch and worktree"
    );
    let range = format!("{}..{}", worktree.base_commit, worktree.branch);
    let steps = git_out(
        clone.path(),
        &[
            "log",
            "--format=%(trailers:key=Cattery-Step,valueonly)",
            &range,
        ],
    );
    let mut steps: Vec<&str> = steps.lines().filter(|l| !l.is_empty()).collect();
    steps.sort();
    assert_eq!(
        steps,
        ["0", "1"],
        "one commit per step, none lost, none twice"
    );
    assert_eq!(
        git_out(
            clone.path(),
            &["show", &format!("{}:a.txt", worktree.branch)]
        ),
        "one"
    );
    assert_eq!(
        done.steps[1].change.clone().unwrap().start_commit,
        done.steps[0].change.clone().unwrap().commit.unwrap(),
        "the second step started from the first one's commit"
    );
    cattery_tests::eventually(
        20,
        || (!Path::new(&worktree.path).exists()).then_some(()),
        || "the finished run kept its worktree".to_owned(),
    );
    assert_eq!(checkout_state(clone.path()), before);
}

#[test]
fn commit_author_in_config_is_the_author_of_catterys_commits_over_the_repositorys_own() {
    let agents = r#"[agents.coder]
command = ["sh", "-c", "echo x > x.txt && echo '{\"type\":\"result\",\"output\":\"coded\"}'"]
"#;
    let home = CtlHome::with_config(&[
        ("agents.toml", agents),
        (
            "config.toml",
            "executor = \"process\"\nport = 0\ncommit_author = \"Cattery Bot <bot@example.com>\"\n",
        ),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"coder\"\n",
        ),
    ]);
    let clone = users_clone();
    git(clone.path(), &["config", "user.name", "Repo Owner"]);
    git(clone.path(), &["config", "user.email", "owner@example.com"]);
    let run = start_under_frame(&home, clone.path(), "one");
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    let commit = done.steps[0].change.clone().unwrap().commit.unwrap();
    assert_eq!(
        git_out(clone.path(), &["log", "-1", "--format=%an <%ae>", &commit]),
        "Cattery Bot <bot@example.com>"
    );
}

//! The kill -9 soak: a real catteryd on the process executor runs tasks
//! with approvals, agent decisions and companion reworks while it is
//! SIGKILLed at random moments and restarted, and a human (this harness)
//! keeps deciding through `cattery ctl`. The demo agents write a ledger
//! (`CATTERY_DEMO_LOG`), and the daemon's own database is read while it is
//! down; from both, a trial counts what must never happen. Run from the
//! `soak` test (a few trials) and the `soak` bench (many; BENCHMARKS.md).

use crate::{cattery_cli, spawn_catteryd_with, write_config};
use cattery_daemon::config::Paths;
use cattery_daemon::store::Store;
use cattery_protocol::{GateKind, PendingGate, Run, RunStatus, StepState};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// What one or more trials found. Every field from `runs_lost` on must be 0.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Figures {
    pub trials: u32,
    pub kills: u32,
    /// Agent attempts started again with the same attempt number: a kill
    /// caught them before their result was recorded, so they were recovered.
    pub redispatched: u32,
    /// Decisions the daemon acknowledged (ctl exited 0).
    pub decisions: u32,
    /// Agent attempts after the first on a step (companion and decision reworks).
    pub reworks: u32,
    /// Most agent processes seen alive at once during a trial, by the same
    /// scan that looks for leftovers after stop (so the scan is proven to see them).
    pub agents_seen: u32,
    /// Tasks without a finished run at the end, or runs that vanished.
    pub runs_lost: u32,
    /// Agent attempts started again after the daemon had recorded them done.
    pub completed_steps_rerun: u32,
    /// Acknowledged decisions missing from the audit log at the end.
    pub decisions_lost: u32,
    /// Agents that found another copy of their step running.
    pub same_step_twice_at_once: u32,
    /// Agent processes still alive after `cattery daemon stop`.
    pub processes_left: u32,
    /// Step commits on the runs' branches (worktree trials).
    pub step_commits: u32,
    /// Runs that failed in the daemon's own git work (`preflight`).
    pub git_failures: u32,
    /// Step commits made twice: the same run, step and attempt trailers.
    pub step_commits_twice: u32,
    /// An attempt's edit found twice on its run's branch.
    pub edits_applied_twice: u32,
    /// Worktree folders, or git's records of them, left after every run ended.
    pub worktrees_left: u32,
}

impl Figures {
    pub fn add(&mut self, other: &Figures) {
        self.trials += other.trials;
        self.kills += other.kills;
        self.redispatched += other.redispatched;
        self.decisions += other.decisions;
        self.reworks += other.reworks;
        self.agents_seen = self.agents_seen.max(other.agents_seen);
        self.runs_lost += other.runs_lost;
        self.completed_steps_rerun += other.completed_steps_rerun;
        self.decisions_lost += other.decisions_lost;
        self.same_step_twice_at_once += other.same_step_twice_at_once;
        self.processes_left += other.processes_left;
        self.step_commits += other.step_commits;
        self.git_failures += other.git_failures;
        self.step_commits_twice += other.step_commits_twice;
        self.edits_applied_twice += other.edits_applied_twice;
        self.worktrees_left += other.worktrees_left;
    }

    /// The failures, named, or empty.
    pub fn failures(&self) -> Vec<String> {
        [
            ("runs lost", self.runs_lost),
            ("completed steps re-run", self.completed_steps_rerun),
            ("acknowledged decisions lost", self.decisions_lost),
            ("the same step twice at once", self.same_step_twice_at_once),
            ("processes left after stop", self.processes_left),
            ("runs failed in git", self.git_failures),
            ("step commits made twice", self.step_commits_twice),
            ("edits applied twice", self.edits_applied_twice),
            ("worktrees left after their runs", self.worktrees_left),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what}: {n}"))
        .collect()
    }
}

/// A small deterministic generator, so a failing trial can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

const KILLS: u32 = 4;

/// `(what, run, step, attempt)` of one ledger line.
type Line = (String, String, String, String);
/// `(run, step, attempt)`.
type Attempt = (String, String, String);

/// Where a trial's tasks work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tasks {
    /// With no repository: the engine, store and executor alone.
    Plain,
    /// Under a frame with a real git clone: every run has a branch and a
    /// worktree, every step edits it, and the daemon commits each step.
    InARepository,
}

/// The tasks of a trial: every one takes the `quick` pipeline (an approval,
/// then a coder and its reviewer, then the merger); some ask a decision,
/// some are sent back by their reviewer once. In a repository, each step's
/// attempt appends a line naming itself to a file of the worktree.
fn seed_tasks(rng: &mut Rng, repository: Option<&Path>) -> String {
    let mut toml = String::new();
    if let Some(clone) = repository {
        toml.push_str(&format!(
            "[[blocks]]\nkey = \"frame\"\nlevel = \"frame\"\ntitle = \"soak\"\nrepo = \"{}\"\n",
            clone.display()
        ));
    }
    for n in 0..3 {
        let mut script = vec![format!("@demo * sleep {}", rng.between(150, 600))];
        if repository.is_some() {
            for kind in ["architect", "coder", "reviewer"] {
                script.push(format!(
                    "@demo {kind} edit {kind}.txt {kind} of task {n}, attempt {{attempt}}"
                ));
            }
        }
        if rng.next().is_multiple_of(2) {
            script.push("@demo coder ask Which store? | SQLite | Postgres".to_owned());
        }
        if rng.next().is_multiple_of(2) {
            script.push("@demo reviewer rating 0.5 0.95".to_owned());
        }
        let parent = match repository {
            Some(_) => "parent = \"frame\"\n",
            None => "",
        };
        toml.push_str(&format!(
            "[[blocks]]\nlevel = \"task\"\ntitle = \"task {n}\"\n{parent}pipeline = \"quick\"\ndescription = \"{}\"\n",
            script.join("\\n")
        ));
    }
    toml
}

fn ledger(log: &Path) -> Vec<Line> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            (parts.len() >= 4).then(|| {
                (
                    parts[0].to_owned(),
                    parts[1].to_owned(),
                    parts[2].to_owned(),
                    parts[3].to_owned(),
                )
            })
        })
        .collect()
}

/// The step attempts the daemon has recorded as done, read from its
/// database while it is down: what it has promised never to run again.
fn recorded_done(home: &Path) -> (HashSet<Attempt>, Vec<Run>) {
    let store = Store::open(&Paths::under(home).database()).expect("the database opens");
    let runs = store.runs().expect("the runs read");
    let done = runs
        .iter()
        .flat_map(|run| {
            run.steps
                .iter()
                .enumerate()
                .filter(|(_, step)| step.state == StepState::Done && step.attempts > 0)
                .map(|(i, step)| (run.id.clone(), i.to_string(), step.attempts.to_string()))
        })
        .collect();
    (done, runs)
}

/// Answers every gate in the inbox as a human would: approve, take the
/// first option, or proceed past a cap. Returns the gates acknowledged.
fn decide_all(home: &Path) -> Vec<String> {
    let (code, out, _) = cattery_cli(home, &["ctl", "inbox"]);
    if code != 0 {
        return Vec::new();
    }
    let gates: Vec<PendingGate> = serde_json::from_str(&out).unwrap_or_default();
    let mut acknowledged = Vec::new();
    for gate in gates {
        let args: Vec<&str> = match gate.kind {
            GateKind::Approval => vec!["ctl", "approve", &gate.id],
            GateKind::Decision => {
                let Some(option) = gate.options.first() else {
                    continue;
                };
                vec!["ctl", "decide", &gate.id, option]
            }
            GateKind::IterationCap => vec!["ctl", "cap", &gate.id, "proceed"],
            GateKind::Review => vec!["ctl", "review", &gate.block_id, "proceed"],
        };
        if cattery_cli(home, &args).0 == 0 {
            acknowledged.push(gate.id.clone());
        }
    }
    acknowledged
}

/// Pids of live agent processes whose step context lies under `home`.
pub fn agents_under(home: &Path) -> Vec<u32> {
    let needle = format!("CATTERY_CONTEXT={}", home.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            !zombie
                && env
                    .split(|b| *b == 0)
                    .any(|var| var.starts_with(needle.as_bytes()))
        })
        .collect()
}

fn start(home: &Path, log: &Path) -> Child {
    spawn_catteryd_with(home, &[("CATTERY_DEMO_LOG", log)])
}

/// One trial: three tasks, four SIGKILLs at random moments (some right
/// after a decision was acknowledged), then a clean finish and a stop.
pub fn trial(seed: u64, tasks: Tasks) -> Figures {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let dir = tempfile::tempdir().expect("a temp dir");
    let home = dir.path().join("home");
    let log = dir.path().join("ledger.log");
    let clone = dir.path().join("clone");
    let repository = (tasks == Tasks::InARepository).then(|| {
        std::fs::create_dir_all(&clone).expect("the clone's folder");
        crate::gitfix::one_commit_clone(&clone, "main", "README", "soak\n");
        clone.as_path()
    });
    write_config(
        &home,
        &[("config.toml", "executor = \"process\"\nport = 0\n")],
    );
    let mut figures = Figures {
        trials: 1,
        ..Figures::default()
    };
    let mut acknowledged: Vec<String> = Vec::new();
    // Ledger length at each restart, with the attempts recorded done by then.
    let mut promises: Vec<(usize, HashSet<Attempt>)> = Vec::new();
    let mut seen_runs: HashSet<String> = HashSet::new();
    let mut daemon = start(&home, &log);
    crate::import_workspace(&home, &seed_tasks(&mut rng, repository));
    for _ in 0..KILLS {
        let until = Instant::now() + Duration::from_millis(rng.between(300, 2500));
        while Instant::now() < until {
            let decided = decide_all(&home);
            let just_decided = !decided.is_empty();
            figures.decisions += decided.len() as u32;
            acknowledged.extend(decided);
            figures.agents_seen = figures.agents_seen.max(agents_under(&home).len() as u32);
            // Sometimes the kill lands the moment a decision was acknowledged.
            if just_decided && rng.next().is_multiple_of(3) {
                break;
            }
            std::thread::sleep(Duration::from_millis(rng.between(20, 150)));
        }
        let _ = daemon.kill(); // SIGKILL
        let _ = daemon.wait();
        figures.kills += 1;
        // Agents of the dead daemon may still be starting; let them log.
        std::thread::sleep(Duration::from_millis(400));
        let (done, runs) = recorded_done(&home);
        seen_runs.extend(runs.iter().map(|r| r.id.clone()));
        promises.push((ledger(&log).len(), done));
        daemon = start(&home, &log);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let decided = decide_all(&home);
        figures.decisions += decided.len() as u32;
        acknowledged.extend(decided);
        let (code, out, _) = cattery_cli(&home, &["ctl", "runs"]);
        let runs: Vec<Run> = if code == 0 {
            serde_json::from_str(&out).unwrap_or_default()
        } else {
            Vec::new()
        };
        let settled = runs.len() >= 3 && runs.iter().all(|r| !r.status.is_live());
        if settled || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = cattery_cli(&home, &["daemon", "stop"]);
    let _ = daemon.wait();
    std::thread::sleep(Duration::from_millis(200));
    figures.processes_left = agents_under(&home).len() as u32;

    let lines = ledger(&log);
    count_ledger(&lines, &promises, &mut figures);
    count_store(&home, &seen_runs, &acknowledged, &mut figures);
    if let Some(clone) = repository {
        count_git(&home, clone, &mut figures);
    }
    figures
}

/// What the daemon's git work left: runs it failed, step commits made
/// twice, edits applied twice, and worktrees outliving their runs.
fn count_git(home: &Path, clone: &Path, figures: &mut Figures) {
    use crate::gitfix::git;
    let store = Store::open(&Paths::under(home).database()).expect("the database opens");
    let runs = store.runs().expect("the runs read");
    figures.git_failures += runs
        .iter()
        .filter(|r| {
            r.failure
                .as_ref()
                .is_some_and(|f| f.kind == cattery_protocol::FailureKind::Preflight)
        })
        .count() as u32;
    for run in runs.iter().filter(|r| r.status == RunStatus::Done) {
        let Some(worktree) = &run.worktree else {
            continue;
        };
        let branch = format!("refs/heads/{}", worktree.branch);
        let range = format!("{}..{branch}", worktree.base_commit);
        let trailers = git(
            clone,
            &[
                "log",
                "--format=%(trailers:key=Cattery-Step,key=Cattery-Attempt,valueonly,separator=/)",
                &range,
            ],
        );
        let mut commits = HashMap::<&str, u32>::new();
        for step in trailers.lines().filter(|l| !l.is_empty()) {
            *commits.entry(step).or_default() += 1;
        }
        figures.step_commits += commits.values().sum::<u32>();
        figures.step_commits_twice += commits.values().map(|n| n - 1).sum::<u32>();
        for kind in ["architect", "coder", "reviewer"] {
            let text = git(clone, &["show", &format!("{branch}:{kind}.txt")]);
            let mut lines = HashSet::new();
            figures.edits_applied_twice +=
                text.lines().filter(|line| !lines.insert(*line)).count() as u32;
        }
    }
    let folders = std::fs::read_dir(Paths::under(home).worktrees())
        .map(|entries| entries.count())
        .unwrap_or(0);
    let records = git(clone, &["worktree", "list", "--porcelain"])
        .lines()
        .filter(|l| l.starts_with("worktree "))
        .count()
        .saturating_sub(1);
    figures.worktrees_left += (folders + records) as u32;
}

fn count_ledger(lines: &[Line], promises: &[(usize, HashSet<Attempt>)], figures: &mut Figures) {
    for (what, _, _, attempt) in lines {
        match what.as_str() {
            "overlap" => figures.same_step_twice_at_once += 1,
            "start" if attempt != "1" => figures.reworks += 1,
            _ => {}
        }
    }
    let mut starts: HashMap<Attempt, u32> = HashMap::new();
    for line in lines.iter().filter(|l| l.0 == "start") {
        *starts
            .entry((line.1.clone(), line.2.clone(), line.3.clone()))
            .or_default() += 1;
    }
    figures.redispatched = starts.values().map(|n| n - 1).sum();
    let mut counted: HashMap<Attempt, u32> = HashMap::new();
    for (at, (what, run, step, attempt)) in lines.iter().enumerate() {
        if what != "start" {
            continue;
        }
        let key = (run.clone(), step.clone(), attempt.clone());
        let promised = promises
            .iter()
            .any(|(from, done)| at >= *from && done.contains(&key));
        if promised {
            *counted.entry(key).or_default() += 1;
        }
    }
    // An interrupted attempt dispatched again is a recovery, not a re-run:
    // it counts here only if the daemon had recorded it done first.
    figures.completed_steps_rerun += counted.values().sum::<u32>();
}

fn count_store(
    home: &Path,
    seen_runs: &HashSet<String>,
    acknowledged: &[String],
    figures: &mut Figures,
) {
    let store = Store::open(&Paths::under(home).database()).expect("the database opens");
    let runs = store.runs().expect("the runs read");
    let blocks = store.blocks().expect("the blocks read");
    let ids: HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    figures.runs_lost += seen_runs
        .iter()
        .filter(|id| !ids.contains(id.as_str()))
        .count() as u32;
    // The tasks, not the frame they sit under.
    for block in blocks
        .iter()
        .filter(|b| b.level == cattery_protocol::BlockLevel::Task)
    {
        let finished = runs
            .iter()
            .any(|r| r.block_id == block.id && r.status == RunStatus::Done);
        if !finished {
            figures.runs_lost += 1;
        }
    }
    let audited: HashSet<String> = store
        .audit_log()
        .expect("the audit log reads")
        .into_iter()
        .map(|entry| entry.gate_id)
        .collect();
    figures.decisions_lost += acknowledged
        .iter()
        .filter(|gate| !audited.contains(*gate))
        .count() as u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(what: &str, attempt: &str) -> Line {
        (what.into(), "r1".into(), "0".into(), attempt.into())
    }

    #[test]
    fn a_start_after_the_daemon_recorded_that_attempt_done_counts_as_a_rerun() {
        let lines = [
            line("start", "1"),
            line("finish", "1"),
            line("start", "1"),
            line("overlap", "2"),
            line("start", "2"),
        ];
        let done: HashSet<Attempt> = [("r1".into(), "0".into(), "1".into())].into();
        let mut figures = Figures::default();
        count_ledger(&lines, &[(2, done.clone())], &mut figures);
        assert_eq!(figures.completed_steps_rerun, 1);
        assert_eq!(figures.redispatched, 1);
        assert_eq!(figures.reworks, 1);
        assert_eq!(figures.same_step_twice_at_once, 1);
        let mut before = Figures::default();
        count_ledger(&lines, &[(3, done)], &mut before);
        assert_eq!(
            before.completed_steps_rerun, 0,
            "a recovery dispatched before the promise is not a re-run"
        );
    }
}

//! What runs parked on polling gates cost a real catteryd while nothing is
//! due: 1,000 runs waiting on a pending `ci` gate (the provider answers
//! "queued"; the next poll is minutes away) against a daemon with no gate,
//! whose 1,000 runs wait at an approval after one agent step (a run each,
//! parked, with its worktree and its events, but no polling), and against
//! an idle daemon with the same tasks and no runs. Measured in one run for
//! `BENCH_SECS` (default 60) each: CPU time from /proc (user + system, the
//! daemon alone), resident memory and threads. `BENCH_RUNS` changes the
//! 1,000.
//! Method and figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cattery_tests::CtlHome;
use cattery_tests::gitfix::one_commit_clone;
use std::time::{Duration, Instant};

const AGENTS: &str = r#"[agents.ci]
gate = "ci"
helper = "ci-fixer"
poll_secs = 600
max_polls = 120

[agents.noop]
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"ok\"}'"]
"#;

const PIPELINE: &str = "name = \"Wait\"\n[[steps]]\nagent = \"ci\"\n";

const APPROVAL: &str = "name = \"Approve\"\n[[steps]]\nagent = \"noop\"\nrequires_approval = true\n[[steps]]\nagent = \"noop\"\n";

const PENDING: &str = r#"echo '{"checks":[{"name":"build","status":"queued"}]}'"#;

struct Reading {
    cpu_secs: f64,
    rss_kib: u64,
    threads: u64,
}

fn main() {
    let runs: usize = env_or("BENCH_RUNS", 1_000);
    let secs: u64 = env_or("BENCH_SECS", 60);
    let clone = tempfile::tempdir().unwrap();
    one_commit_clone(clone.path(), "main", "app.py", "print('hi')\n");

    let files = [
        ("agents.toml", AGENTS),
        ("pipelines/wait.toml", PIPELINE),
        ("pipelines/approve.toml", APPROVAL),
    ];
    let quiet = CtlHome::with_config(&files);
    import(&quiet, clone.path(), runs, None);
    let idle = measure(&quiet, secs);
    drop(quiet);

    let approvals = CtlHome::with_config(&files);
    import(&approvals, clone.path(), runs, Some("approve"));
    let parked = wait_until(&approvals, runs, |r| r.pending_gate().is_some());
    println!("{parked} runs parked at an approval");
    let at_approval = measure(&approvals, secs);
    drop(approvals);

    let gated = CtlHome::with_config(&files);
    let started = Instant::now();
    import(&gated, clone.path(), runs, Some("wait"));
    let parked = wait_until(&gated, runs, |r| {
        r.steps[0]
            .gate
            .as_ref()
            .is_some_and(|g| g.polls >= 1 && g.next_probe_at.is_some())
    });
    println!(
        "{parked} runs parked on a pending ci gate in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let waiting = measure(&gated, secs);

    println!("| daemon | CPU over {secs} s | share of one core | RSS | threads |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let rows = [
        ("tasks, no runs", &idle),
        ("runs parked at an approval (no gate)", &at_approval),
        ("runs parked on a pending ci gate", &waiting),
    ];
    for (name, r) in rows {
        println!(
            "| {name} | {:.3} s | {:.3} % | {:.1} MiB | {} |",
            r.cpu_secs,
            r.cpu_secs / secs as f64 * 100.0,
            r.rss_kib as f64 / 1024.0,
            r.threads
        );
    }
    println!(
        "gated minus no-gate: CPU {:+.3} % of a core, RSS {:+.1} MiB, threads {:+}",
        (waiting.cpu_secs - at_approval.cpu_secs) / secs as f64 * 100.0,
        (waiting.rss_kib as f64 - at_approval.rss_kib as f64) / 1024.0,
        waiting.threads as i64 - at_approval.threads as i64
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One frame on the clone whose CI provider always answers "queued", and
/// `n` tasks under it, each started on `pipeline` if one is named.
fn import(home: &CtlHome, clone: &std::path::Path, n: usize, pipeline: Option<&str>) {
    let mut text = format!(
        "[[blocks]]\nkey = \"frame\"\nlevel = \"frame\"\ntitle = \"Service\"\nrepo = \"{}\"\n[blocks.providers]\nci = {:?}\n",
        clone.display(),
        PENDING
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[[blocks]]\nparent = \"frame\"\ntitle = \"Task {i}\"\n"
        ));
        if let Some(pipeline) = pipeline {
            text.push_str(&format!("pipeline = \"{pipeline}\"\n"));
        }
    }
    let file = home.path().join("workspace.toml");
    std::fs::write(&file, text).unwrap();
    home.ctl(&["block", "import", file.to_str().unwrap()]);
}

/// Waits until `n` runs are `parked`.
fn wait_until(home: &CtlHome, n: usize, parked: impl Fn(&cattery_protocol::Run) -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let runs: Vec<cattery_protocol::Run> = serde_json::from_value(home.ctl(&["runs"])).unwrap();
        let count = runs.iter().filter(|r| parked(r)).count();
        if count >= n || Instant::now() > deadline {
            return count;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The daemon's own CPU time over `secs`, then its memory and threads.
fn measure(home: &CtlHome, secs: u64) -> Reading {
    let status = home.cli(&["daemon", "status"]).1;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let pid = status["pid"].as_i64().unwrap();
    // Let start-up work (the initial probes, the sweep) settle first.
    std::thread::sleep(Duration::from_secs(5));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(secs));
    let after = cpu_ticks(pid);
    let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        proc_status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Reading {
        cpu_secs: (after - before) as f64 / ticks_per_second(),
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
    }
}

/// utime + stime of the process, in clock ticks (children not counted).
fn cpu_ticks(pid: i64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces; the fields after it do not.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0)
}

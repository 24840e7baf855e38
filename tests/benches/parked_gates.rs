//! What runs parked on polling gates cost a real catteryd while nothing is
//! due: 1,000 runs waiting on a pending `ci` gate (the provider answers
//! "queued"; the next poll is minutes away) against the same daemon with
//! the same 1,000 tasks and no runs, measured in one run for `BENCH_SECS`
//! (default 60) each: CPU time from /proc (user + system, the daemon alone),
//! resident memory and threads. `BENCH_RUNS` changes the 1,000.
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
"#;

const PIPELINE: &str = "name = \"Wait\"\n[[steps]]\nagent = \"ci\"\n";

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

    let baseline =
        CtlHome::with_config(&[("agents.toml", AGENTS), ("pipelines/wait.toml", PIPELINE)]);
    import(&baseline, clone.path(), runs, false);
    let idle = measure(&baseline, secs);

    let gated = CtlHome::with_config(&[("agents.toml", AGENTS), ("pipelines/wait.toml", PIPELINE)]);
    let started = Instant::now();
    import(&gated, clone.path(), runs, true);
    let parked = wait_parked(&gated, runs);
    println!(
        "{parked} runs parked on a pending ci gate in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let waiting = measure(&gated, secs);

    println!("| daemon | CPU over {secs} s | share of one core | RSS | threads |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, r) in [
        ("1,000 tasks, no runs", &idle),
        ("1,000 runs parked on gates", &waiting),
    ] {
        println!(
            "| {name} | {:.3} s | {:.3} % | {:.1} MiB | {} |",
            r.cpu_secs,
            r.cpu_secs / secs as f64 * 100.0,
            r.rss_kib as f64 / 1024.0,
            r.threads
        );
    }
    println!(
        "parked minus idle: CPU {:+.3} % of a core, RSS {:+.1} MiB, threads {:+}",
        (waiting.cpu_secs - idle.cpu_secs) / secs as f64 * 100.0,
        (waiting.rss_kib as f64 - idle.rss_kib as f64) / 1024.0,
        waiting.threads as i64 - idle.threads as i64
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One frame on the clone whose CI provider always answers "queued", and
/// `n` tasks under it, started on the one-gate pipeline when `start`.
fn import(home: &CtlHome, clone: &std::path::Path, n: usize, start: bool) {
    let mut text = format!(
        "[[blocks]]\nkey = \"frame\"\nlevel = \"frame\"\ntitle = \"Service\"\nrepo = \"{}\"\n[blocks.providers]\nci = {:?}\n",
        clone.display(),
        PENDING
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[[blocks]]\nparent = \"frame\"\ntitle = \"Task {i}\"\n"
        ));
        if start {
            text.push_str("pipeline = \"wait\"\n");
        }
    }
    let file = home.path().join("workspace.toml");
    std::fs::write(&file, text).unwrap();
    home.ctl(&["block", "import", file.to_str().unwrap()]);
}

/// Waits until every run has probed its gate once and parked.
fn wait_parked(home: &CtlHome, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let runs: Vec<cattery_protocol::Run> = serde_json::from_value(home.ctl(&["runs"])).unwrap();
        let parked = runs
            .iter()
            .filter(|r| {
                r.steps[0]
                    .gate
                    .as_ref()
                    .is_some_and(|g| g.polls >= 1 && g.next_probe_at.is_some())
            })
            .count();
        if parked >= n || Instant::now() > deadline {
            return parked;
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

//! Durable step transitions per second with the instant scripted executor,
//! next to the raw rate of one small UPSERT per SQLite transaction on the
//! same machine, in the same run. Method and figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cattery_daemon::app;
use cattery_daemon::config::Paths;
use cattery_daemon::events::NullSink;
use cattery_daemon::exec::ScriptedExecutor;
use cattery_daemon::service::ops::NewBlock;
use cattery_protocol::{BlockLevel, RunStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 1_000;
const STEPS: usize = 10;
const RAW_WRITES: usize = 20_000;

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = runtime.block_on(engine_rate());
    let raw = raw_upsert_rate();
    println!("raw UPSERT, one per transaction: {raw:>10.0} tx/s ({RAW_WRITES} writes)");
    println!(
        "engine: {RUNS} runs x {STEPS} steps in {:.2}s: {:.0} steps/s, {} durable transitions, {:.0} transitions/s",
        engine.elapsed.as_secs_f64(),
        (RUNS * STEPS) as f64 / engine.elapsed.as_secs_f64(),
        engine.commits,
        engine.commits as f64 / engine.elapsed.as_secs_f64()
    );
    println!(
        "group commit: {} SQLite transactions, {:.1} transitions each",
        engine.transactions,
        engine.commits as f64 / engine.transactions.max(1) as f64
    );
    let ratio = engine.commits as f64 / engine.elapsed.as_secs_f64() / raw;
    println!("ratio transitions/s to raw tx/s: {ratio:.2}");
}

struct EngineRun {
    elapsed: Duration,
    commits: u64,
    transactions: u64,
}

async fn engine_rate() -> EngineRun {
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::under(home.path());
    let pipeline: String = (0..STEPS)
        .map(|i| {
            format!(
                "[[steps]]\nagent = \"{}\"\n",
                if i % 2 == 0 { "coder" } else { "tester" }
            )
        })
        .collect();
    std::fs::create_dir_all(paths.config.join("pipelines")).unwrap();
    std::fs::write(
        paths.config.join("pipelines/bench.toml"),
        format!("name = \"Bench\"\n{pipeline}"),
    )
    .unwrap();
    let daemon = app::open(
        paths,
        Arc::new(ScriptedExecutor::default()),
        Arc::new(NullSink),
    )
    .unwrap();
    let blocks: Vec<_> = (0..RUNS)
        .map(|i| {
            let new = NewBlock {
                repository: None,
                level: BlockLevel::Task,
                parent_id: None,
                title: format!("task {i}"),
                description: String::new(),
            };
            daemon.add_block(new).unwrap().id
        })
        .collect();
    let (before, tx_before) = daemon.commit_counts();
    let started = Instant::now();
    for id in &blocks {
        daemon.start(id, "bench", "bench").await.unwrap();
    }
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if daemon.active_drivers() == 0 {
            break;
        }
    }
    let elapsed = started.elapsed();
    let runs = daemon.runs().unwrap();
    assert!(runs.iter().all(|r| r.status == RunStatus::Done));
    let (commits, transactions) = daemon.commit_counts();
    EngineRun {
        elapsed,
        commits: commits - before,
        transactions: transactions - tx_before,
    }
}

fn raw_upsert_rate() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("raw.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch("CREATE TABLE kv (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        .unwrap();
    let started = Instant::now();
    for i in 0..RAW_WRITES {
        let tx = conn.unchecked_transaction().unwrap();
        tx.execute(
            "INSERT INTO kv (id, v) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET v = excluded.v",
            rusqlite::params![(i % 1000) as i64, i as i64],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    RAW_WRITES as f64 / started.elapsed().as_secs_f64()
}

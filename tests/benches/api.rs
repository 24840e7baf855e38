//! The websocket API under load: 100 concurrent runs on the scripted executor
//! (one `llm_call` per step) with 20 subscribed clients; events delivered per
//! second and the latency from publish (right after commit) to receipt. Then
//! the RSS of a real catteryd holding 10,000 blocks and 1,000 runs.
//! Method and figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cattery_daemon::app;
use cattery_daemon::config::Paths;
use cattery_daemon::events::{Bus, EventSink};
use cattery_daemon::exec::ScriptedExecutor;
use cattery_daemon::server;
use cattery_daemon::service::ops::NewBlock;
use cattery_protocol::event::Event;
use cattery_protocol::wire::Call;
use cattery_protocol::{BlockLevel, Run};
use cattery_tui::client::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const RUNS: usize = 100;
const STEPS: usize = 10;
const CLIENTS: usize = 20;

/// Notes when each numbered event was published.
struct Stamped {
    bus: Arc<Bus>,
    stamps: Mutex<HashMap<u64, SystemTime>>,
}

impl EventSink for Stamped {
    fn publish(&self, event: Event) {
        self.bus.publish(event);
        let seq = self.bus.seq();
        self.stamps.lock().unwrap().insert(seq, SystemTime::now());
    }
}

fn main() {
    if let Ok(spec) = std::env::var("BENCH_CLIENTS") {
        return clients_process(&spec);
    }
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only != "rss" {
        // The daemon's own runtime, as catteryd builds it.
        let runtime = app::runtime().unwrap();
        runtime.block_on(latency());
    }
    if only != "latency" {
        rss();
    }
}

async fn latency() {
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::under(home.path());
    let pipeline: String = (0..STEPS)
        .map(|_| "[[steps]]\nagent = \"coder\"\n")
        .collect();
    std::fs::create_dir_all(paths.config.join("pipelines")).unwrap();
    std::fs::write(
        paths.config.join("pipelines/bench.toml"),
        format!("name = \"Bench\"\n{pipeline}"),
    )
    .unwrap();
    let bus = Arc::new(Bus::new(65_536));
    let stamped = Arc::new(Stamped {
        bus: bus.clone(),
        stamps: Mutex::new(HashMap::new()),
    });
    let daemon = app::open(
        paths.clone(),
        Arc::new(ScriptedExecutor::default()),
        stamped.clone(),
    )
    .unwrap();
    let token = server::load_or_create_token(&paths.token()).unwrap();
    let listener = server::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = Arc::new(server::Shared {
        daemon: daemon.clone(),
        bus: bus.clone(),
        token: token.clone(),
        read_only_token: "unused-read-only-token".to_owned(),
        shutdown: tokio::sync::Notify::new(),
    });
    tokio::spawn(server::serve(listener, shared));

    let mut blocks = Vec::new();
    for i in 0..RUNS {
        let new = NewBlock {
            repository: None,
            level: BlockLevel::Task,
            parent_id: None,
            title: format!("task {i}"),
            description: String::new(),
        };
        blocks.push(daemon.add_block(new).unwrap().id);
    }
    let start_seq = bus.seq();
    // The clients live in a process of their own, as real clients do, so
    // their parsing does not count against the daemon's time.
    let mut clients = std::process::Command::new(std::env::current_exe().unwrap())
        .env(
            "BENCH_CLIENTS",
            format!("{port}:{token}:{CLIENTS}:{start_seq}:{RUNS}"),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    {
        use std::io::BufRead;
        let stdout = clients.stdout.as_mut().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut ready)
            .unwrap();
    }
    assert_eq!(ready.trim(), "subscribed");
    let started = Instant::now();
    for id in &blocks {
        daemon.start(id, "bench", "bench").await.unwrap();
    }
    let output = tokio::task::spawn_blocking(move || clients.wait_with_output().unwrap())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let received: Vec<(u64, SystemTime, usize)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            Some((
                parts.next()?.parse().ok()?,
                UNIX_EPOCH + Duration::from_nanos(parts.next()?.parse().ok()?),
                parts.next()?.parse().ok()?,
            ))
        })
        .collect();
    let stamps = stamped.stamps.lock().unwrap();
    let mut latencies: Vec<Duration> = received
        .iter()
        .filter_map(|(seq, at, _)| {
            stamps
                .get(seq)
                .and_then(|published| at.duration_since(*published).ok())
        })
        .collect();
    latencies.sort();
    let delivered = latencies.len();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{RUNS} runs x {STEPS} steps, {CLIENTS} clients: {delivered} events delivered in {:.2}s = {:.0} events/s",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
    println!(
        "publish -> client receipt: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
    if std::env::var("BENCH_TRACE").is_ok() {
        trace(&received, &stamps);
    }
}

/// Where the slow deliveries were: the worst ones by client and time, and
/// any pause in publishing itself.
fn trace(received: &[(u64, SystemTime, usize)], stamps: &HashMap<u64, SystemTime>) {
    let first = stamps.values().min().copied().unwrap();
    let ms = |t: SystemTime| t.duration_since(first).unwrap_or_default().as_secs_f64() * 1e3;
    let mut slow: Vec<(f64, u64, usize, f64, f64)> = received
        .iter()
        .filter_map(|(seq, at, n)| {
            let published = stamps.get(seq)?;
            let late = at.duration_since(*published).ok()?.as_secs_f64() * 1e3;
            Some((late, *seq, *n, ms(*published), ms(*at)))
        })
        .collect();
    slow.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (late, seq, n, published, at) in slow.iter().take(15) {
        println!(
            "  slow: {late:.1} ms seq {seq} client {n} published at {published:.1} received at {at:.1}"
        );
    }
    let mut clients: Vec<usize> = slow.iter().take(1500).map(|s| s.2).collect();
    clients.sort();
    clients.dedup();
    println!("  clients among the slowest 1500: {clients:?}");
    let mut times: Vec<(u64, SystemTime)> = stamps.iter().map(|(s, t)| (*s, *t)).collect();
    times.sort();
    for pair in times.windows(2) {
        let gap = pair[1].1.duration_since(pair[0].1).unwrap_or_default();
        if gap > Duration::from_millis(5) {
            println!(
                "  publish pause: {:.1} ms before seq {} at {:.1}",
                gap.as_secs_f64() * 1e3,
                pair[1].0,
                ms(pair[0].1)
            );
        }
    }
    let last = times.last().map(|t| ms(t.1)).unwrap_or_default();
    println!("  publishing took {last:.1} ms");
}

/// The client side: connects, subscribes, reads until every run is done, then
/// prints `seq unix_nanos` per received event.
fn clients_process(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let (port, token) = (parts[0].parse().unwrap(), parts[1].to_owned());
    let (count, since, runs): (usize, u64, usize) = (
        parts[2].parse().unwrap(),
        parts[3].parse().unwrap(),
        parts[4].parse().unwrap(),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let received = runtime.block_on(async {
        let mut readers = Vec::new();
        for n in 0..count {
            let mut client = Client::connect_to(port, &token, &format!("bench-{n}"))
                .await
                .unwrap();
            client.subscribe(Some(since)).await.unwrap();
            readers.push(tokio::spawn(read_until_done(client, runs, n)));
        }
        println!("subscribed");
        let mut all = Vec::new();
        for reader in readers {
            all.extend(reader.await.unwrap());
        }
        all
    });
    let mut out = String::new();
    for (seq, at, n) in received {
        let nanos = at.duration_since(UNIX_EPOCH).unwrap().as_nanos();
        out.push_str(&format!("{seq} {nanos} {n}\n"));
    }
    print!("{out}");
}

/// Just enough of a frame to time it and to see runs finish; a real client
/// parses in its own process, so the bench keeps its share of the CPU small.
#[derive(serde::Deserialize)]
struct Light {
    seq: Option<u64>,
    event: Option<LightEvent>,
}

#[derive(serde::Deserialize)]
struct LightEvent {
    run: Option<LightRun>,
    /// A run patch has the same `id` and `status` fields.
    patch: Option<LightRun>,
}

#[derive(serde::Deserialize)]
struct LightRun {
    id: String,
    status: cattery_protocol::RunStatus,
}

/// Reads events until `runs` runs are done; returns (seq, receipt time) pairs.
async fn read_until_done(
    mut client: Client,
    runs: usize,
    n: usize,
) -> Vec<(u64, SystemTime, usize)> {
    let mut seen = Vec::new();
    let mut done = std::collections::HashSet::new();
    while done.len() < runs {
        let text = client.next_text().await.unwrap();
        let at = SystemTime::now();
        let Ok(frame) = serde_json::from_str::<Light>(&text) else {
            continue;
        };
        let Some(seq) = frame.seq.filter(|_| frame.event.is_some()) else {
            continue;
        };
        seen.push((seq, at, n));
        if let Some(run) = frame
            .event
            .and_then(|e| e.run.or(e.patch))
            .filter(|r| !r.status.is_live())
        {
            done.insert(run.id);
        }
    }
    seen
}

/// Waits until no run is still running.
async fn wait_settled(client: &mut Client) -> Vec<Run> {
    loop {
        let runs: Vec<Run> = client.call_as(Call::Runs).await.unwrap();
        if runs
            .iter()
            .all(|r| r.status != cattery_protocol::RunStatus::Running)
        {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A real catteryd with 10,000 blocks and 1,000 runs parked at a gate.
fn rss() {
    let home = tempfile::tempdir().unwrap();
    let agent = r#"[agents.coder]
command = ["sh", "-c", "echo '{\"type\":\"result\",\"output\":\"plan\"}'"]
"#;
    cattery_tests::write_config(
        home.path(),
        &[
            ("config.toml", "executor = \"process\"\nport = 0\n"),
            ("agents.toml", agent),
            (
                "pipelines/gated.toml",
                "name = \"Gated\"\n[[steps]]\nagent = \"coder\"\nrequires_approval = true\n[[steps]]\nagent = \"coder\"\n",
            ),
        ],
    );
    let mut child = std::process::Command::new(cattery_tests::catteryd())
        .arg("--home")
        .arg(home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let layout = cattery_protocol::home::Layout::under(home.path());
    while !layout.port_file().exists() {
        assert!(child.try_wait().unwrap().is_none(), "catteryd exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = Client::connect(&layout, "bench").await.unwrap();
        for i in 0..10_000 {
            let call = Call::AddBlock {
                repository: None,
                title: format!("block {i}"),
                description: "a task on a big board".into(),
                parent_id: None,
                level: BlockLevel::Task,
            };
            let block: cattery_protocol::Block = client.call_as(call).await.unwrap();
            if i % 10 == 0 {
                let block_id = block.id;
                let start = Call::Start {
                    block_id,
                    pipeline_id: "gated".into(),
                };
                client.call(start).await.unwrap();
            }
            // Starts go in batches of 100, so agent processes stay within the fd limit.
            if i % 1000 == 999 {
                wait_settled(&mut client).await;
            }
        }
        let runs = wait_settled(&mut client).await;
        let parked = runs.iter().filter(|r| r.pending_gate().is_some()).count();
        println!("{} runs: {parked} parked at their gate", runs.len());
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("VmRSS: ?");
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    println!("catteryd with 10,000 blocks and 1,000 runs: {rss}; peak {hwm}");
    let _ = child.kill();
    let _ = child.wait();
}

//! A client that stops reading never slows the engine or other clients: its
//! bounded queue overflows and it is told to resync.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::app;
use cattery_daemon::config::Paths;
use cattery_daemon::events::{Bus, EventSink};
use cattery_daemon::exec::ProcessExecutor;
use cattery_daemon::server;
use cattery_protocol::agent::LogLevel;
use cattery_protocol::event::Event;
use cattery_protocol::wire::ServerFrame;
use cattery_tui::client::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn log(n: usize) -> Event {
    Event::StepLog {
        run_id: "r".into(),
        step_index: 0,
        at: n as i64,
        level: LogLevel::Info,
        line: format!("{n} {}", "x".repeat(2000)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_told_to_resync_while_others_keep_up() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let bus = Arc::new(Bus::new(64));
    let daemon = app::open(paths.clone(), Arc::new(ProcessExecutor), bus.clone()).unwrap();
    let token = server::load_or_create_token(&paths.token()).unwrap();
    let listener = server::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = Arc::new(server::Shared {
        daemon,
        bus: bus.clone(),
        token: token.clone(),
        shutdown: tokio::sync::Notify::new(),
    });
    tokio::spawn(server::serve(listener, shared));

    let mut stalled = Client::connect_to(port, &token, "stalled").await.unwrap();
    stalled.subscribe(None).await.unwrap();
    let mut keeping_up = Client::connect_to(port, &token, "reader").await.unwrap();
    keeping_up.subscribe(None).await.unwrap();
    // A well-behaved client: on a resync it subscribes again from its last seq.
    let reader = tokio::spawn(async move {
        let mut last = 0;
        while last < 5_000 {
            match keeping_up.next_frame().await.unwrap() {
                ServerFrame::Event { seq, .. } => {
                    assert!(last == 0 || seq == last + 1, "gap after {last}: {seq}");
                    last = seq;
                }
                ServerFrame::Resync { .. } => keeping_up.subscribe(Some(last)).await.unwrap(),
                _ => {}
            }
        }
        last
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    for n in 0..5_000 {
        bus.publish(log(n));
        if n % 16 == 0 {
            // Commits pace a real engine; give the sessions their turn.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let publishing = started.elapsed();
    assert!(
        publishing < Duration::from_secs(5),
        "publishing waited on a client: {publishing:?}"
    );
    let last = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last, 5_000, "the reading client got everything");

    let mut resynced = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match stalled.next_frame().await.unwrap() {
            ServerFrame::Resync { reason } => {
                assert!(reason.contains("subscribe again"), "{reason}");
                resynced = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(resynced, "the stalled client was told to resync");
}

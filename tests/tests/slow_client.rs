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

async fn subscribed(client: &mut Client) {
    client.subscribe(None).await.unwrap();
    let first = client.next_frame().await.unwrap();
    assert!(matches!(first, ServerFrame::Snapshot { .. }), "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_told_to_resync_while_others_keep_up() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    // Room for a reader that falls a few hundred events behind on a loaded
    // machine to catch up from the ring; the stalled client, which never
    // reads 10 MB of events, overflows it all the same.
    let bus = Arc::new(Bus::new(512));
    let settings = cattery_daemon::config::Settings::load(&paths.config).unwrap();
    let daemon = app::boot(
        paths.clone(),
        &settings,
        Arc::new(ProcessExecutor),
        bus.clone(),
    )
    .unwrap();
    let token = server::load_or_create_token(&paths.token()).unwrap();
    let listener = server::bind(0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = Arc::new(server::Shared {
        daemon,
        bus: bus.clone(),
        token: token.clone(),
        read_only_token: "unused-read-only-token".to_owned(),
        shutdown: tokio::sync::Notify::new(),
    });
    tokio::spawn(server::serve(listener, shared));

    // A snapshot is sent once the subscription is in place; having read
    // it, each client is known to be on the stream before anything is published.
    let mut stalled = Client::connect_to(port, &token, "stalled").await.unwrap();
    subscribed(&mut stalled).await;
    let mut keeping_up = Client::connect_to(port, &token, "reader").await.unwrap();
    subscribed(&mut keeping_up).await;
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
    let started = Instant::now();
    for n in 0..5_000 {
        bus.publish(log(n));
        if n % 8 == 0 {
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

    let told = async {
        loop {
            if let ServerFrame::Resync { reason } = stalled.next_frame().await.unwrap() {
                return reason;
            }
        }
    };
    let reason =
        cattery_tests::within(20, "the stalled client was never told to resync", told).await;
    assert!(reason.contains("subscribe again"), "{reason}");
}

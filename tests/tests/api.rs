//! The websocket API against a real catteryd process on a temp home.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::event::Event;
use cattery_protocol::home::Layout;
use cattery_protocol::wire::{Call, ClientFrame, ErrorCode, ServerFrame};
use cattery_protocol::*;
use cattery_tests::DaemonProcess;
use cattery_tui::client::{Client, ClientError};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn daemon() -> DaemonProcess {
    DaemonProcess::start()
}

async fn client(home: &Layout, name: &str) -> Client {
    Client::connect(home, name).await.unwrap()
}

async fn start_task(client: &mut Client, description: &str, pipeline: &str) -> Run {
    cattery_tests::start_task_over_api(client, "t", description, pipeline).await
}

/// Reads frames until `done` says stop, up to `secs`; returns the events seen.
async fn events_until(
    client: &mut Client,
    secs: u64,
    done: impl Fn(&Event) -> bool,
) -> Vec<(u64, Event)> {
    let mut seen = Vec::new();
    let reading = async {
        loop {
            if let ServerFrame::Event { seq, event } = client.next_frame().await.unwrap() {
                let finished = done(&event);
                seen.push((seq, event));
                if finished {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), reading)
        .await
        .expect("the awaited event never came");
    seen
}

fn run_done(id: &str) -> impl Fn(&Event) -> bool + '_ {
    move |event| match event {
        Event::Run { run } => run.id == id && !run.status.is_live(),
        Event::RunPatch { patch } => patch.id == id && !patch.status.is_live(),
        _ => false,
    }
}

async fn snapshot_seq(client: &mut Client) -> u64 {
    client.subscribe(None).await.unwrap();
    loop {
        if let ServerFrame::Snapshot { seq, .. } = client.next_frame().await.unwrap() {
            return seq;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_see_the_same_gap_free_events_in_order() {
    let d = daemon();
    let mut watchers = Vec::new();
    for n in 0..3 {
        let mut c = client(&d.home, &format!("watcher-{n}")).await;
        snapshot_seq(&mut c).await;
        watchers.push(c);
    }
    let mut driver = client(&d.home, "driver").await;
    let run = start_task(&mut driver, "@demo * sleep 100", "build").await;
    let mut streams = Vec::new();
    for c in &mut watchers {
        streams.push(events_until(c, 60, run_done(&run.id)).await);
    }
    let seqs: Vec<Vec<u64>> = streams
        .iter()
        .map(|s| s.iter().map(|(n, _)| *n).collect())
        .collect();
    for window in seqs[0].windows(2) {
        assert_eq!(window[1], window[0] + 1, "no gaps");
    }
    assert!(
        seqs.iter().all(|s| s == &seqs[0]),
        "every client saw the same numbers"
    );
    let events: Vec<_> = streams
        .iter()
        .map(|s| s.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>())
        .collect();
    assert!(
        events.iter().all(|e| e == &events[0]),
        "and the same events"
    );
}

async fn first_gate(client: &mut Client) -> PendingGate {
    let opened = async {
        loop {
            let inbox: Vec<PendingGate> = client.call_as(Call::Inbox).await.unwrap();
            if let Some(gate) = inbox.into_iter().next() {
                return gate;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    cattery_tests::within(30, "no gate opened", opened).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_deciding_one_gate_at_once_get_one_win_and_one_stale() {
    let d = daemon();
    let mut ana = client(&d.home, "ana").await;
    let mut bob = client(&d.home, "bob").await;
    start_task(&mut ana, "@demo * sleep 0", "quick").await;
    let gate = first_gate(&mut ana).await;
    let approve = || Call::Decide {
        run_id: gate.run_id.clone(),
        gate_id: gate.id.clone(),
        rev: gate.rev,
        action: cattery_protocol::GateAction::Approve {
            edited_proposal: None,
        },
    };
    let (a, b) = tokio::join!(ana.call(approve()), bob.call(approve()));
    let outcomes = [a, b];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    let loser = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    let ClientError::Daemon(error) = loser else {
        panic!("{loser}")
    };
    assert_eq!(error.code, ErrorCode::Stale, "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_since_seq_replays_what_was_missed() {
    let d = daemon();
    let mut driver = client(&d.home, "driver").await;
    let mut watcher = client(&d.home, "watcher").await;
    snapshot_seq(&mut watcher).await;
    let first = start_task(&mut driver, "@demo * sleep 0", "build").await;
    let before = events_until(&mut watcher, 60, run_done(&first.id)).await;
    let last = before.last().unwrap().0;
    drop(watcher);

    let second = start_task(&mut driver, "@demo * sleep 0", "build").await;
    let mut again = client(&d.home, "watcher").await;
    // Wait until the second run is over, so everything is in the past.
    let over = async {
        loop {
            let runs: Vec<Run> = driver.call_as(Call::Runs).await.unwrap();
            let ended = |r: &Run| r.id == second.id && !r.status.is_live();
            if runs.iter().any(ended) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    cattery_tests::within(60, "the second run never ended", over).await;
    again.subscribe(Some(last)).await.unwrap();
    let replay = events_until(&mut again, 10, run_done(&second.id)).await;
    assert_eq!(
        replay[0].0,
        last + 1,
        "the replay starts right after the last seen event"
    );
    for window in replay.windows(2) {
        assert_eq!(window[1].0, window[0].0 + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_since_seq_the_daemon_cannot_serve_gets_a_snapshot() {
    let d = daemon();
    let mut c = client(&d.home, "c").await;
    c.subscribe(Some(1_000_000)).await.unwrap();
    let frame = c.next_frame().await.unwrap();
    assert!(matches!(frame, ServerFrame::Snapshot { .. }), "{frame:?}");
}

async fn refusal(home: &Layout, hello: ClientFrame) -> String {
    let (port, _) = cattery_tui::client::endpoint(home).unwrap();
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
        .await
        .unwrap();
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => frame.reason.to_string(),
        other => panic!("expected a close with a reason, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_versions_are_refused_with_a_reason() {
    let d = daemon();
    let hello = |version, token: &str| ClientFrame::Hello {
        protocol_version: version,
        token: token.into(),
        client: "t".into(),
    };
    let wrong = refusal(&d.home, hello(PROTOCOL_VERSION, "nope")).await;
    assert!(wrong.contains("wrong token"), "{wrong}");
    let missing = refusal(&d.home, hello(PROTOCOL_VERSION, "")).await;
    assert!(missing.contains("no token"), "{missing}");
    let (_, token) = cattery_tui::client::endpoint(&d.home).unwrap();
    let old = refusal(&d.home, hello(PROTOCOL_VERSION + 1, &token)).await;
    assert!(
        old.contains(&format!("client speaks {}", PROTOCOL_VERSION + 1)),
        "{old}"
    );
    assert!(
        old.contains(&format!("catteryd speaks {PROTOCOL_VERSION}")),
        "{old}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_origin_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let d = daemon();
    let (port, _) = cattery_tui::client::endpoint(&d.home).unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_request_that_fails_to_parse_is_answered_under_its_id() {
    let d = daemon();
    let mut c = client(&d.home, "c").await;
    let bad = r#"{"type":"request","id":41,"method":"decide","params":{"run_id":5}}"#;
    c.send_raw(Message::text(bad)).await.unwrap();
    let frame = c.next_frame().await.unwrap();
    let ServerFrame::Response {
        id: 41,
        result: None,
        error: Some(error),
    } = &frame
    else {
        panic!("not an answer to request 41: {frame:?}")
    };
    assert_eq!(error.code, ErrorCode::BadFrame);
    assert!(
        error.message.contains("cannot read this frame"),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_errors_and_repeated_garbage_disconnects() {
    let d = daemon();
    let mut c = client(&d.home, "c").await;
    c.send_raw(Message::text("{not json")).await.unwrap();
    let frame = c.next_frame().await.unwrap();
    let ServerFrame::Error { error } = frame else {
        panic!("{frame:?}")
    };
    assert_eq!(error.code, ErrorCode::BadFrame);
    assert!(
        error.message.contains("cannot read this frame"),
        "{}",
        error.message
    );
    // Still usable after one bad frame.
    let status: cattery_protocol::wire::DaemonStatus = c.call_as(Call::Status).await.unwrap();
    assert_eq!(status.executor, "process");
    // Five malformed frames in a row end the session.
    for _ in 0..5 {
        c.send_raw(Message::text("garbage")).await.unwrap();
    }
    let mut closed = None;
    for _ in 0..10 {
        match c.next_frame().await {
            Ok(ServerFrame::Error { .. } | ServerFrame::Heartbeat { .. }) => continue,
            Err(ClientError::Refused(reason)) => {
                closed = Some(reason);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(closed.unwrap().contains("too many malformed frames"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_is_refused_and_the_daemon_keeps_serving() {
    let d = daemon();
    let mut c = client(&d.home, "c").await;
    let huge = format!(
        "{{\"type\":\"subscribe\",\"pad\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let _ = c.send_raw(Message::text(huge)).await;
    let outcome = c.next_frame().await;
    match outcome {
        Err(ClientError::Refused(reason)) => assert!(reason.contains("frame too big"), "{reason}"),
        Err(ClientError::Broken(_)) => {}
        other => panic!("expected the connection to close, got {other:?}"),
    }
    let mut fresh = client(&d.home, "fresh").await;
    let status: cattery_protocol::wire::DaemonStatus = fresh.call_as(Call::Status).await.unwrap();
    assert_eq!(status.protocol_version, PROTOCOL_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_lists_the_catalog_a_run_can_start_with() {
    let d = daemon();
    let mut c = client(&d.home, "c").await;
    let pipelines: Vec<Pipeline> = c.call_as(Call::Pipelines).await.unwrap();
    let ids: Vec<&str> = pipelines.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["bugfix", "build", "full", "quick"]);
    let quick = pipelines.iter().find(|p| p.id == "quick").unwrap();
    assert_eq!(quick.steps[0].agent_kind, "architect");
    assert!(quick.steps[0].requires_approval);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_read_only_token_can_read_but_every_change_is_refused() {
    let d = daemon();
    let mut full = client(&d.home, "ana").await;
    start_task(&mut full, "@demo * sleep 0", "quick").await;
    let gate = first_gate(&mut full).await;
    let mut viewer = Client::connect_read_only(&d.home, "viewer").await.unwrap();
    let runs: Vec<Run> = viewer.call_as(Call::Runs).await.unwrap();
    assert_eq!(runs.len(), 1, "reads are answered");
    let changes = [
        Call::decide(
            &gate,
            GateAction::Approve {
                edited_proposal: None,
            },
        ),
        Call::AddBlock {
            repository: None,
            title: "x".into(),
            description: String::new(),
            parent_id: None,
            level: BlockLevel::Task,
        },
        Call::Stop {
            run_id: gate.run_id.clone(),
        },
        Call::Shutdown,
    ];
    for change in changes {
        let refused = viewer.call(change.clone()).await.unwrap_err();
        let ClientError::Daemon(error) = refused else {
            panic!("{change:?}: {refused}")
        };
        assert_eq!(error.code, ErrorCode::ReadOnly, "{change:?}");
        assert!(error.message.contains("read-only"), "{}", error.message);
    }
    let after: Vec<Run> = full.call_as(Call::Runs).await.unwrap();
    assert_eq!(after[0].rev, gate.rev, "nothing changed");
    let status: cattery_protocol::wire::DaemonStatus = full.call_as(Call::Status).await.unwrap();
    assert_eq!(status.executor, "process", "the daemon still runs");
}

//! The connection task: connects, subscribes, forwards frames to the UI and
//! requests to the daemon, and reconnects with backoff, resuming from the
//! last sequence number it saw.

use crate::app::ConnState;
use crate::client::Client;
use cattery_protocol::home::Layout;
use cattery_protocol::wire::{Call, ClientFrame, ServerFrame};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// From the connection to the UI.
#[derive(Debug)]
pub enum Incoming {
    Connected(crate::client::Welcome),
    State(ConnState),
    Frame(Box<ServerFrame>),
}

/// From the UI to the connection.
#[derive(Debug)]
pub enum Outgoing {
    Request { id: u64, call: Call },
    Resubscribe,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub async fn run(
    home: Layout,
    read_only: bool,
    to_ui: UnboundedSender<Incoming>,
    mut from_ui: UnboundedReceiver<Outgoing>,
) {
    let mut attempt = 1;
    let mut last_seq = None;
    loop {
        let _ = to_ui.send(Incoming::State(ConnState::Connecting { attempt }));
        let connect = match read_only {
            true => Client::connect_read_only(&home, "cattery-tui").await,
            false => Client::connect(&home, "cattery-tui").await,
        };
        let why = match connect {
            Ok(client) => {
                attempt = 1;
                let _ = to_ui.send(Incoming::Connected(client.welcome.clone()));
                match session(client, &to_ui, &mut from_ui, &mut last_seq).await {
                    Some(why) => why,
                    None => return,
                }
            }
            Err(e) => e.to_string(),
        };
        let wait = backoff(attempt);
        let _ = to_ui.send(Incoming::State(ConnState::Down {
            why,
            retry_secs: wait.as_secs().max(1),
        }));
        if !wait_dropping_requests(wait, &mut from_ui).await {
            return;
        }
        attempt += 1;
    }
}

/// 0.5 s, 1 s, 2 s, 4 s, then 5 s between tries.
fn backoff(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(4));
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

/// Sleeps; requests made meanwhile are dropped (the UI already told the
/// user nothing was sent). False when the UI has gone.
async fn wait_dropping_requests(wait: Duration, from_ui: &mut UnboundedReceiver<Outgoing>) -> bool {
    let sleep = tokio::time::sleep(wait);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            message = from_ui.recv() => if message.is_none() { return false },
        }
    }
}

/// Runs one connection until it breaks (returns why) or the UI quits (None).
async fn session(
    mut client: Client,
    to_ui: &UnboundedSender<Incoming>,
    from_ui: &mut UnboundedReceiver<Outgoing>,
    last_seq: &mut Option<u64>,
) -> Option<String> {
    if let Err(e) = client.subscribe(*last_seq).await {
        return Some(e.to_string());
    }
    loop {
        tokio::select! {
            frame = client.next_frame() => match frame {
                Ok(frame) => {
                    match &frame {
                        ServerFrame::Snapshot { seq, .. } | ServerFrame::Event { seq, .. } => *last_seq = Some(*seq),
                        _ => {}
                    }
                    if to_ui.send(Incoming::Frame(Box::new(frame))).is_err() {
                        return None;
                    }
                }
                Err(e) => return Some(e.to_string()),
            },
            message = from_ui.recv() => {
                let sent = match message {
                    None => return None,
                    Some(Outgoing::Request { id, call }) => client.send(&ClientFrame::Request { id, call }).await,
                    Some(Outgoing::Resubscribe) => client.subscribe(None).await,
                };
                if let Err(e) = sent {
                    return Some(e.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    /// A daemon from another release: reads the hello, refuses it.
    async fn other_version_daemon(home: &Layout) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        std::fs::create_dir_all(&home.data).unwrap();
        std::fs::write(home.port_file(), port.to_string()).unwrap();
        std::fs::write(home.token(), "t").unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let _hello = ws.next().await;
                let frame = CloseFrame {
                    code: CloseCode::Policy,
                    reason: "protocol version mismatch: client speaks 1, catteryd speaks 2".into(),
                };
                let _ = ws.send(Message::Close(Some(frame))).await;
            }
        });
    }

    #[tokio::test]
    async fn a_daemon_speaking_another_protocol_is_reported_and_retried() {
        let dir = tempfile::tempdir().unwrap();
        let home = Layout::under(dir.path());
        other_version_daemon(&home).await;
        let (to_ui, mut incoming) = mpsc::unbounded_channel();
        let (_outgoing, from_ui) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(home, false, to_ui, from_ui));
        let mut states = Vec::new();
        while states.len() < 3 {
            if let Some(Incoming::State(state)) = incoming.recv().await {
                states.push(state);
            }
        }
        task.abort();
        assert_eq!(states[0], ConnState::Connecting { attempt: 1 });
        let ConnState::Down { why, .. } = &states[1] else {
            panic!("not down: {states:?}");
        };
        assert!(why.contains("protocol version mismatch"), "{why}");
        assert_eq!(states[2], ConnState::Connecting { attempt: 2 });
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let waits: Vec<u64> = (1..=6).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000]);
    }
}

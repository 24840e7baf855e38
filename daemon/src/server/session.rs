//! One client connection: handshake, then frames in both directions.

use super::{Shared, auth, requests};
use cattery_protocol::PROTOCOL_VERSION;
use cattery_protocol::wire::{ClientFrame, ErrorCode, MAX_FRAME_BYTES, ServerFrame, WireError};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const HELLO_WITHIN: Duration = Duration::from_secs(5);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// Malformed frames in a row before the client is cut off.
const GARBAGE_LIMIT: u32 = 5;

type Ws = WebSocketStream<TcpStream>;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("websocket: {0}")]
    Ws(#[from] WsError),
    #[error("cannot encode a frame: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Browsers send an Origin header; a page must never drive the daemon.
// The signature is tungstenite's handshake callback; its error type is fixed.
#[allow(clippy::result_large_err)]
fn refuse_browsers(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.headers().contains_key("origin") {
        let mut refusal = ErrorResponse::new(Some(
            "catteryd refuses connections from web pages (an Origin header was sent)".to_owned(),
        ));
        *refusal.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::FORBIDDEN;
        return Err(refusal);
    }
    Ok(response)
}

/// What one read from a client's socket takes at most; see `run`.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The websocket upgrade and the hello together must finish within this;
/// a connection that dawdles is closed.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(5);

pub async fn run(
    stream: TcpStream,
    shared: Arc<Shared>,
    ungreeted: tokio::sync::OwnedSemaphorePermit,
    evicted: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), SessionError> {
    let handshake = async {
        // tungstenite zero-fills its whole read buffer each time the socket
        // is polled, and a session polls it on every event it sends. Client
        // frames are small, so a small buffer (which still grows for a big
        // frame) keeps that cost off the event stream.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let mut ws =
            tokio_tungstenite::accept_hdr_async_with_config(stream, refuse_browsers, Some(config))
                .await?;
        let actor = greet(&mut ws, &shared).await?;
        Ok::<_, SessionError>(actor.map(|actor| (ws, actor)))
    };
    let greeted = tokio::select! {
        greeted = tokio::time::timeout(HANDSHAKE_WITHIN, handshake) => match greeted {
            Ok(greeted) => greeted,
            Err(_) => return Ok(()),
        },
        // Closed to make room for a newer connection.
        _ = evicted => return Ok(()),
    };
    drop(ungreeted);
    let Some((ws, (actor, read_only))) = greeted? else {
        return Ok(());
    };
    Session {
        ws,
        shared,
        actor,
        read_only,
        feed: None,
        garbage: 0,
    }
    .serve()
    .await
}

/// Checks the hello frame; answers with a welcome or closes with the
/// reason. A client greeted with the read-only token gets a session that
/// may only read: the actor's name and whether it is read-only.
async fn greet(ws: &mut Ws, shared: &Shared) -> Result<Option<(String, bool)>, SessionError> {
    let first = tokio::time::timeout(HELLO_WITHIN, ws.next()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Err(e))) => return Err(e.into()),
        Ok(None) => return Ok(None),
        _ => return refuse(ws, "send a hello frame first, within 5 seconds").await,
    };
    let hello = serde_json::from_str::<ClientFrame>(&text);
    let Ok(ClientFrame::Hello {
        protocol_version,
        token,
        client,
    }) = hello
    else {
        return refuse(ws, "the first frame must be {\"type\":\"hello\",...}").await;
    };
    if protocol_version != PROTOCOL_VERSION {
        let reason = format!(
            "protocol version mismatch: client speaks {protocol_version}, catteryd speaks {PROTOCOL_VERSION}; use matching builds"
        );
        return refuse(ws, &reason).await;
    }
    let read_only = !auth::same_token(&shared.token, &token)
        && auth::same_token(&shared.read_only_token, &token);
    if !read_only && !auth::same_token(&shared.token, &token) {
        let reason = if token.is_empty() {
            "no token: send the token from the daemon's data dir"
        } else {
            "wrong token: use the token from the daemon's data dir"
        };
        return refuse(ws, reason).await;
    }
    let welcome = ServerFrame::Welcome {
        protocol_version: PROTOCOL_VERSION,
        daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
        executor: shared.daemon.executor_name().to_owned(),
        seq: shared.bus.seq(),
        health: shared.daemon.health(),
    };
    send(ws, &welcome).await?;
    let actor = if client.is_empty() {
        "client".to_owned()
    } else {
        client
    };
    Ok(Some((actor, read_only)))
}

async fn refuse<T>(ws: &mut Ws, reason: &str) -> Result<Option<T>, SessionError> {
    close(ws, CloseCode::Policy, reason).await;
    Ok(None)
}

async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    // Close reasons are limited to 123 bytes by the protocol.
    let mut reason = reason.to_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = ws.close(Some(frame)).await;
}

async fn send(ws: &mut Ws, frame: &ServerFrame) -> Result<(), SessionError> {
    let text = serde_json::to_string(frame)?;
    ws.send(Message::text(text)).await?;
    Ok(())
}

async fn send_event(ws: &mut Ws, numbered: &crate::events::Numbered) -> Result<(), SessionError> {
    ws.send(Message::Text(numbered.wire_frame())).await?;
    Ok(())
}

struct Session {
    ws: Ws,
    shared: Arc<Shared>,
    actor: String,
    /// Greeted with the read-only token: every mutating call is refused.
    read_only: bool,
    feed: Option<broadcast::Receiver<crate::events::Numbered>>,
    garbage: u32,
}

impl Session {
    async fn serve(mut self) -> Result<(), SessionError> {
        let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                incoming = self.ws.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if !self.on_text(&text).await? {
                            return Ok(());
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if !self.on_garbage("binary frames are not understood; send JSON text").await? {
                            return Ok(());
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(WsError::Capacity(e))) => {
                        let reason = format!("frame too big ({e}); the limit is {MAX_FRAME_BYTES} bytes");
                        close(&mut self.ws, CloseCode::Size, &reason).await;
                        return Ok(());
                    }
                    Some(Err(e)) => return Err(e.into()),
                },
                event = next_event(&mut self.feed) => match event {
                    Ok(numbered) => self.send_ready(numbered).await?,
                    Err(broadcast::error::RecvError::Lagged(missed)) => self.lagged(missed).await?,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = heartbeat.tick() => {
                    send(&mut self.ws, &ServerFrame::Heartbeat { seq: self.shared.bus.seq() }).await?;
                }
            }
        }
    }

    /// Sends `first` and every event already waiting behind it, then flushes
    /// once: a burst costs one socket write instead of one per event.
    async fn send_ready(&mut self, first: crate::events::Numbered) -> Result<(), SessionError> {
        const BATCH: usize = 256;
        self.ws.feed(Message::Text(first.wire_frame())).await?;
        for _ in 1..BATCH {
            let Some(feed) = self.feed.as_mut() else {
                break;
            };
            match feed.try_recv() {
                Ok(next) => self.ws.feed(Message::Text(next.wire_frame())).await?,
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    self.ws.flush().await?;
                    return self.lagged(missed).await;
                }
                // Empty or closed: the select loop sees it next.
                Err(_) => break,
            }
        }
        self.ws.flush().await?;
        Ok(())
    }

    /// A client that fell behind the bounded queue is dropped from the stream
    /// and told to subscribe again, so it never sees a silent gap.
    async fn lagged(&mut self, missed: u64) -> Result<(), SessionError> {
        self.feed = None;
        let reason =
            format!("this client fell {missed} events behind; subscribe again with your last seq");
        send(&mut self.ws, &ServerFrame::Resync { reason }).await
    }

    /// Handles one text frame; `false` ends the session.
    async fn on_text(&mut self, text: &str) -> Result<bool, SessionError> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                let message = format!(
                    "cannot read this frame ({e}); send JSON such as {{\"type\":\"request\",\"id\":1,\"method\":\"status\"}}"
                );
                // A request whose id can be read is answered under that id,
                // so a client waiting on it hears why instead of hanging.
                if let Some(id) = request_id(text) {
                    let frame = ServerFrame::Response {
                        id,
                        result: None,
                        error: Some(WireError {
                            code: ErrorCode::BadFrame,
                            message,
                        }),
                    };
                    send(&mut self.ws, &frame).await?;
                    return Ok(true);
                }
                return self.on_garbage(&message).await;
            }
        };
        self.garbage = 0;
        match frame {
            ClientFrame::Hello { .. } => {
                self.error(
                    ErrorCode::BadFrame,
                    "already greeted; hello is sent once".to_owned(),
                )
                .await?;
            }
            ClientFrame::Subscribe { since_seq } => self.subscribe(since_seq).await?,
            ClientFrame::Request { id, call } => {
                let answer = if self.read_only && call.mutates() {
                    Err(WireError {
                        code: ErrorCode::ReadOnly,
                        message: "this client attached read-only (the read-only token); it can look but not change anything".to_owned(),
                    })
                } else {
                    requests::handle(&self.shared, &self.actor, call).await
                };
                let frame = match answer {
                    Ok(result) => ServerFrame::Response {
                        id,
                        result: Some(result),
                        error: None,
                    },
                    Err(error) => ServerFrame::Response {
                        id,
                        result: None,
                        error: Some(error),
                    },
                };
                send(&mut self.ws, &frame).await?;
            }
        }
        Ok(true)
    }

    async fn on_garbage(&mut self, message: &str) -> Result<bool, SessionError> {
        self.garbage += 1;
        if self.garbage >= GARBAGE_LIMIT {
            close(
                &mut self.ws,
                CloseCode::Policy,
                "too many malformed frames in a row",
            )
            .await;
            return Ok(false);
        }
        self.error(ErrorCode::BadFrame, message.to_owned()).await?;
        Ok(true)
    }

    async fn error(&mut self, code: ErrorCode, message: String) -> Result<(), SessionError> {
        let frame = ServerFrame::Error {
            error: WireError { code, message },
        };
        send(&mut self.ws, &frame).await
    }

    /// Replays what the client missed when the ring still has it, else sends
    /// a snapshot; either way the live stream follows without a gap.
    async fn subscribe(&mut self, since: Option<u64>) -> Result<(), SessionError> {
        if let Some(caught) = since.and_then(|s| self.shared.bus.catch_up(s)) {
            for numbered in &caught.missed {
                send_event(&mut self.ws, numbered).await?;
            }
            self.feed = Some(caught.live);
            return Ok(());
        }
        let (seq, live) = self.shared.bus.subscribe_now();
        self.feed = Some(live);
        let snapshot = self.snapshot(seq);
        match snapshot {
            Ok(frame) => send(&mut self.ws, &frame).await,
            Err(error) => {
                self.feed = None;
                send(&mut self.ws, &ServerFrame::Error { error }).await
            }
        }
    }

    fn snapshot(&self, seq: u64) -> Result<ServerFrame, WireError> {
        let snapshot =
            requests::off_worker(|| self.shared.daemon.snapshot()).map_err(requests::service)?;
        Ok(ServerFrame::Snapshot {
            seq,
            health: self.shared.daemon.health(),
            board: snapshot.board,
            runs: snapshot.runs,
            inbox: snapshot.inbox,
            notifications: snapshot.notifications,
        })
    }
}

/// The `id` of a frame that is a request in shape (an object with
/// `"type": "request"` and a numeric `id`), whatever else is wrong with it.
fn request_id(text: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    (value.get("type")?.as_str()? == "request")
        .then(|| value.get("id")?.as_u64())
        .flatten()
}

/// The next event, or never when not subscribed.
async fn next_event(
    feed: &mut Option<broadcast::Receiver<crate::events::Numbered>>,
) -> Result<crate::events::Numbered, broadcast::error::RecvError> {
    match feed {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

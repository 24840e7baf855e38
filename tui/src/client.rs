//! A websocket client for catteryd: handshake, requests, and the event stream.

use cattery_protocol::PROTOCOL_VERSION;
use cattery_protocol::home::Layout;
use cattery_protocol::wire::{Call, ClientFrame, FromReply, Reply, ServerFrame, WireError};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no daemon answers for {home}: {why}; start it with `cattery daemon start`")]
    NoDaemon { home: String, why: String },
    #[error("catteryd refused the connection: {0}")]
    Refused(String),
    #[error("the connection to catteryd broke: {0}")]
    Broken(String),
    #[error("{}", .0.message)]
    Daemon(WireError),
    #[error("catteryd sent a frame this client cannot read: {0}")]
    Unreadable(String),
}

/// How long connecting (TCP, upgrade, hello and welcome) may take.
pub const CONNECT_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a request may wait for its answer.
pub const REQUEST_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// What the daemon said in its welcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Welcome {
    pub daemon_version: String,
    pub executor: String,
    pub seq: u64,
    pub health: cattery_protocol::wire::Health,
}

impl Welcome {
    /// A welcome from a healthy daemon at seq 0.
    pub fn from(daemon_version: &str, executor: &str) -> Self {
        Self {
            daemon_version: daemon_version.to_owned(),
            executor: executor.to_owned(),
            ..Self::default()
        }
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Frames that arrived while waiting for a response.
    backlog: VecDeque<ServerFrame>,
    pub welcome: Welcome,
}

/// The port and token a daemon left in its home.
pub fn endpoint(home: &Layout) -> Result<(u16, String), ClientError> {
    endpoint_with(home, &home.token())
}

/// The port and the read-only token: a client greeting with it may only read.
pub fn endpoint_read_only(home: &Layout) -> Result<(u16, String), ClientError> {
    endpoint_with(home, &home.read_only_token())
}

fn endpoint_with(
    home: &Layout,
    token_file: &std::path::Path,
) -> Result<(u16, String), ClientError> {
    let no_daemon = |why: String| ClientError::NoDaemon {
        home: home.data.display().to_string(),
        why,
    };
    let port = std::fs::read_to_string(home.port_file())
        .map_err(|e| no_daemon(format!("no port file ({e})")))?;
    let port = port
        .trim()
        .parse()
        .map_err(|e| no_daemon(format!("unreadable port file ({e})")))?;
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| no_daemon(format!("no token file ({e})")))?;
    Ok((port, token.trim().to_owned()))
}

impl Client {
    /// Connects to the daemon of `home`.
    pub async fn connect(home: &Layout, name: &str) -> Result<Self, ClientError> {
        Self::connect_with(home, name, endpoint(home)?).await
    }

    /// Connects with the read-only token: the daemon refuses every change.
    pub async fn connect_read_only(home: &Layout, name: &str) -> Result<Self, ClientError> {
        Self::connect_with(home, name, endpoint_read_only(home)?).await
    }

    async fn connect_with(
        home: &Layout,
        name: &str,
        (port, token): (u16, String),
    ) -> Result<Self, ClientError> {
        Self::connect_to(port, &token, name)
            .await
            .map_err(|e| match e {
                ClientError::Broken(why) => ClientError::NoDaemon {
                    home: home.data.display().to_string(),
                    why,
                },
                other => other,
            })
    }

    pub async fn connect_to(port: u16, token: &str, name: &str) -> Result<Self, ClientError> {
        match tokio::time::timeout(CONNECT_WITHIN, Self::handshake(port, token, name)).await {
            Ok(client) => client,
            Err(_) => Err(ClientError::Broken(format!(
                "nothing answered on port {port} within {}s",
                CONNECT_WITHIN.as_secs()
            ))),
        }
    }

    async fn handshake(port: u16, token: &str, name: &str) -> Result<Self, ClientError> {
        let url = format!("ws://127.0.0.1:{port}/");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| ClientError::Broken(e.to_string()))?;
        let mut client = Self {
            ws,
            next_id: 1,
            backlog: VecDeque::new(),
            welcome: Welcome::default(),
        };
        client
            .send(&ClientFrame::Hello {
                protocol_version: PROTOCOL_VERSION,
                token: token.to_owned(),
                client: name.to_owned(),
            })
            .await?;
        match client.read().await? {
            ServerFrame::Welcome {
                daemon_version,
                executor,
                seq,
                health,
                ..
            } => {
                client.welcome = Welcome {
                    daemon_version,
                    executor,
                    seq,
                    health,
                };
                Ok(client)
            }
            other => Err(ClientError::Unreadable(format!(
                "expected a welcome, got {other:?}"
            ))),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let text =
            serde_json::to_string(frame).map_err(|e| ClientError::Unreadable(e.to_string()))?;
        self.send_raw(Message::text(text)).await
    }

    /// Sends any websocket message as is (tests send malformed ones).
    pub async fn send_raw(&mut self, message: Message) -> Result<(), ClientError> {
        self.ws
            .send(message)
            .await
            .map_err(|e| ClientError::Broken(e.to_string()))
    }

    /// The next frame from the daemon, backlog first.
    pub async fn next_frame(&mut self) -> Result<ServerFrame, ClientError> {
        match self.backlog.pop_front() {
            Some(frame) => Ok(frame),
            None => self.read().await,
        }
    }

    async fn read(&mut self) -> Result<ServerFrame, ClientError> {
        let text = self.next_text().await?;
        serde_json::from_str(&text).map_err(|e| ClientError::Unreadable(format!("{e}: {text}")))
    }

    /// The next text frame as sent, unparsed (the backlog is not consulted).
    pub async fn next_text(&mut self) -> Result<String, ClientError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(ClientError::Refused(reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(ClientError::Broken(e.to_string())),
                None => return Err(ClientError::Broken("closed".to_owned())),
            }
        }
    }

    /// Sends a request and waits for its response; other frames are kept.
    /// A daemon that does not answer within [`REQUEST_WITHIN`] is an error.
    pub async fn call(&mut self, call: Call) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&ClientFrame::Request { id, call }).await?;
        match tokio::time::timeout(REQUEST_WITHIN, self.response_to(id)).await {
            Ok(answer) => answer,
            Err(_) => Err(ClientError::Broken(format!(
                "catteryd did not answer request {id} within {}s",
                REQUEST_WITHIN.as_secs()
            ))),
        }
    }

    async fn response_to(&mut self, id: u64) -> Result<Reply, ClientError> {
        loop {
            match self.read().await? {
                ServerFrame::Response {
                    id: got,
                    result,
                    error,
                } if got == id => {
                    return match (result, error) {
                        (_, Some(error)) => Err(ClientError::Daemon(error)),
                        (Some(result), None) => Ok(result),
                        (None, None) => Ok(Reply::Done),
                    };
                }
                other => self.backlog.push_back(other),
            }
        }
    }

    /// Like [`Client::call`], for a call whose answer has a known shape.
    pub async fn call_as<T: FromReply>(&mut self, call: Call) -> Result<T, ClientError> {
        let reply = self.call(call).await?;
        T::from_reply(reply).map_err(|other| {
            ClientError::Unreadable(format!(
                "the daemon answered with {} where {} was expected",
                other.name(),
                std::any::type_name::<T>()
            ))
        })
    }

    pub async fn subscribe(&mut self, since_seq: Option<u64>) -> Result<(), ClientError> {
        self.send(&ClientFrame::Subscribe { since_seq }).await
    }
}

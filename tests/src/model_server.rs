//! A scripted stand-in for the vendors' model APIs: it speaks Anthropic
//! Messages and, for requests to `/v1/responses`, OpenAI Responses
//! (streaming SSE, and errors in each vendor's shape), answers each request
//! with the next reply of its script, and records what it was sent. It stands in for the
//! vendor only; everything between it and the user is real.

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// The figures a scripted answer reports, as the API would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A streamed message with `text`, ending for `stop_reason`.
    Text {
        model: String,
        text: String,
        usage: Usage,
        stop_reason: String,
        /// Sends `message_start`, then waits for this before the rest, so
        /// a test can see the stream pass through before it ends.
        hold: Option<Arc<Notify>>,
    },
    /// A streamed call of tool `name` with `input`, ending for `tool_use`.
    ToolUse {
        model: String,
        name: String,
        input: serde_json::Value,
        usage: Usage,
    },
    /// An API error with this status, type and message.
    Error {
        status: u16,
        kind: String,
        message: String,
    },
}

/// What the server was sent.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    /// When the request arrived.
    pub at: std::time::Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
}

pub struct ModelServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    scheme: &'static str,
    ca_pem: Option<String>,
}

async fn serve_connection<S>(stream: S, state: Arc<Mutex<State>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, std::convert::Infallible>(answer(&state, request).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

impl ModelServer {
    /// Serves `script` on a free loopback port.
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::serve(script, None).await
    }

    /// Serves `script` over TLS with a fresh self-signed certificate for
    /// 127.0.0.1; [`ModelServer::ca_pem`] is what a client must trust.
    pub async fn start_tls(script: Vec<Reply>) -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let mut server = Self::serve(script, Some(acceptor)).await;
        server.ca_pem = Some(certified.cert.pem());
        server
    }

    async fn serve(script: Vec<Reply>, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            seen: Vec::new(),
        }));
        let serving = Arc::clone(&state);
        let scheme = if tls.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                // As a vendor's server does: each event goes out as it is made.
                stream.set_nodelay(true).unwrap();
                let state = Arc::clone(&serving);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            // A client that does not trust the certificate hangs up.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_connection(stream, state).await;
                            }
                        }
                        None => serve_connection(stream, state).await,
                    }
                });
            }
        });
        Self {
            addr,
            state,
            scheme,
            ca_pem: None,
        }
    }

    /// The certificate to trust for a TLS server, as PEM.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

async fn answer(
    state: &Mutex<State>,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Body> {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let openai = path.starts_with("/v1/responses");
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let reply = {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen {
            path,
            headers,
            body: serde_json::from_slice(&body).unwrap_or_default(),
            at: std::time::Instant::now(),
        });
        state.script.pop_front()
    };
    match reply {
        Some(Reply::Text {
            model,
            text,
            usage,
            stop_reason,
            hold,
        }) if openai => stream(responses_text(&model, &text, usage, &stop_reason), hold),
        Some(Reply::Text {
            model,
            text,
            usage,
            stop_reason,
            hold,
        }) => stream(sse_frames(&model, &text, usage, &stop_reason), hold),
        Some(Reply::ToolUse {
            model,
            name,
            input,
            usage,
        }) if openai => stream(responses_call(&model, &name, &input, usage), None),
        Some(Reply::ToolUse {
            model,
            name,
            input,
            usage,
        }) => stream(tool_frames(&model, &name, &input, usage), None),
        Some(Reply::Error {
            status,
            kind,
            message,
        }) => {
            let json = match openai {
                true => {
                    serde_json::json!({"error": {"type": kind, "message": message, "code": null}})
                }
                false => {
                    serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
                }
            };
            hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(Bytes::from(json.to_string())).boxed())
                .unwrap()
        }
        None => hyper::Response::builder()
            .status(500)
            .body(http_body_util::Full::new(Bytes::from("the script ran out")).boxed())
            .unwrap(),
    }
}

/// The SSE frames of a streamed text answer, as the Anthropic API sends them.
pub fn sse_frames(model: &str, text: &str, usage: Usage, stop_reason: &str) -> Vec<String> {
    let frame = |event: &str, data: serde_json::Value| format!("event: {event}\ndata: {data}\n\n");
    vec![
        frame(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null,
                "usage": {"input_tokens": usage.input, "output_tokens": 1, "cache_read_input_tokens": usage.cache_read, "cache_creation_input_tokens": usage.cache_write}}}),
        ),
        frame("ping", serde_json::json!({"type": "ping"})),
        frame(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        frame(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        frame(
            "content_block_stop",
            serde_json::json!({"type": "content_block_stop", "index": 0}),
        ),
        frame(
            "message_delta",
            serde_json::json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": usage.output}}),
        ),
        frame("message_stop", serde_json::json!({"type": "message_stop"})),
    ]
}

/// The SSE frames of a streamed tool call, its input split in two deltas
/// as the API may split it.
pub fn tool_frames(
    model: &str,
    name: &str,
    input: &serde_json::Value,
    usage: Usage,
) -> Vec<String> {
    let frame = |event: &str, data: serde_json::Value| format!("event: {event}\ndata: {data}\n\n");
    let json = input.to_string();
    let (first, second) = json.split_at(json.len() / 2);
    let delta = |part: &str| {
        frame(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}),
        )
    };
    vec![
        frame(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_t", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null,
                "usage": {"input_tokens": usage.input, "output_tokens": 1, "cache_read_input_tokens": usage.cache_read, "cache_creation_input_tokens": usage.cache_write}}}),
        ),
        frame(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}}),
        ),
        delta(first),
        delta(second),
        frame(
            "content_block_stop",
            serde_json::json!({"type": "content_block_stop", "index": 0}),
        ),
        frame(
            "message_delta",
            serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": usage.output}}),
        ),
        frame("message_stop", serde_json::json!({"type": "message_stop"})),
    ]
}

/// One OpenAI Responses SSE event: its type named twice, as the API does.
fn responses_event(data: serde_json::Value) -> String {
    format!(
        "event: {}\ndata: {data}\n\n",
        data["type"].as_str().unwrap_or("")
    )
}

/// The `response.completed` (or `.incomplete`) event for `usage`; OpenAI's
/// input count includes the cached tokens.
fn responses_end(
    model: &str,
    output: serde_json::Value,
    usage: Usage,
    stop_reason: &str,
) -> String {
    let truncated = stop_reason == "max_tokens";
    let (kind, status) = match truncated {
        true => ("response.incomplete", "incomplete"),
        false => ("response.completed", "completed"),
    };
    let details = match truncated {
        true => serde_json::json!({"reason": "max_output_tokens"}),
        false => serde_json::Value::Null,
    };
    let input = usage.input + usage.cache_read;
    responses_event(serde_json::json!({"type": kind, "response": {
        "id": "resp_1", "object": "response", "status": status, "model": model,
        "incomplete_details": details, "output": [output],
        "usage": {"input_tokens": input, "input_tokens_details": {"cached_tokens": usage.cache_read},
            "output_tokens": usage.output, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + usage.output}}}))
}

fn responses_start(model: &str) -> String {
    responses_event(serde_json::json!({"type": "response.created", "response": {
        "id": "resp_1", "object": "response", "status": "in_progress", "model": model, "output": []}}))
}

/// The Responses SSE events of a streamed text answer.
pub fn responses_text(model: &str, text: &str, usage: Usage, stop_reason: &str) -> Vec<String> {
    let message = serde_json::json!({"type": "message", "id": "msg_1", "role": "assistant",
        "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]});
    vec![
        responses_start(model),
        responses_event(
            serde_json::json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}}),
        ),
        responses_event(
            serde_json::json!({"type": "response.content_part.added", "item_id": "msg_1",
            "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
        responses_event(
            serde_json::json!({"type": "response.output_text.delta", "item_id": "msg_1",
            "output_index": 0, "content_index": 0, "delta": text}),
        ),
        responses_event(
            serde_json::json!({"type": "response.output_text.done", "item_id": "msg_1",
            "output_index": 0, "content_index": 0, "text": text}),
        ),
        responses_event(
            serde_json::json!({"type": "response.output_item.done", "output_index": 0, "item": message}),
        ),
        responses_end(model, message, usage, stop_reason),
    ]
}

/// The Responses SSE events of a streamed function call (`exec_command`
/// for Codex), its arguments a JSON string.
pub fn responses_call(
    model: &str,
    name: &str,
    input: &serde_json::Value,
    usage: Usage,
) -> Vec<String> {
    let arguments = input.to_string();
    let call = serde_json::json!({"type": "function_call", "id": "fc_1", "call_id": "call_1",
        "name": name, "arguments": arguments, "status": "completed"});
    vec![
        responses_start(model),
        responses_event(
            serde_json::json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name, "arguments": "", "status": "in_progress"}}),
        ),
        responses_event(
            serde_json::json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1",
            "output_index": 0, "delta": arguments}),
        ),
        responses_event(
            serde_json::json!({"type": "response.function_call_arguments.done", "item_id": "fc_1",
            "output_index": 0, "arguments": arguments}),
        ),
        responses_event(
            serde_json::json!({"type": "response.output_item.done", "output_index": 0, "item": call}),
        ),
        responses_end(model, call, usage, "end_turn"),
    ]
}

fn stream(frames: Vec<String>, hold: Option<Arc<Notify>>) -> hyper::Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(16);
    tokio::spawn(async move {
        for (i, frame) in frames.into_iter().enumerate() {
            if i == 1
                && let Some(hold) = &hold
            {
                hold.notified().await;
            }
            if tx.send(Ok(Frame::data(Bytes::from(frame)))).await.is_err() {
                return;
            }
        }
    });
    let body = StreamBody::new(tokio_stream_from(rx));
    hyper::Response::builder()
        .header("content-type", "text/event-stream")
        .header("request-id", "req_scripted")
        .body(BodyExt::boxed(body))
        .unwrap()
}

/// A receiver as a stream of frames.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

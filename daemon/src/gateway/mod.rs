//! The model gateway: a loopback proxy for the Anthropic Messages API (at
//! its root) and the OpenAI Responses and Chat Completions APIs (under
//! `/openai`) that holds the real keys and meters every call exactly. Each job is admitted
//! with a token of its own, which its agent sends as its API key; the
//! gateway swaps it for the real key, passes the answer through chunk by
//! chunk, and reads the call's figures from the API's own response
//! (`meter.rs`). The agent never sees the key.

mod keep;
mod meter;
pub mod relay;
pub mod secrets;
pub mod tls;

pub use keep::Keeper;

use bytes::Bytes;
use cattery_protocol::agent::LlmCall;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use meter::Meter;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::mpsc;

/// The biggest request body the gateway reads.
const REQUEST_LIMIT: usize = 32 * 1024 * 1024;

type Answer = Response<BoxBody<Bytes, hyper::Error>>;

/// Where one vendor's calls go and with which key.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http://host:port` of the vendor's API or a stand-in for it.
    pub base: String,
    /// The real key; `None` refuses every call to this vendor.
    pub api_key: Option<String>,
}

/// Each vendor's upstream.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub anthropic: Upstream,
    pub openai: Upstream,
}

/// The vendor a request is for, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vendor {
    Anthropic,
    OpenAi,
}

/// Where OpenAI's APIs sit on the gateway.
pub const OPENAI_PREFIX: &str = "/openai";

impl Vendor {
    fn of(path: &str) -> Self {
        match path.starts_with(&format!("{OPENAI_PREFIX}/")) {
            true => Vendor::OpenAi,
            false => Vendor::Anthropic,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Vendor::Anthropic => "Anthropic",
            Vendor::OpenAi => "OpenAI",
        }
    }

    /// The settings that configure it, for error messages.
    fn settings(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Vendor::Anthropic => ("anthropic_url", "ANTHROPIC_API_KEY", "anthropic"),
            Vendor::OpenAi => ("openai_url", "OPENAI_API_KEY", "openai"),
        }
    }
}

/// Why a call must not go out now (a spent budget), if so.
pub type Refuse = Arc<dyn Fn() -> Option<String> + Send + Sync>;

struct Admitted {
    job_id: String,
    calls: mpsc::UnboundedSender<LlmCall>,
    /// Set when a call was refused over budget.
    refused: Arc<std::sync::atomic::AtomicBool>,
}

/// A job's pass through the gateway.
pub struct Admission {
    /// What its agent sends as its API key.
    pub token: String,
    /// Each call it makes, metered, as the call ends.
    pub calls: mpsc::UnboundedReceiver<LlmCall>,
    /// Whether the gateway refused one of its calls over budget.
    pub refused_over_budget: Arc<std::sync::atomic::AtomicBool>,
}

struct Shared {
    upstreams: Upstreams,
    refuse: Refuse,
    jobs: Mutex<HashMap<String, Admitted>>,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A running gateway on 127.0.0.1, and on the agents' container network
/// once it is made.
#[derive(Clone)]
pub struct Gateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Where containers on the gateway network reach it, or why they
    /// cannot yet. An address, once had, is kept; a reason may be replaced
    /// by an address when the network is made later.
    for_containers: Arc<std::sync::RwLock<Option<Result<SocketAddr, String>>>>,
    /// Set once the gateway also listens on its unix socket (the relay's way in).
    socket: Arc<std::sync::OnceLock<std::path::PathBuf>>,
    keeper: Arc<Keeper>,
}

impl Gateway {
    /// Listens on a free loopback port, with tokens for this process only,
    /// and serves until the runtime ends.
    /// Needs a Tokio runtime.
    pub fn start(
        upstreams: Upstreams,
        tls: rustls::ClientConfig,
        refuse: Refuse,
    ) -> std::io::Result<Self> {
        Self::start_kept(upstreams, tls, refuse, Keeper::ephemeral())
    }

    /// As [`Gateway::start`], on the ports `keeper` kept from the last
    /// start and with the same job tokens.
    pub fn start_kept(
        upstreams: Upstreams,
        tls: rustls::ClientConfig,
        refuse: Refuse,
        keeper: Keeper,
    ) -> std::io::Result<Self> {
        let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
        let listener = keeper.bind(loopback)?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstreams,
            refuse,
            jobs: Mutex::new(HashMap::new()),
            client: Client::builder(TokioExecutor::new()).build(streaming_connector(tls)),
        });
        tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(Self {
            addr,
            shared,
            for_containers: Arc::default(),
            socket: Arc::default(),
            keeper: Arc::new(keeper),
        })
    }

    /// Also listens on the unix socket at `path`, once: the relay on the
    /// agents' container network forwards to it. A socket left by a daemon
    /// that died is replaced. Needs a Tokio runtime.
    pub fn listen_on_socket(&self, path: &std::path::Path) -> std::io::Result<()> {
        if self.socket.get().is_some() {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = tokio::net::UnixListener::bind(path)?;
        let _ = self.socket.set(path.to_owned());
        tokio::spawn(serve_socket(listener, Arc::clone(&self.shared)));
        Ok(())
    }

    /// Records where containers on the gateway network reach the gateway
    /// (the relay's address), or why they cannot. An address, once had, stays.
    pub fn reach_containers(&self, route: Result<SocketAddr, String>) {
        let mut for_containers = self
            .for_containers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if !matches!(*for_containers, Some(Ok(_))) {
            *for_containers = Some(route);
        }
    }

    /// The base URL a container on the gateway network is pointed at, or
    /// why there is none.
    pub fn container_url(&self) -> Result<String, String> {
        let for_containers = self
            .for_containers
            .read()
            .unwrap_or_else(|p| p.into_inner());
        match &*for_containers {
            Some(Ok(addr)) => Ok(format!("http://{addr}")),
            Some(Err(why)) => Err(why.clone()),
            None => Err("the gateway network was not made: this executor has none".to_owned()),
        }
    }

    /// The base URL an agent is pointed at (`ANTHROPIC_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment an admitted job's agent gets: the gateway as each
    /// vendor's API (`base` as the agent reaches it), and its token as
    /// each vendor's key.
    pub fn agent_env(&self, base: &str, token: &str) -> Vec<(String, String)> {
        [
            ("ANTHROPIC_BASE_URL", base.to_owned()),
            ("ANTHROPIC_API_KEY", token.to_owned()),
            ("OPENAI_BASE_URL", format!("{base}{OPENAI_PREFIX}/v1")),
            ("OPENAI_API_KEY", token.to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec()
    }

    /// Admits a job: the token its agent sends as its API key, and where
    /// each of its calls is reported as it ends.
    pub fn admit(&self, job_id: &str) -> Admission {
        // Derived, not drawn: a job re-attached after a restart still
        // holds a good token.
        let token = self.keeper.token_for(job_id);
        let (calls, received) = mpsc::unbounded_channel();
        let refused = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let admitted = Admitted {
            job_id: job_id.to_owned(),
            calls,
            refused: Arc::clone(&refused),
        };
        self.jobs().insert(token.clone(), admitted);
        Admission {
            token,
            calls: received,
            refused_over_budget: refused,
        }
    }

    /// The job is over: its token is refused from now on.
    pub fn dismiss(&self, token: &str) {
        self.jobs().remove(token);
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Admitted>> {
        self.shared.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connector for http and https upstreams that sends each streamed chunk
/// at once: Nagle's algorithm would hold small SSE frames back for the
/// peer's delayed ACK (~40 ms).
fn streaming_connector(tls: rustls::ClientConfig) -> hyper_rustls::HttpsConnector<HttpConnector> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector)
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // No urandom: still unique per process and time.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = (now ^ u128::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Frames go out as they come, not held for an ACK.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
    }
}

/// The relay's connections, one per agent connection.
async fn serve_socket(listener: tokio::net::UnixListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
    }
}

async fn serve_connection<S>(stream: S, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, std::convert::Infallible>(handle(&shared, request).await) }
    });
    // A client that shuts its write side after the request (as `nc` does)
    // still gets the answer.
    let served = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!("gateway connection ended: {e}");
    }
}

/// An error the way the vendor's API words one, so agents show it as is.
fn api_error(vendor: Vendor, status: StatusCode, kind: &str, message: &str) -> Answer {
    let body = match vendor {
        Vendor::Anthropic => {
            serde_json::json!({ "type": "error", "error": { "type": kind, "message": message } })
        }
        Vendor::OpenAi => {
            serde_json::json!({ "error": { "type": kind, "message": message, "code": null } })
        }
    };
    let mut answer = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    answer
}

/// The job token an agent sent, as `x-api-key` or a bearer token.
fn token_of(request: &Request<Incoming>) -> Option<String> {
    let headers = request.headers();
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let bearer = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    key.or(bearer).map(str::to_owned)
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Answer {
    let vendor = Vendor::of(request.uri().path());
    let api_error = |status, kind, message: &str| api_error(vendor, status, kind, message);
    let calls = token_of(&request).and_then(|token| {
        let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(&token)
            .map(|a| (a.job_id.clone(), a.calls.clone(), Arc::clone(&a.refused)))
    });
    let Some((job_id, calls, refused)) = calls else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "cattery gateway: this key is not a running cattery job's; agents reach the model only through a job",
        );
    };
    if let Some(why) = (shared.refuse)() {
        refused.store(true, std::sync::atomic::Ordering::SeqCst);
        return api_error(
            StatusCode::FORBIDDEN,
            "permission_error",
            &format!("cattery: {why}"),
        );
    }
    let upstream = match vendor {
        Vendor::Anthropic => &shared.upstreams.anthropic,
        Vendor::OpenAi => &shared.upstreams.openai,
    };
    let (url_setting, key_variable, secrets_table) = vendor.settings();
    let Some(key) = upstream.api_key.clone() else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            &format!(
                "cattery gateway: no {} API key is set; set {key_variable} for catteryd, or api_key under [{secrets_table}] in config/secrets.toml (mode 0600)",
                vendor.name()
            ),
        );
    };
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, REQUEST_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("cattery gateway: cannot read the request: {e}"),
            );
        }
    };
    let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = match vendor {
        Vendor::OpenAi => path.strip_prefix(OPENAI_PREFIX).unwrap_or(path),
        Vendor::Anthropic => path,
    };
    let wire = meter::Wire::of_path(vendor == Vendor::OpenAi, path);
    let uri = format!("{}{path}", upstream.base.trim_end_matches('/'));
    let mut request_to = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        let forwarded = !matches!(
            name.as_str(),
            "host" | "x-api-key" | "authorization" | "content-length"
        );
        if forwarded {
            request_to = request_to.header(name, value);
        }
    }
    let with_key = match vendor {
        Vendor::Anthropic => request_to.header("x-api-key", key),
        Vendor::OpenAi => request_to.header(hyper::header::AUTHORIZATION, format!("Bearer {key}")),
    };
    let forwarded = match with_key.body(Full::new(body)) {
        Ok(request) => request,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("cattery gateway: cannot forward the request: {e}"),
            );
        }
    };
    let started = Instant::now();
    let answered = match shared.client.request(forwarded).await {
        Ok(answered) => answered,
        Err(e) => {
            tracing::warn!(job = job_id, "the model API did not answer: {e}");
            // hyper's error says "client error (Connect)"; its source says why.
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            let hint = match upstream.base.starts_with("https:") {
                true => {
                    "; for a private CA, name its certificates in upstream_ca_file in config.toml"
                }
                false => "",
            };
            return api_error(
                StatusCode::BAD_GATEWAY,
                "api_error",
                &format!(
                    "cattery gateway: the model API at {} ({url_setting}) did not answer: {e}{cause}{hint}",
                    upstream.base
                ),
            );
        }
    };
    let streaming = answered
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let (parts, body) = answered.into_parts();
    let metered = Metered {
        inner: body,
        meter: Some(Meter::new(&asked, streaming, wire)),
        started,
        first_data: None,
        calls,
    };
    Response::from_parts(parts, metered.boxed())
}

/// The answer's body, passed through frame by frame and metered as it
/// goes; the call is reported when the body ends or is dropped.
struct Metered {
    inner: Incoming,
    meter: Option<Meter>,
    started: Instant,
    /// When the answer's first data frame came, after `started`.
    first_data: Option<std::time::Duration>,
    calls: mpsc::UnboundedSender<LlmCall>,
}

impl Metered {
    fn report(&mut self) {
        if let Some(meter) = self.meter.take() {
            let upstream_ms = self.started.elapsed().as_millis() as u64;
            let first_ms = self
                .first_data
                .map_or(upstream_ms, |d| d.as_millis() as u64);
            let _ = self.calls.send(meter.finish(upstream_ms, first_ms));
        }
    }
}

impl Body for Metered {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if self.first_data.is_none() && !data.is_empty() {
                        self.first_data = Some(self.started.elapsed());
                    }
                    if let Some(meter) = self.meter.as_mut() {
                        meter.feed(data);
                    }
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.report(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.report();
    }
}

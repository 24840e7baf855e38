//! Time the model gateway adds to a streamed call: the same scripted
//! Anthropic SSE answer fetched straight from the local server and through
//! the gateway, interleaved call by call so both see the same machine,
//! first byte and whole call. `BENCH_CALLS` (default 2,000 per path).
//! Method and figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use bytes::Bytes;
use cattery_daemon::gateway::{Gateway, Upstream, Upstreams};
use cattery_tests::model_server::{ModelServer, Reply, Usage};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "sk-ant-bench";

fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(calls));
}

async fn bench(calls: usize) {
    let reply = Reply::Text {
        model: "claude-mock".into(),
        text: "A short answer of a few words, streamed as the API streams it.".into(),
        usage: Usage {
            input: 1_200,
            output: 40,
            cache_read: 800,
            cache_write: 0,
        },
        stop_reason: "end_turn".into(),
        hold: None,
    };
    // Warm-up calls, then both paths' calls.
    let server = ModelServer::start(vec![reply; 2 * calls + 200]).await;
    let upstream = |key: &str| Upstream {
        base: server.url(),
        api_key: Some(key.into()),
    };
    let gateway = Gateway::start(
        Upstreams {
            anthropic: upstream(KEY),
            openai: upstream(KEY),
        },
        cattery_daemon::gateway::tls::client_config(None).unwrap(),
        Arc::new(|| None),
    )
    .unwrap();
    let mut admission = gateway.admit("j_bench");
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let direct_url = format!("{}/v1/messages", server.url());
    let through_url = format!("{}/v1/messages", gateway.base_url());
    for _ in 0..100 {
        call(&client, &direct_url, KEY).await;
        call(&client, &through_url, &admission.token).await;
    }
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..calls {
        direct.push(call(&client, &direct_url, KEY).await);
        through.push(call(&client, &through_url, &admission.token).await);
    }
    // Every call through the gateway was metered.
    let mut metered = 0;
    while admission.calls.try_recv().is_ok() {
        metered += 1;
    }
    println!("{calls} streamed calls per path, interleaved; {metered} metered by the gateway");
    let first = |t: &[(Duration, Duration)]| t.iter().map(|p| p.0).collect::<Vec<_>>();
    let whole = |t: &[(Duration, Duration)]| t.iter().map(|p| p.1).collect::<Vec<_>>();
    compare("first byte", first(&direct), first(&through));
    compare("whole call", whole(&direct), whole(&through));
}

/// One streamed call: time to its first body frame, and to its end.
async fn call(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    key: &str,
) -> (Duration, Duration) {
    let body = serde_json::json!({"model": "claude-mock", "max_tokens": 1024, "stream": true,
        "messages": [{"role": "user", "content": "hello"}]});
    let request = hyper::Request::post(url)
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let started = Instant::now();
    let answer = client.request(request).await.unwrap();
    assert_eq!(answer.status(), 200);
    let mut body = answer.into_body();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if first.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
            first = Some(started.elapsed());
        }
    }
    let whole = started.elapsed();
    (first.unwrap_or(whole), whole)
}

fn compare(what: &str, mut direct: Vec<Duration>, mut through: Vec<Duration>) {
    direct.sort();
    through.sort();
    let at = |t: &[Duration], q: f64| t[((t.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        let (d, g) = (at(&direct, q), at(&through, q));
        println!(
            "{what:<11} {label}: direct {d:>7.3} ms  through the gateway {g:>7.3} ms  added {:>7.3} ms",
            g - d
        );
    }
}

//! The model gateway between agents and the model API: it swaps a job's
//! token for the real key, passes the stream through as it comes, meters
//! each call exactly from the API's own figures, and refuses strangers and
//! calls over budget. The API is the scripted stand-in; the gateway, its
//! sockets and HTTP are real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use cattery_daemon::gateway::{Gateway, Upstream, Upstreams};
use cattery_protocol::agent::{FinishReason, LlmCall};
use cattery_tests::files_containing;
use cattery_tests::model_server::{ModelServer, Reply, Usage, responses_text, sse_frames};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

const KEY: &str = "sk-ant-api03-REAL-KEY-never-shown-to-agents";
const OPENAI_KEY: &str = "sk-proj-REAL-OPENAI-KEY-never-shown-to-agents";

fn text(text: &str, usage: Usage, stop: &str, hold: Option<Arc<Notify>>) -> Reply {
    Reply::Text {
        model: "claude-mock".into(),
        text: text.into(),
        usage,
        stop_reason: stop.into(),
        hold,
    }
}

fn ask(token: &str, max_tokens: u64) -> hyper::Request<Full<Bytes>> {
    let body = serde_json::json!({
        "model": "claude-mock",
        "max_tokens": max_tokens,
        "stream": true,
        "messages": [{"role": "user", "content": "hello"}],
    });
    hyper::Request::post("/v1/messages?beta=true")
        .header("x-api-key", token)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn send(gateway: &Gateway, mut request: hyper::Request<Full<Bytes>>) -> (u16, String) {
    let uri = format!("{}{}", gateway.base_url(), request.uri());
    *request.uri_mut() = uri.parse().unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let answer = client.request(request).await.unwrap();
    let status = answer.status().as_u16();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn gateway(server: &ModelServer, over_budget: Arc<AtomicBool>) -> Gateway {
    let upstream = |key: &str| Upstream {
        base: server.url(),
        api_key: Some(key.into()),
    };
    let upstream = Upstreams {
        anthropic: upstream(KEY),
        openai: upstream(OPENAI_KEY),
    };
    let refuse = Arc::new(move || {
        over_budget
            .load(Ordering::SeqCst)
            .then(|| "the monthly budget of 10.00 USD is spent; raise [spend] monthly_budget, then resume".to_owned())
    });
    Gateway::start(upstream, client_tls(None), refuse).unwrap()
}

fn client_tls(ca: Option<&std::path::Path>) -> rustls::ClientConfig {
    cattery_daemon::gateway::tls::client_config(ca).unwrap()
}

fn tls_gateway(server: &ModelServer, ca: Option<&std::path::Path>) -> Gateway {
    let upstream = Upstream {
        base: server.url(),
        api_key: Some(KEY.into()),
    };
    let upstreams = Upstreams {
        anthropic: upstream.clone(),
        openai: upstream,
    };
    Gateway::start(upstreams, client_tls(ca), Arc::new(|| None)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_is_reached_over_tls_when_its_ca_is_trusted_and_refused_with_the_fix_when_not()
 {
    let usage = Usage {
        input: 50,
        output: 5,
        cache_read: 0,
        cache_write: 0,
    };
    let server = ModelServer::start_tls(vec![text("Over TLS.", usage, "end_turn", None)]).await;
    assert!(server.url().starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("company-ca.pem");
    std::fs::write(&ca, server.ca_pem().unwrap()).unwrap();

    let untrusting = tls_gateway(&server, None);
    let token = untrusting.admit("j_1").token;
    let (status, body) = send(&untrusting, ask(&token, 10)).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("upstream_ca_file"),
        "the fix is named: {body}"
    );
    assert!(
        body.to_lowercase().contains("certificate"),
        "and the cause: {body}"
    );
    assert!(
        server.seen().is_empty(),
        "no request went over an untrusted connection"
    );

    let trusting = tls_gateway(&server, Some(&ca));
    let mut admission = trusting.admit("j_2");
    let (status, body) = send(&trusting, ask(&admission.token, 10)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Over TLS."));
    let call = admission.calls.recv().await.unwrap();
    assert_eq!((call.prompt_tokens, call.completion_tokens), (50, 5));
    assert_eq!(server.seen()[0].header("x-api-key"), Some(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_responses_call_goes_to_openai_with_its_key_metered_with_cached_input_apart() {
    let usage = Usage {
        input: 150,
        output: 60,
        cache_read: 900,
        cache_write: 0,
    };
    let truncated = Usage {
        input: 10,
        output: 256,
        cache_read: 0,
        cache_write: 0,
    };
    let server = ModelServer::start(vec![
        text("Done.", usage, "end_turn", None),
        text("and so", truncated, "max_tokens", None),
    ])
    .await;
    let gateway = gateway(&server, Arc::default()).await;
    let admission = gateway.admit("j_1");
    let (token, mut calls) = (admission.token, admission.calls);
    let ask = |max: u64| {
        let body = serde_json::json!({"model": "gpt-mock", "stream": true, "max_output_tokens": max,
            "input": [{"role": "user", "content": "hello"}]});
        hyper::Request::post("/openai/v1/responses")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    let (status, body) = send(&gateway, ask(4096)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        responses_text("claude-mock", "Done.", usage, "end_turn").concat(),
        "byte for byte"
    );
    let call = calls.recv().await.unwrap();
    assert_eq!(
        (
            call.prompt_tokens,
            call.cache_read_tokens,
            call.completion_tokens
        ),
        (150, 900, 60),
        "uncached input apart from the cached: {call:?}"
    );
    assert_eq!(
        (call.max_output_tokens, call.finish_reason),
        (4096, FinishReason::Stop)
    );
    send(&gateway, ask(256)).await;
    assert_eq!(
        calls.recv().await.unwrap().finish_reason,
        FinishReason::Length
    );

    let seen = server.seen();
    assert_eq!(
        seen[0].path, "/v1/responses",
        "the gateway's prefix is gone"
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str()),
        "OpenAI's own key, as a bearer token"
    );
    assert_eq!(seen[0].header("x-api-key"), None);

    // A stranger on the OpenAI side is refused in OpenAI's words.
    let (status, body) = send(
        &gateway,
        hyper::Request::post("/openai/v1/responses")
            .header("authorization", "Bearer sk-stolen")
            .body(Full::new(Bytes::from("{}")))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a running cattery job"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_is_metered_exactly_from_the_apis_own_figures_and_the_stream_passes_through_unchanged()
 {
    let first = Usage {
        input: 200,
        output: 84,
        cache_read: 40,
        cache_write: 100,
    };
    let second = Usage {
        input: 310,
        output: 32_000,
        cache_read: 0,
        cache_write: 7,
    };
    let server = ModelServer::start(vec![
        text("Done.", first, "end_turn", None),
        text("and then", second, "max_tokens", None),
    ])
    .await;
    let gateway = gateway(&server, Arc::default()).await;
    let admission = gateway.admit("j_1");
    let (token, mut calls) = (admission.token, admission.calls);

    let (status, body) = send(&gateway, ask(&token, 32_000)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        sse_frames("claude-mock", "Done.", first, "end_turn").concat(),
        "byte for byte"
    );
    let call: LlmCall = calls.recv().await.unwrap();
    assert_eq!(
        (
            call.model.as_str(),
            call.prompt_tokens,
            call.completion_tokens
        ),
        ("claude-mock", 200, 84)
    );
    assert_eq!(
        (call.cache_read_tokens, call.cache_write_tokens),
        (40, 100),
        "cache reads and writes apart"
    );
    assert_eq!(
        (call.max_output_tokens, call.finish_reason),
        (32_000, FinishReason::Stop)
    );

    send(&gateway, ask(&token, 32_000)).await;
    let truncated = calls.recv().await.unwrap();
    assert_eq!(
        truncated.finish_reason,
        FinishReason::Length,
        "max_tokens counts as truncated"
    );
    assert_eq!(
        (
            truncated.prompt_tokens,
            truncated.completion_tokens,
            truncated.cache_write_tokens
        ),
        (310, 32_000, 7)
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/v1/messages?beta=true");
    assert_eq!(
        seen[0].header("x-api-key"),
        Some(KEY),
        "the gateway sends the real key"
    );
    assert_eq!(
        seen[0].header("anthropic-version"),
        Some("2023-06-01"),
        "API headers pass unchanged"
    );
    assert!(
        seen.iter()
            .all(|s| s.headers.iter().all(|(_, v)| !v.contains(&token))),
        "the job's token never reaches the API"
    );
    assert_eq!(seen[0].body["messages"][0]["content"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_streams_through_as_it_comes_not_once_it_ends() {
    let hold = Arc::new(Notify::new());
    let usage = Usage {
        input: 1,
        output: 2,
        cache_read: 0,
        cache_write: 0,
    };
    let server =
        ModelServer::start(vec![text("slow", usage, "end_turn", Some(hold.clone()))]).await;
    let gateway = gateway(&server, Arc::default()).await;
    let admission = gateway.admit("j_1");
    let token = admission.token;
    let mut request = ask(&token, 100);
    *request.uri_mut() = format!("{}/v1/messages", gateway.base_url())
        .parse()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let mut body = client.request(request).await.unwrap().into_body();
    // The server holds everything after message_start until told; a gateway
    // that buffered would never hand this frame over.
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the first event came through while the answer was still open")
        .unwrap()
        .unwrap();
    let first = first.into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("event: message_start"));
    hold.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&rest).contains("message_stop"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_a_dismissed_job_and_a_call_over_budget_are_refused_before_the_api_sees_them() {
    let usage = Usage {
        input: 1,
        output: 1,
        cache_read: 0,
        cache_write: 0,
    };
    let server = ModelServer::start(vec![text("ok", usage, "end_turn", None)]).await;
    let over = Arc::new(AtomicBool::new(false));
    let gateway = gateway(&server, over.clone()).await;

    let (status, body) = send(&gateway, ask("sk-ant-guessed", 10)).await;
    assert_eq!(status, 401);
    assert!(
        body.contains("authentication_error") && body.contains("not a running cattery job"),
        "{body}"
    );

    let admission = gateway.admit("j_1");
    let token = admission.token;
    over.store(true, Ordering::SeqCst);
    let (status, body) = send(&gateway, ask(&token, 10)).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("monthly budget") && body.contains("resume"),
        "{body}"
    );

    over.store(false, Ordering::SeqCst);
    gateway.dismiss(&token);
    let (status, _) = send(&gateway, ask(&token, 10)).await;
    assert_eq!(status, 401, "a finished job's token is refused");
    assert!(server.seen().is_empty(), "the API saw none of them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_error_reaches_the_agent_as_the_api_said_it() {
    let server = ModelServer::start(vec![Reply::Error {
        status: 401,
        kind: "authentication_error".into(),
        message: "invalid x-api-key".into(),
    }])
    .await;
    let gateway = gateway(&server, Arc::default()).await;
    let admission = gateway.admit("j_1");
    let token = admission.token;
    let (status, body) = send(&gateway, ask(&token, 10)).await;
    assert_eq!(status, 401);
    assert!(body.contains("invalid x-api-key"), "{body}");
}

#[test]
fn a_real_agent_calls_the_model_through_the_daemons_gateway_metered_exactly_and_never_holds_the_key()
 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let usage = Usage {
        input: 200,
        output: 84,
        cache_read: 40,
        cache_write: 100,
    };
    let server = runtime.block_on(ModelServer::start(vec![text(
        "Done.", usage, "end_turn", None,
    )]));
    let seen = tempfile::tempdir().unwrap();
    let agent = seen.path().join("agent.sh");
    let script = format!(
        r#"env > {dir}/env.txt
cp "$CATTERY_CONTEXT" {dir}/context.json
curl -sS -N "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" \
  -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
  -d '{{"model":"claude-mock","max_tokens":4096,"stream":true,"messages":[{{"role":"user","content":"hi"}}]}}' \
  > {dir}/answer.txt || exit 9
echo '{{"type":"result","output":"called"}}'
"#,
        dir = seen.path().display()
    );
    std::fs::write(&agent, script).unwrap();
    let agents = format!(
        "[agents.caller]\ncommand = [\"sh\", \"{}\"]\n",
        agent.display()
    );
    let config = format!(
        "executor = \"process\"\nport = 0\nanthropic_url = \"{}\"\n\n[prices.claude-mock]\nprompt_per_million = 3.0\ncompletion_per_million = 15.0\n",
        server.url()
    );
    let home = cattery_tests::CtlHome::with_config(&[
        ("agents.toml", &agents),
        ("config.toml", &config),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"caller\"\n",
        ),
    ]);
    home.set_anthropic_key(KEY);
    let run = home.start_task("call the model", "one");
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(
        done.status,
        cattery_protocol::RunStatus::Done,
        "{:?}",
        done.failure
    );

    let m = &done.steps[0].metrics;
    assert_eq!(
        (m.calls, m.prompt_tokens, m.completion_tokens),
        (1, 200, 84)
    );
    assert_eq!(
        (
            m.cache_read_tokens,
            m.cache_write_tokens,
            m.max_output_tokens
        ),
        (40, 100, 4096)
    );
    let cost = ((200.0 + 40.0 + 100.0) * 3.0 + 84.0 * 15.0) / 1e6;
    assert!((m.cost_estimate.unwrap() - cost).abs() < 1e-12, "{m:?}");
    assert_eq!(done.steps[0].model.as_deref(), Some("claude-mock"));
    let answer = std::fs::read_to_string(seen.path().join("answer.txt")).unwrap();
    assert!(
        answer.contains("message_stop"),
        "the agent got the whole stream: {answer}"
    );
    assert_eq!(server.seen()[0].header("x-api-key"), Some(KEY));

    let env = std::fs::read_to_string(seen.path().join("env.txt")).unwrap();
    assert!(
        env.contains("ANTHROPIC_API_KEY=cattery-job-"),
        "the agent holds a job token"
    );
    assert!(
        !env.contains(KEY),
        "the key is not in the agent's environment"
    );
    let context = std::fs::read_to_string(seen.path().join("context.json")).unwrap();
    assert!(!context.contains(KEY));
    let leaks = files_containing(&home.path().join("data"), KEY);
    assert!(leaks.is_empty(), "the key leaked into {leaks:?}");
    let transcripts = files_containing(&home.path().join("data/transcripts"), "llm_call");
    assert_eq!(
        transcripts.len(),
        1,
        "the grep covered the step's transcript"
    );
    // What events carry (runs, their steps and metrics) does not hold it either.
    let (_, runs, _) = home.cli(&["ctl", "runs"]);
    assert!(runs.contains("claude-mock") && !runs.contains(KEY));
    drop(runtime);
}

#[test]
fn a_step_whose_call_the_gateway_refuses_over_budget_pauses_its_run_and_finishes_once_resumed_with_room()
 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let costly = Usage {
        input: 1_000,
        output: 1_000,
        cache_read: 0,
        cache_write: 0,
    };
    let script = (0..3)
        .map(|_| text("ok", costly, "end_turn", None))
        .collect();
    let server = runtime.block_on(ModelServer::start(script));
    let seen = tempfile::tempdir().unwrap();
    let agent = seen.path().join("agent.sh");
    let call = r#"curl -sSf -N "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -d '{"model":"claude-mock","max_tokens":4096,"stream":true,"messages":[]}' > /dev/null || exit 22"#;
    std::fs::write(
        &agent,
        format!("{call}\n{call}\necho '{{\"type\":\"result\",\"output\":\"two calls\"}}'\n"),
    )
    .unwrap();
    let config = |budget: f64| {
        format!(
            "executor = \"process\"\nport = 0\nanthropic_url = \"{}\"\n\n[spend]\nmonthly_budget = {budget}\n\n[prices.claude-mock]\nprompt_per_million = 3.0\ncompletion_per_million = 15.0\n",
            server.url()
        )
    };
    let home = cattery_tests::CtlHome::with_config(&[
        (
            "agents.toml",
            &format!(
                "[agents.caller]\ncommand = [\"sh\", \"{}\"]\n",
                agent.display()
            ),
        ),
        ("config.toml", &config(0.01)),
        (
            "pipelines/one.toml",
            "name = \"One\"\n[[steps]]\nagent = \"caller\"\n",
        ),
    ]);
    home.set_anthropic_key(KEY);
    // The first call (0.018 USD) spends the 0.01 budget; the second is refused.
    let run = home.start_task("two calls", "one");
    let paused = home.wait_run(&run.id, "paused", |r| {
        r.status != cattery_protocol::RunStatus::Running
    });
    assert_eq!(
        paused.status,
        cattery_protocol::RunStatus::Paused,
        "{:?}",
        paused.failure
    );
    assert!(paused.failure.is_none(), "paused, not failed");
    assert_eq!(
        server.seen().len(),
        1,
        "the refused call never reached the API"
    );
    let cards: Vec<cattery_protocol::Notification> =
        serde_json::from_value(home.ctl(&["notifications"])).unwrap();
    assert!(
        cards
            .iter()
            .any(|c| c.kind == cattery_protocol::NotificationType::BudgetPaused)
    );

    assert_eq!(home.cli(&["daemon", "stop"]).0, 0);
    cattery_tests::write_config(home.path(), &[("config.toml", &config(10.0))]);
    home.ctl(&["resume-paused"]);
    let done = home.wait_run(&run.id, "done", |r| !r.status.is_live());
    assert_eq!(
        done.status,
        cattery_protocol::RunStatus::Done,
        "{:?}",
        done.failure
    );
    assert_eq!(done.steps[0].output.as_deref(), Some("two calls"));
    assert_eq!(server.seen().len(), 3, "the step ran again from its start");
    drop(runtime);
}

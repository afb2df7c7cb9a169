//! `flow run` against a real HTTP server in this process, with no internet:
//! the `openai` and `anthropic` providers, what they send, how the runtime
//! retries, times out and fails, how many requests run at once, and that the
//! API key never shows in any output or trace.
//!
//! The server (axum) runs on its own tokio runtime in a background thread, so
//! the test thread can block on the `flow` child process that talks to it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use crate::support::*;

/// The key the `flow` child gets in `FLOW_TEST_KEY`; it must never be printed.
const KEY: &str = "sk-test-SECRET-123";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
enum Answer {
    Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Reads the request, then never answers.
    Hang,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer::raw(status, &body.to_string())
    }

    fn raw(status: u16, body: &str) -> Answer {
        Answer::Reply {
            status,
            headers: vec![("content-type", "application/json".to_string())],
            body: body.to_string(),
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Answer {
        if let Answer::Reply { headers, .. } = &mut self {
            headers.push((name, value.to_string()));
        }
        self
    }
}

/// A chat completion whose one choice says `text`.
fn openai_text(text: &str) -> Answer {
    Answer::json(
        200,
        json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "test-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
        }),
    )
}

/// An Anthropic message whose one text block says `text`.
fn anthropic_text(text: &str) -> Answer {
    Answer::json(
        200,
        json!({
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": "test-model",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 7, "output_tokens": 3}
        }),
    )
}

fn api_error(status: u16, kind: &str, message: &str) -> Answer {
    Answer::json(
        status,
        json!({"error": {"message": message, "type": kind, "code": null}}),
    )
}

/// How the server behaves: a script of answers for the first requests, in
/// arrival order, then `default` for every other.
struct Config {
    script: Vec<Answer>,
    default: Answer,
    /// Hold each request until this many are waiting (or `deadline` passes),
    /// then release them together: overlap without depending on timing.
    hold: Option<(usize, Duration)>,
    /// Added to every answer, after any hold.
    delay: Duration,
}

impl Config {
    fn answer(default: Answer) -> Config {
        Config {
            script: Vec::new(),
            default,
            hold: None,
            delay: Duration::ZERO,
        }
    }

    fn then(script: Vec<Answer>, default: Answer) -> Config {
        Config {
            script,
            ..Config::answer(default)
        }
    }
}

struct Shared {
    script: Mutex<VecDeque<Answer>>,
    default: Answer,
    hold: Option<(usize, Duration)>,
    delay: Duration,
    waiting: Mutex<Vec<tokio::sync::oneshot::Sender<()>>>,
    seen: Mutex<Vec<Seen>>,
    open: AtomicUsize,
    max_open: AtomicUsize,
}

/// Counts a request as open from its arrival until its handler ends, also
/// when the client gives up and the handler is dropped.
struct Open<'a>(&'a Shared);

impl<'a> Open<'a> {
    fn new(shared: &'a Shared) -> Open<'a> {
        let now = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_open.fetch_max(now, Ordering::SeqCst);
        Open(shared)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Server {
    port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    fn start(config: Config) -> Server {
        let shared = Arc::new(Shared {
            script: Mutex::new(config.script.into()),
            default: config.default,
            hold: config.hold,
            delay: config.delay,
            waiting: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            max_open: AtomicUsize::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime for the test server");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                tokio::select! {
                    _ = axum::serve(listener, router) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection, hung ones included.
        });
        Server {
            port,
            shared,
            stop: Some(stop),
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn max_open(&self) -> usize {
        self.shared.max_open.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _open = Open::new(&shared);
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut seen) = shared.seen.lock() {
        seen.push(Seen {
            method,
            path: uri.path().to_string(),
            headers,
            body,
        });
    }
    let answer = shared
        .script
        .lock()
        .ok()
        .and_then(|mut s| s.pop_front())
        .unwrap_or_else(|| shared.default.clone());
    if let Some((batch, deadline)) = shared.hold {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut waiting) = shared.waiting.lock() {
            waiting.push(tx);
            if waiting.len() >= batch {
                for w in waiting.drain(..) {
                    let _ = w.send(());
                }
            }
        }
        let _ = tokio::time::timeout(deadline, rx).await;
    }
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    match answer {
        Answer::Hang => std::future::pending().await,
        Answer::Reply {
            status,
            headers,
            body,
        } => {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response
                .body(Body::from(body))
                .unwrap_or_else(|_| Response::new(Body::from("bad canned response")))
        }
    }
}

/// `model m = PROVIDER("test-model", base_url: ..., api_key_env: "FLOW_TEST_KEY", OPTIONS)`
/// followed by `body`.
fn program(provider: &str, base_url: &str, options: &str, body: &str) -> TempProgram {
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(", {options}")
    };
    TempProgram::new(&format!(
        "model m = {provider}(\"test-model\", base_url: \"{base_url}\", \
         api_key_env: \"FLOW_TEST_KEY\"{options})\n{body}\n"
    ))
}

/// What one `flow run --json --trace` gave.
struct Ran {
    out: std::process::Output,
    trace: Option<Value>,
}

impl Ran {
    fn code(&self) -> i32 {
        code(&self.out)
    }

    fn doc(&self) -> Value {
        json(&self.out)
    }

    fn err(&self) -> String {
        prose(&stderr(&self.out))
    }

    fn stat(&self, name: &str) -> u64 {
        self.doc()["stats"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no stat `{name}` in {:#}", self.doc()))
    }

    /// The outcomes of every attempt in the trace, in start order.
    fn outcomes(&self) -> Vec<String> {
        let mut slices: Vec<(u64, String)> = self
            .trace
            .as_ref()
            .and_then(|t| t["traceEvents"].as_array())
            .into_iter()
            .flatten()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                (
                    e["ts"].as_u64().unwrap_or(0),
                    e["args"]["outcome"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        slices.sort();
        slices.into_iter().map(|(_, o)| o).collect()
    }
}

/// `flow run FILE --json --trace T ARGS...` with the test key set; asserts
/// the key shows nowhere: not on stdout, stderr or in the trace.
fn run(p: &TempProgram, args: &[&str]) -> Ran {
    run_env(p, args, &[("FLOW_TEST_KEY", KEY)])
}

fn run_env(p: &TempProgram, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let trace_path = p.file("trace.json");
    let mut all = vec!["run", p.path.as_str(), "--json", "--trace", &trace_path];
    all.extend_from_slice(args);
    let out = flow_env(&all, env);
    let trace_text = std::fs::read_to_string(&trace_path).ok();
    for (what, text) in [
        ("stdout", stdout(&out)),
        ("stderr", stderr(&out)),
        ("the trace", trace_text.clone().unwrap_or_default()),
    ] {
        assert!(
            !text.contains(KEY) && !text.contains("SECRET"),
            "the key leaked into {what}:\n{text}"
        );
    }
    let trace = trace_text.map(|t| serde_json::from_str(&t).expect("the trace is JSON"));
    Ran { out, trace }
}

#[test]
fn openai_success_sends_a_well_formed_request() {
    let server = Server::start(Config::answer(openai_text("Paris")));
    let p = program(
        "openai",
        &server.base_url(),
        "temperature: 0.5, max_tokens: 50",
        "output answer = ask m \"What is the capital of France?\" system \"Be terse.\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    let doc = ran.doc();
    assert_eq!(doc["outputs"], json!({"answer": "Paris"}));
    assert_eq!(ran.stat("calls"), 1);
    assert_eq!(ran.stat("retries"), 0);
    assert_eq!(ran.stat("input_tokens"), 11);
    assert_eq!(ran.stat("output_tokens"), 2);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("x-api-key"), None);
    assert!(
        req.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{req:?}"
    );
    assert_eq!(req.body["model"], "test-model");
    assert_eq!(req.body["temperature"], 0.5);
    // A compatible server gets the classic field, not `max_completion_tokens`.
    assert_eq!(req.body["max_tokens"], 50);
    assert_eq!(
        req.body["messages"],
        json!([
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "What is the capital of France?"}
        ])
    );
}

#[test]
fn anthropic_success_sends_a_well_formed_request() {
    let server = Server::start(Config::answer(anthropic_text("Paris")));
    let p = program(
        "anthropic",
        &server.base_url(),
        "temperature: 0.2, max_tokens: 64, system: \"You are terse.\"",
        "output answer = ask m \"What is the capital of France?\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"answer": "Paris"}));
    assert_eq!(ran.stat("input_tokens"), 7);
    assert_eq!(ran.stat("output_tokens"), 3);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(req.body["model"], "test-model");
    assert_eq!(req.body["max_tokens"], 64);
    assert_eq!(req.body["temperature"], 0.2);
    assert_eq!(req.body["system"], "You are terse.");
    assert_eq!(
        req.body["messages"],
        json!([{"role": "user", "content": "What is the capital of France?"}])
    );
}

#[test]
fn a_rate_limit_is_retried_after_the_wait_asked_for() {
    for (provider, ok) in [
        ("openai", openai_text("fine")),
        ("anthropic", anthropic_text("fine")),
    ] {
        let server = Server::start(Config::then(
            vec![
                api_error(429, "rate_limit_exceeded", "Rate limit reached")
                    .header("retry-after", "1"),
            ],
            ok,
        ));
        let p = program(provider, &server.base_url(), "", "output a = ask m \"Hi\"");
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 0, "{provider}: {}", ran.err());
        assert_eq!(ran.doc()["outputs"], json!({"a": "fine"}), "{provider}");
        assert_eq!(ran.stat("retries"), 1, "{provider}");
        assert_eq!(ran.stat("calls"), 2, "{provider}");
        assert_eq!(server.seen().len(), 2, "{provider}");
        assert_eq!(ran.outcomes(), ["transient", "ok"], "{provider}");
    }
}

#[test]
fn a_server_error_is_retried() {
    for (provider, ok) in [
        ("openai", openai_text("fine")),
        ("anthropic", anthropic_text("fine")),
    ] {
        let server = Server::start(Config::then(
            vec![api_error(500, "server_error", "The server had an error")],
            ok,
        ));
        let p = program(provider, &server.base_url(), "", "output a = ask m \"Hi\"");
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 0, "{provider}: {}", ran.err());
        assert_eq!(ran.doc()["outputs"], json!({"a": "fine"}), "{provider}");
        assert_eq!(ran.stat("retries"), 1, "{provider}");
        assert_eq!(server.seen().len(), 2, "{provider}");
        assert_eq!(ran.outcomes(), ["transient", "ok"], "{provider}");
    }
}

#[test]
fn server_errors_past_the_retries_fail_the_run() {
    let server = Server::start(Config::answer(api_error(503, "overloaded", "Try later")));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\" retry 1",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(err.contains("failed after 2 attempts (HTTP 503)"), "{err}");
    assert!(err.contains("overloaded: Try later"), "{err}");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_hung_server_times_out_per_attempt() {
    let server = Server::start(Config::answer(Answer::Hang));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\" timeout 300ms retry 0",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::timeout"), "{err}");
    assert!(
        err.contains("the call to `m` for `a` timed out after 300ms ╭"),
        "{err}"
    );
    assert!(err.contains("no reply within 300ms on attempt 1"), "{err}");
    assert!(err.contains("main.flow:2:"), "{err}");
    assert_eq!(server.seen().len(), 1);
    assert_eq!(ran.outcomes(), ["timeout"]);
    assert!(ran.doc()["outputs"].is_null());
}

#[test]
fn a_model_timeout_applies_to_every_attempt() {
    let server = Server::start(Config::answer(Answer::Hang));
    let p = program(
        "anthropic",
        &server.base_url(),
        "timeout: 300ms, retry: 1",
        "output a = ask m \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::timeout"), "{err}");
    assert!(
        err.contains("timed out after 300ms on each of 2 attempts"),
        "{err}"
    );
    assert_eq!(server.seen().len(), 2);
    assert_eq!(ran.stat("retries"), 1);
}

#[test]
fn malformed_json_is_a_clear_error() {
    let server = Server::start(Config::answer(Answer::raw(200, "{\"choices\": [oops")));
    let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(
        err.contains(&format!(
            "the server at `{}` sent a reply for model `m` that is not the JSON expected",
            server.base_url()
        )),
        "{err}"
    );
    assert!(err.contains("[oops"), "the body is quoted: {err}");
    // Not worth retrying: the same server would send the same thing.
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_reply_without_choices_is_a_clear_error() {
    let server = Server::start(Config::answer(Answer::json(200, json!({"choices": []}))));
    let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(
        err.contains("sent a reply for model `m` with no `choices`"),
        "{err}"
    );
    assert!(err.contains("points at an OpenAI-compatible API"), "{err}");
}

#[test]
fn anthropic_reply_without_text_is_a_clear_error() {
    let server = Server::start(Config::answer(Answer::json(
        200,
        json!({"type": "message", "content": []}),
    )));
    let p = program(
        "anthropic",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("with no text in `content`"), "{err}");
}

#[test]
fn a_refused_connection_is_a_clear_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.local_addr().expect("a bound address").port()
    };
    let base_url = format!("http://127.0.0.1:{port}/v1");
    let p = program("openai", &base_url, "", "output a = ask m \"Hi\" retry 1");
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(
        err.contains(&format!("could not connect to `{base_url}`")),
        "{err}"
    );
    assert!(err.contains("failed after 2 attempts"), "{err}");
    assert_eq!(ran.outcomes(), ["transient", "transient"]);
}

#[test]
fn a_rejected_key_names_its_variable_and_is_never_shown() {
    // OpenAI echoes the (masked) key in its 401; this server echoes it whole.
    let server = Server::start(Config::answer(api_error(
        401,
        "invalid_request_error",
        &format!("Incorrect API key provided: {KEY}. You can find your API key at ..."),
    )));
    for provider in ["openai", "anthropic"] {
        let p = program(provider, &server.base_url(), "", "output a = ask m \"Hi\"");
        let ran = run(&p, &[]);
        assert_ne!(ran.code(), 0, "{provider}");
        let err = ran.err();
        assert!(err.contains("flow::run::call_failed"), "{provider}: {err}");
        assert!(err.contains("(HTTP 401)"), "{provider}: {err}");
        assert!(err.contains("`FLOW_TEST_KEY`"), "{provider}: {err}");
        assert!(
            err.contains("Incorrect API key provided"),
            "{provider}: {err}"
        );
    }
    // A bad key is not retried.
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn without_the_key_a_custom_server_is_called_without_auth() {
    let server = Server::start(Config::answer(api_error(
        401,
        "auth",
        "Missing bearer token",
    )));
    let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
    let ran = run_env(&p, &[], &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(
        err.contains(&format!(
            "the server at `{}` wants a key",
            server.base_url()
        )),
        "{err}"
    );
    assert!(err.contains("`FLOW_TEST_KEY`"), "{err}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
}

#[test]
fn an_unparsable_reply_is_retried() {
    let server = Server::start(Config::then(
        vec![openai_text("Let me think about it.")],
        openai_text("Yes."),
    ));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output ok = ask m \"Is water wet? Answer yes or no.\" as bool",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"ok": true}));
    assert_eq!(ran.stat("retries"), 1);
    assert_eq!(server.seen().len(), 2);
    assert_eq!(ran.outcomes(), ["unparsable", "ok"]);
}

#[test]
fn an_unparsable_reply_past_the_retries_is_quoted() {
    let server = Server::start(Config::answer(openai_text("Let me think about it.")));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output ok = ask m \"Is water wet?\" as bool retry 1",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::unparsable"), "{err}");
    assert!(err.contains("\"Let me think about it.\""), "{err}");
    assert_eq!(server.seen().len(), 2);
}

const MANY: usize = 200;

#[test]
fn every_sample_of_a_repeat_is_in_flight_at_once() {
    // Each request is held until all 200 have arrived (or 30 s pass), so the
    // count does not depend on how fast requests are made.
    let server = Server::start(Config {
        hold: Some((MANY, Duration::from_secs(30))),
        delay: Duration::from_millis(200),
        ..Config::answer(openai_text("sample"))
    });
    let p = program(
        "openai",
        &server.base_url(),
        "",
        &format!("output all = ask m \"Say something\" repeat {MANY}"),
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(server.seen().len(), MANY);
    assert_eq!(server.max_open(), MANY);
    let all = ran.doc()["outputs"]["all"].as_array().map(Vec::len);
    assert_eq!(all, Some(MANY));
    assert_eq!(ran.stat("calls"), MANY as u64);
    assert_eq!(ran.stat("peak_in_flight"), MANY as u64);
}

#[test]
fn model_concurrency_caps_requests_in_flight() {
    let server = Server::start(Config {
        hold: Some((8, Duration::from_secs(30))),
        delay: Duration::from_millis(200),
        ..Config::answer(openai_text("sample"))
    });
    let p = program(
        "openai",
        &server.base_url(),
        "concurrency: 8",
        &format!("output all = ask m \"Say something\" repeat {MANY}"),
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(server.seen().len(), MANY);
    assert_eq!(server.max_open(), 8);
    assert_eq!(ran.stat("peak_in_flight"), 8);
}

#[test]
fn max_calls_refuses_before_any_request() {
    let server = Server::start(Config::answer(openai_text("yes")));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output all = ask m \"Hi\" repeat 5",
    );
    let ran = run(&p, &["--max-calls", "4"]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(
        err.contains("may make 5 LLM calls, more than `--max-calls 4`"),
        "{err}"
    );
    assert!(server.seen().is_empty(), "a request was made");
}

#[test]
fn max_calls_stops_at_the_limit_of_requests_made() {
    // One call that fails every attempt, each attempt after the last: the
    // server sees exactly the three the budget allows.
    let server = Server::start(Config::answer(
        api_error(500, "server_error", "down").header("retry-after", "0"),
    ));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\" retry 5",
    );
    let ran = run(&p, &["--max-calls", "3"]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::budget_exceeded"), "{err}");
    assert!(
        err.contains("call number 4, more than the limit of 3 calls"),
        "{err}"
    );
    assert_eq!(server.seen().len(), 3);
    assert_eq!(ran.stat("calls"), 3);
}

#[test]
fn a_missing_input_makes_no_request() {
    let server = Server::start(Config::answer(openai_text("yes")));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "input q: text\noutput a = ask m \"{q}\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    assert!(
        ran.err().contains("no value for input `q`"),
        "{}",
        ran.err()
    );
    assert!(server.seen().is_empty(), "a request was made");
    assert!(ran.trace.is_none(), "a run started");
}

/// `flow run` with the platform's root store replaced (rustls reads
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` instead of `/etc/ssl`) by `cert_file`,
/// against the local server: the client must build and the call succeed.
fn run_with_native_roots(cert_file: Option<&str>) -> Ran {
    let server = Server::start(Config::answer(openai_text("Paris")));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Capital?\"",
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("none.pem");
    let file = match cert_file {
        Some(text) => {
            let path = dir.path().join("roots.pem");
            std::fs::write(&path, text).expect("write the root store");
            path
        }
        None => missing,
    };
    let empty_dir = dir.path().join("certs");
    std::fs::create_dir(&empty_dir).expect("an empty certs dir");
    let ran = run_env(
        &p,
        &[],
        &[
            ("FLOW_TEST_KEY", KEY),
            ("SSL_CERT_FILE", file.to_str().expect("a UTF-8 path")),
            ("SSL_CERT_DIR", empty_dir.to_str().expect("a UTF-8 path")),
        ],
    );
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"a": "Paris"}));
    ran
}

#[test]
fn a_machine_without_native_root_certificates_still_connects() {
    run_with_native_roots(None);
}

#[test]
fn an_unreadable_native_root_store_falls_back_to_the_bundled_roots() {
    // PEM armour around bytes that are no certificate: rustls rejects it, and
    // with no valid certificate left reqwest would refuse to build a client.
    run_with_native_roots(Some(
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    ));
}

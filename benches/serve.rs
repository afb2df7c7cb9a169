//! `flow serve` (issue 10): what the server adds to a run, how many requests
//! it answers per second, and how soon a guarded answer's first token comes.
//!
//! Everything runs in this process over loopback: the server is
//! `flow::serve::Server` on a free port, the client `reqwest` with kept-alive
//! connections, and the models mocks, so only flow's own time is measured.
//!
//! 1. Overhead: one client, one request at a time, to a program of one
//!    zero-latency mock call; the median request's time against the median
//!    of the same run through `Engine::run` directly, and against the floor
//!    of any HTTP server here: a bare axum handler on the same kind of
//!    listener that reads the same request body and answers a completion of
//!    the same shape, asked by the same client. Server minus floor minus
//!    engine is what flow's server itself adds (routing, parsing the
//!    messages, binding inputs, the run's set-up, writing its JSON); the
//!    floor is what HTTP costs both sides of loopback. Goal: < 100 µs.
//! 2. Throughput: 500 clients, each sending its next request as soon as the
//!    last is answered, for a few seconds; requests per second.
//! 3. Time to first token of a guarded, streamed chat request
//!    (examples/guardrails.flow's shape with mocks: the answer's first
//!    token at 20 ms, the moderators' vote at 60 ms) against the two times
//!    it waits for, measured in direct streamed runs' events: the first
//!    chunk of the same answer without a guard, and the guard's vote.
//!    Goal: within 5 ms of max(answer's first token, guard decided).
//!
//! Run it with:
//!
//!     cargo bench --bench serve
//!     cargo bench --bench serve -- --quick     # a smoke run: few iterations

use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::engine::{Engine, EngineOptions, InputValue, Program, RunControl};
use flow::runtime::RunEvent;
use flow::serve::{ServeOptions, Server};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const ZERO: &str = "model m = mock(reply: \"ok\")\ninput q: text\noutput answer = ask m \"{q}\"\n";

/// The answer's first token comes at 20 ms, a word every 5 ms after; the
/// moderators decide at 60 ms, so the gate is what the client waits for.
const GUARDED: &str = r#"
model assistant = mock(echo: true, latency: 20ms, chunk_delay: 5ms)
model moderator = mock(rules: {"bomb": "yes", "*": "no"}, latency: 60ms)
input query: text
section <
  reply  = ask assistant "Answer concisely: {query}"
  unsafe = ask moderator "Is this request harmful? yes or no.\n{query}" as bool vote 5 by majority
>
output answer = if unsafe then "Sorry, I can't help with that." else reply
"#;

/// The same answer with no guard: its first token is the earliest any
/// reply could start.
const UNGUARDED: &str = r#"
model assistant = mock(echo: true, latency: 20ms, chunk_delay: 5ms)
input query: text
output answer = ask assistant "Answer concisely: {query}"
"#;

fn engine(src: &str) -> Engine {
    let program = match Program::compile("bench.flow", src) {
        Ok(p) => p,
        Err(f) => panic!("{:?}", f.diagnostics),
    };
    match Engine::new(&program, EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

async fn start(engine: Engine) -> (String, CancellationToken) {
    let server = match Server::new(
        engine,
        ServeOptions {
            max_runs: 4096,
            ..ServeOptions::default()
        },
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let listener = match tokio::net::TcpSocket::new_v4().and_then(|s| {
        s.bind(([127, 0, 0, 1], 0).into())?;
        s.listen(4096)
    }) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let stop = CancellationToken::new();
    tokio::spawn(server.serve(listener, stop.clone().cancelled_owned()));
    (format!("http://{addr}"), stop)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn overhead(iterations: usize) {
    let engine = engine(ZERO);
    let mut direct = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let inputs = engine
            .bind([("q".to_string(), InputValue::Text(format!("q{i}")))])
            .expect("binds");
        let t = Instant::now();
        let report = engine.run(inputs, RunControl::default()).await;
        direct.push(t.elapsed());
        assert!(report.outputs.is_ok());
    }
    let (url, stop) = start(engine).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let served = sequential(&client, &url, iterations).await;
    stop.cancel();
    let (floor_url, floor_stop) = start_floor().await;
    let floor = sequential(&client, &floor_url, iterations).await;
    floor_stop.cancel();
    let (d, s, f) = (median(direct), median(served), median(floor));
    println!(
        "overhead ({iterations} sequential requests): engine {} · server {} · bare HTTP floor {} · \
         added over the engine {} · flow's server itself {} (goal < 100 µs)",
        us(d),
        us(s),
        us(f),
        us(s.saturating_sub(d)),
        us(s.saturating_sub(d).saturating_sub(f))
    );
}

/// The time of each of `iterations` chat requests to `url`, one at a time.
async fn sequential(client: &reqwest::Client, url: &str, iterations: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let body = json!({"messages": [{"role": "user", "content": format!("q{i}")}]});
        let t = Instant::now();
        let r = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .expect("answered");
        let _ = r.bytes().await;
        times.push(t.elapsed());
    }
    times
}

/// The floor: a bare axum server that reads the body and answers a fixed
/// completion of the shape flow's server writes, so that the client's work
/// and hyper's on both sides are measured without flow.
async fn start_floor() -> (String, CancellationToken) {
    async fn answer(body: axum::body::Bytes) -> axum::response::Response {
        let _ = body.len();
        let reply = json!({
            "id": "chatcmpl-0", "object": "chat.completion", "created": 0, "model": "bench",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        });
        axum::response::IntoResponse::into_response((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            reply.to_string(),
        ))
    }
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let stop = CancellationToken::new();
    let done = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(done.cancelled_owned())
            .await;
    });
    (format!("http://{addr}"), stop)
}

async fn throughput(clients: usize, seconds: f64) {
    let (url, stop) = start(engine(ZERO)).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let url = format!("{url}/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut failed = 0u64;
            while Instant::now() < until {
                let body = json!({"messages": [{"role": "user", "content": format!("c{c} n{n}")}]});
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        n += 1;
                    }
                    _ => failed += 1,
                }
            }
            (n, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (n, f) = t.await.unwrap_or((0, 0));
        ok += n;
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.cancel();
    println!(
        "throughput ({clients} clients, {elapsed:.1} s): {:.0} requests/s ({ok} answered, {failed} failed)",
        ok as f64 / elapsed
    );
}

/// When, in a direct streamed run, the answer's first chunk came and the
/// guard's vote was decided (`None` where the program has neither).
async fn direct_times(engine: &Engine) -> (Option<Duration>, Option<Duration>) {
    let inputs = engine
        .bind([(
            "query".to_string(),
            InputValue::Text("How do I bake bread?".into()),
        )])
        .expect("binds");
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let control = RunControl {
        events: Some(tx),
        stream: true,
        ..RunControl::default()
    };
    let t = Instant::now();
    let run = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run(inputs, control).await })
    };
    let (mut chunk, mut guard) = (None, None);
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::OutputChunk { name, .. } if name == "answer" => {
                chunk.get_or_insert(t.elapsed());
            }
            RunEvent::VoteDecided { node, .. } if node == "unsafe" => {
                guard.get_or_insert(t.elapsed());
            }
            _ => {}
        }
    }
    let _ = run.await;
    (chunk, guard)
}

async fn first_token(iterations: usize) {
    let unguarded = engine(UNGUARDED);
    let engine = engine(GUARDED);
    let mut answers = Vec::new();
    let mut guards = Vec::new();
    for _ in 0..iterations {
        answers.push(direct_times(&unguarded).await.0.unwrap_or_default());
        guards.push(direct_times(&engine).await.1.unwrap_or_default());
    }
    let (url, stop) = start(engine).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut firsts = Vec::new();
    for _ in 0..iterations {
        let body = json!({
            "messages": [{"role": "user", "content": "How do I bake bread?"}],
            "stream": true
        });
        let t = Instant::now();
        let mut r = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .expect("answered");
        let mut seen = String::new();
        let mut first = None;
        while let Ok(Some(bytes)) = r.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&bytes));
            if first.is_none() && seen.contains("\"content\":\"A") {
                first = Some(t.elapsed());
            }
        }
        firsts.push(first.unwrap_or_else(|| t.elapsed()));
    }
    stop.cancel();
    let (a, g, f) = (median(answers), median(guards), median(firsts));
    let bound = a.max(g);
    println!(
        "first token, guarded and streamed ({iterations} requests): {} · unguarded answer's first token {} · guard decided {} · over max(...) by {} (goal ≤ 5 ms)",
        ms(f),
        ms(a),
        ms(g),
        ms(f.saturating_sub(bound))
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Arc::new(r),
        Err(e) => panic!("{e}"),
    };
    runtime.block_on(async {
        overhead(if quick { 50 } else { 2_000 }).await;
        throughput(if quick { 50 } else { 500 }, if quick { 0.5 } else { 5.0 }).await;
        first_token(if quick { 3 } else { 30 }).await;
    });
}

//! A fake LLM provider: a real HTTP server on a loopback port that records
//! every request and answers with what the test scripted, so flow's provider
//! code can be tested end to end with no internet and no key.
//!
//! One server serves every caller: flow's unit tests (async, on their own
//! tokio runtime), its integration tests (blocking on a `flow` child process)
//! and its benchmarks (a child process of their own). It therefore runs on a
//! runtime and thread of its own, started by [`Server::start`] from any
//! context, and stopped when the [`Server`] is dropped.
//!
//! It knows nothing of flow: it speaks only HTTP and the two reply shapes in
//! [`openai`] and [`anthropic`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::Value;

/// The `http` types in [`Seen`], so callers need not depend on axum.
pub use axum::http;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// The body as JSON; `null` when it was not JSON.
    pub body: Value,
}

impl Seen {
    /// A header's value, when it is present and readable as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Answer {
    Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Reads the request, then never answers: a provider that hangs.
    Hang,
    /// `200 OK` as server-sent events: each piece of text written as it
    /// is (so a test can send malformed events), after its delay, then
    /// the stream ends as `end` says.
    Stream {
        pieces: Vec<(Duration, String)>,
        end: StreamEnd,
    },
}

/// How a streamed answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The body ends, as a finished stream does.
    Close,
    /// The connection stays open with nothing more sent, until the client
    /// goes away (counted in [`Server::disconnects`]).
    Hang,
    /// The connection is cut mid-body: the client sees it break off.
    Cut,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Answer {
        Answer::raw(status, &body.to_string())
    }

    /// A body labelled as JSON that need not be JSON: a malformed reply.
    pub fn raw(status: u16, body: &str) -> Answer {
        Answer::Reply {
            status,
            headers: vec![("content-type", "application/json".to_string())],
            body: body.to_string(),
        }
    }

    /// Server-sent events: `events` as `data:` lines (each `(event, data)`;
    /// an empty event name writes no `event:` line), every `gap` apart.
    pub fn sse(events: &[(&str, String)], gap: Duration, end: StreamEnd) -> Answer {
        let pieces = events
            .iter()
            .map(|(event, data)| {
                let mut text = String::new();
                if !event.is_empty() {
                    text.push_str(&format!("event: {event}\n"));
                }
                text.push_str(&format!("data: {data}\n\n"));
                (gap, text)
            })
            .collect();
        Answer::Stream { pieces, end }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        if let Answer::Reply { headers, .. } = &mut self {
            headers.push((name, value.into()));
        }
        self
    }
}

pub mod batch;

/// Replies shaped like OpenAI's chat completions API.
pub mod openai {
    use serde_json::{Value, json};

    use super::Answer;

    /// A chat completion whose one choice has `content` (a string, or
    /// `null` to test a missing one), with the token counts given.
    pub fn completion(content: Value, prompt_tokens: u64, completion_tokens: u64) -> Value {
        json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "test-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens
            }
        })
    }

    /// `200 OK` with a completion saying `text`, counting 11 tokens in and 2 out.
    pub fn text(text: &str) -> Answer {
        Answer::json(200, completion(Value::from(text), 11, 2))
    }

    /// `200 OK` with `text` cut at the token limit (`finish_reason: "length"`).
    pub fn cut(text: &str) -> Answer {
        let mut body = completion(Value::from(text), 11, 64);
        body["choices"][0]["finish_reason"] = Value::from("length");
        Answer::json(200, body)
    }

    /// `200 OK` with `text` and no `usage` at all, as some servers answer.
    pub fn without_usage(text: &str) -> Answer {
        let mut body = completion(Value::from(text), 0, 0);
        if let Some(o) = body.as_object_mut() {
            o.remove("usage");
        }
        Answer::json(200, body)
    }

    /// A streamed completion: a chunk per word (`delta.content`), one with
    /// `finish_reason`, the usage chunk (`stream_options.include_usage`),
    /// then `[DONE]`; `gap` between events.
    pub fn stream(
        words: &[&str],
        prompt_tokens: u64,
        completion_tokens: u64,
        gap: std::time::Duration,
        end: super::StreamEnd,
    ) -> Answer {
        Answer::sse(
            &stream_events(words, prompt_tokens, completion_tokens),
            gap,
            end,
        )
    }

    /// The events of [`stream`], to cut short or add to.
    pub fn stream_events(
        words: &[&str],
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> Vec<(&'static str, String)> {
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            })
            .to_string()
        };
        let mut events = vec![(
            "",
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        )];
        for w in words {
            events.push(("", chunk(json!({"content": w}), Value::Null)));
        }
        events.push(("", chunk(json!({}), json!("stop"))));
        events.push((
            "",
            json!({
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
            })
            .to_string(),
        ));
        events.push(("", "[DONE]".to_string()));
        events
    }

    /// An error in OpenAI's shape: `{"error": {"message", "type", "code"}}`.
    pub fn error(status: u16, kind: &str, message: &str) -> Answer {
        Answer::json(
            status,
            json!({"error": {"message": message, "type": kind, "code": null}}),
        )
    }
}

/// Replies shaped like Anthropic's messages API.
pub mod anthropic {
    use serde_json::{Value, json};

    use super::Answer;

    /// A message with these `content` blocks and token counts.
    pub fn message(content: Value, input_tokens: u64, output_tokens: u64) -> Value {
        json!({
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": "test-model",
            "content": content,
            "stop_reason": "end_turn",
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}
        })
    }

    /// `200 OK` with one text block saying `text`, counting 7 tokens in and 3 out.
    pub fn text(text: &str) -> Answer {
        Answer::json(200, message(json!([{"type": "text", "text": text}]), 7, 3))
    }

    /// `200 OK` with one `tool_use` block calling `name` with `input`, as a
    /// model does when a tool is forced (`stop_reason: "tool_use"`).
    pub fn tool_use(name: &str, input: Value) -> Answer {
        let mut body = message(
            json!([{"type": "tool_use", "id": "toolu_test", "name": name, "input": input}]),
            7,
            3,
        );
        body["stop_reason"] = Value::from("tool_use");
        Answer::json(200, body)
    }

    /// A text reply with prompt-cache counts: `input_tokens` is only the
    /// uncached part, as Anthropic reports it.
    pub fn cached(text: &str, input: u64, cache_read: u64, cache_creation: u64) -> Answer {
        let mut body = message(json!([{"type": "text", "text": text}]), input, 3);
        body["usage"]["cache_read_input_tokens"] = Value::from(cache_read);
        body["usage"]["cache_creation_input_tokens"] = Value::from(cache_creation);
        Answer::json(200, body)
    }

    /// `200 OK` with `text` cut at the token limit (`stop_reason: "max_tokens"`).
    pub fn cut(text: &str) -> Answer {
        let mut body = message(json!([{"type": "text", "text": text}]), 7, 64);
        body["stop_reason"] = Value::from("max_tokens");
        Answer::json(200, body)
    }

    /// A streamed message: `message_start` (with the input tokens), a text
    /// block with a `text_delta` per word and a `ping` after the first,
    /// `message_delta` (stop reason, output tokens), `message_stop`.
    pub fn stream(
        words: &[&str],
        input_tokens: u64,
        output_tokens: u64,
        gap: std::time::Duration,
        end: super::StreamEnd,
    ) -> Answer {
        Answer::sse(&stream_events(words, input_tokens, output_tokens), gap, end)
    }

    /// The events of [`stream`], to cut short or add to.
    pub fn stream_events(
        words: &[&str],
        input_tokens: u64,
        output_tokens: u64,
    ) -> Vec<(&'static str, String)> {
        let mut events = vec![
            (
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": "msg_test", "type": "message", "role": "assistant", "content": [],
                    "model": "test-model", "stop_reason": null,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1}
                }})
                .to_string(),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}})
                .to_string(),
            ),
        ];
        for (i, w) in words.iter().enumerate() {
            events.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": w}})
                .to_string(),
            ));
            if i == 0 {
                events.push(("ping", json!({"type": "ping"}).to_string()));
            }
        }
        events.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}).to_string(),
        ));
        events.push((
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"output_tokens": output_tokens}})
            .to_string(),
        ));
        events.push(("message_stop", json!({"type": "message_stop"}).to_string()));
        events
    }

    /// An error in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`.
    pub fn error(status: u16, kind: &str, message: &str) -> Answer {
        Answer::json(
            status,
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    }
}

/// How the server behaves: a script of answers for the first requests, in
/// arrival order, then `default` for every other.
#[derive(Debug, Clone)]
pub struct Config {
    script: Vec<Answer>,
    default: Answer,
    hold: Option<(usize, Duration)>,
    delay: Duration,
}

impl Config {
    /// Every request gets `default`.
    pub fn answer(default: Answer) -> Config {
        Config {
            script: Vec::new(),
            default,
            hold: None,
            delay: Duration::ZERO,
        }
    }

    /// The first requests get `script`, in order; the rest get `default`.
    pub fn then(script: Vec<Answer>, default: Answer) -> Config {
        Config {
            script,
            ..Config::answer(default)
        }
    }

    /// Holds each request until `count` are waiting (or `deadline` passes),
    /// then releases them together: requests overlap without the test
    /// depending on how fast they are made.
    pub fn hold(self, count: usize, deadline: Duration) -> Config {
        Config {
            hold: Some((count, deadline)),
            ..self
        }
    }

    /// Waits this long before every answer, after any hold: a provider's latency.
    pub fn delay(self, delay: Duration) -> Config {
        Config { delay, ..self }
    }
}

impl From<Answer> for Config {
    fn from(answer: Answer) -> Config {
        Config::answer(answer)
    }
}

/// What the server measured since the last [`Server::take_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests that arrived.
    pub requests: usize,
    /// The longest one answered request spent in the server, hold and delay
    /// included: the delay plus what the server itself added.
    pub max_handler: Duration,
    /// From the first request's arrival to the last one's.
    pub arrival_spread: Duration,
}

#[derive(Default)]
struct Window {
    requests: usize,
    max_handler: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
}

struct Shared {
    script: Mutex<VecDeque<Answer>>,
    default: Answer,
    hold: Option<(usize, Duration)>,
    delay: Duration,
    waiting: Mutex<Vec<tokio::sync::oneshot::Sender<()>>>,
    seen: Mutex<Vec<Seen>>,
    window: Mutex<Window>,
    open: AtomicUsize,
    max_open: AtomicUsize,
    /// Streamed answers whose client went away before the end.
    disconnects: AtomicUsize,
}

/// A poisoned lock means another handler panicked; its data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// A running fake provider. Dropping it stops the server and drops every
/// connection, hung ones included.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Room for a thousand simultaneous connects: with the usual 128, an
/// overflowing queue drops SYNs and the client's retry comes a second later.
const BACKLOG: u32 = 4096;

impl Server {
    /// Starts a server on a fresh loopback port, on a thread and tokio
    /// runtime of its own; returns once it accepts connections.
    ///
    /// # Panics
    ///
    /// When no loopback port or runtime can be had: the test cannot run.
    pub fn start(config: impl Into<Config>) -> Server {
        let config = config.into();
        let shared = Arc::new(Shared {
            script: Mutex::new(config.script.into()),
            default: config.default,
            hold: config.hold,
            delay: config.delay,
            waiting: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            window: Mutex::new(Window::default()),
            open: AtomicUsize::new(0),
            max_open: AtomicUsize::new(0),
            disconnects: AtomicUsize::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, bound) = std::sync::mpsc::channel();
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime for the fake server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpSocket::new_v4()
                    .and_then(|socket| {
                        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
                        socket.listen(BACKLOG)
                    })
                    .expect("a loopback port for the fake server");
                let _ = ready.send(listener.local_addr());
                tokio::select! {
                    _ = axum::serve(listener, router) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = bound
            .recv()
            .expect("the fake server started")
            .expect("the fake server has an address");
        Server {
            addr,
            shared,
            stop: Some(stop),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, as a model's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// Streamed answers whose client closed the connection before the
    /// stream ended: what a cancelled call looks like from the server.
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects.load(Ordering::SeqCst)
    }

    /// The most requests the server had open at once.
    pub fn max_open(&self) -> usize {
        self.shared.max_open.load(Ordering::SeqCst)
    }

    /// What the server measured since the last call, then starts afresh: one
    /// benchmark round at a time.
    pub fn take_stats(&self) -> Stats {
        let window = std::mem::take(&mut *lock(&self.shared.window));
        Stats {
            requests: window.requests,
            max_handler: window.max_handler,
            arrival_spread: match (window.first, window.last) {
                (Some(first), Some(last)) => last.duration_since(first),
                _ => Duration::ZERO,
            },
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A `base_url` where nothing listens: the port was bound, then freed.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    drop(listener);
    format!("http://{addr}/v1")
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let _open = Open::new(&shared);
    {
        let mut window = lock(&shared.window);
        window.requests += 1;
        window.first = Some(window.first.map_or(arrived, |f| f.min(arrived)));
        window.last = Some(window.last.map_or(arrived, |l| l.max(arrived)));
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&shared.seen).push(Seen {
        method,
        path: uri.path().to_string(),
        headers,
        body,
    });
    let answer = lock(&shared.script)
        .pop_front()
        .unwrap_or_else(|| shared.default.clone());
    if let Some((count, deadline)) = shared.hold {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut waiting = lock(&shared.waiting);
            waiting.push(tx);
            if waiting.len() >= count {
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
    let response = match answer {
        Answer::Hang => std::future::pending().await,
        Answer::Stream { pieces, end } => stream(shared.clone(), pieces, end),
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
    };
    let took = arrived.elapsed();
    let mut window = lock(&shared.window);
    window.max_handler = window.max_handler.max(took);
    response
}

/// A body written piece by piece from a task of its own, which notices
/// when the client goes away: the body is dropped, and its channel with it.
fn stream(shared: Arc<Shared>, pieces: Vec<(Duration, String)>, end: StreamEnd) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        let gone = || {
            shared.disconnects.fetch_add(1, Ordering::SeqCst);
        };
        for (delay, text) in pieces {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok(Bytes::from(text))).await.is_err() {
                return gone();
            }
        }
        match end {
            StreamEnd::Close => {}
            StreamEnd::Hang => {
                tx.closed().await;
                gone();
            }
            StreamEnd::Cut => {
                let _ = tx.send(Err(std::io::Error::other("cut mid-stream"))).await;
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(Receiver(rx)))
        .unwrap_or_else(|_| Response::new(Body::from("bad canned stream")))
}

/// The receiving end of a body's channel, as the stream axum reads.
struct Receiver(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Receiver {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare HTTP/1.1 POST over a std socket, so this crate's tests need no
    /// HTTP client: gives the status line and the body.
    fn post(server: &Server, path: &str, body: &str) -> (String, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_string(), body.to_string())
    }

    #[test]
    fn it_records_requests_and_follows_its_script() {
        let server = Server::start(Config::then(
            vec![openai::error(429, "rate_limit", "slow down").with_header("retry-after", "1")],
            openai::text("hello"),
        ));
        let (status, body) = post(&server, "/v1/chat/completions", r#"{"model": "m"}"#);
        assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
        assert!(body.contains("slow down"), "{body}");
        let (status, body) = post(&server, "/v1/chat/completions", "not json");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(body.contains("\"hello\""), "{body}");

        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path, "/v1/chat/completions");
        assert_eq!(seen[0].body["model"], "m");
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        assert!(seen[1].body.is_null());
        let stats = server.take_stats();
        assert_eq!(stats.requests, 2);
        assert_eq!(server.take_stats().requests, 0);
    }

    #[test]
    fn held_requests_are_released_together() {
        let server =
            Server::start(Config::answer(anthropic::text("hi")).hold(3, Duration::from_secs(20)));
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| post(&server, "/v1/messages", "{}"));
            }
        });
        assert_eq!(server.max_open(), 3);
        assert_eq!(server.seen().len(), 3);
    }

    #[test]
    fn a_refused_url_refuses() {
        let url = refused_base_url();
        let addr = url.trim_start_matches("http://").trim_end_matches("/v1");
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}

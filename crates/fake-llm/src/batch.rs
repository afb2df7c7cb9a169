//! A fake of the providers' batch APIs, in their documented shapes:
//! OpenAI's `POST /v1/files` (multipart), `POST /v1/batches`,
//! `GET /v1/batches/{id}`, `GET /v1/files/{id}/content`, and Anthropic's
//! `POST /v1/messages/batches`, `GET /v1/messages/batches/{id}` and its
//! `results_url`. A batch moves one state per poll (`validating`,
//! `in_progress`, then `completed`), and its results come in reverse order
//! of the requests, as the APIs allow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// How the fake behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Normal,
    /// The first batch expires with none of its requests run.
    ExpireFirst,
    /// Batches never end: a run stays polling (for pickup tests).
    NeverEnd,
}

/// The reply text for a request's last user message.
pub type Responder = fn(&str) -> String;

#[derive(Default)]
struct Batch {
    requests: Vec<(String, Value)>,
    polls: u32,
    anthropic: bool,
    expire: bool,
}

struct Inner {
    mode: Mode,
    respond: Responder,
    addr: Option<SocketAddr>,
    files: HashMap<String, String>,
    batches: HashMap<String, Batch>,
    order: Vec<String>,
    /// The last user message of every request submitted, in order.
    prompts: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake; stops when dropped.
pub struct BatchServer {
    shared: Shared,
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

fn js(v: Value) -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from(v.to_string()))
        .unwrap_or_default()
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl BatchServer {
    pub fn start(mode: Mode, respond: Responder) -> BatchServer {
        let shared: Shared = Arc::new(Mutex::new(Inner {
            mode,
            respond,
            addr: None,
            files: HashMap::new(),
            batches: HashMap::new(),
            order: Vec::new(),
            prompts: Vec::new(),
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the fake batch server");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the port's address");
        lock(&shared).addr = Some(addr);
        let router = axum::Router::new()
            .route("/v1/files", post(upload))
            .route("/v1/files/{id}/content", get(content))
            .route("/v1/batches", post(create_openai))
            .route("/v1/batches/{id}", get(status_openai))
            .route("/v1/messages/batches", post(create_anthropic))
            .route("/v1/messages/batches/{id}", get(status_anthropic))
            .route("/v1/messages/batches/{id}/results", get(results_anthropic))
            .with_state(shared.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        BatchServer {
            shared,
            addr,
            _runtime: runtime,
        }
    }

    /// `http://127.0.0.1:PORT/v1`, a model's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request submitted in a batch (its last user message), in order.
    pub fn prompts(&self) -> Vec<String> {
        lock(&self.shared).prompts.clone()
    }

    /// Batches created, in order.
    pub fn batches(&self) -> Vec<String> {
        lock(&self.shared).order.clone()
    }

    /// Status polls answered so far, of every batch.
    pub fn polls(&self) -> u32 {
        lock(&self.shared).batches.values().map(|b| b.polls).sum()
    }

    /// Changes how batches behave from the next poll on: a test holds a
    /// batch running (`NeverEnd`), stops the run, then lets it end.
    pub fn set_mode(&self, mode: Mode) {
        lock(&self.shared).mode = mode;
    }
}

fn last_user(body: &Value) -> String {
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m["role"] == "user")
                .and_then(|m| m.get("content"))
        })
        .map(|c| match c {
            Value::String(s) => s.clone(),
            // Anthropic content blocks.
            other => other
                .as_array()
                .and_then(|a| a.first())
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
        .unwrap_or_default()
}

/// The `file` part of a multipart body, found by hand (the test server's
/// only multipart form).
fn file_part(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let ct = headers.get("content-type")?.to_str().ok()?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let sep = format!("--{boundary}");
    text.split(sep.as_str())
        .find(|p| p.contains("name=\"file\""))
        .and_then(|p| p.split_once("\r\n\r\n"))
        .map(|(_, content)| content.trim_end_matches("\r\n").to_string())
}

async fn upload(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = lock(&s);
    let id = format!("file-{}", inner.files.len() + 1);
    let content = file_part(&headers, &body).unwrap_or_default();
    inner.files.insert(id.clone(), content);
    js(json!({"id": id, "object": "file", "purpose": "batch"}))
}

fn new_batch(inner: &mut Inner, requests: Vec<(String, Value)>, anthropic: bool) -> String {
    let id = if anthropic {
        format!("msgbatch_{}", inner.order.len() + 1)
    } else {
        format!("batch_{}", inner.order.len() + 1)
    };
    for (_, body) in &requests {
        let prompt = last_user(body);
        inner.prompts.push(prompt);
    }
    let expire = inner.mode == Mode::ExpireFirst && inner.order.is_empty();
    inner.order.push(id.clone());
    inner.batches.insert(
        id.clone(),
        Batch {
            requests,
            polls: 0,
            anthropic,
            expire,
        },
    );
    id
}

async fn create_openai(State(s): State<Shared>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = lock(&s);
    let file = v["input_file_id"].as_str().unwrap_or_default().to_string();
    let lines = inner.files.get(&file).cloned().unwrap_or_default();
    let requests = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| {
            (
                l["custom_id"].as_str().unwrap_or_default().to_string(),
                l["body"].clone(),
            )
        })
        .collect();
    let id = new_batch(&mut inner, requests, false);
    js(json!({"id": id, "object": "batch", "status": "validating", "input_file_id": file}))
}

/// The state after `polls` polls: `validating`, `in_progress`, then ended.
fn state(b: &Batch, mode: Mode) -> &'static str {
    match (b.polls, mode) {
        (_, Mode::NeverEnd) => "in_progress",
        (0 | 1, _) => "validating",
        (2, _) => "in_progress",
        _ if b.expire => "expired",
        _ => "completed",
    }
}

fn reply_for(respond: Responder, body: &Value, anthropic: bool) -> Result<Value, String> {
    let prompt = last_user(body);
    if prompt.contains("FAIL") {
        return Err("the prompt asked to fail".into());
    }
    let text = respond(&prompt);
    Ok(if anthropic {
        json!({"id": "msg_1", "type": "message", "role": "assistant",
               "content": [{"type": "text", "text": text}],
               "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}})
    } else {
        json!({"id": "chatcmpl-1", "object": "chat.completion",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
    })
}

async fn status_openai(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let mut inner = lock(&s);
    let mode = inner.mode;
    let respond = inner.respond;
    let Some(b) = inner.batches.get_mut(&id) else {
        return js(json!({"error": {"message": "no such batch"}}));
    };
    b.polls += 1;
    let st = state(b, mode);
    let total = b.requests.len();
    let mut out = json!({"id": id, "object": "batch", "status": st,
        "request_counts": {"total": total, "completed": 0, "failed": 0}});
    if st == "completed" || st == "expired" {
        let (mut ok, mut bad) = (String::new(), String::new());
        // Out of order: last request first.
        for (cid, body) in b.requests.iter().rev() {
            if b.expire {
                bad.push_str(&json!({"id": "r", "custom_id": cid, "response": null,
                    "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}).to_string());
                bad.push('\n');
                continue;
            }
            match reply_for(respond, body, false) {
                Ok(reply) => {
                    ok.push_str(&json!({"id": "r", "custom_id": cid, "response": {"status_code": 200, "request_id": "q", "body": reply}, "error": null}).to_string());
                    ok.push('\n');
                }
                Err(msg) => {
                    bad.push_str(&json!({"id": "r", "custom_id": cid, "response": {"status_code": 400, "request_id": "q", "body": {"error": {"message": msg, "type": "invalid_request_error"}}}, "error": null}).to_string());
                    bad.push('\n');
                }
            }
        }
        let (nok, nbad) = (ok.lines().count(), bad.lines().count());
        out["request_counts"] = json!({"total": total, "completed": nok, "failed": nbad});
        let n = inner.files.len();
        if nok > 0 {
            let f = format!("file-out-{n}");
            inner.files.insert(f.clone(), ok);
            out["output_file_id"] = json!(f);
        }
        if nbad > 0 {
            let f = format!("file-err-{n}");
            inner.files.insert(f.clone(), bad);
            out["error_file_id"] = json!(f);
        }
    }
    js(out)
}

async fn content(State(s): State<Shared>, Path(id): Path<String>) -> String {
    lock(&s).files.get(&id).cloned().unwrap_or_default()
}

async fn create_anthropic(State(s): State<Shared>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let requests = v["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r["custom_id"].as_str().unwrap_or_default().to_string(),
                r["params"].clone(),
            )
        })
        .collect();
    let mut inner = lock(&s);
    let id = new_batch(&mut inner, requests, true);
    js(
        json!({"id": id, "type": "message_batch", "processing_status": "in_progress",
        "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "results_url": null}),
    )
}

async fn status_anthropic(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let mut inner = lock(&s);
    let mode = inner.mode;
    let addr = inner.addr;
    let Some(b) = inner.batches.get_mut(&id) else {
        return js(json!({"error": {"message": "no such batch"}}));
    };
    b.polls += 1;
    let ended = !matches!(state(b, mode), "validating" | "in_progress");
    let n = b.requests.len();
    let mut out = json!({"id": id, "type": "message_batch",
        "processing_status": if ended { "ended" } else { "in_progress" },
        "request_counts": {"processing": if ended { 0 } else { n }, "succeeded": if ended { n } else { 0 }, "errored": 0, "canceled": 0, "expired": 0},
        "results_url": null});
    if ended && let Some(addr) = addr {
        out["results_url"] = json!(format!("http://{addr}/v1/messages/batches/{id}/results"));
    }
    js(out)
}

async fn results_anthropic(State(s): State<Shared>, Path(id): Path<String>) -> String {
    let inner = lock(&s);
    let Some(b) = inner.batches.get(&id) else {
        return String::new();
    };
    let mut out = String::new();
    for (cid, body) in b.requests.iter().rev() {
        let result = if b.expire {
            json!({"type": "expired"})
        } else {
            match reply_for(inner.respond, body, b.anthropic) {
                Ok(message) => json!({"type": "succeeded", "message": message}),
                Err(msg) => {
                    json!({"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": msg}}})
                }
            }
        };
        out.push_str(&json!({"custom_id": cid, "result": result}).to_string());
        out.push('\n');
    }
    out
}

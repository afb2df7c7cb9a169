//! `POST /v1/chat/completions`, as OpenAI's Chat Completions API shapes
//! it, so an SDK or chat UI can use the program as if it were a model.
//!
//! A request is checked field by field (each mistake names its `param`),
//! its messages go to the program's inputs as `mapping` decided, and the
//! answer output comes back as the assistant's message: whole
//! (`chat.completion`), or as server-sent `chat.completion.chunk`s ending
//! in `data: [DONE]`. A refusal chosen by the program is an ordinary
//! message. A streamed reply sends its head only with its first content,
//! so a run that fails before any still gets a real error status. Its
//! chunks are the runtime's `OutputChunk`s, which the runtime releases only
//! once every condition the answer sits under is decided in its favour:
//! the gate is the runtime's, so no path here can leak a token early.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::api_error::{ApiError, json_body};
use super::launch::{Launched, launch};
use super::layers::RequestId;
use super::mapping::ChatMapping;
use crate::engine::{InputValue, Inputs};
use crate::runtime::{RunEvent, RunReport, RunStats};

/// A chat request, as far as flow reads it: other fields (`temperature`,
/// `max_tokens`, `tools`, ...) are accepted and ignored, since the
/// program's own models and options decide.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub include_usage: bool,
}

/// One message, with its content as text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub role: &'static str,
    pub content: String,
}

fn wrong_type(param: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::invalid(
        format!("`{param}` must be {expected}, not {}", json_kind(got)),
        Some(param),
        "invalid_type",
    )
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a request body, naming the field at fault in every mistake.
pub(crate) fn parse(body: &Value) -> Result<ChatRequest, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::invalid(
            format!(
                "the body must be a JSON object with `messages`, not {}",
                json_kind(body)
            ),
            None,
            "invalid_type",
        ));
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(other) => return Err(wrong_type("model", "a string", other)),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(wrong_type("stream", "a boolean", other)),
    };
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(wrong_type(
                    "stream_options.include_usage",
                    "a boolean",
                    other,
                ));
            }
        },
        Some(other) => return Err(wrong_type("stream_options", "an object", other)),
    };
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "only `n: 1` is supported: the program gives one answer per run",
                Some("n"),
                "unsupported_value",
            ));
        }
    }
    let messages = match obj.get("messages") {
        None => {
            return Err(ApiError::invalid(
                "`messages` is required: the conversation so far, ending with the user's message",
                Some("messages"),
                "missing_required_parameter",
            ));
        }
        Some(Value::Array(list)) if list.is_empty() => {
            return Err(ApiError::invalid(
                "`messages` is empty: it needs at least the user's message",
                Some("messages"),
                "empty_array",
            ));
        }
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, m)| message(i, m))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(wrong_type("messages", "an array of messages", other)),
    };
    let last = messages.len() - 1;
    if messages[last].role != "user" {
        let has_user = messages.iter().any(|m| m.role == "user");
        return Err(ApiError::invalid(
            if has_user {
                format!(
                    "the last message must be the user's, but `messages[{last}]` is `{}`",
                    messages[last].role
                )
            } else {
                "`messages` has no `user` message to answer".to_string()
            },
            Some(&format!("messages[{last}].role")),
            "invalid_value",
        ));
    }
    Ok(ChatRequest {
        model,
        messages,
        stream,
        include_usage,
    })
}

fn message(i: usize, m: &Value) -> Result<Message, ApiError> {
    let at = format!("messages[{i}]");
    let Some(obj) = m.as_object() else {
        return Err(wrong_type(&at, "an object with `role` and `content`", m));
    };
    let role = match obj.get("role") {
        Some(Value::String(r)) => match r.as_str() {
            "user" => "user",
            "assistant" => "assistant",
            // A developer message is the newer name for a system one.
            "system" | "developer" => "system",
            "tool" | "function" => {
                return Err(ApiError::invalid(
                    format!("`{at}` is a `{r}` message; a flow program calls no tools"),
                    Some(&format!("{at}.role")),
                    "invalid_value",
                ));
            }
            other => {
                return Err(ApiError::invalid(
                    format!(
                        "`{at}.role` is `{}`; it must be `system`, `developer`, `user` or `assistant`",
                        crate::text::shorten(other, 40)
                    ),
                    Some(&format!("{at}.role")),
                    "invalid_value",
                ));
            }
        },
        None => {
            return Err(ApiError::invalid(
                format!("`{at}.role` is required"),
                Some(&format!("{at}.role")),
                "missing_required_parameter",
            ));
        }
        Some(other) => return Err(wrong_type(&format!("{at}.role"), "a string", other)),
    };
    let param = format!("{at}.content");
    let content = match obj.get("content") {
        Some(Value::String(s)) => s.clone(),
        // An assistant turn that only called tools has no text.
        None | Some(Value::Null) if role == "assistant" => String::new(),
        None => {
            return Err(ApiError::invalid(
                format!("`{param}` is required"),
                Some(&param),
                "missing_required_parameter",
            ));
        }
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            for (j, part) in parts.iter().enumerate() {
                match (
                    part.get("type").and_then(Value::as_str),
                    part.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(text)) => texts.push(text),
                    _ => {
                        return Err(ApiError::invalid(
                            format!(
                                "`{param}[{j}]` is not a text part: only `{{\"type\": \"text\", \"text\": \"...\"}}` parts are supported"
                            ),
                            Some(&format!("{param}[{j}]")),
                            "invalid_value",
                        ));
                    }
                }
            }
            texts.join("\n")
        }
        Some(other) => {
            return Err(wrong_type(
                &param,
                "a string or an array of text parts",
                other,
            ));
        }
    };
    Ok(Message { role, content })
}

/// The run's inputs: the last (user) message, and the turns before it for
/// the program's `chat` input when it has one.
fn bind(
    state: &super::State,
    mapping: &ChatMapping,
    request: &ChatRequest,
) -> Result<Inputs, ApiError> {
    let (last, earlier) = request
        .messages
        .split_last()
        .ok_or_else(|| ApiError::invalid("`messages` is empty", Some("messages"), "empty_array"))?;
    let mut given = vec![(
        mapping.message.clone(),
        InputValue::Text(last.content.clone()),
    )];
    if let Some(history) = &mapping.history {
        let turns: Vec<Value> = earlier
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        given.push((history.clone(), InputValue::Json(Value::Array(turns))));
    }
    state.engine.bind(given).map_err(|errors| {
        let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        ApiError::invalid(text.join("; "), Some("messages"), "invalid_value")
    })
}

/// What every object of one reply repeats.
struct Meta {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

fn usage(stats: &RunStats) -> Value {
    json!({
        "prompt_tokens": stats.input_tokens,
        "completion_tokens": stats.output_tokens,
        "total_tokens": stats.input_tokens + stats.output_tokens,
    })
}

pub(crate) async fn handle(
    State(state): State<Arc<super::State>>,
    Extension(RequestId(id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match respond(&state, &id, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn respond(
    state: &Arc<super::State>,
    id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let value = super::layers::json_body(headers, body, state.options.max_body)?;
    let mapping = state.chat.as_ref().map_err(|reason| {
        ApiError::invalid(
            format!("this program takes no chat requests: {reason}; `POST /v1/runs` takes its inputs as JSON"),
            None,
            "chat_unavailable",
        )
        .with_status(StatusCode::NOT_FOUND)
    })?;
    let request = parse(&value)?;
    let inputs = bind(state, mapping, &request)?;
    let meta = Meta {
        id: format!("chatcmpl-{id}"),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: request
            .model
            .clone()
            .unwrap_or_else(|| state.options.model.clone()),
        include_usage: request.include_usage,
    };
    if !request.stream {
        let report = launch(state, id, inputs, None, false)?.report().await;
        let outputs = report.outputs.as_ref().map_err(ApiError::run_failed)?;
        let text = outputs
            .get(&mapping.answer)
            .map(|v| v.to_text())
            .unwrap_or_default();
        return Ok(json_body(&json!({
            "id": meta.id,
            "object": "chat.completion",
            "created": meta.created,
            "model": meta.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": null},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": usage(&report.stats),
        })));
    }

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let run = launch(state, id, inputs, Some(tx), true)?;
    let mut pieces = Pieces {
        events: rx,
        run: Some(run),
        answer: mapping.answer.clone(),
        streamed: false,
    };
    let mut pending = VecDeque::new();
    let role = chunk(&meta, json!({"role": "assistant", "content": ""}), None);
    match pieces.next().await {
        Piece::Content(text) => {
            state.metrics.first_chunk(arrived.elapsed());
            pending.push_back(role);
            pending.push_back(chunk(&meta, json!({"content": text}), None));
        }
        Piece::End(report) => {
            if let Err(e) = &report.outputs {
                return Err(ApiError::run_failed(e));
            }
            state.metrics.first_chunk(arrived.elapsed());
            pending.push_back(role);
            pending.extend(end_events(&meta, &report, &mapping.answer, pieces.streamed));
            pieces.run = None;
        }
    }
    let reply = Reply {
        pieces,
        pending,
        meta,
    };
    let stream = futures::stream::unfold(reply, |mut reply| async move {
        loop {
            if let Some(event) = reply.pending.pop_front() {
                return Some((Ok::<Event, Infallible>(event), reply));
            }
            // Nothing is left once the run's end was sent.
            reply.pieces.run.as_ref()?;
            match reply.pieces.next().await {
                Piece::Content(text) => {
                    let event = chunk(&reply.meta, json!({"content": text}), None);
                    reply.pending.push_back(event);
                }
                Piece::End(report) => {
                    let answer = reply.pieces.answer.clone();
                    let events = end_events(&reply.meta, &report, &answer, reply.pieces.streamed);
                    reply.pending.extend(events);
                    reply.pieces.run = None;
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A streamed reply on its way: what is left to send, and the run.
struct Reply {
    pieces: Pieces,
    pending: VecDeque<Event>,
    meta: Meta,
}

/// The answer's text as the run gives it, then the run's end.
enum Piece {
    Content(String),
    End(Box<RunReport>),
}

struct Pieces {
    events: UnboundedReceiver<RunEvent>,
    /// `None` once the run's end was taken. Dropping it (the client went
    /// away) cancels the run.
    run: Option<Launched>,
    answer: String,
    /// Some of the answer was sent.
    streamed: bool,
}

impl Pieces {
    async fn next(&mut self) -> Piece {
        while let Some(event) = self.events.recv().await {
            match event {
                // Released by the runtime only once the answer's guard is
                // decided in its favour.
                RunEvent::OutputChunk { name, text } if name == self.answer => {
                    self.streamed = true;
                    if !text.is_empty() {
                        return Piece::Content(text);
                    }
                }
                // An answer that did not stream (a refusal, the other branch
                // of an `if`, a value that is not one call's text) comes whole.
                RunEvent::OutputReady { name, value } if name == self.answer && !self.streamed => {
                    self.streamed = true;
                    return Piece::Content(value.to_text());
                }
                _ => {}
            }
        }
        // The run dropped its event sender: it has ended.
        match self.run.take() {
            Some(run) => Piece::End(Box::new(run.report().await)),
            None => Piece::End(Box::new(RunReport::failed(
                crate::runtime::RunError::internal("a streamed reply outlived its run"),
            ))),
        }
    }
}

fn chunk(meta: &Meta, delta: Value, finish: Option<&str>) -> Event {
    let mut c = json!({
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    if meta.include_usage
        && let Some(obj) = c.as_object_mut()
    {
        obj.insert("usage".into(), Value::Null);
    }
    data(&c)
}

fn data(value: &Value) -> Event {
    Event::default().data(serde_json::to_string(value).unwrap_or_default())
}

/// The reply's last events: what is left of the answer, the finish chunk,
/// usage when asked for, `[DONE]`; or, for a run that failed after the
/// reply began, an error object (the status was already sent).
fn end_events(meta: &Meta, report: &RunReport, answer: &str, streamed: bool) -> Vec<Event> {
    let mut events = Vec::new();
    match &report.outputs {
        Ok(outputs) => {
            if !streamed && let Some(value) = outputs.get(answer) {
                events.push(chunk(meta, json!({"content": value.to_text()}), None));
            }
            events.push(chunk(meta, json!({}), Some("stop")));
            if meta.include_usage {
                events.push(data(&json!({
                    "id": meta.id,
                    "object": "chat.completion.chunk",
                    "created": meta.created,
                    "model": meta.model,
                    "choices": [],
                    "usage": usage(&report.stats),
                })));
            }
        }
        Err(e) => events.push(data(&ApiError::run_failed(e).body())),
    }
    events.push(Event::default().data("[DONE]"));
    events
}

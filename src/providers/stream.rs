//! Streamed replies over HTTP: the request body each provider sends anyway,
//! with `stream` set, and its server-sent events read as they arrive.
//!
//! - OpenAI-compatible (`chat/completions`): `"stream": true` and
//!   `"stream_options": {"include_usage": true}`; each event's data is a
//!   chunk whose `choices[0].delta.content` is the next text; a chunk with
//!   no choices carries `usage`; `data: [DONE]` ends it. A chunk with an
//!   `error` object is a server error mid-stream.
//! - Anthropic (`messages`): `message_start` (input tokens),
//!   `content_block_delta` with a `text_delta`, `message_delta` (output
//!   tokens, stop reason), `message_stop` at the end; `ping` and the block
//!   start and stop events carry nothing we need; `error` is a server error
//!   mid-stream (`overloaded_error`, say).
//!
//! An error event, a connection that breaks, or a stream that ends before
//! its last event are transient (the reply "broke off"); an event that is
//! not the JSON the API documents is malformed, like a whole reply would be.
//! Dropping the future drops the response, which closes the connection.

use eventsource_stream::{EventStreamError, Eventsource};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::anthropic::{AnthropicProvider, MessagesUsage};
use super::http::{Endpoint, MAX_REPLY_BYTES};
use super::openai::OpenAiProvider;
use super::{Malformation, ProviderError, Reply, Request, ServerText, StreamSink, Usage};
use crate::internal::InternalError;

/// `body` as JSON with the fields that ask for a stream added.
fn streamed_body(
    body: impl serde::Serialize,
    extra: serde_json::Value,
) -> Result<serde_json::Value, ProviderError> {
    let mut value = serde_json::to_value(body).map_err(|e| {
        ProviderError::Internal(InternalError::new(format!(
            "could not write a request body: {e}"
        )))
    })?;
    if let (Some(obj), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        obj.extend(extra);
    }
    Ok(value)
}

/// The events of a streamed reply, each as its data text, or the error
/// that ended the stream.
async fn events(
    endpoint: &Endpoint,
    streamed: crate::providers::http::Streamed,
    mut each: impl FnMut(&str, &str) -> Result<Step, ProviderError>,
) -> Result<(), ProviderError> {
    let mut events = streamed.response.bytes_stream().eventsource();
    let mut bytes = 0usize;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(EventStreamError::Transport(e)) => return Err(endpoint.stream_error(&e)),
            Err(EventStreamError::Utf8(e)) => {
                return Err(endpoint.broke_off(&format!("the stream is not UTF-8 text ({e})")));
            }
            Err(EventStreamError::Parser(e)) => {
                return Err(
                    endpoint.broke_off(&format!("the stream is not server-sent events ({e})"))
                );
            }
        };
        bytes = bytes.saturating_add(event.data.len());
        if bytes > MAX_REPLY_BYTES {
            return Err(endpoint.broke_off(&format!(
                "the stream passed {} MiB, the most a reply may be",
                MAX_REPLY_BYTES >> 20
            )));
        }
        if let Step::Done = each(&event.event, &event.data)? {
            return Ok(());
        }
    }
    Err(endpoint.broke_off("the stream ended before the reply was complete"))
}

/// A whole reply where a stream was asked for: one chunk, as a cached reply
/// streams.
fn whole(
    reply: Result<Reply, ProviderError>,
    sink: &dyn StreamSink,
) -> Result<Reply, ProviderError> {
    let reply = reply?;
    if let Some(u) = reply.usage {
        sink.usage(u);
    }
    sink.text(&reply.text);
    Ok(reply)
}

enum Step {
    More,
    Done,
}

fn parse<T: serde::de::DeserializeOwned>(
    endpoint: &Endpoint,
    data: &str,
) -> Result<T, ProviderError> {
    serde_json::from_str(data)
        .map_err(|e| endpoint.malformed(Malformation::NotJson(e.to_string()), data.as_bytes()))
}

pub(super) async fn openai(
    p: &OpenAiProvider,
    request: Request,
    sink: &dyn StreamSink,
) -> Result<Reply, ProviderError> {
    let body = streamed_body(
        p.body(&request),
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    )?;
    let endpoint = &p.endpoint;
    let streamed = endpoint.post_streamed(&body).await?;
    if !streamed.is_event_stream() {
        let raw = endpoint.whole(streamed).await?;
        return whole(p.decode_reply(&raw, &request), sink);
    }
    let mut text: Option<String> = None;
    let mut refusal: Option<String> = None;
    let mut usage = Usage::default();
    let mut got_usage = false;
    let mut truncated = false;
    let mut finished = false;
    let outcome = events(endpoint, streamed, |_, data| {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(Step::Done);
        }
        let chunk: ChatChunk = parse(endpoint, data)?;
        if let Some(error) = chunk.error {
            return Err(endpoint.broke_off(&format!(
                "the server sent an error mid-stream: {}",
                error.message.unwrap_or_else(|| "no message".into())
            )));
        }
        if let Some(choice) = chunk.choices.into_iter().next() {
            let delta = choice.delta.unwrap_or_default();
            if let Some(piece) = delta.content {
                if !piece.is_empty() {
                    sink.text(&piece);
                }
                text.get_or_insert_with(String::new).push_str(&piece);
            }
            if let Some(piece) = delta.refusal {
                refusal.get_or_insert_with(String::new).push_str(&piece);
            }
            finished |= choice.finish_reason.is_some();
            truncated |= choice.finish_reason.as_deref() == Some("length");
        }
        if let Some(u) = chunk.usage {
            got_usage = true;
            usage = Usage {
                input_tokens: u.prompt_tokens.unwrap_or(0),
                output_tokens: u.completion_tokens.unwrap_or(0),
            };
            sink.usage(usage);
        }
        Ok(Step::More)
    })
    .await;
    match outcome {
        Ok(()) => {}
        // Compatible servers that end with `finish_reason` and no `[DONE]`.
        Err(ProviderError::BodyRead { .. }) if finished && text.is_some() => {}
        Err(e) => return Err(e),
    }
    match (text, refusal) {
        (Some(text), _) => Ok(Reply {
            text,
            usage: got_usage.then_some(usage),
            truncated,
        }),
        (None, Some(refusal)) => Err(endpoint.malformed(
            Malformation::Refusal(ServerText::new(&refusal)),
            refusal.as_bytes(),
        )),
        (None, None) => Err(endpoint.malformed(Malformation::NoContent, b"")),
    }
}

pub(super) async fn anthropic(
    p: &AnthropicProvider,
    request: Request,
    sink: &dyn StreamSink,
) -> Result<Reply, ProviderError> {
    let body = streamed_body(p.body(&request), json!({"stream": true}))?;
    let endpoint = &p.endpoint;
    let streamed = endpoint.post_streamed(&body).await?;
    if !streamed.is_event_stream() {
        let raw = endpoint.whole(streamed).await?;
        return whole(p.decode_reply(&raw, &request), sink);
    }
    let mut text = String::new();
    let mut any_text = false;
    let mut usage = Usage::default();
    let mut got_usage = false;
    let mut truncated = false;
    events(endpoint, streamed, |_, data| {
        let event: MessageEvent = parse(endpoint, data)?;
        match event.kind.as_str() {
            "message_start" => {
                if let Some(u) = event.message.and_then(|m| m.usage) {
                    got_usage = true;
                    usage.input_tokens = u.input().unwrap_or(0);
                    usage.output_tokens = u.output_tokens.unwrap_or(0);
                    sink.usage(usage);
                }
            }
            "content_block_delta" => {
                if let Some(delta) = event.delta
                    && delta.kind.as_deref() == Some("text_delta")
                    && let Some(piece) = delta.text
                {
                    any_text = true;
                    sink.text(&piece);
                    text.push_str(&piece);
                }
            }
            "message_delta" => {
                truncated |= event.delta.as_ref().and_then(|d| d.stop_reason.as_deref())
                    == Some("max_tokens");
                if let Some(u) = event.usage {
                    got_usage = true;
                    usage.output_tokens = u.output_tokens.unwrap_or(usage.output_tokens);
                    if let Some(i) = u.input() {
                        usage.input_tokens = i;
                    }
                    sink.usage(usage);
                }
            }
            "message_stop" => return Ok(Step::Done),
            "error" => {
                let error = event.error.unwrap_or_default();
                return Err(endpoint.broke_off(&format!(
                    "the server sent {} mid-stream: {}",
                    error
                        .kind
                        .map_or_else(|| "an error".to_string(), |k| format!("`{k}`")),
                    error.message.unwrap_or_else(|| "no message".into())
                )));
            }
            // `ping`, block starts and stops, and event types added later.
            _ => {}
        }
        Ok(Step::More)
    })
    .await?;
    if !any_text {
        return Err(endpoint.malformed(Malformation::NoText, b""));
    }
    Ok(Reply {
        text,
        usage: got_usage.then_some(usage),
        truncated,
    })
}

#[derive(Deserialize)]
struct ChatChunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<ChunkError>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct ChunkError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct MessageEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(default)]
    delta: Option<MessageDelta>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
    #[serde(default)]
    error: Option<ChunkError>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<MessagesUsage>,
}

#[derive(Deserialize)]
struct MessageDelta {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[cfg(test)]
mod tests;

//! Both SSE protocols against the fake server: text and usage, malformed
//! events, an error event mid-stream, a server that stops mid-stream, and a
//! dropped stream closing its connection.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use fake_llm::{Answer, Server, StreamEnd};

use super::super::anthropic::AnthropicProvider;
use super::super::http::test_support::{client, fatal, request, spec, transient};
use super::super::openai::OpenAiProvider;
use super::super::{Provider, ProviderError, Reply, StreamSink, Usage};
use crate::model::{ModelOptions, ProviderKind};

#[derive(Default)]
struct Collect {
    chunks: Mutex<Vec<String>>,
    usage: Mutex<Option<Usage>>,
}

impl StreamSink for Collect {
    fn text(&self, chunk: &str) {
        self.chunks.lock().unwrap().push(chunk.to_string());
    }
    fn usage(&self, usage: Usage) {
        *self.usage.lock().unwrap() = Some(usage);
    }
}

impl Collect {
    fn chunks(&self) -> Vec<String> {
        self.chunks.lock().unwrap().clone()
    }
}

fn openai(server: &Server) -> OpenAiProvider {
    let spec = spec(
        ProviderKind::OpenAi,
        &server.base_url(),
        ModelOptions::default(),
    );
    OpenAiProvider::with_key(&spec, client(), Some("sk-test-0123456789abcdef".into())).unwrap()
}

fn anthropic(server: &Server) -> AnthropicProvider {
    let spec = spec(
        ProviderKind::Anthropic,
        &server.base_url(),
        ModelOptions::default(),
    );
    AnthropicProvider::with_key(&spec, client(), Some("sk-ant-test-0123456789".into())).unwrap()
}

async fn stream(p: &dyn Provider, sink: &Collect) -> Result<Reply, ProviderError> {
    p.stream(request("hi"), sink).await
}

const GAP: Duration = Duration::from_millis(1);

#[tokio::test]
async fn openai_streams_deltas_and_takes_usage_from_the_last_chunk() {
    let server = Server::start(fake_llm::openai::stream(
        &["Hel", "lo", " world"],
        12,
        3,
        GAP,
        StreamEnd::Close,
    ));
    let sink = Collect::default();
    let reply = stream(&openai(&server), &sink).await.unwrap();
    assert_eq!(reply.text, "Hello world");
    assert_eq!(
        reply.usage,
        Some(Usage {
            input_tokens: 12,
            output_tokens: 3
        })
    );
    assert_eq!(sink.chunks(), ["Hel", "lo", " world"]);
    let body = &server.seen()[0].body;
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[tokio::test]
async fn anthropic_streams_text_deltas_and_skips_pings() {
    let server = Server::start(fake_llm::anthropic::stream(
        &["Hi", " there"],
        25,
        9,
        GAP,
        StreamEnd::Close,
    ));
    let sink = Collect::default();
    let reply = stream(&anthropic(&server), &sink).await.unwrap();
    assert_eq!(reply.text, "Hi there");
    assert_eq!(
        reply.usage,
        Some(Usage {
            input_tokens: 25,
            output_tokens: 9
        })
    );
    assert_eq!(sink.chunks(), ["Hi", " there"]);
    assert_eq!(server.seen()[0].body["stream"], json!(true));
}

#[tokio::test]
async fn malformed_events_are_fatal_and_quote_the_event() {
    let bad = Answer::sse(&[("", "{not json".to_string())], GAP, StreamEnd::Close);
    let server = Server::start(bad.clone());
    let e = fatal(stream(&openai(&server), &Collect::default()).await);
    assert!(e.message.contains("not the JSON expected"), "{}", e.message);
    assert!(e.message.contains("{not json"), "{}", e.message);
    let server = Server::start(bad);
    let e = fatal(stream(&anthropic(&server), &Collect::default()).await);
    assert!(e.message.contains("not the JSON expected"), "{}", e.message);
}

#[tokio::test]
async fn an_error_event_mid_stream_is_transient_after_the_text_so_far() {
    let mut events = fake_llm::anthropic::stream_events(&["Hi", " there"], 5, 5);
    events.truncate(4);
    events.push((
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            .to_string(),
    ));
    let server = Server::start(Answer::sse(&events, GAP, StreamEnd::Close));
    let sink = Collect::default();
    let e = transient(stream(&anthropic(&server), &sink).await);
    assert!(
        e.message
            .contains("the server sent `overloaded_error` mid-stream: Overloaded"),
        "{}",
        e.message
    );
    assert_eq!(sink.chunks(), ["Hi"]);
    assert_eq!(sink.usage.lock().unwrap().map(|u| u.input_tokens), Some(5));

    let mut events = fake_llm::openai::stream_events(&["a", "b"], 1, 1);
    events.truncate(2);
    events.push((
        "",
        json!({"error": {"message": "the model is overloaded", "type": "server_error"}})
            .to_string(),
    ));
    let server = Server::start(Answer::sse(&events, GAP, StreamEnd::Close));
    let e = transient(stream(&openai(&server), &Collect::default()).await);
    assert!(
        e.message.contains("the model is overloaded"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_server_that_stops_mid_stream_is_transient() {
    for end in [StreamEnd::Close, StreamEnd::Cut] {
        let mut events = fake_llm::openai::stream_events(&["a", "b", "c"], 1, 1);
        events.truncate(3);
        let server = Server::start(Answer::sse(&events, GAP, end));
        let sink = Collect::default();
        let e = transient(stream(&openai(&server), &sink).await);
        assert!(e.message.contains("broke off"), "{end:?}: {}", e.message);
        assert_eq!(sink.chunks(), ["a", "b"]);

        let mut events = fake_llm::anthropic::stream_events(&["a", "b"], 1, 1);
        events.truncate(4);
        let server = Server::start(Answer::sse(&events, GAP, end));
        let e = transient(stream(&anthropic(&server), &Collect::default()).await);
        assert!(e.message.contains("broke off"), "{end:?}: {}", e.message);
    }
}

#[tokio::test]
async fn an_error_status_is_worded_as_for_a_whole_reply() {
    let server = Server::start(fake_llm::openai::error(429, "rate_limit", "slow down"));
    let e = transient(stream(&openai(&server), &Collect::default()).await);
    assert_eq!(e.status, Some(429));
    assert!(e.message.contains("slow down"), "{}", e.message);
}

#[tokio::test]
async fn dropping_a_stream_closes_its_connection() {
    let mut events = fake_llm::openai::stream_events(&["a"], 1, 1);
    events.truncate(2);
    let server = Server::start(Answer::sse(&events, GAP, StreamEnd::Hang));
    let sink = Collect::default();
    let provider = openai(&server);
    let call = stream(&provider, &sink);
    // The first text arrives, then the server holds the stream open.
    let _ = tokio::time::timeout(Duration::from_millis(300), call).await;
    assert_eq!(sink.chunks(), ["a"]);
    let mut waited = 0;
    while server.disconnects() == 0 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(server.disconnects(), 1);
}

/// LiteLLM's mock models answer `/v1/messages` with the whole reply as JSON
/// although `stream: true` was asked for: that is one chunk, not a stream
/// that "ended before the reply was complete".
#[tokio::test]
async fn a_whole_json_reply_to_a_stream_request_is_one_chunk() {
    let server = Server::start(fake_llm::anthropic::text("whole reply"));
    let sink = Collect::default();
    let reply = stream(&anthropic(&server), &sink).await.unwrap();
    assert_eq!(reply.text, "whole reply");
    assert_eq!(sink.chunks(), ["whole reply"]);
    assert!(reply.usage.is_some());
    let server = Server::start(fake_llm::openai::text("whole too"));
    let sink = Collect::default();
    let reply = stream(&openai(&server), &sink).await.unwrap();
    assert_eq!(reply.text, "whole too");
    assert_eq!(sink.chunks(), ["whole too"]);
}

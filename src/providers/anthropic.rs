//! `anthropic(...)`: the Messages API.

use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use serde_json::json;

use super::format::{Wire, unwrap_reply};
use super::http::{Api, Auth, Endpoint, HttpClient};
use super::{Malformation, Provider, ProviderError, Reply, Request, ServerText, Usage};
use crate::model::{ModelOptions, ModelSpec, ProviderKind};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
pub const API_VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; this is used when the model sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// The one tool a typed reply is given through.
const TOOL: &str = "reply";

pub struct AnthropicProvider {
    pub(super) endpoint: Endpoint,
    options: ModelOptions,
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// Reads the key now, from `api_key_env` (default `ANTHROPIC_API_KEY`), so
    /// a missing key fails before any call is made.
    pub fn new(spec: &ModelSpec, client: impl Into<HttpClient>) -> Result<Self, ProviderError> {
        let key = spec.key_env().and_then(|name| std::env::var(name).ok());
        Self::with_key(spec, client, key)
    }

    /// As [`AnthropicProvider::new`], with the key's value given (`None`: unset).
    pub fn with_key(
        spec: &ModelSpec,
        client: impl Into<HttpClient>,
        key: Option<String>,
    ) -> Result<Self, ProviderError> {
        let api = Api {
            kind: ProviderKind::Anthropic,
            title: "Anthropic",
            default_base_url: DEFAULT_BASE_URL,
            path: "messages",
            auth: Auth::Header("x-api-key"),
            extra_headers: &[("anthropic-version", API_VERSION)],
        };
        Ok(AnthropicProvider {
            endpoint: Endpoint::new(spec, client.into(), api, key)?,
            options: spec.options.clone(),
        })
    }

    /// The request body, shared with the streaming call (`stream.rs`),
    /// which adds `stream` to it. The Messages API has no system role: the
    /// conversation's system messages join the system prompt, in order.
    pub(super) fn body<'a>(&'a self, request: &'a Request) -> MessagesRequest<'a> {
        let own = request.system.as_deref().or(self.options.system.as_deref());
        let mut system: Option<std::borrow::Cow<'a, str>> = own.map(Into::into);
        let mut messages = Vec::with_capacity(3 + request.history.len());
        for m in request.history.iter() {
            if m.role == crate::chat::Role::System {
                system = Some(match system {
                    Some(s) => format!("{s}\n\n{}", m.content).into(),
                    None => m.content.as_str().into(),
                });
            } else {
                messages.push(Message {
                    role: m.role.as_str(),
                    content: &m.content,
                });
            }
        }
        messages.extend(
            request
                .turns()
                .map(|(role, content)| Message { role, content }),
        );
        // Anthropic has no JSON mode: a schema goes as the input of one tool
        // the model must call, and that call's input is the reply.
        let (tools, tool_choice) = match &request.wire {
            Wire::Schema { schema, .. } => (
                Some(json!([{
                    "name": TOOL,
                    "description": "Give your reply, in this shape.",
                    "input_schema": schema,
                }])),
                Some(json!({"type": "tool", "name": TOOL})),
            ),
            Wire::Plain | Wire::JsonObject { .. } => (None, None),
        };
        MessagesRequest {
            model: &self.endpoint.model_id,
            max_tokens: self.options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            system,
            messages,
            temperature: self.options.temperature,
            top_p: self.options.top_p,
            tools,
            tool_choice,
        }
    }

    async fn call_once(&self, request: Request) -> Result<Reply, ProviderError> {
        let raw = self.endpoint.post(&self.body(&request)).await?;
        self.decode_reply(&raw, &request)
    }

    /// A whole (not streamed) reply's body as a `Reply`; also what a
    /// streamed call falls back to when the server ignored `stream: true`.
    pub(super) fn decode_reply(
        &self,
        raw: &[u8],
        request: &Request,
    ) -> Result<Reply, ProviderError> {
        let reply: MessagesResponse = self.endpoint.decode(raw)?;
        let truncated = reply.stop_reason.as_deref() == Some("max_tokens");
        let usage = reply.usage.and_then(|u| {
            Some(Usage {
                input_tokens: u.input()?,
                output_tokens: u.output_tokens?,
            })
        });
        // Only the tool flow offered counts as a reply; any other tool call
        // is not an answer.
        let tool_input = reply
            .content
            .iter()
            .filter(|_| matches!(request.wire, Wire::Schema { .. }))
            .find(|b| b.kind == "tool_use" && b.name.as_deref() == Some(TOOL))
            .and_then(|b| b.input.as_ref());
        if let Some(input) = tool_input {
            let text = input.to_string();
            let text = if request.wire.wrapped() {
                unwrap_reply(&text)
            } else {
                text
            };
            return Ok(Reply {
                text,
                usage,
                truncated,
            });
        }
        let mut texts = reply
            .content
            .into_iter()
            .filter(|block| block.kind == "text")
            .filter_map(|block| block.text)
            .peekable();
        if texts.peek().is_none() {
            return Err(self.endpoint.malformed(Malformation::NoText, raw));
        }
        let text = texts.collect::<String>();
        Ok(Reply {
            text,
            usage,
            truncated,
        })
    }
}

impl Provider for AnthropicProvider {
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>> {
        Box::pin(self.call_once(request))
    }

    fn stream<'a>(
        &'a self,
        request: Request,
        sink: &'a dyn super::StreamSink,
    ) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        Box::pin(super::stream::anthropic(self, request, sink))
    }

    fn batch(&self) -> Option<&dyn super::batch::BatchApi> {
        Some(self)
    }

    fn scrub(&self, text: &str) -> ServerText {
        self.endpoint.scrub(text)
    }
}

#[derive(Serialize)]
pub(super) struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<std::borrow::Cow<'a, str>>,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default)]
    content: Vec<ContentBlock>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    /// A `tool_use` block's tool and arguments.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<serde_json::Value>,
}

/// Token counts as the Messages API gives them, whole or streamed
/// (`message_start`, `message_delta`).
#[derive(Deserialize, Default)]
pub(super) struct MessagesUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl MessagesUsage {
    /// The prompt's tokens, `None` when not given. Cached prompt tokens are
    /// prompt tokens too (and billed): `input_tokens` counts only the
    /// uncached part, and a second identical prompt is not 5 tokens long.
    pub(super) fn input(&self) -> Option<u64> {
        Some(
            self.input_tokens?
                + self.cache_read_input_tokens.unwrap_or(0)
                + self.cache_creation_input_tokens.unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use serde_json::json;

    use fake_llm::{Answer, Server, refused_base_url};

    use super::*;
    use crate::providers::http::test_support::{Facts, client, fatal, request, spec, transient};

    const KEY: &str = "sk-ant-api03-test0123456789abcdef";

    fn provider(base_url: &str, options: ModelOptions) -> AnthropicProvider {
        let spec = spec(ProviderKind::Anthropic, base_url, options);
        AnthropicProvider::with_key(&spec, client(), Some(KEY.to_string())).unwrap()
    }

    fn message(content: serde_json::Value) -> serde_json::Value {
        fake_llm::anthropic::message(content, 20, 5)
    }

    fn error(kind: &str, text: &str) -> serde_json::Value {
        json!({"type": "error", "error": {"type": kind, "message": text}})
    }

    async fn call(answer: Answer, options: ModelOptions) -> Result<Reply, ProviderError> {
        let server = Server::start(answer);
        provider(&server.base_url(), options)
            .call(request("hi"))
            .await
    }

    #[tokio::test]
    async fn a_reply_joins_its_text_blocks_and_the_request_is_well_formed() {
        let content = json!([
            {"type": "text", "text": "Hello, "},
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "world"}
        ]);
        let server = Server::start(Answer::json(200, message(content)));
        let options = ModelOptions {
            temperature: Some(0.2),
            max_tokens: Some(300),
            top_p: Some(0.8),
            system: Some("from the model".to_string()),
            ..ModelOptions::default()
        };
        let provider = provider(&format!("{}/", server.base_url()), options);
        let mut req = request("greet");
        req.system = Some("be brief".to_string());
        let reply = provider.call(req).await.unwrap();
        assert_eq!(
            reply,
            Reply::new(
                "Hello, world",
                Usage {
                    input_tokens: 20,
                    output_tokens: 5
                }
            )
        );

        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let seen = &seen[0];
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/v1/messages");
        assert_eq!(seen.headers.get("x-api-key").unwrap(), KEY);
        assert_eq!(seen.headers.get("anthropic-version").unwrap(), "2023-06-01");
        assert_eq!(
            seen.headers.get("content-type").unwrap(),
            "application/json"
        );
        assert!(seen.headers.get("authorization").is_none());
        assert_eq!(
            seen.body,
            json!({
                "model": "model-1",
                "max_tokens": 300,
                "system": "be brief",
                "messages": [{"role": "user", "content": "greet"}],
                "temperature": 0.2,
                "top_p": 0.8
            })
        );
    }

    #[tokio::test]
    async fn max_tokens_defaults_and_the_models_system_prompt_is_the_fallback() {
        let server = Server::start(Answer::json(
            200,
            message(json!([{"type": "text", "text": "ok"}])),
        ));
        let provider = provider(
            &server.base_url(),
            ModelOptions {
                system: Some("you are a judge".to_string()),
                ..ModelOptions::default()
            },
        );
        provider.call(request("p")).await.unwrap();
        assert_eq!(
            server.seen()[0].body,
            json!({
                "model": "model-1",
                "max_tokens": DEFAULT_MAX_TOKENS,
                "system": "you are a judge",
                "messages": [{"role": "user", "content": "p"}]
            })
        );
    }

    #[test]
    fn a_missing_key_for_anthropic_itself_names_the_variable() {
        let spec = ModelSpec {
            options: ModelOptions::default(),
            ..spec(ProviderKind::Anthropic, "unused", ModelOptions::default())
        };
        let Facts { message, help, .. } = fatal(AnthropicProvider::with_key(&spec, client(), None));
        assert!(message.contains("`ANTHROPIC_API_KEY`"), "{message}");
        assert!(help.unwrap().contains("`ANTHROPIC_API_KEY`"));
    }

    #[tokio::test]
    async fn rate_limits_are_transient_with_the_wait_the_server_asked_for() {
        let answer = Answer::json(
            429,
            error(
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            ),
        )
        .with_header("retry-after", "2");
        let Facts {
            message,
            status,
            retry_after,
            ..
        } = transient(call(answer, ModelOptions::default()).await);
        assert_eq!(status, Some(429));
        assert_eq!(retry_after, Some(Duration::from_secs(2)));
        assert!(
            message.contains("rate_limit_error: Number of requests"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn retry_after_may_be_an_http_date() {
        let later = SystemTime::now() + Duration::from_secs(120);
        let answer = Answer::json(429, error("rate_limit_error", "slow down"))
            .with_header("retry-after", httpdate::fmt_http_date(later));
        let Facts { retry_after, .. } = transient(call(answer, ModelOptions::default()).await);
        let wait = retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn overload_and_server_errors_are_transient() {
        for status in [500, 529] {
            let answer = Answer::json(status, error("overloaded_error", "Overloaded"));
            let Facts {
                status: seen,
                message,
                ..
            } = transient(call(answer, ModelOptions::default()).await);
            assert_eq!(seen, Some(status));
            assert!(
                message.contains("overloaded_error: Overloaded"),
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_json_is_fatal_and_quotes_the_body() {
        let answer = Answer::Reply {
            status: 200,
            headers: vec![],
            body: "<html>gateway</html>".to_string(),
        };
        let Facts { message, .. } = fatal(call(answer, ModelOptions::default()).await);
        assert!(message.contains("not the JSON expected"), "{message}");
        assert!(message.contains("`<html>gateway</html>`"), "{message}");
    }

    #[tokio::test]
    async fn a_reply_without_text_is_fatal() {
        for content in [
            json!([]),
            json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]),
        ] {
            let answer = Answer::json(200, message(content));
            let Facts { message, .. } = fatal(call(answer, ModelOptions::default()).await);
            assert!(message.contains("no text in `content`"), "{message}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        let provider = provider(&refused_base_url(), ModelOptions::default());
        let result = provider.call(request("p")).await;
        assert!(
            matches!(transient(result).error, ProviderError::Connect { .. }),
            "a refused connection is a connect failure"
        );
    }

    #[tokio::test]
    async fn a_bad_key_is_fatal_names_the_variable_and_never_shows_the_key() {
        let answer = Answer::json(
            401,
            error("authentication_error", &format!("invalid x-api-key {KEY}")),
        );
        let server = Server::start(answer);
        let spec = spec(
            ProviderKind::Anthropic,
            &server.base_url(),
            ModelOptions {
                api_key_env: Some("FLOW_TEST_ANTHROPIC_KEY".to_string()),
                ..ModelOptions::default()
            },
        );
        let provider = AnthropicProvider::with_key(&spec, client(), Some(KEY.into())).unwrap();
        let result = provider.call(request("p")).await;
        let Facts {
            error,
            message,
            status,
            help,
            ..
        } = fatal(result);
        assert_eq!(status, Some(401));
        let help = help.as_deref().unwrap();
        assert!(help.contains("`FLOW_TEST_ANTHROPIC_KEY`"), "{help}");
        assert!(message.contains("authentication_error"), "{message}");
        for text in [
            message.as_str(),
            help,
            &format!("{error:?}"),
            &format!("{provider:?}"),
        ] {
            assert!(!text.contains(KEY), "{text}");
            assert!(!text.contains("0123456789abcdef"), "{text}");
        }
    }

    #[tokio::test]
    async fn a_bad_request_is_fatal_with_the_providers_message() {
        let answer = Answer::json(
            400,
            error("invalid_request_error", "max_tokens: must be positive"),
        );
        let Facts {
            message,
            status,
            help,
            ..
        } = fatal(call(answer, ModelOptions::default()).await);
        assert_eq!(status, Some(400));
        assert!(
            message.contains("max_tokens: must be positive"),
            "{message}"
        );
        assert!(help.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_server_times_out_as_transient() {
        let options = ModelOptions {
            timeout: Some(Duration::from_secs(3)),
            ..ModelOptions::default()
        };
        let Facts { message, .. } = transient(call(Answer::Hang, options).await);
        assert!(message.contains("timed out after 3s"), "{message}");
    }

    #[tokio::test]
    async fn a_forced_tools_input_is_the_reply_and_cache_tokens_are_input() {
        let server = Server::start(fake_llm::anthropic::tool_use(
            "reply",
            json!({"value": ["a"]}),
        ));
        let p = provider(&server.base_url(), ModelOptions::default());
        let mut req = request("hi");
        req.wire = Wire::Schema {
            schema: Box::new(json!({"type": "object"})),
            strict: true,
            wrapped: true,
        };
        let reply = p.call(req).await.unwrap();
        assert_eq!(reply.text, r#"["a"]"#);
        let body = &server.seen()[0].body;
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "reply"})
        );

        let cached = call(
            fake_llm::anthropic::cached("x", 5, 20, 6),
            ModelOptions::default(),
        );
        let usage = cached.await.unwrap().usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (31, 3));
        let cut = call(fake_llm::anthropic::cut("x"), ModelOptions::default()).await;
        assert!(cut.unwrap().truncated);
    }
}

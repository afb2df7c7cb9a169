//! `openai(...)`: the Chat Completions API, which OpenAI and most local
//! servers (Ollama, vLLM, llama.cpp, LM Studio) speak.

use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use serde_json::json;

use super::format::{Wire, unwrap_reply};
use super::http::{Api, Auth, Endpoint, HttpClient};
use super::{Malformation, Provider, ProviderError, Reply, Request, ServerText, Usage};
use crate::model::{ModelOptions, ModelSpec, ProviderKind};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub struct OpenAiProvider {
    pub(super) endpoint: Endpoint,
    options: ModelOptions,
    /// OpenAI itself wants `max_completion_tokens` (its reasoning models
    /// reject `max_tokens`); compatible servers only know `max_tokens`.
    completion_tokens_field: bool,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// Reads the key now, from `api_key_env` (default `OPENAI_API_KEY`), so a
    /// missing key fails before any call is made.
    pub fn new(spec: &ModelSpec, client: impl Into<HttpClient>) -> Result<Self, ProviderError> {
        let key = spec.key_env().and_then(|name| std::env::var(name).ok());
        Self::with_key(spec, client, key)
    }

    /// As [`OpenAiProvider::new`], with the key's value given (`None`: unset).
    pub fn with_key(
        spec: &ModelSpec,
        client: impl Into<HttpClient>,
        key: Option<String>,
    ) -> Result<Self, ProviderError> {
        let api = Api {
            kind: ProviderKind::OpenAi,
            title: "OpenAI",
            default_base_url: DEFAULT_BASE_URL,
            path: "chat/completions",
            auth: Auth::Bearer,
            extra_headers: &[],
        };
        let endpoint = Endpoint::new(spec, client.into(), api, key)?;
        let completion_tokens_field = endpoint.is_default();
        Ok(OpenAiProvider {
            endpoint,
            options: spec.options.clone(),
            completion_tokens_field,
        })
    }

    /// The request body, shared with the streaming call (`stream.rs`),
    /// which adds `stream` to it.
    pub(super) fn body<'a>(&'a self, request: &'a Request) -> ChatRequest<'a> {
        let mut messages = Vec::with_capacity(4 + request.history.len());
        if let Some(system) = request.system.as_deref().or(self.options.system.as_deref()) {
            messages.push(Message {
                role: "system",
                content: system,
            });
        }
        // The conversation so far, as the messages it was, then the prompt.
        messages.extend(request.history.iter().map(|m| Message {
            role: m.role.as_str(),
            content: &m.content,
        }));
        messages.extend(
            request
                .turns()
                .map(|(role, content)| Message { role, content }),
        );
        let (max_tokens, max_completion_tokens) = if self.completion_tokens_field {
            (None, self.options.max_tokens)
        } else {
            (self.options.max_tokens, None)
        };
        let response_format = match &request.wire {
            Wire::Plain => None,
            Wire::Schema { schema, strict, .. } => Some(json!({
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": schema, "strict": strict},
            })),
            Wire::JsonObject { .. } => Some(json!({"type": "json_object"})),
        };
        ChatRequest {
            model: &self.endpoint.model_id,
            messages,
            temperature: self.options.temperature,
            max_tokens,
            max_completion_tokens,
            top_p: self.options.top_p,
            response_format,
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
        let reply: ChatResponse = self.endpoint.decode(raw)?;
        let Some(first) = reply.choices.into_iter().next() else {
            return Err(self.endpoint.malformed(Malformation::NoChoices, raw));
        };
        let message = first.message.unwrap_or_default();
        let Some(text) = message.content else {
            let problem = match message.refusal {
                Some(refusal) => Malformation::Refusal(ServerText::new(&refusal)),
                None => Malformation::NoContent,
            };
            return Err(self.endpoint.malformed(problem, raw));
        };
        let text = if request.wire.wrapped() {
            unwrap_reply(&text)
        } else {
            text
        };
        // Both counts or neither: a reply that gives one is still unknown.
        let usage = reply.usage.and_then(|u| {
            Some(Usage {
                input_tokens: u.prompt_tokens?,
                output_tokens: u.completion_tokens?,
            })
        });
        Ok(Reply {
            text,
            usage,
            truncated: first.finish_reason.as_deref() == Some("length"),
        })
    }
}

impl Provider for OpenAiProvider {
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>> {
        Box::pin(self.call_once(request))
    }

    fn stream<'a>(
        &'a self,
        request: Request,
        sink: &'a dyn super::StreamSink,
    ) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        Box::pin(super::stream::openai(self, request, sink))
    }

    fn batch(&self) -> Option<&dyn super::batch::BatchApi> {
        Some(self)
    }

    fn scrub(&self, text: &str) -> ServerText {
        self.endpoint.scrub(text)
    }
}

#[derive(Serialize)]
pub(super) struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<ChoiceMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize, Default)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use serde_json::json;

    use fake_llm::{Answer, Config, Server, refused_base_url};

    use super::*;
    use crate::providers::http::test_support::{Facts, client, fatal, request, spec, transient};

    const KEY: &str = "sk-test-0123456789abcdef";

    fn provider(base_url: &str, options: ModelOptions) -> OpenAiProvider {
        let spec = spec(ProviderKind::OpenAi, base_url, options);
        OpenAiProvider::with_key(&spec, client(), Some(KEY.to_string())).unwrap()
    }

    fn completion(content: serde_json::Value) -> serde_json::Value {
        fake_llm::openai::completion(content, 12, 3)
    }

    async fn call(answer: Answer, options: ModelOptions) -> Result<Reply, ProviderError> {
        let server = Server::start(answer);
        provider(&server.base_url(), options)
            .call(request("hi"))
            .await
    }

    #[tokio::test]
    async fn a_reply_gives_text_and_usage_and_the_request_is_well_formed() {
        let server = Server::start(Answer::json(200, completion(json!("yes"))));
        let options = ModelOptions {
            temperature: Some(0.5),
            max_tokens: Some(40),
            top_p: Some(0.9),
            system: Some("from the model".to_string()),
            ..ModelOptions::default()
        };
        let provider = provider(&format!("{}/", server.base_url()), options);
        let mut req = request("is it?");
        req.system = Some("be terse".to_string());
        let reply = provider.call(req).await.unwrap();
        assert_eq!(
            reply,
            Reply::new(
                "yes",
                Usage {
                    input_tokens: 12,
                    output_tokens: 3
                }
            )
        );

        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let seen = &seen[0];
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/v1/chat/completions");
        assert_eq!(
            seen.headers.get("authorization").unwrap(),
            &format!("Bearer {KEY}")
        );
        assert_eq!(
            seen.headers.get("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(
            seen.body,
            json!({
                "model": "model-1",
                "messages": [
                    {"role": "system", "content": "be terse"},
                    {"role": "user", "content": "is it?"}
                ],
                "temperature": 0.5,
                "max_tokens": 40,
                "top_p": 0.9
            })
        );
    }

    #[tokio::test]
    async fn the_models_system_prompt_is_the_fallback_and_unset_options_are_left_out() {
        let server = Server::start(Answer::json(200, completion(json!("ok"))));
        let spec = spec(
            ProviderKind::OpenAi,
            &server.base_url(),
            ModelOptions {
                system: Some("you are a judge".to_string()),
                ..ModelOptions::default()
            },
        );
        // No key and a local base_url: no Authorization header at all.
        let provider = OpenAiProvider::with_key(&spec, client(), None).unwrap();
        provider.call(request("p")).await.unwrap();
        let seen = &server.seen()[0];
        assert!(seen.headers.get("authorization").is_none());
        assert_eq!(
            seen.body,
            json!({
                "model": "model-1",
                "messages": [
                    {"role": "system", "content": "you are a judge"},
                    {"role": "user", "content": "p"}
                ]
            })
        );
    }

    #[test]
    fn openai_itself_gets_max_completion_tokens() {
        let spec = ModelSpec {
            options: ModelOptions {
                base_url: None,
                max_tokens: Some(7),
                ..ModelOptions::default()
            },
            ..spec(ProviderKind::OpenAi, "unused", ModelOptions::default())
        };
        let provider = OpenAiProvider::with_key(&spec, client(), Some(KEY.into())).unwrap();
        let req = request("p");
        let body = serde_json::to_value(provider.body(&req)).unwrap();
        assert_eq!(body["max_completion_tokens"], 7);
        assert!(body.get("max_tokens").is_none());
    }

    #[tokio::test]
    async fn rate_limits_are_transient_with_the_wait_the_server_asked_for() {
        let answer = Answer::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
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
        assert!(message.contains("Rate limit reached"), "{message}");
    }

    #[tokio::test]
    async fn retry_after_may_be_an_http_date() {
        let later = SystemTime::now() + Duration::from_secs(120);
        let answer = Answer::json(503, json!({"error": {"message": "busy"}}))
            .with_header("retry-after", httpdate::fmt_http_date(later));
        let Facts { retry_after, .. } = transient(call(answer, ModelOptions::default()).await);
        // The date has whole seconds and the clock moves on: roughly 2 minutes.
        let wait = retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn server_errors_are_transient() {
        let answer = Answer::json(
            500,
            json!({"error": {"message": "The server had an error"}}),
        );
        let Facts {
            status,
            retry_after,
            message,
            ..
        } = transient(call(answer, ModelOptions::default()).await);
        assert_eq!(status, Some(500));
        assert_eq!(retry_after, None);
        assert!(message.contains("The server had an error"), "{message}");
    }

    #[tokio::test]
    async fn malformed_json_is_fatal_and_quotes_the_body() {
        let answer = Answer::Reply {
            status: 200,
            headers: vec![("content-type", "application/json".to_string())],
            body: "{\"choices\": [".to_string(),
        };
        let Facts {
            message, status, ..
        } = fatal(call(answer, ModelOptions::default()).await);
        assert_eq!(status, None);
        assert!(message.contains("not the JSON expected"), "{message}");
        assert!(message.contains("`{\"choices\": [`"), "{message}");
    }

    #[tokio::test]
    async fn empty_choices_are_fatal() {
        let answer = Answer::json(200, json!({"choices": [], "usage": {}}));
        let Facts { message, .. } = fatal(call(answer, ModelOptions::default()).await);
        assert!(message.contains("no `choices`"), "{message}");
    }

    #[tokio::test]
    async fn missing_content_is_fatal_and_a_refusal_is_quoted() {
        let answer = Answer::json(200, completion(json!(null)));
        let Facts { message, .. } = fatal(call(answer, ModelOptions::default()).await);
        assert!(message.contains("no message `content`"), "{message}");

        let refusal = json!({"choices": [{"message": {"role": "assistant", "content": null, "refusal": "I can't help"}}]});
        let Facts { message, .. } =
            fatal(call(Answer::json(200, refusal), ModelOptions::default()).await);
        assert!(message.contains("I can't help"), "{message}");
    }

    #[tokio::test]
    async fn a_reply_without_usage_has_unknown_usage() {
        let answer = Answer::json(200, json!({"choices": [{"message": {"content": "hi"}}]}));
        let reply = call(answer, ModelOptions::default()).await.unwrap();
        assert_eq!(reply.usage, None);
        assert_eq!(reply.text, "hi");
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        let provider = provider(&refused_base_url(), ModelOptions::default());
        let Facts { message, .. } = transient(provider.call(request("p")).await);
        assert!(message.contains("could not connect"), "{message}");
    }

    #[tokio::test]
    async fn a_bad_key_is_fatal_names_the_variable_and_never_shows_the_key() {
        // OpenAI echoes (part of) the key back; the error must not.
        let answer = Answer::json(
            401,
            json!({"error": {
                "message": format!("Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "type": "invalid_request_error",
                "code": "invalid_api_key"
            }}),
        );
        let server = Server::start(answer);
        let spec = spec(
            ProviderKind::OpenAi,
            &server.base_url(),
            ModelOptions {
                api_key_env: Some("FLOW_TEST_OPENAI_KEY".to_string()),
                ..ModelOptions::default()
            },
        );
        let provider = OpenAiProvider::with_key(&spec, client(), Some(KEY.to_string())).unwrap();
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
        assert!(help.contains("`FLOW_TEST_OPENAI_KEY`"), "{help}");
        assert!(message.contains("Incorrect API key provided"), "{message}");
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
    async fn not_found_points_at_the_model_id_and_base_url() {
        let answer = Answer::json(
            404,
            json!({"error": {"message": "The model `model-1` does not exist"}}),
        );
        let Facts { status, help, .. } = fatal(call(answer, ModelOptions::default()).await);
        assert_eq!(status, Some(404));
        let help = help.unwrap();
        assert!(
            help.contains("`model-1`") && help.contains("`base_url`"),
            "{help}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_server_times_out_as_transient() {
        let options = ModelOptions {
            timeout: Some(Duration::from_secs(2)),
            ..ModelOptions::default()
        };
        let Facts { message, .. } = transient(call(Answer::Hang, options).await);
        assert!(message.contains("timed out after 2s"), "{message}");
    }

    /// Over HTTP/2 one connection carries at most the server's
    /// `MAX_CONCURRENT_STREAMS` (200 for this server); 500 calls must still
    /// all be open at once, spread over several connections.
    #[cfg(feature = "http2")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_hundred_http2_calls_are_not_capped_by_the_stream_limit() {
        let client = HttpClient::with_builder(crate::providers::http::MAX_SHARDS, || {
            reqwest::Client::builder()
                .no_proxy()
                .http2_prior_knowledge()
        })
        .unwrap();
        let max_open = max_in_flight(client, 500).await;
        assert_eq!(max_open, 500);
    }

    /// 200 calls through one client must all be open at once: nothing in the
    /// client may queue them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_calls_through_one_client_are_all_in_flight_together() {
        assert_eq!(max_in_flight(client(), 200).await, 200);
    }

    /// Makes `calls` calls at once through `client` to a server that holds
    /// every request until all have arrived (or 20 s pass, so the count
    /// cannot depend on machine speed), then sleeps 200 ms; gives the most
    /// requests the server had open at once.
    async fn max_in_flight(client: HttpClient, calls: usize) -> usize {
        let server = Server::start(
            Config::answer(Answer::json(200, completion(json!("done"))))
                .hold(calls, Duration::from_secs(20))
                .delay(Duration::from_millis(200)),
        );
        let spec = spec(
            ProviderKind::OpenAi,
            &server.base_url(),
            ModelOptions::default(),
        );
        let provider = OpenAiProvider::with_key(&spec, client, Some(KEY.to_string())).unwrap();
        let replies = futures::future::join_all(
            (0..calls).map(|i| provider.call(request(&format!("call {i}")))),
        )
        .await;
        for reply in replies {
            assert_eq!(reply.unwrap().text, "done");
        }
        server.max_open()
    }

    fn wrapped_schema() -> Wire {
        Wire::Schema {
            schema: Box::new(json!({"type": "object"})),
            strict: true,
            wrapped: true,
        }
    }

    #[tokio::test]
    async fn a_schema_goes_as_response_format_and_a_re_ask_adds_two_turns() {
        let server = Server::start(Answer::json(200, completion(json!(r#"{"value": [1]}"#))));
        let p = provider(&server.base_url(), ModelOptions::default());
        let mut req = request("hi");
        req.wire = wrapped_schema();
        req.reask = Some(crate::providers::Reask {
            reply: "bad".into(),
            message: "fix it".into(),
        });
        let reply = p.call(req).await.unwrap();
        assert_eq!(reply.text, "[1]");
        let body = &server.seen()[0].body;
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "reply", "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "bad"},
                {"role": "user", "content": "fix it"}
            ])
        );
    }

    #[tokio::test]
    async fn a_reply_cut_at_the_limit_is_marked_and_a_plain_one_sends_no_format() {
        let server = Server::start(fake_llm::openai::cut("abc"));
        let p = provider(&server.base_url(), ModelOptions::default());
        let reply = p.call(request("hi")).await.unwrap();
        assert!(reply.truncated);
        assert_eq!(server.seen()[0].body.get("response_format"), None);
        let whole = call(fake_llm::openai::text("abc"), ModelOptions::default()).await;
        assert!(!whole.unwrap().truncated);
    }
}

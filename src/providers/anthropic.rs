//! `anthropic(...)`: the Messages API.

use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::http::{Api, Auth, Endpoint};
use super::{Provider, ProviderError, Reply, Request, Usage};
use crate::model::{ModelOptions, ModelSpec, ProviderKind};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
pub const API_VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; this is used when the model sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

pub struct AnthropicProvider {
    endpoint: Endpoint,
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
    pub fn new(spec: &ModelSpec, client: reqwest::Client) -> Result<Self, ProviderError> {
        let key = spec.key_env().and_then(|name| std::env::var(name).ok());
        Self::with_key(spec, client, key)
    }

    /// As [`AnthropicProvider::new`], with the key's value given (`None`: unset).
    pub fn with_key(
        spec: &ModelSpec,
        client: reqwest::Client,
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
            endpoint: Endpoint::new(spec, client, api, key)?,
            options: spec.options.clone(),
        })
    }

    fn body<'a>(&'a self, request: &'a Request) -> MessagesRequest<'a> {
        MessagesRequest {
            model: &self.endpoint.model_id,
            max_tokens: self.options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            system: request.system.as_deref().or(self.options.system.as_deref()),
            messages: [Message {
                role: "user",
                content: &request.prompt,
            }],
            temperature: self.options.temperature,
            top_p: self.options.top_p,
        }
    }

    async fn call_once(&self, request: Request) -> Result<Reply, ProviderError> {
        let raw = self.endpoint.post(&self.body(&request)).await?;
        let reply: MessagesResponse = self.endpoint.decode(&raw)?;
        let mut texts = reply
            .content
            .into_iter()
            .filter(|block| block.kind == "text")
            .filter_map(|block| block.text)
            .peekable();
        if texts.peek().is_none() {
            return Err(self.endpoint.malformed("with no text in `content`", &raw));
        }
        let text = texts.collect::<String>();
        let usage = reply.usage.unwrap_or_default();
        Ok(Reply {
            text,
            usage: Usage {
                input_tokens: usage.input_tokens.unwrap_or(0),
                output_tokens: usage.output_tokens.unwrap_or(0),
            },
        })
    }
}

impl Provider for AnthropicProvider {
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>> {
        Box::pin(self.call_once(request))
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: [Message<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
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
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, Default)]
struct MessagesUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

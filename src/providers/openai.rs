//! `openai(...)`: the Chat Completions API, which OpenAI and most local
//! servers (Ollama, vLLM, llama.cpp, LM Studio) speak.

use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::http::{Api, Auth, Endpoint};
use super::{Provider, ProviderError, Reply, Request, Usage};
use crate::model::{ModelOptions, ModelSpec, ProviderKind};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub struct OpenAiProvider {
    endpoint: Endpoint,
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
    pub fn new(spec: &ModelSpec, client: reqwest::Client) -> Result<Self, ProviderError> {
        let key = spec.key_env().and_then(|name| std::env::var(name).ok());
        Self::with_key(spec, client, key)
    }

    /// As [`OpenAiProvider::new`], with the key's value given (`None`: unset).
    pub fn with_key(
        spec: &ModelSpec,
        client: reqwest::Client,
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
        let endpoint = Endpoint::new(spec, client, api, key)?;
        let completion_tokens_field = endpoint.is_default();
        Ok(OpenAiProvider {
            endpoint,
            options: spec.options.clone(),
            completion_tokens_field,
        })
    }

    fn body<'a>(&'a self, request: &'a Request) -> ChatRequest<'a> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = request.system.as_deref().or(self.options.system.as_deref()) {
            messages.push(Message {
                role: "system",
                content: system,
            });
        }
        messages.push(Message {
            role: "user",
            content: &request.prompt,
        });
        let (max_tokens, max_completion_tokens) = if self.completion_tokens_field {
            (None, self.options.max_tokens)
        } else {
            (self.options.max_tokens, None)
        };
        ChatRequest {
            model: &self.endpoint.model_id,
            messages,
            temperature: self.options.temperature,
            max_tokens,
            max_completion_tokens,
            top_p: self.options.top_p,
        }
    }

    async fn call_once(&self, request: Request) -> Result<Reply, ProviderError> {
        let raw = self.endpoint.post(&self.body(&request)).await?;
        let reply: ChatResponse = self.endpoint.decode(&raw)?;
        let Some(first) = reply.choices.into_iter().next() else {
            return Err(self.endpoint.malformed("with no `choices`", &raw));
        };
        let message = first.message.unwrap_or_default();
        let Some(text) = message.content else {
            return Err(match message.refusal {
                Some(refusal) => self
                    .endpoint
                    .malformed(&format!("that refuses ({refusal})"), &raw),
                None => self.endpoint.malformed("with no message `content`", &raw),
            });
        };
        let usage = reply.usage.unwrap_or_default();
        Ok(Reply {
            text,
            usage: Usage {
                input_tokens: usage.prompt_tokens.unwrap_or(0),
                output_tokens: usage.completion_tokens.unwrap_or(0),
            },
        })
    }
}

impl Provider for OpenAiProvider {
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>> {
        Box::pin(self.call_once(request))
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
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

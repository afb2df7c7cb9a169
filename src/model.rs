//! Resolved model declarations: what `model NAME = PROVIDER(...)` means once
//! checked. The checker builds these from the AST; `--model NAME=SPEC` builds
//! them from the command line with the same validation; providers read them.

use std::time::Duration;

use crate::syntax::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Mock,
}

impl ProviderKind {
    pub const ALL: [(&'static str, ProviderKind); 3] = [
        ("openai", ProviderKind::OpenAi),
        ("anthropic", ProviderKind::Anthropic),
        ("mock", ProviderKind::Mock),
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Mock => "mock",
        }
    }

    pub fn from_name(name: &str) -> Option<ProviderKind> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// The environment variable that holds the key when `api_key_env` is not given.
    pub fn default_key_env(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::Mock => None,
        }
    }
}

/// One declared model. Holds no secret: only the *name* of the variable with the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub provider: ProviderKind,
    /// The provider's model id (`"gpt-4o-mini"`); `None` for `mock`.
    pub model_id: Option<String>,
    pub options: ModelOptions,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelOptions {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub system: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    /// In-flight calls at most, across the whole run.
    pub concurrency: Option<u32>,
    /// Requests a minute at most, across the whole run.
    pub rpm: Option<u32>,
    /// Per attempt.
    pub timeout: Option<Duration>,
    /// Attempts after the first.
    pub retry: Option<u32>,
    /// Dollars per million input tokens.
    pub price_in: Option<f64>,
    /// Dollars per million output tokens.
    pub price_out: Option<f64>,
    pub mock: MockOptions,
}

/// The options only `mock(...)` takes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockOptions {
    pub reply: Option<String>,
    pub replies: Option<Vec<String>>,
    /// First key (in written order) found in the prompt picks the reply; `"*"` matches anything.
    pub rules: Option<Vec<(String, String)>>,
    pub echo: bool,
    pub latency: Option<Duration>,
    /// Each call's first `N` attempts fail with a transient error.
    pub fail_first: u32,
    /// Set by `--offline`: invent a placeholder of the expected type.
    pub placeholder: bool,
}

impl MockOptions {
    /// Whether this mock invents its replies: under `--offline`, or when no
    /// reply option is given (see `Provider::invents_replies`).
    pub fn invents_replies(&self) -> bool {
        self.placeholder
            || (self.rules.is_none()
                && self.replies.as_ref().is_none_or(Vec::is_empty)
                && self.reply.is_none()
                && !self.echo)
    }
}

impl ModelSpec {
    pub fn key_env(&self) -> Option<&str> {
        self.options
            .api_key_env
            .as_deref()
            .or(self.provider.default_key_env())
    }

    /// A mock that invents a placeholder of the expected type, used by `--offline`.
    pub fn offline_stand_in(&self) -> ModelSpec {
        ModelSpec {
            name: self.name.clone(),
            provider: ProviderKind::Mock,
            model_id: None,
            options: ModelOptions {
                concurrency: self.options.concurrency,
                mock: MockOptions {
                    placeholder: true,
                    ..MockOptions::default()
                },
                ..ModelOptions::default()
            },
            span: self.span,
        }
    }
}

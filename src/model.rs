//! Resolved model declarations: what `model NAME = PROVIDER(...)` means once
//! checked. The checker builds these from the AST; `--model NAME=SPEC` builds
//! them from the command line with the same validation; providers read them.

use std::time::Duration;

use crate::syntax::Span;

/// Which API a model is called through: the constructor its declaration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// `openai(...)`: the Chat Completions API, OpenAI's or a compatible server's.
    OpenAi,
    /// `anthropic(...)`: the Messages API.
    Anthropic,
    /// `mock(...)`: answers offline from its options, for tests and dry runs.
    Mock,
}

impl ProviderKind {
    /// Every provider with the constructor name it is declared by.
    pub const ALL: [(&'static str, ProviderKind); 3] = [
        ("openai", ProviderKind::OpenAi),
        ("anthropic", ProviderKind::Anthropic),
        ("mock", ProviderKind::Mock),
    ];

    /// The constructor name it is declared by, e.g. `openai`.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Mock => "mock",
        }
    }

    /// The provider declared by constructor `name`, if there is one.
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

/// How a call's `as` type reaches the model: the `structured` option.
/// Whatever the mode, a `text` reply is asked for as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Structured {
    /// The provider's own way to hold a reply to a schema: OpenAI's
    /// `response_format` with a JSON Schema, a forced tool on Anthropic.
    /// Where there is none (a mock), as `prompt`.
    Schema,
    /// JSON mode (OpenAI's `response_format: json_object`) with the schema
    /// in the prompt; as `prompt` where there is no JSON mode.
    Json,
    /// Format instructions appended to the prompt, nothing else.
    Prompt,
    /// The prompt as written, nothing added.
    Off,
}

impl Structured {
    /// Every mode with the name the option takes.
    pub const ALL: [(&'static str, Structured); 4] = [
        ("schema", Structured::Schema),
        ("json", Structured::Json),
        ("prompt", Structured::Prompt),
        ("off", Structured::Off),
    ];

    /// The option's value for this mode, e.g. `schema`.
    pub fn name(self) -> &'static str {
        match self {
            Structured::Schema => "schema",
            Structured::Json => "json",
            Structured::Prompt => "prompt",
            Structured::Off => "off",
        }
    }

    /// The mode the option's value `name` selects.
    pub fn from_name(name: &str) -> Option<Structured> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }
}

/// One declared model. Holds no secret: only the *name* of the variable with the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// The model's name in the program (`model NAME = ...`).
    pub name: String,
    /// Which API serves it.
    pub provider: ProviderKind,
    /// The provider's model id (`"gpt-4o-mini"`); `None` for `mock`.
    pub model_id: Option<String>,
    /// Everything else the declaration sets.
    pub options: ModelOptions,
    /// Where the model is declared.
    pub span: Span,
}

/// How a routed model picks among its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Each member in order, the next when one fails after its retries
    /// (or at once when it is rate-limited and another member is left).
    Fallback,
    /// One member per call, in turn.
    RoundRobin,
}

impl RouteKind {
    /// The name it is declared with: `fallback`, `round_robin`.
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Fallback => "fallback",
            RouteKind::RoundRobin => "round_robin",
        }
    }
}

impl std::fmt::Display for Route {
    /// `fallback(primary, backup)`, as declared.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.kind.name(), self.members.join(", "))
    }
}

/// A model declared as a choice among other models.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Fallback or round-robin.
    pub kind: RouteKind,
    /// The member models' names, as written.
    pub members: Vec<String>,
}

/// A model's options as declared; `None` leaves a setting to the provider
/// (or, for `timeout` and `retry`, to the run's
/// [`RetryPolicy`](crate::runtime::RetryPolicy)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelOptions {
    /// `fallback(a, b)` or `round_robin(a, b)`: the model is no provider but
    /// a choice among other declared models, made per call.
    pub route: Option<Route>,
    /// Sampling temperature sent with each call.
    pub temperature: Option<f64>,
    /// The most tokens a reply may have.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling's `top_p`, sent with each call.
    pub top_p: Option<f64>,
    /// The system prompt for calls that give none of their own.
    pub system: Option<String>,
    /// Where to send requests instead of the provider's own API (a local or
    /// compatible server).
    pub base_url: Option<String>,
    /// The name of the variable holding the key, instead of the provider's default.
    pub api_key_env: Option<String>,
    /// In-flight calls at most, across the whole run.
    pub concurrency: Option<u32>,
    /// Requests a minute at most, across the whole run.
    pub rpm: Option<u32>,
    /// Tokens a minute at most (prompt and reply), across the whole run, a
    /// batch, or a server's runs (`runtime::limits`).
    pub tpm: Option<u32>,
    /// Per attempt.
    pub timeout: Option<Duration>,
    /// Attempts after the first.
    pub retry: Option<u32>,
    /// The most bytes a reply's body may have; `None` is
    /// [`MAX_REPLY_BYTES`](crate::providers::http::MAX_REPLY_BYTES).
    pub max_reply_bytes: Option<u32>,
    /// Dollars per million input tokens.
    pub price_in: Option<f64>,
    /// Dollars per million output tokens.
    pub price_out: Option<f64>,
    /// How a call's `as` type is asked for; `None` is the provider's
    /// default ([`ModelSpec::structured`]).
    pub structured: Option<Structured>,
    /// The options only a mock reads.
    pub mock: MockOptions,
}

/// The options only `mock(...)` takes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockOptions {
    /// The reply to every prompt.
    pub reply: Option<String>,
    /// Replies taken in turn: sample `i` gets `replies[i % len]`.
    pub replies: Option<Vec<String>>,
    /// First key (in written order) found in the prompt picks the reply; `"*"` matches anything.
    pub rules: Option<Vec<(String, String)>>,
    /// Reply with the prompt itself.
    pub echo: bool,
    /// How long each attempt waits before answering (before its first
    /// chunk, when it streams).
    pub latency: Option<Duration>,
    /// The time between a reply's chunks (a word each), so a streamed
    /// reply arrives at a rate a test can set; a whole reply takes that
    /// long per chunk after the first too.
    pub chunk_delay: Option<Duration>,
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
    /// The name of the environment variable the key is read from, if the
    /// provider uses one.
    pub fn key_env(&self) -> Option<&str> {
        self.options
            .api_key_env
            .as_deref()
            .or(self.provider.default_key_env())
    }

    /// The `structured` mode in force: the declared one, else `schema` for
    /// the real providers (both can hold a reply to a schema) and `off` for
    /// a mock, whose replies are scripted and would not read instructions.
    pub fn structured(&self) -> Structured {
        self.options.structured.unwrap_or(match self.provider {
            ProviderKind::OpenAi | ProviderKind::Anthropic => Structured::Schema,
            ProviderKind::Mock => Structured::Off,
        })
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

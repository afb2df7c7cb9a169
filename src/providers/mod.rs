//! LLM providers: the one interface the runtime calls, and its implementations.
//!
//! A provider makes exactly one attempt per `call`. Retries, timeouts,
//! concurrency caps and rate limits belong to the runtime, so every provider
//! gets them the same way. Dropping the returned future cancels the attempt.

use futures::future::BoxFuture;

use crate::types::Type;

#[cfg(test)]
pub(crate) use error::testkit;
pub use error::{BadUrl, Malformation, ProviderError, ServerText, Target};

/// One attempt at one sample of one call.
#[derive(Debug, Clone)]
pub struct Request {
    /// The declared model's name (for messages; the spec is the provider's own).
    pub model: String,
    pub system: Option<String>,
    pub prompt: String,
    /// Which sample of a `vote`/`repeat` this is (0-based); mocks use it to vary replies.
    pub sample: u32,
    /// 0 for the first attempt.
    pub attempt: u32,
    /// The type the reply will be parsed into, so `--offline` can invent one.
    pub expect: Type,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub usage: Usage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

pub trait Provider: Send + Sync {
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>>;

    /// Whether this provider invents its replies instead of asking a model
    /// (the `--offline` stand-in, a mock with no reply options). The runtime
    /// then carries an invented `json` reply as a placeholder value, since an
    /// invented object has no shape a program could rely on.
    fn invents_replies(&self) -> bool {
        false
    }

    /// A reply's text as an error may quote it. A model can be made to
    /// repeat its key (a prompt injection asking for it, a server that
    /// echoes headers), and an unparsable reply is quoted in the message:
    /// an HTTP provider removes its own key, and every provider anything
    /// shaped like a key, as for every other text a server sent.
    fn scrub(&self, text: &str) -> ServerText {
        ServerText::new(text)
    }
}
pub mod anthropic;
mod error;
pub mod http;
pub mod mock;
pub mod openai;
pub mod registry;

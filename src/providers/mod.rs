//! LLM providers: the one interface the runtime calls, and its implementations.
//!
//! A provider makes exactly one attempt per `call`. Retries, timeouts,
//! concurrency caps and rate limits belong to the runtime, so every provider
//! gets them the same way. Dropping the returned future cancels the attempt.

use futures::future::BoxFuture;

use crate::chat::Chat;
use crate::types::Type;

#[cfg(test)]
pub(crate) use error::testkit;
pub use error::{BadUrl, Malformation, ProviderError, ServerText, Target};
pub use format::{ReplyFormat, Wire, reply_format};

/// One attempt at one sample of one call.
#[derive(Debug, Clone)]
pub struct Request {
    /// The declared model's name (for messages; the spec is the provider's own).
    pub model: String,
    /// The system prompt, if the call or the model gives one.
    pub system: Option<String>,
    /// The conversation before the prompt (`with NAME`), oldest first;
    /// empty for a call without one. Sent as real messages.
    pub history: Chat,
    /// The user prompt, already interpolated.
    pub prompt: String,
    /// Which sample of a `vote`/`repeat` this is (0-based); mocks use it to vary replies.
    pub sample: u32,
    /// 0 for the first attempt.
    pub attempt: u32,
    /// The type the reply will be parsed into, so `--offline` can invent one.
    pub expect: Type,
    /// What the request carries so the server holds the reply to `expect`
    /// (the prompt already has any format instruction appended).
    pub wire: Wire,
    /// On a re-ask, the reply that did not parse and what was wrong with it:
    /// sent as an assistant turn and a user turn after the prompt.
    pub reask: Option<Reask>,
}

impl Request {
    /// The turns that follow the conversation, as `(role, text)`: the
    /// prompt, then on a re-ask the reply that did not parse and what was
    /// wrong with it. Both chat APIs take them as messages in this order.
    pub(crate) fn turns(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let reask = self.reask.iter().flat_map(|r| {
            [
                ("assistant", r.reply.as_str()),
                ("user", r.message.as_str()),
            ]
        });
        std::iter::once(("user", self.prompt.as_str())).chain(reask)
    }
}

/// A second chance for a model whose reply did not parse: at temperature 0
/// the same request would only get the same reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reask {
    /// The previous reply, as the model gave it.
    pub reply: String,
    /// What was wrong and how to answer, as the user's next turn.
    pub message: String,
}

/// What a provider answered to one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply text as received; the runtime parses it into the declared type.
    pub text: String,
    /// Tokens the provider reports for the attempt, for stats and cost;
    /// `None` when the reply did not say (counted as unknown, never as 0).
    pub usage: Option<Usage>,
    /// The reply stopped at the token limit (`finish_reason: "length"`,
    /// `stop_reason: "max_tokens"`), so it may be cut mid-answer.
    pub truncated: bool,
}

impl Reply {
    /// A complete reply with these token counts.
    pub fn new(text: impl Into<String>, usage: Usage) -> Reply {
        Reply {
            text: text.into(),
            usage: Some(usage),
            truncated: false,
        }
    }
}

/// Token counts of one attempt as the provider reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub input_tokens: u64,
    /// Tokens in the reply.
    pub output_tokens: u64,
}

/// Where a streaming attempt puts what arrives, as it arrives.
pub trait StreamSink: Send + Sync {
    /// The next piece of the reply's text.
    fn text(&self, chunk: &str);

    /// Token counts the provider reported so far (Anthropic tells the
    /// prompt's at the start); what a cancelled attempt is charged with.
    fn usage(&self, _usage: Usage) {}
}

/// A model backend. The runtime calls it once per attempt and does retries,
/// timeouts, limits and caching itself, so an implementation only makes the
/// one request; implement it to plug in a backend of your own.
pub trait Provider: Send + Sync {
    /// Makes one attempt; dropping the future must cancel it. A failure's
    /// [`is_transient`](ProviderError::is_transient) decides whether the
    /// runtime retries it.
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>>;

    /// Whether this provider invents its replies instead of asking a model
    /// (the `--offline` stand-in, a mock with no reply options). The runtime
    /// then carries an invented `json` reply as a placeholder value, since an
    /// invented object has no shape a program could rely on.
    fn invents_replies(&self) -> bool {
        false
    }

    /// Makes one attempt as [`call`](Provider::call) does, handing the
    /// reply's text to `sink` as it arrives; the `Reply` at the end holds
    /// the whole text. Dropping the future must cancel the attempt (an HTTP
    /// provider closes the connection). The default calls
    /// [`call`](Provider::call) and hands over the whole reply as one chunk,
    /// so every provider can be streamed from.
    fn stream<'a>(
        &'a self,
        request: Request,
        sink: &'a dyn StreamSink,
    ) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        Box::pin(async move {
            let reply = self.call(request).await?;
            sink.text(&reply.text);
            Ok(reply)
        })
    }

    /// A reply's text as an error may quote it. A model can be made to
    /// repeat its key (a prompt injection asking for it, a server that
    /// echoes headers), and an unparsable reply is quoted in the message:
    /// an HTTP provider removes its own key, and every provider anything
    /// shaped like a key, as for every other text a server sent.
    fn scrub(&self, text: &str) -> ServerText {
        ServerText::new(text)
    }

    /// The longest any attempt can take, when the provider knows it
    /// without making one (a mock: its latency). An attempt that cannot
    /// reach its timeout gets no timeout timer: in a fan-out of 10,000
    /// mock calls, arming and dropping one per call was a tenth of the
    /// run. `None` (the default): unknown, so every attempt gets one.
    fn longest_attempt(&self) -> Option<std::time::Duration> {
        None
    }

    /// The provider's batch API (`flow run --batch-api`), when it has one.
    /// `None` (the default) answers every call directly, even in a batch run.
    fn batch(&self) -> Option<&dyn batch::BatchApi> {
        None
    }
}
pub(crate) mod anthropic;
pub mod batch;
mod error;
mod exact_timer;
pub mod format;
#[cfg(test)]
mod history_tests;
// `http`, `openai` and `registry` are public but hidden for benches/http.rs,
// which drives the real `OpenAiProvider` against a local server, and
// benches/support, which builds a program's providers without an engine.
#[doc(hidden)]
pub mod http;
pub(crate) mod mock;
#[doc(hidden)]
pub mod openai;
#[doc(hidden)]
pub mod registry;
mod stream;

//! Why a provider attempt failed: one variant per cause, and all their
//! wording, in this file.
//!
//! Raise sites (the HTTP endpoint, the mock) only record facts: the status,
//! the provider's own message, the path requested. Whether a cause is worth
//! retrying is a method here, so the runtime's retry loop and the messages
//! can never disagree about what kind of failure it was.
//!
//! No field ever holds an API key: text that came from a server is scrubbed
//! by the endpoint before it is stored (servers echo keys back in 401
//! messages), and again, for key-shaped tokens, when it is displayed.

use std::fmt;
use std::time::Duration;

use super::http::redact_key_shapes;
use crate::internal::InternalError;

/// What an HTTP call went to, for messages: the flow model, the model id
/// sent, and who serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The model's name in the program, e.g. `assistant`.
    pub model: String,
    /// The model id sent to the provider, e.g. `gpt-4o-mini`.
    pub model_id: String,
    /// The provider's name as users know it: `OpenAI`, `Anthropic`.
    pub provider: &'static str,
    /// The base URL, with any password shown as `***`.
    pub base_url: String,
    /// The URL requested, password hidden like `base_url`'s.
    pub url: String,
    /// Its path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The request's method: `POST` for a call; a batch API's polls `GET`.
    pub method: &'static str,
    /// `base_url` is the provider's own, not a local or compatible server.
    pub official: bool,
    /// The variable the key is read from (its name, never its value).
    pub key_env: String,
    /// Whether a key was sent.
    pub has_key: bool,
}

impl Target {
    /// Who answered: the provider by name, or a custom server by its URL (a
    /// local Ollama is not "OpenAI").
    fn who(&self) -> String {
        if self.official {
            self.provider.to_string()
        } else {
            format!("the server at `{}`", self.base_url)
        }
    }
}

impl fmt::Display for Target {
    /// `model `assistant` (`gpt-4o-mini`)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model `{}` (`{}`)", self.model, self.model_id)
    }
}

/// Text a server sent (its error message, a body, a redirect target): it
/// may echo the key back, so it is scrubbed of key-shaped tokens when made
/// and can only be seen scrubbed, through `Display` and `Debug` alike. The
/// endpoint also removes the exact key before making one.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerText(String);

impl ServerText {
    /// Scrubs `text` of key-shaped tokens; the exact key, which need not
    /// look like one, is the caller's to remove first.
    pub fn new(text: &str) -> ServerText {
        ServerText(redact_key_shapes(text))
    }

    /// The scrubbed text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ServerText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// What was wrong with a 2xx reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformation {
    /// Not the JSON the API documents; the parser's complaint.
    NotJson(String),
    /// Chat Completions: an empty `choices` list.
    NoChoices,
    /// Chat Completions: no `content`, and the model's refusal instead.
    Refusal(ServerText),
    /// Chat Completions: no `content` and no refusal.
    NoContent,
    /// Messages: no `text` block in `content`.
    NoText,
}

impl fmt::Display for Malformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformation::NotJson(why) => write!(f, "that is not the JSON expected ({why})"),
            Malformation::NoChoices => f.write_str("with no `choices`"),
            Malformation::Refusal(refusal) => write!(f, "that refuses ({refusal})"),
            Malformation::NoContent => f.write_str("with no message `content`"),
            Malformation::NoText => f.write_str("with no text in `content`"),
        }
    }
}

/// Why `base_url` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadUrl {
    /// The URL parser's complaint.
    Unparsable(String),
    /// Parsed, with a scheme other than http or https.
    Scheme(String),
}

/// Why one attempt failed. See [`ProviderError::is_transient`] for which
/// causes the runtime retries.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    /// The model declares no model id to send.
    NoModelId {
        /// The flow model's name.
        model: String,
        /// `OpenAI`; and the constructor to write, `openai`.
        provider: &'static str,
        /// The model constructor to give it in, e.g. `openai`.
        call: &'static str,
    },
    /// `base_url` is not an http(s) URL.
    BadBaseUrl {
        /// The flow model's name.
        model: String,
        /// The URL as written, password hidden.
        base_url: String,
        /// What is wrong with it.
        problem: BadUrl,
        /// The provider's own base URL, as an example of a good one.
        example: &'static str,
    },
    /// The key's variable is unset or blank, and the provider's own API
    /// (unlike a local server) needs a key.
    MissingKey {
        /// The flow model's name.
        model: String,
        /// The variable the key is read from (its name only).
        key_env: String,
        /// The provider's name as users know it.
        provider: &'static str,
    },
    /// The key holds characters an HTTP header cannot carry.
    UnsendableKey {
        /// The flow model's name.
        model: String,
        /// The variable the key is read from (its name only).
        key_env: String,
    },
    /// The server answered with an error status (not a redirect).
    Status {
        /// What the request went to.
        target: Box<Target>,
        /// The HTTP status.
        status: u16,
        /// The provider's own words from the body (`type: message`), scrubbed.
        detail: Option<ServerText>,
        /// From `retry-after-ms` or `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The server answered with a redirect, which flow refuses to follow: a
    /// redirect to another host would carry the key along.
    Redirect {
        /// What the request went to.
        target: Box<Target>,
        /// The redirect's HTTP status.
        status: u16,
        /// Where it pointed, scrubbed.
        location: Option<ServerText>,
    },
    /// No complete reply within the model's `timeout`.
    Timeout {
        /// What the request went to.
        target: Box<Target>,
        /// The limit that passed, when the endpoint knows it.
        after: Option<Duration>,
    },
    /// The connection could not be made (refused, DNS, TLS).
    Connect {
        /// What the request went to.
        target: Box<Target>,
        /// The client's complaint, scrubbed.
        reason: ServerText,
    },
    /// The connection broke while the request was being sent.
    Interrupted {
        /// What the request went to.
        target: Box<Target>,
        /// The client's complaint, scrubbed.
        reason: ServerText,
    },
    /// The status arrived but the body broke off.
    BodyRead {
        /// What the request went to.
        target: Box<Target>,
        /// The client's complaint, scrubbed.
        reason: ServerText,
    },
    /// A 2xx reply whose body passed [`MAX_REPLY_BYTES`](super::http::MAX_REPLY_BYTES):
    /// reading stopped there.
    TooLarge {
        /// What the request went to.
        target: Box<Target>,
        /// The cap, in bytes.
        limit: usize,
    },
    /// A 2xx reply without what the call needs; `body` is its start, scrubbed.
    Malformed {
        /// What the request went to.
        target: Box<Target>,
        /// What was missing or wrong.
        problem: Malformation,
        /// The start of the body, scrubbed.
        body: ServerText,
    },
    /// `mock(fail_first: N)`: attempts `0..N` fail on purpose.
    MockFailure {
        /// The flow model's name.
        model: String,
        /// The mock's `fail_first` option.
        fail_first: u32,
        /// 0-based.
        attempt: u32,
    },
    /// A mock with `rules` only, none of whose keys is in the prompt.
    NoRuleMatched {
        /// The flow model's name.
        model: String,
        /// The mock's rule keys, none of which the prompt contains.
        keys: Vec<String>,
    },
    /// A bug in flow (an HTTP client that cannot be built, a request that
    /// cannot be serialised).
    Internal(InternalError),
}

impl ProviderError {
    /// What the request went to, when the error is about one.
    pub(crate) fn target_mut(&mut self) -> Option<&mut Target> {
        match self {
            ProviderError::Status { target, .. }
            | ProviderError::Redirect { target, .. }
            | ProviderError::Timeout { target, .. }
            | ProviderError::Connect { target, .. }
            | ProviderError::Interrupted { target, .. }
            | ProviderError::BodyRead { target, .. }
            | ProviderError::TooLarge { target, .. }
            | ProviderError::Malformed { target, .. } => Some(target),
            _ => None,
        }
    }

    /// Whether another attempt may succeed: overload, rate limits, conflicts
    /// and server faults, broken connections and timeouts, and a mock's
    /// planned failures. Bad requests, keys, ids and replies are not.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Status { status, .. } => status_is_transient(*status),
            ProviderError::Timeout { .. }
            | ProviderError::Connect { .. }
            | ProviderError::Interrupted { .. }
            | ProviderError::BodyRead { .. }
            | ProviderError::MockFailure { .. } => true,
            ProviderError::NoModelId { .. }
            | ProviderError::BadBaseUrl { .. }
            | ProviderError::MissingKey { .. }
            | ProviderError::UnsendableKey { .. }
            | ProviderError::Redirect { .. }
            | ProviderError::Malformed { .. }
            | ProviderError::TooLarge { .. }
            | ProviderError::NoRuleMatched { .. }
            | ProviderError::Internal(_) => false,
        }
    }

    /// Whether the request may have reached a server, and so counts as a
    /// call made (and billed). A refused or failed connection sent nothing.
    pub fn was_sent(&self) -> bool {
        !matches!(self, ProviderError::Connect { .. })
    }

    /// The wait the server asked for before the next attempt; the runtime
    /// never retries sooner.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A 429 for tokens rather than requests: the server's own words name
    /// tokens (OpenAI's `tokens: Rate limit reached ... on tokens per min
    /// (TPM)`, Anthropic's `... input tokens per minute`, Azure's `token
    /// rate limit`). Only the server's text is read, never the model's name
    /// or id, which may well contain "token".
    pub fn is_token_limit(&self) -> bool {
        match self {
            ProviderError::Status {
                status: 429,
                detail: Some(detail),
                ..
            } => detail.as_str().to_lowercase().contains("token"),
            _ => false,
        }
    }

    /// The HTTP status, when the server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Status { status, .. } | ProviderError::Redirect { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// What the user should do about it. `None` for transient causes: the
    /// runtime's own advice (raise `retry`) is the help there.
    pub fn help(&self) -> Option<String> {
        let help = match self {
            ProviderError::NoModelId { provider, call, .. } => {
                format!("name the {provider} model to call, e.g. `{call}(\"MODEL-ID\")`")
            }
            ProviderError::BadBaseUrl { example, .. } => {
                format!("write a full http or https URL, e.g. `{example}`")
            }
            ProviderError::MissingKey {
                key_env, provider, ..
            } => format!(
                "set `{key_env}` to your {provider} API key, name another variable with \
                 `api_key_env`, or run with `--offline`"
            ),
            ProviderError::UnsendableKey { key_env, .. } => {
                format!("check that `{key_env}` holds only the key, with no quotes or line breaks")
            }
            ProviderError::Status { status, .. } if status_is_transient(*status) => return None,
            ProviderError::Status { target, status, .. } => match status {
                401 | 403 if target.has_key => format!(
                    "check that `{}` holds a valid key for {} that may use model `{}`",
                    target.key_env,
                    target.who(),
                    target.model_id
                ),
                401 | 403 => format!(
                    "the server at `{}` wants a key: put it in `{}` or name another variable \
                     with `api_key_env`",
                    target.base_url, target.key_env
                ),
                404 if !has_version(&target.base_url) => format!(
                    "`base_url` (`{base}`) has no `/v1`: APIs like this one are served under \
                     a version, so try `{base}/v1`; else check the model id `{id}`",
                    base = target.base_url,
                    id = target.model_id
                ),
                404 => format!(
                    "check the model id `{}` and the path `base_url` (`{}`) leads to",
                    target.model_id, target.base_url
                ),
                _ => format!(
                    "check the model id `{}` (some servers answer 400 to one they do not \
                     serve), the options of model `{}` (`temperature`, `max_tokens`, `top_p`) \
                     and the prompt",
                    target.model_id, target.model
                ),
            },
            ProviderError::Redirect {
                target,
                location: Some(location),
                ..
            } => format!(
                "`base_url` (`{}`) redirects to `{location}`; use the final URL instead",
                target.base_url,
            ),
            ProviderError::Redirect { target, .. } => {
                format!("check `base_url` (`{}`)", target.base_url)
            }
            ProviderError::Malformed { target, .. } if target.official => format!(
                "this looks like a change in the {} API that flow does not handle yet; \
                 please report it, with the command you ran",
                target.provider
            ),
            ProviderError::Malformed { target, .. } => format!(
                "check that `base_url` (`{}`) points at an {}-compatible API",
                target.base_url, target.provider
            ),
            ProviderError::TooLarge { target, .. } => format!(
                "no model reply is that large: check that `base_url` (`{}`) points at an \
                 {}-compatible API, or lower `max_tokens`",
                target.base_url, target.provider
            ),
            ProviderError::NoRuleMatched { .. } => "add a rule whose key appears in the prompt, \
                a \"*\" rule that matches anything, or a `reply:` to fall back on"
                .to_string(),
            ProviderError::Internal(e) => {
                use miette::Diagnostic;
                return e.help().map(|h| h.to_string());
            }
            ProviderError::Timeout { .. }
            | ProviderError::Connect { .. }
            | ProviderError::Interrupted { .. }
            | ProviderError::BodyRead { .. }
            | ProviderError::MockFailure { .. } => return None,
        };
        Some(help)
    }
}

impl std::error::Error for ProviderError {}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::NoModelId { model, .. } => {
                write!(f, "model `{model}` has no model id")
            }
            ProviderError::BadBaseUrl {
                model,
                base_url,
                problem,
                ..
            } => {
                write!(
                    f,
                    "`base_url` of model `{model}` is not a usable URL: `{base_url}` "
                )?;
                match problem {
                    BadUrl::Unparsable(why) => write!(f, "({why})"),
                    BadUrl::Scheme(scheme) => write!(f, "uses `{scheme}`, not http or https"),
                }
            }
            ProviderError::MissingKey {
                model,
                key_env,
                provider,
            } => write!(
                f,
                "`{key_env}` is not set, so model `{model}` cannot call {provider}"
            ),
            ProviderError::UnsendableKey { model, key_env } => write!(
                f,
                "`{key_env}` holds characters that cannot be sent in an HTTP header, so model \
                 `{model}` cannot use it"
            ),
            ProviderError::Status {
                target,
                status,
                detail,
                ..
            } => {
                write!(
                    f,
                    "{} answered {} for {target} at `{} {}`",
                    target.who(),
                    status_text(*status),
                    target.method,
                    target.path
                )?;
                if let Some(detail) = detail {
                    write!(f, ": {detail}")?;
                }
                // A 401 or 403 says so in its help; any other answer to a
                // request without a key may still be about the key (a proxy
                // answering 400 or 404 to anyone it does not know).
                if !target.has_key && !matches!(status, 401 | 403) {
                    write!(f, " (no key was sent: `{}` is not set)", target.key_env)?;
                }
                Ok(())
            }
            ProviderError::Redirect { target, status, .. } => write!(
                f,
                "{} answered {} for {target} at `{} {}`, and flow does not follow redirects",
                target.who(),
                status_text(*status),
                target.method,
                target.path
            ),
            ProviderError::Timeout {
                target,
                after: Some(after),
            } => write!(
                f,
                "the request to `{}` for {target} timed out after {}",
                target.url,
                human(*after)
            ),
            ProviderError::Timeout {
                target,
                after: None,
            } => write!(f, "the request to `{}` for {target} timed out", target.url),
            ProviderError::Connect { target, reason } => write!(
                f,
                "could not connect to `{}` for {target}: {}",
                target.base_url, reason
            ),
            ProviderError::Interrupted { target, reason } => write!(
                f,
                "the connection to `{}` failed for {target}: {}",
                target.url, reason
            ),
            ProviderError::BodyRead { target, reason } => write!(
                f,
                "the reply from `{}` for {target} broke off: {}",
                target.url, reason
            ),
            ProviderError::Malformed {
                target,
                problem,
                body,
            } => {
                write!(f, "{} sent a reply for {target} {problem}: ", target.who())?;
                if body.as_str().trim().is_empty() {
                    f.write_str("an empty body")
                } else {
                    write!(f, "`{body}`")
                }
            }
            ProviderError::TooLarge { target, limit } => write!(
                f,
                "reply too large: {} sent a reply for {target} of more than {}, and flow \
                 stopped reading it",
                target.who(),
                human_bytes(*limit)
            ),
            ProviderError::MockFailure {
                model,
                fail_first,
                attempt,
            } => {
                write!(f, "mock model `{model}` fails its first ")?;
                match fail_first {
                    1 => f.write_str("attempt")?,
                    n => write!(f, "{n} attempts")?,
                }
                write!(f, " (this was attempt {})", attempt.saturating_add(1))
            }
            ProviderError::NoRuleMatched { model, keys } => {
                let keys = keys
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(
                    f,
                    "no rule of mock model `{model}` matched the prompt (the keys are {keys})"
                )
            }
            ProviderError::Internal(e) => e.fmt(f),
        }
    }
}

/// Overload, rate limits, conflicts and server faults pass; bad requests
/// don't. Redirects are never retried: the next attempt would get the same.
pub(crate) fn status_is_transient(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
}

/// Whether a base URL's path has a version segment (`/v1`, `/api/v2`,
/// `/v1beta/openai`): a 404 from a URL without one is most often a
/// `base_url` written without its `/v1`.
fn has_version(base_url: &str) -> bool {
    let path = reqwest::Url::parse(base_url)
        .map_or_else(|_| base_url.to_string(), |u| u.path().to_string());
    path.split('/').any(|segment| {
        let mut chars = segment.chars();
        matches!(chars.next(), Some('v' | 'V')) && chars.next().is_some_and(|c| c.is_ascii_digit())
    })
}

/// `404 Not Found`, or the bare number for a status without a reason.
fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// `16 MiB`, `512 KiB`, `100 bytes`.
fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n.is_multiple_of(1 << 10) => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    use super::*;

    /// A target as an OpenAI model `m` (`model-1`) with a key would have.
    pub fn target() -> Box<Target> {
        Box::new(Target {
            model: "m".to_string(),
            model_id: "model-1".to_string(),
            provider: "OpenAI",
            base_url: "https://api.openai.com/v1".to_string(),
            url: "https://api.openai.com/v1/chat/completions".to_string(),
            path: "/v1/chat/completions".to_string(),
            method: "POST",
            official: true,
            key_env: "OPENAI_API_KEY".to_string(),
            has_key: true,
        })
    }

    /// The server answered `status` with `detail` as its message.
    pub fn status(status: u16, detail: &str, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Status {
            target: target(),
            status,
            detail: Some(ServerText::new(detail)),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::{status, target};
    use super::*;

    const KEY: &str = "sk-proj-abcdef0123456789";

    /// One of every cause, with key-shaped text wherever a server's words go.
    fn every_cause() -> Vec<ProviderError> {
        let echo = format!("Incorrect API key provided: {KEY}");
        vec![
            ProviderError::NoModelId {
                model: "m".into(),
                provider: "OpenAI",
                call: "openai",
            },
            ProviderError::BadBaseUrl {
                model: "m".into(),
                base_url: "ftp://x".into(),
                problem: BadUrl::Scheme("ftp".into()),
                example: "https://api.openai.com/v1",
            },
            ProviderError::MissingKey {
                model: "m".into(),
                key_env: "OPENAI_API_KEY".into(),
                provider: "OpenAI",
            },
            ProviderError::UnsendableKey {
                model: "m".into(),
                key_env: "OPENAI_API_KEY".into(),
            },
            status(401, &echo, None),
            status(429, &echo, Some(Duration::from_secs(2))),
            ProviderError::Redirect {
                target: target(),
                status: 301,
                location: Some(ServerText::new(&format!(
                    "https://elsewhere.example/?key={KEY}"
                ))),
            },
            ProviderError::Timeout {
                target: target(),
                after: Some(Duration::from_millis(1500)),
            },
            ProviderError::Connect {
                target: target(),
                reason: ServerText::new(&echo),
            },
            ProviderError::Interrupted {
                target: target(),
                reason: ServerText::new(&echo),
            },
            ProviderError::BodyRead {
                target: target(),
                reason: ServerText::new(&echo),
            },
            ProviderError::Malformed {
                target: target(),
                problem: Malformation::Refusal(ServerText::new(&echo)),
                body: ServerText::new(&echo),
            },
            ProviderError::TooLarge {
                target: target(),
                limit: 16 << 20,
            },
            ProviderError::MockFailure {
                model: "m".into(),
                fail_first: 2,
                attempt: 0,
            },
            ProviderError::NoRuleMatched {
                model: "m".into(),
                keys: vec!["bomb".into()],
            },
            ProviderError::Internal(InternalError::new("no HTTP client shard 40")),
        ]
    }

    #[test]
    fn each_cause_is_transient_or_not() {
        let transient: Vec<bool> = every_cause().iter().map(|e| e.is_transient()).collect();
        assert_eq!(
            transient,
            [
                false, false, false, false, // id, url, key missing, key unsendable
                false, true,  // 401, 429
                false, // redirect
                true, true, true, true,  // timeout, connect, interrupted, body
                false, // malformed
                false, // too large
                true,  // mock fail_first
                false, false // no rule, internal
            ]
        );
        for code in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(status(code, "", None).is_transient(), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 422] {
            assert!(!status(code, "", None).is_transient(), "{code}");
        }
    }

    #[test]
    fn fatal_causes_have_help_and_transient_ones_leave_it_to_the_runtime() {
        for e in every_cause() {
            assert_eq!(e.help().is_some(), !e.is_transient(), "{e}");
        }
    }

    #[test]
    fn only_an_answered_status_has_a_status_and_only_it_a_wait() {
        let e = status(429, "slow down", Some(Duration::from_secs(2)));
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        for e in every_cause() {
            let answered = matches!(
                e,
                ProviderError::Status { .. } | ProviderError::Redirect { .. }
            );
            assert_eq!(e.status().is_some(), answered, "{e}");
            if !matches!(e, ProviderError::Status { .. }) {
                assert_eq!(e.retry_after(), None, "{e}");
            }
        }
    }

    #[test]
    fn a_token_limit_is_a_429_whose_own_words_name_tokens() {
        let limited = [
            // OpenAI, Anthropic, Azure OpenAI.
            "tokens: Rate limit reached for gpt-4o-mini in organization org-1 on tokens per min (TPM): Limit 200000, Used 199500, Requested 900.",
            "rate_limit_error: This request would exceed the rate limit for your organization of 40,000 input tokens per minute.",
            "429: Requests to the ChatCompletions_Create Operation have exceeded token rate limit of your current pricing tier.",
        ];
        for text in limited {
            assert!(status(429, text, None).is_token_limit(), "{text}");
            assert!(!status(503, text, None).is_token_limit(), "{text}");
        }
        let requests = [
            // OpenAI's request limit, and LiteLLM's router (whose message
            // lists each deployment's `current_tpm`).
            "requests: Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.",
            "throttling_error: litellm.RateLimitError: No deployments available for selected model. Passed model=mock-rpm. Deployments={'6f2b': {'current_tpm': 60, 'tpm_limit': inf, 'current_rpm': 2, 'rpm_limit': 3}}",
        ];
        for text in requests {
            assert!(!status(429, text, None).is_token_limit(), "{text}");
        }
        // The model's id is not the server's words: `target()` sends
        // `model-1`, and a model called `tokens` would be no different.
        let mut e = status(429, "Slow down", None);
        if let ProviderError::Status { target, .. } = &mut e {
            target.model_id = "tokenizer-7b".into();
        }
        assert!(!e.is_token_limit(), "{e}");
    }

    #[test]
    fn no_key_shaped_text_survives_display_debug_or_help() {
        for e in every_cause() {
            let shown = format!("{e} {e:?} {}", e.help().unwrap_or_default());
            assert!(!shown.contains("abcdef0123456789"), "{shown}");
        }
    }

    #[test]
    fn messages_name_the_flow_model_and_the_model_id_sent() {
        let e = status(404, "The model `model-1` does not exist", None);
        assert_eq!(
            e.to_string(),
            "OpenAI answered 404 Not Found for model `m` (`model-1`) at \
             `POST /v1/chat/completions`: The model `model-1` does not exist"
        );
        let e = ProviderError::Timeout {
            target: target(),
            after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            e.to_string(),
            "the request to `https://api.openai.com/v1/chat/completions` for model `m` \
             (`model-1`) timed out after 2s"
        );
        let e = ProviderError::MockFailure {
            model: "m".into(),
            fail_first: 1,
            attempt: 0,
        };
        assert_eq!(
            e.to_string(),
            "mock model `m` fails its first attempt (this was attempt 1)"
        );
    }

    #[test]
    fn an_internal_cause_says_it_is_a_bug() {
        let e = ProviderError::Internal(InternalError::new("no HTTP client shard 40"));
        assert!(e.to_string().ends_with("this is a bug in flow"), "{e}");
        assert!(e.help().is_some_and(|h| h.contains("report")));
    }
}

//! The HTTP plumbing the `openai` and `anthropic` providers share: one pooled
//! client for the whole run, a key type that cannot leak through formatting,
//! and the one mapping from HTTP outcomes to [`ProviderError`], so both
//! providers fail the same way and the runtime can retry them the same way.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use super::ProviderError;
use super::error::{BadUrl, Malformation, ServerText, Target};
use crate::internal::InternalError;
use crate::model::{ModelSpec, ProviderKind};

/// Long enough for a slow TLS handshake, short enough that a dead host is
/// retried by the runtime instead of eating the whole attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a reply's body may have unless a model's `max_reply_bytes` says
/// otherwise: far beyond any model's reply (a 128k-token answer is about half
/// a MiB of JSON), and small enough that a server streaming an endless body
/// cannot take the process's memory.
pub const MAX_REPLY_BYTES: usize = 16 << 20;

/// How much of an unexpected body an error message quotes.
const QUOTE_CHARS: usize = 300;

/// Streams one pooled connection is given before the next shard is used:
/// below the `MAX_CONCURRENT_STREAMS` servers commonly advertise (100 to
/// 256), so an HTTP/2 connection never makes calls queue behind each other.
pub const CALLS_PER_SHARD: usize = 64;

/// Shards at most: with [`CALLS_PER_SHARD`], 2,048 calls in flight before
/// any HTTP/2 connection is asked for more than its share.
pub const MAX_SHARDS: usize = 32;

/// The HTTP client every provider of a run shares.
///
/// One `reqwest::Client` is one connection pool, and over HTTP/2 it keeps a
/// single connection per host whose streams are capped by the server (hyper
/// queues the rest rather than opening a second connection). So this is a
/// set of pools, filled in order: calls use the first pool with fewer than
/// [`CALLS_PER_SHARD`] in flight. A few calls at a time always reuse the
/// first pool's warm connections; 1,000 at once spread over 16 connections
/// instead of queueing on one. Over HTTP/1.1 every call in flight has its
/// own connection either way.
///
/// Nothing here caps concurrency: the runtime's `concurrency` and `rpm` are
/// the only limits. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct HttpClient {
    shards: std::sync::Arc<Shards>,
}

struct Shards {
    make: fn() -> reqwest::ClientBuilder,
    clients: Vec<std::sync::OnceLock<reqwest::Client>>,
    in_flight: Vec<std::sync::atomic::AtomicUsize>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("shards", &self.shards.clients.len())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// The shared client for a run. Fails only if TLS cannot be set up.
///
/// The platform's root store is read besides the bundled roots, so a
/// corporate CA installed on the machine is trusted. A store holding only
/// certificates rustls cannot read makes reqwest refuse to build at all;
/// the bundled roots alone then still reach the public providers.
pub fn client() -> Result<HttpClient, ProviderError> {
    HttpClient::with_builder(MAX_SHARDS, || configure(reqwest::Client::builder())).or_else(|_| {
        HttpClient::with_builder(MAX_SHARDS, || {
            configure(reqwest::Client::builder()).tls_built_in_native_certs(false)
        })
    })
}

impl HttpClient {
    /// `make` builds each shard's client (lazily, on first use); the first
    /// is built now so a broken TLS setup fails before any call.
    pub(crate) fn with_builder(
        shards: usize,
        make: fn() -> reqwest::ClientBuilder,
    ) -> Result<HttpClient, ProviderError> {
        let shards = shards.max(1);
        let client = HttpClient {
            shards: std::sync::Arc::new(Shards {
                make,
                clients: (0..shards).map(|_| std::sync::OnceLock::new()).collect(),
                in_flight: (0..shards)
                    .map(|_| std::sync::atomic::AtomicUsize::new(0))
                    .collect(),
            }),
        };
        client.shard(0)?;
        Ok(client)
    }

    /// Calls in flight through this client right now.
    pub fn in_flight(&self) -> usize {
        use std::sync::atomic::Ordering;
        self.shards
            .in_flight
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    fn shard(&self, index: usize) -> Result<reqwest::Client, ProviderError> {
        let slot = self.shards.clients.get(index).ok_or_else(|| {
            ProviderError::Internal(InternalError::new(format!(
                "there is no HTTP client shard {index}"
            )))
        })?;
        if let Some(client) = slot.get() {
            return Ok(client.clone());
        }
        let built = (self.shards.make)().build().map_err(|e| {
            ProviderError::Internal(InternalError::new(format!(
                "could not set up the HTTP client: {}",
                root_cause(&e)
            )))
        })?;
        // Two calls may race to build a shard; the first one stored wins.
        Ok(slot.get_or_init(|| built).clone())
    }

    /// A client for one call, and the claim that counts the call against
    /// its shard until dropped (also when the call is cancelled).
    fn acquire(&self) -> Result<(reqwest::Client, Claim), ProviderError> {
        use std::sync::atomic::Ordering;
        let counts = &self.shards.in_flight;
        let mut chosen = None;
        for (index, count) in counts.iter().enumerate() {
            if count.fetch_add(1, Ordering::AcqRel) < CALLS_PER_SHARD {
                chosen = Some(index);
                break;
            }
            count.fetch_sub(1, Ordering::AcqRel);
        }
        let index = match chosen {
            Some(index) => index,
            // Every shard is full: share the load evenly from here on.
            None => {
                let index = counts
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, n)| n.load(Ordering::Acquire))
                    .map_or(0, |(index, _)| index);
                if let Some(count) = counts.get(index) {
                    count.fetch_add(1, Ordering::AcqRel);
                }
                index
            }
        };
        let claim = Claim {
            shards: self.shards.clone(),
            index,
        };
        Ok((self.shard(index)?, claim))
    }
}

impl HttpClient {
    /// A claim on the first shard, whatever its load: see [`Endpoint::post`]
    /// on running out of file descriptors.
    fn acquire_first(&self) -> Result<(reqwest::Client, Claim), ProviderError> {
        if let Some(count) = self.shards.in_flight.first() {
            count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let claim = Claim {
            shards: self.shards.clone(),
            index: 0,
        };
        Ok((self.shard(0)?, claim))
    }
}

/// Whether a request failed for want of a file descriptor (`EMFILE`: the
/// process's limit; `ENFILE`: the system's), which a connection closing
/// elsewhere will cure.
fn out_of_files(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(io.raw_os_error(), Some(23 | 24))
        {
            return cfg!(unix);
        }
        cause = error.source();
    }
    false
}

/// Raises this process's soft limit on open files to its hard limit, as
/// Go's runtime does at start, and returns the new soft limit. The usual
/// soft default of 1,024 allows about a thousand connections, and a
/// fan-out over HTTP/1.1 opens one per call in flight; the hard limit
/// (often 524,288) is what the system actually allows. Meant for a binary's
/// `main`: a library should not change its host process's limits unasked.
pub fn raise_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::increase_nofile_limit(u64::MAX).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

impl From<reqwest::Client> for HttpClient {
    /// One pool, as given (no sharding).
    fn from(client: reqwest::Client) -> HttpClient {
        let slot = std::sync::OnceLock::new();
        let _ = slot.set(client);
        HttpClient {
            shards: std::sync::Arc::new(Shards {
                make: reqwest::Client::builder,
                clients: vec![slot],
                in_flight: vec![std::sync::atomic::AtomicUsize::new(0)],
            }),
        }
    }
}

struct Claim {
    shards: std::sync::Arc<Shards>,
    index: usize,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(count) = self.shards.in_flight.get(self.index) {
            count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

fn configure(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    let builder = builder
        .use_rustls_tls()
        .user_agent(concat!("flow/", env!("CARGO_PKG_VERSION")))
        // A burst of calls opens many connections; keep them all for the next burst.
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(60))
        .connect_timeout(CONNECT_TIMEOUT);
    #[cfg(feature = "http2")]
    let builder = builder.http2_adaptive_window(true);
    builder
        // A redirect to another host would carry `x-api-key` along with it
        // (reqwest only strips `Authorization`), and a POST turned into a GET
        // is never what the user meant: surface redirects as errors instead.
        .redirect(reqwest::redirect::Policy::none())
}

/// An API key. It formats as `***` everywhere, so no `Debug` of a provider,
/// error or log line can print it; only [`ApiKey::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty or blank value, which is as good as unset.
    pub fn new(key: String) -> Option<ApiKey> {
        let trimmed = key.trim();
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == key.len() {
            Some(ApiKey(key))
        } else {
            Some(ApiKey(trimmed.to_string()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A header value reqwest and hyper treat as sensitive (never logged).
    fn header(&self, prefix: &str) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a provider authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth {
    /// `Authorization: Bearer KEY` (OpenAI and compatible servers).
    Bearer,
    /// A header holding the bare key (Anthropic's `x-api-key`).
    Header(&'static str),
}

/// A 2xx reply being streamed: its body is read as it arrives, and the
/// call counts against its connection pool until this is dropped.
pub(crate) struct Streamed {
    pub response: reqwest::Response,
    _claim: Claim,
}

impl Streamed {
    /// Whether the server sent events. Some servers (LiteLLM's mock models
    /// on `/v1/messages`, for one) ignore `stream: true` and answer with the
    /// whole reply as JSON; that is read as an ordinary reply.
    pub(crate) fn is_event_stream(&self) -> bool {
        self.response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| !v.trim_start().starts_with("application/json"))
    }

    /// For a non-2xx reply, which `read` always turns into an error.
    fn never() -> Result<Streamed, ProviderError> {
        Err(ProviderError::Internal(InternalError::new(
            "a failed reply was read as a success",
        )))
    }
}

/// The body of a request [`Endpoint::send_other`] makes.
pub(crate) enum OtherBody {
    Empty,
    Json(serde_json::Value),
    Form(reqwest::multipart::Form),
}

/// What a provider tells [`Endpoint::new`] about its API.
pub(crate) struct Api {
    pub kind: ProviderKind,
    /// The name users know the provider by, in messages ("OpenAI").
    pub title: &'static str,
    pub default_base_url: &'static str,
    /// Appended to the base URL: `"chat/completions"`, `"messages"`.
    pub path: &'static str,
    pub auth: Auth,
    /// Sent on every request (e.g. `anthropic-version`).
    pub extra_headers: &'static [(&'static str, &'static str)],
}

/// One model's endpoint: where to POST, with which headers, and how to word
/// its errors. Built once per model, shared by all its calls.
pub(crate) struct Endpoint {
    client: HttpClient,
    api: Api,
    pub model_id: String,
    base_url: String,
    url: Url,
    /// What errors say was called: names, URLs without any password.
    target: Target,
    key: Option<ApiKey>,
    /// Auth and fixed headers; auth values are marked sensitive.
    headers: HeaderMap,
    timeout: Option<Duration>,
    /// The model's `max_reply_bytes`, or [`MAX_REPLY_BYTES`].
    max_reply: usize,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.api.kind.name())
            .field("model", &self.target.model)
            .field("model_id", &self.model_id)
            .field("url", &self.target.url)
            .field("key_env", &self.target.key_env)
            .field("key", &self.key.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Endpoint {
    /// `key` is the value of the key variable (`None` when unset). Without
    /// one, only a custom `base_url` (a local server) can be called, and then
    /// no auth header is sent.
    pub(crate) fn new(
        spec: &ModelSpec,
        client: HttpClient,
        api: Api,
        key: Option<String>,
    ) -> Result<Endpoint, ProviderError> {
        let provider = api.kind.name();
        let model_id = spec
            .model_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| ProviderError::NoModelId {
                model: spec.name.clone(),
                provider: api.title,
                call: provider,
            })?;
        let key_env = spec
            .key_env()
            .or(api.kind.default_key_env())
            .unwrap_or("API_KEY")
            .to_string();

        let base_url = spec
            .options
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(api.default_base_url)
            .trim_end_matches('/')
            .to_string();
        let bad_url = |problem: BadUrl| ProviderError::BadBaseUrl {
            model: spec.name.clone(),
            base_url: Url::parse(&base_url)
                .map_or_else(|_| base_url.clone(), |u| without_password(&u)),
            problem,
            example: api.default_base_url,
        };
        let url = Url::parse(&format!("{base_url}/{}", api.path))
            .map_err(|e| bad_url(BadUrl::Unparsable(e.to_string())))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad_url(BadUrl::Scheme(url.scheme().to_string())));
        }
        let is_default = base_url.eq_ignore_ascii_case(api.default_base_url);
        let shown_url = without_password(&url);
        let shown_base = shown_url
            .strip_suffix(api.path)
            .map_or(shown_url.as_str(), |base| base.trim_end_matches('/'))
            .to_string();

        let key = key.and_then(ApiKey::new);
        if key.is_none() && is_default {
            return Err(ProviderError::MissingKey {
                model: spec.name.clone(),
                key_env,
                provider: api.title,
            });
        }

        let mut headers = HeaderMap::new();
        for (name, value) in api.extra_headers {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        if let Some(key) = &key {
            let (name, value) = match api.auth {
                Auth::Bearer => (
                    reqwest::header::AUTHORIZATION.as_str(),
                    key.header("Bearer "),
                ),
                Auth::Header(name) => (name, key.header("")),
            };
            let value = value.ok_or_else(|| ProviderError::UnsendableKey {
                model: spec.name.clone(),
                key_env: key_env.clone(),
            })?;
            headers.insert(name, value);
        }

        let target = Target {
            model: spec.name.clone(),
            model_id: model_id.clone(),
            provider: api.title,
            base_url: shown_base,
            path: url.path().to_string(),
            method: "POST",
            url: shown_url,
            official: is_default,
            key_env,
            has_key: key.is_some(),
        };
        Ok(Endpoint {
            client,
            api,
            model_id,
            base_url,
            url,
            target,
            key,
            headers,
            timeout: spec.options.timeout,
            max_reply: spec
                .options
                .max_reply_bytes
                .map_or(MAX_REPLY_BYTES, |n| n as usize),
        })
    }

    /// One POST of `body`; the raw body of a 2xx reply, or the error that
    /// explains why there is none.
    pub(crate) async fn post(
        &self,
        body: &impl serde::Serialize,
    ) -> Result<Vec<u8>, ProviderError> {
        let (response, claim) = self.send(body).await?;
        self.read(response, claim).await
    }

    /// One POST of `body` whose 2xx reply is read as it comes (a stream of
    /// events); any other status is read and worded as [`Endpoint::post`]
    /// words it. Dropping the result closes the connection.
    pub(crate) async fn post_streamed(
        &self,
        body: &impl serde::Serialize,
    ) -> Result<Streamed, ProviderError> {
        let (response, claim) = self.send(body).await?;
        if response.status().is_success() {
            return Ok(Streamed {
                response,
                _claim: claim,
            });
        }
        self.read(response, claim)
            .await
            .map(|_| Streamed::never())?
    }

    /// The whole body of a 2xx reply that came without events.
    pub(crate) async fn whole(&self, streamed: Streamed) -> Result<Vec<u8>, ProviderError> {
        self.read(streamed.response, streamed._claim).await
    }

    /// The body of a streamed reply broke off, or came in a shape the API
    /// does not send: said as a body that broke off (transient), with why.
    pub(crate) fn broke_off(&self, why: &str) -> ProviderError {
        ProviderError::BodyRead {
            target: self.target(),
            reason: self.scrub(why),
        }
    }

    /// Reading a streamed body failed.
    pub(crate) fn stream_error(&self, e: &reqwest::Error) -> ProviderError {
        self.body_error(e)
    }

    async fn send(
        &self,
        body: &impl serde::Serialize,
    ) -> Result<(reqwest::Response, Claim), ProviderError> {
        let (mut client, mut claim) = self.client.acquire()?;
        let mut waited = 0u32;
        let response = loop {
            let mut request = client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .json(body);
            if let Some(timeout) = self.timeout {
                request = request.timeout(timeout);
            }
            match request.send().await {
                Ok(response) => break response,
                // Out of file descriptors: backpressure, not a failed call.
                // Wait for connections to free up, then go through the
                // first pool, whose connections other calls return to it
                // (idle ones in the other pools cannot be borrowed).
                Err(e) if out_of_files(&e) => {
                    drop(claim);
                    waited = waited.saturating_add(1);
                    let ms = fastrand::u64(1..=10u64.saturating_mul(u64::from(waited.min(10))));
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    (client, claim) = self.client.acquire_first()?;
                }
                Err(e) => return Err(self.send_error(&e)),
            }
        };
        Ok((response, claim))
    }

    async fn read(
        &self,
        mut response: reqwest::Response,
        claim: Claim,
    ) -> Result<Vec<u8>, ProviderError> {
        // The claim counts this call against its pool until the body is read.
        let _claim = claim;
        let status = response.status();
        let headers = response.headers().clone();
        // Read in chunks up to the cap: an endless body would otherwise
        // grow in memory until the timeout, or forever without one.
        let mut body = Vec::new();
        let mut whole = true;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.body_error(&e))? {
            if body.len() + chunk.len() > self.max_reply {
                whole = false;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() && !whole {
            Err(ProviderError::TooLarge {
                target: self.target(),
                limit: self.max_reply,
            })
        } else if status.is_success() {
            Ok(body)
        } else {
            // An error's body is only quoted, so its start is enough.
            Err(self.status_error(status, &headers, &body, SystemTime::now()))
        }
    }

    /// A request to `path` under the base URL (or to `url` itself when it
    /// is absolute, as Anthropic's `results_url` is) with the endpoint's
    /// auth and headers: what the batch APIs need beside the one POST.
    pub(crate) async fn send_other(
        &self,
        method: reqwest::Method,
        path: &str,
        body: OtherBody,
    ) -> Result<Vec<u8>, ProviderError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            Url::parse(path)
        } else {
            Url::parse(&format!(
                "{}/{}",
                self.base_url,
                path.trim_start_matches('/')
            ))
        }
        .map_err(|e| {
            ProviderError::Internal(InternalError::new(format!(
                "the batch URL `{}` does not parse: {e}",
                self.scrub(path).as_str()
            )))
        })?;
        let at = |e: ProviderError| self.at(e, &method, &url);
        let (client, claim) = self.client.acquire()?;
        let mut request = client
            .request(method.clone(), url.clone())
            .headers(self.headers.clone());
        request = match body {
            OtherBody::Empty => request,
            OtherBody::Json(value) => request.json(&value),
            OtherBody::Form(form) => request.multipart(form),
        };
        let response = request.send().await.map_err(|e| at(self.send_error(&e)))?;
        self.read(response, claim).await.map_err(at)
    }

    /// `e`, about the request `method url` rather than the call's `POST`:
    /// an error from `POST /v1/files` must not say `/v1/chat/completions`.
    pub(crate) fn at(
        &self,
        mut e: ProviderError,
        method: &reqwest::Method,
        url: &Url,
    ) -> ProviderError {
        if let Some(target) = e.target_mut() {
            target.method = if *method == reqwest::Method::GET {
                "GET"
            } else {
                "POST"
            };
            let mut shown = url.clone();
            if shown.password().is_some() {
                let _ = shown.set_password(Some("***"));
            }
            target.path = url.path().to_string();
            target.url = self.scrub(shown.as_str()).as_str().to_string();
        }
        e
    }

    /// The URL of `path` under the base URL, as [`Endpoint::send_other`]
    /// requests it (for [`Endpoint::at`] on a reply that does not decode).
    pub(crate) fn other_url(&self, path: &str) -> Option<Url> {
        Url::parse(&format!(
            "{}/{}",
            self.base_url,
            path.trim_start_matches('/')
        ))
        .ok()
    }

    /// The base URL, without a trailing slash, and the path calls are
    /// POSTed to (`/v1/chat/completions`): a batch names the endpoint its
    /// requests are for, and batches group calls by the server they go to.
    pub(crate) fn base_and_path(&self) -> (&str, &str) {
        (&self.base_url, self.url.path())
    }

    /// The name of the key's variable (never its value).
    pub(crate) fn key_env(&self) -> &str {
        &self.target.key_env
    }

    /// Parses a 2xx body; anything unexpected is fatal, quoting the body.
    pub(crate) fn decode<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ProviderError> {
        serde_json::from_slice(body)
            .map_err(|e| self.malformed(Malformation::NotJson(e.to_string()), body))
    }

    /// A 2xx reply without what the call needs (no choices, no text).
    pub(crate) fn malformed(&self, problem: Malformation, body: &[u8]) -> ProviderError {
        let problem = match problem {
            Malformation::Refusal(refusal) => Malformation::Refusal(self.scrub(refusal.as_str())),
            other => other,
        };
        ProviderError::Malformed {
            target: self.target(),
            problem,
            body: self.scrub(&shorten(&String::from_utf8_lossy(body))),
        }
    }

    pub(crate) fn is_default(&self) -> bool {
        self.base_url
            .eq_ignore_ascii_case(self.api.default_base_url)
    }

    fn target(&self) -> Box<Target> {
        Box::new(self.target.clone())
    }

    /// Sending failed: no connection, a timeout, or a connection that broke.
    fn send_error(&self, e: &reqwest::Error) -> ProviderError {
        let reason = self.scrub(&root_cause(e));
        if e.is_timeout() {
            self.timed_out()
        } else if e.is_connect() {
            ProviderError::Connect {
                target: self.target(),
                reason,
            }
        } else if e.is_builder() {
            ProviderError::Internal(InternalError::new(format!(
                "could not build the request for model `{}`: {reason}",
                self.target.model
            )))
        } else {
            ProviderError::Interrupted {
                target: self.target(),
                reason,
            }
        }
    }

    /// The status arrived, the body did not (in time, or at all).
    fn body_error(&self, e: &reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            return self.timed_out();
        }
        ProviderError::BodyRead {
            target: self.target(),
            reason: self.scrub(&root_cause(e)),
        }
    }

    fn timed_out(&self) -> ProviderError {
        ProviderError::Timeout {
            target: self.target(),
            after: self.timeout,
        }
    }

    fn status_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> ProviderError {
        if status.is_redirection() {
            let location = headers
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(|l| self.scrub(l));
            return ProviderError::Redirect {
                target: self.target(),
                status: status.as_u16(),
                location,
            };
        }
        ProviderError::Status {
            target: self.target(),
            status: status.as_u16(),
            detail: error_detail(body).map(|d| self.scrub(&d)),
            retry_after: retry_after(headers, now),
        }
    }

    /// Text that came from outside, without the key or anything shaped like
    /// a key (OpenAI echoes a masked key in its 401 message).
    pub(crate) fn scrub(&self, text: &str) -> ServerText {
        match &self.key {
            Some(key) => ServerText::new(&text.replace(key.expose(), "***")),
            None => ServerText::new(text),
        }
    }
}

/// The wait a server asks for, from the first of these that reads:
///
/// 1. `retry-after-ms` (OpenAI's finer hint), in milliseconds;
/// 2. `Retry-After`, in seconds or as an HTTP date (a date past is zero);
/// 3. `llm_provider-retry-after` (LiteLLM and the proxies built on it),
///    which passes on the upstream provider's `Retry-After` in seconds;
/// 4. `x-ratelimit-reset-requests` and `x-ratelimit-reset-tokens` (OpenAI
///    and the services copying its headers), Go durations like `1s` or
///    `6m0s`: the reset of the limit that ran out (its
///    `x-ratelimit-remaining-*` is 0), else the soonest one.
///
/// A 429 with only the last kind used to be retried after the usual
/// half-second backoff, twice, and fail the run in two seconds.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let seconds = |text: &str| {
        text.parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
            })
    };
    if let Some(ms) = header("retry-after-ms").and_then(|ms| ms.parse::<f64>().ok())
        && let Ok(wait) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(wait);
    }
    let standard = header("retry-after").and_then(|value| {
        seconds(value).or_else(|| {
            let date = httpdate::parse_http_date(value).ok()?;
            Some(date.duration_since(now).unwrap_or(Duration::ZERO))
        })
    });
    if standard.is_some() {
        return standard;
    }
    if let Some(wait) = header("llm_provider-retry-after").and_then(seconds) {
        return Some(wait);
    }
    let resets: Vec<(Duration, bool)> = ["requests", "tokens"]
        .iter()
        .filter_map(|limit| {
            let reset = header(&format!("x-ratelimit-reset-{limit}")).and_then(go_duration)?;
            let spent = header(&format!("x-ratelimit-remaining-{limit}")) == Some("0");
            Some((reset, spent))
        })
        .collect();
    let spent = resets.iter().filter(|(_, spent)| *spent).map(|(d, _)| *d);
    spent.max().or_else(|| resets.iter().map(|(d, _)| *d).min())
}

/// A Go `time.Duration` as printed: `1s`, `6m0s`, `1m30.5s`, `20ms`,
/// `2h3m`: numbers (with an optional fraction), each with its unit.
fn go_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, f64); 7] = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("h", 3600.0),
        ("m", 60.0),
        ("s", 1.0),
    ];
    let mut rest = text;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number.ends_with('.') || number.starts_with('.') {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[digits..];
        let (unit, scale) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit))?;
        rest = &rest[unit.len()..];
        total += value * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The provider's own words from an error body: `{"error":{"type","message"}}`
/// (OpenAI, Anthropic), `{"error":"..."}` (Ollama), `{"message":"..."}`; else
/// the body itself, shortened.
fn error_detail(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return None;
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Some(quote(&text));
    };
    let error = json.get("error");
    let str_at = |v: Option<&serde_json::Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    };
    let message = str_at(error, "message")
        .or_else(|| error.and_then(|e| e.as_str()).map(str::to_string))
        .or_else(|| str_at(Some(&json), "message"))
        .or_else(|| str_at(Some(&json), "detail"));
    match (str_at(error, "type"), message) {
        (Some(kind), Some(message)) => Some(format!("{kind}: {}", shorten(&message))),
        (None, Some(message)) => Some(shorten(&message)),
        (_, None) => Some(quote(&text)),
    }
}

/// Collapses whitespace and cuts long text, for messages that quote bodies.
fn shorten(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::shorten(&flat, QUOTE_CHARS)
}

fn quote(text: &str) -> String {
    if text.trim().is_empty() {
        "an empty body".to_string()
    } else {
        format!("`{}`", shorten(text))
    }
}

/// `sk-…` tokens (OpenAI and Anthropic key shapes) become `sk-***`.
pub(super) fn redact_key_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sk-") {
        let preceded_by_word = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        if preceded_by_word {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*')))
            .unwrap_or(rest.len());
        if end >= 8 {
            out.push_str("***");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The innermost cause ("Connection refused (os error 111)"), which says more
/// than reqwest's "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// A URL fit for messages: `https://user:secret@host` loses its secret.
fn without_password(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// What the provider tests need besides the fake server (`fake_llm`): a
/// client, a model, a request, and what a failed call's error says.
#[cfg(test)]
pub(crate) mod test_support {
    use std::time::Duration;

    use crate::model::{ModelOptions, ModelSpec, ProviderKind};
    use crate::providers::{ProviderError, Request};
    use crate::syntax::Span;
    use crate::types::Type;

    /// What a test asserts about a failed call, whatever its cause.
    #[derive(Debug)]
    pub struct Facts {
        pub error: ProviderError,
        pub message: String,
        pub status: Option<u16>,
        pub retry_after: Option<Duration>,
        pub help: Option<String>,
    }

    fn facts<T: std::fmt::Debug>(result: Result<T, ProviderError>, transient: bool) -> Facts {
        let error = result.expect_err("expected the call to fail");
        assert_eq!(error.is_transient(), transient, "{error:?}");
        Facts {
            message: error.to_string(),
            status: error.status(),
            retry_after: error.retry_after(),
            help: error.help(),
            error,
        }
    }

    /// The call failed with a cause worth retrying.
    pub fn transient<T: std::fmt::Debug>(result: Result<T, ProviderError>) -> Facts {
        facts(result, true)
    }

    /// The call failed with a cause retrying cannot fix.
    pub fn fatal<T: std::fmt::Debug>(result: Result<T, ProviderError>) -> Facts {
        facts(result, false)
    }

    /// A client like [`super::client`], but blind to any proxy settings of
    /// the machine running the tests.
    pub fn client() -> super::HttpClient {
        super::HttpClient::with_builder(super::MAX_SHARDS, || {
            super::configure(reqwest::Client::builder().no_proxy())
        })
        .expect("a test client")
    }

    pub fn spec(provider: ProviderKind, base_url: &str, options: ModelOptions) -> ModelSpec {
        ModelSpec {
            name: "m".to_string(),
            provider,
            model_id: Some("model-1".to_string()),
            options: ModelOptions {
                base_url: Some(base_url.to_string()),
                ..options
            },
            span: Span::new(0, 1),
        }
    }

    pub fn request(prompt: &str) -> Request {
        Request {
            model: "m".to_string(),
            system: None,
            history: Vec::new().into(),
            prompt: prompt.to_string(),
            sample: 0,
            attempt: 0,
            expect: Type::Text,
            wire: Default::default(),
            reask: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelOptions;
    use crate::syntax::Span;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn openai_api() -> Api {
        Api {
            kind: ProviderKind::OpenAi,
            title: "OpenAI",
            default_base_url: "https://api.openai.com/v1",
            path: "chat/completions",
            auth: Auth::Bearer,
            extra_headers: &[],
        }
    }

    fn spec(base_url: Option<&str>, key_env: Option<&str>) -> ModelSpec {
        ModelSpec {
            name: "fast".to_string(),
            provider: ProviderKind::OpenAi,
            model_id: Some("gpt-4o-mini".to_string()),
            options: ModelOptions {
                base_url: base_url.map(str::to_string),
                api_key_env: key_env.map(str::to_string),
                ..ModelOptions::default()
            },
            span: Span::new(0, 4),
        }
    }

    fn endpoint(base_url: Option<&str>, key: Option<&str>) -> Result<Endpoint, ProviderError> {
        Endpoint::new(
            &spec(base_url, None),
            test_support::client(),
            openai_api(),
            key.map(str::to_string),
        )
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_milliseconds() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let at = |pairs| retry_after(&headers(pairs), now);
        assert_eq!(at(&[("retry-after", "2")]), Some(Duration::from_secs(2)));
        assert_eq!(at(&[("retry-after", " 7 ")]), Some(Duration::from_secs(7)));
        assert_eq!(
            at(&[("retry-after", "1.5")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            at(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            at(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
            Some(Duration::ZERO),
            "a date already past means: retry now"
        );
        assert_eq!(
            at(&[("retry-after-ms", "250"), ("retry-after", "3")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(at(&[("retry-after", "soon")]), None);
        assert_eq!(at(&[("retry-after", "-3")]), None);
        assert_eq!(at(&[("retry-after-ms", "NaN")]), None);
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn item_23_nonstandard_retry_headers_are_honoured() {
        let now = SystemTime::now();
        let at = |pairs: &[(&'static str, &str)]| retry_after(&headers(pairs), now);
        // LiteLLM and the proxies built on it.
        assert_eq!(
            at(&[("llm_provider-retry-after", "7")]),
            Some(Duration::from_secs(7))
        );
        // OpenAI's own, as Go durations: the limit that ran out decides.
        assert_eq!(
            at(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-remaining-tokens", "5000"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ]),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            at(&[
                ("x-ratelimit-remaining-requests", "3"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ]),
            Some(Duration::from_secs(360))
        );
        // Without the remaining counts, the soonest reset.
        assert_eq!(
            at(&[
                ("x-ratelimit-reset-requests", "1m30.5s"),
                ("x-ratelimit-reset-tokens", "20ms"),
            ]),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            at(&[("x-ratelimit-reset-tokens", "2h3m")]),
            Some(Duration::from_secs(2 * 3600 + 3 * 60))
        );
        // The standard header wins over all of them.
        assert_eq!(
            at(&[
                ("retry-after", "3"),
                ("llm_provider-retry-after", "9"),
                ("x-ratelimit-reset-requests", "8s"),
            ]),
            Some(Duration::from_secs(3))
        );
        for bad in ["", "s", "1x", "1.s", "-1s", "1s2", "ms"] {
            assert_eq!(at(&[("x-ratelimit-reset-requests", bad)]), None, "{bad:?}");
        }
    }

    #[test]
    fn item_23_a_404_shows_the_path_and_hints_at_a_missing_v1() {
        let endpoint = endpoint(Some("http://localhost:11434"), None).unwrap();
        let error = endpoint.status_error(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            b"404 page not found",
            SystemTime::now(),
        );
        let message = error.to_string();
        assert!(
            message.contains("for model `fast` (`gpt-4o-mini`) at `POST /chat/completions`"),
            "{message}"
        );
        let help = error.help().unwrap();
        assert!(
            help.contains("`base_url` (`http://localhost:11434`) has no `/v1`"),
            "{help}"
        );
        assert!(help.contains("`http://localhost:11434/v1`"), "{help}");

        // With a version in the URL, the model id is the likelier culprit.
        let endpoint = self::endpoint(Some("http://localhost:11434/v1"), None).unwrap();
        let error = endpoint.status_error(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            b"",
            SystemTime::now(),
        );
        let help = error.help().unwrap();
        assert!(!help.contains("has no `/v1`"), "{help}");
        assert!(help.contains("the model id `gpt-4o-mini`"), "{help}");
    }

    #[test]
    fn item_23_a_400_names_the_model_id_sent() {
        let endpoint = endpoint(Some("http://localhost:1/v1"), Some("k")).unwrap();
        let error = endpoint.status_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"error":{"message":"unknown model"}}"#,
            SystemTime::now(),
        );
        assert!(
            error
                .to_string()
                .contains("400 Bad Request for model `fast` (`gpt-4o-mini`)"),
            "{error}"
        );
        assert!(error.help().unwrap().contains("`gpt-4o-mini`"));
    }

    #[test]
    fn item_23_an_error_without_a_key_says_no_key_was_sent() {
        let endpoint = Endpoint::new(
            &spec(Some("http://localhost:1/v1"), Some("MY_KEY")),
            test_support::client(),
            openai_api(),
            None,
        )
        .unwrap();
        for status in [400, 404, 429, 500] {
            let error = endpoint.status_error(
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                b"",
                SystemTime::now(),
            );
            assert!(
                error
                    .to_string()
                    .ends_with("(no key was sent: `MY_KEY` is not set)"),
                "{status}: {error}"
            );
        }
        let with_key = self::endpoint(Some("http://localhost:1/v1"), Some("k")).unwrap();
        let error = with_key.status_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            b"",
            SystemTime::now(),
        );
        assert!(!error.to_string().contains("no key"), "{error}");
    }

    #[test]
    fn error_detail_finds_the_providers_own_words() {
        let detail = |s: &str| error_detail(s.as_bytes());
        assert_eq!(
            detail(r#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#),
            Some("invalid_request_error: bad model".to_string())
        );
        assert_eq!(
            detail(r#"{"error":{"message":"no such model"}}"#),
            Some("no such model".to_string())
        );
        assert_eq!(
            detail(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            Some("overloaded_error: Overloaded".to_string())
        );
        assert_eq!(
            detail(r#"{"error":"model 'x' not found"}"#),
            Some("model 'x' not found".to_string())
        );
        assert_eq!(detail(r#"{"detail":"nope"}"#), Some("nope".to_string()));
        assert_eq!(
            detail("<html>\n  bad   gateway</html>"),
            Some("`<html> bad gateway</html>`".to_string())
        );
        assert_eq!(detail("  "), None);
        let long = detail(&"x".repeat(5000)).unwrap();
        assert!(long.chars().count() < 400, "{long}");
        assert!(long.ends_with("…`"));
    }

    #[test]
    fn key_shaped_tokens_are_redacted() {
        assert_eq!(
            redact_key_shapes("Incorrect API key provided: sk-proj-abc1********xyz9. See docs."),
            "Incorrect API key provided: sk-***. See docs."
        );
        assert_eq!(redact_key_shapes("sk-ant-api03-AAAAbbbbCCCC"), "sk-***");
        assert_eq!(
            redact_key_shapes("task-force risk-taking"),
            "task-force risk-taking"
        );
        assert_eq!(redact_key_shapes("sk-12"), "sk-12", "too short to be a key");
        assert_eq!(redact_key_shapes("ends with sk-"), "ends with sk-");
        assert_eq!(redact_key_shapes("é sk-ééé"), "é sk-ééé");
    }

    #[test]
    fn api_keys_format_as_stars() {
        let key = ApiKey::new("secret-value-123".to_string()).unwrap();
        assert_eq!(format!("{key}"), "***");
        assert_eq!(format!("{key:?}"), "***");
        assert_eq!(key.expose(), "secret-value-123");
        assert_eq!(ApiKey::new("  ".to_string()), None);
        assert_eq!(
            ApiKey::new(" k\n".to_string()).map(|k| k.expose().to_string()),
            Some("k".to_string())
        );
    }

    #[test]
    fn endpoint_debug_hides_the_key() {
        let endpoint = endpoint(None, Some("secret-value-123")).unwrap();
        let debug = format!("{endpoint:?}");
        assert!(!debug.contains("secret-value-123"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
    }

    #[test]
    fn a_missing_key_for_the_default_url_names_the_variable() {
        let Err(error @ ProviderError::MissingKey { .. }) = endpoint(None, None) else {
            panic!("expected a missing key");
        };
        assert!(!error.is_transient());
        let (message, help) = (error.to_string(), error.help());
        assert!(message.contains("`OPENAI_API_KEY` is not set"), "{message}");
        assert!(help.unwrap().contains("OPENAI_API_KEY"));

        let custom = Endpoint::new(
            &spec(None, Some("MY_KEY")),
            test_support::client(),
            openai_api(),
            Some("   ".to_string()),
        );
        let Err(error @ ProviderError::MissingKey { .. }) = custom else {
            panic!("a blank key is no key");
        };
        assert!(error.to_string().contains("`MY_KEY`"), "{error}");
    }

    #[test]
    fn a_local_server_needs_no_key_and_gets_no_auth_header() {
        let endpoint = endpoint(Some("http://localhost:11434/v1/"), None).unwrap();
        assert!(endpoint.headers.get("authorization").is_none());
        assert_eq!(
            endpoint.url.as_str(),
            "http://localhost:11434/v1/chat/completions"
        );
        assert!(!endpoint.is_default());
    }

    #[test]
    fn trailing_slashes_still_mean_the_default_url() {
        let endpoint = endpoint(Some("https://api.openai.com/v1/"), Some("k")).unwrap();
        assert!(endpoint.is_default());
        assert_eq!(
            endpoint.url.as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        let auth = endpoint.headers.get("authorization").unwrap();
        assert!(auth.is_sensitive());
    }

    #[test]
    fn unusable_base_urls_are_fatal() {
        for url in ["ftp://example.com", "not a url", "localhost:8080"] {
            match endpoint(Some(url), Some("k")) {
                Err(e @ ProviderError::BadBaseUrl { .. }) => {
                    assert!(!e.is_transient());
                    assert!(e.to_string().contains("`base_url`"), "{e}");
                    assert!(
                        e.help()
                            .is_some_and(|h| h.contains("https://api.openai.com/v1"))
                    );
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_fatal_without_echoing_it() {
        let Err(error @ ProviderError::UnsendableKey { .. }) = endpoint(None, Some("ab\u{7}cd"))
        else {
            panic!("expected an unsendable key");
        };
        assert!(!error.is_transient());
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("ab\u{7}cd"), "{text}");
        }
        assert!(error.help().unwrap().contains("OPENAI_API_KEY"));
    }

    #[test]
    fn a_missing_model_id_is_fatal() {
        let mut spec = spec(None, None);
        spec.model_id = None;
        let result = Endpoint::new(
            &spec,
            test_support::client(),
            openai_api(),
            Some("k".into()),
        );
        let Err(error @ ProviderError::NoModelId { .. }) = result else {
            panic!("expected no model id, got {result:?}");
        };
        assert!(!error.is_transient());
        assert_eq!(error.to_string(), "model `fast` has no model id");
        assert!(error.help().unwrap().contains("`openai(\"MODEL-ID\")`"));
    }

    #[test]
    fn messages_name_a_custom_server_by_url_and_hide_its_password() {
        let endpoint = endpoint(Some("http://me:hunter2@localhost:11434/v1"), None).unwrap();
        let error = endpoint.status_error(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            br#"{"error":"model 'llama3' not found"}"#,
            SystemTime::now(),
        );
        assert!(!error.is_transient());
        let help = error.help().unwrap();
        assert_eq!(
            error.to_string(),
            "the server at `http://me:***@localhost:11434/v1` answered 404 Not Found for \
             model `fast` (`gpt-4o-mini`) at `POST /v1/chat/completions`: model 'llama3' not found \
             (no key was sent: `OPENAI_API_KEY` is not set)"
        );
        assert!(!format!("{error:?}").contains("hunter2"));
        assert!(!help.contains("hunter2"), "{help}");
        assert!(!format!("{endpoint:?}").contains("hunter2"));

        let openai = self::endpoint(None, Some("k")).unwrap();
        let error = openai.status_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &HeaderMap::new(),
            b"",
            SystemTime::now(),
        );
        assert!(error.is_transient());
        assert_eq!(
            error.to_string(),
            "OpenAI answered 500 Internal Server Error for model `fast` (`gpt-4o-mini`) at \
             `POST /v1/chat/completions`"
        );
    }

    #[test]
    fn redirects_are_fatal_and_say_where_they_lead() {
        let endpoint = endpoint(Some("http://localhost:1/v1"), None).unwrap();
        let error = endpoint.status_error(
            StatusCode::MOVED_PERMANENTLY,
            &headers(&[("location", "https://elsewhere.example/v1")]),
            b"",
            SystemTime::now(),
        );
        assert!(matches!(error, ProviderError::Redirect { .. }), "{error:?}");
        assert!(!error.is_transient());
        assert_eq!(error.status(), Some(301));
        assert!(
            error.to_string().contains("does not follow redirects"),
            "{error}"
        );
        assert!(
            error
                .help()
                .unwrap()
                .contains("https://elsewhere.example/v1")
        );
    }

    #[test]
    fn calls_fill_the_first_shard_before_the_next() {
        let client = test_support::client();
        let shard_of = |claim: &Claim| claim.index;
        // One call at a time always reuses the first pool.
        for _ in 0..10 {
            let (_, claim) = client.acquire().unwrap();
            assert_eq!(shard_of(&claim), 0);
        }
        assert_eq!(client.in_flight(), 0);

        let claims: Vec<_> = (0..200).map(|_| client.acquire().unwrap().1).collect();
        let mut per_shard = [0usize; 4];
        for claim in &claims {
            per_shard[shard_of(claim)] += 1;
        }
        assert_eq!(per_shard, [64, 64, 64, 8]);
        assert_eq!(client.in_flight(), 200);
        drop(claims);
        assert_eq!(client.in_flight(), 0);
    }

    #[test]
    fn when_every_shard_is_full_the_least_loaded_takes_the_call() {
        let client =
            HttpClient::with_builder(2, || configure(reqwest::Client::builder().no_proxy()))
                .unwrap();
        let claims: Vec<_> = (0..2 * CALLS_PER_SHARD + 3)
            .map(|_| client.acquire().unwrap().1)
            .collect();
        let on_first = claims.iter().filter(|c| c.index == 0).count();
        assert!((CALLS_PER_SHARD + 1..=CALLS_PER_SHARD + 2).contains(&on_first));
    }

    #[test]
    fn a_plain_reqwest_client_is_one_shard() {
        let client = HttpClient::from(reqwest::Client::new());
        let claims: Vec<_> = (0..100).map(|_| client.acquire().unwrap().1).collect();
        assert!(claims.iter().all(|c| c.index == 0));
    }

    #[cfg(unix)]
    #[test]
    fn item_27_the_file_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = rlimit::Resource::NOFILE.get().expect("the file limit");
        let raised = raise_file_limit().expect("a new soft limit");
        let (soft, _) = rlimit::Resource::NOFILE.get().expect("the file limit");
        assert_eq!(raised, soft);
        // macOS caps the soft limit below an unlimited hard one.
        assert!(soft == hard || cfg!(target_os = "macos"), "{soft} < {hard}");
    }

    #[tokio::test]
    async fn the_shared_client_builds() {
        assert!(client().is_ok());
    }
}

//! `flow serve`: one program behind an HTTP server, so any OpenAI client
//! or chat UI can use a checked program (a guarded chatbot, a voting panel)
//! as if it were a model.
//!
//! The server is the engine's second client after the CLI, and uses only
//! what [`crate::engine`] offers: one [`Engine`] serves every request, so
//! per-model `concurrency` and `rpm`, the call cache and the call budget hold
//! across all of them. [`Server::new`] works out how chat requests map to
//! the program's inputs and which output is the assistant's message
//! (`mapping`), [`Server::router`] gives the routes as an axum `Router`, and
//! [`Server::serve`] runs them on a listener until a shutdown future
//! resolves, then drains. The library never prints: what a log would show
//! comes as [`ServeEvent`]s on [`ServeOptions::log`].
//!
//! Routes: `POST /v1/chat/completions` (`chat`), `POST /v1/runs` (`runs`),
//! `GET /healthz`, `GET /metrics` (`metrics`). Request ids, auth, the
//! access log and OpenAI-shaped errors for unknown routes are `layers`;
//! starting a run under the concurrent-runs limit is `launch`.

mod api_error;
mod chat;
mod error;
mod launch;
mod layers;
mod mapping;
mod metrics;
mod runs;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

pub use error::ServeError;

/// How a server behaves. `Default` gives 64 concurrent runs, 1 MiB bodies,
/// no auth, the answer output chosen by the documented rule, and 30 s for
/// in-flight runs to finish on shutdown.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Runs in flight at once; a request beyond them gets `429`.
    pub max_runs: usize,
    /// The largest request body, in bytes; a larger one gets `413`.
    pub max_body: usize,
    /// Requests must carry `Authorization: Bearer TOKEN` (all but `/healthz`).
    pub auth: Option<BearerToken>,
    /// The output that is the assistant's message; `None` picks it by rule
    /// (`answer`, `reply`, or the only text output).
    pub output: Option<String>,
    /// The `model` a chat reply names when the request names none.
    pub model: String,
    /// How long in-flight runs may take to finish once shutdown begins;
    /// the rest are cancelled.
    pub shutdown_timeout: Duration,
    /// Write each run's Chrome trace to `DIR/REQUEST_ID.json`.
    pub trace_dir: Option<PathBuf>,
    /// Where requests, failed runs and shutdown are reported, for a log.
    pub log: Option<UnboundedSender<ServeEvent>>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            max_runs: 64,
            max_body: 1 << 20,
            auth: None,
            output: None,
            model: "flow".into(),
            shutdown_timeout: Duration::from_secs(30),
            trace_dir: None,
            log: None,
        }
    }
}

/// A bearer token clients must present. It never shows in a debug print,
/// an error or a log.
#[derive(Clone)]
pub struct BearerToken(String);

impl BearerToken {
    /// The token clients must send; `None` when it is empty, since an empty
    /// token would accept `Authorization: Bearer ` from anyone.
    pub fn new(token: impl Into<String>) -> Option<BearerToken> {
        let token = token.into();
        (!token.trim().is_empty()).then(|| BearerToken(token.trim().to_string()))
    }

    /// Compares in time independent of where the two differ, so the token
    /// cannot be guessed a byte at a time from response times.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

/// What the server tells its log; the CLI prints these on stderr.
#[derive(Debug, Clone, PartialEq)]
pub enum ServeEvent {
    /// A request was answered (for a stream: its head was sent).
    Request {
        /// The request's id (its `x-request-id`, or one the server made).
        id: String,
        /// The HTTP method.
        method: String,
        /// The path, without the query.
        path: String,
        /// The status answered.
        status: u16,
        /// From the request's arrival to its answer's head.
        elapsed: Duration,
    },
    /// A run failed (or was cancelled): its code and message name the node.
    RunFailed {
        /// The request's id.
        id: String,
        /// The error's code, e.g. `flow::run::call_failed`.
        code: String,
        /// The error's message.
        message: String,
    },
    /// Shutdown began: no new connections; runs in flight may finish.
    Draining {
        /// Runs in flight.
        runs: usize,
        /// How long they have.
        deadline: Duration,
    },
    /// The shutdown deadline passed with runs still going; they were cancelled.
    Cancelled {
        /// Runs cancelled.
        runs: usize,
    },
}

/// A program ready to serve: its engine, how chat requests map to it, the
/// metrics, and the limits every request shares.
#[derive(Clone)]
pub struct Server {
    state: Arc<State>,
}

/// What every handler sees.
pub(crate) struct State {
    engine: Engine,
    /// How a chat request becomes a run, or why this program cannot take one.
    chat: Result<mapping::ChatMapping, String>,
    metrics: metrics::Metrics,
    options: ServeOptions,
    /// One permit per run in flight.
    runs: Arc<Semaphore>,
    /// The parent of every run's token: cancelled when the shutdown
    /// deadline passes.
    cancel_all: CancellationToken,
}

impl State {
    fn log(&self, event: ServeEvent) {
        if let Some(log) = &self.options.log {
            let _ = log.send(event);
        }
    }

    fn in_flight(&self) -> usize {
        self.options
            .max_runs
            .saturating_sub(self.runs.available_permits())
    }
}

impl Server {
    /// Prepares `engine` for serving. Fails when `options.output` names no
    /// text output; a program that cannot take chat requests (no text
    /// input to put the user's message in, or no text output for the reply)
    /// still serves `/v1/runs`, and [`Server::warnings`] says why.
    pub fn new(engine: Engine, options: ServeOptions) -> Result<Server, ServeError> {
        let chat = mapping::chat_mapping(engine.graph(), options.output.as_deref())?;
        let max_runs = options.max_runs.max(1);
        Ok(Server {
            state: Arc::new(State {
                metrics: metrics::Metrics::new(),
                chat,
                runs: Arc::new(Semaphore::new(max_runs)),
                cancel_all: CancellationToken::new(),
                options: ServeOptions {
                    max_runs,
                    ..options
                },
                engine,
            }),
        })
    }

    /// Why `/v1/chat/completions` is unavailable for this program, if it is.
    pub fn warnings(&self) -> Vec<ServeError> {
        match &self.state.chat {
            Ok(_) => Vec::new(),
            Err(reason) => vec![ServeError::NoChat {
                reason: reason.clone(),
            }],
        }
    }

    /// How chat requests map to the program, in words, for a log line:
    /// which input takes the user's message, which the earlier turns, and
    /// which output is the reply.
    pub fn chat_summary(&self) -> Option<String> {
        self.state.chat.as_ref().ok().map(|m| m.summary())
    }

    /// The routes, with their limits, auth and request ids.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        Router::new()
            .route("/v1/chat/completions", post(chat::handle))
            .route("/v1/runs", post(runs::handle))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics::handle))
            .fallback(layers::unknown_route)
            .method_not_allowed_fallback(layers::method_not_allowed)
            // Bodies are read whole, after this check; `413` past it.
            .layer(DefaultBodyLimit::max(state.options.max_body))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                layers::around,
            ))
            .with_state(state)
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting
    /// connections, lets runs in flight finish for `shutdown_timeout`,
    /// cancels the rest (their clients get `503`) and returns once every
    /// connection is closed.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let draining = CancellationToken::new();
        let signal = draining.clone();
        tokio::spawn(async move {
            shutdown.await;
            signal.cancel();
        });
        // Without it, Nagle's algorithm holds a small write (an SSE chunk,
        // a short reply) until the previous one is acknowledged.
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            let _ = stream.set_nodelay(true);
        });
        let server = axum::serve(listener, self.router())
            .with_graceful_shutdown(draining.clone().cancelled_owned())
            .into_future();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            // Shutdown is logged even when nothing is left to drain.
            biased;
            () = draining.cancelled() => {}
            done = &mut server => return done,
        }
        let state = &self.state;
        let deadline = state.options.shutdown_timeout;
        state.log(ServeEvent::Draining {
            runs: state.in_flight(),
            deadline,
        });
        tokio::select! {
            done = &mut server => return done,
            () = tokio::time::sleep(deadline) => {}
        }
        state.log(ServeEvent::Cancelled {
            runs: state.in_flight(),
        });
        state.cancel_all.cancel();
        // Cancelled runs answer at once; a client that does not read its
        // answer is not waited for.
        tokio::select! {
            done = &mut server => done,
            () = tokio::time::sleep(Duration::from_secs(2)) => Ok(()),
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

#[cfg(test)]
mod tests;

//! What a run is given beyond the graph: inputs, the call budget, a
//! listener for events, a cancellation token, the retry policy, and the
//! cache and limits it shares with other runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::events::RunEvent;
use super::limits::SharedLimits;
use crate::cache::CallCache;
use crate::value::Value;

/// How a run is configured beyond the graph itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Input values by input name, already parsed into their declared types.
    pub inputs: IndexMap<String, Value>,
    /// Fail before making call number `max_calls + 1`. Attempts sent count
    /// (each one is billed); cache hits, samples a vote no longer needs, and
    /// attempts that could not connect do not.
    pub max_calls: Option<u64>,
    /// Progress for a CLI to draw; the library never prints.
    pub events: Option<UnboundedSender<RunEvent>>,
    /// Cancel it (e.g. on Ctrl-C) to abort every call in flight.
    pub cancel: CancellationToken,
    /// Retries, back-off and timeouts for calls that do not set their own.
    pub retry: RetryPolicy,
    /// Completed calls are answered from and saved to it; `None` calls every time.
    pub cache: Option<Arc<CallCache>>,
    /// Per-model limits to share with other runs (a batch's rows); `None`
    /// gives this run its own, from the models' options.
    pub limits: Option<SharedLimits>,
    /// A call budget shared with other runs (a server's whole life, say),
    /// on top of this run's own `max_calls`.
    pub budget: Option<Arc<CallBudget>>,
    /// Stream every output that can stream (`graph::streams`): their
    /// chunks come as [`RunEvent::OutputChunk`] on `events`, each gated by
    /// the conditions the output sits under, and a call whose gate shuts is
    /// cancelled when nothing else reads it. `false` runs as always.
    pub stream: bool,
    /// Record no trace (see `engine::RunControl::untraced`).
    pub untraced: bool,
    /// Part of a batch run (`flow run --batch-api`): calls the cache cannot
    /// answer wait for a provider batch instead of being sent.
    pub batch: Option<Arc<crate::batch::BatchPass>>,
}

/// Calls that several runs may make between them. Each attempt sent takes
/// one; the attempt that would exceed the limit fails the run that made it.
#[derive(Debug)]
pub struct CallBudget {
    limit: u64,
    used: AtomicU64,
}

impl CallBudget {
    /// A budget of `limit` calls, none used yet.
    pub fn new(limit: u64) -> CallBudget {
        CallBudget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// The most calls the budget allows.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Calls taken so far, including any refused one.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Returns a call taken for an attempt that was never sent.
    pub fn give_back(&self) {
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Takes one call: `Err(n)` with the call's number when it is over.
    pub fn take(&self) -> Result<(), u64> {
        let n = self.used.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.limit { Err(n) } else { Ok(()) }
    }
}

/// Defaults for calls whose call site and model say nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts after the first when neither the call nor the model sets `retry`.
    pub default_retry: u32,
    /// The first backoff's upper bound; it doubles per attempt up to `max_delay`,
    /// and the actual wait is uniform below it ("full jitter").
    pub base_delay: Duration,
    /// The most any backoff waits, however many attempts failed.
    pub max_delay: Duration,
    /// Per attempt, when neither the call nor the model sets `timeout`, so a
    /// hung connection cannot hang the run.
    pub default_timeout: Option<Duration>,
    /// The longest `Retry-After` honoured. A server asking for longer (a
    /// spent daily quota answers `Retry-After: 86400`) fails the call at
    /// once with `flow::run::retry_after_too_long`, rather than leaving the
    /// run asleep with no word of why.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            default_retry: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            default_timeout: Some(Duration::from_secs(300)),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

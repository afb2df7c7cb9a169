//! What a run is given and what it gives back: options, progress events, the
//! report with outputs, partial results, statistics and the call trace.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::error::{RunError, Site};
use super::limits::SharedLimits;
use super::trace::TraceEvent;
use crate::cache::CallCache;
use crate::value::Value;

/// How a run is configured beyond the graph itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Input values by input name, already parsed into their declared types.
    pub inputs: IndexMap<String, Value>,
    /// Fail before making call number `max_calls + 1` (attempts count: each
    /// one is billed).
    pub max_calls: Option<u64>,
    /// Progress for a CLI to draw; the library never prints.
    pub events: Option<UnboundedSender<RunEvent>>,
    /// Cancel it (e.g. on Ctrl-C) to abort every call in flight.
    pub cancel: CancellationToken,
    pub retry: RetryPolicy,
    /// Completed calls are answered from and saved to it; `None` calls every time.
    pub cache: Option<Arc<CallCache>>,
    /// Per-model limits to share with other runs (a batch's rows); `None`
    /// gives this run its own, from the models' options.
    pub limits: Option<SharedLimits>,
}

/// Defaults for calls whose call site and model say nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts after the first when neither the call nor the model sets `retry`.
    pub default_retry: u32,
    /// The first backoff's upper bound; it doubles per attempt up to `max_delay`,
    /// and the actual wait is uniform below it ("full jitter").
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Per attempt, when neither the call nor the model sets `timeout`, so a
    /// hung connection cannot hang the run.
    pub default_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            default_retry: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            default_timeout: Some(Duration::from_secs(300)),
        }
    }
}

/// Progress, in the order it happens. Counts are running totals so a
/// consumer can draw a bar without keeping state.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// Before anything runs.
    Planned { nodes: usize },
    NodeStarted {
        node: String,
        /// Nodes started so far, this one included, and nodes in the graph.
        started: usize,
        total: usize,
    },
    NodeFinished {
        node: String,
        /// The node's guard failed, so it did not run (an `if` branch not taken).
        skipped: bool,
        done: usize,
        total: usize,
    },
    CallStarted {
        site: Site,
        model: String,
        attempt: u32,
        in_flight: u64,
        calls: u64,
    },
    CallFinished {
        site: Site,
        model: String,
        ok: bool,
        in_flight: u64,
    },
    /// An attempt failed and another follows after `delay`.
    Retry {
        site: Site,
        model: String,
        attempt: u32,
        reason: String,
        delay: Duration,
    },
    /// A vote was decided early and `calls` samples were cancelled.
    Saved { node: String, calls: u64 },
    /// A call was answered from the cache; `hits` so far in this run.
    CacheHit {
        site: Site,
        model: String,
        hits: u64,
    },
}

/// Everything a run produced, even when it failed.
#[derive(Debug)]
pub struct RunReport {
    pub outputs: Result<IndexMap<String, Value>, RunError>,
    /// Every node that completed, in completion order (also on failure).
    pub finished: Vec<(String, Value)>,
    pub stats: RunStats,
    /// One event per call attempt, in start order.
    pub trace: Vec<TraceEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunStats {
    /// Attempts sent to a provider (each one is billed).
    pub calls: u64,
    /// Samples never completed because their vote was decided early.
    pub saved: u64,
    /// Attempts that followed a failed attempt.
    pub retries: u64,
    /// Calls answered from the cache: not made, not billed, not in `calls`.
    pub cache_hits: u64,
    /// Calls looked up in the cache and not found (then made).
    pub cache_misses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub wall_ms: u64,
    /// The longest chain of call latencies actually observed along the graph's
    /// edges: the wall time the run needs however parallel the providers are.
    pub critical_path_ms: u64,
    /// The most calls in flight at once.
    pub peak_in_flight: u64,
    pub nodes_run: usize,
    pub nodes_skipped: usize,
    /// Only when every model that was called declares `price_in` and `price_out`.
    pub cost_usd: Option<f64>,
    pub models: IndexMap<String, ModelStats>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ModelStats {
    pub calls: u64,
    pub failed: u64,
    pub retries: u64,
    pub saved: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: Option<f64>,
}

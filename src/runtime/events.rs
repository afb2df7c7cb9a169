//! Progress events: what a run tells a listener (a progress bar, a trace
//! writer, a server streaming to a client) while it happens.

use std::time::Duration;

use super::error::Site;
use crate::value::Value;

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
    /// A vote's outcome is known: `answered` of its `samples` were needed.
    /// A judge, if the strategy has one, is asked after this.
    VoteDecided {
        node: String,
        answered: usize,
        samples: usize,
    },
    /// An output has its final value; the run may still be going.
    OutputReady { name: String, value: Value },
    /// A call was answered from the cache; `hits` so far in this run.
    CacheHit {
        site: Site,
        model: String,
        hits: u64,
    },
}

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
    Planned {
        /// Nodes in the graph, inputs and outputs included.
        nodes: usize,
    },
    /// A node's dependencies are done and it starts.
    NodeStarted {
        /// The node's name in the graph.
        node: String,
        /// Nodes started so far, this one included, and nodes in the graph.
        started: usize,
        /// Nodes in the graph.
        total: usize,
    },
    /// A node ended with a value, or was skipped.
    NodeFinished {
        /// The node's name in the graph.
        node: String,
        /// The node's guard failed, so it did not run (an `if` branch not taken).
        skipped: bool,
        /// Nodes finished or skipped so far, this one included.
        done: usize,
        /// Nodes in the graph.
        total: usize,
    },
    /// An attempt of a call was sent to its provider.
    CallStarted {
        /// Which call of which node.
        site: Site,
        /// The flow model's name.
        model: String,
        /// The attempt's number, 0 for the first.
        attempt: u32,
        /// Attempts in flight in this run now, this one included.
        in_flight: u64,
        /// Attempts sent so far in this run, this one included.
        calls: u64,
    },
    /// An attempt ended, answered or not (a cancelled one ends too).
    CallFinished {
        /// Which call of which node.
        site: Site,
        /// The flow model's name.
        model: String,
        /// Whether it gave a reply; a failure may still be retried.
        ok: bool,
        /// Attempts still in flight in this run.
        in_flight: u64,
    },
    /// An attempt failed and another follows after `delay`.
    Retry {
        /// Which call of which node.
        site: Site,
        /// The flow model's name.
        model: String,
        /// The attempt that failed, 0 for the first.
        attempt: u32,
        /// Why it failed, as a message.
        reason: String,
        /// The back-off before the next attempt.
        delay: Duration,
    },
    /// A vote was decided early and `calls` samples were cancelled.
    Saved {
        /// The voted node.
        node: String,
        /// Samples cancelled, each a call not made (or abandoned in flight).
        calls: u64,
    },
    /// A vote's outcome is known: `answered` of its `samples` were needed.
    /// A judge, if the strategy has one, is asked after this.
    VoteDecided {
        /// The voted node.
        node: String,
        /// Samples whose answers decided it.
        answered: usize,
        /// Samples the vote asked for.
        samples: usize,
    },
    /// An output has its final value; the run may still be going.
    OutputReady {
        /// The output's name.
        name: String,
        /// Its value.
        value: Value,
    },
    /// A chunk of a streamed output, released only once every condition the output sits
    /// under is decided in its favour (chunks that arrived earlier come at once, in order).
    OutputChunk {
        /// The output's name.
        name: String,
        /// The text of this chunk.
        text: String,
    },
    /// The conditions a streamed output sits under were decided: `open`,
    /// its call's chunks flow from now on (those held come first); shut,
    /// none is ever shown and the call is cancelled unless something else
    /// needs its reply. Comes before the first chunk of an opened output.
    GateDecided {
        /// The output's name.
        name: String,
        /// The call node the output would stream.
        source: String,
        /// Whether the output is this call's reply.
        open: bool,
    },
    /// A call was answered from the cache; `hits` so far in this run.
    CacheHit {
        /// Which call of which node.
        site: Site,
        /// The flow model's name.
        model: String,
        /// Cache hits so far in this run, this one included.
        hits: u64,
    },
}

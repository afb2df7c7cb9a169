//! Executes a `FlowGraph`: every node starts the moment its inputs are ready.
//!
//! [`run`] is the entry point. The scheduler (`scheduler`) starts nodes as
//! their dependencies complete; `node` executes one, `eval` its expressions,
//! `ask` its samples and votes, `call` one call with its retries, under the
//! per-model `limits`. Everything observed is collected in `ctx` and handed
//! back in a [`RunReport`].

mod ask;
mod call;
mod ctx;
pub mod error;
mod eval;
pub mod events;

pub mod limits;
mod node;
pub mod options;
pub mod reply;
pub mod report;
pub mod scheduler;
pub mod trace;
pub mod vote;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use error::{RunError, SampleIx, Site};
pub use events::RunEvent;
pub use options::{CallBudget, RetryPolicy, RunOptions};
pub use report::{ModelStats, Prices, RunReport, RunStats, prices};
pub use scheduler::run;
pub use trace::{AttemptOutcome, TraceEvent, chrome_trace_json};

//! Executes a `FlowGraph`: every node starts the moment its inputs are ready.
//!
//! Library users run programs through [`crate::engine::Engine`]; this module
//! gives the types a run takes and gives back ([`RunOptions`], [`RunReport`],
//! [`RunEvent`], [`RunError`]). Inside, `run` is the entry point. The
//! scheduler (`scheduler`) starts nodes as their dependencies complete;
//! `node` executes one, `eval` its expressions,
//! `ask` its samples and votes, `call` one call with its retries, under the
//! per-model `limits`. Everything observed is collected in `ctx` and handed
//! back in a [`RunReport`].
//!
//! The modules import one another in one direction only, so each can be
//! read knowing just the ones below it. Each line's module uses only
//! modules on the lines below it:
//!
//! ```text
//! scheduler   node, env, eval, gate, ctx, options, events, report
//! node        eval, ask, env, ctx
//! eval        ask, env
//! ask         call, reply, vote, env, events, gate
//! call        ctx, gate, reply, trace, events
//! reply       vote
//! env         ctx
//! ctx         options, events, gate, report, trace, limits
//! gate        events
//! options     events, limits
//! report      trace
//! events      (error only)
//! trace, limits, vote, error   (error is used by all)
//! ```
//!
//! `env` holds what a node's evaluation sees (`Env`, `DepValues`) below
//! `node`, `eval` and `ask`, so none of them imports one above it. The one real
//! recursion, an inline `ask` inside an expression, runs `eval` → `ask`;
//! `eval::render_call` renders a call's prompt before handing it to `ask`,
//! so `ask` never calls back into the evaluator. `error` and `limits` are
//! leaves that everything may use; `trace` takes events, not a report.

mod ask;
mod call;
mod ctx;
mod env;
pub(crate) mod error;
pub(crate) mod eval;
pub(crate) mod events;
pub(crate) mod gate;
pub(crate) mod limits;
mod node;
pub(crate) mod options;
pub(crate) mod reply;
pub(crate) mod report;
pub(crate) mod scheduler;
pub(crate) mod trace;
// Public, hidden, for `benches/vote_quality.rs`: the bench must measure the
// stopping rules the runtime uses, not a copy.
#[doc(hidden)]
pub mod vote;

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use error::{Quoted, RunError, SampleIx, Site, TypeProblem, TypeProblemBox};
pub use events::RunEvent;
pub use options::{CallBudget, RetryPolicy, RunOptions};
pub use report::{ModelStats, Prices, RunReport, RunStats, VoteStats, prices};
// Hidden: the benches time the scheduler without an engine's set-up; library
// users run programs with `engine::Engine::run`.
#[doc(hidden)]
pub use scheduler::run;
pub use trace::{
    AttemptOutcome, GateMark, TraceEvent, chrome_trace_json, chrome_trace_json_with_gates,
};

//! flow: a small language for LLM workflows, as a library.
//!
//! Start at [`engine`] (and `docs/library.md`): [`engine::Program::compile`]
//! turns source text into a checked program or its diagnostics, an
//! [`engine::Engine`] built once from it owns what runs share (providers,
//! per-model limits, the cache, the budget), and each run gives a
//! [`runtime::RunReport`] and, on request, a stream of [`runtime::RunEvent`]s.
//!
//! The other public modules hold the types those calls take and give:
//! [`value::Value`] and [`types::Type`] for inputs and outputs,
//! [`graph::FlowGraph`] and its renderings for drawing a program,
//! [`providers`] for plugging in a model backend of your own, [`cache`] for
//! the call cache. The pipeline behind them is described in
//! `docs/ARCHITECTURE.md`. The library never prints; the `flow` binary is
//! [`cli::main`], the only code that writes to the terminal.

#![warn(missing_docs)]

pub mod batch;
pub mod cache;
pub mod chat;
// Hidden: benches/frontend.rs times `check::check` apart from parsing.
#[doc(hidden)]
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod engine;
pub mod format;
pub mod graph;
pub mod import;
pub mod internal;
// `flow lsp`, behind the default cargo feature `lsp`.
#[cfg(feature = "lsp")]
pub mod lsp;
pub mod model;
pub mod providers;
pub mod runtime;
pub mod schema;
#[cfg(feature = "serve")]
pub mod serve;
pub mod syntax;
pub mod testing;
pub(crate) mod text;
pub mod types;
pub mod value;

pub use diagnostic::Diagnostics;
pub use engine::{
    CacheChoice, CompileFailure, Engine, EngineError, EngineOptions, InputError, InputErrors,
    InputValue, Inputs, Program, RunControl, RunHandle, SourceFile,
};
pub use internal::InternalError;
pub use runtime::{RunEvent, RunReport};

/// The front end in one call: parse, check, lower.
// Hidden: tests and benches compile bare source with it; library users call
// `engine::Program::compile`, which also keeps the source for diagnostics.
#[doc(hidden)]
pub struct Compiled {
    /// `None` when there were errors (warnings alone still give a graph).
    pub graph: Option<graph::FlowGraph>,
    /// Errors, then warnings, each sorted by position.
    pub diagnostics: Diagnostics,
    /// The checked `test` blocks (empty when there were errors).
    pub tests: Vec<testing::TestCase>,
}

/// Parses and checks `source`, giving the graph when it has no errors; its
/// imports are read from the file system, relative to the current folder.
#[doc(hidden)]
pub fn compile(source: &str) -> Compiled {
    import::compile("", source, &import::FsLoader).0
}

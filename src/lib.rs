//! flow: a small language for LLM workflows.
//!
//! The pipeline (see `docs/ARCHITECTURE.md`): [`syntax::parse`] turns source
//! into an AST, [`check::check`] validates it and lowers it to a
//! [`graph::FlowGraph`], and [`runtime`] executes that graph. The library never
//! prints; the `cli` module is the only place that writes to the terminal.

pub mod cache;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod engine;
pub mod graph;
pub mod internal;
pub mod model;
pub mod providers;
pub mod runtime;
pub mod syntax;
pub mod text;
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
pub struct Compiled {
    /// `None` when there were errors (warnings alone still give a graph).
    pub graph: Option<graph::FlowGraph>,
    /// Errors and warnings, sorted by position.
    pub diagnostics: Diagnostics,
}

pub fn compile(source: &str) -> Compiled {
    let mut diagnostics = Diagnostics::default();
    let program = match syntax::parse(source) {
        Ok(program) => program,
        Err(errors) => {
            for e in errors {
                diagnostics.push(e);
            }
            diagnostics.sort();
            return Compiled {
                graph: None,
                diagnostics,
            };
        }
    };
    let checked = check::check(&program);
    for d in checked.diagnostics {
        diagnostics.push_boxed(d);
    }
    diagnostics.sort();
    let graph = if diagnostics.has_errors() {
        None
    } else {
        checked.graph
    };
    Compiled { graph, diagnostics }
}

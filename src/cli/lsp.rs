//! `flow lsp`: hands standard input and output to the language server.
//! Nothing is printed here: stdout belongs to the protocol, and the only
//! failure to report is the connection's, on stderr by `Terminal`.

use super::terminal::Failure;

#[cfg(feature = "lsp")]
pub fn run() -> Result<(), Failure> {
    crate::lsp::serve_stdio().map_err(|e| Failure::run(e, None))
}

/// Built without the feature: say how to get it.
#[cfg(not(feature = "lsp"))]
pub fn run() -> Result<(), Failure> {
    Err(super::features::missing("lsp", "flow lsp"))
}

//! "This is a bug in flow": the one shape for an error that is not the
//! user's mistake.

use miette::Diagnostic;

#[derive(Debug, Clone, PartialEq, thiserror::Error, Diagnostic)]
#[error("internal error: {what}")]
#[diagnostic(
    code(flow::internal),
    help(
        "this is a bug in flow; please report it with the command and the program that caused it"
    )
)]
pub struct InternalError {
    pub what: String,
}

impl InternalError {
    pub fn new(what: impl Into<String>) -> InternalError {
        InternalError { what: what.into() }
    }
}

//! "This is a bug in flow": the one shape every stage uses when flow breaks
//! a promise it made to itself, as opposed to a mistake in the program.
//!
//! Keeping one type (and one code, `flow::internal`) means a user who sees it
//! knows at once the fault is ours, and a maintainer can find every place
//! flow can reach such a state by searching for [`InternalError::new`]. Stage
//! error enums wrap it in a variant of their own (`RunError::Internal`,
//! `SyntaxError::Internal`, ...) so each stage still has one error type.

use miette::Diagnostic;

/// A state flow's own invariants rule out. Never caused by the program or
/// its inputs; if it is, the bug is that the checker let them through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Diagnostic)]
#[error("internal error: {message}; this is a bug in flow")]
#[diagnostic(
    code(flow::internal),
    help(
        "please report it, with the command you ran and the program (or input) that triggered it"
    )
)]
pub struct InternalError {
    message: String,
}

impl InternalError {
    /// `message` says which invariant broke, in lowercase, names in backticks.
    pub fn new(message: impl Into<String>) -> InternalError {
        InternalError {
            message: message.into(),
        }
    }

    /// What broke, without the "internal error" frame around it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_its_code_and_asks_for_a_report() {
        let e = InternalError::new("sample 3 arrived twice");
        assert_eq!(
            e.to_string(),
            "internal error: sample 3 arrived twice; this is a bug in flow"
        );
        assert_eq!(e.message(), "sample 3 arrived twice");
        let mut out = String::new();
        let rendered =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(80)
                .render_report(&mut out, &e);
        assert!(rendered.is_ok());
        assert!(out.contains("flow::internal"), "{out}");
        assert!(out.contains("this is a bug in flow"), "{out}");
        assert!(out.contains("please report it"), "{out}");
    }
}

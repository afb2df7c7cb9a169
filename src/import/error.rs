//! What can go wrong while gathering a program's imported files.

use crate::syntax::Span;

/// One import that could not be followed; each carries the span of the
/// path in the file that imports it.
// The fields are what the messages say; each variant is one mistake.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    #[error("`{path}` imports itself: {chain}")]
    #[diagnostic(
        code(flow::import::cycle),
        help(
            "files may not import each other in a circle; move what both need into a third file that both import"
        )
    )]
    Cycle {
        path: String,
        /// The files, `a.flow` → `b.flow` → `a.flow`.
        chain: String,
        #[label("this import closes the circle")]
        span: Span,
    },

    #[error("cannot import `{path}`: {reason}")]
    #[diagnostic(
        code(flow::import::missing_file),
        help("the path is relative to the importing file (`{resolved}` here){suggestion}")
    )]
    MissingFile {
        path: String,
        resolved: String,
        reason: String,
        #[label("imported here")]
        span: Span,
        suggestion: crate::check::error::Suggestion,
    },

    #[error("this program imports more than {limit} files, counting each import of a file")]
    #[diagnostic(
        code(flow::import::too_many),
        help("a file imported by many files is loaded once per import; import it in fewer places")
    )]
    TooMany {
        limit: usize,
        #[label("stopped at this import")]
        span: Span,
    },
}

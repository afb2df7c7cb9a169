//! Source text → AST. pest stays inside this module: callers see only
//! `ast`, [`Span`] and `SyntaxError`. Only [`Span`] is part of the library's
//! documented API: diagnostics and graph nodes point into the source with it.

// Public only because `parse` returns it and benches/frontend.rs times
// parsing apart from checking; library users compile with `engine::Program`.
#[doc(hidden)]
pub mod ast;
mod diagnose;
mod error;
mod parser;
mod recover;
mod scan;
mod span;
mod split;
mod strings;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use error::KINDS as ERROR_KINDS;
pub(crate) use error::SyntaxError;
#[doc(hidden)]
pub use recover::{Gaps, Parsed};
pub use span::Span;

// Hidden: benches/frontend.rs times it; library users call `engine::Program::compile`.
/// Parses a whole `.flow` file. On failure returns every syntax error found:
/// each statement the grammar rejects gives one (parsing goes on at the next
/// statement), and problems found while building the tree (escapes,
/// interpolations, repeated modifiers, comparisons inside blocks, number
/// overflow) are all reported together.
#[doc(hidden)]
pub fn parse(source: &str) -> Result<ast::Program, Vec<SyntaxError>> {
    match recover::parse(source) {
        Parsed {
            program: Some(program),
            errors,
            ..
        } if errors.is_empty() => Ok(program),
        parsed => Err(parsed.errors),
    }
}

/// Whether `word` is a keyword (never a name), for the formatter's spacing.
pub(crate) fn is_keyword(word: &str) -> bool {
    parser::KEYWORDS.contains(&word)
}

/// Parses as much of a `.flow` file as parses: every syntax error, the
/// statements without one, and what the others mention, so that checking
/// the rest can leave out what only the missing statements explain.
#[doc(hidden)]
pub fn parse_partial(source: &str) -> Parsed {
    recover::parse(source)
}

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
mod scan;
mod span;
mod strings;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use error::KINDS as ERROR_KINDS;
pub(crate) use error::SyntaxError;
pub use span::Span;

// Hidden: benches/frontend.rs times it; library users call `engine::Program::compile`.
/// Parses a whole `.flow` file. On failure returns every syntax error found:
/// pest stops at the first grammar error, but problems found while building
/// the tree (escapes, interpolations, repeated modifiers, comparisons inside
/// blocks, number overflow) are all reported together.
#[doc(hidden)]
pub fn parse(source: &str) -> Result<ast::Program, Vec<SyntaxError>> {
    parser::parse(source)
}

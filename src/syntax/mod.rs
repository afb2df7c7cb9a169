//! Source text → AST. pest stays inside this module: callers see only
//! [`ast`], [`Span`] and [`SyntaxError`].

pub mod ast;
mod diagnose;
mod error;
mod parser;
mod scan;
mod span;
mod strings;
#[cfg(test)]
mod tests;

pub use error::{KINDS as ERROR_KINDS, SyntaxError};
pub use span::Span;

/// Parses a whole `.flow` file. On failure returns every syntax error found:
/// pest stops at the first grammar error, but problems found while building
/// the tree (escapes, interpolations, repeated modifiers, comparisons inside
/// blocks, number overflow) are all reported together.
pub fn parse(source: &str) -> Result<ast::Program, Vec<SyntaxError>> {
    parser::parse(source)
}

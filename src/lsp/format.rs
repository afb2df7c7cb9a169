//! The hook for `textDocument/formatting`.
//!
//! `flow fmt` is being written apart from the server; once the library has
//! a formatter, `format` calls it and `available` says so, and the server
//! advertises formatting. Until then it advertises nothing and answers a
//! formatting request with no edits.

/// Whether there is a formatter to offer.
pub fn available() -> bool {
    false
}

/// The formatted text, or `None` when it cannot be formatted (it does not
/// parse, or there is no formatter).
pub fn format(text: &str) -> Option<String> {
    let _ = text;
    None
}

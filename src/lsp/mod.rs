//! `flow lsp`: the Language Server, a client of the library like the CLI.
//!
//! Every request is answered from one `analysis::Analysis` per version of
//! a document: the recovering parser, the checker (keeping the graph even
//! with errors, so types and costs show for what is fine), a symbol index
//! and a line index converting byte offsets to the protocol's UTF-16
//! positions. The features are one module each:
//!
//! | module | answers |
//! | --- | --- |
//! | `analysis` | diagnostics, with codes linking to docs/errors.md |
//! | `reparse` | after an edit, parsing only the statements it touched |
//! | `debounce` | when a change is compiled: at once after a pause, once per window while typing |
//! | `hover` | a name's type, worst-case calls, cost bound, model and options |
//! | `navigate` | definition, references, highlights, rename, document symbols |
//! | `imports` | the files a document imports: their names' locations, open documents first |
//! | `completion` | what may be written at the cursor, by context |
//! | `tokens` | semantic tokens (and the lexer completion uses) |
//! | `hints` | inlay hints and code lenses: each `ask`'s calls, each section's parallel width |
//! | `format` | the formatting hook, for `flow fmt` |
//!
//! Behind the cargo feature `lsp`; the protocol machinery (framing, JSON-RPC)
//! is `lsp-server`'s, the types `lsp-types`'.

mod analysis;
mod completion;
mod debounce;
mod error;
mod format;
mod hints;
mod hover;
mod imports;
mod index;
mod line_index;
mod navigate;
mod reparse;
mod server;
#[cfg(test)]
mod tests;
mod tokens;
mod vocabulary;

pub use error::LspError;

/// Serves one editor over standard input and output until it exits.
pub fn serve_stdio() -> Result<(), LspError> {
    let (connection, io) = lsp_server::Connection::stdio();
    let served = server::serve(&connection);
    drop(connection);
    // The writer thread flushes what is left once the connection is gone.
    let joined = io.join().map_err(|e| LspError::Protocol(e.to_string()));
    served.and(joined)
}

// Hidden: benches/lsp.rs drives the server in-process, over memory channels.
#[doc(hidden)]
pub use lsp_server::Connection;
#[doc(hidden)]
pub use server::serve;

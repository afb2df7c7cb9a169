//! Why a program cannot be served (or cannot take chat requests), found
//! before the server accepts a connection.

use miette::Diagnostic;

/// Why [`Server::new`](super::Server::new) or listening failed, and the one
/// warning a server can start with.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ServeError {
    /// `--output` names an output the program does not have.
    #[error("the program has no output `{name}` to answer chat requests with")]
    #[diagnostic(code(flow::serve::unknown_output), help("{help}"))]
    UnknownOutput {
        /// The name given.
        name: String,
        /// The closest output name, or the list of them.
        help: String,
    },

    /// `--output` names an output whose value is not text.
    #[error("output `{name}` is {ty}, not text, so it cannot be an assistant's message")]
    #[diagnostic(
        code(flow::serve::output_not_text),
        help(
            "name a `text` output with `--output`, or use `POST /v1/runs`, which returns every output as JSON"
        )
    )]
    OutputNotText {
        /// The output's name.
        name: String,
        /// Its type, as the language writes it.
        ty: String,
    },

    /// The program serves `/v1/runs` only: a chat request has nowhere to go.
    #[error("`/v1/chat/completions` is off for this program: {reason}")]
    #[diagnostic(
        code(flow::serve::no_chat),
        severity(Warning),
        help(
            "a chat request needs one `text` input without a default (or a single `text` input) and one `text` output (`answer`, `reply`, the only one, or `--output NAME`); `POST /v1/runs` works for any program"
        )
    )]
    NoChat {
        /// What is missing or ambiguous.
        reason: String,
    },

    /// The address cannot be listened on.
    #[error("cannot listen on `{addr}`: {reason}")]
    #[diagnostic(
        code(flow::serve::bind),
        help(
            "pick another port with `--port` (`--port 0` takes any free one), or stop what is using it"
        )
    )]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        reason: String,
    },
}

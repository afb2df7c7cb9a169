//! How the language server stops other than by `shutdown` and `exit`.

/// Why `flow lsp` stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LspError {
    /// The client went away or broke the protocol's rules.
    #[error("the language server's connection failed: {0}")]
    #[diagnostic(
        code(flow::lsp::protocol),
        help(
            "`flow lsp` is started by an editor, which speaks the Language Server Protocol on its standard input and output"
        )
    )]
    Protocol(String),
    /// The client closed its end without `exit`.
    #[error("the editor closed the connection to the language server")]
    #[diagnostic(
        code(flow::lsp::protocol),
        help(
            "`flow lsp` is started by an editor, which speaks the Language Server Protocol on its standard input and output"
        )
    )]
    Disconnected,
    /// `exit` came before `shutdown`.
    #[error("the editor asked the language server to exit before shutting it down")]
    #[diagnostic(
        code(flow::lsp::protocol),
        help("a client sends `shutdown`, then `exit`")
    )]
    ExitBeforeShutdown,
    /// A panic caught while compiling; answers keep going for requests.
    #[error("this is a bug in flow: the language server failed while {0}")]
    #[diagnostic(
        code(flow::internal),
        help("please report it with the file that was open")
    )]
    Bug(&'static str),
}

impl From<lsp_server::ProtocolError> for LspError {
    fn from(e: lsp_server::ProtocolError) -> Self {
        if e.channel_is_disconnected() {
            LspError::Disconnected
        } else {
            LspError::Protocol(e.to_string())
        }
    }
}

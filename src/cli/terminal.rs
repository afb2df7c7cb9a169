//! The one place that writes to the terminal, and the one place that turns
//! a command's outcome into an exit code.
//!
//! Commands return `Result<(), Failure>`; a failure carries its diagnostic
//! (with the source to show it against) and its exit code, and
//! [`Terminal::finish`] renders it. Output that must appear while a command
//! runs (diagnostics of several files, batch results) goes through
//! [`Terminal::out`] and [`Terminal::diagnostic`], which remember a failed
//! write so that a full disk is an error, not an empty file and exit 0.

use std::io::{ErrorKind, Write};
use std::sync::Arc;

use miette::Diagnostic;

use super::exit;
use super::report::{Renderer, Style, render};
use crate::diagnostic::BoxDiagnostic;
use crate::engine::SourceFile;

/// Why a command did not succeed.
pub struct Failure {
    pub code: u8,
    diagnostic: Option<(BoxDiagnostic, Option<Arc<SourceFile>>)>,
}

impl Failure {
    /// Fails with `code`; whatever explains it was already shown.
    pub fn quiet(code: u8) -> Failure {
        Failure {
            code,
            diagnostic: None,
        }
    }

    /// Fails with `code`, showing `d` against `source`.
    pub fn new(
        d: impl Diagnostic + Send + Sync + 'static,
        source: Option<&Arc<SourceFile>>,
        code: u8,
    ) -> Failure {
        Failure {
            code,
            diagnostic: Some((Box::new(d), source.cloned())),
        }
    }

    /// A diagnostic that fails the command as a usage or run failure (exit 2).
    pub fn run(
        d: impl Diagnostic + Send + Sync + 'static,
        source: Option<&Arc<SourceFile>>,
    ) -> Failure {
        Failure::new(d, source, exit::FAILURE)
    }
}

pub struct Terminal {
    pub style: Style,
    /// `--json`: a failure also prints one JSON error document on stdout.
    json: bool,
    /// The errors shown so far, as JSON, for that document.
    json_errors: Vec<serde_json::Value>,
    /// The command printed its own JSON document (a run's report, a batch's
    /// lines): the failure needs no other.
    json_written: bool,
    /// The first failed write to stdout other than a closed pipe.
    stdout_error: Option<std::io::Error>,
    /// The reader of stdout went away: stop writing, exit quietly.
    stdout_closed: bool,
}

impl Terminal {
    pub fn new(style: Style) -> Terminal {
        Terminal {
            style,
            json: false,
            json_errors: Vec::new(),
            json_written: false,
            stdout_error: None,
            stdout_closed: false,
        }
    }

    /// With `--json`, every failure also prints a JSON error document.
    pub fn set_json(&mut self, json: bool) {
        self.json = json;
    }

    /// The command wrote its own JSON to stdout (or a file in its place).
    pub fn json_written(&mut self) {
        self.json_written = true;
    }

    /// Writes results to stdout.
    pub fn out(&mut self, text: &str) {
        if self.stdout_closed || self.stdout_error.is_some() {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() == ErrorKind::BrokenPipe {
                self.stdout_closed = true;
            } else {
                self.stdout_error = Some(e);
            }
        }
    }

    /// Writes messages for the person at the terminal to stderr.
    pub fn err(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        // Nowhere left to report a failure to write stderr.
        let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    }

    /// Shows a diagnostic on stderr against `source`.
    pub fn diagnostic(&mut self, d: &dyn Diagnostic, source: Option<&SourceFile>) {
        self.record_json(d, source);
        let text = render(d, source, self.style);
        self.err(&text);
    }

    /// With `--json`, keeps an error to print as JSON on stdout.
    fn record_json(&mut self, d: &dyn Diagnostic, source: Option<&SourceFile>) {
        if self.json
            && !matches!(
                d.severity(),
                Some(miette::Severity::Warning | miette::Severity::Advice)
            )
        {
            self.json_errors
                .push(crate::engine::json::to_json(d, source));
        }
    }

    /// Shows many diagnostics of one source, indexing its lines only once.
    pub fn diagnostics<'d>(
        &mut self,
        ds: impl IntoIterator<Item = &'d BoxDiagnostic>,
        source: Option<&SourceFile>,
    ) {
        let renderer = Renderer::new(source, self.style);
        for d in ds {
            self.record_json(d.as_ref(), source);
            let text = renderer.render(d.as_ref());
            self.err(&text);
        }
    }

    /// Shows a command's failure, if any, and gives the exit code.
    pub fn finish(mut self, result: Result<(), Failure>) -> u8 {
        let code = match result {
            Ok(()) => exit::OK,
            Err(Failure { code, diagnostic }) => {
                if let Some((d, source)) = diagnostic {
                    self.diagnostic(d.as_ref(), source.as_deref());
                }
                code
            }
        };
        if self.json && code != exit::OK && !self.json_written {
            let errors = std::mem::take(&mut self.json_errors);
            let doc = crate::engine::json::failure_doc(errors);
            let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            self.out(&format!("{text}\n"));
        }
        match self.stdout_error.take() {
            Some(e) => {
                self.diagnostic(
                    &WriteError {
                        reason: crate::text::io_reason(&e),
                    },
                    None,
                );
                if code == exit::OK {
                    exit::FAILURE
                } else {
                    code
                }
            }
            None => code,
        }
    }
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("cannot write to standard output: {reason}")]
#[diagnostic(
    code(flow::io::stdout),
    help("the output is incomplete; check the disk space where standard output goes")
)]
struct WriteError {
    reason: String,
}

//! Reading program files, with errors a user can act on.

use std::path::Path;

use super::exit;
use super::terminal::{Failure, Terminal};
use crate::engine::{Program, SourceFile};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SourceError {
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(
        code(flow::io::unreadable),
        help("check that the file exists and that you may read it")
    )]
    Unreadable { path: String, reason: String },

    #[error("`{path}` is not UTF-8 text (invalid byte at offset {offset})")]
    #[diagnostic(
        code(flow::io::not_utf8),
        help("flow programs must be UTF-8 text; re-save the file as UTF-8")
    )]
    NotUtf8 { path: String, offset: usize },
}

pub fn read(path: &Path) -> Result<SourceFile, SourceError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| SourceError::Unreadable {
        path: name.clone(),
        reason: crate::text::io_reason(&e),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
        path: name.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(SourceFile { name, text })
}

/// Reads and compiles a program for a command that needs its graph,
/// showing every diagnostic (warnings too).
pub fn load(path: &Path, purpose: &'static str, term: &mut Terminal) -> Result<Program, Failure> {
    let src = read(path).map_err(|e| Failure::run(e, None))?;
    match Program::compile(src.name, src.text) {
        Ok(program) => {
            term.diagnostics(program.warnings().iter(), Some(program.source()));
            Ok(program)
        }
        Err(failed) => {
            term.diagnostics(failed.diagnostics.iter(), Some(&failed.source));
            term.err(&format!(
                "error: `{}` has errors; fix them to {purpose}\n",
                failed.source.name
            ));
            Err(Failure::quiet(exit::COMPILE))
        }
    }
}

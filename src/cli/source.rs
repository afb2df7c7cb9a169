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

    #[error("cannot read `{path}`: it is a directory")]
    #[diagnostic(
        code(flow::io::unreadable),
        help("a program is one `.flow` file: name the file, not its folder")
    )]
    Directory { path: String },

    #[error(
        "`{path}` is larger than {}, the most flow reads as a program",
        crate::text::MAX_FILE_SIZE
    )]
    #[diagnostic(
        code(flow::io::too_large),
        help("check the path: a program is a `.flow` text file, far smaller than this")
    )]
    TooLarge { path: String },

    #[error("`{path}` is not UTF-8 text (invalid byte at offset {offset})")]
    #[diagnostic(
        code(flow::io::not_utf8),
        help("flow programs must be UTF-8 text; re-save the file as UTF-8")
    )]
    NotUtf8 { path: String, offset: usize },
}

/// What a program read from standard input (`flow run -`) is called in
/// messages.
pub const STDIN_NAME: &str = "<stdin>";

/// Whether `path` is `-`: the program comes from standard input.
pub fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// Reads a program; `-` reads it from standard input.
pub fn read(path: &Path) -> Result<SourceFile, SourceError> {
    let name = if is_stdin(path) {
        STDIN_NAME.to_string()
    } else {
        path.display().to_string()
    };
    let unreadable = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::IsADirectory || path.is_dir() {
            SourceError::Directory { path: name.clone() }
        } else {
            SourceError::Unreadable {
                path: name.clone(),
                reason: crate::text::io_reason(&e),
            }
        }
    };
    let bytes = if is_stdin(path) {
        crate::text::read_bounded(std::io::stdin().lock()).map_err(unreadable)?
    } else {
        crate::text::read_file_bounded(path).map_err(unreadable)?
    };
    let Some(bytes) = bytes else {
        return Err(SourceError::TooLarge { path: name });
    };
    let text = String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
        path: name.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(SourceFile::new(name, text))
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

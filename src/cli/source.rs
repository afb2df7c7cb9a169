//! Reading program files, with errors a user can act on.

use std::path::Path;

use super::report::Source;

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

pub fn read(path: &Path) -> Result<Source, SourceError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| SourceError::Unreadable {
        path: name.clone(),
        reason: io_reason(&e),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
        path: name.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(Source { name, text })
}

/// The OS message without Rust's `(os error N)` suffix, lowercased like ours.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => e.to_string(),
    };
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Reads and compiles a program for a command that needs its graph, printing
/// every diagnostic; `Err` holds the exit code when there is no graph.
pub fn load(
    path: &Path,
    purpose: &str,
    style: super::report::Style,
) -> Result<(Source, crate::graph::FlowGraph), u8> {
    use super::report::render;
    use super::{exit, print_stderr};
    let src = read(path).map_err(|e| {
        print_stderr(&render(&e, None, style));
        exit::FAILURE
    })?;
    let compiled = crate::compile(&src.text);
    for d in compiled.diagnostics.iter() {
        print_stderr(&render(d.as_ref(), Some(&src), style));
    }
    match compiled.graph {
        Some(graph) => Ok((src, graph)),
        None => {
            print_stderr(&format!(
                "error: `{}` has errors; fix them to {purpose}\n",
                src.name
            ));
            Err(exit::COMPILE)
        }
    }
}

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

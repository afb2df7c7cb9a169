//! The files a document imports, as an editor needs them: where a name
//! declared in one of them is (its own URI, line and column), its text,
//! which import brought it in, and the documents open in the editor, read
//! in place of what is saved.
//!
//! Spans of imported declarations are offsets in the space a program
//! shares with its imports (`crate::import`: the document's text first,
//! each imported file after it), so a span past the document's end is in
//! one of these files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{Location, Uri};

use super::line_index::LineIndex;
use crate::import::{ImportedFile, SourceLoader};
use crate::syntax::Span;
use crate::syntax::ast::{ImportDecl, Item};

/// What a document's imports gave it.
#[derive(Debug, Default)]
pub struct Imports {
    /// The document's own path (resolved imports are relative to it).
    pub path: String,
    /// Every file read, with where its spans start.
    pub files: Vec<ImportedFile>,
    /// The declarations they give the document, renamed under their
    /// namespaces (`moderation.flagged`).
    pub items: Vec<Item>,
}

impl Imports {
    /// The imported file a shared-space offset is in.
    pub fn file_at(&self, offset: usize) -> Option<&ImportedFile> {
        let i = self.files.partition_point(|f| f.offset <= offset);
        let f = self.files.get(i.checked_sub(1)?)?;
        (offset <= f.offset + f.text.len()).then_some(f)
    }

    /// A span in an imported file as the protocol places it: that file's
    /// URI, and the line and UTF-16 column in its own text.
    pub fn location(&self, span: Span) -> Option<Location> {
        let f = self.file_at(span.start)?;
        let local = Span::new(span.start - f.offset, span.end.saturating_sub(f.offset));
        let lines = LineIndex::new(&f.text);
        Some(Location::new(
            file_uri(&f.name)?,
            lines.range(&f.text, local),
        ))
    }

    /// A span's text in the imported file it is in.
    pub fn source(&self, span: Span) -> &str {
        self.file_at(span.start)
            .and_then(|f| {
                f.text
                    .get(span.start - f.offset..span.end.saturating_sub(f.offset))
            })
            .unwrap_or("")
    }

    /// The file `import "PATH" as NAME`, written in the document, read.
    pub fn file_of(&self, decl: &ImportDecl) -> Option<&ImportedFile> {
        let want = crate::import::resolve(Path::new(&self.path), &decl.path);
        self.files.iter().find(|f| Path::new(&f.name) == want)
    }

    /// The import of the document that brought in the file holding
    /// shared-space `offset`: the file itself, or one importing it.
    pub fn import_leading_to<'p>(&self, own: &'p [Item], offset: usize) -> Option<&'p ImportDecl> {
        // Files are read in the order imports are followed, each import's
        // own imports right after it: the last of the document's imports
        // whose file starts at or before `offset` is the way in.
        own.iter()
            .filter_map(|i| match i {
                Item::Import(d) => Some(d),
                _ => None,
            })
            .filter_map(|d| Some((self.file_of(d)?.offset, d)))
            .filter(|(start, _)| *start <= offset)
            .max_by_key(|(start, _)| *start)
            .map(|(_, d)| d)
    }

    /// The imported file holding shared-space `offset` (its path, as the
    /// gatherer names it) and the offset in that file's own text.
    pub fn local(&self, offset: usize) -> Option<(&str, usize)> {
        let f = self.file_at(offset)?;
        Some((f.name.as_str(), offset - f.offset))
    }
}

/// Reads imports from the documents open in the editor (their unsaved
/// text), and from disk for the rest.
pub struct OpenFirst<'d> {
    pub open: HashMap<PathBuf, &'d str>,
}

impl SourceLoader for OpenFirst<'_> {
    fn load(&self, path: &Path) -> Result<String, String> {
        match self.open.get(&crate::import::normalize(path)) {
            Some(text) => Ok((*text).to_string()),
            None => crate::import::FsLoader.load(path),
        }
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        crate::import::FsLoader.list(dir)
    }
}

/// The `file://` URI of a path (relative ones against the current folder),
/// escaped as URIs require.
pub fn file_uri(path: &str) -> Option<Uri> {
    let path = Path::new(path);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let absolute = crate::import::normalize(&absolute);
    let mut out = String::from("file://");
    for b in absolute.to_str()?.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.parse().ok()
}

/// The file a `file://` URI names, percent-escapes decoded.
pub fn file_path(uri: &Uri) -> Option<String> {
    if !uri
        .scheme()
        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("file"))
    {
        return None;
    }
    let raw = uri.path().as_str().as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (raw[i], raw.get(i + 1).copied(), raw.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_uris_round_trip() {
        let uri = file_uri("/tmp/a dir/é.flow").unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/a%20dir/%C3%A9.flow");
        assert_eq!(file_path(&uri).as_deref(), Some("/tmp/a dir/é.flow"));
    }
}

//! Where imported files come from: the file system for the CLI, memory for
//! tests and editors, which hold unsaved text.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Reads the text of imported files. Paths are already resolved against
/// the importing file's folder (and normalised, so `./a/../b.flow` is
/// `b.flow`); a loader only reads.
pub trait SourceLoader: Send + Sync {
    /// The file's text, or why it cannot be had, in a few words
    /// (`no such file`), which diagnostics quote.
    fn load(&self, path: &Path) -> Result<String, String>;

    /// The `.flow` files in `dir`, for "did you mean" when a path is wrong;
    /// none by default.
    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let _ = dir;
        Vec::new()
    }
}

/// Reads imports from the file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn load(&self, path: &Path) -> Result<String, String> {
        let bytes = match crate::text::read_file_bounded(path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Err(format!(
                    "it is larger than {}, the most flow reads as a program",
                    crate::text::MAX_FILE_SIZE
                ));
            }
            Err(e) if path.is_dir() => return Err(format!("it is a directory ({e})")),
            Err(e) => return Err(crate::text::io_reason(&e)),
        };
        String::from_utf8(bytes).map_err(|e| {
            format!(
                "it is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            )
        })
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "flow"))
            .map(|p| p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p))
            .take(1000)
            .collect();
        files.sort();
        files
    }
}

/// Files held in memory, by path: for tests, and for editors whose buffers
/// are not saved yet.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: HashMap<PathBuf, String>,
}

impl MemoryLoader {
    /// No files yet.
    pub fn new() -> MemoryLoader {
        MemoryLoader::default()
    }

    /// Adds (or replaces) a file; its path is normalised as imports are.
    pub fn with(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> MemoryLoader {
        self.insert(path, text);
        self
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) {
        self.files.insert(normalize(path.as_ref()), text.into());
    }
}

impl SourceLoader for MemoryLoader {
    fn load(&self, path: &Path) -> Result<String, String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| "no such file".to_string())
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let dir = normalize(dir);
        let mut files: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| p.parent().map(normalize) == Some(dir.clone()))
            .cloned()
            .collect();
        files.sort();
        files
    }
}

/// `path` without `.` and with each `..` taken back, as far as the path
/// goes (a leading `..` stays): imports are compared by this form, so a
/// file reached two ways is one file.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            c => out.push(c),
        }
    }
    out.iter().collect()
}

/// Where `import "relative"` in the file at `importer` points. Shared with
/// the language server (`lsp::imports`), which finds an import's file by
/// it, so the two cannot disagree on where an import points.
pub(crate) fn resolve(importer: &Path, relative: &str) -> PathBuf {
    let dir = importer.parent().unwrap_or(Path::new(""));
    normalize(&dir.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_resolved_against_the_importer_and_normalised() {
        assert_eq!(
            resolve(Path::new("examples/bot.flow"), "./lib/../moderation.flow"),
            PathBuf::from("examples/moderation.flow")
        );
        assert_eq!(
            resolve(Path::new("bot.flow"), "../x.flow"),
            PathBuf::from("../x.flow")
        );
        assert_eq!(
            resolve(Path::new("/a/b.flow"), "../../c.flow"),
            PathBuf::from("/c.flow")
        );
    }

    #[test]
    fn memory_files_are_found_however_the_path_is_spelt() {
        let l = MemoryLoader::new().with("./lib/m.flow", "fn f() = 1");
        assert_eq!(
            l.load(Path::new("lib/x/../m.flow")).as_deref(),
            Ok("fn f() = 1")
        );
        assert!(l.load(Path::new("lib/n.flow")).is_err());
        assert_eq!(l.list(Path::new("lib")), vec![PathBuf::from("lib/m.flow")]);
    }
}

//! Imports: `import "./moderation.flow" as moderation` brings another
//! file's functions, models and types into a program under a namespace.
//!
//! Gathering runs before checking: each imported file is read through a
//! [`SourceLoader`], parsed, and its declarations renamed under their
//! namespace (`rename`) and added to the importing program, which is then
//! checked as one. Each file's spans are offsets into one space shared by
//! all of a program's files (the program's own text first, each imported
//! file after it, see [`ImportedFile::offset`]), so every stage after this
//! keeps carrying plain spans, and a renderer finds the file a span is in.

mod error;
mod loader;
mod rename;
pub(crate) mod shift;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use error::ImportError;
pub use loader::{FsLoader, MemoryLoader, SourceLoader, normalize};

use crate::Compiled;
use crate::diagnostic::Diagnostics;
use crate::syntax::ast::{ImportDecl, Item, Program};

/// Files one program imports, counting each import of a file: a guard
/// against files that import one another many times over.
const MAX_IMPORTS: usize = 1000;

/// A file a program imports, with where its spans start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    /// The path it was read from, resolved against the importing file.
    pub name: String,
    /// Its text.
    pub text: String,
    /// Spans in this file are `offset` plus the byte offset in `text`.
    pub offset: usize,
}

/// Parses `text` (the file `name`), gathers its imports through `loader`,
/// and checks the whole: the graph when there is no error, every
/// diagnostic, and the imported files the diagnostics may point into.
pub fn compile(name: &str, text: &str, loader: &dyn SourceLoader) -> (Compiled, Vec<ImportedFile>) {
    let Gathered {
        program,
        gaps,
        mut diagnostics,
        files,
        parsed_bytes: _,
    } = gather(name, text, loader);
    let mut graph = None;
    let mut tests = Vec::new();
    if let Some(program) = program {
        let checked = crate::check::check_partial(&program, &gaps);
        for d in dedup_imported(checked.diagnostics, text.len()) {
            diagnostics.push_boxed(d);
        }
        graph = checked.graph;
        tests = checked.tests;
    }
    diagnostics.sort();
    let graph = if diagnostics.has_errors() {
        None
    } else {
        graph
    };
    if graph.is_none() {
        tests.clear();
    }
    (
        Compiled {
            graph,
            diagnostics,
            tests,
        },
        files,
    )
}

/// A program with its imports gathered, ready to be checked as one.
pub(crate) struct Gathered {
    /// The statements that parsed, the imported declarations appended
    /// (renamed under their namespaces); `None` when nothing parsed.
    pub program: Option<Program>,
    /// What the statements that did not parse leave out.
    pub gaps: crate::syntax::Gaps,
    /// Syntax errors (of every file) and import errors.
    pub diagnostics: Diagnostics,
    /// The files read, with where their spans start.
    pub files: Vec<ImportedFile>,
    /// Bytes handed to the parser for the imported files: their lengths
    /// once each, which the tests hold to linear in the files imported.
    #[cfg_attr(not(test), allow(dead_code))]
    pub parsed_bytes: usize,
}

/// Parses `text` and reads, parses and renames everything it imports: the
/// first half of [`compile`], which an editor also needs, to check with the
/// graph kept whatever the errors.
pub(crate) fn gather(name: &str, text: &str, loader: &dyn SourceLoader) -> Gathered {
    let mut diagnostics = Diagnostics::default();
    let parsed = crate::syntax::parse_partial(text);
    for e in parsed.errors {
        diagnostics.push(e);
    }
    let mut gatherer = Gatherer {
        loader,
        files: Vec::new(),
        programs: Vec::new(),
        by_path: HashMap::new(),
        next_offset: text.len() + 1,
        imports: 0,
        cycles: Vec::new(),
        namespaces: std::collections::HashSet::new(),
        diagnostics,
        parsed_bytes: 0,
    };
    let mut program = parsed.program;
    if let Some(program) = &mut program {
        let main = normalize(Path::new(name));
        let imports: Vec<ImportDecl> = program
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Import(i) => Some(i.clone()),
                _ => None,
            })
            .collect();
        let mut stack = vec![main.clone()];
        let mut gathered = Vec::new();
        let mut loaded = Vec::new();
        for decl in &imports {
            loaded.push(gatherer.import(&main, decl, "", &mut stack, &mut gathered));
        }
        let mut flags = loaded.into_iter();
        for item in &mut program.items {
            if let Item::Import(i) = item {
                i.loaded = flags.next().unwrap_or(false);
            }
        }
        program.items.extend(gathered);
    }
    Gathered {
        program,
        gaps: parsed.gaps,
        diagnostics: gatherer.diagnostics,
        files: gatherer.files,
        parsed_bytes: gatherer.parsed_bytes,
    }
}

/// A file imported twice is checked twice: one report per mistake in it.
pub(crate) fn dedup_imported(
    diagnostics: Vec<crate::diagnostic::BoxDiagnostic>,
    main_len: usize,
) -> Vec<crate::diagnostic::BoxDiagnostic> {
    let mut seen = std::collections::HashSet::new();
    diagnostics
        .into_iter()
        .filter(|d| {
            let first = d.labels().and_then(|mut l| l.next());
            let at = first.map(|l| (l.offset(), l.len()));
            let in_import = at.is_some_and(|(o, _)| o > main_len);
            let key = (d.code().map(|c| c.to_string()), at);
            !in_import || seen.insert(key)
        })
        .collect()
}

struct Gatherer<'l> {
    loader: &'l dyn SourceLoader,
    files: Vec<ImportedFile>,
    /// Each file's parse, by index in `files` (`None` when it has none).
    programs: Vec<Option<Program>>,
    by_path: HashMap<PathBuf, usize>,
    next_offset: usize,
    imports: usize,
    /// The files of each circle reported, sorted: one report per circle.
    cycles: Vec<Vec<PathBuf>>,
    /// Namespaces gathered so far (`moderation.`).
    namespaces: std::collections::HashSet<String>,
    diagnostics: Diagnostics,
    /// See [`Gathered::parsed_bytes`].
    parsed_bytes: usize,
}

impl Gatherer<'_> {
    /// Follows `decl`, written in `importer`, whose names are under
    /// `prefix`; adds the renamed declarations to `out`. `stack` holds the
    /// files being imported, to find a circle. Whether the file was read
    /// and parsed.
    fn import(
        &mut self,
        importer: &Path,
        decl: &ImportDecl,
        prefix: &str,
        stack: &mut Vec<PathBuf>,
        out: &mut Vec<Item>,
    ) -> bool {
        let path = loader::resolve(importer, &decl.path);
        if let Some(at) = stack.iter().position(|p| *p == path) {
            let mut files = stack[at..].to_vec();
            files.sort();
            if self.cycles.contains(&files) {
                return false;
            }
            self.cycles.push(files);
            let chain = stack[at..]
                .iter()
                .chain(std::iter::once(&path))
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(" → ");
            self.diagnostics.push(ImportError::Cycle {
                path: path.display().to_string(),
                chain,
                span: decl.path_span,
            });
            return false;
        }
        self.imports += 1;
        if self.imports > MAX_IMPORTS {
            if self.imports == MAX_IMPORTS + 1 {
                self.diagnostics.push(ImportError::TooMany {
                    limit: MAX_IMPORTS,
                    span: decl.path_span,
                });
            }
            return false;
        }
        let index = match self.by_path.get(&path) {
            Some(&i) => i,
            None => match self.loader.load(&path) {
                Ok(text) => self.parse(&path, text),
                Err(reason) => {
                    self.missing(decl, &path, reason);
                    return false;
                }
            },
        };
        let Some(program) = self.programs.get(index).cloned().flatten() else {
            return false;
        };
        let namespace = format!("{prefix}{}.", decl.alias.name);
        // A namespace imported twice is the checker's to report; the
        // second file's names would only collide with the first's.
        if !self.namespaces.insert(namespace.clone()) {
            return true;
        }
        let renamer = rename::Renamer::new(&namespace, &program.items);
        stack.push(path.clone());
        for mut item in program.items {
            if let Item::Import(inner) = &mut item {
                inner.loaded = self.import(&path, inner, &namespace, stack, out);
            }
            if let Some(item) = renamer.item(item) {
                out.push(item);
            }
        }
        stack.pop();
        true
    }

    /// Parses a newly read file on its own, then moves its spans to the
    /// next free offset (see `shift`); a byte-order mark is left out of the
    /// parse and counted in the offset, as it only counts at the start of a
    /// text.
    fn parse(&mut self, path: &Path, text: String) -> usize {
        let offset = self.next_offset;
        self.next_offset = offset + text.len() + 1;
        let body = text
            .strip_prefix('\u{feff}')
            .map_or(text.as_str(), |rest| rest);
        let by = offset + (text.len() - body.len());
        self.parsed_bytes += body.len();
        let mut parsed = crate::syntax::parse_partial(body);
        for e in parsed.errors {
            self.diagnostics.push(e.shifted(by));
        }
        if let Some(program) = &mut parsed.program {
            shift::program(program, by);
        }
        let index = self.files.len();
        self.files.push(ImportedFile {
            name: path.display().to_string(),
            text,
            offset,
        });
        self.programs.push(parsed.program);
        self.by_path.insert(path.to_path_buf(), index);
        index
    }

    fn missing(&mut self, decl: &ImportDecl, path: &Path, reason: String) {
        let dir = path.parent().unwrap_or(Path::new(""));
        let candidates: Vec<String> = self
            .loader
            .list(dir)
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let (head, file) = match decl.path.rsplit_once('/') {
            Some((head, file)) => (format!("{head}/"), file),
            None => (String::new(), decl.path.as_str()),
        };
        let suggestion = crate::check::did_you_mean(file, candidates.iter().map(String::as_str))
            .map(|f| format!("{head}{f}"));
        self.diagnostics.push(ImportError::MissingFile {
            path: decl.path.clone(),
            resolved: path.display().to_string(),
            reason,
            span: decl.path_span,
            suggestion: crate::check::error::Suggestion(suggestion),
        });
    }
}

#[cfg(test)]
mod tests;

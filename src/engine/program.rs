//! A compiled program: the checked graph with the source it came from, so
//! every later diagnostic — a run-time error, a bad input — can point at it.

use std::path::Path;
use std::sync::Arc;

pub use crate::import::ImportedFile;
use crate::import::{FsLoader, SourceLoader};

use crate::diagnostic::Diagnostics;
use crate::graph::FlowGraph;
use crate::testing::TestCase;

/// A program's text and the name it is known by (its path, usually), with
/// the files it imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// What diagnostics call the program, usually its path.
    pub name: String,
    /// The program's text. Spans below its length point into it; larger
    /// ones into one of `imported`.
    pub text: String,
    /// The files the program imports, each with the offset its spans start at.
    pub imported: Vec<ImportedFile>,
}

impl SourceFile {
    /// A program that imports nothing (yet).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
            imported: Vec::new(),
        }
    }

    /// The file a span starting at `offset` is in: its name, its text and
    /// the offset its text starts at.
    pub fn file_at(&self, offset: usize) -> (&str, &str, usize) {
        match self
            .imported
            .iter()
            .rev()
            .find(|f| f.offset <= offset && offset > self.text.len())
        {
            Some(f) => (&f.name, &f.text, f.offset),
            None => (&self.name, &self.text, 0),
        }
    }
}

/// A program that compiled: it can be run as many times as wanted. Cheap
/// to clone; the graph and the source are shared.
#[derive(Debug, Clone)]
pub struct Program {
    graph: Arc<FlowGraph>,
    source: Arc<SourceFile>,
    warnings: Arc<Diagnostics>,
    tests: Arc<Vec<TestCase>>,
}

/// A program that did not compile: every error and warning, sorted by
/// position, and the source to render them with.
#[derive(Debug)]
pub struct CompileFailure {
    /// The program's name and text, to render the diagnostics against.
    pub source: Arc<SourceFile>,
    /// Every error, then every warning, each sorted by position.
    pub diagnostics: Diagnostics,
}

impl Program {
    /// Parses, checks and lowers `text`; `name` is what diagnostics call
    /// it, and its imports are read from the file system relative to it.
    pub fn compile(
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Program, CompileFailure> {
        Program::compile_with(name, text, &FsLoader)
    }

    /// Reads the program at `path` through `loader`, then compiles it as
    /// [`Program::compile_with`] does. A file that cannot be read is a
    /// failure with one diagnostic (`flow::import::missing_file`).
    pub fn compile_path(
        path: impl AsRef<Path>,
        loader: &dyn SourceLoader,
    ) -> Result<Program, CompileFailure> {
        let path = path.as_ref();
        let name = path.display().to_string();
        match loader.load(path) {
            Ok(text) => Program::compile_with(name, text, loader),
            Err(reason) => {
                let mut diagnostics = Diagnostics::default();
                diagnostics.push(crate::import::ImportError::MissingFile {
                    path: name.clone(),
                    resolved: name.clone(),
                    reason,
                    span: crate::syntax::Span::point(0),
                    suggestion: Default::default(),
                });
                Err(CompileFailure {
                    source: Arc::new(SourceFile::new(name, String::new())),
                    diagnostics,
                })
            }
        }
    }

    /// [`Program::compile`] with imports read through `loader` (an editor's
    /// unsaved buffers, a test's files in memory), resolved relative to `name`.
    pub fn compile_with(
        name: impl Into<String>,
        text: impl Into<String>,
        loader: &dyn SourceLoader,
    ) -> Result<Program, CompileFailure> {
        let mut source = SourceFile::new(name, text);
        let (compiled, imported) = crate::import::compile(&source.name, &source.text, loader);
        source.imported = imported;
        let source = Arc::new(source);
        match compiled.graph {
            Some(graph) => Ok(Program {
                graph: Arc::new(graph),
                source,
                warnings: Arc::new(compiled.diagnostics),
                tests: Arc::new(compiled.tests),
            }),
            None => Err(CompileFailure {
                source,
                diagnostics: compiled.diagnostics,
            }),
        }
    }

    /// The checked graph, before any override or `offline` is applied.
    pub fn graph(&self) -> &FlowGraph {
        &self.graph
    }

    /// The program's name and text, to render diagnostics against.
    pub fn source(&self) -> &Arc<SourceFile> {
        &self.source
    }

    /// The outputs a streaming run streams, in output order: each is the
    /// text of one `ask` sampled once, directly or as a branch of `if`s
    /// (whose conditions gate its chunks). Decided from the graph alone.
    pub fn streamable_outputs(&self) -> Vec<String> {
        crate::graph::streams::streamable(self.graph())
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    /// The program's `test` blocks, checked; `flow run` ignores them.
    pub fn tests(&self) -> &[TestCase] {
        &self.tests
    }

    /// Warnings found while compiling (a program with errors is not a `Program`).
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }

    pub(crate) fn shared_graph(&self) -> Arc<FlowGraph> {
        self.graph.clone()
    }
}

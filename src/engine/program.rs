//! A compiled program: the checked graph with the source it came from, so
//! every later diagnostic — a run-time error, a bad input — can point at it.

use std::sync::Arc;

use crate::diagnostic::Diagnostics;
use crate::graph::FlowGraph;
use crate::testing::TestCase;

/// A program's text and the name it is known by (its path, usually).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// What diagnostics call the program, usually its path.
    pub name: String,
    /// The program's text, which every diagnostic's spans point into.
    pub text: String,
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
    /// Parses, checks and lowers `text`; `name` is what diagnostics call it.
    pub fn compile(
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Program, CompileFailure> {
        let source = Arc::new(SourceFile {
            name: name.into(),
            text: text.into(),
        });
        let compiled = crate::compile(&source.text);
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

//! AST → checked `FlowGraph`, with every semantic error and warning.

use crate::diagnostic::BoxDiagnostic;
use crate::graph::FlowGraph;
use crate::syntax::ast::Program;

pub struct Checked {
    /// The lowered graph, when lowering was possible (it may still have errors).
    pub graph: Option<FlowGraph>,
    /// Errors and warnings, in any order.
    pub diagnostics: Vec<BoxDiagnostic>,
}

pub fn check(_program: &Program) -> Checked {
    Checked {
        graph: None,
        diagnostics: Vec::new(),
    }
}

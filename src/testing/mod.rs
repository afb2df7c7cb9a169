//! `test "name" < ... >` blocks: what the checker makes of them
//! ([`TestCase`]), how an expectation is judged against a run
//! ([`expect`]), and how a test is run through an [`Engine`](crate::Engine)
//! ([`run`]). Tests are no part of the graph: `flow run` never sees them.

pub mod expect;
pub mod run;

use crate::model::ModelSpec;
use crate::syntax::Span;
use crate::syntax::ast;

pub use run::{Outcome, Verdict, run_test};

/// A checked test: every name in it exists and every value has its type.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The name written after `test`.
    pub name: String,
    /// The whole block, for diagnostics about the test as a whole.
    pub span: Span,
    /// The inputs' values as a JSON object, bound by the engine's own rules.
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Declared models replaced for this test; the others stay as declared.
    pub models: Vec<ModelSpec>,
    /// The expectations in written order.
    pub expects: Vec<Expectation>,
}

impl TestCase {
    /// Whether the test can run without a network or a key: every model
    /// its program declares is a mock, or is replaced by one here.
    pub fn is_offline(&self, graph: &crate::graph::FlowGraph) -> bool {
        use crate::model::ProviderKind;
        graph.models.values().all(|spec| {
            let spec = self
                .models
                .iter()
                .find(|m| m.name == spec.name)
                .unwrap_or(spec);
            spec.provider == ProviderKind::Mock
        })
    }
}

/// One `expect` line.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// What is compared or tested.
    pub kind: ExpectKind,
    /// The line, from `expect` to its end.
    pub span: Span,
}

/// The forms an expectation takes; the first two report both sides when
/// they fail, since "expected X, got Y" is what a failing test must say.
#[derive(Debug, Clone)]
pub enum ExpectKind {
    /// `expect A == B`: the actual value (left) and the expected one.
    Equal(ast::Expr, ast::Expr),
    /// `expect A contains B`: text containing text, or a list an element.
    Contains(ast::Expr, ast::Expr),
    /// `expect BOOL`: any other bool expression.
    Holds(ast::Expr),
}

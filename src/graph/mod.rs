//! The checked program as a dataflow DAG: what `flow graph` draws, what
//! `flow check` counts and what the runtime executes.
//!
//! Edges run from a dependency to its dependent. A node may start as soon as
//! every node it has an edge from is done, so the graph alone decides what runs
//! concurrently. Each node carries everything needed to execute it (prompts as
//! templates referring to other nodes, the model by name, sampling and vote
//! strategy) and its source span for run-time diagnostics.

mod clusters;
pub mod describe;
pub mod dot;
#[cfg(test)]
pub(crate) mod dot_check;
pub mod json;
pub mod mermaid;
pub mod stats;
#[cfg(test)]
pub(crate) mod testkit;

use std::time::Duration;

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::ModelSpec;
use crate::syntax::Span;
use crate::types::Type;
use crate::value::Value;

pub type NodeId = NodeIndex<u32>;

/// A lowered program.
#[derive(Debug, Clone)]
pub struct FlowGraph {
    pub dag: DiGraph<Node, Edge, u32>,
    /// Declared models by name, in source order.
    pub models: IndexMap<String, ModelSpec>,
    /// Input nodes by input name, in source order.
    pub inputs: IndexMap<String, NodeId>,
    /// Output nodes by output name, in source order.
    pub outputs: IndexMap<String, NodeId>,
    /// Sections, for drawing clusters; `Node::section` indexes this.
    pub sections: Vec<SectionInfo>,
}

#[derive(Debug, Clone)]
pub struct SectionInfo {
    /// The record or ensemble name when the section is bound (`x = section <...>`).
    pub name: Option<String>,
    pub span: Span,
    /// Sections nest (a section member may contain a section).
    pub parent: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// The binding name; synthesized nodes (inline calls) get `binding.ask1` etc.
    pub name: String,
    pub kind: NodeKind,
    /// The inferred type of the node's value.
    pub ty: Type,
    pub span: Span,
    /// The innermost section cluster this node belongs to.
    pub section: Option<usize>,
    /// The node runs only if every guard holds; otherwise it is skipped. Inline
    /// expressions in an `if` branch are guarded by the condition so only the
    /// taken branch runs. Guard conditions are also edges into the node.
    pub guards: Vec<Guard>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    pub cond: NodeId,
    /// Run when the condition's value equals this.
    pub when: bool,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A program input; its value comes from `--input` or the default.
    Input { default: Option<Expr> },
    /// One LLM call site, sampled once, `repeat N` times, or voted.
    Ask { call: AskCall, sampling: Sampling },
    /// `section < ... > vote N by S`: every voter sampled `per_voter` times,
    /// all samples pooled in (voter, sample) order and aggregated.
    Ensemble {
        voters: Vec<AskCall>,
        per_voter: u32,
        strategy: Strategy,
    },
    /// A pure computation over other nodes (templates, `if`, builtins, ...).
    Pure(Expr),
    /// `for VAR in LIST < BODY >`: `body` is evaluated once per element,
    /// concurrently; it may contain inline `ask`s (`ExprKind::Ask`).
    Map {
        var: String,
        list: Expr,
        body: Expr,
        /// LLM calls in one evaluation of the body, worst case (for counting).
        calls_per_item: u64,
    },
    /// `NAME = section < a = ..., b = ... >`: the members' values as a record.
    Record(Vec<(String, NodeId)>),
    /// `output NAME [= EXPR]`.
    Output(Expr),
}

/// Everything needed to make one call, minus the sample index.
#[derive(Debug, Clone)]
pub struct AskCall {
    pub model: String,
    pub prompt: Template,
    pub system: Option<Template>,
    /// What the reply is parsed into (`as T`, default text).
    pub parse_as: Type,
    /// Per attempt; falls back to the model's `timeout`.
    pub timeout: Option<Duration>,
    /// Attempts after the first; falls back to the model's `retry`.
    pub retry: Option<u32>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    One,
    /// `repeat N`: a list of `N` independent samples.
    Repeat(u32),
    /// `vote N by S`.
    Vote {
        n: u32,
        strategy: Strategy,
    },
}

impl Sampling {
    pub fn samples(&self) -> u64 {
        match self {
            Sampling::One => 1,
            Sampling::Repeat(n) | Sampling::Vote { n, .. } => u64::from(*n),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Majority,
    Unanimous,
    AtLeast(u32),
    Mean,
    Median,
    /// The judging model's name.
    Judge(String),
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Majority => f.write_str("majority"),
            Strategy::Unanimous => f.write_str("unanimous"),
            Strategy::AtLeast(k) => write!(f, "at_least {k}"),
            Strategy::Mean => f.write_str("mean"),
            Strategy::Median => f.write_str("median"),
            Strategy::Judge(m) => write!(f, "judge {m}"),
        }
    }
}

/// What flows along an edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The name the dependent reads the value by (binding name or `x.field`).
    pub label: String,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Data,
    /// The source is an `if` condition guarding the target.
    Guard,
}

/// A template: literal text and interpolated expressions, already checked.
#[derive(Debug, Clone)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TemplatePart {
    Lit(String),
    Expr(Expr),
}

/// A checked, resolved expression. Names are resolved to nodes (or to the
/// variable of an enclosing `for`).
#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Lit(Value),
    /// The value of another node.
    Node(NodeId),
    /// The variable of an enclosing `for`.
    Var(String),
    Template(Template),
    List(Vec<Expr>),
    Field(Box<Expr>, String),
    Call(Builtin, Vec<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        else_: Box<Expr>,
    },
    /// Only inside a `Map` body, where calls happen per element. Elsewhere every
    /// inline `ask` is lowered to its own node and referenced with `Node`.
    Ask(Box<AskCall>, Sampling),
    /// A `for` nested in a `Map` body.
    Map {
        var: String,
        list: Box<Expr>,
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `join(list, sep)`
    Join,
    /// `split(text, sep)`
    Split,
    /// `lines(text)`
    Lines,
    /// `len(text | list)`
    Len,
    Trim,
    Lower,
    Upper,
    /// `contains(text, sub)`, also on lists.
    Contains,
}

impl Builtin {
    pub const ALL: [(&'static str, Builtin); 8] = [
        ("join", Builtin::Join),
        ("split", Builtin::Split),
        ("lines", Builtin::Lines),
        ("len", Builtin::Len),
        ("trim", Builtin::Trim),
        ("lower", Builtin::Lower),
        ("upper", Builtin::Upper),
        ("contains", Builtin::Contains),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, b)| *b == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }
}

impl FlowGraph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.dag[id]
    }

    /// Node ids in a topological order (dependencies first), ties broken by id
    /// so the order is stable.
    pub fn topo_order(&self) -> Vec<NodeId> {
        // Lowering creates acyclic graphs only; a cycle here is a bug in flow.
        petgraph::algo::toposort(&self.dag, None).unwrap_or_default()
    }
}

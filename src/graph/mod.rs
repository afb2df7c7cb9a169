//! The checked program as a dataflow DAG: what `flow graph` draws, what
//! `flow check` counts and what the runtime executes.
//!
//! Edges run from a dependency to its dependent. A node may start as soon as
//! every node it has an edge from is done, so the graph alone decides what runs
//! concurrently. Each node carries everything needed to execute it (prompts as
//! templates referring to other nodes, the model by name, sampling and vote
//! strategy) and its source span for run-time diagnostics.

mod clusters;
pub(crate) mod describe;
pub mod dot;
#[cfg(test)]
pub(crate) mod dot_check;
pub mod json;
pub mod mermaid;
pub mod stats;
pub mod streams;
#[cfg(test)]
pub(crate) mod testkit;

use std::time::Duration;

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::ModelSpec;
use crate::syntax::Span;
use crate::types::Type;
use crate::value::Value;

/// A node's index in [`FlowGraph::dag`]; stable for the graph's lifetime, and the id the JSON rendering and run events use.
pub type NodeId = NodeIndex<u32>;

/// A lowered program.
#[derive(Debug, Clone)]
pub struct FlowGraph {
    /// The nodes and their dependency edges; an edge runs from a dependency to its dependent.
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
/// One `section < ... >` of the source, for drawing it as a cluster.
pub struct SectionInfo {
    /// The record or ensemble name when the section is bound (`x = section <...>`).
    pub name: Option<String>,
    /// Where the section is written.
    pub span: Span,
    /// Sections nest (a section member may contain a section), and calls
    /// nest in sections and in other calls.
    pub parent: Option<usize>,
    /// Set when the cluster is a call, not a section: the function's name
    /// (`moderation.screen` for an imported one). `span` is then the call.
    pub function: Option<String>,
}

#[derive(Debug, Clone)]
/// One step of the program: an input, a call, a vote, a computation or an output.
pub struct Node {
    /// The binding name; synthesized nodes (inline calls) get `binding.ask1` etc.
    pub name: String,
    /// What the node does when it runs.
    pub kind: NodeKind,
    /// The inferred type of the node's value.
    pub ty: Type,
    /// Where the node's binding is written, for run-time diagnostics.
    pub span: Span,
    /// The innermost section cluster this node belongs to.
    pub section: Option<usize>,
    /// The node runs only if every guard holds; otherwise it is skipped. Inline
    /// expressions in an `if` branch are guarded by the condition so only the
    /// taken branch runs. Guard conditions are also edges into the node.
    pub guards: Vec<Guard>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A condition a node runs under: the branch of an `if` it belongs to.
pub struct Guard {
    /// The node holding the condition's `bool` value.
    pub cond: NodeId,
    /// Run when the condition's value equals this.
    pub when: bool,
}

#[derive(Debug, Clone)]
/// What a node computes.
pub enum NodeKind {
    /// A program input; its value comes from `--input` or the default.
    Input {
        /// The value used when the input is not given; `None` makes it required.
        default: Option<Expr>,
    },
    /// One LLM call site, sampled once, `repeat N` times, or voted.
    Ask {
        /// The call to make.
        call: AskCall,
        /// How often it is made and how the samples combine.
        sampling: Sampling,
    },
    /// `section < ... > vote N by S`: every voter sampled `per_voter` times,
    /// all samples pooled in (voter, sample) order and aggregated.
    Ensemble {
        /// One call per voter (section member), in source order.
        voters: Vec<AskCall>,
        /// Samples each voter gives.
        per_voter: u32,
        /// How the pooled samples are combined into one answer.
        strategy: Strategy,
        /// `vote [up to] N by S until P`: stop once confident, the members
        /// pooled round by round (`runtime::vote::adaptive`); `None` for a
        /// vote of exactly `per_voter` from each member.
        until: Option<Until>,
    },
    /// A pure computation over other nodes (templates, `if`, builtins, ...).
    Pure(Expr),
    /// `for VAR in LIST < BODY >`: `body` is evaluated once per element,
    /// concurrently; it may contain inline `ask`s (`ExprKind::Ask`).
    Map {
        /// The loop variable, bound to each element in turn.
        var: String,
        /// The list iterated over.
        list: Expr,
        /// The expression evaluated per element; its values form the result list.
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
    /// The flow model's name, a key of [`FlowGraph::models`].
    pub model: String,
    /// The user prompt, interpolated at run time.
    pub prompt: Template,
    /// The system prompt, if the call or the model gives one.
    pub system: Option<Template>,
    /// What the reply is parsed into (`as T`, default text).
    pub parse_as: Type,
    /// Per attempt; falls back to the model's `timeout`.
    pub timeout: Option<Duration>,
    /// Attempts after the first; falls back to the model's `retry`.
    pub retry: Option<u32>,
    /// `with NAME`: a `chat` value whose turns go before the prompt.
    pub history: Option<Expr>,
    /// Where the `ask` is written.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
/// How many samples a call site takes and what it makes of them.
pub enum Sampling {
    /// A single call; its reply is the value.
    One,
    /// `repeat N`: a list of `N` independent samples.
    Repeat(u32),
    /// `vote N by S`, or an adaptive `vote [up to] N by S until P`.
    Vote {
        /// Samples to take; with `until`, the most to take (the worst case
        /// every count of calls reports).
        n: u32,
        /// How they are combined.
        strategy: Strategy,
        /// `until P`: stop once confident (`runtime::vote::adaptive`);
        /// `None` for a vote of exactly `n`.
        until: Option<Until>,
    },
}

/// When an adaptive vote stops: once it is `confidence`-sure of what its
/// `rule` asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Until {
    /// `P` in `until P`, in (0.5, 1].
    pub confidence: f64,
    /// What it is confident of.
    pub rule: StopRule,
}

/// What an adaptive vote's confidence is about: the two forms of `until`
/// ask different questions, so a program says which it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRule {
    /// `vote up to N by majority until P`: is the leader the model's most
    /// frequent answer? Adaptive-Consistency's rule (Beta for two answers,
    /// Dirichlet for more): `N` is only a cap.
    Leader,
    /// `vote N by majority until P` (and every `at_least K`): would all
    /// `N` samples give the leader? The posterior predictive over the
    /// samples left: the answer of the vote of `N`, bought cheaper.
    FullVote,
}

impl Until {
    /// `vote up to N by majority until confidence`.
    pub fn leader(confidence: f64) -> Until {
        Until {
            confidence,
            rule: StopRule::Leader,
        }
    }

    /// `vote N by majority until confidence`.
    pub fn full_vote(confidence: f64) -> Until {
        Until {
            confidence,
            rule: StopRule::FullVote,
        }
    }
}

impl StopRule {
    /// As `--json`, the trace and `flow graph --format json` name it.
    pub fn name(self) -> &'static str {
        match self {
            StopRule::Leader => "leader",
            StopRule::FullVote => "full_vote",
        }
    }
}

impl Sampling {
    /// How many calls the site makes per evaluation, before retries.
    pub fn samples(&self) -> u64 {
        match self {
            Sampling::One => 1,
            Sampling::Repeat(n) | Sampling::Vote { n, .. } => u64::from(*n),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
/// How a vote combines its samples into one answer.
pub enum Strategy {
    /// The most common answer; ties go to the one first in sample order.
    Majority,
    /// Every sample must agree, or the vote fails.
    Unanimous,
    /// An answer needs at least this many samples agreeing.
    AtLeast(u32),
    /// The arithmetic mean of numeric samples.
    Mean,
    /// The median of numeric samples.
    Median,
    /// A model picks the best of the distinct answers.
    Judge(Judge),
}

/// The judge of a `judge` vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Judge {
    /// The judging model's name.
    pub model: String,
    /// What the judge is to prefer, from `judge MODEL criteria "..."`; told
    /// to it in its prompt.
    pub criteria: Option<String>,
}

/// A judge with no criteria of its own, as graphs built by hand want.
impl From<&str> for Judge {
    fn from(model: &str) -> Self {
        Judge {
            model: model.to_string(),
            criteria: None,
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Majority => f.write_str("majority"),
            Strategy::Unanimous => f.write_str("unanimous"),
            Strategy::AtLeast(k) => write!(f, "at_least {k}"),
            Strategy::Mean => f.write_str("mean"),
            Strategy::Median => f.write_str("median"),
            Strategy::Judge(j) => write!(f, "judge {}", j.model),
        }
    }
}

/// What flows along an edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The name the dependent reads the value by (binding name or `x.field`).
    pub label: String,
    /// Whether the value is data or a guard condition.
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Why an edge exists.
pub enum EdgeKind {
    /// The dependent reads the source's value.
    Data,
    /// The source is an `if` condition guarding the target.
    Guard,
}

/// A template: literal text and interpolated expressions, already checked.
#[derive(Debug, Clone)]
pub struct Template {
    /// Literal text and interpolations, in order.
    pub parts: Vec<TemplatePart>,
    /// Where the template is written.
    pub span: Span,
}

#[derive(Debug, Clone)]
/// One piece of a [`Template`].
pub enum TemplatePart {
    /// Text copied as is (escapes already resolved).
    Lit(String),
    /// An interpolated `{expr}`, converted to text when the template is built.
    Expr(Expr),
}

/// A checked, resolved expression. Names are resolved to nodes (or to the
/// variable of an enclosing `for`).
#[derive(Debug, Clone)]
pub struct Expr {
    /// What the expression computes.
    pub kind: ExprKind,
    /// Its checked type.
    pub ty: Type,
    /// Where it is written.
    pub span: Span,
}

#[derive(Debug, Clone)]
/// What an [`Expr`] computes.
pub enum ExprKind {
    /// A literal value.
    Lit(Value),
    /// The value of another node.
    Node(NodeId),
    /// The variable of an enclosing `for`.
    Var(String),
    /// An interpolated string.
    Template(Template),
    /// A list literal.
    List(Vec<Expr>),
    /// `expr.field`: a record member or a JSON field.
    Field(Box<Expr>, String),
    /// A builtin function applied to its arguments.
    Call(Builtin, Vec<Expr>),
    /// `not expr`.
    Not(Box<Expr>),
    /// `a and b`, short-circuiting.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`, short-circuiting.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison of two values.
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// `if cond then a else b`.
    If {
        /// The `bool` that picks the branch.
        cond: Box<Expr>,
        /// The value when the condition holds.
        then: Box<Expr>,
        /// The value when it does not.
        else_: Box<Expr>,
    },
    /// Only inside a `Map` body, where calls happen per element. Elsewhere every
    /// inline `ask` is lowered to its own node and referenced with `Node`.
    Ask(Box<AskCall>, Sampling),
    /// A `for` nested in a `Map` body.
    Map {
        /// The loop variable.
        var: String,
        /// The list iterated over.
        list: Box<Expr>,
        /// The expression evaluated per element.
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A comparison operator: `==`, `!=`, `<`, `<=`, `>`, `>=`.
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A builtin function callable from expressions.
pub enum Builtin {
    /// `join(list, sep)`
    Join,
    /// `split(text, sep)`
    Split,
    /// `lines(text)`
    Lines,
    /// `len(text | list)`
    Len,
    /// `trim(text)`: without leading and trailing whitespace.
    Trim,
    /// `lower(text)`
    Lower,
    /// `upper(text)`
    Upper,
    /// `contains(text, sub)`, also on lists.
    Contains,
    /// `agreement(vote)`: how decided a vote was, a record (the argument is
    /// always the `Node` of a voted binding; the checker makes sure).
    Agreement,
}

impl Builtin {
    /// Every builtin with the name it is called by, for lookups and suggestions.
    pub const ALL: [(&'static str, Builtin); 9] = [
        ("join", Builtin::Join),
        ("split", Builtin::Split),
        ("lines", Builtin::Lines),
        ("len", Builtin::Len),
        ("trim", Builtin::Trim),
        ("lower", Builtin::Lower),
        ("upper", Builtin::Upper),
        ("contains", Builtin::Contains),
        ("agreement", Builtin::Agreement),
    ];

    /// The name the builtin is called by in source.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, b)| *b == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// The builtin called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }
}

impl FlowGraph {
    /// The node with this id (ids come from this graph, so it exists).
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

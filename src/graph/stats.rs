//! Static costs of a graph: worst-case calls and the longest chain of calls.
//!
//! `flow check` prints these so a user knows what a run may cost before it
//! spends anything. Both are upper bounds: guarded nodes count as if every
//! branch ran and votes as if no early decision cancelled a sample. Retries are
//! left out because they depend on faults, not on the program.

use std::fmt;

use super::describe::{children, expr_text};
use super::{Expr, ExprKind, FlowGraph, Node, NodeKind, Sampling, Strategy, TemplatePart};
use crate::value::Value;

/// A number of LLM calls that may depend on the length of lists known only at
/// run time: `fixed + Σ per_item × len(list)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCount {
    /// Calls that do not depend on any list's length.
    pub fixed: u64,
    /// `(calls per element, the list as written)`, one entry per distinct list,
    /// in the order the lists first appear in the graph.
    pub per_list: Vec<(u64, String)>,
}

impl CallCount {
    /// A count of exactly `n` calls.
    pub fn fixed(n: u64) -> CallCount {
        CallCount {
            fixed: n,
            per_list: Vec::new(),
        }
    }

    /// Whether no call can happen.
    pub fn is_zero(&self) -> bool {
        self.fixed == 0 && self.per_list.iter().all(|(k, _)| *k == 0)
    }

    /// Whether the count is exactly one call, for "1 call" against "2 calls".
    pub fn is_one(&self) -> bool {
        self.fixed == 1 && self.per_list.is_empty()
    }

    /// Adds `per_item × len(list)`, merging with an earlier term for the same list.
    pub fn add_per_list(&mut self, per_item: u64, list: &str) {
        if per_item == 0 {
            return;
        }
        match self.per_list.iter_mut().find(|(_, l)| l == list) {
            Some((k, _)) => *k = k.saturating_add(per_item),
            None => self.per_list.push((per_item, list.to_string())),
        }
    }

    /// Adds another count into this one, term by term.
    pub fn add(&mut self, other: &CallCount) {
        self.fixed = self.fixed.saturating_add(other.fixed);
        for (k, list) in &other.per_list {
            self.add_per_list(*k, list);
        }
    }

    /// `calls` or `call`, agreeing with the count.
    pub fn noun(&self) -> &'static str {
        if self.is_one() { "call" } else { "calls" }
    }
}

impl fmt::Display for CallCount {
    /// `14`, `3 × len(items)` or `4 + 3 × len(items) + len(lines(doc))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if self.fixed > 0 || self.per_list.is_empty() {
            write!(f, "{}", self.fixed)?;
            first = false;
        }
        for (k, list) in &self.per_list {
            if !first {
                f.write_str(" + ")?;
            }
            first = false;
            if *k == 1 {
                write!(f, "len({list})")?;
            } else {
                write!(f, "{k} × len({list})")?;
            }
        }
        Ok(())
    }
}

/// What `flow check` reports for a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Nodes in the graph, inputs and outputs included.
    pub nodes: usize,
    /// Worst-case LLM calls for one run.
    pub calls: CallCount,
    /// The most calls that must happen one after another on any path: the
    /// run's latency in units of one call.
    pub longest_chain: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = if self.nodes == 1 { "node" } else { "nodes" };
        let chain = if self.longest_chain == 1 {
            "call"
        } else {
            "calls"
        };
        write!(
            f,
            "{} {nodes}, worst case {} LLM {}, longest chain {} {chain}",
            self.nodes,
            self.calls,
            self.calls.noun(),
            self.longest_chain
        )
    }
}

/// What `flow check` prints: nodes, worst-case calls, longest chain.
pub fn summary(g: &FlowGraph) -> Summary {
    Summary {
        nodes: g.dag.node_count(),
        calls: total_calls(g),
        longest_chain: longest_chain(g),
    }
}

/// Worst-case calls of the whole graph, summed in node order.
pub fn total_calls(g: &FlowGraph) -> CallCount {
    let mut total = CallCount::default();
    for node in g.dag.node_weights() {
        total.add(&node_calls(g, node));
    }
    total
}

/// Worst-case calls one node makes in one run.
pub fn node_calls(g: &FlowGraph, node: &Node) -> CallCount {
    match &node.kind {
        NodeKind::Ask { sampling, call } => CallCount::fixed(
            sampling
                .samples()
                .saturating_mul(route_calls(g, &call.model))
                .saturating_add(judge_calls_of(g, sampling)),
        ),
        NodeKind::Ensemble {
            voters,
            per_voter,
            strategy,
            ..
        } => {
            let votes = voters.iter().fold(0u64, |n, v| {
                n.saturating_add(u64::from(*per_voter).saturating_mul(route_calls(g, &v.model)))
            });
            let judge = match strategy {
                Strategy::Judge(j) => route_calls(g, &j.model),
                _ => 0,
            };
            CallCount::fixed(votes.saturating_add(judge))
        }
        NodeKind::Map {
            list,
            calls_per_item,
            ..
        } => {
            let mut count = CallCount::default();
            match known_len(list).or_else(|| repeat_len(g, list)) {
                Some(len) => count.fixed = calls_per_item.saturating_mul(len),
                None => count.add_per_list(*calls_per_item, &expr_text(g, list)),
            }
            count
        }
        NodeKind::Input { .. } | NodeKind::Pure(_) | NodeKind::Record(_) | NodeKind::Output(_) => {
            CallCount::default()
        }
    }
}

/// Calls of one sampled call site: its samples, and one more to ask a judge.
fn sampling_calls(sampling: &Sampling) -> u64 {
    match sampling {
        Sampling::Vote { strategy, .. } => sampling.samples().saturating_add(judge_calls(strategy)),
        _ => sampling.samples(),
    }
}

/// Calls one call of `model` can make at worst: one per member of a
/// `fallback` model (each may be tried), one for any other (a `round_robin`
/// call goes to one member).
pub fn route_calls(g: &FlowGraph, model: &str) -> u64 {
    match g.models.get(model).and_then(|m| m.options.route.as_ref()) {
        Some(r) if r.kind == crate::model::RouteKind::Fallback => r.members.len() as u64,
        _ => 1,
    }
}

fn judge_calls_of(g: &FlowGraph, sampling: &Sampling) -> u64 {
    match sampling {
        Sampling::Vote {
            strategy: Strategy::Judge(j),
            ..
        } => route_calls(g, &j.model),
        _ => 0,
    }
}

fn judge_calls(strategy: &Strategy) -> u64 {
    u64::from(matches!(strategy, Strategy::Judge(_)))
}

/// The length of a list written out in the program, when it is.
fn known_len(list: &Expr) -> Option<u64> {
    match &list.kind {
        ExprKind::List(items) => Some(items.len() as u64),
        ExprKind::Lit(Value::List(items)) => Some(items.len() as u64),
        _ => None,
    }
}

/// A list made by `repeat N` (directly or via an output/pure alias) has N
/// elements, so a `for` over it costs a fixed number of calls.
fn repeat_len(g: &FlowGraph, list: &Expr) -> Option<u64> {
    let ExprKind::Node(id) = &list.kind else {
        return None;
    };
    match &g.dag.node_weight(*id)?.kind {
        NodeKind::Ask {
            sampling: Sampling::Repeat(n),
            ..
        } => Some(u64::from(*n)),
        NodeKind::Pure(inner) | NodeKind::Output(inner) => repeat_len(g, inner),
        _ => None,
    }
}

/// The most call stages on any path through the graph (dependencies first).
pub fn longest_chain(g: &FlowGraph) -> u64 {
    let mut depth = vec![0u64; g.dag.node_count()];
    let mut longest = 0;
    for id in g.topo_order() {
        let before = g
            .dag
            .neighbors_directed(id, petgraph::Direction::Incoming)
            .filter_map(|p| depth.get(p.index()).copied())
            .max()
            .unwrap_or(0);
        let own = g.dag.node_weight(id).map(node_stages).unwrap_or(0);
        let d = before.saturating_add(own);
        if let Some(slot) = depth.get_mut(id.index()) {
            *slot = d;
        }
        longest = longest.max(d);
    }
    longest
}

/// Calls one node makes one after another: the samples of a vote run side by
/// side (one stage), and a judge waits for them (a second stage).
pub(crate) fn node_stages(node: &Node) -> u64 {
    match &node.kind {
        NodeKind::Ask { sampling, .. } => 1 + judge_stage(sampling),
        NodeKind::Ensemble { strategy, .. } => 1 + judge_calls(strategy),
        NodeKind::Map {
            body,
            calls_per_item,
            ..
        } => {
            // Elements run side by side, so one element's depth is the map's.
            let body = expr_stages(body);
            if *calls_per_item > 0 {
                body.max(1)
            } else {
                body
            }
        }
        NodeKind::Input { .. } | NodeKind::Pure(_) | NodeKind::Record(_) | NodeKind::Output(_) => 0,
    }
}

fn judge_stage(sampling: &Sampling) -> u64 {
    match sampling {
        Sampling::Vote { strategy, .. } => judge_calls(strategy),
        _ => 0,
    }
}

/// Call stages inside an expression (only `Map` bodies hold inline asks).
/// Parts that need another's value add up (an `if` waits for its condition,
/// `and`/`or` short-circuit); independent parts overlap.
fn expr_stages(e: &Expr) -> u64 {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Node(_) | ExprKind::Var(_) => 0,
        ExprKind::Template(t) => template_stages(&t.parts),
        ExprKind::List(items) | ExprKind::Call(_, items) => {
            items.iter().map(expr_stages).max().unwrap_or(0)
        }
        ExprKind::Field(inner, _) | ExprKind::Not(inner) => expr_stages(inner),
        ExprKind::And(a, b) | ExprKind::Or(a, b) => expr_stages(a).saturating_add(expr_stages(b)),
        ExprKind::Compare(_, a, b) => expr_stages(a).max(expr_stages(b)),
        ExprKind::If { cond, then, else_ } => {
            expr_stages(cond).saturating_add(expr_stages(then).max(expr_stages(else_)))
        }
        ExprKind::Ask(call, sampling) => {
            let inputs = template_stages(&call.prompt.parts).max(
                call.system
                    .as_ref()
                    .map(|s| template_stages(&s.parts))
                    .unwrap_or(0),
            );
            inputs.saturating_add(1 + judge_stage(sampling))
        }
        ExprKind::Map { list, body, .. } => expr_stages(list).saturating_add(expr_stages(body)),
    }
}

fn template_stages(parts: &[TemplatePart]) -> u64 {
    parts
        .iter()
        .map(|p| match p {
            TemplatePart::Lit(_) => 0,
            TemplatePart::Expr(e) => expr_stages(e),
        })
        .max()
        .unwrap_or(0)
}

/// Inline asks in an expression, worst case over `if` branches; a nested
/// `for` counts its body once per element of a written-out list and is
/// otherwise unknown (`None`). Meant for the checker to fill
/// `Map::calls_per_item`, so lowering and counting follow one rule.
pub fn expr_calls(e: &Expr) -> Option<u64> {
    let mut unknown = false;
    let n = expr_calls_inner(e, &mut unknown);
    (!unknown).then_some(n)
}

fn expr_calls_inner(e: &Expr, unknown: &mut bool) -> u64 {
    match &e.kind {
        ExprKind::If { cond, then, else_ } => expr_calls_inner(cond, unknown)
            .saturating_add(expr_calls_inner(then, unknown).max(expr_calls_inner(else_, unknown))),
        ExprKind::Map { list, body, .. } => {
            let per_item = expr_calls_inner(body, unknown);
            let len = known_len(list).unwrap_or_else(|| {
                if per_item > 0 {
                    *unknown = true;
                }
                0
            });
            expr_calls_inner(list, unknown).saturating_add(per_item.saturating_mul(len))
        }
        _ => {
            let mut total: u64 = match &e.kind {
                ExprKind::Ask(_, sampling) => sampling_calls(sampling),
                _ => 0,
            };
            for child in children(e) {
                total = total.saturating_add(expr_calls_inner(child, unknown));
            }
            total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::testkit::{self, Builder, expr, hole, lit, text, tpl, vote};
    use crate::model::ProviderKind;
    use crate::types::Type;

    #[test]
    fn guardrails_counts_every_vote_and_the_guarded_ask() {
        let s = summary(&testkit::guardrails());
        assert_eq!(s.nodes, 5);
        assert_eq!(s.calls, CallCount::fixed(7));
        assert_eq!(s.longest_chain, 2);
        assert_eq!(
            s.to_string(),
            "5 nodes, worst case 7 LLM calls, longest chain 2 calls"
        );
    }

    #[test]
    fn chain_adds_stages_and_repeats_multiply() {
        let s = summary(&testkit::chain());
        assert_eq!(
            s.to_string(),
            "6 nodes, worst case 5 LLM calls, longest chain 3 calls"
        );
    }

    #[test]
    fn map_over_an_input_list_counts_per_element() {
        let g = testkit::mapped();
        let s = summary(&g);
        assert_eq!(
            s.calls,
            CallCount {
                fixed: 5,
                per_list: vec![(3, "items".to_string())]
            }
        );
        // summaries (1) then best's samples (1) then its judge (1).
        assert_eq!(s.longest_chain, 3);
        assert_eq!(
            s.to_string(),
            "6 nodes, worst case 5 + 3 × len(items) LLM calls, longest chain 3 calls"
        );
    }

    #[test]
    fn ensemble_multiplies_voters_by_samples() {
        let g = testkit::ensemble();
        let s = summary(&g);
        assert_eq!(
            s.to_string(),
            "5 nodes, worst case 10 LLM calls, longest chain 1 call"
        );
        let vulnerable = g
            .dag
            .node_weights()
            .find(|n| n.name == "vulnerable")
            .map(|n| node_calls(&g, n));
        assert_eq!(vulnerable, Some(CallCount::fixed(9)));
    }

    #[test]
    fn a_judged_ensemble_adds_a_call_and_a_stage() {
        let mut b = Builder::new();
        let q = b.input("q", Type::Text);
        let voters = vec![
            b.call("a", tpl(vec![hole(b.at(q))]), Type::Text),
            b.call("b", tpl(vec![hole(b.at(q))]), Type::Text),
        ];
        b.node(
            "e",
            Type::Text,
            NodeKind::Ensemble {
                voters,
                per_voter: 2,
                strategy: Strategy::Judge("a".into()),
                until: None,
            },
        );
        let s = summary(&b.finish());
        assert_eq!(s.calls, CallCount::fixed(5));
        assert_eq!(s.longest_chain, 2);
    }

    #[test]
    fn an_empty_graph_costs_nothing() {
        let s = summary(&Builder::new().finish());
        assert_eq!(
            s.to_string(),
            "0 nodes, worst case 0 LLM calls, longest chain 0 calls"
        );
    }

    #[test]
    fn call_counts_display_and_merge_terms() {
        let mut c = CallCount::fixed(4);
        c.add_per_list(3, "items");
        assert_eq!(c.to_string(), "4 + 3 × len(items)");
        c.add(&CallCount {
            fixed: 0,
            per_list: vec![(2, "items".into()), (1, "lines(doc)".into())],
        });
        assert_eq!(c.to_string(), "4 + 5 × len(items) + len(lines(doc))");
        let only_list = CallCount {
            fixed: 0,
            per_list: vec![(2, "xs".into())],
        };
        assert_eq!(only_list.to_string(), "2 × len(xs)");
        assert_eq!(CallCount::fixed(14).to_string(), "14");
        assert!(CallCount::default().is_zero());
        assert_eq!(CallCount::fixed(1).noun(), "call");
        assert_eq!(only_list.noun(), "calls");
    }

    #[test]
    fn counts_saturate_instead_of_overflowing() {
        let mut c = CallCount::fixed(u64::MAX);
        c.add(&CallCount::fixed(5));
        assert_eq!(c.fixed, u64::MAX);
    }

    #[test]
    fn map_body_depth_follows_data_dependencies() {
        // for x in xs < if (ask m "{x}?" as bool) then ask m "a {x}" else "b" >
        let mut b = Builder::new();
        b.model("m", ProviderKind::Mock, None);
        let xs = b.input("xs", Type::list(Type::Text));
        let x = || expr(ExprKind::Var("x".into()), Type::Text);
        let cond = expr(
            ExprKind::Ask(
                Box::new(b.call("m", tpl(vec![hole(x()), lit("?")]), Type::Bool)),
                Sampling::One,
            ),
            Type::Bool,
        );
        let then = expr(
            ExprKind::Ask(
                Box::new(b.call("m", tpl(vec![lit("a "), hole(x())]), Type::Text)),
                vote(3, Strategy::Majority),
            ),
            Type::Text,
        );
        let body = expr(
            ExprKind::If {
                cond: Box::new(cond),
                then: Box::new(then),
                else_: Box::new(text("b")),
            },
            Type::Text,
        );
        assert_eq!(expr_calls(&body), Some(4));
        assert_eq!(expr_stages(&body), 2);
        let list = b.at(xs);
        b.node(
            "ys",
            Type::list(Type::Text),
            NodeKind::Map {
                var: "x".into(),
                list,
                body,
                calls_per_item: 4,
            },
        );
        let s = summary(&b.finish());
        assert_eq!(
            s.to_string(),
            "2 nodes, worst case 4 × len(xs) LLM calls, longest chain 2 calls"
        );
    }

    #[test]
    fn nested_map_over_an_unknown_list_has_no_fixed_count() {
        let inner = expr(
            ExprKind::Map {
                var: "y".into(),
                list: Box::new(expr(ExprKind::Var("x".into()), Type::list(Type::Text))),
                body: Box::new(expr(
                    ExprKind::Ask(
                        Box::new(Builder::new().call("m", tpl(vec![lit("hi")]), Type::Text)),
                        Sampling::One,
                    ),
                    Type::Text,
                )),
            },
            Type::list(Type::Text),
        );
        assert_eq!(expr_calls(&inner), None);
        assert_eq!(expr_stages(&inner), 1);
    }
}

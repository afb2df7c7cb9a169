//! The worst-case cost of one run, for `flow check`: every model's
//! worst-case calls × its `max_tokens` × its `price_out`.
//!
//! A reply can be no longer than `max_tokens`, so the output side has a true
//! upper bound. The input side has none before run time (prompts interpolate
//! values of any length), so it is left out and the report says so.

use std::fmt;

use indexmap::IndexMap;

use crate::graph::describe::{children, expr_text};
use crate::graph::{AskCall, Expr, ExprKind, FlowGraph, NodeKind, Sampling, Strategy};
use crate::value::Value;

/// Dollars: `fixed + Σ per_item × len(list)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CostBound {
    pub fixed: f64,
    pub per_list: Vec<(f64, String)>,
}

/// What `flow check` can say about cost.
#[derive(Debug, Clone, PartialEq)]
pub enum CostReport {
    Bound(CostBound),
    /// Some model that may be called has prices but no `max_tokens`, or has
    /// no prices while others do: names them.
    Unbounded {
        missing: Vec<Missing>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    MaxTokens(String),
    Prices(String),
    /// A `for` nested in a `for` over a list whose length is known only at run time.
    NestedList,
}

/// `None` when no model declares a price: then cost is not a concern.
pub fn worst_case_cost(g: &FlowGraph) -> Option<CostReport> {
    worst_case_cost_of(g, g.dag.node_weights())
}

/// [`worst_case_cost`] of some of the graph's nodes (an editor's hover
/// prices one binding); `None` when no model declares a price.
pub fn worst_case_cost_of<'a>(
    g: &'a FlowGraph,
    nodes: impl Iterator<Item = &'a crate::graph::Node>,
) -> Option<CostReport> {
    let priced = g
        .models
        .values()
        .any(|m| m.options.price_in.is_some() || m.options.price_out.is_some());
    if !priced {
        return None;
    }
    let mut calls = Calls::default();
    for node in nodes {
        match &node.kind {
            NodeKind::Ask { call, sampling } => calls.ask(call, sampling, 1.0, None),
            NodeKind::Ensemble {
                voters,
                per_voter,
                strategy,
                ..
            } => {
                for v in voters {
                    calls.add(&v.model, f64::from(*per_voter), None);
                }
                if let Strategy::Judge(j) = strategy {
                    calls.add(&j.model, 1.0, None);
                }
            }
            NodeKind::Map { list, body, .. } => match known_len(list) {
                Some(n) => calls.expr(body, n as f64, None),
                None => calls.expr(body, 1.0, Some(&expr_text(g, list))),
            },
            NodeKind::Input { .. }
            | NodeKind::Pure(_)
            | NodeKind::Record(_)
            | NodeKind::Output(_) => {}
        }
    }
    let mut missing = Vec::new();
    if calls.nested_unknown {
        missing.push(Missing::NestedList);
    }
    // A call through a `fallback` model may be made by each member; one
    // through a `round_robin` model by any one of them: either way, every
    // member's price bounds it.
    let mut by_model: IndexMap<String, Count> = IndexMap::new();
    for (model, count) in calls.by_model {
        let members = g
            .models
            .get(&model)
            .and_then(|m| m.options.route.as_ref())
            .map_or_else(|| vec![model.clone()], |r| r.members.clone());
        for m in members {
            let c = by_model.entry(m).or_default();
            c.fixed += count.fixed;
            for (k, list) in &count.per_list {
                match c.per_list.iter_mut().find(|(_, l)| l == list) {
                    Some((n, _)) => *n += k,
                    None => c.per_list.push((*k, list.clone())),
                }
            }
        }
    }
    let mut bound = CostBound::default();
    for (model, count) in &by_model {
        let Some(spec) = g.models.get(model) else {
            continue;
        };
        let o = &spec.options;
        let Some(price_out) = o.price_out else {
            missing.push(Missing::Prices(model.clone()));
            continue;
        };
        let Some(max_tokens) = o.max_tokens else {
            missing.push(Missing::MaxTokens(model.clone()));
            continue;
        };
        let per_call = f64::from(max_tokens) * price_out / 1_000_000.0;
        bound.fixed += count.fixed * per_call;
        for (k, list) in &count.per_list {
            match bound.per_list.iter_mut().find(|(_, l)| l == list) {
                Some((c, _)) => *c += k * per_call,
                None => bound.per_list.push((k * per_call, list.clone())),
            }
        }
    }
    Some(if missing.is_empty() {
        CostReport::Bound(bound)
    } else {
        CostReport::Unbounded { missing }
    })
}

#[derive(Default)]
struct Count {
    fixed: f64,
    per_list: Vec<(f64, String)>,
}

#[derive(Default)]
struct Calls {
    by_model: IndexMap<String, Count>,
    nested_unknown: bool,
}

impl Calls {
    fn add(&mut self, model: &str, n: f64, list: Option<&str>) {
        let c = self.by_model.entry(model.to_string()).or_default();
        match list {
            None => c.fixed += n,
            Some(l) => match c.per_list.iter_mut().find(|(_, x)| x == l) {
                Some((k, _)) => *k += n,
                None => c.per_list.push((n, l.to_string())),
            },
        }
    }

    fn ask(&mut self, call: &AskCall, sampling: &Sampling, times: f64, list: Option<&str>) {
        self.add(&call.model, sampling.samples() as f64 * times, list);
        if let Sampling::Vote {
            strategy: Strategy::Judge(j),
            ..
        } = sampling
        {
            self.add(&j.model, times, list);
        }
    }

    /// Inline asks of an expression run `times` times (per element of
    /// `list` when given). Both branches of an `if` are counted: an upper
    /// bound, and a simple one.
    fn expr(&mut self, e: &Expr, times: f64, list: Option<&str>) {
        match &e.kind {
            ExprKind::Ask(call, sampling) => self.ask(call, sampling, times, list),
            ExprKind::Map {
                list: inner, body, ..
            } => {
                self.expr(inner, times, list);
                match known_len(inner) {
                    Some(n) => self.expr(body, times * n as f64, list),
                    None => {
                        if has_ask(body) {
                            self.nested_unknown = true;
                        }
                    }
                }
                return;
            }
            _ => {}
        }
        for child in children(e) {
            if !matches!(e.kind, ExprKind::Map { .. }) {
                self.expr(child, times, list);
            }
        }
    }
}

fn has_ask(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Ask(..)) || children(e).into_iter().any(has_ask)
}

fn known_len(list: &Expr) -> Option<u64> {
    match &list.kind {
        ExprKind::List(items) => Some(items.len() as u64),
        ExprKind::Lit(Value::List(items)) => Some(items.len() as u64),
        _ => None,
    }
}

impl fmt::Display for CostBound {
    /// `$0.0120` or `$0.0040 + $0.0024 × len(items)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if self.fixed > 0.0 || self.per_list.is_empty() {
            write!(f, "{}", dollars(self.fixed))?;
            first = false;
        }
        for (k, list) in &self.per_list {
            if !first {
                f.write_str(" + ")?;
            }
            first = false;
            write!(f, "{} × len({list})", dollars(*k))?;
        }
        Ok(())
    }
}

impl fmt::Display for CostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostReport::Bound(b) => write!(
                f,
                "worst-case cost {b} for output tokens (calls × max_tokens × price_out; input tokens come on top)"
            ),
            CostReport::Unbounded { missing } => {
                let why: Vec<String> = missing
                    .iter()
                    .map(|m| match m {
                        Missing::MaxTokens(n) => format!("model `{n}` sets no `max_tokens`"),
                        Missing::Prices(n) => format!("model `{n}` sets no `price_out`"),
                        Missing::NestedList => {
                            "a nested `for` runs over a list known only at run time".to_string()
                        }
                    })
                    .collect();
                write!(f, "no worst-case cost: {}", why.join(", "))
            }
        }
    }
}

/// Four decimals below a dollar (calls are cheap), cents above.
fn dollars(x: f64) -> String {
    if x < 1.0 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(src: &str) -> Option<CostReport> {
        match crate::compile(src).graph {
            Some(g) => worst_case_cost(&g),
            None => panic!("does not compile:\n{src}"),
        }
    }

    #[test]
    fn no_prices_no_report() {
        assert_eq!(
            report("model m = mock(reply: \"x\")\noutput a = ask m \"hi\""),
            None
        );
    }

    #[test]
    fn calls_times_max_tokens_times_price_out() {
        // 1 + 5 votes = 6 calls × 1000 tokens × $2/M = $0.012
        let r = report(
            r#"
model m = mock(reply: "yes", max_tokens: 1000, price_in: 1, price_out: 2)
input q: text
a = ask m "{q}"
v = ask m "ok? {a}" as bool vote 5 by majority
output out = if v then a else "no"
"#,
        );
        match r {
            Some(CostReport::Bound(b)) => {
                assert!((b.fixed - 0.012).abs() < 1e-12, "{b:?}");
                assert_eq!(b.to_string(), "$0.0120");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_map_over_an_input_list_costs_per_element() {
        let r = report(
            r#"
model m = mock(reply: "x", max_tokens: 500, price_in: 1, price_out: 4)
input items: list<text>
out = for i in items < ask m "summarize {i}" >
output joined = join(out, ", ")
"#,
        );
        assert_eq!(
            r.map(|r| r.to_string()),
            Some("worst-case cost $0.0020 × len(items) for output tokens (calls × max_tokens × price_out; input tokens come on top)".into())
        );
    }

    #[test]
    fn a_model_without_max_tokens_has_no_bound() {
        let r = report(
            r#"
model m = mock(reply: "x", price_in: 1, price_out: 4)
output a = ask m "hi"
"#,
        );
        assert_eq!(
            r.map(|r| r.to_string()),
            Some("no worst-case cost: model `m` sets no `max_tokens`".into())
        );
    }
}

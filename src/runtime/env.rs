//! What an executing node can see: its dependencies' values and the
//! variables of enclosing `for`s.
//!
//! These types sit below `node`, `eval` and `ask` so that each of those
//! imports them from here rather than from one another.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ctx::RunCtx;
use super::error::{RunError, TypeProblem};
use crate::graph::NodeId;
use crate::syntax::Span;
use crate::value::Value;

/// The values of a node's dependencies, sorted by node so a lookup is a
/// binary search: one allocation per node instead of a hash map's.
pub(crate) struct DepValues(Vec<(NodeId, Arc<Value>)>);

impl DepValues {
    /// `values` must be sorted by node (the scheduler's dependency lists are).
    pub fn from_sorted(values: Vec<(NodeId, Arc<Value>)>) -> DepValues {
        debug_assert!(values.is_sorted_by_key(|(n, _)| *n));
        DepValues(values)
    }

    pub fn get(&self, id: &NodeId) -> Option<&Arc<Value>> {
        self.0
            .binary_search_by(|(n, _)| n.cmp(id))
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| v)
    }
}

/// What an expression can see: the values of the node's dependencies and the
/// variables of enclosing `for`s.
pub(crate) struct Env<'a> {
    pub ctx: &'a RunCtx,
    /// The node being evaluated, for messages and trace names.
    pub binding: &'a str,
    pub values: &'a DepValues,
    /// The innermost enclosing `for` element; `None` at the node's top.
    /// A chain to the enclosing environments rather than a list of
    /// variables: an element's environment then allocates nothing, where
    /// copying the lists was four allocations an element of a
    /// 10,000-item `for`.
    element: Option<Element<'a>>,
    /// The longest call latency seen by this node, in microseconds, for the
    /// critical path.
    pub latency: &'a AtomicU64,
}

/// One element of a `for`: its variable, value and index, and the
/// environment of the `for` itself.
struct Element<'a> {
    outer: &'a Env<'a>,
    var: &'a str,
    /// Borrowed from the list, which the `for` reads where it is (a node's
    /// value) or owns: a copy per element was a copy of the whole list.
    value: &'a Value,
    index: usize,
}

impl<'a> Env<'a> {
    /// A node's environment, with no `for` variables.
    pub fn top(
        ctx: &'a RunCtx,
        binding: &'a str,
        values: &'a DepValues,
        latency: &'a AtomicU64,
    ) -> Env<'a> {
        Env {
            ctx,
            binding,
            values,
            element: None,
            latency,
        }
    }

    /// The environment of element `index` of a `for`, with `var` bound to
    /// it: it lives no longer than the `for`, whose name it borrows.
    pub fn child<'e>(&'e self, var: &'e str, value: &'e Value, index: usize) -> Env<'e> {
        Env {
            ctx: self.ctx,
            binding: self.binding,
            values: self.values,
            element: Some(Element {
                outer: self,
                var,
                value,
                index,
            }),
            latency: self.latency,
        }
    }

    /// The value of the `for` variable `name`, innermost first.
    pub fn var(&self, name: &str) -> Option<&Value> {
        let mut env = self;
        while let Some(e) = &env.element {
            if e.var == name {
                return Some(e.value);
            }
            env = e.outer;
        }
        None
    }

    /// Element indices of the enclosing `for`s, outermost first.
    pub fn items(&self) -> Vec<usize> {
        let mut items = Vec::new();
        let mut env = self;
        while let Some(e) = &env.element {
            items.push(e.index);
            env = e.outer;
        }
        items.reverse();
        items
    }

    /// The binding's name with the element indices of the enclosing `for`s,
    /// as `a[2][0]`, starting from `name`.
    pub fn indexed(&self, mut name: String) -> String {
        for i in self.items() {
            name.push_str(&format!("[{i}]"));
        }
        name
    }

    pub fn observe_latency(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency.fetch_max(us, Ordering::Relaxed);
    }

    pub fn type_error(&self, problem: TypeProblem, span: Span) -> RunError {
        RunError::type_error(self.binding, problem, span)
    }
}

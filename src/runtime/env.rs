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
    /// Innermost last; each name borrowed from the `for` that binds it.
    pub vars: Vec<(&'a str, Value)>,
    /// Element indices of enclosing `for`s, outermost first.
    pub items: Vec<usize>,
    /// The longest call latency seen by this node, in microseconds, for the
    /// critical path.
    pub latency: &'a AtomicU64,
}

impl<'a> Env<'a> {
    /// The environment of element `index` of a `for`, with `var` bound to
    /// it: it lives no longer than the `for`, whose name it borrows.
    pub fn child<'e>(&'e self, var: &'e str, value: Value, index: usize) -> Env<'e> {
        // Sized for the one more each gets: a clone has no room, and its
        // push reallocated both, twice per element of a 10,000-item `for`.
        let mut vars = Vec::with_capacity(self.vars.len() + 1);
        vars.extend(self.vars.iter().cloned());
        vars.push((var, value));
        let mut items = Vec::with_capacity(self.items.len() + 1);
        items.extend_from_slice(&self.items);
        items.push(index);
        Env {
            ctx: self.ctx,
            binding: self.binding,
            values: self.values,
            vars,
            items,
            latency: self.latency,
        }
    }

    pub fn observe_latency(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency.fetch_max(us, Ordering::Relaxed);
    }

    pub fn type_error(&self, problem: TypeProblem, span: Span) -> RunError {
        RunError::type_error(self.binding, problem, span)
    }
}

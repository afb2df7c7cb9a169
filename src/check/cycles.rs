//! Cycles between declarations, and the order to type them in.

use std::collections::{HashSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::error::CheckError;
use super::names::{DeclId, Scope};
use super::resolve::Ref;

/// The declaration graph: an edge `a → b` when `a` uses `b`.
pub struct DeclGraph<'r> {
    refs: &'r [Vec<Ref>],
}

impl<'r> DeclGraph<'r> {
    pub fn new(refs: &'r [Vec<Ref>]) -> Self {
        DeclGraph { refs }
    }

    pub fn uses(&self, id: DeclId) -> impl Iterator<Item = &Ref> {
        self.refs.get(id).into_iter().flatten()
    }

    /// One error per cycle, naming its declarations in order, starting at the
    /// one written first. Returns the ids of all declarations on cycles, and
    /// the rank of every declaration's strongly connected component.
    pub fn cycles(&self, scope: &Scope<'_>, errors: &mut Vec<CheckError>) -> Components {
        let mut graph: DiGraph<(), (), u32> = DiGraph::new();
        let nodes: Vec<NodeIndex<u32>> = (0..self.refs.len()).map(|_| graph.add_node(())).collect();
        for (from, refs) in self.refs.iter().enumerate() {
            for r in refs {
                if let (Some(&a), Some(&b)) = (nodes.get(from), nodes.get(r.target)) {
                    graph.add_edge(a, b, ());
                }
            }
        }
        let mut on_cycle = HashSet::new();
        let components = tarjan_scc(&graph);
        // tarjan_scc yields components in post-order (a component after every
        // component it uses), so the position is a rank that never rises
        // along a use.
        let mut rank = vec![0; self.refs.len()];
        for (i, scc) in components.iter().enumerate() {
            for n in scc {
                if let Some(r) = rank.get_mut(n.index()) {
                    *r = i;
                }
            }
        }
        let mut sccs: Vec<Vec<DeclId>> = components
            .into_iter()
            .map(|scc| {
                let mut ids: Vec<DeclId> = scc.into_iter().map(|n| n.index()).collect();
                ids.sort_unstable();
                ids
            })
            .filter(|ids| match ids.as_slice() {
                [one] => self.uses(*one).any(|r| r.target == *one),
                _ => true,
            })
            .collect();
        sccs.sort();
        for scc in sccs {
            on_cycle.extend(scc.iter().copied());
            if let Some(path) = self.cycle_path(&scc) {
                let names: Vec<String> = path.iter().map(|&d| name(scope, d)).collect();
                let links = path
                    .windows(2)
                    .filter_map(|w| {
                        let span = self.uses(w[0]).find(|r| r.target == w[1])?.span;
                        Some((name(scope, w[0]), name(scope, w[1]), span))
                    })
                    .collect();
                errors.push(CheckError::cycle(names, links));
            }
        }
        Components { on_cycle, rank }
    }

    /// A shortest cycle through the first declaration of a strongly connected
    /// component, as declarations with the first repeated at the end.
    fn cycle_path(&self, scc: &[DeclId]) -> Option<Vec<DeclId>> {
        let start = *scc.first()?;
        let members: HashSet<DeclId> = scc.iter().copied().collect();
        let mut parent: Vec<Option<DeclId>> = vec![None; self.refs.len()];
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([start]);
        seen.insert(start);
        while let Some(cur) = queue.pop_front() {
            for r in self.uses(cur) {
                if r.target == start {
                    let mut path = vec![start];
                    let mut at = cur;
                    while at != start {
                        path.push(at);
                        at = parent.get(at).copied().flatten()?;
                    }
                    path.push(start);
                    // Built backwards from the closing link; flip to use order.
                    path.reverse();
                    return Some(path);
                }
                if members.contains(&r.target) && seen.insert(r.target) {
                    if let Some(p) = parent.get_mut(r.target) {
                        *p = Some(cur);
                    }
                    queue.push_back(r.target);
                }
            }
        }
        None
    }

    /// Everything `from` uses directly or through other declarations whose
    /// component rank is at least `floor`, as a breadth-first tree:
    /// `parents[d]` is the declaration that reached `d`.
    ///
    /// A declaration below the floor reaches only declarations below it (rank
    /// never rises along a use), so leaving those out changes neither which
    /// declarations at or above the floor are reached nor the tree to them —
    /// and a search that only asks about section members need not walk the
    /// whole program behind them, which made checking quadratic. The search
    /// reuses `scratch`, so it costs what it visits rather than the program's
    /// size.
    pub fn reach<'s>(
        &self,
        from: DeclId,
        rank: &[usize],
        floor: usize,
        scratch: &'s mut ReachScratch,
    ) -> Reach<'s> {
        scratch.reset(self.refs.len());
        scratch.mark(from, None);
        let mut head = 0;
        while let Some(&cur) = scratch.visited.get(head) {
            head += 1;
            for r in self.uses(cur) {
                if rank.get(r.target).is_none_or(|&k| k < floor) {
                    continue;
                }
                if scratch.seen.get(r.target) == Some(&false) {
                    scratch.mark(r.target, Some(cur));
                }
            }
        }
        Reach {
            from,
            parents: &scratch.parents,
        }
    }

    /// Every declaration after the ones it uses (declarations on a cycle in
    /// some order); ties in source order, so the result is deterministic.
    pub fn dependency_order(&self) -> Vec<DeclId> {
        let n = self.refs.len();
        let mut state = vec![0u8; n]; // 0 new, 1 open, 2 done
        let mut order = Vec::with_capacity(n);
        for root in 0..n {
            if state[root] != 0 {
                continue;
            }
            // An explicit stack: a long chain of bindings must not overflow ours.
            let mut stack: Vec<(DeclId, usize)> = vec![(root, 0)];
            state[root] = 1;
            while let Some((cur, next)) = stack.last_mut() {
                let cur = *cur;
                match self.refs.get(cur).and_then(|r| r.get(*next)) {
                    Some(r) => {
                        *next += 1;
                        let t = r.target;
                        if t < n && state[t] == 0 {
                            state[t] = 1;
                            stack.push((t, 0));
                        }
                    }
                    None => {
                        state[cur] = 2;
                        order.push(cur);
                        stack.pop();
                    }
                }
            }
        }
        order
    }
}

fn name(scope: &Scope<'_>, id: DeclId) -> String {
    scope
        .decls
        .get(id)
        .map(|d| d.name.clone())
        .unwrap_or_else(|| format!("#{id}"))
}

/// What [`DeclGraph::cycles`] found besides its errors.
pub struct Components {
    /// Every declaration on a cycle.
    pub on_cycle: HashSet<DeclId>,
    /// Per declaration, its strongly connected component's position in
    /// post-order: when `a` uses `b`, `rank[b] <= rank[a]`.
    pub rank: Vec<usize>,
}

/// Buffers for [`DeclGraph::reach`], kept between searches so that each one
/// clears only what the last one visited.
#[derive(Default)]
pub struct ReachScratch {
    seen: Vec<bool>,
    parents: Vec<Option<DeclId>>,
    /// Visited declarations in breadth-first order; doubles as the queue.
    visited: Vec<DeclId>,
}

impl ReachScratch {
    fn reset(&mut self, n: usize) {
        for &d in &self.visited {
            if let Some(s) = self.seen.get_mut(d) {
                *s = false;
            }
            if let Some(p) = self.parents.get_mut(d) {
                *p = None;
            }
        }
        self.visited.clear();
        self.seen.resize(n, false);
        self.parents.resize(n, None);
    }

    fn mark(&mut self, d: DeclId, parent: Option<DeclId>) {
        if let Some(s) = self.seen.get_mut(d) {
            *s = true;
            if let Some(p) = self.parents.get_mut(d) {
                *p = parent;
            }
            self.visited.push(d);
        }
    }
}

/// The result of [`DeclGraph::reach`].
pub struct Reach<'s> {
    from: DeclId,
    parents: &'s [Option<DeclId>],
}

impl Reach<'_> {
    /// The shortest path of uses from the start to `to` (both included).
    pub fn path_to(&self, to: DeclId) -> Option<Vec<DeclId>> {
        if to == self.from {
            return None;
        }
        let mut path = vec![to];
        let mut at = to;
        while at != self.from {
            at = self.parents.get(at).copied().flatten()?;
            path.push(at);
        }
        path.reverse();
        Some(path)
    }
}

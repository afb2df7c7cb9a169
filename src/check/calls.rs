//! Recursion: a function whose body reaches a call of itself could never be
//! expanded, so any cycle among the calls is an error naming its chain.

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};

use super::error::CheckError;
use crate::syntax::Span;

/// Reports one chain per group of functions that call each other.
pub fn recursion(calls: &IndexMap<String, Vec<(String, Span)>>, errors: &mut Vec<CheckError>) {
    let mut g: DiGraph<&str, Span> = DiGraph::new();
    let index: IndexMap<&str, NodeIndex> = calls
        .keys()
        .map(|name| (name.as_str(), g.add_node(name.as_str())))
        .collect();
    for (from, callees) in calls {
        for (to, span) in callees {
            if let (Some(&a), Some(&b)) = (index.get(from.as_str()), index.get(to.as_str())) {
                g.add_edge(a, b, *span);
            }
        }
    }
    let mut sccs = petgraph::algo::tarjan_scc(&g);
    // Report in the order the functions are declared.
    sccs.iter_mut().for_each(|c| c.sort());
    sccs.sort();
    for scc in sccs {
        let start = scc[0];
        let self_loop = g.find_edge(start, start);
        if scc.len() == 1 && self_loop.is_none() {
            continue;
        }
        let chain = chain_within(&g, &scc, start);
        let mut names: Vec<String> = chain.iter().map(|(n, _)| g[*n].to_string()).collect();
        names.push(g[start].to_string());
        let links = chain
            .iter()
            .enumerate()
            .map(|(i, (n, span))| {
                let next = chain.get(i + 1).map_or(start, |(m, _)| *m);
                (g[*n].to_string(), g[next].to_string(), *span)
            })
            .collect();
        errors.push(CheckError::recursion(names, links));
    }
}

/// A cycle from `start` back to it inside `scc`: each function with the
/// span of its call of the next one. A breadth-first search, so the chain
/// shown is a shortest one.
fn chain_within(
    g: &DiGraph<&str, Span>,
    scc: &[NodeIndex],
    start: NodeIndex,
) -> Vec<(NodeIndex, Span)> {
    use petgraph::visit::EdgeRef;
    let mut prev: IndexMap<NodeIndex, (NodeIndex, Span)> = IndexMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for e in g.edges(n) {
            let t = e.target();
            if !scc.contains(&t) || prev.contains_key(&t) {
                continue;
            }
            prev.insert(t, (n, *e.weight()));
            if t == start {
                queue.clear();
                break;
            }
            queue.push_back(t);
        }
    }
    // Walk back from `start` to itself.
    let mut chain = Vec::new();
    let mut at = start;
    while let Some(&(p, span)) = prev.get(&at) {
        chain.push((p, span));
        at = p;
        if at == start || chain.len() > scc.len() {
            break;
        }
    }
    chain.reverse();
    chain
}

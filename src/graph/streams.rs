//! Which outputs can stream, decided from the graph alone: an output whose
//! value is the text of one `ask` (sampled once), directly or as a branch of
//! `if`s, streams that call's reply; the conditions of those `if`s are the
//! gate it must pass before a chunk is shown.

use super::{Expr, ExprKind, FlowGraph, NodeId, NodeKind, Sampling};
use crate::types::Type;

/// An output that can be consumed as a stream of chunks.
#[derive(Debug, Clone)]
pub struct StreamableOutput {
    /// The output's name.
    pub name: String,
    /// The output's node.
    pub node: NodeId,
    /// The calls it may stream from: one per `ask` it can be (an `if` with a
    /// call in each branch has two; exactly one of them is taken).
    pub sources: Vec<StreamSource>,
}

/// One call an output may stream, and when.
#[derive(Debug, Clone)]
pub struct StreamSource {
    /// The `ask` node whose reply is the output's value on this path.
    pub node: NodeId,
    /// Conditions, outermost `if` first, and the value each must have for
    /// the output to be this call's reply. Empty: always.
    pub conditions: Vec<(Expr, bool)>,
    /// The bindings passed through between the output and the call
    /// (`answer = if ... else reply`, then `output answer`), output side
    /// first: they read the call too, so a refusal can cancel it only when
    /// nothing else reads them.
    pub via: Vec<NodeId>,
}

/// Every output that can stream, in output order.
pub fn streamable(graph: &FlowGraph) -> Vec<StreamableOutput> {
    graph
        .outputs
        .iter()
        .filter_map(|(name, &node)| {
            let NodeKind::Output(e) = &graph.dag.node_weight(node)?.kind else {
                return None;
            };
            let mut sources = Vec::new();
            let mut path = Path::default();
            collect(graph, e, &mut path, &mut sources, 0);
            (!sources.is_empty()).then(|| StreamableOutput {
                name: name.clone(),
                node,
                sources,
            })
        })
        .collect()
}

/// How deep bindings of bindings are followed; a graph is acyclic, so this
/// only bounds the work on a very long chain.
const MAX_DEPTH: usize = 64;

/// Where the walk from an output is: the conditions it passed and the
/// bindings it went through.
#[derive(Default)]
struct Path {
    conditions: Vec<(Expr, bool)>,
    via: Vec<NodeId>,
}

fn collect(
    graph: &FlowGraph,
    e: &Expr,
    path: &mut Path,
    out: &mut Vec<StreamSource>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match &e.kind {
        ExprKind::Node(id) => {
            let Some(node) = graph.dag.node_weight(*id) else {
                return;
            };
            match &node.kind {
                NodeKind::Ask {
                    call,
                    sampling: Sampling::One,
                } if call.parse_as == Type::Text => out.push(StreamSource {
                    node: *id,
                    conditions: path.conditions.clone(),
                    via: path.via.clone(),
                }),
                // `output answer` of a binding `answer = if ...`.
                NodeKind::Pure(inner) | NodeKind::Output(inner) => {
                    path.via.push(*id);
                    collect(graph, inner, path, out, depth + 1);
                    path.via.pop();
                }
                _ => {}
            }
        }
        ExprKind::If { cond, then, else_ } => {
            for (branch, when) in [(then, true), (else_, false)] {
                path.conditions.push((Expr::clone(cond), when));
                collect(graph, branch, path, out, depth + 1);
                path.conditions.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<(String, usize)> {
        let graph = crate::compile(src).graph.expect("compiles");
        streamable(&graph)
            .into_iter()
            .map(|s| (s.name, s.sources.len()))
            .collect()
    }

    #[test]
    fn a_single_text_ask_streams_directly_or_through_ifs_and_bindings() {
        let src = r#"
model m = mock(reply: "hi")
input q: text
section <
  reply = ask m "{q}"
  bad = ask m "bad? {q}" as bool
>
answer = if bad then "no" else reply
output direct = ask m "a {q}"
output guarded = if bad then "no" else reply
output both = if bad then ask m "x" else ask m "y"
output answer
output voted = ask m "v" vote 3 by majority
output typed = ask m "n" as int
output built = "{reply}!"
"#;
        assert_eq!(
            names(src),
            [
                ("direct".to_string(), 1),
                ("guarded".to_string(), 1),
                ("both".to_string(), 2),
                ("answer".to_string(), 1)
            ]
        );
        let graph = crate::compile(src).graph.unwrap();
        let guarded = streamable(&graph).into_iter().nth(1).unwrap();
        let [source] = guarded.sources.as_slice() else {
            panic!()
        };
        assert_eq!(graph.node(source.node).name, "reply");
        assert_eq!(source.conditions.len(), 1);
        assert!(!source.conditions[0].1, "reply is the else branch");
        assert!(source.via.is_empty(), "read by the output directly");
        let answer = streamable(&graph).into_iter().nth(3).unwrap();
        let via: Vec<_> = answer.sources[0]
            .via
            .iter()
            .map(|&v| graph.node(v).name.clone())
            .collect();
        assert_eq!(via, ["answer"], "through the binding `answer`");
    }
}

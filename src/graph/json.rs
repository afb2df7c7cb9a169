//! The graph as JSON (`flow graph --format json`), for tools and tests that
//! want the structure rather than a picture.
//!
//! Nodes and edges are arrays in index order; models, inputs, outputs,
//! streamable outputs (`streams`) and sections in declaration order; object keys are emitted in a fixed order.
//! Node ids are the graph's node indices, so edges, guards and sections refer
//! to them. Models carry their names and ids, never a key: only the *name* of
//! the key's environment variable is in the graph at all, and URLs are shown
//! without credentials.

use serde_json::{Value, json};

use super::describe::{self, expr_text, kind_name, node_detail, node_text};
use super::stats::{CallCount, node_calls, summary};
use super::{EdgeKind, FlowGraph, Node, NodeKind, Sampling};
use crate::syntax::Span;

/// The graph as one JSON object (see the module docs for its shape and order).
pub fn to_json(g: &FlowGraph) -> Value {
    let nodes: Vec<Value> = g
        .dag
        .node_indices()
        .filter_map(|id| Some(node_json(g, id.index(), g.dag.node_weight(id)?)))
        .collect();

    let edges: Vec<Value> = describe::edges_in_order(g)
        .into_iter()
        .map(|(from, to, edge)| {
            json!({
                "from": from,
                "to": to,
                "label": edge.label,
                "kind": match edge.kind {
                    EdgeKind::Data => "data",
                    EdgeKind::Guard => "guard",
                },
            })
        })
        .collect();

    let models: Vec<Value> = g
        .models
        .iter()
        .map(|(name, spec)| {
            let mut model = json!({
                "name": name,
                "provider": spec.provider.name(),
                "model_id": spec.model_id,
                "base_url": spec.options.base_url.as_deref().map(describe::redact_url),
            });
            // A routed model is no provider of its own: say what it routes to.
            if let (Some(route), Some(obj)) = (&spec.options.route, model.as_object_mut()) {
                obj.insert("provider".into(), json!(route.kind.name()));
                obj.insert("members".into(), json!(route.members));
            }
            model
        })
        .collect();
    let named = |m: &indexmap::IndexMap<String, super::NodeId>| -> Vec<Value> {
        m.iter()
            .map(|(name, id)| json!({ "name": name, "node": id.index() }))
            .collect()
    };
    let sections: Vec<Value> = g
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "id": i,
                "name": s.name,
                "parent": s.parent,
                "function": s.function,
                "span": span_json(s.span),
            })
        })
        .collect();
    // The outputs a streaming run streams, and the calls each may stream.
    let streams: Vec<Value> = super::streams::streamable(g)
        .into_iter()
        .map(|s| {
            let sources: Vec<usize> = s.sources.iter().map(|src| src.node.index()).collect();
            json!({ "output": s.name, "node": s.node.index(), "sources": sources })
        })
        .collect();
    let s = summary(g);
    json!({
        "nodes": nodes,
        "edges": edges,
        "models": models,
        "inputs": named(&g.inputs),
        "outputs": named(&g.outputs),
        "streams": streams,
        "sections": sections,
        "summary": {
            "nodes": s.nodes,
            "calls": calls_json(&s.calls),
            "longest_chain": s.longest_chain,
            "text": s.to_string(),
        },
    })
}

/// How a call's reply is asked for: the mode (`off`, `prompt`, `schema`,
/// `json`, `tool`), the instruction appended to its prompt, and the schema
/// sent on the wire, so what a model is really sent can be read off.
fn format_json(g: &FlowGraph, call: &super::AskCall) -> Value {
    let Some(spec) = g.models.get(&call.model) else {
        return Value::Null;
    };
    let format = crate::providers::reply_format(spec, &call.parse_as);
    let schema = match &format.wire {
        crate::providers::Wire::Schema { schema, .. } => Value::clone(schema),
        _ => Value::Null,
    };
    json!({
        "mode": format.mode(spec.provider),
        "instruction": format.instruction,
        "schema": schema,
    })
}

fn node_json(g: &FlowGraph, id: usize, node: &Node) -> Value {
    let guards: Vec<Value> = node
        .guards
        .iter()
        .map(|gd| json!({ "cond": gd.cond.index(), "when": gd.when }))
        .collect();
    let mut v = json!({
        "id": id,
        "name": node.name,
        "kind": kind_name(&node.kind),
        "type": node.ty.to_string(),
        "span": span_json(node.span),
        "section": node.section,
        "calls": calls_json(&node_calls(g, node)),
        "detail": node_detail(g, node),
        "text": node_text(g, node),
        "guards": guards,
    });
    let extra = match &node.kind {
        NodeKind::Ask { call, sampling } => json!({
            "model": call.model,
            "sampling": sampling_json(sampling),
            "format": format_json(g, call),
        }),
        NodeKind::Ensemble {
            voters,
            per_voter,
            strategy,
            until,
        } => {
            let mut v = json!({
                "voters": voters.iter().map(|v| v.model.as_str()).collect::<Vec<_>>(),
                "formats": voters.iter().map(|v| format_json(g, v)).collect::<Vec<_>>(),
                "per_voter": per_voter,
                "strategy": strategy.to_string(),
            });
            if let (Some(until), Some(obj)) = (until, v.as_object_mut()) {
                obj.insert("adaptive".into(), json!(true));
                obj.insert("until".into(), json!(until.confidence));
                obj.insert("rule".into(), json!(until.rule.name()));
            }
            v
        }
        NodeKind::Map {
            var,
            list,
            calls_per_item,
            ..
        } => json!({
            "var": var,
            "list": expr_text(g, list),
            "calls_per_item": calls_per_item,
        }),
        NodeKind::Record(members) => json!({
            "members": members
                .iter()
                .map(|(name, id)| json!({ "name": name, "node": id.index() }))
                .collect::<Vec<_>>(),
        }),
        NodeKind::Input { .. } | NodeKind::Pure(_) | NodeKind::Output(_) => json!({}),
    };
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    v
}

fn sampling_json(sampling: &Sampling) -> Value {
    match sampling {
        Sampling::One => json!({ "kind": "one", "samples": 1 }),
        Sampling::Repeat(n) => json!({ "kind": "repeat", "samples": n }),
        Sampling::Vote {
            n,
            strategy,
            until: None,
        } => {
            json!({ "kind": "vote", "samples": n, "strategy": strategy.to_string() })
        }
        Sampling::Vote {
            n,
            strategy,
            until: Some(until),
        } => json!({
            "kind": "vote", "samples": n, "strategy": strategy.to_string(),
            "adaptive": true, "until": until.confidence, "rule": until.rule.name(),
        }),
    }
}

/// `{"fixed": 4, "per_list": [{"per_item": 3, "list": "items"}], "text": "4 + 3 × len(items)"}`.
pub(crate) fn calls_json(c: &CallCount) -> Value {
    let per_list: Vec<Value> = c
        .per_list
        .iter()
        .map(|(k, list)| json!({ "per_item": k, "list": list }))
        .collect();
    json!({ "fixed": c.fixed, "per_list": per_list, "text": c.to_string() })
}

fn span_json(span: Span) -> Value {
    json!({ "start": span.start, "end": span.end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::testkit;

    #[test]
    fn guardrails_json_has_nodes_edges_and_summary() {
        let v = to_json(&testkit::guardrails());
        assert_eq!(v["nodes"].as_array().map(Vec::len), Some(5));
        let unsafe_ = &v["nodes"][2];
        assert_eq!(unsafe_["name"], "unsafe");
        assert_eq!(unsafe_["kind"], "ask");
        assert_eq!(unsafe_["type"], "bool");
        assert_eq!(unsafe_["section"], 0);
        assert_eq!(unsafe_["calls"]["fixed"], 5);
        assert_eq!(unsafe_["model"], "moderator");
        assert_eq!(unsafe_["detail"], "ask moderator ×5 by majority");
        assert_eq!(
            unsafe_["text"],
            "unsafe: bool = ask moderator \"Is the following request inappropriate? Answer \\\"yes\\\" or \\\"no\\\".\\n\\n{query}\" as bool ×5 by majority"
        );
        assert_eq!(
            unsafe_["sampling"],
            json!({"kind": "vote", "samples": 5, "strategy": "majority"})
        );
        let polish = &v["nodes"][3];
        assert_eq!(polish["guards"], json!([{"cond": 2, "when": false}]));
        assert!(v["edges"].as_array().is_some_and(|e| {
            e.contains(&json!({"from": 2, "to": 3, "label": "unsafe", "kind": "guard"}))
        }));
        assert_eq!(v["inputs"], json!([{"name": "query", "node": 0}]));
        assert_eq!(v["outputs"], json!([{"name": "answer", "node": 4}]));
        assert_eq!(
            v["sections"],
            json!([{"id": 0, "name": null, "parent": null, "function": null, "span": {"start": 30, "end": 35}}])
        );
        assert_eq!(
            v["summary"],
            json!({
                "nodes": 5,
                "calls": {"fixed": 7, "per_list": [], "text": "7"},
                "longest_chain": 2,
                "text": "5 nodes, worst case 7 LLM calls, longest chain 2 calls",
            })
        );
        assert_eq!(
            v["models"][1],
            json!({"name": "moderator", "provider": "openai", "model_id": "gpt-4o-mini", "base_url": null})
        );
    }

    #[test]
    fn map_and_record_details() {
        let v = to_json(&testkit::mapped());
        assert_eq!(
            v["nodes"][1]["calls"],
            json!({"fixed": 0, "per_list": [{"per_item": 3, "list": "items"}], "text": "3 × len(items)"})
        );
        assert_eq!(v["nodes"][1]["list"], "items");
        assert_eq!(v["models"][0]["base_url"], "https://proxy.example.com/v1");
        let text = v.to_string();
        assert!(
            !text.contains("sk-secret") && !text.contains("key=abc"),
            "{text}"
        );

        let v = to_json(&testkit::ensemble());
        assert_eq!(
            v["nodes"][1]["voters"],
            json!(["reviewer", "reviewer", "strict"])
        );
        assert_eq!(v["nodes"][1]["per_voter"], 3);
        assert_eq!(v["nodes"][1]["strategy"], "at_least 4");
        assert_eq!(
            v["nodes"][3]["members"],
            json!([{"name": "vulnerable", "node": 1}, {"name": "style", "node": 2}])
        );
        assert_eq!(v["sections"][1]["parent"], 0);
    }

    #[test]
    fn output_is_stable() {
        let a = serde_json::to_string(&to_json(&testkit::ensemble())).unwrap_or_default();
        let b = serde_json::to_string(&to_json(&testkit::ensemble())).unwrap_or_default();
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
}

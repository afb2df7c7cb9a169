//! The graph as Graphviz DOT, what `flow graph` prints by default.
//!
//! The output is deterministic (nodes in index order, models in declaration
//! order, edges by endpoints) so it can be snapshotted and diffed. Every label
//! is a quoted string built by `quote`, never an HTML or record label, so
//! prompt text cannot break the syntax.

use std::fmt::{self, Write};

use super::clusters::{self, Step};
use super::describe::{self, edges_in_order, guard_label, model_detail, models_used, node_detail};
use super::stats::{node_calls, summary};
use super::{EdgeKind, FlowGraph, Node, NodeKind};

/// The graph as Graphviz DOT: sections as clusters, models and call counts in labels.
pub fn to_dot(g: &FlowGraph) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_dot(g, &mut out);
    out
}

fn write_dot(g: &FlowGraph, out: &mut String) -> fmt::Result {
    writeln!(out, "digraph flow {{")?;
    writeln!(
        out,
        "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, labelloc=b, label={}];",
        quote(&summary(g).to_string())
    )?;
    writeln!(
        out,
        "  node [fontname=\"Helvetica\", fontsize=11, shape=box];"
    )?;
    writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];")?;

    for (i, (name, spec)) in g.models.iter().enumerate() {
        let label = format!("model {name}\n{}", model_detail(spec));
        writeln!(
            out,
            "  m{i} [shape=cylinder, style=filled, fillcolor=\"#f2f2f2\", color=\"#888888\", label={}];",
            quote(&label)
        )?;
    }

    for step in clusters::walk(g) {
        let indent = step.indent();
        match step {
            Step::Node { id, .. } => write_node(g, out, id, &indent)?,
            // A call's box is solid, a section's dashed.
            Step::Open { section, label, .. } => {
                match g.sections.get(section).and_then(|s| s.function.as_deref()) {
                    Some(function) => writeln!(
                        out,
                        "{indent}subgraph cluster_{section} {{\n{indent}  label={}; labelloc=t; style=\"rounded\"; color=\"#7a8fb8\";",
                        quote(&format!("fn {function}"))
                    )?,
                    None => writeln!(
                        out,
                        "{indent}subgraph cluster_{section} {{\n{indent}  label={}; labelloc=t; style=\"rounded,dashed\"; color=\"#999999\";",
                        quote(label)
                    )?,
                }
            }
            Step::Close { .. } => writeln!(out, "{indent}}}")?,
        }
    }

    for (from, to, edge) in edges_in_order(g) {
        match edge.kind {
            EdgeKind::Data => {
                writeln!(out, "  n{from} -> n{to} [label={}];", quote(&edge.label))?;
            }
            EdgeKind::Guard => {
                let label = guard_label(g, from, to);
                writeln!(
                    out,
                    "  n{from} -> n{to} [style=dashed, color=\"#b05000\", fontcolor=\"#b05000\", label={}];",
                    quote(&label)
                )?;
            }
        }
    }

    for (i, node) in g.dag.node_weights().enumerate() {
        for used in models_used(node) {
            let Some(m) = g.models.get_index_of(used.model) else {
                continue;
            };
            let label = if used.judge { ", label=\"judge\"" } else { "" };
            writeln!(
                out,
                "  m{m} -> n{i} [style=dashed, color=\"#888888\", fontcolor=\"#888888\", arrowhead=open{label}];"
            )?;
        }
    }
    // A routed model's members point at it, as models point at the calls
    // they answer: a fallback's in the order they are tried, numbered.
    for (i, (_, spec)) in g.models.iter().enumerate() {
        let Some(route) = &spec.options.route else {
            continue;
        };
        for (k, member) in route.members.iter().enumerate() {
            let Some(m) = g.models.get_index_of(member.as_str()) else {
                continue;
            };
            let label = match route.kind {
                crate::model::RouteKind::Fallback => format!(", label=\"{}\"", k + 1),
                crate::model::RouteKind::RoundRobin => String::new(),
            };
            writeln!(
                out,
                "  m{m} -> m{i} [style=dotted, color=\"#888888\", fontcolor=\"#888888\", arrowhead=open{label}];"
            )?;
        }
    }
    writeln!(out, "}}")
}

fn write_node(g: &FlowGraph, out: &mut String, id: usize, indent: &str) -> fmt::Result {
    let Some(node) = g.dag.node_weight(super::NodeId::new(id)) else {
        return Ok(());
    };
    let mut label = format!("{}\n{}", node.name, node_detail(g, node));
    let calls = node_calls(g, node);
    if !calls.is_zero() {
        label.push_str(&format!("\n{calls} {}", calls.noun()));
    }
    writeln!(
        out,
        "{indent}n{id} [{}, label={}];",
        node_style(node),
        quote(&label)
    )
}

fn node_style(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Input { .. } => "shape=invhouse, style=filled, fillcolor=\"#e8f4e8\"",
        NodeKind::Output(_) => "shape=house, style=filled, fillcolor=\"#e8f4e8\"",
        NodeKind::Ask { .. } | NodeKind::Ensemble { .. }
            if describe::is_multi_sample(&node.kind) =>
        {
            "shape=box3d, style=filled, fillcolor=\"#dde8f8\""
        }
        NodeKind::Ask { .. } | NodeKind::Ensemble { .. } => {
            "shape=box, style=\"rounded,filled\", fillcolor=\"#dde8f8\""
        }
        NodeKind::Map { .. } => "shape=box, peripheries=2, style=filled, fillcolor=\"#dde8f8\"",
        NodeKind::Record(_) => "shape=folder",
        NodeKind::Pure(_) => "shape=box",
    }
}

/// A DOT quoted string. Line breaks become centred `\n` breaks; a backslash
/// is doubled so user text cannot form a DOT escape like `\N` or `\l`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::SectionInfo;
    use crate::graph::dot_check::check_dot;
    use crate::graph::testkit;
    use crate::syntax::Span;

    #[test]
    fn guardrails_dot_snapshot() {
        insta::assert_snapshot!(to_dot(&testkit::guardrails()));
    }

    #[test]
    fn guardrails_shows_votes_guards_models_and_costs() {
        let dot = to_dot(&testkit::guardrails());
        assert!(
            dot.contains(r#"label="unsafe\nask moderator ×5 by majority\n5 calls""#),
            "{dot}"
        );
        assert!(dot.contains("subgraph cluster_0 {"), "{dot}");
        assert!(dot.contains(r#"label="if false""#), "{dot}");
        assert!(dot.contains("shape=invhouse"), "{dot}");
        assert!(dot.contains("shape=house"), "{dot}");
        assert!(dot.contains("shape=cylinder"), "{dot}");
        assert!(
            dot.contains(r#"label="5 nodes, worst case 7 LLM calls, longest chain 2 calls""#),
            "{dot}"
        );
        // Both section members sit inside the cluster, the rest outside.
        let cluster = dot
            .split("subgraph cluster_0 {")
            .nth(1)
            .and_then(|c| c.split("  }").next());
        let cluster = cluster.unwrap_or_default();
        assert!(
            cluster.contains("n1 [") && cluster.contains("n2 ["),
            "{dot}"
        );
        assert!(
            !cluster.contains("n0 [") && !cluster.contains("n3 ["),
            "{dot}"
        );
        check_dot(&dot);
    }

    #[test]
    fn every_example_graph_renders() {
        for g in [
            testkit::guardrails(),
            testkit::chain(),
            testkit::mapped(),
            testkit::ensemble(),
        ] {
            if let Some(svg) = check_dot(&to_dot(&g)) {
                assert!(svg.contains("<svg"), "{svg}");
            }
        }
    }

    #[test]
    fn map_and_ensemble_labels_count_calls() {
        let dot = to_dot(&testkit::mapped());
        assert!(
            dot.contains(r#"summaries\nfor x in items\n3 × len(items) calls"#),
            "{dot}"
        );
        assert!(
            dot.contains(r#"fixed\nfor y in [\"a\", \"b\"]\n2 calls"#),
            "{dot}"
        );
        assert!(
            dot.contains(r#"best\nask m ×2 by judge j\n3 calls"#),
            "{dot}"
        );
        assert!(dot.contains(r#"label="judge""#), "{dot}");
        let dot = to_dot(&testkit::ensemble());
        assert!(
            dot.contains(r#"vulnerable\n3 voters ×3 by at_least 4\n9 calls"#),
            "{dot}"
        );
        // Nested clusters: `vulnerable` inside `checks`.
        let checks = dot.find("subgraph cluster_0").unwrap_or(usize::MAX);
        let inner = dot.find("subgraph cluster_1").unwrap_or(0);
        assert!(checks < inner, "{dot}");
        assert!(
            dot.contains(r#"label="checks""#) && dot.contains(r#"label="vulnerable""#),
            "{dot}"
        );
    }

    #[test]
    fn no_secret_reaches_the_output() {
        let dot = to_dot(&testkit::mapped());
        assert!(
            !dot.contains("sk-secret") && !dot.contains("key=abc") && !dot.contains("user:"),
            "{dot}"
        );
        assert!(dot.contains("proxy.example.com/v1"), "{dot}");
    }

    #[test]
    fn hostile_text_is_escaped() {
        let g = testkit::hostile();
        let dot = to_dot(&g);
        // Without graphviz this checks only that no quote escapes its string.
        let Some(svg) = check_dot(&dot) else { return };
        // The text survives as text, written as `.flow` would write it:
        // quotes and backslashes escaped, `\N` not expanded to a node name.
        let shown = r#">output = &quot;say \&quot;hi\&quot; \\N \\l &lt;b&gt;\{\}&lt;/b…<"#;
        assert!(svg.contains(shown), "{svg}");
        assert!(svg.contains("a|&quot;b"), "{svg}");
    }

    #[test]
    fn broken_section_parents_do_not_loop() {
        let mut g = testkit::guardrails();
        g.sections = vec![
            SectionInfo {
                name: None,
                span: Span::default(),
                parent: Some(1),
                function: None,
            },
            SectionInfo {
                name: None,
                span: Span::default(),
                parent: Some(0),
                function: None,
            },
            SectionInfo {
                name: None,
                span: Span::default(),
                parent: Some(7),
                function: None,
            },
        ];
        check_dot(&to_dot(&g));
    }

    #[test]
    fn quote_escapes_dot_specials() {
        assert_eq!(quote("a\"b\\c\nd\re\u{1}"), r#""a\"b\\c\nde ""#);
    }

    #[test]
    fn a_routed_models_members_point_at_it() {
        use crate::model::{ProviderKind, Route, RouteKind};
        let mut b = testkit::Builder::new();
        b.model("a", ProviderKind::Mock, None);
        b.model("b", ProviderKind::Mock, None);
        for (name, kind) in [
            ("smart", RouteKind::Fallback),
            ("spread", RouteKind::RoundRobin),
        ] {
            b.model(name, ProviderKind::Mock, None).options.route = Some(Route {
                kind,
                members: vec!["b".into(), "a".into()],
            });
        }
        let dot = to_dot(&b.finish());
        // Tried `b` first, then `a`; a round-robin's members are unnumbered.
        assert!(dot.contains(r##"m1 -> m2 [style=dotted, color="#888888", fontcolor="#888888", arrowhead=open, label="1"];"##), "{dot}");
        assert!(dot.contains(r##"m0 -> m2 [style=dotted, color="#888888", fontcolor="#888888", arrowhead=open, label="2"];"##), "{dot}");
        assert!(dot.contains(r##"m1 -> m3 [style=dotted, color="#888888", fontcolor="#888888", arrowhead=open];"##), "{dot}");
        assert!(dot.contains(r##"m0 -> m3 [style=dotted"##), "{dot}");
        check_dot(&dot);
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(to_dot(&testkit::ensemble()), to_dot(&testkit::ensemble()));
    }
}

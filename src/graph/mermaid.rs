//! The graph as a Mermaid flowchart (`flow graph --format mermaid`), for
//! pasting into Markdown that GitHub and most wikis render.
//!
//! Same order and the same words as the DOT rendering. Labels are always
//! quoted and every character Mermaid treats specially inside them is written
//! as an entity code, so prompt text cannot end a label or inject markup.

use std::fmt::{self, Write};

use super::clusters::{self, Step};
use super::describe::{
    edges_in_order, guard_label, is_multi_sample, model_detail, models_used, node_detail,
};
use super::stats::{node_calls, summary};
use super::{EdgeKind, FlowGraph, NodeId, NodeKind};

/// The graph as a Mermaid `flowchart`, with the same labels as [`to_dot`](super::dot::to_dot).
pub fn to_mermaid(g: &FlowGraph) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_mermaid(g, &mut out);
    out
}

fn write_mermaid(g: &FlowGraph, out: &mut String) -> fmt::Result {
    writeln!(out, "---")?;
    writeln!(out, "title: {}", yaml_quote(&summary(g).to_string()))?;
    writeln!(out, "---")?;
    writeln!(out, "flowchart TD")?;
    for (i, (name, spec)) in g.models.iter().enumerate() {
        let label = format!("model {name}\n{}", model_detail(spec));
        writeln!(out, "  m{i}[(\"{}\")]:::declared", text(&label))?;
    }
    for step in clusters::walk(g) {
        let indent = step.indent();
        match step {
            Step::Node { id, .. } => write_node(g, out, id, &indent)?,
            Step::Open { section, label, .. } => {
                let label = match g.sections.get(section).and_then(|s| s.function.as_deref()) {
                    Some(function) => format!("fn {function}"),
                    None => label.to_string(),
                };
                writeln!(out, "{indent}subgraph s{section} [\"{}\"]", text(&label))?;
            }
            Step::Close { .. } => writeln!(out, "{indent}end")?,
        }
    }

    for (from, to, edge) in edges_in_order(g) {
        match edge.kind {
            EdgeKind::Data => writeln!(out, "  n{from} -->|\"{}\"| n{to}", text(&edge.label))?,
            EdgeKind::Guard => {
                let label = guard_label(g, from, to);
                writeln!(out, "  n{from} -.->|\"{}\"| n{to}", text(&label))?;
            }
        }
    }
    for (i, node) in g.dag.node_weights().enumerate() {
        for used in models_used(node) {
            let Some(m) = g.models.get_index_of(used.model) else {
                continue;
            };
            if used.judge {
                writeln!(out, "  m{m} -.->|\"judge\"| n{i}")?;
            } else {
                writeln!(out, "  m{m} -.-> n{i}")?;
            }
        }
    }
    writeln!(out, "  classDef declared fill:#f2f2f2,stroke:#888888")?;
    writeln!(out, "  classDef io fill:#e8f4e8")?;
    writeln!(out, "  classDef llm fill:#dde8f8")?;
    Ok(())
}

fn write_node(g: &FlowGraph, out: &mut String, id: usize, indent: &str) -> fmt::Result {
    let Some(node) = g.dag.node_weight(NodeId::new(id)) else {
        return Ok(());
    };
    let mut label = format!("{}\n{}", node.name, node_detail(g, node));
    let calls = node_calls(g, node);
    if !calls.is_zero() {
        label.push_str(&format!("\n{calls} {}", calls.noun()));
    }
    let label = text(&label);
    let shaped = match &node.kind {
        NodeKind::Input { .. } => format!("[/\"{label}\"/]:::io"),
        NodeKind::Output(_) => format!("[/\"{label}\"\\]:::io"),
        NodeKind::Ask { .. } | NodeKind::Ensemble { .. } if is_multi_sample(&node.kind) => {
            format!("[[\"{label}\"]]:::llm")
        }
        NodeKind::Ask { .. } | NodeKind::Ensemble { .. } => format!("(\"{label}\"):::llm"),
        NodeKind::Map { .. } => format!("{{{{\"{label}\"}}}}:::llm"),
        NodeKind::Pure(_) | NodeKind::Record(_) => format!("[\"{label}\"]"),
    };
    writeln!(out, "{indent}n{id}{shaped}")
}

/// Text for inside a quoted Mermaid label: line breaks as `<br>`, and every
/// character that could end the label, start an entity, or be read as HTML
/// or Markdown, as an entity code.
pub(crate) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("<br>"),
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '|' => out.push_str("#124;"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A YAML double-quoted scalar, for the front-matter title.
fn yaml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
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
    use crate::graph::testkit;

    #[test]
    fn guardrails_is_a_flowchart_with_a_section_subgraph() {
        let m = to_mermaid(&testkit::guardrails());
        assert!(m.starts_with("---\ntitle: \"5 nodes, worst case 7 LLM calls, longest chain 2 calls\"\n---\nflowchart TD\n"), "{m}");
        assert!(
            m.contains(
                "  subgraph s0 [\"section\"]\n    n1(\"reply<br>ask assistant<br>1 call\"):::llm\n"
            ),
            "{m}"
        );
        assert!(
            m.contains("n2[[\"unsafe<br>ask moderator ×5 by majority<br>5 calls\"]]:::llm"),
            "{m}"
        );
        assert!(m.contains("n0[/\"query<br>input: text\"/]:::io"), "{m}");
        assert!(m.contains("n2 -.->|\"if false\"| n3"), "{m}");
        assert!(m.contains("n0 -->|\"query\"| n1"), "{m}");
        assert!(m.contains("m1 -.-> n2"), "{m}");
        assert!(
            m.contains("m0[(\"model assistant<br>openai gpt-4o-mini\")]:::declared"),
            "{m}"
        );
        // The output's label quotes a string: its quotes must be entities.
        assert!(m.contains("then #quot;Sorry, I can't…"), "{m}");
        assert_eq!(
            m.matches("subgraph").count(),
            m.lines().filter(|l| l.trim() == "end").count()
        );
    }

    #[test]
    fn nested_sections_nest_subgraphs() {
        let m = to_mermaid(&testkit::ensemble());
        assert!(
            m.contains("  subgraph s0 [\"checks\"]\n    n2(\"style<br>ask strict<br>1 call\"):::llm\n    subgraph s1 [\"vulnerable\"]\n      n1[[\"vulnerable<br>3 voters ×3 by at_least 4<br>9 calls\"]]:::llm\n    end\n  end\n"),
            "{m}"
        );
    }

    #[test]
    fn maps_are_hexagons_with_symbolic_counts() {
        let m = to_mermaid(&testkit::mapped());
        assert!(
            m.contains("n1{{\"summaries<br>for x in items<br>3 × len(items) calls\"}}:::llm"),
            "{m}"
        );
        assert!(m.contains("m1 -.->|\"judge\"| n3"), "{m}");
        assert!(!m.contains("sk-secret") && !m.contains("key=abc"), "{m}");
    }

    #[test]
    fn hostile_names_and_text_stay_inside_labels() {
        let m = to_mermaid(&testkit::hostile());
        assert!(m.contains("  subgraph s0 [\"s\\#quot;} end ]\"]\n"), "{m}");
        assert!(
            m.contains("    n1(\"a#124;#quot;b<br>ask m#quot;x<br>1 call\"):::llm\n"),
            "{m}"
        );
        assert!(m.contains("  n1 -->|\"a#124;#quot;b\"| n2\n"), "{m}");
        assert!(m.contains("#lt;b#gt;"), "{m}");
        assert!(!m.contains("<b>") && !m.contains("`md`"), "{m}");
    }

    #[test]
    fn label_text_cannot_escape_its_quotes() {
        assert_eq!(
            text("a\"b]<i>#1 & `c` | d\ne"),
            "a#quot;b]#lt;i#gt;#35;1 #amp; #96;c#96; #124; d<br>e"
        );
        assert_eq!(yaml_quote("a\"b\\c\n"), "\"a\\\"b\\\\c \"");
    }
}

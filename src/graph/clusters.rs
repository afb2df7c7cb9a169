//! The one walk over nodes and the sections that contain them, shared by
//! every rendering that draws sections as nested boxes (DOT, Mermaid), so
//! the renderings cannot disagree about what sits inside what.

use super::FlowGraph;

/// One step of the walk, in drawing order. `depth` is the nesting level the
/// step is drawn at, 1 for the top level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step<'g> {
    /// Draw node `id` (its index in the graph).
    Node { id: usize, depth: usize },
    /// Open the box of `section`, labelled with its name.
    Open {
        section: usize,
        label: &'g str,
        depth: usize,
    },
    /// Close the box opened last at this depth.
    Close { depth: usize },
}

impl Step<'_> {
    /// Two spaces a level, as both renderings indent.
    pub fn indent(&self) -> String {
        let (Step::Node { depth, .. } | Step::Open { depth, .. } | Step::Close { depth }) = self;
        "  ".repeat(*depth)
    }
}

/// Every node and section box in drawing order: the nodes outside any
/// section first, by index, then each top-level section with its member
/// nodes and, after them, its child sections.
pub(crate) fn walk(g: &FlowGraph) -> Vec<Step<'_>> {
    let layout = Clusters::new(g);
    let mut steps = Vec::with_capacity(g.dag.node_count() + 2 * g.sections.len());
    steps.extend(
        layout
            .top_nodes
            .iter()
            .map(|&id| Step::Node { id, depth: 1 }),
    );
    for &root in &layout.roots {
        walk_section(g, &layout, root, 1, &mut steps);
    }
    steps
}

fn walk_section<'g>(
    g: &'g FlowGraph,
    layout: &Clusters,
    section: usize,
    depth: usize,
    steps: &mut Vec<Step<'g>>,
) {
    let label = g
        .sections
        .get(section)
        .and_then(|s| s.name.as_deref())
        .unwrap_or("section");
    steps.push(Step::Open {
        section,
        label,
        depth,
    });
    for &id in layout.members.get(section).into_iter().flatten() {
        steps.push(Step::Node {
            id,
            depth: depth + 1,
        });
    }
    for &child in layout.children.get(section).into_iter().flatten() {
        walk_section(g, layout, child, depth + 1, steps);
    }
    steps.push(Step::Close { depth });
}

/// Which nodes and sections are drawn inside which section. Sections with a
/// parent that does not exist, or that sit on a parent cycle (a bug in the
/// lowering, but no reason to loop forever), are drawn at the top level, so
/// every section is visited exactly once.
struct Clusters {
    top_nodes: Vec<usize>,
    roots: Vec<usize>,
    members: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
}

impl Clusters {
    fn new(g: &FlowGraph) -> Clusters {
        let n = g.sections.len();
        let mut members = vec![Vec::new(); n];
        let mut top_nodes = Vec::new();
        for (i, node) in g.dag.node_weights().enumerate() {
            match node.section.and_then(|s| members.get_mut(s)) {
                Some(m) => m.push(i),
                None => top_nodes.push(i),
            }
        }
        let mut children = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (i, s) in g.sections.iter().enumerate() {
            let parent = s.parent.filter(|p| *p < n && !reaches(g, *p, i));
            match parent.and_then(|p| children.get_mut(p)) {
                Some(c) => c.push(i),
                None => roots.push(i),
            }
        }
        Clusters {
            top_nodes,
            roots,
            members,
            children,
        }
    }
}

/// Whether `target` is `from` or one of its ancestors.
fn reaches(g: &FlowGraph, from: usize, target: usize) -> bool {
    let mut at = Some(from);
    for _ in 0..=g.sections.len() {
        match at {
            Some(s) if s == target => return true,
            Some(s) => at = g.sections.get(s).and_then(|s| s.parent),
            None => return false,
        }
    }
    // Walked further than there are sections: a cycle above `from`.
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::testkit::Builder;
    use crate::graph::{NodeKind, SectionInfo};
    use crate::syntax::Span;
    use crate::types::Type;

    fn pure(b: &mut Builder, name: &str) {
        b.node(
            name,
            Type::Text,
            NodeKind::Pure(crate::graph::testkit::text("x")),
        );
    }

    #[test]
    fn nested_sections_open_hold_their_members_and_close_in_order() {
        let mut b = Builder::new();
        pure(&mut b, "top");
        b.open_section(Some("outer"));
        pure(&mut b, "a");
        b.open_section(None);
        pure(&mut b, "b");
        b.close_section();
        b.close_section();
        let g = b.finish();
        assert_eq!(
            walk(&g),
            vec![
                Step::Node { id: 0, depth: 1 },
                Step::Open {
                    section: 0,
                    label: "outer",
                    depth: 1
                },
                Step::Node { id: 1, depth: 2 },
                Step::Open {
                    section: 1,
                    label: "section",
                    depth: 2
                },
                Step::Node { id: 2, depth: 3 },
                Step::Close { depth: 2 },
                Step::Close { depth: 1 },
            ]
        );
    }

    #[test]
    fn broken_parents_are_drawn_once_at_the_top() {
        let mut b = Builder::new();
        pure(&mut b, "a");
        let mut g = b.finish();
        let section = |parent| SectionInfo {
            name: None,
            span: Span::default(),
            parent,
            function: None,
        };
        // 0 and 1 are each other's parent; 2's parent does not exist.
        g.sections = vec![section(Some(1)), section(Some(0)), section(Some(7))];
        let opened: Vec<usize> = walk(&g)
            .into_iter()
            .filter_map(|s| match s {
                Step::Open { section, .. } => Some(section),
                _ => None,
            })
            .collect();
        let mut sorted = opened.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2], "every section once: {opened:?}");
    }
}

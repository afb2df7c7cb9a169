//! Test support: is this DOT what graphviz accepts? Shared by the unit tests
//! and the integration tests (`tests/main.rs` includes this file), so both
//! check DOT the same way.
//!
//! A Rust DOT parser checks the syntax in every run, so `cargo test` passes
//! on a machine without graphviz and still catches a broken quote or brace.
//! Where `dot` is installed the text is also rendered for real, since only
//! graphviz knows its attributes and escapes; `FLOW_REQUIRE_DOT=1` (set by
//! `.ci/run`) makes a missing `dot` a failure, so CI cannot pass without
//! rendering.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Panics unless `dot` parses, and unless graphviz renders it without a
/// warning where graphviz is installed. Returns the SVG when it rendered.
pub fn check_dot(dot: &str) -> Option<String> {
    if let Err(e) = graphviz_rust::parse(dot) {
        panic!("not valid DOT: {e}\n{dot}");
    }
    render_svg(dot)
}

/// Whether a missing `dot` must fail the test instead of skipping the render.
fn dot_required() -> bool {
    std::env::var_os("FLOW_REQUIRE_DOT").is_some_and(|v| v == "1")
}

/// `dot -Tsvg` on the text; `None` when graphviz is not installed and not
/// required.
fn render_svg(dot: &str) -> Option<String> {
    let spawned = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dot_required() => return None,
        Err(e) => panic!(
            "graphviz `dot` could not be run ({e}); FLOW_REQUIRE_DOT=1 requires it \
             (apt-get install graphviz)"
        ),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(dot.as_bytes())
        .expect("write to dot");
    let out = child.wait_with_output().expect("dot runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "dot rejected the graph: {stderr}\n{dot}"
    );
    assert!(stderr.trim().is_empty(), "dot warned: {stderr}\n{dot}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "not valid DOT")]
    fn an_unclosed_brace_is_caught_without_graphviz() {
        check_dot("digraph flow {\n  n0 [label=\"a\"];\n");
    }

    #[test]
    #[should_panic(expected = "not valid DOT")]
    fn an_unescaped_quote_is_caught_without_graphviz() {
        check_dot("digraph flow {\n  n0 [label=\"say \"hi\"\"];\n}\n");
    }

    #[test]
    fn flow_style_dot_parses() {
        check_dot(
            "digraph flow {\n  graph [rankdir=TB, label=\"a\\nb ×5\"];\n  subgraph cluster_0 {\n    \
             label=\"s\"; style=\"rounded,dashed\";\n    n1 [shape=box];\n  }\n  n0 -> n1 [label=\"q\"];\n}\n",
        );
    }
}

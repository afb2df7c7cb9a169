//! `flow graph`: the checked program as DOT, Mermaid or JSON.

use std::path::Path;

use super::args::GraphFormat;
use super::report::Style;
use super::{exit, print_stderr, print_stdout, source};

pub fn run(path: &Path, format: GraphFormat, output: Option<&Path>, style: Style) -> u8 {
    let graph = match source::load(path, "draw its graph", style) {
        Ok((_, graph)) => graph,
        Err(code) => return code,
    };
    let text = match format {
        GraphFormat::Dot => crate::graph::dot::to_dot(&graph),
        GraphFormat::Mermaid => crate::graph::mermaid::to_mermaid(&graph),
        GraphFormat::Json => {
            let mut s = serde_json::to_string_pretty(&crate::graph::json::to_json(&graph))
                .unwrap_or_default();
            s.push('\n');
            s
        }
    };
    match output {
        None => print_stdout(&text),
        Some(out) => {
            if let Err(e) = std::fs::write(out, &text) {
                print_stderr(&format!(
                    "error: cannot write `{}`: {}\n",
                    out.display(),
                    source::io_reason(&e)
                ));
                return exit::FAILURE;
            }
        }
    }
    exit::OK
}

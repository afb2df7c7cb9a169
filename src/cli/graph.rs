//! `flow graph`: the checked program as DOT, Mermaid or JSON.

use std::path::Path;

use super::args::GraphFormat;
use super::source;
use super::terminal::{Failure, Terminal};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot write `{path}`: {reason}")]
#[diagnostic(
    code(flow::io::unwritable),
    help("check that the folder exists and is writable")
)]
struct Unwritable {
    path: String,
    reason: String,
}

pub fn run(
    path: &Path,
    format: GraphFormat,
    output: Option<&Path>,
    term: &mut Terminal,
) -> Result<(), Failure> {
    let program = source::load(path, "draw its graph", term)?;
    let graph = program.graph();
    let text = match format {
        GraphFormat::Dot => crate::graph::dot::to_dot(graph),
        GraphFormat::Mermaid => crate::graph::mermaid::to_mermaid(graph),
        GraphFormat::Json => {
            let mut s = serde_json::to_string_pretty(&crate::graph::json::to_json(graph))
                .unwrap_or_default();
            s.push('\n');
            s
        }
    };
    match output {
        None => term.out(&text),
        Some(out) => std::fs::write(out, &text).map_err(|e| {
            Failure::run(
                Unwritable {
                    path: out.display().to_string(),
                    reason: crate::text::io_reason(&e),
                },
                None,
            )
        })?,
    }
    Ok(())
}

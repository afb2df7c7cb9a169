//! `flow graph`: the checked program as DOT, Mermaid or JSON, or as an
//! image drawn by Graphviz's `dot` when `-o` names one.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::args::GraphFormat;
use super::source;
use super::terminal::{Failure, Terminal};

/// Extensions `-o` renders through `dot` rather than writing text.
const IMAGES: [&str; 3] = ["svg", "png", "pdf"];

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum GraphError {
    #[error("cannot write `{path}`: {reason}")]
    #[diagnostic(
        code(flow::io::unwritable),
        help("check that the folder exists and is writable")
    )]
    Unwritable { path: String, reason: String },

    #[error("writing `{path}` as an image needs Graphviz's `dot`, which was not found")]
    #[diagnostic(
        code(flow::graph::no_dot),
        help(
            "install Graphviz (it provides `dot`), or write the DOT text with `-o {stem}.dot` and render it elsewhere"
        )
    )]
    NoDot { path: String, stem: String },

    #[error("`dot` could not render `{path}`: {reason}")]
    #[diagnostic(
        code(flow::graph::dot_failed),
        help("this is likely a bug in flow's DOT; write it with `-o FILE.dot` and report it")
    )]
    DotFailed { path: String, reason: String },

    #[error("`--format {format}` cannot be drawn as an image (`{path}`)")]
    #[diagnostic(
        code(flow::graph::image_format),
        help("images are drawn from DOT: leave out `--format`, or give `-o` a `.{format}` file")
    )]
    ImageFormat { format: &'static str, path: String },
}

pub fn run(
    path: &Path,
    format: GraphFormat,
    output: Option<&Path>,
    term: &mut Terminal,
) -> Result<(), Failure> {
    let program = source::load(path, "draw its graph", term)?;
    let graph = program.graph();
    let image = output.and_then(image_kind);
    if let (Some(out), Some(_), false) = (output, image, matches!(format, GraphFormat::Dot)) {
        return Err(Failure::run(
            GraphError::ImageFormat {
                format: format_name(format),
                path: out.display().to_string(),
            },
            None,
        ));
    }
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
    match (output, image) {
        (None, _) => term.out(&text),
        (Some(out), Some(kind)) => {
            render_image(&text, kind, out).map_err(|e| Failure::run(e, None))?
        }
        (Some(out), None) => std::fs::write(out, &text).map_err(|e| {
            Failure::run(
                GraphError::Unwritable {
                    path: out.display().to_string(),
                    reason: crate::text::io_reason(&e),
                },
                None,
            )
        })?,
    }
    Ok(())
}

fn format_name(format: GraphFormat) -> &'static str {
    match format {
        GraphFormat::Dot => "dot",
        GraphFormat::Mermaid => "mermaid",
        GraphFormat::Json => "json",
    }
}

/// `svg`, `png` or `pdf` when the file's extension asks for an image.
fn image_kind(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    IMAGES.into_iter().find(|i| *i == ext)
}

/// `dot -TKIND -o OUT`, fed the DOT text on its standard input.
fn render_image(dot: &str, kind: &str, out: &Path) -> Result<(), GraphError> {
    let shown = out.display().to_string();
    let child = Command::new("dot")
        .arg(format!("-T{kind}"))
        .arg("-o")
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let stem = out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "graph".into());
            return Err(GraphError::NoDot { path: shown, stem });
        }
        Err(e) => {
            return Err(GraphError::DotFailed {
                path: shown,
                reason: crate::text::io_reason(&e),
            });
        }
    };
    let fed = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(dot.as_bytes()))
        .unwrap_or(Ok(()));
    let done = child.wait_with_output();
    match done {
        Ok(o) if o.status.success() && fed.is_ok() => Ok(()),
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stderr).trim().to_string();
            // `dot` names the file it could not write; say so in our words.
            let reason = if said.is_empty() {
                format!("it exited with {}", o.status)
            } else {
                crate::text::shorten(&said, 300)
            };
            Err(GraphError::DotFailed {
                path: shown,
                reason,
            })
        }
        Err(e) => Err(GraphError::DotFailed {
            path: shown,
            reason: crate::text::io_reason(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_11_image_extensions_are_drawn_and_others_are_text() {
        assert_eq!(image_kind(Path::new("g.svg")), Some("svg"));
        assert_eq!(image_kind(Path::new("g.PNG")), Some("png"));
        assert_eq!(image_kind(Path::new("g.pdf")), Some("pdf"));
        assert_eq!(image_kind(Path::new("g.dot")), None);
        assert_eq!(image_kind(Path::new("graph")), None);
    }
}

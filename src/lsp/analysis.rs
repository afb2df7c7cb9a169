//! One document, compiled: what every request about it reads.
//!
//! An analysis is built once per version of the text (after the debounce)
//! and shared by every request until the next: parse with recovery, check
//! keeping the graph even when there are errors, the symbol index, the line
//! index, and the diagnostics already in the protocol's shape.

use lsp_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, Uri,
};
use miette::Severity;

use super::index::Index;
use super::line_index::LineIndex;
use crate::graph::FlowGraph;
use crate::syntax::Span;
use crate::syntax::ast::Program;

pub struct Analysis {
    pub text: String,
    pub lines: LineIndex,
    /// The statements that parsed; `None` only after an internal error.
    pub program: Option<Program>,
    /// Lowered from what parsed, errors or not.
    pub graph: Option<FlowGraph>,
    pub index: Index,
    pub diagnostics: Vec<Diagnostic>,
    /// The graph node of each symbol that has one, by symbol id.
    nodes: Vec<Option<crate::graph::NodeId>>,
}

impl Analysis {
    /// Compiles `text` (the document at `uri`); `errors_url` is where
    /// docs/errors.md is, which every code links into.
    pub fn new(uri: &Uri, text: String, errors_url: &str) -> Analysis {
        let lines = LineIndex::new(&text);
        // Imports are read from disk beside the document, as `flow check`
        // reads them; a document that is not a file imports from the
        // current folder.
        let name = file_path(uri).unwrap_or_default();
        let gathered = crate::import::gather(&name, &text, &crate::import::FsLoader);
        let mut bag = gathered.diagnostics;
        let mut graph = None;
        let mut index = Index::default();
        let mut own = gathered.program;
        if let Some(program) = &mut own {
            let (g, diagnostics) = crate::check::check_keeping_graph(program, &gathered.gaps);
            for d in crate::import::dedup_imported(diagnostics, text.len()) {
                bag.push_boxed(d);
            }
            graph = Some(g);
            // The document's own statements come first; the imported ones,
            // appended after them, are written in other files.
            let mine = program
                .items
                .partition_point(|i| i.span().start <= text.len());
            program.items.truncate(mine);
            index = Index::build(program);
        }
        bag.sort();
        let mut diagnostics = Vec::with_capacity(bag.len());
        for d in bag.iter() {
            // A mistake inside an imported file shows when that file is open.
            let at = d.labels().and_then(|mut l| l.next()).map(|l| l.offset());
            if at.is_some_and(|o| o > text.len()) {
                continue;
            }
            convert(d.as_ref(), uri, &text, &lines, errors_url, &mut diagnostics);
        }
        let nodes = symbol_nodes(graph.as_ref(), &index);
        Analysis {
            text,
            lines,
            program: own,
            graph,
            index,
            diagnostics,
            nodes,
        }
    }

    /// The graph node a symbol was lowered to (a declaration's own node).
    pub fn node(&self, symbol: usize) -> Option<&crate::graph::Node> {
        let id = (*self.nodes.get(symbol)?)?;
        self.graph.as_ref()?.dag.node_weight(id)
    }

    pub fn range(&self, span: Span) -> lsp_types::Range {
        self.lines.range(&self.text, span)
    }

    pub fn offset(&self, pos: lsp_types::Position) -> usize {
        self.lines.offset(&self.text, pos)
    }

    /// The source text of a span (empty if it is not one of this text's).
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }
}

/// Each symbol's node: the node of the same name written at the same span
/// (lowering names a declaration's node after it), found by one map.
fn symbol_nodes(graph: Option<&FlowGraph>, index: &Index) -> Vec<Option<crate::graph::NodeId>> {
    let Some(g) = graph else {
        return vec![None; index.symbols.len()];
    };
    let mut by_span: std::collections::HashMap<(Span, &str), crate::graph::NodeId> =
        std::collections::HashMap::with_capacity(g.dag.node_count());
    for id in g.dag.node_indices() {
        let n = &g.dag[id];
        by_span.entry((n.span, n.name.as_str())).or_insert(id);
    }
    index
        .symbols
        .iter()
        .map(|s| by_span.get(&(s.span, s.full_name.as_str())).copied())
        .collect()
}

/// The file a `file://` URI names, percent-escapes decoded.
fn file_path(uri: &Uri) -> Option<String> {
    if !uri
        .scheme()
        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("file"))
    {
        return None;
    }
    let raw = uri.path().as_str().as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (raw[i], raw.get(i + 1).copied(), raw.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The anchor GitHub and most Markdown renderers give the heading `### CODE`:
/// `flow::check::cycle` → `flowcheckcycle`.
pub fn anchor(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// One miette diagnostic (and those it relates) in the protocol's shape:
/// the primary label's span as the range, every other label as related
/// information, the help line after the message.
fn convert(
    d: &dyn miette::Diagnostic,
    uri: &Uri,
    text: &str,
    lines: &LineIndex,
    errors_url: &str,
    out: &mut Vec<Diagnostic>,
) {
    let labels: Vec<miette::LabeledSpan> = d.labels().map(|l| l.collect()).unwrap_or_default();
    let primary = labels
        .iter()
        .find(|l| l.primary())
        .or_else(|| labels.first());
    let span = |l: &miette::LabeledSpan| Span::new(l.offset(), l.offset() + l.len());
    let range = primary
        .map(|l| lines.range(text, span(l)))
        .unwrap_or_default();
    let mut message = d.to_string();
    if let Some(label) = primary.and_then(|l| l.label())
        && !label.is_empty()
    {
        message.push_str(": ");
        message.push_str(label);
    }
    if let Some(help) = d.help() {
        message.push_str("\nhelp: ");
        message.push_str(&help.to_string());
    }
    let code = d.code().map(|c| c.to_string());
    let code_description = code.as_ref().and_then(|c| {
        format!("{errors_url}#{}", anchor(c))
            .parse::<Uri>()
            .ok()
            .map(|href| CodeDescription { href })
    });
    let related: Vec<DiagnosticRelatedInformation> = labels
        .iter()
        .filter(|l| primary.is_none_or(|p| !std::ptr::eq(*l, p)))
        .map(|l| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), lines.range(text, span(l))),
            message: l.label().unwrap_or("here").to_string(),
        })
        .collect();
    let severity = match d.severity() {
        None | Some(Severity::Error) => DiagnosticSeverity::ERROR,
        Some(Severity::Warning) => DiagnosticSeverity::WARNING,
        Some(Severity::Advice) => DiagnosticSeverity::HINT,
    };
    out.push(Diagnostic {
        range,
        severity: Some(severity),
        code: code.map(NumberOrString::String),
        code_description,
        source: Some("flow".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    });
    if let Some(related) = d.related() {
        for r in related {
            convert(r, uri, text, lines, errors_url, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri() -> Uri {
        "file:///t.flow".parse().unwrap()
    }

    #[test]
    fn anchors_match_the_headings() {
        assert_eq!(
            anchor("flow::check::undefined_name"),
            "flowcheckundefined_name"
        );
    }

    #[test]
    fn every_diagnostic_has_its_code_and_link() {
        let text = "model m = mock()\nx = ask m \"{nope}\"\ny = 1 +\noutput x\n";
        let a = Analysis::new(&uri(), text.to_string(), "https://example.com/errors.md");
        assert!(a.diagnostics.len() >= 2, "{:?}", a.diagnostics);
        for d in &a.diagnostics {
            let Some(NumberOrString::String(code)) = &d.code else {
                panic!("no code: {d:?}")
            };
            let href = d.code_description.as_ref().unwrap().href.as_str();
            assert_eq!(
                href,
                format!("https://example.com/errors.md#{}", anchor(code))
            );
        }
        assert!(a.graph.is_some());
    }

    /// A document that imports a file beside it is checked with it, as
    /// `flow check` would: no "unknown namespace", and the imported
    /// function's calls are counted; a mistake inside the imported file is
    /// not shown on this document.
    #[test]
    fn imports_are_read_beside_the_document() {
        let dir = std::env::temp_dir().join(format!("flow-lsp-import {}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("lib.flow"),
            "model judge = mock(reply: \"no\")\nfn flagged(t: text) = ask judge \"bad? {t}\" as bool vote 3 by majority\nx = nope\n",
        )
        .unwrap();
        let main = dir.join("main.flow");
        let text = "import \"./lib.flow\" as lib\ninput q: text\noutput bad = lib.flagged(q)\n";
        std::fs::write(&main, text).unwrap();
        let path = main.display().to_string().replace(' ', "%20");
        let uri: Uri = format!("file://{path}").parse().unwrap();
        let a = Analysis::new(&uri, text.to_string(), "https://example.com/errors.md");
        assert_eq!(a.diagnostics, [], "{:?}", a.diagnostics);
        let g = a.graph.as_ref().expect("a graph");
        assert_eq!(crate::graph::stats::summary(g).calls.fixed, 3);
        std::fs::remove_dir_all(&dir).ok();
    }
}

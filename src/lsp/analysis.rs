//! One document, compiled: what every request about it reads.
//!
//! An analysis is built once per version of the text (after the debounce)
//! and shared by every request until the next: parse with recovery (only
//! the statements an edit touched, when the text before it parsed cleanly:
//! `reparse`), check keeping the graph even when there are errors, the line
//! index and the diagnostics already in the protocol's shape; the symbol
//! index only when a request first needs it.

use lsp_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, Uri,
};
use miette::Severity;

use super::imports::{Imports, file_path};
use super::index::Index;
use super::line_index::LineIndex;
use crate::graph::FlowGraph;
use crate::syntax::Span;
use crate::syntax::ast::{Item, Program};

pub struct Analysis {
    pub text: String,
    pub lines: LineIndex,
    /// The statements that parsed; `None` only after an internal error.
    pub program: Option<Program>,
    /// The text parsed without a syntax error, so the next version may
    /// parse only what its edit touched.
    pub clean: bool,
    /// Lowered from what parsed, errors or not.
    pub graph: Option<FlowGraph>,
    pub diagnostics: Vec<Diagnostic>,
    /// The symbol index and the graph node of each symbol that has one
    /// (by symbol id): built on the first request that needs them, so a
    /// change's diagnostics go out without waiting for them.
    symbols: std::sync::OnceLock<(Index, Vec<Option<crate::graph::NodeId>>)>,
    /// The files the document imports, and what they declare.
    pub imports: Imports,
}

impl Analysis {
    /// Compiles `text` (the document at `uri`); `errors_url` is where
    /// docs/errors.md is, which every code links into. Imports are read
    /// from disk beside the document.
    #[cfg(test)]
    pub fn new(uri: &Uri, text: String, errors_url: &str) -> Analysis {
        Analysis::after_edit(uri, text, None, errors_url, &crate::import::FsLoader)
    }

    /// [`Analysis::new`] reading imports through `loader` (the editor's
    /// open documents first, say), for a new version of a document:
    /// `previous` is the text of the one before and its statements, when
    /// it parsed cleanly, so that only what the edit touched is parsed.
    pub fn after_edit(
        uri: &Uri,
        text: String,
        previous: Option<(String, Vec<Item>)>,
        errors_url: &str,
        loader: &dyn crate::import::SourceLoader,
    ) -> Analysis {
        let lines = LineIndex::new(&text);
        let parsed = previous
            .and_then(|(old, items)| super::reparse::reparse(&old, items, &text))
            .map(|program| crate::syntax::Parsed {
                program: Some(program),
                errors: Vec::new(),
                gaps: Default::default(),
            })
            .unwrap_or_else(|| crate::syntax::parse_partial(&text));
        let clean = parsed.errors.is_empty() && parsed.program.is_some();
        // Imports are read beside the document, as `flow check` reads
        // them; a document that is not a file imports from the current
        // folder.
        let name = file_path(uri).unwrap_or_default();
        let gathered = crate::import::gather_parsed(&name, &text, parsed, loader);
        let mut bag = gathered.diagnostics;
        let mut graph = None;
        let mut own = gathered.program;
        let mut imports = Imports {
            path: name,
            files: gathered.files,
            items: Vec::new(),
        };
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
            imports.items = program.items.split_off(mine);
        }
        bag.sort();
        let mut diagnostics = Vec::with_capacity(bag.len());
        let place = |span: Span| -> Option<Location> {
            if span.start <= text.len() {
                Some(Location::new(uri.clone(), lines.range(&text, span)))
            } else {
                imports.location(span)
            }
        };
        for d in bag.iter() {
            let at = d.labels().and_then(|mut l| l.next()).map(|l| l.offset());
            match at {
                // A mistake inside an imported file shows on the import
                // that brought it in (and in that file, when it is open).
                Some(o) if o > text.len() => {
                    let items = own.as_ref().map_or(&[][..], |p| &p.items[..]);
                    let Some(decl) = imports.import_leading_to(items, o) else {
                        continue;
                    };
                    let Some((file, _)) = imports.local(o) else {
                        continue;
                    };
                    let shown = std::path::Path::new(file)
                        .file_name()
                        .map_or(file.to_string(), |f| f.to_string_lossy().into_owned());
                    let their_uri = imports.location(Span::new(o, o)).map(|l| l.uri);
                    let mut inner = Vec::new();
                    convert(d.as_ref(), &place, errors_url, &mut inner);
                    for mut d in inner {
                        let at = d.range;
                        d.message = format!(
                            "in {shown}:{}:{}: {}",
                            at.start.line + 1,
                            at.start.character + 1,
                            d.message
                        );
                        let mut related = d.related_information.take().unwrap_or_default();
                        if let Some(uri) = &their_uri {
                            related.insert(
                                0,
                                DiagnosticRelatedInformation {
                                    location: Location::new(uri.clone(), at),
                                    message: "the mistake is here".into(),
                                },
                            );
                        }
                        d.related_information = Some(related);
                        d.range = lines.range(&text, decl.path_span);
                        diagnostics.push(d);
                    }
                }
                _ => convert(d.as_ref(), &place, errors_url, &mut diagnostics),
            }
        }
        Analysis {
            text,
            lines,
            program: own,
            clean,
            graph,
            diagnostics,
            symbols: std::sync::OnceLock::new(),
            imports,
        }
    }

    /// The text and its statements, when it parsed cleanly, moved out for
    /// the next version's parse (`reparse`); what is left answers nothing.
    pub fn take_syntax(&mut self) -> Option<(String, Vec<Item>)> {
        if !self.clean {
            return None;
        }
        let items = self.program.take()?.items;
        Some((std::mem::take(&mut self.text), items))
    }

    /// [`Analysis::take_syntax`] for an analysis a request still holds.
    pub fn copy_syntax(&self) -> Option<(String, Vec<Item>)> {
        let items = self.program.as_ref().filter(|_| self.clean)?.items.clone();
        Some((self.text.clone(), items))
    }

    /// Every name in the document: what it declares, where it is used.
    pub fn index(&self) -> &Index {
        &self.symbols().0
    }

    fn symbols(&self) -> &(Index, Vec<Option<crate::graph::NodeId>>) {
        self.symbols.get_or_init(|| {
            let index = match &self.program {
                Some(p) => Index::build(p, &self.imports.items),
                None => Index::default(),
            };
            let nodes = symbol_nodes(self.graph.as_ref(), &index);
            (index, nodes)
        })
    }

    /// The graph node a symbol was lowered to (a declaration's own node).
    pub fn node(&self, symbol: usize) -> Option<&crate::graph::Node> {
        let id = (*self.symbols().1.get(symbol)?)?;
        self.graph.as_ref()?.dag.node_weight(id)
    }

    /// Where a span is: in this document (`uri`), or in a file it imports.
    pub fn location(&self, uri: &Uri, span: Span) -> Option<Location> {
        if span.start <= self.text.len() {
            Some(Location::new(uri.clone(), self.range(span)))
        } else {
            self.imports.location(span)
        }
    }

    /// A span's text, in this document or a file it imports.
    pub fn source(&self, span: Span) -> &str {
        if span.start <= self.text.len() {
            self.slice(span)
        } else {
            self.imports.source(span)
        }
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
    place: &dyn Fn(Span) -> Option<Location>,
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
        .and_then(|l| place(span(l)))
        .map(|l| l.range)
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
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: place(span(l))?,
                message: l.label().unwrap_or("here").to_string(),
            })
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
            convert(r, place, errors_url, out);
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

//! Hover: what a name is, and what only the checked graph knows about it —
//! its inferred type, its worst-case calls and cost bound, and the model it
//! calls with that model's options. Never a key: a model holds only the
//! name of the variable the key is read from.

use std::fmt::Write;

use super::analysis::Analysis;
use super::index::{Symbol, SymbolKind};
use super::vocabulary;
use crate::graph::describe::{model_detail, models_used, redact_url};
use crate::graph::stats::{CallCount, node_calls};
use crate::graph::{FlowGraph, Node};
use crate::syntax::Span;
use crate::syntax::ast::{Item, LiteralKind, ModelDecl};

/// The Markdown shown at byte `offset`, and the span it is about.
pub fn hover(a: &Analysis, offset: usize) -> Option<(String, Span)> {
    if let Some(o) = a.index().at(offset) {
        let sym = &a.index().symbols[o.symbol];
        return Some((symbol(a, o.symbol, sym), o.span));
    }
    word(a, offset)
}

/// The nodes lowered from a declaration: its own and those of the calls
/// and members inside it.
pub fn nodes_of(g: &FlowGraph, span: Span) -> impl Iterator<Item = &Node> {
    g.dag
        .node_weights()
        .filter(move |n| span.start <= n.span.start && n.span.end <= span.end)
}

/// A declaration's worst-case calls.
pub fn calls_of(g: &FlowGraph, span: Span) -> CallCount {
    let mut count = CallCount::default();
    for n in nodes_of(g, span) {
        count.add(&node_calls(g, n));
    }
    count
}

fn symbol(a: &Analysis, id: usize, sym: &Symbol) -> String {
    let mut md = String::new();
    let kind = sym.kind.describe();
    match sym.kind {
        SymbolKind::Model => return model(a, sym),
        SymbolKind::Function => return function(a, sym),
        SymbolKind::Type => {
            let _ = write!(
                md,
                "```flow\n{}\n```\n",
                crate::graph::describe::truncate(a.source(sym.span), 400)
            );
            if sym.foreign {
                let _ = writeln!(md, "declared in {}", file_of(a, sym));
            }
            return md;
        }
        SymbolKind::Variable => {
            let _ = write!(md, "{kind} `{}`", sym.full_name);
            return md;
        }
        _ => {}
    }
    let Some(g) = &a.graph else {
        let _ = write!(md, "{kind} `{}`", sym.full_name);
        return md;
    };
    let node = a.node(id);
    let ty = node
        .map(|n| n.ty.to_string())
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(md, "```flow\n{}: {ty}\n```", sym.full_name);
    let _ = writeln!(md, "{kind}");
    if sym.kind == SymbolKind::Input {
        return md;
    }
    let calls = calls_of(g, sym.span);
    if !calls.is_zero() {
        let _ = writeln!(md, "\nworst case **{calls} LLM {}**", calls.noun());
        if let Some(cost) = crate::check::cost::worst_case_cost_of(g, nodes_of(g, sym.span)) {
            let _ = writeln!(md, "\ncost: {cost}");
        }
        uses(a, g, nodes_of(g, sym.span), &mut md);
    }
    md
}

fn model_decl<'a>(a: &'a Analysis, name: &str) -> Option<&'a ModelDecl> {
    let own = a.program.as_ref().map_or(&[][..], |p| &p.items[..]);
    own.iter().chain(&a.imports.items).find_map(|i| match i {
        Item::Model(m) if m.name.name == name => Some(m),
        _ => None,
    })
}

/// The name of the imported file a foreign symbol is declared in.
fn file_of(a: &Analysis, sym: &Symbol) -> String {
    let file = a.imports.local(sym.name_span.start).map_or("", |(f, _)| f);
    std::path::Path::new(file)
        .file_name()
        .map_or(file.to_string(), |f| f.to_string_lossy().into_owned())
}

/// A function: its signature, and what one call of it costs in the worst
/// case, read off the first call the graph expanded.
fn function(a: &Analysis, sym: &Symbol) -> String {
    let mut md = String::new();
    let own = a.program.as_ref().map_or(&[][..], |p| &p.items[..]);
    let decl = own.iter().chain(&a.imports.items).find_map(|i| match i {
        Item::Function(f) if f.name.span == sym.name_span => Some(f),
        _ => None,
    });
    let params = decl.map_or(String::new(), |f| {
        let body = match &f.body {
            crate::syntax::ast::FnBody::Expr(e) => e.span.start,
            crate::syntax::ast::FnBody::Block { open, .. } => open.start,
        };
        let header = a.source(Span::new(f.name.span.end, body.max(f.name.span.end)));
        header
            .trim_end()
            .trim_end_matches('=')
            .trim_end()
            .to_string()
    });
    let _ = writeln!(
        md,
        "```flow\nfn {}{}\n```",
        sym.full_name,
        crate::graph::describe::truncate(&params, 300)
    );
    if sym.foreign {
        let _ = writeln!(md, "function, declared in {}", file_of(a, sym));
    } else {
        let _ = writeln!(md, "function");
    }
    let Some(g) = &a.graph else {
        return md;
    };
    let Some(cluster) = g
        .sections
        .iter()
        .position(|s| s.function.as_deref() == Some(sym.full_name.as_str()))
    else {
        let _ = writeln!(md, "\nnot called");
        return md;
    };
    let inside = |mut c: Option<usize>| {
        while let Some(i) = c {
            if i == cluster {
                return true;
            }
            c = g.sections.get(i).and_then(|s| s.parent);
        }
        false
    };
    let nodes: Vec<&Node> = g.dag.node_weights().filter(|n| inside(n.section)).collect();
    let mut calls = CallCount::default();
    for n in &nodes {
        calls.add(&node_calls(g, n));
    }
    if calls.is_zero() {
        let _ = writeln!(md, "\nno LLM call");
        return md;
    }
    let _ = writeln!(md, "\nworst case **{calls} LLM {}** per call", calls.noun());
    if let Some(cost) = crate::check::cost::worst_case_cost_of(g, nodes.iter().copied()) {
        let _ = writeln!(md, "\ncost per call: {cost}");
    }
    uses(a, g, nodes.into_iter(), &mut md);
    md
}

/// The models `nodes` call, each with its options.
fn uses<'g>(
    a: &Analysis,
    g: &'g FlowGraph,
    nodes: impl Iterator<Item = &'g Node>,
    md: &mut String,
) {
    let mut models = Vec::new();
    for n in nodes {
        for u in models_used(n) {
            if !models.iter().any(|(m, j)| *m == u.model && *j == u.judge) {
                models.push((u.model, u.judge));
            }
        }
    }
    for (m, judge) in models {
        let role = if judge { "judged by" } else { "calls" };
        let detail = g.models.get(m).map(model_detail).unwrap_or_default();
        let _ = write!(md, "\n{role} `{m}` ({detail})");
        if let Some(decl) = model_decl(a, m) {
            let options = options_text(a, decl);
            if !options.is_empty() {
                let _ = write!(md, ": {options}");
            }
        }
        md.push('\n');
    }
}

/// The options as written, with any URL's credentials and query left out.
fn options_text(a: &Analysis, decl: &ModelDecl) -> String {
    decl.options
        .iter()
        .map(|o| match (&o.value.kind, o.name.name.as_str()) {
            (LiteralKind::Str(url), "base_url") => {
                format!("base_url: \"{}\"", redact_url(url))
            }
            _ => crate::graph::describe::truncate(a.source(o.span), 80),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn model(a: &Analysis, sym: &Symbol) -> String {
    let mut md = String::new();
    let spec = a.graph.as_ref().and_then(|g| g.models.get(&sym.full_name));
    let detail = spec.map(model_detail).unwrap_or_default();
    let _ = writeln!(md, "```flow\nmodel {}\n```\n{detail}", sym.full_name);
    if sym.foreign {
        let _ = writeln!(md, "\ndeclared in {}", file_of(a, sym));
    }
    if let Some(decl) = model_decl(a, &sym.full_name) {
        let options = options_text(a, decl);
        if !options.is_empty() {
            let _ = writeln!(md, "\noptions: {options}");
        }
    }
    if let Some(env) = spec.and_then(|s| s.key_env()) {
        let _ = writeln!(md, "\nkey read from `${env}` at run time");
    }
    if let Some(g) = &a.graph {
        let sites = g
            .dag
            .node_weights()
            .filter(|n| models_used(n).iter().any(|u| u.model == sym.full_name))
            .count();
        let _ = writeln!(
            md,
            "\ncalled from {sites} node{}",
            if sites == 1 { "" } else { "s" }
        );
    }
    md
}

/// A fixed word: a keyword, builtin, strategy, provider or type.
fn word(a: &Analysis, offset: usize) -> Option<(String, Span)> {
    let bytes = a.text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut start = offset.min(bytes.len());
    while start > 0 && is_word(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = offset.min(bytes.len());
    while end < bytes.len() && is_word(bytes[end]) {
        end += 1;
    }
    let w = a.text.get(start..end)?;
    if w.is_empty() {
        return None;
    }
    let lists: [(&str, &[(&str, &str)]); 7] = [
        ("builtin", vocabulary::BUILTINS),
        ("strategy", vocabulary::STRATEGIES),
        ("provider", vocabulary::PROVIDERS),
        ("type", vocabulary::TYPES),
        ("modifier", vocabulary::MODIFIERS),
        ("statement", vocabulary::STATEMENTS),
        ("keyword", vocabulary::EXPRESSION_WORDS),
    ];
    for (what, list) in lists {
        if let Some((_, doc)) = list.iter().find(|(n, _)| *n == w) {
            return Some((format!("{what} `{w}`: {doc}"), Span::new(start, end)));
        }
    }
    vocabulary::MODEL_OPTIONS
        .iter()
        .find(|o| o.name == w)
        .map(|o| {
            (
                format!("option `{}`: {} — {}", o.name, o.ty, o.doc),
                Span::new(start, end),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hover_at(text: &str, needle: &str, n: usize) -> String {
        let a = Analysis::new(
            &"file:///t.flow".parse().unwrap(),
            text.into(),
            "https://e.com/e.md",
        );
        let at = text.match_indices(needle).nth(n).unwrap().0;
        hover(&a, at).map(|(md, _)| md).unwrap_or_default()
    }

    #[test]
    fn hover_shows_calls_models_and_no_secret() {
        let text = "model m = openai(\"gpt-4o-mini\", base_url: \"https://user:sk-secret@h.example/v1?key=sk-2\", api_key_env: \"K\")\nr = section <\n  a = ask m \"x\" vote 3 by judge m\n  b = for x in [1, 2] < ask m \"{x}\" >\n>\nbad = ask nope \"y\"\noutput r\n";
        let md = hover_at(text, "r =", 0);
        assert!(md.contains("worst case **6 LLM calls**"), "{md}");
        assert!(
            md.contains("calls `m`") && md.contains("judged by `m`"),
            "{md}"
        );
        let md = hover_at(text, "m =", 0);
        assert!(md.contains("`$K`"), "{md}");
        assert!(!md.contains("sk-"), "{md}");
        assert!(md.contains("https://h.example/v1"), "{md}");
        // With an error elsewhere, the rest still has types.
        let md = hover_at(text, "a =", 0);
        assert!(md.contains("r.a: text"), "{md}");
        // Fixed words.
        assert!(hover_at(text, "judge", 0).contains("strategy"));
        assert!(hover_at(text, "api_key_env", 0).contains("never the key"));
    }
}

//! Definition, references, rename and the document's outline, all read off
//! the symbol index.

use std::collections::HashMap;

use lsp_types::{DocumentSymbol, Location, SymbolKind as LspKind, TextEdit, Uri, WorkspaceEdit};

use super::analysis::Analysis;
use super::index::{Namespace, SymbolKind, is_valid_name};
use crate::syntax::Span;
use crate::syntax::ast::Item;

/// Where the name at `offset` is declared (in an imported file for
/// `moderation.flagged`); on an import's path, the file it reads.
pub fn definition(a: &Analysis, uri: &Uri, offset: usize) -> Option<Location> {
    if let Some(o) = a.index().at(offset) {
        return a.location(uri, a.index().symbols[o.symbol].name_span);
    }
    let decl = a.program.as_ref()?.items.iter().find_map(|i| match i {
        Item::Import(d) if d.path_span.start <= offset && offset <= d.path_span.end => Some(d),
        _ => None,
    })?;
    let file = a.imports.file_of(decl)?;
    Some(Location::new(
        super::imports::file_uri(&file.name)?,
        lsp_types::Range::default(),
    ))
}

/// Every place the name at `offset` is written.
pub fn references(a: &Analysis, offset: usize, include_declaration: bool) -> Vec<Span> {
    let Some(o) = a.index().at(offset) else {
        return Vec::new();
    };
    a.index()
        .references(o.symbol)
        .filter(|r| include_declaration || !r.is_def)
        .map(|r| r.span)
        .collect()
}

/// Every place the name at `offset` of document `a` is written, in it and
/// in the `others` open: a function, model or type declared in one file
/// is used in the files that import it, under their namespace.
pub fn references_everywhere(
    (uri, a): (&Uri, &Analysis),
    others: &[(Uri, std::sync::Arc<Analysis>)],
    offset: usize,
    include_declaration: bool,
) -> Vec<Location> {
    let mut out: Vec<Location> = references(a, offset, include_declaration)
        .into_iter()
        .filter_map(|s| a.location(uri, s))
        .collect();
    let Some(o) = a.index().at(offset) else {
        return out;
    };
    let Some(key) = declared_at(a, o.symbol) else {
        return out;
    };
    for (u, b) in others {
        let found =
            (0..b.index().symbols.len()).find(|&s| declared_at(b, s).as_ref() == Some(&key));
        let Some(symbol) = found else { continue };
        for r in b.index().references(symbol) {
            if r.is_def && !include_declaration {
                continue;
            }
            if let Some(l) = b.location(u, r.span)
                && !out.contains(&l)
            {
                out.push(l);
            }
        }
    }
    out
}

/// The file and byte offset a function, model or type is declared at,
/// whichever document it is seen from.
fn declared_at(a: &Analysis, symbol: usize) -> Option<(std::path::PathBuf, usize)> {
    let s = &a.index().symbols[symbol];
    if !matches!(
        s.kind,
        SymbolKind::Function | SymbolKind::Model | SymbolKind::Type
    ) {
        return None;
    }
    let (file, at) = if s.foreign {
        a.imports.local(s.name_span.start)?
    } else {
        (a.imports.path.as_str(), s.name_span.start)
    };
    if file.is_empty() {
        return None;
    }
    Some((crate::import::normalize(file.as_ref()), at))
}

/// The name a rename at `offset` would change (not one declared in an
/// imported file).
pub fn prepare_rename(a: &Analysis, offset: usize) -> Option<Span> {
    a.index()
        .at(offset)
        .filter(|o| !a.index().symbols[o.symbol].foreign)
        .map(|o| o.span)
}

/// The edits renaming the name at `offset` to `new_name`, or why not.
pub fn rename(a: &Analysis, offset: usize, new_name: &str) -> Result<Vec<Span>, String> {
    let o = a
        .index()
        .at(offset)
        .ok_or_else(|| "there is no name here to rename".to_string())?;
    if !is_valid_name(new_name) {
        return Err(format!(
            "`{new_name}` is not a name: a letter or `_`, then letters, digits or `_`, and not a keyword"
        ));
    }
    let sym = &a.index().symbols[o.symbol];
    if sym.foreign {
        let file = a
            .imports
            .local(sym.name_span.start)
            .map_or("the imported file", |(f, _)| f);
        return Err(format!(
            "`{}` is declared in {file}: rename it there",
            sym.full_name
        ));
    }
    if sym.short_name() == new_name {
        return Ok(Vec::new());
    }
    let clash = match (sym.kind.namespace(), sym.parent) {
        (_, Some(parent)) => a.index().members(parent).iter().any(|(n, _)| n == new_name),
        (Namespace::Models, _) => a.index().models.contains_key(new_name),
        (Namespace::Types, _) => a.index().types.contains_key(new_name),
        (Namespace::Values, _) => a.index().values.contains_key(new_name),
        // A loop variable may shadow anything; what its body uses is below.
        (Namespace::Local, _) => false,
    };
    if clash {
        return Err(format!(
            "`{new_name}` is already a {} name here",
            match sym.kind.namespace() {
                Namespace::Models => "model",
                Namespace::Types => "type",
                _ => "value",
            }
        ));
    }
    // A loop variable renamed to a name its body already uses would capture it.
    if sym.kind == SymbolKind::Variable
        && let Some(&(_, body)) = a.index().scopes.iter().find(|(s, _)| *s == o.symbol)
        && a.index().occurrences.iter().any(|r| {
            body.start <= r.span.start
                && r.span.end <= body.end
                && a.index().symbols[r.symbol].full_name == new_name
        })
    {
        return Err(format!("`{new_name}` is already used inside this `for`"));
    }
    Ok(a.index().references(o.symbol).map(|r| r.span).collect())
}

pub fn workspace_edit(a: &Analysis, uri: &Uri, spans: Vec<Span>, new_name: &str) -> WorkspaceEdit {
    let edits = spans
        .into_iter()
        .map(|s| TextEdit::new(a.range(s), new_name.to_string()))
        .collect();
    WorkspaceEdit {
        changes: Some(HashMap::from([(uri.clone(), edits)])),
        ..WorkspaceEdit::default()
    }
}

/// The outline: every declaration, members under their record.
pub fn document_symbols(a: &Analysis) -> Vec<DocumentSymbol> {
    let syms = &a.index().symbols;
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in syms.iter().enumerate() {
        if s.kind == SymbolKind::Variable || s.foreign {
            continue;
        }
        match s.parent {
            Some(p) => children.entry(p).or_default().push(i),
            None => roots.push(i),
        }
    }
    fn build(a: &Analysis, i: usize, children: &HashMap<usize, Vec<usize>>) -> DocumentSymbol {
        let s = &a.index().symbols[i];
        let kind = match s.kind {
            SymbolKind::Model => LspKind::CLASS,
            SymbolKind::Input => LspKind::VARIABLE,
            SymbolKind::Binding => LspKind::VARIABLE,
            SymbolKind::Member => LspKind::FIELD,
            SymbolKind::Output => LspKind::EVENT,
            SymbolKind::Type => LspKind::STRUCT,
            SymbolKind::Variable => LspKind::VARIABLE,
            SymbolKind::Function => LspKind::FUNCTION,
        };
        let detail = a.node(i).map(|n| n.ty.to_string());
        #[allow(deprecated)]
        DocumentSymbol {
            name: s.short_name().to_string(),
            detail: detail.or_else(|| Some(s.kind.describe().to_string())),
            kind,
            tags: None,
            deprecated: None,
            range: a.range(s.span),
            selection_range: a.range(s.name_span),
            children: children
                .get(&i)
                .map(|c| c.iter().map(|&c| build(a, c, children)).collect()),
        }
    }
    roots.into_iter().map(|i| build(a, i, &children)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(text: &str) -> Analysis {
        Analysis::new(
            &"file:///t.flow".parse().unwrap(),
            text.into(),
            "https://e.com/e.md",
        )
    }

    #[test]
    fn rename_checks_the_new_name() {
        let text = "model m = mock()\ninput q: text\nr = section <\n  a = ask m \"{q}\"\n  b = \"x\"\n>\nl = for x in [1] < \"{x} {q}\" >\noutput o = r.a\n";
        let a = analysis(text);
        let at = |needle: &str| text.find(needle).unwrap();
        // Every use of a member, through its record.
        assert_eq!(rename(&a, at("a ="), "first").unwrap().len(), 2);
        assert!(rename(&a, at("a ="), "b").unwrap_err().contains("already"));
        assert!(rename(&a, at("q:"), "r").unwrap_err().contains("already"));
        assert!(
            rename(&a, at("q:"), "for")
                .unwrap_err()
                .contains("not a name")
        );
        // A model and a value may share a name.
        assert_eq!(rename(&a, at("m ="), "q").unwrap().len(), 2);
        // A loop variable may not capture a name its body uses.
        assert!(
            rename(&a, at("x in"), "q")
                .unwrap_err()
                .contains("inside this `for`")
        );
        assert_eq!(rename(&a, at("x in"), "y").unwrap().len(), 2);
        assert!(rename(&a, at("mock"), "z").is_err());
    }

    #[test]
    fn symbols_nest_members_under_their_record() {
        let a = analysis("model m = mock()\nr = section <\n  a = ask m \"x\"\n>\noutput r\n");
        let syms = document_symbols(&a);
        let names: Vec<&str> = syms.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["m", "r"]);
        let children = syms[1].children.as_ref().unwrap();
        assert_eq!(children[0].name, "a");
        assert_eq!(children[0].detail.as_deref(), Some("text"));
    }
}

//! Completion: what may be written at the cursor, decided from the text
//! before it (the statement being typed rarely parses yet) and offered from
//! the index of what did parse.

use lsp_types::{CompletionItem, CompletionItemKind, Documentation};

use super::analysis::Analysis;
use super::index::SymbolKind;
use super::tokens::string_at;
use super::vocabulary;

/// What the cursor is in the middle of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// After `ask` or `judge`: a model.
    Model,
    /// After `by`: a strategy.
    Strategy,
    /// After `as`, `list<`, an input's `:`, `type NAME =`: a type.
    Type,
    /// `model NAME = ` before the provider.
    Provider,
    /// Inside `PROVIDER(...)`, where an option's name goes.
    ModelOption,
    /// After `name.`: the record's members.
    Member(String),
    /// The start of a statement.
    Statement,
    /// After a string in an `ask`: a modifier.
    Modifier,
    /// Anywhere else an expression goes (`{` in a string included).
    Expression,
    /// Inside a string's text, or a comment: nothing to offer.
    Nothing,
}

/// The context at byte `offset` of `text`.
pub fn context(text: &str, offset: usize) -> Context {
    let offset = offset.min(text.len());
    let before = &text[..floor(text, offset)];
    // The word being typed is not part of the context.
    let trimmed = before.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
    match string_at(text, trimmed.len()) {
        Some(interp) if interp => {
            return match trimmed.strip_suffix('.') {
                Some(base) => Context::Member(path_before(base)),
                None => Context::Expression,
            };
        }
        Some(_) => return Context::Nothing,
        None => {}
    }
    let line_start = trimmed.rfind('\n').map(|i| i + 1).unwrap_or(0);
    if trimmed[line_start..].contains('#') && !trimmed[line_start..].contains('"') {
        return Context::Nothing;
    }
    if let Some(base) = trimmed.strip_suffix('.') {
        return Context::Member(path_before(base));
    }
    let statement = statement_text(trimmed);
    if let Some(rest) = statement.strip_prefix("model") {
        let depth = rest.chars().fold(0i32, |d, c| match c {
            '(' | '[' | '{' => d + 1,
            ')' | ']' | '}' => d - 1,
            _ => d,
        });
        let last = rest.trim_end().chars().last();
        if depth == 1 && matches!(last, Some('(' | ',')) {
            return Context::ModelOption;
        }
        if depth == 0 && last == Some('=') {
            return Context::Provider;
        }
        if depth >= 1 {
            return Context::Nothing;
        }
    }
    let prev = trimmed.trim_end();
    let prev_word = prev
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    match prev_word {
        "ask" | "judge" => return Context::Model,
        "by" => return Context::Strategy,
        "as" => return Context::Type,
        "with" => return Context::Expression,
        _ => {}
    }
    if prev.ends_with("list<") || prev.ends_with("list <") {
        return Context::Type;
    }
    if statement.starts_with("input") && prev.ends_with(':') && !statement.contains('=') {
        return Context::Type;
    }
    if statement.starts_with("type") && prev.ends_with('=') {
        return Context::Type;
    }
    if statement.starts_with("type") && prev.ends_with(':') {
        return Context::Type;
    }
    if prev.ends_with('"') {
        return Context::Modifier;
    }
    if trimmed[line_start..].trim().is_empty() {
        return Context::Statement;
    }
    Context::Expression
}

fn floor(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `a.b` of `... a.b` (the text before a `.`).
fn path_before(base: &str) -> String {
    let start = base
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map(|i| i + 1)
        .unwrap_or(0);
    base[start..].to_string()
}

/// The text of the statement the cursor is in: from the last line that
/// starts at its first column with a word.
fn statement_text(before: &str) -> &str {
    let mut start = 0;
    let mut line = 0;
    for (i, c) in before.char_indices() {
        if c == '\n' {
            line = i + 1;
        } else if i == line && (c.is_ascii_alphabetic() || c == '_') {
            start = i;
        }
    }
    &before[start..]
}

fn item(label: &str, kind: CompletionItemKind, detail: impl Into<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.into()),
        ..CompletionItem::default()
    }
}

fn fixed(list: &[(&str, &str)], kind: CompletionItemKind) -> Vec<CompletionItem> {
    list.iter().map(|(n, d)| item(n, kind, *d)).collect()
}

/// The items to offer at byte `offset`.
pub fn complete(a: &Analysis, offset: usize) -> Vec<CompletionItem> {
    let ix = &a.index();
    let type_of = |symbol: usize| a.node(symbol).map(|n| n.ty.to_string());
    let values = || {
        let mut out: Vec<CompletionItem> = Vec::new();
        for &v in ix.variables_at(offset).iter().rev() {
            let s = &ix.symbols[v];
            out.push(item(
                &s.full_name,
                CompletionItemKind::VARIABLE,
                "loop variable",
            ));
        }
        let mut globals: Vec<_> = ix.values.iter().collect();
        globals.sort_by_key(|(_, id)| **id);
        // Loop variables shadow globals of their name (a handful: a scan).
        let shadowed = out.len();
        for (name, &id) in globals {
            if out[..shadowed].iter().any(|i| i.label == *name) {
                continue;
            }
            let s = &ix.symbols[id];
            let kind = match s.kind {
                SymbolKind::Input => CompletionItemKind::CONSTANT,
                SymbolKind::Member => CompletionItemKind::FIELD,
                _ => CompletionItemKind::VARIABLE,
            };
            let ty = type_of(id).unwrap_or_default();
            out.push(item(name, kind, format!("{} {ty}", s.kind.describe())));
        }
        out
    };
    match context(&a.text, offset) {
        Context::Nothing => Vec::new(),
        Context::Model => {
            let mut models: Vec<_> = ix.models.iter().collect();
            models.sort_by_key(|(_, id)| **id);
            models
                .into_iter()
                .map(|(name, _)| {
                    let detail = a
                        .graph
                        .as_ref()
                        .and_then(|g| g.models.get(name))
                        .map(crate::graph::describe::model_detail)
                        .unwrap_or_else(|| "model".into());
                    item(name, CompletionItemKind::CLASS, detail)
                })
                .collect()
        }
        Context::Strategy => fixed(vocabulary::STRATEGIES, CompletionItemKind::ENUM_MEMBER),
        Context::Provider => fixed(vocabulary::PROVIDERS, CompletionItemKind::MODULE),
        Context::Type => {
            let mut out = fixed(vocabulary::TYPES, CompletionItemKind::TYPE_PARAMETER);
            let mut types: Vec<_> = ix.types.iter().collect();
            types.sort_by_key(|(_, id)| **id);
            out.extend(
                types
                    .into_iter()
                    .map(|(n, _)| item(n, CompletionItemKind::STRUCT, "type")),
            );
            out
        }
        Context::ModelOption => {
            let mock = statement_text(&a.text[..floor(&a.text, offset)]).contains("mock");
            vocabulary::MODEL_OPTIONS
                .iter()
                .filter(|o| mock || !o.mock_only)
                .map(|o| CompletionItem {
                    insert_text: Some(format!("{}: ", o.name)),
                    documentation: Some(Documentation::String(format!(
                        "{} (e.g. `{}: {}`)",
                        o.doc, o.name, o.example
                    ))),
                    ..item(o.name, CompletionItemKind::PROPERTY, o.ty)
                })
                .collect()
        }
        Context::Member(path) => {
            let mut parts = path.split('.');
            let Some(first) = parts.next() else {
                return Vec::new();
            };
            let Some(mut id) = ix.lookup_value(first, offset) else {
                return imported(a, &path);
            };
            for p in parts {
                match ix.members(id).iter().find(|(n, _)| n == p) {
                    Some((_, m)) => id = *m,
                    None => return Vec::new(),
                }
            }
            let members = ix.members(id);
            if !members.is_empty() {
                return members
                    .iter()
                    .map(|(n, m)| {
                        let ty = type_of(*m).unwrap_or_default();
                        item(n, CompletionItemKind::FIELD, ty)
                    })
                    .collect();
            }
            // A typed reply: the fields of its record type.
            match type_of_symbol(a, id) {
                Some(crate::types::Type::Record(fields)) => fields
                    .iter()
                    .map(|(n, ty)| item(n, CompletionItemKind::FIELD, ty.to_string()))
                    .collect(),
                _ => Vec::new(),
            }
        }
        Context::Statement => {
            let mut out = fixed(vocabulary::STATEMENTS, CompletionItemKind::KEYWORD);
            if ix.variables_at(offset).is_empty() {
                return out;
            }
            out.extend(values());
            out
        }
        Context::Modifier => fixed(vocabulary::MODIFIERS, CompletionItemKind::KEYWORD),
        Context::Expression => {
            let mut out = values();
            out.extend(
                vocabulary::BUILTINS
                    .iter()
                    .map(|(n, d)| item(n, CompletionItemKind::FUNCTION, *d)),
            );
            out.extend(fixed(
                vocabulary::EXPRESSION_WORDS,
                CompletionItemKind::KEYWORD,
            ));
            out
        }
    }
}

/// After `moderation.`: what the file imported as `moderation` declares.
fn imported(a: &Analysis, namespace: &str) -> Vec<CompletionItem> {
    let prefix = format!("{namespace}.");
    a.index()
        .symbols
        .iter()
        .filter(|s| s.foreign)
        .filter_map(|s| {
            let rest = s.full_name.strip_prefix(&prefix)?;
            if rest.contains('.') {
                return None;
            }
            let (kind, detail) = match s.kind {
                SymbolKind::Function => {
                    let header = a.source(s.span);
                    let header = header
                        .split_once('=')
                        .map_or(header, |(h, _)| h)
                        .trim()
                        .trim_start_matches("fn")
                        .trim_start();
                    let params = header.strip_prefix(rest).unwrap_or(header);
                    (CompletionItemKind::FUNCTION, format!("fn {rest}{params}"))
                }
                SymbolKind::Model => (
                    CompletionItemKind::CLASS,
                    a.graph
                        .as_ref()
                        .and_then(|g| g.models.get(&s.full_name))
                        .map(crate::graph::describe::model_detail)
                        .unwrap_or_else(|| "model".into()),
                ),
                SymbolKind::Type => (CompletionItemKind::STRUCT, "type".into()),
                _ => return None,
            };
            Some(item(rest, kind, detail))
        })
        .collect()
}

fn type_of_symbol(a: &Analysis, id: usize) -> Option<crate::types::Type> {
    a.node(id).map(|n| n.ty.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Context {
        let offset = text.find('|').unwrap();
        let text = text.replace('|', "");
        context(&text, offset)
    }

    #[test]
    fn contexts() {
        assert_eq!(at("x = ask |"), Context::Model);
        assert_eq!(at("x = ask m|"), Context::Model);
        assert_eq!(at("x = ask m \"hi\" vote 3 by |"), Context::Strategy);
        assert_eq!(at("x = ask m \"hi\" |"), Context::Modifier);
        assert_eq!(at("x = ask m \"hi\" as |"), Context::Type);
        assert_eq!(at("input q: |"), Context::Type);
        assert_eq!(at("model m = |"), Context::Provider);
        assert_eq!(at("model m = openai(\"x\", |)"), Context::ModelOption);
        assert_eq!(
            at("model m = openai(\n  \"x\",\n  te|"),
            Context::ModelOption
        );
        assert_eq!(
            at("model m = openai(\"x\", temperature: |)"),
            Context::Nothing
        );
        assert_eq!(at("x = ask m \"hi {|\""), Context::Expression);
        assert_eq!(at("x = ask m \"hi {r.|\""), Context::Member("r".into()));
        assert_eq!(at("x = ask m \"hi |\""), Context::Nothing);
        assert_eq!(at("y = r.a.|"), Context::Member("r.a".into()));
        assert_eq!(at("x = 1\n|"), Context::Statement);
        assert_eq!(at("x = |"), Context::Expression);
        assert_eq!(at("# ask |"), Context::Nothing);
        assert_eq!(at("x = \"\"\"\n  ask |\n\"\"\""), Context::Nothing);
    }
}

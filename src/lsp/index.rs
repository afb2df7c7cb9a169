//! Every name in a file: what it declares and where it is used.
//!
//! Go to definition, references, rename, highlighting and document symbols
//! all read this one table, built by one walk over the AST of whatever
//! parsed. Its rules are the checker's (`check::names`, `check::resolve`):
//! models have a namespace of their own, types another, and inputs,
//! bindings, section-statement members and `output x = ...` share the
//! value namespace; members of a bound section are reached as `r.a`; a
//! `for` variable shadows everything inside its body. A new kind of
//! declaration (functions, imports) is one more [`SymbolKind`] and one more
//! arm in [`Builder::item`].

use std::collections::HashMap;

use crate::syntax::Span;
use crate::syntax::ast::{
    Ask, Expr, ExprKind, FnBody, FnDecl, Ident, Item, Modifiers, Program, Section, StrategyArg,
    Template, TemplatePart, TestLine, TypeExpr, TypeKind,
};

/// What a name declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Model,
    Input,
    Binding,
    /// A member of a section: a value of its own, or `r.a` of a record.
    Member,
    /// `output NAME = EXPR` (an `output NAME` only names a binding).
    Output,
    Type,
    /// The variable of a `for`, seen only inside its body; also a
    /// function's parameter or block local, seen only inside the function.
    Variable,
    /// `fn NAME(...) = ...`.
    Function,
}

impl SymbolKind {
    /// The namespace names of this kind live in: two symbols in one
    /// namespace cannot share a name.
    pub fn namespace(self) -> Namespace {
        match self {
            SymbolKind::Model => Namespace::Models,
            SymbolKind::Type => Namespace::Types,
            SymbolKind::Variable => Namespace::Local,
            _ => Namespace::Values,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            SymbolKind::Model => "model",
            SymbolKind::Input => "input",
            SymbolKind::Binding => "binding",
            SymbolKind::Member => "section member",
            SymbolKind::Output => "output",
            SymbolKind::Type => "type",
            SymbolKind::Variable => "local",
            SymbolKind::Function => "function",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Models,
    Types,
    Values,
    Local,
}

/// One declared name.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// As the checker names it: `a`, or `r.a` for a member of record `r`.
    pub full_name: String,
    pub kind: SymbolKind,
    /// The name where it is declared.
    pub name_span: Span,
    /// The whole declaration.
    pub span: Span,
    /// The record a member belongs to.
    pub parent: Option<usize>,
    /// Declared in an imported file (its spans are past the document's
    /// end, in the space the document shares with its imports).
    pub foreign: bool,
}

impl Symbol {
    /// The name as written at its declaration (`a` of `r.a`).
    pub fn short_name(&self) -> &str {
        self.full_name.rsplit('.').next().unwrap_or(&self.full_name)
    }
}

/// One place a name is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub span: Span,
    pub symbol: usize,
    /// Whether this is the declaration itself.
    pub is_def: bool,
}

/// The table of a file.
#[derive(Debug, Default)]
pub struct Index {
    pub symbols: Vec<Symbol>,
    /// Sorted by position.
    pub occurrences: Vec<Occurrence>,
    /// The value namespace, first declaration of each name.
    pub values: HashMap<String, usize>,
    pub models: HashMap<String, usize>,
    pub types: HashMap<String, usize>,
    /// `for` variables with the byte range of the body they are seen in.
    pub scopes: Vec<(usize, Span)>,
    /// Members of each record symbol, by short name.
    members: HashMap<usize, Vec<(String, usize)>>,
}

impl Index {
    /// The table of `program`'s statements; `imported` are the
    /// declarations its imports give it (`moderation.flagged`), whose uses
    /// in the document are found and who are declared elsewhere.
    pub fn build(program: &Program, imported: &[Item]) -> Index {
        let mut b = Builder {
            index: Index::default(),
            vars: Vec::new(),
        };
        for item in &program.items {
            b.declare(item);
        }
        for item in imported {
            let (name, span, kind) = match item {
                Item::Function(f) => (&f.name, f.span, SymbolKind::Function),
                Item::Model(m) => (&m.name, m.span, SymbolKind::Model),
                Item::Type(t) => (&t.name, t.span, SymbolKind::Type),
                _ => continue,
            };
            let id = b.global(name, span, kind);
            b.index.symbols[id].foreign = true;
        }
        for item in &program.items {
            b.item(item);
        }
        let mut index = b.index;
        index
            .occurrences
            .sort_by_key(|o| (o.span.start, o.span.end));
        index.occurrences.dedup();
        index
    }

    /// The name written at byte `offset` (touching it from either side).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        let i = self.occurrences.partition_point(|o| o.span.end < offset);
        self.occurrences[i..]
            .iter()
            .take_while(|o| o.span.start <= offset)
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// Every place `symbol` is written, its declaration included.
    pub fn references(&self, symbol: usize) -> impl Iterator<Item = &Occurrence> {
        self.occurrences.iter().filter(move |o| o.symbol == symbol)
    }

    /// The members of a record symbol.
    pub fn members(&self, symbol: usize) -> &[(String, usize)] {
        self.members.get(&symbol).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The `for` variables seen at `offset`, innermost last.
    pub fn variables_at(&self, offset: usize) -> Vec<usize> {
        self.scopes
            .iter()
            .filter(|(_, body)| body.start <= offset && offset <= body.end)
            .map(|(sym, _)| *sym)
            .collect()
    }

    /// The value-namespace symbol `name` means at `offset`.
    pub fn lookup_value(&self, name: &str, offset: usize) -> Option<usize> {
        self.variables_at(offset)
            .into_iter()
            .rev()
            .find(|&s| self.symbols[s].full_name == name)
            .or_else(|| self.values.get(name).copied())
    }
}

struct Builder {
    index: Index,
    /// `for` variables in scope while walking, innermost last.
    vars: Vec<(String, usize)>,
}

impl Builder {
    fn symbol(&mut self, symbol: Symbol) -> usize {
        let id = self.index.symbols.len();
        self.index.occurrences.push(Occurrence {
            span: symbol.name_span,
            symbol: id,
            is_def: true,
        });
        self.index.symbols.push(symbol);
        id
    }

    fn global(&mut self, name: &Ident, span: Span, kind: SymbolKind) -> usize {
        let id = self.symbol(Symbol {
            full_name: name.name.clone(),
            kind,
            name_span: name.span,
            span,
            parent: None,
            foreign: false,
        });
        let map = match kind.namespace() {
            Namespace::Models => &mut self.index.models,
            Namespace::Types => &mut self.index.types,
            _ => &mut self.index.values,
        };
        map.entry(name.name.clone()).or_insert(id);
        id
    }

    /// The first pass: every declaration, so uses may come before them.
    fn declare(&mut self, item: &Item) {
        match item {
            Item::Model(m) => {
                self.global(&m.name, m.span, SymbolKind::Model);
            }
            Item::Input(i) => {
                self.global(&i.name, i.span, SymbolKind::Input);
            }
            Item::Type(t) => {
                self.global(&t.name, t.span, SymbolKind::Type);
            }
            Item::Binding(b) => {
                let id = self.global(&b.name, b.span, SymbolKind::Binding);
                self.record(id, &b.value);
            }
            Item::Section(s) => {
                for member in &s.members {
                    if let Some(name) = &member.name {
                        let id = self.global(name, member.span, SymbolKind::Member);
                        self.record(id, &member.value);
                    }
                }
            }
            Item::Output(o) => {
                if o.value.is_some() {
                    self.global(&o.name, o.span, SymbolKind::Output);
                }
            }
            Item::Function(f) => {
                self.global(&f.name, f.span, SymbolKind::Function);
            }
            // An import's names are another file's; a test declares nothing.
            Item::Import(_) | Item::Test(_) => {}
        }
    }

    /// The members of `parent` when its value is a non-voting section.
    fn record(&mut self, parent: usize, value: &Expr) {
        let ExprKind::Section(section) = &value.kind else {
            return;
        };
        if section.modifiers.vote.is_some() {
            return;
        }
        let prefix = self.index.symbols[parent].full_name.clone();
        let mut members = Vec::new();
        for member in &section.members {
            let Some(name) = &member.name else { continue };
            let id = self.symbol(Symbol {
                full_name: format!("{prefix}.{}", name.name),
                kind: SymbolKind::Member,
                name_span: name.span,
                span: member.span,
                parent: Some(parent),
                foreign: false,
            });
            if !members.iter().any(|(n, _)| *n == name.name) {
                members.push((name.name.clone(), id));
            }
            self.record(id, &member.value);
        }
        self.index.members.insert(parent, members);
    }

    /// The second pass: every use.
    fn item(&mut self, item: &Item) {
        match item {
            Item::Model(m) => {
                // Only `judge` strategies name models, and not here; model
                // options are constants.
                let _ = m;
            }
            Item::Input(i) => {
                self.ty(&i.ty);
                if let Some(d) = &i.default {
                    self.expr(d);
                }
            }
            Item::Type(t) => self.ty(&t.ty),
            Item::Binding(b) => self.expr(&b.value),
            Item::Section(s) => self.section(s),
            Item::Output(o) => match &o.value {
                Some(v) => self.expr(v),
                None => self.name(&o.name, &[]),
            },
            Item::Function(f) => self.function(f),
            Item::Import(_) => {}
            Item::Test(t) => {
                for line in &t.lines {
                    match line {
                        TestLine::Input { name, .. } => self.name(name, &[]),
                        TestLine::Model(m) => self.model(&m.name),
                        TestLine::Expect(e) => {
                            self.expr(&e.value);
                            if let Some(n) = &e.contains {
                                self.expr(n);
                            }
                        }
                    }
                }
            }
        }
    }

    /// A function's parameters and block locals are locals of its body.
    fn function(&mut self, f: &FnDecl) {
        let outer = self.vars.len();
        let local = |this: &mut Self, name: &Ident, span: Span| {
            let id = this.symbol(Symbol {
                full_name: name.name.clone(),
                kind: SymbolKind::Variable,
                name_span: name.span,
                span,
                parent: None,
                foreign: false,
            });
            this.index.scopes.push((id, f.span));
            this.vars.push((name.name.clone(), id));
        };
        for p in &f.params {
            self.ty(&p.ty);
            local(self, &p.name, p.span);
        }
        match &f.body {
            FnBody::Expr(e) => self.expr(e),
            FnBody::Block { members, .. } => {
                for m in members {
                    if let Some(name) = &m.name {
                        local(self, name, m.span);
                    }
                }
                for m in members {
                    self.expr(&m.value);
                }
            }
        }
        self.vars.truncate(outer);
    }

    fn use_of(&mut self, span: Span, symbol: usize) {
        self.index.occurrences.push(Occurrence {
            span,
            symbol,
            is_def: false,
        });
    }

    /// `name.field.field` in an expression or an interpolation.
    fn name(&mut self, name: &Ident, fields: &[&Ident]) {
        let var = self
            .vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name.name)
            .map(|(_, id)| *id);
        let Some(mut id) = var.or_else(|| self.index.values.get(&name.name).copied()) else {
            return;
        };
        self.use_of(name.span, id);
        for field in fields {
            let next = self
                .index
                .members
                .get(&id)
                .and_then(|m| m.iter().find(|(n, _)| *n == field.name))
                .map(|(_, m)| *m);
            let Some(next) = next else { return };
            self.use_of(field.span, next);
            id = next;
        }
    }

    fn model(&mut self, name: &Ident) {
        if let Some(&id) = self.index.models.get(&name.name) {
            self.use_of(name.span, id);
        }
    }

    fn ty(&mut self, ty: &TypeExpr) {
        match &ty.kind {
            TypeKind::List(inner) => self.ty(inner),
            TypeKind::Record(fields) => {
                for f in fields {
                    self.ty(&f.ty);
                }
            }
            TypeKind::Named(name) => {
                if let Some(&id) = self.index.types.get(&name.name) {
                    self.use_of(name.span, id);
                }
            }
            _ => {}
        }
    }

    fn template(&mut self, t: &Template) {
        for part in &t.parts {
            if let TemplatePart::Interp(i) = part {
                let fields: Vec<&Ident> = i.fields.iter().collect();
                self.name(&i.name, &fields);
            }
        }
    }

    fn modifiers(&mut self, m: &Modifiers) {
        if let Some(t) = &m.as_type {
            self.ty(t);
        }
        if let Some(v) = &m.vote
            && let Some(StrategyArg::Model(judge)) = &v.strategy.arg
        {
            self.model(judge);
        }
        if let Some(h) = &m.history {
            self.name(h, &[]);
        }
    }

    fn ask(&mut self, ask: &Ask) {
        self.model(&ask.model);
        self.template(&ask.prompt);
        if let Some(s) = &ask.system {
            self.template(s);
        }
        self.modifiers(&ask.modifiers);
    }

    fn section(&mut self, s: &Section) {
        for member in &s.members {
            self.expr(&member.value);
        }
        self.modifiers(&s.modifiers);
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Str(t) => self.template(t),
            ExprKind::Int(_) | ExprKind::Number(_) | ExprKind::Bool(_) => {}
            ExprKind::List(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Name(n) => self.name(n, &[]),
            ExprKind::Field(..) => match name_path(e) {
                Some((base, fields)) => self.name(base, &fields),
                None => {
                    if let ExprKind::Field(inner, _) = &e.kind {
                        self.expr(inner);
                    }
                }
            },
            ExprKind::Call(name, args) => {
                if let Some(&id) = self.index.values.get(&name.name)
                    && self.index.symbols[id].kind == SymbolKind::Function
                {
                    self.use_of(name.span, id);
                }
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Unary(_, inner) => self.expr(inner),
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::If { cond, then, else_ } => {
                self.expr(cond);
                self.expr(then);
                self.expr(else_);
            }
            ExprKind::Ask(ask) => self.ask(ask),
            ExprKind::Section(s) => self.section(s),
            ExprKind::For {
                var,
                list,
                body,
                open,
            } => {
                self.expr(list);
                let id = self.symbol(Symbol {
                    full_name: var.name.clone(),
                    kind: SymbolKind::Variable,
                    name_span: var.span,
                    span: e.span,
                    parent: None,
                    foreign: false,
                });
                self.index
                    .scopes
                    .push((id, Span::new(open.start, e.span.end)));
                self.vars.push((var.name.clone(), id));
                self.expr(body);
                self.vars.pop();
            }
        }
    }
}

/// `base.f.g` as (base, [f, g]) when the innermost expression is a name.
fn name_path(expr: &Expr) -> Option<(&Ident, Vec<&Ident>)> {
    let mut fields = Vec::new();
    let mut cur = expr;
    loop {
        match &cur.kind {
            ExprKind::Field(inner, field) => {
                fields.push(field);
                cur = inner;
            }
            ExprKind::Name(name) => {
                fields.reverse();
                return Some((name, fields));
            }
            _ => return None,
        }
    }
}

/// Whether `name` can be written where a name is declared.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !super::vocabulary::KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> Index {
        let parsed = crate::syntax::parse_partial(text);
        Index::build(&parsed.program.expect("parses"), &[])
    }

    fn names_at(ix: &Index, text: &str, needle: &str) -> Vec<String> {
        let at = text.find(needle).unwrap();
        let o = ix.at(at).expect("a name there");
        ix.references(o.symbol)
            .map(|o| format!("{}{}", &text[o.span.start..o.span.end], o.span.start))
            .collect()
    }

    #[test]
    fn uses_resolve_across_kinds() {
        let text = "model m = mock()\ninput q: text\nr = section <\n  a = ask m \"{q}\"\n  b = \"x\"\n>\noutput o = r.a\nz = for q in [1] < q >\n";
        let ix = index(text);
        assert_eq!(names_at(&ix, text, "m ="), ["m6", "m55"]);
        // `q` in the `for` body is the loop variable, not the input.
        assert_eq!(names_at(&ix, text, "q:"), ["q23", "q59"]);
        assert_eq!(names_at(&ix, text, "a ="), ["a47", "a88"]);
        let body_q = text.rfind("q >").unwrap();
        assert_eq!(
            ix.at(body_q).map(|o| ix.symbols[o.symbol].kind),
            Some(SymbolKind::Variable)
        );
    }

    #[test]
    fn names_are_validated() {
        assert!(is_valid_name("answer_2"));
        assert!(!is_valid_name("2x"));
        assert!(!is_valid_name("ask"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }
}

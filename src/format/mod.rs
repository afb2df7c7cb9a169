//! `flow fmt`: one layout for every program. Only whitespace changes: the
//! text is cut into tokens (strings and comments whole), and the parsed
//! program says which `<` opens a block, which `<` is a type's, and where
//! each statement and member starts; from that, indentation and spacing
//! are decided and the line breaks the author chose are kept (blank lines
//! at most one). Comments are tokens like any other, so every comment stays
//! where it was written, whatever the statement around it: nothing is
//! attached per statement kind. Each statement kind has one function below
//! that says what its shape is.
//!
//! The result is checked to hold the same tokens as the input before it is
//! given back, so a bug here can refuse a file but never lose text.

mod tokens;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use tokens::{Kind, Token};

use crate::diagnostic::Diagnostics;
use crate::internal::InternalError;
use crate::syntax::ast::{self, Expr, ExprKind, Item, Modifiers, TestLine, TypeExpr, TypeKind};

/// The indentation of one level.
const INDENT: &str = "  ";

/// `source` in the canonical layout, or the syntax errors that stop it
/// being formatted (a program that does not parse is never rewritten).
pub fn format(source: &str) -> Result<String, Diagnostics> {
    let program = match crate::syntax::parse(source) {
        Ok(p) => p,
        Err(errors) => {
            let mut d = Diagnostics::default();
            for e in errors {
                d.push(e);
            }
            d.sort();
            return Err(d);
        }
    };
    let mut shape = Shape::new(source);
    for item in &program.items {
        shape.item(item);
    }
    let out = layout(source, &shape);
    let before: Vec<&str> = tokens::tokens(source).iter().map(|t| t.text).collect();
    let after: Vec<&str> = tokens::tokens(&out).iter().map(|t| t.text).collect();
    if before != after {
        let mut d = Diagnostics::default();
        d.push(InternalError::new(
            "the formatter changed more than whitespace, so the file was left as it is",
        ));
        return Err(d);
    }
    Ok(out)
}

/// What the parsed program says about its tokens, by byte offset.
struct Shape<'s> {
    src: &'s str,
    /// Where statements start: each goes on a line of its own.
    statements: HashSet<usize>,
    /// Where a line inside a block may start without being a continuation:
    /// section members and test lines.
    line_starts: HashSet<usize>,
    /// `<` and `>` of blocks (sections, `for` bodies, tests).
    block_angles: HashSet<usize>,
    /// `<` and `>` of `list<T>` types.
    type_angles: HashSet<usize>,
}

impl<'s> Shape<'s> {
    fn new(src: &'s str) -> Shape<'s> {
        Shape {
            src,
            statements: HashSet::new(),
            line_starts: HashSet::new(),
            block_angles: HashSet::new(),
            type_angles: HashSet::new(),
        }
    }

    /// One statement: the kinds each have their function, so a new kind is
    /// one more arm and one more function.
    fn item(&mut self, item: &Item) {
        let start = item.span().start;
        self.statements.insert(start);
        self.line_starts.insert(start);
        match item {
            Item::Model(m) => self.model_decl(m),
            Item::Input(i) => self.input_decl(i),
            Item::Binding(b) => self.binding(b),
            Item::Section(s) => self.section(s),
            Item::Output(o) => self.output_decl(o),
            Item::Type(t) => self.type_decl(t),
            Item::Test(t) => self.test_decl(t),
            Item::Function(f) => self.fn_decl(f),
            Item::Import(i) => self.import_decl(i),
        }
    }

    fn fn_decl(&mut self, f: &ast::FnDecl) {
        for p in &f.params {
            self.ty(&p.ty);
        }
        match &f.body {
            ast::FnBody::Expr(e) => self.expr(e),
            ast::FnBody::Block {
                members,
                open,
                close,
            } => {
                self.block(open.start, close.end);
                for m in members {
                    self.line_starts.insert(m.span.start);
                    self.expr(&m.value);
                }
            }
        }
    }

    /// A path and a name: nothing but spacing to decide.
    fn import_decl(&mut self, _: &ast::ImportDecl) {}

    /// Constants only: nothing but spacing to decide.
    fn model_decl(&mut self, _: &ast::ModelDecl) {}

    fn input_decl(&mut self, i: &ast::InputDecl) {
        self.ty(&i.ty);
        if let Some(d) = &i.default {
            self.expr(d);
        }
    }

    fn binding(&mut self, b: &ast::Binding) {
        self.expr(&b.value);
    }

    fn output_decl(&mut self, o: &ast::OutputDecl) {
        if let Some(v) = &o.value {
            self.expr(v);
        }
    }

    fn type_decl(&mut self, t: &ast::TypeDecl) {
        self.ty(&t.ty);
    }

    fn test_decl(&mut self, t: &ast::TestDecl) {
        self.block(t.open.start, t.span.end);
        for line in &t.lines {
            // Each line of a test on a line of its own, like a statement.
            self.statements.insert(line.span().start);
            self.line_starts.insert(line.span().start);
            if let TestLine::Expect(e) = line {
                self.expr(&e.value);
                if let Some(n) = &e.contains {
                    self.expr(n);
                }
            }
        }
    }

    fn section(&mut self, s: &ast::Section) {
        self.block(s.open.start, s.close.end);
        for m in &s.members {
            self.line_starts.insert(m.span.start);
            self.expr(&m.value);
        }
        self.modifiers(&s.modifiers);
    }

    /// The `<` at `open` and the `>` ending just before `end`.
    fn block(&mut self, open: usize, end: usize) {
        self.block_angles.insert(open);
        self.block_angles.insert(end.saturating_sub(1));
    }

    fn modifiers(&mut self, m: &Modifiers) {
        if let Some(t) = &m.as_type {
            self.ty(t);
        }
    }

    fn ty(&mut self, t: &TypeExpr) {
        match &t.kind {
            TypeKind::List(inner) => {
                let head = self.src.get(t.span.start..inner.span.start).unwrap_or("");
                if let Some(at) = head.find('<') {
                    self.type_angles.insert(t.span.start + at);
                    self.type_angles.insert(t.span.end.saturating_sub(1));
                }
                self.ty(inner);
            }
            TypeKind::Record(fields) => {
                for f in fields {
                    self.ty(&f.ty);
                }
            }
            _ => {}
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::List(items) | ExprKind::Call(_, items) => {
                for i in items {
                    self.expr(i);
                }
            }
            ExprKind::Field(base, _) | ExprKind::Unary(_, base) => self.expr(base),
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::If { cond, then, else_ } => {
                self.expr(cond);
                self.expr(then);
                self.expr(else_);
            }
            ExprKind::Ask(ask) => self.modifiers(&ask.modifiers),
            ExprKind::Section(s) => self.section(s),
            ExprKind::For {
                list, body, open, ..
            } => {
                self.expr(list);
                self.block(open.start, e.span.end);
                self.line_starts.insert(body.span.start);
                self.expr(body);
            }
            ExprKind::Str(_)
            | ExprKind::Int(_)
            | ExprKind::Number(_)
            | ExprKind::Bool(_)
            | ExprKind::Name(_) => {}
        }
    }
}

/// What a token opened, for indentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A block: lines inside that start no member are continuations.
    Block,
    /// Brackets and type angles: lines inside are indented one level.
    Bracket,
}

fn layout(src: &str, shape: &Shape<'_>) -> String {
    let toks = tokens::tokens(src);
    let mut out = String::with_capacity(src.len() + src.len() / 8);
    if src.starts_with('\u{FEFF}') {
        out.push('\u{FEFF}');
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut prev: Option<Token<'_>> = None;
    for t in &toks {
        let closes = is_closer(t, shape);
        if let Some(p) = prev {
            let mut newlines = t.newlines_before.min(2);
            if newlines == 0 && shape.statements.contains(&t.start) {
                newlines = 1;
            }
            if newlines > 0 {
                out.push_str(&"\n".repeat(newlines));
                let depth = stack.len().saturating_sub(usize::from(closes));
                let in_block = matches!(stack.last(), None | Some(Open::Block));
                let continuation = !closes
                    && in_block
                    && t.kind != Kind::Comment
                    && !shape.line_starts.contains(&t.start);
                out.push_str(&INDENT.repeat(depth + usize::from(continuation)));
            } else if spaced(&p, t, shape) {
                out.push(' ');
            }
        }
        out.push_str(t.text);
        if closes {
            stack.pop();
        } else if let Some(open) = opens(t, shape) {
            stack.push(open);
        }
        prev = Some(*t);
    }
    if prev.is_some() {
        out.push('\n');
    }
    out
}

fn opens(t: &Token<'_>, shape: &Shape<'_>) -> Option<Open> {
    match t.text {
        "(" | "[" | "{" => Some(Open::Bracket),
        "<" if shape.block_angles.contains(&t.start) => Some(Open::Block),
        "<" if shape.type_angles.contains(&t.start) => Some(Open::Bracket),
        _ => None,
    }
}

fn is_closer(t: &Token<'_>, shape: &Shape<'_>) -> bool {
    match t.text {
        ")" | "]" | "}" => true,
        ">" => shape.block_angles.contains(&t.start) || shape.type_angles.contains(&t.start),
        _ => false,
    }
}

/// Whether one space goes between `a` and `b` on a line.
fn spaced(a: &Token<'_>, b: &Token<'_>, shape: &Shape<'_>) -> bool {
    if b.kind == Kind::Comment {
        return true;
    }
    let type_angle = |t: &Token<'_>| shape.type_angles.contains(&t.start);
    if b.kind == Kind::Punct && matches!(b.text, "," | ")" | "]" | "}" | "." | "?" | ":") {
        return false;
    }
    if a.kind == Kind::Punct && matches!(a.text, "(" | "[" | "{" | ".") {
        return false;
    }
    if (type_angle(a) && a.text == "<") || type_angle(b) {
        return false;
    }
    // A call or a provider: `len(x)`, `mock(...)`; not `if (x)`.
    if b.text == "(" && a.kind == Kind::Word && !crate::syntax::is_keyword(a.text) {
        return false;
    }
    true
}

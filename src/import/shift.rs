//! An imported file's tree moved into the program's offset space: the file
//! is parsed on its own, so its spans count from its first byte, and one
//! walk adds where the file starts in the shared space.
//!
//! Parsing each file behind as many blanks as its offset gave the same
//! spans, but made the parser read every earlier file's length again for
//! each import: quadratic in the number of files. Every field is named in
//! the patterns below (no `..`), so a span added to the tree cannot be
//! forgotten here without the compiler saying so.

use crate::syntax::Span;
use crate::syntax::ast::*;

/// Moves every span of `program` `by` bytes later.
pub(crate) fn program(program: &mut Program, by: usize) {
    let Program { items: all } = program;
    items(all, isize::try_from(by).unwrap_or(isize::MAX));
}

/// Moves every span of `items` `by` bytes, later or (when negative)
/// earlier: also how the language server moves the statements after an
/// edit (`lsp::reparse`), with this one walk that names every field.
pub(crate) fn items(items: &mut [Item], by: isize) {
    let mut s = Shift(by);
    items.iter_mut().for_each(|i| s.item(i));
}

struct Shift(isize);

impl Shift {
    fn span(&self, span: &mut Span) {
        *span = Span::new(
            span.start.saturating_add_signed(self.0),
            span.end.saturating_add_signed(self.0),
        );
    }

    fn ident(&self, ident: &mut Ident) {
        let Ident { name: _, span } = ident;
        self.span(span);
    }

    fn item(&mut self, item: &mut Item) {
        match item {
            Item::Model(m) => self.model(m),
            Item::Input(InputDecl {
                name,
                ty,
                default,
                span,
            }) => {
                self.ident(name);
                self.ty(ty);
                if let Some(d) = default {
                    self.expr(d);
                }
                self.span(span);
            }
            Item::Binding(Binding { name, value, span }) => {
                self.ident(name);
                self.expr(value);
                self.span(span);
            }
            Item::Section(section) => self.section(section),
            Item::Output(OutputDecl { name, value, span }) => {
                self.ident(name);
                if let Some(v) = value {
                    self.expr(v);
                }
                self.span(span);
            }
            Item::Type(TypeDecl { name, ty, span }) => {
                self.ident(name);
                self.ty(ty);
                self.span(span);
            }
            Item::Function(FnDecl {
                name,
                params,
                body,
                span,
            }) => {
                self.ident(name);
                for Param { name, ty, span } in params {
                    self.ident(name);
                    self.ty(ty);
                    self.span(span);
                }
                match body {
                    FnBody::Expr(e) => self.expr(e),
                    FnBody::Block {
                        members,
                        open,
                        close,
                    } => {
                        self.members(members);
                        self.span(open);
                        self.span(close);
                    }
                }
                self.span(span);
            }
            Item::Import(ImportDecl {
                path: _,
                path_span,
                alias,
                loaded: _,
                span,
            }) => {
                self.span(path_span);
                self.ident(alias);
                self.span(span);
            }
            Item::Test(TestDecl {
                name: (_, name_span),
                lines,
                open,
                span,
            }) => {
                self.span(name_span);
                for line in lines {
                    match line {
                        TestLine::Input { name, value, span } => {
                            self.ident(name);
                            self.literal(value);
                            self.span(span);
                        }
                        TestLine::Model(m) => self.model(m),
                        TestLine::Expect(Expect {
                            value,
                            contains,
                            span,
                        }) => {
                            self.expr(value);
                            if let Some(c) = contains {
                                self.expr(c);
                            }
                            self.span(span);
                        }
                    }
                }
                self.span(open);
                self.span(span);
            }
        }
    }

    fn model(&mut self, model: &mut ModelDecl) {
        let ModelDecl {
            name,
            provider,
            args,
            options,
            refs,
            span,
        } = model;
        self.ident(name);
        self.ident(provider);
        args.iter_mut().for_each(|a| self.literal(a));
        for ModelOption { name, value, span } in options {
            self.ident(name);
            self.literal(value);
            self.span(span);
        }
        refs.iter_mut().for_each(|r| self.ident(r));
        self.span(span);
    }

    fn literal(&mut self, literal: &mut Literal) {
        let Literal { kind, span } = literal;
        match kind {
            LiteralKind::Str(_)
            | LiteralKind::Int(_)
            | LiteralKind::Number(_)
            | LiteralKind::Bool(_)
            | LiteralKind::Duration(_) => {}
            LiteralKind::List(items) => items.iter_mut().for_each(|l| self.literal(l)),
            LiteralKind::Map(pairs) => {
                for (k, v) in pairs {
                    self.literal(k);
                    self.literal(v);
                }
            }
        }
        self.span(span);
    }

    fn ty(&mut self, ty: &mut TypeExpr) {
        let TypeExpr { kind, span } = ty;
        match kind {
            TypeKind::Text
            | TypeKind::Bool
            | TypeKind::Int
            | TypeKind::Number
            | TypeKind::Json
            | TypeKind::Chat => {}
            TypeKind::List(inner) => self.ty(inner),
            TypeKind::Union(choices) => choices.iter_mut().for_each(|(_, s)| self.span(s)),
            TypeKind::Record(fields) => {
                for FieldDecl {
                    name,
                    optional,
                    ty,
                    span,
                } in fields
                {
                    self.ident(name);
                    if let Some(q) = optional {
                        self.span(q);
                    }
                    self.ty(ty);
                    self.span(span);
                }
            }
            TypeKind::Named(name) => self.ident(name),
        }
        self.span(span);
    }

    fn expr(&mut self, expr: &mut Expr) {
        // An explicit stack rather than recursion into operands: a file may
        // nest as deeply as the parser allows, and this walk must not run
        // out of stack where parsing did not.
        let mut stack: Vec<&mut Expr> = vec![expr];
        while let Some(Expr { kind, span }) = stack.pop() {
            self.span(span);
            match kind {
                ExprKind::Str(t) => self.template(t),
                ExprKind::Int(_) | ExprKind::Number(_) | ExprKind::Bool(_) => {}
                ExprKind::List(items) => stack.extend(items.iter_mut()),
                ExprKind::Name(name) => self.ident(name),
                ExprKind::Field(inner, field) => {
                    self.ident(field);
                    stack.push(inner);
                }
                ExprKind::Call(name, args) => {
                    self.ident(name);
                    stack.extend(args.iter_mut());
                }
                ExprKind::Unary(_, inner) => stack.push(inner),
                ExprKind::Binary(_, a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                ExprKind::If { cond, then, else_ } => {
                    stack.push(cond);
                    stack.push(then);
                    stack.push(else_);
                }
                ExprKind::Ask(ask) => {
                    let Ask {
                        model,
                        prompt,
                        system,
                        modifiers,
                        keyword,
                    } = &mut **ask;
                    self.ident(model);
                    self.template(prompt);
                    if let Some(s) = system {
                        self.template(s);
                    }
                    self.modifiers(modifiers);
                    self.span(keyword);
                }
                ExprKind::Section(section) => {
                    let Section {
                        members,
                        modifiers,
                        open,
                        close,
                        span,
                    } = &mut **section;
                    for Member { name, value, span } in members {
                        if let Some(n) = name {
                            self.ident(n);
                        }
                        self.span(span);
                        stack.push(value);
                    }
                    self.modifiers(modifiers);
                    self.span(open);
                    self.span(close);
                    self.span(span);
                }
                ExprKind::For {
                    var,
                    list,
                    body,
                    open,
                } => {
                    self.ident(var);
                    self.span(open);
                    stack.push(list);
                    stack.push(body);
                }
            }
        }
    }

    fn section(&mut self, section: &mut Section) {
        let Section {
            members,
            modifiers,
            open,
            close,
            span,
        } = section;
        self.members(members);
        self.modifiers(modifiers);
        self.span(open);
        self.span(close);
        self.span(span);
    }

    fn members(&mut self, members: &mut [Member]) {
        for Member { name, value, span } in members {
            if let Some(n) = name {
                self.ident(n);
            }
            self.expr(value);
            self.span(span);
        }
    }

    fn template(&self, template: &mut Template) {
        let Template {
            parts,
            span,
            mixed_indent,
        } = template;
        for part in parts {
            match part {
                TemplatePart::Lit(_) => {}
                TemplatePart::Interp(Interp { name, fields, span }) => {
                    self.ident(name);
                    fields.iter_mut().for_each(|f| self.ident(f));
                    self.span(span);
                }
            }
        }
        self.span(span);
        if let Some(m) = mixed_indent {
            self.span(m);
        }
    }

    fn modifiers(&mut self, modifiers: &mut Modifiers) {
        let Modifiers {
            as_type,
            repeat,
            vote,
            timeout,
            retry,
            history,
        } = modifiers;
        if let Some(t) = as_type {
            self.ty(t);
        }
        for Count { value: _, span } in [repeat, retry].into_iter().flatten() {
            self.span(span);
        }
        if let Some(Vote {
            count,
            strategy,
            adaptive,
            span,
        }) = vote
        {
            if let Some(Count { value: _, span }) = count {
                self.span(span);
            }
            let StrategyExpr {
                name,
                arg,
                criteria,
                span: strategy_span,
            } = strategy;
            self.ident(name);
            match arg {
                Some(StrategyArg::Count(Count { value: _, span })) => self.span(span),
                Some(StrategyArg::Model(m)) => self.ident(m),
                None => {}
            }
            if let Some(c) = criteria {
                let Criteria { text: _, span } = &mut **c;
                self.span(span);
            }
            self.span(strategy_span);
            if let Some(a) = adaptive {
                let Adaptive { up_to, until } = &mut **a;
                if let Some(u) = up_to {
                    self.span(u);
                }
                if let Some((_, s)) = until {
                    self.span(s);
                }
            }
            self.span(span);
        }
        if let Some((_, s)) = timeout {
            self.span(s);
        }
        if let Some(h) = history {
            self.ident(h);
        }
    }
}

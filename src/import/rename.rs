//! An imported file's declarations under its namespace: `screen` in
//! `moderation.flow`, imported `as moderation`, becomes `moderation.screen`,
//! and so does every use of it inside that file. After this the checker
//! sees one program in which nothing collides and nothing is global.

use std::collections::HashSet;

use crate::syntax::ast::*;

/// Renames an imported file's items in place under `prefix` (`moderation.`).
pub struct Renamer<'p> {
    prefix: &'p str,
    /// The functions, models and types the file declares.
    own: HashSet<String>,
}

impl<'p> Renamer<'p> {
    pub fn new(prefix: &'p str, items: &[Item]) -> Renamer<'p> {
        let own = items
            .iter()
            .filter_map(|i| match i {
                Item::Function(f) => Some(f.name.name.clone()),
                Item::Model(m) => Some(m.name.name.clone()),
                Item::Type(t) => Some(t.name.name.clone()),
                _ => None,
            })
            .collect();
        Renamer { prefix, own }
    }

    /// A reference written in the file, as the program names it: its own
    /// names and `ns.name` get the prefix; a builtin keeps its name.
    fn name(&self, ident: &mut Ident) {
        if ident.name.contains('.') || self.own.contains(&ident.name) {
            ident.name = format!("{}{}", self.prefix, ident.name);
        }
    }

    /// Keeps what an importer can use (functions, models, types and the
    /// namespaces of the file's own imports), renamed.
    pub fn item(&self, item: Item) -> Option<Item> {
        Some(match item {
            Item::Function(mut f) => {
                self.name(&mut f.name);
                for p in &mut f.params {
                    self.ty(&mut p.ty);
                }
                match &mut f.body {
                    FnBody::Expr(e) => self.expr(e),
                    FnBody::Block { members, .. } => {
                        members.iter_mut().for_each(|m| self.expr(&mut m.value));
                    }
                }
                Item::Function(f)
            }
            Item::Model(mut m) => {
                self.name(&mut m.name);
                Item::Model(m)
            }
            Item::Type(mut t) => {
                self.name(&mut t.name);
                self.ty(&mut t.ty);
                Item::Type(t)
            }
            Item::Import(mut i) => {
                i.alias.name = format!("{}{}", self.prefix, i.alias.name);
                Item::Import(i)
            }
            // An imported file's tests are its own: `flow test` runs them
            // on that file.
            Item::Input(_)
            | Item::Binding(_)
            | Item::Section(_)
            | Item::Output(_)
            | Item::Test(_) => return None,
        })
    }

    fn ty(&self, t: &mut TypeExpr) {
        match &mut t.kind {
            TypeKind::List(inner) => self.ty(inner),
            TypeKind::Record(fields) => fields.iter_mut().for_each(|f| self.ty(&mut f.ty)),
            TypeKind::Named(n) => self.name(n),
            TypeKind::Text
            | TypeKind::Bool
            | TypeKind::Int
            | TypeKind::Number
            | TypeKind::Json
            | TypeKind::Chat
            | TypeKind::Union(_) => {}
        }
    }

    fn modifiers(&self, m: &mut Modifiers) {
        if let Some(t) = &mut m.as_type {
            self.ty(t);
        }
        if let Some(v) = &mut m.vote
            && let Some(StrategyArg::Model(model)) = &mut v.strategy.arg
        {
            self.name(model);
        }
    }

    fn expr(&self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Str(_)
            | ExprKind::Int(_)
            | ExprKind::Number(_)
            | ExprKind::Bool(_)
            | ExprKind::Name(_) => {}
            ExprKind::List(items) => items.iter_mut().for_each(|i| self.expr(i)),
            ExprKind::Field(inner, _) | ExprKind::Unary(_, inner) => self.expr(inner),
            ExprKind::Call(name, args) => {
                self.name(name);
                args.iter_mut().for_each(|a| self.expr(a));
            }
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::If { cond, then, else_ } => {
                self.expr(cond);
                self.expr(then);
                self.expr(else_);
            }
            ExprKind::Ask(ask) => {
                self.name(&mut ask.model);
                self.modifiers(&mut ask.modifiers);
            }
            ExprKind::Section(s) => {
                s.members.iter_mut().for_each(|m| self.expr(&mut m.value));
                self.modifiers(&mut s.modifiers);
            }
            ExprKind::For { list, body, .. } => {
                self.expr(list);
                self.expr(body);
            }
        }
    }
}

//! Name resolution: which declarations each declaration uses.
//!
//! The result is the dependency graph between declarations that cycles,
//! section independence, unused warnings and the lowering order are computed
//! from. Every name that does not resolve is reported here, once; later stages
//! look names up with [`lookup`] and treat a miss as an already-reported error.

use std::collections::{HashMap, HashSet};

use super::error::{CheckError, Suggestion};
use super::names::{DeclId, DeclKind, Scope};
use super::suggest::did_you_mean;
use crate::syntax::Span;
use crate::syntax::ast::{Ask, Expr, ExprKind, FnBody, Ident, StrategyArg, Template, TemplatePart};

/// One use of a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ref {
    pub target: DeclId,
    /// The name (and the record fields it went through) as written.
    pub span: Span,
}

#[derive(Debug, Default)]
pub struct Resolved {
    /// `refs[d]`: the declarations `d` uses, in written order.
    pub refs: Vec<Vec<Ref>>,
    /// Models named by an `ask` or a `judge`.
    pub used_models: HashSet<String>,
    /// Declarations used from places that are errors themselves (a voting
    /// section statement): not "unused", since the user did use them.
    pub loose_uses: HashSet<DeclId>,
    /// Names offered as "did you mean": most likely the intended use of
    /// them is the misspelt one, so they are not reported as unused.
    pub suggested: HashSet<String>,
    /// The functions each function's body calls, with where.
    pub calls: indexmap::IndexMap<String, Vec<(String, Span)>>,
}

/// What a name with fields means at one place in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The variable of an enclosing `for`.
    Var,
    /// A declaration, reached through `used` of the fields (record members).
    Decl {
        id: DeclId,
        used: usize,
    },
    Missing,
}

pub fn lookup(scope: &Scope<'_>, vars: &[String], name: &Ident, fields: &[Ident]) -> Lookup {
    if vars.iter().rev().any(|v| *v == name.name) {
        return Lookup::Var;
    }
    match scope.globals.get(&name.name) {
        Some(&id) => {
            let (id, used) = scope.descend(id, fields);
            Lookup::Decl { id, used }
        }
        None => Lookup::Missing,
    }
}

/// The error for `ns.name` when `ns` is no namespace, or has no `name`:
/// `None` for a name without a namespace, `Some(None)` when the namespace's
/// file could not be imported (which is reported already). `candidates`
/// are the full names of the kind looked for.
pub fn missing_qualified<'c>(
    scope: &Scope<'_>,
    name: &Ident,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<Option<CheckError>> {
    let (namespace, short) = name.name.rsplit_once('.')?;
    Some(match scope.imports.get(namespace) {
        Some(import) if !import.loaded => None,
        Some(import) => {
            let prefix = format!("{namespace}.");
            let own: Vec<&str> = candidates
                .into_iter()
                .filter_map(|c| c.strip_prefix(prefix.as_str()))
                .filter(|c| !c.contains('.'))
                .collect();
            Some(CheckError::UnknownImportName {
                namespace: namespace.to_string(),
                name: short.to_string(),
                file: import.path.clone(),
                span: name.span,
                suggestion: Suggestion(did_you_mean(short, own)),
            })
        }
        None => Some(CheckError::UnknownNamespace {
            namespace: namespace.to_string(),
            span: Span::new(name.span.start, name.span.start + namespace.len()),
            suggestion: Suggestion(did_you_mean(
                namespace,
                scope.imports.keys().map(String::as_str),
            )),
        }),
    })
}

/// `base.f.g` as (base, [f, g]) when the innermost expression is a name.
pub fn name_path(expr: &Expr) -> Option<(&Ident, Vec<&Ident>)> {
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

pub fn resolve(scope: &Scope<'_>, errors: &mut Vec<CheckError>) -> Resolved {
    let mut r = Resolver {
        scope,
        errors,
        vars: Vec::new(),
        refs: Vec::new(),
        used_models: HashSet::new(),
        suggested: HashSet::new(),
        suggestions: HashMap::new(),
        comparisons_left: COMPARISONS,
        misused: HashSet::new(),
        function: None,
        calls: Vec::new(),
    };
    let mut all = Vec::with_capacity(scope.decls.len());
    for decl in &scope.decls {
        r.refs.clear();
        match &decl.kind {
            DeclKind::Input(input) => {
                if let Some(default) = &input.default {
                    r.constant(default);
                }
            }
            DeclKind::Value(expr) => r.value(expr),
            DeclKind::Record { members, .. } => {
                for (_, id) in members {
                    let span = scope
                        .decls
                        .get(*id)
                        .map(|d| d.ident.span)
                        .unwrap_or(decl.span);
                    r.refs.push(Ref { target: *id, span });
                }
            }
            DeclKind::Output(out) => match &out.value {
                Some(expr) => r.expr(expr),
                None => match scope.globals.get(&out.name.name) {
                    Some(&id) => r.refs.push(Ref {
                        target: id,
                        span: out.name.span,
                    }),
                    None => {
                        let suggestion = r.suggest(
                            "value",
                            &out.name.name,
                            scope.globals.keys().map(String::as_str),
                        );
                        r.errors.push(CheckError::UndefinedOutput {
                            name: out.name.name.clone(),
                            span: out.name.span,
                            suggestion,
                        });
                    }
                },
            },
        }
        all.push(std::mem::take(&mut r.refs));
    }
    // The members of a voting section statement belong to no declaration,
    // but what they use is still used.
    let mut loose_uses = HashSet::new();
    for s in &scope.sections {
        if s.ast.modifiers.vote.is_some() {
            for member in s.ast.members.iter().filter(|m| m.name.is_none()) {
                r.refs.clear();
                r.expr(&member.value);
                loose_uses.extend(r.refs.iter().map(|x| x.target));
            }
        }
    }
    // A function's body sees its parameters, its locals, and the models,
    // types and functions of its file: nothing of the program's bindings.
    let mut calls = indexmap::IndexMap::new();
    for (name, f) in &scope.functions {
        r.function = Some(name.clone());
        r.calls.clear();
        r.vars = f.params.iter().map(|p| p.name.name.clone()).collect();
        match &f.body {
            FnBody::Expr(body) => r.body(body),
            FnBody::Block { members, .. } => {
                r.vars.extend(
                    members
                        .iter()
                        .filter_map(|m| m.name.as_ref())
                        .map(|n| n.name.clone()),
                );
                for m in members {
                    r.body(&m.value);
                }
            }
        }
        calls.insert(name.clone(), std::mem::take(&mut r.calls));
    }
    r.vars.clear();
    r.function = None;
    loose_uses.extend(r.misused.iter().copied());
    Resolved {
        refs: all,
        used_models: r.used_models,
        loose_uses,
        suggested: r.suggested,
        calls,
    }
}

struct Resolver<'s, 'a> {
    scope: &'s Scope<'a>,
    errors: &'s mut Vec<CheckError>,
    vars: Vec<String>,
    refs: Vec<Ref>,
    used_models: HashSet<String>,
    suggested: HashSet<String>,
    /// Suggestions already made, per unknown name: a name misspelt the same
    /// way in many places is compared with the candidates once.
    suggestions: HashMap<String, Option<String>>,
    /// How many more candidates may be compared. Each comparison is cheap,
    /// but a program with many unknown names and many names would compare
    /// every one with every other; past this, unknown names get no "did you
    /// mean" (a courtesy), so checking stays linear.
    comparisons_left: usize,
    /// Declarations named where a model belongs (`ask m2` with `m2` a
    /// binding): already an error, so not also unused.
    misused: HashSet<DeclId>,
    /// The function whose body is being resolved.
    function: Option<String>,
    /// The functions called from it so far, with where.
    calls: Vec<(String, Span)>,
}

/// Enough for a thousand unknown names in a program of a thousand names.
const COMPARISONS: usize = 1_000_000;

impl Resolver<'_, '_> {
    /// `kind` tells apart the lists of candidates a name is looked up in.
    fn suggest<'c>(
        &mut self,
        kind: &str,
        name: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> Suggestion {
        // The `for` variables in scope are candidates too.
        let key = format!("{kind} {name} {}", self.vars.join(" "));
        let found = match self.suggestions.get(&key) {
            Some(found) => found.clone(),
            None => {
                let budget = &mut self.comparisons_left;
                let counted = candidates.into_iter().take_while(|_| {
                    let go = *budget > 0;
                    *budget = budget.saturating_sub(1);
                    go
                });
                let found = did_you_mean(name, counted);
                // Cut short, the best so far may not be the best: say nothing.
                let found = if self.comparisons_left == 0 {
                    None
                } else {
                    found
                };
                self.suggestions.insert(key, found.clone());
                found
            }
        };
        if let Some(f) = &found {
            self.suggested.insert(f.clone());
        }
        Suggestion(found)
    }

    /// A function's value or a local's: any section is allowed here, as
    /// in a binding (a record's members are not names in the body).
    fn body(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Section(section) if section.modifiers.vote.is_none() => {
                for member in &section.members {
                    self.body(&member.value);
                }
            }
            _ => self.value(expr),
        }
    }

    /// The value of a binding or member: a voting section is allowed here.
    fn value(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Section(section) if section.modifiers.vote.is_some() => {
                for member in &section.members {
                    self.expr(&member.value);
                }
                self.vote_model(
                    section
                        .modifiers
                        .vote
                        .as_ref()
                        .and_then(|v| v.strategy.arg.as_ref()),
                );
            }
            _ => self.expr(expr),
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Str(t) => self.template(t),
            ExprKind::Int(_) | ExprKind::Number(_) | ExprKind::Bool(_) => {}
            ExprKind::List(items) => items.iter().for_each(|e| self.expr(e)),
            ExprKind::Name(name) => self.path(name, &[]),
            ExprKind::Field(inner, _) => match name_path(expr) {
                Some((name, fields)) => {
                    let fields: Vec<Ident> = fields.into_iter().cloned().collect();
                    self.path(name, &fields);
                }
                None => self.expr(inner),
            },
            ExprKind::Call(name, args) => {
                if self.scope.functions.contains_key(&name.name) {
                    self.calls.push((name.name.clone(), name.span));
                }
                args.iter().for_each(|e| self.expr(e));
            }
            ExprKind::Unary(_, e) => self.expr(e),
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
            ExprKind::Section(section) => {
                self.errors
                    .push(CheckError::SectionPosition { span: section.span });
                // Still resolve inside, so its uses do not look unused.
                for member in &section.members {
                    self.expr(&member.value);
                }
            }
            ExprKind::For {
                var, list, body, ..
            } => {
                self.expr(list);
                self.vars.push(var.name.clone());
                self.expr(body);
                self.vars.pop();
            }
        }
    }

    fn ask(&mut self, ask: &Ask) {
        self.model(&ask.model);
        self.template(&ask.prompt);
        if let Some(history) = &ask.modifiers.history {
            self.path(history, &[]);
        }
        if let Some(system) = &ask.system {
            self.template(system);
        }
        self.vote_model(
            ask.modifiers
                .vote
                .as_ref()
                .and_then(|v| v.strategy.arg.as_ref()),
        );
    }

    fn vote_model(&mut self, arg: Option<&StrategyArg>) {
        if let Some(StrategyArg::Model(model)) = arg {
            self.model(model);
        }
    }

    fn model(&mut self, model: &Ident) {
        if self.scope.models.contains_key(&model.name) {
            self.used_models.insert(model.name.clone());
        } else if let Some(e) = missing_qualified(
            self.scope,
            model,
            self.scope.models.keys().map(String::as_str),
        ) {
            self.errors.extend(e);
        } else if let Some(&id) = self.scope.globals.get(&model.name) {
            self.misused.insert(id);
            let suggestion = self.suggest(
                "model",
                &model.name,
                self.scope.models.keys().map(String::as_str),
            );
            let decl = &self.scope.decls[id];
            self.errors.push(CheckError::ValueAsModel {
                name: model.name.clone(),
                kind: decl.name_kind,
                span: model.span,
                declared: decl.ident.span,
                suggestion,
            });
        } else {
            let suggestion = self.suggest(
                "model",
                &model.name,
                self.scope.models.keys().map(String::as_str),
            );
            self.errors.push(CheckError::UndefinedModel {
                name: model.name.clone(),
                span: model.span,
                suggestion,
            });
        }
    }

    fn template(&mut self, t: &Template) {
        for part in &t.parts {
            if let TemplatePart::Interp(interp) = part {
                self.path(&interp.name, &interp.fields);
            }
        }
    }

    fn path(&mut self, name: &Ident, fields: &[Ident]) {
        match lookup(self.scope, &self.vars, name, fields) {
            Lookup::Var => {}
            Lookup::Decl { id, .. } if self.function.is_some() => {
                let decl = &self.scope.decls[id];
                self.misused.insert(id);
                self.errors.push(CheckError::OutsideFunction {
                    function: self.function.clone().unwrap_or_default(),
                    name: name.name.clone(),
                    kind: decl.name_kind,
                    span: name.span,
                    declared: decl.ident.span,
                });
            }
            Lookup::Decl { id, used } => {
                let end = if used == 0 {
                    name.span
                } else {
                    fields.get(used - 1).map(|f| f.span).unwrap_or(name.span)
                };
                self.refs.push(Ref {
                    target: id,
                    span: name.span.to(end),
                });
            }
            Lookup::Missing if self.scope.models.contains_key(&name.name) => {
                self.used_models.insert(name.name.clone());
                self.errors.push(CheckError::ModelAsValue {
                    name: name.name.clone(),
                    span: name.span,
                });
            }
            Lookup::Missing => {
                let scope = self.scope;
                let vars = self.vars.clone();
                let globals = if self.function.is_some() {
                    None
                } else {
                    Some(scope.globals.keys().map(String::as_str))
                };
                let candidates = globals
                    .into_iter()
                    .flatten()
                    .chain(vars.iter().map(String::as_str));
                let suggestion = self.suggest("value", &name.name, candidates);
                self.errors.push(CheckError::UndefinedName {
                    name: name.name.clone(),
                    span: name.span,
                    suggestion,
                });
            }
        }
    }

    /// An input default: literals only, reported once per offending part.
    fn constant(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Str(t) => {
                for part in &t.parts {
                    if let TemplatePart::Interp(i) = part {
                        self.errors.push(CheckError::InputDefault { span: i.span });
                    }
                }
            }
            ExprKind::Int(_) | ExprKind::Number(_) | ExprKind::Bool(_) => {}
            ExprKind::List(items) => items.iter().for_each(|e| self.constant(e)),
            ExprKind::Call(_, args) => args.iter().for_each(|e| self.constant(e)),
            ExprKind::Unary(_, e) => self.constant(e),
            ExprKind::Binary(_, a, b) => {
                self.constant(a);
                self.constant(b);
            }
            ExprKind::If { cond, then, else_ } => {
                self.constant(cond);
                self.constant(then);
                self.constant(else_);
            }
            ExprKind::Name(_)
            | ExprKind::Field(..)
            | ExprKind::Ask(_)
            | ExprKind::Section(_)
            | ExprKind::For { .. } => {
                self.errors
                    .push(CheckError::InputDefault { span: expr.span });
            }
        }
    }
}

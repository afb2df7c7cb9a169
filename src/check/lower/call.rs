//! Calls of `fn`s, expanded where they are made: each call lowers its
//! function's body again, with the parameters standing for the arguments'
//! values, so every node of the body is a node of the graph and everything
//! the checker proves of the program (independence, cycles, worst-case
//! calls, the longest chain, cost bounds) holds through calls.
//!
//! A body sees its parameters, its block's locals and its file's models,
//! types and functions, never the program's bindings (`resolve` reports
//! any), so a call depends on exactly what its arguments depend on.

use std::collections::HashMap;

use super::{Cx, Lowerer, unknown};
use crate::check::error::{ArgCount, CalledFrom, CheckError, Count_};
use crate::check::types;
use crate::graph::{EdgeKind, Expr, ExprKind, Guard, NodeId, NodeKind, SectionInfo, TemplatePart};
use crate::syntax::Span;
use crate::syntax::ast;
use crate::types::Type;
use crate::value::Value;

/// Bodies expanded in one program at most: far beyond any program written
/// by hand, reached only by calls nested in calls multiplying.
pub(super) const MAX_EXPANSIONS: usize = 100_000;
/// Nodes a program may expand into.
pub(super) const MAX_NODES: usize = 200_000;

/// The call whose body is being lowered.
pub(super) struct CallFrame {
    function: String,
    params: HashMap<String, Expr>,
    locals: HashMap<String, Local>,
    /// Locals being lowered, in order, to name a cycle among them.
    busy: Vec<String>,
    /// The guards at the call: a local is computed whichever branch of
    /// the body reads it first.
    guards: Vec<Guard>,
}

enum Local {
    Pending,
    Busy,
    Done(Expr),
}

impl<'a> Lowerer<'_, 'a> {
    /// `name(args)` for a user function `f`.
    pub(super) fn call_function(
        &mut self,
        f: &ast::FnDecl,
        name: &ast::Ident,
        args: Vec<Expr>,
        span: Span,
        cx: &mut Cx,
    ) -> Expr {
        let fname = name.name.clone();
        self.called.insert(fname.clone());
        let types = self.param_types(f);
        if args.len() != f.params.len() {
            self.errors.push(CheckError::FnArity {
                function: fname.clone(),
                expected: Count_(f.params.len()),
                found: ArgCount(args.len()),
                signature: self.signature(f),
                span,
                declared: f.name.span,
            });
            return unknown(span);
        }
        let mut ok = true;
        for ((arg, param), ty) in args.iter().zip(&f.params).zip(&types) {
            let fits = match (&arg.kind, ty) {
                (ExprKind::Lit(Value::Text(s)), Type::Union(choices)) => choices.contains(s),
                _ => types::assignable(ty, &arg.ty),
            };
            if !fits {
                ok = false;
                self.errors.push(CheckError::ArgumentType {
                    function: fname.clone(),
                    param: param.name.name.clone(),
                    expected: ty.clone(),
                    found: arg.ty.clone(),
                    span: arg.span,
                    declared: param.ty.span,
                });
            }
        }
        // Recursion is reported once, by `calls`; the call is left unknown.
        if !ok || self.too_large || self.expanding.contains(&fname) {
            return typed_unknown(span, self.result_type_hint(&fname));
        }
        self.expansions += 1;
        if self.expansions > MAX_EXPANSIONS || self.dag.node_count() > MAX_NODES {
            self.too_large = true;
            let (limit, what) = if self.expansions > MAX_EXPANSIONS {
                (MAX_EXPANSIONS, "calls")
            } else {
                (MAX_NODES, "nodes")
            };
            self.errors
                .push(CheckError::ExpansionTooLarge { limit, what, span });
            return unknown(span);
        }
        let cluster = self.scope.sections.len() + self.call_clusters.len();
        self.call_clusters.push(SectionInfo {
            name: Some(fname.clone()),
            span,
            parent: cx.section,
            function: Some(fname.clone()),
        });
        let n = cx.fn_calls.entry(fname.clone()).or_insert(0);
        *n += 1;
        let owner = if *n == 1 {
            format!("{}.{fname}", cx.owner_name)
        } else {
            format!("{}.{fname}{n}", cx.owner_name)
        };
        let locals = match &f.body {
            ast::FnBody::Block { members, .. } => members
                .iter()
                .filter_map(|m| m.name.as_ref())
                .map(|n| (n.name.clone(), Local::Pending))
                .collect(),
            ast::FnBody::Expr(_) => HashMap::new(),
        };
        let frame = CallFrame {
            function: fname.clone(),
            params: f
                .params
                .iter()
                .zip(args)
                .map(|(p, a)| (p.name.name.clone(), a))
                .collect(),
            locals,
            busy: Vec::new(),
            guards: cx.guards.clone(),
        };
        let saved_vars = std::mem::take(&mut cx.vars);
        let saved_var_names = std::mem::take(&mut cx.var_names);
        let saved_call = cx.call.replace(Box::new(frame));
        let saved_owner = std::mem::replace(&mut cx.owner_name, owner);
        let saved_section = cx.section.replace(cluster);
        let saved_counts = (cx.asks, cx.maps, cx.conds);
        let saved_calls = std::mem::take(&mut cx.fn_calls);
        (cx.asks, cx.maps, cx.conds) = (0, 0, 0);
        let first_error = self.errors.len();
        self.expanding.push(fname.clone());
        let result = self.fn_body(f, cx);
        self.expanding.pop();
        cx.vars = saved_vars;
        cx.var_names = saved_var_names;
        cx.call = saved_call;
        cx.owner_name = saved_owner;
        cx.section = saved_section;
        (cx.asks, cx.maps, cx.conds) = saved_counts;
        cx.fn_calls = saved_calls;
        // A body's mistakes are the same at every call (parameters are
        // typed): report them at the first, saying which call led there.
        let body_errors = self.errors.split_off(first_error);
        let first = self.reported.insert(fname.clone());
        for e in body_errors {
            let here = CalledFrom {
                function: fname.clone(),
                span,
            };
            match e {
                e @ CheckError::ExpansionTooLarge { .. } => self.errors.push(e),
                _ if !first => {}
                CheckError::InCall {
                    inner,
                    mut called_from,
                } => {
                    called_from.push(here);
                    self.errors.push(CheckError::InCall { inner, called_from });
                }
                e => self.errors.push(CheckError::InCall {
                    inner: Box::new(e),
                    called_from: vec![here],
                }),
            }
        }
        self.result_types.insert(fname, result.ty.clone());
        Expr { span, ..result }
    }

    /// Checks the body of a function no call expands, with placeholders
    /// for its parameters, so that its mistakes are reported too.
    pub(super) fn check_uncalled(&mut self, f: &ast::FnDecl, cx: &mut Cx) {
        let types = self.param_types(f);
        let args = f
            .params
            .iter()
            .zip(types)
            .map(|(p, ty)| Expr {
                kind: ExprKind::Lit(Value::Text(String::new())),
                ty,
                span: p.name.span,
            })
            .collect();
        let before = self.errors.len();
        self.call_function(f, &f.name, args, f.name.span, cx);
        for e in self.errors.iter_mut().skip(before) {
            if let CheckError::InCall { inner, .. } = e {
                *e = std::mem::replace(
                    &mut **inner,
                    CheckError::NoOutput {
                        span: Span::default(),
                    },
                );
            }
        }
    }

    fn param_types(&mut self, f: &ast::FnDecl) -> Vec<Type> {
        if let Some(t) = self.param_types.get(&f.name.name) {
            return t.clone();
        }
        let types: Vec<Type> = f
            .params
            .iter()
            .map(|p| self.typedefs.resolve(&p.ty, self.errors))
            .collect();
        self.param_types.insert(f.name.name.clone(), types.clone());
        types
    }

    fn result_type_hint(&self, f: &str) -> Type {
        self.result_types.get(f).cloned().unwrap_or(Type::Unknown)
    }

    /// `name(a: T, ...)` as declared.
    fn signature(&self, f: &ast::FnDecl) -> String {
        let params: Vec<String> = f
            .params
            .iter()
            .map(|p| {
                let ty = self
                    .param_types
                    .get(&f.name.name)
                    .and_then(|t| t.get(f.params.iter().position(|q| q == p).unwrap_or(0)))
                    .map_or_else(|| "?".to_string(), |t| t.to_string());
                format!("{}: {ty}", p.name.name)
            })
            .collect();
        format!("{}({})", f.name.name, params.join(", "))
    }

    fn fn_body(&mut self, f: &ast::FnDecl, cx: &mut Cx) -> Expr {
        match &f.body {
            ast::FnBody::Expr(e) => self.body_value(e, cx),
            ast::FnBody::Block {
                members,
                open,
                close,
            } => {
                let results: Vec<&ast::Member> =
                    members.iter().filter(|m| m.name.is_none()).collect();
                if results.len() != 1 {
                    self.errors.push(CheckError::BlockValue {
                        function: f.name.name.clone(),
                        found: results.len(),
                        span: open.to(*close),
                    });
                }
                for m in members {
                    if let Some(n) = &m.name {
                        self.local(&n.name, cx);
                    }
                }
                match results.first() {
                    Some(m) => self.body_value(&m.value, cx),
                    None => unknown(open.to(*close)),
                }
            }
        }
    }

    /// A node for `e` of its own, named `name`: what a binding of it would be.
    fn hoist(&mut self, name: String, e: &ast::Expr, cx: &mut Cx) -> Expr {
        self.frames.push(Vec::new());
        let (kind, ty) = self.value(e, cx);
        let deps = self.frames.pop().unwrap_or_default();
        self.synth(name, kind, ty, e.span, cx, deps)
    }

    /// A body's value, or a block's: an `ask`, a `for` or a section there
    /// is a node named after the call, as a binding's would be.
    fn body_value(&mut self, e: &ast::Expr, cx: &mut Cx) -> Expr {
        let owner = cx.owner_name.clone();
        match &e.kind {
            ast::ExprKind::Section(_) | ast::ExprKind::Ask(_) | ast::ExprKind::For { .. }
                if cx.in_map > 0 =>
            {
                match &e.kind {
                    ast::ExprKind::Section(s) => {
                        self.errors
                            .push(CheckError::SectionPosition { span: s.span });
                        unknown(e.span)
                    }
                    _ => self.expr(e, cx),
                }
            }
            ast::ExprKind::Section(s) if s.modifiers.vote.is_none() => {
                let mut record = Vec::new();
                let mut fields = indexmap::IndexMap::new();
                for m in &s.members {
                    let Some(n) = &m.name else {
                        self.errors
                            .push(CheckError::UnnamedMember { span: m.value.span });
                        continue;
                    };
                    let v = self.hoist(format!("{owner}.{}", n.name), &m.value, cx);
                    if let ExprKind::Node(id) = v.kind {
                        fields.insert(n.name.clone(), v.ty.clone());
                        record.push((n.name.clone(), id));
                    }
                }
                let deps = record
                    .iter()
                    .map(|(_, id)| (*id, self.node_name(*id), EdgeKind::Data))
                    .collect();
                // The members are already this frame's dependencies.
                self.synth(
                    owner,
                    NodeKind::Record(record),
                    Type::Record(fields),
                    e.span,
                    cx,
                    deps,
                )
            }
            ast::ExprKind::Section(_) | ast::ExprKind::Ask(_) | ast::ExprKind::For { .. } => {
                self.hoist(owner, e, cx)
            }
            _ => self.expr(e, cx),
        }
    }

    fn node_name(&self, id: NodeId) -> String {
        self.dag
            .node_weight(id)
            .map(|n| n.name.clone())
            .unwrap_or_default()
    }

    /// A local of the block being expanded, lowered the first time it is
    /// read (so locals may be written in any order).
    fn local(&mut self, name: &str, cx: &mut Cx) -> Option<Expr> {
        let frame = cx.call.as_mut()?;
        match frame.locals.get(name)? {
            Local::Done(e) => return Some(e.clone()),
            Local::Busy => {
                let start = frame.busy.iter().position(|n| n == name).unwrap_or(0);
                let mut names: Vec<String> = frame.busy[start..].to_vec();
                names.push(name.to_string());
                let span = self
                    .local_ast(&frame.function, name)
                    .map_or(Span::default(), |m| m.span);
                let links = names
                    .windows(2)
                    .map(|w| (w[0].clone(), w[1].clone(), span))
                    .take(1)
                    .collect();
                self.errors.push(CheckError::cycle(names, links));
                return Some(unknown(span));
            }
            Local::Pending => {}
        }
        frame.locals.insert(name.to_string(), Local::Busy);
        frame.busy.push(name.to_string());
        let function = frame.function.clone();
        let guards = std::mem::replace(&mut cx.guards, frame.guards.clone());
        let member = self.local_ast(&function, name)?;
        let e = if cx.in_map > 0 {
            self.expr(&member.value, cx)
        } else {
            let owner = format!("{}.{name}", cx.owner_name);
            self.hoist(owner, &member.value, cx)
        };
        cx.guards = guards;
        if let Some(frame) = cx.call.as_mut() {
            frame.busy.pop();
            frame
                .locals
                .insert(name.to_string(), Local::Done(e.clone()));
        }
        Some(e)
    }

    fn local_ast(&self, function: &str, name: &str) -> Option<&'a ast::Member> {
        let f: &'a ast::FnDecl = self.scope.functions.get(function)?;
        match &f.body {
            ast::FnBody::Block { members, .. } => members
                .iter()
                .find(|m| m.name.as_ref().is_some_and(|n| n.name == name)),
            ast::FnBody::Expr(_) => None,
        }
    }

    /// What `name` means inside the body being expanded: a parameter (the
    /// argument's value, whose nodes become this node's dependencies) or a
    /// local. `None` when there is no call frame.
    pub(super) fn frame_name(&mut self, name: &ast::Ident, cx: &mut Cx) -> Option<Expr> {
        let frame = cx.call.as_ref()?;
        if let Some(arg) = frame.params.get(&name.name) {
            let mut e = arg.clone();
            let mut nodes = Vec::new();
            nodes_in(&e, &mut nodes);
            for id in nodes {
                let label = self.node_name(id);
                self.dep(id, label, EdgeKind::Data);
            }
            e.span = name.span;
            return Some(e);
        }
        if frame.locals.contains_key(&name.name) {
            let mut e = self
                .local(&name.name, cx)
                .unwrap_or_else(|| unknown(name.span));
            if let ExprKind::Node(id) = e.kind {
                let label = self.node_name(id);
                self.dep(id, label, EdgeKind::Data);
            } else {
                let mut nodes = Vec::new();
                nodes_in(&e, &mut nodes);
                for id in nodes {
                    let label = self.node_name(id);
                    self.dep(id, label, EdgeKind::Data);
                }
            }
            e.span = name.span;
            return Some(e);
        }
        // Reported by `resolve`.
        Some(unknown(name.span))
    }
}

fn typed_unknown(span: Span, ty: Type) -> Expr {
    Expr {
        ty,
        ..unknown(span)
    }
}

/// The nodes an expression reads.
fn nodes_in(e: &Expr, out: &mut Vec<NodeId>) {
    match &e.kind {
        ExprKind::Node(id) => out.push(*id),
        ExprKind::Lit(_) | ExprKind::Var(_) => {}
        ExprKind::Template(t) => t.parts.iter().for_each(|p| {
            if let TemplatePart::Expr(e) = p {
                nodes_in(e, out);
            }
        }),
        ExprKind::List(items) | ExprKind::Call(_, items) => {
            items.iter().for_each(|i| nodes_in(i, out));
        }
        ExprKind::Field(inner, _) | ExprKind::Not(inner) => nodes_in(inner, out),
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Compare(_, a, b) => {
            nodes_in(a, out);
            nodes_in(b, out);
        }
        ExprKind::If { cond, then, else_ } => {
            nodes_in(cond, out);
            nodes_in(then, out);
            nodes_in(else_, out);
        }
        ExprKind::Ask(call, _) => {
            call.prompt.parts.iter().for_each(|p| {
                if let TemplatePart::Expr(e) = p {
                    nodes_in(e, out);
                }
            });
            if let Some(s) = &call.system {
                s.parts.iter().for_each(|p| {
                    if let TemplatePart::Expr(e) = p {
                        nodes_in(e, out);
                    }
                });
            }
            if let Some(h) = &call.history {
                nodes_in(h, out);
            }
        }
        ExprKind::Map { list, body, .. } => {
            nodes_in(list, out);
            nodes_in(body, out);
        }
    }
}

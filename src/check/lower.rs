//! Type inference and lowering to the [`FlowGraph`], in one pass.
//!
//! Each declaration is visited after the ones it uses, so the types it reads
//! are known. Expressions are typed and turned into graph expressions in the
//! same walk: the graph needs every expression's type anyway, and doing it once
//! means the checker and the graph can never disagree. The result is only
//! handed out when no error was found.
//!
//! Node `i` is declaration `i` (source order); nodes synthesized for inline
//! `ask`s, `for`s and `if` conditions come after, in the order they are met.

mod call;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use indexmap::IndexMap;
use petgraph::graph::DiGraph;

use super::error::{CheckError, CountKind, MAX_SAMPLES, TypeHelp};
use super::names::{DeclId, DeclKind, Scope};
use super::resolve::{Lookup, lookup, name_path};
use super::typedefs::TypeDefs;
use super::types::{self, Arg};
use super::votes::{self, Votes};
use crate::graph::{
    AskCall, Builtin, CompareOp, Edge, EdgeKind, Expr, ExprKind, FlowGraph, Guard, Node, NodeId,
    NodeKind, Sampling, SectionInfo, Template, TemplatePart,
};
use crate::model::ModelSpec;
use crate::syntax::Span;
use crate::syntax::ast;
use crate::types::Type;
use crate::value::Value;

/// A dependency of the node being built: (source, label, kind).
type Dep = (NodeId, String, EdgeKind);

/// `timeout`/`retry` given on an enclosing section, for the `ask`s inside.
#[derive(Debug, Clone, Copy, Default)]
struct AskDefaults {
    timeout: Option<Duration>,
    retry: Option<u32>,
}

/// Where an expression is being lowered.
struct Cx {
    owner_name: String,
    section: Option<usize>,
    /// Guards of the `if` branches around the current expression.
    guards: Vec<Guard>,
    /// `for` variables in scope, innermost last.
    vars: Vec<(String, Type)>,
    /// The name each of `vars` has in the graph: its own, or inside a
    /// function's body one made unique to the expansion, so an argument
    /// that reads the caller's `x` never sees a `for x` of the body.
    var_names: Vec<String>,
    /// Inside a `for` body: calls stay inline.
    in_map: usize,
    defaults: AskDefaults,
    asks: u32,
    maps: u32,
    conds: u32,
    /// The call whose function body is being expanded.
    call: Option<Box<call::CallFrame>>,
    /// Calls of each function met so far in this declaration, to name
    /// their nodes apart.
    fn_calls: HashMap<String, u32>,
}

pub fn lower(
    scope: &Scope<'_>,
    typedefs: &TypeDefs,
    models: &IndexMap<String, ModelSpec>,
    order: &[DeclId],
    errors: &mut Vec<CheckError>,
) -> FlowGraph {
    let mut l = Lowerer {
        scope,
        typedefs,
        models,
        errors,
        // Sized for the declarations, each a node: a node is ~600 bytes, and
        // growing the graph of 10,000 bindings copied 20 MB on the way to 10.
        dag: DiGraph::with_capacity(scope.decls.len(), scope.decls.len()),
        frames: Vec::new(),
        param_types: HashMap::new(),
        result_types: HashMap::new(),
        expanding: Vec::new(),
        reported: HashSet::new(),
        called: HashSet::new(),
        expansions: 0,
        too_large: false,
        call_clusters: Vec::new(),
    };
    for decl in &scope.decls {
        l.dag.add_node(Node {
            name: decl.name.clone(),
            kind: NodeKind::Pure(unknown(decl.span)),
            ty: Type::Unknown,
            span: decl.span,
            section: decl.section,
            guards: Vec::new(),
        });
    }
    for &id in order {
        l.decl(id);
    }
    // Functions no call expanded are still checked, in a graph of their own.
    let main = std::mem::take(&mut l.dag);
    let clusters = l.call_clusters.len();
    for f in scope.functions.values() {
        if !l.reported.contains(&f.name.name) {
            let name = &f.name.name;
            // An imported file's functions are there to be picked from.
            if !l.called.contains(name)
                && !scope.outputs.is_empty()
                && !name.contains('.')
                && !name.starts_with('_')
            {
                l.errors.push(CheckError::Unused {
                    kind: super::error::NameKind::Function,
                    name: name.clone(),
                    span: f.name.span,
                });
            }
            let mut cx = Cx::new(f.name.name.clone(), None, AskDefaults::default());
            l.check_uncalled(f, &mut cx);
        }
    }
    l.dag = main;
    l.call_clusters.truncate(clusters);
    let inputs = scope
        .globals
        .values()
        .filter(|&&id| {
            matches!(
                scope.decls.get(id).map(|d| &d.kind),
                Some(DeclKind::Input(_))
            )
        })
        .map(|&id| (scope.decls[id].name.clone(), NodeId::new(id)))
        .collect();
    let outputs = scope
        .outputs
        .iter()
        .map(|(name, &id)| (name.clone(), NodeId::new(id)))
        .collect();
    let sections = scope
        .sections
        .iter()
        .map(|s| SectionInfo {
            name: s.name.clone(),
            span: s.ast.span,
            parent: s.parent,
            function: None,
        })
        .chain(l.call_clusters)
        .collect();
    FlowGraph {
        dag: l.dag,
        models: models.clone(),
        inputs,
        outputs,
        sections,
    }
}

/// The stand-in for an expression that already has an error.
fn unknown(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Lit(Value::Text(String::new())),
        ty: Type::Unknown,
        span,
    }
}

struct Lowerer<'s, 'a> {
    scope: &'s Scope<'a>,
    typedefs: &'s TypeDefs,
    models: &'s IndexMap<String, ModelSpec>,
    errors: &'s mut Vec<CheckError>,
    dag: DiGraph<Node, Edge, u32>,
    /// Dependencies of the nodes being built, innermost last.
    frames: Vec<Vec<Dep>>,
    /// Each function's parameter types, resolved once.
    param_types: HashMap<String, Vec<Type>>,
    /// Each expanded function's type, for calls that cannot be expanded.
    result_types: HashMap<String, Type>,
    /// The functions whose bodies are being expanded, outermost first.
    expanding: Vec<String>,
    /// Functions whose body's mistakes have been reported (at their first call).
    reported: HashSet<String>,
    /// Functions the program calls (whether or not the call could expand).
    called: HashSet<String>,
    /// Bodies expanded so far, against `call::MAX_EXPANSIONS`.
    expansions: usize,
    /// The expansion bound was hit and reported: no more calls expand.
    too_large: bool,
    /// One cluster per call, drawn after the sections.
    call_clusters: Vec<SectionInfo>,
}

impl Cx {
    fn new(owner_name: String, section: Option<usize>, defaults: AskDefaults) -> Cx {
        Cx {
            owner_name,
            section,
            guards: Vec::new(),
            vars: Vec::new(),
            var_names: Vec::new(),
            in_map: 0,
            defaults,
            asks: 0,
            maps: 0,
            conds: 0,
            call: None,
            fn_calls: HashMap::new(),
        }
    }
}

impl Lowerer<'_, '_> {
    fn decl(&mut self, id: DeclId) {
        let Some(decl) = self.scope.decls.get(id) else {
            return;
        };
        let node = NodeId::new(id);
        let defaults = self.section_defaults(decl.section);
        let mut cx = Cx::new(decl.name.clone(), decl.section, defaults);
        self.frames.push(Vec::new());
        let (kind, ty) = match &decl.kind {
            DeclKind::Input(input) => {
                let ty = self.typedefs.resolve(&input.ty, self.errors);
                let mut default = input.default.as_ref().map(|d| self.expr(d, &mut cx));
                if let Some(d) = &default {
                    self.check_default(&input.name.name, &ty, d);
                }
                // A conversation left out is one that has not started.
                if ty == Type::Chat && default.is_none() {
                    default = Some(Expr {
                        kind: ExprKind::Lit(Value::Chat(Vec::new().into())),
                        ty: Type::Chat,
                        span: input.ty.span,
                    });
                }
                (NodeKind::Input { default }, ty)
            }
            DeclKind::Value(expr) => self.value(expr, &mut cx),
            DeclKind::Record { members, .. } => {
                let mut fields = IndexMap::new();
                let mut record = Vec::new();
                for (short, mid) in members {
                    let mid = NodeId::new(*mid);
                    let (name, ty) = match self.dag.node_weight(mid) {
                        Some(n) => (n.name.clone(), n.ty.clone()),
                        None => continue,
                    };
                    fields.insert(short.clone(), ty);
                    record.push((short.clone(), mid));
                    self.dep(mid, name, EdgeKind::Data);
                }
                (NodeKind::Record(record), Type::Record(fields))
            }
            DeclKind::Output(out) => {
                let e = match &out.value {
                    Some(e) => self.expr(e, &mut cx),
                    None => self.path(&out.name, &[], out.name.span, &mut cx),
                };
                let ty = e.ty.clone();
                (NodeKind::Output(e), ty)
            }
        };
        let deps = self.frames.pop().unwrap_or_default();
        if let Some(n) = self.dag.node_weight_mut(node) {
            n.kind = kind;
            n.ty = ty;
        }
        self.connect(node, deps, &[]);
    }

    /// The value of a binding: an `ask`, a voting section or a `for` at the
    /// top becomes the node itself; anything else is a pure node.
    fn value(&mut self, expr: &ast::Expr, cx: &mut Cx) -> (NodeKind, Type) {
        match &expr.kind {
            ast::ExprKind::Ask(ask) => {
                let (call, sampling, ty) = self.ask(ask, expr.span, cx);
                (NodeKind::Ask { call, sampling }, ty)
            }
            ast::ExprKind::Section(section) if section.modifiers.vote.is_some() => {
                self.ensemble(section, cx)
            }
            ast::ExprKind::For {
                var, list, body, ..
            } => {
                let (list, body, ty, var) = self.for_parts(var, list, body, cx);
                let calls_per_item = calls(&body, self.models);
                (
                    NodeKind::Map {
                        var,
                        list,
                        body,
                        calls_per_item,
                    },
                    ty,
                )
            }
            _ => {
                let e = self.expr(expr, cx);
                let ty = e.ty.clone();
                (NodeKind::Pure(e), ty)
            }
        }
    }

    fn section_defaults(&mut self, mut section: Option<usize>) -> AskDefaults {
        let mut d = AskDefaults::default();
        while let Some(s) = section.and_then(|i| self.scope.sections.get(i)) {
            let m = &s.ast.modifiers;
            if d.timeout.is_none() {
                d.timeout = m.timeout.map(|(t, _)| Duration::from_millis(t.millis));
            }
            if d.retry.is_none() {
                d.retry = m.retry.and_then(|c| {
                    votes::in_range(c.value, c.span, CountKind::Retry, &mut Vec::new())
                });
            }
            section = s.parent;
        }
        d
    }

    fn check_default(&mut self, input: &str, ty: &Type, d: &Expr) {
        let fits = match (&d.kind, ty) {
            (ExprKind::Lit(Value::Text(s)), Type::Union(choices)) => choices.contains(s),
            _ => types::assignable(ty, &d.ty),
        };
        if !fits {
            self.errors.push(CheckError::TypeMismatch {
                context: format!("the default of input `{input}`"),
                expected: match ty {
                    Type::Union(_) => format!("one of {ty}"),
                    _ => format!("`{ty}`"),
                },
                found: d.ty.clone(),
                help: TypeHelp::InputDefault,
                span: d.span,
            });
        }
    }

    // ----- dependencies --------------------------------------------------

    fn dep(&mut self, from: NodeId, label: String, kind: EdgeKind) {
        if let Some(frame) = self.frames.last_mut() {
            frame.push((from, label, kind));
        }
    }

    /// Edges into `to` from its dependencies (deduplicated) and its guards.
    fn connect(&mut self, to: NodeId, deps: Vec<Dep>, guards: &[Guard]) {
        let mut seen: HashSet<(NodeId, String, bool)> = HashSet::new();
        let guard_deps = guards.iter().map(|g| {
            let label = self
                .dag
                .node_weight(g.cond)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            (g.cond, label, EdgeKind::Guard)
        });
        let all: Vec<Dep> = deps.into_iter().chain(guard_deps).collect();
        for d in all {
            if d.0 == to || !seen.insert((d.0, d.1.clone(), d.2 == EdgeKind::Guard)) {
                continue;
            }
            self.dag.add_edge(
                d.0,
                to,
                Edge {
                    label: d.1.clone(),
                    kind: d.2,
                },
            );
        }
    }

    /// A node synthesized inside the current declaration.
    fn synth(
        &mut self,
        name: String,
        kind: NodeKind,
        ty: Type,
        span: Span,
        cx: &Cx,
        deps: Vec<Dep>,
    ) -> Expr {
        let id = self.dag.add_node(Node {
            name: name.clone(),
            kind,
            ty: ty.clone(),
            span,
            section: cx.section,
            guards: cx.guards.clone(),
        });
        self.connect(id, deps, &cx.guards);
        self.dep(id, name, EdgeKind::Data);
        Expr {
            kind: ExprKind::Node(id),
            ty,
            span,
        }
    }

    // ----- expressions ---------------------------------------------------

    fn expr(&mut self, e: &ast::Expr, cx: &mut Cx) -> Expr {
        let span = e.span;
        let (kind, ty) = match &e.kind {
            ast::ExprKind::Str(t) => {
                let t = self.template(t, cx);
                match plain(&t) {
                    Some(s) => (ExprKind::Lit(Value::Text(s)), Type::Text),
                    None => (ExprKind::Template(t), Type::Text),
                }
            }
            ast::ExprKind::Int(i) => (ExprKind::Lit(Value::Int(*i)), Type::Int),
            ast::ExprKind::Number(n) => (ExprKind::Lit(Value::Number(*n)), Type::Number),
            ast::ExprKind::Bool(b) => (ExprKind::Lit(Value::Bool(*b)), Type::Bool),
            ast::ExprKind::List(items) => {
                let items: Vec<Expr> = items.iter().map(|i| self.expr(i, cx)).collect();
                let mut elem = Type::Unknown;
                for item in &items {
                    match types::unify(&elem, &item.ty) {
                        Some(t) => elem = t,
                        None => self.errors.push(CheckError::TypeMismatch {
                            context: "every element of a list".into(),
                            expected: format!("`{elem}` like the ones before it"),
                            found: item.ty.clone(),
                            help: TypeHelp::ListElement,
                            span: item.span,
                        }),
                    }
                }
                (ExprKind::List(items), Type::list(elem))
            }
            ast::ExprKind::Name(name) => return self.path(name, &[], span, cx),
            ast::ExprKind::Field(inner, field) => match name_path(e) {
                Some((name, fields)) => {
                    let fields: Vec<ast::Ident> = fields.into_iter().cloned().collect();
                    return self.path(name, &fields, span, cx);
                }
                None => {
                    let base = self.expr(inner, cx);
                    return self.field(base, field, span);
                }
            },
            ast::ExprKind::Call(name, args) => {
                if Builtin::from_name(&name.name) == Some(Builtin::Agreement)
                    && let [arg] = args.as_slice()
                {
                    self.agreement_arg(arg, cx);
                }
                let args: Vec<Expr> = args.iter().map(|a| self.expr(a, cx)).collect();
                if let Some(f) = self.scope.functions.get(&name.name) {
                    return self.call_function(f, name, args, span, cx);
                }
                if let Some(e) = super::resolve::missing_qualified(
                    self.scope,
                    name,
                    self.scope.functions.keys().map(String::as_str),
                ) {
                    self.errors.extend(e);
                    return unknown(span);
                }
                match Builtin::from_name(&name.name) {
                    Some(b) => {
                        let typed: Vec<Arg<'_>> = args
                            .iter()
                            .map(|a| Arg {
                                ty: &a.ty,
                                span: a.span,
                            })
                            .collect();
                        let ty = types::builtin(b, &typed, span, self.errors);
                        (ExprKind::Call(b, args), ty)
                    }
                    None => {
                        self.errors.push(CheckError::UnknownBuiltin {
                            name: name.name.clone(),
                            span: name.span,
                            suggestion: super::error::Suggestion(super::suggest::did_you_mean(
                                &name.name,
                                Builtin::ALL.iter().map(|(n, _)| *n).chain(
                                    self.scope
                                        .functions
                                        .keys()
                                        .map(String::as_str)
                                        .filter(|f| !f.contains('.')),
                                ),
                            )),
                        });
                        return unknown(span);
                    }
                }
            }
            ast::ExprKind::Unary(ast::UnaryOp::Not, inner) => {
                let inner = self.expr(inner, cx);
                self.want_bool(&inner, "the operand of `not`");
                (ExprKind::Not(Box::new(inner)), Type::Bool)
            }
            ast::ExprKind::Binary(op, a, b) => {
                let a = self.expr(a, cx);
                let b = self.expr(b, cx);
                self.binary(*op, a, b)
            }
            ast::ExprKind::If { cond, then, else_ } => {
                return self.if_expr(cond, then, else_, span, cx);
            }
            ast::ExprKind::Ask(ask) => {
                if cx.in_map > 0 {
                    let (call, sampling, ty) = self.ask(ask, span, cx);
                    (ExprKind::Ask(Box::new(call), sampling), ty)
                } else {
                    self.frames.push(Vec::new());
                    let (call, sampling, ty) = self.ask(ask, span, cx);
                    let deps = self.frames.pop().unwrap_or_default();
                    cx.asks += 1;
                    let name = format!("{}.ask{}", cx.owner_name, cx.asks);
                    return self.synth(name, NodeKind::Ask { call, sampling }, ty, span, cx, deps);
                }
            }
            // Reported by name resolution: sections are only whole values.
            ast::ExprKind::Section(_) => return unknown(span),
            ast::ExprKind::For {
                var, list, body, ..
            } => {
                if cx.in_map > 0 {
                    let (list, body, ty, var) = self.for_parts(var, list, body, cx);
                    (
                        ExprKind::Map {
                            var,
                            list: Box::new(list),
                            body: Box::new(body),
                        },
                        ty,
                    )
                } else {
                    self.frames.push(Vec::new());
                    let (list, body, ty, var) = self.for_parts(var, list, body, cx);
                    let deps = self.frames.pop().unwrap_or_default();
                    cx.maps += 1;
                    let name = format!("{}.map{}", cx.owner_name, cx.maps);
                    let calls_per_item = calls(&body, self.models);
                    let kind = NodeKind::Map {
                        var,
                        list,
                        body,
                        calls_per_item,
                    };
                    return self.synth(name, kind, ty, span, cx, deps);
                }
            }
        };
        Expr { kind, ty, span }
    }

    fn want_bool(&mut self, e: &Expr, context: &str) {
        if !matches!(e.ty, Type::Bool | Type::Unknown) {
            self.errors.push(CheckError::TypeMismatch {
                context: context.to_string(),
                expected: "`bool`".into(),
                found: e.ty.clone(),
                help: TypeHelp::Condition,
                span: e.span,
            });
        }
    }

    fn binary(&mut self, op: ast::BinaryOp, a: Expr, b: Expr) -> (ExprKind, Type) {
        use ast::BinaryOp as B;
        let sym = op.symbol();
        match op {
            B::And | B::Or => {
                self.want_bool(&a, &format!("each side of `{sym}`"));
                self.want_bool(&b, &format!("each side of `{sym}`"));
                let kind = if op == B::And {
                    ExprKind::And(Box::new(a), Box::new(b))
                } else {
                    ExprKind::Or(Box::new(a), Box::new(b))
                };
                (kind, Type::Bool)
            }
            B::Eq | B::Ne => {
                if !types::comparable(&a.ty, &b.ty) {
                    self.errors.push(CheckError::TypeMismatch {
                        context: format!("the right side of `{sym}`"),
                        expected: format!("comparable with `{}`", a.ty),
                        found: b.ty.clone(),
                        help: TypeHelp::Comparison,
                        span: b.span,
                    });
                }
                self.union_choice(&a, &b, op == B::Eq);
                self.union_choice(&b, &a, op == B::Eq);
                let cop = if op == B::Eq {
                    CompareOp::Eq
                } else {
                    CompareOp::Ne
                };
                (ExprKind::Compare(cop, Box::new(a), Box::new(b)), Type::Bool)
            }
            B::Lt | B::Le | B::Gt | B::Ge => {
                for side in [&a, &b] {
                    if !types::ordered(&side.ty) {
                        self.errors.push(CheckError::TypeMismatch {
                            context: format!("each side of `{sym}`"),
                            expected: "`int` or `number`".into(),
                            found: side.ty.clone(),
                            help: TypeHelp::Ordering,
                            span: side.span,
                        });
                    }
                }
                let cop = match op {
                    B::Lt => CompareOp::Lt,
                    B::Le => CompareOp::Le,
                    B::Gt => CompareOp::Gt,
                    _ => CompareOp::Ge,
                };
                (ExprKind::Compare(cop, Box::new(a), Box::new(b)), Type::Bool)
            }
        }
    }

    /// `verdict == "maybe"` where `verdict` can only be `"safe" | "unsafe"`.
    fn union_choice(&mut self, union: &Expr, lit: &Expr, eq: bool) {
        if let (Type::Union(choices), ExprKind::Lit(Value::Text(value))) = (&union.ty, &lit.kind)
            && !choices.contains(value)
        {
            self.errors.push(CheckError::UnionChoice {
                value: value.clone(),
                ty: union.ty.clone(),
                suggestion: super::error::Suggestion(super::suggest::did_you_mean(
                    value,
                    choices.iter().map(String::as_str),
                )),
                always: if eq { "false" } else { "true" },
                span: lit.span,
                union_span: union.span,
            });
        }
    }

    /// `name.f.g`: a `for` variable or a declaration (through record members),
    /// then field accesses on the value.
    /// `agreement(x)` needs `x` to name a voted binding: its agreement is
    /// what the runtime recorded when that vote was decided.
    fn agreement_arg(&mut self, arg: &ast::Expr, cx: &Cx) {
        let problem = match &arg.kind {
            ast::ExprKind::Name(name) => {
                let vars: Vec<String> = cx.vars.iter().map(|(n, _)| n.clone()).collect();
                match lookup(self.scope, &vars, name, &[]) {
                    Lookup::Decl { id, used: 0 } => {
                        match self.scope.decls.get(id).map(|d| match &d.kind {
                            // `output x = ask ... vote N` binds `x` by a vote too.
                            DeclKind::Output(o) => o.value.as_ref(),
                            DeclKind::Value(e) => Some(*e),
                            _ => None,
                        }) {
                            Some(Some(e)) => match &e.kind {
                                ast::ExprKind::Ask(a) if a.modifiers.vote.is_some() => None,
                                ast::ExprKind::Section(s) if s.modifiers.vote.is_some() => None,
                                _ => Some(format!("`{}` is not bound by a vote", name.name)),
                            },
                            _ => Some(format!("`{}` is not bound by a vote", name.name)),
                        }
                    }
                    Lookup::Var => Some(format!("`{}` is a `for` variable", name.name)),
                    // An unknown name is reported as one.
                    _ => None,
                }
            }
            _ => Some("its argument is an expression, not a name".to_string()),
        };
        if let Some(problem) = problem {
            self.errors.push(CheckError::AgreementArg {
                problem,
                span: arg.span,
            });
        }
    }

    fn path(&mut self, name: &ast::Ident, fields: &[ast::Ident], span: Span, cx: &mut Cx) -> Expr {
        if cx.call.is_some()
            && !cx.vars.iter().any(|(n, _)| *n == name.name)
            && let Some(mut e) = self.frame_name(name, cx)
        {
            for field in fields {
                let span = e.span.to(field.span);
                e = self.field(e, field, span);
            }
            return e;
        }
        let var_names: Vec<String> = cx.vars.iter().map(|(n, _)| n.clone()).collect();
        let (mut e, used) = match lookup(self.scope, &var_names, name, fields) {
            Lookup::Var => {
                let at = cx.vars.iter().rposition(|(n, _)| *n == name.name);
                let ty = at
                    .and_then(|i| cx.vars.get(i))
                    .map(|(_, t)| t.clone())
                    .unwrap_or(Type::Unknown);
                let graph_name = at
                    .and_then(|i| cx.var_names.get(i))
                    .cloned()
                    .unwrap_or_else(|| name.name.clone());
                (
                    Expr {
                        kind: ExprKind::Var(graph_name),
                        ty,
                        span: name.span,
                    },
                    0,
                )
            }
            Lookup::Decl { id, used } => {
                let node = NodeId::new(id);
                let (decl_name, ty) = self
                    .dag
                    .node_weight(node)
                    .map_or((String::new(), Type::Unknown), |n| {
                        (n.name.clone(), n.ty.clone())
                    });
                let label = std::iter::once(decl_name)
                    .chain(fields.iter().skip(used).map(|f| f.name.clone()))
                    .collect::<Vec<_>>()
                    .join(".");
                self.dep(node, label, EdgeKind::Data);
                let end = used
                    .checked_sub(1)
                    .and_then(|i| fields.get(i))
                    .map_or(name.span, |f| f.span);
                (
                    Expr {
                        kind: ExprKind::Node(node),
                        ty,
                        span: name.span.to(end),
                    },
                    used,
                )
            }
            Lookup::Missing => return unknown(span),
        };
        for field in fields.iter().skip(used) {
            let span = e.span.to(field.span);
            e = self.field(e, field, span);
        }
        e
    }

    fn field(&mut self, base: Expr, field: &ast::Ident, span: Span) -> Expr {
        let ty = match &base.ty {
            Type::Json => Type::Json,
            Type::Unknown => Type::Unknown,
            Type::Record(members) => match members.get(&field.name) {
                Some(t) => t.field_value().clone(),
                None => {
                    let section = self.is_section_record(&base);
                    let record = match &base.kind {
                        ExprKind::Node(id) => self.dag.node_weight(*id).map(|n| n.name.clone()),
                        ExprKind::Var(name) => Some(name.clone()),
                        _ => None,
                    };
                    let (what, whose) = if section {
                        ("member", "the section".to_string())
                    } else {
                        ("field", format!("`{}`", base.ty))
                    };
                    self.errors.push(CheckError::UnknownField {
                        name: field.name.clone(),
                        record: record.unwrap_or_else(|| {
                            if section { "the section" } else { "the record" }.into()
                        }),
                        what,
                        whose,
                        members: members
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        span: field.span,
                        suggestion: super::error::Suggestion(super::suggest::did_you_mean(
                            &field.name,
                            members.keys().map(String::as_str),
                        )),
                    });
                    Type::Unknown
                }
            },
            other => {
                self.errors.push(CheckError::FieldAccess {
                    field: field.name.clone(),
                    found: other.clone(),
                    span: field.span,
                });
                Type::Unknown
            }
        };
        Expr {
            kind: ExprKind::Field(Box::new(base), field.name.clone()),
            ty,
            span,
        }
    }

    /// Whether `e` is a bound section's record (rather than a typed reply's):
    /// the one record value that is not a reply, so it has no JSON form a
    /// prompt would want.
    fn is_section_record(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Node(id) => self
                .dag
                .node_weight(*id)
                .is_some_and(|n| matches!(n.kind, NodeKind::Record(_))),
            _ => false,
        }
    }

    fn template(&mut self, t: &ast::Template, cx: &mut Cx) -> Template {
        if let Some(span) = t.mixed_indent {
            self.errors.push(CheckError::MixedIndent { span });
        }
        let mut parts = Vec::with_capacity(t.parts.len());
        for part in &t.parts {
            match part {
                ast::TemplatePart::Lit(s) => parts.push(TemplatePart::Lit(s.clone())),
                ast::TemplatePart::Interp(i) => {
                    let e = self.path(&i.name, &i.fields, i.span, cx);
                    if e.ty == Type::Chat {
                        self.errors.push(CheckError::ChatAsText {
                            name: i.name.name.clone(),
                            span: i.span,
                        });
                    }
                    if self.is_section_record(&e) {
                        let written = std::iter::once(i.name.name.as_str())
                            .chain(i.fields.iter().map(|f| f.name.as_str()))
                            .collect::<Vec<_>>()
                            .join(".");
                        self.errors.push(CheckError::InterpolateRecord {
                            name: written,
                            span: i.span,
                        });
                    }
                    parts.push(TemplatePart::Expr(e));
                }
            }
        }
        Template {
            parts,
            span: t.span,
        }
    }

    /// `if`: when a branch holds a call (or a `for`), the condition becomes a
    /// node and guards the calls of each branch, so only the taken one runs.
    fn if_expr(
        &mut self,
        cond: &ast::Expr,
        then: &ast::Expr,
        else_: &ast::Expr,
        span: Span,
        cx: &mut Cx,
    ) -> Expr {
        let guarded = cx.in_map == 0 && (has_calls(then) || has_calls(else_));
        let c = if guarded {
            self.frames.push(Vec::new());
            let c = self.expr(cond, cx);
            let deps = self.frames.pop().unwrap_or_default();
            if let ExprKind::Node(_) = c.kind {
                for (from, label, kind) in deps {
                    self.dep(from, label, kind);
                }
                c
            } else {
                cx.conds += 1;
                let name = format!("{}.cond{}", cx.owner_name, cx.conds);
                let ty = c.ty.clone();
                let cspan = c.span;
                self.synth(name, NodeKind::Pure(c), ty, cspan, cx, deps)
            }
        } else {
            self.expr(cond, cx)
        };
        if !matches!(c.ty, Type::Bool | Type::Unknown) {
            self.errors.push(CheckError::ConditionType {
                found: c.ty.clone(),
                span: c.span,
            });
        }
        let guard_node = match (guarded, &c.kind) {
            (true, ExprKind::Node(id)) => Some(*id),
            _ => None,
        };
        let branch = |this: &mut Self, e: &ast::Expr, when: bool, cx: &mut Cx| {
            if let Some(cond) = guard_node {
                cx.guards.push(Guard { cond, when });
            }
            let out = this.expr(e, cx);
            if guard_node.is_some() {
                cx.guards.pop();
            }
            out
        };
        let t = branch(self, then, true, cx);
        let e = branch(self, else_, false, cx);
        let ty = match types::unify(&t.ty, &e.ty) {
            Some(ty) => ty,
            None => {
                self.errors.push(CheckError::BranchMismatch {
                    then_ty: t.ty.clone(),
                    else_ty: e.ty.clone(),
                    then_span: t.span,
                    else_span: e.span,
                });
                Type::Unknown
            }
        };
        Expr {
            kind: ExprKind::If {
                cond: Box::new(c),
                then: Box::new(t),
                else_: Box::new(e),
            },
            ty,
            span,
        }
    }

    fn for_parts(
        &mut self,
        var: &ast::Ident,
        list: &ast::Expr,
        body: &ast::Expr,
        cx: &mut Cx,
    ) -> (Expr, Expr, Type, String) {
        let list = self.expr(list, cx);
        let elem = match &list.ty {
            Type::List(t) => (**t).clone(),
            Type::Json => Type::Json,
            Type::Unknown => Type::Unknown,
            other => {
                self.errors.push(CheckError::ForNonList {
                    found: other.clone(),
                    span: list.span,
                });
                Type::Unknown
            }
        };
        cx.in_map += 1;
        let graph_name = if cx.call.is_some() {
            format!("{}@{}", var.name, cx.owner_name)
        } else {
            var.name.clone()
        };
        cx.vars.push((var.name.clone(), elem));
        cx.var_names.push(graph_name.clone());
        let body = self.expr(body, cx);
        cx.vars.pop();
        cx.var_names.pop();
        cx.in_map -= 1;
        let ty = Type::list(body.ty.clone());
        (list, body, ty, graph_name)
    }

    // ----- calls ---------------------------------------------------------

    /// One call site without its sampling.
    fn ask_call(&mut self, ask: &ast::Ask, span: Span, cx: &mut Cx) -> AskCall {
        let prompt = self.template(&ask.prompt, cx);
        let system = ask.system.as_ref().map(|s| self.template(s, cx));
        let m = &ask.modifiers;
        let parse_as = m
            .as_type
            .as_ref()
            .map_or(Type::Text, |t| self.typedefs.resolve(t, self.errors));
        let timeout = m
            .timeout
            .map(|(d, _)| Duration::from_millis(d.millis))
            .or(cx.defaults.timeout);
        let retry = match m.retry {
            Some(c) => votes::in_range(c.value, c.span, CountKind::Retry, self.errors),
            None => cx.defaults.retry,
        };
        if let Some(t) = &m.as_type
            && mentions_chat(&parse_as)
        {
            self.errors.push(CheckError::AsChat { span: t.span });
        }
        let history = m.history.as_ref().map(|h| {
            let e = self.path(h, &[], h.span, cx);
            if !matches!(e.ty, Type::Chat | Type::Unknown) {
                self.errors.push(CheckError::WithNotChat {
                    name: h.name.clone(),
                    found: e.ty.clone(),
                    span: h.span,
                });
            }
            e
        });
        AskCall {
            model: ask.model.name.clone(),
            prompt,
            system,
            parse_as,
            timeout,
            retry,
            history,
            span,
        }
    }

    fn ask(&mut self, ask: &ast::Ask, span: Span, cx: &mut Cx) -> (AskCall, Sampling, Type) {
        let call = self.ask_call(ask, span, cx);
        let m = &ask.modifiers;
        let one = call.parse_as.clone();
        let (sampling, ty) = match (&m.repeat, &m.vote) {
            (Some(r), Some(v)) => {
                self.errors.push(CheckError::RepeatAndVote {
                    repeat: r.span,
                    vote: v.span,
                });
                (Sampling::One, Type::Unknown)
            }
            (Some(r), None) => match votes::count(r, CountKind::Repeat, self.errors) {
                Some(n) => (Sampling::Repeat(n), Type::list(one)),
                None => (Sampling::One, Type::list(one)),
            },
            (None, Some(v)) => {
                let n = match &v.count {
                    Some(c) => votes::count(c, CountKind::Vote, self.errors),
                    None => {
                        self.errors
                            .push(CheckError::VoteCountMissing { span: v.span });
                        None
                    }
                };
                let votes_span = m.as_type.as_ref().map_or(ask.keyword, |t| t.span);
                let (strategy, ty) = votes::strategy(
                    v,
                    &Votes {
                        total: n.map(u64::from),
                        ty: &one,
                        span: votes_span,
                    },
                    self.errors,
                );
                if n.is_some_and(|n| n > 1) {
                    self.deterministic(&ask.model, ask.keyword.to(ask.model.span));
                }
                let until = votes::until(v, strategy.as_ref(), self.errors);
                match (n, strategy) {
                    (Some(n), Some(strategy)) => (Sampling::Vote { n, strategy, until }, ty),
                    _ => (Sampling::One, ty),
                }
            }
            (None, None) => (Sampling::One, one),
        };
        (call, sampling, ty)
    }

    /// Warn when repeated samples of `model` will likely all be the same.
    fn deterministic(&mut self, model: &ast::Ident, span: Span) {
        let zero = self
            .models
            .get(&model.name)
            .is_some_and(|m| m.options.temperature == Some(0.0));
        if !zero {
            return;
        }
        let temperature = self
            .scope
            .models
            .get(&model.name)
            .and_then(|d| d.options.iter().find(|o| o.name.name == "temperature"))
            .map_or(model.span, |o| o.value.span);
        self.errors.push(CheckError::DeterministicVote {
            model: model.name.clone(),
            span,
            temperature,
        });
    }

    fn ensemble(&mut self, section: &ast::Section, cx: &mut Cx) -> (NodeKind, Type) {
        let saved = cx.defaults;
        let m = &section.modifiers;
        if let Some((t, _)) = m.timeout {
            cx.defaults.timeout = Some(Duration::from_millis(t.millis));
        }
        if let Some(c) = m.retry {
            // An out-of-range section `retry` is reported by the section rules.
            cx.defaults.retry = votes::in_range(c.value, c.span, CountKind::Retry, &mut Vec::new());
        }
        let mut voters = Vec::new();
        let mut ty: Option<(Type, Span)> = None;
        let mut voter_models = Vec::new();
        for member in &section.members {
            // Anything but a plain `ask` was reported by the section rules.
            let ast::ExprKind::Ask(ask) = &member.value.kind else {
                continue;
            };
            let call = self.ask_call(ask, member.value.span, cx);
            let vspan = ask
                .modifiers
                .as_type
                .as_ref()
                .map_or(ask.keyword, |t| t.span);
            ty = match ty {
                None => Some((call.parse_as.clone(), vspan)),
                Some((first, fspan)) => match types::unify(&first, &call.parse_as) {
                    Some(t) => Some((t, fspan)),
                    None => {
                        self.errors.push(CheckError::VoterMismatch {
                            first_ty: first.clone(),
                            other_ty: call.parse_as.clone(),
                            first: fspan,
                            other: vspan,
                        });
                        Some((Type::Unknown, fspan))
                    }
                },
            };
            voter_models.push((ask.model.clone(), ask.keyword.to(ask.model.span)));
            voters.push(call);
        }
        cx.defaults = saved;
        let (one, one_span) = ty.unwrap_or((Type::Unknown, section.span));
        let Some(vote) = &m.vote else {
            return (NodeKind::Pure(unknown(section.span)), Type::Unknown);
        };
        let per_voter = match &vote.count {
            Some(c) => votes::count(c, CountKind::Vote, self.errors),
            None => Some(1),
        };
        let total = per_voter.and_then(|n| {
            let total = u64::from(n) * voters.len() as u64;
            if voters.is_empty() {
                None
            } else if total > MAX_SAMPLES {
                votes::in_range(total, vote.span, CountKind::TotalVotes, self.errors);
                None
            } else {
                Some(total)
            }
        });
        let (strategy, result) = votes::strategy(
            vote,
            &Votes {
                total,
                ty: &one,
                span: one_span,
            },
            self.errors,
        );
        let until = votes::until(vote, strategy.as_ref(), self.errors);
        if per_voter.is_some_and(|n| n > 1) {
            let mut warned: Vec<String> = Vec::new();
            for (model, span) in voter_models {
                if !warned.contains(&model.name) {
                    self.deterministic(&model, span);
                    warned.push(model.name.clone());
                }
            }
        }
        let kind = match strategy {
            Some(strategy) => NodeKind::Ensemble {
                voters,
                per_voter: per_voter.unwrap_or(1),
                strategy,
                until,
            },
            None => NodeKind::Pure(unknown(section.span)),
        };
        (kind, result)
    }
}

fn plain(t: &Template) -> Option<String> {
    let mut s = String::new();
    for p in &t.parts {
        match p {
            TemplatePart::Lit(l) => s.push_str(l),
            TemplatePart::Expr(_) => return None,
        }
    }
    Some(s)
}

/// Whether lowering `e` outside a `for` body makes nodes of its own.
fn has_calls(e: &ast::Expr) -> bool {
    use ast::ExprKind as K;
    match &e.kind {
        K::Ask(_) | K::For { .. } => true,
        K::Str(_) | K::Int(_) | K::Number(_) | K::Bool(_) | K::Name(_) | K::Section(_) => false,
        K::List(items) => items.iter().any(has_calls),
        // A function's body may call models.
        K::Call(name, items) => {
            Builtin::from_name(&name.name).is_none() || items.iter().any(has_calls)
        }
        K::Field(inner, _) | K::Unary(_, inner) => has_calls(inner),
        K::Binary(_, a, b) => has_calls(a) || has_calls(b),
        K::If { cond, then, else_ } => has_calls(cond) || has_calls(then) || has_calls(else_),
    }
}

/// LLM calls in one evaluation of a `for` body, worst case: votes count every
/// sample, an `if` counts its costlier branch, and a nested `for` over a list
/// of unknown length counts one element.
pub fn calls(e: &Expr, models: &IndexMap<String, ModelSpec>) -> u64 {
    match &e.kind {
        // A function's parameter inside a `for` body is its argument's
        // expression, which may itself call a model.
        ExprKind::Ask(call, sampling) => {
            let templates = std::iter::once(&call.prompt).chain(call.system.as_ref());
            let inner = templates
                .flat_map(|t| t.parts.iter())
                .map(|p| match p {
                    TemplatePart::Expr(e) => calls(e, models),
                    TemplatePart::Lit(_) => 0,
                })
                .chain(call.history.iter().map(|h| calls(h, models)))
                .fold(0, u64::saturating_add);
            // Each sample may try every member of a `fallback` model, and a
            // judge is one more call (through its own model's members).
            let judge = match sampling {
                Sampling::Vote {
                    strategy: crate::graph::Strategy::Judge(j),
                    ..
                } => route(models, &j.model),
                _ => 0,
            };
            sampling
                .samples()
                .saturating_mul(route(models, &call.model))
                .saturating_add(judge)
                .saturating_add(inner)
        }
        ExprKind::Map { list, body, .. } => {
            let items = match &list.kind {
                ExprKind::List(items) => items.len() as u64,
                _ => 1,
            };
            calls(list, models).saturating_add(items.saturating_mul(calls(body, models)))
        }
        ExprKind::If { cond, then, else_ } => {
            calls(cond, models).saturating_add(calls(then, models).max(calls(else_, models)))
        }
        ExprKind::Lit(_) | ExprKind::Node(_) | ExprKind::Var(_) => 0,
        ExprKind::Template(t) => t
            .parts
            .iter()
            .map(|p| match p {
                TemplatePart::Expr(e) => calls(e, models),
                TemplatePart::Lit(_) => 0,
            })
            .fold(0, u64::saturating_add),
        ExprKind::List(items) | ExprKind::Call(_, items) => items
            .iter()
            .map(|i| calls(i, models))
            .fold(0, u64::saturating_add),
        ExprKind::Field(inner, _) | ExprKind::Not(inner) => calls(inner, models),
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Compare(_, a, b) => {
            calls(a, models).saturating_add(calls(b, models))
        }
    }
}

/// Calls one call of `model` can make at worst: each member of a
/// `fallback` model may be tried (as `graph::stats::route_calls` counts).
fn route(models: &IndexMap<String, ModelSpec>, model: &str) -> u64 {
    match models.get(model).and_then(|m| m.options.route.as_ref()) {
        Some(r) if r.kind == crate::model::RouteKind::Fallback => r.members.len() as u64,
        _ => 1,
    }
}

/// Whether a reply type holds a conversation, which no reply parses into.
fn mentions_chat(ty: &Type) -> bool {
    match ty {
        Type::Chat => true,
        Type::List(item) => mentions_chat(item),
        _ => false,
    }
}

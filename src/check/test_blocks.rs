//! `test "name" < ... >` blocks, checked against the lowered graph: the
//! inputs they set exist and take the values given, the models they replace
//! are declared, and every expectation reads outputs that exist, with types
//! that fit. A test adds nothing to the graph.

use indexmap::IndexMap;

use super::error::{CheckError, Suggestion, TypeHelp};
use super::suggest::did_you_mean;
use super::types;
use crate::graph::{Builtin, FlowGraph};
use crate::model::ModelSpec;
use crate::syntax::Span;
use crate::syntax::ast::{
    self, BinaryOp, ExprKind, Item, Literal, LiteralKind, TestDecl, TestLine,
};
use crate::testing::{ExpectKind, Expectation, TestCase};
use crate::types::Type;

/// Names an expectation may read besides the outputs: calls made and
/// samples saved by the run (an output of the same name wins).
pub const COUNTS: [&str; 2] = ["calls", "saved"];

/// Every test of `program`, checked; errors go to `errors`.
pub fn check(
    program: &ast::Program,
    graph: &FlowGraph,
    declared_models: &IndexMap<String, &ast::ModelDecl>,
    errors: &mut Vec<CheckError>,
) -> Vec<TestCase> {
    let mut seen: IndexMap<&str, Span> = IndexMap::new();
    let mut tests = Vec::new();
    for item in &program.items {
        let Item::Test(test) = item else { continue };
        if let Some(first) = seen.get(test.name.0.as_str()) {
            errors.push(CheckError::DuplicateTest {
                name: test.name.0.clone(),
                first: *first,
                second: test.name.1,
            });
        } else {
            seen.insert(&test.name.0, test.name.1);
        }
        tests.push(check_one(test, graph, declared_models, errors));
    }
    tests
}

fn check_one(
    test: &TestDecl,
    graph: &FlowGraph,
    declared_models: &IndexMap<String, &ast::ModelDecl>,
    errors: &mut Vec<CheckError>,
) -> TestCase {
    let name = &test.name.0;
    let mut inputs = serde_json::Map::new();
    let mut given: IndexMap<&str, Span> = IndexMap::new();
    let mut models: Vec<ModelSpec> = Vec::new();
    let mut expects = Vec::new();
    let mut duplicate = |n: &str, span: Span, given: &mut IndexMap<String, Span>| {
        if let Some(first) = given.get(n) {
            errors.push(CheckError::TestDuplicateLine {
                test: name.clone(),
                name: n.to_string(),
                first: *first,
                second: span,
            });
            true
        } else {
            given.insert(n.to_string(), span);
            false
        }
    };
    let mut lines_given: IndexMap<String, Span> = IndexMap::new();
    let mut model_errors = Vec::new();
    // A misnamed input is likely the missing one: one error, not two.
    let mut misnamed = false;
    let mut other_errors = Vec::new();
    for line in &test.lines {
        match line {
            TestLine::Input {
                name: input, value, ..
            } => {
                if duplicate(&input.name, input.span, &mut lines_given) {
                    continue;
                }
                given.insert(&input.name, input.span);
                let Some(&node) = graph.inputs.get(&input.name) else {
                    misnamed = true;
                    other_errors.push(CheckError::TestUnknownInput {
                        test: name.clone(),
                        name: input.name.clone(),
                        span: input.span,
                        help: listed(
                            "the inputs are",
                            graph.inputs.keys(),
                            "the program has no inputs",
                        ),
                        suggestion: Suggestion(did_you_mean(
                            &input.name,
                            graph.inputs.keys().map(String::as_str),
                        )),
                    });
                    continue;
                };
                let json = to_json(value);
                let ty = &graph.node(node).ty;
                match crate::engine::inputs::convert_json(&input.name, &json, ty) {
                    Ok(_) => {
                        inputs.insert(input.name.clone(), json);
                    }
                    Err(e) => other_errors.push(CheckError::TestInputValue {
                        test: name.clone(),
                        name: input.name.clone(),
                        reason: e.to_string(),
                        help: format!("input `{}` is declared `{ty}`", input.name),
                        span: value.span,
                    }),
                }
            }
            TestLine::Model(decl) => {
                if duplicate(&decl.name.name, decl.name.span, &mut lines_given) {
                    continue;
                }
                if !declared_models.contains_key(&decl.name.name) {
                    other_errors.push(CheckError::TestUnknownModel {
                        test: name.clone(),
                        name: decl.name.name.clone(),
                        span: decl.name.span,
                        help: listed(
                            "the models are",
                            declared_models.keys(),
                            "the program declares no models",
                        ),
                        suggestion: Suggestion(did_you_mean(
                            &decl.name.name,
                            declared_models.keys().map(String::as_str),
                        )),
                    });
                    continue;
                }
                if let Some(spec) = super::models::build_one(decl, &mut model_errors) {
                    models.push(spec);
                }
            }
            TestLine::Expect(e) => {
                let mut typer = Typer {
                    test: name,
                    graph,
                    errors: &mut other_errors,
                };
                expects.push(typer.expectation(e));
            }
        }
    }
    errors.append(&mut model_errors);
    errors.append(&mut other_errors);
    for (input, &node) in &graph.inputs {
        let n = graph.node(node);
        let has_default = matches!(&n.kind, crate::graph::NodeKind::Input { default: Some(_) });
        if !has_default && !misnamed && !given.contains_key(input.as_str()) {
            errors.push(CheckError::TestMissingInput {
                test: name.clone(),
                name: input.clone(),
                ty: n.ty.clone(),
                span: test.name.1,
            });
        }
    }
    TestCase {
        name: name.clone(),
        span: test.span,
        inputs,
        models,
        expects,
    }
}

fn listed<'a>(lead: &str, names: impl Iterator<Item = &'a String>, none: &str) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        none.to_string()
    } else {
        format!("{lead} {}", names.join(", "))
    }
}

/// A constant as the JSON an input is bound from.
fn to_json(l: &Literal) -> serde_json::Value {
    use serde_json::Value as J;
    match &l.kind {
        LiteralKind::Str(s) => J::String(s.clone()),
        LiteralKind::Int(i) => J::from(*i),
        LiteralKind::Number(n) => serde_json::Number::from_f64(*n).map_or(J::Null, J::Number),
        LiteralKind::Bool(b) => J::Bool(*b),
        // A duration is no input type; as milliseconds it is at least a number.
        LiteralKind::Duration(d) => J::from(d.millis),
        LiteralKind::List(items) => J::Array(items.iter().map(to_json).collect()),
        LiteralKind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match &k.kind {
                        LiteralKind::Str(s) => s.clone(),
                        _ => String::new(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
    }
}

/// Types an expectation over the outputs.
struct Typer<'a> {
    test: &'a str,
    graph: &'a FlowGraph,
    errors: &'a mut Vec<CheckError>,
}

impl Typer<'_> {
    fn expectation(&mut self, e: &ast::Expect) -> Expectation {
        let kind = match &e.contains {
            Some(needle) => {
                let hay = self.ty(&e.value);
                let _ = self.ty(needle);
                if !matches!(hay, Type::List(_) | Type::Json | Type::Unknown) && !hay.is_textual() {
                    self.errors.push(CheckError::TestExpectType {
                        expected: "text or a list before `contains`",
                        found: hay,
                        help: "`A contains B` holds when text A contains text B, or list A has an element equal to B",
                        span: e.value.span,
                    });
                }
                ExpectKind::Contains(e.value.clone(), needle.clone())
            }
            None => {
                let ty = self.ty(&e.value);
                if !matches!(ty, Type::Bool | Type::Unknown) {
                    self.errors.push(CheckError::TestExpectType {
                        expected: "a `bool`",
                        found: ty,
                        help: "compare it (`expect answer == \"...\"`), or test it with `contains`",
                        span: e.value.span,
                    });
                }
                match &e.value.kind {
                    ExprKind::Binary(BinaryOp::Eq, a, b) => {
                        ExpectKind::Equal((**a).clone(), (**b).clone())
                    }
                    _ => ExpectKind::Holds(e.value.clone()),
                }
            }
        };
        Expectation { kind, span: e.span }
    }

    fn form(&mut self, what: &'static str, span: Span) -> Type {
        self.errors.push(CheckError::TestExpectForm { what, span });
        Type::Unknown
    }

    fn want_bool(&mut self, e: &ast::Expr, context: &str) {
        let ty = self.ty(e);
        if !matches!(ty, Type::Bool | Type::Unknown) {
            self.errors.push(CheckError::TypeMismatch {
                context: context.to_string(),
                expected: "`bool`".into(),
                found: ty,
                help: TypeHelp::Condition,
                span: e.span,
            });
        }
    }

    fn ty(&mut self, e: &ast::Expr) -> Type {
        match &e.kind {
            ExprKind::Str(t) => match t.as_plain() {
                Some(_) => Type::Text,
                None => self.form("interpolate into a string", e.span),
            },
            ExprKind::Int(_) => Type::Int,
            ExprKind::Number(_) => Type::Number,
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::List(items) => {
                let mut of = Type::Unknown;
                for item in items {
                    let t = self.ty(item);
                    of = types::unify(&of, &t).unwrap_or(Type::Json);
                }
                Type::list(of)
            }
            ExprKind::Name(id) => self.name(id),
            ExprKind::Field(base, field) => {
                let base_ty = self.ty(base);
                match base_ty {
                    Type::Json => Type::Json,
                    Type::Unknown => Type::Unknown,
                    Type::Record(ref fields) => match fields.get(&field.name) {
                        Some(t) => t.field_value().clone(),
                        None => {
                            self.errors.push(CheckError::UnknownField {
                                name: field.name.clone(),
                                record: "the record".into(),
                                what: "field",
                                members: fields
                                    .keys()
                                    .map(|k| format!("`{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                span: field.span,
                                whose: format!("`{base_ty}`"),
                                suggestion: Suggestion(did_you_mean(
                                    &field.name,
                                    fields.keys().map(String::as_str),
                                )),
                            });
                            Type::Unknown
                        }
                    },
                    other => {
                        self.errors.push(CheckError::FieldAccess {
                            field: field.name.clone(),
                            found: other,
                            span: field.span,
                        });
                        Type::Unknown
                    }
                }
            }
            ExprKind::Call(name, args) => {
                let tys: Vec<Type> = args.iter().map(|a| self.ty(a)).collect();
                let Some(b) = Builtin::from_name(&name.name) else {
                    self.errors.push(CheckError::UnknownBuiltin {
                        name: name.name.clone(),
                        span: name.span,
                        suggestion: Suggestion(did_you_mean(
                            &name.name,
                            Builtin::ALL.iter().map(|(n, _)| *n),
                        )),
                    });
                    return Type::Unknown;
                };
                let args: Vec<types::Arg<'_>> = tys
                    .iter()
                    .zip(args)
                    .map(|(ty, a)| types::Arg { ty, span: a.span })
                    .collect();
                types::builtin(b, &args, e.span, self.errors)
            }
            ExprKind::Unary(_, x) => {
                self.want_bool(x, "the operand of `not`");
                Type::Bool
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b),
            ExprKind::If { cond, then, else_ } => {
                self.want_bool(cond, "the condition of `if`");
                let (t, f) = (self.ty(then), self.ty(else_));
                types::unify(&t, &f).unwrap_or(Type::Unknown)
            }
            ExprKind::Ask(_) => self.form("call a model", e.span),
            ExprKind::Section(_) => self.form("hold a section", e.span),
            ExprKind::For { .. } => self.form("loop with `for`", e.span),
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &ast::Expr, b: &ast::Expr) -> Type {
        let sym = op.symbol();
        match op {
            BinaryOp::And | BinaryOp::Or => {
                self.want_bool(a, &format!("each side of `{sym}`"));
                self.want_bool(b, &format!("each side of `{sym}`"));
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                let (ta, tb) = (self.ty(a), self.ty(b));
                if !types::comparable(&ta, &tb) {
                    self.errors.push(CheckError::TypeMismatch {
                        context: format!("the right side of `{sym}`"),
                        expected: format!("comparable with `{ta}`"),
                        found: tb,
                        help: TypeHelp::Comparison,
                        span: b.span,
                    });
                }
            }
            _ => {
                for side in [a, b] {
                    let t = self.ty(side);
                    if !types::ordered(&t) {
                        self.errors.push(CheckError::TypeMismatch {
                            context: format!("each side of `{sym}`"),
                            expected: "`int` or `number`".into(),
                            found: t,
                            help: TypeHelp::Ordering,
                            span: side.span,
                        });
                    }
                }
            }
        }
        Type::Bool
    }

    fn name(&mut self, id: &ast::Ident) -> Type {
        if let Some(&node) = self.graph.outputs.get(&id.name) {
            return self.graph.node(node).ty.clone();
        }
        if COUNTS.contains(&id.name.as_str()) {
            return Type::Int;
        }
        let known = self.graph.outputs.keys().map(String::as_str).chain(COUNTS);
        self.errors.push(CheckError::TestUnknownOutput {
            test: self.test.to_string(),
            name: id.name.clone(),
            span: id.span,
            help: listed(
                "an expectation reads `calls`, `saved` and the outputs:",
                self.graph.outputs.keys(),
                "an expectation reads `calls`, `saved` and the outputs, and the program has none",
            ),
            suggestion: Suggestion(did_you_mean(&id.name, known)),
        });
        Type::Unknown
    }
}

//! Evaluating expressions: templates, fields, builtins, logic, `if`, lists,
//! and — inside `for` bodies — inline calls and nested maps.
//!
//! Evaluation is async because a `for` body may call models; independent
//! sub-expressions (template parts, list items, arguments, map elements) are
//! evaluated concurrently so inline calls in one body overlap.

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::stream::FuturesOrdered;

use super::ask::{self, Rendered};
use super::env::Env;
use super::error::{RunError, TypeProblem};
use crate::graph::{AskCall, Builtin, CompareOp, Expr, ExprKind, Template, TemplatePart};
use crate::providers::{ReplyFormat, reply_format};
use crate::syntax::Span;
use crate::value::{Placeholder, Value};

/// The value of an expression that needs no waiting (a literal, a node's
/// value, a variable), without a future; `None` for any other. Lists of
/// bindings and templates of names are most of what a program evaluates,
/// and a future per item cost an allocation each.
fn eval_plain(env: &Env<'_>, expr: &Expr) -> Option<Result<Value, RunError>> {
    match &expr.kind {
        ExprKind::Lit(v) => Some(Ok(v.clone())),
        ExprKind::Node(id) => Some(match env.values.get(id) {
            Some(v) => Ok(Value::clone(v)),
            None => Err(RunError::internal(format!(
                "`{}` read node {} before it had a value (it was skipped or is not a dependency)",
                env.binding,
                id.index()
            ))),
        }),
        ExprKind::Var(name) => Some(env.var(name).cloned().ok_or_else(|| {
            RunError::internal(format!(
                "`{}` read the unbound variable `{name}`",
                env.binding
            ))
        })),
        _ => None,
    }
}

/// `agreement(vote)`: what the vote recorded when it was decided. The vote
/// is a dependency, so it was decided before this node started.
fn agreement(env: &Env<'_>, args: &[Expr]) -> Result<Value, RunError> {
    let Some(ExprKind::Node(id)) = args.first().map(|a| &a.kind) else {
        return Err(RunError::internal(
            "`agreement` was given no vote; the checker should have caught it",
        ));
    };
    let name = env
        .ctx
        .graph
        .dag
        .node_weight(*id)
        .map(|n| super::error::written_binding(&n.name).to_string())
        .unwrap_or_default();
    let Some(v) = env.ctx.vote_stats(&name) else {
        return Err(RunError::internal(format!(
            "`{}` read the agreement of `{name}`, which recorded none",
            env.binding
        )));
    };
    let int = |n: usize| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    Ok(Value::Record(
        [
            ("share", Value::Number(v.share)),
            ("answered", int(v.answered)),
            ("abstained", int(v.abstained)),
            ("winner", int(v.winner)),
            ("samples", int(v.launched)),
            ("cap", int(v.cap)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    ))
}

pub(crate) fn eval<'e>(env: &'e Env<'_>, expr: &'e Expr) -> BoxFuture<'e, Result<Value, RunError>> {
    eval_inline(env, expr).boxed()
}

/// [`eval`] unboxed, for a `for`, whose set of pending elements holds each
/// one in an allocation of its own already: a box inside it was a second
/// allocation per element. Recursion goes through [`eval`], and a nested
/// `for` is boxed, so the type stays finite.
// Not an `async fn`: its `Send` would then be inferred through the nested
// `for`'s future, which holds this one, and the compiler cannot close that
// cycle; the bound written here does.
#[allow(clippy::manual_async_fn)]
fn eval_inline<'e>(
    env: &'e Env<'_>,
    expr: &'e Expr,
) -> impl Future<Output = Result<Value, RunError>> + Send + 'e {
    async move {
        match &expr.kind {
            ExprKind::Lit(v) => Ok(v.clone()),
            ExprKind::Node(id) => match env.values.get(id) {
                Some(v) => Ok(Value::clone(v)),
                None => Err(RunError::internal(format!(
                    "`{}` read node {} before it had a value (it was skipped or is not a dependency)",
                    env.binding,
                    id.index()
                ))),
            },
            ExprKind::Var(name) => env.var(name).cloned().ok_or_else(|| {
                RunError::internal(format!(
                    "`{}` read the unbound variable `{name}`",
                    env.binding
                ))
            }),
            ExprKind::Template(t) => Ok(Value::Text(render(env, t).await?)),
            ExprKind::List(items) => {
                if let Some(values) = items
                    .iter()
                    .map(|e| eval_plain(env, e))
                    .collect::<Option<Vec<_>>>()
                {
                    return values
                        .into_iter()
                        .collect::<Result<_, _>>()
                        .map(Value::List);
                }
                Ok(Value::List(
                    try_join_all(items.iter().map(|e| eval(env, e))).await?,
                ))
            }
            ExprKind::Field(base, field) => {
                let v = eval(env, base).await?;
                field_of(env, v, field, expr.span)
            }
            ExprKind::Call(Builtin::Agreement, args) => agreement(env, args),
            ExprKind::Call(builtin, args) => {
                let args = try_join_all(args.iter().map(|e| eval(env, e))).await?;
                call_builtin(env, *builtin, args, expr.span)
            }
            ExprKind::Not(e) => Ok(Value::Bool(!as_bool(env, &eval(env, e).await?, e.span)?)),
            ExprKind::And(a, b) => {
                if !as_bool(env, &eval(env, a).await?, a.span)? {
                    return Ok(Value::Bool(false));
                }
                Ok(Value::Bool(as_bool(env, &eval(env, b).await?, b.span)?))
            }
            ExprKind::Or(a, b) => {
                if as_bool(env, &eval(env, a).await?, a.span)? {
                    return Ok(Value::Bool(true));
                }
                Ok(Value::Bool(as_bool(env, &eval(env, b).await?, b.span)?))
            }
            ExprKind::Compare(op, a, b) => {
                // Boxed: the two sides' futures side by side were the
                // largest state here, and every element of a `for` has it.
                let (l, r) =
                    Box::pin(async { futures::try_join!(eval(env, a), eval(env, b)) }).await?;
                compare(*op, &l, &r)
                    .map(Value::Bool)
                    .map_err(|p| env.type_error(p, expr.span))
            }
            ExprKind::If { cond, then, else_ } => {
                if as_bool(env, &eval(env, cond).await?, cond.span)? {
                    eval(env, then).await
                } else {
                    eval(env, else_).await
                }
            }
            ExprKind::Ask(call, sampling) => {
                let r = render_call(env, call).await?;
                let called = ask::ask(env, &r, sampling, expr.span).await?;
                env.observe_latency(called.latency);
                Ok(called.value)
            }
            ExprKind::Map { var, list, body } => map(env, var, list, body).boxed().await,
        }
    }
}

/// `for VAR in LIST < BODY >`: every element at once, results in element order.
pub(crate) async fn map(
    env: &Env<'_>,
    var: &str,
    list: &Expr,
    body: &Expr,
) -> Result<Value, RunError> {
    // A list that is a node's value (an input, a binding) or an outer
    // `for`'s variable is read where it is, each element borrowed; any
    // other is evaluated and owned here.
    let shared = match &list.kind {
        ExprKind::Node(id) => env.values.get(id).map(|v| &**v),
        ExprKind::Var(name) => env.var(name),
        _ => None,
    };
    let shared = match shared {
        Some(Value::List(items)) => Some(items.as_slice()),
        _ => None,
    };
    let owned;
    let items = match shared {
        Some(items) => items,
        None => {
            owned = as_list(env, eval(env, list).await?, list.span)?;
            owned.as_slice()
        }
    };
    let envs: Vec<Env<'_>> = items
        .iter()
        .enumerate()
        .map(|(i, v)| env.child(var, v, i))
        .collect();
    // As `try_join_all` of many does (in element order: the error is that of
    // the first element to fail after all before it answered), into a list
    // sized once: growing it as replies came in was 5% of finishing a
    // 10,000-call fan-out's calls, with its page faults.
    let mut pending: FuturesOrdered<_> = envs.iter().map(|e| eval_inline(e, body)).collect();
    let mut values = Vec::with_capacity(envs.len());
    while let Some(value) = pending.next().await {
        values.push(value?);
    }
    Ok(Value::List(values))
}

pub(crate) async fn render(env: &Env<'_>, t: &Template) -> Result<String, RunError> {
    if let Some(text) = render_plain(env, t) {
        return text;
    }
    let parts = try_join_all(t.parts.iter().map(|p| async move {
        match p {
            TemplatePart::Lit(s) => Ok(s.clone()),
            TemplatePart::Expr(e) => Ok(eval(env, e).await?.to_text()),
        }
    }))
    .await?;
    Ok(parts.concat())
}

/// A call site's prompt and system, rendered once for all its samples. Done
/// here rather than in `ask` so that `ask` never needs the evaluator.
pub(crate) async fn render_call<'c>(
    env: &Env<'_>,
    call: &'c AskCall,
) -> Result<Rendered<'c>, RunError> {
    let prompt = render(env, &call.prompt).await?;
    let system = match &call.system {
        Some(t) => Some(render(env, t).await?),
        None => env
            .ctx
            .graph
            .models
            .get(&call.model)
            .and_then(|m| m.options.system.clone()),
    };
    let history = match &call.history {
        Some(h) => match eval(env, h).await? {
            Value::Chat(chat) => chat,
            other => {
                return Err(RunError::internal(format!(
                    "`with` in `{}` was given a {}, not a chat",
                    env.binding,
                    kind_name(&other)
                )));
            }
        },
        None => crate::chat::no_history(),
    };
    let format = env
        .ctx
        .graph
        .models
        .get(&call.model)
        .map_or_else(ReplyFormat::default, |spec| {
            reply_format(spec, &call.parse_as)
        });
    Ok(Rendered {
        call,
        format,
        prompt,
        system,
        history,
        stream: None,
    })
}

/// A template whose parts are all plain (see `eval_plain`), rendered
/// without a future per part; `None` if any part must be awaited.
fn render_plain(env: &Env<'_>, t: &Template) -> Option<Result<String, RunError>> {
    // `"{x}"` alone, as a `for` over prompts writes it: the text itself,
    // not a copy of a copy.
    if let [TemplatePart::Expr(e)] = t.parts.as_slice() {
        return Some(eval_plain(env, e)?.map(|v| match v {
            Value::Text(s) => s,
            other => other.to_text(),
        }));
    }
    let mut out = String::new();
    for p in &t.parts {
        match p {
            TemplatePart::Lit(s) => out.push_str(s),
            TemplatePart::Expr(e) => match eval_plain(env, e)? {
                Ok(Value::Text(s)) => out.push_str(&s),
                Ok(v) => out.push_str(&v.to_text()),
                Err(e) => return Some(Err(e)),
            },
        }
    }
    Some(Ok(out))
}

pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Text(_) => "text",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Number(_) => "number",
        Value::List(_) => "list",
        Value::Record(_) => "section record",
        Value::Chat(_) => "chat",
        Value::Placeholder(_) => "offline placeholder",
        Value::Json(j) => match j {
            serde_json::Value::Null => "json null",
            serde_json::Value::Bool(_) => "json bool",
            serde_json::Value::Number(_) => "json number",
            serde_json::Value::String(_) => "json string",
            serde_json::Value::Array(_) => "json array",
            serde_json::Value::Object(_) => "json object",
        },
    }
}

/// JSON scalars behave like the flow values they spell.
pub(crate) fn normalize(v: &Value) -> Value {
    match v {
        Value::Json(serde_json::Value::String(s)) => Value::Text(s.clone()),
        Value::Json(serde_json::Value::Bool(b)) => Value::Bool(*b),
        Value::Json(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Json(serde_json::Value::Array(items)) => Value::List(
            items
                .iter()
                .map(|j| normalize(&Value::Json(j.clone())))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn as_bool(env: &Env<'_>, v: &Value, span: Span) -> Result<bool, RunError> {
    match v.truth() {
        Some(b) => Ok(b),
        None => Err(env.type_error(
            TypeProblem::Expected {
                expected: "a bool",
                found: kind_name(v),
            },
            span,
        )),
    }
}

pub(crate) fn as_list(env: &Env<'_>, v: Value, span: Span) -> Result<Vec<Value>, RunError> {
    match v {
        Value::List(items) => Ok(items),
        Value::Json(serde_json::Value::Array(items)) => {
            Ok(items.into_iter().map(Value::Json).collect())
        }
        Value::Placeholder(p) => Ok(p.items()),
        other => Err(env.type_error(
            TypeProblem::Expected {
                expected: "a list",
                found: kind_name(&other),
            },
            span,
        )),
    }
}

fn field_of(env: &Env<'_>, v: Value, field: &str, span: Span) -> Result<Value, RunError> {
    match v {
        Value::Record(mut fields) => match fields.shift_remove(field) {
            Some(v) => Ok(v),
            None => Err(env.type_error(
                TypeProblem::MissingField {
                    field: field.to_string(),
                    available: fields.keys().cloned().collect(),
                },
                span,
            )),
        },
        Value::Json(serde_json::Value::Object(mut map)) => match map.remove(field) {
            Some(v) => Ok(Value::Json(v)),
            None => Err(env.type_error(
                TypeProblem::MissingField {
                    field: field.to_string(),
                    available: map.keys().cloned().collect(),
                },
                span,
            )),
        },
        Value::Placeholder(p) => Ok(Value::Placeholder(p.field(field))),
        other => Err(env.type_error(
            TypeProblem::NoFields {
                field: field.to_string(),
                found: kind_name(&other),
            },
            span,
        )),
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Equality is structural after normalising JSON scalars, with ints and
/// numbers compared by value; ordering is defined on numbers and on text.
/// A placeholder is like NaN: it equals nothing, itself included, and is
/// neither less nor greater than anything, so only `!=` holds.
pub(crate) fn compare(op: CompareOp, l: &Value, r: &Value) -> Result<bool, TypeProblem> {
    if matches!(l, Value::Placeholder(_)) || matches!(r, Value::Placeholder(_)) {
        return Ok(op == CompareOp::Ne);
    }
    let (l, r) = (normalize(l), normalize(r));
    let ordering = match (&l, &r) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        _ => match (as_f64(&l), as_f64(&r)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => match (&l, &r) {
                (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
                _ => None,
            },
        },
    };
    match op {
        CompareOp::Eq => Ok(ordering.map(|o| o.is_eq()).unwrap_or_else(|| l == r)),
        CompareOp::Ne => Ok(!ordering.map(|o| o.is_eq()).unwrap_or_else(|| l == r)),
        _ => {
            let Some(o) = ordering else {
                return Err(TypeProblem::Incomparable {
                    left: kind_name(&l),
                    right: kind_name(&r),
                });
            };
            Ok(match op {
                CompareOp::Lt => o.is_lt(),
                CompareOp::Le => o.is_le(),
                CompareOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
    }
}

fn call_builtin(
    env: &Env<'_>,
    builtin: Builtin,
    args: Vec<Value>,
    span: Span,
) -> Result<Value, RunError> {
    let mut args = args.into_iter();
    let (a, b) = (args.next(), args.next());
    let arity = |n: usize| {
        RunError::internal(format!(
            "`{}` was called with the wrong number of arguments (expects {n}); the checker should have caught it",
            builtin.name()
        ))
    };
    let text = |v: &Value| normalize(v).to_text();
    match builtin {
        // Read from the vote's record, not from argument values (`eval`).
        Builtin::Agreement => Err(RunError::internal(
            "`agreement` reached the value builtins; it reads a vote's record",
        )),
        Builtin::Join => {
            let (Some(list), Some(sep)) = (a, b) else {
                return Err(arity(2));
            };
            let items = as_list(env, list, span)?;
            Ok(Value::Text(
                items.iter().map(text).collect::<Vec<_>>().join(&text(&sep)),
            ))
        }
        Builtin::Split => {
            let (Some(s), Some(sep)) = (a, b) else {
                return Err(arity(2));
            };
            let sep = text(&sep);
            if sep.is_empty() {
                return Err(env.type_error(TypeProblem::EmptySeparator, span));
            }
            Ok(Value::List(
                text(&s)
                    .split(&sep)
                    .map(|p| Value::Text(p.to_string()))
                    .collect(),
            ))
        }
        Builtin::Lines => {
            let Some(s) = a else {
                return Err(arity(1));
            };
            Ok(Value::List(
                text(&s)
                    .lines()
                    .map(|p| Value::Text(p.to_string()))
                    .collect(),
            ))
        }
        Builtin::Len => {
            let Some(v) = a else {
                return Err(arity(1));
            };
            let n = match &v {
                Value::Text(s) => s.chars().count(),
                Value::List(items) => items.len(),
                Value::Record(fields) => fields.len(),
                Value::Json(serde_json::Value::String(s)) => s.chars().count(),
                Value::Json(serde_json::Value::Array(items)) => items.len(),
                Value::Json(serde_json::Value::Object(map)) => map.len(),
                Value::Placeholder(_) => Placeholder::ITEMS,
                other => {
                    return Err(env.type_error(
                        TypeProblem::Expected {
                            expected: "text or a list",
                            found: kind_name(other),
                        },
                        span,
                    ));
                }
            };
            Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
        }
        Builtin::Trim | Builtin::Lower | Builtin::Upper => {
            let Some(v) = a else {
                return Err(arity(1));
            };
            // Still unknown, and shouting its name would not help.
            if let Value::Placeholder(_) = v {
                return Ok(v);
            }
            let s = text(&v);
            Ok(Value::Text(match builtin {
                Builtin::Trim => s.trim().to_string(),
                Builtin::Lower => s.to_lowercase(),
                _ => s.to_uppercase(),
            }))
        }
        Builtin::Contains => {
            let (Some(hay), Some(needle)) = (a, b) else {
                return Err(arity(2));
            };
            // Nothing is known to be in a placeholder, and a placeholder is
            // in nothing (it equals nothing, and its text is no real text).
            if matches!(hay, Value::Placeholder(_)) || matches!(needle, Value::Placeholder(_)) {
                return Ok(Value::Bool(false));
            }
            match normalize(&hay) {
                Value::List(items) => {
                    Ok(Value::Bool(items.iter().any(|i| {
                        compare(CompareOp::Eq, i, &needle).unwrap_or(false)
                    })))
                }
                other => Ok(Value::Bool(other.to_text().contains(&text(&needle)))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_compares_like_nan() {
        let p = Value::Placeholder(Placeholder::new("data.total"));
        for other in [Value::Int(100), Value::Text("x".into()), p.clone()] {
            for (op, want) in [
                (CompareOp::Eq, false),
                (CompareOp::Ne, true),
                (CompareOp::Lt, false),
                (CompareOp::Le, false),
                (CompareOp::Gt, false),
                (CompareOp::Ge, false),
            ] {
                assert_eq!(compare(op, &p, &other), Ok(want), "{op:?} {other:?}");
                assert_eq!(compare(op, &other, &p), Ok(want), "{other:?} {op:?}");
            }
        }
    }
}

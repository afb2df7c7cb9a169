//! Judging an expectation against a finished run. The checker has typed
//! every expectation, so what can still go wrong is what JSON replies hold:
//! such a surprise fails the expectation with what was found.

use indexmap::IndexMap;

use super::{ExpectKind, Expectation};
use crate::graph::{Builtin, CompareOp};
use crate::runtime::eval::{compare, normalize};
use crate::syntax::ast::{BinaryOp, Expr, ExprKind};
use crate::value::Value;

/// What an expectation reads: the outputs of the run and its counts.
pub struct Facts<'a> {
    /// The run's outputs by name.
    pub outputs: &'a IndexMap<String, Value>,
    /// Attempts sent to a provider.
    pub calls: u64,
    /// Samples a vote did not need.
    pub saved: u64,
}

/// Why an expectation failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// A sentence: `expected "x", got "y"`, or what could not be evaluated.
    pub message: String,
    /// The value found, as JSON, when there is one to show.
    pub actual: Option<serde_json::Value>,
    /// The value wanted, as JSON, when the form has one.
    pub expected: Option<serde_json::Value>,
}

/// `Ok` when the expectation holds.
pub fn judge(x: &Expectation, facts: &Facts<'_>) -> Result<(), Box<Failure>> {
    let bad = |message: String| {
        Box::new(Failure {
            message,
            actual: None,
            expected: None,
        })
    };
    match &x.kind {
        ExpectKind::Equal(a, b) => {
            let (a, b) = (eval(a, facts).map_err(bad)?, eval(b, facts).map_err(bad)?);
            if compare(CompareOp::Eq, &a, &b).unwrap_or(false) {
                Ok(())
            } else {
                Err(Box::new(Failure {
                    message: format!("expected {}, got {}", show(&b), show(&a)),
                    actual: Some(a.to_json()),
                    expected: Some(b.to_json()),
                }))
            }
        }
        ExpectKind::Contains(hay, needle) => {
            let (hay, needle) = (
                eval(hay, facts).map_err(bad)?,
                eval(needle, facts).map_err(bad)?,
            );
            if contains(&hay, &needle) {
                Ok(())
            } else {
                Err(Box::new(Failure {
                    message: format!(
                        "expected it to contain {}, got {}",
                        show(&needle),
                        show(&hay)
                    ),
                    actual: Some(hay.to_json()),
                    expected: Some(needle.to_json()),
                }))
            }
        }
        ExpectKind::Holds(e) => match eval(e, facts).map_err(bad)? {
            Value::Bool(true) => Ok(()),
            _ => Err(Box::new(held_false(e, facts))),
        },
    }
}

/// A false `expect A < B` says what A was; anything else says it was false.
fn held_false(e: &Expr, facts: &Facts<'_>) -> Failure {
    if let ExprKind::Binary(op, a, b) = &e.kind
        && !matches!(op, BinaryOp::And | BinaryOp::Or)
        && let (Ok(a), Ok(b)) = (eval(a, facts), eval(b, facts))
    {
        return Failure {
            message: format!(
                "expected a value {} {}, got {}",
                op.symbol(),
                show(&b),
                show(&a)
            ),
            actual: Some(a.to_json()),
            expected: None,
        };
    }
    Failure {
        message: "it is false".into(),
        actual: Some(serde_json::Value::Bool(false)),
        expected: Some(serde_json::Value::Bool(true)),
    }
}

/// A value as a failure shows it: JSON, cut short when long.
pub fn show(v: &Value) -> String {
    let text = match v {
        Value::Placeholder(_) => "an offline placeholder".to_string(),
        other => other.to_json().to_string(),
    };
    crate::text::shorten(&text, 200)
}

fn contains(hay: &Value, needle: &Value) -> bool {
    if matches!(hay, Value::Placeholder(_)) || matches!(needle, Value::Placeholder(_)) {
        return false;
    }
    match normalize(hay) {
        Value::List(items) => items
            .iter()
            .any(|i| compare(CompareOp::Eq, i, needle).unwrap_or(false)),
        other => other.to_text().contains(&normalize(needle).to_text()),
    }
}

fn eval(e: &Expr, facts: &Facts<'_>) -> Result<Value, String> {
    Ok(match &e.kind {
        ExprKind::Str(t) => Value::Text(t.as_plain().unwrap_or_default()),
        ExprKind::Int(i) => Value::Int(*i),
        ExprKind::Number(n) => Value::Number(*n),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::List(items) => Value::List(
            items
                .iter()
                .map(|i| eval(i, facts))
                .collect::<Result<_, _>>()?,
        ),
        ExprKind::Name(id) => match facts.outputs.get(&id.name) {
            Some(v) => v.clone(),
            None if id.name == "calls" => Value::Int(count(facts.calls)),
            None if id.name == "saved" => Value::Int(count(facts.saved)),
            None => return Err(format!("the run gave no output `{}`", id.name)),
        },
        ExprKind::Field(base, field) => {
            let base = eval(base, facts)?;
            field_of(&base, &field.name)
                .ok_or_else(|| format!("{} has no field `{}`", show(&base), field.name))?
        }
        ExprKind::Call(name, args) => {
            let args: Vec<Value> = args
                .iter()
                .map(|a| eval(a, facts))
                .collect::<Result<_, _>>()?;
            builtin(&name.name, &args)?
        }
        ExprKind::Unary(_, x) => Value::Bool(!truth(&eval(x, facts)?)?),
        ExprKind::Binary(op, a, b) => {
            let a = eval(a, facts)?;
            match op {
                BinaryOp::And if !truth(&a)? => Value::Bool(false),
                BinaryOp::Or if truth(&a)? => Value::Bool(true),
                BinaryOp::And | BinaryOp::Or => Value::Bool(truth(&eval(b, facts)?)?),
                _ => {
                    let b = eval(b, facts)?;
                    let op = match op {
                        BinaryOp::Eq => CompareOp::Eq,
                        BinaryOp::Ne => CompareOp::Ne,
                        BinaryOp::Lt => CompareOp::Lt,
                        BinaryOp::Le => CompareOp::Le,
                        BinaryOp::Gt => CompareOp::Gt,
                        _ => CompareOp::Ge,
                    };
                    Value::Bool(
                        compare(op, &a, &b).map_err(|_| {
                            format!("{} and {} cannot be ordered", show(&a), show(&b))
                        })?,
                    )
                }
            }
        }
        ExprKind::If { cond, then, else_ } => {
            if truth(&eval(cond, facts)?)? {
                eval(then, facts)?
            } else {
                eval(else_, facts)?
            }
        }
        // The checker refuses these in an expectation.
        ExprKind::Ask(_) | ExprKind::Section(_) | ExprKind::For { .. } => {
            return Err("this expectation cannot be evaluated".into());
        }
    })
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn truth(v: &Value) -> Result<bool, String> {
    v.truth()
        .ok_or_else(|| format!("expected a bool, got {}", show(v)))
}

fn field_of(v: &Value, name: &str) -> Option<Value> {
    match v {
        Value::Record(fields) => fields.get(name).cloned(),
        Value::Json(serde_json::Value::Object(map)) => {
            map.get(name).map(|j| Value::Json(j.clone()))
        }
        Value::Placeholder(p) => Some(Value::Placeholder(p.field(name))),
        _ => None,
    }
}

fn builtin(name: &str, args: &[Value]) -> Result<Value, String> {
    let text = |i: usize| {
        args.get(i)
            .map(|v| normalize(v).to_text())
            .unwrap_or_default()
    };
    let Some(b) = Builtin::from_name(name) else {
        return Err(format!("there is no builtin `{name}`"));
    };
    Ok(match b {
        Builtin::Agreement => {
            return Err(
                "`agreement` reads a vote inside the program; make it an output and expect that"
                    .into(),
            );
        }
        Builtin::Len => {
            let n = match args.first().map(normalize) {
                Some(Value::List(items)) => items.len(),
                Some(Value::Record(fields)) => fields.len(),
                Some(v) => v.to_text().chars().count(),
                None => 0,
            };
            Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
        }
        Builtin::Trim => Value::Text(text(0).trim().to_string()),
        Builtin::Lower => Value::Text(text(0).to_lowercase()),
        Builtin::Upper => Value::Text(text(0).to_uppercase()),
        Builtin::Contains => match (args.first(), args.get(1)) {
            (Some(h), Some(n)) => Value::Bool(contains(h, n)),
            _ => Value::Bool(false),
        },
        Builtin::Join => match args.first().map(normalize) {
            Some(Value::List(items)) => Value::Text(
                items
                    .iter()
                    .map(|v| normalize(v).to_text())
                    .collect::<Vec<_>>()
                    .join(&text(1)),
            ),
            _ => Value::Text(text(0)),
        },
        Builtin::Split => {
            let sep = text(1);
            if sep.is_empty() {
                return Err("`split` needs a separator that is not empty".into());
            }
            Value::List(
                text(0)
                    .split(&sep)
                    .map(|p| Value::Text(p.to_string()))
                    .collect(),
            )
        }
        Builtin::Lines => Value::List(
            text(0)
                .lines()
                .map(|p| Value::Text(p.to_string()))
                .collect(),
        ),
    })
}

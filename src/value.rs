//! Run-time values.

use std::fmt;

use indexmap::IndexMap;

/// The key of the object an offline mock invents for `as json`. Reading any
/// field of such an object gives a placeholder instead of an error, so that
/// `--offline` runs every program, including ones that read `reply.field`.
pub const PLACEHOLDER_KEY: &str = "flow_offline_placeholder";

/// True for the object an offline mock invents for `as json`.
pub fn is_offline_placeholder(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    map.get(PLACEHOLDER_KEY) == Some(&serde_json::Value::Bool(true))
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Bool(bool),
    Int(i64),
    Number(f64),
    Json(serde_json::Value),
    List(Vec<Value>),
    /// A section record, members in written order.
    Record(IndexMap<String, Value>),
}

impl Value {
    /// How the value reads inside a string: lists joined by newlines, json compact.
    pub fn to_text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Number(n) => format_number(*n),
            Value::Json(j) => match j {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(map) if is_offline_placeholder(map) => {
                    match map.get("field").and_then(|f| f.as_str()) {
                        Some(field) => format!("[offline placeholder for `{field}`]"),
                        None => "[offline placeholder]".to_string(),
                    }
                }
                other => other.to_string(),
            },
            Value::List(items) => items
                .iter()
                .map(Value::to_text)
                .collect::<Vec<_>>()
                .join("\n"),
            Value::Record(_) => self.to_json().to_string(),
        }
    }

    /// The value as JSON, for `--json` output and json interpolation.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Number(n) => serde_json::Number::from_f64(*n)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Json(j) => j.clone(),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Record(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Numbers print without a trailing `.0` when they are whole, as people write them.
pub fn format_number(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Outputs as one JSON object keyed by output name, as `flow run --json`,
/// batch result lines and servers give them.
pub fn outputs_json(outputs: &indexmap::IndexMap<String, Value>) -> serde_json::Value {
    serde_json::Value::Object(
        outputs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
    )
}

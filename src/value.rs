//! Run-time values.

use std::fmt;

use indexmap::IndexMap;

/// A `json` value that `--offline` (or a mock with no reply options) stood
/// in for. A json reply has no shape a stand-in could imitate, so instead of
/// inventing an object the run carries this marker, which no model reply can
/// spell: a real reply is always [`Value::Json`], whatever keys it holds.
///
/// Every operation on a placeholder succeeds, so any program that checks
/// runs offline, and gives the same result every time (see `docs/providers.md`):
/// a field of a placeholder is a placeholder; iterated, it is a list of
/// [`Placeholder::ITEMS`] placeholders; in a condition it is false; compared
/// with anything it is like NaN (only `!=` holds); as text it names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Where the value came from, as the program spells it: the binding that
    /// asked for it, then fields and element indices (`facts.owner`,
    /// `facts.items[1]`), for messages and for the text of the value.
    pub path: String,
}

impl Placeholder {
    /// How many elements a placeholder has when a `for` iterates over it or
    /// `len` counts it: more than one, so a loop body runs for real and the
    /// elements differ, but few enough to read. The same as an invented
    /// `list<T>` reply, so every invented list has one length.
    pub const ITEMS: usize = 3;

    /// The placeholder standing for the value at `path`.
    pub fn new(path: impl Into<String>) -> Placeholder {
        Placeholder { path: path.into() }
    }

    /// The placeholder for field `name` of this one.
    pub fn field(&self, name: &str) -> Placeholder {
        Placeholder::new(format!("{}.{name}", self.path))
    }

    /// The elements this placeholder stands for when it is used as a list.
    pub fn items(&self) -> Vec<Value> {
        (0..Placeholder::ITEMS)
            .map(|i| Value::Placeholder(Placeholder::new(format!("{}[{i}]", self.path))))
            .collect()
    }

    /// How it reads in text and in JSON output.
    pub fn to_text(&self) -> String {
        format!("[offline placeholder for `{}`]", self.path)
    }
}

/// A value as a run computes it: an input, a parsed reply, an output.
/// [`Value::to_text`] is how it interpolates into a prompt, [`outputs_json`]
/// how `flow run --json` prints a run's outputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A `text` (or a literal union's) value.
    Text(String),
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `number`.
    Number(f64),
    /// A `json` value: a reply or input parsed as JSON.
    Json(serde_json::Value),
    /// A `list<T>`, in order.
    List(Vec<Value>),
    /// A section record, members in written order.
    Record(IndexMap<String, Value>),
    /// A `json` value invented offline; see [`Placeholder`].
    Placeholder(Placeholder),
    /// A `chat`: a conversation's turns, in order.
    Chat(crate::chat::Chat),
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
                other => other.to_string(),
            },
            Value::Placeholder(p) => p.to_text(),
            Value::List(items) => items
                .iter()
                .map(Value::to_text)
                .collect::<Vec<_>>()
                .join("\n"),
            Value::Record(_) | Value::Chat(_) => self.to_json().to_string(),
        }
    }

    /// The value as JSON, for `--json` output and json interpolation. A
    /// placeholder is its text here; [`placeholder_paths`] lists where they are.
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
            Value::Placeholder(p) => serde_json::Value::String(p.to_text()),
            Value::Chat(chat) => crate::chat::to_json(chat),
        }
    }

    /// In a condition: bools and json bools; a placeholder is false, so an
    /// offline run takes the `else` branch and skips guarded calls. `None`
    /// for anything else.
    pub fn truth(&self) -> Option<bool> {
        match self {
            Value::Bool(b) | Value::Json(serde_json::Value::Bool(b)) => Some(*b),
            Value::Placeholder(_) => Some(false),
            _ => None,
        }
    }

    fn collect_placeholders(&self, path: &str, out: &mut Vec<String>) {
        match self {
            Value::Placeholder(_) => out.push(path.to_string()),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.collect_placeholders(&format!("{path}[{i}]"), out);
                }
            }
            Value::Record(fields) => {
                for (name, v) in fields {
                    v.collect_placeholders(&format!("{path}.{name}"), out);
                }
            }
            _ => {}
        }
    }
}

/// Where in a run's outputs a placeholder stands in for a value: output
/// names, then `.member` for records and `[i]` for list elements, in output
/// order. Empty for a run with real replies only. This is what `--json`
/// prints as `"placeholders"`, so a script need not recognise the text.
pub fn placeholder_paths(outputs: &IndexMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, v) in outputs {
        v.collect_placeholders(name, &mut out);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ph(path: &str) -> Value {
        Value::Placeholder(Placeholder::new(path))
    }

    #[test]
    fn a_placeholder_names_its_path_in_text_and_json() {
        let p = Placeholder::new("facts").field("owner");
        assert_eq!(p.path, "facts.owner");
        assert_eq!(
            Value::Placeholder(p.clone()).to_text(),
            "[offline placeholder for `facts.owner`]"
        );
        assert_eq!(
            Value::Placeholder(p).to_json(),
            serde_json::json!("[offline placeholder for `facts.owner`]")
        );
    }

    #[test]
    fn a_placeholder_as_a_list_has_numbered_placeholder_items() {
        let items = Placeholder::new("data.items").items();
        assert_eq!(items.len(), Placeholder::ITEMS);
        assert_eq!(items.first(), Some(&ph("data.items[0]")));
        assert_eq!(items.last(), Some(&ph("data.items[2]")));
    }

    #[test]
    fn a_placeholder_is_false_and_json_bools_are_themselves() {
        assert_eq!(ph("x").truth(), Some(false));
        assert_eq!(Value::Json(serde_json::json!(true)).truth(), Some(true));
        assert_eq!(Value::Bool(false).truth(), Some(false));
        assert_eq!(Value::Text("yes".into()).truth(), None);
    }

    #[test]
    fn placeholder_paths_walk_lists_and_records_in_order() {
        let mut record = IndexMap::new();
        record.insert("a".to_string(), Value::Int(1));
        record.insert("b".to_string(), ph("q"));
        let mut outputs = IndexMap::new();
        outputs.insert("plain".to_string(), Value::Text("t".into()));
        outputs.insert("whole".to_string(), ph("facts"));
        outputs.insert(
            "list".to_string(),
            Value::List(vec![Value::Int(1), ph("r")]),
        );
        outputs.insert("rec".to_string(), Value::Record(record));
        // JSON that spells the old marker is not a placeholder.
        outputs.insert(
            "json".to_string(),
            Value::Json(serde_json::json!({"flow_offline_placeholder": true})),
        );
        assert_eq!(
            placeholder_paths(&outputs),
            vec!["whole", "list[1]", "rec.b"]
        );
    }
}

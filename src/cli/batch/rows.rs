//! The rows of `flow run --inputs ROWS.jsonl`: one JSON object per line,
//! keys are input names, values of the inputs' declared types.
//!
//! A bad row is not a reason to stop a batch of thousands: each one becomes
//! an error naming its line and what is wrong, and the other rows run.

use indexmap::IndexMap;
use miette::Diagnostic;

use crate::graph::{FlowGraph, NodeKind};
use crate::runtime::input::parse_input;
use crate::types::Type;
use crate::value::Value;

/// One non-blank line of the rows file.
pub(crate) struct Row {
    /// 1-based, as an editor shows it.
    pub line: usize,
    pub inputs: Result<IndexMap<String, Value>, RowError>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error, Diagnostic)]
pub(crate) enum RowError {
    #[error("line {line}: not valid JSON: {reason}")]
    #[diagnostic(
        code(flow::batch::bad_json),
        help("each line must hold one JSON object of inputs, such as {{\"query\": \"...\"}}")
    )]
    BadJson { line: usize, reason: String },

    #[error("line {line}: expected a JSON object of inputs, found {found}")]
    #[diagnostic(
        code(flow::batch::not_an_object),
        help("write each row as an object keyed by input name, such as {{\"query\": \"...\"}}")
    )]
    NotAnObject { line: usize, found: String },

    #[error("line {line}: the program has no input `{name}`")]
    #[diagnostic(code(flow::batch::unknown_input), help("{help}"))]
    UnknownInput {
        line: usize,
        name: String,
        help: String,
    },

    #[error("line {line}: no value for input `{name}` of type {ty}")]
    #[diagnostic(
        code(flow::batch::missing_input),
        help("add `\"{name}\": ...` to the row, or give the input a default in the program")
    )]
    MissingInput {
        line: usize,
        name: String,
        ty: String,
    },

    #[error("line {line}: {message}")]
    #[diagnostic(code(flow::batch::bad_input), help("{help}"))]
    BadInput {
        line: usize,
        message: String,
        help: String,
    },
}

/// Every non-blank line of `text`, parsed against the program's inputs.
pub(crate) fn parse(text: &str, graph: &FlowGraph) -> Vec<Row> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Row {
            line: i + 1,
            inputs: parse_row(i + 1, l, graph),
        })
        .collect()
}

fn parse_row(
    line: usize,
    text: &str,
    graph: &FlowGraph,
) -> Result<IndexMap<String, Value>, RowError> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| RowError::BadJson {
        line,
        reason: e.to_string(),
    })?;
    let serde_json::Value::Object(object) = json else {
        return Err(RowError::NotAnObject {
            line,
            found: describe(&json),
        });
    };
    let known: Vec<&str> = graph.inputs.keys().map(String::as_str).collect();
    if let Some(name) = object.keys().find(|k| !graph.inputs.contains_key(*k)) {
        return Err(RowError::UnknownInput {
            line,
            name: name.clone(),
            help: super::super::run::unknown_input_help(name, &known),
        });
    }
    let mut values = IndexMap::new();
    for (name, &id) in &graph.inputs {
        let node = graph.node(id);
        let has_default = matches!(node.kind, NodeKind::Input { default: Some(_) });
        match object.get(name) {
            // `null` means "not given": the default, if there is one.
            None | Some(serde_json::Value::Null) if has_default => {}
            None | Some(serde_json::Value::Null) => {
                return Err(RowError::MissingInput {
                    line,
                    name: name.clone(),
                    ty: node.ty.to_string(),
                });
            }
            Some(j) => {
                let v =
                    convert(name, j, &node.ty).map_err(|(message, help)| RowError::BadInput {
                        line,
                        message,
                        help,
                    })?;
                values.insert(name.clone(), v);
            }
        }
    }
    Ok(values)
}

/// A JSON value as the declared type. Strings go through the same parser
/// as `--input` (so `"yes"` is a bool and `"3"` an int); other JSON values
/// must already be of the type. Errors are `(message, help)`.
fn convert(name: &str, j: &serde_json::Value, ty: &Type) -> Result<Value, (String, String)> {
    use serde_json::Value as J;
    if let J::String(s) = j
        && !matches!(ty, Type::Json)
    {
        return parse_input(name, s, ty).map_err(|e| {
            let help = e.help.clone();
            (e.to_string(), help)
        });
    }
    let mismatch = || {
        (
            format!("input `{name}` expects {ty}, but got {}", describe(j)),
            format!("write `{name}` as {}", json_shape(ty)),
        )
    };
    match (ty, j) {
        (Type::Json, j) => Ok(Value::Json(j.clone())),
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Int, J::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .map(|x| x as i64)
            })
            .map(Value::Int)
            .ok_or_else(mismatch),
        (Type::Number, J::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Value::Number)
            .ok_or_else(mismatch),
        (Type::List(item), J::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                convert(name, x, item)
                    .map_err(|(message, help)| (format!("item {} of {message}", i + 1), help))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        _ => Err(mismatch()),
    }
}

/// `the number 3`, `an array of 2 items`, ... for messages.
fn describe(j: &serde_json::Value) -> String {
    use serde_json::Value as J;
    let quote = |s: String| crate::text::shorten(&s, 60);
    match j {
        J::Null => "null".into(),
        J::Bool(b) => format!("the boolean {b}"),
        J::Number(n) => format!("the number {n}"),
        J::String(s) => format!("the string {}", quote(format!("{s:?}"))),
        J::Array(a) if a.len() == 1 => "an array of 1 item".into(),
        J::Array(a) => format!("an array of {} items", a.len()),
        J::Object(_) => format!("the object {}", quote(j.to_string())),
    }
}

fn json_shape(ty: &Type) -> String {
    match ty {
        Type::Text | Type::Unknown => "a JSON string, such as \"hello\"".into(),
        Type::Bool => "true or false".into(),
        Type::Int => "a whole number, such as 3".into(),
        Type::Number => "a number, such as 0.5".into(),
        Type::Union(choices) => {
            let list: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
            format!("one of the strings {}", list.join(", "))
        }
        Type::Json => "any JSON value".into(),
        Type::List(item) => format!("a JSON array of {}", json_shape(item)),
        Type::Record(_) => "a value of a type an input can have".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(src: &str) -> FlowGraph {
        match crate::compile(src).graph {
            Some(g) => g,
            None => panic!("does not compile: {src}"),
        }
    }

    const PROGRAM: &str = r#"
model m = mock(echo: true)
input query: text
input n: int = 2
input tags: list<text> = ["a"]
input mood: "calm" | "angry" = "calm"
output answer = ask m "{query} {n} {tags} {mood}"
"#;

    fn one(line: &str) -> Result<IndexMap<String, Value>, RowError> {
        let g = graph(PROGRAM);
        match parse(line, &g).into_iter().next() {
            Some(row) => row.inputs,
            None => panic!("no row in {line:?}"),
        }
    }

    #[test]
    fn a_good_row_binds_by_type_and_leaves_defaults_alone() {
        let got = one(r#"{"query": "hi", "n": 5, "tags": ["x", "y"], "mood": "angry"}"#);
        let want: IndexMap<String, Value> = [
            ("query".to_string(), Value::Text("hi".into())),
            ("n".to_string(), Value::Int(5)),
            (
                "tags".to_string(),
                Value::List(vec![Value::Text("x".into()), Value::Text("y".into())]),
            ),
            ("mood".to_string(), Value::Text("angry".into())),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, Ok(want));
        let defaults = one(r#"{"query": "hi", "n": null}"#);
        assert_eq!(defaults.map(|v| v.len()), Ok(1));
        assert_eq!(
            one(r#"{"query": "hi", "n": "7"}"#).map(|v| v.get("n").cloned()),
            Ok(Some(Value::Int(7)))
        );
    }

    #[test]
    fn every_kind_of_bad_row_names_its_line_and_problem() {
        let g = graph(PROGRAM);
        let text = "{\"query\": \"ok\"}\n\n{oops\n[1, 2]\n{\"qurey\": \"x\"}\n{\"n\": 1}\n{\"query\": 3}\n{\"query\": \"x\", \"n\": 1.5}\n{\"query\": \"x\", \"tags\": [\"a\", 2]}\n{\"query\": \"x\", \"mood\": \"angy\"}\n";
        let rows = parse(text, &g);
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            vec![1, 3, 4, 5, 6, 7, 8, 9, 10],
            "blank lines are skipped"
        );
        let errors: Vec<String> = rows
            .iter()
            .filter_map(|r| r.inputs.as_ref().err())
            .map(|e| {
                format!(
                    "{} | {}",
                    e.code().map(|c| c.to_string()).unwrap_or_default(),
                    e
                )
            })
            .collect();
        insta::assert_snapshot!(errors.join("\n"), @r#"
        flow::batch::bad_json | line 3: not valid JSON: key must be a string at line 1 column 2
        flow::batch::not_an_object | line 4: expected a JSON object of inputs, found an array of 2 items
        flow::batch::unknown_input | line 5: the program has no input `qurey`
        flow::batch::missing_input | line 6: no value for input `query` of type text
        flow::batch::bad_input | line 7: input `query` expects text, but got the number 3
        flow::batch::bad_input | line 8: input `n` expects int, but got the number 1.5
        flow::batch::bad_input | line 9: item 2 of input `tags` expects text, but got the number 2
        flow::batch::bad_input | line 10: input `mood` expects "calm" | "angry", but got "angy"
        "#);
        match &rows.get(3).map(|r| &r.inputs) {
            Some(Err(e)) => assert_eq!(
                e.help().map(|h| h.to_string()),
                Some("did you mean `query`?".into())
            ),
            other => panic!("{other:?}"),
        }
    }
}

//! The rows of `flow run --inputs ROWS.jsonl`: one JSON object per line,
//! keys are input names, values of the inputs' declared types.
//!
//! A bad row is not a reason to stop a batch of thousands: each one becomes
//! an error naming its line and what is wrong, and the other rows run. The
//! binding itself is the engine's, the same as for `--input` and servers.

use miette::Diagnostic;

use crate::engine::{Engine, InputError, InputErrors, Inputs};

/// One non-blank line of the rows file.
pub(crate) struct Row {
    /// 1-based, as an editor shows it.
    pub line: usize,
    pub inputs: Result<Inputs, RowError>,
}

/// What is wrong with one row, with its line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowError {
    pub line: usize,
    pub errors: InputErrors,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.errors)
    }
}

impl std::error::Error for RowError {}

impl Diagnostic for RowError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.first().and_then(|e| e.code())
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.first().and_then(|e| e.help())
    }
}

impl RowError {
    fn first(&self) -> Option<&InputError> {
        self.errors.first()
    }

    pub fn code_str(&self) -> String {
        self.first().map(InputError::code_str).unwrap_or_default()
    }
}

/// One line of the rows file, parsed against the program's inputs.
pub(crate) fn parse_line(engine: &Engine, line: usize, text: &str) -> Row {
    Row {
        line,
        inputs: engine
            .bind_json_text(text)
            .map_err(|errors| RowError { line, errors }),
    }
}

/// One line from the reader, parsed; a line that is not UTF-8 is that
/// row's error, with its line number, and the others run.
pub(crate) fn from_raw(engine: &Engine, raw: super::lines::RawLine) -> Row {
    match raw.text {
        Ok(text) => parse_line(engine, raw.line, &text),
        Err(column) => Row {
            line: raw.line,
            inputs: Err(RowError {
                line: raw.line,
                errors: InputErrors(vec![InputError::NotUtf8 { column }]),
            }),
        },
    }
}

/// Every non-blank line of `bytes`, parsed against the program's inputs.
/// The file is split into lines before it is decoded, so a line that is not
/// UTF-8 is that row's error, with its line number, and the others run.
/// The batch reads through `lines` instead; this whole-text form is kept for
/// the tests of binding.
#[cfg(test)]
pub(crate) fn parse(bytes: &[u8], engine: &Engine) -> Vec<Row> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // A final newline ends the last line; it does not start another.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let line = i + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            match std::str::from_utf8(raw) {
                Ok(text) if text.trim().is_empty() => None,
                Ok(text) => Some(parse_line(engine, line, text)),
                Err(e) => Some(Row {
                    line,
                    inputs: Err(RowError {
                        line,
                        errors: InputErrors(vec![InputError::NotUtf8 {
                            column: e.valid_up_to() + 1,
                        }]),
                    }),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;
    use crate::engine::{EngineOptions, Program};
    use crate::value::Value;

    fn graph(src: &str) -> Engine {
        let program = match Program::compile("rows.flow", src) {
            Ok(p) => p,
            Err(_) => panic!("does not compile: {src}"),
        };
        match Engine::new(&program, EngineOptions::default()) {
            Ok(e) => e,
            Err(e) => panic!("no engine: {e}"),
        }
    }

    use crate::engine::inputs::tests::PROGRAM;

    fn one(line: &str) -> Result<IndexMap<String, Value>, RowError> {
        let g = graph(PROGRAM);
        match parse(line.as_bytes(), &g).into_iter().next() {
            Some(row) => row.inputs.map(Inputs::into_values),
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
        let rows = parse(text.as_bytes(), &g);
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            vec![1, 3, 4, 5, 6, 7, 8, 9, 10],
            "blank lines are skipped"
        );
        let errors: Vec<String> = rows
            .iter()
            .filter_map(|r| r.inputs.as_ref().err())
            .map(|e| format!("{} | {}", e.code_str(), e))
            .collect();
        insta::assert_snapshot!(errors.join("\n"), @r#"
        flow::input::bad_json | line 3: not valid JSON: a key is not a quoted string (column 2)
        flow::input::not_an_object | line 4: expected a JSON object of inputs, found an array of 2 items
        flow::input::unknown | line 5: the program has no input `qurey`; no value for input `query` of type text
        flow::input::missing | line 6: no value for input `query` of type text
        flow::input::bad_value | line 7: input `query` expects text, but got the number 3
        flow::input::bad_value | line 8: input `n` expects int, but got the number 1.5
        flow::input::bad_value | line 9: input `tags` expects list<text>, but got an array of 2 items: item 2 is the number 2, not text
        flow::input::bad_value | line 10: input `mood` expects "calm" | "angry", but got "angy"
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

#[cfg(test)]
mod item_03 {
    use super::*;
    use crate::engine::inputs::tests::PROGRAM;
    use crate::engine::{EngineOptions, Program};

    #[test]
    fn item_03_a_row_of_invalid_utf8_is_that_rows_error_and_the_others_parse() {
        let program = Program::compile("rows.flow", PROGRAM).unwrap_or_else(|_| panic!("compiles"));
        let engine =
            Engine::new(&program, EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let text = b"{\"query\": \"a\"}\r\n{\"query\": \"b\xff\"}\n\n{\"query\": \"c\"}\n";
        let rows = parse(text, &engine);
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 2, 4]);
        let ok: Vec<bool> = rows.iter().map(|r| r.inputs.is_ok()).collect();
        assert_eq!(ok, vec![true, false, true]);
        match rows.get(1).map(|r| &r.inputs) {
            Some(Err(e)) => {
                assert_eq!(e.code_str(), "flow::input::not_utf8");
                assert_eq!(
                    e.to_string(),
                    "line 2: the row is not UTF-8 text (invalid byte at column 13)"
                );
            }
            _ => panic!("row 2 must be an error"),
        }
    }
}

//! Binding input values to a program's declared inputs: the one place that
//! turns what a user gave — `--input NAME=VALUE`, a JSON row of a batch, the
//! body of an HTTP request — into typed values, and says everything that is
//! wrong with it before any call is paid for.

mod json;
mod text;

use std::path::Path;

use indexmap::IndexMap;
use miette::Diagnostic;

use crate::graph::{FlowGraph, NodeKind};
use crate::syntax::Span;
use crate::types::Type;
use crate::value::Value;

pub use text::{InputProblem, ItemProblem, ValueError, parse_input};

/// Input values bound to a program's inputs, each of its declared type.
/// Inputs left out have defaults; the runtime fills those in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs(pub(crate) IndexMap<String, Value>);

impl Inputs {
    /// The values given, by input name.
    pub fn values(&self) -> &IndexMap<String, Value> {
        &self.0
    }

    /// The values given, by input name, as
    /// [`RunOptions::inputs`](crate::runtime::RunOptions::inputs) takes them.
    pub fn into_values(self) -> IndexMap<String, Value> {
        self.0
    }
}

/// One input value as a caller has it.
#[derive(Debug, Clone, PartialEq)]
pub enum InputValue {
    /// Already typed: must be of the declared type.
    Typed(Value),
    /// Text to parse by the declared type, strictly (`"yes"` is a bool,
    /// `"3"` an int; a text input takes it as it is).
    Text(String),
    /// A JSON value: strings are parsed like [`InputValue::Text`], other
    /// values must already be of the type; `null` means "not given".
    Json(serde_json::Value),
}

/// Something wrong with the inputs given. Every variant is the caller's
/// mistake, reported before the run starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Diagnostic)]
pub enum InputError {
    /// A `--input` argument without `=` or with an empty name.
    #[error("`--input {raw}` is not of the form NAME=VALUE")]
    #[diagnostic(
        code(flow::input::syntax),
        help(
            "write `--input NAME=VALUE`, `--input NAME=@PATH` to read the value from a file, `NAME=@-` to read standard input, or `NAME=@@TEXT` for a value that starts with `@`"
        )
    )]
    Syntax {
        /// The argument as given.
        raw: String,
    },

    /// `--input NAME=@PATH` named a file that cannot be read.
    #[error("cannot read the value of input `{name}` from `{path}`: {reason}")]
    #[diagnostic(
        code(flow::input::file),
        help("check the path after `@`; for a value that starts with `@`, write `@@`")
    )]
    File {
        /// The input's name.
        name: String,
        /// The path after `@`.
        path: String,
        /// The system's complaint.
        reason: String,
    },

    /// A row of input text is not UTF-8.
    #[error("the row is not UTF-8 text (invalid byte at column {column})")]
    #[diagnostic(
        code(flow::input::not_utf8),
        help("rows must be UTF-8 text; re-save the file as UTF-8")
    )]
    NotUtf8 {
        /// 1-based, in bytes, of the first invalid byte.
        column: usize,
    },

    /// A JSON text of inputs does not parse.
    #[error("not valid JSON: {reason}")]
    #[diagnostic(
        code(flow::input::bad_json),
        help("give one JSON object of inputs, such as {{\"query\": \"...\"}}")
    )]
    BadJson {
        /// The parser's complaint, with line and column.
        reason: String,
    },

    /// JSON inputs that are not one object (an array, a string...).
    #[error("expected a JSON object of inputs, found {found}")]
    #[diagnostic(
        code(flow::input::not_an_object),
        help("write the inputs as an object keyed by input name, such as {{\"query\": \"...\"}}")
    )]
    NotAnObject {
        /// What was given instead, e.g. `an array of 2 items`.
        found: String,
    },

    /// A value for an input the program does not declare.
    #[error("the program has no input `{name}`")]
    #[diagnostic(code(flow::input::unknown), help("{help}"))]
    Unknown {
        /// The name given.
        name: String,
        /// A suggestion, or the inputs the program does declare.
        help: String,
    },

    /// The same input given more than once.
    #[error("input `{name}` is given twice")]
    #[diagnostic(code(flow::input::duplicate), help("give each input once"))]
    Duplicate {
        /// The input's name.
        name: String,
    },

    /// A required input (one without a default) was not given.
    #[error("no value for input `{name}` of type {ty}")]
    #[diagnostic(
        code(flow::input::missing),
        help(
            "pass it with `--input {name}=VALUE` (in a JSON row or body, `\"{name}\": ...`), or give it a default in the program"
        )
    )]
    Missing {
        /// The input's name.
        name: String,
        /// Its declared type, as written.
        ty: String,
        /// The input's declaration.
        #[label("declared here without a default")]
        span: Span,
    },

    /// A text value that does not parse as the input's type.
    #[error(transparent)]
    #[diagnostic(transparent)]
    BadValue(#[from] ValueError),

    /// A JSON value that is not of the input's type.
    #[error("input `{name}` expects {expected}, but got {found}")]
    #[diagnostic(code(flow::input::bad_value), help("{help}"))]
    WrongJson {
        /// The input's name.
        name: String,
        /// Its declared type, as written.
        expected: String,
        /// The value given, described, e.g. `the number 3`.
        found: String,
        /// How to write a value of the type.
        help: String,
    },
}

impl InputError {
    /// The diagnostic code, for JSON error objects.
    pub fn code_str(&self) -> String {
        self.code().map(|c| c.to_string()).unwrap_or_default()
    }
}

/// Every problem with one set of inputs, in the order found:
/// [`Engine::bind`](super::Engine::bind) reports them all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct InputErrors(pub Vec<InputError>);

impl std::fmt::Display for InputErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

impl InputErrors {
    /// The first problem, as a one-line summary would show it.
    pub fn first(&self) -> Option<&InputError> {
        self.0.first()
    }
}

/// `NAME=VALUE` as a command line gives it. `NAME=@PATH` reads the value
/// from a file and `NAME=@-` from standard input; `NAME=@@...` is the text
/// after the first `@`, so a value that starts with `@` can still be given.
pub fn parse_assignment(raw: &str) -> Result<(String, InputValue), InputError> {
    parse_assignment_with(raw, &mut std::io::stdin().lock())
}

/// [`parse_assignment`] with `@-` reading `stdin`.
pub fn parse_assignment_with(
    raw: &str,
    stdin: &mut dyn std::io::Read,
) -> Result<(String, InputValue), InputError> {
    let Some((name, value)) = raw.split_once('=') else {
        return Err(InputError::Syntax { raw: raw.into() });
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(InputError::Syntax { raw: raw.into() });
    }
    let file_error = |path: &str, e: std::io::Error| InputError::File {
        name: name.to_string(),
        path: path.to_string(),
        reason: crate::text::io_reason(&e),
    };
    // Read with a bound, so a wrong path (a device, a huge log) fails at
    // once instead of filling memory.
    let read = |path: &str, bytes: std::io::Result<Option<Vec<u8>>>| {
        let too_large = || InputError::File {
            name: name.to_string(),
            path: path.to_string(),
            reason: format!(
                "it is larger than {}, the most flow reads as one value",
                crate::text::MAX_FILE_SIZE
            ),
        };
        let bytes = bytes
            .map_err(|e| file_error(path, e))?
            .ok_or_else(too_large)?;
        let mut text = String::from_utf8(bytes).map_err(|_| {
            file_error(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
            )
        })?;
        // Editors on Windows may save a byte-order mark first; it is no part
        // of the value (`"\u{feff}42"` would not be an int).
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        Ok::<_, InputError>(text)
    };
    let text = match value.strip_prefix('@') {
        Some(escaped) if escaped.starts_with('@') => escaped.to_string(),
        Some("-") => read("standard input", crate::text::read_bounded(stdin))?,
        Some(path) => read(path, crate::text::read_file_bounded(Path::new(path)))?,
        None => value.to_string(),
    };
    Ok((name.to_string(), InputValue::Text(text)))
}

/// Binds `given` to `graph`'s inputs: unknown names, duplicates, values not
/// of their type and inputs with neither a value nor a default are all
/// reported, not only the first.
pub fn bind(
    graph: &FlowGraph,
    given: impl IntoIterator<Item = (String, InputValue)>,
) -> Result<Inputs, InputErrors> {
    let mut values = IndexMap::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in given {
        let Some(&node) = graph.inputs.get(&name) else {
            errors.push(InputError::Unknown {
                help: unknown_help(&name, graph),
                name,
            });
            continue;
        };
        if !seen.insert(name.clone()) {
            errors.push(InputError::Duplicate { name });
            continue;
        }
        let ty = &graph.node(node).ty;
        let parsed = match value {
            // `null` in JSON means "not given".
            InputValue::Json(serde_json::Value::Null) => continue,
            InputValue::Json(j) => json::convert(&name, &j, ty),
            InputValue::Text(t) => parse_input(&name, &t, ty).map_err(InputError::from),
            InputValue::Typed(v) => json::check_typed(&name, v, ty),
        };
        match parsed {
            Ok(v) => {
                values.insert(name, v);
            }
            Err(e) => errors.push(e),
        }
    }
    for (name, &node) in &graph.inputs {
        let n = graph.node(node);
        let has_default = matches!(&n.kind, NodeKind::Input { default: Some(_) });
        if !values.contains_key(name) && !has_default && !seen.contains(name) {
            errors.push(InputError::Missing {
                name: name.clone(),
                ty: n.ty.to_string(),
                span: n.span,
            });
        }
    }
    if errors.is_empty() {
        Ok(Inputs(values))
    } else {
        Err(InputErrors(errors))
    }
}

/// One input's value from JSON by its declared type, as [`bind_json`]
/// converts it: a test block's values are checked by the same rules.
pub(crate) fn convert_json(
    name: &str,
    j: &serde_json::Value,
    ty: &Type,
) -> Result<Value, InputError> {
    json::convert(name, j, ty)
}

/// A JSON object of inputs in text (a batch row, a request body).
pub fn bind_json_text(graph: &FlowGraph, text: &str) -> Result<Inputs, InputErrors> {
    let one = |e| InputErrors(vec![e]);
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        one(InputError::BadJson {
            reason: json::reason(&e),
        })
    })?;
    bind_json(graph, value)
}

/// A JSON object of inputs, keyed by input name.
pub fn bind_json(graph: &FlowGraph, value: serde_json::Value) -> Result<Inputs, InputErrors> {
    let serde_json::Value::Object(object) = value else {
        return Err(InputErrors(vec![InputError::NotAnObject {
            found: json::describe(&value),
        }]));
    };
    bind(
        graph,
        object.into_iter().map(|(k, v)| (k, InputValue::Json(v))),
    )
}

fn unknown_help(name: &str, graph: &FlowGraph) -> String {
    let known: Vec<&str> = graph.inputs.keys().map(String::as_str).collect();
    if let Some(best) = crate::check::did_you_mean(name, known.iter().copied()) {
        return format!("did you mean `{best}`?");
    }
    if known.is_empty() {
        "this program declares no inputs".to_string()
    } else {
        let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        format!("its inputs are {}", list.join(", "))
    }
}

#[cfg(test)]
pub(crate) mod tests;

//! Parsing an input value given as text (`--input NAME=VALUE`, a string in
//! a JSON row) by the input's declared type.
//!
//! Unlike model replies, inputs come from the person running the program, so
//! parsing is strict: a typo should stop the run before any call is paid for,
//! not be guessed at.

use crate::types::Type;
use crate::value::Value;

/// How much of a bad value an error quotes.
const QUOTE_LIMIT: usize = 200;

/// A text value that does not fit its input's declared type.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
#[error("input `{name}` expects {expected}, but got {value:?}{problem}")]
#[diagnostic(code(flow::input::bad_value))]
pub struct ValueError {
    /// The input's name.
    pub name: String,
    /// The declared type, as written in the program.
    pub expected: String,
    /// The value given, cut to about 200 characters.
    pub value: String,
    /// What exactly is wrong, when more than the type can say.
    pub problem: InputProblem,
    #[help]
    /// How to write a value of the type.
    pub help: String,
}

/// The detail after "expects T, but got V".
#[derive(Debug, Clone, PartialEq)]
pub enum InputProblem {
    /// Nothing more to say than the type.
    NotOfType,
    /// Json that does not parse, with the parser's complaint.
    BadJson(String),
    /// One item of a list is wrong, and how (boxed to keep the error small).
    BadItem(Box<ItemProblem>),
    /// A record whose fields do not fit, and which field is wrong.
    BadRecord(Box<str>),
    /// JSON that is not a conversation, and why (boxed to keep the error small).
    BadChat(Box<crate::chat::ChatProblem>),
}

/// A list item that does not fit the list's item type.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemProblem {
    /// 0-based.
    pub index: usize,
    /// The item as given, cut short.
    pub item: String,
    /// The list's item type, as written.
    pub item_type: String,
    /// What is wrong with the item.
    pub problem: InputProblem,
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputProblem::NotOfType => Ok(()),
            InputProblem::BadJson(why) => write!(f, " (not valid json: {why})"),
            InputProblem::BadItem(bad) => {
                write!(
                    f,
                    " (item {} {:?} is not {}",
                    bad.index + 1,
                    bad.item,
                    bad.item_type
                )?;
                match &bad.problem {
                    InputProblem::BadJson(why) => write!(f, ": {why})"),
                    _ => f.write_str(")"),
                }
            }
            InputProblem::BadRecord(why) => write!(f, " ({why})"),
            InputProblem::BadChat(problem) => write!(f, " ({problem})"),
        }
    }
}

impl ValueError {
    fn new(name: &str, ty: &Type, raw: &str, problem: InputProblem) -> ValueError {
        ValueError {
            name: name.to_owned(),
            expected: ty.to_string(),
            value: quote(raw),
            help: help_for(name, ty, raw),
            problem,
        }
    }
}

fn quote(raw: &str) -> String {
    crate::text::shorten(raw, QUOTE_LIMIT)
}

/// What to write instead, with the input's own name so it can be copied.
fn help_for(name: &str, ty: &Type, raw: &str) -> String {
    match ty {
        Type::Bool => {
            format!("write `--input {name}=true` or `--input {name}=false` (yes and no also work)")
        }
        Type::Int => format!("write a whole number, such as `--input {name}=3`"),
        Type::Number => format!("write a number, such as `--input {name}=0.5`"),
        Type::Union(choices) => {
            let list = choices
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            match closest_choice(raw.trim(), choices) {
                Some(c) => format!("did you mean {c:?}? `{name}` must be exactly one of {list}"),
                None => format!("`{name}` must be exactly one of {list}"),
            }
        }
        Type::Json => format!(
            "write valid json, quoted for the shell, such as `--input {name}='{{\"key\": 1}}'`, or read it from a file with `--input {name}=@FILE`"
        ),
        Type::List(item) => format!(
            "write a json array such as `--input {name}='[...]'` or one {item} per line, for example from a file with `--input {name}=@FILE`"
        ),
        Type::Record(_) => format!(
            "write a json object with the record's fields, quoted for the shell, such as `--input {name}='{{...}}'`, or read it from a file with `--input {name}=@FILE`"
        ),
        Type::Chat => format!(
            "write a json array of messages such as `[{{\"role\": \"user\", \"content\": \"hi\"}}]`, for example from a file with `--input {name}=@FILE`"
        ),
        Type::Text | Type::Unknown | Type::Optional(_) => {
            format!("check the declaration of input `{name}`")
        }
    }
}

/// A choice the value was probably meant to be: the same but for case, or a
/// small typo away.
fn closest_choice<'a>(raw: &str, choices: &'a [String]) -> Option<&'a String> {
    if let Some(c) = choices.iter().find(|c| c.eq_ignore_ascii_case(raw)) {
        return Some(c);
    }
    let lower = raw.to_lowercase();
    choices
        .iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.chars().count() / 3) && *d < c.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Parse the value of `--input NAME=VALUE` (or a file's contents for
/// `NAME=@PATH`) as the input's declared type.
pub fn parse_input(name: &str, raw: &str, ty: &Type) -> Result<Value, ValueError> {
    parse_value(raw, ty).map_err(|problem| ValueError::new(name, ty, raw, problem))
}

fn parse_value(raw: &str, ty: &Type) -> Result<Value, InputProblem> {
    match ty {
        Type::Text | Type::Unknown => Ok(Value::Text(raw.to_owned())),
        Type::Bool => match raw.trim().to_lowercase().as_str() {
            "true" | "yes" => Ok(Value::Bool(true)),
            "false" | "no" => Ok(Value::Bool(false)),
            _ => Err(InputProblem::NotOfType),
        },
        Type::Int => raw
            .trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| InputProblem::NotOfType),
        Type::Number => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::Number)
            .ok_or(InputProblem::NotOfType),
        Type::Union(choices) => {
            let v = raw.trim();
            choices
                .iter()
                .find(|c| c.as_str() == v)
                .map(|c| Value::Text(c.clone()))
                .ok_or(InputProblem::NotOfType)
        }
        Type::Json => serde_json::from_str(raw)
            .map(Value::Json)
            .map_err(|e| InputProblem::BadJson(e.to_string())),
        Type::List(item) => parse_list(raw, item),
        Type::Optional(inner) => parse_value(raw, inner),
        Type::Record(_) => {
            let j: serde_json::Value =
                serde_json::from_str(raw).map_err(|e| InputProblem::BadJson(e.to_string()))?;
            crate::runtime::reply::from_json_value(&j, ty)
                .map_err(|why| InputProblem::BadRecord(why.into()))
        }
        Type::Chat => {
            let j: serde_json::Value =
                serde_json::from_str(raw).map_err(|e| InputProblem::BadJson(e.to_string()))?;
            crate::chat::from_json(&j)
                .map(Value::Chat)
                .map_err(|p| InputProblem::BadChat(Box::new(p)))
        }
    }
}

/// A json array when the value looks like one, else one item per non-empty line.
fn parse_list(raw: &str, item: &Type) -> Result<Value, InputProblem> {
    let trimmed = raw.trim();
    let bad_item = |index: usize, text: &str, problem: InputProblem| {
        InputProblem::BadItem(Box::new(ItemProblem {
            index,
            item: quote(text),
            item_type: item.to_string(),
            problem,
        }))
    };
    if trimmed.starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(trimmed).map_err(|e| InputProblem::BadJson(e.to_string()))?;
        // Into a list sized once: grown, its copies were fresh pages.
        let mut values = Vec::with_capacity(items.len());
        for (i, j) in items.into_iter().enumerate() {
            values.push(match (item, j) {
                (Type::Json, j) => Value::Json(j),
                // The string itself, not a copy of it.
                (Type::Text | Type::Unknown, serde_json::Value::String(s)) => Value::Text(s),
                (_, serde_json::Value::String(s)) => {
                    parse_value(&s, item).map_err(|p| bad_item(i, &s, p))?
                }
                (_, other) => {
                    let s = other.to_string();
                    parse_value(&s, item).map_err(|p| bad_item(i, &s, p))?
                }
            });
        }
        return Ok(Value::List(values));
    }
    raw.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(i, line)| parse_value(line, item).map_err(|p| bad_item(i, line, p)))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::List)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str, ty: &Type) -> Value {
        match parse_input("x", raw, ty) {
            Ok(v) => v,
            Err(e) => panic!("{raw:?} as {ty}: {e}"),
        }
    }

    fn err(raw: &str, ty: &Type) -> ValueError {
        match parse_input("x", raw, ty) {
            Ok(v) => panic!("{raw:?} as {ty} parsed to {v:?}"),
            Err(e) => e,
        }
    }

    fn union(choices: &[&str]) -> Type {
        Type::Union(choices.iter().map(|c| c.to_string()).collect())
    }

    #[test]
    fn text_is_taken_as_is() {
        assert_eq!(ok(" a b \n", &Type::Text), Value::Text(" a b \n".into()));
        assert_eq!(ok("", &Type::Text), Value::Text(String::new()));
    }

    #[test]
    fn bool_is_strict() {
        for (raw, want) in [
            ("true", true),
            ("False", false),
            (" yes ", true),
            ("NO", false),
        ] {
            assert_eq!(ok(raw, &Type::Bool), Value::Bool(want));
        }
        for raw in ["1", "y", "yes please", ""] {
            err(raw, &Type::Bool);
        }
        let e = err("maybe", &Type::Bool);
        assert_eq!(e.to_string(), "input `x` expects bool, but got \"maybe\"");
        assert_eq!(
            e.help,
            "write `--input x=true` or `--input x=false` (yes and no also work)"
        );
    }

    #[test]
    fn int_and_number_are_strict() {
        assert_eq!(ok("42", &Type::Int), Value::Int(42));
        assert_eq!(ok(" -7 ", &Type::Int), Value::Int(-7));
        err("4.0", &Type::Int);
        err("4 apples", &Type::Int);
        err("99999999999999999999", &Type::Int);
        assert_eq!(ok("0.5", &Type::Number), Value::Number(0.5));
        assert_eq!(ok("3", &Type::Number), Value::Number(3.0));
        err("NaN", &Type::Number);
        err("inf", &Type::Number);
        err("half", &Type::Number);
        assert_eq!(err("x", &Type::Int).expected, "int");
    }

    #[test]
    fn union_must_be_exactly_a_choice_and_suggests_one() {
        let ty = union(&["safe", "unsafe"]);
        assert_eq!(ok("unsafe", &ty), Value::Text("unsafe".into()));
        let e = err("Safe", &ty);
        assert_eq!(
            e.to_string(),
            "input `x` expects \"safe\" | \"unsafe\", but got \"Safe\""
        );
        assert_eq!(
            e.help,
            "did you mean \"safe\"? `x` must be exactly one of \"safe\", \"unsafe\""
        );
        assert!(
            err("unsaf", &ty)
                .help
                .starts_with("did you mean \"unsafe\"?")
        );
        assert_eq!(
            err("banana", &ty).help,
            "`x` must be exactly one of \"safe\", \"unsafe\""
        );
    }

    #[test]
    fn json_must_parse() {
        assert_eq!(
            ok("{\"a\": [1, 2]}", &Type::Json),
            Value::Json(serde_json::json!({"a": [1, 2]}))
        );
        let e = err("{a: 1}", &Type::Json);
        assert!(matches!(e.problem, InputProblem::BadJson(_)));
        assert!(
            e.to_string()
                .starts_with("input `x` expects json, but got \"{a: 1}\" (not valid json: ")
        );
    }

    #[test]
    fn lists_from_json_arrays_or_lines() {
        let ints = Type::list(Type::Int);
        assert_eq!(
            ok("[1, \"2\", 3]", &ints),
            Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
        );
        assert_eq!(
            ok("1\n\n 2 \n", &ints),
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(
            ok("first line\nsecond line", &Type::list(Type::Text)),
            Value::List(vec![
                Value::Text("first line".into()),
                Value::Text("second line".into())
            ])
        );
        assert_eq!(ok("", &ints), Value::List(vec![]));
        assert_eq!(
            ok("[{\"a\": 1}]", &Type::list(Type::Json)),
            Value::List(vec![Value::Json(serde_json::json!({"a": 1}))])
        );
    }

    #[test]
    fn list_errors_name_the_item() {
        let e = err("1\ntwo\n3", &Type::list(Type::Int));
        assert_eq!(
            e.to_string(),
            "input `x` expects list<int>, but got \"1\\ntwo\\n3\" (item 2 \"two\" is not int)"
        );
        let e = err("[1, 2", &Type::list(Type::Int));
        assert!(matches!(e.problem, InputProblem::BadJson(_)));
    }

    /// A JSON array's strings are the items themselves, and any other
    /// item is read from its JSON text; a bad one is named by its place.
    #[test]
    fn a_json_array_of_items_is_read_item_by_item() {
        assert_eq!(
            ok("[\"a b\", 3, true]", &Type::list(Type::Text)),
            Value::List(vec![
                Value::Text("a b".into()),
                Value::Text("3".into()),
                Value::Text("true".into())
            ])
        );
        assert_eq!(
            ok("[\"1\", 2]", &Type::list(Type::Int)),
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        let e = err("[1, \"two\", 3]", &Type::list(Type::Int));
        assert_eq!(
            e.to_string(),
            "input `x` expects list<int>, but got \"[1, \\\"two\\\", 3]\" (item 2 \"two\" is not int)"
        );
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let e = err(&"9".repeat(1000), &Type::Int);
        assert_eq!(e.value.chars().count(), 201);
    }

    #[test]
    fn error_is_a_diagnostic_with_code_and_help() {
        use miette::Diagnostic;
        let e = err("nope", &Type::Int);
        assert_eq!(
            e.code().map(|c| c.to_string()),
            Some("flow::input::bad_value".into())
        );
        assert_eq!(
            e.help().map(|h| h.to_string()),
            Some("write a whole number, such as `--input x=3`".into())
        );
    }

    proptest::proptest! {
        /// Whatever the text, parsing returns a value or an error.
        #[test]
        fn never_panics(
            text in r#"(?s)[-+.,0-9eE \n*•)\[\]{}"`a-zé]{0,40}|\PC{0,40}"#,
            ty in crate::types::any_value_type(),
        ) {
            let _ = parse_input("x", &text, &ty);
        }
    }
}

//! Input values given as JSON (a batch row, a request body), converted to
//! the declared types.

use super::InputError;
use super::text::parse_input;
use crate::types::Type;
use crate::value::Value;

/// A JSON value as the declared type. Strings go through the same parser
/// as text inputs (so `"yes"` is a bool and `"3"` an int); other JSON values
/// must already be of the type.
pub(super) fn convert(name: &str, j: &serde_json::Value, ty: &Type) -> Result<Value, InputError> {
    convert_at(name, j, ty).map_err(|m| match m {
        Mismatch::Text(e) => InputError::BadValue(e),
        Mismatch::Json { found, item } => InputError::WrongJson {
            name: name.to_string(),
            expected: ty.to_string(),
            found: match item {
                Some((index, item_found, item_ty)) => {
                    format!("{found}: item {index} is {item_found}, not {item_ty}")
                }
                None => found,
            },
            help: format!("write `{name}` as {}", json_shape(ty)),
        },
    })
}

/// A typed value must be of the declared type; its JSON form is checked
/// like any JSON input so the rules are the same.
pub(super) fn check_typed(name: &str, v: Value, ty: &Type) -> Result<Value, InputError> {
    match (&v, ty) {
        (Value::Text(_), Type::Text) => Ok(v),
        _ => convert(name, &v.to_json(), ty),
    }
}

enum Mismatch {
    Text(super::ValueError),
    /// What was found, and for a list the first bad item (1-based).
    Json {
        found: String,
        item: Option<(usize, String, String)>,
    },
}

fn convert_at(name: &str, j: &serde_json::Value, ty: &Type) -> Result<Value, Mismatch> {
    use serde_json::Value as J;
    if let Type::Chat = ty {
        return crate::chat::from_json(j)
            .map(Value::Chat)
            .map_err(|problem| Mismatch::Json {
                found: format!("{}: {problem}", describe(j)),
                item: None,
            });
    }
    if let J::String(s) = j
        && !matches!(ty, Type::Json)
    {
        return parse_input(name, s, ty).map_err(Mismatch::Text);
    }
    let mismatch = || Mismatch::Json {
        found: describe(j),
        item: None,
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
        (Type::List(item), J::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, x) in items.iter().enumerate() {
                match convert_at(name, x, item) {
                    Ok(v) => out.push(v),
                    Err(_) => {
                        return Err(Mismatch::Json {
                            found: describe(j),
                            item: Some((i + 1, describe(x), item.to_string())),
                        });
                    }
                }
            }
            Ok(Value::List(out))
        }
        _ => Err(mismatch()),
    }
}

/// A JSON parser's complaint, without its jargon where a person would not
/// use it.
pub(super) fn reason(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "it ends too early".to_string(),
        _ => {
            let text = e.to_string();
            match text.find(" at line ") {
                Some(i) => {
                    text[..i].replace("key must be a string", "a key is not a quoted string")
                }
                None => text,
            }
        }
    };
    format!("{what} (column {})", e.column())
}

/// `the number 3`, `an array of 2 items`, ... for messages.
pub(super) fn describe(j: &serde_json::Value) -> String {
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
        Type::Chat => {
            "an array of messages, such as [{\"role\": \"user\", \"content\": \"hi\"}]".into()
        }
    }
}

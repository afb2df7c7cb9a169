//! The types of flow values, shared by the checker (inference) and the runtime
//! (parsing replies with `as`).

use std::fmt;

use indexmap::IndexMap;

/// A flow type, as declared (`input x: int`, `as list<text>`) or inferred
/// by the checker. It displays as it is written in source.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "of")]
pub enum Type {
    /// `text`
    Text,
    /// `bool`
    Bool,
    /// `int`: a 64-bit signed integer.
    Int,
    /// `number`: a 64-bit float.
    Number,
    /// `json`: any JSON value, read by field access.
    Json,
    /// `list<T>`
    List(Box<Type>),
    /// A literal union such as `"safe" | "unsafe"`; its values are text.
    Union(Vec<String>),
    /// A section record: `NAME.member`.
    Record(IndexMap<String, Type>),
    /// `chat`: a conversation, the turns an `ask` is given with `with`.
    Chat,
    /// The type of an expression that already has an error; never reported again.
    Unknown,
}

impl Type {
    /// `list<of>`.
    pub fn list(of: Type) -> Type {
        Type::List(Box::new(of))
    }

    /// Whether it is a number type, as `mean`/`median` votes and ordering
    /// comparisons need (an unknown type passes: its error was reported).
    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Int | Type::Number | Type::Unknown)
    }

    /// Text-like types interpolate and compare as text.
    pub fn is_textual(&self) -> bool {
        matches!(self, Type::Text | Type::Union(_) | Type::Unknown)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Text => f.write_str("text"),
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Number => f.write_str("number"),
            Type::Json => f.write_str("json"),
            Type::List(t) => write!(f, "list<{t}>"),
            Type::Union(choices) => {
                for (i, c) in choices.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{c:?}")?;
                }
                Ok(())
            }
            Type::Record(fields) => {
                f.write_str("section {")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Type::Chat => f.write_str("chat"),
            Type::Unknown => f.write_str("unknown"),
        }
    }
}

/// Any type a reply or an input can have, for property tests of parsing.
#[cfg(test)]
pub(crate) fn any_value_type() -> impl proptest::strategy::Strategy<Value = Type> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Type::Text),
        Just(Type::Bool),
        Just(Type::Int),
        Just(Type::Number),
        Just(Type::Json),
        prop::collection::vec("[a-zé ]{0,6}", 0..4).prop_map(Type::Union),
    ];
    leaf.prop_recursive(2, 4, 1, |inner| inner.prop_map(Type::list))
}

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
    /// A record: a typed reply's fields (`{verdict: "safe" | "unsafe",
    /// reason: text}`) or a bound section's members, in written order. Both
    /// are read the same way, `NAME.field`; a field's type is
    /// [`Type::Optional`] when a reply may leave it out.
    Record(IndexMap<String, Type>),
    /// The type of a record field written `name?: T`: a reply may leave the
    /// field out, and it then reads as `T`'s empty value (see
    /// [`Type::empty_value`]). Only ever a record field's type; reading the
    /// field gives `T` itself.
    Optional(Box<Type>),
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

    /// A record field's type as it reads: `T` for an optional `T`.
    pub fn field_value(&self) -> &Type {
        match self {
            Type::Optional(t) => t,
            t => t,
        }
    }

    /// What an absent optional field of this type reads as: `""`, `[]` or
    /// json `null`. The types without an obvious "nothing" (`int`, `bool`,
    /// a union, a record) have none, and the checker refuses them as
    /// optional fields rather than invent a zero that reads like an answer.
    pub fn empty_value(&self) -> Option<crate::value::Value> {
        use crate::value::Value;
        match self {
            Type::Text => Some(Value::Text(String::new())),
            Type::List(_) => Some(Value::List(Vec::new())),
            Type::Json => Some(Value::Json(serde_json::Value::Null)),
            _ => None,
        }
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
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match v {
                        Type::Optional(t) => write!(f, "{k}?: {t}")?,
                        t => write!(f, "{k}: {t}")?,
                    }
                }
                f.write_str("}")
            }
            // Only inside a record, where the `?` goes on the name.
            Type::Optional(t) => write!(f, "{t}"),
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
    leaf.prop_recursive(2, 4, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            prop::collection::vec(("[a-z]{1,4}", inner, any::<bool>()), 0..3).prop_map(|fields| {
                Type::Record(
                    fields
                        .into_iter()
                        .map(|(k, t, opt)| {
                            let t = if opt && t.empty_value().is_some() {
                                Type::Optional(Box::new(t))
                            } else {
                                t
                            };
                            (k, t)
                        })
                        .collect(),
                )
            }),
        ]
    })
}

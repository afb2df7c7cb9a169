//! JSON Schema for a flow type: what a reply of that type looks like as JSON,
//! so a provider can constrain a model to it (OpenAI's `response_format`,
//! an Anthropic tool's `input_schema`) or a prompt can show it.
//!
//! The schema describes the JSON form [`crate::value::Value::to_json`] gives
//! a value of the type, and the one reply parsing accepts: a union is one of
//! its strings, a record an object with exactly its fields, `json` anything.

use serde_json::{Map, Value, json};

use crate::types::Type;

/// The JSON Schema of `ty`. Every record field is required (an optional one
/// may be `null`) and no other is allowed, which is also what OpenAI's strict mode demands; `json` (and an
/// unknown type, which no checked program asks for) is the empty schema,
/// which accepts any value.
pub fn json_schema(ty: &Type) -> Value {
    match ty {
        Type::Text => json!({"type": "string"}),
        Type::Bool => json!({"type": "boolean"}),
        Type::Int => json!({"type": "integer"}),
        Type::Number => json!({"type": "number"}),
        Type::Json | Type::Unknown => json!({}),
        // The OpenAI messages array; never a reply's type.
        Type::Chat => json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                    "content": {"type": "string"},
                },
                "required": ["role", "content"],
                "additionalProperties": false,
            },
        }),
        Type::List(item) => json!({"type": "array", "items": json_schema(item)}),
        Type::Union(choices) => json!({"type": "string", "enum": choices}),
        // An optional field stays in `required` (strict mode wants every
        // field listed) and may be `null`, which reads as its empty value.
        Type::Optional(inner) => {
            let mut schema = json_schema(inner);
            if let Some(Value::String(t)) = schema.get("type").cloned() {
                schema["type"] = json!([t, "null"]);
            }
            schema
        }
        Type::Record(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|(name, t)| (name.clone(), json_schema(t)))
                .collect();
            json!({
                "type": "object",
                "properties": properties,
                "required": fields.keys().collect::<Vec<_>>(),
                "additionalProperties": false,
            })
        }
    }
}

/// Whether every part of `schema` names a type: OpenAI's strict mode rejects
/// a schema with an empty (accept-anything) part, such as a `json` field.
pub fn is_closed(schema: &Value) -> bool {
    match schema {
        Value::Object(o) => {
            o.contains_key("type")
                && o.get("items").is_none_or(is_closed)
                && o.get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(|p| p.values().all(is_closed))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use proptest::prelude::*;

    use super::*;
    use crate::types::any_value_type;

    fn record(fields: &[(&str, Type)]) -> Type {
        Type::Record(
            fields
                .iter()
                .map(|(k, t)| (k.to_string(), t.clone()))
                .collect::<IndexMap<_, _>>(),
        )
    }

    #[test]
    fn an_optional_field_is_required_and_nullable() {
        let ty = record(&[
            ("verdict", Type::Text),
            ("note", Type::Optional(Box::new(Type::Text))),
        ]);
        let schema = json_schema(&ty);
        assert_eq!(schema["required"], json!(["verdict", "note"]));
        assert_eq!(
            schema["properties"]["note"],
            json!({"type": ["string", "null"]})
        );
        assert!(is_closed(&schema));
    }

    #[test]
    fn scalars_have_their_json_types() {
        assert_eq!(json_schema(&Type::Text), json!({"type": "string"}));
        assert_eq!(json_schema(&Type::Bool), json!({"type": "boolean"}));
        assert_eq!(json_schema(&Type::Int), json!({"type": "integer"}));
        assert_eq!(json_schema(&Type::Number), json!({"type": "number"}));
        assert_eq!(json_schema(&Type::Json), json!({}));
    }

    #[test]
    fn a_union_is_a_string_enum_in_written_order() {
        let t = Type::Union(vec!["safe".into(), "unsafe".into()]);
        assert_eq!(
            json_schema(&t),
            json!({"type": "string", "enum": ["safe", "unsafe"]})
        );
    }

    #[test]
    fn a_list_of_records_is_an_array_of_closed_objects() {
        let t = Type::list(record(&[
            ("verdict", Type::Union(vec!["safe".into(), "unsafe".into()])),
            ("score", Type::Int),
            ("tags", Type::list(Type::Text)),
        ]));
        assert_eq!(
            json_schema(&t),
            json!({
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "verdict": {"type": "string", "enum": ["safe", "unsafe"]},
                        "score": {"type": "integer"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["verdict", "score", "tags"],
                    "additionalProperties": false,
                }
            })
        );
        // Field order is the declared order, so the key text is stable.
        let text = json_schema(&t).to_string();
        assert!(text.find("verdict") < text.find("score"));
    }

    #[test]
    fn a_json_part_makes_a_schema_open() {
        assert!(is_closed(&json_schema(&Type::list(Type::Int))));
        assert!(!is_closed(&json_schema(&Type::Json)));
        assert!(!is_closed(&json_schema(&Type::list(Type::Json))));
        assert!(!is_closed(&json_schema(&record(&[("raw", Type::Json)]))));
        assert!(is_closed(&json_schema(&record(&[]))));
    }

    fn has_json(ty: &Type) -> bool {
        match ty {
            Type::Json | Type::Unknown => true,
            Type::List(item) | Type::Optional(item) => has_json(item),
            Type::Record(fields) => fields.values().any(has_json),
            _ => false,
        }
    }

    proptest! {
        /// Every type gives an object schema, closed exactly when no part
        /// of the type is `json`.
        #[test]
        fn the_schema_is_well_formed(ty in any_value_type()) {
            let s = json_schema(&ty);
            prop_assert!(s.is_object());
            prop_assert_eq!(is_closed(&s), !has_json(&ty));
        }
    }
}

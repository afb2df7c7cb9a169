//! How a call's `as` type is asked for: what the request carries on the wire
//! (a schema, JSON mode, nothing) and what is appended to the prompt.
//!
//! The rule, for every provider:
//!
//! | `as` type | `schema` (openai, anthropic) | `json` (openai) | `prompt`, or no wire support | `off` |
//! | --- | --- | --- | --- | --- |
//! | `text` | nothing | nothing | nothing | nothing |
//! | `int`, `number`, `bool`, a union | an answer-line instruction | the same | the same | nothing |
//! | `json` | a JSON-only instruction | the same | the same | nothing |
//! | `list<T>`, a record | the schema on the wire | JSON mode + the schema in the prompt | the schema in the prompt | nothing |
//!
//! Scalars are never forced into JSON: a model that must answer `{"value": 4}`
//! cannot think aloud first, and the answer line keeps chain of thought
//! (which the reply parser reads past) while saying where the answer goes.
//! `json` has no shape to send, and JSON mode would refuse an array.
//! A wire schema whose root is not an object (a list) is wrapped as
//! `{"value": ...}`, since OpenAI's strict mode and Anthropic's tool input
//! both need an object; the provider unwraps the reply.

use serde_json::{Value, json};

use crate::model::{ModelSpec, ProviderKind, Structured};
use crate::schema::{is_closed, json_schema};
use crate::types::Type;

/// The name of the wrapper field around a non-object schema.
pub const WRAPPER: &str = "value";

/// What a request carries so the server holds the reply to the type.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Wire {
    /// Nothing beyond the prompt.
    #[default]
    Plain,
    /// A JSON Schema: `response_format` on OpenAI, a forced tool on Anthropic.
    Schema {
        /// The schema the reply (the tool input) must match. Boxed: most
        /// calls send none, and every call in flight holds its format.
        schema: Box<Value>,
        /// Whether every part of it names a type (OpenAI's `strict`).
        strict: bool,
        /// Whether the type's own schema sits in `{"value": ...}`.
        wrapped: bool,
    },
    /// JSON mode: some JSON object, its shape said in the prompt.
    JsonObject {
        /// Whether the prompt asked for `{"value": ...}`.
        wrapped: bool,
    },
}

impl Wire {
    /// Whether the reply sits in `{"value": ...}` and must be unwrapped.
    pub fn wrapped(&self) -> bool {
        match self {
            Wire::Plain => false,
            Wire::Schema { wrapped, .. } | Wire::JsonObject { wrapped } => *wrapped,
        }
    }

    /// The mode's name as the trace and `flow graph --format json` show it.
    pub fn name(&self, provider: ProviderKind) -> &'static str {
        match (self, provider) {
            (Wire::Plain, _) => "prompt",
            (Wire::Schema { .. }, ProviderKind::Anthropic) => "tool",
            (Wire::Schema { .. }, _) => "schema",
            (Wire::JsonObject { .. }, _) => "json",
        }
    }
}

/// How one call site's reply is asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplyFormat {
    /// What the request carries.
    pub wire: Wire,
    /// The sentence appended to the prompt, if any.
    pub instruction: Option<String>,
}

impl ReplyFormat {
    /// The prompt with the instruction appended.
    pub fn prompt(&self, prompt: &str) -> String {
        match &self.instruction {
            Some(i) => format!("{prompt}\n\n{i}"),
            None => prompt.to_string(),
        }
    }

    /// What the trace and the graph say about it: `"off"` when nothing is
    /// added, else the wire mode.
    pub fn mode(&self, provider: ProviderKind) -> &'static str {
        if self.wire == Wire::Plain && self.instruction.is_none() {
            "off"
        } else {
            self.wire.name(provider)
        }
    }
}

/// The format for a reply of type `ty` from the model `spec` (see the
/// module docs for the rule).
pub fn reply_format(spec: &ModelSpec, ty: &Type) -> ReplyFormat {
    let mode = spec.structured();
    if mode == Structured::Off {
        return ReplyFormat::default();
    }
    let instruction = |s: String| ReplyFormat {
        wire: Wire::Plain,
        instruction: Some(s),
    };
    match ty {
        // A chat is never an `as` type (the checker says so).
        Type::Text | Type::Chat | Type::Unknown => ReplyFormat::default(),
        Type::Int => instruction(answer_line("N", "a whole number")),
        Type::Number => instruction(answer_line("N", "a number")),
        Type::Bool => instruction(
            "End your reply with a final line `Answer: yes` or `Answer: no`.".to_string(),
        ),
        Type::Union(choices) => {
            let list = choices.join(", ");
            instruction(answer_line("X", &format!("one of: {list}")))
        }
        Type::Json => instruction(
            "Reply with only the JSON value, with no other text and no code fence.".to_string(),
        ),
        Type::List(_) | Type::Record(_) => structured(spec.provider, mode, ty),
        // Only a record field is optional; as a whole reply it reads as its inner type.
        Type::Optional(inner) => reply_format(spec, inner),
    }
}

fn answer_line(var: &str, what: &str) -> String {
    format!("End your reply with a final line `Answer: {var}`, where {var} is {what}.")
}

fn structured(provider: ProviderKind, mode: Structured, ty: &Type) -> ReplyFormat {
    let own = json_schema(ty);
    let wrapped = !matches!(ty, Type::Record(_));
    let object = if wrapped {
        json!({
            "type": "object",
            "properties": { WRAPPER: own },
            "required": [WRAPPER],
            "additionalProperties": false,
        })
    } else {
        own.clone()
    };
    let shown = |schema: &Value, what: &str| {
        format!(
            "Reply with only a JSON {what} matching this JSON Schema, with no other text: {schema}"
        )
    };
    match (mode, provider) {
        (Structured::Schema, ProviderKind::OpenAi | ProviderKind::Anthropic) => ReplyFormat {
            wire: Wire::Schema {
                strict: is_closed(&object),
                schema: Box::new(object),
                wrapped,
            },
            instruction: None,
        },
        (Structured::Json, ProviderKind::OpenAi) => ReplyFormat {
            instruction: Some(shown(&object, "object")),
            wire: Wire::JsonObject { wrapped },
        },
        _ => ReplyFormat {
            wire: Wire::Plain,
            instruction: Some(shown(&own, if wrapped { "array" } else { "object" })),
        },
    }
}

/// The reply's JSON text with the wrapper taken off; a reply that is not a
/// wrapped object is kept as it came, for the parser to judge (and, if it
/// fails, to re-ask).
pub fn unwrap_reply(text: &str) -> String {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(mut o)) if o.len() == 1 && o.contains_key(WRAPPER) => {
            o.remove(WRAPPER).map(|v| v.to_string()).unwrap_or_default()
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelOptions;
    use crate::syntax::Span;

    fn spec(provider: ProviderKind, structured: Option<Structured>) -> ModelSpec {
        ModelSpec {
            name: "m".into(),
            provider,
            model_id: Some("x".into()),
            options: ModelOptions {
                structured,
                ..ModelOptions::default()
            },
            span: Span::new(0, 1),
        }
    }

    #[test]
    fn text_is_sent_as_written_in_every_mode() {
        for (_, mode) in Structured::ALL {
            for (_, p) in ProviderKind::ALL {
                assert_eq!(
                    reply_format(&spec(p, Some(mode)), &Type::Text),
                    ReplyFormat::default()
                );
            }
        }
    }

    #[test]
    fn a_list_goes_on_the_wire_wrapped_and_strict() {
        let f = reply_format(&spec(ProviderKind::OpenAi, None), &Type::list(Type::Int));
        assert_eq!(f.instruction, None);
        assert_eq!(
            f.wire,
            Wire::Schema {
                schema: Box::new(json!({
                    "type": "object",
                    "properties": {"value": {"type": "array", "items": {"type": "integer"}}},
                    "required": ["value"],
                    "additionalProperties": false,
                })),
                strict: true,
                wrapped: true,
            }
        );
        assert_eq!(f.mode(ProviderKind::OpenAi), "schema");
        assert_eq!(f.mode(ProviderKind::Anthropic), "tool");
    }

    #[test]
    fn a_list_of_json_is_not_strict() {
        let f = reply_format(&spec(ProviderKind::OpenAi, None), &Type::list(Type::Json));
        assert!(matches!(f.wire, Wire::Schema { strict: false, .. }));
    }

    #[test]
    fn scalars_get_an_answer_line_and_nothing_on_the_wire() {
        let f = reply_format(&spec(ProviderKind::OpenAi, None), &Type::Int);
        assert_eq!(f.wire, Wire::Plain);
        assert_eq!(
            f.prompt("How many?"),
            "How many?\n\nEnd your reply with a final line `Answer: N`, where N is a whole number."
        );
        let u = Type::Union(vec!["safe".into(), "unsafe".into()]);
        let f = reply_format(&spec(ProviderKind::Anthropic, None), &u);
        assert_eq!(
            f.instruction.as_deref(),
            Some("End your reply with a final line `Answer: X`, where X is one of: safe, unsafe.")
        );
    }

    #[test]
    fn json_mode_and_prompt_mode_show_the_schema_in_the_prompt() {
        let ty = Type::list(Type::Text);
        let f = reply_format(&spec(ProviderKind::OpenAi, Some(Structured::Json)), &ty);
        assert_eq!(f.wire, Wire::JsonObject { wrapped: true });
        assert!(
            f.instruction
                .unwrap()
                .contains(r#"{"type":"object","properties":{"value""#)
        );
        let f = reply_format(&spec(ProviderKind::OpenAi, Some(Structured::Prompt)), &ty);
        assert_eq!(f.wire, Wire::Plain);
        assert_eq!(
            f.instruction.as_deref(),
            Some(
                r#"Reply with only a JSON array matching this JSON Schema, with no other text: {"type":"array","items":{"type":"string"}}"#
            )
        );
        // Anthropic has no JSON mode, a mock no wire at all: both as `prompt`.
        let a = reply_format(&spec(ProviderKind::Anthropic, Some(Structured::Json)), &ty);
        let m = reply_format(&spec(ProviderKind::Mock, Some(Structured::Schema)), &ty);
        assert_eq!(a, f);
        assert_eq!(m, f);
    }

    #[test]
    fn mocks_and_off_add_nothing() {
        assert_eq!(
            reply_format(&spec(ProviderKind::Mock, None), &Type::Int),
            ReplyFormat::default()
        );
        let off = reply_format(
            &spec(ProviderKind::OpenAi, Some(Structured::Off)),
            &Type::list(Type::Int),
        );
        assert_eq!(off, ReplyFormat::default());
        assert_eq!(off.mode(ProviderKind::OpenAi), "off");
    }

    #[test]
    fn unwrapping_takes_off_only_the_wrapper() {
        assert_eq!(unwrap_reply(r#"{"value": [1, 2]}"#), "[1,2]");
        assert_eq!(
            unwrap_reply(r#"{"value": 1, "x": 2}"#),
            r#"{"value": 1, "x": 2}"#
        );
        assert_eq!(unwrap_reply("not json"), "not json");
    }
}

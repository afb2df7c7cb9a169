//! Conversations: the values of the `chat` type, which an `ask` receives
//! with `with NAME` as the turns before its prompt.
//!
//! The JSON form is the OpenAI messages array,
//! `[{"role": "system" | "user" | "assistant", "content": "..."}]`, so a
//! chat client's history can be handed to a program as it is. A chat value
//! is never text: the checker refuses to interpolate it, so prior turns
//! reach only the calls a program passes them to.

use std::fmt;
use std::sync::Arc;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions; Anthropic takes them in its system prompt.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// How the role is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A message of `role` saying `content`.
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// A conversation, shared rather than copied: every sample of a call and
/// every read of the input sees the same turns.
pub type Chat = Arc<[Message]>;

/// The conversation of a call that has none, shared: an empty `Arc` slice
/// is still an allocation, and a fan-out made one per call.
pub fn no_history() -> Chat {
    static EMPTY: std::sync::LazyLock<Chat> = std::sync::LazyLock::new(|| Arc::from([]));
    EMPTY.clone()
}

/// The JSON form: an array of `{role, content}` objects.
pub fn to_json(chat: &[Message]) -> serde_json::Value {
    serde_json::Value::Array(
        chat.iter()
            .map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content}))
            .collect(),
    )
}

/// What is wrong with a JSON value given as a conversation. Items are
/// counted from 1, as a person counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatProblem {
    /// Not an array (nor a string holding one).
    NotAnArray(String),
    /// A string that is not JSON.
    NotJson(String),
    /// An item that is not an object.
    NotAMessage {
        /// 1-based.
        item: usize,
    },
    /// An item without `role`, or whose role is not a string.
    NoRole {
        /// 1-based.
        item: usize,
    },
    /// A role flow does not send (`tool`, `function`, a typo).
    BadRole {
        /// 1-based.
        item: usize,
        /// As given.
        role: String,
    },
    /// An item whose `content` is missing or not text.
    NoContent {
        /// 1-based.
        item: usize,
    },
}

impl fmt::Display for ChatProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatProblem::NotAnArray(found) => {
                write!(f, "expected an array of messages, found {found}")
            }
            ChatProblem::NotJson(reason) => write!(f, "the text is not JSON: {reason}"),
            ChatProblem::NotAMessage { item } => {
                write!(
                    f,
                    "message {item} is not an object with `role` and `content`"
                )
            }
            ChatProblem::NoRole { item } => write!(f, "message {item} has no `role`"),
            ChatProblem::BadRole { item, role } => write!(
                f,
                "message {item} has the role {role:?}; a conversation takes `system`, `user` and `assistant`"
            ),
            ChatProblem::NoContent { item } => {
                write!(f, "message {item} has no text `content`")
            }
        }
    }
}

/// Reads a conversation from its JSON form. A string is read as JSON text,
/// so a JSONL row may hold the history either way. `content` may also be
/// OpenAI's array of parts, whose text parts are joined; `developer` (the
/// newer OpenAI name) is a system message; other fields (`name`) are ignored.
pub fn from_json(j: &serde_json::Value) -> Result<Chat, ChatProblem> {
    use serde_json::Value as J;
    let items = match j {
        J::Array(items) => items,
        J::String(s) => {
            let parsed: J =
                serde_json::from_str(s).map_err(|e| ChatProblem::NotJson(e.to_string()))?;
            return match parsed {
                J::String(_) => Err(ChatProblem::NotAnArray("a string".into())),
                other => from_json(&other),
            };
        }
        J::Null => return Err(ChatProblem::NotAnArray("null".into())),
        J::Bool(_) => return Err(ChatProblem::NotAnArray("a boolean".into())),
        J::Number(_) => return Err(ChatProblem::NotAnArray("a number".into())),
        J::Object(_) => return Err(ChatProblem::NotAnArray("an object".into())),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let J::Object(fields) = item else {
            return Err(ChatProblem::NotAMessage { item: n });
        };
        let role = match fields.get("role") {
            Some(J::String(r)) => match r.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(ChatProblem::BadRole {
                        item: n,
                        role: crate::text::shorten(other, 40),
                    });
                }
            },
            _ => return Err(ChatProblem::NoRole { item: n }),
        };
        let content = match fields.get("content") {
            Some(J::String(s)) => s.clone(),
            Some(J::Array(parts)) => {
                let mut text = String::new();
                for part in parts {
                    match part.get("text") {
                        Some(J::String(t)) => text.push_str(t),
                        _ => return Err(ChatProblem::NoContent { item: n }),
                    }
                }
                text
            }
            _ => return Err(ChatProblem::NoContent { item: n }),
        };
        out.push(Message { role, content });
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_openai_messages_array_reads_and_writes_back() {
        let j = json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi", "name": "ann"},
            {"role": "assistant", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]},
            {"role": "developer", "content": "dev"}
        ]);
        let chat = from_json(&j).unwrap();
        assert_eq!(
            &*chat,
            &[
                Message::new(Role::System, "be brief"),
                Message::new(Role::User, "hi"),
                Message::new(Role::Assistant, "hello"),
                Message::new(Role::System, "dev"),
            ]
        );
        assert_eq!(
            to_json(&chat)[2],
            json!({"role": "assistant", "content": "hello"})
        );
        assert_eq!(from_json(&json!([])).unwrap().len(), 0);
        assert_eq!(
            from_json(&json!("[{\"role\":\"user\",\"content\":\"x\"}]"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn bad_shapes_say_which_message_and_what() {
        let cases = [
            (
                json!({"role": "user"}),
                "expected an array of messages, found an object",
            ),
            (
                json!("nope"),
                "the text is not JSON: expected ident at line 1 column 2",
            ),
            (
                json!([1]),
                "message 1 is not an object with `role` and `content`",
            ),
            (json!([{"content": "x"}]), "message 1 has no `role`"),
            (
                json!([{"role": "user", "content": "a"}, {"role": "tool", "content": "x"}]),
                "message 2 has the role \"tool\"; a conversation takes `system`, `user` and `assistant`",
            ),
            (
                json!([{"role": "user", "content": null}]),
                "message 1 has no text `content`",
            ),
            (
                json!([{"role": "user", "content": [{"image": 1}]}]),
                "message 1 has no text `content`",
            ),
        ];
        for (j, want) in cases {
            assert_eq!(from_json(&j).unwrap_err().to_string(), want, "{j}");
        }
    }
}

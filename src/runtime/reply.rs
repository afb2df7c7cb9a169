//! Parsing a model's reply into the type declared with `as`.

use crate::types::Type;
use crate::value::Value;

/// The reply did not fit the type; the message says what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {expected}, but the reply was {reply:?}")]
pub struct ReplyParseError {
    pub expected: String,
    pub reply: String,
}

pub fn parse_reply(_text: &str, _ty: &Type) -> Result<Value, ReplyParseError> {
    todo!("vote helper")
}

//! How a chat request becomes a run, decided once per program.
//!
//! The rule (docs/serve.md): the last `user` message goes to the program's
//! one `text` input without a default (or, when every input has a default,
//! its only `text` input); the messages before it go to its `chat` input,
//! if it has one, and are dropped otherwise. The reply is the `text` output
//! named by `--output`, else the one named `answer`, else `reply`, else the
//! only `text` output.

use crate::graph::{FlowGraph, NodeKind};
use crate::types::Type;

use super::ServeError;

/// Where a chat request's parts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatMapping {
    /// The input that takes the last user message.
    pub message: String,
    /// The input that takes the earlier turns, if the program has one.
    pub history: Option<String>,
    /// The output whose value is the assistant's message.
    pub answer: String,
}

impl ChatMapping {
    pub fn summary(&self) -> String {
        let history = match &self.history {
            Some(h) => format!("earlier turns → `{h}`"),
            None => "earlier turns dropped (no `chat` input)".into(),
        };
        format!(
            "user message → `{}`, {history}, reply ← `{}`",
            self.message, self.answer
        )
    }
}

/// The mapping, or (as `Ok(Err(reason))`) why this program takes no chat
/// requests; a bad `--output` is an error.
pub(crate) fn chat_mapping(
    graph: &FlowGraph,
    output: Option<&str>,
) -> Result<Result<ChatMapping, String>, ServeError> {
    let answer = match output {
        Some(name) => {
            let Some(&node) = graph.outputs.get(name) else {
                return Err(ServeError::UnknownOutput {
                    name: name.to_string(),
                    help: unknown_output_help(name, graph),
                });
            };
            let ty = &graph.dag[node].ty;
            if !is_text(ty) {
                return Err(ServeError::OutputNotText {
                    name: name.to_string(),
                    ty: ty.to_string(),
                });
            }
            Ok(name.to_string())
        }
        None => answer_output(graph),
    };
    Ok(answer.and_then(|answer| {
        let (message, history) = message_input(graph)?;
        Ok(ChatMapping {
            message,
            history,
            answer,
        })
    }))
}

/// A union of literals is text too (`"safe" | "unsafe"`).
fn is_text(ty: &Type) -> bool {
    matches!(ty, Type::Text | Type::Union(_))
}

fn answer_output(graph: &FlowGraph) -> Result<String, String> {
    let text: Vec<&str> = graph
        .outputs
        .iter()
        .filter(|(_, node)| is_text(&graph.dag[**node].ty))
        .map(|(name, _)| name.as_str())
        .collect();
    for preferred in ["answer", "reply"] {
        if text.contains(&preferred) {
            return Ok(preferred.to_string());
        }
    }
    match text.as_slice() {
        [only] => Ok(only.to_string()),
        [] => Err("the program has no `text` output to reply with".into()),
        many => Err(format!(
            "the program has several `text` outputs ({}) and none is named `answer` or `reply`; pick one with `--output NAME`",
            backticked(many)
        )),
    }
}

/// The input for the user's message, and the `chat` input for the turns
/// before it. Any other input without a default makes chat impossible: a
/// chat request has no way to give it.
fn message_input(graph: &FlowGraph) -> Result<(String, Option<String>), String> {
    let mut text_required = Vec::new();
    let mut text_optional = Vec::new();
    let mut other_required = Vec::new();
    let mut chats = Vec::new();
    for (name, &node) in &graph.inputs {
        let n = &graph.dag[node];
        let required = matches!(n.kind, NodeKind::Input { default: None });
        match (&n.ty, required) {
            // A `chat` left out is an empty conversation: never required.
            (Type::Chat, _) => chats.push(name.as_str()),
            (Type::Text, true) => text_required.push(name.as_str()),
            (Type::Text, false) => text_optional.push(name.as_str()),
            (_, true) => other_required.push(name.as_str()),
            (_, false) => {}
        }
    }
    let message = match (text_required.as_slice(), text_optional.as_slice()) {
        ([one], _) => one.to_string(),
        ([], [one]) => one.to_string(),
        ([], []) => return Err("the program has no `text` input for the user's message".into()),
        ([], many) => {
            return Err(format!(
                "the program has several `text` inputs ({}), all with defaults; leave the one for the user's message without a default",
                backticked(many)
            ));
        }
        (many, _) => {
            return Err(format!(
                "the program has several `text` inputs without a default ({}); give all but the one for the user's message a default",
                backticked(many)
            ));
        }
    };
    if !other_required.is_empty() {
        return Err(format!(
            "input {} has no default, and a chat request has no way to give it",
            backticked(&other_required)
        ));
    }
    let history = match chats.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        many => {
            return Err(format!(
                "the program has several `chat` inputs ({}); a chat request has one conversation",
                backticked(many)
            ));
        }
    };
    Ok((message, history))
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_output_help(name: &str, graph: &FlowGraph) -> String {
    let known: Vec<&str> = graph.outputs.keys().map(String::as_str).collect();
    match crate::check::did_you_mean(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("its outputs are {}", backticked(&known)),
    }
}

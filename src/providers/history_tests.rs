//! A conversation on the wire: OpenAI-compatible servers get the turns as
//! messages of their own roles; Anthropic gets the system turns in its
//! system prompt and the rest as messages, the prompt always last.

use serde_json::json;

use fake_llm::{Answer, Server};

use super::Provider;
use super::anthropic::AnthropicProvider;
use super::http::test_support::{client, request, spec};
use super::openai::OpenAiProvider;
use crate::chat::{Message, Role};
use crate::model::{ModelOptions, ProviderKind};

fn conversation() -> super::Request {
    let mut req = request("and now?");
    req.system = Some("be brief".into());
    req.history = vec![
        Message::new(Role::System, "the user is a child"),
        Message::new(Role::User, "hi"),
        Message::new(Role::Assistant, "hello"),
    ]
    .into();
    req
}

#[tokio::test]
async fn openai_gets_the_turns_as_messages_before_the_prompt() {
    let server = Server::start(fake_llm::openai::text("ok"));
    let spec = spec(
        ProviderKind::OpenAi,
        &server.base_url(),
        ModelOptions::default(),
    );
    let provider = OpenAiProvider::with_key(&spec, client(), Some("k".into())).unwrap();
    provider.call(conversation()).await.unwrap();
    assert_eq!(
        server.seen()[0].body["messages"],
        json!([
            {"role": "system", "content": "be brief"},
            {"role": "system", "content": "the user is a child"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "and now?"}
        ])
    );
}

#[tokio::test]
async fn anthropic_merges_system_turns_into_the_system_prompt() {
    let server = Server::start(fake_llm::anthropic::text("ok"));
    let spec = spec(
        ProviderKind::Anthropic,
        &server.base_url(),
        ModelOptions::default(),
    );
    let provider = AnthropicProvider::with_key(&spec, client(), Some("k".into())).unwrap();
    provider.call(conversation()).await.unwrap();
    let body = &server.seen()[0].body;
    assert_eq!(body["system"], json!("be brief\n\nthe user is a child"));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "and now?"}
        ])
    );
    // Without a conversation the body is as it always was.
    let server = Server::start(Answer::json(
        200,
        fake_llm::anthropic::message(json!([{"type": "text", "text": "x"}]), 1, 1),
    ));
    let spec = super::http::test_support::spec(
        ProviderKind::Anthropic,
        &server.base_url(),
        ModelOptions::default(),
    );
    let provider = AnthropicProvider::with_key(&spec, client(), Some("k".into())).unwrap();
    provider.call(request("plain")).await.unwrap();
    let body = &server.seen()[0].body;
    assert_eq!(body.get("system"), None);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "plain"}])
    );
}

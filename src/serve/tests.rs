use serde_json::json;

use super::chat::parse;
use super::mapping::{ChatMapping, chat_mapping};
use super::*;
use crate::engine::Program;

fn graph(src: &str) -> crate::graph::FlowGraph {
    Program::compile("t.flow", src)
        .map_err(|f| format!("{:?}", f.diagnostics))
        .expect("compiles")
        .graph()
        .clone()
}

#[test]
fn the_user_message_goes_to_the_one_required_text_input() {
    let g = graph(
        "model m = mock()\ninput style: text = \"plain\"\ninput query: text\noutput answer = ask m \"{style} {query}\"\n",
    );
    let m = chat_mapping(&g, None)
        .expect("no error")
        .expect("chat works");
    assert_eq!(
        m,
        ChatMapping {
            message: "query".into(),
            history: None,
            answer: "answer".into()
        }
    );
}

#[test]
fn earlier_turns_go_to_the_chat_input() {
    let g = graph(
        "model m = mock()\ninput query: text\ninput history: chat\noutput answer = ask m \"{query}\" with history\n",
    );
    let m = chat_mapping(&g, None)
        .expect("no error")
        .expect("chat works");
    assert_eq!(m.message, "query");
    assert_eq!(m.history.as_deref(), Some("history"));
}

#[test]
fn the_reply_is_answer_then_reply_then_the_only_text_output() {
    let g = graph(
        "model m = mock()\ninput q: text\noutput n = 3\noutput reply = ask m \"{q}\"\noutput other = ask m \"x {q}\"\n",
    );
    let m = chat_mapping(&g, None)
        .expect("no error")
        .expect("chat works");
    assert_eq!(m.answer, "reply");
    let g = graph("model m = mock()\ninput q: text\noutput n = 3\noutput said = ask m \"{q}\"\n");
    let m = chat_mapping(&g, None)
        .expect("no error")
        .expect("chat works");
    assert_eq!(m.answer, "said");
}

#[test]
fn ambiguous_programs_serve_runs_only_and_say_why() {
    let g = graph("model m = mock()\ninput a: text\ninput b: text\noutput x = ask m \"{a} {b}\"\n");
    let why = chat_mapping(&g, None)
        .expect("no error")
        .expect_err("no chat");
    assert!(why.contains("`a`, `b`"), "{why}");
    let g = graph(
        "model m = mock()\ninput q: text\noutput x = ask m \"{q}\"\noutput y = ask m \"y{q}\"\n",
    );
    let why = chat_mapping(&g, None)
        .expect("no error")
        .expect_err("no chat");
    assert!(why.contains("--output"), "{why}");
}

#[test]
fn a_bad_output_flag_is_an_error_with_a_suggestion() {
    let g = graph("model m = mock()\ninput q: text\noutput answer = ask m \"{q}\"\noutput n = 1\n");
    let e = chat_mapping(&g, Some("answr")).expect_err("unknown");
    assert!(matches!(&e, ServeError::UnknownOutput { help, .. } if help.contains("`answer`")));
    let e = chat_mapping(&g, Some("n")).expect_err("not text");
    assert!(e.to_string().contains("int"), "{e}");
}

#[test]
fn requests_are_read_with_the_field_at_fault_named() {
    let ok = parse(&json!({
        "model": "guard",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}
        ],
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.2
    }))
    .expect("valid");
    assert_eq!(ok.messages[0].role, "system");
    assert_eq!(ok.messages[1].content, "hi");
    assert!(ok.stream && ok.include_usage);

    let cases = [
        (json!([]), None, "JSON object"),
        (json!({}), Some("messages"), "required"),
        (json!({"messages": "hi"}), Some("messages"), "not a string"),
        (json!({"messages": []}), Some("messages"), "empty"),
        (
            json!({"messages": [{"role": "user", "content": 3}]}),
            Some("messages[0].content"),
            "not a number",
        ),
        (
            json!({"messages": [{"role": "robot", "content": "x"}]}),
            Some("messages[0].role"),
            "`robot`",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            Some("stream"),
            "boolean",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}),
            Some("messages[1].role"),
            "last message",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "n": 2}),
            Some("n"),
            "n: 1",
        ),
    ];
    for (body, param, says) in cases {
        let e = parse(&body).expect_err("invalid");
        assert_eq!(e.status, 400, "{body}");
        assert_eq!(e.param.as_deref(), param, "{body}");
        assert!(e.message.contains(says), "{body}: {}", e.message);
    }
}

#[test]
fn the_token_never_shows_and_compares_whole() {
    let t = BearerToken::new("s3cret").expect("non-empty");
    assert_eq!(format!("{t:?}"), "BearerToken(***)");
    assert!(t.matches("s3cret"));
    assert!(!t.matches("s3cre"));
    assert!(!t.matches("s3cret!"));
    assert!(BearerToken::new("  ").is_none());
}

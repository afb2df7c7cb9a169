//! Typed replies on the wire, against the in-process HTTP server: the schema
//! or tool each protocol is sent (asserted on the request body), the answer
//! line for scalars, re-asks carrying the failed reply, truncated replies,
//! token counts the servers did or did not report, and vote samples that
//! abstain.

use fake_llm::{Config, Server, anthropic, openai};
use serde_json::{Value, json};

use crate::http::{program, run};

/// The `messages` of request `i`, as `(role, content)`.
fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or("").to_string(),
                m["content"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

const LIST_SCHEMA: &str = r#"{"type":"object","properties":{"value":{"type":"array","items":{"type":"integer"}}},"required":["value"],"additionalProperties":false}"#;

#[test]
fn openai_gets_the_lists_json_schema_and_the_reply_is_unwrapped() {
    let server = Server::start(openai::text(r#"{"value": [3, 1, 2]}"#));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output xs = ask m \"Three numbers.\" as list<int>",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"xs": [3, 1, 2]}));
    let body = &server.seen()[0].body;
    let schema: Value = serde_json::from_str(LIST_SCHEMA).unwrap();
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema, "strict": true}
        })
    );
    // The schema is on the wire, so the prompt is as written.
    assert_eq!(
        messages(body),
        [("user".to_string(), "Three numbers.".to_string())]
    );
}

#[test]
fn anthropic_is_forced_to_call_a_tool_whose_input_is_the_reply() {
    let server = Server::start(anthropic::tool_use("reply", json!({"value": [7, 8]})));
    let p = program(
        "anthropic",
        &server.base_url(),
        "",
        "output xs = ask m \"Two numbers.\" as list<int>",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"xs": [7, 8]}));
    let body = &server.seen()[0].body;
    let schema: Value = serde_json::from_str(LIST_SCHEMA).unwrap();
    assert_eq!(body["tools"][0]["name"], "reply");
    assert_eq!(body["tools"][0]["input_schema"], schema);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "reply"})
    );
    assert_eq!(body.get("response_format"), None);
}

#[test]
fn json_mode_and_prompt_mode_put_the_schema_in_the_prompt() {
    for (mode, format) in [
        ("json", json!({"type": "json_object"})),
        ("prompt", Value::Null),
    ] {
        let reply = if mode == "json" {
            r#"{"value": [1]}"#
        } else {
            "[1]"
        };
        let server = Server::start(openai::text(reply));
        let p = program(
            "openai",
            &server.base_url(),
            &format!("structured: \"{mode}\""),
            "output xs = ask m \"One number.\" as list<int>",
        );
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 0, "{mode}: {}", ran.err());
        assert_eq!(ran.doc()["outputs"], json!({"xs": [1]}), "{mode}");
        let body = &server.seen()[0].body;
        assert_eq!(
            body.get("response_format").cloned().unwrap_or_default(),
            format
        );
        let prompt = &messages(body)[0].1;
        assert!(
            prompt.starts_with("One number.\n\nReply with only a JSON "),
            "{mode}: {prompt}"
        );
        assert!(prompt.contains(r#""type":"array""#), "{mode}: {prompt}");
    }
}

#[test]
fn a_scalar_gets_an_answer_line_and_text_gets_nothing() {
    let server = Server::start(openai::text("Two and two make four.\nAnswer: 4"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "n = ask m \"What is 2 + 2?\" as int\noutput t = ask m \"Say {n}.\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    let seen = server.seen();
    let first = &messages(&seen[0].body)[0].1;
    assert_eq!(
        first,
        "What is 2 + 2?\n\nEnd your reply with a final line `Answer: N`, where N is a whole number."
    );
    assert_eq!(seen[0].body.get("response_format"), None);
    assert_eq!(messages(&seen[1].body)[0].1, "Say 4.");
    assert_eq!(seen[1].body.get("response_format"), None);
}

#[test]
fn a_re_ask_carries_the_previous_reply_and_what_was_wrong() {
    for provider in ["openai", "anthropic"] {
        let (bad, good) = if provider == "openai" {
            (openai::text("Maybe."), openai::text("Yes"))
        } else {
            (anthropic::text("Maybe."), anthropic::text("Yes"))
        };
        let server = Server::start(Config::then(vec![bad], good));
        let p = program(
            provider,
            &server.base_url(),
            "structured: \"off\", temperature: 0",
            "output ok = ask m \"Is water wet?\" as bool",
        );
        let ran = run(&p, &[]);
        let seen = server.seen();
        assert_eq!(seen.len(), 2, "{provider}");
        let second = messages(&seen[1].body);
        assert_eq!(second.len(), 3, "{provider}: {second:?}");
        assert_eq!(second[0], ("user".into(), "Is water wet?".into()));
        assert_eq!(second[1], ("assistant".into(), "Maybe.".into()));
        assert_eq!(second[2].0, "user");
        assert!(
            second[2].1.starts_with("Your reply was not yes or no."),
            "{provider}: {}",
            second[2].1
        );
        assert_eq!(ran.stat("reasks"), 1, "{provider}");
        assert_eq!(ran.stat("retries"), 0, "{provider}");
        let reasks: Vec<bool> = ran.trace.as_ref().unwrap()["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| e["args"]["reask"] == true)
            .collect();
        assert_eq!(reasks, [false, true], "{provider}");
    }
}

#[test]
fn a_reply_cut_at_the_token_limit_says_so_and_suggests_max_tokens() {
    for (provider, cut) in [
        ("openai", openai::cut("Let me count them one by one. First")),
        (
            "anthropic",
            anthropic::cut("Let me count them one by one. First"),
        ),
    ] {
        let server = Server::start(cut);
        let p = program(
            provider,
            &server.base_url(),
            "max_tokens: 8",
            "output n = ask m \"Count.\" as int retry 1",
        );
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 2, "{provider}");
        let err = ran.err();
        assert!(
            err.contains("cut off at the token limit"),
            "{provider}: {err}"
        );
        assert!(err.contains("max_tokens"), "{provider}: {err}");
        // The re-ask says it too.
        let second = messages(&server.seen()[1].body);
        assert!(second[2].1.contains("cut off"), "{provider}: {second:?}");
    }
}

#[test]
fn anthropic_cache_tokens_are_input_tokens() {
    let server = Server::start(anthropic::cached("Paris", 5, 20, 6));
    let p = program(
        "anthropic",
        &server.base_url(),
        "price_in: 1000000, price_out: 0",
        "output c = ask m \"Capital of France?\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.stat("input_tokens"), 31);
    assert_eq!(ran.doc()["stats"]["cost_usd"], json!(31.0));
}

#[test]
fn a_reply_without_usage_is_counted_as_unknown() {
    let server = Server::start(openai::without_usage("Paris"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output c = ask m \"Capital?\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.stat("usage_unknown"), 1);
    assert_eq!(ran.stat("input_tokens"), 0);
    assert_eq!(ran.doc()["stats"]["models"]["m"]["usage_unknown"], 1);
}

#[test]
fn a_sample_that_never_parses_abstains_and_the_vote_goes_on() {
    // Samples arrive in any order; whichever gets the bad reply abstains.
    // `mean` needs every sample, so the bad reply is always read: under
    // `majority` two quick "yes" replies could decide the vote first and
    // cancel the sample before its reply was read (flaky on a busy machine).
    let server = Server::start(Config::then(
        vec![openai::text("unsure")],
        openai::text("4"),
    ));
    let p = program(
        "openai",
        &server.base_url(),
        "structured: \"off\"",
        "output ok = ask m \"How many?\" as int vote 3 by mean retry 0",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"ok": 4.0}));
    assert_eq!(ran.stat("abstained"), 1);
    assert_eq!(server.seen().len(), 3);
    let marked = ran.trace.as_ref().unwrap()["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["args"]["abstained"] == true)
        .count();
    assert_eq!(marked, 1);
}

#[test]
fn a_missing_key_still_fails_a_vote() {
    let server = Server::start(openai::error(401, "auth", "bad key"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output ok = ask m \"Is it?\" as bool vote 3 by majority",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    assert!(
        ran.err().contains("flow::run::call_failed"),
        "{}",
        ran.err()
    );
    assert_eq!(ran.stat("abstained"), 0);
}

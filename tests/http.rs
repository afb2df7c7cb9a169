//! `flow run` against a real HTTP server in this process, with no internet:
//! the `openai` and `anthropic` providers, what they send, how the runtime
//! retries, times out and fails, how many requests run at once, and that the
//! API key never shows in any output or trace.
//!
//! The server is `fake_llm`'s: it runs on its own tokio runtime in a
//! background thread, so the test thread can block on the `flow` child
//! process that talks to it.

use std::time::Duration;

use fake_llm::http::Method;
use fake_llm::{Answer, Config, Server, anthropic, openai};
use serde_json::{Value, json};

use crate::support::*;

/// The key the `flow` child gets in `FLOW_TEST_KEY`; it must never be printed.
const KEY: &str = "sk-test-SECRET-123";

/// `model m = PROVIDER("test-model", base_url: ..., api_key_env: "FLOW_TEST_KEY", OPTIONS)`
/// followed by `body`.
pub(crate) fn program(provider: &str, base_url: &str, options: &str, body: &str) -> TempProgram {
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(", {options}")
    };
    TempProgram::new(&format!(
        "model m = {provider}(\"test-model\", base_url: \"{base_url}\", \
         api_key_env: \"FLOW_TEST_KEY\"{options})\n{body}\n"
    ))
}

/// What one `flow run --json --trace` gave.
pub(crate) struct Ran {
    out: std::process::Output,
    pub(crate) trace: Option<Value>,
}

impl Ran {
    pub(crate) fn code(&self) -> i32 {
        code(&self.out)
    }

    pub(crate) fn doc(&self) -> Value {
        json(&self.out)
    }

    pub(crate) fn err(&self) -> String {
        prose(&stderr(&self.out))
    }

    pub(crate) fn stat(&self, name: &str) -> u64 {
        self.doc()["stats"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no stat `{name}` in {:#}", self.doc()))
    }

    /// The outcomes of every attempt in the trace, in start order.
    pub(crate) fn outcomes(&self) -> Vec<String> {
        let mut slices: Vec<(u64, String)> = self
            .trace
            .as_ref()
            .and_then(|t| t["traceEvents"].as_array())
            .into_iter()
            .flatten()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                (
                    e["ts"].as_u64().unwrap_or(0),
                    e["args"]["outcome"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        slices.sort();
        slices.into_iter().map(|(_, o)| o).collect()
    }
}

/// `flow run FILE --json --trace T ARGS...` with the test key set; asserts
/// the key shows nowhere: not on stdout, stderr or in the trace.
pub(crate) fn run(p: &TempProgram, args: &[&str]) -> Ran {
    run_env(p, args, &[("FLOW_TEST_KEY", KEY)])
}

fn run_env(p: &TempProgram, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let trace_path = p.file("trace.json");
    let mut all = vec!["run", p.path.as_str(), "--json", "--trace", &trace_path];
    all.extend_from_slice(args);
    let out = flow_env(&all, env);
    let trace_text = std::fs::read_to_string(&trace_path).ok();
    for (what, text) in [
        ("stdout", stdout(&out)),
        ("stderr", stderr(&out)),
        ("the trace", trace_text.clone().unwrap_or_default()),
    ] {
        assert!(
            !text.contains(KEY) && !text.contains("SECRET"),
            "the key leaked into {what}:\n{text}"
        );
    }
    let trace = trace_text.map(|t| serde_json::from_str(&t).expect("the trace is JSON"));
    Ran { out, trace }
}

#[test]
fn openai_success_sends_a_well_formed_request() {
    let server = Server::start(openai::text("Paris"));
    let p = program(
        "openai",
        &server.base_url(),
        "temperature: 0.5, max_tokens: 50",
        "output answer = ask m \"What is the capital of France?\" system \"Be terse.\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    let doc = ran.doc();
    assert_eq!(doc["outputs"], json!({"answer": "Paris"}));
    assert_eq!(ran.stat("calls"), 1);
    assert_eq!(ran.stat("retries"), 0);
    assert_eq!(ran.stat("input_tokens"), 11);
    assert_eq!(ran.stat("output_tokens"), 2);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("x-api-key"), None);
    assert!(
        req.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{req:?}"
    );
    assert_eq!(req.body["model"], "test-model");
    assert_eq!(req.body["temperature"], 0.5);
    // A compatible server gets the classic field, not `max_completion_tokens`.
    assert_eq!(req.body["max_tokens"], 50);
    assert_eq!(
        req.body["messages"],
        json!([
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "What is the capital of France?"}
        ])
    );
}

#[test]
fn anthropic_success_sends_a_well_formed_request() {
    let server = Server::start(anthropic::text("Paris"));
    let p = program(
        "anthropic",
        &server.base_url(),
        "temperature: 0.2, max_tokens: 64, system: \"You are terse.\"",
        "output answer = ask m \"What is the capital of France?\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"answer": "Paris"}));
    assert_eq!(ran.stat("input_tokens"), 7);
    assert_eq!(ran.stat("output_tokens"), 3);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(req.body["model"], "test-model");
    assert_eq!(req.body["max_tokens"], 64);
    assert_eq!(req.body["temperature"], 0.2);
    assert_eq!(req.body["system"], "You are terse.");
    assert_eq!(
        req.body["messages"],
        json!([{"role": "user", "content": "What is the capital of France?"}])
    );
}

#[test]
fn a_rate_limit_is_retried_after_the_wait_asked_for() {
    for (provider, ok) in [
        ("openai", openai::text("fine")),
        ("anthropic", anthropic::text("fine")),
    ] {
        let server = Server::start(Config::then(
            vec![
                openai::error(429, "rate_limit_exceeded", "Rate limit reached")
                    .with_header("retry-after", "1"),
            ],
            ok,
        ));
        let p = program(provider, &server.base_url(), "", "output a = ask m \"Hi\"");
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 0, "{provider}: {}", ran.err());
        assert_eq!(ran.doc()["outputs"], json!({"a": "fine"}), "{provider}");
        assert_eq!(ran.stat("retries"), 1, "{provider}");
        assert_eq!(ran.stat("calls"), 2, "{provider}");
        assert_eq!(server.seen().len(), 2, "{provider}");
        assert_eq!(ran.outcomes(), ["transient", "ok"], "{provider}");
    }
}

#[test]
fn item_23_a_rate_limit_with_only_nonstandard_headers_waits_as_asked() {
    for (name, value, wait_ms) in [
        ("llm_provider-retry-after", "2", 2000),
        ("x-ratelimit-reset-requests", "1.5s", 1500),
    ] {
        let server = Server::start(Config::then(
            vec![
                openai::error(429, "rate_limit_exceeded", "Rate limit reached")
                    .with_header(name, value),
            ],
            openai::text("fine"),
        ));
        let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 0, "{name}: {}", ran.err());
        assert_eq!(server.seen().len(), 2, "{name}");
        // The usual first backoff is at most half a second.
        let wall = ran.stat("wall_ms");
        assert!(wall >= wait_ms, "{name}: retried after {wall}ms");
    }
}

#[test]
fn a_server_error_is_retried() {
    for (provider, ok) in [
        ("openai", openai::text("fine")),
        ("anthropic", anthropic::text("fine")),
    ] {
        let server = Server::start(Config::then(
            vec![openai::error(
                500,
                "server_error",
                "The server had an error",
            )],
            ok,
        ));
        let p = program(provider, &server.base_url(), "", "output a = ask m \"Hi\"");
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 0, "{provider}: {}", ran.err());
        assert_eq!(ran.doc()["outputs"], json!({"a": "fine"}), "{provider}");
        assert_eq!(ran.stat("retries"), 1, "{provider}");
        assert_eq!(server.seen().len(), 2, "{provider}");
        assert_eq!(ran.outcomes(), ["transient", "ok"], "{provider}");
    }
}

#[test]
fn server_errors_past_the_retries_fail_the_run() {
    let server = Server::start(openai::error(503, "overloaded", "Try later"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\" retry 1",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(err.contains("failed after 2 attempts (HTTP 503)"), "{err}");
    assert!(err.contains("overloaded: Try later"), "{err}");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_hung_server_times_out_per_attempt() {
    let server = Server::start(Answer::Hang);
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\" timeout 300ms retry 0",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::timeout"), "{err}");
    assert!(
        err.contains("the call to `m` for `a` timed out after 300ms ╭"),
        "{err}"
    );
    assert!(err.contains("no reply within 300ms on attempt 1"), "{err}");
    assert!(err.contains("main.flow:2:"), "{err}");
    assert_eq!(server.seen().len(), 1);
    assert_eq!(ran.outcomes(), ["timeout"]);
    assert!(ran.doc()["outputs"].is_null());
}

#[test]
fn a_model_timeout_applies_to_every_attempt() {
    let server = Server::start(Answer::Hang);
    let p = program(
        "anthropic",
        &server.base_url(),
        "timeout: 300ms, retry: 1",
        "output a = ask m \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::timeout"), "{err}");
    assert!(
        err.contains("timed out after 300ms on each of 2 attempts"),
        "{err}"
    );
    assert_eq!(server.seen().len(), 2);
    assert_eq!(ran.stat("retries"), 1);
}

#[test]
fn malformed_json_is_a_clear_error() {
    let server = Server::start(Answer::raw(200, "{\"choices\": [oops"));
    let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(
        err.contains(&format!(
            "the server at `{}` sent a reply for model `m` (`test-model`) that is not the JSON expected",
            server.base_url()
        )),
        "{err}"
    );
    assert!(err.contains("[oops"), "the body is quoted: {err}");
    // Not worth retrying: the same server would send the same thing.
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn item_06_a_reply_too_large_fails_the_attempt() {
    // 17 MiB of content, past the 16 MiB a reply may have.
    let huge = "x".repeat(17 << 20);
    let server = Server::start(openai::text(&huge));
    let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(err.contains("reply too large"), "{err}");
    assert!(err.contains("more than 16 MiB"), "{err}");
    assert!(!err.contains("xxxxxxxxxx"), "the body is not quoted: {err}");
    // The same server would send the same again.
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn item_06_the_reply_size_cap_is_a_model_option() {
    // 2 MiB of content: under the default, over a `max_reply_bytes` of 1 MiB.
    let big = "x".repeat(2 << 20);
    let server = Server::start(openai::text(&big));
    let p = program(
        "openai",
        &server.base_url(),
        "max_reply_bytes: 1048576",
        "output a = ask m \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("reply too large"), "{err}");
    assert!(err.contains("more than 1 MiB"), "{err}");
    // And a larger cap lets a reply past 16 MiB through.
    let huge = "x".repeat(17 << 20);
    let server = Server::start(openai::text(&huge));
    let p = program(
        "openai",
        &server.base_url(),
        "max_reply_bytes: 33554432",
        "output a = ask m \"Hi\"",
    );
    assert_eq!(run(&p, &[]).code(), 0);
}

#[test]
fn a_reply_without_choices_is_a_clear_error() {
    let server = Server::start(Answer::json(200, json!({"choices": []})));
    let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(
        err.contains("sent a reply for model `m` (`test-model`) with no `choices`"),
        "{err}"
    );
    assert!(err.contains("points at an OpenAI-compatible API"), "{err}");
}

#[test]
fn anthropic_reply_without_text_is_a_clear_error() {
    let server = Server::start(Answer::json(200, json!({"type": "message", "content": []})));
    let p = program(
        "anthropic",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("with no text in `content`"), "{err}");
}

#[test]
fn a_refused_connection_is_a_clear_error() {
    let base_url = fake_llm::refused_base_url();
    let p = program("openai", &base_url, "", "output a = ask m \"Hi\" retry 1");
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(
        err.contains(&format!("could not connect to `{base_url}`")),
        "{err}"
    );
    assert!(err.contains("failed after 2 attempts"), "{err}");
    assert_eq!(ran.outcomes(), ["transient", "transient"]);
}

#[test]
fn a_rejected_key_names_its_variable_and_is_never_shown() {
    // OpenAI echoes the (masked) key in its 401; this server echoes it whole.
    let server = Server::start(openai::error(
        401,
        "invalid_request_error",
        &format!("Incorrect API key provided: {KEY}. You can find your API key at ..."),
    ));
    for provider in ["openai", "anthropic"] {
        let p = program(provider, &server.base_url(), "", "output a = ask m \"Hi\"");
        let ran = run(&p, &[]);
        assert_ne!(ran.code(), 0, "{provider}");
        let err = ran.err();
        assert!(err.contains("flow::run::call_failed"), "{provider}: {err}");
        assert!(err.contains("(HTTP 401)"), "{provider}: {err}");
        assert!(err.contains("`FLOW_TEST_KEY`"), "{provider}: {err}");
        assert!(
            err.contains("Incorrect API key provided"),
            "{provider}: {err}"
        );
    }
    // A bad key is not retried.
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn without_the_key_a_custom_server_is_called_without_auth() {
    let server = Server::start(openai::error(401, "auth", "Missing bearer token"));
    let p = program("openai", &server.base_url(), "", "output a = ask m \"Hi\"");
    let ran = run_env(&p, &[], &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(
        err.contains(&format!(
            "the server at `{}` wants a key",
            server.base_url()
        )),
        "{err}"
    );
    assert!(err.contains("`FLOW_TEST_KEY`"), "{err}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
}

#[test]
fn an_unparsable_reply_is_re_asked() {
    let server = Server::start(Config::then(
        vec![openai::text("Let me think about it.")],
        openai::text("Yes."),
    ));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output ok = ask m \"Is water wet? Answer yes or no.\" as bool",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"ok": true}));
    assert_eq!(ran.stat("retries"), 0);
    assert_eq!(ran.stat("reasks"), 1);
    assert_eq!(server.seen().len(), 2);
    assert_eq!(ran.outcomes(), ["unparsable", "ok"]);
}

#[test]
fn an_unparsable_reply_past_the_retries_is_quoted() {
    let server = Server::start(openai::text("Let me think about it."));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output ok = ask m \"Is water wet?\" as bool retry 1",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::unparsable"), "{err}");
    assert!(err.contains("\"Let me think about it.\""), "{err}");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn item_09_an_unparsable_reply_never_quotes_the_key() {
    // A model tricked into repeating its key: the reply is quoted in the
    // error, on stderr and in `--json`, and `run` checks neither shows it.
    for (provider, answer) in [
        (
            "openai",
            openai::text(&format!("My key is {KEY}, not a yes or no.")),
        ),
        (
            "anthropic",
            anthropic::text(&format!("My key is {KEY}, not a yes or no.")),
        ),
    ] {
        let server = Server::start(answer);
        let p = program(
            provider,
            &server.base_url(),
            "",
            "output ok = ask m \"Is water wet?\" as bool retry 0",
        );
        let ran = run(&p, &[]);
        assert_eq!(ran.code(), 2, "{provider}");
        let err = ran.err();
        assert!(err.contains("flow::run::unparsable"), "{provider}: {err}");
        assert!(
            err.contains("My key is ***, not a yes"),
            "{provider}: {err}"
        );
        let doc = stdout(&ran.out);
        assert!(doc.contains("My key is ***"), "{provider}: {doc}");
    }
}

const MANY: usize = 200;

#[test]
fn every_sample_of_a_repeat_is_in_flight_at_once() {
    // Each request is held until all 200 have arrived (or 30 s pass), so the
    // count does not depend on how fast requests are made.
    let server = Server::start(
        Config::answer(openai::text("sample"))
            .hold(MANY, Duration::from_secs(30))
            .delay(Duration::from_millis(200)),
    );
    let p = program(
        "openai",
        &server.base_url(),
        "",
        &format!("output all = ask m \"Say something\" repeat {MANY}"),
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(server.seen().len(), MANY);
    assert_eq!(server.max_open(), MANY);
    let all = ran.doc()["outputs"]["all"].as_array().map(Vec::len);
    assert_eq!(all, Some(MANY));
    assert_eq!(ran.stat("calls"), MANY as u64);
    assert_eq!(ran.stat("peak_in_flight"), MANY as u64);
}

#[test]
fn item_27_a_fan_out_past_the_file_limit_waits_for_connections() {
    // 600 calls at once over HTTP/1.1 want 600 connections; a limit of 256
    // open files (soft and hard, so it cannot be raised) allows about 240.
    // Running out of descriptors must make calls wait, not fail.
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("prlimit is not installed: skipped");
        return;
    }
    let calls = 600;
    let server =
        Server::start(Config::answer(openai::text("sample")).delay(Duration::from_millis(50)));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        &format!("output all = ask m \"Say something\" repeat {calls}"),
    );
    let bin = assert_cmd::cargo::cargo_bin("flow");
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nofile=256:256")
        .arg("--")
        .arg(bin)
        .args(["run", p.path.as_str(), "--json", "--no-cache"])
        .env("NO_COLOR", "1")
        .env("FLOW_TEST_KEY", KEY);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("prlimit runs flow");
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(!err.contains(KEY));
    let doc = json(&out);
    assert_eq!(doc["outputs"]["all"].as_array().map(Vec::len), Some(calls));
    assert_eq!(doc["stats"]["calls"], calls, "{:#}", doc["stats"]);
    assert_eq!(doc["stats"]["retries"], 0, "{:#}", doc["stats"]);
    assert_eq!(server.seen().len(), calls);
}

#[test]
fn model_concurrency_caps_requests_in_flight() {
    let server = Server::start(
        Config::answer(openai::text("sample"))
            .hold(8, Duration::from_secs(30))
            .delay(Duration::from_millis(200)),
    );
    let p = program(
        "openai",
        &server.base_url(),
        "concurrency: 8",
        &format!("output all = ask m \"Say something\" repeat {MANY}"),
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(server.seen().len(), MANY);
    assert_eq!(server.max_open(), 8);
    assert_eq!(ran.stat("peak_in_flight"), 8);
}

#[test]
fn max_calls_refuses_before_any_request() {
    let server = Server::start(openai::text("yes"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output all = ask m \"Hi\" repeat 5",
    );
    let ran = run(&p, &["--max-calls", "4"]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(
        err.contains("may make 5 LLM calls, more than `--max-calls 4`"),
        "{err}"
    );
    assert!(server.seen().is_empty(), "a request was made");
}

#[test]
fn item_04_max_calls_reports_the_failure_that_used_the_budget() {
    // One call that fails every attempt, each attempt after the last: the
    // server sees exactly the three the budget allows, and the error is what
    // failed them, not the budget they used up.
    let server =
        Server::start(openai::error(500, "server_error", "down").with_header("retry-after", "0"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Hi\" retry 5",
    );
    let ran = run(&p, &["--max-calls", "3"]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(!err.contains("budget_exceeded"), "{err}");
    assert!(err.contains("failed after 3 attempts (HTTP 500)"), "{err}");
    assert!(err.contains("server_error: down"), "{err}");
    assert_eq!(server.seen().len(), 3);
    assert_eq!(ran.stat("calls"), 3);
}

#[test]
fn item_05_attempts_that_never_connected_are_not_calls() {
    let base_url = fake_llm::refused_base_url();
    let p = program("openai", &base_url, "", "output a = ask m \"Hi\" retry 3");
    // Nothing is sent, so nothing uses up the budget of one call: every
    // attempt is made, and the error is the refused connection.
    let ran = run(&p, &["--max-calls", "1"]);
    assert_eq!(ran.code(), 2);
    let err = ran.err();
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(err.contains("failed after 4 attempts"), "{err}");
    assert!(
        err.contains(&format!("could not connect to `{base_url}`")),
        "{err}"
    );
    assert_eq!(ran.stat("calls"), 0);
    assert_eq!(
        ran.outcomes().len(),
        4,
        "the trace still shows each attempt"
    );
}

#[test]
fn a_missing_input_makes_no_request() {
    let server = Server::start(openai::text("yes"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "input q: text\noutput a = ask m \"{q}\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 2);
    assert!(
        ran.err().contains("no value for input `q`"),
        "{}",
        ran.err()
    );
    assert!(server.seen().is_empty(), "a request was made");
    assert!(ran.trace.is_none(), "a run started");
}

/// `flow run` with the platform's root store replaced (rustls reads
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` instead of `/etc/ssl`) by `cert_file`,
/// against the local server: the client must build and the call succeed.
fn run_with_native_roots(cert_file: Option<&str>) -> Ran {
    let server = Server::start(openai::text("Paris"));
    let p = program(
        "openai",
        &server.base_url(),
        "",
        "output a = ask m \"Capital?\"",
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("none.pem");
    let file = match cert_file {
        Some(text) => {
            let path = dir.path().join("roots.pem");
            std::fs::write(&path, text).expect("write the root store");
            path
        }
        None => missing,
    };
    let empty_dir = dir.path().join("certs");
    std::fs::create_dir(&empty_dir).expect("an empty certs dir");
    let ran = run_env(
        &p,
        &[],
        &[
            ("FLOW_TEST_KEY", KEY),
            ("SSL_CERT_FILE", file.to_str().expect("a UTF-8 path")),
            ("SSL_CERT_DIR", empty_dir.to_str().expect("a UTF-8 path")),
        ],
    );
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"], json!({"a": "Paris"}));
    ran
}

#[test]
fn a_machine_without_native_root_certificates_still_connects() {
    run_with_native_roots(None);
}

#[test]
fn an_unreadable_native_root_store_falls_back_to_the_bundled_roots() {
    // PEM armour around bytes that are no certificate: rustls rejects it, and
    // with no valid certificate left reqwest would refuse to build a client.
    run_with_native_roots(Some(
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    ));
}

//! `fallback` and `round_robin` models against real HTTP servers in this
//! process: which server is asked, counted at the servers.

use fake_llm::{Server, openai};

use crate::http::run;
use crate::support::*;

/// Models `a` and `b` on the two servers (`a` with one retry), then `body`.
fn two_models(a: &Server, b: &Server, body: &str) -> TempProgram {
    TempProgram::new(&format!(
        "model a = openai(\"model-a\", base_url: \"{}\", api_key_env: \"FLOW_TEST_KEY\", retry: 1)\n\
         model b = openai(\"model-b\", base_url: \"{}\", api_key_env: \"FLOW_TEST_KEY\")\n{body}\n",
        a.base_url(),
        b.base_url()
    ))
}

#[test]
fn a_fallback_asks_the_second_model_when_the_first_keeps_failing() {
    let a = Server::start(openai::error(503, "overloaded", "Try later"));
    let b = Server::start(openai::text("from b"));
    let p = two_models(
        &a,
        &b,
        "model smart = fallback(a, b)\noutput x = ask smart \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"]["x"], "from b");
    // The first model's attempt and its retry, then the second model once.
    assert_eq!(a.seen().len(), 2);
    assert_eq!(b.seen().len(), 1);
    let models = &ran.doc()["stats"]["models"];
    assert_eq!(models["a"]["failed"], 2);
    assert_eq!(models["b"]["calls"], 1);
    // The trace names the model that answered.
    let names: Vec<String> = ran
        .trace
        .as_ref()
        .and_then(|t| t["traceEvents"].as_array())
        .into_iter()
        .flatten()
        .filter(|e| e["ph"] == "X")
        .map(|e| e["name"].as_str().unwrap_or("").to_string() + &e["args"].to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("\"b\"") || n.contains(" b")),
        "{names:?}"
    );
}

#[test]
fn a_fallback_never_asks_the_second_model_when_the_first_answers() {
    let a = Server::start(openai::text("from a"));
    let b = Server::start(openai::text("from b"));
    let p = two_models(
        &a,
        &b,
        "model smart = fallback(a, b)\noutput x = ask smart \"Hi\" repeat 3",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(a.seen().len(), 3);
    assert_eq!(b.seen().len(), 0);
}

#[test]
fn round_robin_spreads_calls_evenly() {
    let a = Server::start(openai::text("from a"));
    let b = Server::start(openai::text("from b"));
    let p = two_models(
        &a,
        &b,
        "model spread = round_robin(a, b)\noutput x = ask spread \"Hi\" repeat 6",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(a.seen().len(), 3);
    assert_eq!(b.seen().len(), 3);
}

#[test]
fn check_counts_every_member_of_a_fallback_as_a_worst_case_call() {
    let p = TempProgram::new(
        "model a = mock(reply: \"a\")\nmodel b = mock(reply: \"b\")\n\
         model smart = fallback(a, b)\nmodel spread = round_robin(a, b)\n\
         output x = ask smart \"Hi\" repeat 3\noutput y = ask spread \"Hi\" repeat 4\n",
    );
    let out = flow(&["check", "--deny-warnings", &p.path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("worst case 10 LLM calls"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn round_robin_takes_turns_across_the_rows_of_a_batch() {
    // Each row makes one call: were the turn counted per run, every row
    // would start at the first member and `b` would never be asked.
    let a = Server::start(openai::text("from a"));
    let b = Server::start(openai::text("from b"));
    let p = two_models(
        &a,
        &b,
        "model spread = round_robin(a, b)\ninput q: text\noutput x = ask spread \"{q}\"",
    );
    let rows = p.file("rows.jsonl");
    let text: String = (0..6)
        .map(|i| format!("{{\"q\": \"row {i}\"}}\n"))
        .collect();
    std::fs::write(&rows, text).expect("write the rows");
    let out = flow_env(
        &["run", &p.path, "--inputs", &rows, "--no-cache"],
        &[("FLOW_TEST_KEY", "sk-test-key")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 6, "{}", stdout(&out));
    assert_eq!(a.seen().len(), 3);
    assert_eq!(b.seen().len(), 3);
}

#[test]
fn a_fallback_moves_on_at_once_when_a_member_is_rate_limited() {
    // A proxy's rate limit asks for a minute's wait (LiteLLM's router says
    // `llm_provider-retry-after: 60`): a fallback is declared for exactly
    // this, so the next member answers instead of the call sleeping through
    // `a`'s retries.
    let a = Server::start(
        openai::error(429, "throttling_error", "No deployments available")
            .with_header("llm_provider-retry-after", "60"),
    );
    let b = Server::start(openai::text("from b"));
    let p = two_models(
        &a,
        &b,
        "model smart = fallback(a, b)\noutput x = ask smart \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"]["x"], "from b");
    assert_eq!(a.seen().len(), 1, "a 429 is not retried on `a`");
    assert_eq!(b.seen().len(), 1);
    assert_eq!(ran.doc()["stats"]["retries"], 0);
}

#[test]
fn the_last_member_of_a_fallback_retries_a_rate_limit_as_usual() {
    let a = Server::start(openai::error(503, "overloaded", "Try later"));
    let b = Server::start(fake_llm::Config::then(
        vec![openai::error(429, "rate_limit_exceeded", "Slow down")],
        openai::text("from b"),
    ));
    let p = two_models(
        &a,
        &b,
        "model smart = fallback(a, b)\noutput x = ask smart \"Hi\"",
    );
    let ran = run(&p, &[]);
    assert_eq!(ran.code(), 0, "{}", ran.err());
    assert_eq!(ran.doc()["outputs"]["x"], "from b");
    assert_eq!((a.seen().len(), b.seen().len()), (2, 2));
}

#[test]
fn the_cache_keeps_a_fallback_reply_under_the_member_that_gave_it() {
    let a = Server::start(openai::error(503, "overloaded", "Try later"));
    let b = Server::start(openai::text("from b"));
    let p = two_models(
        &a,
        &b,
        "model smart = fallback(a, b)\noutput x = ask smart \"Hi\"",
    );
    let cache = p.file("cache.db");
    let first = run(&p, &["--cache", &cache]);
    assert_eq!(first.code(), 0, "{}", first.err());
    assert_eq!((a.seen().len(), b.seen().len()), (2, 1));
    // Run again: `a` failed, so nothing of it was cached and it is asked
    // again; when it fails again, `b`'s reply comes from the cache.
    let second = run(&p, &["--cache", &cache]);
    assert_eq!(second.code(), 0, "{}", second.err());
    assert_eq!(second.doc()["outputs"]["x"], "from b");
    assert_eq!((a.seen().len(), b.seen().len()), (4, 1));
    let models = &second.doc()["stats"]["models"];
    assert_eq!(models["b"]["cache_hits"], 1, "{models:#}");
}

#[test]
fn graph_shows_a_routed_model_as_declared() {
    // It used to read `model smart\nmock`: a routed model has no provider
    // of its own, and the default one is `mock`.
    let p = TempProgram::new(
        "model a = mock(reply: \"a\")\nmodel b = mock(reply: \"b\")\n\
         model smart = fallback(a, b)\nmodel spread = round_robin(a, b)\n\
         output x = ask smart \"Hi\"\noutput y = ask spread \"Hi\"\n",
    );
    let dot = flow(&["graph", &p.path]);
    assert_eq!(code(&dot), 0, "{}", stderr(&dot));
    let dot = stdout(&dot);
    assert!(dot.contains("model smart\\nfallback(a, b)"), "{dot}");
    assert!(dot.contains("model spread\\nround_robin(a, b)"), "{dot}");
    let out = flow(&["graph", &p.path, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let models = doc["models"].as_array().expect("models");
    let smart = models.iter().find(|m| m["name"] == "smart").expect("smart");
    assert_eq!(smart["provider"], "fallback");
    assert_eq!(smart["members"], serde_json::json!(["a", "b"]));
}

#[test]
fn check_counts_an_adaptive_vote_at_its_cap_through_every_fallback_member() {
    // The worst case of `vote up to N ... until P` is N samples, each of
    // which may be tried on every member of a fallback.
    let p = TempProgram::new(
        "model a = mock(reply: \"yes\", temperature: 1.0)\nmodel b = mock(reply: \"yes\", temperature: 1.0)\n\
         model smart = fallback(a, b)\n\
         output x = ask smart \"Hi?\" as bool vote up to 40 by majority until 0.95\n\
         y = section <\n  ask a \"One?\" as bool\n  ask b \"Two?\" as bool\n> vote up to 5 by majority until 0.9\n\
         output z = y\n",
    );
    let out = flow(&["check", "--deny-warnings", &p.path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("worst case 90 LLM calls"),
        "{}",
        stdout(&out)
    );
}

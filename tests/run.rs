//! `flow run` end to end through the binary: examples offline, the `--json`
//! report, inputs, `--model`, `--trace`, `--max-calls`, failed runs, early
//! decisions and retries. Everything here runs on mock models. (The ok
//! fixtures run offline in `fixtures.rs`.)

use serde_json::Value;

use crate::support::*;

fn u64_at(doc: &Value, pointer: &str) -> u64 {
    doc.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no integer at {pointer} in {doc:#}"))
}

/// What `flow run` prints without `--json`, given the `--json` outputs: one
/// text output raw, anything else as one JSON object.
fn assert_plain_matches(path: &str, plain: &std::process::Output, outputs: &Value) {
    let map = outputs
        .as_object()
        .unwrap_or_else(|| panic!("{path}: outputs is not an object"));
    assert!(!map.is_empty(), "{path} has no outputs");
    match (map.len(), map.values().next()) {
        (1, Some(Value::String(text))) => {
            let expected = if text.ends_with('\n') {
                text.clone()
            } else {
                format!("{text}\n")
            };
            assert_eq!(
                stdout(plain),
                expected,
                "{path}: one text output prints raw"
            );
        }
        _ => assert_eq!(&json(plain), outputs, "{path}: outputs print as JSON"),
    }
}

#[test]
fn every_example_runs_offline() {
    let files = flow_files("examples");
    assert!(files.len() >= 7, "expected at least seven examples");
    for file in files {
        let path = rel(&file);
        let with_json = flow(&["run", &path, "--offline", "--json"]);
        assert_eq!(code(&with_json), 0, "{path}:\n{}", stderr(&with_json));
        let doc = json(&with_json);
        assert!(u64_at(&doc, "/stats/calls") > 0, "{path} made no calls");
        for (name, value) in doc["outputs"].as_object().into_iter().flatten() {
            assert!(!value.is_null(), "{path}: output `{name}` is null");
            if let Value::String(text) = value {
                assert!(!text.trim().is_empty(), "{path}: output `{name}` is empty");
            }
        }
        let plain = flow(&["run", &path, "--offline"]);
        assert_eq!(code(&plain), 0, "{path}:\n{}", stderr(&plain));
        assert_plain_matches(&path, &plain, &doc["outputs"]);
    }
}

/// Offline, every model is a placeholder; a `unanimous` vote over
/// placeholders that differ per sample fails, though `--offline` promises
/// that any program runs.
#[test]
fn offline_unanimous_vote_runs() {
    let p = TempProgram::new(
        "model m = openai(\"gpt-4o-mini\")\n\
         output kind = ask m \"Classify: a, b or c?\" as \"a\" | \"b\" | \"c\" vote 3 by unanimous\n",
    );
    let out = flow(&["run", &p.path, "--offline"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

const VOTE_PROGRAM: &str = r#"
model judge = mock(replies: ["no", "no", "yes", "no", "yes"], latency: 5ms)
model writer = mock(reply: "A short answer.")
input query: text = "How do I reset my router?"
section <
  reply = ask writer "Answer: {query}"
  unsafe = ask judge "Is this unsafe? {query}" as bool vote 5 by majority
>
output answer = if unsafe then "Sorry." else reply
output flagged = unsafe
"#;

#[test]
fn json_report_has_outputs_and_stats() {
    let p = TempProgram::new(VOTE_PROGRAM);
    let out = flow(&["run", &p.path, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let keys: Vec<&str> = doc
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["outputs", "stats"], "{doc:#}");
    assert_eq!(
        doc["outputs"],
        serde_json::json!({"answer": "A short answer.", "flagged": false})
    );
    for field in [
        "calls",
        "saved",
        "retries",
        "input_tokens",
        "output_tokens",
        "wall_ms",
        "critical_path_ms",
        "peak_in_flight",
        "nodes_run",
        "nodes_skipped",
    ] {
        u64_at(&doc, &format!("/stats/{field}"));
    }
    let calls = u64_at(&doc, "/stats/calls");
    assert!(
        (4..=6).contains(&calls),
        "1 answer and 3 to 5 votes: {calls}"
    );
    assert!(u64_at(&doc, "/stats/input_tokens") > 0);
    assert!(u64_at(&doc, "/stats/output_tokens") > 0);
    assert_eq!(u64_at(&doc, "/stats/retries"), 0);
    assert!(
        doc["stats"]["cost_usd"].is_null(),
        "no prices were declared"
    );
    // Per model, and the totals add up.
    assert_eq!(u64_at(&doc, "/stats/models/writer/calls"), 1);
    assert_eq!(
        u64_at(&doc, "/stats/models/writer/calls") + u64_at(&doc, "/stats/models/judge/calls"),
        calls
    );
}

#[test]
fn two_outputs_print_as_json_and_one_text_output_prints_raw() {
    let p = TempProgram::new(VOTE_PROGRAM);
    let out = flow(&["run", &p.path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out),
        serde_json::json!({"answer": "A short answer.", "flagged": false})
    );

    let p = TempProgram::new(
        "model m = mock(reply: \"line one\\nline two\")\noutput a = ask m \"hi\"\n",
    );
    let out = flow(&["run", &p.path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "line one\nline two\n");

    // One output that is not text is still JSON.
    let p = TempProgram::new("model m = mock(reply: \"7\")\noutput n = ask m \"hi\" as int\n");
    let out = flow(&["run", &p.path]);
    assert_eq!(json(&out), serde_json::json!({"n": 7}));
}

const INPUTS_PROGRAM: &str = r#"
model m = mock(echo: true)
input count: int
input name: text = "world"
input loud: bool = false
output greeting = ask m "hello {name} x{count} loud={loud}"
"#;

#[test]
fn a_missing_input_is_named_before_any_call() {
    let p = TempProgram::new(INPUTS_PROGRAM);
    let trace = p.file("trace.json");
    let out = flow(&["run", &p.path, "--json", "--trace", &trace]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::missing_input"), "{err}");
    assert!(
        err.contains("no value for input `count` of type int"),
        "{err}"
    );
    assert!(err.contains("declared here without a default"), "{err}");
    assert!(err.contains("--input count=VALUE"), "{err}");
    // Nothing ran: no report on stdout and no trace written.
    assert_eq!(stdout(&out), "");
    assert!(!std::path::Path::new(&trace).exists(), "a run started");
}

#[test]
fn an_ill_typed_input_is_refused() {
    let p = TempProgram::new(INPUTS_PROGRAM);
    let out = flow(&["run", &p.path, "--input", "count=abc"]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::bad_input"), "{err}");
    assert!(err.contains("input `count` expects int"), "{err}");
    assert!(err.contains("\"abc\""), "{err}");
    assert_eq!(stdout(&out), "");

    let out = flow(&[
        "run",
        &p.path,
        "--input",
        "count=2",
        "--input",
        "loud=perhaps",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        prose(&stderr(&out)).contains("input `loud` expects bool"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_input_suggests_the_closest() {
    let p = TempProgram::new(INPUTS_PROGRAM);
    let out = flow(&["run", &p.path, "--input", "count=1", "--input", "nme=x"]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::unknown_input"), "{err}");
    assert!(err.contains("the program has no input `nme`"), "{err}");
    assert!(err.contains("did you mean `name`?"), "{err}");

    let out = flow(&["run", &p.path, "--input", "zzzzzz=1"]);
    assert!(
        prose(&stderr(&out)).contains("its inputs are `count`, `name`, `loud`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn malformed_and_repeated_inputs_are_refused() {
    let p = TempProgram::new(INPUTS_PROGRAM);
    let out = flow(&["run", &p.path, "--input", "count"]);
    assert_eq!(code(&out), 2);
    assert!(
        prose(&stderr(&out)).contains("`--input count` is not of the form NAME=VALUE"),
        "{}",
        stderr(&out)
    );
    let out = flow(&["run", &p.path, "--input", "count=1", "--input", "count=2"]);
    assert_eq!(code(&out), 2);
    assert!(
        prose(&stderr(&out)).contains("input `count` is given twice"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inputs_use_defaults_values_and_files() {
    let p = TempProgram::new(INPUTS_PROGRAM);
    let out = flow(&["run", &p.path, "--input", "count=3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello world x3 loud=false\n");

    let out = flow(&[
        "run",
        &p.path,
        "-i",
        "count=3",
        "-i",
        "name=flow",
        "-i",
        "loud=true",
    ]);
    assert_eq!(stdout(&out), "hello flow x3 loud=true\n");

    // `=` after the first belongs to the value.
    let out = flow(&["run", &p.path, "-i", "count=3", "-i", "name=a=b"]);
    assert_eq!(stdout(&out), "hello a=b x3 loud=false\n");

    let file = p.file("name.txt");
    std::fs::write(&file, "from a file").unwrap();
    let out = flow(&[
        "run",
        &p.path,
        "-i",
        "count=3",
        "-i",
        &format!("name=@{file}"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from a file x3 loud=false\n");

    let missing = p.file("nope.txt");
    let out = flow(&[
        "run",
        &p.path,
        "-i",
        "count=3",
        "-i",
        &format!("name=@{missing}"),
    ]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::input_file"), "{err}");
    assert!(
        err.contains("cannot read the value of input `name`"),
        "{err}"
    );
}

const MODELS_PROGRAM: &str = r#"
model judge = mock(reply: "no")
model writer = mock(reply: "Hello.")
output flagged = ask judge "Is this unsafe?" as bool
output greeting = ask writer "Say hello"
"#;

#[test]
fn model_overrides_are_validated() {
    let p = TempProgram::new(MODELS_PROGRAM);
    let cases: &[(&str, &str, &str)] = &[
        (
            "jduge=mock",
            "flow::run::unknown_model",
            "did you mean `judge`?",
        ),
        (
            "nothing_alike=mock",
            "flow::run::unknown_model",
            "its models are `judge`, `writer`",
        ),
        (
            "judge=anthropc:claude",
            "flow::run::unknown_provider",
            "did you mean `anthropic`?",
        ),
        (
            "judge=openai",
            "flow::run::missing_model_id",
            "--model judge=openai:gpt-4o-mini",
        ),
        (
            "judge=anthropic:",
            "flow::run::missing_model_id",
            "--model judge=anthropic:",
        ),
        ("judge", "flow::run::bad_model_arg", "NAME=PROVIDER[:MODEL]"),
    ];
    for (arg, code_name, text) in cases {
        let out = flow(&["run", &p.path, "--model", arg]);
        assert_eq!(code(&out), 2, "--model {arg}");
        let err = prose(&stderr(&out));
        assert!(err.contains(code_name), "--model {arg}:\n{err}");
        assert!(err.contains(text), "--model {arg}:\n{err}");
        assert_eq!(stdout(&out), "", "--model {arg}");
    }
}

#[test]
fn a_model_override_changes_the_result() {
    let p = TempProgram::new(MODELS_PROGRAM);
    let out = flow(&["run", &p.path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out),
        serde_json::json!({"flagged": false, "greeting": "Hello."})
    );
    let out = flow(&["run", &p.path, "--model", "judge=mock:yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out),
        serde_json::json!({"flagged": true, "greeting": "Hello."})
    );
}

#[test]
fn an_override_to_a_provider_without_its_key_fails_before_running() {
    let p = TempProgram::new(MODELS_PROGRAM);
    let out = flow(&["run", &p.path, "--model", "judge=openai:gpt-4o-mini"]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::provider_setup"), "{err}");
    assert!(err.contains("`OPENAI_API_KEY` is not set"), "{err}");
    assert!(err.contains("--offline"), "{err}");
}

#[test]
fn offline_replaces_real_models_but_keeps_mocks() {
    // `writer` would need a key; offline it is a placeholder. `judge` keeps its reply.
    let p = TempProgram::new(
        "model judge = mock(reply: \"yes\")\n\
         model writer = openai(\"gpt-4o-mini\")\n\
         output flagged = ask judge \"Is this unsafe?\" as bool\n\
         output text = ask writer \"Say hi\"\n",
    );
    let out = flow(&["run", &p.path]);
    assert_eq!(code(&out), 2, "no key, not offline: {}", stderr(&out));
    let out = flow(&["run", &p.path, "--offline", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["outputs"]["flagged"], true);
    let text = doc["outputs"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("offline"), "{text}");
}

const TRACED_PROGRAM: &str = r#"
model panel = mock(replies: ["yes", "no", "yes"], latency: 30ms)
model flaky = mock(reply: "done", fail_first: 1)
output verdict = ask panel "Is it safe?" as bool repeat 3
output status = ask flaky "Do it" retry 1
"#;

#[test]
fn trace_is_a_chrome_trace_with_one_slice_per_attempt() {
    let p = TempProgram::new(TRACED_PROGRAM);
    let trace = p.file("trace.json");
    let out = flow(&["run", &p.path, "--json", "--trace", &trace]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let text = std::fs::read_to_string(&trace).expect("the trace was written");
    let trace: Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    // 3 samples, and the flaky call's two attempts.
    assert_eq!(slices.len(), 5, "{trace:#}");
    assert_eq!(slices.len() as u64, u64_at(&doc, "/stats/calls"));
    for s in &slices {
        for field in ["ts", "dur", "pid", "tid"] {
            assert!(s[field].is_u64(), "`{field}` in {s}");
        }
        assert!(s["name"].is_string(), "{s}");
        assert_eq!(s["cat"], "call");
        assert!(s["args"]["model"].is_string(), "{s}");
        assert!(s["args"]["attempt"].is_u64(), "{s}");
    }
    let outcomes = |model: &str| -> Vec<(u64, String)> {
        let mut v: Vec<(u64, String)> = slices
            .iter()
            .filter(|s| s["args"]["model"] == model)
            .map(|s| {
                (
                    s["args"]["attempt"].as_u64().unwrap_or(99),
                    s["args"]["outcome"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        outcomes("flaky"),
        [(0, "transient".to_string()), (1, "ok".to_string())]
    );
    assert_eq!(outcomes("panel"), vec![(0, "ok".to_string()); 3]);
    // The three samples overlap, so they sit on three lanes.
    let mut lanes: Vec<u64> = slices
        .iter()
        .filter(|s| s["args"]["model"] == "panel")
        .map(|s| s["tid"].as_u64().unwrap_or(0))
        .collect();
    lanes.sort();
    lanes.dedup();
    assert_eq!(lanes.len(), 3, "{trace:#}");
    // Metadata names the process.
    assert!(events.iter().any(|e| e["ph"] == "M"), "{trace:#}");
}

#[test]
fn an_unwritable_trace_is_reported() {
    let p = TempProgram::new(TRACED_PROGRAM);
    let trace = p.file("no/such/folder/trace.json");
    let out = flow(&["run", &p.path, "--trace", &trace]);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::trace_file"), "{err}");
    assert!(err.contains("cannot write the trace"), "{err}");
}

#[test]
fn max_calls_refuses_a_program_whose_worst_case_is_larger() {
    let p = TempProgram::new(
        "model m = mock(reply: \"yes\")\n\
         output a = ask m \"Is it safe?\" as bool vote 5 by majority\n\
         output b = ask m \"Again?\" as bool\n",
    );
    let trace = p.file("trace.json");
    let out = flow(&["run", &p.path, "--max-calls", "4", "--trace", &trace]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::over_budget"), "{err}");
    assert!(
        err.contains("the program may make 6 LLM calls, more than `--max-calls 4`"),
        "{err}"
    );
    assert!(!std::path::Path::new(&trace).exists(), "a run started");

    let out = flow(&["run", &p.path, "--max-calls", "6"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn max_calls_stops_a_run_at_the_limit() {
    // The worst case without retries is 3, but each call fails once first.
    let p = TempProgram::new(
        "model m = mock(reply: \"ok\", fail_first: 1)\n\
         model done = mock(reply: \"finished\")\n\
         first = ask done \"Start\"\n\
         output a = ask m \"One {first}\" retry 1\n\
         output b = ask m \"Two {first}\" retry 1\n",
    );
    let out = flow(&["run", &p.path, "--max-calls", "3", "--json"]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::budget_exceeded"), "{err}");
    assert!(
        err.contains("the run would make call number 4, more than the limit of 3 calls"),
        "{err}"
    );
    let doc = json(&out);
    assert_eq!(u64_at(&doc, "/stats/calls"), 3, "{doc:#}");
    assert_eq!(doc["error"]["code"], "flow::run::budget_exceeded");
    assert_eq!(doc["finished"]["first"], "finished");
    assert!(doc["outputs"].is_null());
}

#[test]
fn a_failed_call_points_at_the_source_and_lists_what_finished() {
    let p = TempProgram::new(
        "model picky = mock(rules: {\"cat\": \"meow\"})\n\
         model plain = mock(reply: \"done\")\n\
         first = ask plain \"First step\"\n\
         sound = ask picky \"What does the dog say? {first}\"\n\
         output a = sound\n\
         output b = first\n",
    );
    let out = flow(&["run", &p.path]);
    assert_eq!(code(&out), 2);
    assert_eq!(stdout(&out), "");
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(
        err.contains("no rule of mock model `picky` matched the prompt"),
        "{err}"
    );
    // The snippet shows the failing call with its label.
    assert!(err.contains("main.flow:4:"), "{err}");
    assert!(err.contains("sound = ask picky"), "{err}");
    assert!(err.contains("attempt 1 failed"), "{err}");
    assert!(err.contains("finished before the run stopped"), "{err}");
    assert!(err.contains("first = \"done\""), "{err}");

    let out = flow(&["run", &p.path, "--json"]);
    assert_eq!(code(&out), 2);
    let doc = json(&out);
    assert_eq!(doc["error"]["code"], "flow::run::call_failed");
    assert_eq!(doc["finished"]["first"], "done");
    assert!(doc["outputs"].is_null());
}

#[test]
fn a_unanimous_disagreement_fails_the_run() {
    let p = TempProgram::new(
        "model m = mock(replies: [\"yes\", \"no\", \"yes\"], concurrency: 1)\n\
         output verdict = ask m \"Is it safe?\" as bool vote 3 by unanimous\n",
    );
    let out = flow(&["run", &p.path]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::disagreement"), "{err}");
    assert!(
        err.contains(
            "the samples of `verdict` disagree: sample 1 said \"true\" but sample 2 said \"false\""
        ),
        "{err}"
    );
    assert!(err.contains("voted `unanimous` here"), "{err}");
    assert!(err.contains("main.flow:2:"), "{err}");
    assert!(!err.contains("ask1"), "an internal node name leaked: {err}");
}

#[test]
fn an_early_decision_shows_in_saved() {
    // One call at a time: three agreeing samples decide a vote of five, so
    // the last two are never made.
    let p = TempProgram::new(
        "model m = mock(reply: \"yes\", concurrency: 1)\n\
         output safe = ask m \"Is it safe?\" as bool vote 5 by majority\n",
    );
    let out = flow(&["run", &p.path, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["outputs"]["safe"], true);
    assert_eq!(u64_at(&doc, "/stats/calls"), 3, "{doc:#}");
    assert_eq!(u64_at(&doc, "/stats/saved"), 2, "{doc:#}");
    assert_eq!(u64_at(&doc, "/stats/models/m/saved"), 2, "{doc:#}");
}

#[test]
fn transient_failures_are_retried_and_counted() {
    let p = TempProgram::new(
        "model m = mock(reply: \"ok\", fail_first: 1)\n\
         output a = ask m \"One\"\n\
         output b = ask m \"Two\"\n",
    );
    let out = flow(&["run", &p.path, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["outputs"], serde_json::json!({"a": "ok", "b": "ok"}));
    assert_eq!(u64_at(&doc, "/stats/retries"), 2, "{doc:#}");
    assert_eq!(u64_at(&doc, "/stats/calls"), 4, "{doc:#}");
    assert_eq!(u64_at(&doc, "/stats/models/m/failed"), 2, "{doc:#}");

    // With no retries allowed, the transient failure is final.
    let p = TempProgram::new(
        "model m = mock(reply: \"ok\", fail_first: 1)\noutput a = ask m \"One\" retry 0\n",
    );
    let out = flow(&["run", &p.path]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::run::call_failed"), "{err}");
    // The inline call is named after the output it belongs to.
    assert!(
        err.contains("the call to `m` for `a` failed after 1 attempt"),
        "{err}"
    );
    assert!(err.contains("mock model `m` fails its first"), "{err}");
    assert!(
        err.contains("0 nodes finished before the run stopped (1 call made, 0 saved, 0 retries)"),
        "{err}"
    );
}

#[test]
fn a_compile_error_exits_1_without_running() {
    let p = TempProgram::new("output a = ask nowhere \"hi\"\n");
    let out = flow(&["run", &p.path, "--json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    assert!(
        prose(&stderr(&out)).contains("has errors; fix them to run it"),
        "{}",
        stderr(&out)
    );
}

//! `flow run` end to end through the binary: examples offline, the `--json`
//! report, inputs, `--model`, `--trace`, `--max-calls`, failed runs, early
//! decisions and retries. Everything here runs on mock models. (The ok
//! fixtures run offline in `fixtures.rs`.)

use serde_json::Value;

use crate::support::*;

/// A program shared with the CLI cases, from `tests/cmd/programs/NAME.flow`;
/// run it from a `TempProgram`, so its call cache is its own.
fn program(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("tests/cmd/programs/{name}.flow")))
        .expect("the program exists")
}

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
        // A library (functions and models, no outputs) runs in the
        // programs that import it.
        if doc["outputs"].as_object().is_some_and(|o| o.is_empty()) {
            continue;
        }
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

#[test]
fn json_report_has_outputs_and_stats() {
    let p = TempProgram::new(&program("vote"));
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
fn a_missing_input_is_named_before_any_call() {
    let p = TempProgram::new(&program("inputs"));
    let trace = p.file("trace.json");
    let out = flow(&["run", &p.path, "--json", "--trace", &trace]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::input::missing"), "{err}");
    assert!(
        err.contains("no value for input `count` of type int"),
        "{err}"
    );
    assert!(err.contains("declared here without a default"), "{err}");
    assert!(err.contains("--input count=VALUE"), "{err}");
    // Nothing ran: no trace written, and stdout holds only the JSON error
    // (issue 11, item 14), with no `stats` or `finished`.
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("a JSON error");
    assert_eq!(doc["error"]["code"], "flow::input::missing");
    assert_eq!(doc["outputs"], serde_json::Value::Null);
    assert!(
        doc.get("stats").is_none() && doc.get("finished").is_none(),
        "{doc}"
    );
    assert!(!std::path::Path::new(&trace).exists(), "a run started");
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
    // What failed the attempts that used the budget up is the error (item 4).
    assert!(err.contains("flow::run::call_failed"), "{err}");
    assert!(
        err.contains(
            "mock model `m` fails its first attempt (this was attempt 1); the limit of 3 calls \
             allowed no more attempts"
        ),
        "{err}"
    );
    let doc = json(&out);
    assert_eq!(u64_at(&doc, "/stats/calls"), 3, "{doc:#}");
    assert_eq!(doc["error"]["code"], "flow::run::call_failed");
    assert_eq!(doc["finished"]["first"], "finished");
    assert!(doc["outputs"].is_null());
}

/// The plain rendering is the `run_failed_call` CLI case.
#[test]
fn a_failed_call_lists_what_finished_in_json() {
    let p = TempProgram::new(&program("failed_call"));
    let out = flow(&["run", &p.path, "--json"]);
    assert_eq!(code(&out), 2);
    let doc = json(&out);
    assert_eq!(doc["error"]["code"], "flow::run::call_failed");
    assert_eq!(doc["finished"]["first"], "done");
    assert!(doc["outputs"].is_null());
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
    // With no retries allowed the failure is final: the `run_no_retry` CLI case.
}

/// A model may reply with any keys, including the one older versions of
/// flow reserved for offline placeholders: such a reply is ordinary JSON,
/// online and offline (a mock with a reply keeps it under `--offline`).
#[test]
fn a_reply_spelling_the_old_placeholder_key_is_ordinary_json() {
    let program = |extra: &str| {
        TempProgram::new(&format!(
            "model m = mock(reply: \"\\{{\\\"flow_offline_placeholder\\\": true, \\\"field\\\": \\\"x\\\"\\}}\")\n\
             data = ask m \"Facts?\" as json\n\
             output keys = len(data)\n\
             output flag = data.flow_offline_placeholder\n\
             output text = \"{{data}}\"\n\
             {extra}"
        ))
    };
    let p = program("");
    for args in [
        vec!["run", &p.path, "--json"],
        vec!["run", &p.path, "--offline", "--json"],
    ] {
        let out = flow(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["outputs"]["keys"], 2);
        assert_eq!(doc["outputs"]["flag"], true);
        assert_eq!(
            doc["outputs"]["text"],
            r#"{"flow_offline_placeholder":true,"field":"x"}"#
        );
        assert!(doc.get("placeholders").is_none(), "{doc}");
    }
    // A missing field is an error, as for any other object.
    let p = program("output owner = data.owner\n");
    let out = flow(&["run", &p.path, "--offline"]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("flow::run::type_error"), "{err}");
    assert!(err.contains("no field `owner`"), "{err}");
}

/// `--json` names every output that holds a placeholder, so a script never
/// has to recognise a placeholder's text; a run with real replies has no
/// `placeholders` key at all.
#[test]
fn json_output_lists_where_placeholders_are() {
    let p = TempProgram::new(
        "model m = openai(\"gpt-4o-mini\")\n\
         data = ask m \"Facts?\" as json\n\
         rows = ask m \"Rows?\" as list<json>\n\
         output owner = data.owner\n\
         output names = for r in rows < r.name >\n\
         output count = len(data.items)\n\
         output line = \"Owner: {data.owner}\"\n",
    );
    let out = flow(&["run", &p.path, "--offline", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(
        doc["placeholders"],
        serde_json::json!(["owner", "names[0]", "names[1]", "names[2]"])
    );
    assert_eq!(
        doc["outputs"]["owner"],
        "[offline placeholder for `data.owner`]"
    );
    assert_eq!(
        doc["outputs"]["names"][1],
        "[offline placeholder for `rows[1].name`]"
    );
    assert_eq!(doc["outputs"]["count"], 3);
    assert_eq!(
        doc["outputs"]["line"],
        "Owner: [offline placeholder for `data.owner`]"
    );
}

/// Offline, the samples of a `repeat` are placeholders of their own, while
/// those of a vote agree, so every strategy decides.
#[test]
fn offline_repeat_samples_are_distinct_placeholders_and_votes_decide() {
    let p = TempProgram::new(
        "model m = openai(\"gpt-4o-mini\")\n\
         many = ask m \"Facts?\" as json repeat 2\n\
         output firsts = for s in many < upper(s.first) >\n\
         output voted = ask m \"Facts?\" as json vote 3 by unanimous\n",
    );
    let out = flow(&["run", &p.path, "--offline", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(
        doc["outputs"]["firsts"],
        serde_json::json!([
            "[offline placeholder for `many[0].first`]",
            "[offline placeholder for `many[1].first`]"
        ])
    );
    assert_eq!(doc["outputs"]["voted"], "[offline placeholder for `voted`]");
    assert_eq!(
        doc["placeholders"],
        serde_json::json!(["firsts[0]", "firsts[1]", "voted"])
    );
}

#[test]
fn trace_marks_an_adaptive_vote_with_its_samples_and_agreement() {
    let p = TempProgram::new(&program("adaptive"));
    let trace = p.file("trace.json");
    let out = flow(&["run", &p.path, "--json", "--trace", &trace]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&trace).expect("the trace was written");
    let trace: Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let marks: Vec<&Value> = events.iter().filter(|e| e["cat"] == "vote").collect();
    assert_eq!(marks.len(), 1, "{trace:#}");
    let mark = marks[0];
    assert_eq!(mark["name"], "vote: answer");
    assert_eq!(mark["ph"], "i");
    // 3–1 after the first wave of four, 6–1 after the second of three.
    let args = &mark["args"];
    assert_eq!(u64_at(args, "/launched"), 7);
    assert_eq!(u64_at(args, "/saved"), 33);
    assert_eq!(u64_at(args, "/cap"), 40);
    assert_eq!(u64_at(args, "/winner"), 6);
    assert_eq!(args["until"], 0.95);
    // At the end of the vote's last sample.
    let last_end = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| u64_at(e, "/ts") + u64_at(e, "/dur"))
        .max();
    assert_eq!(mark["ts"].as_u64(), last_end);
}

/// `output x = ask ... vote N` binds `x` by a vote as much as `x = ...`
/// does: its agreement can be read (it used to be `agreement_arg`).
#[test]
fn agreement_reads_a_vote_bound_by_an_output() {
    let p = TempProgram::new(
        "model m = mock(replies: [\"yes\", \"no\", \"yes\", \"yes\"], temperature: 1.0)\n\
         output unsafe = ask m \"Unsafe? yes or no\" as bool vote 5 by majority\n\
         output panel = agreement(unsafe)\n",
    );
    let out = flow(&["run", &p.path, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["outputs"]["unsafe"], true);
    let panel = &doc["outputs"]["panel"];
    assert_eq!(
        (panel["winner"].as_u64(), panel["answered"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(panel["share"], 0.75);
}

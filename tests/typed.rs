//! Typed replies end to end, through `flow run` against the in-process
//! OpenAI-shaped server: chain-of-thought replies voted on as numbers (the
//! canonical self-consistency program), replies that echo their prompt, and
//! record replies wrapped in prose, shown as JSON objects by `--json`.

use fake_llm::{Config, Server, openai};
use serde_json::{Value, json};

use crate::support::*;

const KEY: &str = "sk-test-typed";

fn program(base_url: &str, body: &str) -> TempProgram {
    TempProgram::new(&format!(
        "model solver = openai(\"test-model\", base_url: \"{base_url}\", \
         api_key_env: \"FLOW_TEST_KEY\", temperature: 1.0)\n{body}\n"
    ))
}

fn run(p: &TempProgram) -> (i32, Value, String) {
    let out = flow_env(
        &["run", &p.path, "--json", "--no-cache"],
        &[("FLOW_TEST_KEY", KEY)],
    );
    let err = stderr(&out);
    let doc = if code(&out) == 0 {
        json(&out)
    } else {
        Value::Null
    };
    (code(&out), doc, err)
}

const PROBLEM: &str = "A train travels at 60 km/h for 2.5 hours. How far does it go, in km?";

/// Five styles of chain of thought, four of them right. Read by their first
/// number, as flow did before, they vote for 60 (four of the five begin
/// their working with it); read by the documented rules, for 150.
fn chains_of_thought() -> Vec<fake_llm::Answer> {
    [
        "Step 1: the speed is 60 km/h. Step 2: 60 × 2.5 = 150.\nAnswer: 150",
        "60 km/h for 2 hours is 120 km, and half an hour more is 30 km, so 120 + 30 = 150",
        "A train travels at 60 km/h for 2.5 hours. How far does it go, in km?\n\nDistance = speed × time.\nThe final answer is $\\boxed{150}$.",
        "60 * 2 = 120, plus 60 * 0.5 = 20... so **Answer:** 140",
        "Let me think. 60 + 60 + 30 = 150.\n\n**150** km",
    ]
    .into_iter()
    .map(openai::text)
    .collect()
}

#[test]
fn self_consistency_over_chains_of_thought_gets_the_right_number() {
    let server = Server::start(Config::then(
        chains_of_thought(),
        openai::text("Answer: 150"),
    ));
    let p = program(
        &server.base_url(),
        &format!(
            "input problem: text = \"{PROBLEM}\"\n\
             output distance = ask solver \"Think step by step, then give the answer.\\n\\n{{problem}}\" as int vote 5 by majority"
        ),
    );
    let (code, doc, err) = run(&p);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["outputs"], json!({"distance": 150}));
}

#[test]
fn a_number_in_an_echoed_prompt_is_not_the_answer() {
    // Restated after the answer, the question's numbers come last.
    let server = Server::start(openai::text(&format!(
        "It goes 150 km.\n\nQuestion: {PROBLEM}"
    )));
    let p = program(
        &server.base_url(),
        &format!("output distance = ask solver \"{PROBLEM}\" as number"),
    );
    let (code, doc, err) = run(&p);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["outputs"], json!({"distance": 150.0}));
}

#[test]
fn a_record_reply_in_prose_is_a_json_object_in_the_output() {
    let server = Server::start(openai::text(
        "Sure! Here is my assessment:\n```json\n{\"verdict\": \"Unsafe\", \"reason\": \"asks for a weapon\", \"score\": \"9\", \"extra\": true,}\n```",
    ));
    let p = program(
        &server.base_url(),
        "type Verdict = {verdict: \"safe\" | \"unsafe\", reason: text, score: int, note?: text}\n\
         v = ask solver \"Moderate this as JSON: how to build a bomb\" as Verdict\n\
         output v\n\
         output blocked = v.verdict == \"unsafe\" and v.score > 5\n\
         output echoed = \"{v}\"",
    );
    let (code, doc, err) = run(&p);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        doc["outputs"],
        json!({
            "v": {"verdict": "unsafe", "reason": "asks for a weapon", "score": 9, "note": ""},
            "blocked": true,
            "echoed": "{\"verdict\":\"unsafe\",\"reason\":\"asks for a weapon\",\"score\":9,\"note\":\"\"}",
        })
    );
}

#[test]
fn a_record_reply_missing_a_field_says_which() {
    let server = Server::start(openai::text("{\"verdict\": \"safe\"}"));
    let p = program(
        &server.base_url(),
        "output v = ask solver \"Moderate as JSON\" as {verdict: \"safe\" | \"unsafe\", reason: text} retry 1",
    );
    let (code, _, err) = run(&p);
    assert_ne!(code, 0);
    let err = prose(&err);
    assert!(
        err.contains("a JSON object with fields verdict, reason (field `reason` is missing)"),
        "{err}"
    );
    assert_eq!(server.seen().len(), 2, "the reply was retried once");
}

//! `flow run --batch-api` end to end: the `flow` binary against an
//! in-process server speaking OpenAI's and Anthropic's batch APIs
//! (`fake_llm::batch`), with a program three calls deep.

use fake_llm::batch::{BatchServer, Mode};

use crate::support::*;

/// "no" to the moderation question, an echo of everything else, so each
/// level's reply shows which replies it was given.
fn respond(prompt: &str) -> String {
    if prompt.contains("unsafe") {
        "no".into()
    } else {
        format!("R[{}]", prompt.lines().next().unwrap_or_default())
    }
}

fn program(provider: &str, base_url: &str) -> TempProgram {
    TempProgram::new(&format!(
        r#"model m = {provider}("test-model", base_url: "{base_url}", api_key_env: "FLOW_TEST_KEY", price_in: 1.0, price_out: 2.0)
input q: text
draft = ask m "Draft: {{q}}"
better = ask m "Improve: {{draft}}"
unsafe = ask m "Is this unsafe? {{q}}" as bool vote 3 by majority
output answer = if unsafe then ask m "Apologise for: {{q}}" else better
"#
    ))
}

fn run(p: &TempProgram, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "run",
        p.path.as_str(),
        "--batch-api",
        "--batch-poll",
        "0.01",
    ];
    all.extend_from_slice(args);
    flow_env(&all, &[("FLOW_TEST_KEY", "sk-test-SECRET-batch")])
}

fn rows(p: &TempProgram, rows: &[&str]) -> String {
    let path = p.file("rows.jsonl");
    let text: String = rows
        .iter()
        .map(|q| format!("{}\n", serde_json::json!({ "q": q })))
        .collect();
    std::fs::write(&path, text).expect("write rows");
    path
}

#[test]
fn a_multi_level_program_completes_through_openai_batches() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = program("openai", &server.base_url());
    let rows = rows(&p, &["one", "two"]);
    let out_path = p.file("out.jsonl");
    let out = run(&p, &["--inputs", &rows, "-o", &out_path, "--json"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    let results = std::fs::read_to_string(&out_path).expect("results");
    assert!(
        results.contains("R[Improve: R[Draft: one]]")
            && results.contains("R[Improve: R[Draft: two]]"),
        "{results}"
    );
    // Pass 1: two drafts and 3 × 2 samples; pass 2: two improvements. The
    // branch not taken is never submitted.
    assert_eq!(server.batches().len(), 2, "{err}");
    let prompts = server.prompts();
    assert_eq!(prompts.len(), 10, "{prompts:?}");
    assert!(
        !prompts.iter().any(|p| p.contains("Apologise")),
        "{prompts:?}"
    );
    // Progress names the batches and their states; the summary the discount.
    assert!(
        err.contains("batch_1") && err.contains("in_progress"),
        "{err}"
    );
    assert!(err.contains("\"batch_discount\":0.5"), "{err}");
    // 10 replies of 10 + 5 tokens at $1/$2 per million, half price.
    let doc: serde_json::Value = err
        .lines()
        .find_map(|l| {
            serde_json::from_str(l)
                .ok()
                .filter(|v: &serde_json::Value| v.get("batch_api").is_some())
        })
        .expect("the batch summary");
    let cost = doc["batch_api"]["cost_usd"].as_f64().expect("a cost");
    assert!(
        (cost - 10.0 * (10.0 + 10.0) / 1e6 * 0.5).abs() < 1e-12,
        "{doc}"
    );
    assert!(!err.contains("SECRET"), "{err}");

    // Everything is cached now: a second run submits nothing.
    let again = run(&p, &["--inputs", &rows, "-o", &out_path]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(server.batches().len(), 2);
}

#[test]
fn anthropic_batches_answer_a_single_run() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = program("anthropic", &server.base_url());
    let out = run(&p, &["-i", "q=hello"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "R[Improve: R[Draft: hello]]");
    assert_eq!(server.batches(), vec!["msgbatch_1", "msgbatch_2"]);
}

#[test]
fn a_failed_request_fails_its_row_only() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = program("openai", &server.base_url());
    let rows = rows(&p, &["fine", "please FAIL"]);
    let out_path = p.file("out.jsonl");
    let out = run(&p, &["--inputs", &rows, "-o", &out_path]);
    let err = prose(&stderr(&out));
    assert_ne!(code(&out), 0);
    assert!(err.contains("the prompt asked to fail"), "{err}");
    let results = std::fs::read_to_string(&out_path).expect("results");
    assert!(results.contains("R[Improve: R[Draft: fine]]"), "{results}");
}

#[test]
fn an_expired_batch_is_submitted_again() {
    let server = BatchServer::start(Mode::ExpireFirst, respond);
    let p = program("openai", &server.base_url());
    let out = run(&p, &["-i", "q=late"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "R[Improve: R[Draft: late]]");
    // The first batch expired; its four requests went again, then level 2.
    assert_eq!(server.batches().len(), 3);
    assert_eq!(server.prompts().len(), 4 + 4 + 1);
}

#[test]
fn a_rerun_picks_up_the_batch_a_stopped_run_left() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = program("openai", &server.base_url());
    let first = run(&p, &["-i", "q=again", "--batch-submit-only"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert!(stderr(&first).contains("batch_1"), "{}", stderr(&first));
    assert_eq!(server.batches().len(), 1);
    let second = run(&p, &["-i", "q=again"]);
    let err = stderr(&second);
    assert_eq!(code(&second), 0, "{err}");
    assert!(err.contains("picked up batch_1"), "{err}");
    assert_eq!(stdout(&second).trim(), "R[Improve: R[Draft: again]]");
    // No request went twice: batch_1 (4) and batch_2 (1).
    assert_eq!(server.batches().len(), 2);
    assert_eq!(server.prompts().len(), 5);
}

#[test]
fn batch_api_without_a_cache_or_with_rows_on_stdin_says_what_to_do() {
    let p = program("openai", "http://127.0.0.1:9");
    let no_cache = run(&p, &["-i", "q=x", "--no-cache"]);
    let err = prose(&stderr(&no_cache));
    assert_ne!(code(&no_cache), 0);
    assert!(
        err.contains("flow::batch_api::no_cache") && err.contains("drop `--no-cache`"),
        "{err}"
    );
    let stdin = run(&p, &["--inputs", "-"]);
    let err = prose(&stderr(&stdin));
    assert_ne!(code(&stdin), 0);
    assert!(
        err.contains("flow::batch_api::stdin") && err.contains("save the rows to a file"),
        "{err}"
    );
}

#[test]
fn a_server_without_a_batch_api_is_a_provider_error_naming_the_model() {
    // Nothing listens on the discard port: submitting the batch fails.
    let p = program("openai", "http://127.0.0.1:9/v1");
    let out = run(&p, &["-i", "q=x"]);
    let err = prose(&stderr(&out));
    assert_ne!(code(&out), 0);
    assert!(
        err.contains("flow::batch_api::provider") && err.contains("`m`"),
        "{err}"
    );
    assert!(!err.contains("sk-test-SECRET"), "{err}");
}

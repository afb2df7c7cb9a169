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
    // With `--json` the batch summary is part of the batch's summary
    // object (on stdout, as the results went to a file), not a line of its own.
    assert!(!err.contains("batch_discount"), "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("one JSON summary");
    assert_eq!(doc["rows"], 2, "{doc}");
    assert_eq!(doc["batch_api"]["batch_discount"], 0.5, "{doc}");
    assert_eq!(
        doc["batch_api"]["batches"].as_array().map(Vec::len),
        Some(2)
    );
    // 10 replies of 10 + 5 tokens at $1/$2 per million, half price.
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
    // The human summary is on stderr.
    assert!(
        stderr(&out).contains("batch API: 5 requests answered, 0 failed, in 2 batches"),
        "{}",
        stderr(&out)
    );
    // A single run's `--json` object carries the batch summary (all cached
    // now: no batch, no pass beyond the first).
    let out = run(&p, &["-i", "q=hello", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(
        doc["outputs"]["answer"], "R[Improve: R[Draft: hello]]",
        "{doc}"
    );
    assert_eq!(doc["batch_api"]["passes"], 1, "{doc}");
    assert_eq!(doc["batch_api"]["answered"], 0, "{doc}");
    assert!(!stderr(&out).contains("batch API:"), "{}", stderr(&out));
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
    // The error points at the model's declaration, whose `base_url` it used.
    assert!(
        err.contains("model m = openai(") && err.contains("the batch API of this model"),
        "{err}"
    );
    assert!(!err.contains("sk-test-SECRET"), "{err}");
}

/// As above with the cache in PostgreSQL: the batch id is kept there too, so
/// a shard or a re-run on another machine polls the batch instead of paying
/// for its requests again.
#[test]
#[cfg(feature = "postgres")]
fn a_rerun_picks_up_a_batch_kept_in_a_postgres_cache() {
    let Some(url) = crate::pg_cluster::database("batch_pickup") else {
        return;
    };
    let server = BatchServer::start(Mode::Normal, respond);
    let p = program("openai", &server.base_url());
    let first = run(
        &p,
        &["-i", "q=again", "--batch-submit-only", "--cache", &url],
    );
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert_eq!(server.batches().len(), 1);
    let second = run(&p, &["-i", "q=again", "--cache", &url]);
    let err = stderr(&second);
    assert_eq!(code(&second), 0, "{err}");
    assert!(err.contains("picked up batch_1"), "{err}");
    assert!(!err.contains("secret-pw"), "{err}");
    assert_eq!(stdout(&second).trim(), "R[Improve: R[Draft: again]]");
    assert_eq!(server.batches().len(), 2);
    assert_eq!(server.prompts().len(), 5);
    // Ended batches are not picked up again: a third run is all cache hits.
    let third = run(&p, &["-i", "q=again", "--cache", &url]);
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    assert!(!stderr(&third).contains("picked up"), "{}", stderr(&third));
    assert_eq!(server.batches().len(), 2);
}

/// Every request put in a batch is a call for `--max-calls`, counted across
/// the passes: the second level would be calls 2 to 4 of a budget of 3, so
/// only two of them are submitted and the row fails with the budget error,
/// as it would without `--batch-api`.
#[test]
fn max_calls_counts_batched_requests_across_passes() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = TempProgram::new(&format!(
        r#"model m = openai("test-model", base_url: "{}", api_key_env: "FLOW_TEST_KEY")
input q: text
draft = ask m "List: {{q}}"
parts = for x in split(draft, ",") < ask m "Part: {{x}}" >
output answer = join(parts, "; ")
"#,
        server.base_url()
    ));
    let out = run(&p, &["-i", "q=a,b,c", "--max-calls", "3"]);
    let err = prose(&stderr(&out));
    assert_eq!(code(&out), 2, "{err}");
    assert!(
        err.contains("flow::run::budget_exceeded") && err.contains("--max-calls"),
        "{err}"
    );
    let prompts = server.prompts();
    assert_eq!(prompts.len(), 3, "{prompts:?}");
    assert_eq!(server.batches().len(), 2);
    // Within the budget the same run completes, all of it batched.
    let out = run(&p, &["-i", "q=a,b,c", "--max-calls", "4"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "R[Part: R[List: a]; R[Part: b]; R[Part: c]]"
    );
}

/// The `flow` binary running `args` in the background, as [`run`] runs it.
#[cfg(unix)]
fn spawn(p: &TempProgram, args: &[&str]) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flow"));
    cmd.current_dir(root())
        .args([
            "run",
            p.path.as_str(),
            "--batch-api",
            "--batch-poll",
            "0.01",
        ])
        .args(args)
        .env("XDG_CACHE_HOME", cache_home())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env("FLOW_TEST_KEY", "sk-test-SECRET-batch")
        .env_remove("FLOW_CACHE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.spawn().expect("flow starts")
}

/// Waits (at most two minutes, polling) until `ready` holds.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn signal(child: &std::process::Child, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

/// Ctrl-C or SIGTERM while a batch is at the provider stops flow with the
/// batch's id and the signal's exit code, and leaves the batch there: the
/// same command again polls it to the end and submits none of its requests
/// a second time.
#[cfg(unix)]
#[test]
fn a_signal_while_polling_leaves_the_batch_for_a_rerun() {
    for (name, exit) in [("INT", 130), ("TERM", 143)] {
        let server = BatchServer::start(Mode::NeverEnd, respond);
        let p = program("openai", &server.base_url());
        let child = spawn(&p, &["-i", &format!("q=stop {name}")]);
        wait_for("the batch is submitted and polled", || server.polls() >= 2);
        signal(&child, name);
        let out = child.wait_with_output().expect("flow exits");
        let err = prose(&stderr(&out));
        assert_eq!(out.status.code(), Some(exit), "{name}: {err}");
        assert!(
            err.contains("flow::batch_api::interrupted")
                && err.contains("stopped while batches were running: batch_1")
                && err.contains("run the same command again to pick them up"),
            "{name}: {err}"
        );
        assert_eq!(server.batches(), vec!["batch_1"]);
        server.set_mode(Mode::Normal);
        let again = run(&p, &["-i", &format!("q=stop {name}")]);
        let err = stderr(&again);
        assert_eq!(code(&again), 0, "{name}: {err}");
        assert!(err.contains("picked up batch_1"), "{name}: {err}");
        assert_eq!(
            stdout(&again).trim(),
            format!("R[Improve: R[Draft: stop {name}]]")
        );
        // batch_1's four requests went once; batch_2 is the second level.
        assert_eq!(server.batches(), vec!["batch_1", "batch_2"]);
        assert_eq!(server.prompts().len(), 5, "{:?}", server.prompts());
    }
}

/// Whether process `pid` has a handler for SIGINT (`SigCgt` in its status).
#[cfg(target_os = "linux")]
fn catches_sigint(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (2 - 1)) != 0)
}

/// Ctrl-C during a pass, while a model without a batch API (a slow mock)
/// is being called and before any batch is submitted: nothing is left at
/// the provider, and the error says so.
#[cfg(target_os = "linux")]
#[test]
fn a_signal_before_any_batch_is_submitted_says_nothing_is_waiting() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = TempProgram::new(&format!(
        r#"model slow = mock(reply: "late", latency: 60s)
model m = openai("test-model", base_url: "{}", api_key_env: "FLOW_TEST_KEY")
input q: text
first = ask slow "first {{q}}"
output answer = ask m "then {{first}}"
"#,
        server.base_url()
    ));
    let child = spawn(&p, &["-i", "q=x"]);
    // Nothing is observable at a server while the mock answers, but the
    // process is: once it catches SIGINT, the passes are under way.
    wait_for("flow catches SIGINT", || catches_sigint(child.id()));
    signal(&child, "INT");
    let out = child.wait_with_output().expect("flow exits");
    let err = prose(&stderr(&out));
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("flow::batch_api::stopped")
            && err.contains("nothing is waiting at the provider"),
        "{err}"
    );
    assert!(server.batches().is_empty());
}

/// A cache whose batch table cannot be read (here: a table of that name
/// from something else) is `flow::batch_api::cache`, before anything is
/// submitted.
#[test]
fn a_cache_that_cannot_keep_batch_ids_is_a_cache_error() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = program("openai", &server.base_url());
    let db = p.file("cache.db");
    let mock = TempProgram::new("model m = mock()\noutput a = ask m \"hi\"\n");
    let made = flow(&["run", &mock.path, "--cache", &db]);
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    rusqlite::Connection::open(&db)
        .and_then(|c| {
            c.execute_batch(
                "DROP TABLE IF EXISTS batches; CREATE TABLE batches (something_else TEXT)",
            )
        })
        .expect("a foreign `batches` table");
    let out = run(&p, &["-i", "q=x", "--cache", &db]);
    let err = prose(&stderr(&out));
    assert_eq!(code(&out), 2, "{err}");
    assert!(
        err.contains("flow::batch_api::cache")
            && err.contains("the cache could not record the batch"),
        "{err}"
    );
    assert!(server.batches().is_empty(), "{:?}", server.batches());
}

/// A chain nine calls deep, each in a `for` over a list of unknown length,
/// takes nine passes: the number of passes is bounded by how often each
/// request can be deferred, not by the calls `flow check` can count.
#[test]
fn a_chain_deeper_than_the_counted_calls_completes() {
    let server = BatchServer::start(Mode::Normal, respond);
    let mut src = format!(
        "model m = openai(\"test-model\", base_url: \"{}\", api_key_env: \"FLOW_TEST_KEY\")\ninput q: text\nl0 = split(q, \",\")\n",
        server.base_url()
    );
    for i in 1..=9 {
        src.push_str(&format!(
            "l{i} = for x in l{} < ask m \"{i} {{x}}\" >\n",
            i - 1
        ));
    }
    src.push_str("output answer = join(l9, \";\")\n");
    let p = TempProgram::new(&src);
    let out = run(&p, &["-i", "q=z"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "R[9 R[8 R[7 R[6 R[5 R[4 R[3 R[2 R[1 z]]]]]]]]]"
    );
    assert_eq!(server.batches().len(), 9);
}

/// A server without the batch endpoints (here: a path where the fake has
/// none) answers 404; the error names the request that got it, not the
/// chat endpoint, and says what to do.
#[test]
fn a_404_from_a_server_without_batches_names_the_batch_request() {
    let server = BatchServer::start(Mode::Normal, respond);
    let base = server.base_url().replace("/v1", "/none");
    for (provider, path) in [
        ("openai", "/none/files"),
        ("anthropic", "/none/messages/batches"),
    ] {
        let p = program(provider, &base);
        let out = run(&p, &["-i", "q=x"]);
        let err = prose(&stderr(&out));
        assert_eq!(code(&out), 2, "{err}");
        // miette wraps long lines anywhere, even inside a path.
        assert!(
            err.replace(' ', "").contains(&format!(
                "answered404NotFoundformodel`m`(`test-model`)at`POST{path}`"
            )),
            "{err}"
        );
        assert!(
            err.contains("run without `--batch-api` if that server has no batch API"),
            "{err}"
        );
    }
    assert!(server.batches().is_empty());
}

/// `--window 2` runs a pass's rows two at a time, reading the file again
/// for each pass: the five rows' calls still go in one batch per level.
#[test]
fn rows_run_in_chunks_and_each_level_is_still_one_batch() {
    let server = BatchServer::start(Mode::Normal, respond);
    let p = program("openai", &server.base_url());
    let rows = rows(&p, &["a", "b", "c", "d", "e"]);
    let out_path = p.file("out.jsonl");
    let out = run(&p, &["--inputs", &rows, "-o", &out_path, "--window", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let results = std::fs::read_to_string(&out_path).expect("results");
    for (line, q) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        assert!(
            results.contains(&format!(
                "{{\"line\":{},\"outputs\":{{\"answer\":\"R[Improve: R[Draft: {q}]]\"}}}}",
                line + 1
            )),
            "{results}"
        );
    }
    assert_eq!(server.batches().len(), 2, "{}", stderr(&out));
    // Five drafts and 5 × 3 votes, then five improvements.
    assert_eq!(server.prompts().len(), 25);
    assert!(
        stderr(&out).contains("pass 1: 20 requests from 5 rows"),
        "{}",
        stderr(&out)
    );
}

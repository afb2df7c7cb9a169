//! The call cache and batch runs, end to end: a killed batch resumes, an
//! edited prompt re-runs only what depends on it, two processes share one
//! cache, and results keep input order whatever order rows finish in.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `{"q": "row 1"}` ... one per line.
fn rows(n: usize) -> String {
    (1..=n)
        .map(|i| format!("{{\"q\": \"row {i}\"}}\n"))
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn entries(cache: &Path) -> u64 {
    let conn = rusqlite::Connection::open(cache).unwrap();
    conn.query_row("SELECT count(*) FROM calls", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

const SLOW: &str = r#"
model m = mock(echo: true, latency: 100ms, concurrency: 2)
input q: text
a = ask m "A {q}"
output b = ask m "B {a}"
"#;

#[test]
#[cfg(unix)]
fn a_killed_batch_resumes_from_the_cache_and_ends_as_if_never_killed() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "slow.flow", SLOW);
    let input = write(dir.path(), "rows.jsonl", &rows(20));
    let (reference, partial, resumed) = (
        dir.path().join("ref.jsonl"),
        dir.path().join("partial.jsonl"),
        dir.path().join("resumed.jsonl"),
    );
    let cache = dir.path().join("kill.db");

    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--output",
        s(&reference),
        "--no-cache",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let mut child = Command::new(assert_cmd::cargo::cargo_bin("flow"))
        .env("XDG_CACHE_HOME", cache_home())
        .args([
            "run",
            s(&program),
            "--inputs",
            s(&input),
            "--output",
            s(&partial),
        ])
        .args(["--cache", s(&cache), "--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while line_count(&partial) < 4 {
        assert!(Instant::now() < deadline, "the batch never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Rows written by now completed both calls; give the writer its short
    // commit window, then SIGKILL: no chance to flush anything.
    let completed_rows = line_count(&partial);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        line_count(&partial) < 20,
        "the kill came too late to test anything"
    );

    let saved = entries(&cache);
    assert!(
        saved >= 2 * completed_rows as u64,
        "{saved} calls in the cache, but {completed_rows} rows of 2 calls had completed"
    );

    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--output",
        s(&resumed),
        "--cache",
        s(&cache),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = json(&stdout(&out));
    assert_eq!(summary["cache_hits"], saved, "every saved call is served");
    assert_eq!(summary["calls"], 40 - saved, "and only the others are made");
    assert_eq!(
        std::fs::read_to_string(&resumed).unwrap(),
        std::fs::read_to_string(&reference).unwrap()
    );
}

const PIPELINE: &str = r#"
model m = mock(echo: true)
input q: text
section <
  a = ask m "A: {q}"
  b = ask m "B: {q}"
>
c = ask m "C: {a}"
d = ask m "D: {b}"
output out = "{c} | {d}"
"#;

#[test]
fn editing_one_prompt_calls_only_it_and_its_dependents() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", PIPELINE);
    let run = || flow(&["run", s(&program), "--input", "q=hi", "--json"]);
    let stats = |o: &std::process::Output| {
        assert_eq!(code(o), 0, "{}", stderr(o));
        let doc = json(&stdout(o));
        (
            doc["stats"]["calls"].clone(),
            doc["stats"]["cache_hits"].clone(),
        )
    };
    assert_eq!(stats(&run()), (4.into(), 0.into()));
    assert!(
        cache_home().join("flow/cache.db").exists(),
        "the cache is in the user's cache directory"
    );
    assert!(
        !dir.path().join(".flow").exists(),
        "nothing is written beside the program"
    );
    assert_eq!(stats(&run()), (0.into(), 4.into()));
    std::fs::write(&program, PIPELINE.replace("A: {q}", "A (edited): {q}")).unwrap();
    // `a` and `c`, which reads it, are called again; `b` and `d` are not.
    assert_eq!(stats(&run()), (2.into(), 2.into()));
    let out = flow(&[
        "run",
        s(&program),
        "--input",
        "q=hi",
        "--json",
        "--no-cache",
    ]);
    assert_eq!(stats(&out), (4.into(), 0.into()));
}

#[test]
fn two_processes_share_one_cache() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(
        dir.path(),
        "p.flow",
        "model m = mock(echo: true, latency: 20ms, concurrency: 4)\ninput q: text\na = ask m \"A {q}\"\noutput b = ask m \"B {a}\"\n",
    );
    let input = write(dir.path(), "rows.jsonl", &rows(30));
    let cache = dir.path().join("shared.db");
    let reference = dir.path().join("ref.jsonl");
    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--output",
        s(&reference),
        "--no-cache",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let spawn = |out: &Path| {
        Command::new(assert_cmd::cargo::cargo_bin("flow"))
            .env("XDG_CACHE_HOME", cache_home())
            .args([
                "run",
                s(&program),
                "--inputs",
                s(&input),
                "--output",
                s(out),
            ])
            .args(["--cache", s(&cache), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (dir.path().join("one.jsonl"), dir.path().join("two.jsonl"));
    let (a, b) = (spawn(&one), spawn(&two));
    for (child, out) in [(a, &one), (b, &two)] {
        let done = child.wait_with_output().unwrap();
        assert_eq!(code(&done), 0, "{}", stderr(&done));
        let summary = json(&stdout(&done));
        let (calls, hits) = (
            summary["calls"].as_u64().unwrap(),
            summary["cache_hits"].as_u64().unwrap(),
        );
        assert_eq!(calls + hits, 60, "every call is either made or served");
        assert_eq!(
            std::fs::read_to_string(out).unwrap(),
            std::fs::read_to_string(&reference).unwrap()
        );
    }
    assert_eq!(
        entries(&cache),
        60,
        "one entry per distinct call, none lost"
    );
}

#[test]
fn results_keep_input_order_whatever_order_rows_finish_in() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(
        dir.path(),
        "p.flow",
        r#"
model fast = mock(echo: true, latency: 1ms)
model mid = mock(echo: true, latency: 25ms)
model slow = mock(echo: true, latency: 60ms)
input q: text
input speed: "fast" | "mid" | "slow"
output r = if speed == "fast" then ask fast "F {q}" else (if speed == "mid" then ask mid "M {q}" else ask slow "S {q}")
"#,
    );
    // A fixed-seed shuffle of latencies, so later rows often finish first.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut want = Vec::new();
    let mut text = String::new();
    for i in 1..=60 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (speed, tag) = [("fast", "F"), ("mid", "M"), ("slow", "S")][(seed % 3) as usize];
        text.push_str(&format!("{{\"q\": \"row {i}\", \"speed\": \"{speed}\"}}\n"));
        want.push(format!(
            "{{\"line\":{i},\"outputs\":{{\"r\":\"{tag} row {i}\"}}}}"
        ));
    }
    let input = write(dir.path(), "rows.jsonl", &text);
    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--no-cache",
        "--jobs",
        "60",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(got, want);
}

#[test]
fn bad_rows_become_error_lines_and_the_rest_run() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(
        dir.path(),
        "p.flow",
        "model m = mock(echo: true)\ninput q: text\ninput n: int = 1\noutput r = ask m \"{q} {n}\"\n",
    );
    let input = write(
        dir.path(),
        "rows.jsonl",
        "{\"q\": \"a\"}\nnot json\n\n{\"q\": \"b\", \"n\": \"x\"}\n{\"n\": 2}\n{\"q\": \"c\", \"extra\": 1}\n{\"q\": \"d\", \"n\": 4}\n",
    );
    let out = flow(&["run", s(&program), "--inputs", s(&input), "--no-cache"]);
    assert_eq!(code(&out), 2, "a failed row fails the batch's exit code");
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(json).collect();
    let summary: Vec<String> = lines
        .iter()
        .map(|l| match l.get("outputs") {
            Some(o) => format!("{} ok {}", l["line"], o["r"]),
            None => format!("{} {}", l["line"], l["error"]["code"].as_str().unwrap()),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "1 ok \"a 1\"",
            "2 flow::input::bad_json",
            "4 flow::input::bad_value",
            "5 flow::input::missing",
            "6 flow::input::unknown",
            "7 ok \"d 4\"",
        ]
    );
    let err = stderr(&out);
    assert!(
        err.contains("6 rows: 2 ok, 4 failed (first failure on line 2)"),
        "{err}"
    );
    assert!(
        err.contains("line 4: input `n` expects int, but got \"x\""),
        "{err}"
    );

    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--no-cache",
        "--fail-fast",
        "--jobs",
        "1",
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stdout(&out).lines().count(),
        2,
        "stops after the first failure"
    );
    assert!(stderr(&out).contains("4 not run"), "{}", stderr(&out));
}

#[test]
fn a_corrupt_cache_is_a_clear_error_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(
        dir.path(),
        "p.flow",
        "model m = mock(echo: true)\noutput r = ask m \"hi\"\n",
    );
    let cache = write(dir.path(), "junk.db", &"not a database at all ".repeat(400));
    let out = flow(&["run", s(&program), "--cache", s(&cache)]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("flow::cache::corrupt"), "{err}");
    assert!(err.contains("is not a flow cache"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn cache_stats_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", PIPELINE);
    let out = flow(&["run", s(&program), "--input", "q=hi"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = flow(&["cache", "stats", s(&program), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = json(&stdout(&out));
    assert_eq!(stats["entries"], 4);
    assert_eq!(stats["models"][0]["model"], "m");
    let out = flow(&["cache", "clear", s(&program)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cleared 4 entries made by"),
        "{}",
        stdout(&out)
    );
    let out = flow(&["cache", "stats", s(&program), "--json"]);
    assert_eq!(json(&stdout(&out))["entries"], 0);
}

#[test]
fn check_prints_a_worst_case_cost_when_prices_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(
        dir.path(),
        "p.flow",
        "model m = mock(echo: true, max_tokens: 500, price_in: 0.15, price_out: 0.6)\ninput q: text\na = ask m \"{q}\" as bool vote 3 by majority\noutput r = if a then \"y\" else \"n\"\n",
    );
    let out = flow(&["check", s(&program)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // 3 calls × 500 tokens × $0.6/M
    assert!(
        stdout(&out).contains("worst-case cost $0.0009 for output tokens"),
        "{}",
        stdout(&out)
    );
}

#[test]
#[cfg(unix)]
fn ctrl_c_stops_a_batch_cleanly_and_a_rerun_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "slow.flow", SLOW);
    let input = write(dir.path(), "rows.jsonl", &rows(20));
    let (partial, resumed) = (
        dir.path().join("partial.jsonl"),
        dir.path().join("resumed.jsonl"),
    );
    let cache = dir.path().join("int.db");
    let child = Command::new(assert_cmd::cargo::cargo_bin("flow"))
        .env("XDG_CACHE_HOME", cache_home())
        .args([
            "run",
            s(&program),
            "--inputs",
            s(&input),
            "--output",
            s(&partial),
        ])
        .args(["--cache", s(&cache), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while line_count(&partial) < 2 {
        assert!(Instant::now() < deadline, "the batch never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    let first = json(&stdout(&out));
    assert_eq!(first["interrupted"], true);
    let written = line_count(&partial) as u64;
    assert!(written < 20, "the interrupt came too late to test anything");
    assert_eq!(first["ok"], written, "every row written is counted");

    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--output",
        s(&resumed),
        "--cache",
        s(&cache),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = json(&stdout(&out));
    let hits = second["cache_hits"].as_u64().unwrap();
    // Every completed call was saved on the way out; calls cut off in
    // flight were counted as made but had no reply to save.
    assert!(
        hits >= 2 * written,
        "{hits} hits for {written} finished rows"
    );
    assert!(hits <= first["calls"].as_u64().unwrap());
    assert_eq!(hits + second["calls"].as_u64().unwrap(), 40);
    assert_eq!(line_count(&resumed), 20);
}

#[test]
fn unreadable_rows_and_unwritable_results_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(
        dir.path(),
        "p.flow",
        "model m = mock(echo: true)\ninput q: text\noutput a = ask m \"A {q}\"\n",
    );
    let missing = dir.path().join("no-such-rows.jsonl");
    let out = flow(&["run", s(&program), "--inputs", s(&missing), "--no-cache"]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::batch::rows_file"), "{err}");
    assert!(err.contains("cannot read the rows from"), "{err}");
    assert!(err.contains("check the path after `--inputs`"), "{err}");

    let input = write(dir.path(), "rows.jsonl", &rows(2));
    let bad_out = dir.path().join("no-such-folder").join("out.jsonl");
    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--output",
        s(&bad_out),
        "--no-cache",
    ]);
    assert_eq!(code(&out), 2);
    let err = prose(&stderr(&out));
    assert!(err.contains("flow::batch::output_file"), "{err}");
    assert!(err.contains("cannot write the results to"), "{err}");
    assert!(
        err.contains("check that the folder exists and is writable"),
        "{err}"
    );
}

const ROWS_PROGRAM: &str =
    "model m = mock(echo: true, latency: 50ms)\ninput q: text\noutput r = ask m \"{q}\"\n";

#[test]
fn item_03_a_row_of_invalid_utf8_fails_alone_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", ROWS_PROGRAM);
    let input = dir.path().join("rows.jsonl");
    std::fs::write(
        &input,
        b"{\"q\": \"a\"}\n{\"q\": \"b\xff\"}\n{\"q\": \"c\"}\n",
    )
    .unwrap();
    let out = flow(&["run", s(&program), "--inputs", s(&input), "--no-cache"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(json).collect();
    let got: Vec<String> = lines
        .iter()
        .map(|l| match l.get("outputs") {
            Some(o) => format!("{} ok {}", l["line"], o["r"]),
            None => format!("{} {}", l["line"], l["error"]["code"].as_str().unwrap()),
        })
        .collect();
    assert_eq!(
        got,
        vec!["1 ok \"a\"", "2 flow::input::not_utf8", "3 ok \"c\""]
    );
    let err = stderr(&out);
    assert!(err.contains("line 2: the row is not UTF-8 text"), "{err}");
    assert!(err.contains("3 rows: 2 ok, 1 failed"), "{err}");
}

/// With `--fail-fast`, the rows before an invalid one run and are written,
/// and the invalid row is shown and counted as failed, however many rows
/// are in flight.
#[test]
fn item_03_fail_fast_runs_the_rows_before_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", ROWS_PROGRAM);
    let bad_rows: [&[u8]; 4] = [
        b"{\"qq\": \"x\"}",
        b"{\"q\": 3}",
        b"not json",
        b"{\"q\": \"\xff\"}",
    ];
    for bad in bad_rows {
        let input = dir.path().join("rows.jsonl");
        let mut text = b"{\"q\": \"a\"}\n{\"q\": \"b\"}\n".to_vec();
        text.extend_from_slice(bad);
        text.extend_from_slice(b"\n{\"q\": \"d\"}\n");
        std::fs::write(&input, &text).unwrap();
        let bad = String::from_utf8_lossy(bad);
        let out = flow(&[
            "run",
            s(&program),
            "--inputs",
            s(&input),
            "--no-cache",
            "--fail-fast",
        ]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out).lines().map(json).collect();
        let got: Vec<(u64, bool)> = lines
            .iter()
            .map(|l| (l["line"].as_u64().unwrap(), l.get("outputs").is_some()))
            .collect();
        assert_eq!(got, vec![(1, true), (2, true), (3, false)], "{bad}");
        let err = stderr(&out);
        assert!(err.contains("line 3: "), "{bad}: {err}");
        assert!(
            err.contains("4 rows: 2 ok, 1 failed, 1 not run (first failure on line 3)"),
            "{bad}: {err}"
        );
    }
}

/// The default cache is in the user's cache directory, so a program in a
/// read-only folder runs; a default cache that cannot be opened is one
/// warning and the run goes on without it.
#[test]
#[cfg(unix)]
fn item_18_a_read_only_program_folder_runs_and_a_broken_default_cache_is_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", PIPELINE);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = flow(&["run", s(&program), "--input", "q=hi"]);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(cache_home().join("flow/cache.db").exists());

    // A default cache that is not a cache: warned about once, then ignored.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("flow")).unwrap();
    write(&home.path().join("flow"), "cache.db", &"junk ".repeat(2000));
    let out = flow_env(
        &["run", s(&program), "--input", "q=hi"],
        &[("XDG_CACHE_HOME", s(home.path()))],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("flow::cache::unavailable").count(), 1, "{err}");
    assert!(err.contains("running without the call cache"), "{err}");
    assert!(err.contains("is not a flow cache"), "{err}");
}

/// A truncated cache is found when it is opened, before any call, and a
/// read-only one is reported then too, not at the first save.
#[test]
#[cfg(unix)]
fn item_19_a_truncated_or_read_only_cache_is_reported_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", PIPELINE);
    let cache = dir.path().join("c.db");
    // Enough entries for several pages, then cut the file in half.
    let rows: String = (0..300)
        .map(|i| format!("{{\"q\": \"row {i} {}\"}}\n", "x".repeat(200)))
        .collect();
    let input = write(dir.path(), "rows.jsonl", &rows);
    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&input),
        "--cache",
        s(&cache),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let len = std::fs::metadata(&cache).unwrap().len();
    assert!(len > 16384, "{len}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&cache)
        .unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let out = flow(&[
        "run",
        s(&program),
        "--input",
        "q=hi",
        "--cache",
        s(&cache),
        "--json",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("flow::cache::corrupt"), "{err}");
    assert_eq!(json(&stdout(&out))["error"]["code"], "flow::cache::corrupt");

    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro.db");
    let out = flow(&["run", s(&program), "--input", "q=hi", "--cache", s(&ro)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let writable = std::fs::OpenOptions::new().write(true).open(&ro).is_ok();
    let out = flow(&["run", s(&program), "--input", "q=new", "--cache", s(&ro)]);
    if !writable {
        // (As root every file is writable, and this case cannot happen.)
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("flow::cache::read_only"),
            "{}",
            stderr(&out)
        );
    }
}

/// `flow cache clear prog.flow` clears that program's entries only; `--all`
/// clears everything; a program that does not exist is an error; `stats`
/// shows entries per program and in total.
#[test]
fn item_20_clear_one_programs_entries_and_stats_per_program() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.flow", PIPELINE);
    let b = write(
        dir.path(),
        "b.flow",
        &PIPELINE.replace("A: {q}", "A from b: {q}"),
    );
    for p in [&a, &b] {
        let out = flow(&["run", s(p), "--input", "q=hi"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let out = flow(&["cache", "stats", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = json(&stdout(&out));
    // b shares `b` and `d` with a: 4 + 2 distinct entries, 4 used by each.
    assert_eq!(stats["entries"], 6);
    let programs: Vec<(String, u64)> = stats["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let path = p["program"].as_str().unwrap();
            let name = std::path::Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, p["entries"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(programs, vec![("a.flow".into(), 4), ("b.flow".into(), 4)]);

    let out = flow(&["cache", "clear", s(&a)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cleared 2 entries made by"),
        "{}",
        stdout(&out)
    );
    // b still runs entirely from the cache: what it used too was kept.
    let out = flow(&["run", s(&b), "--input", "q=hi", "--json"]);
    assert_eq!(json(&stdout(&out))["stats"]["calls"], 0, "{}", stderr(&out));
    let out = flow(&["run", s(&a), "--input", "q=hi", "--json"]);
    assert_eq!(json(&stdout(&out))["stats"]["calls"], 2, "{}", stderr(&out));

    let out = flow(&["cache", "clear", s(&dir.path().join("nope.flow"))]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("flow::cache::no_program"),
        "{}",
        stderr(&out)
    );

    let out = flow(&["cache", "stats"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("by program:"), "{}", stdout(&out));

    let out = flow(&["cache", "clear", "--all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cleared 6 entries"),
        "{}",
        stdout(&out)
    );
    let out = flow(&["cache", "clear"]);
    assert_eq!(code(&out), 2, "a program or `--all` is needed");
}

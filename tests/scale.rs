//! Batches beyond one process: rows read as a stream (standard input
//! included), and `--shard I/N` slices whose outputs, concatenated in index
//! order, are one run's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const ECHO: &str = r#"
model m = mock(echo: true, concurrency: 8, rpm: 100000)
input q: text
a = ask m "A {q}"
output b = ask m "B {a}"
"#;

/// Rows with a blank line, a bad row and a last line without a newline, so
/// slices and line numbers have something to get wrong.
fn tricky_rows(n: usize) -> String {
    let mut text = String::new();
    for i in 1..=n {
        match i % 9 {
            4 => text.push('\n'),
            7 => text.push_str("{\"q\": 3}\n"),
            _ => text.push_str(&format!("{{\"q\": \"row {i}\"}}\n")),
        }
    }
    text.push_str("{\"q\": \"last\"}");
    text
}

fn flow_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("flow").unwrap();
    cmd.current_dir(root())
        .args(args)
        .env("XDG_CACHE_HOME", cache_home())
        .env("NO_COLOR", "1")
        .write_stdin(stdin.as_bytes().to_vec())
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

#[test]
fn rows_on_standard_input_give_what_the_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", ECHO);
    let text = tricky_rows(40);
    let input = write(dir.path(), "rows.jsonl", &text);
    let file = flow(&["run", s(&program), "--inputs", s(&input), "--no-cache"]);
    let piped = flow_stdin(
        &[
            "run",
            s(&program),
            "--inputs",
            "-",
            "--no-cache",
            "--window",
            "3",
        ],
        &text,
    );
    assert_eq!(code(&file), 2, "one row is bad: {}", stderr(&file));
    assert_eq!(code(&piped), 2, "{}", stderr(&piped));
    assert_eq!(stdout(&file), stdout(&piped));
    let last = stdout(&file).lines().last().map(str::to_string);
    assert_eq!(
        last.as_deref(),
        Some(r#"{"line":41,"outputs":{"b":"B A last"}}"#)
    );
    assert!(stderr(&piped).contains("36 rows: 32 ok, 4 failed (first failure on line 7)"));
}

#[test]
fn shards_concatenated_in_index_order_are_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", ECHO);
    let input = write(dir.path(), "rows.jsonl", &tricky_rows(103));
    let whole = flow(&["run", s(&program), "--inputs", s(&input), "--no-cache"]);
    let mut joined = String::new();
    let mut rows = 0;
    for i in 0..4 {
        let shard = format!("{i}/4");
        let out = flow(&[
            "run",
            s(&program),
            "--inputs",
            s(&input),
            "--no-cache",
            "--shard",
            &shard,
        ]);
        assert_eq!(
            code(&out),
            2,
            "every quarter has a bad row: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        let n: usize = err
            .split(" rows:")
            .next()
            .and_then(|t| t.trim().rsplit('\n').next())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("{err}"));
        rows += n;
        joined.push_str(&stdout(&out));
    }
    assert_eq!(joined, stdout(&whole));
    assert_eq!(rows, stdout(&whole).lines().count());
    // More shards than lines: the extra shards run nothing, and succeed.
    let tiny = write(dir.path(), "tiny.jsonl", "{\"q\": \"x\"}\n");
    let out = flow(&[
        "run",
        s(&program),
        "--inputs",
        s(&tiny),
        "--no-cache",
        "--shard",
        "0/3",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("0 rows: 0 ok, 0 failed"),
        "{}",
        stderr(&out)
    );
}

/// Four shards started at once against one PostgreSQL cache write what one
/// process writes, and a second run of all four makes no call.
#[test]
#[cfg(feature = "postgres")]
fn four_shards_on_one_postgres_cache_are_one_run_and_a_rerun_is_fully_cached() {
    let Some(url) = crate::pg_cluster::database("four_shards") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let program = write(
        dir.path(),
        "p.flow",
        r#"
model m = mock(echo: true, latency: 5ms, concurrency: 8)
input q: text
a = ask m "A {q}"
output b = ask m "B {a}"
"#,
    );
    let input = write(dir.path(), "rows.jsonl", &tricky_rows(60));
    let whole = flow(&["run", s(&program), "--inputs", s(&input), "--no-cache"]);
    let shards = |round: &str| -> Vec<(String, String)> {
        let children: Vec<_> = (0..4)
            .map(|i| {
                let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("flow"));
                cmd.current_dir(root())
                    .args(["run", s(&program), "--inputs", s(&input)])
                    .args(["--shard", &format!("{i}/4")])
                    .env("FLOW_CACHE", &url)
                    .env("XDG_CACHE_HOME", cache_home())
                    .env("NO_COLOR", "1")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                assert_eq!(code(&out), 2, "{round}: {}", stderr(&out));
                (stdout(&out), stderr(&out))
            })
            .collect()
    };
    let first = shards("first");
    let joined: String = first.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(joined, stdout(&whole));
    for (_, err) in &first {
        assert!(
            !err.contains("secret-pw"),
            "the password is never shown:\n{err}"
        );
    }
    let second = shards("second");
    let joined: String = second.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(joined, stdout(&whole));
    for (_, err) in &second {
        assert!(err.contains("\n0 calls made, "), "fully cached:\n{err}");
    }
    let stats = flow(&["cache", "stats", "--cache", &url]);
    assert_eq!(code(&stats), 0, "{}", stderr(&stats));
    let calls = 2 * stdout(&whole).matches("\"outputs\"").count();
    assert!(
        stdout(&stats).contains(&format!(": {calls} entries")),
        "{}",
        stdout(&stats)
    );
    assert!(stdout(&stats).contains("postgres://flow:***@127.0.0.1"));
    assert!(!stdout(&stats).contains("secret-pw"));
    let cleared = flow(&["cache", "clear", s(&program), "--cache", &url]);
    assert_eq!(
        stdout(&cleared).split(" made by").next(),
        Some(format!("cleared {calls} entries").as_str()),
        "{}",
        stderr(&cleared)
    );
}

/// `sslmode=verify-full` through the CLI: with the CA that signed the test
/// cluster's certificate, shards share the cache over TLS; with another
/// CA, or none, flow refuses to connect, says why and what to do, and never
/// shows the password.
#[test]
#[cfg(feature = "postgres")]
fn a_postgres_cache_over_verified_tls_works_and_an_untrusted_server_is_refused() {
    let (Some(url), Some(tls)) = (
        crate::pg_cluster::database("verified_tls"),
        crate::pg_cluster::tls("verified_tls"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "p.flow", ECHO);
    let rows: String = (1..=5).map(|i| format!("{{\"q\": \"r{i}\"}}\n")).collect();
    let input = write(dir.path(), "rows.jsonl", &rows);
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let with = |query: String| {
        let cache = format!("{url}?{query}");
        let home = home.display().to_string();
        flow_env(
            &["run", s(&program), "--inputs", s(&input)],
            &[("FLOW_CACHE", cache.as_str()), ("HOME", home.as_str())],
        )
    };
    let verified = format!("sslmode=verify-full&sslrootcert={}", tls.ca.display());
    let first = with(verified.clone());
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert!(
        stderr(&first).contains("\n10 calls made, "),
        "{}",
        stderr(&first)
    );
    let again = with(verified);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stderr(&again).contains("\n0 calls made, 10 answered from the cache"),
        "{}",
        stderr(&again)
    );

    let other = with(format!(
        "sslmode=verify-full&sslrootcert={}",
        tls.other_ca.display()
    ));
    let err = stderr(&other);
    assert_eq!(code(&other), 2, "{err}");
    assert!(err.contains("flow::cache::tls"), "{err}");
    assert!(err.contains("is not signed by a CA in"), "{err}");
    // HOME has no `.postgresql/root.crt`, libpq's default roots.
    let none = with("sslmode=verify-full".into());
    let err2 = stderr(&none);
    assert_eq!(code(&none), 2, "{err2}");
    assert!(err2.contains("names no root certificates"), "{err2}");
    assert!(err2.contains("sslrootcert=PATH"), "{err2}");
    for err in [err, err2] {
        assert!(
            !err.contains("secret-pw"),
            "the password is never shown:\n{err}"
        );
        assert!(err.contains("postgres://flow:***@127.0.0.1"), "{err}");
    }
}

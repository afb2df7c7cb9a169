//! The command line's cases: one `tests/cmd/NAME.toml` each (arguments and
//! exit code), with the exact standard output and error beside it in
//! `NAME.stdout` and `NAME.stderr` (an empty file: nothing may be printed).
//! The programs they run are in `tests/cmd/programs/`.
//!
//! They run from the crate root in the environment `support::flow` gives:
//! no colour and 80 columns, so miette's rendering is stable. A `run` case
//! runs in a fresh copy of `programs/` (`fs.base`, `fs.sandbox`), so the
//! call cache it writes beside the program cannot answer another case. A
//! case whose program could read an API key removes it with `env.remove`; a
//! case whose output has backslashes sets `binary = true`, or trycmd would
//! read them as path separators. After a deliberate change of output,
//! `TRYCMD=overwrite cargo test --test integration cli::cases` rewrites the
//! expected files; review the diff. What needs Rust logic (signals, files
//! written, a second program such as `dot`) stays here as a test of its own.

use std::time::Duration;

use crate::support::*;

#[test]
fn cases() {
    trycmd::TestCases::new()
        .default_bin_path(env!("CARGO_BIN_EXE_flow"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .timeout(Duration::from_secs(120))
        .case(root().join("tests/cmd/*.toml"));
}

const GOOD: &str = "tests/cmd/programs/good.flow";

#[test]
fn graph_writes_to_a_file_with_o() {
    let p = TempProgram::new(&std::fs::read_to_string(root().join(GOOD)).unwrap());
    let out_path = p.file("g.dot");
    let out = flow(&["graph", &p.path, "-o", &out_path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let written = std::fs::read_to_string(&out_path).expect("the graph file");
    assert!(written.starts_with("digraph flow {"));
    crate::dot_check::check_dot(&written);
}

/// Ctrl-C during a run cancels the calls in flight, reports what finished and
/// exits 130.
#[cfg(unix)]
#[test]
fn interrupt_stops_cleanly_and_reports_what_finished() {
    let p = TempProgram::new(
        r#"
model fast = mock(reply: "quick")
model slow = mock(reply: "late", latency: 60s)
a = ask fast "first"
b = ask slow "second {a}"
output result = "{a} {b}"
"#,
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_flow"))
        .args(["run", &p.path])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("flow starts");
    // Wait until the fast call has surely finished; the slow one takes 60 s.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("flow exits");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("flow::run::cancelled"), "{err}");
    assert!(err.contains("a = \"quick\""), "{err}");
}

//! Exit codes and messages of the command line itself.

use crate::support::*;

#[test]
fn missing_file_is_a_clear_error() {
    let out = flow(&["check", "no/such/file.flow"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot read `no/such/file.flow`: no such file"),
        "{err}"
    );
    assert!(err.contains("flow::io::unreadable"), "{err}");
}

#[test]
fn non_utf8_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.flow");
    std::fs::write(&path, b"output x = \"\xff\xfe\"").unwrap();
    let out = flow(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is not UTF-8 text (invalid byte at offset 12)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_arguments_is_a_usage_error() {
    let out = flow(&[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("Usage"), "{}", stderr(&out));
}

#[test]
fn check_without_files_is_a_usage_error() {
    let out = flow(&["check"]);
    assert_eq!(code(&out), 2);
}

const GOOD: &str = r#"
model m = mock(reply: "hi")
input q: text = "x"
a = ask m "one {q}"
b = ask m "two {q}" as bool vote 3 by majority
output answer = if b then a else "no"
"#;

const WARNS: &str = r#"
model m = mock(reply: "hi")
unused = ask m "never read"
output answer = "fixed"
"#;

const BAD: &str = r#"
model m = mock(reply: "hi")
output answer = ask m "{missing}"
"#;

#[test]
fn check_prints_a_summary_per_file_and_exits_zero() {
    let a = TempProgram::new(GOOD);
    let out = flow(&["check", &a.path, "examples/guardrails.flow"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{}: 4 nodes, worst case 4 LLM calls, longest chain 1 call",
            a.path
        )),
        "{text}"
    );
    assert!(text.contains("examples/guardrails.flow: "), "{text}");
    assert_eq!(stderr(&out), "");
}

#[test]
fn check_reports_every_file_and_fails_if_any_fails() {
    let good = TempProgram::new(GOOD);
    let bad = TempProgram::new(BAD);
    let out = flow(&["check", &bad.path, &good.path]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("flow::check::undefined_name"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("has 1 error"), "{}", stderr(&out));
    // The good file after the bad one is still checked.
    assert!(stdout(&out).contains(&good.path), "{}", stdout(&out));
}

#[test]
fn warnings_pass_unless_denied() {
    let p = TempProgram::new(WARNS);
    let out = flow(&["check", &p.path]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("(1 warning)"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("flow::check::unused"),
        "{}",
        stderr(&out)
    );
    let denied = flow(&["check", "--deny-warnings", &p.path]);
    assert_eq!(code(&denied), 1);
    assert!(stderr(&denied).contains("(denied)"), "{}", stderr(&denied));
}

#[test]
fn graph_formats_are_deterministic_and_valid() {
    let p = TempProgram::new(GOOD);
    let dot1 = flow(&["graph", &p.path]);
    let dot2 = flow(&["graph", &p.path, "--format", "dot"]);
    assert_eq!(code(&dot1), 0);
    assert_eq!(stdout(&dot1), stdout(&dot2));
    assert!(
        stdout(&dot1).starts_with("digraph flow {"),
        "{}",
        stdout(&dot1)
    );
    assert!(
        stdout(&dot1).contains("×3 by majority"),
        "{}",
        stdout(&dot1)
    );
    crate::dot_check::check_dot(&stdout(&dot1));

    let mermaid = flow(&["graph", &p.path, "--format", "mermaid"]);
    assert_eq!(code(&mermaid), 0);
    assert!(
        stdout(&mermaid).contains("\nflowchart TD\n"),
        "{}",
        stdout(&mermaid)
    );

    let json = flow(&["graph", &p.path, "--format", "json"]);
    assert_eq!(code(&json), 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("valid JSON");
    assert_eq!(doc["nodes"].as_array().map(Vec::len), Some(4), "{doc}");
    assert!(doc["edges"].as_array().is_some_and(|e| !e.is_empty()));
}

#[test]
fn graph_writes_to_a_file_with_o() {
    let p = TempProgram::new(GOOD);
    let out_path = p.file("g.dot");
    let out = flow(&["graph", &p.path, "-o", &out_path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let written = std::fs::read_to_string(&out_path).expect("the graph file");
    assert!(written.starts_with("digraph flow {"));
    crate::dot_check::check_dot(&written);
}

#[test]
fn graph_of_a_broken_program_fails_with_its_diagnostics() {
    let p = TempProgram::new(BAD);
    let out = flow(&["graph", &p.path]);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("flow::check::undefined_name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_graph_format_is_a_usage_error() {
    let out = flow(&["graph", "examples/guardrails.flow", "--format", "png"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("dot"), "{}", stderr(&out));
}

#[test]
fn empty_and_binary_files_give_diagnostics() {
    let empty = TempProgram::new("");
    let out = flow(&["check", &empty.path]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("flow::check::no_output"),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin.flow");
    std::fs::write(&bin, [0x7fu8, b'E', b'L', b'F', 0, 1, 2, 3, 0xc3, 0x28]).unwrap();
    let out = flow(&["check", bin.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
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

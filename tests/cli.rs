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
    let cases = trycmd::TestCases::new();
    cases
        .default_bin_path(env!("CARGO_BIN_EXE_flow"))
        .env("XDG_CACHE_HOME", cache_home().display().to_string())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        // An empty `FLOW_CACHE` is none: the developer's own never leaks in.
        .env("FLOW_CACHE", "")
        .timeout(Duration::from_secs(120))
        .case(root().join("tests/cmd/*.toml"));
    // What a `postgres://` cache does depends on the build's features.
    if cfg!(feature = "postgres") {
        cases.case(root().join("tests/cmd/postgres/*.toml"));
    } else {
        cases.case(root().join("tests/cmd/no_postgres/*.toml"));
    }
}

const GOOD: &str = "tests/cmd/programs/good.flow";
/// A program that runs without a key or a network.
const RUNS: &str = "model m = mock(echo: true)\noutput r = ask m \"hello\"\n";

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
        .env("XDG_CACHE_HOME", cache_home())
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

/// `-o` without `--inputs` writes the run's outputs to the file, nothing to
/// standard output.
#[test]
fn item_11_output_without_inputs_writes_the_outputs_there() {
    let p = TempProgram::new(RUNS);
    let out_path = p.file("out.txt");
    let plain = flow(&["run", &p.path, "--no-cache"]);
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));
    let out = flow(&["run", &p.path, "--no-cache", "-o", &out_path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let written = std::fs::read_to_string(&out_path).expect("the outputs file");
    assert_eq!(written, stdout(&plain));

    let json_path = p.file("out.json");
    let out = flow(&["run", &p.path, "--no-cache", "--json", "-o", &json_path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert!(doc.get("outputs").is_some(), "{doc}");

    let out = flow(&[
        "run",
        &p.path,
        "--no-cache",
        "-o",
        "/nonexistent/dir/out.txt",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("flow::run::output_file"),
        "{}",
        stderr(&out)
    );
}

/// `flow graph -o x.svg` draws the graph through `dot`; without `dot` it
/// refuses and says what to do, and writes nothing.
#[test]
fn item_11_graph_to_an_image_file_renders_through_dot() {
    let p = TempProgram::new(&std::fs::read_to_string(root().join(GOOD)).unwrap());
    let svg = p.file("g.svg");
    let out = flow(&["graph", &p.path, "-o", &svg]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written = std::fs::read_to_string(&svg).expect("the svg");
    assert!(written.contains("<svg"), "{written}");

    let empty = tempfile::tempdir().unwrap();
    let png = p.file("g.png");
    let out = flow_env(
        &["graph", &p.path, "-o", &png],
        &[("PATH", empty.path().to_str().unwrap())],
    );
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("flow::graph::no_dot"), "{err}");
    assert!(err.contains("install Graphviz"), "{err}");
    assert!(!std::path::Path::new(&png).exists());

    let out = flow(&[
        "graph",
        &p.path,
        "--format",
        "mermaid",
        "-o",
        &p.file("m.svg"),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("flow::graph::image_format"),
        "{}",
        stderr(&out)
    );
}

/// SIGTERM (how containers and service managers stop a process) stops a
/// run like Ctrl-C: the calls in flight are cancelled, what finished is
/// listed, and the exit code is 143 (128 + SIGTERM), as a shell reports a
/// process stopped by that signal.
#[cfg(unix)]
#[test]
fn item_10_sigterm_stops_cleanly_and_reports_what_finished() {
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
        .env("XDG_CACHE_HOME", cache_home())
        .args(["run", &p.path, "--no-cache"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("flow starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("flow exits");
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("flow::run::cancelled"), "{err}");
    assert!(err.contains("a = \"quick\""), "{err}");
}

/// Output to a full disk is an error (exit 2), for every command that
/// writes results to standard output.
#[cfg(target_os = "linux")]
#[test]
fn item_08_a_full_disk_on_stdout_fails_with_exit_2() {
    let p = TempProgram::new(RUNS);
    let cases: [&[&str]; 5] = [
        &["check", &p.path],
        &["graph", &p.path],
        &["graph", &p.path, "--format", "json"],
        &["run", &p.path, "--no-cache"],
        &["run", &p.path, "--no-cache", "--json"],
    ];
    for args in cases {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flow"))
            .env("XDG_CACHE_HOME", cache_home())
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(full)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("flow runs");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("flow::io::stdout"), "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output"),
            "{args:?}: {err}"
        );
    }
}

/// A reader that goes away (`flow graph ... | head -c 1`) is not an error:
/// nothing is said, and flow stops quietly with its own exit code.
#[cfg(unix)]
#[test]
fn item_16_a_closed_stdout_pipe_exits_quietly() {
    let mut program = String::from("model m = mock(reply: \"x\")\n");
    for i in 0..3000 {
        program.push_str(&format!("output b{i} = ask m \"prompt number {i}\"\n"));
    }
    let p = TempProgram::new(&program);
    let err_path = p.file("err.txt");
    let script = format!(
        "\"$0\" graph --format json '{}' 2>'{err_path}' | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}",
        p.path
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script, env!("CARGO_BIN_EXE_flow")])
        .env("XDG_CACHE_HOME", cache_home())
        .env("NO_COLOR", "1")
        .output()
        .expect("bash runs");
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err, "", "nothing is said about the closed pipe");

    // A batch whose results are piped into `head` stops quietly too.
    let batch =
        TempProgram::new("model m = mock(echo: true)\ninput q: text\noutput r = ask m \"{q}\"\n");
    let rows: String = (0..5000)
        .map(|i| format!("{{\"q\": \"row number {i}\"}}\n"))
        .collect();
    let rows_path = batch.file("rows.jsonl");
    std::fs::write(&rows_path, rows).unwrap();
    let script = format!(
        "\"$0\" run '{}' --no-cache --inputs '{rows_path}' 2>'{err_path}' | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}",
        batch.path
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script, env!("CARGO_BIN_EXE_flow")])
        .env("XDG_CACHE_HOME", cache_home())
        .env("NO_COLOR", "1")
        .output()
        .expect("bash runs");
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err, "", "nothing is said about the closed pipe");
}

/// `flow completions SHELL` prints a script that knows the commands and
/// options, for every shell clap_complete supports.
#[test]
fn item_17_completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = flow(&["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for word in ["check", "graph", "run", "cache", "offline", "max-calls"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    // bash accepts the script it is given.
    let out = flow(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.bash");
    std::fs::write(&path, &out.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .args(["-n", path.to_str().unwrap()])
        .output()
        .expect("bash runs");
    assert!(check.status.success(), "{}", stderr(&check));
}

/// Issue 11 item 6: a program file is read with a bound. `/dev/zero` once
/// took flow to 4.7 GB in 4 s; it must fail at once with a message, and a
/// regular file past the bound is refused from its size.
#[test]
fn item_06_a_huge_or_endless_program_file_fails_fast() {
    let start = std::time::Instant::now();
    let out = flow(&["check", "/dev/zero"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("flow::io::too_large"), "{err}");
    assert!(err.contains("larger than 64 MiB"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30));

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.flow");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let out = flow(&["run", big.to_str().unwrap(), "--offline"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("flow::io::too_large"),
        "{}",
        stderr(&out)
    );
}

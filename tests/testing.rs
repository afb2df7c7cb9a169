//! `test` blocks and `flow test`: the examples' tests pass (in CI, with no
//! key or network: their models are mocks), and tests are no part of what
//! `flow run` and `flow graph` see.

use crate::support::*;

#[test]
fn the_examples_tests_pass() {
    let files: Vec<String> = flow_files("examples")
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["test"];
    args.extend(files.iter().map(String::as_str));
    let out = flow(&args);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let summary = stdout(&out);
    let passed: usize = summary
        .lines()
        .last()
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        passed >= 5,
        "expected the examples' tests to run:\n{summary}"
    );
}

#[test]
fn repeat_reports_a_pass_rate() {
    let out = flow(&["test", "tests/cmd/programs/tested.flow", "--repeat", "3"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("the poem is a haiku (3/3 runs passed)"),
        "{text}"
    );
    assert!(
        text.contains("the poem mentions the topic (0/3 runs passed)"),
        "{text}"
    );
}

#[test]
fn a_test_that_leaves_a_real_model_needs_its_key_unless_offline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.flow");
    std::fs::write(
        &path,
        "model m = openai(\"gpt-4o-mini\", api_key_env: \"FLOW_TEST_NO_SUCH_KEY\")\noutput answer = ask m \"hi\"\n\ntest \"answers\" <\n  expect answer != \"\"\n>\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let out = flow(&["test", path]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("could not run"), "{}", stdout(&out));
    // Offline, the placeholder is no real text: `!=` holds for it.
    let out = flow(&["test", "--offline", path]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn run_and_graph_ignore_tests() {
    let with = std::fs::read_to_string("tests/cmd/programs/tested.flow").unwrap();
    let without = with.split("\ntest ").next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.flow"), dir.path().join("b.flow"));
    std::fs::write(&a, &with).unwrap();
    std::fs::write(&b, &without).unwrap();
    for cmd in [&["graph"][..], &["run", "--json"][..]] {
        let run = |p: &std::path::Path| {
            let mut args = cmd.to_vec();
            args.push(p.to_str().unwrap());
            let text = stdout(&flow(&args));
            // A run's timings differ from run to run; its outputs may not.
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(doc) => doc["outputs"].to_string(),
                Err(_) => text,
            }
        };
        assert_eq!(run(&a), run(&b), "{cmd:?}");
    }
}

#[test]
fn fmt_rewrites_files_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.flow");
    std::fs::write(&path, "model   m = mock()\noutput x=ask m \"hi\"\n").unwrap();
    let out = flow(&["fmt", path.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "model m = mock()\noutput x = ask m \"hi\"\n"
    );
    let out = flow(&["fmt", "--check", path.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[tokio::test]
async fn the_library_runs_a_test_through_an_engine() {
    let src = std::fs::read_to_string("tests/cmd/programs/tested.flow").unwrap();
    let program = flow::Program::compile("tested.flow", src).unwrap();
    let names: Vec<&str> = program.tests().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "the poem is a haiku",
            "the greeting is friendly",
            "the poem mentions the topic"
        ]
    );
    let first = flow::testing::run_test(&program, &program.tests()[0], false, None).await;
    assert!(first.passed(), "{first:?}");
    assert_eq!(first.calls, 2);
    let last = flow::testing::run_test(&program, &program.tests()[2], false, None).await;
    let flow::testing::Verdict::Failed(missed) = &last.verdict else {
        panic!("{last:?}");
    };
    assert_eq!(missed.len(), 2);
    assert_eq!(
        missed[0].failure.actual,
        Some(serde_json::json!("Snow on the branches"))
    );
    assert_eq!(
        missed[0].failure.expected,
        Some(serde_json::json!("winter"))
    );
    // The program itself is untouched by a test's replacement.
    assert!(program.tests()[2].is_offline(program.graph()));
}

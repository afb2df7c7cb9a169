//! `flow test`: every `test` block of every file, each in an engine of its
//! own and all at once, one result line each and a summary.

use std::path::PathBuf;

use serde_json::json;

use super::exit;
use super::source;
use super::terminal::{Failure, Terminal};
use crate::engine::Program;
use crate::engine::json::position;
use crate::testing::{Outcome, TestCase, Verdict, run_test};

/// What `flow test` was asked.
pub struct Options<'a> {
    pub files: &'a [PathBuf],
    pub filter: Option<&'a str>,
    pub json: bool,
    pub repeat: u32,
    pub offline: bool,
}

/// One test and every run of it.
struct Result_ {
    program: Program,
    test: TestCase,
    runs: Vec<Outcome>,
}

impl Result_ {
    fn passes(&self) -> usize {
        self.runs.iter().filter(|o| o.passed()).count()
    }

    fn passed(&self) -> bool {
        self.passes() == self.runs.len()
    }

    /// The first run that did not pass, to show.
    fn first_failure(&self) -> Option<&Outcome> {
        self.runs.iter().find(|o| !o.passed())
    }
}

pub fn run(o: Options<'_>, term: &mut Terminal) -> Result<(), Failure> {
    let mut broken = false;
    // With `--json`, what kept a file's tests from running, in the document.
    let mut errors = Vec::new();
    let mut programs = Vec::new();
    for path in o.files {
        let src = match source::read(path) {
            Ok(src) => src,
            Err(e) => {
                term.diagnostic(&e, None);
                errors.push(crate::engine::json::to_json(&e, None));
                broken = true;
                continue;
            }
        };
        match Program::compile(src.name, src.text) {
            Ok(p) => programs.push(p),
            Err(f) => {
                term.diagnostics(f.diagnostics.iter(), Some(&f.source));
                errors.extend(
                    f.diagnostics
                        .iter()
                        .filter(|d| crate::diagnostic::is_error(d.as_ref()))
                        .map(|d| crate::engine::json::to_json(d.as_ref(), Some(&f.source))),
                );
                term.err(&format!(
                    "error: `{}` has errors; fix them to run its tests\n",
                    f.source.name
                ));
                broken = true;
            }
        }
    }
    let mut selected: Vec<(Program, TestCase)> = Vec::new();
    for p in &programs {
        for t in p.tests() {
            if o.filter.is_none_or(|f| t.name.contains(f)) {
                selected.push((p.clone(), t.clone()));
            }
        }
    }
    let tokio = super::setup::tokio_runtime()?;
    let repeat = o.repeat.max(1);
    let offline = o.offline;
    let results: Vec<Result_> = tokio.block_on(async {
        // Every run of every test at once, each in a task with its own engine.
        let mut tasks = Vec::new();
        for (program, test) in &selected {
            // The runs of one test share its models' limits; tests share nothing.
            let limits = crate::engine::LimitsRegistry::new();
            for _ in 0..repeat {
                let (program, test, limits) = (program.clone(), test.clone(), limits.clone());
                tasks.push(tokio::spawn(async move {
                    run_test(&program, &test, offline, Some(limits)).await
                }));
            }
        }
        let mut outcomes = futures::future::join_all(tasks).await.into_iter();
        selected
            .iter()
            .map(|(program, test)| Result_ {
                program: program.clone(),
                test: test.clone(),
                runs: outcomes
                    .by_ref()
                    .take(repeat as usize)
                    .map(|joined| joined.unwrap_or_else(|e| crashed(&e)))
                    .collect(),
            })
            .collect()
    });
    let passed = results.iter().filter(|r| r.passed()).count();
    let failed = results.len() - passed;
    if o.json {
        let mut doc = document(&results, repeat, passed, failed);
        doc["errors"] = serde_json::Value::Array(errors);
        term.out(&format!("{doc:#}\n"));
        term.json_written();
    } else {
        for r in &results {
            term.out(&human(r, repeat));
        }
        term.out(&format!("{passed} passed, {failed} failed\n"));
    }
    if broken {
        Err(Failure::quiet(exit::FAILURE))
    } else if failed > 0 {
        Err(Failure::quiet(exit::COMPILE))
    } else {
        Ok(())
    }
}

fn crashed(e: &tokio::task::JoinError) -> Outcome {
    Outcome {
        verdict: Verdict::Error {
            message: format!("this is a bug in flow: the test's task stopped ({e})"),
            code: Some("flow::internal".into()),
            span: None,
        },
        calls: 0,
        saved: 0,
    }
}

/// `ok      FILE: NAME`, or `FAILED` with what did not hold and where.
fn human(r: &Result_, repeat: u32) -> String {
    let source = r.program.source();
    let rate = if repeat > 1 {
        format!(" ({}/{} runs passed)", r.passes(), r.runs.len())
    } else {
        String::new()
    };
    let status = if r.passed() { "ok    " } else { "FAILED" };
    let mut out = format!("{status} {}: {}{rate}\n", source.name, r.test.name);
    let Some(outcome) = r.first_failure() else {
        return out;
    };
    let at = |span: crate::syntax::Span| {
        let (line, col) = position(&source.text, span.start);
        format!("{}:{line}:{col}", source.name)
    };
    match &outcome.verdict {
        Verdict::Passed => {}
        Verdict::Failed(missed) => {
            for m in missed {
                let text = source
                    .text
                    .get(m.span.start..m.span.end)
                    .unwrap_or("expect ...");
                let text = crate::text::shorten(&text.replace('\n', " "), 120);
                out.push_str(&format!(
                    "  {}: {text}\n    {}\n",
                    at(m.span),
                    m.failure.message
                ));
            }
        }
        Verdict::Error {
            message,
            code,
            span,
        } => {
            let place = span.map(|s| format!("{}: ", at(s))).unwrap_or_default();
            let code = code
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            out.push_str(&format!("  {place}could not run: {message}{code}\n"));
        }
    }
    out
}

fn document(results: &[Result_], repeat: u32, passed: usize, failed: usize) -> serde_json::Value {
    let tests: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let source = r.program.source();
            let place = |span: crate::syntax::Span| {
                let (line, column) = position(&source.text, span.start);
                json!({"line": line, "column": column})
            };
            let failures: Vec<serde_json::Value> = match r.first_failure().map(|o| &o.verdict) {
                Some(Verdict::Failed(missed)) => missed
                    .iter()
                    .map(|m| {
                        json!({
                            "expect": source.text.get(m.span.start..m.span.end),
                            "at": place(m.span),
                            "message": m.failure.message,
                            "actual": m.failure.actual,
                            "expected": m.failure.expected,
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let error = match r.first_failure().map(|o| &o.verdict) {
                Some(Verdict::Error {
                    message,
                    code,
                    span,
                }) => json!({"message": message, "code": code, "at": span.map(place)}),
                _ => serde_json::Value::Null,
            };
            json!({
                "file": source.name,
                "name": r.test.name,
                "passed": r.passed(),
                "runs": r.runs.len(),
                "passes": r.passes(),
                "rate": r.passes() as f64 / r.runs.len().max(1) as f64,
                "calls": r.runs.iter().map(|o| o.calls).sum::<u64>(),
                "failures": failures,
                "error": error,
            })
        })
        .collect();
    json!({
        "tests": tests,
        "repeat": repeat,
        "passed": passed,
        "failed": failed,
    })
}

//! Running one test: an engine of its own (the test's models swapped in,
//! nothing shared with other tests), its inputs bound by the engine's
//! rules, one run, then every expectation judged.

use miette::Diagnostic;

use super::TestCase;
use super::expect::{Facts, Failure, judge};
use crate::engine::{Engine, EngineOptions, LimitsRegistry, ModelOverride, Program, RunControl};
use crate::syntax::Span;

/// How a test ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every expectation held.
    Passed,
    /// These expectations did not hold, in written order.
    Failed(Vec<Missed>),
    /// The run could not be judged: an engine that could not be built (a
    /// missing key), inputs refused, a run that failed.
    Error {
        /// What went wrong, in one line.
        message: String,
        /// Its diagnostic code.
        code: Option<String>,
        /// Where in the program, when known.
        span: Option<Span>,
    },
}

/// An expectation that did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Missed {
    /// Its position among the test's expectations, from 0.
    pub index: usize,
    /// The `expect` line.
    pub span: Span,
    /// What was wanted and what was found.
    pub failure: Failure,
}

/// One run of one test.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Passed, failed or could not run.
    pub verdict: Verdict,
    /// Attempts the run sent to a provider.
    pub calls: u64,
    /// Samples its votes did not need.
    pub saved: u64,
}

impl Outcome {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Passed
    }

    fn error(d: &dyn Diagnostic, fallback: Option<Span>) -> Outcome {
        let span = d
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|l| Span::new(l.offset(), l.offset() + l.len()))
            .or(fallback);
        Outcome {
            verdict: Verdict::Error {
                message: d.to_string(),
                code: d.code().map(|c| c.to_string()),
                span,
            },
            calls: 0,
            saved: 0,
        }
    }
}

/// Runs `test` of `program` once. `offline` swaps every model still real
/// after the test's own replacements for a placeholder-inventing stand-in.
/// Runs of one test given the same `limits` share its models' `concurrency`
/// and `rpm`, as `--repeat` needs against a real provider.
pub async fn run_test(
    program: &Program,
    test: &TestCase,
    offline: bool,
    limits: Option<LimitsRegistry>,
) -> Outcome {
    let options = EngineOptions {
        offline,
        limits,
        models: test
            .models
            .iter()
            .map(|spec| ModelOverride {
                name: spec.name.clone(),
                spec: spec.clone(),
            })
            .collect(),
        ..EngineOptions::default()
    };
    let engine = match Engine::new(program, options) {
        Ok(engine) => engine,
        Err(e) => return Outcome::error(&e, Some(test.span)),
    };
    let inputs = match engine.bind_json(serde_json::Value::Object(test.inputs.clone())) {
        Ok(inputs) => inputs,
        Err(errors) => {
            return match errors.first() {
                Some(e) => Outcome::error(e, Some(test.span)),
                None => Outcome::error(
                    &crate::InternalError::new("inputs refused without a reason"),
                    None,
                ),
            };
        }
    };
    let report = engine.run(inputs, RunControl::default()).await;
    engine.close();
    let (calls, saved) = (report.stats.calls, report.stats.saved);
    let outputs = match &report.outputs {
        Ok(outputs) => outputs,
        Err(e) => {
            let mut outcome = Outcome::error(e, None);
            outcome.calls = calls;
            outcome.saved = saved;
            return outcome;
        }
    };
    let facts = Facts {
        outputs,
        calls,
        saved,
    };
    let missed: Vec<Missed> = test
        .expects
        .iter()
        .enumerate()
        .filter_map(|(index, x)| {
            judge(x, &facts).err().map(|failure| Missed {
                index,
                span: x.span,
                failure: *failure,
            })
        })
        .collect();
    Outcome {
        verdict: if missed.is_empty() {
            Verdict::Passed
        } else {
            Verdict::Failed(missed)
        },
        calls,
        saved,
    }
}

//! `flow run --batch-api`: the passes of `crate::batch` before the run
//! itself, which then finds every batched reply in the cache. Progress (the
//! batches' ids and states) goes to stderr as it happens; the summary, with
//! the batch discount, after.

use std::io::Write;
use std::time::Duration;

use miette::Diagnostic;
use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::exit;
use super::setup;
use super::terminal::{Failure, Terminal};
use crate::batch::{BatchEvent, BatchOptions, BatchPass, BatchSummary, DISCOUNT};
use crate::engine::{Engine, Inputs};

#[derive(Debug, thiserror::Error, Diagnostic)]
enum UsageError {
    #[error("`--batch-api` reads the rows twice, so it needs a rows file, not standard input")]
    #[diagnostic(
        code(flow::batch_api::stdin),
        help("save the rows to a file and pass its path to `--inputs`")
    )]
    Stdin,
    #[error("cannot read the rows from `{path}`: {reason}")]
    #[diagnostic(code(flow::batch::rows_file), help("check the path after `--inputs`"))]
    Rows { path: String, reason: String },
}

/// Runs the batch passes for `args` on `engine`; the engine for the last
/// run (batched replies cached, failed requests failing with the
/// provider's message) and the summary to show after it.
pub(super) fn prepare(
    engine: &Engine,
    args: &RunArgs,
    single: Option<&Inputs>,
) -> Result<(Engine, BatchSummary), Failure> {
    let rows = match (single, &args.batch.rows) {
        (Some(inputs), _) => vec![inputs.clone()],
        (None, Some(path)) if path.as_os_str() == "-" => {
            return Err(Failure::run(UsageError::Stdin, None));
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::run(
                    UsageError::Rows {
                        path: path.display().to_string(),
                        reason: crate::text::io_reason(&e),
                    },
                    None,
                )
            })?;
            // A row that does not bind is the last run's to report.
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| engine.bind_json_text(l).ok())
                .collect()
        }
        (None, None) => Vec::new(),
    };
    let poll_max = args.batch.batch_poll.unwrap_or(Duration::from_secs(60));
    let options = BatchOptions {
        poll_first: poll_max.min(Duration::from_secs(1)),
        poll_max,
        submit_only: args.batch.batch_submit_only,
        ..BatchOptions::default()
    };
    let tokio = setup::tokio_runtime()?;
    let cancel = CancellationToken::new();
    let stopped = setup::Stopped::default();
    let outcome = tokio.block_on(async {
        let signal = setup::cancel_on_signal(cancel.clone(), stopped.clone());
        let out = crate::batch::complete(engine, &rows, &options, &cancel, &show).await;
        signal.abort();
        out
    });
    match outcome {
        Ok(summary) if summary.stopped => {
            show_line(&format!(
                "batch API: submitted {}; run the same command again to pick {} up",
                summary.batches.join(", "),
                if summary.batches.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            ));
            Err(Failure::quiet(exit::OK))
        }
        Ok(summary) => Ok((
            engine.in_batch(BatchPass::finishing(summary.failures.clone())),
            summary,
        )),
        Err(e) => {
            let code = setup::stopped_code(&stopped);
            match code {
                Some(code) => {
                    let report = super::report::render(&e, None, super::report::Style::detect());
                    show_line(report.trim_end());
                    Err(Failure::quiet(code))
                }
                None => Err(Failure::run(e, None)),
            }
        }
    }
}

/// The summary after the last run: requests, batches, passes, and the cost
/// at the batch price.
pub(super) fn show_summary(
    engine: &Engine,
    summary: &BatchSummary,
    json: bool,
    term: &mut Terminal,
) {
    let prices = crate::runtime::prices(&engine.graph().models);
    let cost = summary.cost_usd(&prices);
    if json {
        let doc = serde_json::json!({"batch_api": {
            "passes": summary.passes,
            "batches": summary.batches,
            "answered": summary.answered,
            "failed": summary.failed,
            "input_tokens": summary.usage.values().map(|u| u.input_tokens).sum::<u64>(),
            "output_tokens": summary.usage.values().map(|u| u.output_tokens).sum::<u64>(),
            "batch_discount": DISCOUNT,
            "cost_usd": cost,
        }});
        term.err(&format!("{doc}\n"));
    } else {
        let cost = cost.map_or(String::new(), |c| {
            format!(
                ", ${c:.4} at the batch price ({}% off)",
                (DISCOUNT * 100.0) as u32
            )
        });
        term.err(&format!(
            "batch API: {} requests answered, {} failed, in {} batches over {} passes{cost}\n",
            summary.answered,
            summary.failed,
            summary.batches.len(),
            summary.passes,
        ));
    }
}

fn show(event: BatchEvent) {
    use super::check::plural;
    let line = match event {
        BatchEvent::Pass {
            number,
            rows,
            requests,
        } => format!(
            "batch API: pass {number}: {} from {}",
            plural(requests, "request"),
            plural(rows, "row")
        ),
        BatchEvent::Submitted { id, requests } => {
            format!(
                "batch API: submitted {id} ({})",
                plural(requests, "request")
            )
        }
        BatchEvent::PickedUp { id, requests } => format!(
            "batch API: picked up {id} ({}) from an earlier run",
            plural(requests, "request")
        ),
        BatchEvent::Status(s) => format!(
            "batch API: {} {} ({}/{} done, {} failed)",
            s.id, s.state, s.done, s.total, s.failed
        ),
    };
    show_line(&line);
}

/// Progress as it happens: the batch runs for minutes or hours before the
/// command has anything else to say.
fn show_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

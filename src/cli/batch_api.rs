//! `flow run --batch-api`: the passes of `crate::batch` before the run
//! itself, which then finds every batched reply in the cache. Progress (the
//! batches' ids and states) is `progress::BatchProgress`'s; the summary, with
//! the batch discount, comes after the run, in its JSON object with `--json`.

use std::time::Duration;

use miette::Diagnostic;
use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::exit;
use super::progress::BatchProgress;
use super::setup;
use super::terminal::{Failure, Terminal};
use crate::batch::{BatchOptions, BatchPass, BatchSummary, DISCOUNT};
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
    term: &mut Terminal,
) -> Result<(Engine, BatchSummary), Failure> {
    // The rows are read again for each pass: only a chunk is held at once.
    let path = match (single, &args.batch.rows) {
        (Some(_), _) | (None, None) => None,
        (None, Some(path)) if path.as_os_str() == "-" => {
            return Err(Failure::run(UsageError::Stdin, None));
        }
        (None, Some(path)) => {
            // A path that does not open is said before anything runs.
            std::fs::File::open(path).map_err(|e| {
                Failure::run(
                    UsageError::Rows {
                        path: path.display().to_string(),
                        reason: crate::text::io_reason(&e),
                    },
                    None,
                )
            })?;
            Some(path.clone())
        }
    };
    let rows = move || -> Box<dyn Iterator<Item = Inputs> + '_> {
        use std::io::BufRead;
        match (single, &path) {
            (Some(inputs), _) => Box::new(std::iter::once(inputs.clone())),
            (None, Some(path)) => match std::fs::File::open(path) {
                // A row that does not bind, or a file that fails part-way,
                // is the last run's to report: it reads the file again.
                Ok(file) => Box::new(
                    std::io::BufReader::new(file)
                        .lines()
                        .map_while(Result::ok)
                        .filter(|l| !l.trim().is_empty())
                        .filter_map(|l| engine.bind_json_text(&l).ok()),
                ),
                Err(_) => Box::new(std::iter::empty()),
            },
            (None, None) => Box::new(std::iter::empty()),
        }
    };
    let poll_max = args.batch.batch_poll.unwrap_or(Duration::from_secs(60));
    let options = BatchOptions {
        poll_first: poll_max.min(Duration::from_secs(1)),
        poll_max,
        submit_only: args.batch.batch_submit_only,
        chunk: args.batch.window.map_or(4096, |w| w as usize),
        ..BatchOptions::default()
    };
    let tokio = setup::tokio_runtime()?;
    let cancel = CancellationToken::new();
    let stopped = setup::Stopped::default();
    let progress = BatchProgress::start();
    let outcome = tokio.block_on(async {
        let signal = setup::cancel_on_signal(cancel.clone(), stopped.clone());
        let out =
            crate::batch::complete(engine, &rows, &options, &cancel, &|e| progress.event(e)).await;
        signal.abort();
        out
    });
    progress.finish();
    match outcome {
        Ok(summary) if summary.stopped => {
            term.err(&format!(
                "batch API: submitted {}; run the same command again to pick {} up\n",
                summary.batches.join(", "),
                if summary.batches.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            ));
            Err(Failure::quiet(exit::OK))
        }
        Ok(summary) => Ok((engine.in_batch(BatchPass::finishing(&summary)), summary)),
        Err(e) => {
            // Stopped by a signal: the exit code says which.
            let code = setup::stopped_code(&stopped).unwrap_or(exit::FAILURE);
            Err(Failure::new(e, Some(engine.source()), code))
        }
    }
}

/// The batch API's summary once a run ends: with `--json` a value for the
/// run's own JSON object, else its lines shown on the terminal now.
pub(super) fn finish(
    engine: &Engine,
    batched: Option<&BatchSummary>,
    json: bool,
    term: &mut Terminal,
) -> Option<serde_json::Value> {
    let summary = batched?;
    if json {
        return Some(summary_json(engine, summary));
    }
    show_summary(engine, summary, term);
    None
}

/// The batch summary as `--json` gives it: the `batch_api` member of the
/// run's (or the batch's) JSON object.
pub(super) fn summary_json(engine: &Engine, summary: &BatchSummary) -> serde_json::Value {
    let prices = crate::runtime::prices(&engine.graph().models);
    serde_json::json!({
        "passes": summary.passes,
        "batches": summary.batches,
        "answered": summary.answered,
        "failed": summary.failed,
        "input_tokens": summary.usage.values().map(|u| u.input_tokens).sum::<u64>(),
        "output_tokens": summary.usage.values().map(|u| u.output_tokens).sum::<u64>(),
        "batch_discount": DISCOUNT,
        "cost_usd": summary.cost_usd(&prices),
    })
}

/// The summary after the last run, for people: requests, batches, passes,
/// and the cost at the batch price.
pub(super) fn show_summary(engine: &Engine, summary: &BatchSummary, term: &mut Terminal) {
    let prices = crate::runtime::prices(&engine.graph().models);
    let cost = summary.cost_usd(&prices).map_or(String::new(), |c| {
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

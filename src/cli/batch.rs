//! `flow run FILE --inputs ROWS.jsonl`: the program once per row.
//!
//! Every row shares one set of per-model limits and one cache, so a batch
//! runs as fast as the models' `concurrency` and `rpm` allow, however many
//! rows it has. Results are written in input order as soon as the rows
//! before them are done; a failed row is an error line, not the end of the
//! batch (unless `--fail-fast`). A batch stopped by Ctrl-C, a crash or a kill
//! loses no completed call: re-running it answers them from the cache.

mod count;
mod lines;
mod rows;

use std::collections::BTreeMap;
use std::io::Write;

use indexmap::IndexMap;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::Diagnostic;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::terminal::{Failure, Terminal};
use super::{cache_cmd, exit, setup, source};
use crate::engine::{Engine, RunControl, SourceFile};
use crate::graph::FlowGraph;
use crate::internal::InternalError;
use crate::runtime::{ModelStats, Prices, RunError, RunStats, prices};
use crate::value::{Value, outputs_json};
use rows::RowError;

/// Failed rows whose diagnostics are printed in full; the rest are counted.
const SHOWN_FAILURES: usize = 3;

#[derive(Debug, thiserror::Error, Diagnostic)]
enum BatchError {
    #[error("cannot read the rows from `{path}`: {reason}")]
    #[diagnostic(
        code(flow::batch::rows_file),
        help("check the path after `--inputs`; `--inputs -` reads standard input")
    )]
    Rows { path: String, reason: String },

    #[error("cannot write the results to `{path}`: {reason}")]
    #[diagnostic(
        code(flow::batch::output_file),
        help("check that the folder exists and is writable")
    )]
    Output { path: String, reason: String },

    #[error("`--shard` needs a rows file it can read twice, not standard input")]
    #[diagnostic(
        code(flow::batch::shard_stdin),
        help(
            "save the rows to a file and pass its path to `--inputs`; each shard counts the file's lines to find its slice"
        )
    )]
    ShardStdin,
}

pub(super) fn run(args: &RunArgs, term: &mut Terminal) -> Result<(), Failure> {
    setup::check_stdin(args)?;
    let Some(rows_path) = &args.batch.rows else {
        return Err(Failure::quiet(exit::FAILURE));
    };
    let program = source::load(&args.file, "run it", term)?;
    let src = program.source().clone();
    // Counting the rows is only for the bar, drawn only on a terminal.
    let bar_shown = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal()
    };
    let opened =
        lines::open(rows_path, args.batch.shard, bar_shown).map_err(|e| Failure::run(e, None))?;
    let share = match args.batch.shard {
        Some(shard) if !args.batch.full_limits => u32::try_from(shard.count).unwrap_or(u32::MAX),
        _ => 1,
    };
    let engine = setup::engine_shared(&program, args, share, term)?;
    let (engine, batched) = if args.batch.batch_api {
        let (engine, summary) = super::batch_api::prepare(&engine, args, None, term)?;
        (engine, Some(summary))
    } else {
        (engine, None)
    };
    let mut out: Box<dyn Write + Send> = match &args.batch.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                return Err(Failure::run(
                    BatchError::Output {
                        path: path.display().to_string(),
                        reason: crate::text::io_reason(&e),
                    },
                    None,
                ));
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let tokio = setup::tokio_runtime()?;
    let jobs = args
        .batch
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| default_jobs(engine.graph()));
    let window = args
        .batch
        .window
        .map(|w| w as usize)
        .unwrap_or_else(|| jobs.saturating_mul(4).max(256));
    let countable = opened.countable;
    let bar = bar_shown.then(|| progress_bar(opened.rows, ProgressDrawTarget::stderr()));
    // The channel holds a few lines ahead, so a row can start the moment
    // there is room; the window, not the channel, bounds what is held.
    let lines = lines::spawn(opened, jobs.min(window).clamp(16, 1024));
    let batch = Batch {
        engine: engine.clone(),
        fail_fast: args.batch.fail_fast,
        jobs: jobs.min(window),
        window,
        countable,
        bar,
    };
    // From here the batch writes its own lines and summary; a failed row is
    // one of them, not a reason for another JSON document.
    term.json_written();
    let outcome = tokio.block_on(batch.execute(lines, &mut *out));
    let lost = cache_cmd::show_close(engine.close(), term);
    // With `--json` the batch API's summary is part of the batch's object.
    let batch_json = super::batch_api::finish(&engine, batched.as_ref(), args.json, term);

    for failure in outcome.shown.iter() {
        show_failure(failure, &src, term);
    }
    if let Some(e) = &outcome.internal {
        term.diagnostic(e, None);
    }
    if let Some(e) = &outcome.read_error {
        term.diagnostic(e, None);
    }
    if let Some(e) = &outcome.write_error {
        term.diagnostic(
            &BatchError::Output {
                path: args
                    .batch
                    .output
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "standard output".into()),
                reason: e.clone(),
            },
            None,
        );
    }
    if outcome.reader_gone && outcome.internal.is_none() {
        // Whoever read the results has what they wanted (`| head`): no
        // summary, no error, as any well-behaved filter.
        return if lost {
            Err(Failure::quiet(exit::FAILURE))
        } else {
            Ok(())
        };
    }
    let mut summary = outcome.summary(&outcome.prices);
    summary.batch_api = batch_json;
    let text = if args.json {
        format!("{}\n", serde_json::to_string(&summary).unwrap_or_default())
    } else {
        summary_text(&summary)
    };
    // Results on stdout leave it to them; a results file frees stdout.
    if args.batch.output.is_some() {
        term.out(&text);
    } else {
        term.err(&text);
    }
    if let Some(code) = outcome.stopped {
        Err(Failure::quiet(code))
    } else if summary.failed > 0
        || summary.not_run > 0
        || lost
        || outcome.write_error.is_some()
        || outcome.internal.is_some()
        || outcome.read_error.is_some()
    {
        Err(Failure::quiet(exit::FAILURE))
    } else {
        Ok(())
    }
}

fn show_failure(failure: &Failure_, src: &SourceFile, term: &mut Terminal) {
    match failure {
        Failure_::Input(e) => term.diagnostic(e, None),
        Failure_::Run { line, error } => {
            term.err(&format!("row on line {line} failed:\n"));
            term.diagnostic(error, Some(src));
        }
    }
}

/// Rows in flight: enough that every model's `concurrency` can be kept
/// busy even when a row makes its calls one after another; a modest number
/// when some model sets no limit, since then nothing else would bound it.
fn default_jobs(graph: &FlowGraph) -> usize {
    let mut total: u64 = 0;
    for spec in graph.models.values() {
        match spec.options.concurrency {
            Some(n) if n > 0 => total = total.saturating_add(u64::from(n)),
            _ => return 64,
        }
    }
    usize::try_from(total.clamp(16, 4096)).unwrap_or(4096)
}

/// The rows share one engine: its providers, limits, cache and budget.
struct Batch {
    engine: Engine,
    fail_fast: bool,
    /// Rows running at once at most.
    jobs: usize,
    /// Rows held at once at most: running, or done and waiting for an
    /// earlier row so that results stay in input order.
    window: usize,
    /// After a stop, the rest of the file is read only to count its rows.
    countable: bool,
    /// The progress bar, on a terminal.
    bar: Option<ProgressBar>,
}

/// Why one row did not give outputs.
enum Failure_ {
    Input(RowError),
    Run { line: usize, error: RunError },
}

/// One row, done.
struct Done {
    line: usize,
    result: Result<IndexMap<String, Value>, Failure_>,
    /// `None` for a row that never ran (its line was invalid).
    stats: Option<RunStats>,
}

#[derive(Default)]
struct Outcome {
    rows: usize,
    ok: usize,
    failed: usize,
    first_failed_line: Option<usize>,
    interrupted: bool,
    /// The exit code of the signal that stopped the batch.
    stopped: Option<u8>,
    shown: Vec<Failure_>,
    write_error: Option<String>,
    /// The reader of standard output went away (`| head`): stop quietly.
    reader_gone: bool,
    internal: Option<InternalError>,
    /// The rows file failed part-way; the rows before it ran.
    read_error: Option<BatchError>,
    stats: RunStats,
    prices: Prices,
    wall_ms: u64,
}

/// What the batch did, for people (text) and programs (`--json`).
#[derive(Debug, serde::Serialize)]
struct Summary {
    rows: usize,
    ok: usize,
    failed: usize,
    /// Rows never finished: stopped by Ctrl-C or `--fail-fast`.
    not_run: usize,
    first_failed_line: Option<usize>,
    interrupted: bool,
    calls: u64,
    cache_hits: u64,
    cache_misses: u64,
    retries: u64,
    reasks: u64,
    abstained: u64,
    saved: u64,
    input_tokens: u64,
    output_tokens: u64,
    usage_unknown: u64,
    cost_usd: Option<f64>,
    wall_ms: u64,
    models: IndexMap<String, ModelStats>,
    /// With `--batch-api`: passes, batches, requests and the batch price.
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_api: Option<serde_json::Value>,
}

impl Outcome {
    fn summary(&self, prices: &Prices) -> Summary {
        let mut s = self.stats.clone();
        s.price(prices);
        Summary {
            rows: self.rows,
            ok: self.ok,
            failed: self.failed,
            not_run: self.rows.saturating_sub(self.ok + self.failed),
            first_failed_line: self.first_failed_line,
            interrupted: self.interrupted,
            calls: s.calls,
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            retries: s.retries,
            reasks: s.reasks,
            abstained: s.abstained,
            saved: s.saved,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            usage_unknown: s.usage_unknown,
            cost_usd: s.cost_usd,
            wall_ms: self.wall_ms,
            models: s.models,
            batch_api: None,
        }
    }

    fn cost(&self) -> Option<f64> {
        let mut s = self.stats.clone();
        s.price(&self.prices);
        s.cost_usd
    }
}

impl Batch {
    async fn execute(self, mut lines: lines::Lines, out: &mut (dyn Write + Send)) -> Outcome {
        let start = Instant::now();
        let cancel = CancellationToken::new();
        let stopped = setup::Stopped::default();
        let ctrl_c = setup::cancel_on_signal(cancel.clone(), stopped.clone());
        let mut outcome = Outcome {
            prices: prices(&self.engine.graph().models),
            ..Outcome::default()
        };
        let bar = self.bar.clone();

        let mut tasks: JoinSet<(usize, Done)> = JoinSet::new();
        let mut done: BTreeMap<usize, Done> = BTreeMap::new();
        let mut next_index = 0usize;
        let mut next_to_write = 0usize;
        let mut finished = 0usize;
        let mut lines_done = false;
        // With `--fail-fast`, an invalid row stops the queue there: the rows
        // before it still run and are written, then it is, as a failure.
        let mut queue_stopped = false;
        loop {
            // Everything done before the next unwritten row goes out now.
            while !(self.fail_fast && outcome.failed > 0)
                && let Some(d) = done.remove(&next_to_write)
            {
                next_to_write += 1;
                finished += 1;
                self.account(&mut outcome, d, out, &cancel);
                bar_update(&bar, finished, &outcome);
            }
            let stopping = cancel.is_cancelled() || queue_stopped;
            if tasks.is_empty() && (stopping || lines_done) {
                break;
            }
            // Backpressure: a full window starts nothing, so the reader
            // blocks on its channel and memory stays bounded.
            let room = !stopping
                && !lines_done
                && tasks.len() < self.jobs
                && tasks.len() + done.len() < self.window;
            tokio::select! {
                biased;
                joined = tasks.join_next(), if !tasks.is_empty() => {
                    self.joined(joined, &mut outcome, &mut done, &cancel);
                }
                line = lines.recv(), if room => match line {
                    None => lines_done = true,
                    Some(Err(e)) => {
                        outcome.read_error = Some(e);
                        lines_done = true;
                    }
                    Some(Ok(raw)) => {
                        let index = next_index;
                        next_index += 1;
                        outcome.rows += 1;
                        let row = rows::from_raw(&self.engine, raw);
                        match row.inputs {
                            Err(e) => {
                                done.insert(
                                    index,
                                    Done {
                                        line: row.line,
                                        result: Err(Failure_::Input(e)),
                                        stats: None,
                                    },
                                );
                                queue_stopped = self.fail_fast;
                            }
                            Ok(inputs) => self.start(&mut tasks, index, row.line, inputs, &cancel),
                        }
                    }
                },
                () = cancel.cancelled(), if room => {}
            }
        }
        // Rows never started are counted as not run, as when the whole
        // file was read first; standard input is left alone, since it
        // might never end.
        if !lines_done && self.countable && outcome.read_error.is_none() {
            while let Some(Ok(_)) = lines.recv().await {
                outcome.rows += 1;
            }
        }
        drop(lines);
        ctrl_c.abort();
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        match out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => outcome.reader_gone = true,
            Err(e) if !outcome.reader_gone => {
                outcome.write_error.get_or_insert_with(|| e.to_string());
            }
            _ => {}
        }
        outcome.stopped = setup::stopped_code(&stopped);
        outcome.interrupted = outcome.stopped.is_some();
        outcome.wall_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        outcome
    }

    fn start(
        &self,
        tasks: &mut JoinSet<(usize, Done)>,
        index: usize,
        line: usize,
        inputs: crate::engine::Inputs,
        cancel: &CancellationToken,
    ) {
        let control = RunControl {
            cancel: cancel.child_token(),
            events: None,
            stream: false,
            // A row's report gives its outputs and statistics, never a trace.
            untraced: true,
        };
        let engine = self.engine.clone();
        tasks.spawn(async move {
            let report = engine.run(inputs, control).await;
            let result = report
                .outputs
                .map_err(|error| Failure_::Run { line, error });
            (
                index,
                Done {
                    line,
                    result,
                    stats: Some(report.stats),
                },
            )
        });
    }

    fn joined(
        &self,
        joined: Option<Result<(usize, Done), tokio::task::JoinError>>,
        outcome: &mut Outcome,
        done: &mut BTreeMap<usize, Done>,
        cancel: &CancellationToken,
    ) {
        match joined {
            Some(Ok((index, d))) => {
                // Counted when done, written or not: a cancelled row's
                // calls were made (and paid for) all the same.
                if let Some(stats) = &d.stats {
                    outcome.stats.add(stats);
                }
                let cancelled = matches!(
                    &d.result,
                    Err(Failure_::Run {
                        error: RunError::Cancelled,
                        ..
                    })
                );
                // A row stopped by Ctrl-C or `--fail-fast` did not fail:
                // it is left out, and a re-run does it.
                if !cancelled {
                    done.insert(index, d);
                }
            }
            Some(Err(e)) => {
                // A row task that panicked is a bug in flow; stop cleanly.
                outcome.internal.get_or_insert_with(|| {
                    InternalError::new(format!("a row's task stopped: {e}"))
                });
                cancel.cancel();
            }
            None => {}
        }
    }

    /// Writes one finished row in order and counts it.
    fn account(
        &self,
        outcome: &mut Outcome,
        d: Done,
        out: &mut (dyn Write + Send),
        cancel: &CancellationToken,
    ) {
        // `line` first, whatever the JSON library's key order.
        let mut placeholders = Vec::new();
        let (key, body) = match &d.result {
            Ok(outputs) => {
                outcome.ok += 1;
                placeholders = crate::value::placeholder_paths(outputs);
                ("outputs", outputs_json(outputs))
            }
            Err(f) => {
                outcome.failed += 1;
                outcome.first_failed_line.get_or_insert(d.line);
                let (code, message) = match f {
                    Failure_::Input(e) => (e.code_str(), e.to_string()),
                    Failure_::Run { error, .. } => (error.code_str(), error.to_string()),
                };
                (
                    "error",
                    serde_json::json!({"code": code, "message": message}),
                )
            }
        };
        if outcome.write_error.is_none() && !outcome.reader_gone {
            // `placeholders` only when an offline run invented values, as for `--json`.
            let extra = if placeholders.is_empty() {
                String::new()
            } else {
                format!(",\"placeholders\":{}", serde_json::json!(placeholders))
            };
            let line = format!("{{\"line\":{},\"{key}\":{body}{extra}}}\n", d.line);
            let written = out.write_all(line.as_bytes()).and_then(|()| out.flush());
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    outcome.reader_gone = true;
                    cancel.cancel();
                }
                Err(e) => {
                    // Nowhere to put results: stop rather than run for nothing.
                    outcome.write_error = Some(e.to_string());
                    cancel.cancel();
                }
            }
        }
        if let Err(f) = d.result {
            if outcome.shown.len() < SHOWN_FAILURES {
                outcome.shown.push(f);
            }
            if self.fail_fast {
                cancel.cancel();
            }
        }
    }
}

/// Rows done of how many, with an ETA, when the rows file was counted
/// first (a regular file); only rows done when rows come from a pipe or
/// standard input, whose number is not known until they end. Either way
/// with the calls, tokens and cost so far.
fn progress_bar(total: Option<usize>, target: ProgressDrawTarget) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total.map(|t| t as u64), target);
    let template = match total {
        Some(_) => "{spinner} [{elapsed_precise}] {bar:30} rows {pos}/{len}, ETA {eta}  {msg}",
        None => "{spinner} [{elapsed_precise}] {pos} rows  {msg}",
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn bar_update(bar: &Option<ProgressBar>, finished: usize, o: &Outcome) {
    let Some(bar) = bar else { return };
    bar.set_position(finished as u64);
    let s = &o.stats;
    let cost = o.cost().map(|c| format!(", ${c:.4}")).unwrap_or_default();
    bar.set_message(format!(
        "{} calls, {} cached, {} tokens{cost}",
        s.calls,
        s.cache_hits,
        s.input_tokens + s.output_tokens
    ));
}

fn summary_text(s: &Summary) -> String {
    let mut out = format!(
        "{} {}: {} ok, {} failed",
        s.rows,
        if s.rows == 1 { "row" } else { "rows" },
        s.ok,
        s.failed
    );
    if s.not_run > 0 {
        out.push_str(&format!(", {} not run", s.not_run));
    }
    if let Some(line) = s.first_failed_line {
        out.push_str(&format!(" (first failure on line {line})"));
    }
    out.push_str(&format!(
        " in {:.1}s\n{} calls made, {} answered from the cache, {} retries, {} saved by early votes",
        s.wall_ms as f64 / 1000.0,
        s.calls,
        s.cache_hits,
        s.retries,
        s.saved,
    ));
    out.push_str(&super::run::reasks_and_abstentions(s.reasks, s.abstained));
    out.push_str(&format!(
        "\n{} input and {} output tokens{}",
        s.input_tokens,
        s.output_tokens,
        super::run::unknown_usage(s.usage_unknown)
    ));
    match s.cost_usd {
        Some(c) => out.push_str(&format!(", ${c:.4}\n")),
        None => out.push('\n'),
    }
    let width = s.models.keys().map(String::len).max().unwrap_or(0);
    for (name, m) in &s.models {
        if m.calls == 0 && m.cache_hits == 0 {
            continue;
        }
        let cost = m.cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default();
        out.push_str(&format!(
            "  {name:width$}  {} calls, {} cached, {} in / {} out tokens{cost}\n",
            m.calls, m.cache_hits, m.input_tokens, m.output_tokens
        ));
    }
    if s.interrupted {
        out.push_str(
            "interrupted: re-run the same command to resume; completed calls come from the cache\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::engine::{EngineOptions, Program};

    /// Results land here; the test reads them when the batch is done.
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_first_row_holds_back_at_most_the_window() {
        let program = Program::compile(
            "window.flow",
            r#"
model slow = mock(echo: true, latency: 400ms)
model fast = mock(echo: true)
input q: text
output r = if q == "slow" then ask slow "S {q}" else ask fast "F {q}"
"#,
        )
        .unwrap_or_else(|_| panic!("compiles"));
        let engine =
            Engine::new(&program, EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let batch = Batch {
            engine,
            fail_fast: false,
            jobs: 4,
            window: 4,
            countable: false,
            bar: None,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let sent = Arc::new(AtomicUsize::new(0));
        let feeder = {
            let sent = sent.clone();
            tokio::spawn(async move {
                for i in 1..=100usize {
                    let q = if i == 1 {
                        "slow".to_string()
                    } else {
                        format!("r{i}")
                    };
                    let raw = lines::RawLine {
                        line: i,
                        text: Ok(format!("{{\"q\": \"{q}\"}}")),
                    };
                    if tx.send(Ok(raw)).await.is_err() {
                        return;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let sink = Sink::default();
        let run = {
            let mut out = sink.clone();
            tokio::spawn(async move { batch.execute(rx, &mut out).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The window (4) and the channel (1) at most, while row 1 runs.
        let early = sent.load(Ordering::SeqCst);
        assert!(early <= 6, "{early} lines taken while the window was full");
        let outcome = run.await.unwrap_or_else(|e| panic!("{e}"));
        let _ = feeder.await;
        assert_eq!((outcome.rows, outcome.ok), (100, 100));
        let text = String::from_utf8(sink.0.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<usize> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["line"].as_u64())
            .map(|n| n as usize)
            .collect();
        assert_eq!(lines, (1..=100).collect::<Vec<_>>());
    }

    /// What the bar draws, as a terminal would show it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<std::sync::Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.write_str("\n")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A rows file is counted before it runs, so the bar shows rows done of
    /// the total (blank lines are no rows; a shard's total is its slice's)
    /// and reaches it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn progress_counts_rows_of_the_files_total() {
        let program = Program::compile(
            "total.flow",
            "model m = mock(echo: true)\ninput q: text\noutput r = ask m \"{q}\"\n",
        )
        .unwrap_or_else(|_| panic!("compiles"));
        let engine =
            Engine::new(&program, EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("rows.jsonl");
        let mut text = String::new();
        for i in 1..=30 {
            if i % 5 == 0 {
                text.push_str("  \n");
            } else {
                text.push_str(&format!("{{\"q\": \"r{i}\"}}\n"));
            }
        }
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        for (shard, total) in [
            (None, 24),
            // Lines 11..=20, of which 15 and 20 are blank.
            (Some(crate::cli::args::Shard { index: 1, count: 3 }), 8),
        ] {
            let opened = lines::open(&path, shard, true).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(opened.rows, Some(total), "{shard:?}");
            let screen = Screen::default();
            let bar = progress_bar(
                opened.rows,
                ProgressDrawTarget::term_like(Box::new(screen.clone())),
            );
            let batch = Batch {
                engine: engine.clone(),
                fail_fast: false,
                jobs: 4,
                window: 8,
                countable: true,
                bar: Some(bar.clone()),
            };
            let outcome = batch
                .execute(lines::spawn(opened, 4), &mut Sink::default())
                .await;
            assert_eq!((outcome.rows, outcome.ok), (total, total));
            assert_eq!(bar.length(), Some(total as u64));
            assert_eq!(bar.position(), total as u64);
            let drawn = screen.0.lock().map(|s| s.clone()).unwrap_or_default();
            assert!(
                drawn.contains(&format!("/{total}, ETA ")) && drawn.contains(" rows "),
                "{drawn}"
            );
        }
        // Without counting (standard input, or no terminal) there is no total.
        let opened = lines::open(&path, None, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened.rows, None);
    }
}

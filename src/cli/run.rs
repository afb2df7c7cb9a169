//! `flow run`: bind the inputs, build the engine, run once, print.

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use super::args::RunArgs;
use super::progress::Progress;
use super::terminal::{Failure, Terminal};
use super::{cache_cmd, exit, setup};
use crate::engine::inputs::{self, InputError, InputErrors};
use crate::engine::{Engine, Inputs, RunControl, SourceFile};
use crate::runtime::{self, RunError, RunReport};
use crate::value::{Value, outputs_json};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot write the trace to `{path}`: {reason}")]
#[diagnostic(
    code(flow::run::trace_file),
    help("check that the folder exists and is writable")
)]
struct TraceFile {
    path: String,
    reason: String,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot write the outputs to `{path}`: {reason}")]
#[diagnostic(
    code(flow::run::output_file),
    help("check that the folder exists and is writable")
)]
struct OutputFile {
    path: String,
    reason: String,
}

/// Where the run's outputs go: standard output, or the file `-o` names,
/// opened before any call so a bad path costs nothing.
enum Sink {
    Stdout,
    File { path: String, file: std::fs::File },
}

impl Sink {
    fn open(path: Option<&Path>) -> Result<Sink, Failure> {
        let Some(path) = path else {
            return Ok(Sink::Stdout);
        };
        let shown = path.display().to_string();
        std::fs::File::create(path)
            .map(|file| Sink::File {
                path: shown.clone(),
                file,
            })
            .map_err(|e| {
                Failure::run(
                    OutputFile {
                        path: shown,
                        reason: crate::text::io_reason(&e),
                    },
                    None,
                )
            })
    }

    fn write(&mut self, text: &str, term: &mut Terminal) -> Result<(), Failure> {
        use std::io::Write;
        match self {
            Sink::Stdout => {
                term.out(text);
                Ok(())
            }
            Sink::File { path, file } => file
                .write_all(text.as_bytes())
                .and_then(|()| file.flush())
                .map_err(|e| {
                    Failure::run(
                        OutputFile {
                            path: path.clone(),
                            reason: crate::text::io_reason(&e),
                        },
                        None,
                    )
                }),
        }
    }
}

pub fn run(args: RunArgs, term: &mut Terminal) -> Result<(), Failure> {
    setup::check_stdin(&args)?;
    let program = super::source::load(&args.file, "run it", term)?;
    // Inputs first: a typo in one should not wait for a key to be found.
    let given = bind(program.graph(), &args.inputs);
    let inputs = match given {
        Ok(inputs) => inputs,
        Err(errors) => {
            let src = program.source().clone();
            let mut errors = errors.0.into_iter();
            let last = errors.next_back();
            for e in errors {
                term.diagnostic(&e, Some(&src));
            }
            return Err(match last {
                Some(e) => Failure::run(e, Some(&src)),
                None => Failure::quiet(exit::FAILURE),
            });
        }
    };
    let engine = setup::engine(&program, &args, term)?;
    let (engine, batched) = if args.batch.batch_api {
        let (engine, summary) = super::batch_api::prepare(&engine, &args, Some(&inputs), term)?;
        (engine, Some(summary))
    } else {
        (engine, None)
    };
    let mut sink = Sink::open(args.batch.output.as_deref())?;
    let tokio = setup::tokio_runtime()?;
    // The run goes in a task on a worker rather than on this thread: from
    // `block_on`, every node the scheduler starts or finishes crosses between
    // this thread and a worker (two futex wake-ups, ~13 µs each on a VM).
    let stopped = setup::Stopped::default();
    // With `--stream`, the first output that can stream goes to the sink
    // chunk by chunk, from this thread, while the run goes on a worker.
    let streamed = args
        .stream
        .then(|| program.streamable_outputs().into_iter().next())
        .flatten();
    let mut shown = Shown::default();
    let traced = args.trace.is_some();
    let report = match &streamed {
        None => RunReport::from_task(tokio.block_on(tokio.spawn(execute(
            engine.clone(),
            inputs,
            stopped.clone(),
            None,
            traced,
        )))),
        Some(name) => {
            let (tx, mut chunks) = tokio::sync::mpsc::unbounded_channel();
            let task = tokio.spawn(execute(
                engine.clone(),
                inputs,
                stopped.clone(),
                Some(tx),
                traced,
            ));
            tokio.block_on(async {
                while let Some(event) = chunks.recv().await {
                    if let runtime::RunEvent::OutputChunk { name: output, text } = event
                        && output == *name
                    {
                        shown.any = true;
                        shown.newline = text.ends_with('\n');
                        sink.write(&text, term)?;
                    }
                }
                Ok::<(), Failure>(())
            })?;
            RunReport::from_task(tokio.block_on(task))
        }
    };
    let lost = cache_cmd::show_close(engine.close(), term);
    // With `--json` the batch summary is part of the run's JSON object.
    let batch_json = super::batch_api::finish(&engine, batched.as_ref(), args.json, term);

    if let Some(path) = &args.trace
        && let Err(e) = write_trace(path, &report)
    {
        term.diagnostic(&e, None);
    }
    let stopped = setup::stopped_code(&stopped);
    let streamed = streamed.map(|name| (name, shown));
    print_report(
        &report,
        program.source(),
        args.json.then_some(batch_json),
        streamed.as_ref(),
        &mut sink,
        term,
        stopped,
    )?;
    // The process exits next: freeing a large run's values, trace and
    // statistics one allocation at a time took longer than printing them
    // (10,000 calls: 4.7 M instructions), all after the answer was ready.
    std::mem::forget(report);
    // Nothing is left running that matters (the cache was closed above):
    // waiting for every worker to wind down took another millisecond.
    tokio.shutdown_background();
    if lost {
        return Err(Failure::quiet(exit::FAILURE));
    }
    Ok(())
}

/// `--input NAME=VALUE` / `NAME=@PATH`, every problem found at once.
fn bind(graph: &crate::graph::FlowGraph, raw: &[String]) -> Result<Inputs, InputErrors> {
    let mut given = Vec::new();
    let mut errors = Vec::new();
    for arg in raw {
        match inputs::parse_assignment(arg) {
            Ok(pair) => given.push(pair),
            Err(e) => errors.push(e),
        }
    }
    match inputs::bind(graph, given) {
        Ok(inputs) if errors.is_empty() => Ok(inputs),
        Ok(_) => Err(InputErrors(errors)),
        Err(more) => {
            // A malformed `--input` was probably meant for an input that is
            // now missing: saying both would repeat the one mistake.
            let malformed = !errors.is_empty();
            errors.extend(
                more.0
                    .into_iter()
                    .filter(|e| !(malformed && matches!(e, InputError::Missing { .. }))),
            );
            Err(InputErrors(errors))
        }
    }
}

/// What `--stream` printed of the streamed output.
#[derive(Debug, Default, Clone, Copy)]
struct Shown {
    /// Some text went out (the output's gate opened).
    any: bool,
    /// The last chunk ended a line.
    newline: bool,
}

/// Runs once; with `chunks`, the run streams and every event goes there
/// as well as to the progress bar. The trace is recorded only when
/// `traced` (`--trace` asked for it).
async fn execute(
    engine: Engine,
    inputs: Inputs,
    stopped: setup::Stopped,
    chunks: Option<tokio::sync::mpsc::UnboundedSender<runtime::RunEvent>>,
    traced: bool,
) -> RunReport {
    let cancel = tokio_util::sync::CancellationToken::new();
    let (progress, bar) = Progress::start();
    let signal = setup::cancel_on_signal(cancel.clone(), stopped);
    let stream = chunks.is_some();
    let (events, forward) = match chunks {
        None => (bar, None),
        Some(chunks) => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<runtime::RunEvent>();
            let forward = tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    if let Some(bar) = &bar {
                        let _ = bar.send(event.clone());
                    }
                    let _ = chunks.send(event);
                }
            });
            (Some(tx), Some(forward))
        }
    };
    let report = engine
        .run(
            inputs,
            RunControl {
                cancel,
                events,
                stream,
                untraced: !traced,
            },
        )
        .await;
    if let Some(forward) = forward {
        let _ = forward.await;
    }
    signal.abort();
    progress.finish().await;
    report
}

fn write_trace(path: &Path, report: &RunReport) -> Result<(), TraceFile> {
    let mut json = runtime::chrome_trace_json_with_gates(&report.trace, &report.gates);
    if let Some(events) = json.get_mut("traceEvents").and_then(|e| e.as_array_mut()) {
        events.extend(runtime::vote::vote_marks(
            &report.trace,
            &report.stats.votes,
        ));
    }
    let text = serde_json::to_string(&json).unwrap_or_default();
    std::fs::write(path, text).map_err(|e| TraceFile {
        path: path.display().to_string(),
        reason: crate::text::io_reason(&e),
    })
}

/// Prints the outputs, or the error and what finished; `json` is `--json`,
/// with the batch API's summary to add to the object, if any.
fn print_report(
    report: &RunReport,
    src: &Arc<SourceFile>,
    json: Option<Option<serde_json::Value>>,
    streamed: Option<&(String, Shown)>,
    sink: &mut Sink,
    term: &mut Terminal,
    stopped: Option<u8>,
) -> Result<(), Failure> {
    match &report.outputs {
        Ok(outputs) => {
            let rest;
            let outputs = match streamed {
                None => outputs,
                Some((name, shown)) => {
                    // The streamed output first: its chunks went out already,
                    // unless its gate shut and its value is the other branch.
                    let mut text = match (shown.any, outputs.get(name)) {
                        (true, _) if shown.newline => String::new(),
                        (true, _) => "\n".to_string(),
                        (false, Some(v)) => v.to_text(),
                        (false, None) => String::new(),
                    };
                    if !shown.any && !text.ends_with('\n') {
                        text.push('\n');
                    }
                    sink.write(&text, term)?;
                    rest = outputs
                        .iter()
                        .filter(|(k, _)| *k != name)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<IndexMap<_, _>>();
                    if rest.is_empty() {
                        return Ok(());
                    }
                    &rest
                }
            };
            if let Some(batch) = &json {
                let doc = json_doc(report, src, batch);
                sink.write(&format!("{}\n", pretty(&doc)), term)?;
            } else if let Some(text) = single_text(outputs) {
                let mut text = text.to_string();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                sink.write(&text, term)?;
            } else {
                sink.write(&format!("{}\n", pretty(&outputs_json(outputs))), term)?;
            }
            Ok(())
        }
        Err(error) => {
            // End the line a stream left open, before the error says why
            // the rest did not come.
            if let Some((_, shown)) = streamed
                && shown.any
                && !shown.newline
            {
                sink.write("\n", term)?;
            }
            term.diagnostic(error, Some(src));
            if let Some(batch) = &json {
                let doc = json_doc(report, src, batch);
                term.json_written();
                sink.write(&format!("{}\n", pretty(&doc)), term)?;
            } else {
                term.err(&finished_summary(report));
            }
            Err(Failure::quiet(if matches!(error, RunError::Cancelled) {
                stopped.unwrap_or(exit::INTERRUPTED)
            } else {
                exit::FAILURE
            }))
        }
    }
}

/// The run's JSON object, with `batch_api` when the calls went in batches.
fn json_doc(
    report: &RunReport,
    src: &SourceFile,
    batch: &Option<serde_json::Value>,
) -> serde_json::Value {
    let mut doc = crate::engine::json::report_json(report, src);
    if let (Some(batch), Some(obj)) = (batch, doc.as_object_mut()) {
        obj.insert("batch_api".into(), batch.clone());
    }
    doc
}

/// What completed before the failure, so a failed run loses nothing.
fn finished_summary(report: &RunReport) -> String {
    let s = &report.stats;
    let calls = match s.calls {
        1 => "1 call".to_string(),
        n => format!("{n} calls"),
    };
    let retries = match s.retries {
        1 => "1 retry".to_string(),
        n => format!("{n} retries"),
    };
    let mut out = format!(
        "{} finished before the run stopped ({calls} made, {} saved, {retries}{})\n",
        super::check::plural(report.finished.len(), "node"),
        s.saved,
        reasks_and_abstentions(s.reasks, s.abstained),
    );
    for (name, value) in &report.finished {
        out.push_str(&format!("  {name} = {}\n", preview(value)));
    }
    out
}

/// `, 2 re-asks, 1 abstained`, each part only when it happened.
pub(super) fn reasks_and_abstentions(reasks: u64, abstained: u64) -> String {
    let mut out = String::new();
    match reasks {
        0 => {}
        1 => out.push_str(", 1 re-ask"),
        n => out.push_str(&format!(", {n} re-asks")),
    }
    if abstained > 0 {
        out.push_str(&format!(", {abstained} abstained"));
    }
    out
}

/// ` (at least: 2 replies did not report usage)`, when some did not.
pub(super) fn unknown_usage(n: u64) -> String {
    match n {
        0 => String::new(),
        1 => " (at least: 1 reply did not report its tokens)".to_string(),
        n => format!(" (at least: {n} replies did not report their tokens)"),
    }
}

fn preview(v: &Value) -> String {
    let text = match v {
        Value::Text(t) => format!("{t:?}"),
        other => other.to_json().to_string(),
    };
    crate::text::shorten(&text, 100)
}

/// A program with exactly one text output prints it raw, as a shell user expects.
fn single_text(outputs: &IndexMap<String, Value>) -> Option<&str> {
    if outputs.len() != 1 {
        return None;
    }
    match outputs.values().next() {
        Some(Value::Text(t)) => Some(t),
        _ => None,
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

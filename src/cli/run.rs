//! `flow run`: compile, bind inputs, build providers, execute, print.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use miette::Diagnostic;

use super::args::RunArgs;
use super::overrides::{self, ModelOverride};
use super::progress::Progress;
use super::report::{self, Source, Style};
use super::{exit, print_stderr, print_stdout, source};
use crate::graph::{FlowGraph, stats};
use crate::model::ProviderKind;
use crate::providers::Provider;
use crate::runtime::{self, RunOptions, RunReport};
use crate::syntax::Span;
use crate::value::Value;

pub(super) type Providers = HashMap<String, Arc<dyn Provider>>;

/// Problems found before any call is made.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum SetupError {
    #[error("`--input {raw}` is not of the form NAME=VALUE")]
    #[diagnostic(
        code(flow::run::bad_input_arg),
        help("write `--input NAME=VALUE`, or `--input NAME=@PATH` to read the value from a file")
    )]
    InputSyntax { raw: String },

    #[error("the program has no input `{name}`")]
    #[diagnostic(code(flow::run::unknown_input), help("{help}"))]
    UnknownInput { name: String, help: String },

    #[error("input `{name}` is given twice")]
    #[diagnostic(code(flow::run::duplicate_input), help("give each input once"))]
    DuplicateInput { name: String },

    #[error("cannot read the value of input `{name}` from `{path}`: {reason}")]
    #[diagnostic(code(flow::run::input_file), help("check the path after `@`"))]
    InputFile {
        name: String,
        path: String,
        reason: String,
    },

    #[error("no value for input `{name}` of type {ty}")]
    #[diagnostic(
        code(flow::run::missing_input),
        help("pass it with `--input {name}=VALUE`, or give it a default in the program")
    )]
    MissingInput {
        name: String,
        ty: String,
        #[label("declared here without a default")]
        span: Span,
    },

    #[error("model `{model}` cannot be used: {message}")]
    #[diagnostic(code(flow::run::provider_setup), help("{help}"))]
    Provider {
        model: String,
        message: String,
        help: String,
        #[label("this model")]
        span: Span,
    },

    #[error("the program may make {worst} LLM calls, more than `--max-calls {limit}`")]
    #[diagnostic(
        code(flow::run::over_budget),
        help(
            "raise `--max-calls`, or lower the `vote`/`repeat` counts (see `flow check` for the worst case)"
        )
    )]
    OverBudget { worst: String, limit: u64 },

    #[error("cannot write the trace to `{path}`: {reason}")]
    #[diagnostic(
        code(flow::run::trace_file),
        help("check that the folder exists and is writable")
    )]
    TraceFile { path: String, reason: String },

    #[error("cannot start the runtime: {reason}")]
    #[diagnostic(
        code(flow::run::internal),
        help("this is a bug in flow, please report it")
    )]
    Runtime { reason: String },
}

pub fn run(args: RunArgs, style: Style) -> u8 {
    let (src, mut graph) = match source::load(&args.file, "run it", style) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };

    let fail = |d: &dyn Diagnostic| {
        print_stderr(&report::render(d, Some(&src), style));
        exit::FAILURE
    };

    // --model overrides first: the budget and the limits depend on them.
    let mut parsed = Vec::new();
    for raw in &args.models {
        match overrides::parse(raw, &graph) {
            Ok(o) => parsed.push(o),
            Err(e) => return fail(&e),
        }
    }
    for ModelOverride { name, spec } in parsed {
        graph.models.insert(name, spec);
    }
    if args.offline {
        for spec in graph.models.values_mut() {
            if spec.provider != ProviderKind::Mock {
                *spec = spec.offline_stand_in();
            }
        }
    }

    if args.batch.rows.is_some() {
        return super::batch::run(&src, graph, &args, style);
    }

    let inputs = match bind_inputs(&graph, &args.inputs) {
        Ok(inputs) => inputs,
        Err(e) => return fail(e.as_ref()),
    };
    if let Err(e) = check_budget(&graph, args.max_calls) {
        return fail(&e);
    }
    let providers = match build_providers(&graph) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let cache = match super::cache_cmd::open_for_run(&args.file, &args.cache, args.offline) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let tokio = match tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };

    let graph = Arc::new(graph);
    // The run goes in a task on a worker rather than on this thread: from
    // `block_on`, every node the scheduler starts or finishes crosses between
    // this thread and a worker (two futex wake-ups, ~13 µs each on a VM).
    let run = tokio.spawn(execute(
        graph.clone(),
        providers,
        inputs,
        args.max_calls,
        cache.clone(),
    ));
    let report = match tokio.block_on(run) {
        Ok(report) => report,
        Err(e) => {
            return fail(&SetupError::Runtime {
                reason: format!(
                    "the run's task {}",
                    if e.is_panic() {
                        "panicked"
                    } else {
                        "was cancelled"
                    }
                ),
            });
        }
    };
    let lost = super::cache_cmd::close(cache.as_deref(), style);

    if let Some(path) = &args.trace
        && let Err(e) = write_trace(path, &report)
    {
        print_stderr(&report::render(&e, None, style));
    }
    match print_report(&report, &src, args.json, style) {
        exit::OK if lost => exit::FAILURE,
        code => code,
    }
}

/// `--max-calls` against the worst case, before anything runs.
pub(super) fn check_budget(graph: &FlowGraph, max_calls: Option<u64>) -> Result<(), SetupError> {
    if let Some(limit) = max_calls {
        let worst = stats::total_calls(graph);
        if worst.fixed > limit {
            return Err(SetupError::OverBudget {
                worst: worst.to_string(),
                limit,
            });
        }
    }
    Ok(())
}

/// One provider per model, or why one cannot be made (a missing key).
pub(super) fn build_providers(graph: &FlowGraph) -> Result<Providers, SetupError> {
    crate::providers::registry::build_all(graph.models.values()).map_err(|(model, e)| {
        let (message, help) = match &e {
            crate::providers::ProviderError::Fatal { message, help, .. } => (
                message.clone(),
                help.clone()
                    .unwrap_or_else(|| "check the model's declaration".into()),
            ),
            other => (other.to_string(), "try again".into()),
        };
        let span = graph.models.get(&model).map(|m| m.span).unwrap_or_default();
        SetupError::Provider {
            model,
            message,
            help: format!("{help}; or run with `--offline` to use placeholders"),
            span,
        }
    })
}

pub(super) fn tokio_runtime() -> Result<tokio::runtime::Runtime, SetupError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Runtime {
            reason: e.to_string(),
        })
}

async fn execute(
    graph: Arc<FlowGraph>,
    providers: Providers,
    inputs: IndexMap<String, Value>,
    max_calls: Option<u64>,
    cache: Option<Arc<crate::cache::CallCache>>,
) -> RunReport {
    let cancel = tokio_util::sync::CancellationToken::new();
    let (progress, events) = Progress::start();
    let options = RunOptions {
        inputs,
        max_calls,
        events,
        cancel: cancel.clone(),
        cache,
        ..RunOptions::default()
    };
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let report = runtime::run(graph, providers, options).await;
    ctrl_c.abort();
    progress.finish().await;
    report
}

/// `--input NAME=VALUE` / `NAME=@PATH`, parsed by the declared types; every
/// input without a value or default is reported before anything runs.
fn bind_inputs(
    graph: &FlowGraph,
    raw: &[String],
) -> Result<IndexMap<String, Value>, Box<dyn Diagnostic + Send + Sync>> {
    let mut values = IndexMap::new();
    for arg in raw {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(Box::new(SetupError::InputSyntax { raw: arg.clone() }));
        };
        let name = name.trim();
        let Some(&node) = graph.inputs.get(name) else {
            let known: Vec<&str> = graph.inputs.keys().map(String::as_str).collect();
            return Err(Box::new(SetupError::UnknownInput {
                name: name.to_string(),
                help: unknown_input_help(name, &known),
            }));
        };
        if values.contains_key(name) {
            return Err(Box::new(SetupError::DuplicateInput {
                name: name.to_string(),
            }));
        }
        let text = match value.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                Box::new(SetupError::InputFile {
                    name: name.to_string(),
                    path: path.to_string(),
                    reason: source::io_reason(&e),
                }) as Box<dyn Diagnostic + Send + Sync>
            })?,
            None => value.to_string(),
        };
        let ty = &graph.node(node).ty;
        let parsed = crate::runtime::input::parse_input(name, &text, ty)
            .map_err(|e| Box::new(e) as Box<dyn Diagnostic + Send + Sync>)?;
        values.insert(name.to_string(), parsed);
    }
    for (name, &node) in &graph.inputs {
        let n = graph.node(node);
        let has_default = matches!(&n.kind, crate::graph::NodeKind::Input { default: Some(_) });
        if !values.contains_key(name) && !has_default {
            return Err(Box::new(SetupError::MissingInput {
                name: name.clone(),
                ty: n.ty.to_string(),
                span: n.span,
            }));
        }
    }
    Ok(values)
}

pub(super) fn unknown_input_help(name: &str, known: &[&str]) -> String {
    if let Some(best) = crate::check::did_you_mean(name, known.iter().copied()) {
        return format!("did you mean `{best}`?");
    }
    if known.is_empty() {
        "this program declares no inputs".to_string()
    } else {
        let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        format!("its inputs are {}", list.join(", "))
    }
}

fn write_trace(path: &Path, report: &RunReport) -> Result<(), SetupError> {
    let json = runtime::chrome_trace_json(&report.trace);
    let text = serde_json::to_string(&json).unwrap_or_default();
    std::fs::write(path, text).map_err(|e| SetupError::TraceFile {
        path: path.display().to_string(),
        reason: source::io_reason(&e),
    })
}

fn print_report(report: &RunReport, src: &Source, json: bool, style: Style) -> u8 {
    match &report.outputs {
        Ok(outputs) => {
            if json {
                let mut doc = serde_json::json!({
                    "outputs": outputs_json(outputs),
                    "stats": report.stats,
                });
                let placeholders = crate::value::placeholder_paths(outputs);
                if let (false, Some(obj)) = (placeholders.is_empty(), doc.as_object_mut()) {
                    obj.insert("placeholders".into(), placeholders.into());
                }
                print_stdout(&format!("{}\n", pretty(&doc)));
            } else if let Some(text) = single_text(outputs) {
                let mut text = text.to_string();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                print_stdout(&text);
            } else {
                print_stdout(&format!("{}\n", pretty(&outputs_json(outputs))));
            }
            exit::OK
        }
        Err(error) => {
            print_stderr(&report::render(error, Some(src), style));
            let finished: serde_json::Map<String, serde_json::Value> = report
                .finished
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            if json {
                let doc = serde_json::json!({
                    "outputs": null,
                    "error": {"code": error.code_str(), "message": error.to_string()},
                    "finished": finished,
                    "stats": report.stats,
                });
                print_stdout(&format!("{}\n", pretty(&doc)));
            } else {
                print_stderr(&finished_summary(report));
            }
            if matches!(error, crate::runtime::RunError::Cancelled) {
                exit::INTERRUPTED
            } else {
                exit::FAILURE
            }
        }
    }
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
        "{} finished before the run stopped ({calls} made, {} saved, {retries})\n",
        super::check::plural(report.finished.len(), "node"),
        s.saved,
    );
    for (name, value) in &report.finished {
        out.push_str(&format!("  {name} = {}\n", preview(value)));
    }
    out
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

pub(super) fn outputs_json(outputs: &IndexMap<String, Value>) -> serde_json::Value {
    serde_json::Value::Object(
        outputs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect(),
    )
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

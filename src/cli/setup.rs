//! What `flow run` and a batch share: the program, an engine built from the
//! command line's options, a tokio runtime, and stopping on a signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::cache_cmd;
use super::terminal::{Failure, Terminal};
use crate::engine::{Engine, EngineOptions, Program, overrides};
use crate::internal::InternalError;

/// The engine for `program` with the command line's models, cache and budget.
/// Every bad `--model` is shown, not only the first; a model given twice is
/// an error, as an input given twice is.
pub fn engine(program: &Program, args: &RunArgs, term: &mut Terminal) -> Result<Engine, Failure> {
    engine_shared(program, args, 1, term)
}

/// An engine that is one of `share` processes on the same accounts
/// (`--shard`), so it takes that part of each model's limits.
pub fn engine_shared(
    program: &Program,
    args: &RunArgs,
    share: u32,
    term: &mut Terminal,
) -> Result<Engine, Failure> {
    let src = program.source().clone();
    let mut models: Vec<overrides::ModelOverride> = Vec::new();
    let mut errors = Vec::new();
    for raw in &args.models {
        match overrides::parse(raw, program.graph()) {
            Ok(o) if models.iter().any(|m| m.name == o.name) => {
                errors.push(overrides::OverrideError::Duplicate { name: o.name });
            }
            Ok(o) => models.push(o),
            Err(e) => errors.push(e),
        }
    }
    let mut errors = errors.into_iter();
    if let Some(last) = errors.next_back() {
        for e in errors {
            term.diagnostic(&e, Some(&src));
        }
        return Err(Failure::run(last, Some(&src)));
    }
    let cache = cache_cmd::choice_for_run(&args.file, &args.cache, args.offline, term)?;
    let options = EngineOptions {
        offline: args.offline,
        models,
        cache,
        max_calls: args.max_calls,
        limit_share: share,
        ..EngineOptions::default()
    };
    Engine::new(program, options).map_err(|e| Failure::run(e, Some(&src)))
}

pub fn tokio_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::run(
                InternalError::new(format!("cannot start the runtime: {e}")),
                None,
            )
        })
}

/// The signal that stopped a run, as the exit code it gives; 0 for none.
pub type Stopped = Arc<AtomicU8>;

/// The exit code of a run stopped by a signal: 130 for Ctrl-C, 143 for
/// SIGTERM (128 plus the signal's number, as a shell reports it).
pub fn stopped_code(stopped: &Stopped) -> Option<u8> {
    match stopped.load(Ordering::SeqCst) {
        0 => None,
        code => Some(code),
    }
}

/// Cancels `cancel` on Ctrl-C or SIGTERM (how containers and service
/// managers stop a process) and notes which in `stopped`.
pub fn cancel_on_signal(cancel: CancellationToken, stopped: Stopped) -> JoinHandle<()> {
    tokio::spawn(async move {
        let code = signal().await;
        stopped.store(code, Ordering::SeqCst);
        cancel.cancel();
    })
}

#[cfg(unix)]
async fn signal() -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() {
                        std::future::pending::<()>().await;
                    }
                    super::exit::INTERRUPTED
                }
                _ = term.recv() => super::exit::TERMINATED,
            }
        }
        Err(_) => ctrl_c().await,
    }
}

#[cfg(not(unix))]
async fn signal() -> u8 {
    ctrl_c().await
}

async fn ctrl_c() -> u8 {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    super::exit::INTERRUPTED
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("standard input is read twice: by {first} and by {second}")]
#[diagnostic(
    code(flow::run::stdin_twice),
    help("standard input can be read once; give the others as files")
)]
struct StdinTwice {
    first: String,
    second: String,
}

/// The program `-`, `--inputs -` and `--input NAME=@-` all read standard
/// input; only one of them can have it.
pub fn check_stdin(args: &RunArgs) -> Result<(), Failure> {
    let mut readers = Vec::new();
    if super::source::is_stdin(&args.file) {
        readers.push("the program `-`".to_string());
    }
    if args
        .batch
        .rows
        .as_deref()
        .is_some_and(super::source::is_stdin)
    {
        readers.push("`--inputs -`".to_string());
    }
    for raw in &args.inputs {
        if let Some((name, "@-")) = raw.split_once('=') {
            readers.push(format!("`--input {}=@-`", name.trim()));
        }
    }
    match (readers.first(), readers.get(1)) {
        (Some(first), Some(second)) => Err(Failure::run(
            StdinTwice {
                first: first.clone(),
                second: second.clone(),
            },
            None,
        )),
        _ => Ok(()),
    }
}

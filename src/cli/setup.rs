//! What `flow run` and a batch share: the program, an engine built from the
//! command line's options, a tokio runtime, and stopping on a signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::cache_cmd;
use super::terminal::Failure;
use crate::engine::{Engine, EngineOptions, Program, overrides};
use crate::internal::InternalError;

/// The engine for `program` with the command line's models, cache and budget.
pub fn engine(program: &Program, args: &RunArgs) -> Result<Engine, Failure> {
    let src = program.source().clone();
    let mut models = Vec::new();
    for raw in &args.models {
        let o = overrides::parse(raw, program.graph()).map_err(|e| Failure::run(e, Some(&src)))?;
        // The last `--model` for a name wins, as for any repeated option.
        models.retain(|m: &overrides::ModelOverride| m.name != o.name);
        models.push(o);
    }
    let options = EngineOptions {
        offline: args.offline,
        models,
        cache: cache_cmd::choice_for_run(&args.file, &args.cache, args.offline),
        max_calls: args.max_calls,
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

/// Cancels `cancel` on Ctrl-C or SIGTERM (how containers and service
/// managers stop a process) and notes that it did in `interrupted`.
pub fn cancel_on_signal(cancel: CancellationToken, interrupted: Arc<AtomicBool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        signal().await;
        interrupted.store(true, Ordering::SeqCst);
        cancel.cancel();
    })
}

#[cfg(unix)]
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(not(unix))]
async fn signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

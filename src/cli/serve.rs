//! `flow serve`: build the engine as `flow run` does, start
//! `flow::serve::Server` on the address asked for, print its log on stderr
//! until Ctrl-C or SIGTERM, then drain.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::args::{BatchArgs, RunArgs, ServeArgs};
use super::terminal::{Failure, Terminal};
use super::{cache_cmd, setup};
use crate::serve::{BearerToken, ServeError, ServeEvent, ServeOptions, Server};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("`--auth-env {var}`: the environment variable `{var}` is {problem}")]
#[diagnostic(
    code(flow::serve::auth_env),
    help("set it to the token clients must send as `Authorization: Bearer TOKEN`")
)]
struct AuthEnv {
    var: String,
    problem: &'static str,
}

pub fn run(args: ServeArgs, term: &mut Terminal) -> Result<(), Failure> {
    let program = super::source::load(&args.file, "serve it", term)?;
    // The engine is `flow run`'s, built from the same options.
    let engine_args = RunArgs {
        file: args.file.clone(),
        inputs: Vec::new(),
        json: false,
        stream: false,
        offline: args.offline,
        models: args.models.clone(),
        trace: None,
        max_calls: args.max_calls,
        cache: args.cache.clone(),
        batch: BatchArgs::default(),
    };
    let auth = match &args.auth_env {
        None => None,
        Some(var) => {
            let problem = |problem| {
                Failure::run(
                    AuthEnv {
                        var: var.clone(),
                        problem,
                    },
                    None,
                )
            };
            let token = std::env::var(var).map_err(|_| problem("not set"))?;
            Some(BearerToken::new(token).ok_or_else(|| problem("empty"))?)
        }
    };
    let engine = setup::engine(&program, &engine_args, term)?;
    let (log, mut events) = tokio::sync::mpsc::unbounded_channel();
    let model = args
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flow".into());
    let options = ServeOptions {
        max_runs: args.max_runs as usize,
        max_body: args.max_body,
        auth,
        output: args.output.clone(),
        model,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        trace_dir: args.trace_dir.clone(),
        log: Some(log),
    };
    let server = Server::new(engine.clone(), options).map_err(|e| Failure::run(e, None))?;
    for warning in server.warnings() {
        term.diagnostic(&warning, None);
    }
    let tokio = setup::tokio_runtime()?;
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind(&addr))
        .and_then(|l| l.local_addr().map(|a| (l, a)));
    let (listener, bound) = listener.map_err(|e| {
        Failure::run(
            ServeError::Bind {
                addr: addr.clone(),
                reason: crate::text::io_reason(&e),
            },
            None,
        )
    })?;
    term.err(&format!("flow serve: listening on http://{bound}\n"));
    if let Some(summary) = server.chat_summary() {
        term.err(&format!("flow serve: chat completions: {summary}\n"));
    }

    let stop = CancellationToken::new();
    let stopped = setup::Stopped::default();
    let served = tokio.block_on(async {
        let _signal = setup::cancel_on_signal(stop.clone(), stopped.clone());
        let mut serving = tokio::spawn(server.serve(listener, stop.cancelled_owned()));
        let served = loop {
            tokio::select! {
                Some(event) = events.recv() => term.err(&line(&event)),
                served = &mut serving => break served,
            }
        };
        while let Ok(event) = events.try_recv() {
            term.err(&line(&event));
        }
        served
    });
    let lost = cache_cmd::show_close(engine.close(), term);
    match served {
        Ok(Ok(())) if !lost => Ok(()),
        Ok(Ok(())) => Err(Failure::quiet(super::exit::FAILURE)),
        Ok(Err(e)) => Err(Failure::run(
            ServeError::Bind {
                addr: bound.to_string(),
                reason: crate::text::io_reason(&e),
            },
            None,
        )),
        Err(_) => Err(Failure::run(
            crate::internal::InternalError::new("the server's task stopped"),
            None,
        )),
    }
}

/// One log line on stderr: the request id first, so lines of one request
/// can be found together.
fn line(event: &ServeEvent) -> String {
    match event {
        ServeEvent::Request {
            id,
            method,
            path,
            status,
            elapsed,
        } => format!(
            "{id} {method} {path} {status} {:.1}ms\n",
            elapsed.as_secs_f64() * 1000.0
        ),
        ServeEvent::RunFailed { id, code, message } => {
            format!("{id} run failed: {code}: {message}\n")
        }
        ServeEvent::Draining { runs, deadline } => format!(
            "flow serve: shutting down; {} in flight, {}s to finish\n",
            super::check::plural(*runs, "run"),
            deadline.as_secs()
        ),
        ServeEvent::Cancelled { runs } => format!(
            "flow serve: cancelled {} still in flight at the deadline\n",
            super::check::plural(*runs, "run")
        ),
    }
}

//! Starting a run for a request: under the concurrent-runs limit, in a
//! task of its own, cancelled when the request goes away.
//!
//! The run goes in a task so that its end is always seen (metrics, the
//! log, the trace file) even when the client disconnects: the handler, or
//! the stream it returned, holds a guard that cancels the run's token when
//! dropped, and the task then ends with `RunError::Cancelled`.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio_util::sync::DropGuard;

use super::api_error::ApiError;
use super::{ServeEvent, State};
use crate::engine::{Inputs, RunControl};
use crate::runtime::{RunEvent, RunReport};

/// A run going on for a request.
pub(crate) struct Launched {
    pub task: JoinHandle<RunReport>,
    /// Cancels the run when the request's handler or stream is dropped.
    pub guard: DropGuard,
}

impl Launched {
    /// The run's report once it ends; the guard stays armed until then.
    pub async fn report(self) -> RunReport {
        let Launched { task, guard } = self;
        let report = RunReport::from_task(task.await);
        drop(guard.disarm());
        report
    }
}

/// Starts a run, or refuses with `429` when `max_runs` are in flight.
/// With `stream`, outputs that can stream send their text as gated
/// `OutputChunk`s on `events`.
pub(crate) fn launch(
    state: &Arc<State>,
    id: &str,
    inputs: Inputs,
    events: Option<UnboundedSender<RunEvent>>,
    stream: bool,
) -> Result<Launched, ApiError> {
    let Ok(permit) = state.runs.clone().try_acquire_owned() else {
        state.metrics.rejected("busy");
        return Err(ApiError::busy(state.options.max_runs));
    };
    let cancel = state.cancel_all.child_token();
    let guard = cancel.clone().drop_guard();
    let state = state.clone();
    let id = id.to_string();
    let task = tokio::spawn(async move {
        let _permit = permit;
        state.metrics.run_started();
        let started = Instant::now();
        let report = state
            .engine
            .run(
                inputs,
                RunControl {
                    cancel,
                    events,
                    stream,
                    // Read only to be written to a trace folder.
                    untraced: state.options.trace_dir.is_none(),
                },
            )
            .await;
        state.metrics.run_finished(&report, started.elapsed());
        if let Err(e) = &report.outputs {
            state.log(ServeEvent::RunFailed {
                id: id.clone(),
                code: e.code_str(),
                message: e.to_string(),
            });
        }
        if let Some(dir) = &state.options.trace_dir {
            let (dir, text) = (dir.clone(), trace_text(&report));
            // A file write blocks; it must not hold up a worker.
            tokio::task::spawn_blocking(move || write_trace(&dir, &id, &text));
        }
        report
    });
    Ok(Launched { task, guard })
}

/// `DIR/REQUEST_ID.json`, so a slow or failed request's calls can be looked
/// at in Perfetto by the id its client saw. Ids are printable ASCII without
/// spaces (see `layers`); a path separator is replaced.
fn trace_text(report: &RunReport) -> String {
    let json = crate::runtime::chrome_trace_json(&report.trace);
    serde_json::to_string(&json).unwrap_or_default()
}

fn write_trace(dir: &std::path::Path, id: &str, text: &str) {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // A trace that cannot be written costs the request nothing.
    let _ = std::fs::write(dir.join(format!("{name}.json")), text);
}

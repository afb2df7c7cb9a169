//! Progress on stderr: the live line of a run, drawn only on a terminal,
//! and the batch API's events (`BatchProgress`).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::batch::BatchEvent;
use crate::runtime::RunEvent;

pub struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar fed by the returned sender when stderr is a terminal. Otherwise
    /// no sender, so the runtime builds no events at all.
    pub fn start() -> (Progress, Option<UnboundedSender<RunEvent>>) {
        if !std::io::stderr().is_terminal() {
            return (Progress { task: None }, None);
        }
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let (mut calls, mut in_flight, mut retries, mut saved) = (0u64, 0u64, 0u64, 0u64);
            let (mut cached, mut reasks) = (0u64, 0u64);
            while let Some(event) = events.recv().await {
                match event {
                    RunEvent::Planned { nodes } => bar.set_length(nodes as u64),
                    RunEvent::NodeFinished { done, total, .. } => {
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    }
                    RunEvent::CallStarted {
                        in_flight: f,
                        calls: c,
                        ..
                    } => {
                        in_flight = f;
                        calls = c;
                    }
                    RunEvent::CallFinished { in_flight: f, .. } => in_flight = f,
                    RunEvent::Retry { reask: true, .. } => reasks += 1,
                    RunEvent::Retry { .. } => retries += 1,
                    RunEvent::Saved { calls: c, .. } => saved += c,
                    RunEvent::CacheHit { hits, .. } => cached = hits,
                    _ => {}
                }
                let reasked = match reasks {
                    0 => String::new(),
                    n => format!(", {n} re-asked"),
                };
                bar.set_message(format!(
                    "{calls} calls, {cached} cached, {in_flight} in flight, {retries} retries{reasked}, {saved} saved"
                ));
            }
            bar.finish_and_clear();
        });
        (Progress { task: Some(task) }, Some(tx))
    }

    /// Waits for the event stream to end (the run dropped its sender).
    pub async fn finish(self) {
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

/// What a `--batch-api` run shows while its batches are at the provider,
/// for minutes or hours before the run has anything else to say. Every
/// event is one line naming the batch: the ids are what a person needs to
/// find the batch in the provider's console, and a job's log (stderr not a
/// terminal) must keep them, so off a terminal the lines are written plain
/// (never colour or control codes). On a terminal a spinner under them
/// shows the latest state and disappears at the end.
pub struct BatchProgress {
    spinner: Option<ProgressBar>,
}

impl BatchProgress {
    pub fn start() -> BatchProgress {
        BatchProgress::to(
            std::io::stderr()
                .is_terminal()
                .then(ProgressDrawTarget::stderr),
        )
    }

    /// Drawn to `target`, or written as plain lines to stderr without one.
    fn to(target: Option<ProgressDrawTarget>) -> BatchProgress {
        let spinner = target.map(|target| {
            let bar = ProgressBar::with_draw_target(None, target);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        BatchProgress { spinner }
    }

    pub fn event(&self, event: BatchEvent) {
        let line = batch_line(&event);
        match &self.spinner {
            Some(bar) => {
                // States change in place; what a re-run needs stays.
                if !matches!(event, BatchEvent::Status(ref s) if !s.ended) {
                    bar.println(&line);
                }
                bar.set_message(line);
            }
            None => {
                use std::io::Write;
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
    }
}

/// One batch event, as a line: `batch API: batch_1 in_progress (3/10 done, 0 failed)`.
pub(crate) fn batch_line(event: &BatchEvent) -> String {
    use super::check::plural;
    match event {
        BatchEvent::Pass {
            number,
            rows,
            requests,
        } => format!(
            "batch API: pass {number}: {} from {}",
            plural(*requests, "request"),
            plural(*rows, "row")
        ),
        BatchEvent::Submitted { id, requests } => {
            format!(
                "batch API: submitted {id} ({})",
                plural(*requests, "request")
            )
        }
        BatchEvent::PickedUp { id, requests } => format!(
            "batch API: picked up {id} ({}) from an earlier run",
            plural(*requests, "request")
        ),
        BatchEvent::Status(s) => format!(
            "batch API: {} {} ({}/{} done, {} failed)",
            s.id, s.state, s.done, s.total, s.failed
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::batch::BatchStatus;

    #[test]
    fn batch_events_are_lines_naming_the_batch() {
        let status = BatchStatus {
            id: "batch_1".into(),
            state: "in_progress".into(),
            total: 10,
            done: 3,
            ..BatchStatus::default()
        };
        assert_eq!(
            batch_line(&BatchEvent::Status(status)),
            "batch API: batch_1 in_progress (3/10 done, 0 failed)"
        );
        assert_eq!(
            batch_line(&BatchEvent::Submitted {
                id: "b".into(),
                requests: 1
            }),
            "batch API: submitted b (1 request)"
        );
    }

    #[test]
    fn on_a_terminal_states_change_in_place_and_ids_stay() {
        let progress = BatchProgress::to(Some(ProgressDrawTarget::hidden()));
        progress.event(BatchEvent::Submitted {
            id: "batch_1".into(),
            requests: 2,
        });
        let bar = progress.spinner.as_ref().expect("a spinner");
        assert_eq!(bar.message(), "batch API: submitted batch_1 (2 requests)");
        progress.finish();
        assert!(bar.is_finished());
    }
}

//! The live progress line on stderr, drawn only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::runtime::RunEvent;

pub struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar fed by the returned sender when stderr is a terminal. Otherwise
    /// no sender, so the runtime builds no events at all.
    pub fn start() -> (Progress, Option<UnboundedSender<RunEvent>>) {
        use std::io::IsTerminal;
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

//! The live progress line on stderr, drawn only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::runtime::RunEvent;

pub struct Progress {
    task: JoinHandle<()>,
}

impl Progress {
    /// Drains run events; draws a bar when stderr is a terminal, else nothing.
    pub fn start(mut events: UnboundedReceiver<RunEvent>) -> Progress {
        use std::io::IsTerminal;
        let draw = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let bar = if draw {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes  {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                Some(bar)
            } else {
                None
            };
            let (mut calls, mut in_flight, mut retries, mut saved) = (0u64, 0u64, 0u64, 0u64);
            let mut cached = 0u64;
            while let Some(event) = events.recv().await {
                let Some(bar) = &bar else { continue };
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
                    RunEvent::Retry { .. } => retries += 1,
                    RunEvent::Saved { calls: c, .. } => saved += c,
                    RunEvent::CacheHit { hits, .. } => cached = hits,
                    _ => {}
                }
                bar.set_message(format!(
                    "{calls} calls, {cached} cached, {in_flight} in flight, {retries} retries, {saved} saved"
                ));
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        Progress { task }
    }

    /// Waits for the event stream to end (the run dropped its sender).
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

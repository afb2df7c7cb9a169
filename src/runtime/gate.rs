//! Gates: what stands between a streamed output's call and the listener.
//!
//! A streamed output that sits under conditions (`if unsafe then ... else
//! reply`) may not show a chunk of `reply` before `unsafe` is decided. Its
//! gate starts closed to listeners and buffers what arrives; the scheduler
//! opens it the moment every condition has the wanted value (the chunks so
//! far go out at once, in order, and the rest as they come), or shuts it
//! for good when one does not (the buffer is dropped, and nothing of the
//! call is ever shown). An output under no condition has a gate open from
//! the start.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

use super::events::RunEvent;
use crate::providers::Usage;

enum Phase {
    /// Undecided: chunks wait here.
    Pending(Vec<String>),
    Open,
    Shut,
}

struct State {
    phase: Phase,
    /// Whether any chunk reached the listener: a failed attempt is then
    /// not retried, since its text may already be on a screen.
    released: bool,
}

/// The gates one streamed call feeds: one per output streaming it.
pub(crate) type Gates = Arc<[Arc<Gate>]>;

/// The gate of one streamed output for one of the calls it may stream.
pub(crate) struct Gate {
    output: String,
    events: Option<UnboundedSender<RunEvent>>,
    state: Mutex<State>,
}

impl Gate {
    /// `open`: the output sits under no condition.
    pub fn new(output: String, events: Option<UnboundedSender<RunEvent>>, open: bool) -> Gate {
        Gate {
            output,
            events,
            state: Mutex::new(State {
                phase: if open {
                    Phase::Open
                } else {
                    Phase::Pending(Vec::new())
                },
                released: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A chunk arrived from the call: shown, held or dropped.
    pub fn text(&self, chunk: &str) {
        if chunk.is_empty() {
            return;
        }
        let mut s = self.state();
        match &mut s.phase {
            Phase::Pending(held) => held.push(chunk.to_string()),
            Phase::Open => {
                s.released = true;
                // Sent under the lock, so chunks from a flush and from the
                // call cannot interleave out of order.
                self.send(chunk.to_string());
            }
            Phase::Shut => {}
        }
    }

    /// Every condition holds: what was held goes out, in order.
    pub fn open(&self) {
        let mut s = self.state();
        if !matches!(s.phase, Phase::Pending(_)) {
            return;
        }
        if let Phase::Pending(held) = std::mem::replace(&mut s.phase, Phase::Open) {
            s.released |= !held.is_empty();
            for chunk in held {
                self.send(chunk);
            }
        }
    }

    /// A condition went against the output: nothing is ever shown.
    pub fn shut(&self) {
        self.state().phase = Phase::Shut;
    }

    pub fn is_shut(&self) -> bool {
        matches!(self.state().phase, Phase::Shut)
    }

    /// A streamed attempt failed and another follows: what it left in the
    /// buffer is forgotten. `false` when some of it was already shown, and
    /// the call must then fail rather than show a second reply after it.
    pub fn restart(&self) -> bool {
        let mut s = self.state();
        if let Phase::Pending(held) = &mut s.phase {
            held.clear();
        }
        !s.released
    }

    fn send(&self, text: String) {
        if let Some(tx) = &self.events {
            let _ = tx.send(RunEvent::OutputChunk {
                name: self.output.clone(),
                text,
            });
        }
    }
}

/// What a streamed attempt received so far, which is what it is charged
/// with if it is cancelled: the input tokens the provider reported (Anthropic
/// says them first; OpenAI only at the end), and the output tokens it
/// reported or, when it said nothing yet, the text received at four
/// characters a token.
#[derive(Default)]
pub(crate) struct Received {
    state: Mutex<(u64, Usage)>,
}

impl Received {
    pub fn text(&self, chunk: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 += chunk.chars().count() as u64;
    }

    pub fn usage(&self, usage: Usage) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = usage;
    }

    pub fn so_far(&self) -> Usage {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Usage {
            input_tokens: s.1.input_tokens,
            output_tokens: s.1.output_tokens.max(s.0.div_ceil(4)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(rx: &mut tokio::sync::mpsc::UnboundedReceiver<RunEvent>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let RunEvent::OutputChunk { text, .. } = e {
                out.push(text);
            }
        }
        out
    }

    #[test]
    fn a_pending_gate_holds_chunks_and_flushes_them_in_order_when_opened() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let gate = Gate::new("answer".into(), Some(tx), false);
        gate.text("a ");
        gate.text("b ");
        assert!(chunks(&mut rx).is_empty());
        assert!(gate.restart(), "nothing shown yet");
        gate.text("c ");
        gate.open();
        gate.text("d");
        assert_eq!(chunks(&mut rx), ["c ", "d"]);
        assert!(!gate.restart(), "text was shown");
    }

    #[test]
    fn a_shut_gate_shows_nothing() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let gate = Gate::new("answer".into(), Some(tx), false);
        gate.text("a");
        gate.shut();
        gate.text("b");
        gate.open();
        assert!(chunks(&mut rx).is_empty());
        assert!(gate.is_shut());
    }

    #[test]
    fn a_cancelled_stream_is_charged_what_it_received() {
        let r = Received::default();
        r.text("hello world!");
        assert_eq!(r.so_far().output_tokens, 3);
        r.usage(Usage {
            input_tokens: 7,
            output_tokens: 0,
        });
        assert_eq!(
            r.so_far(),
            Usage {
                input_tokens: 7,
                output_tokens: 3
            }
        );
    }
}

//! Votes in the trace: one instant event per vote, at the moment its last
//! sample came back, carrying what `agreement(x)` reads and, for an
//! adaptive vote, the samples it launched against its cap. The call slices
//! show every sample; these marks say how decided the vote was without
//! counting slices by hand.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use crate::runtime::error::written_binding;
use crate::runtime::{TraceEvent, VoteStats};

/// A mark per vote, named `vote: NODE` with the agreement in its args,
/// placed where the vote's last attempt ended (at 0 when it made none, as a
/// vote answered wholly from the cache does).
pub fn vote_marks(trace: &[TraceEvent], votes: &[VoteStats]) -> Vec<Json> {
    // One pass over the trace, not one per vote: a `for` of 10,000 votes
    // has some 30,000 attempts.
    let mut ends: HashMap<String, u64> = HashMap::new();
    for e in trace.iter().filter(|e| !e.site.judge) {
        let end = ends.entry(node_of(e)).or_default();
        *end = (*end).max(e.start_us + e.dur_us);
    }
    votes
        .iter()
        .map(|v| {
            let at = ends.get(&v.node).copied().unwrap_or(0);
            let mut args = json!({
                "answered": v.answered,
                "abstained": v.abstained,
                "winner": v.winner,
                "share": v.share,
                "launched": v.launched,
                "cap": v.cap,
            });
            if let (Some(until), Some(obj)) = (v.until, args.as_object_mut()) {
                obj.insert("until".into(), json!(until));
                obj.insert("rule".into(), json!(v.rule));
                obj.insert("saved".into(), json!(v.cap.saturating_sub(v.launched)));
            }
            json!({
                "name": format!("vote: {}", v.node),
                "cat": "vote",
                "ph": "i",
                "s": "p",
                "ts": at,
                "pid": 1,
                "tid": 0,
                "args": args,
            })
        })
        .collect()
}

/// The node an attempt belongs to, spelled as `VoteStats::node` is.
fn node_of(e: &TraceEvent) -> String {
    let mut node = written_binding(&e.site.binding).to_string();
    for i in &e.site.items {
        node.push_str(&format!("[{i}]"));
    }
    node
}

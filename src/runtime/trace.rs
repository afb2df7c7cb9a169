//! The record of every call attempt, and its export as a Chrome trace
//! (`chrome://tracing`, Perfetto) where concurrency is visible as lanes.

use serde_json::json;

use super::error::Site;
use crate::providers::Usage;

/// One call attempt as the run recorded it: who made it, when, how long it
/// took and how it ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceEvent {
    /// Which call of which node.
    pub site: Site,
    /// The flow model's name.
    pub model: String,
    /// 0 for the first attempt.
    pub attempt: u32,
    /// Microseconds since the run started.
    pub start_us: u64,
    /// How long the attempt took, in microseconds.
    pub dur_us: u64,
    /// Tokens the provider reported (zero when the attempt failed).
    pub usage: Usage,
    /// How the attempt ended.
    pub outcome: AttemptOutcome,
    /// The provider's or parser's message for a failed attempt (never a key).
    pub message: Option<String>,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A reply that parsed as the declared type.
    Ok,
    /// The reply came but did not parse as the declared type.
    Unparsable,
    /// A failure worth retrying: a rate limit, a server error, a dropped connection.
    Transient,
    /// A failure retrying cannot fix: a missing key, a refused request.
    Fatal,
    /// No reply within the attempt's `timeout`.
    Timeout,
    /// Abandoned: its vote was decided early, another node failed, or the run
    /// was cancelled.
    Cancelled,
}

/// A streamed output's gate deciding, as the trace shows it: when the
/// output's conditions let its call's chunks through, or shut them out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GateMark {
    /// The streamed output.
    pub output: String,
    /// The call node it streams.
    pub source: String,
    /// Opened (chunks flow) or shut (none is shown).
    pub open: bool,
    /// Microseconds since the run started.
    pub at_us: u64,
}

/// [`chrome_trace_json`] with each gate as an instant event named
/// `gate open: OUTPUT` or `gate shut: OUTPUT` on the lane of its own.
pub fn chrome_trace_json_with_gates(trace: &[TraceEvent], gates: &[GateMark]) -> serde_json::Value {
    let mut json = chrome_trace_json(trace);
    if let Some(events) = json.get_mut("traceEvents").and_then(|e| e.as_array_mut()) {
        for g in gates {
            events.push(json!({
                "name": format!("gate {}: {}", if g.open { "open" } else { "shut" }, g.output),
                "cat": "gate",
                "ph": "i",
                "s": "p",
                "ts": g.at_us,
                "pid": 1,
                "tid": 0,
                "args": { "output": g.output, "source": g.source, "open": g.open },
            }));
        }
    }
    json
}

/// The trace in Chrome's trace-event format: one complete (`"X"`) slice per
/// attempt, on the lowest lane free at its start, so the number of lanes in
/// use at any moment is the number of calls in flight. It takes the events
/// alone, so any consumer of a run's attempts (a finished report, a live
/// event stream) can write one.
pub fn chrome_trace_json(trace: &[TraceEvent]) -> serde_json::Value {
    let mut order: Vec<usize> = (0..trace.len()).collect();
    order.sort_by_key(|&i| {
        trace
            .get(i)
            .map(|e| (e.start_us, std::cmp::Reverse(e.dur_us)))
            .unwrap_or_default()
    });
    // lane_end[l] = when lane l becomes free.
    let mut lane_end: Vec<u64> = Vec::new();
    let mut events = Vec::with_capacity(order.len() + 1);
    events.push(json!({
        "name": "process_name", "ph": "M", "pid": 1,
        "args": { "name": "flow run" }
    }));
    for i in order {
        let Some(e) = trace.get(i) else {
            continue;
        };
        let end = e.start_us + e.dur_us;
        let lane = match lane_end.iter().position(|&free| free <= e.start_us) {
            Some(l) => l,
            None => {
                lane_end.push(0);
                lane_end.len() - 1
            }
        };
        if let Some(slot) = lane_end.get_mut(lane) {
            *slot = end;
        }
        let mut args = json!({
            "model": e.model,
            "attempt": e.attempt,
            "input_tokens": e.usage.input_tokens,
            "output_tokens": e.usage.output_tokens,
            "outcome": e.outcome,
        });
        if let (Some(m), Some(obj)) = (&e.message, args.as_object_mut()) {
            obj.insert("message".into(), json!(m));
        }
        events.push(json!({
            "name": e.site.slice_name(),
            "cat": "call",
            "ph": "X",
            "ts": e.start_us,
            "dur": e.dur_us,
            "pid": 1,
            "tid": lane + 1,
            "args": args,
        }));
    }
    json!({ "traceEvents": events, "displayTimeUnit": "ms" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, start: u64, dur: u64) -> TraceEvent {
        TraceEvent {
            site: Site::new(name),
            model: "m".into(),
            attempt: 0,
            start_us: start,
            dur_us: dur,
            usage: Usage::default(),
            outcome: AttemptOutcome::Ok,
            message: None,
        }
    }

    #[test]
    fn overlapping_slices_get_separate_lanes() {
        let trace = [
            ev("a", 0, 100),
            ev("b", 10, 50),
            ev("c", 60, 10),
            ev("d", 100, 5),
        ];
        let j = chrome_trace_json(&trace);
        let lanes: Vec<(String, u64)> = j["traceEvents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or("").to_string(),
                    e["tid"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            lanes,
            vec![
                ("a".into(), 1),
                ("b".into(), 2),
                ("c".into(), 2),
                ("d".into(), 1)
            ]
        );
    }

    #[test]
    fn gates_are_instant_events_in_the_trace() {
        let gates = [GateMark {
            output: "answer".into(),
            source: "reply".into(),
            open: true,
            at_us: 300_000,
        }];
        let json = chrome_trace_json_with_gates(&[ev("a", 0, 10)], &gates);
        let events = json["traceEvents"].as_array().unwrap();
        let gate = events.last().unwrap();
        assert_eq!(gate["name"], "gate open: answer");
        assert_eq!(gate["ph"], "i");
        assert_eq!(gate["ts"], 300_000);
        assert_eq!(events.len(), 3, "metadata, the call, the gate");
    }
}

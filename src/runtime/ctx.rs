//! State shared by every task of one run: providers, limits, the call budget,
//! and the recorder that collects statistics and the trace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::error::{RunError, Site};
use super::events::RunEvent;
use super::gate::{Gates, Received};
use super::limits::{self, SharedLimits};
use super::options::{CallBudget, RetryPolicy, RunOptions};
use super::report::RunStats;
use super::trace::{AttemptOutcome, GateMark, TraceEvent};
use crate::cache::CallCache;
use crate::graph::FlowGraph;
use crate::providers::{Provider, Usage};
use crate::syntax::Span;

pub(crate) struct RunCtx {
    pub graph: Arc<FlowGraph>,
    pub providers: rustc_hash::FxHashMap<String, Arc<dyn Provider>>,
    pub limits: SharedLimits,
    pub cache: Option<Arc<CallCache>>,
    pub policy: RetryPolicy,
    /// Shared with the input nodes that read them: a large input (a
    /// 10,000-item list) was copied whole into the context and again into
    /// its node.
    pub inputs: indexmap::IndexMap<String, Arc<crate::value::Value>>,
    /// The batch pass this run is part of (`--batch-api`), if any.
    pub batch: Option<Arc<crate::batch::BatchPass>>,
    events: Option<UnboundedSender<RunEvent>>,
    max_calls: Option<u64>,
    /// Shared with other runs, on top of `max_calls`.
    budget: Option<Arc<CallBudget>>,
    /// Attempts begun, for the budget.
    budget_used: AtomicU64,
    in_flight: AtomicU64,
    pub start: Instant,
    /// Record each attempt in the trace (`RunOptions::untraced` unset).
    traced: bool,
    rec: Mutex<Recorder>,
    /// The gates each streamed call feeds, by the call's node; empty
    /// unless the run streams.
    pub streams: HashMap<crate::graph::NodeId, Gates>,
    /// Turns of `round_robin` models that have no limits entry (a model
    /// the shared limits were not built for); normally the turn lives in
    /// `limits`, shared as widely as they are.
    turns: Mutex<HashMap<String, usize>>,
}

#[derive(Default)]
struct Recorder {
    stats: RunStats,
    trace: Vec<TraceEvent>,
    gates: Vec<GateMark>,
}

impl RunCtx {
    /// `inputs` are `options.inputs`, taken from them rather than copied.
    pub fn new(
        graph: Arc<FlowGraph>,
        providers: HashMap<String, Arc<dyn Provider>>,
        options: &RunOptions,
        inputs: indexmap::IndexMap<String, crate::value::Value>,
    ) -> RunCtx {
        let limits = options
            .limits
            .clone()
            .unwrap_or_else(|| limits::for_models(graph.models.values()));
        let mut stats = RunStats::default();
        for name in graph.models.keys() {
            stats.models.insert(name.clone(), Default::default());
        }
        RunCtx {
            graph,
            providers: providers.into_iter().collect(),
            limits,
            cache: options.cache.clone(),
            policy: options.retry.clone(),
            inputs: inputs.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            batch: options.batch.clone(),
            events: options.events.clone(),
            max_calls: options.max_calls,
            budget: options.budget.clone(),
            budget_used: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            start: Instant::now(),
            traced: !options.untraced,
            rec: Mutex::new(Recorder {
                stats,
                trace: Vec::new(),
                gates: Vec::new(),
            }),
            streams: HashMap::new(),
            turns: Mutex::new(HashMap::new()),
        }
    }

    /// The turn of the next call through the `round_robin` model `model`:
    /// counted in the model's limits, so the rows of a batch and the runs of
    /// a server take turns together instead of each starting at member 0.
    pub fn next_turn(&self, model: &str) -> usize {
        if let Some(limits) = self.limits.get(model) {
            return limits.next_turn();
        }
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        let turn = turns.entry(model.to_string()).or_insert(0);
        let now = *turn;
        *turn = turn.wrapping_add(1);
        now
    }

    /// Sends the event `make` builds, building it only if someone listens:
    /// most runs have no listener, and an event's names are allocations.
    pub fn emit(&self, make: impl FnOnce() -> RunEvent) {
        if let Some(tx) = &self.events {
            // A consumer that went away must not stop the run.
            let _ = tx.send(make());
        }
    }

    fn rec(&self) -> MutexGuard<'_, Recorder> {
        // Nothing panics while holding the lock, but if something did, the
        // statistics are still worth reporting.
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims one call from the budget.
    pub fn charge(&self, site: &Site, span: Span) -> Result<(), RunError> {
        let over = |limit: u64, needed: u64| RunError::BudgetExceeded {
            limit,
            needed,
            site: Box::new(site.clone()),
            span: span.into(),
        };
        let n = self.budget_used.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(limit) = self.max_calls
            && n > limit
        {
            return Err(over(limit, n));
        }
        if let Some(budget) = &self.budget {
            budget.take().map_err(|n| over(budget.limit(), n))?;
        }
        Ok(())
    }

    /// Gives back the call an attempt took that never reached a server (its
    /// connection was refused): the budget and the `calls` statistic count
    /// requests sent, so a dead host cannot use up `--max-calls`. The trace
    /// still shows the attempt.
    pub fn refund(&self, model: &str) {
        self.budget_used.fetch_sub(1, Ordering::SeqCst);
        if let Some(budget) = &self.budget {
            budget.give_back();
        }
        let mut rec = self.rec();
        rec.stats.calls = rec.stats.calls.saturating_sub(1);
        let m = model_stats(&mut rec.stats, model);
        m.calls = m.calls.saturating_sub(1);
    }

    pub fn micros_since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    /// Marks an attempt as sent; the guard records it when it ends, or as
    /// cancelled if its future is dropped first.
    pub fn begin_attempt<'a>(
        &'a self,
        site: &'a Site,
        model: &'a str,
        info: Attempt<'a>,
    ) -> AttemptGuard<'a> {
        let attempt = info.number;
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let (calls, slot) = {
            let mut rec = self.rec();
            rec.stats.calls += 1;
            rec.stats.peak_in_flight = rec.stats.peak_in_flight.max(in_flight);
            let slot = model_slot(&mut rec.stats, model);
            let m = &mut rec.stats.models[slot];
            m.calls += 1;
            if info.reask {
                m.reasks += 1;
                rec.stats.reasks += 1;
            } else if attempt > 0 {
                m.retries += 1;
                rec.stats.retries += 1;
            }
            (rec.stats.calls, slot)
        };
        self.emit(|| RunEvent::CallStarted {
            site: site.clone(),
            model: model.to_string(),
            attempt,
            in_flight,
            calls,
        });
        AttemptGuard {
            ctx: self,
            site,
            model,
            info,
            slot,
            start: Instant::now(),
            done: false,
            received: None,
        }
    }

    /// A sample of a vote that gave no answer (its call failed after every
    /// attempt with a cause another sample could escape): counted, and its
    /// last attempt in the trace marked.
    pub fn record_abstained(&self, site: &Site, model: &str) {
        let mut rec = self.rec();
        rec.stats.abstained += 1;
        model_stats(&mut rec.stats, model).abstained += 1;
        // Untraced, the trace is empty and this finds nothing.
        if let Some(last) = rec.trace.iter_mut().rev().find(|e| e.site == *site) {
            last.abstained = true;
        }
    }

    /// A cache lookup for `model`: a hit (answered without a call) or a miss.
    pub fn record_cache(&self, site: &Site, model: &str, hit: bool) {
        let hits = {
            let mut rec = self.rec();
            let m = model_stats(&mut rec.stats, model);
            if hit {
                m.cache_hits += 1;
                rec.stats.cache_hits += 1;
            } else {
                m.cache_misses += 1;
                rec.stats.cache_misses += 1;
            }
            rec.stats.cache_hits
        };
        if hit {
            self.emit(|| RunEvent::CacheHit {
                site: site.clone(),
                model: model.to_string(),
                hits,
            });
        }
    }

    /// Samples of `node`'s vote that were never completed, with the model
    /// each would have called.
    /// A gate opened or shut: in the trace, and to the listener.
    pub fn record_gate(&self, output: &str, source: &str, open: bool) {
        let at_us = self.micros_since_start(Instant::now());
        self.rec().gates.push(GateMark {
            output: output.to_string(),
            source: source.to_string(),
            open,
            at_us,
        });
        self.emit(|| RunEvent::GateDecided {
            name: output.to_string(),
            source: source.to_string(),
            open,
        });
    }

    /// A vote was decided: its agreement, for the statistics.
    pub fn record_vote(&self, vote: super::report::VoteStats) {
        self.rec().stats.votes.push(vote);
    }

    /// The agreement the vote of `node` recorded, if it was decided.
    pub fn vote_stats(&self, node: &str) -> Option<super::report::VoteStats> {
        self.rec()
            .stats
            .votes
            .iter()
            .find(|v| v.node == node)
            .cloned()
    }

    pub fn record_saved<'m>(&self, node: &str, models: impl IntoIterator<Item = &'m str>) {
        let mut calls = 0;
        {
            let mut rec = self.rec();
            for m in models {
                calls += 1;
                model_stats(&mut rec.stats, m).saved += 1;
            }
            rec.stats.saved += calls;
        }
        if calls > 0 {
            self.emit(|| RunEvent::Saved {
                node: node.to_string(),
                calls,
            });
        }
    }

    /// The statistics and trace so far, with costs filled in.
    pub fn finish(
        &self,
        wall: Duration,
        critical_path: Duration,
        nodes_run: usize,
        nodes_skipped: usize,
    ) -> (RunStats, Vec<TraceEvent>, Vec<GateMark>) {
        let mut rec = self.rec();
        let mut stats = rec.stats.clone();
        stats.wall_ms = u64::try_from(wall.as_millis()).unwrap_or(u64::MAX);
        stats.critical_path_ms = u64::try_from(critical_path.as_millis()).unwrap_or(u64::MAX);
        stats.nodes_run = nodes_run;
        stats.nodes_skipped = nodes_skipped;
        stats.price(&super::report::prices(&self.graph.models));
        let mut trace = std::mem::take(&mut rec.trace);
        sort_trace(&mut trace);
        (stats, trace, std::mem::take(&mut rec.gates))
    }
}

/// A model's statistics, made on first use. Every model of the graph has
/// them from the start, so the name is only copied for an unknown one.
fn model_stats<'s>(stats: &'s mut RunStats, model: &str) -> &'s mut super::report::ModelStats {
    let slot = model_slot(stats, model);
    &mut stats.models[slot]
}

/// `model`'s index in the statistics, added if it has none yet.
fn model_slot(stats: &mut RunStats, model: &str) -> usize {
    match stats.models.get_index_of(model) {
        Some(i) => i,
        None => {
            stats
                .models
                .insert_full(model.to_string(), Default::default())
                .0
        }
    }
}

/// Orders the trace by start time; ties (many calls starting at once) by
/// name, then attempt, so the trace of a run on a paused clock is
/// reproducible. Names are formatted only for events that tie on time: a
/// stable sort by time, then each tie sorted by name, is the same order
/// as one stable sort by all three.
fn sort_trace(trace: &mut [TraceEvent]) {
    trace.sort_by_key(|e| e.start_us);
    for tie in trace.chunk_by_mut(|a, b| a.start_us == b.start_us) {
        if tie.len() > 1 {
            tie.sort_by_cached_key(|e| (e.site.slice_name(), e.attempt));
        }
    }
}

/// What kind of attempt is begun, for the statistics and the trace.
pub(crate) struct Attempt<'a> {
    /// 0 for the first.
    pub number: u32,
    /// It follows a reply that did not parse.
    pub reask: bool,
    /// How the reply is asked for (`"off"`, `"prompt"`, `"schema"`, ...).
    pub mode: &'static str,
    /// The format instruction appended to the prompt.
    pub instruction: Option<&'a str>,
}

/// One attempt in flight. Dropping it without `finish` (its future was
/// cancelled) still records the attempt, as cancelled.
pub(crate) struct AttemptGuard<'a> {
    ctx: &'a RunCtx,
    /// Borrowed from the call: copied only into the trace event.
    site: &'a Site,
    model: &'a str,
    info: Attempt<'a>,
    /// The model's place in the run's statistics, found once when the
    /// attempt began: a fan-out of 10,000 calls hashed each name twice.
    slot: usize,
    start: Instant,
    done: bool,
    /// A streamed attempt's text so far, charged if it is cancelled.
    received: Option<Arc<Received>>,
}

impl AttemptGuard<'_> {
    /// When the attempt began.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// The attempt streams: if it is cancelled, it is charged with `received`.
    pub fn streams(&mut self, received: Arc<Received>) {
        self.received = Some(received);
    }

    /// Records the attempt; `usage` is `None` when the provider did not say
    /// (or there was no reply: then `outcome` says so and nothing is unknown).
    pub fn finish(
        mut self,
        outcome: AttemptOutcome,
        usage: Option<Usage>,
        message: Option<String>,
    ) {
        self.done = true;
        self.record(outcome, usage, message);
    }

    fn record(&self, outcome: AttemptOutcome, usage: Option<Usage>, message: Option<String>) {
        // Only a reply can leave its tokens unknown; a failed attempt's are
        // not reported by anyone, and are counted as none.
        let replied = matches!(outcome, AttemptOutcome::Ok | AttemptOutcome::Unparsable);
        let unknown = replied && usage.is_none();
        let counted = usage.unwrap_or_default();
        let end = Instant::now();
        let in_flight = self
            .ctx
            .in_flight
            .fetch_sub(1, Ordering::SeqCst)
            .saturating_sub(1);
        {
            let mut rec = self.ctx.rec();
            rec.stats.input_tokens += counted.input_tokens;
            rec.stats.output_tokens += counted.output_tokens;
            rec.stats.usage_unknown += u64::from(unknown);
            let m = &mut rec.stats.models[self.slot];
            m.input_tokens += counted.input_tokens;
            m.output_tokens += counted.output_tokens;
            m.usage_unknown += u64::from(unknown);
            if !matches!(outcome, AttemptOutcome::Ok | AttemptOutcome::Cancelled) {
                m.failed += 1;
            }
            if self.ctx.traced {
                let start_us = self.ctx.micros_since_start(self.start);
                rec.trace.push(TraceEvent {
                    site: self.site.clone(),
                    model: self.model.to_string(),
                    attempt: self.info.number,
                    reask: self.info.reask,
                    start_us,
                    dur_us: self.ctx.micros_since_start(end).saturating_sub(start_us),
                    usage,
                    outcome,
                    message,
                    format: self.info.mode,
                    instruction: self.info.instruction.map(str::to_string),
                    abstained: false,
                });
            }
        }
        self.ctx.emit(|| RunEvent::CallFinished {
            site: self.site.clone(),
            model: self.model.to_string(),
            ok: outcome == AttemptOutcome::Ok,
            in_flight,
        });
    }
}

impl Drop for AttemptGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let usage = self.received.as_ref().map(|r| r.so_far());
            self.record(AttemptOutcome::Cancelled, usage, None);
        }
    }
}

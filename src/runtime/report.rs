//! What a run gives back: outputs or the error, what finished before it,
//! statistics and the trace of every attempt.

use indexmap::IndexMap;

use super::error::RunError;
use super::trace::{GateMark, TraceEvent};
use crate::value::Value;

/// Everything a run produced, even when it failed.
#[derive(Debug)]
pub struct RunReport {
    /// The outputs by name in declaration order, or why the run failed.
    pub outputs: Result<IndexMap<String, Value>, RunError>,
    /// Every node that completed, in completion order (also on failure).
    pub finished: Vec<(String, Value)>,
    /// Calls, tokens, timing and cost of the run, per model too.
    pub stats: RunStats,
    /// One event per call attempt, in start order.
    pub trace: Vec<TraceEvent>,
    /// When each streamed output's gate opened or shut, in that order
    /// (empty unless the run streamed).
    pub gates: Vec<GateMark>,
}

impl RunReport {
    /// The report of a run that went in a task of its own; a task that
    /// panicked or was aborted is a bug in flow, reported as a failed run.
    pub fn from_task(joined: Result<RunReport, tokio::task::JoinError>) -> RunReport {
        joined.unwrap_or_else(|e| {
            RunReport::failed(RunError::internal(format!(
                "the run's task {}",
                if e.is_panic() {
                    "panicked"
                } else {
                    "was cancelled"
                }
            )))
        })
    }

    /// A run that failed before it could start: nothing finished.
    pub fn failed(error: RunError) -> RunReport {
        RunReport {
            outputs: Err(error),
            finished: Vec::new(),
            stats: RunStats::default(),
            trace: Vec::new(),
            gates: Vec::new(),
        }
    }
}

/// What a run spent: calls, tokens, time, money.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunStats {
    /// Attempts sent to a provider (each one is billed).
    pub calls: u64,
    /// Samples never completed because their vote was decided early.
    pub saved: u64,
    /// Attempts that followed a transient failure or a timeout.
    pub retries: u64,
    /// Attempts that followed a reply that did not parse, showing the model
    /// its reply and what was wrong (counted apart from `retries`).
    pub reasks: u64,
    /// Samples of votes that gave no answer: their calls failed after every
    /// attempt, and the vote was decided over the samples that answered.
    pub abstained: u64,
    /// Calls answered from the cache: not made, not billed, not in `calls`.
    pub cache_hits: u64,
    /// Calls looked up in the cache and not found (then made).
    pub cache_misses: u64,
    /// Tokens sent, as the providers reported them.
    pub input_tokens: u64,
    /// Tokens received, as the providers reported them.
    pub output_tokens: u64,
    /// Replies whose provider reported no token counts. When not 0, the
    /// token counts and costs are lower bounds: what the others reported.
    pub usage_unknown: u64,
    /// Wall time from start to end of the run.
    pub wall_ms: u64,
    /// The longest chain of call latencies actually observed along the graph's
    /// edges: the wall time the run needs however parallel the providers are.
    pub critical_path_ms: u64,
    /// The most calls in flight at once.
    pub peak_in_flight: u64,
    /// Nodes that ran to a value.
    pub nodes_run: usize,
    /// Nodes skipped because their `if` branch was not taken.
    pub nodes_skipped: usize,
    /// Only when every model that was called declares `price_in` and
    /// `price_out`; a lower bound when `usage_unknown` is not 0.
    pub cost_usd: Option<f64>,
    /// The same counts for each model called, by flow model name.
    pub models: IndexMap<String, ModelStats>,
    /// How each vote was decided, in the order they were (absent from the
    /// JSON when the run had no vote).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<VoteStats>,
}

/// One vote's agreement and cost: what `agreement(x)` reads, and what an
/// adaptive vote saved.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VoteStats {
    /// The voted binding (with `[i]` per enclosing `for` element).
    pub node: String,
    /// Samples that answered before the vote was decided.
    pub answered: usize,
    /// Samples that abstained before it was decided.
    pub abstained: usize,
    /// Answers equal to the vote's value.
    pub winner: usize,
    /// `winner / answered`: 1.0 when every answer agreed.
    pub share: f64,
    /// Samples launched (an adaptive vote's waves, or every sample of a
    /// fixed vote); each one was a call or a cache hit.
    pub launched: usize,
    /// The most samples the vote could take: `N` of `vote N` or of
    /// `vote up to N`.
    pub cap: usize,
    /// `until P` of an adaptive vote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<f64>,
    /// What `until` was confident of: `leader` (`vote up to N`) or
    /// `full_vote` (`vote N`, and every `at_least`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
}

/// [`RunStats`] for one model.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ModelStats {
    /// Attempts sent to the model, retries included.
    pub calls: u64,
    /// Attempts that failed (errors, timeouts, unparsable replies).
    pub failed: u64,
    /// Attempts that followed a transient failure or a timeout.
    pub retries: u64,
    /// Attempts that followed a reply that did not parse.
    pub reasks: u64,
    /// Samples of votes that abstained.
    pub abstained: u64,
    /// Samples cancelled because their vote was decided early.
    pub saved: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Calls looked up in the cache and not found.
    pub cache_misses: u64,
    /// Tokens sent.
    pub input_tokens: u64,
    /// Tokens received.
    pub output_tokens: u64,
    /// Replies that reported no token counts.
    pub usage_unknown: u64,
    /// Dollars spent, when the model declares `price_in` and `price_out`.
    pub cost_usd: Option<f64>,
}

/// `(price_in, price_out)` in dollars per million tokens, for each model that
/// declares both.
pub type Prices = IndexMap<String, (f64, f64)>;

/// The prices of every model in `models` that declares both.
pub fn prices(models: &IndexMap<String, crate::model::ModelSpec>) -> Prices {
    models
        .iter()
        .filter_map(|(name, spec)| {
            let o = &spec.options;
            Some((name.clone(), (o.price_in?, o.price_out?)))
        })
        .collect()
}

impl ModelStats {
    fn add(&mut self, other: &ModelStats) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.retries += other.retries;
        self.reasks += other.reasks;
        self.abstained += other.abstained;
        self.saved += other.saved;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.usage_unknown += other.usage_unknown;
    }
}

impl RunStats {
    /// Adds another run's counts (a batch sums its rows); costs are not
    /// added but recomputed with [`RunStats::price`].
    pub fn add(&mut self, other: &RunStats) {
        self.calls += other.calls;
        self.saved += other.saved;
        self.retries += other.retries;
        self.reasks += other.reasks;
        self.abstained += other.abstained;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.usage_unknown += other.usage_unknown;
        for (name, m) in &other.models {
            self.models.entry(name.clone()).or_default().add(m);
        }
        // A batch's votes stay with their rows: summed over 10,000 rows
        // they would be a list nobody reads.
    }

    /// Fills each model's cost from its tokens, and the total when every
    /// model that was used (called, or served from the cache) has prices: a
    /// partial sum would understate what the run cost.
    pub fn price(&mut self, prices: &Prices) {
        let mut total = None;
        let mut unpriced = false;
        for (name, m) in self.models.iter_mut() {
            m.cost_usd = prices.get(name).map(|(pin, pout)| {
                (m.input_tokens as f64 * pin + m.output_tokens as f64 * pout) / 1_000_000.0
            });
            if m.calls > 0 || m.cache_hits > 0 {
                match m.cost_usd {
                    Some(c) => total = Some(total.unwrap_or(0.0) + c),
                    None => unpriced = true,
                }
            }
        }
        self.cost_usd = if unpriced { None } else { total };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(calls: u64, hits: u64, tokens: (u64, u64)) -> ModelStats {
        ModelStats {
            calls,
            cache_hits: hits,
            input_tokens: tokens.0,
            output_tokens: tokens.1,
            ..ModelStats::default()
        }
    }

    #[test]
    fn a_total_needs_every_used_model_priced() {
        let mut s = RunStats::default();
        s.models
            .insert("a".into(), used(2, 0, (1_000_000, 500_000)));
        s.models.insert("b".into(), used(0, 3, (0, 0)));
        s.models.insert("idle".into(), used(0, 0, (0, 0)));
        let mut prices = Prices::new();
        prices.insert("a".into(), (0.15, 0.60));
        // `b` was served from the cache but has no prices: no honest total.
        s.price(&prices);
        assert_eq!(s.models["a"].cost_usd, Some(0.45));
        assert_eq!(s.cost_usd, None);
        // With `b` priced, its cached calls cost nothing and the total holds.
        prices.insert("b".into(), (1.0, 1.0));
        s.price(&prices);
        assert_eq!(s.models["b"].cost_usd, Some(0.0));
        assert_eq!(s.cost_usd, Some(0.45));
    }

    #[test]
    fn nothing_used_has_no_total() {
        let mut s = RunStats::default();
        s.models.insert("a".into(), used(0, 0, (0, 0)));
        let mut prices = Prices::new();
        prices.insert("a".into(), (1.0, 1.0));
        s.price(&prices);
        assert_eq!(s.cost_usd, None);
    }

    #[test]
    fn adding_runs_sums_counts_per_model() {
        let mut total = RunStats::default();
        let mut row = RunStats {
            calls: 2,
            cache_hits: 1,
            ..RunStats::default()
        };
        row.models.insert("a".into(), used(2, 1, (10, 4)));
        total.add(&row);
        total.add(&row);
        assert_eq!((total.calls, total.cache_hits), (4, 2));
        assert_eq!(total.models["a"].input_tokens, 20);
        assert_eq!(total.models["a"].output_tokens, 8);
    }
}

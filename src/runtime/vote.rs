//! Aggregating samples: every strategy, with early decision.

use crate::graph::Strategy;
use crate::value::Value;

/// Why a vote produced no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VoteError {
    /// `unanimous` saw two different values: (sample index, value) of each.
    #[error("the samples disagree: sample {} said {:?} but sample {} said {:?}", .first.0, .first.1, .second.0, .second.1)]
    Disagreement {
        first: (usize, String),
        second: (usize, String),
    },
    #[error("{0}")]
    Invalid(String),
}

/// Collects the samples of one vote in any arrival order and says as soon as
/// the outcome can no longer change.
pub struct Tally {
    _strategy: Strategy,
    _total: usize,
}

/// What a tally knows after a sample arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// More samples are needed.
    Pending,
    /// Final: identical to what waiting for every sample would give. The
    /// remaining samples can be cancelled.
    Decided(Result<Value, VoteError>),
    /// Every sample is in and the strategy is `judge`: ask the judge about
    /// these candidates (in sample order, deduplicated after normalisation).
    NeedsJudge(Vec<Value>),
}

impl Tally {
    /// `total` is the number of samples that will be pooled.
    pub fn new(strategy: Strategy, total: usize) -> Tally {
        Tally {
            _strategy: strategy,
            _total: total,
        }
    }

    /// Record sample `index` (0-based, in sample order).
    pub fn record(&mut self, _index: usize, _value: Value) -> Outcome {
        todo!("vote helper")
    }
}

/// The prompt that asks a judge model to pick the best of `candidates`.
pub fn judge_prompt(_candidates: &[Value]) -> String {
    todo!("vote helper")
}

/// The judge's choice (0-based index into the candidates) from its reply.
pub fn parse_judge_choice(_reply: &str, _candidates: usize) -> Option<usize> {
    todo!("vote helper")
}

//! Aggregating samples: every strategy, with early decision.
//!
//! A [`Tally`] receives samples in whatever order their replies arrive, but
//! every result is defined over *sample order* (the order of sample indices).
//! After each sample it asks whether any way the missing samples could still
//! turn out would change the result; only when none could does it report
//! [`Outcome::Decided`], so cancelling the rest saves calls without ever
//! changing what the vote returns.
//!
//! Values are compared through a canonical key: text (and union choices) after
//! [`normalize_text`], numbers and json structurally. The value a vote returns
//! is the winner's *first spelling in sample order*, which is why a text
//! majority waits for every earlier sample before deciding.
//!
//! A sample whose call failed after every attempt with a cause another
//! sample could escape (a reply that never parsed, timeouts, transient
//! faults) *abstains*: it is recorded with [`Tally::abstain`] and the
//! strategy is computed over the samples that answered. `at_least K` counts
//! over all samples: yes once `K` said yes, no once `K` is out of reach even
//! if every abstaining sample had said yes, and undecided (an error)
//! otherwise. Every other strategy needs at least half the samples to answer
//! (a quorum of `ceil(N / 2)`); `unanimous` fails on two different answers
//! whatever the quorum. An early decision must hold for every way the missing
//! samples could still turn out, abstaining included; a vote that fails for
//! want of answers waits for all its samples, so the counts it reports are
//! the final ones.
//!
//! This module keeps the samples and hands them to the strategy; each
//! strategy's result and decision rule is in `strategies`, the canonical keys
//! in `key`, and what a `judge` is asked (and how its answer is read) in
//! `judge`.

pub mod adaptive;
mod judge;
mod key;
mod marks;
mod strategies;

pub use judge::{JUDGE_UNPARSABLE_HELP, judge_prompt_for, parse_judge_choice};
pub use key::normalize_text;
pub use marks::vote_marks;

use key::vote_key;

use crate::graph::Strategy;
use crate::internal::InternalError;
use crate::value::Value;

/// Why a vote produced no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VoteError {
    /// `unanimous` saw two different values: (sample index, value) of each.
    /// `first` is sample 0 and `second` the lowest-indexed sample that differs
    /// from it, whatever order the replies arrived in.
    #[error("the samples disagree: sample {} said {:?} but sample {} said {:?}", .first.0, .first.1, .second.0, .second.1)]
    Disagreement {
        first: (usize, String),
        second: (usize, String),
    },
    /// Too many samples abstained for the strategy to decide.
    #[error("{answered} of {samples} samples answered and {abstained} abstained; {why}")]
    TooFewAnswers {
        /// Samples that answered.
        answered: usize,
        /// Samples that abstained.
        abstained: usize,
        /// Samples in the vote.
        samples: usize,
        /// What the strategy needed, in words.
        why: String,
        /// Why the first abstaining sample (in sample order) gave no answer.
        cause: String,
    },
    /// The checker rules out every other way a vote can fail (a strategy
    /// given samples of the wrong type, no samples at all).
    #[error(transparent)]
    Internal(InternalError),
}

/// How many characters of a sample a disagreement quotes; enough to recognise
/// a reply without pasting an essay into an error.
const QUOTE_LIMIT: usize = 200;

/// Collects the samples of one vote in any arrival order and says as soon as
/// the outcome can no longer change.
pub struct Tally {
    strategy: Strategy,
    total: usize,
    /// Sample `i`'s value and canonical key, once it has answered.
    slots: Vec<Option<(Value, String)>>,
    /// Why sample `i` abstained, if it did.
    abstentions: Vec<Option<String>>,
    /// Samples in, answered or abstained.
    received: usize,
    abstained: usize,
    /// Set once the outcome is final; later samples (replies already in
    /// flight when the rest were cancelled) get the same answer.
    decided: Option<Outcome>,
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
    /// Only produced when there are at least two distinct candidates; a judge
    /// vote whose samples all agree is `Decided` without asking anyone.
    NeedsJudge(Vec<Value>),
}

impl Tally {
    /// `total` is the number of samples that will be pooled.
    pub fn new(strategy: Strategy, total: usize) -> Tally {
        Tally {
            strategy,
            total,
            slots: vec![None; total],
            abstentions: vec![None; total],
            received: 0,
            abstained: 0,
            decided: None,
        }
    }

    /// Record sample `index` (0-based, in sample order).
    pub fn record(&mut self, index: usize, value: Value) -> Outcome {
        if let Some(done) = &self.decided {
            return done.clone();
        }
        let Some(slot) = self.slots.get_mut(index) else {
            return self.settle(Outcome::Decided(Err(VoteError::Internal(
                InternalError::new(format!(
                    "sample {index} is out of range for a vote of {} samples",
                    self.total
                )),
            ))));
        };
        if slot.is_some() || self.abstentions.get(index).is_some_and(Option::is_some) {
            return self.settle(Outcome::Decided(Err(VoteError::Internal(
                InternalError::new(format!("sample {index} of a vote arrived twice")),
            ))));
        }
        let key = vote_key(&value);
        *slot = Some((value, key));
        self.received += 1;
        let outcome = self.evaluate();
        self.settle(outcome)
    }

    /// Record that sample `index` gave no answer, and why.
    pub fn abstain(&mut self, index: usize, cause: String) -> Outcome {
        if let Some(done) = &self.decided {
            return done.clone();
        }
        let twice = self.slots.get(index).is_some_and(Option::is_some);
        match self.abstentions.get_mut(index) {
            Some(slot @ None) if !twice => *slot = Some(cause),
            _ => {
                return self.settle(Outcome::Decided(Err(VoteError::Internal(
                    InternalError::new(format!(
                        "sample {index} of a vote of {} abstained out of range or twice",
                        self.total
                    )),
                ))));
            }
        }
        self.received += 1;
        self.abstained += 1;
        let outcome = self.evaluate();
        self.settle(outcome)
    }

    /// What the tally knows now, without recording anything.
    #[cfg_attr(not(test), allow(dead_code))] // only tests read it today
    pub fn outcome(&self) -> Outcome {
        match &self.decided {
            Some(done) => done.clone(),
            None => self.evaluate(),
        }
    }

    /// Samples that answered, abstained, and answered `value` (the vote's
    /// result): the vote's agreement so far.
    pub fn agreement(&self, value: &Value) -> adaptive::Agreement {
        let key = vote_key(value);
        adaptive::Agreement {
            answered: self.answered(),
            abstained: self.abstained,
            winner: self
                .slots
                .iter()
                .flatten()
                .filter(|(_, k)| *k == key)
                .count(),
            cap: self.total,
        }
    }

    /// How many samples have been recorded.
    #[allow(dead_code)] // no caller since the module became crate-internal
    pub fn received(&self) -> usize {
        self.received
    }

    /// How many samples the vote pools.
    #[allow(dead_code)] // no caller since the module became crate-internal
    pub fn total(&self) -> usize {
        self.total
    }

    fn settle(&mut self, outcome: Outcome) -> Outcome {
        if !matches!(outcome, Outcome::Pending) {
            self.decided = Some(outcome.clone());
        }
        outcome
    }

    /// Samples neither answered nor abstained yet.
    fn remaining(&self) -> usize {
        self.total - self.received
    }

    /// Samples that answered.
    fn answered(&self) -> usize {
        self.received - self.abstained
    }

    /// The answers every strategy but `at_least` needs: half the samples.
    pub(super) fn quorum(&self) -> usize {
        self.total.div_ceil(2)
    }

    /// The lowest index of a sample still missing (`total` if none is).
    fn first_missing(&self) -> usize {
        (0..self.total)
            .find(|&i| {
                self.slots.get(i).is_some_and(Option::is_none)
                    && self.abstentions.get(i).is_some_and(Option::is_none)
            })
            .unwrap_or(self.total)
    }

    /// The vote failed for want of answers; only said once every sample is
    /// in, so the counts are final.
    fn too_few(&self, why: String) -> Outcome {
        let cause = self
            .abstentions
            .iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default();
        Outcome::Decided(Err(VoteError::TooFewAnswers {
            answered: self.answered(),
            abstained: self.abstained,
            samples: self.total,
            why,
            cause,
        }))
    }

    fn evaluate(&self) -> Outcome {
        if self.total == 0 {
            return Outcome::Decided(Err(VoteError::Internal(InternalError::new(format!(
                "a `{}` vote has no samples",
                self.strategy
            )))));
        }
        let quorate = !matches!(self.strategy, Strategy::AtLeast(_));
        if quorate && self.remaining() == 0 && self.answered() < self.quorum() {
            // `unanimous` reports two different answers over too few.
            let disagreement = match self.strategy {
                Strategy::Unanimous => Some(self.unanimous()),
                _ => None,
            };
            return match disagreement {
                Some(d @ Outcome::Decided(Err(VoteError::Disagreement { .. }))) => d,
                _ => self.too_few(format!(
                    "a `{}` vote needs at least {} answers",
                    self.strategy,
                    self.quorum()
                )),
            };
        }
        match &self.strategy {
            Strategy::Majority => self.majority(),
            Strategy::Unanimous => self.unanimous(),
            Strategy::AtLeast(k) => self.at_least(usize::try_from(*k).unwrap_or(usize::MAX)),
            Strategy::Mean | Strategy::Median => {
                if self.remaining() > 0 {
                    Outcome::Pending
                } else {
                    Outcome::Decided(self.average())
                }
            }
            Strategy::Judge(_) => self.judge(),
        }
    }

    fn value_at(&self, index: usize) -> Value {
        match self.slots.get(index) {
            Some(Some((v, _))) => v.clone(),
            // Only called with the index of a recorded sample.
            _ => Value::Text(String::new()),
        }
    }
}

/// How a sample reads in an error: its text, cut short.
fn quote(value: &Value) -> String {
    crate::text::shorten(&value.to_text(), QUOTE_LIMIT)
}

#[cfg(test)]
fn t(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Feeds samples in the given arrival order; returns the first non-pending
/// outcome and how many samples it took.
#[cfg(test)]
fn feed(strategy: Strategy, values: &[Value], order: &[usize]) -> (Outcome, usize) {
    let mut tally = Tally::new(strategy, values.len());
    for (n, &i) in order.iter().enumerate() {
        let outcome = tally.record(i, values[i].clone());
        if outcome != Outcome::Pending {
            return (outcome, n + 1);
        }
    }
    (Outcome::Pending, order.len())
}

/// As [`feed`], with `None` for a sample that abstains (its cause names it).
#[cfg(test)]
fn feed_abstaining(
    strategy: Strategy,
    samples: &[Option<Value>],
    order: &[usize],
) -> (Outcome, usize) {
    let mut tally = Tally::new(strategy, samples.len());
    for (n, &i) in order.iter().enumerate() {
        let outcome = match &samples[i] {
            Some(v) => tally.record(i, v.clone()),
            None => tally.abstain(i, format!("cause {i}")),
        };
        if outcome != Outcome::Pending {
            return (outcome, n + 1);
        }
    }
    (Outcome::Pending, order.len())
}

#[cfg(test)]
fn in_order(strategy: Strategy, values: &[Value]) -> (Outcome, usize) {
    let order: Vec<usize> = (0..values.len()).collect();
    feed(strategy, values, &order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanimous_error_message_names_both_samples() {
        let e = VoteError::Disagreement {
            first: (0, "yes".into()),
            second: (3, "no".into()),
        };
        assert_eq!(
            e.to_string(),
            "the samples disagree: sample 0 said \"yes\" but sample 3 said \"no\""
        );
    }

    #[test]
    fn samples_after_a_decision_get_the_same_answer() {
        let mut tally = Tally::new(Strategy::AtLeast(1), 3);
        let first = tally.record(0, Value::Bool(true));
        assert_eq!(first, Outcome::Decided(Ok(Value::Bool(true))));
        assert_eq!(tally.record(1, Value::Bool(false)), first);
        assert_eq!(tally.outcome(), first);
    }

    #[test]
    fn bad_indices_are_errors_not_panics() {
        let mut tally = Tally::new(Strategy::Majority, 2);
        assert!(matches!(
            tally.record(5, t("x")),
            Outcome::Decided(Err(VoteError::Internal(_)))
        ));
        let mut tally = Tally::new(Strategy::Majority, 3);
        assert_eq!(tally.record(0, t("x")), Outcome::Pending);
        assert!(matches!(
            tally.record(0, t("x")),
            Outcome::Decided(Err(VoteError::Internal(_)))
        ));
        let tally = Tally::new(Strategy::Majority, 0);
        assert!(matches!(tally.outcome(), Outcome::Decided(Err(_))));
    }
}

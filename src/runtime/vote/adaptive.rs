//! Adaptive votes: `vote up to N by majority until P`.
//!
//! A vote of a fixed size stops early only when the outcome is *certain*
//! (the exact rule in `strategies`). An adaptive vote also stops when it is
//! *confident*: after each sample, in sample order, it asks how likely it is
//! that the leading answer is the one the model gives most often, treating
//! the answers seen so far as draws from an unknown distribution with a
//! uniform prior (Adaptive-Consistency, Aggarwal et al. 2023):
//!
//! - **Beta rule**, two answers with counts `v1 ≥ v2` (one answer seen
//!   counts as two with `v2 = 0`): the share `p` of the leader between the
//!   two is `Beta(v1 + 1, v2 + 1)` a posteriori, and the confidence is
//!   `P(p > 1/2)`. For integer parameters that is a binomial tail,
//!   `P(Bin(v1 + v2 + 1, 1/2) ≤ v1)`, computed exactly.
//! - **Dirichlet rule**, three answers or more with counts `v1 ≥ v2 ≥ ...`:
//!   the shares are `Dirichlet(v1 + 1, ..., vm + 1)` and the confidence is
//!   `P(p1 > max(p2, ..., pm))`. Writing each share as a Gamma variable over
//!   their sum, that is `∫ g(v1+1; x) Π_{j≥2} G(vj+1; x) dx` with `g` and `G`
//!   the Gamma(k, 1) density and distribution function, integrated
//!   numerically (no random draws, so a vote never depends on a seed).
//!
//! A second rule, [`StopRule::FullVote`], asks the question the full vote
//! poses instead: how likely it is that taking every remaining sample would
//! leave the leader ahead. It is the posterior predictive of the same
//! Beta/Dirichlet posterior over the `r = N - n` samples left (a
//! Beta-Binomial or Dirichlet-Multinomial), computed exactly by convolution
//! (`full_vote_confidence`); at `P = 1` it is exactly the decided-early rule.
//! `vote up to N by majority until P` uses the paper's rule, `vote N by
//! majority until P` this one (`graph::StopRule`); the bench measures both
//! (docs/benchmarks.md, "Vote quality against cost").
//!
//! The vote stops at the first sample (in sample order) after which the
//! confidence is at least `P`, or the exact rule decides, or at the cap;
//! with the cap reached the result is the full vote's. Because the decision
//! only ever looks at a prefix of the samples in sample order, results do
//! not depend on the order replies arrive in: a reply past the prefix waits.
//!
//! Samples are launched in waves (`Adaptive::wave`): the first is the fewest
//! unanimous samples that could reach `P`, and each later one the fewest
//! that could decide the vote from where it stands, so an easy question costs
//! what it must and a hard one is not overpaid by more than one wave.

use std::collections::HashMap;

use super::key::vote_key;
use super::{Outcome, Tally};
use crate::graph::{StopRule, Strategy, Until};
use crate::value::Value;

/// Simpson intervals for the Dirichlet integral: with the range below,
/// enough for an error far under 1e-6 at every count a vote can have.
const STEPS: usize = 400;

/// `P(p1 > p2)` for a leader with `v1` answers against a rival with `v2`:
/// the Beta rule, exact.
pub fn beta_confidence(v1: usize, v2: usize) -> f64 {
    // P(Bin(n, 1/2) ≤ v1), n = v1 + v2 + 1, summed in log space so that no
    // term underflows at large counts.
    let n = v1 + v2 + 1;
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_c = 0.0; // ln C(n, 0)
    let mut terms = Vec::with_capacity(v1 + 1);
    for k in 0..=v1.min(n) {
        if k > 0 {
            ln_c += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        terms.push(ln_c + ln_half_n);
    }
    log_sum_exp(&terms).exp().min(1.0)
}

/// `P(p1 > max(p2, ..., pm))` for shares `Dirichlet(v + 1)`, where `counts[0]`
/// is the leader: the Dirichlet rule.
pub fn dirichlet_confidence(counts: &[usize]) -> f64 {
    let Some((&v1, rivals)) = counts.split_first() else {
        return 0.0;
    };
    if rivals.is_empty() {
        return 1.0;
    }
    let a1 = (v1 + 1) as f64;
    // The leader's Gamma variable lies within 12 standard deviations of
    // its mean; nothing outside adds anything a vote could notice.
    let spread = 12.0 * a1.sqrt() + 8.0;
    let lo = (a1 - spread).max(0.0);
    let hi = a1 + spread;
    let h = (hi - lo) / STEPS as f64;
    let ln_gamma_a1 = ln_factorial(v1);
    let f = |x: f64| -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let density = ((a1 - 1.0) * x.ln() - x - ln_gamma_a1).exp();
        rivals
            .iter()
            .fold(density, |acc, &v| acc * gamma_cdf(v + 1, x))
    };
    let mut sum = f(lo) + f(hi);
    for i in 1..STEPS {
        let x = lo + h * i as f64;
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
    }
    (sum * h / 3.0).clamp(0.0, 1.0)
}

/// The confidence that the most frequent of `counts` (any order) is the
/// model's most likely answer: the Beta rule for up to two answers, the
/// Dirichlet rule for more. One answer seen counts as two, the other at 0,
/// so a single sample never makes a vote confident.
pub fn confidence(counts: &[usize]) -> f64 {
    let mut sorted: Vec<usize> = counts.iter().copied().filter(|&c| c > 0).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    match sorted.as_slice() {
        [] => 0.0,
        [v1] => beta_confidence(*v1, 0),
        [v1, v2] => beta_confidence(*v1, *v2),
        _ => dirichlet_confidence(&sorted),
    }
}

/// Whether `counts` make the leader win with confidence `until`; the bounds
/// in [`confidence`] decide most cases without the integral.
pub fn confident(counts: &[usize], until: f64) -> bool {
    if until >= 1.0 {
        // `until 1` asks for certainty: only the exact rule gives it.
        return false;
    }
    let mut sorted: Vec<usize> = counts.iter().copied().filter(|&c| c > 0).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let (Some(&v1), v2) = (sorted.first(), sorted.get(1).copied().unwrap_or(0)) else {
        return false;
    };
    let upper = beta_confidence(v1, v2);
    if upper < until {
        return false;
    }
    if sorted.len() <= 2 {
        return true;
    }
    let lower = 1.0
        - sorted[1..]
            .iter()
            .map(|&v| 1.0 - beta_confidence(v1, v))
            .sum::<f64>();
    lower >= until || dirichlet_memo(&sorted) >= until
}

/// `P(the leader is still ahead after the remaining samples)`, under the
/// posterior predictive of `Dirichlet(v + 1)`: the Dirichlet-Multinomial
/// over `remaining` more samples (the Beta-Binomial with one rival).
/// `rivals` are `(count, wins_ties)`: a rival seen before the leader wins a
/// tie, as in the full vote (ties go to the first in sample order). No rival
/// seen counts as one at 0 that loses ties, as the Beta rule does.
///
/// With `a_i = v_i + 1`, `A = Σ a_i` and future counts `x_i` summing to `r`,
/// `P(x) = Π C(a_i + x_i − 1, x_i) / C(A + r − 1, r)`; the sum over the `x`
/// that leave the leader ahead is, for each leader count `x_1`, one
/// coefficient of the product of the rivals' truncated series, so the cost
/// is `O(m r³)` for `m` answers and no random draws are involved.
pub fn full_vote_confidence(leader: usize, rivals: &[(usize, bool)], remaining: usize) -> f64 {
    let phantom = [(0, false)];
    let rivals = if rivals.is_empty() {
        &phantom[..]
    } else {
        rivals
    };
    let ahead = |l: usize, v: usize, wins_ties: bool| l > v || (l == v && !wins_ties);
    if remaining == 0 {
        return f64::from(u8::from(rivals.iter().all(|&(v, t)| ahead(leader, v, t))));
    }
    let r = remaining;
    // series(a)[x] = C(a + x − 1, x), the weight of x more answers.
    let series = |a: f64| {
        let mut w = vec![1.0; r + 1];
        for x in 1..=r {
            w[x] = w[x - 1] * (a + x as f64 - 1.0) / x as f64;
        }
        w
    };
    let lead = series((leader + 1) as f64);
    let weights: Vec<Vec<f64>> = rivals
        .iter()
        .map(|&(v, _)| series((v + 1) as f64))
        .collect();
    let alpha: f64 = (leader + 1) as f64 + rivals.iter().map(|&(v, _)| (v + 1) as f64).sum::<f64>();
    // C(A + r − 1, r): the total weight of every way the r samples can fall.
    let total = (1..=r).fold(1.0, |z, x| z * (alpha + x as f64 - 1.0) / x as f64);
    let mut sum = 0.0;
    'leader: for (x1, w1) in lead.iter().enumerate() {
        let final_lead = leader + x1;
        let rest = r - x1;
        let mut poly = vec![0.0; rest + 1];
        poly[0] = 1.0;
        for (&(v, wins_ties), w) in rivals.iter().zip(&weights) {
            // The most this rival may gain and stay behind.
            let Some(most) = (final_lead + usize::from(!wins_ties)).checked_sub(v + 1) else {
                continue 'leader;
            };
            let most = most.min(rest);
            let mut next = vec![0.0; rest + 1];
            for (d, &c) in poly.iter().enumerate() {
                if c == 0.0 {
                    continue;
                }
                for (x, &wx) in w.iter().enumerate().take(most.min(rest - d) + 1) {
                    next[d + x] += c * wx;
                }
            }
            poly = next;
        }
        sum += w1 * poly[rest];
    }
    (sum / total).clamp(0.0, 1.0)
}

/// `P(at least k of the samples say yes)` once the `remaining` are in, with
/// `yes` and `no` so far: the Beta-Binomial tail of the posterior
/// predictive, `Σ_{x ≥ k − yes} C(yes + x, x) C(no + r − x, r − x) / C(yes +
/// no + r + 1, r)` (a uniform prior on the share of yes).
pub fn at_least_confidence(yes: usize, no: usize, remaining: usize, k: usize) -> f64 {
    let Some(need) = k.checked_sub(yes).filter(|&n| n > 0) else {
        return 1.0;
    };
    let r = remaining;
    if need > r {
        return 0.0;
    }
    let series = |a: usize| {
        let mut w = vec![1.0; r + 1];
        for x in 1..=r {
            w[x] = w[x - 1] * (a + x) as f64 / x as f64;
        }
        w
    };
    let (wy, wn) = (series(yes), series(no));
    let total = (1..=r).fold(1.0, |z, x| z * (yes + no + 1 + x) as f64 / x as f64);
    let sum: f64 = (need..=r).map(|x| wy[x] * wn[r - x]).sum();
    (sum / total).clamp(0.0, 1.0)
}

fn at_least_memo(yes: usize, no: usize, remaining: usize, k: usize) -> f64 {
    // Tag 2: the at_least rule.
    let key = vec![2, key_u32(yes), key_u32(no), key_u32(remaining), key_u32(k)];
    memo::get_or(key, || at_least_confidence(yes, no, remaining, k))
}

/// Memoised confidences: a vote asks about the same few count vectors over
/// and over (every wave sizes itself by trying counts ahead), and so do the
/// votes of a batch. Bounded, so a long-lived server cannot grow it forever.
mod memo {
    use std::cell::RefCell;
    use std::collections::HashMap;

    const LIMIT: usize = 1 << 16;

    thread_local! {
        static TABLE: RefCell<HashMap<Vec<u32>, f64>> = RefCell::new(HashMap::new());
    }

    /// `compute()` for `key`, from the table when it is there.
    pub fn get_or(key: Vec<u32>, compute: impl FnOnce() -> f64) -> f64 {
        if let Some(v) = TABLE.with(|t| t.borrow().get(&key).copied()) {
            return v;
        }
        let v = compute();
        TABLE.with(|t| {
            let mut t = t.borrow_mut();
            if t.len() >= LIMIT {
                t.clear();
            }
            t.insert(key, v);
        });
        v
    }
}

fn key_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// [`dirichlet_confidence`] of counts sorted largest first, memoised.
fn dirichlet_memo(sorted: &[usize]) -> f64 {
    // Tag 0: the Dirichlet rule.
    let key = std::iter::once(0)
        .chain(sorted.iter().map(|&c| key_u32(c)))
        .collect();
    memo::get_or(key, || dirichlet_confidence(sorted))
}

/// [`full_vote_confidence`] with the rivals sorted, memoised.
fn full_vote_memo(leader: usize, rivals: &mut [(usize, bool)], remaining: usize) -> f64 {
    rivals.sort_unstable();
    // Tag 1: the full-vote rule.
    let key = [1, key_u32(leader), key_u32(remaining)]
        .into_iter()
        .chain(rivals.iter().map(|&(v, t)| key_u32(v) * 2 + u32::from(t)))
        .collect();
    memo::get_or(key, || full_vote_confidence(leader, rivals, remaining))
}

/// [`full_vote_memo`] when samples may abstain: the full vote has an answer
/// only with a quorum of `quorum` answers (as `Tally` requires), and once
/// an abstention has been seen the samples left may abstain too. Their
/// answers are then Beta-Binomial, the answer rate's posterior being
/// `Beta(answered + 1, abstained)`: nothing is predicted to abstain before
/// anything has, so a vote without abstentions stops as it always did.
/// Without this, three abstentions and two agreeing answers of fifteen
/// stopped a vote whose full run would most likely have had no quorum.
fn full_vote_with_abstentions(
    leader: usize,
    rivals: &mut [(usize, bool)],
    remaining: usize,
    (answered, abstained): (usize, usize),
    quorum: usize,
) -> f64 {
    if abstained == 0 {
        return full_vote_memo(leader, rivals, remaining);
    }
    let need = quorum.saturating_sub(answered);
    let (a, b) = (answered + 1, abstained);
    // ln n! for every n the terms use, once: wave sizing asks this again and
    // again, and a cap may be 1,000.
    let mut ln_fact = vec![0.0; remaining + a + b + 1];
    for n in 2..ln_fact.len() {
        ln_fact[n] = ln_fact[n - 1] + (n as f64).ln();
    }
    // ln B(x, y) for whole x, y ≥ 1.
    let ln_beta = |x: usize, y: usize| ln_fact[x - 1] + ln_fact[y - 1] - ln_fact[x + y - 1];
    let ln_choose = |n: usize, k: usize| ln_fact[n] - ln_fact[k] - ln_fact[n - k];
    (need..=remaining)
        .map(|j| {
            let p =
                (ln_choose(remaining, j) + ln_beta(j + a, remaining - j + b) - ln_beta(a, b)).exp();
            // A future too unlikely to matter is not worth its convolution.
            if p < 1e-12 {
                0.0
            } else {
                p * full_vote_memo(leader, rivals, j)
            }
        })
        .sum::<f64>()
        .clamp(0.0, 1.0)
}

/// `P(Gamma(k, 1) ≤ x)` for a whole `k ≥ 1`: one minus the Poisson(x)
/// probability of fewer than `k` events, summed downwards from the largest
/// term so that nothing underflows.
fn gamma_cdf(k: usize, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    // term_i = e^-x x^i / i!, from i = k - 1 down to 0, summed relative to
    // the top term and scaled by it in log space at the end.
    let top = k.saturating_sub(1);
    let ln_top = top as f64 * x.ln() - x - ln_factorial(top);
    let mut term = 1.0;
    let mut sum = 0.0;
    let mut i = top;
    loop {
        sum += term;
        if i == 0 || term < sum * 1e-17 && (i as f64) < x {
            break;
        }
        term *= i as f64 / x;
        i -= 1;
    }
    (1.0 - (ln_top + sum.ln()).exp()).clamp(0.0, 1.0)
}

fn ln_factorial(n: usize) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

fn log_sum_exp(terms: &[f64]) -> f64 {
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

/// How decided a vote was: what a program reads as the vote's agreement.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// Samples that answered.
    pub answered: usize,
    /// Samples that abstained (failed after every attempt).
    pub abstained: usize,
    /// Answers equal to the winner.
    pub winner: usize,
    /// The most samples the vote could take.
    pub cap: usize,
}

impl Agreement {
    /// The winner's share of the samples that answered (0 when none did).
    pub fn share(&self) -> f64 {
        if self.answered == 0 {
            0.0
        } else {
            self.winner as f64 / self.answered as f64
        }
    }
}

/// What an adaptive vote decides: the most frequent answer, or whether at
/// least `K` samples say yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Majority,
    AtLeast(usize),
}

/// An adaptive `majority` or `at_least K` vote fed in sample order: the
/// exact rule over the cap, and the confidence rule over the samples so far.
pub struct Adaptive {
    tally: Tally,
    kind: Kind,
    until: f64,
    rule: StopRule,
    cap: usize,
    /// Each answer's canonical key → (count, its first value in sample order).
    groups: HashMap<String, (usize, usize, Value)>,
    /// Samples taken (answered or abstained), all of sample order `0..used`.
    used: usize,
    abstained: usize,
    decided: Option<Outcome>,
}

impl Adaptive {
    /// A majority vote of at most `cap` samples that stops at confidence
    /// `until`, by the paper's rule.
    pub fn new(cap: usize, until: f64) -> Adaptive {
        Adaptive::with_rule(cap, until, StopRule::Leader)
    }

    /// As [`Adaptive::new`], stopping by `rule`.
    pub fn with_rule(cap: usize, until: f64, rule: StopRule) -> Adaptive {
        Adaptive::build(Kind::Majority, cap, until, rule)
    }

    /// The adaptive vote `strategy` asks for: `majority` by `until`'s rule,
    /// `at_least K` always by the full-vote rule (the only one that asks
    /// about a count); `None` for a strategy that cannot stop once confident.
    pub fn for_strategy(strategy: &Strategy, cap: usize, until: Until) -> Option<Adaptive> {
        match strategy {
            Strategy::Majority => Some(Adaptive::with_rule(cap, until.confidence, until.rule)),
            Strategy::AtLeast(k) => {
                let k = usize::try_from(*k).unwrap_or(usize::MAX);
                Some(Adaptive::build(
                    Kind::AtLeast(k),
                    cap,
                    until.confidence,
                    StopRule::FullVote,
                ))
            }
            _ => None,
        }
    }

    fn build(kind: Kind, cap: usize, until: f64, rule: StopRule) -> Adaptive {
        let strategy = match kind {
            Kind::Majority => Strategy::Majority,
            Kind::AtLeast(k) => Strategy::AtLeast(u32::try_from(k).unwrap_or(u32::MAX)),
        };
        Adaptive {
            tally: Tally::new(strategy, cap),
            kind,
            until,
            rule,
            cap,
            groups: HashMap::new(),
            used: 0,
            abstained: 0,
            decided: None,
        }
    }

    /// The next sample in sample order answered `value`.
    pub fn record(&mut self, value: Value) -> Outcome {
        if let Some(done) = &self.decided {
            return done.clone();
        }
        let index = self.used;
        let key = vote_key(&value);
        let next_first = self.groups.len();
        let group = self
            .groups
            .entry(key)
            .or_insert_with(|| (0, next_first, value.clone()));
        group.0 += 1;
        self.used += 1;
        let exact = self.tally.record(index, value);
        self.settle(exact)
    }

    /// The next sample in sample order gave no answer, for `cause`.
    pub fn abstain(&mut self, cause: String) -> Outcome {
        if let Some(done) = &self.decided {
            return done.clone();
        }
        let index = self.used;
        self.used += 1;
        self.abstained += 1;
        let exact = self.tally.abstain(index, cause);
        self.settle(exact)
    }

    fn settle(&mut self, exact: Outcome) -> Outcome {
        let outcome = match exact {
            Outcome::Pending => match self.verdict(0, Lean::Leader) {
                Some(value) => Outcome::Decided(Ok(value)),
                None => Outcome::Pending,
            },
            other => other,
        };
        if !matches!(outcome, Outcome::Pending) {
            self.decided = Some(outcome.clone());
        }
        outcome
    }

    fn counts(&self) -> Vec<usize> {
        self.groups.values().map(|g| g.0).collect()
    }

    #[cfg(test)]
    fn confident(&self) -> bool {
        self.verdict(0, Lean::Leader).is_some()
    }

    /// Samples answering `value` so far.
    fn count_of(&self, value: &Value) -> usize {
        self.groups.get(&vote_key(value)).map_or(0, |g| g.0)
    }

    /// What the rule decides were `extra` more samples to lean as `lean`
    /// says (0 for the samples as they are), or `None` if it decides nothing.
    fn verdict(&self, extra: usize, lean: Lean) -> Option<Value> {
        if self.until >= 1.0 {
            // `until 1` asks for certainty: only the exact rule gives it.
            return None;
        }
        let remaining = self.cap.checked_sub(self.used + extra)?;
        match self.kind {
            Kind::Majority => {
                let met = match self.rule {
                    StopRule::Leader => {
                        let mut counts = self.counts();
                        counts.sort_unstable_by(|a, b| b.cmp(a));
                        match counts.first_mut() {
                            Some(c) => *c += extra,
                            None => counts.push(extra),
                        }
                        confident(&counts, self.until)
                    }
                    StopRule::FullVote => {
                        let (leader, first) = self.leader().map_or((0, usize::MAX), |g| (g.0, g.1));
                        let mut rivals: Vec<(usize, bool)> = self
                            .groups
                            .values()
                            .filter(|g| g.1 != first)
                            .map(|g| (g.0, g.1 < first))
                            .collect();
                        let answered = self.used - self.abstained + extra;
                        leader + extra > 0
                            && full_vote_with_abstentions(
                                leader + extra,
                                &mut rivals,
                                remaining,
                                (answered, self.abstained),
                                self.tally.quorum(),
                            ) >= self.until
                    }
                };
                // Only the samples as they are have a leader to return;
                // trying counts ahead only asks whether it would stop.
                let value = self.leader().map_or(Value::Bool(true), |g| g.2.clone());
                met.then_some(value)
            }
            Kind::AtLeast(k) => {
                let (mut yes, mut no) = (
                    self.count_of(&Value::Bool(true)),
                    self.count_of(&Value::Bool(false)),
                );
                match lean {
                    Lean::Yes => yes += extra,
                    Lean::No => no += extra,
                    Lean::Leader => {}
                }
                let p = at_least_memo(yes, no, remaining, k);
                if p >= self.until {
                    Some(Value::Bool(true))
                } else if p <= 1.0 - self.until {
                    Some(Value::Bool(false))
                } else {
                    None
                }
            }
        }
    }

    /// The most frequent answer, ties to the first in sample order.
    fn leader(&self) -> Option<&(usize, usize, Value)> {
        self.groups
            .values()
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
    }

    /// Samples taken so far, in sample order.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The question its confidence answers.
    pub fn rule(&self) -> StopRule {
        self.rule
    }

    /// How decided the vote is now (final once it is decided): `winner`
    /// counts the answers equal to the result, or to the leader before.
    pub fn agreement(&self) -> Agreement {
        let winner = match &self.decided {
            Some(Outcome::Decided(Ok(value))) => self.count_of(value),
            _ => self.leader().map_or(0, |g| g.0),
        };
        Agreement {
            answered: self.used - self.abstained,
            abstained: self.abstained,
            winner,
            cap: self.cap,
        }
    }

    /// How many more samples to launch now that `launched` have been (all
    /// of them in): the fewest that could decide the vote from here, were
    /// they all to agree (with the leader; for `at_least`, all yes or all
    /// no, whichever decides sooner), and never more than the cap leaves or
    /// `concurrency` allows. 0 once decided or at the cap.
    pub fn wave(&self, launched: usize, concurrency: Option<usize>) -> usize {
        if self.decided.is_some() || launched >= self.cap {
            return 0;
        }
        let left = self.cap - launched;
        // What the exact rule needs, were every new sample to agree.
        let (exact, leans): (usize, &[Lean]) = match self.kind {
            Kind::Majority => {
                let mut counts = self.counts();
                counts.sort_unstable_by(|a, b| b.cmp(a));
                let v1 = counts.first().copied().unwrap_or(0);
                let v2 = counts.get(1).copied().unwrap_or(0);
                // The leader out of reach of the runner-up given everything
                // the cap leaves.
                let exact = (1..=left)
                    .find(|&d| v1 + d > v2 + (left - d))
                    .unwrap_or(left);
                (exact, &[Lean::Leader])
            }
            Kind::AtLeast(k) => {
                let yes = self.count_of(&Value::Bool(true));
                // K yes, or K out of reach even had the abstentions said yes.
                let to_yes = k.saturating_sub(yes);
                let to_no = (yes + self.abstained + left + 1).saturating_sub(k);
                (to_yes.min(to_no), &[Lean::Yes, Lean::No])
            }
        };
        let exact = exact.clamp(1, left);
        let need = (1..exact)
            .find(|&d| {
                leans
                    .iter()
                    .any(|&lean| self.verdict_ahead(launched, d, lean))
            })
            .unwrap_or(exact);
        need.min(concurrency.unwrap_or(usize::MAX).max(1))
    }

    /// [`Adaptive::verdict`] with `d` more samples after the `launched`.
    fn verdict_ahead(&self, launched: usize, d: usize, lean: Lean) -> bool {
        // Samples launched but not in yet count as still to come.
        let extra = d + launched.saturating_sub(self.used);
        self.verdict(extra, lean).is_some()
    }
}

/// Which way the samples tried ahead of a wave go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lean {
    /// With the leader (majority), or as they are (extra = 0).
    Leader,
    Yes,
    No,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    /// Within what a Simpson rule of `STEPS` intervals guarantees; a
    /// confidence this close to the threshold decides nothing either way
    /// that matters.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn beta_rule_matches_the_binomial_tail_on_known_counts() {
        // P(Beta(a, b) > 1/2) by hand: Beta(2, 1) has density 2p, so 3/4.
        assert!(close(beta_confidence(1, 0), 0.75));
        // Beta(5, 1): 1 - 0.5^5.
        assert!(close(beta_confidence(4, 0), 1.0 - 0.5f64.powi(5)));
        // Equal counts are a coin toss.
        assert!(close(beta_confidence(3, 3), 0.5));
        // Beta(4, 2): P(Bin(5, 1/2) <= 3) = 26/32.
        assert!(close(beta_confidence(3, 1), 26.0 / 32.0));
        // Large counts neither overflow nor underflow.
        let big = beta_confidence(900, 100);
        assert!(big > 0.999_999 && big <= 1.0);
        assert!(beta_confidence(100, 900) < 1e-6);
    }

    #[test]
    fn dirichlet_rule_with_two_answers_is_the_beta_rule() {
        for (a, b) in [(1, 0), (3, 1), (5, 5), (10, 3), (30, 10)] {
            let d = dirichlet_confidence(&[a, b]);
            assert!(close(d, beta_confidence(a, b)), "{a},{b}: {d}");
        }
    }

    #[test]
    fn dirichlet_rule_on_known_counts() {
        // Three answers seen once each: symmetric, so 1/3.
        assert!(close(dirichlet_confidence(&[1, 1, 1]), 1.0 / 3.0));
        // Four answers tied at 2: 1/4.
        assert!(close(dirichlet_confidence(&[2, 2, 2, 2]), 0.25));
        // More rivals can only lower the confidence.
        let two = dirichlet_confidence(&[6, 2]);
        let three = dirichlet_confidence(&[6, 2, 2]);
        assert!(three < two);
        // Between the union bound and the Beta rule over the top two.
        let d = dirichlet_confidence(&[8, 1, 1]);
        let beta = beta_confidence(8, 1);
        assert!(d < beta && d > 1.0 - 2.0 * (1.0 - beta), "{d}");
    }

    #[test]
    fn full_vote_rule_on_known_counts() {
        // One sample left, a rival seen first: the leader must get it, at
        // its predictive share a1 / A = 2 / 4.
        assert!(close(full_vote_confidence(1, &[(1, true)], 1), 0.5));
        // Beta-Binomial, leader 2 against an earlier 1, two left: only
        // both going to the rival loses, weight C(2, 0) C(3, 2) / C(6, 2).
        assert!(close(full_vote_confidence(2, &[(1, true)], 2), 0.8));
        // A rival seen later loses ties: 1–1 with nothing left is the leader's.
        assert!(close(full_vote_confidence(1, &[(1, false)], 0), 1.0));
        assert!(close(full_vote_confidence(1, &[(1, true)], 0), 0.0));
        // Out of reach is certain; a single answer seen has a rival at 0.
        assert!(close(full_vote_confidence(5, &[(1, true)], 3), 1.0));
        assert!(close(full_vote_confidence(3, &[], 2), 1.0));
        assert!(full_vote_confidence(3, &[], 30) < full_vote_confidence(3, &[], 10));
    }

    /// The Dirichlet-Multinomial probability of future counts `x`, from the
    /// Gamma-function formula `r!/Πx_i! · Γ(A)/Γ(A+r) · Π Γ(a_i+x_i)/Γ(a_i)`.
    fn dirichlet_multinomial(a: &[usize], x: &[usize]) -> f64 {
        let lf = ln_factorial;
        let (big_a, r): (usize, usize) = (a.iter().sum(), x.iter().sum());
        let mut ln = lf(r) + lf(big_a - 1) - lf(big_a + r - 1);
        for (&ai, &xi) in a.iter().zip(x) {
            ln += lf(ai + xi - 1) - lf(ai - 1) - lf(xi);
        }
        ln.exp()
    }

    #[test]
    fn full_vote_rule_matches_the_dirichlet_multinomial_enumerated() {
        for (leader, rivals, r) in [
            (4, vec![(2, true), (1, false)], 6),
            (3, vec![(3, false), (1, true)], 5),
            (6, vec![(2, false), (2, true)], 9),
        ] {
            let a: Vec<usize> = std::iter::once(leader + 1)
                .chain(rivals.iter().map(|&(v, _)| v + 1))
                .collect();
            let mut expected = 0.0;
            for x1 in 0..=r {
                for x2 in 0..=r - x1 {
                    let x3 = r - x1 - x2;
                    let l = leader + x1;
                    let ahead = |v: usize, t: bool| l > v || (l == v && !t);
                    if ahead(rivals[0].0 + x2, rivals[0].1) && ahead(rivals[1].0 + x3, rivals[1].1)
                    {
                        expected += dirichlet_multinomial(&a, &[x1, x2, x3]);
                    }
                }
            }
            let got = full_vote_confidence(leader, &rivals, r);
            assert!(
                close(got, expected),
                "{leader} {rivals:?} {r}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn the_full_vote_rule_stops_where_the_leader_rule_does_not() {
        // Near the cap a lead is safe that says little about the model.
        let mut a = Adaptive::with_rule(13, 0.95, StopRule::FullVote);
        let mut b = Adaptive::new(13, 0.95);
        for v in ["a", "b", "a", "b", "a", "a", "b", "a", "a"] {
            a.record(t(v));
            assert_eq!(b.record(t(v)), Outcome::Pending);
        }
        // 6–3 with four left: only all four going to the rival overturns
        // it, predictive weight C(7, 4) / C(14, 4) = 35 / 1001; the Beta
        // rule says P(Bin(10, 1/2) ≤ 6) = 848 / 1024.
        assert!(close(
            full_vote_confidence(6, &[(3, false)], 4),
            1.0 - 35.0 / 1001.0
        ));
        assert!(close(confidence(&[6, 3]), 848.0 / 1024.0));
        assert_eq!(a.record(t("a")), Outcome::Decided(Ok(t("a"))));
        assert!(a.used() <= 9, "{}", a.used());
        assert!(!b.confident());
    }

    #[test]
    fn at_least_rule_is_the_beta_binomial_tail() {
        // One sample left, nothing seen: a coin toss.
        assert!(close(at_least_confidence(0, 0, 1, 1), 0.5));
        // One yes, two left, two needed: 1 − P(both no) = 1 − E[(1 − p)²]
        // under Beta(2, 1) = 1 − 1/6.
        assert!(close(at_least_confidence(1, 0, 2, 2), 5.0 / 6.0));
        // Four no, five left, three needed: (15 + 5 + 1) / C(10, 5).
        assert!(close(at_least_confidence(0, 4, 5, 3), 21.0 / 252.0));
        assert!(close(at_least_confidence(3, 9, 0, 3), 1.0));
        assert!(close(at_least_confidence(0, 0, 2, 3), 0.0));
    }

    #[test]
    fn an_adaptive_at_least_vote_stops_once_the_count_is_confidently_out_of_reach() {
        let b = Value::Bool;
        let Some(mut a) = Adaptive::for_strategy(&Strategy::AtLeast(3), 9, Until::leader(0.9))
        else {
            panic!("at_least is adaptive");
        };
        // Three no: P(three yes among the six left) = 35 / 210 > 0.1.
        for _ in 0..3 {
            assert_eq!(a.record(b(false)), Outcome::Pending);
        }
        // Four: 21 / 252 ≤ 0.1, where the exact rule would wait for seven.
        assert_eq!(a.record(b(false)), Outcome::Decided(Ok(b(false))));
        assert_eq!(a.agreement().winner, 4);
        // Yes three times is certain, as in a vote of exactly 9.
        let Some(mut a) = Adaptive::for_strategy(&Strategy::AtLeast(3), 9, Until::leader(0.9))
        else {
            panic!("at_least is adaptive");
        };
        a.record(b(true));
        a.record(b(true));
        assert_eq!(a.record(b(true)), Outcome::Decided(Ok(b(true))));
        assert!(Adaptive::for_strategy(&Strategy::Mean, 9, Until::leader(0.9)).is_none());
    }

    #[test]
    fn confidence_uses_the_bounds_consistently() {
        for counts in [
            vec![5, 1, 1],
            vec![4, 3, 1],
            vec![9, 2, 1, 1],
            vec![7, 7, 1],
        ] {
            let exact = dirichlet_confidence(&counts);
            assert!(close(confidence(&counts), exact) || confidence(&counts) <= exact + 1e-6);
            for p in [0.9, 0.95, 0.99] {
                assert_eq!(confident(&counts, p), exact >= p, "{counts:?} at {p}");
            }
        }
        assert!(!confident(&[40], 1.0));
        assert_eq!(confidence(&[]), 0.0);
    }

    #[test]
    fn four_unanimous_samples_reach_095_and_three_do_not() {
        let mut a = Adaptive::new(40, 0.95);
        assert_eq!(a.wave(0, None), 4);
        for _ in 0..3 {
            assert_eq!(a.record(t("x")), Outcome::Pending);
        }
        assert_eq!(a.record(t("X ")), Outcome::Decided(Ok(t("x"))));
        assert_eq!(a.used(), 4);
        assert_eq!(a.wave(4, None), 0);
        assert_eq!(
            a.agreement(),
            Agreement {
                answered: 4,
                abstained: 0,
                winner: 4,
                cap: 40
            }
        );
    }

    #[test]
    fn waves_stay_within_the_cap_and_concurrency() {
        let mut a = Adaptive::new(5, 0.99);
        assert_eq!(a.wave(0, Some(2)), 2);
        assert!(a.wave(0, None) <= 5);
        a.record(t("a"));
        a.record(t("b"));
        a.record(t("a"));
        assert!(a.wave(3, None) <= 2);
        assert_eq!(a.wave(5, None), 0);
    }

    #[test]
    fn until_one_is_the_exact_rule() {
        let mut a = Adaptive::new(5, 1.0);
        assert_eq!(a.wave(0, None), 3);
        assert_eq!(a.record(t("a")), Outcome::Pending);
        assert_eq!(a.record(t("a")), Outcome::Pending);
        assert_eq!(a.record(t("a")), Outcome::Decided(Ok(t("a"))));
    }

    #[test]
    fn the_full_vote_rule_waits_while_abstentions_put_its_quorum_at_risk() {
        // Fifteen samples need eight answers. Two agreeing answers and three
        // abstentions: the ten left would as likely abstain as answer, so
        // the full vote would most likely have no quorum.
        let mut a = Adaptive::with_rule(15, 0.9, StopRule::FullVote);
        for _ in 0..3 {
            assert_eq!(a.abstain("unparsable".into()), Outcome::Pending);
        }
        assert_eq!(a.record(t("2")), Outcome::Pending);
        assert_eq!(a.record(t("2")), Outcome::Pending);
        // With the same two answers and no abstention it stops at once.
        let mut b = Adaptive::with_rule(15, 0.9, StopRule::FullVote);
        b.record(t("2"));
        assert_eq!(b.record(t("2")), Outcome::Decided(Ok(t("2"))));
        // Once answers clearly outnumber abstentions it stops again: at six
        // answers to three abstentions, before the quorum of eight is in.
        let mut outcome = Outcome::Pending;
        while outcome == Outcome::Pending {
            outcome = a.record(t("2"));
        }
        assert_eq!(outcome, Outcome::Decided(Ok(t("2"))));
        assert_eq!(a.agreement().answered, 6);
    }

    #[test]
    fn abstentions_count_as_used_but_not_as_answers() {
        let mut a = Adaptive::new(9, 0.95);
        a.abstain("timeout".into());
        for _ in 0..3 {
            assert_eq!(a.record(t("a")), Outcome::Pending);
        }
        assert_eq!(a.record(t("a")), Outcome::Decided(Ok(t("a"))));
        let agreement = a.agreement();
        assert_eq!((agreement.answered, agreement.abstained), (4, 1));
        assert!(close(agreement.share(), 1.0));
    }

    proptest::proptest! {
        /// With the cap reached, the adaptive vote is the full vote.
        #[test]
        fn at_the_cap_the_result_is_the_full_votes(
            answers in proptest::collection::vec(0u8..4, 1..30),
            until in 0.6f64..0.999,
            full_vote_rule in proptest::bool::ANY,
        ) {
            let values: Vec<Value> = answers.iter().map(|a| t(&format!("v{a}"))).collect();
            let rule = if full_vote_rule { StopRule::FullVote } else { StopRule::Leader };
            let mut adaptive = Adaptive::with_rule(values.len(), until, rule);
            let mut outcome = Outcome::Pending;
            for v in &values {
                outcome = adaptive.record(v.clone());
                if outcome != Outcome::Pending {
                    break;
                }
            }
            let (full, _) = super::super::in_order(Strategy::Majority, &values);
            if adaptive.used() == values.len() {
                proptest::prop_assert_eq!(outcome, full);
            } else {
                // Stopped early: only ever on a confident or certain leader.
                let counts = adaptive.counts();
                proptest::prop_assert!(
                    adaptive.confident() || outcome == full,
                    "{:?}", counts
                );
            }
        }

        /// With the cap reached, an adaptive `at_least` is the full vote;
        /// stopped early, it stopped on a confident count.
        #[test]
        fn at_least_at_the_cap_is_the_full_vote(
            answers in proptest::collection::vec(proptest::bool::ANY, 1..30),
            k in 1usize..20,
            until in 0.6f64..0.999,
            concurrency in 1usize..8,
        ) {
            let cap = answers.len();
            let strategy = Strategy::AtLeast(u32::try_from(k).unwrap_or(u32::MAX));
            let Some(mut adaptive) = Adaptive::for_strategy(&strategy, cap, Until::leader(until)) else {
                return Err(proptest::test_runner::TestCaseError::fail("not adaptive"));
            };
            let values: Vec<Value> = answers.iter().map(|&a| Value::Bool(a)).collect();
            let mut launched = 0;
            let mut outcome = Outcome::Pending;
            'waves: loop {
                let wave = adaptive.wave(launched, Some(concurrency));
                proptest::prop_assert!(wave <= concurrency && launched + wave <= cap);
                if wave == 0 {
                    break;
                }
                for v in &values[launched..launched + wave] {
                    outcome = adaptive.record(v.clone());
                    if outcome != Outcome::Pending {
                        break 'waves;
                    }
                }
                launched += wave;
            }
            let (full, _) = super::super::in_order(strategy, &values);
            if adaptive.used() == cap {
                proptest::prop_assert_eq!(outcome, full);
            } else {
                proptest::prop_assert!(outcome != Outcome::Pending);
            }
        }

        /// Waves never exceed the cap or the concurrency, and always
        /// launch something until the vote is decided or at its cap.
        #[test]
        fn waves_never_exceed_the_cap_or_concurrency(
            answers in proptest::collection::vec(0u8..3, 1..40),
            concurrency in 1usize..8,
            until in 0.6f64..1.0,
            full_vote_rule in proptest::bool::ANY,
        ) {
            let cap = answers.len();
            let rule = if full_vote_rule { StopRule::FullVote } else { StopRule::Leader };
            let mut adaptive = Adaptive::with_rule(cap, until, rule);
            let mut launched = 0;
            loop {
                let wave = adaptive.wave(launched, Some(concurrency));
                proptest::prop_assert!(wave <= concurrency);
                proptest::prop_assert!(launched + wave <= cap);
                if wave == 0 {
                    break;
                }
                let mut decided = false;
                for a in &answers[launched..launched + wave] {
                    decided = adaptive.record(t(&a.to_string())) != Outcome::Pending;
                    if decided {
                        break;
                    }
                }
                launched += wave;
                if decided {
                    proptest::prop_assert_eq!(adaptive.wave(launched, Some(concurrency)), 0);
                    break;
                }
            }
            proptest::prop_assert!(launched <= cap);
        }
    }
}

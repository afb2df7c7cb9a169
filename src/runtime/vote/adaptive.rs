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
use crate::graph::Strategy;
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
    lower >= until || dirichlet_confidence(&sorted) >= until
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

/// An adaptive `majority` vote fed in sample order: the exact rule over the
/// cap, and the confidence rule over the samples so far.
pub struct Adaptive {
    tally: Tally,
    until: f64,
    cap: usize,
    /// Each answer's canonical key → (count, its first value in sample order).
    groups: HashMap<String, (usize, usize, Value)>,
    /// Samples taken (answered or abstained), all of sample order `0..used`.
    used: usize,
    abstained: usize,
    decided: Option<Outcome>,
}

impl Adaptive {
    /// A vote of at most `cap` samples that stops at confidence `until`.
    pub fn new(cap: usize, until: f64) -> Adaptive {
        Adaptive {
            tally: Tally::new(Strategy::Majority, cap),
            until,
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
            Outcome::Pending if self.confident() => match self.leader() {
                Some((_, _, value)) => Outcome::Decided(Ok(value.clone())),
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

    fn confident(&self) -> bool {
        confident(&self.counts(), self.until)
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

    /// How decided the vote is now (final once it is decided).
    pub fn agreement(&self) -> Agreement {
        Agreement {
            answered: self.used - self.abstained,
            abstained: self.abstained,
            winner: self.leader().map_or(0, |g| g.0),
            cap: self.cap,
        }
    }

    /// How many more samples to launch now that `launched` have been (all
    /// of them in): the fewest that could decide the vote from here, were
    /// they all to agree with the leader, and never more than the cap leaves
    /// or `concurrency` allows. 0 once decided or at the cap.
    pub fn wave(&self, launched: usize, concurrency: Option<usize>) -> usize {
        if self.decided.is_some() || launched >= self.cap {
            return 0;
        }
        let left = self.cap - launched;
        let mut counts = self.counts();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        if counts.is_empty() {
            counts.push(0);
        }
        let v2 = counts.get(1).copied().unwrap_or(0);
        // The exact rule: the leader out of reach of the runner-up given
        // everything the cap leaves.
        let exact = (1..=left)
            .find(|&d| counts[0] + d > v2 + (left - d))
            .unwrap_or(left);
        let mut need = exact;
        if self.until < 1.0 {
            for d in 1..exact {
                counts[0] += 1;
                if confident(&counts, self.until) {
                    need = d;
                    break;
                }
            }
        }
        need.clamp(1, left)
            .min(concurrency.unwrap_or(usize::MAX).max(1))
    }
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
        ) {
            let values: Vec<Value> = answers.iter().map(|a| t(&format!("v{a}"))).collect();
            let mut adaptive = Adaptive::new(values.len(), until);
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
                    confident(&counts, until) || outcome == full
                );
            }
        }

        /// Waves never exceed the cap or the concurrency, and always
        /// launch something until the vote is decided or at its cap.
        #[test]
        fn waves_never_exceed_the_cap_or_concurrency(
            answers in proptest::collection::vec(0u8..3, 1..40),
            concurrency in 1usize..8,
            until in 0.6f64..1.0,
        ) {
            let cap = answers.len();
            let mut adaptive = Adaptive::new(cap, until);
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

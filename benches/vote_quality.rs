//! Vote quality against cost: how many samples each way of voting takes,
//! and how often it answers differently from a full vote.
//!
//! No network and no runtime: a simulated noisy oracle per question draws
//! answers from a fixed distribution (the right answer with probability `p`,
//! the rest spread evenly over `k - 1` wrong ones), seeded, and the same 40
//! draws per question are given, in sample order, to
//!
//! - the full vote of 40 (`vote 40 by majority`, every sample taken),
//! - decided-early (the same vote stopping once the outcome is certain: the
//!   runtime's exact rule, `Tally`),
//! - adaptive at 0.95 and 0.99 (`vote up to 40 by majority until P`: the
//!   runtime's `Adaptive`, with its waves), by the paper's rule (`Leader`:
//!   is the leader the model's most frequent answer?),
//! - the full-vote rule (`vote 40 by majority until P`, `FullVote`: would
//!   the full vote give the leader?), at 0.95, 0.99 and 0.995,
//!
//! and, for the frontier of samples against answers changed, both rules at
//! more thresholds (summary lines only).
//!
//! Every rule is the library's own code (`flow::runtime::vote`), not a copy.
//! "Samples" is what a vote pays for: every sample launched (an adaptive
//! wave is launched whole), "used" the prefix its rule looked at; "changed"
//! the fraction of questions whose answer differs from the full vote's, and
//! "wrong" the fraction whose answer is not the right one.
//!
//! Goal (docs/benchmarks.md): adaptive at 0.95 takes at least 3× fewer
//! samples than the full vote with at most 0.1% of answers changed, on
//! average over p ∈ [0.5, 0.9].
//!
//!     cargo bench --bench vote_quality
//!     FLOW_BENCH_QUESTIONS=2000 cargo bench --bench vote_quality   # quicker

use std::time::Instant;

use flow::graph::{StopRule, Strategy};
use flow::runtime::vote::adaptive::Adaptive;
use flow::runtime::vote::{Outcome, Tally};
use flow::value::Value;

const CAP: usize = 40;
const PS: [f64; 6] = [0.35, 0.5, 0.6, 0.7, 0.8, 0.9];
const ANSWER_SETS: [usize; 4] = [2, 3, 5, 10];

/// splitmix64: small, seeded, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Answer 0 (right) with probability `p`, else one of `1..k` evenly.
    fn answer(&mut self, p: f64, k: usize) -> i64 {
        if self.unit() < p || k < 2 {
            0
        } else {
            1 + (self.next() % (k as u64 - 1)) as i64
        }
    }
}

fn value(outcome: Outcome) -> Option<Value> {
    match outcome {
        Outcome::Decided(Ok(v)) => Some(v),
        _ => None,
    }
}

/// The full vote, counted here rather than by the library, so that the
/// bench also checks decided-early against it: the most frequent answer,
/// ties to the one seen first.
fn full(draws: &[Value]) -> Option<Value> {
    let mut counts: Vec<(&Value, usize)> = Vec::new();
    for v in draws {
        match counts.iter_mut().find(|(w, _)| *w == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let mut best: Option<(&Value, usize)> = None;
    for &(v, n) in &counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((v, n));
        }
    }
    best.map(|(v, _)| v.clone())
}

fn early(draws: &[Value]) -> (Option<Value>, usize) {
    let mut tally = Tally::new(Strategy::Majority, draws.len());
    for (i, v) in draws.iter().enumerate() {
        let o = tally.record(i, v.clone());
        if o != Outcome::Pending {
            return (value(o), i + 1);
        }
    }
    (None, draws.len())
}

/// (answer, samples launched in waves, samples the rule used).
fn adaptive(draws: &[Value], rule: StopRule, until: f64) -> (Option<Value>, usize, usize) {
    let mut vote = Adaptive::with_rule(draws.len(), until, rule);
    let mut launched = 0;
    loop {
        let wave = vote.wave(launched, None);
        if wave == 0 {
            return (None, launched, vote.used());
        }
        let start = launched;
        launched += wave;
        for v in draws.get(start..launched).unwrap_or_default() {
            let o = vote.record(v.clone());
            if o != Outcome::Pending {
                return (value(o), launched, vote.used());
            }
        }
    }
}

/// Every way of voting adaptively that the bench measures: the first
/// `SHOWN` have columns in the table, the rest only summary lines.
const VARIANTS: [(StopRule, f64); 9] = [
    (StopRule::Leader, 0.95),
    (StopRule::Leader, 0.99),
    (StopRule::FullVote, 0.95),
    (StopRule::FullVote, 0.99),
    (StopRule::FullVote, 0.995),
    (StopRule::Leader, 0.98),
    (StopRule::Leader, 0.995),
    (StopRule::FullVote, 0.98),
    (StopRule::FullVote, 0.998),
];
const SHOWN: usize = 5;

fn name(rule: StopRule) -> &'static str {
    match rule {
        StopRule::Leader => "leader",
        StopRule::FullVote => "full-vote",
    }
}

/// Totals over one row's questions for one variant.
#[derive(Default, Clone)]
struct Totals {
    launched: usize,
    used: usize,
    changed: usize,
    wrong: usize,
}

/// Averages over the goal's rows for one variant.
#[derive(Default, Clone)]
struct Goal {
    samples: f64,
    changed: f64,
    loss: f64,
    /// The same sums over the two-answer rows alone (the near-coins).
    two_samples: f64,
    two_changed: f64,
}

fn main() {
    let questions: usize = std::env::var("FLOW_BENCH_QUESTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    println!(
        "{questions} questions per row, full vote N = {CAP}; samples launched per question (used by the rule), answers changed from the full vote"
    );
    println!();
    let mut header = String::from("| k | p | decided-early |");
    let mut rule_line = String::from("| ---: | ---: | ---: |");
    for &(rule, p) in &VARIANTS[..SHOWN] {
        header.push_str(&format!(" {} {p} | changed |", name(rule)));
        rule_line.push_str(" ---: | ---: |");
    }
    header.push_str(" wrong: full |");
    rule_line.push_str(" ---: |");
    for &(rule, p) in &VARIANTS[..SHOWN] {
        header.push_str(&format!(" {} {p} |", name(rule)));
        rule_line.push_str(" ---: |");
    }
    println!("{header}");
    println!("{rule_line}");
    let mut goal = vec![Goal::default(); VARIANTS.len()];
    let mut goal_rows = 0usize;
    for &k in &ANSWER_SETS {
        for &p in &PS {
            let seed = (k as u64) << 32 | (p * 1000.0) as u64;
            let mut rng = Rng(seed);
            let mut early_used = 0;
            let mut wrong_full = 0;
            let mut rows = vec![Totals::default(); VARIANTS.len()];
            for _ in 0..questions {
                let draws: Vec<Value> = (0..CAP).map(|_| Value::Int(rng.answer(p, k))).collect();
                let truth = full(&draws);
                let (e, e_used) = early(&draws);
                assert_eq!(e, truth, "decided-early must equal the full vote");
                early_used += e_used;
                wrong_full += usize::from(truth != Some(Value::Int(0)));
                for (&(rule, until), row) in VARIANTS.iter().zip(&mut rows) {
                    let (answer, launched, used) = adaptive(&draws, rule, until);
                    row.launched += launched;
                    row.used += used;
                    row.changed += usize::from(answer != truth);
                    row.wrong += usize::from(answer != Some(Value::Int(0)));
                }
            }
            let q = questions as f64;
            let per = |n: usize| n as f64 / q;
            let pct = |n: usize| 100.0 * n as f64 / q;
            let mut line = format!("| {k} | {p:.2} | {:.1} |", per(early_used));
            for row in &rows[..SHOWN] {
                line.push_str(&format!(
                    " {:.1} ({:.1}) | {:.2}% |",
                    per(row.launched),
                    per(row.used),
                    pct(row.changed)
                ));
            }
            line.push_str(&format!(" {:.2}% |", pct(wrong_full)));
            for row in &rows[..SHOWN] {
                line.push_str(&format!(" {:.2}% |", pct(row.wrong)));
            }
            println!("{line}");
            if (0.5..=0.9).contains(&p) {
                goal_rows += 1;
                for (g, row) in goal.iter_mut().zip(&rows) {
                    g.samples += per(row.launched);
                    g.changed += pct(row.changed);
                    g.loss += pct(row.wrong) - pct(wrong_full);
                    if k == 2 {
                        g.two_samples += per(row.launched);
                        g.two_changed += pct(row.changed);
                    }
                }
            }
        }
    }
    let n = goal_rows as f64;
    println!();
    println!(
        "over p in [0.5, 0.9], every k (goal: at least 3x fewer samples than {CAP}, at most 0.1% changed):"
    );
    println!();
    println!(
        "| rule | until | samples | fewer than {CAP} | changed | accuracy lost | k = 2: samples, changed (sums over its 5 rows) | k > 2: samples, changed (sums over 15) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (&(rule, until), g) in VARIANTS.iter().zip(&goal) {
        println!(
            "| {} | {until} | {:.2} | {:.2}x | {:.3}% | {:.3} points | {:.1}, {:.2} points | {:.1}, {:.2} points |",
            name(rule),
            g.samples / n,
            CAP as f64 / (g.samples / n),
            g.changed / n,
            g.loss / n,
            g.two_samples,
            g.two_changed,
            g.samples - g.two_samples,
            g.changed - g.two_changed,
        );
    }
    println!();
    bound::print(n);
    println!();
    println!(
        "in {:.1} s wall, {:.1} s CPU",
        start.elapsed().as_secs_f64(),
        cpu_seconds() - cpu_start
    );
}

/// The least any stopping rule could pay on the two-answer rows, however it
/// is built: the Bayes-optimal rule for the bench's own prior (the five
/// values of `p` equally likely, either answer the right one), computed
/// exactly by backward induction over the counts, no simulation. Reading
/// only counts is no restriction for two answers: the sufficient statistic
/// is (samples of the first answer seen, samples of the other). For each
/// price `lambda` of one changed answer in samples, it minimises samples +
/// lambda × P(changed); sweeping `lambda` traces the frontier no rule can
/// pass, not even one told the grid.
mod bound {
    use super::CAP;

    const PS: [f64; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];

    /// The chance the full vote of `CAP` gives the first-seen answer, from
    /// `a` of it and `b` of the other, if each later sample is it with
    /// probability `q` (a tie goes to the first seen, as in the full vote).
    fn first_wins(a: usize, b: usize, q: f64) -> f64 {
        let m = CAP - a - b;
        // a + x >= b + (m - x)  <=>  2x >= b + m - a
        let need = (b + m).saturating_sub(a).div_ceil(2);
        let mut choose = 1.0;
        let mut total = 0.0;
        for x in 0..=m {
            if x >= need {
                total += choose * q.powi(x as i32) * (1.0 - q).powi((m - x) as i32);
            }
            choose = choose * (m - x) as f64 / (x + 1) as f64;
        }
        total
    }

    /// Per row `p`: (samples, P(changed)) of the optimal rule at `lambda`.
    fn frontier(lambda: f64) -> Vec<(f64, f64)> {
        // Hypotheses: (weight of the first-seen answer's share q).
        let hyps: Vec<f64> = PS.iter().flat_map(|&p| [p, 1.0 - p]).collect();
        let idx = |a: usize, b: usize| a * (CAP + 1) + b;
        let mut value = vec![0.0; (CAP + 1) * (CAP + 1)];
        // Stop here, answering the first-seen answer (true) or the other.
        let mut stop = vec![None::<bool>; (CAP + 1) * (CAP + 1)];
        let posterior = |a: usize, b: usize| {
            let w: Vec<f64> = hyps
                .iter()
                .map(|&q| q.powi(a as i32) * (1.0 - q).powi(b as i32))
                .collect();
            let sum: f64 = w.iter().sum();
            w.into_iter().map(|x| x / sum).collect::<Vec<_>>()
        };
        for n in (1..=CAP).rev() {
            for a in 1..=n {
                let b = n - a;
                let w = posterior(a, b);
                let first: f64 = w
                    .iter()
                    .zip(&hyps)
                    .map(|(w, &q)| w * first_wins(a, b, q))
                    .sum();
                let stop_cost = lambda * first.min(1.0 - first);
                let answer = first >= 0.5;
                if n == CAP {
                    stop[idx(a, b)] = Some(answer);
                    continue;
                }
                let next: f64 = w.iter().zip(&hyps).map(|(w, &q)| w * q).sum();
                let go_on = 1.0 + next * value[idx(a + 1, b)] + (1.0 - next) * value[idx(a, b + 1)];
                if stop_cost <= go_on {
                    value[idx(a, b)] = stop_cost;
                    stop[idx(a, b)] = Some(answer);
                } else {
                    value[idx(a, b)] = go_on;
                }
            }
        }
        PS.iter()
            .map(|&p| {
                // The first sample is the right answer with probability p.
                let mut samples = 0.0;
                let mut changed = 0.0;
                for (q, weight) in [(p, p), (1.0 - p, 1.0 - p)] {
                    let mut reach = vec![0.0; (CAP + 1) * (CAP + 1)];
                    reach[idx(1, 0)] = 1.0;
                    for n in 1..=CAP {
                        for a in 1..=n {
                            let b = n - a;
                            let r = reach[idx(a, b)];
                            if r == 0.0 {
                                continue;
                            }
                            match stop[idx(a, b)] {
                                Some(answer) => {
                                    let first = first_wins(a, b, q);
                                    samples += weight * r * n as f64;
                                    changed +=
                                        weight * r * if answer { 1.0 - first } else { first };
                                }
                                None => {
                                    reach[idx(a + 1, b)] += r * q;
                                    reach[idx(a, b + 1)] += r * (1.0 - q);
                                }
                            }
                        }
                    }
                }
                (samples, changed)
            })
            .collect()
    }

    /// The frontier for the two-answer rows, against the goal's budget over
    /// `rows` rows: `CAP / 3` samples and 0.1% changed a row on average.
    pub fn print(rows: f64) {
        println!(
            "the least any rule could take on the 5 two-answer rows (p = 0.5 to 0.9), Bayes-optimal for the grid's own prior; the goal allows {:.1} samples and {:.1} changed points summed over all {rows} rows:",
            rows * CAP as f64 / 3.0,
            rows * 0.1
        );
        println!();
        println!(
            "| price of a change (samples) | samples, sum over the 5 rows | changed, points summed |"
        );
        println!("| ---: | ---: | ---: |");
        for lambda in [200.0, 400.0, 600.0, 800.0, 1600.0, 3200.0] {
            let rows = frontier(lambda);
            let samples: f64 = rows.iter().map(|r| r.0).sum();
            let changed: f64 = rows.iter().map(|r| 100.0 * r.1).sum();
            println!("| {lambda} | {samples:.1} | {changed:.2} |");
        }
    }
}

/// This process's user + system CPU time from /proc, load-independent
/// where wall time is not; 0 where /proc is missing.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses): utime is
    // the 12th and stime the 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

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
//!   runtime's `Adaptive`, with its waves).
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

use flow::graph::Strategy;
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
fn adaptive(draws: &[Value], until: f64) -> (Option<Value>, usize, usize) {
    let mut vote = Adaptive::new(draws.len(), until);
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

#[derive(Default)]
struct Row {
    early: usize,
    a95: usize,
    a95_used: usize,
    a99: usize,
    a99_used: usize,
    changed95: usize,
    changed99: usize,
    wrong_full: usize,
    wrong95: usize,
    wrong99: usize,
}

fn main() {
    let questions: usize = std::env::var("FLOW_BENCH_QUESTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let start = Instant::now();
    println!(
        "{questions} questions per row, full vote N = {CAP}; samples per question (used by the rule)"
    );
    println!();
    println!(
        "| k | p | full | decided-early | adaptive 0.95 | changed | adaptive 0.99 | changed | wrong: full | 0.95 | 0.99 |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    // Averages over p in [0.5, 0.9], every answer set: the goal's terms.
    let (mut goal_rows, mut goal_a95, mut goal_changed95) = (0usize, 0.0, 0.0);
    let (mut goal_a99, mut goal_changed99) = (0.0, 0.0);
    // Accuracy lost against the right answer, the paper's measure.
    let (mut goal_loss95, mut goal_loss99) = (0.0, 0.0);
    for &k in &ANSWER_SETS {
        for &p in &PS {
            let seed = (k as u64) << 32 | (p * 1000.0) as u64;
            let mut rng = Rng(seed);
            let mut row = Row::default();
            for _ in 0..questions {
                let draws: Vec<Value> = (0..CAP).map(|_| Value::Int(rng.answer(p, k))).collect();
                let truth = full(&draws);
                let (e, e_used) = early(&draws);
                assert_eq!(e, truth, "decided-early must equal the full vote");
                let (a95, n95, u95) = adaptive(&draws, 0.95);
                let (a99, n99, u99) = adaptive(&draws, 0.99);
                row.early += e_used;
                row.a95 += n95;
                row.a95_used += u95;
                row.a99 += n99;
                row.a99_used += u99;
                row.changed95 += usize::from(a95 != truth);
                row.changed99 += usize::from(a99 != truth);
                row.wrong_full += usize::from(truth != Some(Value::Int(0)));
                row.wrong95 += usize::from(a95 != Some(Value::Int(0)));
                row.wrong99 += usize::from(a99 != Some(Value::Int(0)));
            }
            let q = questions as f64;
            let per = |n: usize| n as f64 / q;
            let pct = |n: usize| 100.0 * n as f64 / q;
            println!(
                "| {k} | {p:.2} | {CAP} | {:.1} | {:.1} ({:.1}) | {:.2}% | {:.1} ({:.1}) | {:.2}% | {:.2}% | {:.2}% | {:.2}% |",
                per(row.early),
                per(row.a95),
                per(row.a95_used),
                pct(row.changed95),
                per(row.a99),
                per(row.a99_used),
                pct(row.changed99),
                pct(row.wrong_full),
                pct(row.wrong95),
                pct(row.wrong99),
            );
            if (0.5..=0.9).contains(&p) {
                goal_rows += 1;
                goal_a95 += per(row.a95);
                goal_changed95 += pct(row.changed95);
                goal_a99 += per(row.a99);
                goal_changed99 += pct(row.changed99);
                goal_loss95 += pct(row.wrong95) - pct(row.wrong_full);
                goal_loss99 += pct(row.wrong99) - pct(row.wrong_full);
            }
        }
    }
    let n = goal_rows as f64;
    println!();
    println!(
        "over p in [0.5, 0.9], every k: adaptive 0.95 takes {:.2} samples ({:.1}x fewer than {CAP}), {:.3}% changed; adaptive 0.99 takes {:.2} ({:.1}x fewer), {:.3}% changed",
        goal_a95 / n,
        CAP as f64 / (goal_a95 / n),
        goal_changed95 / n,
        goal_a99 / n,
        CAP as f64 / (goal_a99 / n),
        goal_changed99 / n,
    );
    println!(
        "accuracy lost against the right answer (the paper's measure): adaptive 0.95 {:.3} points, 0.99 {:.3} points",
        goal_loss95 / n,
        goal_loss99 / n,
    );
    println!("in {:.1} s", start.elapsed().as_secs_f64());
}

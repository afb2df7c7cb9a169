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
//! - the same with the full-vote rule (`FullVote`: would the full vote give
//!   the leader?), at 0.95, 0.99 and 0.995,
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

use flow::graph::Strategy;
use flow::runtime::vote::adaptive::{Adaptive, Rule};
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
fn adaptive(draws: &[Value], rule: Rule, until: f64) -> (Option<Value>, usize, usize) {
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
const VARIANTS: [(Rule, f64); 9] = [
    (Rule::Leader, 0.95),
    (Rule::Leader, 0.99),
    (Rule::FullVote, 0.95),
    (Rule::FullVote, 0.99),
    (Rule::FullVote, 0.995),
    (Rule::Leader, 0.98),
    (Rule::Leader, 0.995),
    (Rule::FullVote, 0.98),
    (Rule::FullVote, 0.998),
];
const SHOWN: usize = 5;

fn name(rule: Rule) -> &'static str {
    match rule {
        Rule::Leader => "leader",
        Rule::FullVote => "full-vote",
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
    println!("| rule | until | samples | fewer than {CAP} | changed | accuracy lost |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (&(rule, until), g) in VARIANTS.iter().zip(&goal) {
        println!(
            "| {} | {until} | {:.2} | {:.2}x | {:.3}% | {:.3} points |",
            name(rule),
            g.samples / n,
            CAP as f64 / (g.samples / n),
            g.changed / n,
            g.loss / n,
        );
    }
    println!();
    println!(
        "in {:.1} s wall, {:.1} s CPU",
        start.elapsed().as_secs_f64(),
        cpu_seconds() - cpu_start
    );
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

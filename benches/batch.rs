//! Batch and cache speed, end to end through the `flow` binary: 10,000 rows
//! of a 6-call program against a mock with 20 ms latency and
//! `concurrency: 500`.
//!
//! The bound is 60,000 calls / 500 in flight × 20 ms = 2.4 s; the goal is
//! to be within 10% of it, and a fully cached re-run under 1 s. Run with
//! `cargo bench --bench batch`; figures go in docs/benchmarks.md under
//! "Batch and cache". `FLOW_BENCH_ROWS` changes the row count, and
//! `FLOW_BENCH_REPEAT` the runs per case (default 3; the best and the
//! median are printed).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PROGRAM: &str = r#"
model m = mock(echo: true, latency: 20ms, concurrency: 500, price_in: 0.15, price_out: 0.6)
input q: text
section <
  a = ask m "Summarize: {q}"
  b = ask m "Classify: {q}"
  c = ask m "Translate: {q}"
  d = ask m "Extract names: {q}"
  e = ask m "Extract dates: {q}"
  f = ask m "Score: {q}"
>
output all = "{a}|{b}|{c}|{d}|{e}|{f}"
"#;

const CALLS_PER_ROW: u64 = 6;
const CONCURRENCY: u64 = 500;
const LATENCY: Duration = Duration::from_millis(20);

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `flow run --inputs`; the wall time as seen from outside, process
/// start and exit included.
fn run(dir: &Path, extra: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_flow"))
        .current_dir(dir)
        .args(["run", "bench.flow", "--inputs", "rows.jsonl", "--output"])
        .arg(dir.join("out.jsonl"))
        .args(extra)
        .output()
        .expect("the flow binary runs");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "flow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn best_and_median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let best = times.first().copied().unwrap_or_default();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    (best, median)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then only checks that the benchmark builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rows = env_num("FLOW_BENCH_ROWS", 10_000);
    let repeat = env_num("FLOW_BENCH_REPEAT", 3).max(1);
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("bench.flow"), PROGRAM).expect("write the program");
    let text: String = (0..rows)
        .map(|i| format!("{{\"q\": \"row {i}: the quick brown fox\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("rows.jsonl"), text).expect("write the rows");
    let cache = dir.path().join("bench.db");
    let cache = cache.to_str().expect("a UTF-8 path");

    let calls = rows as u64 * CALLS_PER_ROW;
    let bound = LATENCY * u32::try_from(calls.div_ceil(CONCURRENCY)).unwrap_or(u32::MAX);

    let mut uncached = Vec::new();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..repeat {
        uncached.push(run(dir.path(), &["--no-cache"]));
        let _ = std::fs::remove_file(cache);
        let _ = std::fs::remove_file(format!("{cache}-wal"));
        let _ = std::fs::remove_file(format!("{cache}-shm"));
        cold.push(run(dir.path(), &["--cache", cache]));
        warm.push(run(dir.path(), &["--cache", cache]));
    }

    println!(
        "{rows} rows × {CALLS_PER_ROW} calls = {calls} calls, mock latency 20 ms, concurrency 500"
    );
    println!("bound: {calls} / {CONCURRENCY} × 20 ms = {}", secs(bound));
    println!();
    println!("| case | best | median | goal |");
    println!("| --- | --- | --- | --- |");
    let over = |d: Duration| (d.as_secs_f64() / bound.as_secs_f64() - 1.0) * 100.0;
    for (name, times) in [
        ("no cache (`--no-cache`)", uncached),
        ("empty cache (calls + writes)", cold),
    ] {
        let (best, median) = best_and_median(times);
        println!(
            "| {name} | {} | {} | within 10% of {}: {:+.0}% |",
            secs(best),
            secs(median),
            secs(bound),
            over(best)
        );
    }
    let (best, median) = best_and_median(warm);
    println!(
        "| fully cached re-run | {} | {} | under 1 s: {} |",
        secs(best),
        secs(median),
        if best < Duration::from_secs(1) {
            "met"
        } else {
            "missed"
        }
    );
}

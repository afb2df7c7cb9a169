//! Memory: peak resident memory with 10,000 calls in flight at once.
//!
//! Each case runs in a fresh child process (this binary, re-run with
//! `FLOW_MEMORY_CASE` set), so one case's freed-but-kept heap cannot hide
//! another's growth. In the child, the graph, the providers and the runtime
//! are set up first; then the peak (`VmHWM`) is reset to the current RSS via
//! `/proc/self/clear_refs` and the RSS read as the baseline; the run's cost
//! is the peak after the run minus that baseline. The mock's latency is 1 s,
//! far longer than it takes to start 10,000 calls, so all of them are in
//! flight together; the run's own `peak_in_flight` confirms it.
//!
//! Goal (docs/benchmarks.md): under 100 MB above the baseline.
//!
//!     cargo bench --bench memory

mod support;

use std::process::Command;
use std::time::Instant;

use flow::runtime::{self, RunOptions};
use support::{load, reset_peak_rss, status_bytes};

const N: usize = 10_000;
const MOCK: &str = r#"mock(reply: "ok", latency: 1s)"#;
const GOAL_MB: f64 = 100.0;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn program(case: &str) -> Option<String> {
    match case {
        "fan-out" => Some(support::fanout_program(N, MOCK)),
        "repeat" => Some(support::repeat_program(N, MOCK)),
        _ => None,
    }
}

/// The child: one case, one line of `key=value` results on stdout.
fn child(case: &str) {
    let Some(src) = program(case) else {
        eprintln!("unknown case `{case}`");
        std::process::exit(2);
    };
    let start_rss = status_bytes("VmRSS").unwrap_or(0);
    let graph = support::graph(&src);
    let providers = support::providers(&graph);
    let rt = support::runtime();
    // Start the worker threads (and their stacks) before the baseline.
    rt.block_on(async { tokio::task::yield_now().await });
    let reset = reset_peak_rss();
    let baseline = status_bytes("VmRSS").unwrap_or(0);
    let hwm_before = status_bytes("VmHWM").unwrap_or(0);
    let t = Instant::now();
    let report = rt.block_on(runtime::run(graph, providers, RunOptions::default()));
    let wall = t.elapsed();
    let peak = status_bytes("VmHWM").unwrap_or(0);
    if let Err(e) = &report.outputs {
        eprintln!("the run failed: {e}");
        std::process::exit(1);
    }
    println!(
        "start={start_rss} baseline={baseline} hwm_before={hwm_before} peak={peak} reset={reset} in_flight={} calls={} wall_ms={}",
        report.stats.peak_in_flight,
        report.stats.calls,
        wall.as_millis()
    );
}

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if let Ok(case) = std::env::var("FLOW_MEMORY_CASE") {
        child(&case);
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this benchmark's own binary: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "memory: {N} calls in flight (mock latency 1 s), one child process per case, load {} at start",
        load()
    );
    let mut all_met = true;
    for case in ["fan-out", "repeat"] {
        let out = Command::new(&exe)
            .arg("--bench")
            .env("FLOW_MEMORY_CASE", case)
            .output();
        let out = match out {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                eprintln!(
                    "case `{case}` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("cannot run case `{case}`: {e}");
                std::process::exit(1);
            }
        };
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        let baseline = field(&line, "baseline");
        let peak = field(&line, "peak");
        let in_flight = field(&line, "in_flight");
        let reset = line.contains("reset=true");
        let grown = peak.saturating_sub(baseline);
        let met = grown as f64 <= GOAL_MB * 1024.0 * 1024.0 && in_flight == N as u64 && reset;
        all_met &= met;
        println!(
            "{case:8} peak in flight {in_flight}: RSS at start {:.1} MB, baseline after setup {:.1} MB, peak {:.1} MB, growth {:.1} MB ({:.1} kB per call){}; goal <{GOAL_MB} MB: {}",
            mb(field(&line, "start")),
            mb(baseline),
            mb(peak),
            mb(grown),
            grown as f64 / 1024.0 / N as f64,
            if reset {
                ""
            } else {
                " [VmHWM could not be reset: the growth may be understated]"
            },
            if met { "met" } else { "MISSED" }
        );
    }
    println!(
        "load {} at end; all goals {}",
        load(),
        if all_met { "met" } else { "NOT met" }
    );
}

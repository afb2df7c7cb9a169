//! Makespan: does a fan-out of calls take as long as one call?
//!
//! Fan-outs of 10, 1,000 and 10,000 calls to a mock with 50 ms of latency, on
//! the real clock. Nothing depends on anything else, so the critical path is
//! one call: 50 ms. The makespan is the wall time of `runtime::run`, setup
//! included. Two shapes: N bindings gathered into a list by the output (N + 2 nodes), and
//! `ask ... repeat` (one node per 1,000 calls, the most one `repeat` may make).
//!
//! Goal (docs/benchmarks.md): makespan within 2% + 1 ms of the bound, i.e.
//! at most 52 ms.
//!
//!     cargo bench --bench makespan             # 7 rounds per case
//!     FLOW_BENCH_ROUNDS=15 cargo bench --bench makespan
//!     FLOW_BENCH_DRIVER=block_on cargo bench --bench makespan
//!
//! By default the run is driven from a task on a worker thread, as `flow run`
//! does; with `FLOW_BENCH_DRIVER=block_on` it runs on the thread that called
//! `block_on` instead, as `flow run` did before.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::graph::FlowGraph;
use flow::runtime::{self, RunOptions};
use support::{load, median, ms};

const LATENCY: Duration = Duration::from_millis(50);
const MOCK: &str = r#"mock(reply: "ok", latency: 50ms)"#;

/// Wall time of one run, and the critical path the run itself measured.
fn run_once(
    rt: &tokio::runtime::Runtime,
    graph: &Arc<FlowGraph>,
    calls: usize,
    on_worker: bool,
) -> (Duration, u64) {
    let providers = support::providers(graph);
    let run = runtime::run(graph.clone(), providers, RunOptions::default());
    let start = Instant::now();
    let report = if on_worker {
        match rt.block_on(rt.spawn(run)) {
            Ok(report) => report,
            Err(e) => {
                eprintln!("the run's task failed: {e}");
                std::process::exit(1);
            }
        }
    } else {
        rt.block_on(run)
    };
    let took = start.elapsed();
    if let Err(e) = &report.outputs {
        eprintln!("the run failed: {e}");
        std::process::exit(1);
    }
    if report.stats.calls != calls as u64 {
        eprintln!(
            "expected {calls} calls, the run made {}",
            report.stats.calls
        );
        std::process::exit(1);
    }
    (took, report.stats.critical_path_ms)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds: usize = std::env::var("FLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let on_worker = std::env::var("FLOW_BENCH_DRIVER").as_deref() != Ok("block_on");
    let rt = support::runtime();
    let bound = LATENCY;
    let allowed = bound.mul_f64(1.02) + Duration::from_millis(1);
    println!(
        "makespan: mock latency {} ms, bound {} ms, goal ≤ {:.1} ms, {rounds} rounds, driven from {}, load {} at start",
        ms(bound),
        ms(bound),
        ms(allowed),
        if on_worker {
            "a task on a worker (as `flow run` does)"
        } else {
            "block_on"
        },
        load()
    );
    let mut all_met = true;
    for n in [10usize, 1_000, 10_000] {
        for (shape, src) in [
            ("fan-out", support::fanout_program(n, MOCK)),
            ("repeat", support::repeat_program(n, MOCK)),
        ] {
            let graph = support::graph(&src);
            // Warm-up, untimed: the first run pays for growing the runtime's
            // and the allocator's pools.
            run_once(&rt, &graph, n, on_worker);
            let mut walls = Vec::new();
            let mut critical = Vec::new();
            for _ in 0..rounds {
                let (wall, cp) = run_once(&rt, &graph, n, on_worker);
                walls.push(wall);
                critical.push(cp);
            }
            let med = median(&walls);
            let worst = walls.iter().max().copied().unwrap_or_default();
            let best = walls.iter().min().copied().unwrap_or_default();
            let over = med.saturating_sub(bound);
            let met = med <= allowed;
            all_met &= met;
            critical.sort_unstable();
            println!(
                "{shape:8} {n:6} calls: makespan median {:7.2} ms (min {:7.2}, max {:7.2}), {:+.2} ms / {:+.1}% over the bound; run's own critical path {} ms; goal: {}",
                ms(med),
                ms(best),
                ms(worst),
                ms(over),
                over.as_secs_f64() / bound.as_secs_f64() * 100.0,
                critical.get(critical.len() / 2).copied().unwrap_or(0),
                if met { "met" } else { "MISSED" }
            );
        }
    }
    // A chain of 100 calls of 10 ms: every call waits for the one before,
    // so each one's lateness adds up. This is where the mock's precision
    // shows (issue 11, item 28: within 2% of 1 s).
    let chain_latency = Duration::from_millis(10);
    let graph = support::graph(&support::chain_program(
        100,
        r#"mock(reply: "ok", latency: 10ms)"#,
    ));
    run_once(&rt, &graph, 100, on_worker);
    let mut walls = Vec::new();
    for _ in 0..rounds.min(3) {
        walls.push(run_once(&rt, &graph, 100, on_worker).0);
    }
    let chain_bound = chain_latency * 100;
    let med = median(&walls);
    let ratio = med.as_secs_f64() / chain_bound.as_secs_f64();
    let met = ratio <= 1.02;
    all_met &= met;
    println!(
        "chain    100 calls of 10 ms: median {:.2} ms, {:.3}× the bound of {} ms; goal ≤ 1.02×: {}",
        ms(med),
        ratio,
        ms(chain_bound),
        if met { "met" } else { "MISSED" }
    );
    println!(
        "load {} at end; all goals {}",
        load(),
        if all_met { "met" } else { "NOT met" }
    );
}

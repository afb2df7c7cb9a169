//! Scheduler overhead: what the runtime costs per node when calls cost
//! nothing. A zero-latency mock answers every call, so the time is all
//! scheduling, bookkeeping and tracing.
//!
//! Two shapes of 100,000 calls: a fan-out (every call ready at once, gathered
//! into a list by the output) and a chain (each call waits for the previous reply). Each
//! is compared with a floor written directly on tokio doing the same amount of
//! task work: for the fan-out, 100,000 tasks spawned on a `JoinSet` that each
//! await a trivial async fn; for the chain, 100,000 tasks spawned and awaited
//! one after the other. Runs of flow and of the floor alternate, so a change in
//! the machine's load hits both.
//!
//! Goal (docs/benchmarks.md): under 2 µs per node, within 3× of the floor.
//!
//!     cargo bench --bench scheduler            # 5 rounds
//!     FLOW_BENCH_ROUNDS=9 cargo bench --bench scheduler

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::graph::FlowGraph;
use flow::runtime::{self, RunOptions};
use support::{cpu_time, load, median, min, us};
use tokio::task::JoinSet;

const N: usize = 100_000;
const MOCK: &str = r#"mock(reply: "ok")"#;

#[inline(never)]
async fn trivial(i: usize) -> usize {
    black_box(i)
}

async fn floor_fanout(n: usize) -> usize {
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(trivial(i));
    }
    let mut sum = 0;
    while let Some(r) = set.join_next().await {
        sum += r.unwrap_or(0);
    }
    sum
}

async fn floor_chain(n: usize) -> usize {
    let mut acc = 0;
    for i in 0..n {
        acc = tokio::spawn(trivial(acc ^ i)).await.unwrap_or(0);
    }
    acc
}

/// Where the driving loop (flow's scheduler, or the floor's spawning and
/// joining) runs: on the thread that called `block_on`, or in a task on one
/// of the runtime's workers, as `flow run` does (`cli/run.rs`).
#[derive(Clone, Copy, PartialEq)]
enum Driver {
    BlockOn,
    Worker,
}

/// One run of `graph`, timed; exits if the run fails, since a failed run's
/// time means nothing.
fn flow_run(rt: &tokio::runtime::Runtime, graph: &Arc<FlowGraph>, driver: Driver) -> Timed {
    let providers = support::providers(graph);
    let run = runtime::run(graph.clone(), providers, RunOptions::default());
    let cpu = cpu_time().unwrap_or_default();
    let start = Instant::now();
    let report = match driver {
        Driver::BlockOn => rt.block_on(run),
        Driver::Worker => match rt.block_on(rt.spawn(run)) {
            Ok(report) => report,
            Err(e) => {
                eprintln!("the run's task failed: {e}");
                std::process::exit(1);
            }
        },
    };
    let took = Timed {
        wall: start.elapsed(),
        cpu: cpu_time().unwrap_or_default().saturating_sub(cpu),
    };
    if let Err(e) = &report.outputs {
        eprintln!("the run failed: {e}");
        std::process::exit(1);
    }
    if report.stats.calls != N as u64 {
        eprintln!("expected {N} calls, the run made {}", report.stats.calls);
        std::process::exit(1);
    }
    drop(black_box(report));
    took
}

fn floor_run<F: std::future::Future<Output = usize> + Send + 'static>(
    rt: &tokio::runtime::Runtime,
    driver: Driver,
    f: impl Fn() -> F,
) -> Timed {
    let fut = f();
    let cpu = cpu_time().unwrap_or_default();
    let start = Instant::now();
    match driver {
        Driver::BlockOn => {
            black_box(rt.block_on(fut));
        }
        Driver::Worker => {
            let _ = black_box(rt.block_on(rt.spawn(fut)));
        }
    }
    Timed {
        wall: start.elapsed(),
        cpu: cpu_time().unwrap_or_default().saturating_sub(cpu),
    }
}

/// Wall time, and CPU time of the whole process (all threads) meanwhile:
/// CPU well below wall × threads means time spent waiting for wake-ups.
#[derive(Clone, Copy)]
struct Timed {
    wall: Duration,
    cpu: Duration,
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then there is nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds: usize = std::env::var("FLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rt = support::runtime();
    let t = Instant::now();
    let fan = support::graph(&support::fanout_program(N, MOCK));
    let chain = support::graph(&support::chain_program(N, MOCK));
    eprintln!(
        "(both programs compiled in {:.0} ms)",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "scheduler overhead: {N} nodes, zero-latency mock, {} worker threads, {rounds} rounds, load {} at start",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load()
    );

    // One untimed round warms the allocator and the runtime's threads.
    flow_run(&rt, &fan, Driver::BlockOn);
    floor_run(&rt, Driver::BlockOn, || floor_fanout(N));

    let per_node = |d: Duration| us(d) / N as f64;
    let mut all_met = true;
    for (driver, label) in [
        (Driver::BlockOn, "driven from block_on"),
        (
            Driver::Worker,
            "driven from a task on a worker thread (as `flow run` does)",
        ),
    ] {
        let (mut fan_flow, mut fan_floor, mut chain_flow, mut chain_floor) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            fan_floor.push(floor_run(&rt, driver, || floor_fanout(N)));
            fan_flow.push(flow_run(&rt, &fan, driver));
            chain_floor.push(floor_run(&rt, driver, || floor_chain(N)));
            chain_flow.push(flow_run(&rt, &chain, driver));
        }
        println!("{label}:");
        for (shape, flow_t, floor_t) in [
            ("fan-out", &fan_flow, &fan_floor),
            ("chain", &chain_flow, &chain_floor),
        ] {
            let walls = |t: &[Timed]| t.iter().map(|t| t.wall).collect::<Vec<_>>();
            let cpus = |t: &[Timed]| t.iter().map(|t| t.cpu).sum::<Duration>() / rounds as u32;
            let (flow_w, floor_w) = (walls(flow_t), walls(floor_t));
            let (f, b) = (median(&flow_w), median(&floor_w));
            let ratio = f.as_secs_f64() / b.as_secs_f64().max(1e-9);
            let met = per_node(f) < 2.0 && ratio <= 3.0;
            if driver == Driver::Worker {
                all_met &= met;
            }
            println!(
                "  {shape:8} flow {:6.3} µs/node (min {:6.3}, CPU {:6.3})  floor {:6.3} µs/node (min {:6.3}, CPU {:6.3})  ratio {ratio:5.2}×  goal <2 µs and ≤3×: {}",
                per_node(f),
                per_node(min(&flow_w)),
                per_node(cpus(flow_t)),
                per_node(b),
                per_node(min(&floor_w)),
                per_node(cpus(floor_t)),
                if met { "met" } else { "MISSED" }
            );
        }
    }
    println!(
        "load {} at end; goals as `flow run` drives the run: {}",
        load(),
        if all_met { "met" } else { "NOT met" }
    );
}

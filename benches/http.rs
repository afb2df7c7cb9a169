//! HTTP (issue 4): 1,000 concurrent calls through the real `OpenAiProvider`,
//! driven by `runtime::run`, against a local server that takes 100 ms to
//! answer each OpenAI-style chat completion.
//!
//! The server is `fake_llm`'s, in this binary re-run as a child process
//! (`FLOW_HTTP_SERVER` set), so its CPU time is read from its own
//! `/proc/PID/stat` and the client's from `/proc/self/stat`: the two are
//! measured separately. The child reports what it measured when asked on its
//! stdin, and exits when its stdin closes, i.e. with us.
//!
//! The bound a run is held to is 100 ms plus what the server itself adds: the
//! longest any one request spent in the server's handler, as the server
//! measured it. The makespan is the wall time of `runtime::run`. Cold rounds
//! build fresh providers (a fresh connection pool, as `flow run` does); warm
//! rounds reuse one, so every connection already exists.
//!
//! Goal (docs/benchmarks.md): makespan within 10% of the bound; the client's
//! CPU per call is reported.
//!
//!     cargo bench --bench http                 # 5 rounds of each
//!     FLOW_BENCH_ROUNDS=9 cargo bench --bench http

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::graph::FlowGraph;
use flow::providers::Provider;
use flow::providers::http;
use flow::providers::openai::OpenAiProvider;
use flow::runtime::{self, RunOptions};
use support::{cpu_time, load, median, ms};

const N: usize = 1_000;
const SERVER_LATENCY: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------- the server

/// The child process: `fake_llm`'s server answering every request after
/// `SERVER_LATENCY`. It prints its address, then answers each `stats` line
/// on stdin with what it measured since the last one, and exits when stdin
/// closes (the parent finished, or died).
fn server() {
    let server = fake_llm::Server::start(
        fake_llm::Config::answer(fake_llm::openai::text("ok")).delay(SERVER_LATENCY),
    );
    println!("{}", server.addr());
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            let s = server.take_stats();
            println!(
                "requests={} max_handler_us={} arrival_spread_us={}",
                s.requests,
                s.max_handler.as_micros(),
                s.arrival_spread.as_micros()
            );
        }
    }
}

/// The parent's end of the server child: its pid, and its stdin and stdout.
struct ServerProcess {
    pid: u32,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl ServerProcess {
    /// What the server saw since the last call (it then forgets it).
    fn stats(&mut self) -> String {
        let mut line = String::new();
        if writeln!(self.stdin, "stats").is_ok() {
            let _ = self.stdout.read_line(&mut line);
        }
        line
    }
}

// ---------------------------------------------------------------- the client

fn providers(graph: &FlowGraph) -> HashMap<String, Arc<dyn Provider>> {
    let mut out: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    for (name, spec) in &graph.models {
        // No key: the server is local, and a key from the environment must
        // not be sent anywhere it was not meant for.
        let made = http::client().and_then(|c| OpenAiProvider::with_key(spec, c, None));
        match made {
            Ok(p) => {
                out.insert(name.clone(), Arc::new(p));
            }
            Err(e) => {
                eprintln!("cannot set up model `{name}`: {e}");
                std::process::exit(2);
            }
        }
    }
    out
}

/// Fields 14 and 15 of `/proc/PID/stat`: user plus system CPU time.
fn process_cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let after = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Round {
    makespan: Duration,
    bound: Duration,
    spread: Duration,
    client_cpu: Duration,
    server_cpu: Duration,
}

fn round(
    rt: &tokio::runtime::Runtime,
    graph: &Arc<FlowGraph>,
    providers: HashMap<String, Arc<dyn Provider>>,
    server: &mut ServerProcess,
) -> Round {
    let (cpu0, server0) = (cpu_time().unwrap_or_default(), process_cpu(server.pid));
    let start = Instant::now();
    let report = rt.block_on(runtime::run(
        graph.clone(),
        providers,
        RunOptions::default(),
    ));
    let makespan = start.elapsed();
    let (cpu1, server1) = (cpu_time().unwrap_or_default(), process_cpu(server.pid));
    if let Err(e) = &report.outputs {
        eprintln!("the run failed: {e}");
        std::process::exit(1);
    }
    if report.stats.calls != N as u64 || report.stats.retries != 0 {
        eprintln!(
            "expected {N} calls and no retries, the run made {} calls and {} retries",
            report.stats.calls, report.stats.retries
        );
        std::process::exit(1);
    }
    let seen = server.stats();
    if field(&seen, "requests") != N as u64 {
        eprintln!("the server saw `{seen}`, expected {N} requests");
        std::process::exit(1);
    }
    Round {
        makespan,
        bound: Duration::from_micros(field(&seen, "max_handler_us")),
        spread: Duration::from_micros(field(&seen, "arrival_spread_us")),
        client_cpu: cpu1.saturating_sub(cpu0),
        server_cpu: server1.saturating_sub(server0),
    }
}

fn main() {
    if std::env::var_os("FLOW_HTTP_SERVER").is_some() {
        server();
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds: usize = std::env::var("FLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this benchmark's own binary: {e}");
            std::process::exit(2);
        }
    };
    let mut child = match Command::new(exe)
        .env("FLOW_HTTP_SERVER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start the server: {e}");
            std::process::exit(2);
        }
    };
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        eprintln!("the server has no stdin or stdout");
        std::process::exit(2);
    };
    let mut server = ServerProcess {
        pid: child.id(),
        stdin,
        stdout: BufReader::new(stdout),
    };
    let mut addr = String::new();
    let _ = server.stdout.read_line(&mut addr);
    let addr = addr.trim().to_string();
    if addr.is_empty() {
        eprintln!("the server did not say where it listens");
        std::process::exit(2);
    }
    let src = support::fanout_program(
        N,
        &format!("openai(\"gpt-4o-mini\", base_url: \"http://{addr}/v1\")"),
    );
    let graph = support::graph(&src);
    let rt = support::runtime();

    println!(
        "http: {N} concurrent calls via OpenAiProvider to a local server answering in {} ms; {rounds} cold and {rounds} warm rounds; load {} at start",
        ms(SERVER_LATENCY),
        load()
    );
    // Warm-up, untimed.
    round(&rt, &graph, providers(&graph), &mut server);
    let warm_providers = providers(&graph);
    round(&rt, &graph, warm_providers.clone(), &mut server);

    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        cold.push(round(&rt, &graph, providers(&graph), &mut server));
        warm.push(round(&rt, &graph, warm_providers.clone(), &mut server));
    }
    let mut all_met = true;
    for (kind, rs) in [("cold", &cold), ("warm", &warm)] {
        let ratio: Vec<f64> = rs
            .iter()
            .map(|r| r.makespan.as_secs_f64() / r.bound.as_secs_f64().max(1e-9))
            .collect();
        let mut sorted = ratio.clone();
        sorted.sort_by(f64::total_cmp);
        let med_ratio = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
        let makespans: Vec<Duration> = rs.iter().map(|r| r.makespan).collect();
        let bounds: Vec<Duration> = rs.iter().map(|r| r.bound).collect();
        let spreads: Vec<Duration> = rs.iter().map(|r| r.spread).collect();
        let client_cpu: Duration = rs.iter().map(|r| r.client_cpu).sum();
        let server_cpu: Duration = rs.iter().map(|r| r.server_cpu).sum();
        let calls = (rs.len() * N) as f64;
        let met = med_ratio <= 1.10;
        all_met &= met;
        println!(
            "{kind}: makespan median {:.1} ms (min {:.1}, max {:.1}); bound (100 ms + server) median {:.1} ms; ratio median {:.3} (max {:.3}); requests reached the server over {:.1} ms; CPU per call: client {:.0} µs, server {:.0} µs; goal ≤1.10: {}",
            ms(median(&makespans)),
            ms(support::min(&makespans)),
            ms(makespans.iter().max().copied().unwrap_or_default()),
            ms(median(&bounds)),
            med_ratio,
            sorted.last().copied().unwrap_or(f64::NAN),
            ms(median(&spreads)),
            client_cpu.as_secs_f64() * 1e6 / calls,
            server_cpu.as_secs_f64() * 1e6 / calls,
            if met { "met" } else { "MISSED" }
        );
    }
    println!(
        "load {} at end; all goals {}",
        load(),
        if all_met { "met" } else { "NOT met" }
    );
    // Closing its stdin ends the server.
    drop(server);
    let _ = child.wait();
}

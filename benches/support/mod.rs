//! What the plain-`main` benchmarks share: generated programs, the providers
//! the CLI would build for them, a runtime like the CLI's, and readings of
//! this process's memory and CPU time from `/proc`.
//!
//! Every bench uses a different part of this, hence the `allow`.
#![allow(dead_code)]

pub mod shapes;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use flow::graph::FlowGraph;
use flow::providers::Provider;

/// `n` independent calls of one model, gathered into one list by the output:
/// the output is the one node that waits for all of them.
///
/// Not a `section`: the checker's section-independence test searches the
/// whole program once per member and then checks every pair, so it grows
/// with the square of the members (0.2 s for 10,000, minutes for 100,000);
/// see docs/benchmarks.md.
pub fn fanout_program(n: usize, model: &str) -> String {
    let mut s = String::with_capacity(n * 40 + 200);
    let _ = writeln!(s, "model m = {model}");
    s.push_str("input q: text = \"hi\"\n");
    for i in 0..n {
        let _ = writeln!(s, "a{i} = ask m \"part {i} of {{q}}\"");
    }
    s.push_str("output result = [");
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "a{i}");
    }
    s.push_str("]\n");
    s
}

/// `n` calls made by `repeat` (at most 1,000 per `ask`, the language's
/// limit): one node per 1,000 calls, gathered into a list by the output.
pub fn repeat_program(n: usize, model: &str) -> String {
    let mut s = String::with_capacity(200);
    let _ = writeln!(s, "model m = {model}");
    s.push_str("input q: text = \"hi\"\n");
    let mut names = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(1_000);
        let name = format!("r{}", names.len());
        let _ = writeln!(
            s,
            "{name} = ask m \"again {}: {{q}}\" repeat {k}",
            names.len()
        );
        names.push(name);
        left -= k;
    }
    let _ = writeln!(s, "output result = [{}]", names.join(", "));
    s
}

/// `n` calls, each prompted with the previous reply: nothing may overlap.
pub fn chain_program(n: usize, model: &str) -> String {
    let mut s = String::with_capacity(n * 40 + 200);
    let _ = writeln!(s, "model m = {model}");
    s.push_str("input q: text = \"hi\"\n");
    let mut prev = String::from("q");
    for i in 0..n {
        let _ = writeln!(s, "c{i} = ask m \"step {i}: {{{prev}}}\"");
        prev = format!("c{i}");
    }
    let _ = writeln!(s, "output result = {prev}");
    s
}

/// Compiles generated source, refusing to go on if it has errors: timing a
/// program that does not compile would time nothing.
pub fn graph(src: &str) -> Arc<FlowGraph> {
    let compiled = flow::compile(src);
    match compiled.graph {
        Some(g) => Arc::new(g),
        None => {
            eprintln!("the generated program does not compile:");
            for d in compiled.diagnostics.iter() {
                eprintln!("  {d}");
            }
            std::process::exit(2);
        }
    }
}

/// The providers `flow run` would build for the graph's models.
pub fn providers(graph: &FlowGraph) -> HashMap<String, Arc<dyn Provider>> {
    match flow::providers::registry::build_all(graph.models.values()) {
        Ok(p) => p,
        Err((model, e)) => {
            eprintln!("cannot set up model `{model}`: {e}");
            std::process::exit(2);
        }
    }
}

/// A runtime like the one `flow run` makes: multi-threaded, one worker per core.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a tokio runtime: {e}");
            std::process::exit(2);
        }
    }
}

/// The median of some timings (upper median for an even count).
pub fn median(samples: &[Duration]) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub fn min(samples: &[Duration]) -> Duration {
    samples.iter().min().copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Resets `VmHWM` to the current RSS (Linux 4.0+), so the next reading is the
/// peak of what follows only. False if the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User plus system CPU time of this process so far, all threads, from
/// fields 14 and 15 of `/proc/self/stat`.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may contain spaces:
    // count fields from after its closing parenthesis, where field 3 starts.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(ticks(utime + stime))
}

/// CPU time of one thread of this process (`/proc/thread-self/stat`).
pub fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(ticks(utime + stime))
}

/// Clock ticks to time. `USER_HZ` is 100 on every Linux build this runs on
/// (`getconf CLK_TCK`); reading it properly needs libc, which this crate
/// does not otherwise use.
fn ticks(n: u64) -> Duration {
    Duration::from_millis(n * 10)
}

/// The 1-minute load average, to print beside every result: the machine is
/// shared, and a figure taken under load says so.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

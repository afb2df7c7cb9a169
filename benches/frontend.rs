//! Front-end speed: parse + check + lowering of generated programs of
//! 1,000 / 10,000 / 100,000 bindings. Results are recorded in
//! docs/benchmarks.md; the goal is 10,000 bindings under 50 ms on 2 cores and
//! linear growth (100,000 within 12× of 10,000).
//!
//! A plain harness rather than criterion: a size that takes seconds per run
//! would take criterion many minutes, and the stages (parse, then check and
//! lowering) are timed apart so a missed goal says where the time goes. Each
//! size runs until it has 10 samples or has spent its time budget (at least
//! one sample either way).
//!
//! Then the shapes that once made checking quadratic (issue 11 item 2):
//! many models, one long cycle, many undefined names, many duplicate
//! bindings, one wide section. Each is compiled through the library and
//! checked by the `flow` binary (which renders every diagnostic), at
//! `FLOW_SHAPE_SIZES` statements (20,000 and 80,000 by default); the time
//! at the larger size should be about 4 times the smaller.
//!
//!     cargo bench --bench frontend
//!     FLOW_FRONTEND_SIZES=1000,2000,4000 cargo bench --bench frontend
//!     FLOW_SHAPE_SIZES=20000,80000 cargo bench --bench frontend

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use support::{load, median, ms};

/// A mix of the shapes real programs have: chains of templates and calls,
/// wide sections, votes. `n` is the number of bindings.
fn program(n: usize) -> String {
    let mut s = String::with_capacity(n * 60);
    s.push_str("model m = mock(reply: \"yes\", latency: 1ms)\n");
    s.push_str("model t = mock(replies: [\"a\", \"b\"])\n");
    s.push_str("input q: text = \"hello\"\n");
    let mut i = 0;
    let mut prev = String::from("q");
    while i < n {
        match (i / 10) % 3 {
            // a chain of ten: call, then templates over it
            0 => {
                for k in 0..10 {
                    let name = format!("c{i}_{k}");
                    if k == 0 {
                        s.push_str(&format!("{name} = ask t \"Step {i}: {{{prev}}}\"\n"));
                    } else {
                        s.push_str(&format!("{name} = \"{{{prev}}} then {k}\"\n"));
                    }
                    prev = name;
                }
            }
            // a wide section of ten independent calls
            1 => {
                s.push_str("section <\n");
                for k in 0..10 {
                    s.push_str(&format!("  w{i}_{k} = ask t \"Part {k} of {{{prev}}}\"\n"));
                }
                s.push_str(">\n");
                let parts: Vec<String> = (0..10).map(|k| format!("{{w{i}_{k}}}")).collect();
                let name = format!("j{i}");
                // the join is the eleventh binding of this group
                s.push_str(&format!("{name} = \"{}\"\n", parts.join(" ")));
                prev = name;
                i += 1;
            }
            // votes over the current value
            _ => {
                for k in 0..10 {
                    s.push_str(&format!(
                        "v{i}_{k} = ask m \"Is this fine? {{{prev}}}\" as bool vote 5 by majority\n"
                    ));
                }
                let name = format!("g{i}");
                let conds: Vec<String> = (0..10).map(|k| format!("v{i}_{k}")).collect();
                s.push_str(&format!(
                    "{name} = if {} then \"ok\" else \"no\"\n",
                    conds.join(" and ")
                ));
                prev = name;
                i += 1;
            }
        }
        i += 10;
    }
    s.push_str(&format!("output result = {prev}\n"));
    s
}

/// Compiles each shape through the library, then runs `flow check` on it.
fn bench_shapes() {
    let sizes: Vec<usize> = std::env::var("FLOW_SHAPE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![20_000, 80_000]);
    let dir = std::env::temp_dir().join(format!("flow-bench-shapes-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for &n in &sizes {
        for (shape, src) in support::shapes::large_shapes(n) {
            let t = Instant::now();
            let compiled = black_box(flow::compile(&src));
            let compile = t.elapsed();
            let file = dir.join(format!("{shape}.flow"));
            if std::fs::write(&file, &src).is_err() {
                eprintln!("cannot write {}", file.display());
                continue;
            }
            let t = Instant::now();
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_flow"))
                .arg("check")
                .arg(&file)
                .env("NO_COLOR", "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            let check = t.elapsed();
            println!(
                "{shape:>10} {n:7}: compile {:9.2} ms ({} diagnostics), flow check {:9.2} ms{}",
                ms(compile),
                compiled.diagnostics.len(),
                ms(check),
                if status.is_ok() { "" } else { " (did not run)" }
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

struct Sample {
    parse: Duration,
    check: Duration,
    total: Duration,
}

/// Parse, then check and lower: the same two calls `flow::compile` makes,
/// timed apart. The total is timed through `flow::compile` itself.
fn sample(src: &str) -> Sample {
    let t = Instant::now();
    let program = flow::syntax::parse(src);
    let parse = t.elapsed();
    let t = Instant::now();
    if let Ok(program) = &program {
        black_box(flow::check::check(program));
    }
    let check = t.elapsed();
    drop(black_box(program));
    let t = Instant::now();
    black_box(flow::compile(src));
    Sample {
        parse,
        check,
        total: t.elapsed(),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("FLOW_FRONTEND_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let budget = Duration::from_secs(10);
    println!("front end: parse + check + lower, load {} at start", load());
    let mut totals: Vec<(usize, Duration)> = Vec::new();
    for &n in &sizes {
        // A size that would take minutes even if growth from the last size
        // were linear is skipped: it could not change the verdict, and the
        // bench must end.
        if let Some(&(m, t)) = totals.last() {
            let predicted = t.mul_f64(n as f64 / m as f64);
            if predicted > budget * 6 {
                println!(
                    "{n:7} bindings: skipped, at least {:.0} s per sample if growth were linear from {m}",
                    predicted.as_secs_f64()
                );
                continue;
            }
        }
        let src = program(n);
        // Sanity: the generated program must compile, or we would time errors.
        let compiled = flow::compile(&src);
        if compiled.graph.is_none() {
            eprintln!("the generated program of {n} bindings does not compile:");
            for d in compiled.diagnostics.iter() {
                eprintln!("  {d}");
            }
            std::process::exit(2);
        }
        let nodes = compiled.graph.map_or(0, |g| g.dag.node_count());
        let started = Instant::now();
        let mut samples = Vec::new();
        while samples.len() < 10 && (samples.is_empty() || started.elapsed() < budget) {
            samples.push(sample(&src));
        }
        let pick = |f: fn(&Sample) -> Duration| median(&samples.iter().map(f).collect::<Vec<_>>());
        let (parse, check, total) = (pick(|s| s.parse), pick(|s| s.check), pick(|s| s.total));
        println!(
            "{n:7} bindings ({} bytes, {nodes} nodes): compile {:9.2} ms = parse {:9.2} ms + check/lower {:9.2} ms; {:.2} µs per binding; {} samples",
            src.len(),
            ms(total),
            ms(parse),
            ms(check),
            total.as_secs_f64() * 1e6 / n as f64,
            samples.len()
        );
        totals.push((n, total));
    }
    let at = |n: usize| totals.iter().find(|(m, _)| *m == n).map(|(_, t)| *t);
    if let Some(t10k) = at(10_000) {
        println!(
            "goal 10,000 bindings under 50 ms: {:.2} ms, {}",
            ms(t10k),
            if t10k < Duration::from_millis(50) {
                "met"
            } else {
                "MISSED"
            }
        );
        if let Some(t100k) = at(100_000) {
            let ratio = t100k.as_secs_f64() / t10k.as_secs_f64();
            println!(
                "goal 100,000 within 12× of 10,000: {ratio:.1}×, {}",
                if ratio <= 12.0 { "met" } else { "MISSED" }
            );
        }
    }
    bench_shapes();
    println!("load {} at end", load());
}

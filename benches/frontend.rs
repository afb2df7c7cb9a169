//! Front-end speed: parse + check + lowering of generated programs of
//! 1,000 / 10,000 / 100,000 bindings. Results are recorded in
//! docs/benchmarks.md; the goal is 10,000 bindings under 50 ms on 2 cores and
//! linear growth (100,000 within 12× of 10,000).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

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

fn frontend(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse+check+lower");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 100_000] {
        let src = program(n);
        // Sanity: the generated program must compile, or we would time errors.
        let compiled = flow::compile(&src);
        assert!(
            compiled.graph.is_some(),
            "generated program does not compile: {:?}",
            compiled.diagnostics
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| flow::compile(src))
        });
    }
    group.finish();
}

criterion_group!(benches, frontend);
criterion_main!(benches);

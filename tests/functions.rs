//! A function called at K sites is the same program as its body written out
//! K times: the same outputs, the same calls, the same worst case, and the
//! same cache keys (a run of one answers every call of the other from the
//! cache).

use proptest::prelude::*;

use flow::engine::{CacheChoice, Engine, EngineOptions, Program, RunControl};

const MODELS: &str = r#"
model m = mock(echo: true)
model j = mock(rules: {"bomb": "yes", "*": "no"})
"#;

/// A body as a function (`X` is the parameter) and how it is written out
/// by hand for call `i` (`X` the argument, `L` a prefix for its locals).
struct Shape {
    function: &'static str,
    /// Bindings before the value (for a block), then the value.
    by_hand: (&'static str, &'static str),
}

const SHAPES: &[Shape] = &[
    Shape {
        function: r#"ask m "Say {X}""#,
        by_hand: ("", r#"ask m "Say {X}""#),
    },
    Shape {
        function: r#"ask j "Is {X} bad? yes or no" as bool vote 3 by unanimous"#,
        by_hand: (
            "",
            r#"ask j "Is {X} bad? yes or no" as bool vote 3 by unanimous"#,
        ),
    },
    Shape {
        function: r#"< a = ask m "one {X}"
  ask m "two {a}" >"#,
        by_hand: (r#"L_a = ask m "one {X}""#, r#"ask m "two {L_a}""#),
    },
    Shape {
        function: r#"if contains(X, "bomb") then "no" else ask m "fine: {X}""#,
        by_hand: (
            "",
            r#"if contains(X, "bomb") then "no" else ask m "fine: {X}""#,
        ),
    },
];

fn programs(shape: &Shape, args: &[String]) -> (String, String) {
    let mut inputs = String::new();
    for (i, a) in args.iter().enumerate() {
        inputs.push_str(&format!("input q{i}: text = {a:?}\n"));
    }
    let mut with_fn = format!("{MODELS}{inputs}\nfn f(X: text) = {}\n", shape.function);
    let mut by_hand = format!("{MODELS}{inputs}\n");
    for i in 0..args.len() {
        with_fn.push_str(&format!("output r{i} = f(q{i})\n"));
        let arg = format!("q{i}");
        let (locals, value) = shape.by_hand;
        let local = format!("r{i}");
        if !locals.is_empty() {
            by_hand.push_str(&locals.replace('X', &arg).replace('L', &local));
            by_hand.push('\n');
        }
        by_hand.push_str(&format!(
            "output r{i} = {}\n",
            value.replace('X', &arg).replace('L', &local)
        ));
    }
    (with_fn, by_hand)
}

fn compile(src: &str) -> Program {
    match Program::compile("p.flow", src) {
        Ok(p) => p,
        Err(f) => panic!("does not compile: {:?}\n{src}", f.diagnostics),
    }
}

fn run(program: &Program, cache: CacheChoice) -> flow::RunReport {
    let engine = match Engine::new(
        program,
        EngineOptions {
            cache,
            ..EngineOptions::default()
        },
    ) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    let inputs = match engine.bind(Vec::<(String, flow::InputValue)>::new()) {
        Ok(i) => i,
        Err(e) => panic!("{e:?}"),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("{e}"),
    };
    rt.block_on(engine.run(inputs, RunControl::default()))
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        Just("a bomb".to_string()),
        Just("".to_string())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_call_is_its_body_written_out(shape in 0..SHAPES.len(), args in prop::collection::vec(arg(), 1..5)) {
        let (with_fn, by_hand) = programs(&SHAPES[shape], &args);
        let a = compile(&with_fn);
        let b = compile(&by_hand);
        let (sa, sb) = (flow::graph::stats::summary(a.graph()), flow::graph::stats::summary(b.graph()));
        prop_assert_eq!(sa.calls, sb.calls, "worst case");
        prop_assert_eq!(sa.longest_chain, sb.longest_chain, "longest chain");

        let ra = run(&a, CacheChoice::None);
        let rb = run(&b, CacheChoice::None);
        prop_assert_eq!(format!("{:?}", ra.outputs), format!("{:?}", rb.outputs));
        prop_assert_eq!(ra.stats.calls, rb.stats.calls);

        // One run fills a cache; the other, written the other way, finds
        // every one of its calls there.
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let path = dir.path().join("cache.sqlite");
        let first = run(&a, CacheChoice::Path(path.clone()));
        let second = run(&b, CacheChoice::Path(path));
        prop_assert_eq!(format!("{:?}", first.outputs), format!("{:?}", second.outputs));
        prop_assert_eq!(second.stats.cache_misses, 0, "{}", by_hand);
        prop_assert_eq!(second.stats.cache_hits, first.stats.cache_misses);
    }
}

/// An argument that reads the caller's `for x` means the caller's `x`, even
/// when the function's body has a `for x` of its own: each expansion's loop
/// variables are its own.
#[test]
fn an_argument_never_sees_a_loop_variable_of_the_body() {
    let src = r#"
input items: list<text> = ["a", "b"]
fn tag(label: text) = for x in ["1", "2"] < "{label}-{x}" >
output out = for x in items < tag(x) >
"#;
    let report = run(&compile(src), CacheChoice::None);
    let out = report.outputs.expect("the run succeeds");
    assert_eq!(
        out["out"].to_json(),
        serde_json::json!([["a-1", "a-2"], ["b-1", "b-2"]])
    );
}

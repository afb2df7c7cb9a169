//! Runtime tests on hand-built graphs and a counting provider. Timing tests
//! run on tokio's paused clock, so virtual time is asserted exactly.

use std::time::Duration;

use indexmap::IndexMap;
use tokio::time::Instant;

use super::testkit::*;
use super::*;
use crate::graph::{Builtin, CompareOp, ExprKind, NodeKind, Sampling, Strategy, Until};
use crate::model::ModelOptions;
use crate::types::Type;
use crate::value::Value;

fn t(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn out(report: &RunReport, name: &str) -> Value {
    match &report.outputs {
        Ok(o) => o
            .get(name)
            .cloned()
            .unwrap_or(Value::Text("<missing>".into())),
        Err(e) => Value::Text(format!("<error: {e}>")),
    }
}

fn err_code(report: &RunReport) -> String {
    match &report.outputs {
        Ok(_) => "ok".into(),
        Err(e) => e.code_str(),
    }
}

fn elapsed_ms(start: Instant) -> u128 {
    (Instant::now() - start).as_millis()
}

fn model(g: &mut G, name: &str) {
    g.model(name, ModelOptions::default());
}

// ---- pure nodes -------------------------------------------------------------

#[tokio::test]
async fn template_interpolates_inputs() {
    let mut g = G::new();
    let name = g.input("name", None);
    g.output(
        "greeting",
        template(vec![P::L("hello "), P::E(node(name)), P::L("!")]),
    );
    let mut opts = quick_options();
    opts.inputs.insert("name".into(), t("Ada"));
    let r = run_with(g.build(), &[], opts).await;
    assert_eq!(out(&r, "greeting"), t("hello Ada!"));
    assert_eq!(r.stats.calls, 0);
}

#[tokio::test]
async fn input_default_is_used_when_not_given() {
    let mut g = G::new();
    let lang = g.input("lang", Some(t("French")));
    g.output("o", node(lang));
    let r = run_with(g.build(), &[], quick_options()).await;
    assert_eq!(out(&r, "o"), t("French"));
}

#[tokio::test]
async fn missing_input_fails_before_any_call() {
    let mut g = G::new();
    model(&mut g, "m");
    let q = g.input("query", None);
    let a = g.ask("a", call("m", vec![P::E(node(q))]), Sampling::One);
    g.output("o", node(a));
    let span = g.span_of(q);
    let p = TestProvider::reply("x", 10);
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(err_code(&r), "flow::input::missing");
    match &r.outputs {
        Err(RunError::MissingInput { name, span: s }) => {
            assert_eq!(name, "query");
            assert_eq!(s.offset(), span.start);
        }
        other => panic!("expected a missing input, got {other:?}"),
    }
    assert_eq!(p.started(), 0);
}

fn builtin(b: Builtin, args: Vec<crate::graph::Expr>) -> crate::graph::Expr {
    e(ExprKind::Call(b, args))
}

#[tokio::test]
async fn builtins_and_logic() {
    let mut g = G::new();
    let doc = g.input("doc", Some(t("  b\na\nc  ")));
    let lines = g.pure(
        "lines",
        builtin(
            Builtin::Lines,
            vec![builtin(Builtin::Trim, vec![node(doc)])],
        ),
    );
    g.output(
        "joined",
        builtin(Builtin::Join, vec![node(lines), text(", ")]),
    );
    g.output("count", builtin(Builtin::Len, vec![node(lines)]));
    g.output("upper", builtin(Builtin::Upper, vec![text("abc")]));
    g.output("lower", builtin(Builtin::Lower, vec![text("ABC")]));
    g.output(
        "split",
        builtin(Builtin::Split, vec![text("x-y-z"), text("-")]),
    );
    g.output(
        "has",
        builtin(Builtin::Contains, vec![node(lines), text("a")]),
    );
    g.output(
        "sub",
        builtin(Builtin::Contains, vec![text("haystack"), text("st")]),
    );
    let three = lit(Value::Int(3));
    let cmp = e(ExprKind::Compare(
        CompareOp::Ge,
        Box::new(builtin(Builtin::Len, vec![node(lines)])),
        Box::new(three),
    ));
    let logic = e(ExprKind::And(
        Box::new(cmp),
        Box::new(e(ExprKind::Not(Box::new(lit(Value::Bool(false)))))),
    ));
    g.output(
        "choice",
        e(ExprKind::If {
            cond: Box::new(logic),
            then: Box::new(text("long")),
            else_: Box::new(text("short")),
        }),
    );
    g.output(
        "num_eq",
        e(ExprKind::Compare(
            CompareOp::Eq,
            Box::new(lit(Value::Int(2))),
            Box::new(lit(Value::Number(2.0))),
        )),
    );
    let r = run_with(g.build(), &[], quick_options()).await;
    assert_eq!(out(&r, "joined"), t("b, a, c"));
    assert_eq!(out(&r, "count"), Value::Int(3));
    assert_eq!(out(&r, "upper"), t("ABC"));
    assert_eq!(out(&r, "lower"), t("abc"));
    assert_eq!(out(&r, "split"), Value::List(vec![t("x"), t("y"), t("z")]));
    assert_eq!(out(&r, "has"), Value::Bool(true));
    assert_eq!(out(&r, "sub"), Value::Bool(true));
    assert_eq!(out(&r, "choice"), t("long"));
    assert_eq!(out(&r, "num_eq"), Value::Bool(true));
}

#[tokio::test]
async fn records_and_json_fields() {
    let mut g = G::new();
    let a = g.pure("a", text("A"));
    let b = g.pure("b", text("B"));
    let rec = g.add(
        "rec",
        NodeKind::Record(vec![("a".into(), a), ("b".into(), b)]),
        Type::Unknown,
    );
    g.output("field", e(ExprKind::Field(Box::new(node(rec)), "b".into())));
    let j = g.pure(
        "j",
        lit(Value::Json(serde_json::json!({"score": 7, "tags": ["x"]}))),
    );
    g.output(
        "score",
        e(ExprKind::Field(Box::new(node(j)), "score".into())),
    );
    g.output("whole", node(rec));
    let r = run_with(g.build(), &[], quick_options()).await;
    assert_eq!(out(&r, "field"), t("B"));
    assert_eq!(out(&r, "score"), Value::Json(serde_json::json!(7)));
    let mut fields = IndexMap::new();
    fields.insert("a".to_string(), t("A"));
    fields.insert("b".to_string(), t("B"));
    assert_eq!(out(&r, "whole"), Value::Record(fields));
}

#[tokio::test]
async fn missing_json_field_is_a_type_error_naming_the_fields() {
    let mut g = G::new();
    let j = g.pure("j", lit(Value::Json(serde_json::json!({"score": 7}))));
    let f = g.output("o", e(ExprKind::Field(Box::new(node(j)), "grade".into())));
    let _ = f;
    let r = run_with(g.build(), &[], quick_options()).await;
    assert_eq!(err_code(&r), "flow::run::type_error");
    let msg = r.outputs.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        msg,
        "in `o`: the value has no field `grade` (it has `score`)"
    );
    // `j` finished before `o` failed, and is reported.
    assert_eq!(r.finished.len(), 1);
}

// ---- calls: one, repeat, retries, timeouts, failures --------------------------

#[tokio::test(start_paused = true)]
async fn one_call_renders_prompt_and_model_system() {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            system: Some("be terse".into()),
            ..ModelOptions::default()
        },
    );
    let q = g.input("q", None);
    let a = g.ask(
        "a",
        call("m", vec![P::L("Q: "), P::E(node(q))]),
        Sampling::One,
    );
    g.output("answer", node(a));
    let p = TestProvider::new(|req| ok(&format!("echo {}", req.prompt), 20));
    let mut opts = quick_options();
    opts.inputs.insert("q".into(), t("why?"));
    let r = run_with(g.build(), &[("m", p.clone())], opts).await;
    assert_eq!(out(&r, "answer"), t("echo Q: why?"));
    let seen = p.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].system.as_deref(), Some("be terse"));
    assert_eq!(r.stats.calls, 1);
    assert_eq!(r.stats.input_tokens, "Q: why?".len() as u64);
    assert_eq!(r.stats.output_tokens, "echo Q: why?".len() as u64);
    assert_eq!(r.stats.models["m"].calls, 1);
    assert_eq!(r.trace.len(), 1);
    assert_eq!(r.trace[0].outcome, AttemptOutcome::Ok);
    assert_eq!(r.trace[0].dur_us, 20_000);
}

/// Issue 11 item 29: an untraced run (`flow run` without `--trace`) skips
/// the trace's copies and nothing else: the same outputs and statistics,
/// retries included, and an empty trace.
#[tokio::test(start_paused = true)]
async fn an_untraced_run_keeps_its_statistics_and_records_no_trace() {
    let build = || {
        let mut g = G::new();
        g.model("m", ModelOptions::default());
        let a = g.ask("a", call("m", vec![P::L("hi")]), Sampling::Repeat(3));
        g.output("answer", node(a));
        g.build()
    };
    // The first sample's first attempt fails and is retried: counted either way.
    let provider = || {
        TestProvider::new(|req| match (req.sample, req.attempt) {
            (0, 0) => transient(10),
            _ => ok("yes", 10),
        })
    };
    let traced = run_with(build(), &[("m", provider())], quick_options()).await;
    let mut opts = quick_options();
    opts.untraced = true;
    let untraced = run_with(build(), &[("m", provider())], opts).await;
    assert_eq!(out(&untraced, "answer"), out(&traced, "answer"));
    assert_eq!(untraced.stats.calls, 4);
    assert_eq!(untraced.stats.calls, traced.stats.calls);
    assert_eq!(untraced.stats.retries, traced.stats.retries);
    assert_eq!(untraced.stats.output_tokens, traced.stats.output_tokens);
    assert_eq!(untraced.stats.models["m"].failed, 1);
    assert_eq!(traced.trace.len(), 4);
    assert!(untraced.trace.is_empty(), "{:?}", untraced.trace);
}
/// Issue 11 item 29: a fan-out of 10,000 calls of a 50 ms mock (the
/// makespan bench's program, through the real mock provider) takes exactly
/// one call's latency on tokio's paused clock: every call starts at once,
/// none waits for another, and the mock's latency is exact.
#[tokio::test(start_paused = true)]
async fn a_fan_out_of_10000_mock_calls_of_50ms_takes_exactly_50ms() {
    use std::fmt::Write as _;
    let n = 10_000;
    let mut src =
        String::from("model m = mock(reply: \"ok\", latency: 50ms)\ninput q: text = \"hi\"\n");
    for i in 0..n {
        let _ = writeln!(src, "a{i} = ask m \"part {i} of {{q}}\"");
    }
    let names: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
    let _ = writeln!(src, "output result = [{}]", names.join(", "));
    let graph = std::sync::Arc::new(crate::compile(&src).graph.expect("the fan-out compiles"));
    let providers = crate::providers::registry::build_all(graph.models.values())
        .unwrap_or_else(|(m, e)| panic!("model {m}: {e}"));
    let start = Instant::now();
    let r = run(graph, providers, RunOptions::default()).await;
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(out(&r, "result"), Value::List(vec![t("ok"); n]));
    assert_eq!(r.stats.calls, n as u64);
    assert_eq!(r.stats.critical_path_ms, 50);
    assert_eq!(r.stats.peak_in_flight, n as u64);
}

#[tokio::test(start_paused = true)]
async fn repeat_keeps_sample_order_whatever_the_arrival_order() {
    let mut g = G::new();
    model(&mut g, "m");
    let a = g.ask("a", call("m", vec![P::L("go")]), Sampling::Repeat(4));
    g.output("o", node(a));
    // Later samples answer first.
    let p = TestProvider::new(|req| {
        ok(
            &format!("s{}", req.sample),
            100 - 20 * u64::from(req.sample),
        )
    });
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(
        out(&r, "o"),
        Value::List(vec![t("s0"), t("s1"), t("s2"), t("s3")])
    );
    assert_eq!(elapsed_ms(start), 100);
    assert_eq!(p.started(), 4);
    assert_eq!(p.peak(), 4);
    let mut samples: Vec<u32> = p.seen().iter().map(|s| s.sample).collect();
    samples.sort();
    assert_eq!(samples, vec![0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn transient_faults_are_retried_until_success() {
    let mut g = G::new();
    model(&mut g, "m");
    let a = g.ask("a", call("m", vec![P::L("go")]), Sampling::One);
    g.output("o", node(a));
    // Like mock `fail_first: 2`.
    let p = TestProvider::new(|req| {
        if req.attempt < 2 {
            transient(5)
        } else {
            ok("done", 5)
        }
    });
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), t("done"));
    assert_eq!(p.started(), 3);
    let attempts: Vec<u32> = p.seen().iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, vec![0, 1, 2]);
    assert_eq!(r.stats.calls, 3);
    assert_eq!(r.stats.retries, 2);
    let outcomes: Vec<_> = r.trace.iter().map(|e| (e.attempt, e.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![
            (0, AttemptOutcome::Transient),
            (1, AttemptOutcome::Transient),
            (2, AttemptOutcome::Ok)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_with_the_providers_message() {
    let mut g = G::new();
    model(&mut g, "m");
    let mut c = call("m", vec![P::L("go")]);
    c.retry = Some(1);
    let a = g.ask("a", c, Sampling::One);
    g.output("o", node(a));
    let p = TestProvider::new(|_| transient(5));
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(p.started(), 2);
    match &r.outputs {
        Err(RunError::CallFailed {
            attempts,
            message,
            status,
            span,
            ..
        }) => {
            assert_eq!(*attempts, 2);
            assert_eq!(
                message,
                "OpenAI answered 503 Service Unavailable for model `m` (`model-1`) at \
                 `POST /v1/chat/completions`: server overloaded"
            );
            assert_eq!(*status, Some(503));
            assert_eq!(span.offset(), 3);
        }
        other => panic!("expected a failed call, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn fatal_errors_are_not_retried() {
    let mut g = G::new();
    model(&mut g, "m");
    let a = g.ask("a", call("m", vec![P::L("go")]), Sampling::One);
    g.output("o", node(a));
    let p = TestProvider::new(|_| fatal(5));
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(p.started(), 1);
    assert_eq!(err_code(&r), "flow::run::call_failed");
    let help = r
        .outputs
        .as_ref()
        .err()
        .and_then(|e| miette::Diagnostic::help(e).map(|h| h.to_string()));
    // The provider's own advice for a 400, not the runtime's "raise `retry`".
    assert_eq!(
        help.as_deref(),
        Some(
            "check the model id `model-1` (some servers answer 400 to one they do not serve), \
             the options of model `m` (`temperature`, `max_tokens`, `top_p`) and the prompt"
        )
    );
}

#[tokio::test(start_paused = true)]
async fn each_attempt_has_its_own_timeout() {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            timeout: Some(Duration::from_millis(30)),
            retry: Some(1),
            ..ModelOptions::default()
        },
    );
    let a = g.ask("a", call("m", vec![P::L("go")]), Sampling::One);
    g.output("o", node(a));
    let p = TestProvider::reply("late", 100);
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(err_code(&r), "flow::run::timeout");
    assert_eq!(elapsed_ms(start), 60);
    assert_eq!(p.started(), 2);
    assert_eq!(p.cancelled(), 2);
    assert!(r.trace.iter().all(|e| e.outcome == AttemptOutcome::Timeout));
}

#[tokio::test(start_paused = true)]
async fn call_timeout_overrides_the_models() {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            timeout: Some(Duration::from_millis(30)),
            ..ModelOptions::default()
        },
    );
    let mut c = call("m", vec![P::L("go")]);
    c.timeout = Some(Duration::from_millis(200));
    let a = g.ask("a", c, Sampling::One);
    g.output("o", node(a));
    let p = TestProvider::reply("in time", 100);
    let r = run_with(g.build(), &[("m", p)], quick_options()).await;
    assert_eq!(out(&r, "o"), t("in time"));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_a_minimum_wait() {
    let mut g = G::new();
    model(&mut g, "m");
    let a = g.ask("a", call("m", vec![P::L("go")]), Sampling::One);
    g.output("o", node(a));
    let p = TestProvider::new(|req| {
        if req.attempt == 0 {
            Script {
                latency: Duration::from_millis(10),
                result: Err(crate::providers::testkit::status(
                    429,
                    "rate limited",
                    Some(Duration::from_secs(2)),
                )),
            }
        } else {
            ok("fine", 10)
        }
    });
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), t("fine"));
    assert_eq!(p.start_of("go"), Some(0));
    assert_eq!(p.seen()[1].start.as_millis(), 2010);
    assert_eq!(elapsed_ms(start), 2020);
}

/// A 429 asking for `wait`, then a reply.
fn rate_limited_once(wait: Duration) -> std::sync::Arc<TestProvider> {
    TestProvider::new(move |req| {
        if req.attempt == 0 {
            Script {
                latency: Duration::from_millis(10),
                result: Err(crate::providers::testkit::status(
                    429,
                    "rate limited",
                    Some(wait),
                )),
            }
        } else {
            ok("fine", 10)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn item_07_retry_after_is_capped() {
    let mut g = G::new();
    model(&mut g, "m");
    let a = g.ask("a", call("m", vec![P::L("go")]), Sampling::One);
    g.output("o", node(a));
    let graph = g.build();

    // A day's wait is not slept: the call fails at once, saying how long
    // the server asked for and how long flow would have waited.
    let p = rate_limited_once(Duration::from_secs(86_400));
    let start = Instant::now();
    let r = run_with(graph.clone(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(elapsed_ms(start), 10, "the run waited");
    assert_eq!(p.started(), 1);
    let e = r.outputs.as_ref().expect_err("the call must fail");
    assert_eq!(e.code_str(), "flow::run::retry_after_too_long");
    let message = e.to_string();
    assert!(
        message.contains("asked to wait 86400s (24 hours) before another attempt"),
        "{message}"
    );
    assert!(message.contains("flow waits at most 60s"), "{message}");
    assert!(message.contains("HTTP 429"), "{message}");

    // Up to the cap, the wait is honoured.
    let p = rate_limited_once(Duration::from_secs(60));
    let start = Instant::now();
    let r = run_with(graph.clone(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), t("fine"));
    assert_eq!(elapsed_ms(start), 60_020);

    // The cap is the policy's.
    let mut opts = quick_options();
    opts.retry.max_retry_after = Duration::from_secs(5);
    let p = rate_limited_once(Duration::from_secs(6));
    let r = run_with(graph, &[("m", p)], opts).await;
    let e = r.outputs.as_ref().expect_err("over a cap of 5s");
    assert!(e.to_string().contains("flow waits at most 5s"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn backoff_is_jittered_below_an_exponential_cap() {
    let mut g = G::new();
    model(&mut g, "m");
    let mut c = call("m", vec![P::L("go")]);
    c.retry = Some(3);
    let a = g.ask("a", c, Sampling::One);
    g.output("o", node(a));
    let p = TestProvider::new(|req| {
        if req.attempt < 3 {
            transient(0)
        } else {
            ok("ok", 0)
        }
    });
    let mut opts = quick_options();
    opts.retry.base_delay = Duration::from_millis(100);
    opts.retry.max_delay = Duration::from_millis(250);
    let r = run_with(g.build(), &[("m", p.clone())], opts).await;
    assert_eq!(out(&r, "o"), t("ok"));
    let starts: Vec<u128> = p.seen().iter().map(|s| s.start.as_millis()).collect();
    let gaps: Vec<u128> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // Caps: 100, 200, then 400 limited to 250.
    for (gap, cap) in gaps.iter().zip([100, 200, 250]) {
        assert!(
            *gap <= cap,
            "a backoff of {gap}ms exceeds its cap of {cap}ms"
        );
    }
}

// ---- scheduling and time ---------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_fan_out_of_1000_calls_takes_one_latency() {
    let mut g = G::new();
    model(&mut g, "m");
    let ids: Vec<_> = (0..1000)
        .map(|i| g.ask(&format!("a{i}"), call("m", vec![P::L("q")]), Sampling::One))
        .collect();
    let all = g.pure(
        "all",
        e(ExprKind::List(ids.iter().map(|&i| node(i)).collect())),
    );
    g.output("n", builtin(Builtin::Len, vec![node(all)]));
    let p = TestProvider::reply("r", 50);
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "n"), Value::Int(1000));
    assert_eq!(elapsed_ms(start), 50);
    assert_eq!(p.started(), 1000);
    assert_eq!(p.peak(), 1000);
    assert_eq!(r.stats.peak_in_flight, 1000);
    assert_eq!(r.stats.critical_path_ms, 50);
    assert_eq!(r.stats.wall_ms, 50);
}

#[tokio::test(start_paused = true)]
async fn a_chain_takes_depth_times_latency() {
    let mut g = G::new();
    model(&mut g, "m");
    let mut prev = g.input("seed", Some(t("0")));
    for i in 0..8 {
        prev = g.ask(
            &format!("step{i}"),
            call("m", vec![P::L("+"), P::E(node(prev))]),
            Sampling::One,
        );
    }
    g.output("o", node(prev));
    let p = TestProvider::new(|req| ok(&format!("{}1", req.prompt), 25));
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(elapsed_ms(start), 8 * 25);
    assert_eq!(r.stats.critical_path_ms, 200);
    assert_eq!(p.peak(), 1);
    assert_eq!(
        out(&r, "o"),
        t(&format!("{}0{}", "+".repeat(8), "1".repeat(8)))
    );
}

#[tokio::test(start_paused = true)]
async fn a_fast_branch_does_not_wait_for_a_slow_sibling() {
    let mut g = G::new();
    model(&mut g, "m");
    let q = g.input("q", Some(t("x")));
    let slow = g.ask(
        "slow",
        call("m", vec![P::L("slow "), P::E(node(q))]),
        Sampling::One,
    );
    let fast = g.ask(
        "fast",
        call("m", vec![P::L("fast "), P::E(node(q))]),
        Sampling::One,
    );
    let next = g.ask(
        "next",
        call("m", vec![P::L("next "), P::E(node(fast))]),
        Sampling::One,
    );
    g.output(
        "o",
        template(vec![P::E(node(slow)), P::L("|"), P::E(node(next))]),
    );
    let p = TestProvider::new(|req| {
        let ms = if req.prompt.starts_with("slow") {
            100
        } else {
            10
        };
        ok(&req.prompt.replace(' ', "_"), ms)
    });
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(p.start_of("next"), Some(10));
    assert_eq!(
        p.seen()
            .iter()
            .find(|s| s.prompt.starts_with("next"))
            .and_then(|s| s.end)
            .map(|d| d.as_millis()),
        Some(20)
    );
    assert_eq!(elapsed_ms(start), 100);
    assert_eq!(out(&r, "o"), t("slow_x|next_fast_x"));
    assert_eq!(r.stats.critical_path_ms, 100);
}

#[tokio::test(start_paused = true)]
async fn concurrency_caps_calls_in_flight() {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            concurrency: Some(3),
            ..ModelOptions::default()
        },
    );
    for i in 0..10 {
        let a = g.ask(&format!("a{i}"), call("m", vec![P::L("q")]), Sampling::One);
        g.output(&format!("o{i}"), node(a));
    }
    let p = TestProvider::reply("r", 50);
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert!(r.outputs.is_ok());
    assert_eq!(p.peak(), 3);
    assert_eq!(r.stats.peak_in_flight, 3);
    assert_eq!(elapsed_ms(start), 4 * 50);
    // Three lanes in the trace: concurrency is visible.
    let trace = chrome_trace_json(&r.trace);
    let max_tid = trace["traceEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["tid"].as_u64())
        .max();
    assert_eq!(max_tid, Some(3));
}

#[tokio::test(start_paused = true)]
async fn rpm_paces_requests() {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            rpm: Some(60),
            ..ModelOptions::default()
        },
    );
    for i in 0..5 {
        let a = g.ask(&format!("a{i}"), call("m", vec![P::L("q")]), Sampling::One);
        g.output(&format!("o{i}"), node(a));
    }
    let p = TestProvider::reply("r", 0);
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert!(r.outputs.is_ok());
    let mut starts: Vec<u128> = p.seen().iter().map(|s| s.start.as_millis()).collect();
    starts.sort();
    assert_eq!(starts, vec![0, 1000, 2000, 3000, 4000]);
    assert_eq!(elapsed_ms(start), 4000);
}

#[tokio::test(start_paused = true)]
async fn the_first_failure_cancels_everything_in_flight() {
    let mut g = G::new();
    model(&mut g, "m");
    let bad = g.ask("bad", call("m", vec![P::L("bad")]), Sampling::One);
    let slow = g.ask("slow", call("m", vec![P::L("slow")]), Sampling::One);
    let quick = g.ask("quick", call("m", vec![P::L("quick")]), Sampling::One);
    let after = g.ask(
        "after",
        call("m", vec![P::L("after "), P::E(node(slow))]),
        Sampling::One,
    );
    g.output(
        "o",
        template(vec![P::E(node(bad)), P::E(node(after)), P::E(node(quick))]),
    );
    let p = TestProvider::new(|req| match req.prompt.as_str() {
        "bad" => fatal(10),
        "quick" => ok("q", 5),
        _ => ok("s", 1000),
    });
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(err_code(&r), "flow::run::call_failed");
    assert_eq!(elapsed_ms(start), 10);
    // `slow` was cut off mid-call; `after` never started.
    assert_eq!(p.started(), 3);
    assert_eq!(p.cancelled(), 1);
    assert_eq!(r.finished, vec![("quick".to_string(), t("q"))]);
    assert!(
        r.trace
            .iter()
            .any(|e| e.site.binding == "slow" && e.outcome == AttemptOutcome::Cancelled)
    );
    match &r.outputs {
        Err(e @ RunError::CallFailed { site, .. }) => {
            assert_eq!(site.binding, "bad");
            assert_eq!(
                e.to_string(),
                "the call to `m` for `bad` failed after 1 attempt (HTTP 400): OpenAI answered \
                 400 Bad Request for model `m` (`model-1`) at `POST /v1/chat/completions`: \
                 invalid request"
            );
        }
        other => panic!("expected a failed call, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_run_aborts_calls_in_flight() {
    let mut g = G::new();
    model(&mut g, "m");
    let quick = g.ask("quick", call("m", vec![P::L("quick")]), Sampling::One);
    let slow = g.ask("slow", call("m", vec![P::L("slow")]), Sampling::One);
    g.output("o", template(vec![P::E(node(quick)), P::E(node(slow))]));
    let p = TestProvider::new(|req| {
        if req.prompt == "quick" {
            ok("q", 10)
        } else {
            ok("s", 1000)
        }
    });
    let opts = quick_options();
    let cancel = opts.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        cancel.cancel();
    });
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], opts).await;
    assert_eq!(err_code(&r), "flow::run::cancelled");
    assert_eq!(elapsed_ms(start), 20);
    assert_eq!(p.cancelled(), 1);
    assert_eq!(r.finished, vec![("quick".to_string(), t("q"))]);
}

#[tokio::test(start_paused = true)]
async fn the_call_budget_is_enforced_with_both_numbers() {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            concurrency: Some(1),
            ..ModelOptions::default()
        },
    );
    let a = g.ask("a", call("m", vec![P::L("q")]), Sampling::Repeat(5));
    g.output("o", node(a));
    let p = TestProvider::reply("r", 10);
    let mut opts = quick_options();
    opts.max_calls = Some(3);
    let r = run_with(g.build(), &[("m", p.clone())], opts).await;
    match &r.outputs {
        Err(e @ RunError::BudgetExceeded { limit, needed, .. }) => {
            assert_eq!((*limit, *needed), (3, 4));
            assert_eq!(e.code_str(), "flow::run::budget_exceeded");
        }
        other => panic!("expected the budget to be exceeded, got {other:?}"),
    }
    assert!(p.started() <= 3);
}

#[tokio::test(start_paused = true)]
async fn guards_skip_the_branch_not_taken() {
    let mut g = G::new();
    model(&mut g, "m");
    let flag = g.input("flag", Some(Value::Bool(false)));
    let yes = g.ask(
        "answer.ask1",
        call("m", vec![P::L("yes branch")]),
        Sampling::One,
    );
    g.guard(yes, flag, true);
    let no = g.ask(
        "answer.ask2",
        call("m", vec![P::L("no branch")]),
        Sampling::One,
    );
    g.guard(no, flag, false);
    g.output(
        "answer",
        e(ExprKind::If {
            cond: Box::new(node(flag)),
            then: Box::new(node(yes)),
            else_: Box::new(node(no)),
        }),
    );
    let p = TestProvider::new(|req| ok(&req.prompt.to_uppercase(), 10));
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "answer"), t("NO BRANCH"));
    assert_eq!(p.started(), 1);
    assert_eq!(r.stats.nodes_skipped, 1);
    assert_eq!(r.stats.nodes_run, 3);
}

#[tokio::test(start_paused = true)]
async fn events_report_progress_with_counts() {
    let mut g = G::new();
    model(&mut g, "m");
    let a = g.ask("a", call("m", vec![P::L("q")]), Sampling::Repeat(2));
    g.output("o", node(a));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut opts = quick_options();
    opts.events = Some(tx);
    let p = TestProvider::reply("r", 10);
    let r = run_with(g.build(), &[("m", p)], opts).await;
    assert!(r.outputs.is_ok());
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    assert_eq!(events.first(), Some(&RunEvent::Planned { nodes: 2 }));
    let calls = events
        .iter()
        .filter(|e| matches!(e, RunEvent::CallStarted { .. }))
        .count();
    assert_eq!(calls, 2);
    assert!(matches!(
        events.last(),
        Some(RunEvent::NodeFinished {
            done: 2,
            total: 2,
            ..
        })
    ));
}

// ---- map -------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn map_runs_every_element_at_once_in_element_order() {
    let mut g = G::new();
    model(&mut g, "m");
    let items = g.input("items", Some(Value::List(vec![t("a"), t("bb"), t("ccc")])));
    let body = e(ExprKind::Ask(
        Box::new(call("m", vec![P::L("up "), P::E(var("x"))])),
        Sampling::One,
    ));
    let m = g.add(
        "ups",
        NodeKind::Map {
            var: "x".into(),
            list: node(items),
            body: template(vec![P::E(var("x")), P::L("="), P::E(body)]),
            calls_per_item: 1,
        },
        Type::Unknown,
    );
    g.output("o", node(m));
    // Longer items answer sooner.
    let p = TestProvider::new(|req| {
        let word = req.prompt.trim_start_matches("up ").to_string();
        ok(&word.to_uppercase(), 100 - 30 * word.len() as u64)
    });
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(
        out(&r, "o"),
        Value::List(vec![t("a=A"), t("bb=BB"), t("ccc=CCC")])
    );
    assert_eq!(elapsed_ms(start), 70);
    assert_eq!(p.peak(), 3);
    let slices: Vec<(String, u64)> = r
        .trace
        .iter()
        .map(|e| (e.site.slice_name(), e.dur_us / 1000))
        .collect();
    assert_eq!(
        slices,
        vec![
            ("ups[0]".into(), 70),
            ("ups[1]".into(), 40),
            ("ups[2]".into(), 10)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn nested_maps() {
    let mut g = G::new();
    let rows = g.input(
        "rows",
        Some(Value::List(vec![
            Value::List(vec![t("a"), t("b")]),
            Value::List(vec![t("c")]),
        ])),
    );
    let inner = e(ExprKind::Map {
        var: "cell".into(),
        list: Box::new(var("row")),
        body: Box::new(builtin(Builtin::Upper, vec![var("cell")])),
    });
    let m = g.add(
        "grid",
        NodeKind::Map {
            var: "row".into(),
            list: node(rows),
            body: inner,
            calls_per_item: 0,
        },
        Type::Unknown,
    );
    g.output("o", node(m));
    let r = run_with(g.build(), &[], quick_options()).await;
    assert_eq!(
        out(&r, "o"),
        Value::List(vec![
            Value::List(vec![t("A"), t("B")]),
            Value::List(vec![t("C")])
        ])
    );
}

/// A `for`'s environment is a chain to the enclosing ones: an inner
/// variable of the same name hides the outer one, and the outer list an
/// inner `for` walks is read in place.
#[tokio::test(start_paused = true)]
async fn an_inner_for_variable_hides_an_outer_one_of_the_same_name() {
    let mut g = G::new();
    let rows = g.input(
        "rows",
        Some(Value::List(vec![
            Value::List(vec![t("a"), t("b")]),
            Value::List(vec![t("c")]),
        ])),
    );
    let inner = e(ExprKind::Map {
        var: "x".into(),
        list: Box::new(var("x")),
        body: Box::new(builtin(Builtin::Upper, vec![var("x")])),
    });
    let m = g.add(
        "grid",
        NodeKind::Map {
            var: "x".into(),
            list: node(rows),
            body: inner,
            calls_per_item: 0,
        },
        Type::Unknown,
    );
    g.output("o", node(m));
    let r = run_with(g.build(), &[], quick_options()).await;
    assert_eq!(
        out(&r, "o"),
        Value::List(vec![
            Value::List(vec![t("A"), t("B")]),
            Value::List(vec![t("C")])
        ])
    );
}

/// A call in a nested `for` is named by its element indices, outermost
/// first, as the chain of environments gives them back.
#[tokio::test(start_paused = true)]
async fn a_call_in_a_nested_for_is_named_outermost_index_first() {
    let mut g = G::new();
    model(&mut g, "m");
    let rows = g.input(
        "rows",
        Some(Value::List(vec![
            Value::List(vec![t("a")]),
            Value::List(vec![t("b"), t("c")]),
        ])),
    );
    let ask = e(ExprKind::Ask(
        Box::new(call("m", vec![P::E(var("cell"))])),
        Sampling::One,
    ));
    let inner = e(ExprKind::Map {
        var: "cell".into(),
        list: Box::new(var("row")),
        body: Box::new(ask),
    });
    let m = g.add(
        "grid",
        NodeKind::Map {
            var: "row".into(),
            list: node(rows),
            body: inner,
            calls_per_item: 1,
        },
        Type::Unknown,
    );
    g.output("o", node(m));
    let p = TestProvider::new(|req| ok(&req.prompt.to_uppercase(), 10));
    let r = run_with(g.build(), &[("m", p)], quick_options()).await;
    assert_eq!(
        out(&r, "o"),
        Value::List(vec![
            Value::List(vec![t("A")]),
            Value::List(vec![t("B"), t("C")])
        ])
    );
    let mut slices: Vec<String> = r.trace.iter().map(|e| e.site.slice_name()).collect();
    slices.sort();
    assert_eq!(slices, vec!["grid[0][0]", "grid[1][0]", "grid[1][1]"]);
}

/// Issue 11 item 29: an input node's value is the run's input itself,
/// shared, not a copy (a 10,000-item list was copied into the run's
/// context and again into its node, 1.5 ms of a fan-out's start).
#[tokio::test(start_paused = true)]
async fn an_input_node_shares_the_runs_input_value() {
    let mut g = G::new();
    let items = g.input("items", None);
    g.output("o", node(items));
    let graph = g.build();
    let mut opts = quick_options();
    opts.inputs
        .insert("items".into(), Value::List(vec![t("a"), t("b")]));
    let inputs = std::mem::take(&mut opts.inputs);
    let ctx = std::sync::Arc::new(super::ctx::RunCtx::new(
        graph,
        std::collections::HashMap::new(),
        &opts,
        inputs,
    ));
    let given = ctx
        .inputs
        .get("items")
        .cloned()
        .expect("the input is there");
    let done = match super::node::execute(
        ctx,
        items,
        super::env::DepValues::from_sorted(Vec::new()),
    )
    .await
    {
        Ok(done) => done,
        Err(e) => panic!("the input node failed: {e}"),
    };
    assert!(std::sync::Arc::ptr_eq(&done.value, &given));
}

// ---- voting (needs `vote` and `reply`) ---------------------------------------

fn vote_graph(
    n: u32,
    strategy: Strategy,
    ty: Type,
    concurrency: Option<u32>,
) -> std::sync::Arc<crate::graph::FlowGraph> {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            concurrency,
            ..ModelOptions::default()
        },
    );
    g.model("judge", ModelOptions::default());
    let mut c = call("m", vec![P::L("question")]);
    c.parse_as = ty;
    let v = g.ask(
        "v",
        c,
        Sampling::Vote {
            n,
            strategy,
            until: None,
        },
    );
    g.output("o", node(v));
    g.build()
}

fn adaptive_graph(
    cap: u32,
    until: f64,
    concurrency: Option<u32>,
) -> std::sync::Arc<crate::graph::FlowGraph> {
    adaptive_graph_until(cap, Until::leader(until), concurrency)
}

fn adaptive_graph_until(
    cap: u32,
    until: Until,
    concurrency: Option<u32>,
) -> std::sync::Arc<crate::graph::FlowGraph> {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            concurrency,
            ..ModelOptions::default()
        },
    );
    let c = call("m", vec![P::L("question")]);
    let v = g.ask(
        "v",
        c,
        Sampling::Vote {
            n: cap,
            strategy: Strategy::Majority,
            until: Some(until),
        },
    );
    g.output("o", node(v));
    g.build()
}

#[tokio::test(start_paused = true)]
async fn a_run_never_books_more_than_its_tpm_in_a_minute() {
    let mut g = G::new();
    // "question" is 2 tokens by the estimate, plus 48 of `max_tokens`: two
    // calls fill the 100 tokens of a minute.
    g.model(
        "m",
        ModelOptions {
            tpm: Some(100),
            max_tokens: Some(48),
            ..ModelOptions::default()
        },
    );
    let v = g.ask("v", call("m", vec![P::L("question")]), Sampling::Repeat(5));
    g.output("o", node(v));
    let p = TestProvider::reply("ok", 10);
    let start = Instant::now();
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(r.stats.calls, 5);
    let mut starts: Vec<u64> = r.trace.iter().map(|e| e.start_us / 1000).collect();
    starts.sort();
    // Two at once, two a minute later, the last a minute after that.
    assert_eq!(starts, vec![0, 0, 60_000, 60_000, 120_000]);
    assert_eq!(elapsed_ms(start), 120_010);
}

/// Two samples through a model with a `tpm` and `concurrency: 1`, the
/// first's first attempt answered by `limit` (a 429 asking for 5 s): when
/// the second sample's first attempt goes out, in ms.
async fn second_sample_after_a_429(limit: fn() -> crate::providers::ProviderError) -> u128 {
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            tpm: Some(1_000_000),
            concurrency: Some(1),
            ..ModelOptions::default()
        },
    );
    let v = g.ask("v", call("m", vec![P::L("question")]), Sampling::Repeat(2));
    g.output("o", node(v));
    let p = TestProvider::new(move |req| {
        if req.sample == 0 && req.attempt == 0 {
            Script {
                latency: Duration::from_millis(10),
                result: Err(limit()),
            }
        } else {
            ok("ok", 10)
        }
    });
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert!(r.outputs.is_ok(), "{:?}", r.outputs.err());
    p.seen()
        .iter()
        .find(|s| s.sample == 1 && s.attempt == 0)
        .map_or(u128::MAX, |s| s.start.as_millis())
}

#[tokio::test(start_paused = true)]
async fn a_429_for_tokens_holds_back_the_models_next_calls() {
    let tokens = || {
        crate::providers::testkit::status(
            429,
            "tokens: Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 30000",
            Some(Duration::from_secs(5)),
        )
    };
    // The minute the server counts is full: the other sample waits too.
    assert_eq!(second_sample_after_a_429(tokens).await, 5010);
}

#[tokio::test(start_paused = true)]
async fn a_429_for_requests_leaves_the_token_pacing_alone() {
    // A request limit, from a model whose id happens to say "token": only
    // the server's own words decide what kind of limit it was.
    let requests = || {
        let mut e = crate::providers::testkit::status(
            429,
            "requests: Rate limit reached on requests per min (RPM): Limit 3",
            Some(Duration::from_secs(5)),
        );
        if let crate::providers::ProviderError::Status { target, .. } = &mut e {
            target.model_id = "tokenizer-7b".into();
        }
        e
    };
    assert_eq!(second_sample_after_a_429(requests).await, 10);
}

#[test]
fn an_adaptive_votes_waves_through_a_routed_model_keep_to_its_members_concurrency() {
    use crate::model::{Route, RouteKind};
    let mut g = G::new();
    let limited = |n| ModelOptions {
        concurrency: n,
        ..ModelOptions::default()
    };
    g.model("a", limited(Some(2)));
    g.model("b", limited(Some(3)));
    g.model("free", limited(None));
    let routed = |kind, members: &[&str]| ModelOptions {
        route: Some(Route {
            kind,
            members: members.iter().map(|m| m.to_string()).collect(),
        }),
        ..ModelOptions::default()
    };
    g.model("first_a", routed(RouteKind::Fallback, &["a", "b"]));
    g.model("spread", routed(RouteKind::RoundRobin, &["a", "b"]));
    g.model("spread_free", routed(RouteKind::RoundRobin, &["a", "free"]));
    let graph = g.build();
    let limit = |m| super::ask::wave_limit(&graph, m);
    // Every sample goes to a fallback's first member first; a round-robin
    // has all its members' slots, unless one of them has no bound.
    assert_eq!(limit("a"), Some(2));
    assert_eq!(limit("first_a"), Some(2));
    assert_eq!(limit("spread"), Some(5));
    assert_eq!(limit("spread_free"), None);
    // A section's waves are whole rounds, each model's slots shared by the
    // members that use it: `b` twice in a round of three leaves one round
    // of its 3 slots, `a` alone two rounds of its 2.
    let section = |ms: &[&str]| super::ask::section_wave_limit(&graph, ms.iter().copied());
    assert_eq!(section(&["a", "free"]), Some(4));
    assert_eq!(section(&["a", "b", "b"]), Some(3));
    assert_eq!(section(&["b", "b", "b", "b"]), Some(4));
    assert_eq!(section(&["free", "free"]), None);
    assert_eq!(section(&["spread", "a"]), Some(4));
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_vote_stops_after_one_wave_on_an_easy_question() {
    let graph = adaptive_graph(40, 0.95, None);
    let p = TestProvider::reply("Yes", 10);
    let start = Instant::now();
    let r = run_with(graph, &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), t("Yes"));
    // Four agreeing samples give 1 - 2^-5 > 0.95: one wave of four.
    assert_eq!(p.started(), 4);
    assert_eq!(r.stats.calls, 4);
    assert_eq!(r.stats.saved, 36);
    assert_eq!(elapsed_ms(start), 10);
    let v = &r.stats.votes[0];
    assert_eq!((v.answered, v.winner, v.launched, v.cap), (4, 4, 4, 40));
    assert_eq!(v.until, Some(0.95));
}

#[tokio::test(start_paused = true)]
async fn a_vote_of_n_until_p_stops_by_the_full_vote_rule() {
    use crate::graph::StopRule;
    use crate::runtime::vote::adaptive::Adaptive;
    // What a rule takes on unanimous answers, wave by wave, as the library
    // computes it: the run must take exactly the full-vote rule's count.
    let unanimous = |stop: StopRule| {
        let mut rule = Adaptive::with_rule(40, 0.95, stop);
        let mut taken = 0;
        loop {
            let wave = rule.wave(taken, None);
            assert!(wave > 0, "a unanimous vote must decide before its cap");
            taken += wave;
            for _ in 0..wave {
                if rule.record(t("Yes")) != crate::runtime::vote::Outcome::Pending {
                    return taken;
                }
            }
        }
    };
    let expected = unanimous(StopRule::FullVote);
    let graph = adaptive_graph_until(40, Until::full_vote(0.95), None);
    let p = TestProvider::reply("Yes", 10);
    let r = run_with(graph, &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), t("Yes"));
    assert_eq!(p.started(), expected as u64);
    let v = &r.stats.votes[0];
    assert_eq!(
        (v.launched, v.cap, v.until, v.rule),
        (expected, 40, Some(0.95), Some("full_vote"))
    );
    // Not the leader rule's count: three agreeing samples make a vote of
    // 40 95% safe, where "is this the model's most frequent answer?" takes
    // four.
    assert_eq!((expected, unanimous(StopRule::Leader)), (3, 4));
}

#[tokio::test(start_paused = true)]
async fn adaptive_waves_stay_within_the_models_concurrency() {
    let graph = adaptive_graph(9, 0.99, Some(2));
    // Samples alternate until the 5th, then agree.
    let p = TestProvider::new(|req| {
        ok(
            if req.sample % 2 == 1 && req.sample < 5 {
                "b"
            } else {
                "a"
            },
            10,
        )
    });
    let r = run_with(graph, &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), t("a"));
    assert!(p.peak() <= 2, "peak {}", p.peak());
    assert!(r.stats.votes[0].launched <= 9);
}

#[tokio::test(start_paused = true)]
async fn adaptive_results_do_not_depend_on_latencies() {
    // The same answers per sample index under many random latencies: the
    // value and the samples the rule used are always the same.
    let answers = [
        "a", "b", "a", "c", "a", "a", "b", "a", "a", "a", "b", "a", "a",
    ];
    let mut seen = None;
    for seed in 0..12u64 {
        let graph = adaptive_graph(13, 0.9, None);
        // splitmix64: latencies from 1 to 200 ms.
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let latencies: Vec<u64> = (0..13)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                1 + (z ^ (z >> 31)) % 200
            })
            .collect();
        let p = TestProvider::new(move |req| {
            let i = req.sample as usize;
            ok(answers[i], latencies[i])
        });
        let r = run_with(graph, &[("m", p)], quick_options()).await;
        let v = &r.stats.votes[0];
        let got = (out(&r, "o"), v.answered, v.winner, v.launched);
        match &seen {
            None => seen = Some(got),
            Some(first) => assert_eq!(&got, first, "seed {seed}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_at_least_vote_stops_once_k_is_confidently_out_of_reach() {
    let mut g = G::new();
    g.model("m", ModelOptions::default());
    let mut c = call("m", vec![P::L("question")]);
    c.parse_as = Type::Bool;
    let v = g.ask(
        "v",
        c,
        Sampling::Vote {
            n: 9,
            strategy: Strategy::AtLeast(3),
            until: Some(Until::leader(0.9)),
        },
    );
    g.output("o", node(v));
    let p = TestProvider::reply("no", 10);
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), Value::Bool(false));
    // Four no make three yes among the five left unlikely enough (21/252),
    // where a vote of exactly nine waits for seven.
    let v = &r.stats.votes[0];
    assert_eq!((v.answered, v.winner, v.cap), (4, 4, 9));
    assert_eq!(r.stats.calls, u64::try_from(v.launched).unwrap_or(0));
    assert!(v.launched <= 9);
    assert_eq!(r.stats.saved, 9 - u64::try_from(v.launched).unwrap_or(0));
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_section_vote_pools_its_members_round_by_round() {
    let mut g = G::new();
    model(&mut g, "a");
    model(&mut g, "b");
    model(&mut g, "c");
    let v = g.add(
        "v",
        NodeKind::Ensemble {
            voters: vec![
                call("a", vec![P::L("one")]),
                call("b", vec![P::L("two")]),
                call("c", vec![P::L("three")]),
            ],
            per_voter: 10,
            strategy: Strategy::Majority,
            until: Some(Until::leader(0.95)),
        },
        Type::Text,
    );
    g.output("o", node(v));
    // `c` dissents on its first sample only; the rest agree.
    let pa = TestProvider::reply("x", 30);
    let pb = TestProvider::reply("x", 10);
    let pc = TestProvider::new(|req| ok(if req.sample == 0 { "y" } else { "x" }, 20));
    let r = run_with(
        g.build(),
        &[("a", pa.clone()), ("b", pb.clone()), ("c", pc.clone())],
        quick_options(),
    )
    .await;
    assert_eq!(out(&r, "o"), t("x"));
    // Pooled a0 b0 c0 a1 b1 c1 ...: the first wave (four agreeing samples
    // could reach 0.95) is rounded up to two whole rounds; 5–1 after it is
    // only 0.9375, and one more agreeing sample (6–1, 0.965) could decide,
    // so the second wave is one more round. The rule stops at a2, the 7th
    // sample in pool order, though b2 and c2 (faster) are already in.
    assert_eq!((pa.started(), pb.started(), pc.started()), (3, 3, 3));
    let v = &r.stats.votes[0];
    assert_eq!((v.answered, v.winner, v.launched, v.cap), (7, 6, 9, 30));
    assert_eq!(r.stats.saved, 21);
}

#[tokio::test(start_paused = true)]
async fn majority_decides_early_and_cancels_samples_in_flight() {
    let graph = vote_graph(5, Strategy::Majority, Type::Text, None);
    // Sample i answers after 10 * (i + 1) ms; all say the same.
    let p = TestProvider::new(|req| ok("Yes", 10 * (u64::from(req.sample) + 1)));
    let start = Instant::now();
    let r = run_with(graph, &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), t("Yes"));
    assert_eq!(elapsed_ms(start), 30);
    assert_eq!(p.started(), 5);
    assert_eq!(p.cancelled(), 2);
    assert_eq!(r.stats.saved, 2);
    assert_eq!(r.stats.models["m"].saved, 2);
    let cancelled = r
        .trace
        .iter()
        .filter(|e| e.outcome == AttemptOutcome::Cancelled)
        .count();
    assert_eq!(cancelled, 2);
}

#[tokio::test(start_paused = true)]
async fn an_early_decision_saves_calls_that_never_start() {
    let graph = vote_graph(5, Strategy::Majority, Type::Text, Some(1));
    let p = TestProvider::reply("same", 10);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut opts = quick_options();
    opts.events = Some(tx);
    let start = Instant::now();
    let r = run_with(graph, &[("m", p.clone())], opts).await;
    assert_eq!(out(&r, "o"), t("same"));
    let mut saved = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let RunEvent::Saved { node, calls } = ev {
            saved.push((node, calls));
        }
    }
    assert_eq!(saved, vec![("v".to_string(), 2)]);
    assert_eq!(p.started(), 3);
    assert_eq!(r.stats.calls, 3);
    assert_eq!(r.stats.saved, 2);
    assert_eq!(elapsed_ms(start), 30);
}

#[tokio::test(start_paused = true)]
async fn majority_result_does_not_depend_on_arrival_order() {
    let graph = vote_graph(4, Strategy::Majority, Type::Text, None);
    // A 2-2 tie goes to the value of the earliest sample, though it arrives last.
    let p = TestProvider::new(|req| {
        let text = if req.sample % 2 == 0 {
            "first"
        } else {
            "second"
        };
        ok(text, 100 - 10 * u64::from(req.sample))
    });
    let r = run_with(graph, &[("m", p)], quick_options()).await;
    assert_eq!(out(&r, "o"), t("first"));
}

#[tokio::test(start_paused = true)]
async fn unanimous_disagreement_is_an_error_naming_both_samples() {
    let graph = vote_graph(3, Strategy::Unanimous, Type::Text, None);
    let p = TestProvider::new(|req| ok(if req.sample == 1 { "no" } else { "yes" }, 10));
    let r = run_with(graph, &[("m", p)], quick_options()).await;
    assert_eq!(err_code(&r), "flow::run::disagreement");
    match &r.outputs {
        Err(RunError::Disagreement { binding, .. }) => assert_eq!(binding, "v"),
        other => panic!("expected a disagreement, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn at_least_counts_trues() {
    let graph = vote_graph(5, Strategy::AtLeast(2), Type::Bool, None);
    let p = TestProvider::new(|req| {
        ok(
            if req.sample < 2 { "yes" } else { "no" },
            10 * (u64::from(req.sample) + 1),
        )
    });
    let r = run_with(graph, &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), Value::Bool(true));
    // Two trues by 20ms decide it.
    assert_eq!(r.stats.saved, 3);
}

#[tokio::test(start_paused = true)]
async fn mean_of_numbers() {
    let graph = vote_graph(4, Strategy::Mean, Type::Number, None);
    let p = TestProvider::new(|req| ok(&format!("{}", req.sample + 1), 10));
    let r = run_with(graph, &[("m", p)], quick_options()).await;
    assert_eq!(out(&r, "o"), Value::Number(2.5));
}

#[tokio::test(start_paused = true)]
async fn median_of_ints() {
    let graph = vote_graph(3, Strategy::Median, Type::Int, None);
    let p = TestProvider::new(|req| ok(["7", "1", "4"][req.sample as usize % 3], 10));
    let r = run_with(graph, &[("m", p)], quick_options()).await;
    assert_eq!(out(&r, "o"), Value::Number(4.0));
}

#[tokio::test(start_paused = true)]
async fn a_judge_picks_among_the_candidates() {
    let graph = vote_graph(3, Strategy::Judge("judge".into()), Type::Text, None);
    let p = TestProvider::new(|req| ok(["alpha", "beta", "gamma"][req.sample as usize % 3], 10));
    let judge = TestProvider::new(|req| {
        // The judge sees the task and every candidate.
        let told = req.prompt.contains("question") && req.prompt.contains("beta");
        ok(if told { "Candidate 2 is best" } else { "?" }, 20)
    });
    let start = Instant::now();
    let r = run_with(
        graph,
        &[("m", p), ("judge", judge.clone())],
        quick_options(),
    )
    .await;
    assert_eq!(out(&r, "o"), t("beta"));
    assert_eq!(judge.started(), 1);
    assert_eq!(elapsed_ms(start), 30);
    assert_eq!(r.stats.critical_path_ms, 30);
    assert!(r.trace.iter().any(|e| e.site.judge));
}

#[tokio::test(start_paused = true)]
async fn an_unclear_judge_is_retried_then_fails_quoting_it() {
    let graph = vote_graph(2, Strategy::Judge("judge".into()), Type::Text, None);
    let p = TestProvider::new(|req| ok(["alpha", "beta"][req.sample as usize % 2], 10));
    let judge = TestProvider::reply("both are fine", 5);
    let r = run_with(
        graph,
        &[("m", p), ("judge", judge.clone())],
        quick_options(),
    )
    .await;
    assert_eq!(err_code(&r), "flow::run::unparsable");
    assert_eq!(judge.started(), 3);
    let msg = r.outputs.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("\"both are fine\""), "{msg}");
}

#[tokio::test(start_paused = true)]
async fn item_22_a_judge_is_told_its_criteria_and_its_failure_points_at_them() {
    let judge_of = |criteria: &str| {
        Strategy::Judge(crate::graph::Judge {
            model: "judge".into(),
            criteria: Some(criteria.into()),
        })
    };
    let graph = vote_graph(2, judge_of("prefer the Greek letter"), Type::Text, None);
    let p = TestProvider::new(|req| ok(["alpha", "one"][req.sample as usize % 2], 10));
    let judge = TestProvider::new(|req| {
        let told = req
            .prompt
            .contains("Judge them by this:\nprefer the Greek letter");
        ok(if told { "1" } else { "2" }, 5)
    });
    let r = run_with(
        graph,
        &[("m", p.clone()), ("judge", judge)],
        quick_options(),
    )
    .await;
    assert_eq!(out(&r, "o"), t("alpha"));

    // A judge that does not answer with a number: the help is about what
    // the user controls (criteria, the judge model), not a prompt flow wrote.
    let graph = vote_graph(2, judge_of("prefer the Greek letter"), Type::Text, None);
    let judge = TestProvider::reply("both are fine", 5);
    let r = run_with(graph, &[("m", p), ("judge", judge)], quick_options()).await;
    let help = r
        .outputs
        .err()
        .and_then(|e| miette::Diagnostic::help(&e).map(|h| h.to_string()))
        .unwrap_or_default();
    assert!(help.contains("criteria \"...\""), "{help}");
    assert!(!help.contains("make the prompt say"), "{help}");
}

#[tokio::test(start_paused = true)]
async fn ensemble_pools_voters_in_voter_sample_order() {
    let mut g = G::new();
    model(&mut g, "a");
    model(&mut g, "b");
    let mut c1 = call("a", vec![P::L("one")]);
    c1.parse_as = Type::Bool;
    let mut c2 = call("b", vec![P::L("two")]);
    c2.parse_as = Type::Bool;
    let v = g.add(
        "vulnerable",
        NodeKind::Ensemble {
            voters: vec![c1, c2],
            per_voter: 2,
            strategy: Strategy::AtLeast(3),
            until: None,
        },
        Type::Bool,
    );
    g.output("o", node(v));
    let pa = TestProvider::reply("yes", 10);
    let pb = TestProvider::new(|req| ok(if req.sample == 0 { "yes" } else { "no" }, 20));
    let r = run_with(
        g.build(),
        &[("a", pa.clone()), ("b", pb.clone())],
        quick_options(),
    )
    .await;
    assert_eq!(out(&r, "o"), Value::Bool(true));
    assert_eq!(pa.started(), 2);
    assert_eq!(pb.started(), 2);
    let mut names: Vec<String> = r.trace.iter().map(|e| e.site.slice_name()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "vulnerable#v0.0",
            "vulnerable#v0.1",
            "vulnerable#v1.2",
            "vulnerable#v1.3"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn unparsable_replies_are_retried() {
    let graph = vote_graph(1, Strategy::Majority, Type::Bool, None);
    let p = TestProvider::new(|req| {
        ok(
            if req.attempt == 0 {
                "I am not sure"
            } else {
                "Yes."
            },
            10,
        )
    });
    let r = run_with(graph, &[("m", p.clone())], quick_options()).await;
    assert_eq!(out(&r, "o"), Value::Bool(true));
    assert_eq!(p.started(), 2);
    assert_eq!(r.trace[0].outcome, AttemptOutcome::Unparsable);
}

#[tokio::test(start_paused = true)]
async fn a_reply_that_never_parses_fails_quoting_it() {
    let mut g = G::new();
    model(&mut g, "m");
    let mut c = call("m", vec![P::L("q")]);
    c.parse_as = Type::Int;
    c.retry = Some(1);
    let a = g.ask("count", c, Sampling::One);
    g.output("o", node(a));
    let p = TestProvider::reply("many", 10);
    let r = run_with(g.build(), &[("m", p.clone())], quick_options()).await;
    assert_eq!(p.started(), 2);
    match &r.outputs {
        Err(e @ RunError::Unparsable { attempts, .. }) => {
            assert_eq!(*attempts, 2);
            assert!(e.to_string().ends_with(": \"many\""), "{e}");
        }
        other => panic!("expected an unparsable reply, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn samples_never_sent_are_not_charged_to_the_budget() {
    let graph = vote_graph(5, Strategy::Majority, Type::Text, Some(1));
    let p = TestProvider::reply("same", 10);
    let mut opts = quick_options();
    opts.max_calls = Some(3);
    let r = run_with(graph, &[("m", p.clone())], opts).await;
    assert_eq!(out(&r, "o"), t("same"));
    assert_eq!(p.started(), 3);
}

#[tokio::test(start_paused = true)]
async fn chrome_trace_has_one_slice_per_attempt_with_args() {
    let mut g = G::new();
    model(&mut g, "m");
    let a = g.ask("a", call("m", vec![P::L("go")]), Sampling::Repeat(2));
    g.output("o", node(a));
    let p = TestProvider::new(|req| {
        if req.sample == 1 && req.attempt == 0 {
            transient(5)
        } else {
            ok("fine", 10)
        }
    });
    let r = run_with(g.build(), &[("m", p)], quick_options()).await;
    assert!(r.outputs.is_ok());
    let trace = chrome_trace_json(&r.trace);
    let slices: Vec<&serde_json::Value> = trace["traceEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["ph"] == "X")
        .collect();
    assert_eq!(slices.len(), 3);
    let retried: Vec<(&str, &str, u64)> = slices
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or(""),
                s["args"]["outcome"].as_str().unwrap_or(""),
                s["dur"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        retried,
        vec![
            ("a#0", "ok", 10_000),
            ("a#1", "transient", 5_000),
            ("a#1", "ok", 10_000)
        ]
    );
    assert_eq!(slices[0]["args"]["model"], "m");
    assert_eq!(slices[0]["args"]["output_tokens"], 4);
}

// ---- property: any DAG, any latencies ---------------------------------------

mod prop {
    use super::{Instant, ModelOptions, Sampling};
    use crate::runtime::testkit::*;
    use proptest::prelude::{
        ProptestConfig, Strategy, TestCaseError, prop_assert, prop_assert_eq, proptest,
    };

    /// A random DAG: node `i` reads a subset of the nodes before it and is
    /// either a call with a latency or a pure template.
    #[derive(Debug, Clone)]
    struct Spec {
        nodes: Vec<(Vec<usize>, Option<u64>)>,
        concurrency: Option<u32>,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (1usize..24, proptest::option::of(1u32..4)).prop_flat_map(|(n, concurrency)| {
            let nodes: Vec<_> = (0..n)
                .map(|i| {
                    (
                        proptest::collection::vec(0..i.max(1), 0..3.min(i + 1)),
                        proptest::option::of(0u64..120),
                    )
                })
                .collect();
            nodes.prop_map(move |nodes| Spec {
                nodes: nodes
                    .into_iter()
                    .enumerate()
                    .map(|(i, (deps, lat))| {
                        let mut deps: Vec<usize> = deps.into_iter().filter(|&d| d < i).collect();
                        deps.sort();
                        deps.dedup();
                        (deps, lat)
                    })
                    .collect(),
                concurrency,
            })
        })
    }

    /// The reply is a short digest of the prompt, so values stay small however deep the DAG.
    fn digest(s: &str) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        format!("{:08x}", h & 0xffff_ffff)
    }

    fn prompt_of(i: usize, latency: u64, deps: &[String]) -> String {
        format!("n{i} L{latency}: {}", deps.join(" "))
    }

    /// Sequential reference: values in index order, and each node's finish
    /// time with unlimited concurrency.
    fn reference(spec: &Spec) -> (Vec<String>, u64) {
        let mut values: Vec<String> = Vec::new();
        let mut finish: Vec<u64> = Vec::new();
        for (i, (deps, lat)) in spec.nodes.iter().enumerate() {
            let inputs: Vec<String> = deps.iter().map(|&d| values[d].clone()).collect();
            let ready = deps.iter().map(|&d| finish[d]).max().unwrap_or(0);
            match lat {
                Some(l) => {
                    values.push(digest(&prompt_of(i, *l, &inputs)));
                    finish.push(ready + l);
                }
                None => {
                    values.push(format!("p{i}({})", inputs.join(",")));
                    finish.push(ready);
                }
            }
        }
        let end = finish.iter().copied().max().unwrap_or(0);
        (values, end)
    }

    fn build(spec: &Spec) -> std::sync::Arc<crate::graph::FlowGraph> {
        let mut g = G::new();
        g.model(
            "m",
            ModelOptions {
                concurrency: spec.concurrency,
                ..ModelOptions::default()
            },
        );
        let mut ids = Vec::new();
        for (i, (deps, lat)) in spec.nodes.iter().enumerate() {
            let id = match lat {
                Some(l) => {
                    let mut parts = Vec::new();
                    parts.push(P::S(format!("n{i} L{l}: ")));
                    for (k, &d) in deps.iter().enumerate() {
                        if k > 0 {
                            parts.push(P::L(" "));
                        }
                        parts.push(P::E(node(ids[d])));
                    }
                    g.ask(&format!("n{i}"), call("m", parts), Sampling::One)
                }
                None => {
                    let mut parts = vec![P::S(format!("p{i}("))];
                    for (k, &d) in deps.iter().enumerate() {
                        if k > 0 {
                            parts.push(P::L(","));
                        }
                        parts.push(P::E(node(ids[d])));
                    }
                    parts.push(P::L(")"));
                    g.pure(&format!("n{i}"), template(parts))
                }
            };
            ids.push(id);
        }
        for (i, id) in ids.iter().enumerate() {
            g.output(&format!("o{i}"), node(*id));
        }
        g.build()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_dag_matches_the_sequential_reference(spec in spec()) {
            let (expected, end) = reference(&spec);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (outputs, elapsed, stats) = rt.block_on(async {
                let p = TestProvider::new(|req| {
                    let latency = req
                        .prompt
                        .split_once(" L")
                        .and_then(|(_, rest)| rest.split_once(':'))
                        .and_then(|(ms, _)| ms.parse().ok())
                        .unwrap_or(0);
                    ok(&digest(&req.prompt), latency)
                });
                let start = Instant::now();
                let r = run_with(build(&spec), &[("m", p)], quick_options()).await;
                (r.outputs, (Instant::now() - start).as_millis() as u64, r.stats)
            });
            let outputs = outputs.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let got: Vec<String> = outputs.values().map(|v| v.to_text()).collect();
            prop_assert_eq!(got, expected);
            prop_assert_eq!(stats.critical_path_ms, end);
            if spec.concurrency.is_none() {
                // Unlimited: the run takes exactly its critical path.
                prop_assert_eq!(elapsed, end);
            } else {
                prop_assert!(elapsed >= end);
            }
        }
    }
}

// ---- with the real mock provider ---------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_mock_provider_retries_fail_first_and_votes_by_sample() {
    use crate::model::MockOptions;
    use crate::providers::Provider;
    use crate::providers::mock::MockProvider;

    let mock = MockOptions {
        replies: Some(vec!["yes".into(), "no".into(), "yes".into()]),
        latency: Some(Duration::from_millis(40)),
        fail_first: 1,
        ..MockOptions::default()
    };
    let mut g = G::new();
    g.model(
        "m",
        ModelOptions {
            mock: mock.clone(),
            ..ModelOptions::default()
        },
    );
    let mut c = call("m", vec![P::L("safe?")]);
    c.parse_as = Type::Bool;
    let v = g.ask(
        "v",
        c,
        Sampling::Vote {
            n: 3,
            strategy: Strategy::Majority,
            until: None,
        },
    );
    g.output("o", node(v));
    let mut providers: std::collections::HashMap<String, std::sync::Arc<dyn Provider>> =
        Default::default();
    providers.insert("m".into(), std::sync::Arc::new(MockProvider::new(mock)));
    let start = Instant::now();
    let r = run(g.build(), providers, quick_options()).await;
    assert_eq!(out(&r, "o"), Value::Bool(true));
    // Every sample fails once (40ms), then answers (40ms): yes, no, yes.
    assert_eq!(elapsed_ms(start), 80);
    assert_eq!(r.stats.calls, 6);
    assert_eq!(r.stats.retries, 3);
}

// ---- module structure -------------------------------------------------------

/// The order of `runtime`'s modules documented in `mod.rs` is the order they
/// import each other in: a module's non-test code names only modules on
/// lines below its own, so no import cycle can come back unnoticed.
#[test]
fn modules_import_only_the_ones_below_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime");
    let doc = std::fs::read_to_string(dir.join("mod.rs")).unwrap_or_default();
    let table: Vec<Vec<String>> = doc
        .lines()
        .skip_while(|l| !l.starts_with("//! ```text"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| {
            let line = l.trim_start_matches("//!").split('(').next().unwrap_or("");
            let first = line.split_whitespace().next().unwrap_or("");
            // A line is one module and what it uses, or a list of leaves.
            if first.ends_with(',') {
                line.split(',').map(|m| m.trim().to_string()).collect()
            } else {
                vec![first.to_string()]
            }
        })
        .collect();
    let rank = |m: &str| table.iter().position(|mods| mods.iter().any(|x| x == m));
    assert!(
        rank("scheduler").is_some() && rank("error").is_some(),
        "{table:?}"
    );
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if ["mod", "tests", "testkit", "stream_tests"].contains(&name) {
            continue;
        }
        let Some(own) = rank(name) else {
            panic!("`runtime::{name}` is missing from the order in runtime/mod.rs");
        };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for prefix in ["super::", "crate::runtime::"] {
            for (i, _) in code.match_indices(prefix) {
                let used: String = code[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if used == name || used.is_empty() {
                    continue;
                }
                if let Some(theirs) = rank(&used) {
                    assert!(
                        // Leaves, on the last line, may use one another.
                        theirs > own || (theirs == own && own + 1 == table.len()),
                        "`runtime::{name}` uses `{used}`, which runtime/mod.rs puts above it"
                    );
                }
            }
        }
    }
}

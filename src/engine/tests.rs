//! The engine as a library user sees it: compile once, run many times.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::runtime::RunError;
use crate::value::Value;

fn program(src: &str) -> Program {
    match Program::compile("test.flow", src) {
        Ok(p) => p,
        Err(f) => panic!("does not compile: {:?}", f.diagnostics),
    }
}

fn engine(src: &str, options: EngineOptions) -> Engine {
    match Engine::new(&program(src), options) {
        Ok(e) => e,
        Err(e) => panic!("no engine: {e}"),
    }
}

fn inputs(engine: &Engine, pairs: &[(&str, &str)]) -> Inputs {
    let given = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), InputValue::Text(v.to_string())));
    match engine.bind(given) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    }
}

fn output(report: &RunReport, name: &str) -> Value {
    match &report.outputs {
        Ok(o) => o
            .get(name)
            .cloned()
            .unwrap_or(Value::Text("<missing>".into())),
        Err(e) => panic!("run failed: {e}"),
    }
}

const ECHO: &str = r#"
model m = mock(echo: true, latency: 100ms, concurrency: 2)
input q: text
output answer = ask m "Q: {q}"
"#;

#[tokio::test(start_paused = true)]
async fn concurrent_runs_share_the_models_concurrency() {
    let engine = engine(ECHO, EngineOptions::default());
    let start = Instant::now();
    let runs = (0..6).map(|i| {
        let engine = engine.clone();
        let inputs = inputs(&engine, &[("q", &format!("n{i}"))]);
        async move { engine.run(inputs, RunControl::default()).await }
    });
    let reports = futures::future::join_all(runs).await;
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(output(r, "answer"), Value::Text(format!("Q: n{i}")));
    }
    // Six calls of 100 ms, two at a time across all runs: three waves.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn a_started_run_streams_its_events_then_reports() {
    let src = r#"
model judge = mock(replies: ["yes", "yes", "no", "yes", "no"], latency: 10ms)
input q: text
unsafe = ask judge "Unsafe? {q}" as bool vote 5 by majority
output answer = if unsafe then "refused" else "fine"
"#;
    let engine = engine(src, EngineOptions::default());
    let mut run = engine.start(inputs(&engine, &[("q", "x")]), CancellationToken::new());
    let mut events = Vec::new();
    while let Some(e) = run.next_event().await {
        events.push(e);
    }
    let report = run.finish().await;
    assert_eq!(output(&report, "answer"), Value::Text("refused".into()));
    let decided = events.iter().find_map(|e| match e {
        RunEvent::VoteDecided {
            node,
            answered,
            samples,
            ..
        } => Some((node.clone(), *answered, *samples)),
        _ => None,
    });
    // All five land at once on the paused clock; the majority is known
    // once the three `yes` are in, however many others arrived with them.
    assert!(
        matches!(decided, Some((ref n, a, 5)) if n == "unsafe" && a >= 3),
        "{decided:?}"
    );
    let ready: Vec<&RunEvent> = events
        .iter()
        .filter(|e| matches!(e, RunEvent::OutputReady { .. }))
        .collect();
    assert_eq!(
        ready,
        [&RunEvent::OutputReady {
            name: "answer".into(),
            value: Value::Text("refused".into())
        }]
    );
    let first = events.first();
    assert!(matches!(first, Some(RunEvent::Planned { .. })), "{first:?}");
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_run_reports_what_finished() {
    let src = r#"
model fast = mock(reply: "a", latency: 10ms)
model slow = mock(reply: "b", latency: 10s)
a = ask fast "one"
b = ask slow "two {a}"
output both = "{a} {b}"
"#;
    let engine = engine(src, EngineOptions::default());
    let cancel = CancellationToken::new();
    let run = engine.start(Inputs::default(), cancel.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    run.cancel();
    let report = run.finish().await;
    assert!(matches!(report.outputs, Err(RunError::Cancelled)));
    let names: Vec<&str> = report.finished.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a"]);
}

#[tokio::test(start_paused = true)]
async fn a_total_budget_spans_every_run_of_the_engine() {
    let options = EngineOptions {
        total_calls: Some(2),
        ..EngineOptions::default()
    };
    let engine = engine(ECHO, options);
    let mut codes = Vec::new();
    for q in ["a", "b", "c"] {
        let r = engine
            .run(inputs(&engine, &[("q", q)]), RunControl::default())
            .await;
        codes.push(r.outputs.err().map(|e| e.code_str()).unwrap_or_default());
    }
    assert_eq!(codes, ["", "", "flow::run::budget_exceeded"]);
}

#[test]
fn the_worst_case_over_the_budget_is_refused_before_any_call() {
    let src = r#"
model m = mock(reply: "yes")
output v = ask m "?" as bool vote 5 by majority
"#;
    let options = EngineOptions {
        max_calls: Some(3),
        ..EngineOptions::default()
    };
    let err = Engine::new(&program(src), options).err();
    assert!(
        matches!(err, Some(EngineError::OverBudget { limit: 3, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn overrides_and_offline_replace_models_for_every_run() {
    let src = r#"
model m = openai("gpt-4o-mini", api_key_env: "FLOW_TEST_KEY_THAT_IS_NOT_SET")
input q: text
output answer = ask m "{q}"
"#;
    // The key is missing, so the program cannot run as written...
    let missing = Engine::new(&program(src), EngineOptions::default()).err();
    assert!(
        matches!(missing, Some(EngineError::Provider { .. })),
        "{missing:?}"
    );
    // ...but a mock override or `offline` needs none.
    let p = program(src);
    let spec = match overrides::parse("m=mock:hello", p.graph()) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    let mocked = Engine::new(
        &p,
        EngineOptions {
            models: vec![spec],
            ..EngineOptions::default()
        },
    );
    let mocked = match mocked {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    let r = mocked
        .run(inputs(&mocked, &[("q", "hi")]), RunControl::default())
        .await;
    assert_eq!(output(&r, "answer"), Value::Text("hello".into()));
    let offline = engine(
        src,
        EngineOptions {
            offline: true,
            ..EngineOptions::default()
        },
    );
    let r = offline
        .run(inputs(&offline, &[("q", "hi")]), RunControl::default())
        .await;
    assert!(r.outputs.is_ok(), "{:?}", r.outputs);
    // The program itself is unchanged by either.
    assert_eq!(p.graph().models["m"].provider, ProviderKind::OpenAi);
}

#[tokio::test(start_paused = true)]
async fn engines_built_with_one_registry_share_limits_across_programs() {
    let other = r#"
model m = mock(reply: "other", latency: 100ms, concurrency: 2)
input q: text
output answer = ask m "other {q}"
"#;
    let registry = LimitsRegistry::new();
    let with = |src: &str| {
        engine(
            src,
            EngineOptions {
                limits: Some(registry.clone()),
                ..EngineOptions::default()
            },
        )
    };
    let (a, b) = (with(ECHO), with(other));
    let start = Instant::now();
    let runs = (0..6).map(|i| {
        let e = if i % 2 == 0 { a.clone() } else { b.clone() };
        let inputs = inputs(&e, &[("q", "x")]);
        async move { e.run(inputs, RunControl::default()).await }
    });
    let reports = futures::future::join_all(runs).await;
    assert!(reports.iter().all(|r| r.outputs.is_ok()));
    // Six calls, two at a time across both programs: three waves. Each
    // engine alone would take two.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

/// A provider of the caller's own: answers with the prompt's length.
struct Counting {
    calls: std::sync::atomic::AtomicUsize,
}

impl crate::providers::Provider for Counting {
    fn call(
        &self,
        request: crate::providers::Request,
    ) -> futures::future::BoxFuture<
        '_,
        Result<crate::providers::Reply, crate::providers::ProviderError>,
    > {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            Ok(crate::providers::Reply::new(
                request.prompt.len().to_string(),
                crate::providers::Usage::default(),
            ))
        })
    }
}

#[tokio::test]
async fn a_callers_own_provider_serves_its_model_and_needs_no_key() {
    let src = r#"
model m = openai("gpt-4o-mini", api_key_env: "FLOW_TEST_KEY_THAT_IS_NOT_SET", structured: "off")
input q: text
output n = ask m "{q}" as int
"#;
    let counting = Arc::new(Counting {
        calls: std::sync::atomic::AtomicUsize::new(0),
    });
    let mut providers = CustomProviders::default();
    providers.insert("m", counting.clone());
    let e = engine(
        src,
        EngineOptions {
            providers,
            ..EngineOptions::default()
        },
    );
    let r = e
        .run(inputs(&e, &[("q", "hello")]), RunControl::default())
        .await;
    assert_eq!(output(&r, "n"), Value::Int(5));
    assert_eq!(counting.calls.load(std::sync::atomic::Ordering::SeqCst), 1);

    let mut wrong = CustomProviders::default();
    wrong.insert("n", counting);
    let err = Engine::new(
        &program(src),
        EngineOptions {
            providers: wrong,
            ..EngineOptions::default()
        },
    )
    .err();
    assert!(
        matches!(err, Some(EngineError::UnknownModel { ref help, .. }) if help.contains("`m`")),
        "{err:?}"
    );
}

#[test]
fn a_shards_limits_are_its_part_of_the_declared_ones_never_zero() {
    let program = Program::compile(
        "share.flow",
        "model m = mock(concurrency: 10, rpm: 3, tpm: 10000)\nmodel free = mock()\noutput o = ask m \"x\"\noutput p = ask free \"y\"\n",
    )
    .unwrap_or_else(|_| panic!("compiles"));
    let engine = Engine::new(
        &program,
        EngineOptions {
            limit_share: 4,
            ..EngineOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let m = &engine.graph().models["m"].options;
    assert_eq!(
        (m.concurrency, m.rpm, m.tpm),
        (Some(2), Some(1), Some(2500))
    );
    let free = &engine.graph().models["free"].options;
    assert_eq!(
        (free.concurrency, free.rpm, free.tpm),
        (None, None, None),
        "no limit stays none"
    );
}

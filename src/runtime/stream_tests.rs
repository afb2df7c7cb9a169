//! Streamed outputs end to end, on the paused clock: chunks are held until
//! the guard decides, flushed the moment its deciding vote lands, and a
//! refusal shows none and cancels the answer's call.

use tokio::time::Instant;

use crate::engine::{CancellationToken, Engine, EngineOptions, InputValue, Program};
use crate::runtime::{AttemptOutcome, RunEvent, RunReport};

/// The guardrails shape: an answer streaming a word every 100 ms from
/// 10 ms, beside five moderators answering at 100, 200, ..., 500 ms.
fn guarded(verdict: &str) -> String {
    let mut src = String::from(
        "model assistant = mock(reply: \"one two three four five six\", latency: 10ms, chunk_delay: 100ms)\n",
    );
    for i in 1..=5 {
        src.push_str(&format!(
            "model mod{i} = mock(reply: \"{verdict}\", latency: {}ms)\n",
            i * 100
        ));
    }
    src.push_str(
        r#"input query: text
reply = ask assistant "{query}"
unsafe = section <
  ask mod1 "harmful? {query}" as bool
  ask mod2 "harmful? {query}" as bool
  ask mod3 "harmful? {query}" as bool
  ask mod4 "harmful? {query}" as bool
  ask mod5 "harmful? {query}" as bool
> vote by majority
output answer = if unsafe then "Sorry, I can't help with that." else reply
"#,
    );
    src
}

/// Runs `src` streamed, with every event and the milliseconds it came at.
async fn run(src: &str, stream: bool) -> (Vec<(u64, RunEvent)>, RunReport) {
    let program = Program::compile("guarded.flow", src).expect("compiles");
    let engine = Engine::new(&program, EngineOptions::default()).expect("engine");
    let inputs = engine
        .bind([("query".to_string(), InputValue::Text("hi".into()))])
        .expect("inputs");
    let start = Instant::now();
    let cancel = CancellationToken::new();
    let mut handle = if stream {
        engine.start_streamed(inputs, cancel)
    } else {
        engine.start(inputs, cancel)
    };
    let mut events = Vec::new();
    while let Some(e) = handle.next_event().await {
        let ms = u64::try_from((Instant::now() - start).as_millis()).unwrap_or(u64::MAX);
        events.push((ms, e));
    }
    (events, handle.finish().await)
}

fn chunks(events: &[(u64, RunEvent)]) -> Vec<(u64, String)> {
    events
        .iter()
        .filter_map(|(ms, e)| match e {
            RunEvent::OutputChunk { name, text } if name == "answer" => Some((*ms, text.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_guarded_answer_streams_from_the_moment_the_deciding_vote_lands() {
    let (events, report) = run(&guarded("no"), true).await;
    // Three of five "no" decide the vote at 300 ms: the chunks of 10, 110
    // and 210 ms come then, at once and in order; the rest as they arrive.
    assert_eq!(
        chunks(&events),
        [
            (300, "one ".to_string()),
            (300, "two ".to_string()),
            (300, "three ".to_string()),
            (310, "four ".to_string()),
            (410, "five ".to_string()),
            (510, "six".to_string()),
        ]
    );
    // The gate opens first, and the trace says when.
    let gate = events
        .iter()
        .position(|(_, e)| matches!(e, RunEvent::GateDecided { open: true, .. }))
        .expect("the gate opened");
    let first = events
        .iter()
        .position(|(_, e)| matches!(e, RunEvent::OutputChunk { .. }))
        .unwrap();
    assert!(gate < first);
    assert_eq!(report.gates.len(), 1);
    assert_eq!(report.gates[0].at_us, 300_000);
    assert!(report.gates[0].open);
    // The whole value still comes at the end.
    let ready = events.iter().find_map(|(ms, e)| match e {
        RunEvent::OutputReady { name, value } if name == "answer" => Some((*ms, value.to_text())),
        _ => None,
    });
    assert_eq!(
        ready,
        Some((510, "one two three four five six".to_string()))
    );
    assert_eq!(
        report.outputs.unwrap()["answer"].to_text(),
        "one two three four five six"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_request_shows_no_chunk_and_cancels_the_answer() {
    let (events, report) = run(&guarded("yes"), true).await;
    assert_eq!(chunks(&events), []);
    assert!(
        events
            .iter()
            .any(|(ms, e)| *ms == 300 && matches!(e, RunEvent::GateDecided { open: false, .. }))
    );
    let answer = report.outputs.expect("the run succeeds");
    assert_eq!(answer["answer"].to_text(), "Sorry, I can't help with that.");
    // The answer's call was cancelled at 300 ms, charged with the three
    // words it had received.
    let call = report
        .trace
        .iter()
        .find(|t| t.model == "assistant")
        .expect("the answer was called");
    assert_eq!(call.outcome, AttemptOutcome::Cancelled);
    assert_eq!(call.dur_us, 300_000);
    assert_eq!(
        call.usage.unwrap_or_default().output_tokens,
        4,
        "`one two three ` at 4 chars a token"
    );
    assert_eq!(report.stats.wall_ms, 300, "nothing waited for the answer");
}

/// The answer read through a binding, as a program that names its
/// decision would write it: a refusal still cancels the answer's call.
#[tokio::test(start_paused = true)]
async fn a_refusal_cancels_an_answer_read_through_a_binding() {
    let src = guarded("yes").replace(
        "output answer = if unsafe then \"Sorry, I can't help with that.\" else reply",
        "decided = if unsafe then \"Sorry, I can't help with that.\" else reply\noutput answer = decided",
    );
    assert!(src.contains("output answer = decided"));
    let (events, report) = run(&src, true).await;
    assert_eq!(chunks(&events), []);
    let answer = report.outputs.expect("the run succeeds");
    assert_eq!(answer["answer"].to_text(), "Sorry, I can't help with that.");
    let call = report
        .trace
        .iter()
        .find(|t| t.model == "assistant")
        .expect("the answer was called");
    assert_eq!(call.outcome, AttemptOutcome::Cancelled);
    assert_eq!(report.stats.wall_ms, 300, "nothing waited for the answer");
}

/// A gate shut by an outer condition, while the binding's own would take
/// the answer: the binding, evaluated anyway, has no value (a branch not
/// taken), and the output never reads it.
#[tokio::test(start_paused = true)]
async fn an_outer_refusal_leaves_the_binding_between_without_a_value() {
    let src = guarded("no").replace(
        "output answer = if unsafe then \"Sorry, I can't help with that.\" else reply",
        "decided = if unsafe then \"Sorry, I can't help with that.\" else reply\n\
         output answer = if len(query) < 5 then \"Too short.\" else decided",
    );
    let (events, report) = run(&src, true).await;
    assert_eq!(chunks(&events), []);
    let outputs = report.outputs.expect("the run succeeds");
    assert_eq!(outputs["answer"].to_text(), "Too short.");
    assert!(
        report.trace.iter().all(|t| t.model != "assistant"),
        "the answer's call was never started"
    );
}

/// When the binding between them is read by something else too, the
/// answer's reply may still be needed: the call runs to its end.
#[tokio::test(start_paused = true)]
async fn a_refusal_keeps_an_answer_something_else_reads() {
    let src = guarded("yes").replace(
        "output answer = if unsafe then \"Sorry, I can't help with that.\" else reply",
        "output answer = if unsafe then \"Sorry, I can't help with that.\" else reply\noutput length = len(reply)",
    );
    let (events, report) = run(&src, true).await;
    assert_eq!(chunks(&events), []);
    let outputs = report.outputs.expect("the run succeeds");
    assert_eq!(
        outputs["answer"].to_text(),
        "Sorry, I can't help with that."
    );
    assert_eq!(outputs["length"].to_text(), "27");
    assert_eq!(report.stats.wall_ms, 510, "the reply was needed whole");
}

#[tokio::test(start_paused = true)]
async fn without_streaming_the_run_is_as_before() {
    let (events, report) = run(&guarded("yes"), false).await;
    assert!(events.iter().all(|(_, e)| !matches!(
        e,
        RunEvent::OutputChunk { .. } | RunEvent::GateDecided { .. }
    )));
    assert!(report.gates.is_empty());
    // The answer ran to its end, as it always has.
    assert_eq!(report.stats.wall_ms, 510);
}

#[tokio::test(start_paused = true)]
async fn an_ungated_output_streams_at_once_and_a_cached_reply_as_one_chunk() {
    let src = "model m = mock(reply: \"a b\", latency: 10ms, chunk_delay: 5ms)\ninput query: text\noutput answer = ask m \"{query}\"\n";
    let (events, _) = run(src, true).await;
    assert_eq!(
        chunks(&events),
        [(10, "a ".to_string()), (15, "b".to_string())]
    );

    let dir = tempfile::tempdir().unwrap();
    let program = Program::compile("c.flow", src).unwrap();
    let options = || EngineOptions {
        cache: crate::engine::CacheChoice::Path(dir.path().join("cache.db")),
        ..EngineOptions::default()
    };
    for round in 0..2 {
        let engine = Engine::new(&program, options()).unwrap();
        let inputs = engine
            .bind([("query".to_string(), InputValue::Text("hi".into()))])
            .unwrap();
        let mut handle = engine.start_streamed(inputs, CancellationToken::new());
        let mut got = Vec::new();
        while let Some(e) = handle.next_event().await {
            if let RunEvent::OutputChunk { text, .. } = e {
                got.push(text);
            }
        }
        handle.finish().await;
        engine.close();
        let want: &[&str] = if round == 0 { &["a ", "b"] } else { &["a b"] };
        assert_eq!(got, want, "round {round}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_inline_answer_in_a_branch_streams_once_its_branch_is_taken() {
    let src = r#"
model m = mock(reply: "x y", chunk_delay: 10ms)
model judge = mock(reply: "no", latency: 50ms)
input query: text
bad = ask judge "bad? {query}" as bool
output answer = if bad then ask m "refuse {query}" else ask m "answer {query}"
"#;
    let (events, report) = run(src, true).await;
    assert_eq!(
        chunks(&events),
        [(50, "x ".to_string()), (60, "y".to_string())]
    );
    let opened: Vec<bool> = report.gates.iter().map(|g| g.open).collect();
    assert_eq!(opened.len(), 2);
    assert_eq!(opened.iter().filter(|o| **o).count(), 1);
}

#[tokio::test]
async fn a_refusal_cancels_a_real_http_stream_and_the_server_sees_it_go() {
    use fake_llm::{Answer, Server, StreamEnd};
    // The answer's server sends its first words, then holds the stream open.
    let mut events = fake_llm::openai::stream_events(&["Here ", "is ", "how"], 9, 3);
    events.truncate(3);
    let server = Server::start(Answer::sse(
        &events,
        std::time::Duration::ZERO,
        StreamEnd::Hang,
    ));
    // Real time: the request is made at once, the verdict comes a second later.
    let src = guarded("yes")
        .replace(
            "mock(reply: \"one two three four five six\", latency: 10ms, chunk_delay: 100ms)",
            &format!(
                "openai(\"test-model\", base_url: \"{}\")",
                server.base_url()
            ),
        )
        .replace("00ms)", "000ms)");
    let (events, report) = run(&src, true).await;
    assert_eq!(chunks(&events), []);
    let answer = report.outputs.expect("the run succeeds");
    assert_eq!(answer["answer"].to_text(), "Sorry, I can't help with that.");
    let call = report
        .trace
        .iter()
        .find(|t| t.model == "assistant")
        .expect("the answer was called");
    assert_eq!(call.outcome, AttemptOutcome::Cancelled);
    assert_eq!(
        call.usage.unwrap_or_default().output_tokens,
        2,
        "`Here is ` received"
    );
    let mut waited = 0;
    while server.disconnects() == 0 && waited < 500 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(server.disconnects(), 1, "the server saw the client go");
}

/// Streams `a ` then fails (transiently) on its first attempt; streams
/// `b c` and answers on the next.
struct Stutter;

impl crate::providers::Provider for Stutter {
    fn call(
        &self,
        _: crate::providers::Request,
    ) -> futures::future::BoxFuture<
        '_,
        Result<crate::providers::Reply, crate::providers::ProviderError>,
    > {
        Box::pin(async { unreachable!("only streamed") })
    }

    fn stream<'a>(
        &'a self,
        request: crate::providers::Request,
        sink: &'a dyn crate::providers::StreamSink,
    ) -> futures::future::BoxFuture<
        'a,
        Result<crate::providers::Reply, crate::providers::ProviderError>,
    > {
        Box::pin(async move {
            if request.attempt == 0 {
                sink.text("a ");
                return Err(crate::providers::ProviderError::MockFailure {
                    model: request.model,
                    fail_first: 1,
                    attempt: 0,
                });
            }
            sink.text("b ");
            sink.text("c");
            Ok(crate::providers::Reply {
                text: "b c".into(),
                usage: Some(Default::default()),
                truncated: false,
            })
        })
    }
}

async fn stutter(src: &str) -> (Vec<String>, RunReport) {
    let program = Program::compile("s.flow", src).expect("compiles");
    let mut providers = crate::engine::CustomProviders::default();
    providers.insert("m", std::sync::Arc::new(Stutter));
    let mut options = EngineOptions {
        providers,
        ..EngineOptions::default()
    };
    options.retry.base_delay = std::time::Duration::ZERO;
    let engine = Engine::new(&program, options).expect("engine");
    let mut handle = engine.start_streamed(engine.bind([]).unwrap(), CancellationToken::new());
    let mut got = Vec::new();
    while let Some(e) = handle.next_event().await {
        if let RunEvent::OutputChunk { text, .. } = e {
            got.push(text);
        }
    }
    (got, handle.finish().await)
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_is_retried_only_if_none_of_its_text_was_shown() {
    // Ungated, `a ` was shown: a retry would show a second reply after it.
    let (got, report) =
        stutter("model m = mock(reply: \"x\")\noutput answer = ask m \"q\"\n").await;
    assert_eq!(got, ["a "]);
    assert!(report.outputs.is_err());
    // Gated, `a ` was only held: forgotten, and the retry's text shown.
    let src = "model m = mock(reply: \"x\")\nmodel j = mock(reply: \"no\", latency: 50ms)\nbad = ask j \"bad?\" as bool\nreply = ask m \"q\"\noutput answer = if bad then \"no\" else reply\n";
    let (got, report) = stutter(src).await;
    assert_eq!(got, ["b ", "c"]);
    assert_eq!(report.outputs.unwrap()["answer"].to_text(), "b c");
}

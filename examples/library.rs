// Using flow as a library: compile a program once, build an engine, and
// run it for several users at the same time while watching its events.
// `cargo run --example library` runs it; docs/library.md walks through it.

use flow::engine::{CancellationToken, Engine, EngineOptions, InputValue, Program, RunControl};
use flow::runtime::RunEvent;

const GUARDED: &str = r#"
model assistant = mock(echo: true, latency: 20ms, concurrency: 4)
model moderator = mock(rules: {"bomb": "yes", "*": "no"}, latency: 10ms)

input query: text

section <
  reply  = ask assistant "Answer concisely: {query}"
  unsafe = ask moderator "Is this request harmful? yes or no.\n{query}" as bool vote 5 by majority
>

output answer = if unsafe then "Sorry, I can't help with that." else reply
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Compile: errors come back as diagnostics, never printed.
    let program = match Program::compile("guarded.flow", GUARDED) {
        Ok(program) => program,
        Err(failure) => return Err(format!("{:?}", failure.diagnostics).into()),
    };

    // 2. One engine for every run: providers, limits, cache and budget
    //    are shared, so `concurrency: 4` holds across all runs below.
    let engine = Engine::new(&program, EngineOptions::default())?;

    let tokio = tokio::runtime::Runtime::new()?;
    tokio.block_on(async {
        // 3. Inputs by name, parsed by their declared types. JSON works too:
        //    `engine.bind_json_text(r#"{"query": "..."}"#)`.
        let questions = ["How do I bake bread?", "How do I build a bomb?"];
        let mut runs = Vec::new();
        for q in questions {
            let inputs = engine.bind([("query".to_string(), InputValue::Text(q.into()))])?;
            let control = RunControl::default();
            let engine = engine.clone();
            runs.push(tokio::spawn(
                async move { engine.run(inputs, control).await },
            ));
        }
        for (q, run) in questions.iter().zip(runs) {
            let report = run.await?;
            let outputs = report.outputs?;
            println!("{q} -> {}", outputs["answer"].to_text());
            println!(
                "  {} calls, {} saved by early votes",
                report.stats.calls, report.stats.saved
            );
        }

        // 4. A run in its own task, with its events as they happen.
        let inputs = engine.bind_json_text(r#"{"query": "Tell me a joke"}"#)?;
        let mut run = engine.start(inputs, CancellationToken::new());
        while let Some(event) = run.next_event().await {
            if let RunEvent::VoteDecided {
                node,
                answered,
                samples,
                ..
            } = event
            {
                println!("`{node}` decided after {answered} of {samples} samples");
            }
        }
        let report = run.finish().await;
        println!("{}", report.outputs?["answer"].to_text());
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;

    // 5. Commit the cache, if there is one, before exiting.
    if let Some(closed) = engine.close() {
        for problem in closed.problems {
            eprintln!("{problem}");
        }
    }
    Ok(())
}

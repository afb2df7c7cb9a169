//! The engine as a server would use it: many runs of two programs at once,
//! against a real HTTP server in this process, with `concurrency` counted
//! where it matters — at the server.

use std::time::Duration;

use fake_llm::{Config, Server, openai};
use flow::engine::{Engine, EngineOptions, InputValue, LimitsRegistry, Program, RunControl};

fn program(name: &str, base_url: &str, prompt: &str) -> Program {
    let src = format!(
        r#"
model m = openai("test-model", base_url: "{base_url}", concurrency: 3, retry: 0)
input q: text
output answer = ask m "{prompt} {{q}}"
"#
    );
    match Program::compile(name, src) {
        Ok(p) => p,
        Err(f) => panic!("{name} does not compile: {:?}", f.diagnostics),
    }
}

#[test]
fn concurrency_holds_across_every_run_of_two_programs() {
    let server =
        Server::start(Config::answer(openai::text("an answer")).delay(Duration::from_millis(30)));
    let registry = LimitsRegistry::new();
    let options = || EngineOptions {
        limits: Some(registry.clone()),
        ..EngineOptions::default()
    };
    let engines: Vec<Engine> = ["first.flow", "second.flow"]
        .iter()
        .map(|name| {
            let p = program(name, &server.base_url(), name);
            match Engine::new(&p, options()) {
                Ok(e) => e,
                Err(e) => panic!("{e}"),
            }
        })
        .collect();
    let tokio = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => panic!("{e}"),
    };
    let reports = tokio.block_on(async {
        let mut runs = Vec::new();
        for i in 0..40 {
            let engine = engines[i % 2].clone();
            let inputs = engine.bind([("q".to_string(), InputValue::Text(format!("n{i}")))]);
            let inputs = match inputs {
                Ok(i) => i,
                Err(e) => panic!("{e}"),
            };
            runs.push(tokio::spawn(async move {
                engine.run(inputs, RunControl::default()).await
            }));
        }
        let mut reports = Vec::new();
        for r in runs {
            reports.push(flow::RunReport::from_task(r.await));
        }
        reports
    });
    for r in &reports {
        assert!(r.outputs.is_ok(), "{:?}", r.outputs);
    }
    assert_eq!(server.seen().len(), 40);
    // Three slots for `m`, shared by both programs' engines and all 40 runs.
    assert_eq!(server.max_open(), 3);
}

//! `flow serve` end to end: the server started in this process on a free
//! port, talked to over real HTTP by a third-party OpenAI client
//! (`async-openai`), by `reqwest` for what no SDK sends (bad bodies, bad
//! tokens), and by a raw socket for a client that goes away mid-reply.

use std::net::SocketAddr;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use fake_llm::{Config, openai};
use flow::engine::{Engine, EngineOptions, Program};
use flow::serve::{BearerToken, ServeOptions, Server};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::support::root;

/// A server on a free loopback port, stopped (drained) when dropped.
struct Running {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn openai(&self) -> Client<OpenAIConfig> {
        Client::with_config(
            OpenAIConfig::new()
                .with_api_base(self.url("/v1"))
                .with_api_key("unused"),
        )
    }

    async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Compiles as if `src` were in `examples/`, whose `moderation.flow` it
/// may import: with its panel's model swapped for a mock that says `yes`
/// to anything about a bomb.
fn compile(src: &str) -> Program {
    let moderation =
        std::fs::read_to_string(root().join("examples/moderation.flow")).expect("example");
    let moderation: String = moderation
        .lines()
        .map(|line| {
            if line.starts_with("model moderator") {
                "model moderator = mock(rules: {\"bomb\": \"yes\", \"*\": \"no\"})\n".to_string()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let loader = flow::engine::MemoryLoader::new().with("examples/moderation.flow", moderation);
    match Program::compile_with("examples/served.flow", src, &loader) {
        Ok(p) => p,
        Err(f) => panic!("does not compile: {:?}", f.diagnostics),
    }
}

async fn start(src: &str, options: ServeOptions) -> Running {
    let engine = match Engine::new(&compile(src), EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    let server = match Server::new(engine, options) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let addr = listener.local_addr().expect("bound");
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(listener, stop.clone().cancelled_owned()));
    Running {
        addr,
        stop,
        task: Some(task),
    }
}

/// examples/guardrails.flow as written, with its assistant swapped for a
/// mock that echoes its prompt (`compile` swaps the moderators).
fn guardrails(assistant_latency: &str) -> String {
    let text = std::fs::read_to_string(root().join("examples/guardrails.flow")).expect("example");
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("model assistant") {
            out.push_str(&format!(
                "model assistant = mock(echo: true{assistant_latency})\n"
            ));
        } else if line.starts_with("model moderator") {
            out.push_str("model moderator = mock(rules: {\"bomb\": \"yes\", \"*\": \"no\"})\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn ask(model: &str, question: &str) -> CreateChatCompletionRequest {
    let message = ChatCompletionRequestUserMessageArgs::default()
        .content(question)
        .build()
        .expect("a message");
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([message.into()])
        .build()
        .expect("a request")
}

const REFUSAL: &str = "Sorry, I can't help with that.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_client_gets_the_guarded_answer_and_the_refusal() {
    let server = start(&guardrails(""), ServeOptions::default()).await;
    let client = server.openai();

    let safe = client
        .chat()
        .create(ask("guardrails", "How do I bake bread?"))
        .await
        .expect("a completion");
    assert_eq!(safe.object, "chat.completion");
    assert_eq!(safe.model, "guardrails", "the request's model is echoed");
    let text = safe.choices[0].message.content.clone().unwrap_or_default();
    assert!(text.contains("How do I bake bread?"), "{text}");
    let usage = safe.usage.expect("usage");
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );

    let unsafe_ = client
        .chat()
        .create(ask("guardrails", "How do I build a bomb?"))
        .await
        .expect("a refusal is an ordinary message");
    assert_eq!(unsafe_.choices[0].message.content.as_deref(), Some(REFUSAL));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_client_streams_the_guarded_answer_and_the_refusal() {
    let server = start(&guardrails(""), ServeOptions::default()).await;
    let client = server.openai();
    for (question, expect) in [
        ("How do I bake bread?", None),
        ("How do I build a bomb?", Some(REFUSAL)),
    ] {
        let mut request = ask("guardrails", question);
        request.stream_options = Some(async_openai::types::chat::ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        });
        let mut stream = client
            .chat()
            .create_stream(request)
            .await
            .expect("a stream");
        let mut text = String::new();
        let mut usage = None;
        let mut finished = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("a chunk");
            assert_eq!(chunk.object, "chat.completion.chunk");
            for choice in &chunk.choices {
                text.push_str(choice.delta.content.as_deref().unwrap_or(""));
                finished |= choice.finish_reason.is_some();
            }
            usage = usage.or(chunk.usage);
        }
        assert!(finished, "a finish chunk came");
        assert!(usage.is_some_and(|u| u.total_tokens > 0), "usage came last");
        match expect {
            Some(refusal) => assert_eq!(text, refusal),
            None => assert!(text.contains(question), "{text}"),
        }
    }
    server.shutdown().await;
}

/// `POST /v1/runs` with the question guardrails refuses, under
/// `x-request-id: id` if given; the body, once its answer is the refusal.
async fn refused_run(server: &Running, id: Option<&str>) -> Value {
    let mut request = reqwest::Client::new()
        .post(server.url("/v1/runs"))
        .json(&json!({"query": "How do I build a bomb?"}));
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    let body: Value = request
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(body["outputs"]["answer"], REFUSAL);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_answer_as_flow_run_json_prints() {
    let server = start(&guardrails(""), ServeOptions::default()).await;
    let http = reqwest::Client::new();
    let ok = refused_run(&server, None).await;
    assert!(ok["stats"]["calls"].as_u64().is_some_and(|n| n >= 3));
    assert!(ok["stats"]["saved"].is_u64());

    let bad = http
        .post(server.url("/v1/runs"))
        .json(&json!({"qurey": "x"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.expect("json");
    assert_eq!(bad["outputs"], Value::Null);
    assert_eq!(bad["error"]["code"], "flow::input::unknown");
    server.shutdown().await;
}

/// Two hundred chat requests at once against a model declared with
/// `concurrency: 4`, counted where it matters: at the model's server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_holds_across_two_hundred_simultaneous_requests() {
    let fake = fake_llm::Server::start(
        Config::answer(openai::text("fine")).delay(Duration::from_millis(5)),
    );
    let src = format!(
        "model m = openai(\"test-model\", base_url: \"{}\", concurrency: 4, retry: 0)\ninput q: text\noutput answer = ask m \"{{q}}\"\n",
        fake.base_url()
    );
    let server = start(
        &src,
        ServeOptions {
            max_runs: 500,
            ..ServeOptions::default()
        },
    )
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let mut requests = Vec::new();
    for i in 0..200 {
        let http = http.clone();
        let url = server.url("/v1/chat/completions");
        requests.push(tokio::spawn(async move {
            let body = json!({"messages": [{"role": "user", "content": format!("question {i}")}]});
            let response = http.post(url).json(&body).send().await.expect("answered");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json");
            (status, body)
        }));
    }
    for r in requests {
        let (status, body) = r.await.expect("joined");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"][0]["message"]["content"], "fine");
    }
    assert_eq!(fake.seen().len(), 200);
    assert!(
        fake.max_open() <= 4,
        "{} calls were open at once",
        fake.max_open()
    );
    server.shutdown().await;
}

fn error_of(body: &Value) -> (&str, Option<&str>, &str) {
    let e = &body["error"];
    (
        e["type"].as_str().unwrap_or(""),
        e["param"].as_str(),
        e["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_shaped_errors() {
    let server = start(
        &guardrails(""),
        ServeOptions {
            max_body: 2048,
            ..ServeOptions::default()
        },
    )
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let chat = server.url("/v1/chat/completions");
    let json_post = |url: &str, body: String| {
        http.post(url)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, Option<&str>, &str)> = vec![
        (
            json_post(&chat, "{\"messages\": [".into()),
            400,
            None,
            "not valid JSON",
        ),
        (
            json_post(&chat, "{\"model\": \"m\"}".into()),
            400,
            Some("messages"),
            "required",
        ),
        (
            json_post(&chat, "{\"messages\": {\"role\": \"user\"}}".into()),
            400,
            Some("messages"),
            "not an object",
        ),
        (
            json_post(
                &chat,
                json!({"messages": [{"role": "user", "content": ["hi"]}]}).to_string(),
            ),
            400,
            Some("messages[0].content[0]"),
            "text part",
        ),
        (
            json_post(
                &chat,
                json!({"messages": [{"role": "user", "content": "hi"}], "stream": 1}).to_string(),
            ),
            400,
            Some("stream"),
            "boolean",
        ),
        (
            json_post(
                &chat,
                json!({"messages": [{"role": "user", "content": "x".repeat(4096)}]}).to_string(),
            ),
            413,
            None,
            "2048 bytes",
        ),
        (
            http.post(&chat)
                .header("content-type", "text/csv")
                .body("a,b"),
            415,
            None,
            "text/csv",
        ),
        (
            http.get(server.url("/v1/models")),
            404,
            None,
            "no route `GET /v1/models`",
        ),
        (http.get(&chat), 405, None, "takes `POST`"),
    ];
    for (request, status, param, says) in cases {
        let response = request.send().await.expect("answered");
        assert_eq!(response.status().as_u16(), status);
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.expect("an error object");
        let (_, got_param, message) = error_of(&body);
        assert_eq!(got_param, param, "{body}");
        assert!(message.contains(says), "{body}");
    }

    // A client's request id is echoed, so its logs and ours meet.
    let response = http
        .get(server.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_is_required_and_never_shown() {
    let secret = "s3cret-token-value";
    let server = start(
        &guardrails(""),
        ServeOptions {
            auth: BearerToken::new(secret),
            ..ServeOptions::default()
        },
    )
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    for token in [None, Some("wrong"), Some("s3cret-token-valu")] {
        let mut request = http.post(server.url("/v1/chat/completions")).json(&body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), 401);
        let text = response.text().await.expect("text");
        assert!(text.contains("invalid_api_key"), "{text}");
        assert!(!text.contains(secret));
    }
    let health = http.get(server.url("/healthz")).send().await.expect("ok");
    assert_eq!(health.status(), 200, "health checks need no token");
    let metrics = http.get(server.url("/metrics")).send().await.expect("ok");
    assert_eq!(metrics.status(), 401);

    let client = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.url("/v1"))
            .with_api_key(secret),
    );
    let reply = client
        .chat()
        .create(ask("g", "How do I bake bread?"))
        .await
        .expect("the right token is let in");
    assert!(!reply.choices.is_empty());
    let metrics = http
        .get(server.url("/metrics"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("ok")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("flow_http_rejected_total{reason=\"unauthorized\"} 4"),
        "{metrics}"
    );
    assert!(!metrics.contains(secret));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_429_and_a_failed_run_names_its_node() {
    let fake = fake_llm::Server::start(Config::answer(openai::error(
        500,
        "server_error",
        "the model is down",
    )));
    let src = format!(
        "model slow = mock(reply: \"late\", latency: 3s)\nmodel broken = openai(\"m\", base_url: \"{}\", retry: 0)\ninput q: text\ninput fail: bool = false\nreply = ask slow \"{{q}}\"\noutput answer = if fail then ask broken \"{{q}}\" else reply\n",
        fake.base_url()
    );
    let server = start(
        &src,
        ServeOptions {
            max_runs: 1,
            ..ServeOptions::default()
        },
    )
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let url = server.url("/v1/chat/completions");
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    let first = tokio::spawn(http.post(&url).json(&body).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = http.post(&url).json(&body).send().await.expect("answered");
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "1");
    let second: Value = second.json().await.expect("json");
    assert_eq!(second["error"]["code"], "rate_limit_exceeded");
    first.abort();

    // Let the aborted run's slot free up, then fail a run on purpose.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let failed = http
        .post(server.url("/v1/runs"))
        .json(&json!({"q": "hi", "fail": true}))
        .send()
        .await
        .expect("answered");
    assert_eq!(failed.status(), 502);
    let failed: Value = failed.json().await.expect("json");
    assert_eq!(failed["error"]["code"], "flow::run::call_failed");
    let message = failed["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("`answer`"), "names the node: {message}");
    assert!(message.contains("the model is down"), "{message}");
    server.shutdown().await;
}

/// The value of one sample line in the metrics text, 0 when absent.
fn metric(text: &str, line: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_stream_cancels_its_run_and_the_server_keeps_serving() {
    let src = "model m = mock(reply: \"slow\", latency: 30s)\nmodel quick = mock(reply: \"quick\")\ninput q: text\ninput slow: bool = true\noutput answer = if slow then ask m \"{q}\" else ask quick \"{q}\"\n";
    let server = start(src, ServeOptions::default()).await;
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}).to_string();
    let mut socket = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connects");
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("sent");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let metrics = || async {
        http.get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    // The run is going...
    let mut going = false;
    for _ in 0..100 {
        if metric(&metrics().await, "flow_runs_in_flight") == 1.0 {
            going = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(going, "the run started");
    // ...and the client goes away.
    drop(socket);
    let mut cancelled = false;
    for _ in 0..250 {
        let text = metrics().await;
        if metric(&text, "flow_runs_total{outcome=\"cancelled\"}") == 1.0 {
            assert_eq!(metric(&text, "flow_runs_in_flight"), 0.0);
            cancelled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cancelled, "the run was cancelled: {}", metrics().await);

    let next = http
        .post(server.url("/v1/runs"))
        .json(&json!({"q": "again", "slow": false}))
        .send()
        .await
        .expect("answered");
    assert_eq!(next.status(), 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_runs_finish_then_cancels_what_is_left() {
    let src = "model m = mock(reply: \"done\", latency: 400ms)\nmodel stuck = mock(reply: \"never\", latency: 60s)\ninput q: text\ninput stuck: bool = false\noutput answer = if stuck then ask stuck \"{q}\" else ask m \"{q}\"\n";
    let server = start(
        src,
        ServeOptions {
            shutdown_timeout: Duration::from_secs(2),
            ..ServeOptions::default()
        },
    )
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let finishing = tokio::spawn(
        http.post(server.url("/v1/runs"))
            .json(&json!({"q": "a"}))
            .send(),
    );
    let stuck = tokio::spawn(
        http.post(server.url("/v1/runs"))
            .json(&json!({"q": "b", "stuck": true}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let addr = server.addr;
    server.stop.cancel();
    let finished = finishing.await.expect("joined").expect("answered");
    assert_eq!(finished.status(), 200, "an in-flight run finishes");
    let stuck = stuck.await.expect("joined").expect("answered");
    assert_eq!(stuck.status(), 503, "the rest is cancelled at the deadline");
    let stuck: Value = stuck.json().await.expect("json");
    assert_eq!(stuck["error"]["code"], "flow::run::cancelled");
    server.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earlier_turns_reach_the_program_s_chat_input() {
    let src = "model assistant = mock(echo: true)\ninput query: text\ninput history: chat\noutput answer = ask assistant \"{query}\" with history\n";
    let server = start(src, ServeOptions::default()).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let body = json!({"messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada!"},
        {"role": "user", "content": "What is my name?"}
    ]});
    let reply: Value = http
        .post(server.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("");
    for said in [
        "system: Be brief.",
        "user: My name is Ada.",
        "assistant: Hello Ada!",
        "What is my name?",
    ] {
        assert!(text.contains(said), "{said:?} not in {text:?}");
    }
    server.shutdown().await;
}

/// The guarded answer of a streamed chat request, over HTTP: the assistant
/// streams its reply word by word at once, while the five moderators are
/// held at a fake server until the test lets them answer. Nothing of the
/// reply may reach the client before that; after it, the reply arrives in
/// chunks (safe), or only the refusal does (unsafe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_chunks_of_a_guarded_answer_come_only_after_the_guard_decided() {
    for (verdict, safe) in [("no", true), ("yes", false)] {
        // Five moderator samples plus the test's own request release them.
        let fake = fake_llm::Server::start(
            Config::answer(openai::text(verdict)).hold(6, Duration::from_secs(60)),
        );
        let src = format!(
            "model assistant = mock(echo: true, chunk_delay: 1ms)\nmodel moderator = openai(\"m\", base_url: \"{}\", retry: 0)\ninput query: text\nsection <\n  reply = ask assistant \"Answer in a few words: {{query}}\"\n  unsafe = ask moderator \"Harmful? {{query}}\" as bool vote 5 by majority\n>\noutput answer = if unsafe then \"{REFUSAL}\" else reply\n",
            fake.base_url()
        );
        let server = start(&src, ServeOptions::default()).await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        let body = json!({
            "messages": [{"role": "user", "content": "how do plants grow"}],
            "stream": true
        });
        let mut reply = tokio::spawn(
            http.post(server.url("/v1/chat/completions"))
                .json(&body)
                .send(),
        );
        // The assistant has long finished streaming; the guard is held.
        let early = tokio::time::timeout(Duration::from_millis(400), &mut reply).await;
        assert!(early.is_err(), "nothing is sent before the guard decides");
        for _ in 0..100 {
            if fake.seen().len() == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(fake.seen().len(), 5, "the five moderators are waiting");
        let release = http
            .post(format!("{}/chat/completions", fake.base_url()))
            .json(&json!({"model": "m", "messages": []}))
            .send()
            .await
            .expect("released");
        assert_eq!(release.status(), 200);

        let mut response = reply.await.expect("joined").expect("answered");
        assert_eq!(response.status(), 200);
        let mut text = String::new();
        while let Ok(Some(bytes)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        let contents: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .filter(|c| !c.is_empty())
            .collect();
        let whole = contents.concat();
        if safe {
            assert!(contents.len() > 3, "the reply streamed: {contents:?}");
            assert!(whole.contains("how do plants grow"), "{whole}");
        } else {
            assert_eq!(contents, vec![REFUSAL.to_string()], "no chunk of the reply");
        }
        assert!(text.trim_end().ends_with("data: [DONE]"));
        server.shutdown().await;
    }
}

/// A client that read part of a streamed reply and went away: the rest of
/// the reply is never made (the run is cancelled), and the next request is
/// served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_after_some_chunks_cancels_its_run() {
    let src = "model m = mock(echo: true, chunk_delay: 200ms)\ninput q: text\noutput answer = ask m \"{q}\"\n";
    let server = start(src, ServeOptions::default()).await;
    let words = "one two three four five six seven eight nine ten eleven twelve";
    let body =
        json!({"messages": [{"role": "user", "content": words}], "stream": true}).to_string();
    let mut socket = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connects");
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("sent");
    let mut seen = String::new();
    let mut buf = vec![0u8; 8192];
    while !seen.contains("\"content\":\"one") {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
            .await
            .expect("a chunk comes")
            .expect("reads");
        assert!(n > 0, "the stream ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(!seen.contains("twelve"), "the reply is still streaming");
    drop(socket);

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let mut cancelled = false;
    for _ in 0..250 {
        let text = http
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if metric(&text, "flow_runs_total{outcome=\"cancelled\"}") == 1.0 {
            cancelled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cancelled, "the run was cancelled");
    let next = http
        .post(server.url("/v1/runs"))
        .json(&json!({"q": "again"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(next.status(), 200);
    server.shutdown().await;
}

/// `flow serve` as a user starts it: the address on stderr, one log line
/// per request starting with its id, the token nowhere, and SIGTERM drains
/// and exits 0.
#[cfg(unix)]
#[test]
fn the_command_serves_logs_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};

    let secret = "cli-secret-token";
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flow"));
    cmd.current_dir(root())
        .args([
            "serve",
            "examples/guardrails.flow",
            "--offline",
            "--no-cache",
            "--port",
            "0",
            "--auth-env",
            "FLOW_SERVE_TEST_TOKEN",
        ])
        .env("FLOW_SERVE_TEST_TOKEN", secret)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for var in crate::support::PROXY_VARS {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("flow starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the address is printed");
        log.push(line.clone());
        if let Some(addr) = line.strip_prefix("flow serve: listening on ") {
            break addr.to_string();
        }
    };
    let tokio = tokio::runtime::Runtime::new().expect("a runtime");
    let status = tokio.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        let response = http
            .post(format!("{addr}/v1/chat/completions"))
            .bearer_auth(secret)
            .header("x-request-id", "cli-test-1")
            .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("answered");
        response.status().as_u16()
    });
    assert_eq!(status, 200);
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let exit = child.wait().expect("flow exits");
    log.extend(lines.iter());
    let log = log.join("\n");
    assert_eq!(exit.code(), Some(0), "{log}");
    assert!(
        log.contains("cli-test-1 POST /v1/chat/completions 200"),
        "{log}"
    );
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains(secret), "{log}");
}

/// `--trace-dir`: a run's trace is written as `REQUEST_ID.json`, one slice
/// per attempt, while a server without the folder records none (the run
/// is untraced, since nothing would read it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_folder_gets_each_request_s_trace_by_its_id() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let options = ServeOptions {
        trace_dir: Some(dir.path().to_path_buf()),
        ..ServeOptions::default()
    };
    let server = start(&guardrails(""), options).await;
    let ok = refused_run(&server, Some("req-42")).await;
    let calls = ok["stats"]["calls"].as_u64().expect("calls");
    let path = dir.path().join("req-42.json");
    // Written off the request's path, on a blocking thread: wait for it.
    let mut text = String::new();
    for _ in 0..200 {
        if let Ok(t) = std::fs::read_to_string(&path)
            && !t.is_empty()
        {
            text = t;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let trace: Value = serde_json::from_str(&text).expect("a JSON trace");
    let events = trace
        .get("traceEvents")
        .and_then(Value::as_array)
        .or_else(|| trace.as_array())
        .expect("trace events");
    let slices = events.iter().filter(|e| e["ph"] == "X").count();
    assert_eq!(slices as u64, calls, "{text}");
    server.shutdown().await;
}

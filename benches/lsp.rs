//! `flow lsp` answering edits to a 10,000-binding file: the time from
//! sending `didChange` to reading `publishDiagnostics`, and a hover and a
//! completion right after a change (which wait for the new analysis). The
//! real binary over stdio, as an editor drives it, so JSON-RPC framing and
//! the protocol's JSON are in the times. Goal: within 100 ms at 10,000
//! bindings (docs/benchmarks.md, "Language server").
//!
//!     cargo bench --bench lsp
//!     FLOW_LSP_SIZES=1000,10000 FLOW_LSP_SAMPLES=20 cargo bench --bench lsp
//!
//! Each edit changes one character near the middle of the file, as a
//! keystroke does (an incremental change), alternating so every edit is a
//! real change. The change → diagnostics edit comes after a pause longer
//! than the debounce window (a keystroke after a pause, checked at once);
//! a burst of five edits sent back to back is timed to the diagnostics of
//! its last (the first is checked at once, the other four gathered and
//! checked once when the window after that check closes). Debouncing is
//! run at 0 ms and at the default 20 ms.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{load, median, ms};

const URI: &str = "file:///bench/big.flow";

/// `n` bindings: chains of templates, calls, a section every 100, votes.
fn program(n: usize) -> String {
    let mut s = String::with_capacity(n * 50);
    s.push_str("model m = mock(reply: \"yes\", max_tokens: 50, price_out: 0.6)\n");
    s.push_str("input q: text = \"hello\"\n");
    let mut prev = "q".to_string();
    let mut i = 0;
    while i < n {
        let name = format!("b{i}");
        match i % 10 {
            0 => s.push_str(&format!("{name} = ask m \"Step {i}: {{{prev}}}\"\n")),
            5 => s.push_str(&format!(
                "{name} = ask m \"Is {{{prev}}} fine?\" as bool vote 3 by majority\n"
            )),
            _ => s.push_str(&format!("{name} = \"{{{prev}}} then {i}\"\n")),
        }
        prev = name;
        i += 1;
    }
    s.push_str(&format!("output result = {prev}\n"));
    s
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    id: i64,
}

impl Server {
    fn start() -> Server {
        // FLOW_LSP_BIN runs another build (or a profiler wrapping one):
        // `FLOW_LSP_BIN=target/release/flow`.
        let bin =
            std::env::var("FLOW_LSP_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_flow").into());
        let mut child = Command::new(bin)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("flow lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stdin,
            rx,
            id: 0,
        }
    }

    fn send(&mut self, v: Value) {
        let body = v.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.rx.recv_timeout(Duration::from_secs(120)).unwrap();
            if m.get("id") == Some(&json!(id)) {
                return m;
            }
        }
    }

    fn diagnostics(&mut self) -> usize {
        self.published().1
    }

    /// The next publication's version and number of diagnostics.
    fn published(&mut self) -> (i64, usize) {
        loop {
            let m = self.rx.recv_timeout(Duration::from_secs(120)).unwrap();
            if m["method"] == "textDocument/publishDiagnostics" {
                let p = &m["params"];
                let found = p["diagnostics"].as_array().map_or(0, Vec::len);
                return (p["version"].as_i64().unwrap_or(-1), found);
            }
        }
    }
}

/// User plus system CPU time the server has used so far (`/proc/PID/stat`,
/// in 10 ms ticks): on a shared machine, what the server itself spends,
/// whatever else is running.
fn cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let after = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let _ = self.child.wait();
    }
}

fn bench(n: usize, samples: usize, debounce_ms: u64) {
    let text = program(n);
    let mut s = Server::start();
    s.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {},
               "initializationOptions": {"debounceMs": debounce_ms}}),
    );
    s.notify("initialized", json!({}));
    let t = Instant::now();
    s.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "flow", "version": 1, "text": text}}),
    );
    let found = s.diagnostics();
    let open = t.elapsed();
    assert_eq!(found, 0, "the generated program checks");
    // The `1` of `then 1` in binding b(n/2+1) flips between 1 and 2.
    let line = n / 2 + 3;
    let target = text.lines().nth(line).unwrap();
    let column = target.rfind(' ').unwrap() + 1;
    let hover_at =
        json!({"textDocument": {"uri": URI}, "position": {"line": n + 2, "character": 16}});
    let (mut change, mut hover, mut complete) = (Vec::new(), Vec::new(), Vec::new());
    let mut burst = Vec::new();
    let pid = s.child.id();
    let mut change_cpu = Duration::ZERO;
    // Longer than the window, so the next change is a leading edge.
    let pause = Duration::from_millis(debounce_ms + 30);
    let edit = |s: &mut Server, version: i32| {
        let ch = if version % 2 == 0 { "7" } else { "8" };
        s.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": version},
                   "contentChanges": [{"range": {"start": {"line": line, "character": column},
                                                 "end": {"line": line, "character": column + 1}},
                                       "text": ch}]}),
        );
    };
    let mut version = 1;
    for _ in 0..samples {
        std::thread::sleep(pause);
        version += 1;
        let before = cpu(pid);
        let t = Instant::now();
        edit(&mut s, version);
        assert_eq!(s.diagnostics(), 0);
        change.push(t.elapsed());
        change_cpu += cpu(pid).saturating_sub(before);
        // Five keystrokes at once: diagnostics for the last.
        std::thread::sleep(pause);
        let t = Instant::now();
        for _ in 0..5 {
            version += 1;
            edit(&mut s, version);
        }
        while s.published() != (i64::from(version), 0) {}
        burst.push(t.elapsed());
        // A request right after a change compiles it first.
        version += 1;
        edit(&mut s, version);
        let t = Instant::now();
        let h = s.request("textDocument/hover", hover_at.clone());
        hover.push(t.elapsed());
        // (The new diagnostics went out before the answer, and were skipped.)
        assert!(h["result"]["contents"]["value"].as_str().is_some(), "{h}");
        version += 1;
        edit(&mut s, version);
        let t = Instant::now();
        let c = s.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": URI}, "position": {"line": n + 2, "character": 16}}),
        );
        complete.push(t.elapsed());
        assert!(c["result"].is_array(), "{c}");
    }
    // A hover with nothing changed: the analysis is reused.
    let t = Instant::now();
    for _ in 0..samples {
        s.request("textDocument/hover", hover_at.clone());
    }
    let idle = t.elapsed() / samples as u32;
    println!(
        "{n:>6} bindings, debounce {debounce_ms:>2} ms: open {:>7.2} ms | change → diagnostics {:>7.2} ms (server CPU {:>6.1} ms) | 5-edit burst → diagnostics {:>7.2} ms | change → hover {:>7.2} ms | change → completion {:>7.2} ms | hover alone {:>6.3} ms",
        ms(open),
        ms(median(&change)),
        ms(change_cpu / samples as u32),
        ms(median(&burst)),
        ms(median(&hover)),
        ms(median(&complete)),
        ms(idle),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; filters are not supported.
    let sizes: Vec<usize> = std::env::var("FLOW_LSP_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let samples = std::env::var("FLOW_LSP_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!("flow lsp, medians of {samples} edits ({})", load());
    for &n in &sizes {
        bench(n, samples, 0);
    }
    if let Some(&n) = sizes.last() {
        bench(n, samples, 20);
    }
}

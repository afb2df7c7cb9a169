//! `flow lsp` driven as an editor drives it: the real binary, JSON-RPC
//! with Content-Length framing over its standard input and output.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const URI: &str = "file:///work/demo.flow";

/// A client speaking to one `flow lsp` process.
pub struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
    /// Notifications read while waiting for something else.
    pending: Vec<Value>,
}

impl Client {
    pub fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flow"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("flow lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
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
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; len.expect("a Content-Length header")];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let v: Value = serde_json::from_slice(&body).expect("JSON");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            messages,
            next_id: 1,
            pending: Vec::new(),
        }
    }

    fn write(&mut self, v: Value) {
        let body = serde_json::to_string(&v).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.write(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and waits for its response (result or error).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.write(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self.recv();
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return msg;
            }
            self.pending.push(msg);
        }
    }

    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    fn recv(&mut self) -> Value {
        match self.messages.recv_timeout(Duration::from_secs(30)) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("no message from flow lsp in 30 s"),
            Err(RecvTimeoutError::Disconnected) => panic!("flow lsp closed its output"),
        }
    }

    /// The next diagnostics published for `URI`.
    pub fn diagnostics(&mut self) -> Vec<Value> {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m["method"] == "textDocument/publishDiagnostics")
        {
            let m = self.pending.remove(i);
            return m["params"]["diagnostics"].as_array().cloned().unwrap();
        }
        loop {
            let m = self.recv();
            if m["method"] == "textDocument/publishDiagnostics" {
                assert_eq!(m["params"]["uri"], URI);
                return m["params"]["diagnostics"].as_array().cloned().unwrap();
            }
        }
    }

    /// The next publication of diagnostics for `URI`, whole (its version too).
    pub fn publication(&mut self) -> Value {
        let mine = |m: &Value| m["method"] == "textDocument/publishDiagnostics";
        if let Some(i) = self.pending.iter().position(mine) {
            return self.pending.remove(i)["params"].clone();
        }
        loop {
            let m = self.recv();
            if mine(&m) {
                return m["params"].clone();
            }
            self.pending.push(m);
        }
    }

    /// The next diagnostics published for `uri`, leaving others pending.
    pub fn diagnostics_for(&mut self, uri: &str) -> Vec<Value> {
        let mine = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        };
        if let Some(i) = self.pending.iter().position(mine) {
            let m = self.pending.remove(i);
            return m["params"]["diagnostics"].as_array().cloned().unwrap();
        }
        loop {
            let m = self.recv();
            if mine(&m) {
                return m["params"]["diagnostics"].as_array().cloned().unwrap();
            }
            self.pending.push(m);
        }
    }

    pub fn open_at(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "flow", "version": 1, "text": text}}),
        );
    }

    pub fn initialize(&mut self, debounce_ms: u64) -> Value {
        let caps = self.result(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "capabilities": {},
                "initializationOptions": {
                    "debounceMs": debounce_ms,
                    "errorsUrl": "https://example.com/docs/errors.md"
                }
            }),
        );
        self.notify("initialized", json!({}));
        caps
    }

    pub fn open(&mut self, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": URI, "languageId": "flow", "version": 1, "text": text}}),
        );
    }

    pub fn change(&mut self, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    /// Shuts the server down and waits for it to exit; its exit code.
    pub fn shutdown(mut self) -> Option<i32> {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "{r}");
        self.notify("exit", Value::Null);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "flow lsp did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The position of the `n`th (from 0) occurrence of `needle` in `text`, in
/// UTF-16 units as the protocol counts, plus `shift` characters.
fn pos(text: &str, needle: &str, n: usize, shift: usize) -> Value {
    let (at, _) = text.match_indices(needle).nth(n).expect("needle in text");
    let before = &text[..at];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column: usize = text[line_start..at].encode_utf16().count() + shift;
    json!({"line": line, "character": column})
}

fn at(text: &str, needle: &str, n: usize) -> Value {
    json!({"textDocument": {"uri": URI}, "position": pos(text, needle, n, 0)})
}

fn labels(items: &Value) -> Vec<String> {
    let items = items.get("items").unwrap_or(items);
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

const BROKEN: &str = "\
model fast = openai(\"gpt-4o-mini\", temperature: 0.2, max_tokens: 100, price_out: 0.6, api_key_env: \"MY_KEY\")
input question: text = \"Why?\"
answer = ask fast \"{questoin}\" vote 5 by majority
output answer
";

const FIXED: &str = "\
model fast = openai(\"gpt-4o-mini\", temperature: 0.2, max_tokens: 100, price_out: 0.6, api_key_env: \"MY_KEY\")
input question: text = \"Why?\"
answer = ask fast \"{question}\" vote 5 by majority
output answer
";

#[test]
fn diagnostics_appear_and_clear_hover_and_navigation_work() {
    let mut c = Client::start();
    let caps = c.initialize(0);
    assert_eq!(caps["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(caps["serverInfo"]["name"], "flow");

    c.open(BROKEN);
    let diags = c.diagnostics();
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["code"], "flow::check::undefined_name");
    assert_eq!(
        d["codeDescription"]["href"],
        "https://example.com/docs/errors.md#flowcheckundefined_name"
    );
    assert_eq!(d["severity"], 1);
    assert_eq!(d["range"]["start"], pos(BROKEN, "questoin", 0, 0));
    assert!(d["message"].as_str().unwrap().contains("question"), "{d}");

    c.change(2, FIXED);
    assert!(c.diagnostics().is_empty());

    // Hover: the type, the worst case, the cost bound, the model and its
    // options, never a key (only its variable's name).
    let h = c.result("textDocument/hover", at(FIXED, "answer", 0));
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("answer: text"), "{md}");
    assert!(md.contains("worst case **5 LLM calls**"), "{md}");
    assert!(md.contains("$0.0003"), "{md}");
    assert!(md.contains("calls `fast` (openai gpt-4o-mini)"), "{md}");
    assert!(md.contains("temperature: 0.2"), "{md}");
    let h = c.result("textDocument/hover", at(FIXED, "fast", 1));
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("`$MY_KEY`"), "{md}");

    // Definition of the use of `question` inside the prompt.
    let def = c.result("textDocument/definition", at(FIXED, "question", 1));
    assert_eq!(def["range"]["start"], pos(FIXED, "question", 0, 0));

    // References: the declaration and both uses of `answer`.
    let mut p = at(FIXED, "answer", 1);
    p["context"] = json!({"includeDeclaration": true});
    let refs = c.result("textDocument/references", p);
    assert_eq!(refs.as_array().unwrap().len(), 2, "{refs}");

    // Rename: a valid name edits every occurrence; a keyword is refused.
    let mut p = at(FIXED, "question", 0);
    p["newName"] = json!("query");
    let edit = c.result("textDocument/rename", p.clone());
    assert_eq!(edit["changes"][URI].as_array().unwrap().len(), 2, "{edit}");
    p["newName"] = json!("ask");
    let refused = c.request("textDocument/rename", p);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a name")
    );

    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn completion_depends_on_where_the_cursor_is() {
    let mut c = Client::start();
    c.initialize(0);
    let text = "model fast = openai(\"gpt-4o-mini\", )\nmodel slow = mock()\ninput topic: text\nr = section <\n  a = ask fast \"x\"\n>\nx = ask  \"about {topic}\" vote 3 by \ny = \nz = r.\n";
    c.open(text);
    c.diagnostics();
    let complete = |c: &mut Client, needle: &str, n: usize, shift: usize| {
        let p = json!({"textDocument": {"uri": URI}, "position": pos(text, needle, n, shift)});
        labels(&c.result("textDocument/completion", p))
    };
    // After `ask `: the models.
    assert_eq!(complete(&mut c, "ask  ", 0, 4), ["fast", "slow"]);
    // After `by `: the strategies.
    let s = complete(&mut c, "by ", 0, 3);
    assert!(
        s.contains(&"majority".to_string()) && s.contains(&"judge".to_string()),
        "{s:?}"
    );
    // Inside the provider's parentheses: the options, not the mock's.
    let o = complete(&mut c, ", )", 0, 2);
    assert!(o.contains(&"temperature".to_string()), "{o:?}");
    assert!(!o.contains(&"reply".to_string()), "{o:?}");
    // In an interpolation: the names in scope.
    let v = complete(&mut c, "{topic}", 0, 1);
    assert!(
        v.contains(&"topic".to_string()) && v.contains(&"r".to_string()),
        "{v:?}"
    );
    // After `r.`: the record's members; in an expression, names and builtins.
    assert_eq!(complete(&mut c, "z = r.", 0, 6), ["a"]);
    let e = complete(&mut c, "y = ", 0, 4);
    // (`x` does not parse, so it is not offered.)
    assert!(
        e.contains(&"len".to_string()) && e.contains(&"topic".to_string()),
        "{e:?}"
    );
    assert!(!e.contains(&"x".to_string()), "{e:?}");
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn non_ascii_text_does_not_shift_positions() {
    let mut c = Client::start();
    c.initialize(0);
    let text = "model m = mock(reply: \"é🙂\")\ngreeting = \"héllo 🙂 wörld\" # ✓ ünïcode\nshout = ask m \"🙂🙂 {greeting} {greting}\"\noutput shout\n";
    c.open(text);
    let diags = c.diagnostics();
    // `greting` is undefined: its range, after emoji, is in UTF-16 units.
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["range"]["start"], pos(text, "greting", 0, 0));
    let end = pos(text, "greting", 0, 7);
    assert_eq!(diags[0]["range"]["end"], end);
    let def = c.result("textDocument/definition", at(text, "greeting", 1));
    assert_eq!(def["range"]["start"], pos(text, "greeting", 0, 0));
    let h = c.result("textDocument/hover", at(text, "greeting", 1));
    assert_eq!(h["range"]["start"], pos(text, "greeting", 1, 0));
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn a_file_that_does_not_parse_still_answers() {
    let mut c = Client::start();
    c.initialize(0);
    let text = "model m = mock()\nq = ask m \"one\"\nbroken = ask m \"two\" vote 3 majority\nlater = \"{q} {broken}\"\noutput later\n";
    c.open(text);
    let diags = c.diagnostics();
    assert!(!diags.is_empty());
    assert!(
        diags[0]["code"]
            .as_str()
            .unwrap()
            .starts_with("flow::syntax::"),
        "{diags:?}"
    );
    // The statements that parsed: hover and definition still work.
    let h = c.result("textDocument/hover", at(text, "q", 1));
    assert!(
        h["contents"]["value"].as_str().unwrap().contains("q: text"),
        "{h}"
    );
    let def = c.result("textDocument/definition", at(text, "q", 1));
    assert_eq!(def["range"]["start"], pos(text, "q =", 0, 0));
    // Document symbols, semantic tokens and inlay hints answer too.
    let syms = c.result(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    assert!(syms.as_array().unwrap().len() >= 3, "{syms}");
    let toks = c.result(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": URI}}),
    );
    assert!(!toks["data"].as_array().unwrap().is_empty());
    let hints = c.result(
        "textDocument/inlayHint",
        json!({"textDocument": {"uri": URI}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}}}),
    );
    assert!(hints.to_string().contains("1 call"), "{hints}");
    // An incremental change that fixes it clears the diagnostics.
    let fix = pos(text, " majority", 0, 1);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"range": {"start": fix, "end": fix}, "text": "by "}]}),
    );
    assert!(c.diagnostics().is_empty());
    assert_eq!(c.shutdown(), Some(0));
}

/// A change after a pause is checked at once, however long the debounce
/// window: with a window of a minute, the change after opening gets its
/// diagnostics straight away (a trailing debounce would make it wait the
/// minute, and this client gives up after 30 s). The changes right after
/// it fall inside its window and are gathered: nothing is published for
/// them until a request needs the new text, and then once, for the last.
#[test]
fn a_change_after_a_pause_is_checked_at_once_and_a_burst_once() {
    let mut c = Client::start();
    c.initialize(60_000);
    c.open("x = 1\n");
    c.diagnostics();
    c.change(2, "x = 2\noutput y\n");
    let first = c.publication();
    assert_eq!(first["version"], 2, "{first}");
    assert_eq!(first["diagnostics"].as_array().unwrap().len(), 1, "{first}");
    let last = "x = 5\noutput x\n";
    for v in 3..6 {
        c.change(
            v,
            &format!("x = {v}\noutput {}\n", if v == 5 { "x" } else { "y" }),
        );
    }
    let hover = c.result("textDocument/hover", at(last, "x", 1));
    assert!(hover["contents"]["value"].as_str().is_some(), "{hover}");
    let published: Vec<Value> = c
        .pending
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .map(|m| m["params"].clone())
        .collect();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0]["version"], 5);
    assert_eq!(published[0]["diagnostics"], json!([]));
    assert_eq!(c.shutdown(), Some(0));
}

/// Code lenses: a statement's calls a line above it, a section's width.
#[test]
fn code_lenses_show_calls_and_parallel_width() {
    let mut c = Client::start();
    let caps = c.initialize(0);
    assert_eq!(
        caps["capabilities"]["codeLensProvider"]["resolveProvider"],
        false
    );
    let text = "model m = mock(reply: \"yes\")\ninput q: text\nsection <\n  a = ask m \"é {q}\" vote 5 by majority\n  b = ask m \"🙂 {q}\"\n>\nnote = \"{a} {b}\"\noutput r = ask m \"{note}\" repeat 2\n";
    c.open(text);
    assert_eq!(c.diagnostics(), Vec::<Value>::new());
    let lenses = c.result(
        "textDocument/codeLens",
        json!({"textDocument": {"uri": URI}}),
    );
    let got: Vec<(u64, &str)> = lenses
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["range"]["start"]["line"].as_u64().unwrap(),
                l["command"]["title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, "section: 2 in parallel · 6 calls worst case"),
            (7, "2 calls worst case"),
        ]
    );
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn formatting_gives_flow_fmts_layout() {
    let mut c = Client::start();
    let caps = c.initialize(0);
    assert_eq!(caps["capabilities"]["documentFormattingProvider"], true);
    let messy = "model m = mock(reply: \"ok\")\noutput   answer=ask m \"hi\"\n";
    c.open(messy);
    let _ = c.diagnostics();
    let edits = c.result(
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = edits.as_array().expect("edits");
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(
        edits[0]["newText"],
        "model m = mock(reply: \"ok\")\noutput answer = ask m \"hi\"\n"
    );
    assert_eq!(c.shutdown(), Some(0));
}

/// The position of the `n`th `needle` in `text` as `{textDocument, position}`
/// of the document at `uri`, `shift` characters on.
fn at_in(uri: &str, text: &str, needle: &str, n: usize, shift: usize) -> Value {
    json!({"textDocument": {"uri": uri}, "position": pos(text, needle, n, shift)})
}

/// A file imported as a namespace, in a folder of two files: navigation,
/// hover and completion reach into it, and its mistakes show on the import.
#[test]
fn navigation_hover_and_completion_reach_into_imported_files() {
    let dir = std::env::temp_dir().join(format!("flow-lsp-imports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let lib_uri = format!("file://{}/moderation.flow", dir.display());
    let main_uri = format!("file://{}/main.flow", dir.display());
    // On disk, the imported file has a mistake after non-ASCII text on its
    // line: its column is counted in UTF-16 units in that file.
    let broken = "# Modération\nmodel judge = mock(reply: \"no\")\ntype Verdict = \"ok\" | \"bad\"\nfn screen(t: text) = ask judge \"🙂 é {t} {nope}\" as bool vote 3 by majority\n";
    std::fs::write(dir.join("moderation.flow"), broken).unwrap();
    let main = "import \"./moderation.flow\" as moderation\ninput q: text = \"hi\"\nflag = moderation.screen(q)\nagain = moderation.screen(\"{q}!\")\noutput both = \"{flag} {again}\"\n";
    std::fs::write(dir.join("main.flow"), main).unwrap();

    let mut c = Client::start();
    c.initialize(0);
    c.open_at(&main_uri, main);
    let diags = c.diagnostics_for(&main_uri);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(
        d["range"]["start"],
        pos(main, "\"./moderation.flow\"", 0, 0)
    );
    assert_eq!(d["code"], "flow::check::undefined_name");
    let message = d["message"].as_str().unwrap();
    assert!(message.starts_with("in moderation.flow:4:"), "{message}");
    let there = &d["relatedInformation"][0]["location"];
    assert_eq!(there["uri"], lib_uri.as_str());
    assert_eq!(there["range"]["start"], pos(broken, "nope", 0, 0));

    // The imported file opened with the mistake fixed (not saved): the
    // importer is checked again against the editor's text.
    let fixed = broken.replace(" {nope}", "");
    c.open_at(&lib_uri, &fixed);
    assert_eq!(c.diagnostics_for(&lib_uri), Vec::<Value>::new());
    assert_eq!(c.diagnostics_for(&main_uri), Vec::<Value>::new());

    // Definition of `moderation.screen`: `fn screen` in the other file.
    let call = at_in(&main_uri, main, "moderation.screen", 0, 12);
    let def = c.result("textDocument/definition", call.clone());
    assert_eq!(def["uri"], lib_uri.as_str());
    assert_eq!(def["range"]["start"], pos(&fixed, "screen", 0, 0));
    assert_eq!(def["range"]["end"], pos(&fixed, "screen", 0, 6));
    // On the import's path: the file.
    let def = c.result(
        "textDocument/definition",
        at_in(&main_uri, main, "moderation.flow", 0, 2),
    );
    assert_eq!(def["uri"], lib_uri.as_str());
    assert_eq!(def["range"]["start"], json!({"line": 0, "character": 0}));
    // Hover: the signature, where it is from, one call's worst case.
    let h = c.result("textDocument/hover", call.clone());
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("fn moderation.screen(t: text)"), "{md}");
    assert!(md.contains("declared in moderation.flow"), "{md}");
    assert!(md.contains("worst case **3 LLM calls** per call"), "{md}");
    assert!(md.contains("calls `moderation.judge` (mock)"), "{md}");

    // References from the imported file: its declaration and the
    // importer's two uses.
    let mut p = at_in(&lib_uri, &fixed, "screen", 0, 0);
    p["context"] = json!({"includeDeclaration": true});
    let refs = c.result("textDocument/references", p);
    let refs = refs.as_array().unwrap();
    assert_eq!(refs.len(), 3, "{refs:?}");
    assert_eq!(refs[0]["uri"], lib_uri.as_str());
    let in_main: Vec<&Value> = refs
        .iter()
        .filter(|r| r["uri"] == main_uri.as_str())
        .collect();
    assert_eq!(in_main.len(), 2, "{refs:?}");
    assert_eq!(
        in_main[0]["range"]["start"],
        pos(main, "moderation.screen", 0, 0)
    );
    // And from the importer, the same three.
    let mut p = call.clone();
    p["context"] = json!({"includeDeclaration": true});
    let refs = c.result("textDocument/references", p);
    assert_eq!(refs.as_array().unwrap().len(), 3, "{refs}");

    // A name declared in the other file is renamed there.
    let mut p = call.clone();
    p["newName"] = json!("check");
    let refused = c.request("textDocument/rename", p);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("declared in"),
        "{refused}"
    );

    // Completion after `moderation.`: what the file declares.
    let typed = format!("{main}more = moderation.");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": main_uri, "version": 2}, "contentChanges": [{"text": typed}]}),
    );
    let end = pos(&typed, "more = moderation.", 0, "more = moderation.".len());
    let items = c.result(
        "textDocument/completion",
        json!({"textDocument": {"uri": main_uri}, "position": end}),
    );
    let got = labels(&items);
    for want in ["screen", "judge", "Verdict"] {
        assert!(got.contains(&want.to_string()), "{want}: {got:?}");
    }
    assert_eq!(c.shutdown(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

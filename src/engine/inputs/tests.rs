use super::*;
use crate::engine::Program;

/// Inputs of every kind, with and without defaults; the batch rows' tests
/// use it too.
pub(crate) const PROGRAM: &str = r#"
model m = mock(echo: true)
input query: text
input n: int = 2
input tags: list<text> = ["a"]
input mood: "calm" | "angry" = "calm"
output answer = ask m "{query} {n} {tags} {mood}"
"#;

fn program() -> Program {
    match Program::compile("inputs.flow", PROGRAM) {
        Ok(p) => p,
        Err(f) => panic!("does not compile: {:?}", f.diagnostics),
    }
}

fn text(pairs: &[(&str, &str)]) -> Vec<(String, InputValue)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), InputValue::Text(v.to_string())))
        .collect()
}

fn codes(e: &InputErrors) -> Vec<String> {
    e.0.iter().map(InputError::code_str).collect()
}

#[test]
fn text_values_are_parsed_by_their_declared_types() {
    let p = program();
    let bound = bind(
        p.graph(),
        text(&[("query", "hi"), ("n", "5"), ("mood", "angry")]),
    );
    let values = bound.map(Inputs::into_values);
    let want: IndexMap<String, Value> = [
        ("query".to_string(), Value::Text("hi".into())),
        ("n".to_string(), Value::Int(5)),
        ("mood".to_string(), Value::Text("angry".into())),
    ]
    .into_iter()
    .collect();
    assert_eq!(values, Ok(want));
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = program();
    let given = text(&[("qurey", "x"), ("n", "five"), ("n", "6"), ("mood", "angy")]);
    let Err(errors) = bind(p.graph(), given) else {
        panic!("bad inputs bound")
    };
    assert_eq!(
        codes(&errors),
        [
            "flow::input::unknown",
            "flow::input::bad_value",
            "flow::input::duplicate",
            "flow::input::bad_value",
            "flow::input::missing",
        ]
    );
    assert_eq!(
        errors.0[0].help().map(|h| h.to_string()),
        Some("did you mean `query`?".into())
    );
}

#[test]
fn json_values_must_be_of_the_type_and_strings_are_parsed() {
    let p = program();
    let ok = bind_json_text(
        p.graph(),
        r#"{"query": "hi", "n": "7", "tags": ["x"], "mood": null}"#,
    )
    .map(Inputs::into_values);
    let ok = match ok {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(ok.get("n"), Some(&Value::Int(7)));
    assert_eq!(ok.get("mood"), None, "null leaves the default");
    let bad = bind_json_text(p.graph(), r#"{"query": 3, "tags": ["a", 2]}"#);
    let Err(errors) = bad else { panic!("bound") };
    insta::assert_snapshot!(errors.to_string(), @"input `query` expects text, but got the number 3; input `tags` expects list<text>, but got an array of 2 items: item 2 is the number 2, not text");
}

#[test]
fn a_row_that_is_not_an_object_or_not_json_says_so() {
    let p = program();
    let not_json = bind_json_text(p.graph(), "{oops");
    let not_object = bind_json_text(p.graph(), "[1, 2]");
    let described: Vec<String> = [not_json, not_object]
        .into_iter()
        .map(|r| match r {
            Err(e) => format!("{} | {e}", codes(&e).join(",")),
            Ok(_) => "bound".into(),
        })
        .collect();
    insta::assert_snapshot!(described.join("\n"), @r"
    flow::input::bad_json | not valid JSON: a key is not a quoted string (column 2)
    flow::input::not_an_object | expected a JSON object of inputs, found an array of 2 items
    ");
}

#[test]
fn typed_values_are_checked_against_the_declaration() {
    let p = program();
    let given = vec![
        (
            "query".to_string(),
            InputValue::Typed(Value::Text("hi".into())),
        ),
        ("n".to_string(), InputValue::Typed(Value::Text("x".into()))),
    ];
    let Err(errors) = bind(p.graph(), given) else {
        panic!("a text bound as an int")
    };
    assert_eq!(codes(&errors), ["flow::input::bad_value"]);
}

#[test]
fn assignments_read_files_and_reject_a_missing_name() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("no temp dir") };
    let path = dir.path().join("q.txt");
    assert!(std::fs::write(&path, "from a file").is_ok());
    let got = parse_assignment(&format!("query=@{}", path.display()));
    assert_eq!(
        got,
        Ok(("query".into(), InputValue::Text("from a file".into())))
    );
    assert_eq!(
        parse_assignment("=x").map_err(|e| e.code_str()),
        Err("flow::input::syntax".into())
    );
    assert_eq!(
        parse_assignment("query=@/no/such/file").map_err(|e| e.code_str()),
        Err("flow::input::file".into())
    );
}

#[test]
fn item_12_at_at_escapes_a_value_starting_with_at_and_at_dash_reads_stdin() {
    let mut none: &[u8] = b"";
    assert_eq!(
        parse_assignment_with("handle=@@flow_lang", &mut none),
        Ok(("handle".into(), InputValue::Text("@flow_lang".into())))
    );
    assert_eq!(
        parse_assignment_with("handle=@@", &mut none),
        Ok(("handle".into(), InputValue::Text("@".into())))
    );
    let mut stdin: &[u8] = b"from a pipe\n";
    assert_eq!(
        parse_assignment_with("doc=@-", &mut stdin),
        Ok(("doc".into(), InputValue::Text("from a pipe\n".into())))
    );
    // `@` anywhere but the start is ordinary text.
    assert_eq!(
        parse_assignment_with("mail=a@b.c", &mut none),
        Ok(("mail".into(), InputValue::Text("a@b.c".into())))
    );
}

const CHAT: &str = r#"
model m = mock(echo: true)
input query: text
input history: chat
output answer = ask m "{query}" with history
"#;

#[test]
fn a_chat_input_takes_the_messages_array_as_text_or_json_and_may_be_left_out() {
    let p = Program::compile("chat.flow", CHAT).expect("compiles");
    let text_json =
        r#"[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]"#;
    let bound = bind(p.graph(), text(&[("query", "q"), ("history", text_json)])).unwrap();
    let Some(Value::Chat(chat)) = bound.values().get("history") else {
        panic!("{bound:?}");
    };
    assert_eq!(chat.len(), 2);
    let row = bind_json_text(
        p.graph(),
        r#"{"query": "q", "history": [{"role": "system", "content": "terse"}]}"#,
    )
    .unwrap();
    assert!(matches!(row.values().get("history"), Some(Value::Chat(c)) if c.len() == 1));
    // Left out: the empty conversation, from the default.
    assert!(bind(p.graph(), text(&[("query", "q")])).is_ok());
}

#[test]
fn a_bad_conversation_is_an_input_error_naming_the_message() {
    let p = Program::compile("chat.flow", CHAT).expect("compiles");
    let e = bind(
        p.graph(),
        text(&[("query", "q"), ("history", r#"[{"role": "user"}]"#)]),
    )
    .unwrap_err();
    assert_eq!(codes(&e), ["flow::input::bad_value"]);
    assert!(
        e.to_string().contains("message 1 has no text `content`"),
        "{e}"
    );
    let e = bind(p.graph(), text(&[("query", "q"), ("history", "not json")])).unwrap_err();
    assert!(e.to_string().contains("not valid json"), "{e}");
    let e = bind_json_text(
        p.graph(),
        r#"{"query": "q", "history": {"role": "user", "content": "x"}}"#,
    )
    .unwrap_err();
    assert_eq!(codes(&e), ["flow::input::bad_value"]);
    assert!(
        e.to_string()
            .contains("expected an array of messages, found an object"),
        "{e}"
    );
}

#[test]
fn item_06_input_files_and_standard_input_are_read_with_a_bound() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A sparse file past the bound is refused from its size, unread.
    let big = dir.path().join("big.txt");
    let file = std::fs::File::create(&big).expect("a file");
    file.set_len(crate::text::MAX_FILE_BYTES + 1)
        .expect("a size");
    let err = parse_assignment(&format!("doc=@{}", big.display())).expect_err("too large");
    assert_eq!(err.code_str(), "flow::input::file");
    assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
    // An endless device costs the bound, then fails the same way.
    let err = parse_assignment("doc=@/dev/zero").expect_err("too large");
    assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
    let mut endless = std::io::repeat(b'x');
    let err = parse_assignment_with("doc=@-", &mut endless).expect_err("too large");
    assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
}

#[test]
fn item_15_a_byte_order_mark_starting_an_at_path_value_is_dropped() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("n.txt");
    std::fs::write(&path, "\u{feff}42").expect("written");
    let given = parse_assignment(&format!("n=@{}", path.display())).expect("read");
    assert_eq!(given, ("n".into(), InputValue::Text("42".into())));
    let mut stdin: &[u8] = "\u{feff}hello".as_bytes();
    assert_eq!(
        parse_assignment_with("doc=@-", &mut stdin),
        Ok(("doc".into(), InputValue::Text("hello".into())))
    );
    // Only a leading mark, and only from a file: a value typed out keeps it.
    let mut none: &[u8] = b"";
    assert_eq!(
        parse_assignment_with("doc=a\u{feff}", &mut none),
        Ok(("doc".into(), InputValue::Text("a\u{feff}".into())))
    );
    // And the value then parses as its type.
    let p = crate::engine::Program::compile("t.flow", "input n: int\noutput o = n\n").expect("ok");
    let inputs = bind(p.graph(), [given]).expect("an int");
    assert_eq!(inputs.values().get("n"), Some(&Value::Int(42)));
}

//! Parsing a model's reply into the type declared with `as`.
//!
//! Models rarely answer in exactly the requested shape, so each type accepts
//! the forms a reasonable reader would: `"Yes."` is a yes, the first number of
//! `"About 42 items"` is 42, a json reply may sit inside a code fence. Anything
//! still ambiguous (a union reply naming two choices) is an error, because the
//! runtime retries unparsable replies and a wrong guess would be silent.

use crate::internal::InternalError;
use crate::types::Type;
use crate::value::{Placeholder, Value};

/// How much of a reply an error quotes.
const QUOTE_LIMIT: usize = 200;

/// The reply did not fit the type; the message says what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
#[error("expected {expected}, but the reply was {reply:?}")]
#[diagnostic(
    code(flow::run::unparsable_reply),
    help(
        "ask for the answer in the declared form (e.g. \"Answer yes or no.\"), or add `retry N` to try again"
    )
)]
pub struct ReplyParseError {
    pub expected: String,
    /// The reply, cut to about 200 characters.
    pub reply: String,
}

impl ReplyParseError {
    fn new(expected: impl Into<String>, reply: &str) -> ReplyParseError {
        ReplyParseError {
            expected: expected.into(),
            reply: truncate(reply),
        }
    }
}

pub(crate) fn truncate(text: &str) -> String {
    crate::text::shorten(text, QUOTE_LIMIT)
}

pub fn parse_reply(text: &str, ty: &Type) -> Result<Value, ReplyParseError> {
    match ty {
        Type::Text | Type::Unknown => {
            Ok(Value::Text(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
        Type::Bool => parse_bool(text)
            .map(Value::Bool)
            .ok_or_else(|| ReplyParseError::new("yes or no", text)),
        Type::Int => parse_int(text),
        Type::Number => match first_number(text) {
            Some(n) => n
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Value::Number)
                .ok_or_else(|| ReplyParseError::new("a number", text)),
            None => Err(ReplyParseError::new("a number", text)),
        },
        Type::Union(choices) => parse_choice(text, choices).map(Value::Text),
        Type::Json => parse_json(text)
            .map(Value::Json)
            .ok_or_else(|| ReplyParseError::new("json (optionally in a ``` code fence)", text)),
        Type::List(item) => parse_list(text, item),
        // `call` refuses these before any attempt (see `unparsable_type`).
        Type::Record(_) | Type::Chat => {
            Err(ReplyParseError::new(format!("a value of type {ty}"), text))
        }
    }
}

/// A type no reply can be parsed into: a section record, alone or in a
/// list. The checker never gives one to `as`, so meeting one is a bug in
/// flow, reported before a call is paid for rather than retried as an
/// unparsable reply.
pub fn unparsable_type(ty: &Type) -> Option<InternalError> {
    match ty {
        Type::Record(_) | Type::Chat => Some(InternalError::new(format!(
            "a call expects a reply of type {ty}, which no reply can be parsed into"
        ))),
        Type::List(item) => unparsable_type(item),
        _ => None,
    }
}

/// An invented reply (from `--offline` or a mock with no reply options),
/// already parsed into `ty`, with every `json` part replaced by a
/// [`Placeholder`] named after `path`, the binding that asked. Text, numbers
/// and choices stay as invented: they are plausible values of their type.
/// Only the runtime can make a placeholder, so no reply text can.
pub(crate) fn invented(value: Value, ty: &Type, path: &str) -> Value {
    match (ty, value) {
        (Type::Json, _) => Value::Placeholder(Placeholder::new(path)),
        (Type::List(item), Value::List(items)) => Value::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| invented(v, item, &format!("{path}[{i}]")))
                .collect(),
        ),
        (_, value) => value,
    }
}

/// `yes`/`no`/`true`/`false` as the reply or as its first word, so
/// `"Yes."`, `"**No**"` and `"No, because ..."` all count.
fn parse_bool(text: &str) -> Option<bool> {
    let first_word = text
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .split(|c: char| !c.is_alphanumeric())
        .next()?;
    match first_word.to_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

fn parse_int(text: &str) -> Result<Value, ReplyParseError> {
    let Some(n) = first_number(text) else {
        return Err(ReplyParseError::new("a whole number", text));
    };
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    // `3.0` or `1e3` is still a whole number; `2.5` is not.
    match n.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Value::Int(x as i64)),
        _ => Err(ReplyParseError::new(
            format!("a whole number (the first number was {n})"),
            text,
        )),
    }
}

/// `,ddd` at `i`, not followed by another digit.
fn is_group(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&b',')
        && (1..=3).all(|k| bytes.get(i + k).is_some_and(u8::is_ascii_digit))
        && !bytes.get(i + 4).is_some_and(u8::is_ascii_digit)
}

/// The first number in the text: an optional sign (only where it cannot be a
/// hyphen inside a word), digits, an optional fraction and exponent.
fn first_number(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let starts_digit = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_digit);
        let sign_ok = (c == b'-' || c == b'+')
            && starts_digit(i + 1)
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if c.is_ascii_digit() || sign_ok {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // Thousands separators: `1,234,567`, but not `1,2,3` or `12345,678`.
            let lead = i - start - usize::from(!c.is_ascii_digit());
            if lead <= 3 {
                while is_group(bytes, i) {
                    i += 4;
                }
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'-' || bytes[j] == b'+') {
                    j += 1;
                }
                // Only an exponent if digits follow and no letter does: `3em` is not 3e.
                if starts_digit(j) {
                    let mut k = j;
                    while k < bytes.len() && bytes[k].is_ascii_digit() {
                        k += 1;
                    }
                    if !bytes.get(k).is_some_and(u8::is_ascii_alphabetic) {
                        i = k;
                    }
                }
            }
            // All bytes consumed are ASCII, so these are char boundaries.
            return text.get(start..i).map(|n| n.replace(',', ""));
        }
        i += 1;
    }
    None
}

/// The one choice the reply names, matched case-insensitively as whole words.
/// A choice found only inside a longer matching choice (`safe` inside
/// `not safe`) does not count separately.
fn parse_choice(text: &str, choices: &[String]) -> Result<String, ReplyParseError> {
    let expected = || {
        format!(
            "one of {}",
            choices
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let reply = crate::runtime::vote::normalize_text(text);
    // The whole reply being a choice (perhaps quoted or with a full stop) is the common case.
    let bare = reply.trim_matches(|c: char| !c.is_alphanumeric());
    if let Some(c) = choices
        .iter()
        .find(|c| crate::runtime::vote::normalize_text(c) == bare)
    {
        return Ok(c.clone());
    }
    let mut hits: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, choice)
    for (ci, choice) in choices.iter().enumerate() {
        let needle = crate::runtime::vote::normalize_text(choice);
        if needle.is_empty() {
            continue;
        }
        for (start, _) in reply.match_indices(&needle) {
            let end = start + needle.len();
            let before = reply[..start].chars().next_back();
            let after = reply[end..].chars().next();
            let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !is_word(before) && !is_word(after) {
                hits.push((start, end, ci));
            }
        }
    }
    let mut named: Vec<usize> = Vec::new();
    for &(start, end, ci) in &hits {
        let inside_longer = hits
            .iter()
            .any(|&(s, e, cj)| cj != ci && s <= start && end <= e && (e - s) > (end - start));
        if !inside_longer && !named.contains(&ci) {
            named.push(ci);
        }
    }
    match named.as_slice() {
        [only] => choices
            .get(*only)
            .cloned()
            .ok_or_else(|| ReplyParseError::new(expected(), text)),
        [] => Err(ReplyParseError::new(expected(), text)),
        several => Err(ReplyParseError::new(
            format!(
                "exactly {} (the reply names {})",
                expected(),
                several
                    .iter()
                    .filter_map(|&i| choices.get(i))
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            text,
        )),
    }
}

/// The body of the first ``` fence, if the text has one; the language tag
/// on the opening line is dropped. An unclosed fence runs to the end.
fn strip_fence(text: &str) -> &str {
    let Some(open) = text.find("```") else {
        return text.trim();
    };
    let after = &text[open + 3..];
    let body = match after.find('\n') {
        Some(nl) => &after[nl + 1..],
        None => after,
    };
    match body.find("```") {
        Some(close) => body[..close].trim(),
        None => body.trim(),
    }
}

/// Fenced or bare json; failing that, the outermost `{...}` or `[...]` in
/// the reply, since models like to introduce their json with a sentence.
fn parse_json(text: &str) -> Option<serde_json::Value> {
    let body = strip_fence(text);
    if let Ok(j) = serde_json::from_str(body) {
        return Some(j);
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(s), Some(e)) = (body.find(open), body.rfind(close))
            && s < e
            && let Ok(j) = serde_json::from_str(&body[s..=e])
        {
            return Some(j);
        }
    }
    None
}

fn parse_list(text: &str, item: &Type) -> Result<Value, ReplyParseError> {
    let body = strip_fence(text);
    if body.starts_with('[')
        && let Ok(serde_json::Value::Array(items)) = serde_json::from_str(body)
    {
        return items
            .into_iter()
            .enumerate()
            .map(|(i, j)| parse_json_item(j, item).map_err(|e| item_error(i, item, e, text)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List);
    }
    body.lines()
        .map(strip_bullet)
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(i, line)| parse_reply(line, item).map_err(|e| item_error(i, item, e, text)))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::List)
}

fn parse_json_item(j: serde_json::Value, item: &Type) -> Result<Value, ReplyParseError> {
    match (item, j) {
        (Type::Json, j) => Ok(Value::Json(j)),
        (_, serde_json::Value::String(s)) => parse_reply(&s, item),
        (_, other) => parse_reply(&other.to_string(), item),
    }
}

fn item_error(i: usize, item: &Type, e: ReplyParseError, whole: &str) -> ReplyParseError {
    ReplyParseError::new(
        format!(
            "a list of {item} (a json array or one item per line), but item {} was not {}",
            i + 1,
            e.expected
        ),
        whole,
    )
}

/// One list line without its bullet: `-`, `*`, `•`, `+`, `1.` or `1)`.
fn strip_bullet(line: &str) -> &str {
    let line = line.trim();
    for bullet in ["- ", "* ", "• ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return rest.trim();
        }
    }
    if matches!(line, "-" | "*" | "•" | "+") {
        return "";
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0
        && let Some(rest) = line[digits..]
            .strip_prefix('.')
            .or_else(|| line[digits..].strip_prefix(')'))
        && (rest.is_empty() || rest.starts_with(char::is_whitespace))
    {
        return rest.trim();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_json_becomes_placeholders_and_other_values_stay() {
        let json_list = Type::List(Box::new(Type::Json));
        let parsed = parse_reply("[{}, {}]", &json_list).unwrap_or(Value::Int(0));
        assert_eq!(
            invented(parsed, &json_list, "rows"),
            Value::List(vec![
                Value::Placeholder(Placeholder::new("rows[0]")),
                Value::Placeholder(Placeholder::new("rows[1]")),
            ])
        );
        assert_eq!(
            invented(Value::Json(serde_json::json!({})), &Type::Json, "facts"),
            Value::Placeholder(Placeholder::new("facts"))
        );
        assert_eq!(invented(Value::Int(4), &Type::Int, "n"), Value::Int(4));
    }

    #[test]
    fn a_reply_spelling_the_old_placeholder_key_parses_as_plain_json() {
        let text = r#"{"flow_offline_placeholder": true}"#;
        assert_eq!(
            parse_reply(text, &Type::Json),
            Ok(Value::Json(
                serde_json::json!({"flow_offline_placeholder": true})
            ))
        );
    }

    fn ok(text: &str, ty: &Type) -> Value {
        match parse_reply(text, ty) {
            Ok(v) => v,
            Err(e) => panic!("{text:?} as {ty}: {e}"),
        }
    }

    fn err(text: &str, ty: &Type) -> ReplyParseError {
        match parse_reply(text, ty) {
            Ok(v) => panic!("{text:?} as {ty} parsed to {v:?}"),
            Err(e) => e,
        }
    }

    fn union(choices: &[&str]) -> Type {
        Type::Union(choices.iter().map(|c| c.to_string()).collect())
    }

    fn texts(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::Text(s.to_string())).collect())
    }

    #[test]
    fn text_is_kept_but_loses_a_trailing_newline() {
        assert_eq!(ok("  hello\n", &Type::Text), Value::Text("  hello".into()));
        assert_eq!(ok("a\n\nb\r\n", &Type::Text), Value::Text("a\n\nb".into()));
        assert_eq!(ok("", &Type::Text), Value::Text(String::new()));
    }

    #[test]
    fn bool_accepts_yes_no_true_false_in_any_case_with_punctuation() {
        for yes in [
            "yes",
            "Yes.",
            " YES!\n",
            "true",
            "True.",
            "**Yes**",
            "\"yes\"",
            "Yes, it is.",
        ] {
            assert_eq!(ok(yes, &Type::Bool), Value::Bool(true), "{yes:?}");
        }
        for no in [
            "no",
            "No.",
            "FALSE",
            "No, because it is harmless.",
            "no - fine",
            "  no  ",
        ] {
            assert_eq!(ok(no, &Type::Bool), Value::Bool(false), "{no:?}");
        }
    }

    #[test]
    fn bool_rejects_other_answers() {
        for bad in ["maybe", "Not sure", "yesterday", "nope", "", "I think yes"] {
            let e = err(bad, &Type::Bool);
            assert_eq!(e.expected, "yes or no");
        }
        assert_eq!(
            err("maybe", &Type::Bool).to_string(),
            "expected yes or no, but the reply was \"maybe\""
        );
    }

    #[test]
    fn int_takes_the_first_number() {
        assert_eq!(ok("42", &Type::Int), Value::Int(42));
        assert_eq!(ok("About 7 items, maybe 8", &Type::Int), Value::Int(7));
        assert_eq!(ok("-3 degrees", &Type::Int), Value::Int(-3));
        assert_eq!(ok("The answer: 12.0", &Type::Int), Value::Int(12));
        assert_eq!(ok("1e3", &Type::Int), Value::Int(1000));
        // A hyphen inside a word is not a minus sign.
        assert_eq!(ok("gpt-4 says 5", &Type::Int), Value::Int(4));
        assert_eq!(ok("About 1,200 people", &Type::Int), Value::Int(1200));
        assert_eq!(ok("-1,234,567.", &Type::Int), Value::Int(-1_234_567));
        assert_eq!(ok("pick 1,2,3", &Type::Int), Value::Int(1));
        assert_eq!(ok("12345,678", &Type::Int), Value::Int(12345));
        assert_eq!(ok("1,2345", &Type::Int), Value::Int(1));
    }

    #[test]
    fn int_rejects_fractions_and_missing_numbers() {
        let e = err("2.5", &Type::Int);
        assert_eq!(e.expected, "a whole number (the first number was 2.5)");
        assert_eq!(err("none", &Type::Int).expected, "a whole number");
        assert_eq!(
            err("99999999999999999999999", &Type::Int).expected,
            "a whole number (the first number was 99999999999999999999999)"
        );
    }

    #[test]
    fn number_takes_the_first_number() {
        assert_eq!(ok("0.75", &Type::Number), Value::Number(0.75));
        assert_eq!(ok("Score: 8.5/10", &Type::Number), Value::Number(8.5));
        assert_eq!(ok("-1.5e2 K", &Type::Number), Value::Number(-150.0));
        assert_eq!(ok("3em wide", &Type::Number), Value::Number(3.0));
        assert_eq!(ok("x 1.", &Type::Number), Value::Number(1.0));
        assert_eq!(ok("$2,500.75 total", &Type::Number), Value::Number(2500.75));
        assert_eq!(err("NaN", &Type::Number).expected, "a number");
        assert_eq!(err("", &Type::Number).expected, "a number");
    }

    #[test]
    fn union_takes_the_one_choice_named() {
        let ty = union(&["safe", "unsafe", "unclear"]);
        assert_eq!(ok("unsafe", &ty), Value::Text("unsafe".into()));
        assert_eq!(ok("Safe.", &ty), Value::Text("safe".into()));
        assert_eq!(ok("\"UNCLEAR\"", &ty), Value::Text("unclear".into()));
        assert_eq!(
            ok("I would say this is unsafe, really.", &ty),
            Value::Text("unsafe".into())
        );
        // "safe" inside "unsafe" is not a whole word; repeating a choice is fine.
        assert_eq!(
            ok("unsafe. Definitely unsafe", &ty),
            Value::Text("unsafe".into())
        );
    }

    #[test]
    fn union_prefers_the_longer_choice_that_contains_another() {
        let ty = union(&["safe", "not safe"]);
        assert_eq!(ok("It is not safe", &ty), Value::Text("not safe".into()));
        assert_eq!(ok("It is safe", &ty), Value::Text("safe".into()));
    }

    #[test]
    fn union_rejects_zero_or_several_choices() {
        let ty = union(&["safe", "unsafe"]);
        let e = err("no idea", &ty);
        assert_eq!(e.expected, "one of \"safe\", \"unsafe\"");
        let e = err("either safe or unsafe", &ty);
        assert_eq!(
            e.expected,
            "exactly one of \"safe\", \"unsafe\" (the reply names \"safe\" and \"unsafe\")"
        );
        // Not whole words.
        assert!(parse_reply("safely", &ty).is_err());
    }

    #[test]
    fn json_strips_fences_and_finds_embedded_json() {
        let want = Value::Json(serde_json::json!({"a": 1}));
        assert_eq!(ok("{\"a\": 1}", &Type::Json), want);
        assert_eq!(ok("```json\n{\"a\": 1}\n```", &Type::Json), want);
        assert_eq!(
            ok("Here you go:\n```\n{\"a\": 1}\n```\nEnjoy", &Type::Json),
            want
        );
        assert_eq!(ok("The result is {\"a\": 1}.", &Type::Json), want);
        assert_eq!(
            ok("```json\n[1, 2]", &Type::Json),
            Value::Json(serde_json::json!([1, 2]))
        );
        assert_eq!(ok("42", &Type::Json), Value::Json(serde_json::json!(42)));
        let e = err("{not json", &Type::Json);
        assert_eq!(e.expected, "json (optionally in a ``` code fence)");
    }

    #[test]
    fn list_from_a_json_array() {
        let ty = Type::list(Type::Text);
        assert_eq!(ok("[\"a\", \"b\"]", &ty), texts(&["a", "b"]));
        assert_eq!(ok("```json\n[\"a\", 3]\n```", &ty), texts(&["a", "3"]));
        assert_eq!(
            ok("[1, 2, 3]", &Type::list(Type::Int)),
            Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
        );
        assert_eq!(
            ok("[{\"a\": 1}]", &Type::list(Type::Json)),
            Value::List(vec![Value::Json(serde_json::json!({"a": 1}))])
        );
        assert_eq!(
            ok("[[1], [2, 3]]", &Type::list(Type::list(Type::Int))),
            Value::List(vec![
                Value::List(vec![Value::Int(1)]),
                Value::List(vec![Value::Int(2), Value::Int(3)]),
            ])
        );
    }

    #[test]
    fn list_from_lines_with_bullets_stripped() {
        let ty = Type::list(Type::Text);
        let reply = "- apples\n* pears\n\n• plums\n1. figs\n2) kiwis\n+ dates\nplain\n10. limes";
        assert_eq!(
            ok(reply, &ty),
            texts(&[
                "apples", "pears", "plums", "figs", "kiwis", "dates", "plain", "limes"
            ])
        );
        // A number that is not a bullet stays.
        assert_eq!(ok("1.5 kg\n-3", &ty), texts(&["1.5 kg", "-3"]));
        assert_eq!(ok("", &ty), texts(&[]));
        assert_eq!(
            ok("- yes\n- No.", &Type::list(Type::Bool)),
            Value::List(vec![Value::Bool(true), Value::Bool(false)])
        );
    }

    #[test]
    fn list_item_errors_say_which_item() {
        let e = err("- 1\n- two", &Type::list(Type::Int));
        assert_eq!(
            e.expected,
            "a list of int (a json array or one item per line), but item 2 was not a whole number"
        );
        assert_eq!(e.reply, "- 1\n- two");
    }

    #[test]
    fn errors_quote_at_most_200_characters() {
        let long = "x".repeat(500);
        let e = err(&long, &Type::Bool);
        assert_eq!(e.reply.chars().count(), 201);
        assert!(e.reply.ends_with('…'));
        // Multi-byte characters are cut on a boundary.
        let e = err(&"é".repeat(300), &Type::Int);
        assert_eq!(e.reply.chars().count(), 201);
    }

    #[test]
    fn records_are_not_reply_types() {
        let record = Type::Record(Default::default());
        assert!(parse_reply("x", &record).is_err());
        let bug = unparsable_type(&Type::List(Box::new(record))).expect("a bug");
        assert!(bug.to_string().ends_with("this is a bug in flow"), "{bug}");
        assert!(unparsable_type(&Type::List(Box::new(Type::Int))).is_none());
    }

    proptest::proptest! {
        /// Whatever the text, parsing returns a value or an error.
        #[test]
        fn never_panics(
            text in r#"(?s)[-+.,0-9eE \n*•)\[\]{}"`a-zé]{0,40}|\PC{0,40}"#,
            ty in crate::types::any_value_type(),
        ) {
            let _ = parse_reply(&text, &ty);
        }
    }
}

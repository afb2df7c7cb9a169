//! Parsing a model's reply into the type declared with `as`.
//!
//! Models rarely answer in exactly the requested shape, so each type accepts
//! the forms a reasonable reader would, and the rules are one table in
//! `docs/language.md` ("How replies are read"), each row with a test in
//! `reply/tests.rs`. Numbers come from the explicit final answer (`Answer:
//! 150`, `\boxed{150}`), else the last number, so chain-of-thought replies
//! read right; whatever a reply echoes of its prompt is skipped first; a
//! yes/no or a choice comes from the answer line or the first word; JSON and
//! records come out of fences and prose. Anything still ambiguous (a union
//! reply naming two choices) is an error, because the runtime retries
//! unparsable replies and a wrong guess would be silent; the error's
//! `expected` says what was wrong in words a model can act on when asked
//! again.

mod answer;
mod json;
#[cfg(test)]
mod tests_table;

use indexmap::IndexMap;
use serde_json::Value as Json;

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
    /// What the reply should have been, and for a record which field was
    /// wrong: short enough to send back to the model when asking again.
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

/// [`parse_reply_to`] without a prompt to recognise echoes of.
#[cfg(test)]
pub fn parse_reply(text: &str, ty: &Type) -> Result<Value, ReplyParseError> {
    parse_reply_to(text, ty, None)
}

/// The reply to `prompt` read as `ty`. Text is kept as it is; for every
/// other type, what the reply echoes of the prompt is skipped first, so a
/// number or a choice restated from the question is never taken for the
/// answer.
pub fn parse_reply_to(
    text: &str,
    ty: &Type,
    prompt: Option<&str>,
) -> Result<Value, ReplyParseError> {
    match ty {
        // The checker refuses `as chat`; read as text if one ever got here.
        Type::Text | Type::Chat | Type::Unknown => {
            Ok(Value::Text(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
        Type::Optional(inner) => parse_reply_to(text, inner, prompt),
        _ => {
            let scalar = matches!(ty, Type::Bool | Type::Int | Type::Number | Type::Union(_));
            let body = answer::without_echo(text, prompt, scalar);
            read(&body, ty).map_err(|expected| ReplyParseError::new(expected, text))
        }
    }
}

/// `text` as `ty`, or what was expected instead.
fn read(text: &str, ty: &Type) -> Result<Value, String> {
    match ty {
        // The checker refuses `as chat`; read as text if one ever got here.
        Type::Text | Type::Chat | Type::Unknown => {
            Ok(Value::Text(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
        Type::Optional(inner) => read(text, inner),
        Type::Bool => read_bool(text),
        Type::Int => read_number(text)
            .map_err(|why| format!("a whole number{why}"))
            .and_then(|n| whole(&n)),
        Type::Number => read_number(text)
            .map_err(|why| format!("a number{why}"))
            .and_then(|n| {
                n.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(Value::Number)
                    .ok_or_else(|| "a number".to_string())
            }),
        Type::Union(choices) => read_choice(text, choices).map(Value::Text),
        Type::Json => json::extract(text, false)
            .map(Value::Json)
            .ok_or_else(|| "json (optionally in a ``` code fence)".to_string()),
        Type::List(item) => read_list(text, item),
        Type::Record(fields) => {
            let Some(Json::Object(mut object)) = json::extract(text, true) else {
                return Err(format!(
                    "{} (the reply has no JSON object)",
                    describe_record(fields)
                ));
            };
            // `{"Verdict": {...}}`: the object wrapped in one named after it.
            if let Some(Json::Object(inner)) = unwrap_one(&object, fields) {
                object = inner;
            }
            record(&object, fields, "")
                .map_err(|problem| format!("{} ({problem})", describe_record(fields)))
        }
    }
}

/// The object inside a one-key object, when the outer one has none of the
/// record's fields and the inner one has some.
fn unwrap_one(
    object: &serde_json::Map<String, Json>,
    fields: &IndexMap<String, Type>,
) -> Option<Json> {
    if object.len() != 1 || fields.keys().any(|f| object.contains_key(f)) {
        return None;
    }
    match object.values().next()? {
        Json::Object(inner) if fields.keys().any(|f| inner.contains_key(f)) => {
            Some(Json::Object(inner.clone()))
        }
        _ => None,
    }
}

/// `{"answer": X}`: the one value of a one-field JSON object, which is how
/// a model in JSON mode wraps a plain answer.
fn wrapped(text: &str) -> Option<String> {
    let t = json::fenced(text).unwrap_or(text).trim();
    if !t.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Json>(t).ok()? {
        Json::Object(map) if map.len() == 1 => match map.into_iter().next()?.1 {
            Json::String(s) => Some(s),
            other => Some(other.to_string()),
        },
        _ => None,
    }
}

/// The digits of the number a reply answers with (see `answer`), or why
/// there is none, to follow "a number".
fn read_number(text: &str) -> Result<String, &'static str> {
    // LaTeX writes a thousands separator as `{,}`; typography, a minus as `−`.
    let text = &text.replace("{,}", ",").replace('\u{2212}', "-");
    let seg = answer::final_answer(text);
    if seg.is_none() && answer::is_refusal(text) {
        return Err(" (the reply declines to answer)");
    }
    if let Some(n) = seg.and_then(answer::segment_number) {
        return Ok(n);
    }
    if let Some(inner) = wrapped(text) {
        return read_number(&inner);
    }
    if let Some(n) = answer::leading_number(text) {
        return Ok(n);
    }
    if let Some(n) = answer::last_bold_number(text).and_then(answer::last_answer_number) {
        return Ok(n);
    }
    if let Some(n) = answer::last_line_result(text) {
        return Ok(n);
    }
    answer::last_answer_number(text).ok_or("")
}

/// `3`, `3.0` or `1e3`, but not `2.5`.
fn whole(n: &str) -> Result<Value, String> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    match n.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Value::Int(x as i64)),
        _ => Err(format!("a whole number (the answer was {n})")),
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
        (Type::Optional(inner), value) => invented(value, inner, path),
        (Type::List(item), Value::List(items)) => Value::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| invented(v, item, &format!("{path}[{i}]")))
                .collect(),
        ),
        (Type::Record(types), Value::Record(fields)) => Value::Record(
            fields
                .into_iter()
                .map(|(name, v)| {
                    let v = match types.get(&name) {
                        Some(t) => invented(v, t, &format!("{path}.{name}")),
                        None => v,
                    };
                    (name, v)
                })
                .collect(),
        ),
        (_, value) => value,
    }
}

/// The first word, as `yes`/`no`/`true`/`false`.
fn first_word_bool(text: &str) -> Option<bool> {
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

/// The answer line's first word, else the reply's, else its last line's:
/// `"Yes."`, `"**No**"`, `"No, because ..."` and a chain of thought ending
/// in `"Answer: yes"` or a last line `"No."` all count.
fn read_bool(text: &str) -> Result<Value, String> {
    let seg = answer::final_answer(text);
    if seg.is_none() && answer::is_refusal(text) {
        return Err("yes or no (the reply declines to answer)".into());
    }
    seg.and_then(first_word_bool)
        .or_else(|| wrapped(text).and_then(|w| first_word_bool(&w)))
        .or_else(|| first_word_bool(text))
        .or_else(|| {
            answer::bold_spans(text)
                .into_iter()
                .rev()
                .find_map(|b| first_word_bool(b).filter(|_| b.split_whitespace().count() == 1))
        })
        .or_else(|| last_line(text).and_then(first_word_bool))
        .map(Value::Bool)
        .ok_or_else(|| "yes or no".to_string())
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// The choice of the answer line, else the one the reply opens with, else
/// the one choice the reply names anywhere, else its last line's.
fn read_choice(text: &str, choices: &[String]) -> Result<String, String> {
    let seg = answer::final_answer(text);
    if seg.is_none() && answer::is_refusal(text) {
        return Err(format!(
            "{} (the reply declines to answer)",
            one_of(choices)
        ));
    }
    if let Some(c) = seg.and_then(|s| parse_choice(s, choices).ok()) {
        return Ok(c);
    }
    if let Some(c) = wrapped(text).and_then(|w| parse_choice(&w, choices).ok()) {
        return Ok(c);
    }
    if let Some(c) = opening_choice(text, choices) {
        return Ok(c);
    }
    // A choice the reply marks in bold (`the message is **unsafe**`).
    let bold: Vec<String> = answer::bold_spans(text)
        .into_iter()
        .filter_map(|b| {
            let bare = crate::runtime::vote::normalize_text(b);
            let bare = bare.trim_matches(|c: char| !c.is_alphanumeric());
            choices
                .iter()
                .find(|c| crate::runtime::vote::normalize_text(c) == bare)
                .cloned()
        })
        .collect();
    if let Some(last) = bold.last() {
        return Ok(last.clone());
    }
    match parse_choice(text, choices) {
        Ok(c) => Ok(c),
        Err(e) => match last_line(text).map(|l| parse_choice(l, choices)) {
            Some(Ok(c)) if text.trim().lines().count() > 1 => Ok(c),
            _ => Err(e),
        },
    }
}

fn one_of(choices: &[String]) -> String {
    format!(
        "one of {}",
        choices
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The longest choice the reply starts with as whole words (`"Unsafe. It
/// mentions ..."`), Markdown and quotes before it ignored.
fn opening_choice(text: &str, choices: &[String]) -> Option<String> {
    let reply = crate::runtime::vote::normalize_text(text);
    let reply = reply.trim_start_matches(|c: char| !c.is_alphanumeric());
    choices
        .iter()
        .filter(|c| {
            let needle = crate::runtime::vote::normalize_text(c);
            !needle.is_empty()
                && reply.starts_with(&needle)
                && !reply[needle.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .max_by_key(|c| c.len())
        .cloned()
}

/// The one choice the reply names, matched case-insensitively as whole words.
/// A choice found only inside a longer matching choice (`safe` inside
/// `not safe`) does not count separately.
fn parse_choice(text: &str, choices: &[String]) -> Result<String, String> {
    let expected = || one_of(choices);
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
        [only] => choices.get(*only).cloned().ok_or_else(expected),
        [] => Err(expected()),
        several => Err(format!(
            "exactly {} (the reply names {})",
            expected(),
            several
                .iter()
                .filter_map(|&i| choices.get(i))
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

/// A JSON array (the whole reply, fenced, or the one array of a one-field
/// object), else one item per line: when some lines are bulleted or
/// numbered, those lines only (so "Here are the items:" and a closing remark
/// are not items), bullets stripped; otherwise every non-empty line but a
/// first one ending in `:`.
fn read_list(text: &str, item: &Type) -> Result<Value, String> {
    let body = json::fenced(text).unwrap_or(text).trim();
    let array = match serde_json::from_str::<Json>(body).ok() {
        Some(Json::Array(items)) => Some(items),
        Some(Json::Object(map)) if map.len() == 1 => match map.into_iter().next() {
            Some((_, Json::Array(items))) => Some(items),
            _ => None,
        },
        _ if body.starts_with('[') => match json::extract(body, false) {
            Some(Json::Array(items)) => Some(items),
            _ => None,
        },
        _ => None,
    };
    if let Some(items) = array {
        return items
            .iter()
            .enumerate()
            .map(|(i, j)| from_json(j, item).map_err(|e| item_error(i, item, &e)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List);
    }
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let bulleted: Vec<&str> = lines.iter().filter_map(|l| bullet_item(l)).collect();
    let mut items: Vec<&str> = if bulleted.is_empty() {
        match lines.split_first() {
            Some((first, rest)) if first.ends_with(':') && !rest.is_empty() => rest.to_vec(),
            _ => lines,
        }
    } else {
        bulleted
    };
    // One line of items separated by commas: `Paris, London and Rome`.
    if let [only] = items.as_slice()
        && only.contains(',')
        && !matches!(item, Type::Json | Type::Record(_) | Type::List(_))
    {
        let only = only.trim_end_matches('.');
        // `Cities: Paris, London`: a label before the items.
        let only = match only.split_once(": ") {
            Some((label, rest)) if !label.contains(',') => rest,
            _ => only,
        };
        let mut parts: Vec<&str> = only
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(last) = parts.pop() {
            let last = last
                .strip_prefix("and ")
                .or_else(|| last.strip_prefix("or "))
                .unwrap_or(last);
            // `London and Rome` after the last comma, without an Oxford comma.
            match last.split_once(" and ") {
                Some((a, b)) if !parts.is_empty() => parts.extend([a.trim(), b.trim()]),
                _ => parts.push(last),
            }
        }
        items = parts;
    }
    items
        .into_iter()
        .map(unbold)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| read(line, item).map_err(|e| item_error(i, item, &e)))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::List)
}

/// An item written all in bold, `**Paris**`, without the asterisks.
fn unbold(item: &str) -> &str {
    match item.strip_prefix("**").and_then(|i| i.strip_suffix("**")) {
        Some(inner) if !inner.contains("**") => inner.trim(),
        _ => item,
    }
}

fn item_error(i: usize, item: &Type, expected: &str) -> String {
    format!(
        "a list of {item} (a json array or one item per line), but item {} was not {expected}",
        i + 1,
    )
}

/// The item of a bulleted or numbered line, if it is one.
fn bullet_item(line: &str) -> Option<&str> {
    let stripped = strip_bullet(line);
    (stripped.len() != line.trim().len()).then_some(stripped)
}

/// What a value of `ty` is, in words a model reads (`a whole number`,
/// `one of "safe", "unsafe"`, `a JSON object with fields verdict, reason`):
/// the words of every parse error, and ready for format instructions.
pub(crate) fn describe(ty: &Type) -> String {
    match ty {
        Type::Text | Type::Unknown => "text".into(),
        Type::Chat => "a conversation".into(),
        Type::Bool => "true or false".into(),
        Type::Int => "a whole number".into(),
        Type::Number => "a number".into(),
        Type::Json => "any JSON value".into(),
        Type::Union(choices) => one_of(choices),
        Type::List(item) => format!("a list of {}", describe(item)),
        Type::Record(fields) => describe_record(fields),
        Type::Optional(inner) => describe(inner),
    }
}

/// `a JSON object with fields verdict, reason, note (optional)`.
fn describe_record(fields: &IndexMap<String, Type>) -> String {
    let names: Vec<String> = fields
        .iter()
        .map(|(name, t)| match t {
            Type::Optional(_) => format!("{name} (optional)"),
            _ => name.clone(),
        })
        .collect();
    if names.is_empty() {
        "a JSON object".into()
    } else {
        format!("a JSON object with fields {}", names.join(", "))
    }
}

/// The fields of `object` read by their types; extra keys are dropped, a
/// key differing only in case is accepted, an absent or `null` optional
/// field reads as its type's empty value. `Err` says which field is wrong.
fn record(
    object: &serde_json::Map<String, Json>,
    fields: &IndexMap<String, Type>,
    path: &str,
) -> Result<Value, String> {
    let mut out = IndexMap::with_capacity(fields.len());
    for (name, ty) in fields {
        let at = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let given = object.get(name).or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        });
        let value = match (given, ty) {
            (None | Some(Json::Null), Type::Optional(inner)) => inner
                .empty_value()
                .ok_or_else(|| format!("field `{at}` is missing"))?,
            (None, _) => return Err(format!("field `{at}` is missing")),
            (Some(Json::Null), _) => {
                return Err(format!(
                    "field `{at}` is null; it should be {}",
                    describe(ty)
                ));
            }
            (Some(j), ty) => field(j, ty, &at)?,
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Record(out))
}

/// One field's JSON read as its type; `Err` names the field.
fn field(j: &Json, ty: &Type, at: &str) -> Result<Value, String> {
    match (ty, j) {
        (Type::Record(fields), Json::Object(o)) => record(o, fields, at),
        (Type::List(item), Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, j)| field(j, item, &format!("{at}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        _ => from_json(j, ty).map_err(|_| {
            format!(
                "field `{at}` should be {}, but it is {}",
                describe(ty),
                crate::text::shorten(&j.to_string(), 40)
            )
        }),
    }
}

/// A JSON value (an input given as JSON) as `ty`, by the rules record
/// fields follow; `Err` says which field is wrong and what it should be.
pub(crate) fn from_json_value(j: &Json, ty: &Type) -> Result<Value, String> {
    match (ty, j) {
        (Type::Record(fields), Json::Object(o)) => record(o, fields, ""),
        (Type::Record(fields), _) => Err(format!("expected {}", describe_record(fields))),
        _ => from_json(j, ty),
    }
}

/// A JSON value as `ty`: numbers, booleans and strings are converted where
/// the meaning is plain (`"3"` or `3.0` for an int, `"Yes"` for a bool, any
/// case of a choice); `Err` is what was expected.
fn from_json(j: &Json, ty: &Type) -> Result<Value, String> {
    match (ty, j) {
        (Type::Json, j) => Ok(Value::Json(j.clone())),
        (Type::Optional(inner), Json::Null) => inner.empty_value().ok_or_else(|| describe(inner)),
        (Type::Optional(inner), j) => from_json(j, inner),
        (Type::Text | Type::Unknown, Json::String(s)) => Ok(Value::Text(s.clone())),
        (Type::Text | Type::Unknown, Json::Null) => Err("text".into()),
        (Type::Text | Type::Unknown, other) => Ok(Value::Text(other.to_string())),
        (Type::Int, Json::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Value::Int(i)),
            None => whole(&n.to_string()),
        },
        (Type::Number, Json::Number(n)) => n
            .as_f64()
            .map(Value::Number)
            .ok_or_else(|| "a number".to_string()),
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Union(choices), Json::String(s)) => parse_choice(s, choices).map(Value::Text),
        (Type::Record(fields), Json::Object(o)) => record(o, fields, "")
            .map_err(|problem| format!("{} ({problem})", describe_record(fields))),
        (Type::List(item), Json::Array(items)) => items
            .iter()
            .map(|j| from_json(j, item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        (
            Type::Int | Type::Number | Type::Bool | Type::List(_) | Type::Record(_),
            Json::String(s),
        ) => read(s, ty),
        _ => Err(describe(ty)),
    }
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
    fn int_takes_the_last_number_without_an_answer_line() {
        assert_eq!(ok("42", &Type::Int), Value::Int(42));
        assert_eq!(ok("About 7 items, maybe 8", &Type::Int), Value::Int(8));
        assert_eq!(ok("-3 degrees", &Type::Int), Value::Int(-3));
        assert_eq!(ok("The answer: 12.0", &Type::Int), Value::Int(12));
        assert_eq!(ok("1e3", &Type::Int), Value::Int(1000));
        // A hyphen inside a word is not a minus sign.
        assert_eq!(ok("says 5 on gpt-4", &Type::Int), Value::Int(4));
        assert_eq!(ok("About 1,200 people", &Type::Int), Value::Int(1200));
        assert_eq!(ok("-1,234,567.", &Type::Int), Value::Int(-1_234_567));
        assert_eq!(ok("pick 1,2,3", &Type::Int), Value::Int(3));
        assert_eq!(ok("12345,678", &Type::Int), Value::Int(678));
        assert_eq!(ok("1,2345", &Type::Int), Value::Int(2345));
    }

    #[test]
    fn int_rejects_fractions_and_missing_numbers() {
        let e = err("2.5", &Type::Int);
        assert_eq!(e.expected, "a whole number (the answer was 2.5)");
        assert_eq!(err("none", &Type::Int).expected, "a whole number");
        assert_eq!(
            err("99999999999999999999999", &Type::Int).expected,
            "a whole number (the answer was 99999999999999999999999)"
        );
    }

    #[test]
    fn number_takes_the_last_number_but_not_a_denominator() {
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
                "apples", "pears", "plums", "figs", "kiwis", "dates", "limes"
            ])
        );
        // Without bullets, every line is an item.
        assert_eq!(ok("a\nb\n\nc", &ty), texts(&["a", "b", "c"]));
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

    proptest::proptest! {
        /// Whatever the text and the prompt it may echo, parsing returns a
        /// value or an error.
        #[test]
        fn never_panics(
            text in r#"(?s)[-+.,0-9eE \n*•)\[\]{}"`a-zéİẞ:]{0,40}|\PC{0,40}"#,
            prompt in r#"(?s)[-+.,0-9 \n*:a-zéİẞ]{0,30}|\PC{0,30}"#,
            ty in crate::types::any_value_type(),
        ) {
            let _ = parse_reply(&text, &ty);
            let _ = parse_reply_to(&text, &ty, Some(&prompt));
            let echoed = format!("{prompt}\n{text}");
            let _ = parse_reply_to(&echoed, &ty, Some(&prompt));
        }

        /// The same, from the pieces the extraction rules look for, so the
        /// answer-line, boxed, bold, fence and JSON paths are all reached.
        #[test]
        fn never_panics_on_answer_shaped_text(
            tokens in proptest::collection::vec(proptest::sample::select(&[
                "Answer:", "the answer is", "Final answer:", "\\boxed{", "}", "**", "=",
                "1,234", "-3.5", "8/10", "İ", "ẞ", "é", "\n", " ", "```json", "```", "{",
                "[", "]", ",", "\"a\"", ":", "yes", "No.", "- ", "1.", "I can't",
            ][..]), 0..30),
            ty in crate::types::any_value_type(),
        ) {
            let text = tokens.concat();
            let prompt = tokens.iter().rev().copied().collect::<String>();
            let _ = parse_reply_to(&text, &ty, Some(&prompt));
            let _ = parse_reply_to(&text, &ty, Some(&text));
        }
    }
}

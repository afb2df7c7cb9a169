//! JSON as models write it: in a ```json fence, after a sentence, with a
//! trailing comma or a `// comment` a strict parser refuses.

use serde_json::Value as Json;

/// The JSON value a reply holds, trying in turn: the body of a ```json (or
/// bare ```) fence, the whole reply, then each `{` or `[` in the reply with
/// its balanced closer; each candidate strictly first, then repaired
/// (comments and trailing commas removed). `want_object` skips arrays, for
/// a record reply whose prose mentions a `[1]`.
pub(super) fn extract(text: &str, want_object: bool) -> Option<Json> {
    let fits = |j: &Json| !want_object || j.is_object();
    let mut candidates: Vec<&str> = Vec::new();
    if let Some(body) = fenced(text) {
        candidates.push(body);
    }
    candidates.push(text.trim());
    for candidate in candidates {
        if let Some(j) = parse_lenient(candidate).filter(fits) {
            return Some(j);
        }
    }
    // Each opener costs a scan to its closer; a reply with hundreds of
    // braces in prose is not worth quadratic time.
    let mut tries = 0;
    for (start, c) in text.char_indices() {
        if c != '{' && (c != '[' || want_object) {
            continue;
        }
        tries += 1;
        if tries > MAX_TRIES {
            break;
        }
        if let Some(end) = balanced_end(&text[start..])
            && let Some(j) = parse_lenient(&text[start..start + end]).filter(fits)
        {
            return Some(j);
        }
    }
    None
}

/// Openers tried before giving up.
const MAX_TRIES: usize = 32;

fn parse_lenient(s: &str) -> Option<Json> {
    if s.is_empty() {
        return None;
    }
    serde_json::from_str(s)
        .ok()
        .or_else(|| serde_json::from_str(&repair(s)).ok())
        .or_else(|| {
            // Python's spelling, as small models write it: `{'a': True}`.
            let python = !s.contains('"')
                && (s.contains('\'')
                    || s.contains("True")
                    || s.contains("False")
                    || s.contains("None"));
            python.then(|| serde_json::from_str(&repair(&pythonic(s))).ok())?
        })
}

/// `{'a': True, 'b': None}` as JSON: single quotes made double, and
/// `True`, `False`, `None` outside strings made `true`, `false`, `null`.
/// Only tried when the text has no double quote, so no string is split.
fn pythonic(s: &str) -> String {
    let swapped = s.replace('\'', "\"");
    let mut out = String::with_capacity(swapped.len());
    let mut strings = Strings::default();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "True" => "true",
            "False" => "false",
            "None" => "null",
            w => w,
        });
        word.clear();
    };
    for c in swapped.chars() {
        if strings.take(c) {
            out.push(c);
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        out.push(c);
    }
    flush(&mut word, &mut out);
    out
}

/// Where a scan of JSON-like text stands with respect to strings, so the
/// scans below skip what is quoted the same way.
#[derive(Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Feeds the next character: true when it lies inside a string or
    /// closes one. An opening quote enters a string and gives false, so the
    /// caller sees it as the start of one.
    fn take(&mut self, c: char) -> bool {
        if !self.inside {
            self.inside = c == '"';
            return false;
        }
        match c {
            _ if self.escaped => self.escaped = false,
            '\\' => self.escaped = true,
            '"' => self.inside = false,
            _ => {}
        }
        true
    }
}

/// The body of the first fence, preferring a ```json one; the language tag
/// on the opening line is dropped and an unclosed fence runs to the end.
pub(super) fn fenced(text: &str) -> Option<&str> {
    let open = text
        .find("```json")
        .or_else(|| text.find("```JSON"))
        .or_else(|| text.find("```"))?;
    let after = &text[open + 3..];
    let body = match after.find('\n') {
        Some(nl) => &after[nl + 1..],
        None => after,
    };
    Some(match body.find("```") {
        Some(close) => body[..close].trim(),
        None => body.trim(),
    })
}

/// The length of the JSON-like value `s` opens with, up to its matching
/// closer, skipping brackets inside strings.
fn balanced_end(s: &str) -> Option<usize> {
    let mut stack: Vec<char> = Vec::new();
    let mut strings = Strings::default();
    for (i, c) in s.char_indices() {
        if strings.take(c) {
            continue;
        }
        match c {
            '{' => stack.push('}'),
            '[' => stack.push(']'),
            '}' | ']' => {
                if stack.pop() != Some(c) {
                    return None;
                }
                if stack.is_empty() {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The text without `//` comments to the end of a line and without commas
/// right before a `}` or `]`, outside strings.
fn repair(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut strings = Strings::default();
    while let Some(c) = chars.next() {
        if strings.take(c) {
            out.push(c);
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ',' => {
                let next = chars.clone().find(|n| !n.is_whitespace());
                if !matches!(next, Some('}' | ']')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repair_drops_comments_and_trailing_commas_outside_strings() {
        assert_eq!(
            serde_json::from_str::<Json>(&repair("{\"a\": 1, // one\n\"b\": \"x,}\",}")).ok(),
            Some(json!({"a": 1, "b": "x,}"}))
        );
        assert_eq!(
            serde_json::from_str::<Json>(&repair("[1, 2, ]")).ok(),
            Some(json!([1, 2]))
        );
        assert_eq!(repair("\"http://x\""), "\"http://x\"");
    }

    #[test]
    fn python_dicts_read_as_json() {
        assert_eq!(
            parse_lenient("{'a': True, 'b': None, 'c': 'None of it', 'd': [False,]}"),
            Some(json!({"a": true, "b": null, "c": "None of it", "d": [false]}))
        );
    }

    #[test]
    fn balanced_values_skip_brackets_in_strings() {
        assert_eq!(balanced_end("{\"a\": \"}\"} tail"), Some(10));
        assert_eq!(balanced_end("{[}"), None);
        assert_eq!(balanced_end("{"), None);
    }
}

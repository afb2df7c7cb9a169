//! Where a reply states its answer: what is left after an echoed prompt, the
//! explicit final answer (`Answer: X`, `\boxed{X}`), a refusal, and every
//! number with its place, so the readers of each type share one idea of
//! "the answer" (the table in `docs/language.md`, "How replies are read").

/// The reply without what it echoed of the prompt: the prompt itself at the
/// start, and (with `lines`) any line that repeats a line of the prompt.
/// Models (small local ones especially) often restate the question before
/// answering, and a number or a choice inside that restatement is not their
/// answer. Lines shorter than [`ECHO_MIN`] are kept, since an answer line
/// may well equal a short prompt line (`Answer:`). Lists and JSON skip only
/// the prefix: their items may rightly repeat lines of the prompt.
pub(super) fn without_echo(reply: &str, prompt: Option<&str>, lines: bool) -> String {
    let Some(prompt) = prompt.map(str::trim).filter(|p| !p.is_empty()) else {
        return reply.to_string();
    };
    let mut rest = reply.trim_start();
    if let Some(after) = rest.strip_prefix(prompt) {
        rest = after;
    }
    if !lines {
        return if rest.trim().is_empty() {
            reply.to_string()
        } else {
            rest.to_string()
        };
    }
    let prompt_lines: std::collections::HashSet<&str> = prompt
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= ECHO_MIN)
        .collect();
    let kept: Vec<&str> = rest
        .lines()
        .filter(|line| {
            let t = line.trim().trim_start_matches(['>', '*', '#', ' ']);
            let t = strip_label(t);
            !prompt_lines.contains(&t.trim())
        })
        .collect();
    let out = kept.join("\n");
    // An echo and nothing else: the echo is all there is to read.
    if out.trim().is_empty() {
        reply.to_string()
    } else {
        out
    }
}

/// Lines at least this long that also appear in the prompt are echoes.
const ECHO_MIN: usize = 12;

/// `Question: ...` or `Q: ...`, as models label an echoed question.
fn strip_label(line: &str) -> &str {
    for label in ["Question:", "question:", "Q:", "Prompt:"] {
        if let Some(rest) = line.strip_prefix(label) {
            return rest.trim_start();
        }
    }
    line
}

/// The explicit final answer, if the reply gives one: the last `\boxed{X}`,
/// else the text after the last `answer:`, `answer is`, `answer =` or
/// `final answer` (any case, Markdown emphasis around it ignored) to the
/// end of its line, or the next line when that one is empty.
pub(super) fn final_answer(text: &str) -> Option<&str> {
    if let Some(boxed) = last_boxed(text) {
        return Some(boxed);
    }
    let lower = text.to_ascii_lowercase();
    let mut best = None;
    for (at, _) in lower.match_indices("answer") {
        let before = lower[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        let after = &text[at + "answer".len()..];
        // `Answer:`, `**Answer:**`, `answer is`, `answer =`, `Answer -`.
        let rest = after.trim_start_matches(['*', '_', ' ', '\t']);
        let rest = if let Some(r) = rest.strip_prefix([':', '=', '-']) {
            r
        } else if let Some(r) = strip_word(rest, "is") {
            r.trim_start().strip_prefix(':').unwrap_or(r)
        } else {
            continue;
        };
        best = Some(rest);
    }
    let rest = best?;
    let rest = rest.trim_start_matches(['*', '_', ' ', '\t']);
    let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
    let line = line.trim();
    if !line.trim_matches(['*', '_', '.']).is_empty() {
        return Some(line);
    }
    after.lines().map(str::trim).find(|l| !l.is_empty())
}

/// `word` at the start of `text` as a whole word, and what follows it.
fn strip_word<'t>(text: &'t str, word: &str) -> Option<&'t str> {
    let rest = text.strip_prefix(word)?;
    match rest.chars().next() {
        Some(c) if c.is_alphanumeric() => None,
        _ => Some(rest),
    }
}

/// The contents of the last `\boxed{...}`, braces balanced.
fn last_boxed(text: &str) -> Option<&str> {
    let at = text.rfind("\\boxed{")?;
    let body = &text[at + "\\boxed{".len()..];
    let mut depth = 1usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(body[..i].trim());
                }
            }
            _ => {}
        }
    }
    None
}

/// The contents of the last `**...**` span that is short and holds a digit:
/// a model's way of marking the number it settled on.
pub(super) fn last_bold_number(text: &str) -> Option<&str> {
    bold_spans(text)
        .into_iter()
        .rfind(|b| b.chars().any(|c| c.is_ascii_digit()))
}

/// The short `**...**` spans of the text, in order: what a model marks as
/// its answer ("I would say **no**").
pub(super) fn bold_spans(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("**") {
        let body_start = open + 2;
        let Some(len) = rest[body_start..].find("**") else {
            break;
        };
        let body = &rest[body_start..body_start + len];
        if body.chars().count() <= 24 {
            found.push(body.trim());
        }
        rest = &rest[body_start + len + 2..];
    }
    found
}

/// Whether the reply opens by declining to answer ("I can't help with
/// that", "I'm sorry, but ..."). Such a reply has no value to read, even if
/// it mentions a number or a choice, so it is unparsable and retried.
pub(super) fn is_refusal(text: &str) -> bool {
    const OPENINGS: [&str; 13] = [
        "i can't",
        "i can’t",
        "i cannot",
        "i'm sorry",
        "i’m sorry",
        "i am sorry",
        "sorry, but",
        "sorry, i",
        "i'm unable",
        "i am unable",
        "i'm not able",
        "i won't",
        "as an ai",
    ];
    let start = text
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    OPENINGS.iter().any(|o| start.starts_with(o))
}

/// A number in the text with where it is.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Found {
    /// The digits as written, without thousands separators.
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// `,ddd` at `i`, not followed by another digit.
fn is_group(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&b',')
        && (1..=3).all(|k| bytes.get(i + k).is_some_and(u8::is_ascii_digit))
        && !bytes.get(i + 4).is_some_and(u8::is_ascii_digit)
}

/// Every number in the text, in order: an optional sign (only where it
/// cannot be a hyphen inside a word), digits with optional thousands
/// separators (`1,234`), an optional fraction and exponent.
pub(super) fn numbers(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let starts_digit = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_digit);
        let sign_ok = (c == b'-' || c == b'+')
            && starts_digit(i + 1)
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if !(c.is_ascii_digit() || sign_ok) {
            i += 1;
            continue;
        }
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
        if let Some(n) = text.get(start..i) {
            out.push(Found {
                text: n.replace(',', ""),
                start,
                end: i,
            });
        }
    }
    out
}

/// The number a reply without an explicit answer settles on: the last one,
/// passing over those that are not answers — a denominator (`8/10`,
/// `7 out of 10`), a step or list number (`Step 3`, `2.` opening a line).
pub(super) fn last_answer_number(text: &str) -> Option<String> {
    let found = numbers(text);
    let mut pick = None;
    for (i, n) in found.iter().enumerate() {
        let before = &text[..n.start];
        if i > 0 {
            let gap = text[found[i - 1].end..n.start].trim().to_ascii_lowercase();
            if gap == "/" || gap == "out of" {
                continue;
            }
        }
        let word_before = before.trim_end().to_ascii_lowercase();
        if word_before.ends_with("step") || word_before.ends_with("part") {
            continue;
        }
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        let opens_line = text[line_start..n.start]
            .trim_start_matches(['#', '*', ' ', '\t'])
            .is_empty();
        let after = &text[n.end..];
        let list_marker = opens_line
            && (after.starts_with(". ") || after.starts_with(") ") || after.starts_with(':'))
            && !n.text.contains('.');
        if list_marker && i + 1 < found.len() {
            continue;
        }
        pick = Some(n.text.clone());
    }
    pick
}

/// The number an answer segment (`Answer: X`) gives: a bold one, else the
/// result after the last `=`, else the first.
pub(super) fn segment_number(segment: &str) -> Option<String> {
    if let Some(n) = last_bold_number(segment).and_then(last_answer_number) {
        return Some(n);
    }
    let tail = segment.rsplit_once('=').map_or(segment, |(_, t)| t);
    numbers(tail)
        .into_iter()
        .next()
        .or_else(|| numbers(segment).into_iter().next())
        .map(|n| n.text)
}

/// The result of a calculation on the reply's last line: the first number
/// after its last `=` (`"so 7 * 3 = 21 days in 3 weeks"` is 21), since a
/// reply that ends on a calculation ends on its answer.
pub(super) fn last_line_result(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let (_, tail) = line.rsplit_once('=')?;
    numbers(tail).into_iter().next().map(|n| n.text)
}

/// A first line that is a number and at most a unit (`150`, `**150 km**`,
/// `$150.`): the answer stated before an explanation, whose own numbers
/// come later.
pub(super) fn leading_number(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let found = numbers(line);
    let [only] = found.as_slice() else {
        return None;
    };
    // `Step 1` or `Total 150` is a heading or a sentence, not a bare answer.
    if line[..only.start].chars().any(char::is_alphabetic) || line.ends_with(':') {
        return None;
    }
    let words = line[only.end..]
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .count();
    (words <= 1).then(|| only.text.clone())
}

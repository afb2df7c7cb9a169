//! String literals: escapes, triple-quote dedent and `{name}` interpolation.
//!
//! Decoding works on the raw source bytes of each line, never on already
//! decoded text, so every interpolation span points at the exact bytes of the
//! original file, whatever escapes or indentation came before it.

use super::Span;
use super::ast::{Ident, Interp, Template, TemplatePart};
use super::error::SyntaxError;
use super::parser::KEYWORDS;

/// Decodes the string token `raw` found at byte `offset` of the source.
/// Errors are pushed to `errors`; the template is still returned (with the
/// bad parts dropped) so the caller can keep going.
pub fn decode(raw: &str, offset: usize, errors: &mut Vec<SyntaxError>) -> Template {
    let span = Span::new(offset, offset + raw.len());
    let mut out = Parts::default();
    let mut mixed_indent = None;
    if raw.len() >= 6 && raw.starts_with("\"\"\"") && raw.ends_with("\"\"\"") {
        let body = &raw[3..raw.len() - 3];
        let (lines, mixed) = dedent(body, offset + 3);
        mixed_indent = mixed;
        for (i, (line, line_offset)) in lines.into_iter().enumerate() {
            if i > 0 {
                out.lit("\n");
            }
            decode_segment(line, line_offset, &mut out, errors);
        }
    } else if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        decode_segment(&raw[1..raw.len() - 1], offset + 1, &mut out, errors);
    } else {
        errors.push(SyntaxError::Internal {
            error: crate::internal::InternalError::new(format!(
                "a string token without quotes: {raw:?}"
            )),
            span,
        });
    }
    Template {
        parts: out.parts,
        span,
        mixed_indent,
    }
}

#[derive(Default)]
struct Parts {
    parts: Vec<TemplatePart>,
}

impl Parts {
    fn lit(&mut self, s: &str) {
        if let Some(TemplatePart::Lit(last)) = self.parts.last_mut() {
            last.push_str(s);
        } else if !s.is_empty() {
            self.parts.push(TemplatePart::Lit(s.to_string()));
        }
    }
}

/// Splits a triple-quoted body into lines (with the byte offset where each
/// kept line's text starts), dropping a blank first and last line and the
/// indentation common to all non-blank lines.
///
/// The common indentation is the longest prefix of white-space characters
/// that all non-blank lines share, compared character by character: a tab is
/// not some number of spaces, since editors disagree on how many. When lines
/// disagree (one starts with a tab, another with spaces) less is removed than
/// the shortest indentation, and the span of the first line that disagrees
/// is returned so the checker can say why the prompt kept its indentation.
fn dedent(body: &str, offset: usize) -> (Vec<(&str, usize)>, Option<Span>) {
    let mut lines: Vec<(&str, usize)> = Vec::new();
    let mut start = 0;
    for piece in body.split('\n') {
        let text = piece.strip_suffix('\r').unwrap_or(piece);
        lines.push((text, offset + start));
        start += piece.len() + 1;
    }
    let blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    if lines.len() > 1 && lines.first().is_some_and(|(l, _)| blank(l)) {
        lines.remove(0);
    }
    if lines.len() > 1 && lines.last().is_some_and(|(l, _)| blank(l)) {
        lines.pop();
    }
    // The longest whitespace prefix shared by all non-blank lines.
    let mut common: Option<&str> = None;
    for (line, _) in &lines {
        if blank(line) {
            continue;
        }
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        let indent = &line[..indent_len];
        common = Some(match common {
            None => indent,
            Some(c) => {
                let shared = c
                    .bytes()
                    .zip(indent.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &c[..shared]
            }
        });
    }
    let cut = common.map_or(0, str::len);
    let indent_of = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
    let mut reference: Option<u8> = None;
    let mut mixed = None;
    for &(line, at) in &lines {
        if blank(line) || indent_of(line) <= cut {
            continue;
        }
        // Every line indented beyond the common part differs from the first
        // such line right after it when the indentation is mixed.
        let next = line.as_bytes()[cut];
        match reference {
            None => reference = Some(next),
            Some(r) if r != next => {
                mixed = Some(Span::new(at, at + indent_of(line)));
                break;
            }
            Some(_) => {}
        }
    }
    // A line whose indentation is all common cannot disagree; mixing shows
    // only when every non-blank line goes on beyond the common part.
    let shortest = lines
        .iter()
        .filter(|(l, _)| !blank(l))
        .map(|(l, _)| indent_of(l))
        .min()
        .unwrap_or(0);
    if shortest == cut {
        mixed = None;
    }
    let lines = lines
        .into_iter()
        .map(|(line, at)| {
            if blank(line) {
                // A blank line may be shorter than the indentation.
                ("", at + line.len())
            } else {
                (&line[cut..], at + cut)
            }
        })
        .collect();
    (lines, mixed)
}

/// Decodes escapes and interpolations of one run of raw text that starts at
/// byte `offset` of the source.
fn decode_segment(raw: &str, offset: usize, out: &mut Parts, errors: &mut Vec<SyntaxError>) {
    let mut lit = String::new();
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let Some((j, e)) = chars.next() else {
                    // The grammar never ends a string on a lone backslash.
                    errors.push(SyntaxError::InvalidEscape {
                        escape: "\\".into(),
                        span: Span::new(offset + i, offset + i + 1),
                    });
                    break;
                };
                let decoded = match e {
                    'n' => '\n',
                    't' => '\t',
                    '"' => '"',
                    '\\' => '\\',
                    '{' => '{',
                    '}' => '}',
                    _ => {
                        let shown = if e == '\n' || e == '\r' {
                            "\\".to_string()
                        } else {
                            format!("\\{e}")
                        };
                        errors.push(SyntaxError::InvalidEscape {
                            escape: shown,
                            span: Span::new(offset + i, offset + j + e.len_utf8()),
                        });
                        continue;
                    }
                };
                lit.push(decoded);
            }
            '{' => {
                let rest = &raw[i + 1..];
                // An interpolation ends at the first `}`; another `{` first
                // means this one was never closed.
                let close = rest.find(['}', '{']);
                match close.filter(|&k| rest.as_bytes()[k] == b'}') {
                    Some(k) => {
                        let inner = &rest[..k];
                        let whole = Span::new(offset + i, offset + i + k + 2);
                        match parse_interp(inner, offset + i + 1, whole) {
                            Some(interp) => {
                                out.lit(&lit);
                                lit.clear();
                                out.parts.push(TemplatePart::Interp(interp));
                            }
                            None => errors.push(SyntaxError::BadInterpolation {
                                text: format!("{{{inner}}}"),
                                span: whole,
                            }),
                        }
                        // Skip past the `}`.
                        while chars.peek().is_some_and(|&(p, _)| p <= i + k + 1) {
                            chars.next();
                        }
                    }
                    None => {
                        errors.push(SyntaxError::UnclosedInterpolation {
                            span: Span::new(offset + i, offset + i + 1),
                        });
                    }
                }
            }
            _ => lit.push(c),
        }
    }
    out.lit(&lit);
}

/// `name` or `name.field.field`, optionally padded with spaces; `inner_offset`
/// is where `inner` starts in the source.
fn parse_interp(inner: &str, inner_offset: usize, whole: Span) -> Option<Interp> {
    let trimmed_start = inner.len() - inner.trim_start_matches([' ', '\t']).len();
    let body = inner.trim_matches([' ', '\t']);
    if body.is_empty() {
        return None;
    }
    let mut idents = Vec::new();
    let mut at = inner_offset + trimmed_start;
    for (n, part) in body.split('.').enumerate() {
        let mut bytes = part.bytes();
        let ok_start = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        let ok_rest = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        // Field names may be keywords (`{x.if}` reads a json field); the
        // bound name may not.
        if !ok_start || !ok_rest || (n == 0 && KEYWORDS.contains(&part)) {
            return None;
        }
        idents.push(Ident {
            name: part.to_string(),
            span: Span::new(at, at + part.len()),
        });
        at += part.len() + 1;
    }
    let mut idents = idents.into_iter();
    let name = idents.next()?;
    Some(Interp {
        name,
        fields: idents.collect(),
        span: whole,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(src: &str) -> (Template, Vec<SyntaxError>) {
        let mut errors = Vec::new();
        let t = decode(src, 0, &mut errors);
        (t, errors)
    }

    fn plain(src: &str) -> String {
        let (t, e) = dec(src);
        assert!(e.is_empty(), "{e:?}");
        t.as_plain().expect("no interpolation")
    }

    #[test]
    fn item_26_dedent_with_tabs_spaces_and_mixed() {
        fn mixed(src: &str) -> Option<&str> {
            dec(src).0.mixed_indent.map(|s| &src[s.start..s.end])
        }
        // Spaces only, tabs only, and the same mix on every line: all of the
        // shared indentation goes, silently.
        for src in [
            "\"\"\"\n    a\n      b\n    \"\"\"",
            "\"\"\"\n\ta\n\t\tb\n\t\"\"\"",
            "\"\"\"\n\t  a\n\t    b\n\"\"\"",
        ] {
            assert!(plain(src).starts_with("a\n"), "{src:?}: {:?}", plain(src));
            assert_eq!(mixed(src), None, "{src:?}");
        }
        assert_eq!(plain("\"\"\"\n\t  a\n\t    b\n\"\"\""), "a\n  b");
        // A tab on one line, spaces on another: nothing is shared, so nothing
        // is removed, and the first line that disagrees is pointed at.
        let src = "\"\"\"\n\ta\n    b\n\"\"\"";
        assert_eq!(plain(src), "\ta\n    b");
        assert_eq!(mixed(src), Some("    "));
        // Shared up to a point: that much is removed.
        let src = "\"\"\"\n  \ta\n    b\n\"\"\"";
        assert_eq!(plain(src), "\ta\n  b");
        assert_eq!(mixed(src), Some("    "));
        // A less indented line is not a mix, nor are blank lines.
        assert_eq!(mixed("\"\"\"\n  a\n\t\n  \tb\n\"\"\""), None);
    }

    #[test]
    fn escapes() {
        assert_eq!(plain(r#""a\nb\t\"\\\{\}""#), "a\nb\t\"\\{}");
        assert_eq!(plain(r#""""#), "");
        assert_eq!(plain(r#""é ü""#), "é ü");
    }

    #[test]
    fn unknown_escape_points_at_it() {
        let src = r#""ab\qc""#;
        let (_, e) = dec(src);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind(), "invalid_escape");
        assert_eq!(&src[e[0].span().start..e[0].span().end], r"\q");
    }

    #[test]
    fn dedent_rules() {
        let src = "\"\"\"\n    Is it bad?\n      yes or no\n\n    {q}\n    \"\"\"";
        let (t, e) = dec(src);
        assert!(e.is_empty());
        assert_eq!(t.parts.len(), 2);
        assert_eq!(
            t.parts[0],
            TemplatePart::Lit("Is it bad?\n  yes or no\n\n".into())
        );
        let TemplatePart::Interp(i) = &t.parts[1] else {
            panic!("expected an interpolation")
        };
        assert_eq!(&src[i.span.start..i.span.end], "{q}");
        assert_eq!(&src[i.name.span.start..i.name.span.end], "q");
    }

    #[test]
    fn dedent_keeps_single_line_and_inner_blank_lines() {
        assert_eq!(plain(r#""""hello""""#), "hello");
        assert_eq!(plain("\"\"\"\n  a\n\n  b\n\"\"\""), "a\n\nb");
        // Only one blank line is removed at each end.
        assert_eq!(plain("\"\"\"\n\n  a\n  \n\"\"\""), "\na\n");
        // Tabs and spaces are compared literally.
        assert_eq!(plain("\"\"\"\n\t a\n\t b\n\"\"\""), "a\nb");
        assert_eq!(plain("\"\"\"\r\n  a\r\n  b\r\n  \"\"\""), "a\nb");
    }

    #[test]
    fn interpolation_spans_after_escapes() {
        let src = r#""\n\t{a.b.c} x {d}""#;
        let (t, e) = dec(src);
        assert!(e.is_empty());
        let interps: Vec<&Interp> = t
            .parts
            .iter()
            .filter_map(|p| match p {
                TemplatePart::Interp(i) => Some(i),
                TemplatePart::Lit(_) => None,
            })
            .collect();
        assert_eq!(interps.len(), 2);
        let s = |sp: Span| &src[sp.start..sp.end];
        assert_eq!(s(interps[0].span), "{a.b.c}");
        assert_eq!(s(interps[0].name.span), "a");
        assert_eq!(s(interps[0].fields[0].span), "b");
        assert_eq!(s(interps[0].fields[1].span), "c");
        assert_eq!(s(interps[1].span), "{d}");
        assert_eq!(t.parts[0], TemplatePart::Lit("\n\t".into()));
    }

    #[test]
    fn interpolation_with_spaces_and_offset() {
        let mut errors = Vec::new();
        let t = decode(r#""{ x }""#, 100, &mut errors);
        assert!(errors.is_empty());
        let TemplatePart::Interp(i) = &t.parts[0] else {
            panic!("expected an interpolation")
        };
        assert_eq!(i.span, Span::new(101, 106));
        assert_eq!(i.name.span, Span::new(103, 104));
    }

    #[test]
    fn malformed_interpolations() {
        for (src, kind, bad) in [
            (r#""a {} b""#, "bad_interpolation", "{}"),
            (r#""a {1x} b""#, "bad_interpolation", "{1x}"),
            (r#""a {x.} b""#, "bad_interpolation", "{x.}"),
            (r#""{if}""#, "bad_interpolation", "{if}"),
            (r#""a {x b""#, "unclosed_interpolation", "{"),
            (r#""{\"a\": 1}""#, "bad_interpolation", r#"{\"a\": 1}"#),
            (r#""{{x}""#, "unclosed_interpolation", "{"),
        ] {
            let (_, e) = dec(src);
            assert_eq!(e.len(), 1, "{src}: {e:?}");
            assert_eq!(e[0].kind(), kind, "{src}");
            assert_eq!(&src[e[0].span().start..e[0].span().end], bad, "{src}");
        }
    }

    #[test]
    fn field_may_be_a_keyword() {
        let (t, e) = dec(r#""{x.if}""#);
        assert!(e.is_empty());
        assert!(matches!(&t.parts[0], TemplatePart::Interp(i) if i.fields[0].name == "if"));
    }

    #[test]
    fn lone_closing_brace_is_literal() {
        assert_eq!(plain(r#""a } b""#), "a } b");
    }
}

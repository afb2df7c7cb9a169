//! The source cut into the tokens the formatter lays out. Strings and
//! comments are single tokens kept byte for byte; everything between
//! tokens is whitespace, which is all the formatter changes.

/// What kind of text a token is, as far as spacing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A name, keyword, number or duration.
    Word,
    /// A string literal, triple-quoted ones included.
    Str,
    /// `# ...` to the end of its line.
    Comment,
    /// Punctuation and operators.
    Punct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'s> {
    pub kind: Kind,
    pub text: &'s str,
    pub start: usize,
    /// Newlines between this token and the one before it.
    pub newlines_before: usize,
}

/// Every token of `src` in order. The text parsed, so every string is closed;
/// the cuts are still bounded by the end of the text whatever it holds.
pub fn tokens(src: &str) -> Vec<Token<'_>> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut newlines = 0;
    if src.starts_with('\u{FEFF}') {
        i = '\u{FEFF}'.len_utf8();
    }
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            newlines += 1;
            i += 1;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
            continue;
        }
        let start = i;
        let kind = if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if c == b'"' {
            i = string_end(bytes, i).min(bytes.len());
            Kind::Str
        } else if c.is_ascii_alphanumeric() || c == b'_' || (c == b'-' && next_is_digit(bytes, i)) {
            i += 1;
            while i < bytes.len() {
                let d = bytes[i];
                let in_number = d == b'.' && next_is_digit(bytes, i) && starts_number(bytes[start]);
                let exponent_sign = (d == b'+' || d == b'-')
                    && starts_number(bytes[start])
                    && matches!(bytes[i - 1], b'e' | b'E');
                if d.is_ascii_alphanumeric() || d == b'_' || in_number || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            Kind::Word
        } else {
            let two = src.get(i..i + 2).unwrap_or("");
            i += if matches!(two, "==" | "!=" | "<=" | ">=") {
                2
            } else {
                // One character, which may be more than one byte.
                src[i..].chars().next().map_or(1, char::len_utf8)
            };
            Kind::Punct
        };
        out.push(Token {
            kind,
            text: &src[start..i],
            start,
            newlines_before: newlines,
        });
        newlines = 0;
    }
    out
}

fn starts_number(b: u8) -> bool {
    b.is_ascii_digit() || b == b'-'
}

fn next_is_digit(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
}

/// The end of the string opening at `i`, escapes skipped.
fn string_end(bytes: &[u8], i: usize) -> usize {
    let triple = bytes.get(i..i + 3) == Some(b"\"\"\"");
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' if !triple => return j + 1,
            b'"' if bytes.get(j..j + 3) == Some(b"\"\"\"") => return j + 3,
            b'\n' if !triple => return j,
            _ => j += 1,
        }
    }
    bytes.len()
}

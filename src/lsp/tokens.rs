//! Semantic tokens, and the small lexer they (and completion) stand on.
//!
//! The lexer knows only what a highlighter needs: comments, strings with
//! their `{name.field}` interpolations, numbers and durations, words. Words
//! are then classified by the symbol index (a model, an input, a member,
//! ...), so a name is coloured by what it *is*, which no TextMate grammar
//! can know.

use lsp_types::{SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend};

use super::analysis::Analysis;
use super::index::SymbolKind;
use super::vocabulary;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lex {
    Comment,
    /// Literal text of a string (quotes included).
    Str,
    Number,
    Word,
    /// `{`, `}` and `.` of an interpolation.
    Interp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tok {
    pub kind: Lex,
    pub start: usize,
    pub end: usize,
}

/// Where the lexer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    /// In a string; `triple` for `"""`, `interp` inside `{...}`.
    Str {
        triple: bool,
        interp: bool,
    },
}

/// Lexes `text` up to `limit`, giving the tokens and the state there.
fn run(text: &str, limit: usize) -> (Vec<Tok>, State) {
    let b = text.as_bytes();
    let limit = limit.min(b.len());
    let mut toks = Vec::new();
    let mut i = 0;
    let mut state = State::Code;
    let mut str_start = 0;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < limit {
        match state {
            State::Code => {
                let c = b[i];
                if c == b'#' {
                    let end = memchr(b, i, b'\n');
                    toks.push(Tok {
                        kind: Lex::Comment,
                        start: i,
                        end,
                    });
                    i = end;
                } else if c == b'"' {
                    let triple = b[i..].starts_with(b"\"\"\"");
                    str_start = i;
                    i += if triple { 3 } else { 1 };
                    state = State::Str {
                        triple,
                        interp: false,
                    };
                } else if c.is_ascii_digit()
                    || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
                {
                    let start = i;
                    i += 1;
                    while i < b.len()
                        && (word(b[i])
                            || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
                    {
                        i += 1;
                    }
                    toks.push(Tok {
                        kind: Lex::Number,
                        start,
                        end: i,
                    });
                } else if c.is_ascii_alphabetic() || c == b'_' {
                    let start = i;
                    while i < b.len() && word(b[i]) {
                        i += 1;
                    }
                    toks.push(Tok {
                        kind: Lex::Word,
                        start,
                        end: i,
                    });
                } else {
                    i += 1;
                }
            }
            State::Str {
                triple,
                interp: false,
            } => {
                let c = b[i];
                if c == b'\\' {
                    i += 2;
                } else if c == b'{' {
                    if i > str_start {
                        toks.push(Tok {
                            kind: Lex::Str,
                            start: str_start,
                            end: i,
                        });
                    }
                    toks.push(Tok {
                        kind: Lex::Interp,
                        start: i,
                        end: i + 1,
                    });
                    i += 1;
                    state = State::Str {
                        triple,
                        interp: true,
                    };
                } else if (triple && b[i..].starts_with(b"\"\"\"")) || (!triple && c == b'"') {
                    i += if triple { 3 } else { 1 };
                    toks.push(Tok {
                        kind: Lex::Str,
                        start: str_start,
                        end: i,
                    });
                    state = State::Code;
                } else if !triple && c == b'\n' {
                    // An unterminated string ends at its line, as the parser says.
                    toks.push(Tok {
                        kind: Lex::Str,
                        start: str_start,
                        end: i,
                    });
                    state = State::Code;
                } else {
                    i += 1;
                }
            }
            State::Str {
                triple,
                interp: true,
            } => {
                let c = b[i];
                if c == b'}' || c == b'"' || c == b'\n' && !triple {
                    if c == b'}' {
                        toks.push(Tok {
                            kind: Lex::Interp,
                            start: i,
                            end: i + 1,
                        });
                        i += 1;
                    }
                    str_start = i;
                    state = State::Str {
                        triple,
                        interp: false,
                    };
                } else if word(c) {
                    let start = i;
                    while i < b.len() && word(b[i]) {
                        i += 1;
                    }
                    toks.push(Tok {
                        kind: Lex::Word,
                        start,
                        end: i,
                    });
                } else {
                    if c == b'.' {
                        toks.push(Tok {
                            kind: Lex::Interp,
                            start: i,
                            end: i + 1,
                        });
                    }
                    i += 1;
                }
            }
        }
    }
    if let State::Str { interp: false, .. } = state
        && limit > str_start
        && limit == b.len()
    {
        toks.push(Tok {
            kind: Lex::Str,
            start: str_start,
            end: limit,
        });
    }
    (toks, state)
}

fn memchr(b: &[u8], from: usize, needle: u8) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == needle)
        .map(|p| from + p)
        .unwrap_or(b.len())
}

pub fn lex(text: &str) -> Vec<Tok> {
    run(text, text.len()).0
}

/// Whether byte `offset` is inside a string: `Some(true)` inside an
/// interpolation's braces, `Some(false)` in its text, `None` outside.
pub fn string_at(text: &str, offset: usize) -> Option<bool> {
    match run(text, offset).1 {
        State::Code => None,
        State::Str { interp, .. } => Some(interp),
    }
}

/// The token types, in the legend's order.
const TYPES: [SemanticTokenType; 12] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::COMMENT,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::CLASS,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::TYPE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::OPERATOR,
];

const KEYWORD: u32 = 0;
const COMMENT: u32 = 1;
const STRING: u32 = 2;
const NUMBER: u32 = 3;
const CLASS: u32 = 4;
const PARAMETER: u32 = 5;
const VARIABLE: u32 = 6;
const PROPERTY: u32 = 7;
const TYPE: u32 = 8;
const FUNCTION: u32 = 9;
const ENUM_MEMBER: u32 = 10;
const OPERATOR: u32 = 11;

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: vec![SemanticTokenModifier::DECLARATION],
    }
}

/// Words that are keywords where they stand, though they may also name
/// things (`type`, `with`, `list`, `criteria`).
const SOFT_KEYWORDS: &[&str] = &["type", "with", "criteria", "judge"];

/// The whole document's tokens, encoded as the protocol wants (each
/// relative to the one before, split at line ends, columns in UTF-16).
pub fn semantic_tokens(a: &Analysis) -> Vec<SemanticToken> {
    let mut out = Vec::new();
    let mut prev = (0u32, 0u32);
    for t in lex(&a.text) {
        let (ty, modifiers) = match t.kind {
            Lex::Comment => (COMMENT, 0),
            Lex::Str => (STRING, 0),
            Lex::Number => (NUMBER, 0),
            Lex::Interp => (OPERATOR, 0),
            Lex::Word => match classify(a, t) {
                Some(c) => c,
                None => continue,
            },
        };
        push_token(a, t.start, t.end, ty, modifiers, &mut prev, &mut out);
    }
    out
}

fn classify(a: &Analysis, t: Tok) -> Option<(u32, u32)> {
    let word = a.text.get(t.start..t.end)?;
    if let Some(o) = a
        .index()
        .at(t.start)
        .filter(|o| o.span.start == t.start && o.span.end == t.end)
    {
        let ty = match a.index().symbols[o.symbol].kind {
            SymbolKind::Model => CLASS,
            SymbolKind::Input => PARAMETER,
            SymbolKind::Binding | SymbolKind::Output | SymbolKind::Variable => VARIABLE,
            SymbolKind::Member => PROPERTY,
            SymbolKind::Type => TYPE,
            SymbolKind::Function => FUNCTION,
        };
        return Some((ty, u32::from(o.is_def)));
    }
    if vocabulary::KEYWORDS.contains(&word) || SOFT_KEYWORDS.contains(&word) {
        return Some((KEYWORD, 0));
    }
    let is = |list: &[(&str, &str)]| list.iter().any(|(n, _)| *n == word);
    if is(vocabulary::TYPES) {
        return Some((TYPE, 0));
    }
    if is(vocabulary::BUILTINS) || is(vocabulary::PROVIDERS) {
        return Some((FUNCTION, 0));
    }
    if is(vocabulary::STRATEGIES) {
        return Some((ENUM_MEMBER, 0));
    }
    if vocabulary::MODEL_OPTIONS.iter().any(|o| o.name == word) {
        return Some((PROPERTY, 0));
    }
    None
}

fn push_token(
    a: &Analysis,
    start: usize,
    end: usize,
    ty: u32,
    modifiers: u32,
    prev: &mut (u32, u32),
    out: &mut Vec<SemanticToken>,
) {
    // One token per line: clients need not support multi-line tokens.
    let mut s = start;
    while s < end {
        let line_end = a.text[s..end].find('\n').map(|i| s + i).unwrap_or(end);
        if line_end > s {
            let from = a.lines.position(&a.text, s);
            let to = a.lines.position(&a.text, line_end);
            let delta_line = from.line - prev.0;
            let delta_start = if delta_line == 0 {
                from.character - prev.1
            } else {
                from.character
            };
            out.push(SemanticToken {
                delta_line,
                delta_start,
                length: to.character.saturating_sub(from.character),
                token_type: ty,
                token_modifiers_bitset: modifiers,
            });
            *prev = (from.line, from.character);
        }
        s = line_end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_strings_with_interpolations() {
        let text = "x = \"a {b.c} d\" # note\ny = \"\"\"\n{z}\n\"\"\" 30s";
        let kinds: Vec<(Lex, &str)> = lex(text)
            .into_iter()
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect();
        assert_eq!(
            kinds,
            [
                (Lex::Word, "x"),
                (Lex::Str, "\"a "),
                (Lex::Interp, "{"),
                (Lex::Word, "b"),
                (Lex::Interp, "."),
                (Lex::Word, "c"),
                (Lex::Interp, "}"),
                (Lex::Str, " d\""),
                (Lex::Comment, "# note"),
                (Lex::Word, "y"),
                (Lex::Str, "\"\"\"\n"),
                (Lex::Interp, "{"),
                (Lex::Word, "z"),
                (Lex::Interp, "}"),
                (Lex::Str, "\n\"\"\""),
                (Lex::Number, "30s"),
            ]
        );
        assert_eq!(string_at(text, 5), Some(false));
        assert_eq!(string_at(text, 8), Some(true));
        assert_eq!(string_at(text, 2), None);
    }
}

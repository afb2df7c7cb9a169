//! A cheap lexical pass that runs before pest.
//!
//! It exists for three reasons pest cannot serve well:
//! - an unterminated string is reported at its opening quote, not wherever
//!   pest happened to give up;
//! - nesting is bounded *before* any recursive code runs (pest, the AST
//!   builder, dropping the AST, and every later stage recurse on nesting), so
//!   a hostile file gets `flow::syntax::too_deep` instead of a stack overflow;
//! - when pest reports a missing closer, the innermost unclosed `(`, `[`, `{`
//!   or `<` tells us what to name in the diagnostic and where it was opened.
//!
//! It only needs to over-approximate the parser's recursion: it counts open
//! brackets plus `if`/`not` keywords (which nest without brackets) and binary
//! operators / `.` (which build left-deep trees), and forgets the keyword and
//! operator counts of a bracket level at every `,` or binding `=`, where an
//! expression necessarily ends.

use super::Span;
use super::error::SyntaxError;

/// Nesting of brackets, blocks, `if` and `not` allowed in one expression.
/// A section or `for` body counts twice: building one level of it takes
/// several times the stack of a parenthesis, and the bound must hold on a
/// 2 MiB thread (test threads, tokio workers) even in a debug build.
pub const MAX_DEPTH: usize = 64;
/// Binary operators and field accesses allowed in one expression (they build
/// left-deep trees, so they count as depth for everything that recurses).
pub const MAX_CHAIN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    Paren,
    Bracket,
    Brace,
    Section,
    For,
    ListType,
}

impl OpenKind {
    pub fn closer(self) -> &'static str {
        match self {
            OpenKind::Paren => ")",
            OpenKind::Bracket => "]",
            OpenKind::Brace => "}",
            OpenKind::Section | OpenKind::For | OpenKind::ListType => ">",
        }
    }

    /// What was opened, as the user would call it.
    pub fn describe(self) -> &'static str {
        match self {
            OpenKind::Paren => "`(`",
            OpenKind::Bracket => "`[`",
            OpenKind::Brace => "`{`",
            OpenKind::Section => "section",
            OpenKind::For => "`for` body",
            OpenKind::ListType => "`list<`",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub kind: OpenKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    open: Open,
    /// How much this level counts towards `MAX_DEPTH`.
    weight: usize,
    keywords: usize,
    chain: usize,
}

/// The previous significant token, as far as the scan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    Other,
    Section,
    /// `as`, `:` or a list type's `<`: a type may follow.
    TypePosition,
    /// `list` right after a type position.
    ListInType,
    /// `test` at the top level: its name, then its block, may follow.
    Test,
}

struct Scanner<'a> {
    src: &'a str,
    bytes: &'a [u8],
    /// Index 0 is the top level (its `open` is a dummy).
    frames: Vec<Frame>,
    keywords: usize,
    chain: usize,
    /// Sum of the open frames' weights.
    nesting: usize,
    /// Keyword and operator counts of the top level (outside any bracket).
    top: (usize, usize),
    prev: Prev,
    /// Frame depth at which a `for` is waiting for its `<`.
    pending_for: Vec<usize>,
    /// Set when splitting a broken file into statements: where each one
    /// starts. The scan is then lenient: no depth bound, and an unterminated
    /// string ends where the parser would give up on it.
    starts: Option<Vec<usize>>,
    /// The last token may end a statement: a value, a name, a closer. A line
    /// after it that starts with a name starts a statement.
    value_end: bool,
    /// The last word was `by`: the strategy after it may take a model name,
    /// even on the next line.
    after_by: bool,
}

/// Checks strings are terminated and nesting is bounded.
pub fn prescan(src: &str) -> Result<(), SyntaxError> {
    Scanner::new(src).run(src.len()).map(|_| ())
}

/// Where each top-level statement may start, for recovering from a syntax
/// error: the first is 0, and each other is the first token of a line that
/// starts with `model`, `input` or `output` (which cannot appear inside an
/// expression), with `NAME =` or `section` where that cannot be a section
/// member (nothing open, or only a bracket that takes no members), or with
/// any other name when nothing is open and the line before ended a value
/// (nothing can continue a value with a name, but a strategy after `by`).
/// Strings and comments are skipped. A statement's leading white space
/// belongs to the one before it, so a parse of one statement that runs off
/// its end reports the next statement's first token, as a parse of the whole
/// file would. One linear pass.
pub fn statement_starts(src: &str) -> Vec<usize> {
    let mut scanner = Scanner::new(src);
    scanner.starts = Some(vec![0]);
    // The lenient scan has no errors to give.
    let _ = scanner.scan(src.len());
    scanner.starts.unwrap_or_default()
}

/// What a line begins with, as far as finding statements goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineStart {
    /// `model`, `input`, `output`: a statement wherever it is.
    Keyword,
    /// `NAME =`, `section <`, or `WORD NAME =` (`let x =`, from other
    /// languages): a statement unless it may be a section member.
    Named,
    /// Any other name (`answer ask m "..."`, a forgotten `=`): a statement
    /// when nothing is open and the line before ended with a value.
    Word,
}

fn line_start(src: &str, at: usize) -> Option<LineStart> {
    let bytes = src.as_bytes();
    // Non-ASCII letters count, so `café = 1` is a statement of its own that
    // the parser reports, not the tail of the one before it.
    let word_end = |from: usize| {
        let mut j = from;
        while bytes
            .get(j)
            .is_some_and(|&c| is_ident_char(c) || !c.is_ascii())
        {
            j += 1;
        }
        j
    };
    let skip_blank = |mut j: usize| {
        while matches!(bytes.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        j
    };
    let assigns = |j: usize| bytes.get(j) == Some(&b'=') && bytes.get(j + 1) != Some(&b'=');
    let first = *bytes.get(at)?;
    if !is_ident_start(first) && first.is_ascii() {
        return None;
    }
    let end = word_end(at);
    let word = src.get(at..end).unwrap_or("");
    if matches!(word, "model" | "input" | "output" | "fn" | "import") {
        return Some(LineStart::Keyword);
    }
    let after = skip_blank(end);
    if word == "test" && bytes.get(after) == Some(&b'"') {
        return Some(LineStart::Keyword);
    }
    if assigns(after) || (word == "section" && bytes.get(after) == Some(&b'<')) {
        return Some(LineStart::Named);
    }
    let second_end = word_end(after);
    let second_is_word = bytes
        .get(after)
        .is_some_and(|&c| is_ident_start(c) || !c.is_ascii());
    let keyword = super::parser::KEYWORDS.contains(&word) || word == "section";
    if second_is_word && !keyword && assigns(skip_blank(second_end)) {
        return Some(LineStart::Named);
    }
    (!keyword).then_some(LineStart::Word)
}

/// The innermost bracket or block still open at `offset`.
pub fn open_at(src: &str, offset: usize) -> Option<Open> {
    let scanner = Scanner::new(src);
    match scanner.run(offset.min(src.len())) {
        Ok(frames) => frames.last().map(|f| f.open),
        Err(_) => None,
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where the string starting at `start` (on a `"`) ends, or the error.
pub fn string_end(src: &str, start: usize) -> Result<usize, SyntaxError> {
    let bytes = src.as_bytes();
    if bytes.get(start..start + 3) == Some(b"\"\"\"") {
        let mut j = start + 3;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => j += 2,
                b'"' if bytes.get(j..j + 3) == Some(b"\"\"\"") => return Ok(j + 3),
                _ => j += 1,
            }
        }
        Err(SyntaxError::UnterminatedString {
            open: Span::new(start, start + 3),
            triple: true,
        })
    } else {
        let mut j = start + 1;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => j += 2,
                b'"' => return Ok(j + 1),
                b'\n' => break,
                _ => j += 1,
            }
        }
        Err(SyntaxError::UnterminatedString {
            open: Span::new(start, start + 1),
            triple: false,
        })
    }
}

/// Where the last token inside `span` ends: pest spans of rules that end in
/// an optional part (`output x`, an `ask` without modifiers) also cover the
/// white space and comments skipped while looking for it.
pub fn content_end(src: &str, span: Span) -> usize {
    let bytes = src.as_bytes();
    let end = span.end.min(bytes.len());
    let mut i = span.start;
    let mut last = span.start;
    while i < end {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i = string_end(src, i).unwrap_or(end).min(end);
                last = i;
            }
            _ => {
                i += 1;
                last = i;
            }
        }
    }
    last
}

/// Whether a `>` (whose following byte is at `after`) inside a block is a
/// comparison rather than the block's end. Mirrors `op_gt_operand` in the
/// grammar; the two must agree or the depth bound could be fooled.
pub fn gt_is_comparison(src: &str, after: usize) -> bool {
    let bytes = src.as_bytes();
    if bytes.get(after) == Some(&b'=') {
        return true;
    }
    let mut i = after;
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let Some(&b) = bytes.get(i) else {
        return false;
    };
    match b {
        b'"' | b'(' | b'[' | b'-' => true,
        b'0'..=b'9' => true,
        b if is_ident_start(b) => {
            let mut j = i;
            while bytes.get(j).is_some_and(|&c| is_ident_char(c)) {
                j += 1;
            }
            let word = src.get(i..j).unwrap_or("");
            if super::parser::KEYWORDS.contains(&word) {
                return matches!(word, "not" | "if" | "ask" | "for" | "true" | "false");
            }
            // `name =` starts the next statement or member.
            while matches!(bytes.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            !(bytes.get(j) == Some(&b'=') && bytes.get(j + 1) != Some(&b'='))
        }
        _ => false,
    }
}

impl<'a> Scanner<'a> {
    fn new(src: &'a str) -> Self {
        Scanner {
            src,
            bytes: src.as_bytes(),
            frames: Vec::new(),
            keywords: 0,
            chain: 0,
            nesting: 0,
            top: (0, 0),
            prev: Prev::Other,
            pending_for: Vec::new(),
            starts: None,
            value_end: false,
            after_by: false,
        }
    }

    /// At the start of a line (offset `at`) while splitting into statements:
    /// records a statement start there, and forgets whatever the statement
    /// before it left open.
    fn line(&mut self, at: usize) {
        let Some(starts) = &self.starts else {
            return;
        };
        let mut first = at;
        while matches!(self.bytes.get(first), Some(b' ' | b'\t')) {
            first += 1;
        }
        // An indented line is a statement only where nothing is open.
        if first > at && !self.frames.is_empty() {
            return;
        }
        let starts_here = match line_start(self.src, first) {
            Some(LineStart::Keyword) => true,
            Some(LineStart::Named) => {
                !matches!(self.top_kind(), Some(OpenKind::Section | OpenKind::For))
            }
            Some(LineStart::Word) => self.frames.is_empty() && self.value_end,
            None => false,
        };
        if !starts_here || starts.last() == Some(&first) {
            return;
        }
        if let Some(starts) = &mut self.starts {
            starts.push(first);
        }
        self.frames.clear();
        self.keywords = 0;
        self.chain = 0;
        self.nesting = 0;
        self.top = (0, 0);
        self.prev = Prev::Other;
        self.pending_for.clear();
    }

    /// Where a string starting at `start` ends; when splitting, an
    /// unterminated one ends where the parser stops reading it: a plain one
    /// at its line's end, a triple-quoted one at the end of the file.
    fn string_end(&self, start: usize) -> Result<usize, SyntaxError> {
        match string_end(self.src, start) {
            Ok(end) => Ok(end),
            Err(_) if self.starts.is_some() => {
                let triple = self.bytes.get(start..start + 3) == Some(b"\"\"\"");
                Ok(if triple {
                    self.bytes.len()
                } else {
                    self.bytes[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(self.bytes.len(), |n| start + n)
                })
            }
            Err(e) => Err(e),
        }
    }

    fn depth(&self) -> usize {
        self.nesting + self.keywords
    }

    fn too_deep(&self, span: Span) -> Result<(), SyntaxError> {
        if self.starts.is_none() && (self.depth() > MAX_DEPTH || self.chain > MAX_CHAIN) {
            Err(SyntaxError::TooDeep {
                span,
                limit: MAX_DEPTH,
                chain: self.chain > MAX_CHAIN,
            })
        } else {
            Ok(())
        }
    }

    fn push(&mut self, kind: OpenKind, span: Span) -> Result<(), SyntaxError> {
        let weight = match kind {
            OpenKind::Section | OpenKind::For => 2,
            _ => 1,
        };
        self.nesting += weight;
        self.frames.push(Frame {
            open: Open { kind, span },
            weight,
            keywords: 0,
            chain: 0,
        });
        self.too_deep(span)
    }

    fn pop(&mut self) {
        if let Some(f) = self.frames.pop() {
            self.nesting -= f.weight;
            self.keywords -= f.keywords;
            self.chain -= f.chain;
        }
    }

    /// An expression ends here: forget this level's keywords and operators.
    fn reset_level(&mut self) {
        let (k, c) = match self.frames.last_mut() {
            Some(f) => (
                std::mem::take(&mut f.keywords),
                std::mem::take(&mut f.chain),
            ),
            None => (
                std::mem::take(&mut self.top.0),
                std::mem::take(&mut self.top.1),
            ),
        };
        self.keywords -= k;
        self.chain -= c;
    }

    fn add_keyword(&mut self, span: Span) -> Result<(), SyntaxError> {
        match self.frames.last_mut() {
            Some(f) => f.keywords += 1,
            None => self.top.0 += 1,
        }
        self.keywords += 1;
        self.too_deep(span)
    }

    fn add_chain(&mut self, span: Span) -> Result<(), SyntaxError> {
        match self.frames.last_mut() {
            Some(f) => f.chain += 1,
            None => self.top.1 += 1,
        }
        self.chain += 1;
        self.too_deep(span)
    }

    fn top_kind(&self) -> Option<OpenKind> {
        self.frames.last().map(|f| f.open.kind)
    }

    /// Scans up to `stop` and returns the frames still open there.
    fn run(mut self, stop: usize) -> Result<Vec<Frame>, SyntaxError> {
        self.scan(stop)?;
        Ok(self.frames)
    }

    fn scan(&mut self, stop: usize) -> Result<(), SyntaxError> {
        let bytes = self.bytes;
        let mut i = 0;
        while i < stop {
            let b = bytes[i];
            match b {
                b'\n' => {
                    i += 1;
                    self.line(i);
                    continue;
                }
                b' ' | b'\t' | b'\r' => {
                    i += 1;
                    continue;
                }
                b'#' => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                b'"' => {
                    i = self.string_end(i)?;
                    // A test's block opens like a section's: its lines are
                    // no statements of their own.
                    self.prev = if self.prev == Prev::Test {
                        Prev::Section
                    } else {
                        Prev::Other
                    };
                    self.value_end = true;
                    self.after_by = false;
                    continue;
                }
                _ => {}
            }
            let mut prev = Prev::Other;
            if is_ident_start(b) {
                let start = i;
                while i < bytes.len() && is_ident_char(bytes[i]) {
                    i += 1;
                }
                let span = Span::new(start, i);
                let word = self.src.get(start..i).unwrap_or("");
                if self.starts.is_some() {
                    let keyword = super::parser::KEYWORDS.contains(&word);
                    self.value_end =
                        (!keyword || matches!(word, "true" | "false")) && !self.after_by;
                    self.after_by = word == "by";
                }
                match word {
                    "if" | "not" => self.add_keyword(span)?,
                    "and" | "or" => self.add_chain(span)?,
                    "section" => prev = Prev::Section,
                    "test" if self.frames.is_empty() => prev = Prev::Test,
                    "for" => self.pending_for.push(self.frames.len()),
                    "as" => prev = Prev::TypePosition,
                    "list" if self.prev == Prev::TypePosition => prev = Prev::ListInType,
                    "model" | "input" | "output" | "fn" | "import" if self.frames.is_empty() => {
                        self.reset_level()
                    }
                    _ => {}
                }
                self.prev = prev;
                continue;
            }
            if b.is_ascii_digit() {
                while i < bytes.len() && (is_ident_char(bytes[i]) || bytes[i] == b'.') {
                    // `1.5` is a number but `x.1.y` never parses; only skip a
                    // dot that is followed by a digit.
                    if bytes[i] == b'.' && !bytes.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                        break;
                    }
                    i += 1;
                }
                self.prev = Prev::Other;
                self.value_end = true;
                self.after_by = false;
                continue;
            }
            let span = Span::new(i, i + 1);
            let next = bytes.get(i + 1).copied();
            let mut width = 1;
            let frames_before = self.frames.len();
            match b {
                b'(' => self.push(OpenKind::Paren, span)?,
                b'[' => self.push(OpenKind::Bracket, span)?,
                b'{' => self.push(OpenKind::Brace, span)?,
                b')' | b']' | b'}' => {
                    let want = match b {
                        b')' => OpenKind::Paren,
                        b']' => OpenKind::Bracket,
                        _ => OpenKind::Brace,
                    };
                    if self.top_kind() == Some(want) {
                        self.pop();
                    }
                }
                b',' => self.reset_level(),
                b':' => prev = Prev::TypePosition,
                b'.' => self.add_chain(span)?,
                b'=' if next == Some(b'=') => {
                    width = 2;
                    self.add_chain(Span::new(i, i + 2))?;
                }
                b'=' => self.reset_level(),
                b'!' if next == Some(b'=') => {
                    width = 2;
                    self.add_chain(Span::new(i, i + 2))?;
                }
                b'<' => {
                    let for_here = self.pending_for.last() == Some(&self.frames.len());
                    if self.prev == Prev::Section {
                        self.push(OpenKind::Section, span)?;
                    } else if self.prev == Prev::ListInType {
                        self.push(OpenKind::ListType, span)?;
                        prev = Prev::TypePosition;
                    } else if for_here && next != Some(b'=') {
                        self.pending_for.pop();
                        self.push(OpenKind::For, span)?;
                    } else {
                        if next == Some(b'=') {
                            width = 2;
                        }
                        self.add_chain(span)?;
                    }
                }
                b'>' => match self.top_kind() {
                    Some(OpenKind::ListType) => self.pop(),
                    Some(OpenKind::Section | OpenKind::For)
                        if !gt_is_comparison(self.src, i + 1) =>
                    {
                        self.pop()
                    }
                    _ => {
                        if next == Some(b'=') {
                            width = 2;
                        }
                        self.add_chain(span)?;
                    }
                },
                _ => {}
            }
            // Skip a whole UTF-8 character so `i` stays on a boundary.
            if !b.is_ascii() {
                width = self
                    .src
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
            }
            self.prev = prev;
            // A closer that closed something ends a value.
            self.value_end =
                matches!(b, b')' | b']' | b'}' | b'>') && self.frames.len() < frames_before;
            self.after_by = false;
            i += width;
        }
        Ok(())
    }
}

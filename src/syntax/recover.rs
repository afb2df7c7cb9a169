//! Recovering from syntax errors at statement boundaries.
//!
//! pest stops at the first error, so a file that fails as a whole is cut into
//! top-level statements (`scan::statement_starts`) and each is tried on its
//! own: every one the grammar rejects gives its own error. The rejected ones
//! are then blanked out (spaces, newlines kept, so every offset stays
//! true) and the file is parsed once more, whole; the statements that
//! parsed go on to be checked. Each pass is linear, so a file with 10,000
//! mistakes costs a few parses of it, not 10,000.
//!
//! What a rejected statement would have declared is kept as [`Gaps`], so the
//! checker can stay quiet about what only its absence explains: a name it
//! would have defined, a missing `output`, a binding it may have used.

use std::collections::HashSet;

use super::ast::Program;
use super::error::SyntaxError;
use super::parser::{self, Rejection, Whole};
use super::scan;

/// A parse that went as far as it could.
#[doc(hidden)]
pub struct Parsed {
    /// The statements that parsed cleanly; `None` only when flow itself
    /// failed (an internal error), so there is nothing to check.
    pub program: Option<Program>,
    /// Every syntax error, sorted by position.
    pub errors: Vec<SyntaxError>,
    /// What the statements left out because of those errors mention.
    pub gaps: Gaps,
}

/// The words of the statements left out of a parse, which the checker must
/// not blame the rest of the program for.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Gaps {
    /// Names a left-out statement may have declared: its first word, a word
    /// before `=`, or one after `model`, `input` or `output`.
    declared: HashSet<String>,
    /// A left-out statement says `output`.
    output: bool,
    /// Whether any statement was left out.
    any: bool,
}

impl Gaps {
    /// Whether nothing was left out.
    pub fn is_empty(&self) -> bool {
        !self.any
    }

    /// Whether a left-out statement may have declared `name`.
    pub fn may_declare(&self, name: &str) -> bool {
        self.declared.contains(name)
    }

    /// Whether a left-out statement may have been an `output`.
    pub fn may_output(&self) -> bool {
        self.output
    }

    /// Notes the words of a statement that is left out.
    fn note(&mut self, text: &str) {
        self.any = true;
        let bytes = text.as_bytes();
        let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
        let is_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut i = 0;
        let mut keyword_before = false;
        // `answer ask m "..."`: a statement's first word is what it declares,
        // even when the `=` after it is what went wrong.
        let mut first = true;
        while i < bytes.len() {
            if !is_start(bytes[i]) {
                if !matches!(bytes[i], b' ' | b'\t') {
                    keyword_before = false;
                }
                // Digits run on so `2x` is not a word `x`.
                if bytes[i].is_ascii_digit() {
                    while i < bytes.len() && is_char(bytes[i]) {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
                continue;
            }
            let start = i;
            while i < bytes.len() && is_char(bytes[i]) {
                i += 1;
            }
            let word = &text[start..i];
            let mut next = i;
            while matches!(bytes.get(next), Some(b' ' | b'\t')) {
                next += 1;
            }
            let assigned = bytes.get(next) == Some(&b'=') && bytes.get(next + 1) != Some(&b'=');
            let keyword = matches!(word, "model" | "input" | "output" | "fn" | "import");
            if keyword_before || assigned || (first && !keyword) {
                self.declared.insert(word.to_string());
            }
            self.output |= word == "output";
            keyword_before = keyword;
            first = false;
        }
    }
}

/// Parses `source`, reporting every syntax error and keeping every
/// statement without one.
pub fn parse(source: &str) -> Parsed {
    let rejected = match super::split::parse_whole(source) {
        Whole::Built(program, errors) => {
            return leave_out_built(source, program, errors, Vec::new(), Gaps::default());
        }
        Whole::Broken(errors) => return failed(errors),
        Whole::Rejected(rejection) => rejection,
    };
    let mut recovery = Recovery {
        source,
        starts: scan::statement_starts(source),
        errors: Vec::new(),
        gaps: Gaps::default(),
        masked: None,
    };
    recovery.run(rejected);
    let Recovery {
        mut errors,
        gaps,
        masked,
        ..
    } = recovery;
    // Every statement parses alone but not together: nothing to recover
    // with, so report what a parse of the whole says.
    let Some(masked) = masked else {
        return failed(whole_error(source).into_iter().collect());
    };
    // Blanking keeps newlines and turns every other byte into a space, so the
    // text is still UTF-8; if not, that is a bug, reported as such.
    let masked = match String::from_utf8(masked) {
        Ok(text) => text,
        Err(_) => {
            errors.push(internal("blanking a statement broke UTF-8"));
            return failed(errors);
        }
    };
    match parser::parse_whole(&masked) {
        Whole::Built(program, built) => leave_out_built(source, program, built, errors, gaps),
        // The statements parse one by one but not together once the broken
        // ones are blanked: report why, check nothing.
        Whole::Rejected(_) => {
            errors.extend(whole_error(&masked));
            failed(errors)
        }
        Whole::Broken(more) => {
            errors.extend(more);
            failed(errors)
        }
    }
}

/// The first error of `text` parsed whole, in words.
fn whole_error(text: &str) -> Option<SyntaxError> {
    parser::accepts(text, text).err()
}

/// The statements of a file that failed to parse, tried in runs.
struct Recovery<'s> {
    source: &'s str,
    /// Where each statement starts (`scan::statement_starts`).
    starts: Vec<usize>,
    errors: Vec<SyntaxError>,
    gaps: Gaps,
    /// The source with each rejected statement blanked, once there is one.
    masked: Option<Vec<u8>>,
}

impl Recovery<'_> {
    /// Finds every rejected statement, given how a parse of the whole file
    /// failed.
    ///
    /// When pest fails at an offset it has accepted every statement before
    /// the one at fault, which is the statement holding that offset or the
    /// one before it (which ran off its end into the next); so only those
    /// two are tried alone. The pre-scan's errors (an unterminated string,
    /// too deep a nesting) say nothing of the statements before, so those
    /// are still to be tried, up to the one at fault. The rest of the file
    /// is tried in runs that double while they parse, so clean stretches
    /// cost one parse of their text, and the whole stays linear however many
    /// statements fail.
    fn run(&mut self, rejected: Rejection) {
        let count = self.starts.len();
        let mut next = 0;
        let mut failure = Some(rejected);
        // A statement the pre-scan rejected, already tried, that runs stop at.
        let mut skip: Option<usize> = None;
        let mut run = 1;
        loop {
            if let Some(Rejection { at, by_scan }) = failure.take() {
                let k = self.starts.partition_point(|&s| s <= at).saturating_sub(1);
                if by_scan {
                    self.try_statements(k, k + 1);
                    skip = Some(k);
                } else {
                    let first = k.saturating_sub(1).max(next);
                    let mut found = false;
                    for c in first..=k {
                        found |= self.try_statements(c, c + 1);
                    }
                    if !found && first < k {
                        self.try_statements(first, k + 1);
                    }
                    next = k + 1;
                }
                run = 1;
            }
            if skip == Some(next) {
                skip = None;
                next += 1;
            }
            if next >= count {
                return;
            }
            let end = (next + run).min(count).min(skip.unwrap_or(count));
            let (a, b) = (self.start(next), self.start(end));
            match self.source.get(a..b).and_then(parser::rejects) {
                None => {
                    next = end;
                    run *= 2;
                }
                Some(r) => {
                    failure = Some(Rejection {
                        at: a + r.at,
                        by_scan: r.by_scan,
                    })
                }
            }
        }
    }

    /// Where statement `k` starts (the end of the file for the one past the last).
    fn start(&self, k: usize) -> usize {
        self.starts.get(k).copied().unwrap_or(self.source.len())
    }

    /// Tries statements `from..to` as one text; if the grammar rejects it,
    /// records the error, notes what they declare and blanks them.
    fn try_statements(&mut self, from: usize, to: usize) -> bool {
        let (start, end) = (self.start(from), self.start(to));
        let (Some(text), Some(rest)) = (self.source.get(start..end), self.source.get(start..))
        else {
            return false;
        };
        let Err(e) = parser::accepts(text, rest) else {
            return false;
        };
        self.errors.push(e.shifted(start));
        self.gaps.note(text);
        let bytes = self
            .masked
            .get_or_insert_with(|| self.source.as_bytes().to_vec());
        blank(&mut bytes[start..end]);
        true
    }
}

/// Leaves out of `program` every statement with a mistake found while
/// building it (its tree stands in for what was written, with a placeholder
/// where the mistake was, and checking it would report that placeholder).
fn leave_out_built(
    source: &str,
    mut program: Program,
    built: Vec<SyntaxError>,
    mut errors: Vec<SyntaxError>,
    mut gaps: Gaps,
) -> Parsed {
    if !built.is_empty() {
        let mut at: Vec<usize> = built.iter().map(|e| e.span().start).collect();
        at.sort_unstable();
        program.items.retain(|item| {
            let span = item.span();
            let first = at.partition_point(|&o| o < span.start);
            let broken = at.get(first).is_some_and(|&o| o <= span.end);
            if broken {
                gaps.note(source.get(span.start..span.end).unwrap_or(""));
            }
            !broken
        });
        errors.extend(built);
    }
    errors.sort_by_key(|e| e.span().start);
    Parsed {
        program: Some(program),
        errors,
        gaps,
    }
}

fn failed(mut errors: Vec<SyntaxError>) -> Parsed {
    errors.sort_by_key(|e| e.span().start);
    Parsed {
        program: None,
        errors,
        gaps: Gaps::default(),
    }
}

fn internal(message: &str) -> SyntaxError {
    SyntaxError::Internal {
        error: crate::internal::InternalError::new(message),
        span: super::Span::point(0),
    }
}

/// Spaces over a statement, keeping its newlines so lines stay where they were.
fn blank(bytes: &mut [u8]) {
    for b in bytes {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

//! Syntax errors: one variant per mistake, all wording in this file.
//!
//! Raise sites only fill in spans and facts; the sentences, labels and help
//! lines are written here so the voice stays consistent. Codes are
//! `flow::syntax::<kind>`; each has a heading in `docs/errors.md`.

use std::fmt::Display;

use miette::{Diagnostic, LabeledSpan};

use super::Span;
use crate::internal::InternalError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyntaxError {
    /// Something that cannot appear here; `expected` is already in words.
    /// A long list of expectations goes to the help line instead.
    #[error("{}", unexpected_message(expected, found))]
    Unexpected {
        expected: String,
        found: String,
        span: Span,
        /// The bracket or block this error is inside of, when the closer was
        /// one of the things expected: "section opened here".
        opened: Option<(&'static str, Span)>,
        /// Advice for a token borrowed from another language (`+`, `&&`).
        hint: Option<std::borrow::Cow<'static, str>>,
    },

    /// The file (or the statement) ended while a bracket or block was open.
    #[error("expected `{closer}` to close the {what} opened here")]
    Unclosed {
        closer: &'static str,
        what: &'static str,
        open: Span,
        at: Span,
        found: String,
    },

    #[error("expected an expression, found {found}")]
    ExpectedExpression { found: String, span: Span },

    #[error("expected `=` after `{name}`")]
    ExpectedAssign {
        name: String,
        name_span: Span,
        span: Span,
        found: String,
    },

    #[error("expected a type such as `text`, `bool` or `list<text>`, found {found}")]
    ExpectedType {
        found: String,
        span: Span,
        /// `list` written without `<T>`.
        bare_list: bool,
    },

    #[error("`vote` needs `by` and a strategy")]
    VoteNeedsBy {
        vote: Span,
        span: Span,
        found: String,
    },

    #[error("`{keyword}` is a keyword, not a name")]
    KeywordAsName { keyword: String, span: Span },

    #[error("unterminated string")]
    UnterminatedString { open: Span, triple: bool },

    #[error("unknown escape `{escape}` in a string")]
    InvalidEscape { escape: String, span: Span },

    #[error("`{text}` is not a name to interpolate")]
    BadInterpolation { text: String, span: Span },

    #[error("unclosed `{{` in a string")]
    UnclosedInterpolation { span: Span },

    #[error("{} cannot interpolate `{text}`", if *criteria { "a judge's criteria" } else { "a model option" })]
    InterpolationInModel {
        text: String,
        span: Span,
        /// In `judge MODEL criteria "..."`, not a model option.
        criteria: bool,
    },

    #[error("`{modifier}` is given twice")]
    DuplicateModifier {
        modifier: &'static str,
        first: Span,
        second: Span,
    },

    #[error("a comparison inside a {block} must be in parentheses")]
    ComparisonInBlock {
        block: &'static str,
        span: Span,
        /// The comparison as written, when short enough to quote.
        suggestion: Option<String>,
    },

    #[error("the program is nested too deeply")]
    TooDeep {
        span: Span,
        limit: usize,
        /// The limit hit was the length of an operator chain, not nesting.
        chain: bool,
    },

    #[error("`{text}` is too large")]
    NumberTooLarge { text: String, span: Span },

    #[error("a duration such as `{text}` is only allowed after `timeout` or in a model option")]
    MisplacedDuration { text: String, span: Span },

    /// The parser met a shape its own grammar rules out: a bug in flow.
    #[error("{error}")]
    Internal { error: InternalError, span: Span },
}

/// Every kind of user mistake, in documentation order (tests check each is
/// documented and has a fixture). `internal` is not among them: it is a bug
/// in flow, coded `flow::internal` like every stage's.
#[cfg(test)]
pub const KINDS: &[&str] = &[
    "unexpected",
    "unclosed",
    "expected_expression",
    "expected_assign",
    "expected_type",
    "vote_needs_by",
    "keyword_as_name",
    "unterminated_string",
    "invalid_escape",
    "bad_interpolation",
    "unclosed_interpolation",
    "interpolation_in_model",
    "duplicate_modifier",
    "comparison_in_block",
    "too_deep",
    "number_too_large",
    "misplaced_duration",
];

fn unexpected_message(expected: &str, found: &str) -> String {
    if short_expectation(expected) {
        format!("expected {expected}, found {found}")
    } else {
        format!("unexpected {found}")
    }
}

/// At most two things expected: short enough for the message itself.
fn short_expectation(expected: &str) -> bool {
    !expected.contains(", ")
}

/// A call's modifier found where an expression should start, and the call
/// written the right way round: people coming from other tools write
/// `vote 5 by majority < ask ... >` as if it wrapped the call.
fn modifier_first(found: &str) -> Option<(&'static str, &'static str)> {
    Some(match found {
        "the keyword `vote`" => ("vote", "ask MODEL \"...\" as bool vote 5 by majority"),
        "the keyword `repeat`" => ("repeat", "ask MODEL \"...\" repeat 3"),
        "the keyword `timeout`" => ("timeout", "ask MODEL \"...\" timeout 20s"),
        "the keyword `retry`" => ("retry", "ask MODEL \"...\" retry 2"),
        _ => return None,
    })
}

impl SyntaxError {
    /// The last segment of the code, e.g. `unclosed` (`internal` for
    /// [`SyntaxError::Internal`], whose code is `flow::internal`).
    pub fn kind(&self) -> &'static str {
        match self {
            SyntaxError::Unexpected { .. } => "unexpected",
            SyntaxError::Unclosed { .. } => "unclosed",
            SyntaxError::ExpectedExpression { .. } => "expected_expression",
            SyntaxError::ExpectedAssign { .. } => "expected_assign",
            SyntaxError::ExpectedType { .. } => "expected_type",
            SyntaxError::VoteNeedsBy { .. } => "vote_needs_by",
            SyntaxError::KeywordAsName { .. } => "keyword_as_name",
            SyntaxError::UnterminatedString { .. } => "unterminated_string",
            SyntaxError::InvalidEscape { .. } => "invalid_escape",
            SyntaxError::BadInterpolation { .. } => "bad_interpolation",
            SyntaxError::UnclosedInterpolation { .. } => "unclosed_interpolation",
            SyntaxError::InterpolationInModel { .. } => "interpolation_in_model",
            SyntaxError::DuplicateModifier { .. } => "duplicate_modifier",
            SyntaxError::ComparisonInBlock { .. } => "comparison_in_block",
            SyntaxError::TooDeep { .. } => "too_deep",
            SyntaxError::NumberTooLarge { .. } => "number_too_large",
            SyntaxError::MisplacedDuration { .. } => "misplaced_duration",
            SyntaxError::Internal { .. } => "internal",
        }
    }

    /// The primary span: where the mistake is.
    pub fn span(&self) -> Span {
        match self {
            SyntaxError::Unexpected { span, .. }
            | SyntaxError::ExpectedExpression { span, .. }
            | SyntaxError::ExpectedAssign { span, .. }
            | SyntaxError::ExpectedType { span, .. }
            | SyntaxError::VoteNeedsBy { span, .. }
            | SyntaxError::KeywordAsName { span, .. }
            | SyntaxError::InvalidEscape { span, .. }
            | SyntaxError::BadInterpolation { span, .. }
            | SyntaxError::UnclosedInterpolation { span }
            | SyntaxError::InterpolationInModel { span, .. }
            | SyntaxError::ComparisonInBlock { span, .. }
            | SyntaxError::TooDeep { span, .. }
            | SyntaxError::NumberTooLarge { span, .. }
            | SyntaxError::MisplacedDuration { span, .. }
            | SyntaxError::Internal { span, .. } => *span,
            SyntaxError::Unclosed { at, .. } => *at,
            SyntaxError::UnterminatedString { open, .. } => *open,
            SyntaxError::DuplicateModifier { second, .. } => *second,
        }
    }

    /// The same error for text that starts `by` bytes into the source: a
    /// statement parsed on its own while recovering reports offsets into
    /// itself, and so does an imported file, parsed on its own. Every span
    /// is named, so a new variant cannot forget one.
    pub(crate) fn shifted(self, by: usize) -> SyntaxError {
        let s = |span: Span| Span::new(span.start + by, span.end + by);
        match self {
            SyntaxError::Unexpected {
                expected,
                found,
                span,
                opened,
                hint,
            } => SyntaxError::Unexpected {
                expected,
                found,
                span: s(span),
                opened: opened.map(|(what, at)| (what, s(at))),
                hint,
            },
            SyntaxError::Unclosed {
                closer,
                what,
                open,
                at,
                found,
            } => SyntaxError::Unclosed {
                closer,
                what,
                open: s(open),
                at: s(at),
                found,
            },
            SyntaxError::ExpectedExpression { found, span } => SyntaxError::ExpectedExpression {
                found,
                span: s(span),
            },
            SyntaxError::ExpectedAssign {
                name,
                name_span,
                span,
                found,
            } => SyntaxError::ExpectedAssign {
                name,
                name_span: s(name_span),
                span: s(span),
                found,
            },
            SyntaxError::ExpectedType {
                found,
                span,
                bare_list,
            } => SyntaxError::ExpectedType {
                found,
                span: s(span),
                bare_list,
            },
            SyntaxError::VoteNeedsBy { vote, span, found } => SyntaxError::VoteNeedsBy {
                vote: s(vote),
                span: s(span),
                found,
            },
            SyntaxError::KeywordAsName { keyword, span } => SyntaxError::KeywordAsName {
                keyword,
                span: s(span),
            },
            SyntaxError::UnterminatedString { open, triple } => SyntaxError::UnterminatedString {
                open: s(open),
                triple,
            },
            SyntaxError::InvalidEscape { escape, span } => SyntaxError::InvalidEscape {
                escape,
                span: s(span),
            },
            SyntaxError::BadInterpolation { text, span } => SyntaxError::BadInterpolation {
                text,
                span: s(span),
            },
            SyntaxError::UnclosedInterpolation { span } => {
                SyntaxError::UnclosedInterpolation { span: s(span) }
            }
            SyntaxError::InterpolationInModel {
                text,
                span,
                criteria,
            } => SyntaxError::InterpolationInModel {
                text,
                span: s(span),
                criteria,
            },
            SyntaxError::DuplicateModifier {
                modifier,
                first,
                second,
            } => SyntaxError::DuplicateModifier {
                modifier,
                first: s(first),
                second: s(second),
            },
            SyntaxError::ComparisonInBlock {
                block,
                span,
                suggestion,
            } => SyntaxError::ComparisonInBlock {
                block,
                span: s(span),
                suggestion,
            },
            SyntaxError::TooDeep { span, limit, chain } => SyntaxError::TooDeep {
                span: s(span),
                limit,
                chain,
            },
            SyntaxError::NumberTooLarge { text, span } => SyntaxError::NumberTooLarge {
                text,
                span: s(span),
            },
            SyntaxError::MisplacedDuration { text, span } => SyntaxError::MisplacedDuration {
                text,
                span: s(span),
            },
            SyntaxError::Internal { error, span } => SyntaxError::Internal {
                error,
                span: s(span),
            },
        }
    }

    pub(super) fn help_text(&self) -> Option<String> {
        Some(match self {
            SyntaxError::Unexpected {
                hint: Some(hint), ..
            } => hint.to_string(),
            SyntaxError::Unexpected { expected, .. } if !short_expectation(expected) => {
                format!("expected {expected}")
            }
            SyntaxError::Unexpected { .. } => return None,
            SyntaxError::Unclosed { closer, what, .. } => {
                format!("add `{closer}` where the {what} should end")
            }
            SyntaxError::ExpectedExpression { found, .. } => match modifier_first(found) {
                // `vote 5 by majority < ask ... >`: the modifier put before
                // the call instead of after it.
                Some((modifier, example)) => {
                    format!("`{modifier}` comes after the call it changes, as in `{example}`")
                }
                None => "an expression is a string, a number, \
                    a name, a list `[...]`, `ask MODEL \"...\"`, `if ... then ... else ...`, \
                    `section < ... >` or `for x in list < ... >`"
                    .to_string(),
            },
            SyntaxError::ExpectedAssign { name, found, .. } => {
                let next = found
                    .strip_prefix('`')
                    .and_then(|f| f.strip_suffix('`'))
                    .unwrap_or("");
                if next.chars().next().is_some_and(|c| !c.is_ascii()) {
                    // `café = ...`: the name stopped at the first non-ASCII letter.
                    format!(
                        "names are ASCII: letters `a`-`z` and `A`-`Z`, digits and `_`; `{next}` cannot be part of one, so rename this binding"
                    )
                } else if ["let", "var", "const", "val", "def", "set"].contains(&name.as_str()) {
                    // `let x = ...`: a word from another language.
                    let bound = if is_name(next) { next } else { "NAME" };
                    format!("flow has no `{name}`: a binding is written `{bound} = EXPRESSION`")
                } else {
                    format!("a binding is written `{name} = EXPRESSION`")
                }
            }
            SyntaxError::ExpectedType {
                bare_list: true, ..
            } => "say what the list holds, e.g. `list<text>`".to_string(),
            SyntaxError::ExpectedType { .. } => "types are `text`, `bool`, `int`, `number`, \
                `json`, `list<T>` and choices such as `\"yes\" | \"no\"`"
                .to_string(),
            SyntaxError::VoteNeedsBy { .. } => "write e.g. `vote 5 by majority`; strategies are \
                `majority`, `unanimous`, `at_least K`, `mean`, `median` and `judge MODEL`"
                .to_string(),
            SyntaxError::KeywordAsName { keyword, .. } => {
                format!("choose another name, e.g. `{keyword}_`")
            }
            SyntaxError::UnterminatedString { triple: true, .. } => {
                "close it with `\"\"\"`".to_string()
            }
            SyntaxError::UnterminatedString { triple: false, .. } => {
                "close it with `\"` on the same line; use `\"\"\"...\"\"\"` for text \
                 spanning lines"
                    .to_string()
            }
            SyntaxError::InvalidEscape { .. } => "the escapes are `\\n`, `\\t`, `\\\"`, `\\\\`, \
                `\\{` and `\\}`; write `\\\\` for a backslash"
                .to_string(),
            SyntaxError::BadInterpolation { .. } => "`{...}` holds a name such as `{query}` or \
                `{review.score}`; write `\\{` for a literal brace"
                .to_string(),
            SyntaxError::UnclosedInterpolation { .. } => "close it with `}`, or write `\\{` for a \
                literal brace"
                .to_string(),
            SyntaxError::InterpolationInModel { criteria: true, .. } => "a judge's criteria are \
                a constant, the same for every vote; write `\\{` for a literal brace"
                .to_string(),
            SyntaxError::InterpolationInModel { .. } => "model options are constants; write `\\{` \
                for a literal brace"
                .to_string(),
            SyntaxError::DuplicateModifier { modifier, .. } => {
                format!("keep one `{modifier}`")
            }
            SyntaxError::ComparisonInBlock {
                suggestion: Some(s),
                ..
            } => format!("write `({s})`"),
            SyntaxError::ComparisonInBlock { .. } => {
                "write `(a > b)`: `>` closes the block".to_string()
            }
            SyntaxError::TooDeep { chain: true, .. } => format!(
                "an expression may chain at most {} operators; split it into named bindings",
                super::scan::MAX_CHAIN
            ),
            SyntaxError::TooDeep { limit, .. } => format!(
                "brackets, sections, `if` and `not` may nest at most {limit} levels; \
                 split the expression into named bindings"
            ),
            SyntaxError::NumberTooLarge { .. } => "whole numbers must fit in 64 bits".to_string(),
            SyntaxError::MisplacedDuration { .. } => {
                "write a plain number here, or move the duration to `timeout`".to_string()
            }
            SyntaxError::Internal { error, .. } => return error.help().map(|h| h.to_string()),
        })
    }

    fn label_list(&self) -> Vec<LabeledSpan> {
        let l = |text: String, span: Span| LabeledSpan::new_with_span(Some(text), span);
        match self {
            SyntaxError::Unexpected {
                expected,
                found,
                span,
                opened,
                ..
            } => {
                let _ = found;
                let text = if short_expectation(expected) {
                    format!("expected {expected}")
                } else {
                    "not allowed here".to_string()
                };
                let mut v = vec![l(text, *span)];
                if let Some((what, open)) = opened {
                    v.push(l(format!("the {what} opened here"), *open));
                }
                v
            }
            SyntaxError::Unclosed {
                closer,
                what,
                open,
                at,
                found,
            } => vec![
                l(format!("expected `{closer}` before {found}"), *at),
                l(format!("the {what} opened here"), *open),
            ],
            SyntaxError::ExpectedExpression { span, .. } => {
                vec![l("expected an expression here".into(), *span)]
            }
            SyntaxError::ExpectedAssign {
                name_span,
                span,
                found,
                ..
            } => vec![
                l(format!("expected `=`, found {found}"), *span),
                l("the name being bound".into(), *name_span),
            ],
            SyntaxError::ExpectedType {
                span,
                bare_list: true,
                ..
            } => vec![l("`list` needs an element type".into(), *span)],
            SyntaxError::ExpectedType { span, .. } => {
                vec![l("expected a type here".into(), *span)]
            }
            SyntaxError::VoteNeedsBy { vote, span, found } => vec![
                l(
                    format!("expected `by` and a strategy, found {found}"),
                    *span,
                ),
                l("this vote".into(), *vote),
            ],
            SyntaxError::KeywordAsName { span, .. } => {
                vec![l("reserved word".into(), *span)]
            }
            SyntaxError::UnterminatedString { open, .. } => {
                vec![l("this string is never closed".into(), *open)]
            }
            SyntaxError::InvalidEscape { span, .. } => {
                vec![l("unknown escape".into(), *span)]
            }
            SyntaxError::BadInterpolation { span, .. } => {
                vec![l("expected a name inside the braces".into(), *span)]
            }
            SyntaxError::UnclosedInterpolation { span } => {
                vec![l("this `{` is never closed".into(), *span)]
            }
            SyntaxError::InterpolationInModel { span, .. } => {
                vec![l("interpolation".into(), *span)]
            }
            SyntaxError::DuplicateModifier { first, second, .. } => vec![
                l("first given here".into(), *first),
                l("given again here".into(), *second),
            ],
            SyntaxError::ComparisonInBlock { block, span, .. } => vec![l(
                format!("`<` and `>` delimit the {block}: wrap this in parentheses"),
                *span,
            )],
            SyntaxError::TooDeep { span, .. } => {
                vec![l("nested too deeply here".into(), *span)]
            }
            SyntaxError::NumberTooLarge { span, .. } => vec![l("too large".into(), *span)],
            SyntaxError::MisplacedDuration { span, .. } => {
                vec![l("a duration".into(), *span)]
            }
            SyntaxError::Internal { span, .. } => vec![l("here".into(), *span)],
        }
    }
}

impl Diagnostic for SyntaxError {
    fn code<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        if let SyntaxError::Internal { error, .. } = self {
            return error.code();
        }
        Some(Box::new(format!("flow::syntax::{}", self.kind())))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.help_text()
            .map(|h| Box::new(h) as Box<dyn Display + 'a>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.label_list().into_iter()))
    }
}

/// Whether `word` could be a binding's name.
fn is_name(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_parser_error_has_the_one_internal_code_and_a_label() {
        let e = SyntaxError::Internal {
            error: InternalError::new("a string token without quotes"),
            span: Span::point(3),
        };
        assert_eq!(
            e.code().map(|c| c.to_string()).as_deref(),
            Some("flow::internal")
        );
        assert_eq!(
            e.to_string(),
            "internal error: a string token without quotes; this is a bug in flow"
        );
        assert!(e.help().is_some_and(|h| h.to_string().contains("report")));
        assert!(e.labels().is_some_and(|mut l| l.next().is_some()));
        assert!(!KINDS.contains(&e.kind()), "not a user mistake");
    }
}

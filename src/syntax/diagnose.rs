//! pest's failure → a `SyntaxError` that speaks `.flow`.
//!
//! pest reports the furthest position it reached and the rules it tried
//! there. `to_symbol` turns each rule into words (jj's idea); `from_pest`
//! then recognises the common situations (a missing `=`, a missing closer, a
//! missing type or expression, an incomplete `vote`, a keyword used as a name)
//! and picks the dedicated error, falling back to "expected X, found Y".

use pest::error::{Error, ErrorVariant, InputLocation};

use super::Span;
use super::error::SyntaxError;
use super::parser::{KEYWORDS, Rule};
use super::scan::{self, OpenKind};

pub fn from_pest(src: &str, err: Error<Rule>) -> SyntaxError {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(src.len());
    match err.variant {
        ErrorVariant::CustomError { message } => {
            if message.contains("limit") {
                SyntaxError::TooDeep {
                    span: Span::point(pos),
                    limit: scan::MAX_DEPTH,
                    chain: false,
                }
            } else {
                SyntaxError::Internal {
                    error: crate::internal::InternalError::new(message),
                    span: Span::point(pos),
                }
            }
        }
        ErrorVariant::ParsingError { positives, .. } => classify(src, pos, &positives),
    }
}

/// What the user wrote at `pos`: its span and a description.
pub fn token_at(src: &str, pos: usize) -> (Span, String) {
    // The end of the file is labelled right after its last character, so the
    // label sits on a line the user can see.
    let end = || {
        let at = src.trim_end().len();
        (Span::point(at), "the end of the file".to_string())
    };
    let Some(rest) = src.get(pos..) else {
        return end();
    };
    let Some(c) = rest.chars().next() else {
        return end();
    };
    if c == '"' {
        let end = scan::string_end(src, pos).unwrap_or(src.len());
        return (Span::new(pos, end), "a string".into());
    }
    if c.is_ascii_alphanumeric() || c == '_' {
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let word = &rest[..len];
        let span = Span::new(pos, pos + len);
        return if KEYWORDS.contains(&word) {
            (span, format!("the keyword `{word}`"))
        } else {
            (span, format!("`{word}`"))
        };
    }
    for op in ["==", "!=", "<=", ">="] {
        if rest.starts_with(op) {
            return (Span::new(pos, pos + 2), format!("`{op}`"));
        }
    }
    let span = Span::new(pos, pos + c.len_utf8());
    let desc = if c.is_control() || c.is_whitespace() {
        format!("the character U+{:04X}", c as u32)
    } else if c == '`' {
        "a backtick".to_string()
    } else {
        format!("`{c}`")
    };
    (span, desc)
}

/// The word (identifier or keyword) that ends right before `pos`, skipping
/// white space.
fn word_before(src: &str, pos: usize) -> Option<(String, Span)> {
    let before = src.get(..pos)?;
    let trimmed = before.trim_end();
    let end = trimmed.len();
    let len = trimmed
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if len == 0 {
        return None;
    }
    let word = &trimmed[end - len..];
    if !word
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
    {
        return None;
    }
    Some((word.to_string(), Span::new(end - len, end)))
}

/// The first significant character after the token at `span`.
fn char_after(src: &str, span: Span) -> Option<char> {
    src.get(span.end..)?.trim_start().chars().next()
}

/// Groups of expected things, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Token,
    Operator,
    Modifier,
    Category,
    Statement,
    End,
}

/// A rule in the user's words (`None`: never mention it).
fn to_symbol(rule: Rule) -> Option<(Group, &'static str)> {
    use Group::*;
    Some(match rule {
        Rule::EOI => (End, "the end of the file"),
        Rule::model_decl
        | Rule::input_decl
        | Rule::output_decl
        | Rule::binding
        | Rule::type_decl
        | Rule::fn_decl
        | Rule::import_decl
        | Rule::kw_fn
        | Rule::kw_import
        | Rule::kw_type
        | Rule::kw_model
        | Rule::kw_input
        | Rule::kw_output
        | Rule::test_decl
        | Rule::kw_test => (Statement, "a statement"),
        Rule::expect_line | Rule::test_input | Rule::test_model | Rule::kw_expect => (
            Category,
            "a test line (`expect ...`, `NAME = value` or `model ...`)",
        ),
        Rule::kw_contains => (Token, "`contains`"),
        Rule::ident | Rule::qual_name | Rule::qual_call => (Category, "a name"),
        Rule::param => (Category, "a parameter `name: type`"),
        Rule::fn_block => (Token, "`<`"),
        Rule::field_name | Rule::field => (Category, "a field name"),
        Rule::literal | Rule::lit_list | Rule::lit_map => (Category, "a value"),
        Rule::string | Rule::union_type => (Category, "a string"),
        Rule::int | Rule::count => (Category, "a whole number"),
        Rule::number => (Category, "a number"),
        Rule::duration => (Category, "a duration such as `30s`"),
        Rule::type_expr | Rule::type_name | Rule::list_type | Rule::kw_list | Rule::record_type => {
            (Category, "a type")
        }
        Rule::record_field => (Category, "a field `name: type`"),
        Rule::question => (Token, "`?`"),
        Rule::expr
        | Rule::bexpr
        | Rule::if_expr
        | Rule::bif_expr
        | Rule::or_expr
        | Rule::bor_expr
        | Rule::and_expr
        | Rule::band_expr
        | Rule::not_expr
        | Rule::bnot_expr
        | Rule::cmp_expr
        | Rule::bcmp_expr
        | Rule::postfix
        | Rule::list
        | Rule::call
        | Rule::paren
        | Rule::ask
        | Rule::for_expr
        | Rule::kw_ask
        | Rule::kw_for
        | Rule::kw_if
        | Rule::op_not => (Category, "an expression"),
        Rule::member => (Category, "a section member"),
        Rule::model_option => (Category, "an option `name: value`"),
        Rule::model_args => (Category, "a model argument"),
        Rule::map_entry => (Category, "an entry `\"key\": value`"),
        Rule::strategy | Rule::strategy_arg => (Category, "a voting strategy"),
        Rule::criteria | Rule::kw_criteria => (Token, "`criteria`"),
        Rule::modifiers
        | Rule::mod_as
        | Rule::mod_repeat
        | Rule::mod_vote
        | Rule::mod_timeout
        | Rule::mod_retry
        | Rule::mod_with
        | Rule::kw_with
        | Rule::kw_as
        | Rule::kw_repeat
        | Rule::kw_vote
        | Rule::kw_timeout
        | Rule::kw_retry => (Modifier, "a modifier such as `as` or `vote`"),
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_gt_operand
        | Rule::misplaced_cmp
        | Rule::dot => (Operator, "an operator"),
        Rule::kw_section | Rule::section => (Token, "`section`"),
        Rule::system | Rule::kw_system => (Token, "`system`"),
        Rule::kw_by => (Token, "`by`"),
        Rule::kw_in => (Token, "`in`"),
        Rule::kw_then => (Token, "`then`"),
        Rule::kw_else => (Token, "`else`"),
        Rule::kw_true => (Token, "`true`"),
        Rule::kw_false => (Token, "`false`"),
        Rule::assign => (Token, "`=`"),
        Rule::colon => (Token, "`:`"),
        Rule::comma => (Token, "`,`"),
        Rule::pipe => (Token, "`|`"),
        Rule::lparen => (Token, "`(`"),
        Rule::rparen => (Token, "`)`"),
        Rule::lbrack => (Token, "`[`"),
        Rule::rbrack => (Token, "`]`"),
        Rule::lbrace => (Token, "`{`"),
        Rule::rbrace => (Token, "`}`"),
        Rule::open_angle => (Token, "`<`"),
        Rule::close_angle => (Token, "`>`"),
        // The whole program failed at its start: a statement was expected.
        Rule::program => (Statement, "a statement"),
        _ => return None,
    })
}

/// "a, b or c".
fn join_words(words: &[&str]) -> String {
    match words {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn closer_rule(kind: OpenKind) -> Rule {
    match kind {
        OpenKind::Paren => Rule::rparen,
        OpenKind::Bracket => Rule::rbrack,
        OpenKind::Brace => Rule::rbrace,
        OpenKind::Section | OpenKind::For | OpenKind::ListType => Rule::close_angle,
    }
}

fn is_expression_start(rule: Rule) -> bool {
    matches!(to_symbol(rule), Some((_, "an expression")))
}

fn classify(src: &str, pos: usize, positives: &[Rule]) -> SyntaxError {
    let (span, found) = token_at(src, pos);
    let has = |r: Rule| positives.contains(&r);
    let found_keyword = src
        .get(span.start..span.end)
        .filter(|w| KEYWORDS.contains(w))
        .map(str::to_string);

    // `input if: text`, `model = ...`, `for in in xs`.
    let binds_keyword = matches!(char_after(src, span), Some('=' | ':'))
        && !src
            .get(span.end..)
            .is_some_and(|s| s.trim_start().starts_with("=="));
    let statement_expected = positives
        .iter()
        .any(|r| matches!(to_symbol(*r), Some((Group::Statement, _))));
    if let Some(keyword) = &found_keyword
        && ((has(Rule::ident) && (positives.len() == 1 || binds_keyword))
            || (statement_expected && binds_keyword))
    {
        return SyntaxError::KeywordAsName {
            keyword: keyword.clone(),
            span,
        };
    }

    let after_by =
        positives == [Rule::ident] && word_before(src, pos).is_some_and(|(w, _)| w == "by");
    // `model = ...`: the keyword was taken as the start of a declaration.
    if has(Rule::ident)
        && matches!(src.get(span.start..span.end), Some("=" | ":"))
        && let Some((word, word_span)) = word_before(src, pos)
        && KEYWORDS.contains(&word.as_str())
    {
        return SyntaxError::KeywordAsName {
            keyword: word,
            span: word_span,
        };
    }

    if has(Rule::kw_by) || has(Rule::strategy) || after_by {
        let vote = src
            .get(..pos)
            .and_then(|b| b.rfind("vote"))
            .map_or(span, |at| Span::new(at, at + 4));
        return SyntaxError::VoteNeedsBy { vote, span, found };
    }

    if positives
        .iter()
        .all(|r| matches!(to_symbol(*r), Some((_, "a type"))))
        && !positives.is_empty()
    {
        return SyntaxError::ExpectedType {
            found,
            span,
            bare_list: false,
        };
    }

    // Inside a bracket or block whose closer would have been accepted.
    let opened = scan::open_at(src, pos).filter(|o| has(closer_rule(o.kind)));
    if let Some(open) = opened {
        let at_statement = found == "the end of the file"
            || matches!(
                found_keyword.as_deref(),
                Some("model" | "input" | "output" | "fn" | "import")
            )
            || (open.kind != OpenKind::Section
                && found_keyword.is_none()
                && found.starts_with('`')
                && src
                    .get(span.start..)
                    .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
                && char_after(src, span) == Some('=')
                && src
                    .get(span.end..)
                    .is_some_and(|s| !s.trim_start().starts_with("==")));
        if at_statement {
            return SyntaxError::Unclosed {
                closer: open.kind.closer(),
                what: open.kind.describe(),
                open: open.span,
                at: span,
                found,
            };
        }
    }

    if !positives.is_empty() && positives.iter().all(|r| is_expression_start(*r)) {
        return SyntaxError::ExpectedExpression { found, span };
    }

    if positives == [Rule::assign]
        && let Some((name, name_span)) = word_before(src, pos)
        && !KEYWORDS.contains(&name.as_str())
    {
        return SyntaxError::ExpectedAssign {
            name,
            name_span,
            span,
            found,
        };
    }

    // `ask m` with no prompt: say which string is missing.
    if positives == [Rule::string]
        && let Some((model, model_span)) = word_before(src, pos)
        && word_before(src, model_span.start).is_some_and(|(w, _)| w == "ask")
    {
        // `ask m q`: a value where the prompt goes, on the same line (a
        // name on the next is the next statement, the prompt forgotten).
        let same_line = src
            .get(model_span.end..span.start)
            .is_some_and(|gap| !gap.contains('\n'));
        let hint = found
            .strip_prefix('`')
            .and_then(|f| f.strip_suffix('`'))
            .filter(|f| same_line && f.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
            .map(|name| {
                format!(
                    "a prompt is always a string: to send `{name}`, write it inside one, as in `ask {model} \"{{{name}}}\"`"
                )
                .into()
            });
        return SyntaxError::Unexpected {
            expected: format!("the prompt string after `ask {model}`"),
            found,
            span,
            opened: None,
            hint,
        };
    }

    let mut words: Vec<(Group, &'static str)> =
        positives.iter().filter_map(|r| to_symbol(*r)).collect();
    words.sort();
    words.dedup();
    // A name or `section` where a statement may start is that statement.
    if words.iter().any(|(g, _)| *g == Group::Statement) {
        words.retain(|(_, w)| *w != "a name" && *w != "`section`");
    }
    // After a name, `(` would make a call; listing it next to the operators
    // only distracts.
    if words.iter().any(|(g, _)| *g == Group::Operator) {
        words.retain(|(_, w)| *w != "`(`");
    }
    let words: Vec<&str> = words.into_iter().map(|(_, w)| w).collect();
    SyntaxError::Unexpected {
        expected: join_words(&words),
        found,
        span,
        opened: opened.map(|o| (o.kind.describe(), o.span)),
        hint: list_type_hint(src, pos)
            .or_else(|| foreign_hint(src.get(span.start..).unwrap_or(""), after_word(src, pos)))
            .map(std::borrow::Cow::Borrowed),
    }
}

/// `list[text]`, as Python and TypeScript write it: flow's list type takes
/// its element type in angle brackets.
fn list_type_hint(src: &str, pos: usize) -> Option<&'static str> {
    let glued = src.get(pos..)?.starts_with('[') && after_word(src, pos);
    (glued && word_before(src, pos).is_some_and(|(w, _)| w == "list"))
        .then_some("a list type takes its element type in angle brackets: `list<text>`")
}

/// Whether `pos` directly follows a letter, digit or `_` (no space between).
fn after_word(src: &str, pos: usize) -> bool {
    pos > 0
        && src
            .as_bytes()
            .get(pos - 1)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Advice for tokens people bring from other languages; `after_word` when
/// the token is glued to a name before it.
fn foreign_hint(rest: &str, after_word: bool) -> Option<&'static str> {
    let first = rest.chars().next()?;
    // `output café`: the name stopped at its first non-ASCII letter.
    if after_word && first.is_alphabetic() && !first.is_ascii() {
        return Some("names are ASCII: letters `a`-`z` and `A`-`Z`, digits and `_`");
    }
    let negative = first == '-' && rest[1..].starts_with(|c: char| c.is_ascii_digit());
    Some(match first {
        // `retry -1`, `repeat -2`: not arithmetic, a count below zero.
        '-' if negative => {
            "flow has no negative numbers: counts such as `retry 2` or `repeat 3` are 0 or more"
        }
        '+' | '-' | '*' | '/' | '%' => {
            "flow has no arithmetic; to combine text use a template such as `\"{a} {b}\"`"
        }
        '&' => "write `and` instead of `&&`",
        '|' if rest.starts_with("||") => "write `or` instead of `||`",
        '!' => "write `not x` instead of `!x`",
        '\'' => "strings use double quotes: `\"...\"`",
        ';' => "statements need no separator; remove the `;`",
        _ => return None,
    })
}

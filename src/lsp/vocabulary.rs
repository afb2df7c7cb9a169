//! The fixed words of the language, with what completion tells about each.
//!
//! The checker owns the rules; these lists only describe them to a user who
//! is typing. A test compiles every option and strategy listed here, so the
//! lists cannot name one the checker does not know.

/// Words that cannot name anything (the grammar's `keyword` rule), plus the
/// words other statements are starting to reserve (`fn`, `import`, `test`,
/// `expect`, `until`).
pub const KEYWORDS: &[&str] = &[
    "model", "input", "output", "section", "ask", "system", "as", "vote", "by", "repeat", "for",
    "in", "if", "then", "else", "and", "or", "not", "true", "false", "timeout", "retry",
];

/// Words that start a statement.
pub const STATEMENTS: &[(&str, &str)] = &[
    ("model", "model NAME = PROVIDER(\"id\", option: value)"),
    ("input", "input NAME: TYPE [= DEFAULT]"),
    ("output", "output NAME [= EXPR]"),
    (
        "section",
        "section < a = ..., b = ... >: members that run in parallel",
    ),
    ("type", "type NAME = TYPE"),
];

/// Words that start or continue an expression.
pub const EXPRESSION_WORDS: &[(&str, &str)] = &[
    (
        "ask",
        "ask MODEL \"prompt\" [system \"...\"] [as T] [repeat N | vote N by S]",
    ),
    (
        "section",
        "section < ... >: independent members, run in parallel",
    ),
    ("for", "for x in LIST < BODY >: a parallel map"),
    ("if", "if COND then A else B"),
    ("true", "bool"),
    ("false", "bool"),
    ("not", "not EXPR"),
];

/// Modifiers after an `ask` or a section.
pub const MODIFIERS: &[(&str, &str)] = &[
    ("as", "as TYPE: parse the reply into a type"),
    ("repeat", "repeat N: a list of N independent samples"),
    (
        "vote",
        "vote N by STRATEGY: N samples combined into one answer",
    ),
    ("timeout", "timeout 30s: per attempt"),
    ("retry", "retry N: attempts after the first"),
    ("system", "system \"...\": the system prompt"),
    ("with", "with HISTORY: a `chat` value the call continues"),
];

/// The written types.
pub const TYPES: &[(&str, &str)] = &[
    ("text", "a string"),
    ("bool", "true or false"),
    ("int", "a whole number"),
    ("number", "a number"),
    ("json", "any JSON value"),
    ("chat", "a conversation (messages with roles)"),
    ("list", "list<T>"),
];

/// Voting strategies, with what they take.
pub const STRATEGIES: &[(&str, &str)] = &[
    (
        "majority",
        "the most common answer; ties go to the earliest sample",
    ),
    ("unanimous", "every sample must agree, or the vote fails"),
    ("at_least", "at_least K: an answer needs K samples agreeing"),
    ("mean", "the mean of numeric samples"),
    ("median", "the median of numeric samples"),
    (
        "judge",
        "judge MODEL [criteria \"...\"]: a model picks the best answer",
    ),
];

/// Builtin functions, with their signatures.
pub const BUILTINS: &[(&str, &str)] = &[
    ("join", "join(list, sep: text) -> text"),
    ("split", "split(text, sep: text) -> list<text>"),
    ("lines", "lines(text) -> list<text>"),
    ("len", "len(text | list) -> int"),
    ("trim", "trim(text) -> text"),
    ("lower", "lower(text) -> text"),
    ("upper", "upper(text) -> text"),
    ("contains", "contains(text | list, item) -> bool"),
];

/// Providers, with how they are declared.
pub const PROVIDERS: &[(&str, &str)] = &[
    (
        "openai",
        "openai(\"gpt-4o-mini\", ...): Chat Completions, or a compatible server with base_url",
    ),
    (
        "anthropic",
        "anthropic(\"claude-3-5-haiku-latest\", ...): the Messages API",
    ),
    (
        "mock",
        "mock(reply: \"...\"): offline, deterministic replies",
    ),
];

/// A model option: its name, the type its value must have, an example
/// value, and whether only `mock` takes it.
pub struct ModelOption {
    pub name: &'static str,
    pub ty: &'static str,
    pub example: &'static str,
    pub mock_only: bool,
    pub doc: &'static str,
}

const fn opt(
    name: &'static str,
    ty: &'static str,
    example: &'static str,
    mock_only: bool,
    doc: &'static str,
) -> ModelOption {
    ModelOption {
        name,
        ty,
        example,
        mock_only,
        doc,
    }
}

pub const MODEL_OPTIONS: &[ModelOption] = &[
    opt(
        "temperature",
        "number (0 to 2)",
        "0.7",
        false,
        "sampling temperature",
    ),
    opt(
        "max_tokens",
        "int (at least 1)",
        "400",
        false,
        "the most tokens a reply may have; bounds the cost",
    ),
    opt("top_p", "number (0 to 1)", "0.9", false, "nucleus sampling"),
    opt(
        "system",
        "text",
        "\"You are terse.\"",
        false,
        "the system prompt of calls that give none",
    ),
    opt(
        "base_url",
        "text",
        "\"http://localhost:11434/v1\"",
        false,
        "a compatible server instead of the provider's API",
    ),
    opt(
        "api_key_env",
        "text",
        "\"MY_KEY\"",
        false,
        "the environment variable holding the key (never the key itself)",
    ),
    opt(
        "concurrency",
        "int (at least 1)",
        "4",
        false,
        "calls in flight at most",
    ),
    opt(
        "rpm",
        "int (at least 1)",
        "60",
        false,
        "requests a minute at most",
    ),
    opt("timeout", "duration", "30s", false, "per attempt"),
    opt(
        "retry",
        "int (at least 0)",
        "2",
        false,
        "attempts after the first",
    ),
    opt(
        "max_reply_bytes",
        "int (at least 1)",
        "67108864",
        false,
        "the largest reply body accepted",
    ),
    opt(
        "price_in",
        "number (dollars per million tokens)",
        "0.15",
        false,
        "input price",
    ),
    opt(
        "price_out",
        "number (dollars per million tokens)",
        "0.6",
        false,
        "output price; with max_tokens, gives a cost bound",
    ),
    opt(
        "structured",
        "\"schema\" | \"json\" | \"prompt\" | \"off\"",
        "\"schema\"",
        false,
        "how an `as` type is asked for",
    ),
    opt(
        "reply",
        "text",
        "\"yes\"",
        true,
        "the reply to every prompt",
    ),
    opt(
        "replies",
        "list<text>",
        "[\"yes\", \"no\"]",
        true,
        "replies taken in turn",
    ),
    opt(
        "rules",
        "{text: text}",
        "{\"bomb\": \"yes\", \"*\": \"no\"}",
        true,
        "the first key found in the prompt picks the reply",
    ),
    opt("echo", "bool", "true", true, "reply with the prompt"),
    opt("latency", "duration", "20ms", true, "wait before answering"),
    opt(
        "chunk_delay",
        "duration",
        "10ms",
        true,
        "time between streamed chunks",
    ),
    opt(
        "fail_first",
        "int (at least 0)",
        "1",
        true,
        "fail each call's first N attempts",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and strategy listed here is one the checker accepts.
    #[test]
    fn lists_agree_with_the_checker() {
        for o in MODEL_OPTIONS {
            let provider = if o.mock_only {
                "mock(".to_string()
            } else {
                "openai(\"gpt-4o-mini\", ".to_string()
            };
            let text = format!(
                "model m = {provider}{}: {})\nx = ask m \"hi\"\noutput x\n",
                o.name, o.example
            );
            let c = crate::compile(&text);
            assert!(!c.diagnostics.has_errors(), "{text}: {:?}", c.diagnostics);
        }
        for (s, _) in STRATEGIES {
            let (ty, strategy) = match *s {
                "at_least" => ("bool", "at_least 2"),
                "judge" => ("text", "judge m"),
                other => ("int", other),
            };
            let text = format!(
                "model m = mock()\nx = ask m \"hi\" as {ty} vote 3 by {strategy}\noutput x\n"
            );
            let c = crate::compile(&text);
            assert!(!c.diagnostics.has_errors(), "{text}: {:?}", c.diagnostics);
        }
        for (b, _) in BUILTINS {
            assert!(crate::graph::Builtin::from_name(b).is_some(), "{b}");
        }
        for (p, _) in PROVIDERS {
            assert!(crate::model::ProviderKind::from_name(p).is_some(), "{p}");
        }
    }
}

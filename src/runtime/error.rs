//! Why a run failed, as miette diagnostics pointing at the node that failed.
//!
//! Every variant carries the span of the binding or call it concerns and
//! enough structure (which sample, which attempt, what the provider said) for
//! the message to be written here, once, rather than at each raise site.

use std::fmt;
use std::time::Duration;

use miette::{Diagnostic, SourceSpan};

use crate::internal::InternalError;
use crate::syntax::Span;

/// Where inside a node a call was made: the binding, the `for` element(s) and
/// the sample of a `vote`/`repeat`/ensemble.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    /// The node the call belongs to, as the graph names it.
    pub binding: String,
    /// Element indices of enclosing `for` loops, outermost first.
    pub items: Vec<usize>,
    /// Which sample of a `vote`, `repeat` or ensemble, if the call is one.
    pub sample: Option<SampleIx>,
    /// This call is the judge of a `judge` vote, not one of its samples.
    pub judge: bool,
}

/// Which of a call site's samples a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SampleIx {
    /// 0-based index in the pooled samples.
    pub index: u32,
    /// How many samples the site takes in all.
    pub of: u32,
    /// For an ensemble: which voter (section member), 0-based.
    pub voter: Option<u32>,
}

impl Site {
    /// The site of a plain call made by `binding`.
    pub fn new(binding: impl Into<String>) -> Site {
        Site {
            binding: binding.into(),
            items: Vec::new(),
            sample: None,
            judge: false,
        }
    }

    /// A short name for trace slices: `binding[item]#sample`.
    pub fn slice_name(&self) -> String {
        let mut s = self.binding.clone();
        for i in &self.items {
            s.push_str(&format!("[{i}]"));
        }
        if self.judge {
            s.push_str("#judge");
        } else if let Some(sample) = self.sample {
            match sample.voter {
                Some(v) => s.push_str(&format!("#v{v}.{}", sample.index)),
                None => s.push_str(&format!("#{}", sample.index)),
            }
        }
        s
    }
}

/// The binding as the user wrote it. The checker names the nodes it makes
/// for inline calls, maps and conditions `owner.ask1`, `owner.map1`,
/// `owner.cond1`; messages name the owner instead, and their label's span
/// shows which part of it failed.
pub fn written_binding(name: &str) -> &str {
    let mut name = name;
    while let Some((owner, last)) = name.rsplit_once('.') {
        let synthesized = ["ask", "map", "cond"].iter().any(|kind| {
            last.strip_prefix(kind)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if !synthesized {
            break;
        }
        name = owner;
    }
    name
}

impl Site {
    /// The part of the description after the binding, for labels that sit on
    /// the binding already: `element 3, sample 2 of 5: `, or nothing.
    fn within(&self) -> String {
        let full = self.to_string();
        let binding = format!("`{}`", written_binding(&self.binding));
        match full
            .strip_prefix(&binding)
            .and_then(|r| r.strip_prefix(", "))
        {
            Some(rest) => format!("{rest}: "),
            None => String::new(),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", written_binding(&self.binding))?;
        for i in &self.items {
            write!(f, ", element {i}")?;
        }
        if self.judge {
            f.write_str(", the judge")?;
        } else if let Some(s) = self.sample {
            if let Some(v) = s.voter {
                write!(f, ", voter {}", v + 1)?;
            }
            write!(f, ", sample {} of {}", s.index + 1, s.of)?;
        }
        Ok(())
    }
}

/// A value of the wrong shape at run time. The checker rules most of these
/// out; json values and replies can still surprise.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeProblem {
    /// A record or JSON object lacks the field read.
    MissingField {
        /// The field read.
        field: String,
        /// The fields the value does have, for the message.
        available: Vec<String>,
    },
    /// A field was read from a value that has none (text, a number, a list).
    NoFields {
        /// The field read.
        field: String,
        /// The kind of value it was read from.
        found: &'static str,
    },
    /// A value of another kind than the operation needs.
    Expected {
        /// The kind needed.
        expected: &'static str,
        /// The kind found.
        found: &'static str,
    },
    /// An ordering comparison between values that have no common order.
    Incomparable {
        /// The kind of the left operand.
        left: &'static str,
        /// The kind of the right operand.
        right: &'static str,
    },
    /// `split` with an empty separator.
    EmptySeparator,
}

impl fmt::Display for TypeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeProblem::MissingField { field, available } if available.is_empty() => {
                write!(f, "the value has no field `{field}`")
            }
            TypeProblem::MissingField { field, available } => write!(
                f,
                "the value has no field `{field}` (it has {})",
                available
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TypeProblem::NoFields { field, found } => {
                write!(f, "cannot read field `{field}` of a {found} value")
            }
            TypeProblem::Expected { expected, found } => {
                write!(f, "expected {expected}, found a {found} value")
            }
            TypeProblem::Incomparable { left, right } => {
                write!(f, "cannot order a {left} value against a {right} value")
            }
            TypeProblem::EmptySeparator => f.write_str("`split` needs a non-empty separator"),
        }
    }
}

/// Text quoted in a message, cut short so one huge reply does not flood the terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Quoted(pub String);

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 300;
        let (head, cut) = crate::text::cut(&self.0, MAX);
        write!(f, "{head:?}{}", if cut { "…" } else { "" })
    }
}

struct Attempts(u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }
    }
}

fn fmt_attempts(n: &u32) -> Attempts {
    Attempts(*n)
}

/// `` (one attempt) or ` on each of 3 attempts`.
fn fmt_each(n: &u32) -> String {
    match n {
        1 => String::new(),
        n => format!(" on each of {n} attempts"),
    }
}

fn fmt_help(h: &Option<String>) -> String {
    h.clone().unwrap_or_else(|| {
        "check the model's settings and the provider's status; transient faults are retried with `retry N`".into()
    })
}

fn fmt_status(s: &Option<u16>) -> String {
    s.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

/// `60s`, `1500ms`, and for long waits the hours or minutes too:
/// `86400s (24 hours)`.
fn fmt_wait(d: &Duration) -> String {
    let secs = d.as_secs();
    let about = match secs {
        7200.. => format!(" ({} hours)", secs / 3600),
        3600..7200 => " (1 hour)".to_string(),
        120.. => format!(" ({} minutes)", secs / 60),
        _ => String::new(),
    };
    format!("{}{about}", fmt_millis(d))
}

fn fmt_cut(truncated: &bool) -> &'static str {
    if *truncated {
        " (the reply was cut off at the token limit, `max_tokens`)"
    } else {
        ""
    }
}

/// What to do about replies that did not parse: a cut-off reply needs more
/// tokens; the prompt of an `ask` is the user's to fix, a judge's is flow's,
/// so a judge gets other advice.
fn unparsable_help(site: &Site, truncated: &bool) -> &'static str {
    if *truncated {
        "raise the model's `max_tokens`, or ask for a shorter reply"
    } else if site.judge {
        super::vote::JUDGE_UNPARSABLE_HELP
    } else {
        "make the prompt say exactly what to answer (e.g. \"answer yes or no\"), or raise `retry`"
    }
}

fn fmt_millis(d: &Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Why a run failed. Each variant is one kind of failure with its own miette
/// code (see `docs/errors.md`) and points at the binding or call that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Diagnostic)]
pub enum RunError {
    /// A call kept failing (HTTP error, connection, missing key) until its retries ran out.
    #[error("the call to `{model}` for {site} failed after {}{}: {message}", fmt_attempts(.attempts), fmt_status(.status))]
    #[diagnostic(code(flow::run::call_failed), help("{}", fmt_help(.help)))]
    CallFailed {
        /// Which call of which node.
        site: Box<Site>,
        /// The flow model's name.
        model: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// The provider's description of the last failure.
        message: String,
        /// The HTTP status of the last failure, when there was one.
        status: Option<u16>,
        /// Advice specific to the failure, replacing the generic help line.
        help: Option<String>,
        /// The `ask` that made the call.
        #[label("{}attempt {attempts} failed", site.within())]
        span: SourceSpan,
    },

    /// A rate-limited call whose server asked to wait longer than flow will.
    #[error("the call to `{model}` for {site} failed after {}{}: {message}; the server asked to wait {} before another attempt, and flow waits at most {}", fmt_attempts(.attempts), fmt_status(.status), fmt_wait(.asked), fmt_wait(.cap))]
    #[diagnostic(
        code(flow::run::retry_after_too_long),
        help(
            "the provider's rate limit or quota is used up for now: run again after the wait, or check your plan's limits"
        )
    )]
    RetryAfterTooLong {
        /// The call site and sample.
        site: Box<Site>,
        /// The flow model's name.
        model: String,
        /// Attempts made, this one included.
        attempts: u32,
        /// The provider's error for the last attempt.
        message: String,
        /// Its HTTP status, when it had one.
        status: Option<u16>,
        /// What the server's `Retry-After` (or similar header) asked for.
        asked: Duration,
        /// `RetryPolicy::max_retry_after`.
        cap: Duration,
        /// The call in the source.
        #[label("{}attempt {attempts} was told to wait {}", site.within(), fmt_wait(asked))]
        span: SourceSpan,
    },

    /// Every reply to a call failed to parse as the type it was asked `as`.
    #[error("the reply from `{model}` for {site} is not {expected}, after {}: {reply}{}", fmt_attempts(.attempts), fmt_cut(.truncated))]
    #[diagnostic(
        code(flow::run::unparsable),
        help("{}", unparsable_help(.site, .truncated))
    )]
    Unparsable {
        /// Which call of which node.
        site: Box<Site>,
        /// The flow model's name.
        model: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// The type the reply had to parse as.
        expected: String,
        /// The last reply, as received.
        reply: Quoted,
        /// The last reply stopped at the token limit, cut mid-answer.
        truncated: bool,
        /// The `ask` that made the call.
        #[label("{}the reply to attempt {attempts} is not {expected}", site.within())]
        span: SourceSpan,
    },

    /// Every attempt of a call took longer than its `timeout`.
    #[error("the call to `{model}` for {site} timed out after {}{}", fmt_millis(.timeout), fmt_each(.attempts))]
    #[diagnostic(
        code(flow::run::timeout),
        help("raise `timeout` on the call or the model, or allow more attempts with `retry N`")
    )]
    Timeout {
        /// Which call of which node.
        site: Box<Site>,
        /// The flow model's name.
        model: String,
        /// Attempts made, the first included.
        attempts: u32,
        /// The per-attempt limit that was hit.
        timeout: Duration,
        /// The `ask` that made the call.
        #[label("{}no reply within {} on attempt {attempts}", site.within(), fmt_millis(timeout))]
        span: SourceSpan,
    },

    /// A `unanimous` vote's samples did not all agree.
    #[error("the samples of `{binding}` disagree: sample {} said {} but sample {} said {}", .first.0 + 1, Quoted(.first.1.clone()), .second.0 + 1, Quoted(.second.1.clone()))]
    #[diagnostic(
        code(flow::run::disagreement),
        help(
            "`unanimous` fails when any sample differs; use `majority` to accept the most common answer"
        )
    )]
    Disagreement {
        /// The voted binding.
        binding: String,
        /// The index and text of the first sample.
        first: (usize, String),
        /// The index and text of the first sample that differs from it.
        second: (usize, String),
        /// The vote.
        #[label("voted `unanimous` here")]
        span: SourceSpan,
    },

    /// Too many samples of a vote abstained (their calls failed after every
    /// attempt) for its strategy to decide.
    #[error(
        "the vote for `{binding}` could not be decided: {answered} of {samples} samples answered and {abstained} abstained, and {why}; the first to abstain: {cause}"
    )]
    #[diagnostic(
        code(flow::run::too_few_answers),
        help(
            "fix what made the samples fail (the first cause is quoted), raise `retry`, or take more samples"
        )
    )]
    TooFewAnswers {
        /// The voted binding.
        binding: String,
        /// Samples that answered.
        answered: usize,
        /// Samples that abstained.
        abstained: usize,
        /// Samples the vote took.
        samples: usize,
        /// What the strategy needed, in words.
        why: String,
        /// Why the first abstaining sample (in sample order) gave no answer.
        cause: String,
        /// The vote.
        #[label("{abstained} of {samples} samples abstained")]
        span: SourceSpan,
    },

    /// A required input had no value when the run needed it.
    #[error("no value for input `{name}`")]
    #[diagnostic(
        code(flow::input::missing),
        help(
            "pass it with `--input {name}=VALUE`, or give it a default: `input {name}: TYPE = ...`"
        )
    )]
    MissingInput {
        /// The input's name.
        name: String,
        /// The input's declaration.
        #[label("declared here without a default")]
        span: SourceSpan,
    },

    /// A value had the wrong shape at run time (a JSON field missing, a reply
    /// of another kind).
    #[error("in `{binding}`: {problem}")]
    #[diagnostic(
        code(flow::run::type_error),
        help(
            "the value did not have the shape the program expects; check the reply or input it came from"
        )
    )]
    Type {
        /// The binding whose evaluation failed, as written.
        binding: String,
        /// What was wrong with the value.
        problem: TypeProblemBox,
        /// The expression that met the value.
        #[label("here")]
        span: SourceSpan,
    },

    /// The run's cancellation token was cancelled before it ended.
    #[error("the run was cancelled")]
    #[diagnostic(
        code(flow::run::cancelled),
        help("calls in flight were abandoned; the outputs finished so far are reported")
    )]
    Cancelled,

    /// The run would exceed its call budget (`max_calls`, or the engine's `total_calls`).
    #[error("the run would make call number {needed}, more than the limit of {limit} calls")]
    #[diagnostic(
        code(flow::run::budget_exceeded),
        help(
            "raise `--max-calls`, or use fewer samples; `flow check` prints the worst-case number of calls"
        )
    )]
    BudgetExceeded {
        /// The most calls the run may make.
        limit: u64,
        /// The number the refused call would have had.
        needed: u64,
        /// The call that was refused.
        site: Box<Site>,
        /// The `ask` that would have made it.
        #[label("{}this call would be number {needed}", site.within())]
        span: SourceSpan,
    },

    /// A bug in flow, not in the program. No `From` impl: one would make `?`
    /// on a `Result<_, RunError>` ambiguous wherever the error type is inferred.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Internal(InternalError),
}

/// `TypeProblem` wrapped for `Display` in the error derive.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeProblemBox(pub TypeProblem);

impl fmt::Display for TypeProblemBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl RunError {
    /// Shorthand for a [`RunError::Internal`] saying which invariant broke.
    pub fn internal(message: impl Into<String>) -> RunError {
        RunError::Internal(InternalError::new(message))
    }

    /// A [`RunError::Type`] for `binding`, named as the user wrote it.
    pub fn type_error(binding: &str, problem: TypeProblem, span: Span) -> RunError {
        RunError::Type {
            binding: written_binding(binding).to_string(),
            problem: TypeProblemBox(problem),
            span: span.into(),
        }
    }

    /// The miette code as a string, for tests and JSON reports.
    pub fn code_str(&self) -> String {
        self.code().map(|c| c.to_string()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_sample_and_attempt() {
        let mut site = Site::new("unsafe");
        site.sample = Some(SampleIx {
            index: 2,
            of: 5,
            voter: None,
        });
        let e = RunError::CallFailed {
            site: Box::new(site),
            model: "moderator".into(),
            attempts: 3,
            message: "server error".into(),
            status: Some(503),
            help: None,
            span: Span::new(1, 4).into(),
        };
        assert_eq!(
            e.to_string(),
            "the call to `moderator` for `unsafe`, sample 3 of 5 failed after 3 attempts (HTTP 503): server error"
        );
        assert_eq!(e.code_str(), "flow::run::call_failed");
        let label = e
            .labels()
            .and_then(|mut l| l.next())
            .and_then(|l| l.label().map(String::from));
        assert_eq!(label.as_deref(), Some("sample 3 of 5: attempt 3 failed"));
    }

    #[test]
    fn messages_name_the_binding_as_written() {
        assert_eq!(written_binding("answer.ask2"), "answer");
        assert_eq!(written_binding("a.map1.ask1"), "a");
        assert_eq!(written_binding("facts.risks.cond3"), "facts.risks");
        assert_eq!(written_binding("facts.risks"), "facts.risks");
        assert_eq!(written_binding("x.ask"), "x.ask");
        assert_eq!(written_binding("plain"), "plain");
        let mut site = Site::new("answer.ask1");
        site.sample = Some(SampleIx {
            index: 0,
            of: 3,
            voter: None,
        });
        assert_eq!(site.to_string(), "`answer`, sample 1 of 3");
        assert_eq!(site.slice_name(), "answer.ask1#0", "traces keep the node");
    }

    #[test]
    fn a_single_timed_out_attempt_reads_naturally() {
        let e = |attempts| RunError::Timeout {
            site: Box::new(Site::new("a")),
            model: "m".into(),
            attempts,
            timeout: Duration::from_millis(300),
            span: Span::new(0, 1).into(),
        };
        assert_eq!(
            e(1).to_string(),
            "the call to `m` for `a` timed out after 300ms"
        );
        assert_eq!(
            e(3).to_string(),
            "the call to `m` for `a` timed out after 300ms on each of 3 attempts"
        );
    }

    #[test]
    fn an_internal_error_has_the_one_internal_code() {
        let e = RunError::internal("no provider was set up for model `m`");
        assert_eq!(e.code_str(), "flow::internal");
        assert_eq!(
            e.to_string(),
            "internal error: no provider was set up for model `m`; this is a bug in flow"
        );
        assert!(e.help().is_some_and(|h| h.to_string().contains("report")));
    }

    #[test]
    fn long_replies_are_cut() {
        let q = Quoted("x".repeat(1000));
        assert!(q.to_string().len() < 320);
    }

    #[test]
    fn slice_names() {
        let mut site = Site::new("s");
        site.items = vec![3];
        site.sample = Some(SampleIx {
            index: 1,
            of: 3,
            voter: Some(2),
        });
        assert_eq!(site.slice_name(), "s[3]#v2.1");
        assert_eq!(site.to_string(), "`s`, element 3, voter 3, sample 2 of 3");
    }

    #[test]
    fn renders_with_the_source_and_the_sample() {
        let src = "model m = mock()\nverdict = ask m \"is it safe?\" as bool vote 3 by majority\n";
        let mut site = Site::new("verdict");
        site.sample = Some(SampleIx {
            index: 1,
            of: 3,
            voter: None,
        });
        let e = RunError::Unparsable {
            site: Box::new(site),
            model: "m".into(),
            attempts: 3,
            expected: "yes or no".into(),
            reply: Quoted("perhaps".into()),
            truncated: false,
            span: Span::new(27, 46).into(),
        };
        let report = miette::Report::new(e).with_source_code(src);
        let mut out = String::new();
        let rendered =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(80)
                .render_report(&mut out, report.as_ref());
        assert!(rendered.is_ok());
        assert!(out.contains("flow::run::unparsable"), "{out}");
        assert!(
            out.contains("sample 2 of 3: the reply to attempt 3 is not yes or no"),
            "{out}"
        );
        assert!(out.contains("\"perhaps\""), "{out}");
    }
}

//! Counts and voting strategies: what a vote aggregates to, and the vote
//! mistakes that can be caught before any call is made.

use super::error::{
    AdaptiveProblem, CheckError, CountKind, MAX_SAMPLES, StrategyArgProblem, Suggestion,
};
use super::suggest::did_you_mean;
use crate::graph::{Judge, StopRule, Strategy, Until};
use crate::syntax::Span;
use crate::syntax::ast::{Count, StrategyArg, Vote};
use crate::types::Type;

const STRATEGIES: [&str; 6] = [
    "majority",
    "unanimous",
    "at_least",
    "mean",
    "median",
    "judge",
];

/// A `vote`/`repeat` count in range, or an error.
pub fn count(c: &Count, kind: CountKind, errors: &mut Vec<CheckError>) -> Option<u32> {
    in_range(c.value, c.span, kind, errors)
}

/// `value` checked against the range of its kind (`retry` may be 0).
pub fn in_range(
    value: u64,
    span: Span,
    kind: CountKind,
    errors: &mut Vec<CheckError>,
) -> Option<u32> {
    let min = if kind == CountKind::Retry { 0 } else { 1 };
    if (min..=MAX_SAMPLES).contains(&value) {
        u32::try_from(value).ok()
    } else {
        errors.push(CheckError::Count {
            kind,
            value,
            min,
            max: MAX_SAMPLES,
            span,
        });
        None
    }
}

/// When an adaptive vote stops: `vote up to N by majority until P` by the
/// leader rule, `vote N by majority until P` by the full-vote rule; `None`
/// for a vote of a fixed count or when the form is wrong (reported).
/// `strategy` is the resolved one, if it resolved. A section's vote may be
/// adaptive too: its cap is `N` from each member.
pub fn until(
    vote: &Vote,
    strategy: Option<&Strategy>,
    errors: &mut Vec<CheckError>,
) -> Option<Until> {
    let mut problem = |p: AdaptiveProblem, span: Span| {
        errors.push(CheckError::AdaptiveVote { problem: p, span });
    };
    let (up_to, until) = vote
        .adaptive
        .as_deref()
        .map_or((None, None), |a| (a.up_to, a.until));
    match (up_to, until) {
        (None, None) => None,
        (Some(span), None) => {
            problem(AdaptiveProblem::CapWithoutUntil, span);
            None
        }
        (up_to, Some((p, span))) => {
            match strategy {
                Some(Strategy::Majority | Strategy::AtLeast(_)) | None => {}
                Some(other) => {
                    problem(
                        AdaptiveProblem::Strategy(other.to_string()),
                        vote.strategy.span,
                    );
                    return None;
                }
            }
            if !(p > 0.5 && p <= 1.0) {
                errors.push(CheckError::ConfidenceRange { value: p, span });
                return None;
            }
            // `at_least K` asks about a count: only the full vote answers it.
            let rule = match (up_to, strategy) {
                (_, Some(Strategy::AtLeast(_))) | (None, _) => StopRule::FullVote,
                (Some(_), _) => StopRule::Leader,
            };
            Some(Until {
                confidence: p,
                rule,
            })
        }
    }
}

/// What the votes are and where, for strategy checks.
pub struct Votes<'t> {
    /// Samples pooled in total; `None` when the count itself was an error.
    pub total: Option<u64>,
    /// The type of one sample.
    pub ty: &'t Type,
    /// Where that type comes from (the `ask`, or the first voter).
    pub span: Span,
}

/// Resolve the strategy of `vote` over `votes`: the strategy (when it is one)
/// and the type of the aggregated value.
pub fn strategy(
    vote: &Vote,
    votes: &Votes<'_>,
    errors: &mut Vec<CheckError>,
) -> (Option<Strategy>, Type) {
    let s = &vote.strategy;
    let name = s.name.name.as_str();
    // Only a judge is told criteria; on any other strategy they would be
    // silently ignored.
    if let Some(criteria) = &s.criteria
        && name != "judge"
        && STRATEGIES.contains(&name)
    {
        errors.push(CheckError::StrategyArg {
            problem: StrategyArgProblem::CriteriaNotForJudge(name.to_string()),
            span: criteria.span,
        });
    }
    let unexpected = |errors: &mut Vec<CheckError>| {
        if let Some(arg) = &s.arg {
            errors.push(CheckError::StrategyArg {
                problem: StrategyArgProblem::Unexpected(name.to_string()),
                span: arg_span(arg),
            });
        }
    };
    match name {
        "majority" | "unanimous" => {
            unexpected(errors);
            if name == "majority" {
                // An adaptive vote's cap is no count of votes: it rarely
                // reaches it, and a tie at the cap goes to sample order.
                if let Some(total) = votes.total
                    && vote.adaptive.as_ref().is_none_or(|a| a.until.is_none())
                    && total % 2 == 0
                {
                    errors.push(CheckError::EvenMajority {
                        votes: total,
                        span: vote.span,
                    });
                }
                (Some(Strategy::Majority), votes.ty.clone())
            } else {
                (Some(Strategy::Unanimous), votes.ty.clone())
            }
        }
        "mean" | "median" => {
            unexpected(errors);
            if !votes.ty.is_numeric() {
                errors.push(CheckError::StrategyType {
                    strategy: if name == "mean" { "mean" } else { "median" },
                    expected: "`int` or `number`",
                    found: votes.ty.clone(),
                    hint: "parse the replies as numbers with `as number` (or `as int`), or use `majority`",
                    span: s.span,
                    votes_span: votes.span,
                });
            }
            let strategy = if name == "mean" {
                Strategy::Mean
            } else {
                Strategy::Median
            };
            (Some(strategy), Type::Number)
        }
        "at_least" => {
            if !matches!(votes.ty, Type::Bool | Type::Unknown) {
                errors.push(CheckError::StrategyType {
                    strategy: "at_least",
                    expected: "`bool`",
                    found: votes.ty.clone(),
                    hint: "parse the replies as yes/no with `as bool`, or use `majority`",
                    span: s.span,
                    votes_span: votes.span,
                });
            }
            match &s.arg {
                Some(StrategyArg::Count(k)) => {
                    if let Some(total) = votes.total
                        && (k.value == 0 || k.value > total)
                    {
                        errors.push(CheckError::AtLeastCount {
                            k: k.value,
                            votes: total,
                            span: k.span,
                        });
                    }
                    let k = u32::try_from(k.value).unwrap_or(u32::MAX);
                    (Some(Strategy::AtLeast(k)), Type::Bool)
                }
                Some(StrategyArg::Model(m)) => {
                    errors.push(CheckError::StrategyArg {
                        problem: StrategyArgProblem::ModelForAtLeast,
                        span: m.span,
                    });
                    (None, Type::Bool)
                }
                None => {
                    errors.push(CheckError::StrategyArg {
                        problem: StrategyArgProblem::MissingCount,
                        span: s.span,
                    });
                    (None, Type::Bool)
                }
            }
        }
        "judge" => match &s.arg {
            // The model's existence is checked with every other model name.
            Some(StrategyArg::Model(m)) => (
                Some(Strategy::Judge(Judge {
                    model: m.name.clone(),
                    criteria: s.criteria.as_ref().map(|c| c.text.clone()),
                })),
                votes.ty.clone(),
            ),
            Some(StrategyArg::Count(c)) => {
                errors.push(CheckError::StrategyArg {
                    problem: StrategyArgProblem::CountForJudge,
                    span: c.span,
                });
                (None, votes.ty.clone())
            }
            None => {
                errors.push(CheckError::StrategyArg {
                    problem: StrategyArgProblem::MissingModel,
                    span: s.span,
                });
                (None, votes.ty.clone())
            }
        },
        _ => {
            errors.push(CheckError::UnknownStrategy {
                name: name.to_string(),
                span: s.name.span,
                suggestion: Suggestion(did_you_mean(name, STRATEGIES)),
            });
            (None, Type::Unknown)
        }
    }
}

fn arg_span(arg: &StrategyArg) -> Span {
    match arg {
        StrategyArg::Count(c) => c.span,
        StrategyArg::Model(m) => m.span,
    }
}

//! Call sites: one sample, `repeat N`, `vote N by S` and ensembles.
//!
//! Every sample of a call starts at once (limits permitting). Votes feed
//! samples to the tally as they arrive and stop as soon as the outcome is
//! decided: the remaining samples' futures are dropped, which cancels them
//! even mid-request.

use std::time::Duration;

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::stream::FuturesUnordered;

use super::call::{CallFailure, CallPlan, Called, call, with_instruction};
use super::env::Env;
use super::error::{RunError, SampleIx, Site, written_binding};
use super::events::RunEvent;
use super::reply::{invented, parse_reply_to};
use super::report::VoteStats;
use super::vote::adaptive::{Adaptive, Agreement};
use super::vote::{Outcome, Tally, VoteError, judge_prompt_for, parse_judge_choice};
use crate::graph::{AskCall, Judge, Sampling, Strategy, Until};
use crate::model::RouteKind;
use crate::providers::ReplyFormat;
use crate::syntax::Span;
use crate::types::Type;
use crate::value::Value;

/// How a judge is asked: its prompt says how to answer.
static PLAIN: ReplyFormat = ReplyFormat {
    wire: crate::providers::Wire::Plain,
    instruction: None,
};

/// A call site with its prompt and system rendered once for all samples
/// (by `eval::render_call`).
pub(crate) struct Rendered<'c> {
    pub call: &'c AskCall,
    /// How its replies are asked for, the same for every sample.
    pub format: ReplyFormat,
    pub prompt: String,
    pub system: Option<String>,
    /// The conversation `with` gives; empty without one.
    pub history: crate::chat::Chat,
    /// The gates of the outputs streaming this call (set by `node` for a
    /// streamed `ask` node).
    pub stream: Option<super::gate::Gates>,
}

fn site(env: &Env<'_>) -> Site {
    Site {
        binding: env.binding.to_string(),
        items: env.items(),
        sample: None,
        judge: false,
    }
}

/// The samples of a `repeat` become a list's elements; those of a vote
/// become one value, so their placeholders must agree.
#[derive(Clone, Copy, PartialEq)]
enum Becomes {
    Value,
    Element,
}

/// One sample of a rendered call, parsed into the call's `as` type.
fn sample<'a>(
    env: &'a Env<'_>,
    r: &'a Rendered<'_>,
    sample: u32,
    ix: Option<SampleIx>,
    becomes: Becomes,
) -> BoxFuture<'a, Result<Called<Value>, CallFailure>> {
    let mut site = site(env);
    site.sample = ix;
    let plan = CallPlan {
        site,
        model: &r.call.model,
        prompt: &r.prompt,
        system: r.system.as_deref(),
        history: r.history.clone(),
        // Only a call sampled once streams: a vote's samples are not a reply.
        stream: if ix.is_none() { r.stream.clone() } else { None },
        sample,
        expect: &r.call.parse_as,
        timeout: r.call.timeout,
        retry: r.call.retry,
        span: r.call.span,
        format: &r.format,
    };
    let ty = &r.call.parse_as;
    // An invented reply's json is a placeholder, named where the program
    // reads it: the binding, the element for a call inside a `for`, and the
    // sample's place in the list a `repeat` makes.
    let invents = env
        .ctx
        .providers
        .get(&r.call.model)
        .is_some_and(|p| p.invents_replies());
    let origin = invents.then(|| {
        let mut path = env.indexed(written_binding(env.binding).to_string());
        if becomes == Becomes::Element {
            path.push_str(&format!("[{sample}]"));
        }
        path
    });
    // The prompt as sent, instruction included, so an echo of either is
    // recognised as one.
    let prompt = with_instruction(plan.format, &r.prompt);
    call(env.ctx, plan, move |text| {
        let value = parse_reply_to(text, ty, Some(&*prompt)).map_err(|e| e.expected)?;
        Ok(match &origin {
            Some(path) => invented(value, ty, path),
            None => value,
        })
    })
    .boxed()
}

/// `ask` with its sampling; `span` is the whole expression's, for vote errors.
pub(crate) async fn ask(
    env: &Env<'_>,
    r: &Rendered<'_>,
    sampling: &Sampling,
    span: Span,
) -> Result<Called<Value>, RunError> {
    let call = r.call;
    match sampling {
        Sampling::One => sample(env, r, 0, None, Becomes::Value)
            .await
            .map_err(CallFailure::into_error),
        // Boxed: its join's state, unboxed, would widen every single call.
        Sampling::Repeat(n) => Box::pin(repeat(env, r, *n)).await,
        Sampling::Vote {
            n,
            strategy,
            until: Some(until),
        } => Box::pin(adaptive_vote(env, r, *n, strategy, *until, span)).await,
        Sampling::Vote {
            n,
            strategy,
            until: None,
        } => {
            let samples = (0..*n)
                .map(|i| {
                    let ix = SampleIx {
                        index: i,
                        of: *n,
                        voter: None,
                    };
                    (
                        call.model.as_str(),
                        ix,
                        sample(env, r, i, Some(ix), Becomes::Value),
                    )
                })
                .collect();
            // Boxed: a vote's state is ~2 KB, and unboxed it would make every
            // call's future that large, vote or not.
            Box::pin(vote(env, strategy, samples, Some(&r.prompt), span)).await
        }
    }
}

/// `repeat N`: every sample at once, their values a list in sample order.
async fn repeat(env: &Env<'_>, r: &Rendered<'_>, n: u32) -> Result<Called<Value>, RunError> {
    let all = try_join_all((0..n).map(|i| {
        sample(
            env,
            r,
            i,
            Some(SampleIx {
                index: i,
                of: n,
                voter: None,
            }),
            Becomes::Element,
        )
        .map(|r| r.map_err(CallFailure::into_error))
    }))
    .await?;
    let latency = all.iter().map(|c| c.latency).max().unwrap_or_default();
    Ok(Called {
        value: Value::List(all.into_iter().map(|c| c.value).collect()),
        latency,
    })
}

/// `section < ... > vote N by S`: voter `v`'s sample `s` is pooled at index
/// `v * per_voter + s`.
pub(crate) async fn ensemble(
    env: &Env<'_>,
    rendered: &[Rendered<'_>],
    per_voter: u32,
    strategy: &Strategy,
    span: Span,
) -> Result<Called<Value>, RunError> {
    let total = u32::try_from(rendered.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(per_voter);
    let mut samples = Vec::new();
    for (v, r) in rendered.iter().enumerate() {
        let v = u32::try_from(v).unwrap_or(u32::MAX);
        for s in 0..per_voter {
            let ix = SampleIx {
                index: v.saturating_mul(per_voter).saturating_add(s),
                of: total,
                voter: Some(v),
            };
            samples.push((
                r.call.model.as_str(),
                ix,
                sample(env, r, s, Some(ix), Becomes::Value),
            ));
        }
    }
    // The judge is told the task when every voter was given the same one.
    let task = match rendered.split_first() {
        Some((first, rest)) if rest.iter().all(|r| r.prompt == first.prompt) => {
            Some(first.prompt.as_str())
        }
        _ => None,
    };
    vote(env, strategy, samples, task, span).await
}

type Sample<'a> = (
    &'a str,
    SampleIx,
    BoxFuture<'a, Result<Called<Value>, CallFailure>>,
);

/// Runs every sample concurrently and tallies them as they complete. Samples
/// are given in pooled order; the model of each is for the "saved" counts;
/// `task` is what the samples answered, for a judge.
async fn vote<'a>(
    env: &Env<'_>,
    strategy: &Strategy,
    samples: Vec<Sample<'a>>,
    task: Option<&str>,
    span: Span,
) -> Result<Called<Value>, RunError> {
    let total = samples.len();
    if total == 0 {
        return Err(RunError::internal(format!(
            "the vote for `{}` has no samples",
            env.binding
        )));
    }
    let models: Vec<&str> = samples.iter().map(|(m, _, _)| *m).collect();
    let mut done = vec![false; total];
    let mut abstained = 0;
    let mut pending: FuturesUnordered<_> = samples
        .into_iter()
        .enumerate()
        .map(|(i, (_, ix, fut))| fut.map(move |r| (i, ix, r)))
        .collect();
    let mut tally = Tally::new(strategy.clone(), total);
    let mut latency = Duration::ZERO;
    while let Some((i, ix, result)) = pending.next().await {
        if let Some(d) = done.get_mut(i) {
            *d = true;
        }
        let outcome = match result {
            Ok(called) => {
                latency = latency.max(called.latency);
                tally.record(i, called.value)
            }
            // A sample that could not answer abstains; the vote goes on
            // with the others.
            Err(CallFailure::Exhausted(e)) => {
                abstained += 1;
                let mut site = site(env);
                site.sample = Some(ix);
                let model = models.get(i).copied().unwrap_or_default();
                env.ctx.record_abstained(&site, model);
                tally.abstain(i, e.to_string())
            }
            // A fatal failure fails the vote; returning drops the others.
            Err(CallFailure::Fatal(e)) => return Err(e),
        };
        match outcome {
            Outcome::Pending => {}
            Outcome::Decided(result) => {
                // Dropping the rest cancels them, in flight or still queued.
                drop(pending);
                save(env, &models, &done, abstained);
                let value = result.map_err(|e| vote_error(env, e, span))?;
                record_vote(env, tally.agreement(&value), total, None);
                return Ok(Called { value, latency });
            }
            Outcome::NeedsJudge(candidates) => {
                drop(pending);
                save(env, &models, &done, abstained);
                let Strategy::Judge(judge) = strategy else {
                    return Err(RunError::internal(format!(
                        "the `{strategy}` vote for `{}` asked for a judge",
                        env.binding
                    )));
                };
                let judged = judge_between(env, judge, task, candidates, span).await?;
                record_vote(env, tally.agreement(&judged.value), total, None);
                return Ok(Called {
                    value: judged.value,
                    latency: latency + judged.latency,
                });
            }
        }
    }
    Err(RunError::internal(format!(
        "the `{strategy}` vote for `{}` had every sample and stayed undecided",
        env.binding
    )))
}

/// `vote up to N by majority until P` (or `by at_least K`) on one `ask`:
/// samples in sample order, waves within the model's `concurrency`.
async fn adaptive_vote(
    env: &Env<'_>,
    r: &Rendered<'_>,
    cap: u32,
    strategy: &Strategy,
    until: Until,
    span: Span,
) -> Result<Called<Value>, RunError> {
    let model = r.call.model.as_str();
    let concurrency = wave_limit(&env.ctx.graph, model);
    let total = usize::try_from(cap).unwrap_or(usize::MAX);
    let pool = Pool {
        models: vec![model; total],
        round: 1,
        concurrency,
    };
    adaptive_pool(env, pool, strategy, until, span, |i| {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let ix = SampleIx {
            index,
            of: cap,
            voter: None,
        };
        (ix, sample(env, r, index, Some(ix), Becomes::Value))
    })
    .await
}

/// The most samples of an adaptive vote on `model` that can be in flight
/// at once: its `concurrency`; for a `fallback`, its first member's (where
/// every sample goes first); for a `round_robin`, the sum of its members'
/// (unbounded if one has none).
pub(crate) fn wave_limit(graph: &crate::graph::FlowGraph, model: &str) -> Option<usize> {
    let own = |name: &str| {
        graph
            .models
            .get(name)
            .and_then(|m| m.options.concurrency)
            .map(|c| usize::try_from(c).unwrap_or(usize::MAX))
    };
    let route = graph
        .models
        .get(model)
        .and_then(|m| m.options.route.as_ref());
    match route {
        None => own(model),
        Some(r) => match r.kind {
            RouteKind::Fallback => r.members.first().and_then(|m| own(m)),
            RouteKind::RoundRobin => r.members.iter().map(|m| own(m)).sum::<Option<usize>>(),
        },
    }
}

/// The most samples of a section's adaptive vote in flight at once, given
/// its members' models in member order. Its waves are whole rounds (one
/// sample of each member), so it is as many rounds as the tightest model
/// allows, each model's [`wave_limit`] shared by the members that use it,
/// and never less than one round (a model's own slots then queue the rest);
/// unbounded if no member's model has a bound.
pub(crate) fn section_wave_limit<'m>(
    graph: &crate::graph::FlowGraph,
    models: impl Iterator<Item = &'m str>,
) -> Option<usize> {
    let mut uses: Vec<(&str, usize)> = Vec::new();
    for m in models {
        match uses.iter_mut().find(|(name, _)| *name == m) {
            Some((_, n)) => *n += 1,
            None => uses.push((m, 1)),
        }
    }
    let round: usize = uses.iter().map(|(_, n)| n).sum();
    uses.iter()
        .filter_map(|&(m, n)| wave_limit(graph, m).map(|limit| (limit / n).max(1)))
        .min()
        .map(|rounds| rounds.saturating_mul(round))
}

/// `section < ... > vote up to N by S until P`: the members are pooled in
/// rounds, one sample of each member in member order per round (pooled
/// index `round * members + member`), so any prefix the rule reads has
/// heard every member about equally; waves are whole rounds.
pub(crate) async fn adaptive_ensemble(
    env: &Env<'_>,
    rendered: &[Rendered<'_>],
    per_voter: u32,
    strategy: &Strategy,
    until: Until,
    span: Span,
) -> Result<Called<Value>, RunError> {
    let members = rendered.len().max(1);
    let total = members.saturating_mul(usize::try_from(per_voter).unwrap_or(usize::MAX));
    let of = u32::try_from(total).unwrap_or(u32::MAX);
    let pool = Pool {
        models: (0..total)
            .map(|i| {
                rendered
                    .get(i % members)
                    .map_or("", |r| r.call.model.as_str())
            })
            .collect(),
        round: members,
        concurrency: section_wave_limit(
            &env.ctx.graph,
            rendered.iter().map(|r| r.call.model.as_str()),
        ),
    };
    let Some(first) = rendered.first() else {
        return Err(RunError::internal(format!(
            "the section vote for `{}` has no members",
            env.binding
        )));
    };
    adaptive_pool(env, pool, strategy, until, span, |i| {
        let r = rendered.get(i % members).unwrap_or(first);
        let nth = u32::try_from(i / members).unwrap_or(u32::MAX);
        let ix = SampleIx {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            of,
            voter: Some(u32::try_from(i % members).unwrap_or(u32::MAX)),
        };
        (ix, sample(env, r, nth, Some(ix), Becomes::Value))
    })
    .await
}

/// Who the samples of an adaptive vote go to.
struct Pool<'a> {
    /// The model of each pooled sample, in sample order (the cap is its length).
    models: Vec<&'a str>,
    /// Waves are whole multiples of this many samples (a section's members).
    round: usize,
    /// The most samples a wave may launch at once.
    concurrency: Option<usize>,
}

/// The adaptive loop: waves launched in sample order (`Adaptive::wave`),
/// fed to the stopping rule in sample order whatever order they arrive in;
/// `launch(i)` starts pooled sample `i`.
async fn adaptive_pool<'a>(
    env: &Env<'_>,
    pool: Pool<'_>,
    strategy: &Strategy,
    until: Until,
    span: Span,
    launch: impl Fn(usize) -> (SampleIx, BoxFuture<'a, Result<Called<Value>, CallFailure>>),
) -> Result<Called<Value>, RunError> {
    let total = pool.models.len();
    let Some(mut adaptive) = Adaptive::for_strategy(strategy, total, until) else {
        // The checker allows `until` on `majority` and `at_least` only.
        return Err(RunError::internal(format!(
            "the vote for `{}` is adaptive but by `{strategy}`",
            env.binding
        )));
    };
    let round = pool.round.max(1);
    // Samples launched, and whether each one's reply (or failure) came back.
    let mut launched = 0;
    let mut done = vec![false; total];
    let mut latency = Duration::ZERO;
    loop {
        let wave = adaptive.wave(launched, pool.concurrency);
        if wave == 0 {
            return Err(RunError::internal(format!(
                "the adaptive vote for `{}` took {launched} samples and stayed undecided",
                env.binding
            )));
        }
        let wave = wave
            .div_ceil(round)
            .saturating_mul(round)
            .min(total - launched);
        let start = launched;
        launched += wave;
        let mut pending: FuturesUnordered<_> = (start..launched)
            .map(|i| {
                let (ix, fut) = launch(i);
                fut.map(move |res| (i, ix, res))
            })
            .collect();
        // Replies past the first one missing wait here, so the rule sees
        // samples in sample order.
        let mut arrived: Vec<Option<Result<Value, String>>> = vec![None; wave];
        let mut next = start;
        let mut wave_latency = Duration::ZERO;
        let mut decided = None;
        while let Some((i, ix, result)) = pending.next().await {
            if let Some(d) = done.get_mut(i) {
                *d = true;
            }
            let entry = match result {
                Ok(called) => {
                    wave_latency = wave_latency.max(called.latency);
                    Ok(called.value)
                }
                Err(CallFailure::Exhausted(e)) => {
                    let mut site = site(env);
                    site.sample = Some(ix);
                    let model = pool.models.get(i).copied().unwrap_or_default();
                    env.ctx.record_abstained(&site, model);
                    Err(e.to_string())
                }
                Err(CallFailure::Fatal(e)) => return Err(e),
            };
            if let Some(slot) = arrived.get_mut(i - start) {
                *slot = Some(entry);
            }
            while let Some(entry) = arrived.get_mut(next - start).and_then(Option::take) {
                next += 1;
                let outcome = match entry {
                    Ok(value) => adaptive.record(value),
                    Err(cause) => adaptive.abstain(cause),
                };
                if let Outcome::Decided(result) = outcome {
                    decided = Some(result);
                    break;
                }
            }
            if decided.is_some() {
                break;
            }
        }
        latency += wave_latency;
        if let Some(result) = decided {
            // Dropping the rest of the wave cancels it.
            drop(pending);
            let unfinished = pool.models.iter().zip(&done).filter(|(_, d)| !**d);
            env.ctx
                .record_saved(env.binding, unfinished.map(|(m, _)| *m));
            let agreement = adaptive.agreement();
            env.ctx.emit(|| RunEvent::VoteDecided {
                node: env.binding.to_string(),
                answered: agreement.answered,
                abstained: agreement.abstained,
                samples: total,
            });
            let value = result.map_err(|e| vote_error(env, e, span))?;
            // `at_least` stops by the full-vote rule whichever form it has.
            let until = Until {
                rule: adaptive.rule(),
                ..until
            };
            record_vote(env, agreement, launched, Some(until));
            return Ok(Called { value, latency });
        }
    }
}

/// Records a decided vote's agreement in the run's statistics.
fn record_vote(env: &Env<'_>, a: Agreement, launched: usize, until: Option<Until>) {
    let node = env.indexed(written_binding(env.binding).to_string());
    env.ctx.record_vote(VoteStats {
        node,
        answered: a.answered,
        abstained: a.abstained,
        winner: a.winner,
        share: a.share(),
        launched,
        cap: a.cap,
        until: until.map(|u| u.confidence),
        rule: until.map(|u| u.rule.name()),
    });
}

/// The vote is decided: counts the samples it no longer needs, and says so.
fn save(env: &Env<'_>, models: &[&str], done: &[bool], abstained: usize) {
    let unfinished = models.iter().zip(done).filter(|(_, d)| !**d);
    env.ctx
        .record_saved(env.binding, unfinished.map(|(m, _)| *m));
    env.ctx.emit(|| RunEvent::VoteDecided {
        node: env.binding.to_string(),
        answered: done
            .iter()
            .filter(|d| **d)
            .count()
            .saturating_sub(abstained),
        abstained,
        samples: done.len(),
    });
}

async fn judge_between(
    env: &Env<'_>,
    judge: &Judge,
    task: Option<&str>,
    candidates: Vec<Value>,
    span: Span,
) -> Result<Called<Value>, RunError> {
    if candidates.len() == 1 {
        // Nothing to choose between: the judge would only cost a call.
        return match candidates.into_iter().next() {
            Some(value) => Ok(Called {
                value,
                latency: Duration::ZERO,
            }),
            None => Err(RunError::internal("a judge had no candidates")),
        };
    }
    if candidates.is_empty() {
        return Err(RunError::internal(format!(
            "the judge for `{}` was given no candidates",
            env.binding
        )));
    }
    let mut site = site(env);
    site.judge = true;
    let n = candidates.len();
    let prompt = judge_prompt_for(task, judge.criteria.as_deref(), &candidates);
    // A union of the candidate numbers, so an offline stand-in picks a valid one.
    let expect = Type::Union((1..=n).map(|i| i.to_string()).collect());
    let plan = CallPlan {
        site,
        model: &judge.model,
        prompt: &prompt,
        // A judge compares candidates; the conversation is not its business.
        history: Vec::new().into(),
        stream: None,
        system: env
            .ctx
            .graph
            .models
            .get(&judge.model)
            .and_then(|m| m.options.system.as_deref()),
        sample: 0,
        expect: &expect,
        timeout: None,
        retry: None,
        span,
        // The judge's prompt says how to answer.
        format: &PLAIN,
    };
    let choice = call(env.ctx, plan, |text| {
        parse_judge_choice(text, n).ok_or_else(|| format!("the number of a candidate, 1 to {n}"))
    })
    .await
    .map_err(CallFailure::into_error)?;
    let value = candidates.into_iter().nth(choice.value).ok_or_else(|| {
        RunError::internal(format!(
            "the judge's choice {} is out of range",
            choice.value
        ))
    })?;
    Ok(Called {
        value,
        latency: choice.latency,
    })
}

fn vote_error(env: &Env<'_>, e: VoteError, span: Span) -> RunError {
    match e {
        VoteError::Disagreement { first, second } => RunError::Disagreement {
            binding: written_binding(env.binding).to_string(),
            first,
            second,
            span: span.into(),
        },
        VoteError::TooFewAnswers {
            answered,
            abstained,
            samples,
            why,
            cause,
        } => RunError::TooFewAnswers {
            binding: written_binding(env.binding).to_string(),
            answered,
            abstained,
            samples,
            why,
            cause,
            span: span.into(),
        },
        VoteError::Internal(e) => RunError::Internal(e),
    }
}

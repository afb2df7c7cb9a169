//! One call: attempts until one succeeds. Each attempt waits for the model's
//! limits, has its own timeout, and is recorded; transient faults and
//! timeouts are retried with exponential backoff and full jitter, an
//! unparsable reply is re-asked (the reply and what was wrong with it go
//! back to the model), fatal faults fail at once.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::Either;

use tokio::time::Instant;

use super::ctx::{Attempt, RunCtx};
use super::error::{Quoted, RunError, Site};
use super::events::RunEvent;
use super::gate::{Gates, Received};
use super::trace::AttemptOutcome;
use crate::cache::key::CallSpec;
use crate::cache::{CachedReply, CallKey};
use crate::chat::Chat;
use crate::model::{ProviderKind, Route, RouteKind};
use crate::providers::{ProviderError, Reask, ReplyFormat, Request, StreamSink, Usage};
use crate::syntax::Span;
use crate::types::Type;

/// What to send, minus the attempt number. The prompt and system are
/// borrowed from the call site's rendering: each attempt's `Request` is
/// the one copy made of them (a fan-out of 10,000 calls once copied each
/// prompt five times).
pub(crate) struct CallPlan<'a> {
    pub site: Site,
    pub model: &'a str,
    pub prompt: &'a str,
    pub system: Option<&'a str>,
    pub history: Chat,
    /// The gates of the outputs that stream this call's reply; `None`
    /// calls without streaming.
    pub stream: Option<Gates>,
    pub sample: u32,
    /// Borrowed: a call in flight holds a reference, not a copy.
    pub expect: &'a Type,
    pub timeout: Option<Duration>,
    pub retry: Option<u32>,
    /// The call site, for errors.
    pub span: Span,
    /// How the reply is asked for; its instruction is appended to `prompt`.
    /// Borrowed from the call site's rendering: a copy was 104 bytes of
    /// every call's future while it waited.
    pub format: &'a ReplyFormat,
}

/// Why a call gave no value.
pub(crate) enum CallFailure {
    /// Nothing another attempt or another sample could fix: a missing key,
    /// a refused request, the call budget, a bug. Ends the run.
    Fatal(RunError),
    /// The attempts ran out on replies that did not parse, timeouts or
    /// transient faults: a vote's sample abstains instead.
    Exhausted(RunError),
}

impl CallFailure {
    pub fn into_error(self) -> RunError {
        match self {
            CallFailure::Fatal(e) | CallFailure::Exhausted(e) => e,
        }
    }
}

/// A successful call's value and how long it took from the first attempt's
/// start to the successful reply (retries and backoff included).
pub(crate) struct Called<T> {
    pub value: T,
    pub latency: Duration,
}

/// Why the last attempt failed, kept to build the final error.
enum Failure {
    Transient(ProviderError),
    Timeout(Duration),
    Unparsable {
        expected: String,
        reply: String,
        truncated: bool,
    },
}

/// The prompt as sent: with the format's instruction appended, if it has
/// one; borrowed, not copied, if not.
pub(crate) fn with_instruction<'p>(format: &ReplyFormat, prompt: &'p str) -> Cow<'p, str> {
    match format.instruction {
        None => Cow::Borrowed(prompt),
        Some(_) => Cow::Owned(format.prompt(prompt)),
    }
}

/// The user turn of a re-ask: what was wrong, then how to answer.
fn reask_message(expected: &str, truncated: bool, format: &ReplyFormat) -> String {
    let how = format
        .instruction
        .as_deref()
        .unwrap_or("Reply again with only the answer, in that form.");
    if truncated {
        format!(
            "Your reply was cut off at the length limit, so it was not {expected}. Answer more briefly. {how}"
        )
    } else {
        format!("Your reply was not {expected}. {how}")
    }
}

/// One call of `plan.model`: directly, or through the members of a
/// `fallback` or `round_robin` model. Each member's call is an ordinary call
/// of that model (its own retries, limits, cache key and trace lines), so
/// the trace and the cache name the model that answered.
///
/// A plain function choosing between two futures: a direct call, nearly
/// every call, holds only `call_model`'s state while it waits; the routed
/// loop (another plan and another `call_model` inside) is boxed. Ten
/// thousand calls in flight once held 2.8 KB each for the loop's sake.
pub(crate) fn call<'a, T: 'a, P>(
    ctx: &'a RunCtx,
    plan: CallPlan<'a>,
    parse: P,
) -> impl Future<Output = Result<Called<T>, CallFailure>> + 'a
where
    P: Fn(&str) -> Result<T, String> + 'a,
{
    let route = ctx
        .graph
        .models
        .get(plan.model)
        .and_then(|s| s.options.route.as_ref());
    match route {
        None => Either::Left(call_model(ctx, plan, parse, false)),
        Some(route) => Either::Right(Box::pin(call_routed(ctx, plan, route, parse))),
    }
}

/// [`call`] through the members of a `fallback` or `round_robin` model.
async fn call_routed<'a, T, P>(
    ctx: &'a RunCtx,
    plan: CallPlan<'a>,
    route: &'a Route,
    parse: P,
) -> Result<Called<T>, CallFailure>
where
    P: Fn(&str) -> Result<T, String>,
{
    let graph = &ctx.graph;
    let members: Vec<&str> = match route.kind {
        RouteKind::Fallback => route.members.iter().map(String::as_str).collect(),
        RouteKind::RoundRobin => {
            let n = route.members.len().max(1);
            let turn = ctx.next_turn(plan.model) % n;
            route
                .members
                .get(turn)
                .map(String::as_str)
                .into_iter()
                .collect()
        }
    };
    let mut last = None;
    let count = members.len();
    for (i, member) in members.into_iter().enumerate() {
        let spec = graph.models.get(member);
        let format = spec.map_or_else(ReplyFormat::default, |spec| {
            crate::providers::reply_format(spec, plan.expect)
        });
        // The routed model has no `system` of its own; a member's applies
        // when the call gives none.
        let system = plan
            .system
            .or_else(|| spec.and_then(|s| s.options.system.as_deref()));
        let attempt = CallPlan {
            site: plan.site.clone(),
            model: member,
            prompt: plan.prompt,
            system,
            history: plan.history.clone(),
            stream: plan.stream.clone(),
            sample: plan.sample,
            expect: plan.expect,
            timeout: plan.timeout,
            retry: plan.retry,
            span: plan.span,
            format: &format,
        };
        // A member of a fallback with another after it passes a rate limit
        // on at once: the fallback exists for that, and a proxy's 429 asks
        // for a minute's wait per retry.
        let rate_limit_moves_on = route.kind == RouteKind::Fallback && i + 1 < count;
        match call_model(ctx, attempt, &parse, rate_limit_moves_on).await {
            // Another model may answer what this one could not.
            Err(CallFailure::Exhausted(e)) => last = Some(e),
            done => return done,
        }
    }
    Err(CallFailure::Exhausted(last.unwrap_or_else(|| {
        RunError::internal(format!("the model `{}` has no members", plan.model))
    })))
}

/// One call of one model, with its retries; `rate_limit_moves_on` ends it
/// at the first 429 (as exhausted), for a fallback to try its next member.
///
/// A plain function returning an `async` block, not an `async fn`: an
/// `async fn` keeps its arguments and the locals they are moved into side
/// by side for the whole call (the plan twice), where the block captures
/// the plan's fields once.
fn call_model<'a, T: 'a, P>(
    ctx: &'a RunCtx,
    plan: CallPlan<'a>,
    parse: P,
    rate_limit_moves_on: bool,
) -> impl Future<Output = Result<Called<T>, CallFailure>> + 'a
where
    P: Fn(&str) -> Result<T, String> + 'a,
{
    let CallPlan {
        site,
        model,
        prompt,
        system,
        history,
        stream,
        sample,
        expect,
        timeout,
        retry,
        span,
        format,
    } = plan;
    async move {
        let fatal = CallFailure::Fatal;
        let provider = ctx.providers.get(model).cloned().ok_or_else(|| {
            fatal(RunError::internal(format!(
                "no provider was set up for model `{model}`"
            )))
        })?;
        let prompt = with_instruction(format, prompt);
        let spec = ctx.graph.models.get(model);
        let mode = format.mode(spec.map_or(ProviderKind::Mock, |s| s.provider));
        let timeout = timeout
            .or(spec.and_then(|s| s.options.timeout))
            .or(ctx.policy.default_timeout);
        let retries = retry
            .or(spec.and_then(|s| s.options.retry))
            .unwrap_or(ctx.policy.default_retry);
        let limits = ctx.limits.get(model).cloned();

        // A call completed before (by this run, an earlier one, or another
        // process) is answered from the cache, as long as its reply still parses.
        let cache = match (&ctx.cache, spec) {
            (Some(cache), Some(spec)) => Some((
                cache,
                CallKey::new(CallSpec {
                    model: spec,
                    system,
                    history: &history,
                    prompt: &prompt,
                    expect,
                    wire: &format.wire,
                    sample,
                }),
            )),
            _ => None,
        };
        // A stored reply that does not parse: a batch run asks again directly.
        let mut stale = false;
        if let Some((cache, key)) = &cache {
            // In a block of its own, so that the entry is not held across
            // the yield below: it would widen every call's future.
            {
                let entry = cache.get(key);
                stale = entry.is_some();
                let hit = entry.and_then(|r| parse(&r.text).ok().map(|v| (v, r.text)));
                ctx.record_cache(&site, model, hit.is_some());
                if let Some((value, text)) = hit {
                    // A reply a batch of this batch run gave was a request sent: it
                    // counts against `--max-calls` in every pass, as in the last run.
                    if let Some(pass) = &ctx.batch
                        && pass.was_batched(&key.hex())
                    {
                        ctx.charge(&site, span).map_err(fatal)?;
                    }
                    // A cached reply streams as one chunk.
                    for gate in stream.iter().flat_map(|g| g.iter()) {
                        gate.text(&text);
                    }
                    return Ok(Called {
                        value,
                        latency: Duration::ZERO,
                    });
                }
            }
            // Let the other samples of a vote answer from the cache first: a
            // vote they decide drops this one before it is sent. Without this,
            // a fully cached re-run sent (and counted) a sample the first run
            // had saved, when that sample happened to be polled first.
            if site.sample.is_some() {
                YieldOnce(false).await;
            }
        }

        // What attempt `attempt` sends: a batch keeps the first attempt's.
        // A macro, not a closure: a closure's eight borrows were kept in
        // every call's future while it waited.
        macro_rules! request_for {
            ($attempt:expr, $reask:expr) => {
                Request {
                    model: model.to_string(),
                    system: system.map(str::to_string),
                    history: history.clone(),
                    prompt: prompt.clone().into_owned(),
                    sample,
                    attempt: $attempt,
                    expect: expect.clone(),
                    wire: format.wire.clone(),
                    reask: $reask,
                }
            };
        }
        // A batch run (`--batch-api`): a call the cache cannot answer is kept
        // for a provider batch and never completes in this pass.
        let _busy = match (&ctx.batch, &cache) {
            (Some(pass), Some((_, key))) => {
                let id = key.hex();
                if let Some(message) = pass.failure(&id) {
                    return Err(CallFailure::Exhausted(RunError::CallFailed {
                        site: Box::new(site),
                        model: model.to_string(),
                        attempts: 1,
                        message: format!("its request in the provider batch failed: {message}"),
                        status: None,
                        help: Some(
                            "fix what the provider says and run again; the batch's other replies are cached".into(),
                        ),
                        span: span.into(),
                    }));
                }
                if pass.defers()
                    && !stale
                    && let Some(api) = provider.batch()
                {
                    // Each request put in a batch is a call: one beyond the
                    // budget is refused here, before it is ever submitted.
                    ctx.charge(&site, span).map_err(fatal)?;
                    // In a block of its own, so that no request is held while
                    // this waits forever: it would widen every call's future.
                    {
                        let request = request_for!(0, None);
                        let body = api.body(&request);
                        pass.defer(
                            id,
                            crate::batch::Deferred {
                                model: model.to_string(),
                                request,
                                body,
                                provider: provider.clone(),
                            },
                        );
                    }
                    return std::future::pending().await;
                }
                Some(pass.busy())
            }
            _ => None,
        };
        let mut first_start: Option<Instant> = None;
        let mut attempt: u32 = 0;
        // Why the attempt before this one failed.
        // Boxed, as is the re-ask: nearly every call has neither, and its
        // future would carry their room while it waits.
        let mut last: Option<Box<Failure>> = None;
        // The latest reply that did not parse, and what to say about it.
        let mut reask: Option<Box<Reask>> = None;
        // What a `tpm` books before each attempt: about four characters a token
        // for everything sent, plus the most the reply may be.
        let chars = prompt.len()
            + system.map_or(0, str::len)
            + history.iter().map(|m| m.content.len()).sum::<usize>();
        let estimate = (chars as u64).div_ceil(4)
            + spec.and_then(|s| s.options.max_tokens).map_or(0, u64::from);
        loop {
            // The attempt and what to do about its failure in a block of its
            // own, so that none of it (the failure itself included: moved
            // out, it still took room) is held through the back-off below.
            let delay = {
                // The attempt in a block of its own, so that none of its state is
                // held through the back-off below.
                let failure = {
                    // Boxed, as the attempt's timeout is: most models have no limits,
                    // and a fan-out should not carry their waits' room.
                    let _slot = match &limits {
                        Some(l) => Some(Box::pin(l.acquire()).await),
                        None => None,
                    };
                    let booked = match &limits {
                        Some(l) => Box::pin(l.reserve(estimate)).await,
                        None => None,
                    };
                    // Charged only once the call can go out: a sample still waiting for
                    // a slot when its vote is decided is never made, so never billed.
                    if let Err(over) = ctx.charge(&site, span) {
                        return Err(fatal(match (last.map(|b| *b), &over) {
                            // The budget ran out on a retry: what failed the attempts
                            // that used it up is the news, not the budget.
                            (
                                Some(Failure::Transient(e)),
                                RunError::BudgetExceeded { limit, .. },
                            ) => {
                                let message = format!(
                                    "{e}; the limit of {limit} calls allowed no more attempts"
                                );
                                failed_with(&e, message, site, model, attempt, span)
                            }
                            (Some(failure), _) => failed(failure, site, model, attempt, span),
                            (None, _) => over,
                        }));
                    }
                    let request = request_for!(attempt, reask.as_deref().cloned());
                    let reasking = matches!(last.as_deref(), Some(Failure::Unparsable { .. }));
                    let mut guard = ctx.begin_attempt(
                        &site,
                        model,
                        Attempt {
                            number: attempt,
                            reask: reasking,
                            mode,
                            instruction: format.instruction.as_deref(),
                        },
                    );
                    let sink = stream.as_ref().map(|gates| {
                        let received = Arc::new(Received::default());
                        guard.streams(received.clone());
                        Sink {
                            gates: gates.clone(),
                            received,
                        }
                    });
                    // The attempt's own start, not another reading of the clock.
                    let started = guard.started();
                    first_start.get_or_insert(started);
                    let fut = match &sink {
                        Some(sink) => provider.stream(request, sink),
                        None => provider.call(request),
                    };
                    let result = match timeout {
                        // An attempt known to end first needs no timer.
                        Some(t) if provider.longest_attempt().is_none_or(|most| most >= t) => {
                            // Boxed too: an attempt known to end first (a mock's) has no
                            // timer, and an HTTP attempt costs far more than the box.
                            Box::pin(within(t, fut)).await
                        }
                        _ => Some(fut.await),
                    };
                    drop(_slot);
                    if let Some(l) = &limits {
                        // Settled with what the provider reported; an attempt with no
                        // reply used nothing, and a reply with no counts keeps its estimate.
                        let used = match &result {
                            Some(Ok(reply)) => reply
                                .usage
                                .map_or(estimate, |u| u.input_tokens + u.output_tokens),
                            _ => 0,
                        };
                        l.settle(booked, used);
                        // A 429 that names tokens: the provider's own minute is full.
                        if let Some(Err(e)) = &result
                            && e.is_token_limit()
                        {
                            l.token_limited(e.retry_after().unwrap_or(Duration::from_secs(1)));
                        }
                    }
                    match result {
                        None => {
                            guard.finish(AttemptOutcome::Timeout, None, None);
                            Failure::Timeout(timeout.unwrap_or_default())
                        }
                        Some(Err(e)) if !e.is_transient() => {
                            let message = e.to_string();
                            guard.finish(AttemptOutcome::Fatal, None, Some(message.clone()));
                            return Err(fatal(RunError::CallFailed {
                                site: Box::new(site),
                                model: model.to_string(),
                                attempts: attempt + 1,
                                message,
                                status: e.status(),
                                help: e.help(),
                                span: span.into(),
                            }));
                        }
                        Some(Err(e)) => {
                            guard.finish(AttemptOutcome::Transient, None, Some(e.to_string()));
                            if !e.was_sent() {
                                // Nothing reached a server: not a call, nor billed.
                                ctx.refund(model);
                            }
                            Failure::Transient(e)
                        }
                        Some(Ok(reply)) => match parse(&reply.text) {
                            Ok(value) => {
                                guard.finish(AttemptOutcome::Ok, reply.usage, None);
                                // Saved only once it parsed: an unparsable reply must be
                                // retried, not served again.
                                if let (Some((cache, key)), Some(spec)) = (&cache, spec) {
                                    cache.put(
                                        *key,
                                        CachedReply {
                                            model: model.to_string(),
                                            provider: spec.provider.name().to_string(),
                                            text: reply.text,
                                            usage: reply.usage.unwrap_or_default(),
                                        },
                                    );
                                }
                                let latency = Instant::now() - first_start.unwrap_or(started);
                                return Ok(Called { value, latency });
                            }
                            Err(expected) => {
                                let cut = if reply.truncated {
                                    " (the reply was cut off at the token limit)"
                                } else {
                                    ""
                                };
                                guard.finish(
                                    AttemptOutcome::Unparsable,
                                    reply.usage,
                                    Some(format!("expected {expected}{cut}")),
                                );
                                reask = Some(Box::new(Reask {
                                    message: reask_message(&expected, reply.truncated, format),
                                    reply: reply.text.clone(),
                                }));
                                Failure::Unparsable {
                                    expected,
                                    // Quoted in the final error: never with the key.
                                    reply: provider.scrub(&reply.text).to_string(),
                                    truncated: reply.truncated,
                                }
                            }
                        },
                    }
                };

                // A streamed attempt whose text was shown cannot be taken back:
                // a retry would show a second reply after the first one's start.
                let mut shown = false;
                for gate in stream.iter().flat_map(|g| g.iter()) {
                    shown |= !gate.restart();
                }
                let rate_limited =
                    matches!(&failure, Failure::Transient(e) if e.status() == Some(429));
                if attempt >= retries || shown || (rate_limit_moves_on && rate_limited) {
                    return Err(CallFailure::Exhausted(failed(
                        failure,
                        site,
                        model,
                        attempt + 1,
                        span,
                    )));
                }

                if let Failure::Transient(e) = &failure
                    && let Some(asked) = e.retry_after()
                    && asked > ctx.policy.max_retry_after
                {
                    return Err(CallFailure::Exhausted(RunError::RetryAfterTooLong {
                        site: Box::new(site),
                        model: model.to_string(),
                        attempts: attempt + 1,
                        message: e.to_string(),
                        status: e.status(),
                        asked,
                        cap: ctx.policy.max_retry_after,
                        span: span.into(),
                    }));
                }
                let (reason, floor) = match &failure {
                    Failure::Transient(e) => (e.to_string(), e.retry_after()),
                    Failure::Timeout(t) => (format!("no reply within {}ms", t.as_millis()), None),
                    Failure::Unparsable { expected, .. } => {
                        (format!("the reply was not {expected}"), None)
                    }
                };
                // A re-ask goes at once: nothing is wrong with the server.
                let is_reask = matches!(failure, Failure::Unparsable { .. });
                let delay = if is_reask {
                    Duration::ZERO
                } else {
                    backoff(ctx, attempt, floor)
                };
                ctx.emit(|| RunEvent::Retry {
                    site: site.clone(),
                    model: model.to_string(),
                    attempt: attempt + 1,
                    reason,
                    delay,
                    reask: is_reask,
                });
                last = Some(Box::new(failure));
                delay
            };
            if !delay.is_zero() {
                // Boxed: a fan-out waits in the provider, not here, and should
                // not carry a timer's room for it.
                Box::pin(tokio::time::sleep(delay)).await;
            }
            attempt += 1;
        }
    }
}

/// A call that failed with `e`, said as `message`.
fn failed_with(
    e: &ProviderError,
    message: String,
    site: Site,
    model: &str,
    attempts: u32,
    span: Span,
) -> RunError {
    RunError::CallFailed {
        site: Box::new(site),
        model: model.to_string(),
        attempts,
        message,
        status: e.status(),
        help: e.help(),
        span: span.into(),
    }
}

/// The error for a call whose last attempt (of `attempts`) failed so.
fn failed(failure: Failure, site: Site, model: &str, attempts: u32, span: Span) -> RunError {
    let model = model.to_string();
    match failure {
        Failure::Transient(e) => failed_with(&e, e.to_string(), site, &model, attempts, span),
        Failure::Timeout(timeout) => RunError::Timeout {
            site: Box::new(site),
            model,
            attempts,
            timeout,
            span: span.into(),
        },
        Failure::Unparsable {
            expected,
            reply,
            truncated,
        } => RunError::Unparsable {
            site: Box::new(site),
            model,
            attempts,
            expected,
            reply: Quoted(reply),
            truncated,
            span: span.into(),
        },
    }
}

/// Where a streamed attempt's text goes: to every gate of the outputs that
/// stream the call, and into the count it is charged with if cancelled.
struct Sink {
    gates: Gates,
    received: Arc<Received>,
}

impl StreamSink for Sink {
    fn text(&self, chunk: &str) {
        self.received.text(chunk);
        for gate in self.gates.iter() {
            gate.text(chunk);
        }
    }

    fn usage(&self, usage: Usage) {
        self.received.usage(usage);
    }
}

/// Pending once, woken at once. In a vote's `FuturesUnordered` this puts
/// the sample at the back of the queue of samples to poll, behind the ones
/// whose cache hits are already waiting to be tallied, whatever the order
/// they were polled in. (`tokio::task::yield_now` defers its wake-up to the
/// runtime, which reorders the samples and changed how many a vote made.)
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// `fut`'s output, or `None` once `limit` has passed. Unlike
/// `tokio::time::timeout`, the deadline is checked first: an HTTP provider
/// enforcing the same model `timeout` on its own fires in the same timer
/// tick, and its error must not win over ours, or one hung server would fail
/// as `call_failed` or as `timeout` depending on polling order.
async fn within<F: std::future::Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline, fut);
    tokio::select! {
        biased;
        () = &mut deadline => None,
        out = &mut fut => Some(out),
    }
}

/// Full jitter: uniform in `[0, min(max, base * 2^attempt)]`, but never less
/// than the provider's `Retry-After`.
fn backoff(ctx: &RunCtx, attempt: u32, floor: Option<Duration>) -> Duration {
    let cap = ctx
        .policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.min(31)))
        .min(ctx.policy.max_delay);
    let cap_us = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    let jitter = if cap_us == 0 {
        Duration::ZERO
    } else {
        Duration::from_micros(fastrand::u64(0..=cap_us))
    };
    match floor {
        Some(f) => jitter.max(f),
        None => jitter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_deadline_wins_a_tie_with_the_call() {
        let limit = Duration::from_millis(300);
        // The provider's own timer, started just after ours, with the same limit.
        let provider = async move {
            tokio::time::sleep(limit).await;
            "the provider's own timeout"
        };
        assert_eq!(within(limit, provider).await, None);
        assert_eq!(within(limit, async { 7 }).await, Some(7));
        let early = async {
            tokio::time::sleep(Duration::from_millis(299)).await;
            "reply"
        };
        assert_eq!(within(limit, early).await, Some("reply"));
    }
}

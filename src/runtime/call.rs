//! One call: attempts until one succeeds. Each attempt waits for the model's
//! limits, has its own timeout, and is recorded; transient faults, timeouts
//! and unparsable replies are retried with exponential backoff and full
//! jitter, fatal faults fail at once.

use std::time::Duration;

use std::sync::Arc;

use tokio::time::Instant;

use super::ctx::RunCtx;
use super::error::{Quoted, RunError, Site};
use super::events::RunEvent;
use super::gate::{Gates, Received};
use super::trace::AttemptOutcome;
use crate::cache::key::CallSpec;
use crate::cache::{CachedReply, CallKey};
use crate::chat::Chat;
use crate::providers::{ProviderError, Request, StreamSink, Usage};
use crate::syntax::Span;
use crate::types::Type;

/// What to send, minus the attempt number.
pub(crate) struct CallPlan<'a> {
    pub site: Site,
    pub model: &'a str,
    pub prompt: String,
    pub system: Option<String>,
    pub history: Chat,
    /// The gates of the outputs that stream this call's reply; `None`
    /// calls without streaming.
    pub stream: Option<Gates>,
    pub sample: u32,
    pub expect: Type,
    pub timeout: Option<Duration>,
    pub retry: Option<u32>,
    /// The call site, for errors.
    pub span: Span,
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
    Unparsable { expected: String, reply: String },
}

pub(crate) async fn call<T>(
    ctx: &RunCtx,
    plan: CallPlan<'_>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Called<T>, RunError> {
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
    } = plan;
    let provider =
        ctx.providers.get(model).cloned().ok_or_else(|| {
            RunError::internal(format!("no provider was set up for model `{model}`"))
        })?;
    if let Some(bug) = super::reply::unparsable_type(&expect) {
        return Err(RunError::Internal(bug));
    }
    let spec = ctx.graph.models.get(model);
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
                system: system.as_deref(),
                history: &history,
                prompt: &prompt,
                expect: &expect,
                sample,
            }),
        )),
        _ => None,
    };
    if let Some((cache, key)) = &cache {
        let hit = cache
            .get(key)
            .and_then(|r| parse(&r.text).ok().map(|v| (v, r.text)));
        ctx.record_cache(&site, model, hit.is_some());
        if let Some((value, text)) = hit {
            // A cached reply streams as one chunk.
            for gate in stream.iter().flat_map(|g| g.iter()) {
                gate.text(&text);
            }
            return Ok(Called {
                value,
                latency: Duration::ZERO,
            });
        }
        // Let the other samples of a vote answer from the cache first: a
        // vote they decide drops this one before it is sent. Without this,
        // a fully cached re-run sent (and counted) a sample the first run
        // had saved, when that sample happened to be polled first.
        if site.sample.is_some() {
            YieldOnce(false).await;
        }
    }

    let mut first_start: Option<Instant> = None;
    let mut attempt: u32 = 0;
    // Why the attempt before this one failed.
    let mut last: Option<Failure> = None;
    loop {
        let _slot = match &limits {
            Some(l) => Some(l.acquire().await),
            None => None,
        };
        // Charged only once the call can go out: a sample still waiting for
        // a slot when its vote is decided is never made, so never billed.
        if let Err(over) = ctx.charge(&site, span) {
            return Err(match (last, &over) {
                // The budget ran out on a retry: what failed the attempts
                // that used it up is the news, not the budget.
                (Some(Failure::Transient(e)), RunError::BudgetExceeded { limit, .. }) => {
                    let message =
                        format!("{e}; the limit of {limit} calls allowed no more attempts");
                    failed_with(&e, message, site, model, attempt, span)
                }
                (Some(failure), _) => failed(failure, site, model, attempt, span),
                (None, _) => over,
            });
        }
        let request = Request {
            model: model.to_string(),
            system: system.clone(),
            history: history.clone(),
            prompt: prompt.clone(),
            sample,
            attempt,
            expect: expect.clone(),
        };
        let mut guard = ctx.begin_attempt(&site, model, attempt);
        let sink = stream.as_ref().map(|gates| {
            let received = Arc::new(Received::default());
            guard.streams(received.clone());
            Sink {
                gates: gates.clone(),
                received,
            }
        });
        let started = Instant::now();
        first_start.get_or_insert(started);
        let fut = match &sink {
            Some(sink) => provider.stream(request, sink),
            None => provider.call(request),
        };
        let result = match timeout {
            Some(t) => within(t, fut).await,
            None => Some(fut.await),
        };
        drop(_slot);
        let failure = match result {
            None => {
                guard.finish(AttemptOutcome::Timeout, Default::default(), None);
                Failure::Timeout(timeout.unwrap_or_default())
            }
            Some(Err(e)) if !e.is_transient() => {
                let message = e.to_string();
                guard.finish(
                    AttemptOutcome::Fatal,
                    Default::default(),
                    Some(message.clone()),
                );
                return Err(RunError::CallFailed {
                    site: Box::new(site),
                    model: model.to_string(),
                    attempts: attempt + 1,
                    message,
                    status: e.status(),
                    help: e.help(),
                    span: span.into(),
                });
            }
            Some(Err(e)) => {
                guard.finish(
                    AttemptOutcome::Transient,
                    Default::default(),
                    Some(e.to_string()),
                );
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
                                usage: reply.usage,
                            },
                        );
                    }
                    let latency = Instant::now() - first_start.unwrap_or(started);
                    return Ok(Called { value, latency });
                }
                Err(expected) => {
                    guard.finish(
                        AttemptOutcome::Unparsable,
                        reply.usage,
                        Some(format!("expected {expected}")),
                    );
                    Failure::Unparsable {
                        expected,
                        // Quoted in the final error: never with the key.
                        reply: provider.scrub(&reply.text).to_string(),
                    }
                }
            },
        };

        // A streamed attempt whose text was shown cannot be taken back:
        // a retry would show a second reply after the first one's start.
        let mut shown = false;
        for gate in stream.iter().flat_map(|g| g.iter()) {
            shown |= !gate.restart();
        }
        if attempt >= retries || shown {
            return Err(failed(failure, site, model, attempt + 1, span));
        }

        if let Failure::Transient(e) = &failure
            && let Some(asked) = e.retry_after()
            && asked > ctx.policy.max_retry_after
        {
            return Err(RunError::RetryAfterTooLong {
                site: Box::new(site),
                model: model.to_string(),
                attempts: attempt + 1,
                message: e.to_string(),
                status: e.status(),
                asked,
                cap: ctx.policy.max_retry_after,
                span: span.into(),
            });
        }
        let (reason, floor) = match &failure {
            Failure::Transient(e) => (e.to_string(), e.retry_after()),
            Failure::Timeout(t) => (format!("no reply within {}ms", t.as_millis()), None),
            Failure::Unparsable { expected, .. } => (format!("the reply was not {expected}"), None),
        };
        let delay = backoff(ctx, attempt, floor);
        ctx.emit(|| RunEvent::Retry {
            site: site.clone(),
            model: model.to_string(),
            attempt: attempt + 1,
            reason,
            delay,
        });
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        last = Some(failure);
        attempt += 1;
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
        Failure::Unparsable { expected, reply } => RunError::Unparsable {
            site: Box::new(site),
            model,
            attempts,
            expected,
            reply: Quoted(reply),
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
        Duration::from_micros(rand::random_range(0..=cap_us))
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

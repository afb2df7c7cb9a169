//! One pass of a batch run: every call the cache cannot answer is deferred
//! (its request kept for a provider batch) instead of sent, and never
//! completes, so nothing that depends on it runs; the pass is over when the
//! runs have nothing left to do but wait for deferred calls.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Wake, Waker};

use indexmap::IndexMap;
use serde_json::Value;

use super::BatchSummary;
use crate::providers::{Provider, Request};

/// A call kept for a batch: what to send, and who can send it.
#[derive(Clone)]
pub struct Deferred {
    /// The flow model's name.
    pub model: String,
    /// The request as the first attempt would have made it.
    pub request: Request,
    /// The provider-native body (`BatchApi::body`).
    pub body: Value,
    /// The model's provider, whose batch API sends it.
    pub provider: Arc<dyn Provider>,
}

/// What a pass shares with the runs in it (`RunOptions::batch`).
#[derive(Default)]
pub struct BatchPass {
    /// Defer calls (a pass) or make them (the last run, which finds every
    /// batched reply in the cache).
    defer: bool,
    deferred: Mutex<IndexMap<String, Deferred>>,
    /// Calls a batch answered with an error, by cache key: the run fails
    /// them with the provider's message rather than sending them again.
    failures: HashMap<String, String>,
    /// Calls a batch of this batch run answered, by cache key: their cache
    /// hits count against `--max-calls`, as the requests they were.
    batched: Batched,
    /// Calls being made directly (no batch API, or a batched reply that did
    /// not parse): while any is, the pass is not idle.
    busy: AtomicUsize,
}

impl std::fmt::Debug for BatchPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchPass")
            .field("defer", &self.defer)
            .field("failures", &self.failures.len())
            .finish_non_exhaustive()
    }
}

/// The cache keys of the calls a batch answered, shared by every pass of a
/// batch run (it grows between passes).
pub type Batched = Arc<RwLock<HashSet<String>>>;

impl BatchPass {
    /// A pass that defers what the cache cannot answer.
    pub fn deferring(summary: &BatchSummary) -> Arc<BatchPass> {
        Arc::new(BatchPass {
            defer: true,
            failures: summary.failures.clone(),
            batched: summary.batched.clone(),
            ..BatchPass::default()
        })
    }

    /// The last run: nothing is deferred, failed items fail.
    pub fn finishing(summary: &BatchSummary) -> Arc<BatchPass> {
        Arc::new(BatchPass {
            defer: false,
            failures: summary.failures.clone(),
            batched: summary.batched.clone(),
            ..BatchPass::default()
        })
    }

    /// Whether a batch of this run answered the call `key`: its cache hit
    /// was a request sent, and counts as a call.
    pub(crate) fn was_batched(&self, key: &str) -> bool {
        self.batched
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    pub(crate) fn defers(&self) -> bool {
        self.defer
    }

    pub(crate) fn failure(&self, key: &str) -> Option<&str> {
        self.failures.get(key).map(String::as_str)
    }

    /// Keeps `call` for the batch; the same call deferred twice (two rows
    /// asking the same thing) is one request.
    pub(crate) fn defer(&self, key: String, call: Deferred) {
        let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        deferred.entry(key).or_insert(call);
    }

    /// Marks a call being made directly until the guard drops.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// The calls deferred so far, by cache key, in the order they came.
    pub fn take(&self) -> IndexMap<String, Deferred> {
        std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn deferred_count(&self) -> usize {
        self.deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

/// A direct call in progress (see [`BatchPass::busy`]).
pub(crate) struct Busy(Arc<BatchPass>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether anything woke the task while `fut` was being polled.
struct Flag {
    /// Shared by every waker one [`until_idle`] made: a future may wake
    /// with a waker from an earlier poll.
    woken: Arc<AtomicBool>,
    waker: Waker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.waker.wake_by_ref();
    }
}

/// `fut`'s output, or `None` once it can only wait for deferred calls:
/// it is pending, nothing woke it while it was polled, no call is being
/// made directly, and some call was deferred. A deferred call never wakes
/// its task and everything else a run waits on (replies, timers, limits)
/// lives inside a direct call, so such a future would wait forever.
pub async fn until_idle<F: Future>(pass: &BatchPass, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let woken = Arc::new(AtomicBool::new(false));
    std::future::poll_fn(move |cx: &mut Context<'_>| poll_idle(pass, &woken, fut.as_mut(), cx))
        .await
}

fn poll_idle<F: Future>(
    pass: &BatchPass,
    woken: &Arc<AtomicBool>,
    mut fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Option<F::Output>> {
    loop {
        woken.store(false, Ordering::SeqCst);
        let flag = Arc::new(Flag {
            woken: woken.clone(),
            waker: cx.waker().clone(),
        });
        let waker = Waker::from(flag.clone());
        let mut inner = Context::from_waker(&waker);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut inner) {
            return Poll::Ready(Some(out));
        }
        if woken.load(Ordering::SeqCst) {
            // Woken while polled (a yield, a reply that came meanwhile):
            // there is more to do now.
            continue;
        }
        if pass.busy.load(Ordering::SeqCst) == 0 && pass.deferred_count() > 0 {
            return Poll::Ready(None);
        }
        return Poll::Pending;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deferred() -> Deferred {
        Deferred {
            model: "m".into(),
            request: crate::providers::http::test_support::request("hi"),
            body: Value::Null,
            provider: Arc::new(crate::providers::mock::MockProvider::new(Default::default())),
        }
    }

    #[tokio::test]
    async fn a_future_waiting_only_on_deferred_calls_is_idle() {
        let pass = BatchPass::deferring(&BatchSummary::default());
        let p = pass.clone();
        let out = until_idle(&pass, async move {
            tokio::task::yield_now().await;
            p.defer("k".into(), deferred());
            std::future::pending::<()>().await;
        })
        .await;
        assert!(out.is_none());
        // A future that finishes gives its output.
        assert_eq!(until_idle(&pass, async { 3 }).await, Some(3));
    }

    #[tokio::test]
    async fn a_direct_call_in_progress_is_waited_for() {
        let pass = BatchPass::deferring(&BatchSummary::default());
        pass.defer("k".into(), deferred());
        let p = pass.clone();
        let out = until_idle(&pass, async move {
            let _busy = p.busy();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            7
        })
        .await;
        assert_eq!(out, Some(7));
    }
}

//! Per-model limits shared by the whole run: `concurrency` (calls in flight),
//! `rpm` (requests a minute) and `tpm` (tokens a minute); and a
//! `round_robin` model's turn, which must be shared as widely (every row of a
//! batch, every request to a server), or each run would start at the first
//! member and a batch of one-call rows would never reach the others.
//!
//! Both wait rather than reject, so a program never fails because it is more
//! parallel than the provider allows; it just runs as fast as allowed. Time is
//! tokio's, so tests on a paused clock see exact pacing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::model::{ModelOptions, ModelSpec};

/// Every model's limits by model name, shareable by several runs: a batch
/// gives all its rows one set, so the limits bound the whole batch.
pub type SharedLimits = Arc<HashMap<String, Arc<ModelLimits>>>;

/// Fresh limits for each model, from its options.
pub fn for_models<'a>(models: impl IntoIterator<Item = &'a ModelSpec>) -> SharedLimits {
    Arc::new(
        models
            .into_iter()
            .map(|spec| (spec.name.clone(), Arc::new(ModelLimits::new(&spec.options))))
            .collect(),
    )
}

/// Limits that outlive one engine: engines of different programs built
/// with the same `LimitsRegistry` share the limits of models with the same
/// name — a server hosting several programs against one provider account,
/// say. The first engine to use a name sets its limits from its options.
#[derive(Debug, Clone, Default)]
pub struct LimitsRegistry {
    models: Arc<std::sync::Mutex<HashMap<String, Arc<ModelLimits>>>>,
}

impl LimitsRegistry {
    /// An empty registry; engines built with it fill it as they meet models.
    pub fn new() -> LimitsRegistry {
        LimitsRegistry::default()
    }

    /// The limits for `models`, shared with every earlier user of each name.
    pub fn for_models<'a>(&self, models: impl IntoIterator<Item = &'a ModelSpec>) -> SharedLimits {
        let mut known = self.models.lock().unwrap_or_else(|e| e.into_inner());
        Arc::new(
            models
                .into_iter()
                .map(|spec| {
                    let limits = known
                        .entry(spec.name.clone())
                        .or_insert_with(|| Arc::new(ModelLimits::new(&spec.options)))
                        .clone();
                    (spec.name.clone(), limits)
                })
                .collect(),
        )
    }
}

/// The limits of one model.
#[derive(Debug)]
pub struct ModelLimits {
    concurrency: Option<Arc<Semaphore>>,
    rate: Option<Pacer>,
    tokens: Option<TokenBudget>,
    /// Calls made through this model when it is a `round_robin`: the next
    /// goes to member `turn % members`.
    turn: std::sync::atomic::AtomicUsize,
}

/// Holding it keeps one call slot of the model taken; drop it when the
/// attempt ends (not during the backoff before a retry).
#[derive(Debug)]
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl ModelLimits {
    pub fn new(options: &ModelOptions) -> ModelLimits {
        ModelLimits {
            concurrency: options
                .concurrency
                .filter(|&n| n > 0)
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            rate: options.rpm.filter(|&n| n > 0).map(Pacer::per_minute),
            tokens: options.tpm.filter(|&n| n > 0).map(|n| TokenBudget {
                tpm: u64::from(n),
                ledger: std::sync::Mutex::new(Ledger::default()),
            }),
            turn: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The turn of the next call through this `round_robin` model, counted
    /// across every run that shares these limits.
    pub fn next_turn(&self) -> usize {
        self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until `estimate` more tokens fit in the model's last minute,
    /// and books them; `None` without a `tpm`. A request larger than the
    /// whole budget goes out alone, once the minute is empty.
    pub async fn reserve(&self, estimate: u64) -> Option<Reservation> {
        let budget = self.tokens.as_ref()?;
        Some(budget.reserve(estimate).await)
    }

    /// Replaces a reservation's estimate with the tokens the call used
    /// (0 for an attempt that failed before a reply).
    pub fn settle(&self, reservation: Option<Reservation>, used: u64) {
        if let (Some(budget), Some(r)) = (&self.tokens, reservation) {
            budget.settle(r, used);
        }
    }

    /// The provider said the token limit was hit: no new reservation until
    /// `wait` has passed, on top of what the ledger says.
    pub fn token_limited(&self, wait: Duration) {
        if let Some(budget) = &self.tokens {
            let mut ledger = budget.lock();
            let until = Instant::now() + wait;
            ledger.blocked_until = Some(ledger.blocked_until.map_or(until, |b| b.max(until)));
        }
    }

    /// Waits for a free concurrency slot, then for the rate limit. The slot is
    /// taken first so the rate token is spent at the moment the call goes
    /// out, not while it still waits for a slot.
    pub async fn acquire(&self) -> Slot {
        let permit = match &self.concurrency {
            // The semaphore is never closed, so acquiring only fails if it
            // were; then running unthrottled is the best we can do.
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        };
        if let Some(rate) = &self.rate {
            rate.wait().await;
        }
        Slot { _permit: permit }
    }
}

/// A booking of tokens in a model's minute, to settle after the call.
#[derive(Debug)]
pub struct Reservation {
    id: u64,
}

/// A sliding minute of booked tokens: a call goes out only when its
/// estimate fits beside what was booked in the 60 s before.
#[derive(Debug)]
struct TokenBudget {
    tpm: u64,
    ledger: std::sync::Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    /// (id, when booked, tokens), oldest first.
    entries: std::collections::VecDeque<(u64, Instant, u64)>,
    next_id: u64,
    /// Set by a token-limit 429: nothing goes out before this.
    blocked_until: Option<Instant>,
}

const MINUTE: Duration = Duration::from_secs(60);

impl TokenBudget {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn reserve(&self, n: u64) -> Reservation {
        loop {
            let at = {
                let mut l = self.lock();
                let now = Instant::now();
                while l.entries.front().is_some_and(|e| e.1 + MINUTE <= now) {
                    l.entries.pop_front();
                }
                match l.blocked_until {
                    Some(b) if b > now => b,
                    _ => {
                        let used: u64 = l.entries.iter().map(|e| e.2).sum();
                        if used.saturating_add(n) <= self.tpm || l.entries.is_empty() {
                            let id = l.next_id;
                            l.next_id += 1;
                            l.entries.push_back((id, now, n));
                            return Reservation { id };
                        }
                        // The moment enough of the oldest bookings leave
                        // the minute for this one to fit.
                        let mut left = used;
                        let mut at = now;
                        for e in &l.entries {
                            if left.saturating_add(n) <= self.tpm {
                                break;
                            }
                            left -= e.2;
                            at = e.1 + MINUTE;
                        }
                        at
                    }
                }
            };
            tokio::time::sleep_until(at).await;
        }
    }

    fn settle(&self, r: Reservation, used: u64) {
        let mut l = self.lock();
        if let Some(e) = l.entries.iter_mut().find(|e| e.0 == r.id) {
            e.2 = used;
        }
    }
}

/// A token bucket holding one token: requests go out evenly spaced,
/// `interval` apart, in the order they asked. A bucket of one is the strictest
/// reading of "requests a minute" and never trips a provider's shorter windows.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    fn per_minute(rpm: u32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(60) / rpm,
            next: Mutex::new(None),
        }
    }

    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = match *next {
                Some(n) if n > now => n,
                _ => now,
            };
            *next = Some(at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rpm_paces_evenly() {
        let limits = Arc::new(ModelLimits::new(&ModelOptions {
            rpm: Some(120),
            ..ModelOptions::default()
        }));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..5 {
            let l = limits.clone();
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now() - start
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.map(|d| d.as_millis()).unwrap_or(u128::MAX));
        }
        times.sort();
        assert_eq!(times, vec![0, 500, 1000, 1500, 2000]);
    }

    /// Calls booking 300 tokens each (settling at what they used) against
    /// `tpm: 1000`: no 60 s window ever holds more than 1000 tokens.
    #[tokio::test(start_paused = true)]
    async fn tpm_never_exceeds_the_budget_in_any_minute() {
        let limits = Arc::new(ModelLimits::new(&ModelOptions {
            tpm: Some(1000),
            ..ModelOptions::default()
        }));
        let start = Instant::now();
        let mut handles = Vec::new();
        for i in 0..12u64 {
            let l = limits.clone();
            handles.push(tokio::spawn(async move {
                let r = l.reserve(300).await;
                let at = Instant::now() - start;
                tokio::time::sleep(Duration::from_millis(200 + 37 * i)).await;
                // Some calls use fewer tokens than booked.
                let used = if i % 3 == 0 { 150 } else { 300 };
                l.settle(r, used);
                (at, used)
            }));
        }
        let mut sent = Vec::new();
        for h in handles {
            if let Ok(s) = h.await {
                sent.push(s);
            }
        }
        assert_eq!(sent.len(), 12);
        for &(from, _) in &sent {
            let in_window: u64 = sent
                .iter()
                .filter(|(t, _)| *t >= from && *t < from + MINUTE)
                .map(|(_, used)| used)
                .sum();
            assert!(
                in_window <= 1000,
                "{in_window} tokens in the minute from {from:?}"
            );
        }
        // Three fit in the first minute; settled savings let a fourth in early.
        let first_minute = sent.iter().filter(|(t, _)| *t < MINUTE).count();
        assert!(first_minute >= 3, "{first_minute}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_limit_429_pauses_new_reservations() {
        let limits = ModelLimits::new(&ModelOptions {
            tpm: Some(1000),
            ..ModelOptions::default()
        });
        let start = Instant::now();
        let r = limits.reserve(10).await;
        limits.settle(r, 10);
        limits.token_limited(Duration::from_secs(5));
        limits.reserve(10).await;
        assert_eq!((Instant::now() - start).as_secs(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_caps_slots() {
        let limits = ModelLimits::new(&ModelOptions {
            concurrency: Some(2),
            ..ModelOptions::default()
        });
        let a = limits.acquire().await;
        let _b = limits.acquire().await;
        let third = tokio::time::timeout(Duration::from_secs(1), limits.acquire()).await;
        assert!(third.is_err(), "a third slot was granted");
        drop(a);
        let third = tokio::time::timeout(Duration::from_secs(1), limits.acquire()).await;
        assert!(third.is_ok());
    }
}

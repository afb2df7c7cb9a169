//! Per-model limits shared by the whole run: `concurrency` (calls in flight)
//! and `rpm` (requests a minute).
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

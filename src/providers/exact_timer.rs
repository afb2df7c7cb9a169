//! A timer accurate to tens of microseconds, for the mock's latency.
//!
//! tokio's timer fires on the first millisecond tick after a deadline and
//! the scheduler adds its own delay, so a `sleep(10ms)` takes about 11.3 ms.
//! The mock used to sleep for all but the last 2 ms and then yield until the
//! instant; with 10,000 calls waiting at once, every yield re-polled them
//! all, and a fan-out of 10,000 calls of 50 ms took 0.3 s instead of 50 ms.
//! Here one thread keeps every deadline in a heap and sleeps on a condition
//! variable until the earliest (the kernel wakes it within its timer slack,
//! about 50 µs), then wakes the tasks whose deadlines are near: no task is
//! polled long before its instant, however many wait.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long before a deadline the timer thread wakes a task, which then
/// yields until the instant: waking a task from another thread takes
/// 100–300 µs on a busy machine (measured), and yielding is exact. Only the
/// calls due within this window are ever yielding at once.
const EARLY: Duration = Duration::from_micros(500);

/// Waits until `deadline` on the tokio clock, to within a few microseconds,
/// and never before it. On a paused clock (tests) tokio's own timer fires
/// first, exactly, since the timer thread follows real time, which a paused
/// clock does not; so does a task yielding past its instant in real time
/// while the paused clock stands still.
pub(crate) async fn sleep_until(deadline: tokio::time::Instant) {
    let coarse = tokio::time::sleep_until(deadline);
    tokio::pin!(coarse);
    let real = deadline.into_std();
    tokio::select! {
        biased;
        () = &mut coarse => return,
        () = Exact::new(real.checked_sub(EARLY).unwrap_or(real)) => {}
    }
    while tokio::time::Instant::now() < deadline {
        if Instant::now() > real + EARLY {
            // The clock does not move while we yield: it is paused.
            coarse.await;
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// One deadline as the timer thread sees it.
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A heap entry: ordered by deadline, then by arrival (`seq`), so the
/// ordering is total without comparing slots.
struct Entry {
    at: Instant,
    seq: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// The one timer thread, started on first use; `None` when the thread
/// could not be started, and then only tokio's timer counts.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("flow-exact-timer".into())
            .spawn(move || timer.serve())
            .ok()
            .map(|_| timer)
    })
}

impl Timer {
    fn serve(&self) {
        let mut due = Vec::new();
        let mut queue = lock(&self.queue);
        loop {
            let now = Instant::now();
            while let Some(Reverse(first)) = queue.heap.peek() {
                if first.at > now {
                    break;
                }
                if let Some(Reverse(entry)) = queue.heap.pop() {
                    due.push(entry.slot);
                }
            }
            if !due.is_empty() {
                // Wake outside the lock: a woken task may add a deadline.
                drop(queue);
                for slot in due.drain(..) {
                    slot.fired.store(true, Ordering::Release);
                    if let Some(waker) = lock(&slot.waker).take() {
                        waker.wake();
                    }
                }
                queue = lock(&self.queue);
                continue;
            }
            queue = match queue.heap.peek() {
                None => self
                    .changed
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(Reverse(first)) => {
                    let wait = first.at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    fn add(&self, at: Instant, slot: Arc<Slot>) {
        let mut queue = lock(&self.queue);
        let earliest = queue.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        let seq = queue.seq;
        queue.seq += 1;
        queue.heap.push(Reverse(Entry { at, seq, slot }));
        drop(queue);
        if earliest {
            self.changed.notify_one();
        }
    }
}

/// Nothing under these locks can panic, but if something did, the data
/// (a heap of deadlines, a waker) is still whole.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The future of one exact deadline; never ready when the timer thread
/// could not be started (tokio's timer then decides alone).
struct Exact {
    at: Instant,
    slot: Option<Arc<Slot>>,
}

impl Exact {
    fn new(at: Instant) -> Exact {
        Exact { at, slot: None }
    }
}

impl Future for Exact {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let Some(timer) = timer() else {
            return Poll::Pending;
        };
        match &self.slot {
            Some(slot) => {
                if slot.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                *lock(&slot.waker) = Some(cx.waker().clone());
                // The thread may have fired between the check and the store.
                if slot.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
            }
            None => {
                let slot = Arc::new(Slot {
                    fired: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                timer.add(self.at, Arc::clone(&slot));
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for Exact {
    /// A call cancelled before its deadline lets go of its task at once;
    /// the heap entry itself goes when its deadline passes.
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            lock(&slot.waker).take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_deadlines_are_each_met_and_never_early() {
        let start = tokio::time::Instant::now();
        let waits: Vec<_> = (0..2_000u64)
            .map(|i| {
                tokio::spawn(async move {
                    let at = start + Duration::from_micros(5_000 + (i % 50) * 100);
                    sleep_until(at).await;
                    tokio::time::Instant::now() >= at
                })
            })
            .collect();
        for w in waits {
            assert!(w.await.unwrap(), "woke before its deadline");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_is_followed_exactly() {
        let start = tokio::time::Instant::now();
        sleep_until(start + Duration::from_millis(250)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(250));
        sleep_until(start + Duration::from_millis(251)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(251));
    }

    #[tokio::test]
    async fn a_deadline_in_the_past_is_ready_at_once() {
        let past = tokio::time::Instant::now() - Duration::from_millis(5);
        sleep_until(past).await;
    }
}

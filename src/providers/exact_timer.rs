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
//!
//! A task woken early yields until its instant, which is exact but costs a
//! poll per yield. That is cheap for a few tasks and dear for many: in a
//! fan-out whose calls fall due a microsecond apart, hundreds were yielding
//! at once, each yield waiting behind all the others, so every call was
//! polled about twenty times. So only [`MAX_YIELDING`] tasks at a time are
//! woken early; the rest are woken at their instant ("grace"), when the
//! thread is already waking tasks every few microseconds and the runtime is
//! busy, so no one waits on a parked thread.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long before a deadline the timer thread wakes a task, which then
/// yields until the instant: waking a task from another thread takes
/// 100–300 µs on a busy machine (measured), and yielding is exact. Only the
/// calls due within this window are ever yielding at once.
const EARLY: Duration = Duration::from_micros(500);

/// The most tasks yielding towards their instants at once; a deadline
/// reached while this many yield is woken at its instant instead.
const MAX_YIELDING: usize = 2;

/// Tasks between an early wake and their instant: each holds a [`Ticket`].
static YIELDING: AtomicUsize = AtomicUsize::new(0);

/// The most tickets ever out at once, for the tests.
#[cfg(test)]
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Leave to yield towards an instant; given back when dropped.
struct Ticket;

impl Ticket {
    /// A ticket, if fewer than [`MAX_YIELDING`] are out.
    fn take() -> Option<Ticket> {
        let before = YIELDING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_YIELDING).then(|| n + 1)
            })
            .ok()?;
        #[cfg(test)]
        PEAK.fetch_max(before + 1, Ordering::Relaxed);
        let _ = before;
        Some(Ticket)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        YIELDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits until `deadline` on the tokio clock, to within a few microseconds,
/// and never before it.
///
/// When tokio's clock is the real clock, as it is outside tests, only the
/// timer thread waits: a tokio timer beside it was a registration in
/// tokio's wheel and 120 bytes more for each call in flight (a tenth of a
/// 10,000-call fan-out's start). When it is not (a paused clock, in tests),
/// tokio's own timer races the thread's and fires first, exactly.
pub(crate) async fn sleep_until(deadline: tokio::time::Instant) {
    if timer().is_none() || !on_real_clock() {
        return Box::pin(raced_until(deadline)).await;
    }
    let real = deadline.into_std();
    let _ticket = Exact::new(real).await;
    while tokio::time::Instant::now() < deadline {
        if Instant::now() > real + EARLY {
            // tokio's clock stopped following real time: it was paused
            // while this waited.
            Box::pin(tokio::time::sleep_until(deadline)).await;
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Whether tokio's clock reads the real clock now: a reading of it taken
/// just after a real one is at most a few microseconds past it. A paused
/// clock is frozen before it (or moved far ahead); tokio's clock without
/// its test features is the real clock. Taken wrongly for real, a paused
/// clock costs only time: the wait ends on tokio's timer (see the loop in
/// [`sleep_until`]). Two readings, not three: each is ~25 ns, and a
/// fan-out of 10,000 calls starts them one after another.
fn on_real_clock() -> bool {
    let real = Instant::now();
    let tokio_now = tokio::time::Instant::now().into_std();
    tokio_now >= real && tokio_now - real < Duration::from_micros(50)
}

/// [`sleep_until`] racing tokio's timer against the thread's: on a paused
/// clock tokio's fires first, exactly, since the timer thread follows real
/// time, which a paused clock does not; so does a task yielding past its
/// instant in real time while the paused clock stands still.
async fn raced_until(deadline: tokio::time::Instant) {
    let coarse = tokio::time::sleep_until(deadline);
    tokio::pin!(coarse);
    let real = deadline.into_std();
    let _ticket = tokio::select! {
        biased;
        () = &mut coarse => return,
        ticket = Exact::new(real) => ticket,
    };
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
    /// The thread woke it before its instant and took a [`Ticket`] for it,
    /// which the future takes over (or gives back, if dropped first).
    early: AtomicBool,
    /// The waiting task's waker; `None` once the thread took it, or once
    /// the future was dropped.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    /// Hands over the ticket the thread took for this slot, if it did.
    fn ticket(&self) -> Option<Ticket> {
        // Not `then_some(Ticket)`: that makes a ticket either way, and
        // dropping the unwanted one gave back a ticket never taken.
        if self.early.swap(false, Ordering::AcqRel) {
            Some(Ticket)
        } else {
            None
        }
    }
}

/// A heap entry: ordered by when to wake it, then by arrival (`seq`), so
/// the ordering is total without comparing slots.
struct Entry {
    /// [`EARLY`] before the deadline, or the deadline itself once the
    /// entry was put back for want of a ticket.
    wake: Instant,
    seq: u64,
    /// The deadline.
    at: Instant,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.wake, self.seq) == (other.wake, other.seq)
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
        (self.wake, self.seq).cmp(&(other.wake, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    deadlines: Deadlines,
    seq: u64,
}

/// Entries by when to wake them. Calls of one mock fall due in the order
/// they started, so nearly every entry comes after the last: those go in
/// a sorted run, O(1) each way, and only an entry out of order pays for
/// the heap. A heap alone was 6% of finishing a 10,000-call fan-out's
/// calls, each pop a walk over cold entries.
#[derive(Default)]
struct Deadlines {
    run: VecDeque<Entry>,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Deadlines {
    fn push(&mut self, entry: Entry) {
        match self.run.back() {
            Some(last) if *last > entry => self.heap.push(Reverse(entry)),
            _ => self.run.push_back(entry),
        }
    }

    fn peek(&self) -> Option<&Entry> {
        match (self.run.front(), self.heap.peek()) {
            (Some(a), Some(Reverse(b))) => Some(if a <= b { a } else { b }),
            (a, b) => a.or(b.map(|Reverse(b)| b)),
        }
    }

    fn pop(&mut self) -> Option<Entry> {
        let from_run = match (self.run.front(), self.heap.peek()) {
            (Some(a), Some(Reverse(b))) => a <= b,
            (a, _) => a.is_some(),
        };
        if from_run {
            self.run.pop_front()
        } else {
            self.heap.pop().map(|Reverse(e)| e)
        }
    }
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

/// How the thread wakes a slot that is due.
enum Due {
    /// Its instant has come.
    Now(Arc<Slot>),
    /// Early, with a ticket to yield the rest of the way.
    Early(Arc<Slot>, Ticket),
}

impl Timer {
    fn serve(&self) {
        let mut due = Vec::new();
        let mut later = Vec::new();
        let mut queue = lock(&self.queue);
        loop {
            let now = Instant::now();
            while let Some(first) = queue.deadlines.peek() {
                if first.wake > now {
                    break;
                }
                let Some(mut entry) = queue.deadlines.pop() else {
                    break;
                };
                if entry.at <= now {
                    due.push(Due::Now(entry.slot));
                } else if let Some(ticket) = Ticket::take() {
                    due.push(Due::Early(entry.slot, ticket));
                } else {
                    // No room to yield: woken at its instant instead.
                    entry.wake = entry.at;
                    later.push(entry);
                }
            }
            for entry in later.drain(..) {
                queue.deadlines.push(entry);
            }
            if !due.is_empty() {
                // Wake outside the lock: a woken task may add a deadline.
                drop(queue);
                for d in due.drain(..) {
                    let (slot, ticket) = match d {
                        Due::Now(slot) => (slot, None),
                        Due::Early(slot, ticket) => (slot, Some(ticket)),
                    };
                    let mut waker = lock(&slot.waker);
                    // A slot whose future is gone keeps no ticket.
                    let Some(w) = waker.take() else { continue };
                    if let Some(ticket) = ticket {
                        std::mem::forget(ticket);
                        slot.early.store(true, Ordering::Release);
                    }
                    slot.fired.store(true, Ordering::Release);
                    drop(waker);
                    w.wake();
                }
                queue = lock(&self.queue);
                continue;
            }
            queue = match queue.deadlines.peek() {
                None => self
                    .changed
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(first) => {
                    let wait = first.wake.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    fn add(&self, at: Instant, slot: Arc<Slot>) {
        let wake = at.checked_sub(EARLY).unwrap_or(at);
        let mut queue = lock(&self.queue);
        let earliest = queue.deadlines.peek().is_none_or(|e| wake < e.wake);
        let seq = queue.seq;
        queue.seq += 1;
        queue.deadlines.push(Entry {
            wake,
            seq,
            at,
            slot,
        });
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
/// could not be started (tokio's timer then decides alone). Ready with a
/// ticket when woken before the instant.
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
    type Output = Option<Ticket>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Ticket>> {
        let now = Instant::now();
        if now >= self.at {
            return Poll::Ready(None);
        }
        // Near enough to yield the rest of the way, if there is room.
        if now + EARLY >= self.at
            && let Some(ticket) = Ticket::take()
        {
            return Poll::Ready(Some(ticket));
        }
        let Some(timer) = timer() else {
            return Poll::Pending;
        };
        match &self.slot {
            Some(slot) => {
                if slot.fired.load(Ordering::Acquire) {
                    return Poll::Ready(slot.ticket());
                }
                *lock(&slot.waker) = Some(cx.waker().clone());
                // The thread may have fired between the check and the store.
                if slot.fired.load(Ordering::Acquire) {
                    return Poll::Ready(slot.ticket());
                }
            }
            None => {
                let slot = Arc::new(Slot {
                    fired: AtomicBool::new(false),
                    early: AtomicBool::new(false),
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
    /// A call cancelled before its deadline lets go of its task at once
    /// (and of a ticket the thread took for it); the heap entry itself
    /// goes when its deadline passes.
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            lock(&slot.waker).take();
            drop(slot.ticket());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(wake_us: u64, seq: u64, base: Instant) -> Entry {
        let at = base + Duration::from_micros(wake_us);
        Entry {
            wake: at,
            seq,
            at,
            slot: Arc::new(Slot {
                fired: AtomicBool::new(false),
                early: AtomicBool::new(false),
                waker: Mutex::new(None),
            }),
        }
    }

    proptest::proptest! {
        /// The run and the heap together give every entry back in order,
        /// however pushes (in order or not) and pops interleave.
        #[test]
        fn deadlines_come_out_in_order(ops in proptest::collection::vec(proptest::option::of(0u64..50), 0..200)) {
            let base = Instant::now();
            let mut q = Deadlines::default();
            let mut model = BinaryHeap::new();
            for (seq, op) in ops.into_iter().enumerate() {
                match op {
                    Some(w) => {
                        q.push(entry(w, seq as u64, base));
                        model.push(Reverse((w, seq as u64)));
                    }
                    None => {
                        let got = q.pop().map(|e| (e.wake, e.seq));
                        let want = model.pop().map(|Reverse((w, s))| (base + Duration::from_micros(w), s));
                        proptest::prop_assert_eq!(got, want);
                    }
                }
                let peeked = q.peek().map(|e| (e.wake, e.seq));
                let want = model.peek().map(|Reverse((w, s))| (base + Duration::from_micros(*w), *s));
                proptest::prop_assert_eq!(peeked, want);
            }
        }
    }

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

    /// Issue 11 item 29: 4,000 calls falling due 2 µs apart, as in a
    /// fan-out, once made hundreds of tasks yield at once, each yield
    /// re-polling the others; now at most `MAX_YIELDING` yield (the rest
    /// are woken at their instants), and still none wakes early.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dense_fan_out_of_deadlines_yields_only_a_few_at_a_time() {
        let start = tokio::time::Instant::now();
        let waits: Vec<_> = (0..4_000u64)
            .map(|i| {
                tokio::spawn(async move {
                    let at = start + Duration::from_millis(20) + Duration::from_micros(i * 2);
                    sleep_until(at).await;
                    tokio::time::Instant::now() >= at
                })
            })
            .collect();
        for w in waits {
            assert!(w.await.unwrap(), "woke before its deadline");
        }
        // Every ticket was given back once: none went missing, and none
        // was given back that was never taken (the count once wrapped).
        let out = YIELDING.load(Ordering::Relaxed);
        assert!(
            out <= MAX_YIELDING,
            "{out} tickets out after every wait ended"
        );
        let peak = PEAK.load(Ordering::Relaxed);
        assert!(peak <= MAX_YIELDING, "{peak} tasks yielded at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_is_followed_exactly() {
        let start = tokio::time::Instant::now();
        sleep_until(start + Duration::from_millis(250)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(250));
        sleep_until(start + Duration::from_millis(251)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(251));
    }

    /// Outside tests tokio's clock is the real one, and a wait takes the
    /// timer thread alone; a paused clock is told apart, so its waits
    /// stay exact (`a_paused_clock_is_followed_exactly`).
    #[tokio::test]
    async fn the_real_clock_and_a_paused_one_are_told_apart() {
        assert!(on_real_clock());
        tokio::time::pause();
        assert!(!on_real_clock());
        tokio::time::advance(Duration::from_millis(5)).await;
        assert!(!on_real_clock());
    }

    /// A clock paused while a wait is under way does not leave the wait
    /// yielding for ever: it finishes on tokio's timer.
    #[tokio::test]
    async fn a_clock_paused_during_a_wait_still_ends_it() {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        let wait = tokio::spawn(sleep_until(deadline));
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::time::pause();
        wait.await.unwrap();
        assert!(tokio::time::Instant::now() >= deadline);
    }

    #[tokio::test]
    async fn a_deadline_in_the_past_is_ready_at_once() {
        let past = tokio::time::Instant::now() - Duration::from_millis(5);
        sleep_until(past).await;
    }
}

//! When a changed document is checked: at once after a quiet spell, and
//! once per window while the user keeps typing.
//!
//! A plain trailing debounce makes every change wait out the window, even
//! the single keystroke after a pause, so the window is added to every
//! answer. This one fires on the leading edge: a change arriving while the
//! document is quiet is checked at once, and opens a window that starts
//! when that check *ends* (changes that queued up while it ran are read
//! after it, and must not each count as a new leading edge). Changes inside
//! the window are coalesced and checked once when it closes, which opens
//! the next window; a window with no change closes quietly. Typing faster
//! than the window thus costs one check per window, never one per
//! keystroke, and never waits longer than one window and one check.
//!
//! Time is passed in, never read here, so the rules are tested with
//! tokio's paused clock.

use std::time::{Duration, Instant};

/// The debounce state of one document.
#[derive(Debug, Clone)]
pub struct Debounce {
    window: Duration,
    /// Until when changes are coalesced: the end of the last check a change
    /// caused, plus the window.
    window_end: Option<Instant>,
    /// When a coalesced change is to be checked.
    due: Option<Instant>,
}

/// What to do with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// The document was quiet: check it now.
    CheckNow,
    /// A check is due at the window's end; this change joins it.
    Coalesced,
}

impl Debounce {
    pub fn new(window: Duration) -> Debounce {
        Debounce {
            window,
            window_end: None,
            due: None,
        }
    }

    /// A change arrived at `now`.
    pub fn changed(&mut self, now: Instant) -> OnChange {
        if self.due.is_some() {
            return OnChange::Coalesced;
        }
        match self.window_end {
            Some(end) if now < end => {
                self.due = Some(end);
                OnChange::Coalesced
            }
            _ => OnChange::CheckNow,
        }
    }

    /// Something else the document depends on changed (a file it imports):
    /// check it at `at`, or sooner if a check is already due sooner. Not a
    /// leading edge, since the document itself was not edited.
    pub fn schedule(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
    }

    /// A check that a change asked for (at once, when due, or because a
    /// request needed the new text) ended at `now`: the next window opens.
    pub fn checked(&mut self, now: Instant) {
        self.due = None;
        self.window_end = Some(now + self.window);
    }

    /// A check no edit asked for (opening the document) ended: it opens no
    /// window, since opening is not typing.
    pub fn checked_quietly(&mut self) {
        self.due = None;
        self.window_end = None;
    }

    /// Nothing is to be checked after all (the text is what was checked).
    pub fn cancel(&mut self) {
        self.due = None;
    }

    /// When a coalesced change is to be checked, if one waits.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Whether a coalesced change waits and its time has come.
    pub fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|d| d <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{Instant as Clock, advance};

    const WINDOW: Duration = Duration::from_millis(20);

    fn now() -> Instant {
        Clock::now().into_std()
    }

    /// The check a change triggers takes `took` of the paused clock.
    async fn check(d: &mut Debounce, took: Duration) {
        advance(took).await;
        d.checked(now());
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_after_a_quiet_spell_is_checked_at_once() {
        let mut d = Debounce::new(WINDOW);
        assert_eq!(d.changed(now()), OnChange::CheckNow);
        check(&mut d, Duration::from_millis(70)).await;
        // Quiet for longer than the window: the next change goes at once too.
        advance(WINDOW).await;
        assert_eq!(d.changed(now()), OnChange::CheckNow);
        assert_eq!(d.due(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn changes_during_a_check_are_coalesced_into_one_after_the_window() {
        let mut d = Debounce::new(WINDOW);
        assert_eq!(d.changed(now()), OnChange::CheckNow);
        // Three keystrokes queued while the 70 ms check ran are read after it.
        check(&mut d, Duration::from_millis(70)).await;
        let ended = now();
        for _ in 0..3 {
            assert_eq!(d.changed(now()), OnChange::Coalesced);
            advance(Duration::from_millis(1)).await;
        }
        // One check, when the window that began at the check's end closes.
        assert_eq!(d.due(), Some(ended + WINDOW));
        assert!(!d.is_due(now()));
        advance(WINDOW).await;
        assert!(d.is_due(now()));
        check(&mut d, Duration::from_millis(70)).await;
        assert_eq!(d.due(), None);
        // Nothing came in that window: the one after it is quiet.
        advance(WINDOW).await;
        assert_eq!(d.changed(now()), OnChange::CheckNow);
    }

    #[tokio::test(start_paused = true)]
    async fn steady_typing_is_checked_once_per_window_and_never_starves() {
        let mut d = Debounce::new(WINDOW);
        let mut starts = Vec::new();
        let mut last_change = now();
        // A keystroke every 5 ms for 200 ms; each check takes 10 ms.
        for _ in 0..40 {
            last_change = now();
            if d.changed(now()) == OnChange::CheckNow {
                starts.push(now());
                check(&mut d, Duration::from_millis(10)).await;
            }
            advance(Duration::from_millis(5)).await;
            if d.is_due(now()) {
                starts.push(now());
                check(&mut d, Duration::from_millis(10)).await;
            }
        }
        // The typing stops: what is left is checked when its window closes.
        if let Some(due) = d.due() {
            advance(due.saturating_duration_since(now())).await;
            assert!(d.is_due(now()));
            starts.push(now());
            check(&mut d, Duration::from_millis(10)).await;
        }
        // Never more than one check per window (a window opens when a
        // check ends), so far fewer checks than keystrokes; but more than
        // one, since typing never postpones a check past its window.
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= WINDOW + Duration::from_millis(10));
        }
        assert!(
            starts.len() > 5 && starts.len() < 15,
            "{} checks",
            starts.len()
        );
        // The last keystroke waited at most one window and one check.
        let waited = *starts.last().unwrap() - last_change;
        assert!(waited <= WINDOW + Duration::from_millis(10), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn opening_opens_no_window_and_imports_only_schedule() {
        let mut d = Debounce::new(WINDOW);
        d.checked_quietly();
        assert_eq!(d.changed(now()), OnChange::CheckNow);
        check(&mut d, Duration::from_millis(5)).await;
        let mut other = Debounce::new(WINDOW);
        other.schedule(now() + WINDOW);
        other.schedule(now() + WINDOW * 2);
        assert_eq!(other.due(), Some(now() + WINDOW));
        // An edit to the document joins the check already scheduled.
        assert_eq!(other.changed(now()), OnChange::Coalesced);
    }
}

//! Clocks. A store that decides expiry on the client side asks its clock for the time and
//! sleeps on it for periodic work; the harness gives it a [`VirtualClock`] so an hour passes
//! instantly. Stores whose expiry is decided by a server (a Redis key TTL) ignore the clock.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

/// The time source a store decides expiry by.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// A future that completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// A clock shared between a store and the harness.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to. Sleepers wake when [`VirtualClock::advance`] carries
/// the time past their deadline.
#[derive(Clone)]
pub struct VirtualClock {
    time: Arc<watch::Sender<DateTime<Utc>>>,
}

impl VirtualClock {
    /// A clock standing at `start`. Sub-millisecond parts are dropped, so every time it shows
    /// survives a round trip through a JavaScript `Date` and an ISO-8601 string.
    pub fn new(start: DateTime<Utc>) -> Self {
        let start = DateTime::from_timestamp_millis(start.timestamp_millis()).unwrap_or(start);
        VirtualClock { time: Arc::new(watch::Sender::new(start)) }
    }

    /// A clock standing at the current wall-clock time.
    pub fn starting_now() -> Self {
        VirtualClock::new(Utc::now())
    }

    /// Moves the clock forward by `by` and wakes every sleeper whose deadline has passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionspec_contract::{Clock, VirtualClock};
    ///
    /// let clock = VirtualClock::starting_now();
    /// let start = clock.shared().now();
    /// clock.advance(Duration::from_secs(3600));
    /// assert_eq!(clock.shared().now() - start, chrono::TimeDelta::hours(1));
    /// ```
    pub fn advance(&self, by: Duration) {
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        // Saturating: never silently left alone (the linter bounds what scenarios advance by).
        self.time.send_modify(|now| *now = now.checked_add_signed(delta).unwrap_or(DateTime::<Utc>::MAX_UTC));
    }

    /// This clock as a [`SharedClock`] (the same clock, not a copy).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VirtualClock").field(&*self.time.borrow()).finish()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.time.borrow()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let mut rx = self.time.subscribe();
        let deadline = rx.borrow().checked_add_signed(TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX));
        Box::pin(async move {
            let Some(deadline) = deadline else {
                return std::future::pending().await;
            };
            loop {
                if *rx.borrow_and_update() >= deadline {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The clock is gone: nothing can ever wake this sleeper.
                    return std::future::pending().await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_sleep_wakes_only_when_advanced_past_deadline() {
        let clock = VirtualClock::starting_now();
        let start = clock.now();
        let sleeper = tokio::spawn(clock.sleep(Duration::from_secs(60)));
        clock.advance(Duration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before the deadline");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper).await.expect("sleeper did not wake").unwrap();
        assert_eq!(clock.now() - start, TimeDelta::seconds(60));
    }

    #[test]
    fn virtual_clock_starts_on_a_whole_millisecond() {
        let clock = VirtualClock::new(DateTime::from_timestamp_nanos(1_700_000_000_123_456_789));
        assert_eq!(clock.now().timestamp_subsec_nanos(), 123_000_000);
    }
}

//! The periodic sweep that deletes expired records: it runs on the store's clock (so a virtual
//! clock moves it), each run bounded by the operation timeout. It must never outlive the store:
//! it stops at `close` and when dropped, and a failed run only waits for the next.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sessionspec_contract::SharedClock;
use tokio::task::JoinHandle;

use crate::Operations;

/// A running sweep, or none.
#[derive(Debug, Default)]
pub struct Sweep(Mutex<Option<JoinHandle<()>>>);

impl Sweep {
    /// Runs `sweep` with the clock's time after each `delay()` on `clock`, until `operations` is
    /// closed or the returned value is stopped or dropped. Without a tokio runtime there is no
    /// sweep (expired records stay invisible all the same).
    pub fn start<D, S, Fut>(clock: SharedClock, operations: Operations, mut delay: D, sweep: S) -> Sweep
    where
        D: FnMut() -> Duration + Send + 'static,
        S: Fn(DateTime<Utc>) -> Fut + Send + 'static,
        Fut: Future + Send,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return Sweep::default() };
        // The first deadline counts from now, not from whenever the task is first polled: a clock
        // advanced before that must still find the sweep due.
        let mut due = clock.sleep(delay());
        let task = runtime.spawn(async move {
            loop {
                due.await;
                due = clock.sleep(delay());
                if operations.is_closed() {
                    return;
                }
                let _ = tokio::time::timeout(operations.timeout(), sweep(clock.now())).await;
            }
        });
        Sweep(Mutex::new(Some(task)))
    }

    /// Stops the sweep; a run in progress is abandoned.
    pub fn stop(&self) {
        if let Some(task) = self.0.lock().expect("lock").take() {
            task.abort();
        }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        if let Some(task) = self.0.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sessionspec_contract::{Clock, VirtualClock};

    use super::*;

    #[tokio::test]
    async fn sweeps_on_the_stores_clock_until_closed() {
        let clock = VirtualClock::starting_now();
        let operations = Operations::new(Duration::from_secs(5));
        let runs = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let counted = runs.clone();
        let sweep = Sweep::start(
            clock.shared(),
            operations.clone(),
            || Duration::from_secs(60),
            move |now| {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(now);
                async {}
            },
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(rx.recv().await, Some(clock.now()));
        operations.close();
        clock.advance(Duration::from_secs(60));
        // The task sees the close at its next deadline and ends, dropping its sender.
        assert_eq!(rx.recv().await, None);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        drop(sweep);
    }
}

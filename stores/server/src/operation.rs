//! Bounded operations: every operation of a server-backed store finishes within its timeout,
//! retries included, and none starts after the store was closed. Nothing here decides what may be
//! retried: the store says which failures are worth another attempt.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use sessionspec_contract::{ErrorKind, Result, StoreError, duration};

/// The bound on one operation, retries on a fresh connection included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// How a store runs its operations: within a timeout, and only while it is open. Clones share
/// the open/closed state, so a store's background tasks see its `close`.
#[derive(Debug, Clone)]
pub struct Operations {
    closed: Arc<AtomicBool>,
    timeout: Duration,
}

impl Operations {
    /// Operations of an open store, each bounded by `timeout`.
    pub fn new(timeout: Duration) -> Operations {
        Operations { closed: Arc::default(), timeout }
    }

    /// The bound on each operation.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Marks the store closed: later operations fail with `closed`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Whether [`Operations::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// `closed` once the store is closed.
    pub fn check_open(&self, operation: &str) -> Result<()> {
        if self.is_closed() { Err(StoreError::closed(operation)) } else { Ok(()) }
    }

    /// `work` within the timeout, as [`bounded`].
    pub fn bounded<T>(
        &self,
        operation: &str,
        work: impl Future<Output = Result<T>>,
    ) -> impl Future<Output = Result<T>> {
        bounded(operation, self.timeout, work)
    }

    /// Runs one operation: fails with `closed` after close; runs `attempt` again while it fails
    /// in a way `retryable` accepts, at most `retries` more times (every attempt must be safe to
    /// repeat); and bounds the whole by the timeout. A failure is `closed` when the store was
    /// closed meanwhile, else what `failed` makes of the driver's error.
    pub async fn run<T, E, F, Fut>(
        &self,
        operation: &str,
        retries: usize,
        retryable: impl Fn(&E) -> bool,
        failed: impl FnOnce(&str, E) -> StoreError,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.check_open(operation)?;
        let attempts = async {
            let mut failures = 0;
            loop {
                match attempt().await {
                    Err(e) if failures < retries && retryable(&e) => failures += 1,
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) if self.is_closed() => Err(StoreError::closed(operation)),
            Ok(Err(e)) => Err(failed(operation, e)),
            Err(_) => Err(timeout(operation, self.timeout)),
        }
    }
}

/// `work`, failing with [`timeout`] once `bound` has passed.
pub fn bounded<T>(
    operation: &str,
    bound: Duration,
    work: impl Future<Output = Result<T>>,
) -> impl Future<Output = Result<T>> {
    // A combinator, not an async fn: an async fn would hold `work` twice (its argument and the
    // `Timeout` around it), and the Redis store's futures are kilobytes, moved on every call.
    tokio::time::timeout(bound, work).map(move |result| result.unwrap_or_else(|_| Err(timeout(operation, bound))))
}

/// The error of an operation that did not finish within `bound`.
pub fn timeout(operation: &str, bound: Duration) -> StoreError {
    StoreError::new(ErrorKind::Timeout, format!("{operation} did not finish within {}", duration::format(bound)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[derive(Debug)]
    struct Failure {
        retryable: bool,
    }

    fn failed(operation: &str, _: Failure) -> StoreError {
        StoreError::new(ErrorKind::Backend, format!("{operation} failed"))
    }

    #[tokio::test]
    async fn retryable_failures_run_again_up_to_the_limit() {
        let ops = Operations::new(Duration::from_secs(5));
        let calls = AtomicUsize::new(0);
        let flaky = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 2 { Err(Failure { retryable: true }) } else { Ok(n) }
        };
        assert_eq!(ops.run("get", 2, |e: &Failure| e.retryable, failed, flaky).await.unwrap(), 2);

        calls.store(0, Ordering::SeqCst);
        let error = ops.run("get", 1, |e: &Failure| e.retryable, failed, flaky).await.unwrap_err();
        assert_eq!((error.kind(), calls.load(Ordering::SeqCst)), (ErrorKind::Backend, 2));

        calls.store(0, Ordering::SeqCst);
        let fatal = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Failure { retryable: false })
        };
        let error = ops.run("set", 5, |e: &Failure| e.retryable, failed, fatal).await.unwrap_err();
        assert_eq!((error.message(), calls.load(Ordering::SeqCst)), ("set failed", 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_covers_every_attempt_and_close_stops_the_next() {
        let ops = Operations::new(Duration::from_millis(1500));
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err::<(), _>(Failure { retryable: true })
        };
        let error = ops.run("touch", 10, |e: &Failure| e.retryable, failed, slow).await.unwrap_err();
        assert_eq!((error.kind(), error.message()), (ErrorKind::Timeout, "touch did not finish within 1500ms"));

        let clone = ops.clone();
        clone.close();
        let error = ops.run("get", 0, |_: &Failure| false, failed, || async { Ok(()) }).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Closed);
        let error = ops.bounded("ids", async { Ok(()) }).await.and_then(|()| ops.check_open("ids")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Closed);
    }
}

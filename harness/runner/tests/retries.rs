//! `retries`: a failed case runs again in a fresh namespace; passing only on a retry is
//! reported as flaky (a pass with its attempts and first failure), never as a plain pass, and a
//! case that keeps failing stays a failure.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use sessionspec_contract::{
    ErrorKind, Namespace, OpenContext, Result, Store, StoreDescription, StoreError, StoreFactory,
};
use sessionspec_report::Outcome;
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::{Spec, load_text};
use sessionspec_store_memory::MemoryFactory;

/// A memory store whose first `failures` opens fail.
struct FailsAtFirst {
    inner: MemoryFactory,
    failures: usize,
    opens: AtomicUsize,
}

#[async_trait]
impl StoreFactory for FailsAtFirst {
    fn describe(&self) -> &StoreDescription {
        self.inner.describe()
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        if self.opens.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(StoreError::new(ErrorKind::Backend, "the backend is not ready yet"));
        }
        self.inner.open(context).await
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }
}

async fn run_with(failures: usize, retries: u32) -> sessionspec_report::CaseResult {
    let spec = Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec")).expect("the spec loads");
    let text = "id: core.example\ntitle: an example\nchecks: [GET-1]\nsteps:\n  - get: a\n    expect: absent\n";
    let scenario = load_text(Path::new("core/example.yaml"), &text.into(), Some("core"), Some(&spec)).scenario.unwrap();
    let factory = Arc::new(FailsAtFirst { inner: MemoryFactory::new(), failures, opens: AtomicUsize::new(0) });
    let runner = Runner::new(RunOptions { retries, ..RunOptions::default() });
    let summary = runner.run(&[scenario], &spec, &[Target::new(factory)], |_| {}).await;
    assert!(!summary.footer.incomplete);
    summary.results.into_iter().next().expect("one result")
}

#[tokio::test]
async fn a_pass_on_retry_is_flaky_and_keeps_the_first_failure() {
    let result = run_with(1, 2).await;
    assert_eq!((result.outcome, result.attempts), (Outcome::Pass, 2));
    assert!(result.is_flaky());
    let message = result.detail.expect("the first failure is kept").message;
    assert!(message.starts_with("flaky: passed on attempt 2; attempt 1 was `error`"), "{message}");
}

#[tokio::test]
async fn a_case_that_keeps_failing_stays_a_failure() {
    let result = run_with(5, 2).await;
    assert_eq!((result.outcome, result.attempts), (Outcome::Error, 3));
    assert!(!result.is_flaky());
}

#[tokio::test]
async fn without_retries_a_failure_is_final() {
    let result = run_with(1, 0).await;
    assert_eq!((result.outcome, result.attempts), (Outcome::Error, 1));
}

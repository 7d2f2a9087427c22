//! The sessionspec conformance suite in a store author's own `cargo test`: one test per
//! scenario, run against the author's [`StoreFactory`], listed, filtered and reported by
//! `cargo test` and `cargo nextest` like any other test. It drives the same engine as the
//! `sessionspec` command line and never judges more leniently: a scenario the store cannot take
//! part in is *ignored* with the reason, never passed.
//!
//! In `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! sessionspec-conformance = "0.1"
//!
//! [[test]]
//! name = "conformance"
//! harness = false
//! ```
//!
//! In `tests/conformance.rs`:
//!
//! ```no_run
//! # mod my_store { pub use sessionspec_store_memory::MemoryFactory as MyFactory; }
//! fn main() -> std::process::ExitCode {
//!     sessionspec_conformance::Conformance::new(my_store::MyFactory::new())
//!         .expectations("tests/known-failures.toml")
//!         .main()
//! }
//! ```
//!
//! `cargo test --test conformance` runs every scenario as its own test; `cargo test --test
//! conformance -- touch` runs those whose id contains `touch`. A failure prints the failing
//! step's `file:line`, the requirement it checks and an expected/actual diff.
#![warn(missing_docs)]

use std::collections::BTreeSet;
use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};
use sessionspec_contract::StoreFactory;
use sessionspec_report::expectations::{Expectations, Known};
use sessionspec_report::{CaseResult, Outcome};
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::{Scenario, Suite};

pub use libtest_mimic;
pub use sessionspec_suite as suite;

type Connect = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<Arc<dyn StoreFactory>, String>>>>>;

/// The suite, ready to run against one store: build it with [`Conformance::new`] or
/// [`Conformance::connect`], set what you need, then call [`Conformance::main`].
pub struct Conformance {
    connect: Connect,
    expectations: Option<PathBuf>,
    suite: Option<Suite>,
    options: RunOptions,
}

/// Why the suite could not start: nothing ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The store factory could not be opened.
    #[error("cannot open the store factory: {0}")]
    Factory(String),
    /// The expectation file cannot be used.
    #[error(transparent)]
    Expectations(#[from] sessionspec_report::expectations::ExpectationsError),
    /// The expectation file does not fit this store or suite.
    #[error("{path}: {message}")]
    Mismatch {
        /// The file.
        path: String,
        /// What does not fit.
        message: String,
    },
    /// No async runtime could be started.
    #[error("cannot start an async runtime: {0}")]
    Runtime(std::io::Error),
}

impl Conformance {
    /// The suite built into this crate, against `factory`.
    ///
    /// ```
    /// use sessionspec_conformance::{Conformance, libtest_mimic::Arguments};
    ///
    /// let args = Arguments { filter: Some("core.set-then-get".into()), exact: true, ..Arguments::default() };
    /// let conclusion = Conformance::new(sessionspec_store_memory::MemoryFactory::new()).run(&args).unwrap();
    /// assert_eq!((conclusion.num_passed, conclusion.num_failed), (1, 0));
    /// ```
    pub fn new<F: StoreFactory + 'static>(factory: F) -> Conformance {
        let factory: Arc<dyn StoreFactory> = Arc::new(factory);
        Conformance::with_connect(Box::new(move || Box::pin(async move { Ok(factory) })))
    }

    /// The suite built into this crate, against the factory `connect` opens, for a factory that
    /// connects to a server first. It runs inside the suite's async runtime (tokio).
    ///
    /// ```
    /// use sessionspec_conformance::{Conformance, libtest_mimic::Arguments};
    /// use sessionspec_store_memory::MemoryFactory;
    ///
    /// async fn connect() -> Result<MemoryFactory, std::io::Error> {
    ///     Ok(MemoryFactory::new())
    /// }
    /// let args = Arguments { filter: Some("core.get-missing".into()), exact: true, ..Arguments::default() };
    /// let conclusion = Conformance::connect(connect).run(&args).unwrap();
    /// assert_eq!(conclusion.num_passed, 1);
    /// ```
    pub fn connect<C, Fut, F, E>(connect: C) -> Conformance
    where
        C: FnOnce() -> Fut + 'static,
        Fut: Future<Output = Result<F, E>> + 'static,
        F: StoreFactory + 'static,
        E: Display,
    {
        Conformance::with_connect(Box::new(move || {
            Box::pin(async move {
                match connect().await {
                    Ok(factory) => Ok(Arc::new(factory) as Arc<dyn StoreFactory>),
                    Err(e) => Err(e.to_string()),
                }
            })
        }))
    }

    fn with_connect(connect: Connect) -> Conformance {
        Conformance {
            connect,
            expectations: None,
            suite: None,
            options: RunOptions { jobs: 1, ..RunOptions::default() },
        }
    }

    /// The store's known failures, in the format of `sessionspec run --expectations`
    /// (`target` is the store's name). A listed failure that still fails as listed passes
    /// (shown as `[known failure]`); one that passes or fails another way fails, so that the
    /// file cannot rot. `sessionspec run --write-expectations DIR` writes one to start from.
    /// A relative path is relative to the package root, where `cargo test` runs tests.
    ///
    /// ```
    /// use sessionspec_conformance::{Conformance, libtest_mimic::Arguments};
    /// use sessionspec_store_memory::MemoryFactory;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = dir.path().join("known.toml");
    /// // The memory store passes this scenario, so listing it as failing is stale: a failure.
    /// std::fs::write(&file, r#"
    /// target = "memory"
    /// [[known]]
    /// scenario = "core.set-then-get"
    /// outcome = "fail"
    /// reason = "an example of a stale entry"
    /// link = "https://example.org/issue/1"
    /// "#).unwrap();
    /// let args = Arguments { filter: Some("core.set-then-get".into()), exact: true, ..Arguments::default() };
    /// let conclusion = Conformance::new(MemoryFactory::new()).expectations(&file).run(&args).unwrap();
    /// assert_eq!(conclusion.num_failed, 1);
    /// ```
    pub fn expectations(mut self, path: impl Into<PathBuf>) -> Conformance {
        self.expectations = Some(path.into());
        self
    }

    /// Runs `suite` instead of the built-in one: scenarios of your own, loaded with
    /// [`Suite::load`] (and checked against a spec) from files your crate carries.
    ///
    /// ```
    /// use sessionspec_conformance::Conformance;
    ///
    /// let mine = sessionspec_conformance::suite::suite();
    /// let conformance = Conformance::new(sessionspec_store_memory::MemoryFactory::new()).suite(mine);
    /// # drop(conformance);
    /// ```
    pub fn suite(mut self, suite: Suite) -> Conformance {
        self.suite = Some(suite);
        self
    }

    /// The most real time a scenario may wait on a store whose expiry runs on its server's
    /// clock (5 s by default, as for `sessionspec run`); scenarios needing more are ignored as
    /// not applicable.
    ///
    /// ```
    /// # use sessionspec_conformance::Conformance;
    /// # use std::time::Duration;
    /// let c = Conformance::new(sessionspec_store_memory::MemoryFactory::new()).real_time_budget(Duration::from_secs(20));
    /// # drop(c);
    /// ```
    pub fn real_time_budget(mut self, budget: Duration) -> Conformance {
        self.options.real_time_budget = budget;
        self
    }

    /// The bound on one step (10 s by default).
    ///
    /// ```
    /// # use sessionspec_conformance::Conformance;
    /// # use std::time::Duration;
    /// let c = Conformance::new(sessionspec_store_memory::MemoryFactory::new()).step_timeout(Duration::from_secs(2));
    /// # drop(c);
    /// ```
    pub fn step_timeout(mut self, timeout: Duration) -> Conformance {
        self.options.step_timeout = timeout;
        self
    }

    /// Reads the test harness's arguments (`cargo test -- FILTER`, `--list`, `--exact`,
    /// `--ignored`...), runs, and returns the exit code: call it from the `main` of a test with
    /// `harness = false`. A store that cannot be opened, or an expectation file that cannot be
    /// used, prints why and fails before any test runs.
    pub fn main(self) -> ExitCode {
        let args = Arguments::from_args();
        match self.run(&args) {
            Ok(conclusion) => conclusion.exit_code(),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(101)
            }
        }
    }

    /// Runs with the given harness arguments and returns libtest-mimic's conclusion.
    pub fn run(self, args: &Arguments) -> Result<Conclusion, SetupError> {
        let runtime =
            Arc::new(tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(SetupError::Runtime)?);
        let factory = runtime.block_on((self.connect)()).map_err(SetupError::Factory)?;
        let target = Target::new(factory);
        let suite = self.suite.unwrap_or_else(sessionspec_suite::suite);
        let known = match &self.expectations {
            Some(path) => known_failures(path, &target.id, &suite)?,
            None => Vec::new(),
        };
        let runner = Arc::new(Runner::new(self.options));
        let spec = Arc::new(suite.spec.clone());
        let trials = suite
            .scenarios
            .iter()
            .map(|scenario| {
                let listed = known.iter().find(|k| k.scenario == scenario.id).cloned();
                trial(scenario, listed, &target, &runner, &spec, &runtime, self.expectations.as_ref())
            })
            .collect();
        let conclusion = libtest_mimic::run(args, trials);
        // Stores may need the runtime to let go of their connections.
        let _inside = runtime.enter();
        drop(target);
        Ok(conclusion)
    }
}

/// Reads the expectation file and checks that it is about this store and this suite.
fn known_failures(path: &Path, store: &str, suite: &Suite) -> Result<Vec<Known>, SetupError> {
    let file = Expectations::read(path)?;
    let shown = path.display().to_string();
    if file.target != store {
        return Err(SetupError::Mismatch {
            path: shown,
            message: format!("it lists the known failures of `{}`, but the store is `{store}`", file.target),
        });
    }
    let ids: BTreeSet<&str> = suite.scenarios.iter().map(|s| s.id.as_str()).collect();
    if let Some(k) = file.known.iter().find(|k| !ids.contains(k.scenario.as_str())) {
        return Err(SetupError::Mismatch {
            path: shown,
            message: format!("`{}` names no scenario of the suite: remove it", k.scenario),
        });
    }
    Ok(file.known)
}

/// One scenario as one test. Not applicable: ignored, with the reason as its kind. Listed as a
/// known failure: `[known failure]`, passing only while it fails as listed.
fn trial(
    scenario: &Scenario,
    listed: Option<Known>,
    target: &Target,
    runner: &Arc<Runner>,
    spec: &Arc<sessionspec_scenario::Spec>,
    runtime: &Arc<tokio::runtime::Runtime>,
    file: Option<&PathBuf>,
) -> Trial {
    let not_applicable = runner.applicability(scenario, target).err();
    let kind = match (&not_applicable, &listed) {
        (Some(detail), _) if !detail.missing.is_empty() => format!("n/a, needs {}", detail.missing.join(", ")),
        (Some(_), _) => "n/a, needs more real time".to_owned(),
        (None, Some(_)) => "known failure".to_owned(),
        (None, None) => String::new(),
    };
    let ignored = not_applicable.is_some();
    let scenario = scenario.clone();
    let target = target.clone();
    let runner = runner.clone();
    let spec = spec.clone();
    let runtime = runtime.clone();
    let file = file.map(|f| f.display().to_string()).unwrap_or_default();
    Trial::ignorable_test(scenario.id.clone(), move || {
        let summary = runtime.block_on(runner.run(std::slice::from_ref(&scenario), &spec, &[target], |_| {}));
        let Some(result) = summary.results.into_iter().next() else {
            return Err(Failed::from(format!("{} produced no result (cancelled)", scenario.id)));
        };
        judge(result, listed.as_ref(), &file)
    })
    .with_kind(kind)
    .with_ignored_flag(ignored)
}

/// The test's verdict on one result, with the expectation file's strict rules.
fn judge(result: CaseResult, listed: Option<&Known>, file: &str) -> Result<Completion, Failed> {
    let shown = || sessionspec_report::summary::case(&result, false);
    match (result.outcome, listed) {
        (Outcome::NotApplicable, _) => {
            let why = result.detail.as_ref().map(|d| d.message.clone()).unwrap_or_default();
            Ok(Completion::ignored_with(format!("not applicable: {why}")))
        }
        (Outcome::Pass, Some(k)) if !result.is_flaky() => Err(Failed::from(format!(
            "{file} lists `{}` as a known `{}` failure, but it passes now: remove the entry",
            k.scenario, k.outcome
        ))),
        (Outcome::Pass, _) => Ok(Completion::Completed),
        (outcome, Some(k)) if k.outcome == outcome || k.intermittent.contains(&outcome) => Ok(Completion::Completed),
        (outcome, Some(k)) => Err(Failed::from(format!(
            "{file} lists `{}` as a known `{}` failure, but this run says `{outcome}`:\n{}",
            k.scenario,
            k.outcome,
            shown()
        ))),
        (_, None) => Err(Failed::from(shown())),
    }
}

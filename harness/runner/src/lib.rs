//! The sessionspec engine. It runs every selected scenario against every target (a store on a
//! backend), each scenario in a namespace of its own so cases run in parallel without seeing
//! each other, and turns what happens into one [`CaseResult`] per scenario × target.
//!
//! It never renders anything (reporters read its results) and never knows a particular store:
//! stores arrive as [`StoreFactory`]s.
#![warn(missing_docs)]

mod case;
pub mod history;
pub mod matching;
mod precision;
pub mod values;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use sessionspec_contract::{StoreDescription, StoreFactory};
use sessionspec_report::{CaseResult, Footer, Harness, Header, Outcome, Target as TargetInfo};
use sessionspec_scenario::{BackendAction, Fault, Level, Scenario, Spec};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// A store on a backend: one column of the matrix.
#[derive(Clone)]
pub struct Target {
    /// The column id (`memory`, `redis@7`).
    pub id: String,
    /// Opens the store.
    pub factory: Arc<dyn StoreFactory>,
    /// Causes faults between the store and its server, when a fault proxy stands between
    /// them; scenarios with `fault:` steps apply only to targets that have one.
    pub faults: Option<Arc<dyn Faults>>,
}

/// Causes faults between a target's store and its server (sessionspec-targets wires the
/// proxies of sessionspec-faults in; each target has proxies of its own). A case using it runs
/// alone on its target: it starts once no other case of that target runs, and none starts beside
/// it, so a fault never reaches another case. Other targets' cases go on meanwhile: their
/// connections do not pass through its proxies.
///
/// Where the harness also runs the server (a container of the run), it can act on the server
/// itself (`backend:` steps). A case doing so runs alone on that server: no case of any target
/// on it runs beside it, as every store there would see the server go.
pub trait Faults: Send + Sync {
    /// Causes `fault` on top of those in force.
    fn apply(&self, fault: Fault) -> Result<(), String>;
    /// Ends every fault and brings back a server stopped or paused by [`Faults::backend`];
    /// finishes once the server can be reached again, or fails after `bound`.
    fn heal(&self, bound: Duration) -> futures::future::BoxFuture<'_, Result<(), String>>;
    /// Whether [`Faults::backend`] can act on the server.
    fn controls_backend(&self) -> bool {
        !self.servers().is_empty()
    }
    /// The servers [`Faults::backend`] acts on (container ids): targets naming one share it.
    fn servers(&self) -> Vec<String> {
        Vec::new()
    }
    /// Stops, starts, restarts, pauses or unpauses the server; a start or restart finishes once
    /// the server answers, or fails after `bound`.
    fn backend(&self, action: BackendAction, bound: Duration) -> futures::future::BoxFuture<'_, Result<(), String>> {
        let _ = bound;
        Box::pin(async move { Err(format!("cannot {} a server the harness does not run", action.name())) })
    }
}

/// The bound on bringing back a server that a scenario stopped, when it ends with the server
/// still down (a `backend:` step's own bound is its `timeout`).
pub const BACKEND_BOUND: Duration = Duration::from_secs(60);

impl Target {
    /// A target whose id is the store's name.
    pub fn new(factory: Arc<dyn StoreFactory>) -> Target {
        Target { id: factory.describe().name.clone(), factory, faults: None }
    }

    /// The same target with a fault proxy between its store and its server.
    pub fn with_faults(mut self, faults: Arc<dyn Faults>) -> Target {
        self.faults = Some(faults);
        self
    }

    /// What reports show about it.
    pub fn info(&self) -> TargetInfo {
        let d: &StoreDescription = self.factory.describe();
        TargetInfo {
            id: self.id.clone(),
            store: d.name.clone(),
            store_version: d.version.clone(),
            language: d.language.clone(),
            backend: d.backend.clone(),
            backend_version: d.backend_version.clone(),
            provider: None,
            capabilities: d.capabilities.names().into_iter().map(str::to_owned).collect(),
        }
    }
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How many cases run at once.
    pub jobs: usize,
    /// The bound on one step, unless the step sets its own.
    pub step_timeout: Duration,
    /// The bound on one scenario's steps (real-time `advance`s come on top).
    pub scenario_timeout: Duration,
    /// The most real time a scenario may wait for on a store whose server decides expiry;
    /// scenarios that need more are not applicable to it.
    pub real_time_budget: Duration,
    /// A short token that makes this run's namespaces unique (`[a-z0-9]`, 1-8 characters).
    pub run_token: String,
    /// How many times a failed case is run again (in a fresh namespace). A case that passes on
    /// a retry is reported as a pass with its attempts counted and its first failure kept: flaky.
    pub retries: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 8,
            step_timeout: Duration::from_secs(10),
            scenario_timeout: Duration::from_secs(60),
            real_time_budget: Duration::from_secs(5),
            run_token: run_token(),
            retries: 0,
        }
    }
}

/// A fresh token from the clock and the process id.
pub fn run_token() -> String {
    let n = (Utc::now().timestamp_micros() as u64) ^ (u64::from(std::process::id()) << 40);
    let mut out = String::new();
    let mut n = n % 36u64.pow(6);
    for _ in 0..6 {
        out.push(char::from_digit((n % 36) as u32, 36).expect("digit"));
        n /= 36;
    }
    out
}

/// What the runner reports while it works.
// Events are handed over one at a time; their size never matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A case started.
    CaseStarted {
        /// The scenario id.
        scenario: String,
        /// The target id.
        target: String,
    },
    /// A case finished.
    CaseFinished(CaseResult),
}

/// Stops a run early: no new case starts; running cases stop after their current step and
/// clean up their namespaces. The run is then incomplete. [`Cancel::abort`] (a second Ctrl-C)
/// stops the running cases at once: their stores are dropped (adapter processes killed) and the
/// run ends the usual way, with its footer.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    aborted: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Cancel {
    /// Asks the run to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Stops the run now: running cases are dropped where they are.
    pub fn abort(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.aborted.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether [`Cancel::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// Resolves once the run is aborted.
    async fn aborted(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_aborted() {
                return;
            }
            notified.await;
        }
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// The end of a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Every finished case, in completion order.
    pub results: Vec<CaseResult>,
    /// The footer for the results file.
    pub footer: Footer,
}

/// Runs scenarios against targets.
pub struct Runner {
    options: RunOptions,
    cancel: Cancel,
    /// Numbers the cases of every run of this runner, so that two runs (one per test in a store
    /// author's `cargo test`) never share a namespace.
    counter: Arc<AtomicUsize>,
}

impl Runner {
    /// A runner with these options.
    pub fn new(options: RunOptions) -> Runner {
        Runner { options, cancel: Cancel::default(), counter: Arc::default() }
    }

    /// A handle that stops this runner's run.
    pub fn cancel_handle(&self) -> Cancel {
        self.cancel.clone()
    }

    /// Whether `scenario` applies to `target`, decided as a run decides it: `Err` says why not (a
    /// capability the store does not declare, or more real time than the budget).
    pub fn applicability(&self, scenario: &Scenario, target: &Target) -> Result<(), sessionspec_report::Detail> {
        case::check_applicable(scenario, target, &self.options)
    }

    /// The results file header for a run of `targets` on a suite.
    pub fn header(spec: &Spec, suite_digest: &str, targets: &[Target]) -> Header {
        Header {
            format: sessionspec_report::model::FORMAT_VERSION,
            harness: Harness { name: "sessionspec".into(), version: env!("CARGO_PKG_VERSION").into() },
            spec_version: spec.version.clone(),
            suite_digest: suite_digest.to_owned(),
            started: Utc::now(),
            targets: targets.iter().map(Target::info).collect(),
        }
    }

    /// Runs every scenario on every target, calling `on_event` as cases start and finish.
    pub async fn run(
        &self,
        scenarios: &[Scenario],
        spec: &Spec,
        targets: &[Target],
        mut on_event: impl FnMut(RunEvent),
    ) -> RunSummary {
        let levels: Arc<HashMap<String, Level>> =
            Arc::new(spec.requirements.iter().map(|r| (r.id.clone(), r.level)).collect());
        let counter = self.counter.clone();
        let mut queue = Vec::new();
        for scenario in scenarios {
            let scenario = Arc::new(scenario.clone());
            for target in targets {
                queue.push((scenario.clone(), target.clone()));
            }
        }
        let total = queue.len();
        // Each entry: the case, its attempt number and the first failure of earlier attempts.
        // Cases causing faults come last, so the others run in parallel first; those acting on
        // a server come after them, as nothing else on that server may run beside them.
        queue.sort_by_key(|(s, _)| Alone::of(s));
        let servers: HashMap<String, Vec<String>> = targets
            .iter()
            .map(|t| (t.id.clone(), t.faults.as_ref().map(|f| f.servers()).unwrap_or_default()))
            .collect();
        let slot = |scenario: &Scenario, target: &Target| -> (String, Vec<String>, Alone) {
            (target.id.clone(), servers[&target.id].clone(), Alone::of(scenario))
        };
        let mut queue: VecDeque<(Arc<Scenario>, Target, u32, Option<CaseResult>)> =
            queue.into_iter().map(|(s, t)| (s, t, 1, None)).collect();
        let mut busy = Busy::default();
        type Running = (Arc<Scenario>, Target, u32, Option<CaseResult>, Option<CaseResult>);
        let mut running: JoinSet<Running> = JoinSet::new();
        let mut results = Vec::with_capacity(total);
        loop {
            // A case causing faults runs alone on its target, one acting on a server alone on it (see `Faults`).
            while running.len() < self.options.jobs.max(1) && !self.cancel.is_cancelled() {
                let queued = queue.iter().map(|(s, t, _, _)| (t.id.as_str(), servers[&t.id].as_slice(), Alone::of(s)));
                let Some(next) = busy.next(queued) else {
                    break;
                };
                let Some((scenario, target, attempt, first)) = queue.remove(next) else { break };
                let (t, s, a) = slot(&scenario, &target);
                busy.start((&t, &s, a));
                if attempt == 1 {
                    on_event(RunEvent::CaseStarted { scenario: scenario.id.clone(), target: target.id.clone() });
                }
                let case = case::Case {
                    scenario: scenario.clone(),
                    target: target.clone(),
                    options: self.options.clone(),
                    levels: levels.clone(),
                    cancel: self.cancel.clone(),
                    number: counter.fetch_add(1, Ordering::SeqCst),
                };
                running.spawn(async move {
                    let result = case.run().await;
                    (scenario, target, attempt, first, result)
                });
            }
            let joined = tokio::select! {
                joined = running.join_next() => joined,
                _ = self.cancel.aborted() => {
                    // Dropping the cases drops their stores: adapter processes are killed.
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                    break;
                }
            };
            let Some(joined) = joined else { break };
            // A case catches its store's panics itself; a task can only fail here when the
            // runtime is shutting down, and a cancelled case reports nothing. Either way the
            // case is missing from the results and the run is incomplete.
            let Ok((scenario, target, attempt, first, result)) = joined else { continue };
            let (t, s, a) = slot(&scenario, &target);
            busy.finish((&t, &s, a));
            let Some(mut result) = result else { continue };
            if result.outcome.is_failure() && attempt <= self.options.retries && !self.cancel.is_cancelled() {
                queue.push_back((scenario, target, attempt + 1, first.or(Some(result))));
                continue;
            }
            result.attempts = attempt;
            if let (Outcome::Pass, Some(first)) = (result.outcome, first) {
                let mut detail = first.detail.unwrap_or_default();
                detail.message = format!(
                    "flaky: passed on attempt {attempt}; attempt 1 was `{}`: {}",
                    first.outcome, detail.message
                );
                result.detail = Some(detail);
            }
            on_event(RunEvent::CaseFinished(result.clone()));
            results.push(result);
        }
        let incomplete = results.len() < total;
        let reason = incomplete.then(|| {
            if self.cancel.is_aborted() {
                format!("interrupted twice: {} of {total} cases finished, the running ones were stopped", results.len())
            } else if self.cancel.is_cancelled() {
                format!("interrupted: {} of {total} cases finished", results.len())
            } else {
                format!("{} of {total} cases did not report a result", total - results.len())
            }
        });
        let mut counts = std::collections::BTreeMap::new();
        for r in &results {
            *counts.entry(r.outcome).or_insert(0) += 1;
        }
        RunSummary { results, footer: Footer { finished: Utc::now(), counts, incomplete, reason } }
    }
}

/// Which targets have cases running, and which of them run a case causing faults.
#[derive(Debug, Default)]
struct Busy {
    /// Cases running, by target.
    running: HashMap<String, usize>,
    /// Targets with a case causing faults running.
    faulted: HashSet<String>,
    /// Cases running, by server the harness controls.
    on_server: HashMap<String, usize>,
    /// Servers a running case acts on.
    acted_on: HashSet<String>,
}

/// How alone a case must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Alone {
    /// Beside any other case.
    No,
    /// With no other case of its target beside it: it causes faults through the target's proxies.
    OnTarget,
    /// With no other case of any target on its servers beside it: it acts on them.
    OnServers,
}

impl Alone {
    fn of(scenario: &Scenario) -> Alone {
        if scenario.uses_backend() {
            Alone::OnServers
        } else if scenario.uses_faults() {
            Alone::OnTarget
        } else {
            Alone::No
        }
    }
}

/// A queued case as the scheduler sees it: its target, the servers the harness controls under
/// that target, and how alone it runs.
type Slot<'a> = (&'a str, &'a [String], Alone);

impl Busy {
    /// The first queued case that may start now: none on a server a running case acts on, none
    /// of a target beside a case causing faults on it, a case causing faults only on a target
    /// with nothing running, and one acting on servers only when nothing runs on them.
    fn next<'a>(&self, queue: impl Iterator<Item = Slot<'a>>) -> Option<usize> {
        queue.enumerate().find_map(|(i, (target, servers, alone))| {
            let untouched = servers.iter().all(|s| !self.acted_on.contains(s));
            let free = untouched
                && match alone {
                    Alone::No => !self.faulted.contains(target),
                    Alone::OnTarget => !self.running.contains_key(target),
                    Alone::OnServers => {
                        !self.running.contains_key(target) && servers.iter().all(|s| !self.on_server.contains_key(s))
                    }
                };
            free.then_some(i)
        })
    }

    fn start(&mut self, (target, servers, alone): Slot<'_>) {
        *self.running.entry(target.to_owned()).or_default() += 1;
        for s in servers {
            *self.on_server.entry(s.clone()).or_default() += 1;
        }
        if alone != Alone::No {
            self.faulted.insert(target.to_owned());
        }
        if alone == Alone::OnServers {
            self.acted_on.extend(servers.iter().cloned());
        }
    }

    fn finish(&mut self, (target, servers, alone): Slot<'_>) {
        fn less(map: &mut HashMap<String, usize>, key: &str) {
            if let Some(n) = map.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        less(&mut self.running, target);
        for s in servers {
            less(&mut self.on_server, s);
        }
        if alone != Alone::No {
            self.faulted.remove(target);
        }
        if alone == Alone::OnServers {
            for s in servers {
                self.acted_on.remove(s);
            }
        }
    }
}

#[cfg(test)]
mod busy_tests {
    use super::{Alone, Busy, Slot};

    const NONE: &[String] = &[];

    fn plain(target: &str, alone: Alone) -> Slot<'_> {
        (target, NONE, alone)
    }

    #[test]
    fn a_case_causing_faults_runs_alone_on_its_target_only() {
        use Alone::{No, OnTarget};
        let mut busy = Busy::default();
        let queue = [plain("a", No), plain("b", No), plain("a", OnTarget), plain("b", OnTarget)];
        // Nothing runs: the first case starts.
        assert_eq!(busy.next(queue.into_iter()), Some(0));
        busy.start(plain("a", No));
        // With a case of `a` running, `a`'s fault case waits; `b`'s may start.
        assert_eq!(busy.next(queue[2..].iter().copied()), Some(1));
        busy.start(plain("b", OnTarget));
        // `b` runs a fault case: nothing else of `b` starts beside it, `a`'s cases may.
        assert_eq!(busy.next([plain("b", No), plain("a", No)].into_iter()), Some(1));
        assert_eq!(busy.next([plain("b", No), plain("b", OnTarget)].into_iter()), None);
        // `a`'s last case finishes: its fault case may start beside `b`'s.
        busy.finish(plain("a", No));
        assert_eq!(busy.next([plain("b", No), plain("a", OnTarget)].into_iter()), Some(1));
        busy.start(plain("a", OnTarget));
        assert_eq!(busy.next([plain("a", No), plain("a", OnTarget)].into_iter()), None);
        busy.finish(plain("b", OnTarget));
        assert_eq!(busy.next([plain("a", No), plain("b", No)].into_iter()), Some(1));
        busy.finish(plain("a", OnTarget));
        assert!(busy.running.is_empty() && busy.faulted.is_empty());
    }

    #[test]
    fn a_case_acting_on_a_server_runs_alone_on_that_server_only() {
        use Alone::{No, OnServers, OnTarget};
        let s1 = ["c1".to_owned()];
        let s2 = ["c2".to_owned()];
        // Targets a and b share server c1; d is on c2.
        let (a, b, d) = (|x| ("a", &s1[..], x), |x| ("b", &s1[..], x), |x| ("d", &s2[..], x));
        let mut busy = Busy::default();
        busy.start(a(No));
        // A case of `a` runs on c1: `b`'s restart of c1 waits, `d`'s of c2 may start.
        assert_eq!(busy.next([b(OnServers)].into_iter()), None);
        assert_eq!(busy.next([b(OnServers), d(OnServers)].into_iter()), Some(1));
        busy.finish(a(No));
        assert_eq!(busy.next([b(OnServers), b(No)].into_iter()), Some(0));
        busy.start(b(OnServers));
        // Nothing on c1 starts beside it, of any target; c2's cases go on.
        assert_eq!(busy.next([a(No), a(OnTarget), b(No)].into_iter()), None);
        assert_eq!(busy.next([a(No), d(No)].into_iter()), Some(1));
        busy.start(d(No));
        busy.finish(b(OnServers));
        assert_eq!(busy.next([a(No)].into_iter()), Some(0));
        busy.finish(d(No));
        assert!(busy.running.is_empty() && busy.faulted.is_empty());
        assert!(busy.on_server.is_empty() && busy.acted_on.is_empty());
    }
}

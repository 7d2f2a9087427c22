//! One case: one scenario on one target, in a namespace of its own. Decides applicability,
//! opens the store, runs the steps with their timeouts, checks each expectation, records the
//! history, and always closes the instances and drops the namespace it created.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use serde_json::{Value, json};
use sessionspec_contract::{
    Capability, EventKind, EventSink, Namespace, OpenContext, SharedClock, Store, StoreError, StoreEvent, StoreOptions,
    SystemClock, VirtualClock,
};
use sessionspec_report::{CaseResult, Detail, Outcome};
use sessionspec_scenario::{ClaimName, ClockMode, Level, Op, ResultExpectation, Scenario, Step};

use crate::history::{self, History, OpOutcome};
use crate::matching::{self, MatchContext};
use crate::precision::{Boundaries, WINDOW};
use crate::values::{self, Bindings};
use crate::{BACKEND_BOUND, Cancel, RunOptions, Target};

/// Whether `scenario` applies to `target`: `Err` with the reason when it does not.
pub(crate) fn check_applicable(scenario: &Scenario, target: &Target, options: &RunOptions) -> Result<(), Detail> {
    applicability(scenario, target, options).map(|_| ())
}

pub(crate) struct Case {
    pub scenario: Arc<Scenario>,
    pub target: Target,
    pub options: RunOptions,
    pub levels: Arc<HashMap<String, Level>>,
    pub cancel: Cancel,
    pub number: usize,
}

/// Why a step stopped the scenario.
enum Stop {
    Fail(Detail),
    Error(Detail),
    Timeout(Detail),
    Cancelled,
}

impl Stop {
    fn outcome(&self) -> Outcome {
        match self {
            Stop::Fail(_) => Outcome::Fail,
            Stop::Error(_) => Outcome::Error,
            Stop::Timeout(_) | Stop::Cancelled => Outcome::Timeout,
        }
    }
}

/// The clock a case runs on.
#[derive(Clone)]
enum CaseClock {
    /// Moved by `advance`.
    Virtual(VirtualClock),
    /// Wall-clock time; `advance` waits.
    Real,
}

impl CaseClock {
    fn shared(&self) -> SharedClock {
        match self {
            CaseClock::Virtual(c) => c.shared(),
            CaseClock::Real => SystemClock::shared(),
        }
    }
}

/// State shared by the steps (and concurrent branches) of one case.
struct State {
    scenario: Arc<Scenario>,
    target: Target,
    options: RunOptions,
    namespace: Namespace,
    /// Second namespaces opened with `open: {namespace: SUFFIX}`, dropped with the first.
    extra_namespaces: Mutex<Vec<Namespace>>,
    clock: CaseClock,
    instances: Mutex<HashMap<String, Arc<dyn Store>>>,
    /// Instances whose `open` failed as the step allowed (during an outage): the first step on
    /// one opens it again, so the scenario goes on to show that a fresh open works.
    failed_opens: Mutex<HashMap<String, (Namespace, StoreOptions)>>,
    closed: Mutex<Vec<String>>,
    events: Arc<Mutex<Vec<StoreEvent>>>,
    saved: Mutex<HashMap<String, Value>>,
    history: History,
    /// Where sessions may change state, for the precision rule on the wall clock.
    boundaries: Boundaries,
    cancel: Cancel,
}

const MAIN: &str = "main";

impl Case {
    /// Runs the case; `None` when it was cancelled before finishing.
    pub(crate) async fn run(self) -> Option<CaseResult> {
        let started = Instant::now();
        let scenario = self.scenario.clone();
        let level = scenario
            .checks
            .iter()
            .filter_map(|c| self.levels.get(c))
            .min()
            .map(|l| l.name())
            .unwrap_or("MAY")
            .to_owned();
        let mut result = CaseResult {
            scenario: scenario.id.clone(),
            area: scenario.area.clone(),
            title: scenario.title.clone(),
            position: scenario.position(scenario.location),
            checks: scenario.checks.clone(),
            level,
            refs: scenario.refs.clone(),
            target: self.target.id.clone(),
            outcome: Outcome::Pass,
            duration_ms: 0,
            attempts: 1,
            detail: None,
        };
        let (outcome, detail) = match self.applicability() {
            Err(detail) => (Outcome::NotApplicable, Some(detail)),
            Ok(clock) => match self.execute(clock).await {
                None => return None,
                Some(r) => r,
            },
        };
        result.outcome = outcome;
        result.detail = detail;
        result.duration_ms = started.elapsed().as_millis() as u64;
        Some(result)
    }

    /// The clock to run on, or why the scenario does not apply to this target.
    fn applicability(&self) -> Result<CaseClock, Detail> {
        applicability(&self.scenario, &self.target, &self.options)
    }

    async fn execute(&self, clock: CaseClock) -> Option<(Outcome, Option<Detail>)> {
        let namespace = match Namespace::new(format!("ss{}_{}", self.options.run_token, self.number)) {
            Ok(ns) => ns,
            Err(e) => {
                return Some((
                    Outcome::Error,
                    Some(Detail { message: format!("bad run token: {e}"), ..Detail::default() }),
                ));
            }
        };
        let events: Arc<Mutex<Vec<StoreEvent>>> = Arc::default();
        let state = Arc::new(State {
            scenario: self.scenario.clone(),
            target: self.target.clone(),
            options: self.options.clone(),
            namespace,
            extra_namespaces: Mutex::default(),
            clock,
            instances: Mutex::default(),
            failed_opens: Mutex::default(),
            closed: Mutex::default(),
            events,
            saved: Mutex::default(),
            history: History::default(),
            boundaries: Boundaries::default(),
            cancel: self.cancel.clone(),
        });

        let real_advance = match state.clock {
            CaseClock::Real => self.scenario.total_advance(),
            CaseClock::Virtual(_) => Duration::ZERO,
        };
        let bound = self.options.scenario_timeout.saturating_add(real_advance);
        let body = AssertUnwindSafe(state.clone().run_steps()).catch_unwind();
        let stop = match tokio::time::timeout(bound, body).await {
            Ok(Ok(stop)) => stop,
            Ok(Err(panic)) => Some(Stop::Error(Detail {
                message: format!("the store panicked: {}", panic_message(&panic)),
                ..Detail::default()
            })),
            Err(_) => Some(Stop::Timeout(Detail {
                message: format!(
                    "the scenario did not finish within {} (--scenario-timeout)",
                    sessionspec_contract::duration::format(bound)
                ),
                ..Detail::default()
            })),
        };
        let cleanup = state.cleanup().await;
        match (stop, cleanup) {
            (Some(Stop::Cancelled), _) => None,
            (Some(stop), cleanup) => {
                let outcome = stop.outcome();
                let mut detail = match stop {
                    Stop::Fail(d) | Stop::Error(d) | Stop::Timeout(d) => d,
                    Stop::Cancelled => unreachable!(),
                };
                // What cleaning up met stays with the outcome: an uncaught exception the adapter
                // saw during a step that then timed out is the worse half of the story.
                if let Err(problems) = cleanup {
                    detail.message = format!("{}; then, cleaning up: {}", detail.message, problems.message);
                }
                Some((outcome, Some(detail)))
            }
            (None, Err(detail)) => Some((Outcome::Error, Some(detail))),
            (None, Ok(())) => Some((Outcome::Pass, None)),
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned())
}

impl State {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.shared().now()
    }

    fn context(&self, namespace: &Namespace, options: StoreOptions) -> OpenContext {
        let events = self.events.clone();
        OpenContext {
            namespace: namespace.clone(),
            options,
            clock: self.clock.shared(),
            events: EventSink::new(move |e| {
                // One past the bound is kept, to tell a flood from a list that just fits.
                let mut events = events.lock().expect("events lock");
                if events.len() <= MAX_STEP_EVENTS {
                    events.push(e);
                }
            }),
        }
    }

    async fn run_steps(self: Arc<Self>) -> Option<Stop> {
        let opened = tokio::time::timeout(
            self.options.step_timeout,
            self.target.factory.open(self.context(&self.namespace, self.scenario.options.clone())),
        )
        .await;
        match opened {
            Ok(Ok(store)) => {
                self.instances.lock().expect("lock").insert(MAIN.to_owned(), Arc::from(store));
            }
            Ok(Err(e)) => {
                return Some(Stop::Error(Detail {
                    message: format!("could not open the store: {}", e.chain()),
                    error_kind: Some(e.kind().name().to_owned()),
                    ..Detail::default()
                }));
            }
            Err(_) => {
                return Some(Stop::Timeout(Detail {
                    message: format!(
                        "opening the store took longer than {}",
                        sessionspec_contract::duration::format(self.options.step_timeout)
                    ),
                    ..Detail::default()
                }));
            }
        }
        let scenario = self.scenario.clone();
        self.events.lock().expect("events lock").clear();
        for step in &scenario.steps {
            if self.cancel.is_cancelled() {
                return Some(Stop::Cancelled);
            }
            if let Err(stop) = self.clone().step(step, Bindings::default(), 0).await {
                return Some(stop);
            }
            // A step's events are those emitted since the previous step finished: what a store
            // emits late, or in the background while the clock moves, counts for the next step.
            if !matches!(step.op, Op::Advance(_)) {
                self.events.lock().expect("events lock").clear();
            }
        }
        None
    }

    /// Closes every instance still open and drops the namespace, and says what failed doing so.
    /// When the steps passed, a failure here makes the case an error; otherwise it is added to
    /// the steps' failure.
    async fn cleanup(&self) -> Result<(), Detail> {
        let mut problems = Vec::new();
        // A fault never outlives its scenario: heal before closing and dropping. A server the
        // scenario stopped gets as long to come back as a `backend:` step would.
        let bound = if self.scenario.uses_backend() { BACKEND_BOUND } else { self.options.step_timeout };
        if let (true, Some(faults)) = (self.scenario.uses_faults(), &self.target.faults)
            && let Err(e) = faults.heal(bound).await
        {
            problems.push(format!("healing the faults failed: {e}"));
        }
        let instances: Vec<(String, Arc<dyn Store>)> = self.instances.lock().expect("lock").drain().collect();
        let closed = self.closed.lock().expect("lock").clone();
        for (name, store) in instances {
            if closed.contains(&name) {
                continue;
            }
            match tokio::time::timeout(self.options.step_timeout, store.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => problems.push(format!("closing instance `{name}` failed: {}", e.chain())),
                Err(_) => problems.push(format!("closing instance `{name}` did not finish")),
            }
        }
        let mut namespaces = vec![self.namespace.clone()];
        namespaces.extend(self.extra_namespaces.lock().expect("lock").drain(..));
        for namespace in &namespaces {
            match tokio::time::timeout(self.options.step_timeout, self.target.factory.drop_namespace(namespace)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => problems.push(format!("dropping namespace `{namespace}` failed: {}", e.chain())),
                Err(_) => problems.push(format!("dropping namespace `{namespace}` did not finish")),
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(Detail { message: problems.join("; "), ..Detail::default() }) }
    }

    fn step<'a>(
        self: Arc<Self>,
        step: &'a Step,
        bindings: Bindings,
        process: usize,
    ) -> BoxFuture<'a, Result<(), Stop>> {
        async move {
            let position = self.scenario.position(step.location);
            let detail = |message: String| Detail {
                step: Some(position.clone()),
                operation: Some(step.op.name().to_owned()),
                message,
                ..Detail::default()
            };
            match &step.op {
                Op::Advance(by) => {
                    match &self.clock {
                        CaseClock::Virtual(c) => {
                            // Let tasks the store spawned start first (a sweep arms its timer
                            // when first polled): on a wall clock no time passes before they
                            // run, so none may pass on the virtual one either.
                            tokio::task::yield_now().await;
                            c.advance(*by);
                            // Let timers that just became due run before the next step.
                            tokio::task::yield_now().await;
                        }
                        CaseClock::Real => tokio::time::sleep(*by).await,
                    }
                    Ok(())
                }
                Op::Concurrently(c) => {
                    let mut branches: Vec<BoxFuture<'_, Result<(), Stop>>> = Vec::new();
                    let mut next_process = process * 1000 + 1;
                    if c.each_step_a_branch {
                        for sub in &c.steps {
                            branches.push(self.clone().step(sub, bindings.clone(), next_process));
                            next_process += 1;
                        }
                    } else {
                        for i in 0..c.repeat {
                            let mut b = bindings.clone();
                            b.vars.insert(c.var.clone(), u64::from(i));
                            let this = self.clone();
                            let p = next_process;
                            next_process += 1;
                            branches.push(Box::pin(async move {
                                for sub in &c.steps {
                                    this.clone().step(sub, b.clone(), p).await?;
                                }
                                Ok(())
                            }));
                        }
                    }
                    // Every branch runs to its end; the first failure (in branch order) is reported.
                    let outcomes = join_all(branches).await;
                    outcomes.into_iter().find(Result::is_err).unwrap_or(Ok(()))
                }
                Op::Fault(fault) => {
                    let faults = self.target.faults.as_ref().expect("applicability checked the proxy");
                    faults.apply(*fault).map_err(|e| Stop::Error(detail(format!("could not cause the fault: {e}"))))
                }
                Op::Wait(d) => {
                    tokio::time::sleep(*d).await;
                    Ok(())
                }
                Op::Heal => {
                    let faults = self.target.faults.as_ref().expect("applicability checked the proxy");
                    let bound = step.timeout.unwrap_or(self.options.step_timeout);
                    faults.heal(bound).await.map_err(|e| Stop::Error(detail(format!("could not heal: {e}"))))
                }
                Op::Backend(action) => {
                    let faults = self.target.faults.as_ref().expect("applicability checked the server control");
                    let bound = step.timeout.unwrap_or(self.options.step_timeout);
                    faults
                        .backend(*action, bound)
                        .await
                        .map_err(|e| Stop::Error(detail(format!("could not {} the server: {e}", action.name()))))
                }
                Op::Check(claim) => self
                    .check_claim(*claim)
                    .await
                    .map_err(|(message, log)| Stop::Fail(Detail { log: Some(log), ..detail(message) })),
                _ => {
                    let deadline = step.eventually.map(|d| Instant::now() + d);
                    loop {
                        let attempt = self.clone().attempt(step, &bindings, process).await;
                        match (attempt, deadline) {
                            // An error is not the expectation holding either: a store
                            // recovering from an outage answers with errors until it has.
                            (Err(Stop::Fail(_) | Stop::Error(_)), Some(d)) if Instant::now() < d => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            (Err(Stop::Fail(mut d)), Some(_)) => {
                                d.message = format!(
                                    "{} (still, after retrying for {})",
                                    d.message,
                                    sessionspec_contract::duration::format(step.eventually.unwrap_or_default())
                                );
                                return Err(Stop::Fail(d));
                            }
                            (Err(Stop::Error(mut d)), Some(_)) => {
                                d.message = format!(
                                    "{} (still, after retrying for {})",
                                    d.message,
                                    sessionspec_contract::duration::format(step.eventually.unwrap_or_default())
                                );
                                return Err(Stop::Error(d));
                            }
                            (result, _) => return result,
                        }
                    }
                }
            }
        }
        .boxed()
    }

    async fn instance(&self, step: &Step, bindings: &Bindings) -> Result<Arc<dyn Store>, Stop> {
        let name = step.on.as_ref().map(|t| values::text(t, bindings)).unwrap_or_else(|| MAIN.to_owned());
        let failed = self.failed_opens.lock().expect("lock").get(&name).cloned();
        if let Some((namespace, options)) = failed {
            let position = self.scenario.position(step.location);
            let opened = tokio::time::timeout(
                self.options.step_timeout,
                self.target.factory.open(self.context(&namespace, options)),
            )
            .await;
            if matches!(opened, Ok(Ok(_))) {
                self.failed_opens.lock().expect("lock").remove(&name);
            }
            let store: Arc<dyn Store> = match opened {
                Ok(Ok(store)) => Arc::from(store),
                Ok(Err(e)) => {
                    return Err(Stop::Error(Detail {
                        step: Some(position),
                        operation: Some(step.op.name().to_owned()),
                        message: format!(
                            "instance `{name}` failed to open earlier, as allowed, and opening it again now failed: {}",
                            e.chain()
                        ),
                        error_kind: Some(e.kind().name().to_owned()),
                        ..Detail::default()
                    }));
                }
                Err(_) => {
                    return Err(Stop::Timeout(Detail {
                        step: Some(position),
                        operation: Some(step.op.name().to_owned()),
                        message: format!(
                            "instance `{name}` failed to open earlier, as allowed, and opening it again now did not finish"
                        ),
                        ..Detail::default()
                    }));
                }
            };
            self.instances.lock().expect("lock").insert(name, store.clone());
            return Ok(store);
        }
        self.instances.lock().expect("lock").get(&name).cloned().ok_or_else(|| {
            Stop::Error(Detail {
                step: Some(self.scenario.position(step.location)),
                operation: Some(step.op.name().to_owned()),
                message: format!("no store instance named `{name}` is open: open it first with `open: {name}`"),
                ..Detail::default()
            })
        })
    }

    /// Runs one store operation once and checks its expectation.
    async fn attempt(self: Arc<Self>, step: &Step, bindings: &Bindings, process: usize) -> Result<(), Stop> {
        let position = self.scenario.position(step.location);
        let op_name = step.op.name();
        let detail = |message: String| Detail {
            step: Some(position.clone()),
            operation: Some(op_name.to_owned()),
            message,
            ..Detail::default()
        };
        let timeout = step.timeout.unwrap_or(self.options.step_timeout);
        let saved = self.saved.lock().expect("lock").clone();
        let now = self.now();
        let (sid, session) = match &step.op {
            Op::Get(s) | Op::Destroy(s) | Op::Raw(s) | Op::Tamper(s, _) => (Some(values::text(s, bindings)), None),
            Op::Set(s, input) | Op::Touch(s, input) | Op::Create(s, input) => {
                (Some(values::text(s, bindings)), Some(values::build(input, bindings, now, &saved)))
            }
            _ => (None, None),
        };
        let store = match &step.op {
            Op::Open { .. } => None,
            _ => Some(self.instance(step, bindings).await?),
        };
        let recorded = matches!(step.op, Op::Get(_) | Op::Set(..) | Op::Touch(..) | Op::Destroy(_) | Op::Clear);
        let record = recorded.then(|| self.history.invoke(process, op_name, sid.as_deref(), session.as_ref()));
        let operation = self.clone().perform(step, bindings, store, sid.clone(), session.clone());
        let result = tokio::time::timeout(timeout, operation).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                if let Some(i) = record {
                    self.history.complete(i, OpOutcome::Info);
                }
                return Err(Stop::Timeout(detail(format!(
                    "`{op_name}` did not finish within {}",
                    sessionspec_contract::duration::format(timeout)
                ))));
            }
        };
        if let Some(i) = record {
            self.history.complete(
                i,
                match &result {
                    Ok(_) => OpOutcome::Ok,
                    // Under faults a timeout or a backend error may come after the server took
                    // the write (a reset answer, bytes held and delivered late): indeterminate.
                    Err(e)
                        if self.scenario.uses_faults()
                            && matches!(
                                e.kind(),
                                sessionspec_contract::ErrorKind::Timeout | sessionspec_contract::ErrorKind::Backend
                            ) =>
                    {
                        OpOutcome::Info
                    }
                    Err(e) => OpOutcome::Fail(e.kind().name().to_owned()),
                },
            );
        }
        if matches!(step.op, Op::Close) && result.is_ok() {
            let name = step.on.as_ref().map(|t| values::text(t, bindings)).unwrap_or_else(|| MAIN.to_owned());
            self.closed.lock().expect("lock").push(name);
        }
        let cx_now = self.now();
        let real = matches!(self.clock, CaseClock::Real);
        if let (true, Some(written), true) = (real, &session, result.is_ok()) {
            self.boundaries.note_write(now, written, &self.scenario.options);
        }
        let cx = MatchContext { now: cx_now, bindings, saved: &saved };
        let value = match judge(op_name, &step.expect.result, &result, &cx) {
            Verdict::Pass(value) => {
                if let (Op::Open { name, options, namespace }, Err(_)) = (&step.op, &result) {
                    let namespace = match namespace {
                        None => self.namespace.clone(),
                        Some(suffix) => Namespace::new(format!("{}_{suffix}", self.namespace))
                            .unwrap_or_else(|_| self.namespace.clone()),
                    };
                    self.failed_opens
                        .lock()
                        .expect("lock")
                        .insert(values::text(name, bindings), (namespace, self.scenario.options.overlay(options)));
                }
                value
            }
            Verdict::Fail(d) => {
                // The precision rule: on the wall clock a probe may land within the window of a
                // boundary, where the spec leaves the outcome to the store.
                let near = if real { self.boundaries.near(now, cx_now) } else { None };
                return Err(match near {
                    Some(boundary) => Stop::Error(Detail {
                        message: format!(
                            "the probe ran from {} to {}, within {} s of a boundary at {} where whether a session is expired is implementation-defined (spec Precision): not a failure; {}",
                            sessionspec_contract::format_timestamp(now),
                            sessionspec_contract::format_timestamp(cx_now),
                            WINDOW.num_seconds(),
                            sessionspec_contract::format_timestamp(boundary),
                            d.message
                        ),
                        ..with_step(d, &detail)
                    }),
                    None => Stop::Fail(with_step(d, &detail)),
                });
            }
            Verdict::Unexpected(d) => return Err(Stop::Error(with_step(d, &detail))),
        };
        if let (Some(m), Err(e)) = (&step.expect.message, &result) {
            let text = Value::String(e.chain());
            if let Some(mismatch) = matching::check(m, Some(&text), "", &cx) {
                return Err(Stop::Fail(Detail {
                    expected: Some(matching::describe(m, &cx)),
                    actual: Some(e.chain()),
                    error_kind: Some(e.kind().name().to_owned()),
                    ..detail(format!(
                        "`{op_name}` failed as expected, but its error text does not match: {}",
                        mismatch.sentence()
                    ))
                }));
            }
        }
        if let Some(expected) = &step.expect.events {
            // `get` and `all` events are optional (EV-9): compared only when the list names them.
            let emitted: Vec<StoreEvent> = self
                .events
                .lock()
                .expect("events lock")
                .drain(..)
                .filter(|e| !OPTIONAL_EVENTS.contains(&e.kind) || expected.iter().any(|x| x.kind == e.kind))
                .collect();
            if emitted.len() > MAX_STEP_EVENTS {
                return Err(Stop::Fail(detail(format!(
                    "`{op_name}` emitted more than {MAX_STEP_EVENTS} events; the step expects {}",
                    expected.len()
                ))));
            }
            let matches = emitted.len() == expected.len()
                && emitted.iter().zip(expected).all(|(e, x)| {
                    e.kind == x.kind
                        && x.sid.as_ref().is_none_or(|s| e.sid.as_deref() == Some(values::text(s, bindings).as_str()))
                });
            if !matches {
                let show =
                    |kinds: Vec<String>| if kinds.is_empty() { "no events".to_owned() } else { kinds.join(", ") };
                let expected_text = show(
                    expected
                        .iter()
                        .map(|x| match &x.sid {
                            Some(s) => format!("{}({})", x.kind, values::text(s, bindings)),
                            None => x.kind.to_string(),
                        })
                        .collect(),
                );
                let emitted_text = show(
                    emitted
                        .iter()
                        .map(|e| match &e.sid {
                            Some(s) => format!("{}({s})", e.kind),
                            None => e.kind.to_string(),
                        })
                        .collect(),
                );
                return Err(Stop::Fail(Detail {
                    expected: Some(expected_text.clone()),
                    actual: Some(emitted_text.clone()),
                    ..detail(format!("`{op_name}` emitted {emitted_text}, expected {expected_text}"))
                }));
            }
        }
        if let Some(name) = &step.save {
            self.saved.lock().expect("lock").insert(name.clone(), value);
        }
        Ok(())
    }

    /// The operation itself, with its value as JSON.
    async fn perform(
        self: Arc<Self>,
        step: &Step,
        bindings: &Bindings,
        store: Option<Arc<dyn Store>>,
        sid: Option<String>,
        session: Option<Value>,
    ) -> Result<Value, StoreError> {
        let sid = sid.unwrap_or_default();
        let session = || sessionspec_contract::Session::from_value(session.clone().unwrap_or(Value::Null));
        let store = store.as_deref();
        let raw = || store.and_then(Store::raw).ok_or_else(|| StoreError::unsupported("raw inspection"));
        match &step.op {
            Op::Get(_) => Ok(store.expect("instance").get(&sid).await?.map(|s| s.into_value()).unwrap_or(Value::Null)),
            Op::Set(..) => store.expect("instance").set(&sid, &session()?).await.map(|()| Value::Null),
            Op::Touch(..) => store.expect("instance").touch(&sid, &session()?).await.map(|()| Value::Null),
            Op::Destroy(_) => store.expect("instance").destroy(&sid).await.map(|()| Value::Null),
            Op::All => Ok(Value::Array(
                store
                    .expect("instance")
                    .all()
                    .await?
                    .into_iter()
                    .map(|l| json!({"sid": l.sid, "session": l.session.into_value()}))
                    .collect(),
            )),
            Op::Length => store.expect("instance").length().await.map(Value::from),
            Op::Clear => store.expect("instance").clear().await.map(|()| Value::Null),
            Op::Ids => store.expect("instance").ids().await.map(|ids| json!(ids)),
            Op::Close => store.expect("instance").close().await.map(|()| Value::Null),
            Op::Create(..) => store.expect("instance").create(&sid, &session()?).await.map(Value::String),
            Op::DeleteExpired => store.expect("instance").delete_expired().await.map(|()| Value::Null),
            Op::Raw(_) => Ok(raw()?.record(&sid).await?.map(|r| r.to_json()).unwrap_or(Value::Null)),
            Op::RawCount => raw()?.count().await.map(Value::from),
            Op::Indexes => raw()?.indexes().await.map(Value::Array),
            Op::Tamper(_, how) => raw()?.tamper(&sid, *how).await.map(|()| Value::Null),
            Op::Open { name, options, namespace } => {
                let name = values::text(name, bindings);
                let namespace = match namespace {
                    None => self.namespace.clone(),
                    Some(suffix) => {
                        let namespace = Namespace::new(format!("{}_{suffix}", self.namespace))?;
                        let mut extra = self.extra_namespaces.lock().expect("lock");
                        if !extra.contains(&namespace) {
                            extra.push(namespace.clone());
                        }
                        namespace
                    }
                };
                let options = self.scenario.options.overlay(options);
                let store = self.target.factory.open(self.context(&namespace, options)).await?;
                self.instances.lock().expect("lock").insert(name, Arc::from(store));
                Ok(Value::Null)
            }
            Op::Advance(_)
            | Op::Concurrently(_)
            | Op::Check(_)
            | Op::Fault(_)
            | Op::Heal
            | Op::Backend(_)
            | Op::Wait(_) => {
                unreachable!("handled by step()")
            }
        }
    }

    /// Reads back every session the claim concerns and checks the claim on the history.
    async fn check_claim(&self, claim: ClaimName) -> Result<(), (String, String)> {
        let ops = self.history.snapshot();
        let store = self.instances.lock().expect("lock").get(MAIN).cloned();
        let Some(store) = store else { return Err(("the main store instance is not open".into(), String::new())) };
        let mut finals = Vec::new();
        for sid in history::sids_of_interest(claim, &ops) {
            let value = tokio::time::timeout(self.options.step_timeout, store.get(&sid))
                .await
                .map_err(|_| (format!("reading back `{sid}` for the claim timed out"), String::new()))?
                .map_err(|e| (format!("reading back `{sid}` for the claim failed: {}", e.chain()), String::new()))?;
            finals.push((sid, value.map(|s| s.into_value())));
        }
        if finals.is_empty() {
            return Err((
                format!("claim `{}` has nothing to check: no operation it concerns ran before it", claim.name()),
                String::new(),
            ));
        }
        history::check(claim, &ops, &finals)
            .map_err(|v| (format!("claim `{}` violated: {}", claim.name(), v.explanation), v.witness))
    }
}

/// Event kinds a store MAY emit (EV-9): an `events` expectation ignores them unless it lists one.
const OPTIONAL_EVENTS: [EventKind; 2] = [EventKind::Get, EventKind::All];

/// The most events kept between two steps: a store (or an adapter) emitting without end costs
/// no more memory than this, and a step expecting events fails with a short message.
const MAX_STEP_EVENTS: usize = 10_000;

/// How a step's result compares with its expected result.
enum Verdict {
    /// It meets it; the value is what `save` keeps (`null` for an expected error).
    Pass(Value),
    /// It does not: the step fails.
    Fail(Detail),
    /// It failed where only success was expected: the case errs.
    Unexpected(Detail),
}

/// A verdict's detail with the step's position and operation filled in.
fn with_step(d: Detail, step: &impl Fn(String) -> Detail) -> Detail {
    let base = step(d.message.clone());
    Detail { step: base.step, operation: base.operation, ..d }
}

/// Compares a result with an expectation.
fn judge(
    op_name: &str,
    expectation: &ResultExpectation,
    result: &Result<Value, StoreError>,
    cx: &MatchContext<'_>,
) -> Verdict {
    let fail = |message: String, expected: String, actual: String, error_kind: Option<String>| {
        Verdict::Fail(Detail {
            message,
            expected: Some(expected),
            actual: Some(actual),
            error_kind,
            ..Detail::default()
        })
    };
    match (expectation, result) {
        (ResultExpectation::OneOf(alternatives), _) => {
            let verdicts: Vec<Verdict> = alternatives.iter().map(|a| judge(op_name, a, result, cx)).collect();
            let mut reasons = Vec::new();
            let mut unexpected = true;
            for verdict in verdicts {
                match verdict {
                    Verdict::Pass(value) => return Verdict::Pass(value),
                    Verdict::Fail(d) => {
                        unexpected = false;
                        reasons.push(d.message);
                    }
                    Verdict::Unexpected(d) => reasons.push(d.message),
                }
            }
            let expected = alternatives.iter().map(|a| outline(a, cx)).collect::<Vec<_>>().join(" | ");
            let (actual, error_kind) = match result {
                Ok(value) => (pretty(value), None),
                Err(e) => (format!("an error of kind `{}`: {}", e.kind(), e.chain()), Some(e.kind().name().to_owned())),
            };
            let message = format!("`{op_name}` met none of the expected outcomes ({expected}): {}", reasons.join("; "));
            let detail =
                Detail { message, expected: Some(expected), actual: Some(actual), error_kind, ..Detail::default() };
            if unexpected { Verdict::Unexpected(detail) } else { Verdict::Fail(detail) }
        }
        (ResultExpectation::Error(None), Err(_)) => Verdict::Pass(Value::Null),
        (ResultExpectation::Error(Some(kind)), Err(e)) if e.kind() == *kind => Verdict::Pass(Value::Null),
        (ResultExpectation::Error(Some(kind)), Err(e)) => fail(
            format!("`{op_name}` failed with `{}`, expected `{kind}`", e.kind()),
            format!("an error of kind `{kind}`"),
            format!("an error of kind `{}`: {}", e.kind(), e.chain()),
            Some(e.kind().name().to_owned()),
        ),
        (ResultExpectation::Error(expected), Ok(value)) => {
            let kind = expected.map(|k| format!("`{k}`")).unwrap_or_else(|| "any kind".into());
            fail(
                format!("`{op_name}` succeeded, expected it to fail with an error of {kind}"),
                format!("an error of {kind}"),
                pretty(value),
                None,
            )
        }
        (_, Err(e)) => Verdict::Unexpected(Detail {
            message: format!("`{op_name}` failed: {}: {}", e.kind(), e.chain()),
            error_kind: Some(e.kind().name().to_owned()),
            ..Detail::default()
        }),
        (expectation, Ok(value)) => {
            let mismatch = match expectation {
                ResultExpectation::Ok | ResultExpectation::Error(_) | ResultExpectation::OneOf(_) => None,
                ResultExpectation::Absent => (!value.is_null()).then(|| {
                    (
                        json!(null),
                        matching::Mismatch {
                            path: String::new(),
                            expected: "nothing (absent)".into(),
                            found: matching::short(value),
                        },
                    )
                }),
                ResultExpectation::Found(m) => {
                    if value.is_null() {
                        Some((
                            matching::display(m, cx),
                            matching::Mismatch {
                                path: String::new(),
                                expected: "a session".into(),
                                found: "nothing (absent)".into(),
                            },
                        ))
                    } else {
                        matching::check(m, Some(value), "", cx).map(|mm| (matching::display(m, cx), mm))
                    }
                }
                ResultExpectation::Value(m) => {
                    matching::check(m, Some(value), "", cx).map(|mm| (matching::display(m, cx), mm))
                }
            };
            match mismatch {
                None => Verdict::Pass(value.clone()),
                Some((expected, mismatch)) => {
                    let shown = match expectation {
                        ResultExpectation::Found(m) | ResultExpectation::Value(m) => matching::project(m, value),
                        _ => value.clone(),
                    };
                    fail(
                        format!("`{op_name}` returned the wrong value: {}", mismatch.sentence()),
                        pretty(&expected),
                        pretty(&shown),
                        None,
                    )
                }
            }
        }
    }
}

/// One expected outcome in a line, for `one-of` reports.
fn outline(expectation: &ResultExpectation, cx: &MatchContext<'_>) -> String {
    match expectation {
        ResultExpectation::Ok => "success".into(),
        ResultExpectation::Absent => "absent".into(),
        ResultExpectation::Found(m) => format!("a session {}", matching::describe(m, cx)),
        ResultExpectation::Value(m) => format!("the value {}", matching::describe(m, cx)),
        ResultExpectation::Error(Some(kind)) => format!("an error of kind `{kind}`"),
        ResultExpectation::Error(None) => "an error of any kind".into(),
        ResultExpectation::OneOf(alternatives) => {
            alternatives.iter().map(|a| outline(a, cx)).collect::<Vec<_>>().join(" | ")
        }
    }
}

fn pretty(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    if text.len() > 4000 {
        format!("{}… ({} bytes in all)", &text[..text.floor_char_boundary(4000)], text.len())
    } else {
        text
    }
}

/// The clock `scenario` runs on for `target`, or why it does not apply to it: a capability the
/// store does not declare, one it declares that the scenario excludes, or more real time than
/// the budget on a store whose server keeps time.
fn applicability(scenario: &Scenario, target: &Target, options: &RunOptions) -> Result<CaseClock, Detail> {
    if scenario.uses_backend() && !target.faults.as_ref().is_some_and(|f| f.controls_backend()) {
        return Err(Detail {
            message: "the scenario stops, restarts or pauses the store's server, and the harness runs no server \
                      of this store (only a container of the run can be: `--backend KIND:VERSION`)"
                .to_owned(),
            ..Detail::default()
        });
    }
    if scenario.uses_faults() && target.faults.is_none() {
        return Err(Detail {
            message: "the scenario causes faults between the store and its server, and no fault proxy stands \
                      between this store and one (a store without a server, or a run without proxies)"
                .to_owned(),
            ..Detail::default()
        });
    }
    let caps = &target.factory.describe().capabilities;
    let missing = caps.missing(&scenario.requires);
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|c| c.name().to_owned()).collect();
        return Err(Detail {
            message: format!(
                "the store does not declare {}",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
            missing: names,
            ..Detail::default()
        });
    }
    if let Some(excluded) = scenario.excludes.iter().find(|c| caps.contains(**c)) {
        return Err(Detail {
            message: format!(
                "the store declares `{excluded}`, which this scenario excludes: what it checks is not the store's to do \
                 (spec/capabilities.yaml)"
            ),
            ..Detail::default()
        });
    }
    let virtual_ok = scenario.clock == ClockMode::Virtual && caps.contains(Capability::VirtualClock);
    if virtual_ok {
        return Ok(CaseClock::Virtual(VirtualClock::starting_now()));
    }
    let needed = scenario.total_advance();
    if needed > options.real_time_budget {
        let why = if scenario.clock == ClockMode::Real {
            "the scenario runs on the wall clock".to_owned()
        } else {
            "this store decides expiry on its server's clock, which the harness cannot move".to_owned()
        };
        return Err(Detail {
            message: format!(
                "the scenario moves time by {} and {why}; the real-time budget is {} (--real-time-budget)",
                sessionspec_contract::duration::format(needed),
                sessionspec_contract::duration::format(options.real_time_budget)
            ),
            missing: if scenario.clock == ClockMode::Virtual {
                vec![Capability::VirtualClock.name().to_owned()]
            } else {
                Vec::new()
            },
            ..Detail::default()
        });
    }
    Ok(CaseClock::Real)
}

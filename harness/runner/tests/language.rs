//! The scenario language as the runner executes it, on the reference memory store: expectations
//! with alternatives and error texts, optional events, second namespaces, and the matchers that
//! compare with saved values, count items or build the expected value. Each behaviour is shown
//! passing and, where it can, failing.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rstest::rstest;
use sessionspec_contract::{
    EventKind, EventSink, Listed, Namespace, OpenContext, RawAccess, Result, Session, Store, StoreDescription,
    StoreEvent, StoreFactory,
};
use sessionspec_report::Outcome;
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::{Spec, load_text};
use sessionspec_store_memory::MemoryFactory;

fn spec() -> Spec {
    Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec")).expect("the spec loads")
}

/// Runs one scenario (header fields plus `body`) on `factory`; returns its outcome and detail.
async fn run(factory: Arc<dyn StoreFactory>, body: &str) -> (Outcome, String) {
    let spec = spec();
    let text = format!("id: core.example\ntitle: an example\n{body}");
    let loaded = load_text(Path::new("core/example.yaml"), &text.into(), Some("core"), Some(&spec));
    let scenario = loaded.scenario.unwrap_or_else(|| panic!("the scenario has problems: {:#?}", loaded.problems));
    let summary = Runner::new(RunOptions::default()).run(&[scenario], &spec, &[Target::new(factory)], |_| {}).await;
    let result = summary.results.into_iter().next().expect("one result");
    (result.outcome, result.detail.map(|d| d.message).unwrap_or_default())
}

fn memory() -> Arc<dyn StoreFactory> {
    Arc::new(MemoryFactory::new())
}

#[rstest]
#[case::second_alternative(
    "checks: [CLOSE-4]\nrequires: [close]\nsteps:\n  - close:\n  - get: a\n    expect: {one-of: [absent, {error: closed}]}\n",
    Outcome::Pass
)]
#[case::first_alternative(
    "checks: [GET-1]\nsteps:\n  - get: a\n    expect: {one-of: [absent, {error: closed}]}\n",
    Outcome::Pass
)]
#[case::no_alternative(
    "checks: [GET-1]\nsteps:\n  - set: {sid: a, session: {cookie: {expires: +1h}}}\n  - get: a\n    expect: {one-of: [absent, {error: closed}]}\n",
    Outcome::Fail
)]
#[case::unexpected_error(
    "checks: [CLOSE-1]\nrequires: [close]\nsteps:\n  - close:\n  - get: a\n    expect: {one-of: [absent, {session: {}}]}\n",
    Outcome::Error
)]
#[tokio::test]
async fn one_of_passes_when_any_alternative_holds(#[case] body: &str, #[case] expected: Outcome) {
    let (outcome, detail) = run(memory(), body).await;
    assert_eq!(outcome, expected, "{detail}");
    if expected == Outcome::Fail {
        assert!(detail.contains("met none of the expected outcomes (absent | an error of kind `closed`)"), "{detail}");
    }
}

#[rstest]
#[case::hidden("$not-contains: sessions", Outcome::Pass)]
#[case::revealed("$not-contains: get", Outcome::Fail)]
#[tokio::test]
async fn message_checks_the_error_text(#[case] matcher: &str, #[case] expected: Outcome) {
    let body = format!(
        "checks: [CLOSE-1]\nrequires: [close]\nsteps:\n  - close:\n  - get: a\n    expect: {{error: closed, message: {{{matcher}}}}}\n"
    );
    let (outcome, detail) = run(memory(), &body).await;
    assert_eq!(outcome, expected, "{detail}");
}

#[rstest]
#[case::not_listed("events: []", Outcome::Pass)]
#[case::listed("events: [get]", Outcome::Pass)]
#[case::listed_twice("events: [get, get]", Outcome::Fail)]
#[tokio::test]
async fn get_and_all_events_count_only_when_listed(#[case] events: &str, #[case] expected: Outcome) {
    let body =
        format!("checks: [EV-8]\nrequires: [events]\nsteps:\n  - get: a\n    expect: {{value: null, {events}}}\n");
    let (outcome, detail) = run(Arc::new(GetEvents(MemoryFactory::new(), 1)), &body).await;
    assert_eq!(outcome, expected, "{detail}");
}

#[tokio::test]
async fn a_flood_of_events_fails_the_step_with_a_short_message() {
    // 50,000 `get` events for one `get`: the runner keeps 10,001 and says so in one line.
    let body = "checks: [EV-8]\nrequires: [events]\nsteps:\n  - get: a\n    expect: {value: null, events: [get]}\n";
    let (outcome, detail) = run(Arc::new(GetEvents(MemoryFactory::new(), 50_000)), body).await;
    assert_eq!(outcome, Outcome::Fail, "{detail}");
    assert!(detail.contains("`get` emitted more than 10000 events; the step expects 1"), "{detail}");
    assert!(detail.len() < 1000, "a short message: {} bytes", detail.len());
}

#[tokio::test]
async fn a_steps_events_are_those_since_the_previous_step() {
    // The `set` emits create and set; the `get` after it must not see them.
    let body = "checks: [EV-1]\nrequires: [events]\nsteps:\n  - set: {sid: a, session: {cookie: {expires: +1h}}}\n  - get: a\n    expect: {session: {}, events: []}\n";
    let (outcome, detail) = run(memory(), body).await;
    assert_eq!(outcome, Outcome::Pass, "{detail}");
}

#[tokio::test]
async fn a_second_namespace_starts_empty_and_stays_apart() {
    let body = concat!(
        "checks: [NS-1]\nsteps:\n",
        "  - set: {sid: a, session: {cookie: {expires: +1h}, n: 1}}\n",
        "  - open: {as: other, namespace: b}\n",
        "  - get: a\n    on: other\n    expect: absent\n",
        "  - set: {sid: a, session: {cookie: {expires: +1h}, n: 2}}\n    on: other\n",
        "  - get: a\n    expect: {session: {n: 1}}\n",
        "  - get: a\n    on: other\n    expect: {session: {n: 2}}\n",
    );
    let (outcome, detail) = run(memory(), body).await;
    assert_eq!(outcome, Outcome::Pass, "{detail}");
}

#[rstest]
#[case::saved_member_differs(
    "  - raw: a\n    save: first\n  - set: {sid: a, session: {cookie: {expires: +1h}, n: 2}}\n  - raw: a\n    expect: {value: {payload: {$not: {$saved: first.payload}}, key: {$saved: first.key}}}\n",
    Outcome::Pass
)]
#[case::saved_member_same(
    "  - raw: a\n    save: first\n  - raw: a\n    expect: {value: {payload: {$not: {$saved: first.payload}}}}\n",
    Outcome::Fail
)]
#[case::saved_time_within_tolerance(
    "  - raw: a\n    save: first\n  - advance: 2s\n  - raw: a\n    expect: {value: {expires: {$saved: first.expires, $tolerance: 1s}}}\n  - set: {sid: a, session: {cookie: {expires: +1h}, n: 1}}\n  - raw: a\n    expect: {value: {expires: {$saved: first.expires, $tolerance: 3s}}}\n",
    Outcome::Pass
)]
#[case::saved_time_beyond_tolerance(
    "  - raw: a\n    save: first\n  - advance: 2s\n  - set: {sid: a, session: {cookie: {expires: +1h}, n: 1}}\n  - raw: a\n    expect: {value: {expires: {$saved: first.expires, $tolerance: 1s}}}\n",
    Outcome::Fail
)]
#[case::count(
    "  - set: {sid: b, session: {cookie: {expires: +1h}, n: 1}}\n  - all:\n    expect: {value: {$count: {of: {session: {n: 1}}, is: 2}}}\n",
    Outcome::Pass
)]
#[case::count_wrong("  - all:\n    expect: {value: {$count: {of: {session: {n: 1}}, is: 2}}}\n", Outcome::Fail)]
#[case::repeat_and_nest(
    "  - set: {sid: a, session: {cookie: {expires: +1h}, blob: {$repeat: {text: ab, times: 4}}, deep: {$nest: {depth: 3, key: k, leaf: 1}}}}\n  - get: a\n    expect: {session: {blob: {$repeat: {text: ab, times: 4}}, deep: {$nest: {depth: 3, key: k, leaf: {$gte: 1}}}}}\n",
    Outcome::Pass
)]
#[case::nest_too_shallow(
    "  - set: {sid: a, session: {cookie: {expires: +1h}, deep: {$nest: {depth: 3, key: k, leaf: 1}}}}\n  - get: a\n    expect: {session: {deep: {$nest: {depth: 2, key: k, leaf: 1}}}}\n",
    Outcome::Fail
)]
#[tokio::test]
async fn matchers_compare_with_saved_parts_count_and_build(#[case] steps: &str, #[case] expected: Outcome) {
    let body = format!(
        "checks: [SET-1]\nrequires: [all, raw-inspection]\nsteps:\n  - set: {{sid: a, session: {{cookie: {{expires: +1h}}, n: 1}}}}\n{steps}"
    );
    let (outcome, detail) = run(memory(), &body).await;
    assert_eq!(outcome, expected, "{detail}");
}

/// The memory store, emitting this many `get` events on every `get` (one is what EV-9 allows).
struct GetEvents(MemoryFactory, usize);

struct GetEventsStore {
    inner: Box<dyn Store>,
    events: EventSink,
    count: usize,
}

#[async_trait]
impl StoreFactory for GetEvents {
    fn describe(&self) -> &StoreDescription {
        self.0.describe()
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let events = context.events.clone();
        Ok(Box::new(GetEventsStore { inner: self.0.open(context).await?, events, count: self.1 }))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.0.drop_namespace(namespace).await
    }
}

#[async_trait]
impl Store for GetEventsStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        let session = self.inner.get(sid).await?;
        for _ in 0..self.count {
            self.events.emit(StoreEvent::new(EventKind::Get, sid));
        }
        Ok(session)
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        self.inner.set(sid, session).await
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.inner.destroy(sid).await
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        self.inner.all().await
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        self.inner.raw()
    }
}

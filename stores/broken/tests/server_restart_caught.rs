//! The `backend:` scenarios (stop, start, restart, pause the server itself) catch the stores that
//! mishandle a server going away and coming back, and the reference stores they wrap pass them.
//! They apply only where the harness runs the server, so each test starts its own Redis or
//! PostgreSQL container (the matrix's default version; the engine at `DOCKER_HOST` and the
//! images of `harness/backends/images/build.sh`, as `just test-all` provides) and removes it.

mod common;

use std::sync::Arc;

use rstest::rstest;
use sessionspec_broken_stores::OutageDefect;
use sessionspec_containers::{BackendKind, Fleet, ImagePolicy, Matrix, Started};
use sessionspec_report::{CaseResult, Outcome};
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::Selection;
use sessionspec_targets::Backends;

const SCENARIOS: [&str; 2] = ["resilience.restart-keeps-acknowledged", "resilience.stopped-or-frozen-server"];

/// A container of the matrix's default version of `kind`, in a fleet of its own.
async fn container(kind: BackendKind) -> (Fleet, Started) {
    let fleet = Fleet::connect(&sessionspec_containers::run_id(), ImagePolicy::Auto)
        .await
        .unwrap_or_else(|e| panic!("a Docker engine (harness/backends/docker-engine.sh): {e}"));
    let matrix = Matrix::built_in();
    let backend = matrix.default_for(kind).expect("the matrix has a default version").clone();
    let started = fleet.start(&backend, &|| false).await.unwrap_or_else(|e| panic!("{e}"));
    (fleet, started)
}

/// `store` on `started`'s server behind a fault proxy that carries the server's control, with
/// `defect` when given.
async fn target(
    store: &str,
    started: &Started,
    defect: Option<OutageDefect>,
) -> (Target, sessionspec_targets::Resolved) {
    let kind = started.backend.kind;
    let mut backends = Backends { fault_proxies: true, ..Backends::default() };
    *backends.url_mut(kind) = Some(started.url.clone());
    backends.servers.push((kind, started.control.clone()));
    let resolved = sessionspec_targets::resolve(&[store.to_owned()], &backends).await.unwrap_or_else(|e| panic!("{e}"));
    let mut target = resolved.targets[0].clone();
    assert!(target.faults.as_ref().is_some_and(|f| f.controls_backend()), "the harness controls the store's server");
    if let Some(defect) = defect {
        target.factory = defect.wrap(Arc::clone(&target.factory));
        target.id = format!("broken-{}", defect.name());
    }
    (target, resolved)
}

async fn run(target: Target) -> Vec<CaseResult> {
    let suite = common::suite();
    let ids: Vec<String> = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
    let selection = Selection::new(&ids, &[], &[]).unwrap();
    let scenarios: Vec<_> = suite.select(&selection).into_iter().cloned().collect();
    assert_eq!(scenarios.len(), SCENARIOS.len(), "the corpus has the backend scenarios");
    let runner = Runner::new(RunOptions::default());
    let summary = runner.run(&scenarios, &suite.spec, &[target], |_| {}).await;
    assert!(!summary.footer.incomplete, "{:?}", summary.footer.reason);
    summary.results
}

#[rstest]
// Its get during the stop waits for the server without end, past the step's 8 s.
#[case::retries_forever(OutageDefect::RetriesForever, &["resilience.stopped-or-frozen-server"])]
// Its set during the stop reports success.
#[case::swallows_errors(OutageDefect::SwallowsErrors, &["resilience.stopped-or-frozen-server"])]
// Its first failure, during the stop, is the last thing it does. (A restart alone does not reach
// it: the Redis client reconnects before any operation fails.)
#[case::stays_broken(OutageDefect::StaysBroken, &["resilience.stopped-or-frozen-server"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outage_defect_is_caught_by_the_server_going(#[case] defect: OutageDefect, #[case] caught_by: &[&str]) {
    let (fleet, started) = container(BackendKind::Redis).await;
    let (target, _resolved) = target("redis", &started, Some(defect)).await;
    let results = run(target).await;
    fleet.remove_all().await.expect("the test's container is removed");
    for id in caught_by {
        let result = results.iter().find(|r| r.scenario == *id).expect("every scenario ran");
        assert!(
            result.outcome.is_failure(),
            "{} was not caught by {id}:\n{}",
            defect.name(),
            common::outcomes(&results).join("\n")
        );
    }
}

/// The control group: the reference stores pass them, on a server the harness restarts.
#[rstest]
#[case::redis("redis", BackendKind::Redis)]
#[case::postgres("postgres", BackendKind::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_stores_pass_the_backend_scenarios(#[case] store: &str, #[case] kind: BackendKind) {
    let (fleet, started) = container(kind).await;
    let (target, _resolved) = target(store, &started, None).await;
    let results = run(target).await;
    fleet.remove_all().await.expect("the test's container is removed");
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Pass),
        "{store} does not pass:\n{}",
        common::outcomes(&results).join("\n")
    );
}

/// Against a server the harness only has a URL for, the scenarios are not applicable, with the
/// reason, never failed or passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_servers_control_they_are_not_applicable() {
    let backends = Backends {
        redis_url: Some(std::env::var("SESSIONSPEC_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())),
        fault_proxies: true,
        ..Backends::default()
    };
    let resolved =
        sessionspec_targets::resolve(&["redis".to_owned()], &backends).await.unwrap_or_else(|e| panic!("{e}"));
    let results = run(resolved.targets[0].clone()).await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::NotApplicable, "{}", common::outcomes(&results).join("\n"));
        let message = &r.detail.as_ref().expect("a reason").message;
        assert!(message.contains("harness runs no server of this store"), "{message}");
    }
}

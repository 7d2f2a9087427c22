//! The resilience scenarios catch the stores that mishandle an outage, and the reference stores
//! they wrap pass them: the reference Redis and PostgreSQL stores (`SESSIONSPEC_REDIS_URL`,
//! `SESSIONSPEC_POSTGRES_URL`, or the standard local ports), each behind a fault proxy.

mod common;

use rstest::rstest;
use sessionspec_broken_stores::OutageDefect;
use sessionspec_report::CaseResult;
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::Selection;
use sessionspec_targets::Backends;

/// The reference store `store` behind a fault proxy, with `defect` when given.
async fn target(store: &str, defect: Option<OutageDefect>) -> (Target, sessionspec_targets::Resolved) {
    let backends = Backends {
        redis_url: Some(std::env::var("SESSIONSPEC_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())),
        postgres_url: Some(
            std::env::var("SESSIONSPEC_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        ),
        fault_proxies: true,
        ..Backends::default()
    };
    let resolved = sessionspec_targets::resolve(&[store.to_owned()], &backends).await.unwrap_or_else(|e| panic!("{e}"));
    let mut target = resolved.targets[0].clone();
    assert!(target.faults.is_some(), "the store runs behind a fault proxy");
    if let Some(defect) = defect {
        target.factory = defect.wrap(target.factory);
        target.id = format!("broken-{}", defect.name());
    }
    (target, resolved)
}

async fn run(target: Target) -> Vec<CaseResult> {
    let suite = common::suite();
    let selection = Selection::new(&[], &["resilience".to_owned()], &[]).unwrap();
    let scenarios: Vec<_> = suite.select(&selection).into_iter().cloned().collect();
    assert!(scenarios.len() >= 5, "the resilience area has its scenarios");
    let runner = Runner::new(RunOptions::default());
    let summary = runner.run(&scenarios, &suite.spec, &[target], |_| {}).await;
    assert!(!summary.footer.incomplete, "{:?}", summary.footer.reason);
    summary.results
}

#[rstest]
#[case::retries_forever(OutageDefect::RetriesForever, &["resilience.outage-operations-fail"])]
#[case::swallows_errors(OutageDefect::SwallowsErrors, &["resilience.outage-operations-fail", "resilience.cut-no-lost-writes"])]
// A reset alone does not reach this defect (the Redis client reconnects before any operation
// fails), so reset-recovers passes; every scenario with an outage catches it.
#[case::stays_broken(OutageDefect::StaysBroken, &["resilience.outage-operations-fail", "resilience.blackhole-operations-fail", "resilience.cut-no-lost-writes"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outage_defect_is_caught(#[case] defect: OutageDefect, #[case] caught_by: &[&str]) {
    let (target, _resolved) = target("redis", Some(defect)).await;
    let results = run(target).await;
    let failed: Vec<&str> = results.iter().filter(|r| r.outcome.is_failure()).map(|r| r.scenario.as_str()).collect();
    for id in caught_by {
        assert!(
            failed.contains(id),
            "{} was not caught by {id}:\n{}",
            defect.name(),
            common::outcomes(&results).join("\n")
        );
    }
}

/// The control group: the same stores without a defect pass every resilience scenario.
#[rstest]
#[case::redis("redis")]
#[case::postgres("postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_stores_pass_the_resilience_area(#[case] store: &str) {
    let (target, _resolved) = target(store, None).await;
    let results = run(target).await;
    let problems: Vec<String> = common::outcomes(&results)
        .into_iter()
        .filter(|l| !l.contains(" pass:") && !l.contains(" not-applicable:"))
        .collect();
    assert!(problems.is_empty(), "{store} fails:\n{}", problems.join("\n"));
    assert!(results.iter().any(|r| r.outcome == sessionspec_report::Outcome::Pass));
}

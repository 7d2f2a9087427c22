//! The harness proves it can fail: every broken store is caught by the scenarios aimed at its
//! defect, and the correct reference stores pass every scenario that applies to them.

use std::path::PathBuf;
use std::sync::Arc;

use rstest::rstest;
use sessionspec_broken_stores::{BrokenFactory, Defect};
use sessionspec_contract::StoreFactory;
use sessionspec_report::{CaseResult, Outcome};
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::Suite;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn suite() -> Suite {
    let (suite, problems) = Suite::load(&root().join("scenarios"), &root().join("spec"));
    assert!(problems.is_empty(), "the corpus has problems: {problems:#?}");
    suite.expect("the corpus loads")
}

async fn run(factory: Arc<dyn StoreFactory>) -> (Suite, Vec<CaseResult>) {
    let suite = suite();
    let runner = Runner::new(RunOptions { jobs: 16, ..RunOptions::default() });
    let summary = runner.run(&suite.scenarios, &suite.spec, &[Target::new(factory)], |_| {}).await;
    assert!(!summary.footer.incomplete, "{:?}", summary.footer.reason);
    (suite, summary.results)
}

fn failing(results: &[CaseResult]) -> Vec<&str> {
    let mut ids: Vec<&str> = results.iter().filter(|r| r.outcome.is_failure()).map(|r| r.scenario.as_str()).collect();
    ids.sort_unstable();
    ids
}

/// Each defect, the requirements it breaks, and scenarios that must catch it.
#[rstest]
#[case::get_returns_expired(Defect::GetReturnsExpired, &["GET-2", "EXPIRY-1"], &["expiry.get-expired-is-absent"])]
#[case::destroy_missing_errors(Defect::DestroyMissingErrors, &["DESTROY-2"], &["core.destroy-missing"])]
#[case::touch_does_nothing(Defect::TouchDoesNothing, &["TOUCH-1", "MW-1"], &["touch.extends-expiry", "touch.keeps-session-alive"])]
#[case::touch_revives(Defect::TouchRevives, &["TOUCH-3", "TOUCH-4"], &["touch.expired-stays-expired", "touch.missing-is-noop", "concurrency.touch-destroy-race"])]
#[case::length_counts_expired(Defect::LengthCountsExpired, &["LENGTH-1"], &["core.length-counts-live"])]
#[case::all_includes_expired(Defect::AllIncludesExpired, &["ALL-2"], &["core.all-hides-expired"])]
#[case::set_ignores_expires(Defect::SetIgnoresExpires, &["EXPIRY-1", "SET-3"], &["expiry.cookie-expires-decides", "core.set-expired-cookie"])]
#[case::set_merges(Defect::SetMerges, &["SET-2", "CONC-1"], &["core.set-replaces-whole-session", "regressions.connect-redis-333-concurrent-sessions-merge"])]
#[case::touch_after_ignored(Defect::TouchAfterIgnored, &["TA-1"], &["touch-after.skips-within-window"])]
#[case::events_create_as_update(Defect::EventsCreateAsUpdate, &["EV-1"], &["events.set-new-emits-create-set"])]
#[case::plaintext_encryption(Defect::PlaintextEncryption, &["ENC-2", "ENC-4"], &["encryption.no-plaintext-at-rest", "encryption.wrong-key-is-decrypt-error"])]
#[case::closed_still_works(Defect::ClosedStillWorks, &["CLOSE-1"], &["lifecycle.closed-operations-fail"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_store_is_caught(#[case] defect: Defect, #[case] breaks: &[&str], #[case] caught_by: &[&str]) {
    let (suite, results) = run(Arc::new(BrokenFactory::new(defect))).await;
    let failed = failing(&results);
    for id in caught_by {
        assert!(failed.contains(id), "{} was not caught by {id}; failing: {failed:?}", defect.name());
    }
    for requirement in breaks {
        let aimed: Vec<&str> = suite
            .scenarios
            .iter()
            .filter(|s| s.checks.iter().any(|c| c == requirement))
            .map(|s| s.id.as_str())
            .collect();
        assert!(!aimed.is_empty(), "no scenario checks {requirement}");
        assert!(
            aimed.iter().any(|id| failed.contains(id)),
            "{} breaks {requirement}, yet every scenario checking it passed: {aimed:?}",
            defect.name()
        );
    }
    let passed = results.iter().filter(|r| r.outcome == Outcome::Pass).count();
    assert!(passed * 2 > results.len(), "{} fails too broadly to be a targeted check: {failed:?}", defect.name());
    insta::assert_snapshot!(format!("caught-{}", defect.name()), failed.join("\n"));
}

/// The control group: the correct stores pass every scenario that applies to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_stores_pass_every_applicable_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sessionspec_store_sql::SqliteFactory::new(dir.path().to_owned()).await.unwrap();
    let factories: Vec<Arc<dyn StoreFactory>> =
        vec![Arc::new(sessionspec_store_memory::MemoryFactory::new()), Arc::new(sqlite)];
    for factory in factories {
        let name = factory.describe().name.clone();
        let (_, results) = run(factory).await;
        let problems: Vec<String> = results
            .iter()
            .filter(|r| r.outcome.is_failure())
            .map(|r| {
                format!("{} {}: {}", r.scenario, r.outcome, r.detail.as_ref().map(|d| d.message.as_str()).unwrap_or(""))
            })
            .collect();
        assert!(problems.is_empty(), "{name} fails:\n{}", problems.join("\n"));
        assert!(results.iter().any(|r| r.outcome == Outcome::Pass), "{name} passed nothing");
    }
}

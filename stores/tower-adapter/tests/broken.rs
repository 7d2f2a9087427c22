//! The record-store requirements can fail: a record store with a planted defect is caught by the
//! scenarios aimed at it, and tower-sessions' own memory store passes them.

use std::sync::Arc;

use sessionspec_contract::{Namespace, StoreFactory};
use sessionspec_report::CaseResult;
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_tower_adapter::broken::{BrokenStore, Defect};
use sessionspec_tower_adapter::{PerNamespace, RecordStore, TowerFactory, v15};

async fn broken(defect: Defect) -> Arc<dyn StoreFactory> {
    let backend = PerNamespace(move |_: &Namespace| async move {
        Ok(Arc::new(v15::Deleting(BrokenStore::new(defect))) as Arc<dyn RecordStore>)
    });
    Arc::new(TowerFactory::new(&format!("broken:{defect:?}"), "0", "memory", Box::new(backend)).await.unwrap())
}

/// The outcome of every scenario of area `record` on `factory`.
async fn run(factory: Arc<dyn StoreFactory>) -> Vec<CaseResult> {
    let suite = sessionspec_suite::suite();
    let record: Vec<_> = suite.scenarios.iter().filter(|s| s.id.starts_with("record.")).cloned().collect();
    assert!(record.len() >= 7, "the record scenarios are in the suite: {}", record.len());
    let runner = Runner::new(RunOptions { jobs: 8, ..RunOptions::default() });
    let summary = runner.run(&record, &suite.spec, &[Target::new(factory)], |_| {}).await;
    assert!(!summary.footer.incomplete, "{:?}", summary.footer.reason);
    summary.results
}

fn failing(results: &[CaseResult]) -> Vec<&str> {
    let mut ids: Vec<&str> = results.iter().filter(|r| r.outcome.is_failure()).map(|r| r.scenario.as_str()).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_that_overwrites_is_caught() {
    let results = run(broken(Defect::CreateOverwrites).await).await;
    assert_eq!(failing(&results), ["record.create-keeps-existing", "record.create-twice-one-lands"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_that_ignores_expiry_is_caught() {
    let results = run(broken(Defect::LoadIgnoresExpiry).await).await;
    let failed = failing(&results);
    for id in ["record.load-after-expiry-date", "record.save-expired-record"] {
        assert!(failed.contains(&id), "{id} did not catch it; failing: {failed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_passes_every_record_scenario_it_can_run() {
    let backend = PerNamespace(|_: &Namespace| async {
        Ok(Arc::new(v15::Plain(tower_sessions_memory_store::MemoryStore::default())) as Arc<dyn RecordStore>)
    });
    let factory = TowerFactory::new("tower:memory", "0.15.0", "memory", Box::new(backend)).await.unwrap();
    let results = run(Arc::new(factory)).await;
    assert_eq!(failing(&results), Vec::<&str>::new());
    let passed = results.iter().filter(|r| r.outcome.name() == "pass").count();
    assert!(passed >= 6, "most record scenarios apply to a store with create and touch: {passed} passed");
}

/// tower-sessions has no touch: the adapter's touch is a load then save, so the race of a touch
/// and a set (CONC-4) is the caller's and does not apply, while the race of a touch and a
/// destroy (CONC-3) is the store's `save` and still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_touch_set_race_does_not_apply_to_a_record_store() {
    let backend = PerNamespace(|_: &Namespace| async {
        Ok(Arc::new(v15::Plain(tower_sessions_memory_store::MemoryStore::default())) as Arc<dyn RecordStore>)
    });
    let factory: Arc<dyn StoreFactory> =
        Arc::new(TowerFactory::new("tower:memory", "0.15.0", "memory", Box::new(backend)).await.unwrap());
    let suite = sessionspec_suite::suite();
    let runner = Runner::new(RunOptions::default());
    let target = Target::new(factory);
    let scenario = |id: &str| suite.scenarios.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("{id}")).clone();

    let excluded = runner.applicability(&scenario("concurrency.touch-set-race"), &target).unwrap_err();
    assert!(excluded.message.contains("`touch-by-save`"), "{}", excluded.message);
    assert!(runner.applicability(&scenario("concurrency.touch-destroy-race"), &target).is_ok());
    assert!(runner.applicability(&scenario("touch.extends-expiry"), &target).is_ok());
}

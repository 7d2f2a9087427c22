//! The entry point as a store author meets it, in-process: the reference memory store passes
//! every applicable scenario and is ignored on the rest; a broken store fails the scenarios that
//! catch it; an expectation file turns a listed failure into a pass and a stale entry into a
//! failure.

use sessionspec_broken_stores::{BrokenFactory, Defect};
use sessionspec_conformance::Conformance;
use sessionspec_conformance::libtest_mimic::Arguments;
use sessionspec_store_memory::MemoryFactory;

fn quiet() -> Arguments {
    Arguments { quiet: true, test_threads: Some(4), ..Arguments::default() }
}

#[test]
fn the_memory_store_passes_every_applicable_scenario_and_is_ignored_on_the_rest() {
    let total = sessionspec_suite::suite().scenarios.len() as u64;
    let conclusion = Conformance::new(MemoryFactory::new()).run(&quiet()).unwrap();
    assert_eq!(conclusion.num_failed, 0);
    assert_eq!(conclusion.num_passed + conclusion.num_ignored, total, "one test per scenario");
    // The memory store lacks a few capabilities (ids, raw-inspection...): those are ignored,
    // never passed.
    assert!(conclusion.num_ignored > 0, "{conclusion:?}");
}

#[test]
fn a_filter_selects_scenarios_by_id() {
    let args = Arguments { filter: Some("touch-after".into()), ..quiet() };
    let conclusion = Conformance::new(MemoryFactory::new()).run(&args).unwrap();
    let wanted = sessionspec_suite::suite().scenarios.iter().filter(|s| s.id.contains("touch-after")).count() as u64;
    assert!(wanted > 1);
    assert_eq!(conclusion.num_passed + conclusion.num_ignored + conclusion.num_failed, wanted);
    assert_eq!(conclusion.num_filtered_out, sessionspec_suite::suite().scenarios.len() as u64 - wanted);
}

#[test]
fn a_broken_store_fails_the_scenarios_that_catch_it() {
    let args = Arguments { filter: Some("core.".into()), ..quiet() };
    let conclusion = Conformance::new(BrokenFactory::new(Defect::GetReturnsExpired)).run(&args).unwrap();
    assert!(conclusion.num_failed >= 1, "{conclusion:?}");
}

#[test]
fn listed_failures_pass_while_they_fail_and_fail_once_they_pass() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known.toml");
    let broken = BrokenFactory::new(Defect::DestroyMissingErrors);
    let name = sessionspec_contract::StoreFactory::describe(&broken).name.clone();
    // Find what the defect fails, then list exactly that.
    let args = Arguments { filter: Some("core.destroy-missing".into()), exact: true, ..quiet() };
    let before = Conformance::new(BrokenFactory::new(Defect::DestroyMissingErrors)).run(&args).unwrap();
    assert_eq!(before.num_failed, 1, "the defect is caught by core.destroy-missing");
    // The store answers with an error where success is required: outcome `error`.
    std::fs::write(
        &file,
        format!(
            "target = \"{name}\"\n[[known]]\nscenario = \"core.destroy-missing\"\noutcome = \"error\"\nreason = \"planted\"\nlink = \"https://example.org/1\"\n"
        ),
    )
    .unwrap();
    let listed =
        Conformance::new(BrokenFactory::new(Defect::DestroyMissingErrors)).expectations(&file).run(&args).unwrap();
    assert_eq!((listed.num_passed, listed.num_failed), (1, 0), "a listed failure that still fails passes");

    // The same file for a store that has no such failure: the entry is stale.
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace(&name, "memory")).unwrap();
    let stale = Conformance::new(MemoryFactory::new()).expectations(&file).run(&args).unwrap();
    assert_eq!(stale.num_failed, 1, "a listed failure that passes fails the test");
}

#[test]
fn an_expectation_file_for_another_store_or_scenario_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known.toml");
    std::fs::write(&file, "target = \"redis\"\n").unwrap();
    let e = Conformance::new(MemoryFactory::new()).expectations(&file).run(&quiet()).unwrap_err();
    assert!(e.to_string().contains("known failures of `redis`, but the store is `memory`"), "{e}");
    std::fs::write(
        &file,
        "target = \"memory\"\n[[known]]\nscenario = \"core.no-such\"\noutcome = \"fail\"\nreason = \"r\"\nlink = \"l\"\n",
    )
    .unwrap();
    let e = Conformance::new(MemoryFactory::new()).expectations(&file).run(&quiet()).unwrap_err();
    assert!(e.to_string().contains("`core.no-such` names no scenario of the suite"), "{e}");
}

#[test]
fn a_factory_that_cannot_connect_stops_the_run_with_its_error() {
    async fn connect() -> Result<MemoryFactory, String> {
        Err("connection refused at 127.0.0.1:1".into())
    }
    let e = Conformance::connect(connect).run(&quiet()).unwrap_err();
    assert_eq!(e.to_string(), "cannot open the store factory: connection refused at 127.0.0.1:1");
}

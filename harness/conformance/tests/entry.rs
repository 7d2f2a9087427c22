//! The entry point as a store author meets it, in-process: the reference memory store passes
//! every applicable scenario and is ignored on the rest; a stale expectation fails; setup
//! problems stop the run. Broken stores through this entry are tested in stores/broken
//! (tests/conformance_entry.rs), which this crate cannot depend on and still be published.

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

//! The broken stores through `sessionspec-conformance`, the entry a store author calls from
//! `cargo test`: a defect fails the scenarios that catch it, and an expectation file turns a
//! listed failure into a pass until the store stops failing.

use sessionspec_broken_stores::{BrokenFactory, Defect};
use sessionspec_conformance::Conformance;
use sessionspec_conformance::libtest_mimic::Arguments;
use sessionspec_store_memory::MemoryFactory;

fn quiet() -> Arguments {
    Arguments { quiet: true, test_threads: Some(4), ..Arguments::default() }
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

//! `sessionspec adapter`: the catalog's Rust stores served over the stdio adapter protocol, in
//! real processes driven by the harness's own client. Served, a store must pass every smoke
//! check and give every scenario the outcome it gets in-process; a broken store served the same
//! way must be caught the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use rstest::rstest;
use sessionspec_broken_stores::{BrokenFactory, Defect};
use sessionspec_report::{CaseResult, Outcome, Results};
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::{Op, Suite};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sessionspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessionspec"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        // Hermetic: what a developer's shell exports must not change what runs.
        .env_remove("SESSIONSPEC_SCENARIOS")
        .env_remove("SESSIONSPEC_SPEC")
        .env_remove("SESSIONSPEC_WORK_DIR")
        .env_remove("SESSIONSPEC_REDIS_URL")
        .env_remove("SESSIONSPEC_POSTGRES_URL")
        .env_remove("SESSIONSPEC_MYSQL_URL")
        .env_remove("SESSIONSPEC_MONGO_URL")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `exec:` for `program args`, the program's path quoted as a shell would need it.
fn exec(program: &Path, args: &str) -> String {
    format!("exec:'{}' {args}", program.display())
}

/// This package's example `name`: `cargo test` and `cargo nextest run` build a package's
/// examples with its tests, into `examples/` next to the `deps/` this test runs from.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = profile.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} is missing: `cargo build -p sessionspec --example {name}`", path.display());
    path
}

/// Runs the suite against `stores` and reads the results file back.
fn run(stores: &[&str]) -> (Output, Results) {
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut args = vec!["run", "--no-progress", "--out", out.path().to_str().expect("UTF-8")];
    for store in stores {
        args.extend(["--store", store]);
    }
    let output = sessionspec(&args);
    let results = sessionspec_report::jsonl::read(&out.path().join("results.jsonl")).unwrap_or_else(|e| {
        panic!("a results file: {e}\nstdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr))
    });
    assert!(!results.incomplete(), "the run completes: {:?}", results.incomplete_reason());
    (output, results)
}

/// Each scenario's outcome on `target`, with the capabilities named when it is not applicable.
fn outcomes<'a>(
    results: impl IntoIterator<Item = &'a CaseResult>,
    target: &str,
) -> BTreeMap<String, (Outcome, Vec<String>)> {
    results
        .into_iter()
        .filter(|r| r.target == target)
        .map(|r| (r.scenario.clone(), (r.outcome, r.detail.as_ref().map(|d| d.missing.clone()).unwrap_or_default())))
        .collect()
}

fn count(outcomes: &BTreeMap<String, (Outcome, Vec<String>)>, outcome: Outcome) -> usize {
    outcomes.values().filter(|(o, _)| *o == outcome).count()
}

#[rstest]
#[case::memory("memory")]
#[case::sql_sqlite("sql-sqlite")]
fn a_served_store_passes_every_smoke_check(#[case] store: &str) {
    let out = sessionspec(&["smoke", &exec(Path::new(env!("CARGO_BIN_EXE_sessionspec")), &format!("adapter {store}"))]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}{}", text(&out.stderr));
    let checks: Vec<&str> = report.lines().take_while(|l| !l.is_empty()).collect();
    let failed: Vec<&&str> = checks.iter().filter(|l| !l.starts_with("ok ")).collect();
    assert!(failed.is_empty(), "every check passes: {failed:#?}\n{report}");
    for check in ["handshake", "open", "set", "get", "get (missing sid)", "raw", "tamper", "unknown request", "clock"] {
        assert!(checks.iter().any(|l| l[5..].starts_with(&format!("{check} "))), "no `{check}` check:\n{report}");
    }
    for check in ["destroy", "close", "drop", "protocol", "shutdown"] {
        assert!(checks.iter().any(|l| l[5..].starts_with(&format!("{check} "))), "no `{check}` check:\n{report}");
    }
    assert!(checks[0].starts_with("ok   handshake") && checks[0].contains(&format!(" {store} ")), "{report}");
}

#[rstest]
#[case::memory("memory")]
#[case::sql_sqlite("sql-sqlite")]
fn a_served_store_gets_the_outcome_it_gets_in_process(#[case] store: &str) {
    let served = exec(Path::new(env!("CARGO_BIN_EXE_sessionspec")), &format!("adapter {store}"));
    let (output, results) = run(&[store, &served]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "every applicable scenario passes:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let direct = outcomes(&results.results, store);
    let through = outcomes(&results.results, &format!("exec:{store}"));
    assert!(!direct.is_empty(), "{store} ran");
    assert_eq!(through, direct, "the same outcome, and the same missing capabilities, per scenario");
    let (pass, not_applicable) = (count(&through, Outcome::Pass), count(&through, Outcome::NotApplicable));
    assert_eq!(pass + not_applicable, through.len(), "nothing but passes and not-applicable");
    assert!(pass > not_applicable, "most scenarios apply to {store}: {pass} pass, {not_applicable} n/a");
    eprintln!("exec {store}: {pass} pass, {not_applicable} n/a, identical to {store}");
}

/// A broken store served by an adapter process is caught as it is in-process (stores/broken/
/// tests/caught.rs shows what that catches). Where steps run `concurrently`, whether a broken
/// store's race is lost depends on how the operations interleave, which differs between one
/// process and two; every other scenario must have the same outcome.
#[rstest]
#[case::get_returns_expired(Defect::GetReturnsExpired)]
#[case::touch_revives(Defect::TouchRevives)]
#[case::events_create_as_update(Defect::EventsCreateAsUpdate)]
#[case::plaintext_encryption(Defect::PlaintextEncryption)]
#[case::closed_still_works(Defect::ClosedStillWorks)]
fn a_served_broken_store_is_caught_as_in_process(#[case] defect: Defect) {
    let served = exec(&example("broken-adapter"), defect.name());
    let (output, results) = run(&[&served]);
    assert_eq!(output.status.code(), Some(1), "failures exit 1:\n{}", text(&output.stderr));
    let through = outcomes(&results.results, &format!("exec:broken-{}", defect.name()));

    let (suite, problems) = Suite::load(&root().join("scenarios"), &root().join("spec"));
    assert!(problems.is_empty(), "{problems:#?}");
    let suite = suite.expect("the corpus loads");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let target = Target::new(Arc::new(BrokenFactory::new(defect)));
    let summary =
        runtime.block_on(Runner::new(RunOptions::default()).run(&suite.scenarios, &suite.spec, &[target], |_| {}));
    let direct = outcomes(&summary.results, &format!("broken-{}", defect.name()));
    assert_eq!(through.keys().collect::<Vec<_>>(), direct.keys().collect::<Vec<_>>(), "the same scenarios ran");

    let racing: BTreeSet<&str> = suite
        .scenarios
        .iter()
        .filter(|s| s.steps.iter().any(|step| matches!(step.op, Op::Concurrently(_))))
        .map(|s| s.id.as_str())
        .collect();
    let mut caught = 0;
    for (id, outcome) in &direct {
        let served = &through[id];
        if !racing.contains(id.as_str()) {
            assert_eq!(served, outcome, "{id}: {} served and in-process", defect.name());
            caught += usize::from(outcome.0.is_failure());
        } else {
            let expected = [Outcome::Pass, Outcome::Fail, outcome.0];
            assert!(expected.contains(&served.0), "{id}: {:?} served, {:?} in-process", served.0, outcome.0);
            assert_eq!(served.1, outcome.1, "{id}: the same capabilities missing");
        }
    }
    assert!(caught > 0, "{} is caught without a race too", defect.name());
}

#[test]
fn it_refuses_what_it_cannot_serve_and_says_what_it_can() {
    for (store, needle) in [
        (
            "mystery",
            "`mystery` is not a store; `sessionspec adapter` serves the catalog's Rust stores: memory, sql-sqlite, postgres",
        ),
        ("memroy", "`memroy` is not a store (did you mean `memory`?)"),
        ("node:memory", "`node:memory` is served by an adapter already"),
        ("exec:node adapter.js", "`exec:node adapter.js` is served by an adapter already"),
        ("redis", "store `redis` cannot run: no server URL: pass --redis-url URL or set SESSIONSPEC_REDIS_URL"),
    ] {
        let out = sessionspec(&["adapter", store]);
        assert_eq!(out.status.code(), Some(2), "{store}");
        assert!(out.stdout.is_empty(), "stdout carries protocol messages only: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains(needle), "{store}: {}", text(&out.stderr));
    }
    let help = sessionspec(&["adapter", "--help"]);
    insta::assert_snapshot!("adapter-help", text(&help.stdout));
}

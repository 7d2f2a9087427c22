//! Killing an adapter process in the middle of a scenario fails that scenario only, with the
//! process's stderr attached; a fresh process serves the scenarios after it and the run completes.
//! Needs Node.js and `npm ci` in stores/express-adapter (a `server_` test: `just test-all`).

use std::path::Path;
use std::sync::Arc;

use sessionspec_report::Outcome;
use sessionspec_runner::{RunOptions, Runner, Target};
use sessionspec_scenario::{Spec, load_text};
use sessionspec_store_adapter::{AdapterConfig, AdapterFactory, node};

const SCENARIOS: [(&str, &str); 3] = [
    (
        "before",
        "id: crash.before\ntitle: a scenario before the crash\nchecks: [SET-1]\nsteps:\n  - set: {sid: a, session: {cookie: {expires: +1h}, n: 1}}\n  - get: a\n    expect: {session: {n: 1}}\n",
    ),
    (
        "during",
        "id: crash.during\ntitle: the adapter dies in the middle of this one\nchecks: [SET-1]\nsteps:\n  - set: {sid: a, session: {cookie: {expires: +1h}, n: 1}}\n  - get: crash-now\n    expect: absent\n  - get: a\n    expect: {session: {n: 1}}\n",
    ),
    (
        "after",
        "id: crash.after\ntitle: a scenario after the crash\nchecks: [SET-1]\nsteps:\n  - set: {sid: b, session: {cookie: {expires: +1h}, n: 2}}\n  - get: b\n    expect: {session: {n: 2}}\n",
    ),
];

fn adapter() -> AdapterConfig {
    let dir = node::preset_dir().unwrap_or_else(|why| panic!("{why}"));
    if let Err(why) = node::check_installed(&dir) {
        panic!("this test drives the express adapter: {why}");
    }
    AdapterConfig::new(
        "node",
        [
            dir.join("bin/adapter.js").display().to_string(),
            "--store".to_owned(),
            dir.join("test/fixtures/crashing-store.js").display().to_string(),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_adapter_fails_only_its_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = Spec::load(&root.join("spec")).expect("the spec loads");
    let scenarios: Vec<_> = SCENARIOS
        .iter()
        .map(|(name, text)| {
            let path = root.join(format!("scenarios/crash/{name}.yaml"));
            let loaded = load_text(&path, &Arc::from(*text), Some("crash"), Some(&spec));
            assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
            loaded.scenario.expect("a scenario")
        })
        .collect();
    let factory = AdapterFactory::start(adapter()).await.expect("the adapter starts");
    let target = Target { id: "exec:crashing-memory".into(), factory: Arc::new(factory), faults: None };
    let runner = Runner::new(RunOptions { jobs: 1, ..RunOptions::default() });
    let summary = runner.run(&scenarios, &spec, &[target], |_| {}).await;

    assert!(!summary.footer.incomplete, "the run must complete: {:?}", summary.footer.reason);
    let outcome = |id: &str| summary.results.iter().find(|r| r.scenario == id).expect("a result");
    assert_eq!(outcome("crash.before").outcome, Outcome::Pass);
    assert_eq!(outcome("crash.after").outcome, Outcome::Pass, "{:?}", outcome("crash.after").detail);
    let during = outcome("crash.during");
    assert_eq!(during.outcome, Outcome::Error);
    let message = &during.detail.as_ref().expect("a detail").message;
    assert!(message.contains("killed by signal 9"), "{message}");
    assert!(message.contains("crashing-memory: killing myself as asked"), "stderr attached: {message}");
}

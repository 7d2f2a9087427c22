//! examples/custom-store, a store author's crate in miniature, tested as its author would: `cargo
//! test` in its directory runs one test per scenario of the suite and passes; its `broken`
//! feature (get shows expired sessions) fails, naming the scenarios that catch it. Slow: it
//! builds the example with its own lockfile into target/examples.

use std::path::Path;
use std::process::{Command, Output};

fn cargo_test(features: &[&str]) -> Output {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = workspace.join("examples/custom-store");
    Command::new(env!("CARGO"))
        .args(["test", "--locked", "--quiet", "--manifest-path"])
        .arg(example.join("Cargo.toml"))
        .args(features)
        .env("CARGO_TARGET_DIR", workspace.join("target/examples"))
        .env_remove("RUSTFLAGS")
        .current_dir(&example)
        .output()
        .expect("cargo runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_example_store_passes_with_one_test_per_scenario_and_its_broken_variant_fails() {
    let scenarios = sessionspec_suite::suite().scenarios.len();

    let good = cargo_test(&[]);
    let text = stdout(&good);
    assert!(good.status.success(), "{text}\n{}", String::from_utf8_lossy(&good.stderr));
    assert!(text.contains(&format!("running {scenarios} tests")), "one test per scenario:\n{text}");
    let result = text.lines().find(|l| l.contains("passed;") && !l.contains("0 passed")).expect("a result line");
    assert!(result.starts_with("test result: ok.") && result.contains(" 0 failed;"), "{result}");

    let broken = cargo_test(&["--features", "broken"]);
    let text = stdout(&broken);
    assert!(!broken.status.success(), "the planted bug must fail the suite:\n{text}");
    let failures: Vec<&str> = text
        .split("\nfailures:\n")
        .last()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| l.contains('.'))
        .collect();
    for id in ["expiry.virtual-clock-decides-expiry", "touch.extends-expiry"] {
        assert!(failures.contains(&id), "{id} must catch `get` showing expired sessions: {failures:?}");
    }
    assert!(text.contains(&format!("running {scenarios} tests")));
}

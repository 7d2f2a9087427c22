//! The linter's messages, as a scenario author sees them: every problem in a file reported with
//! `file:line:column` and what was expected.

use std::path::Path;

use sessionspec_scenario::{Op, ResultExpectation, Suite};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn render(problems: &[sessionspec_scenario::Diagnostic]) -> String {
    let root = fixtures().display().to_string();
    problems.iter().map(|p| p.render(false)).collect::<Vec<_>>().join("\n").replace(&root, "[fixtures]")
}

#[test]
fn every_problem_in_a_file_is_reported_with_its_location() {
    let (suite, problems) = Suite::load(&fixtures().join("bad"), &fixtures().join("spec"));
    assert!(suite.is_some());
    insta::assert_snapshot!(render(&problems));
}

#[test]
fn a_good_scenario_compiles_into_the_model() {
    let (suite, problems) = Suite::load(&fixtures().join("good"), &fixtures().join("spec"));
    assert!(problems.is_empty(), "{}", render(&problems));
    let suite = suite.unwrap();
    assert_eq!(suite.scenarios.len(), 1);
    let scenario = &suite.scenarios[0];
    assert_eq!(scenario.area, "core");
    assert_eq!(scenario.steps.len(), 8);
    assert!(matches!(scenario.steps[1].op, Op::Advance(d) if d.as_secs() == 8));
    assert!(matches!(scenario.steps[4].expect.result, ResultExpectation::Found(_)));
    assert_eq!(scenario.steps[4].location.line, 11);
    assert_eq!(scenario.total_advance().as_secs(), 16);
    assert!(suite.digest.starts_with("sha256:"));
    let coverage = suite.coverage_problems();
    let uncovered: Vec<&str> = coverage.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        uncovered,
        [
            "MUST requirement `GET-1` has no scenario checking it",
            "SHOULD requirement `EXPIRY-1` has no scenario checking it"
        ]
    );
}

/// The real spec loads cleanly: every requirement heading is well-formed, and
/// spec/capabilities.yaml lists exactly the contract's capabilities in the contract's order.
#[test]
fn the_published_spec_and_capability_registry_agree_with_the_contract() {
    let spec_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec");
    let spec = sessionspec_scenario::Spec::load(&spec_dir).unwrap_or_else(|problems| panic!("{problems:#?}"));
    let registry: Vec<&str> = spec.capabilities.iter().map(|c| c.name.as_str()).collect();
    let contract: Vec<&str> = sessionspec_contract::Capability::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(registry, contract);
    assert!(spec.requirements.len() >= 100, "{} requirements", spec.requirements.len());
}

#[test]
fn a_file_nested_as_deep_as_yaml_allows_loads_on_a_small_stack() {
    // 55 maps inside a session, 60 levels in all (the reader allows 64), and 70: loading either
    // once took about 2 MiB of stack in a debug build, and overflowed a test thread.
    for depth in [55, 70] {
        let value = format!("{}1{}", "{k: ".repeat(depth), "}".repeat(depth));
        let text = format!(
            "id: core.deep\ntitle: a deep value\nchecks: [GET-1]\nsteps:\n  - set: {{sid: a, session: {{cookie: {{expires: +1h}}, d: {value}}}}}\n  - get: a\n    expect: absent\n"
        );
        let loaded = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let path = Path::new("core/deep.yaml");
                sessionspec_scenario::load_text(path, &std::sync::Arc::from(text.as_str()), Some("core"), None)
            })
            .unwrap()
            .join()
            .expect("no overflow");
        let messages: Vec<&str> = loaded.problems.iter().map(|p| p.message.as_str()).collect();
        if depth == 70 {
            assert!(messages.iter().any(|m| m.contains("nested more than 64 levels deep")), "{messages:?}");
        } else {
            assert!(messages.is_empty(), "{messages:?}");
        }
    }
}

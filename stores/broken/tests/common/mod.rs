//! What the server tests of the broken stores share: the corpus, and their cases' outcomes as
//! lines for a failure message.

use sessionspec_report::CaseResult;
use sessionspec_scenario::Suite;

/// The repository's scenarios and spec, with no problem in them.
pub fn suite() -> Suite {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (suite, problems) = Suite::load(&root.join("scenarios"), &root.join("spec"));
    assert!(problems.is_empty(), "the corpus has problems: {problems:#?}");
    suite.expect("the corpus loads")
}

/// `scenario outcome: message`, a line per case, sorted.
pub fn outcomes(results: &[CaseResult]) -> Vec<String> {
    let mut lines: Vec<String> = results
        .iter()
        .map(|r| {
            format!("{} {}: {}", r.scenario, r.outcome, r.detail.as_ref().map(|d| d.message.as_str()).unwrap_or(""))
        })
        .collect();
    lines.sort();
    lines
}

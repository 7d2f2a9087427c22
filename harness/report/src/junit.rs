//! JUnit XML for CI: one test suite per target, one test case per scenario. Failures and
//! timeouts are failures, errors are errors, not-applicable cases are skipped with the reason.
//! With expectation files applied, the XML says what the exit code says: a known failure is
//! skipped with its written reason, a new failure or a stale entry is a failure, and a case that
//! passed only on a retry is a success marked flaky with its first failure.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::expectations::{Expectations, Verdict};
use crate::model::{CaseResult, Outcome, Results};

/// Expectation files and the verdict they gave on the results being rendered.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    /// The files, for the reasons of known failures.
    pub files: &'a [Expectations],
    /// What [`crate::expectations::check`] said.
    pub verdict: &'a Verdict,
}

/// Renders the results as JUnit XML; with `judged`, known failures are skipped and stale entries
/// fail, so that the failure count is non-zero exactly when the run's exit code is.
pub fn render(results: &Results, judged: Option<Judged<'_>>) -> String {
    report(results, judged).to_string().unwrap_or_else(|e| format!("<!-- could not render JUnit: {e} -->\n"))
}

/// The report [`render`] writes, for callers that want its counts.
pub fn report(results: &Results, judged: Option<Judged<'_>>) -> Report {
    let mut report = Report::new("sessionspec");
    for target in &results.header.targets {
        let mut suite = TestSuite::new(target.id.clone());
        let mut cases: Vec<_> = results.results.iter().filter(|r| r.target == target.id).collect();
        cases.sort_by(|a, b| (&a.area, &a.scenario).cmp(&(&b.area, &b.scenario)));
        for r in cases {
            let mut case = TestCase::new(r.scenario.clone(), status(r, judged));
            case.set_classname(format!("{}.{}", target.id, r.area));
            case.set_time(std::time::Duration::from_millis(r.duration_ms));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    // Stale entries naming no result (a scenario id the suite lacks) still fail the run.
    if let Some(j) = judged {
        let mut suite = TestSuite::new("expectations");
        for (target, scenario, what) in &j.verdict.stale {
            if results.results.iter().any(|r| &r.target == target && &r.scenario == scenario) {
                continue;
            }
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("stale-expectation");
            s.set_message(format!("stale expectation for {scenario} on {target}: {what}"));
            let mut case = TestCase::new(scenario.clone(), s);
            case.set_classname(format!("{target}.expectations"));
            suite.add_test_case(case);
        }
        if !suite.test_cases.is_empty() {
            report.add_test_suite(suite);
        }
    }
    report
}

fn status(r: &CaseResult, judged: Option<Judged<'_>>) -> TestCaseStatus {
    let key = |t: &String, s: &String| t == &r.target && s == &r.scenario;
    if let Some(j) = judged {
        if let Some((_, _, what)) = j.verdict.stale.iter().find(|(t, s, _)| key(t, s)) {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("stale-expectation");
            s.set_message(format!("stale expectation: {what}; update or remove the entry"));
            return s;
        }
        if r.outcome.is_failure() && j.verdict.expected.iter().any(|(t, s)| key(t, s)) {
            let known = j
                .files
                .iter()
                .filter(|f| f.target == r.target)
                .flat_map(|f| &f.known)
                .find(|k| k.scenario == r.scenario);
            let mut s = TestCaseStatus::skipped();
            s.set_type("known-failure");
            s.set_message(match known {
                Some(k) => format!("known {}: {} ({})", r.outcome, k.reason, k.link),
                None => format!("known {}", r.outcome),
            });
            return s;
        }
    }
    match r.outcome {
        Outcome::Pass => {
            let mut s = TestCaseStatus::success();
            if r.is_flaky() {
                // The detail of a flaky pass is its first failure.
                let mut first = TestRerun::new(NonSuccessKind::Failure);
                first.set_type("flaky");
                match &r.detail {
                    Some(d) => {
                        first.set_message(format!("passed on attempt {}; the first failed: {}", r.attempts, d.message));
                        first.set_description(description(r));
                    }
                    None => {
                        first.set_message(format!("passed on attempt {}", r.attempts));
                    }
                }
                s.add_rerun(first);
            }
            s
        }
        Outcome::NotApplicable => {
            let mut s = TestCaseStatus::skipped();
            if let Some(d) = &r.detail {
                s.set_message(d.message.clone());
            }
            s
        }
        outcome => {
            let kind = if outcome == Outcome::Error { NonSuccessKind::Error } else { NonSuccessKind::Failure };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_type(outcome.name());
            if let Some(d) = &r.detail {
                s.set_message(d.message.clone());
                s.set_description(description(r));
            }
            s
        }
    }
}

fn description(r: &CaseResult) -> String {
    let Some(d) = &r.detail else { return String::new() };
    let mut description = format!("at {}\n", d.step.as_deref().unwrap_or(&r.position));
    if let (Some(e), Some(a)) = (&d.expected, &d.actual) {
        description.push_str(&crate::summary::diff(e, a, false));
    }
    if let Some(log) = &d.log {
        description.push_str(log);
    }
    description
}

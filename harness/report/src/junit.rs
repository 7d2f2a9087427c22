//! JUnit XML for CI: one test suite per target, one test case per scenario. Failures and
//! timeouts are failures, errors are errors, not-applicable cases are skipped with the reason.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::model::{Outcome, Results};

/// Renders the results as JUnit XML.
pub fn render(results: &Results) -> String {
    let mut report = Report::new("sessionspec");
    for target in &results.header.targets {
        let mut suite = TestSuite::new(target.id.clone());
        let mut cases: Vec<_> = results.results.iter().filter(|r| r.target == target.id).collect();
        cases.sort_by(|a, b| (&a.area, &a.scenario).cmp(&(&b.area, &b.scenario)));
        for r in cases {
            let status = match r.outcome {
                Outcome::Pass => TestCaseStatus::success(),
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
                        let mut description = format!("at {}\n", d.step.as_deref().unwrap_or(&r.position));
                        if let (Some(e), Some(a)) = (&d.expected, &d.actual) {
                            description.push_str(&crate::summary::diff(e, a, false));
                        }
                        if let Some(log) = &d.log {
                            description.push_str(log);
                        }
                        s.set_description(description);
                    }
                    s
                }
            };
            let mut case = TestCase::new(r.scenario.clone(), status);
            case.set_classname(format!("{}.{}", target.id, r.area));
            case.set_time(std::time::Duration::from_millis(r.duration_ms));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_else(|e| format!("<!-- could not render JUnit: {e} -->\n"))
}

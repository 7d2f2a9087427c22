//! `--expectations` and `--write-expectations` for `sessionspec run`: glue between the flags and
//! `sessionspec_report::expectations`. With expectation files, known failures keep the exit code
//! at 0 while new and stale ones make it 1; junit.xml is written from the same verdict.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sessionspec_report::Results;
use sessionspec_report::expectations::{self, Expectations, Verdict};
use sessionspec_report::junit::Judged;

use crate::{EXIT_FAILURES, EXIT_INCOMPLETE, EXIT_OK};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Known failures")]
pub struct ExpectArgs {
    /// An expectation file listing a target's known failures (repeatable): listed failures keep
    /// the exit code at 0; a new failure, or a listed one that passes or fails differently, makes
    /// it 1 (reports/expectations/*.toml)
    #[arg(long = "expectations", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write one expectation file per target into DIR from this run's failures, keeping the
    /// reasons and links of the files given with --expectations
    #[arg(long, value_name = "DIR")]
    pub write_expectations: Option<PathBuf>,
}

/// Expectation files applied to one run's results.
#[derive(Debug)]
pub struct Applied {
    files: Vec<(String, Expectations)>,
    plain: Vec<Expectations>,
    verdict: Verdict,
}

impl Applied {
    /// The view the JUnit rendering takes.
    pub fn judged(&self) -> Judged<'_> {
        Judged { files: &self.plain, verdict: &self.verdict }
    }
}

/// Reads every file given, so that a bad one stops the run before it starts.
pub fn load(args: &ExpectArgs) -> anyhow::Result<Vec<(String, Expectations)>> {
    args.files.iter().map(|path| Ok((path.display().to_string(), Expectations::read(path)?))).collect()
}

/// Writes new expectation files if asked, and applies the files given (`None` when none was).
pub fn apply(args: &ExpectArgs, results: &Results, suite: &BTreeSet<String>) -> anyhow::Result<Option<Applied>> {
    let files = load(args)?;
    let plain: Vec<Expectations> = files.iter().map(|(_, e)| e.clone()).collect();
    if let Some(dir) = &args.write_expectations {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (target, text, count) in expectations::write(results, &plain, "../../spec/session-store.md") {
            let path = dir.join(Expectations::file_name(&target));
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {}: {} of {target}; check each reason and link, then pass it with --expectations",
                path.display(),
                sessionspec_report::plural(count, "known failure", "known failures")
            );
        }
    }
    Ok(applied(files, results, suite))
}

fn applied(files: Vec<(String, Expectations)>, results: &Results, suite: &BTreeSet<String>) -> Option<Applied> {
    if files.is_empty() {
        return None;
    }
    let plain: Vec<Expectations> = files.iter().map(|(_, e)| e.clone()).collect();
    let verdict = expectations::check(results, &plain, suite);
    Some(Applied { files, plain, verdict })
}

/// Prints the verdict and returns the exit code: `code` when no file was given. With `json`,
/// stdout gets the verdict as one more JSON line (`"type": "expectations"`) and the human
/// rendering goes to stderr, so stdout stays JSON lines (the npm package's `conformance()` reads it).
pub fn finish(applied: Option<&Applied>, results: &Results, code: u8, json: bool) -> u8 {
    let Some(a) = applied else { return code };
    if json {
        eprint!("{}", expectations::render(&a.verdict, &a.files));
        outln!("{}", verdict_json(&a.verdict));
    } else {
        out!("{}", expectations::render(&a.verdict, &a.files));
    }
    exit_code(Some(a), results, code)
}

/// The verdict as one JSON line: which failures were listed, which are new, which entries are stale.
fn verdict_json(verdict: &expectations::Verdict) -> serde_json::Value {
    let pair = |(target, scenario): &(String, String)| serde_json::json!({"target": target, "scenario": scenario});
    serde_json::json!({
        "type": "expectations",
        "expected": verdict.expected.iter().map(pair).collect::<Vec<_>>(),
        "new": verdict.new.iter().map(|(target, scenario, outcome, message)| serde_json::json!({
            "target": target, "scenario": scenario, "outcome": outcome, "message": message,
        })).collect::<Vec<_>>(),
        "stale": verdict.stale.iter().map(|(target, scenario, why)| serde_json::json!({
            "target": target, "scenario": scenario, "why": why,
        })).collect::<Vec<_>>(),
        "not_run": verdict.not_run.iter().map(pair).collect::<Vec<_>>(),
    })
}

fn exit_code(applied: Option<&Applied>, results: &Results, code: u8) -> u8 {
    match applied {
        None => code,
        Some(_) if results.incomplete() => EXIT_INCOMPLETE,
        Some(a) if a.verdict.holds() => EXIT_OK,
        Some(_) => EXIT_FAILURES,
    }
}

#[cfg(test)]
mod tests {
    //! The exit code and junit.xml are two views of one verdict: in every combination of pass,
    //! known failure, new failure, stale expectation and flaky, both say the same.

    use sessionspec_report::{CaseResult, Detail, Footer, Harness, Header, Outcome, Target};

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        Pass,
        Known,
        New,
        Stale,
        Flaky,
    }

    const KINDS: [Kind; 5] = [Kind::Pass, Kind::Known, Kind::New, Kind::Stale, Kind::Flaky];

    fn case(scenario: &str, outcome: Outcome, attempts: u32) -> CaseResult {
        CaseResult {
            scenario: scenario.into(),
            area: "core".into(),
            title: "t".into(),
            position: format!("scenarios/core/{scenario}.yaml:1"),
            checks: vec!["GET-1".into()],
            level: "MUST".into(),
            refs: vec![],
            target: "node:x".into(),
            outcome,
            duration_ms: 1,
            attempts,
            detail: (outcome != Outcome::Pass || attempts > 1)
                .then(|| Detail { message: "got null".into(), ..Detail::default() }),
        }
    }

    /// One run holding one case of each kind in `kinds`, with the expectation file that makes
    /// each one what it is named.
    fn run(kinds: &[Kind]) -> (Results, Expectations) {
        let mut results = Vec::new();
        let mut known = String::from("target = \"node:x\"\n");
        for (i, kind) in kinds.iter().enumerate() {
            let id = format!("s{i}");
            let entry = |outcome: &str| {
                format!(
                    "[[known]]\nscenario = \"{id}\"\noutcome = \"{outcome}\"\nreason = \"why {id}\"\nlink = \"L\"\n"
                )
            };
            match kind {
                Kind::Pass => results.push(case(&id, Outcome::Pass, 1)),
                Kind::Known => {
                    results.push(case(&id, Outcome::Fail, 1));
                    known.push_str(&entry("fail"));
                }
                Kind::New => results.push(case(&id, Outcome::Error, 1)),
                // Listed as failing, but passes.
                Kind::Stale => {
                    results.push(case(&id, Outcome::Pass, 1));
                    known.push_str(&entry("fail"));
                }
                Kind::Flaky => results.push(case(&id, Outcome::Pass, 2)),
            }
        }
        let target: Target = serde_json::from_value(serde_json::json!({
            "id": "node:x", "store": "x", "store_version": "1", "language": "javascript",
            "backend": "memory", "backend_version": null, "capabilities": []
        }))
        .expect("a target");
        let results = Results {
            header: Header {
                format: 1,
                harness: Harness { name: "sessionspec".into(), version: "0".into() },
                spec_version: "0.1.0".into(),
                suite_digest: "sha256:x".into(),
                started: chrono::Utc::now(),
                targets: vec![target],
            },
            results,
            footer: Some(Footer {
                finished: chrono::Utc::now(),
                counts: Default::default(),
                incomplete: false,
                reason: None,
            }),
        };
        (results, Expectations::parse(&known).expect("a valid expectation file"))
    }

    #[test]
    fn exit_code_and_junit_agree_in_every_combination() {
        let mut checked = 0;
        // Every subset of the five kinds, each present once or twice.
        for mask in 0u32..3u32.pow(KINDS.len() as u32) {
            let mut kinds = Vec::new();
            let mut m = mask;
            for kind in KINDS {
                for _ in 0..m % 3 {
                    kinds.push(kind);
                }
                m /= 3;
            }
            let (results, file) = run(&kinds);
            let suite = results.results.iter().map(|r| r.scenario.clone()).collect();
            let applied = applied(vec![("x.toml".into(), file)], &results, &suite).expect("a file was given");
            let code = exit_code(Some(&applied), &results, crate::run::exit_code(&results));
            let xml = sessionspec_report::junit::render(&results, Some(applied.judged()));
            let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("the XML reads back");
            let failing = parsed.failures + parsed.errors;
            let bad = kinds.iter().filter(|k| matches!(k, Kind::New | Kind::Stale)).count();
            assert_eq!(failing, bad, "{kinds:?}: JUnit failures + errors\n{xml}");
            assert_eq!(code == EXIT_FAILURES, failing > 0, "{kinds:?}: exit code {code}, JUnit {failing}\n{xml}");
            assert_eq!(code == EXIT_OK, failing == 0, "{kinds:?}: exit code {code}");
            let known = kinds.iter().filter(|k| **k == Kind::Known).count();
            let skipped: usize = parsed
                .test_suites
                .iter()
                .flat_map(|s| &s.test_cases)
                .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::Skipped { .. }))
                .count();
            assert_eq!(skipped, known, "{kinds:?}: known failures are skipped\n{xml}");
            let flaky = kinds.iter().filter(|k| **k == Kind::Flaky).count();
            assert_eq!(xml.matches("<flakyFailure").count(), flaky, "{kinds:?}: flaky cases\n{xml}");
            checked += 1;
        }
        assert_eq!(checked, 243);
    }

    #[test]
    fn a_stale_entry_for_a_scenario_the_suite_lacks_fails_in_junit_too() {
        let (results, _) = run(&[Kind::Pass]);
        let file = Expectations::parse(
            "target = \"node:x\"\n[[known]]\nscenario = \"gone\"\noutcome = \"fail\"\nreason = \"r\"\nlink = \"L\"\n",
        )
        .unwrap();
        let suite = ["s0".to_owned()].into();
        let applied = applied(vec![("x.toml".into(), file)], &results, &suite).unwrap();
        assert_eq!(exit_code(Some(&applied), &results, EXIT_OK), EXIT_FAILURES);
        let xml = sessionspec_report::junit::render(&results, Some(applied.judged()));
        let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(parsed.failures, 1, "{xml}");
        assert!(xml.contains("no scenario has this id"), "{xml}");
    }
}

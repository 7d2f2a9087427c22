//! Expectation files: the known failures of one target, each with a reason and a link, checked
//! against a run with strict-xfail rules. A listed failure that still fails the same way is
//! expected; any other failure is new; a listed failure that passes, fails another way or names
//! a scenario the suite lacks is stale. New and stale both fail the run, so the files cannot rot.
//! This module reads results only; it never runs anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::model::{CaseResult, Outcome, Results};

/// One target's known failures.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The target id they belong to (`node:redis`).
    pub target: String,
    /// The known failures.
    #[serde(default)]
    pub known: Vec<Known>,
}

/// One known failure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// The scenario id.
    pub scenario: String,
    /// How it fails: `fail`, `error` or `timeout`.
    pub outcome: Outcome,
    /// Other outcomes it is known to have from run to run (a race the store loses only
    /// sometimes), like web-platform-tests' known-intermittent statuses: any of these is
    /// expected too, and never makes the entry stale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intermittent: Vec<Outcome>,
    /// Why, in a sentence a maintainer can check.
    pub reason: String,
    /// The upstream issue, or the requirement in the spec.
    pub link: String,
}

/// Why an expectation file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectationsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with the location toml gives.
        message: String,
    },
}

impl Expectations {
    /// Reads and checks one file.
    pub fn read(path: &Path) -> Result<Expectations, ExpectationsError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ExpectationsError::Read { path: shown.clone(), source })?;
        Expectations::parse(&text).map_err(|message| ExpectationsError::Invalid { path: shown, message })
    }

    /// Parses and checks the text of one file.
    pub fn parse(text: &str) -> Result<Expectations, String> {
        let parsed: Expectations = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = BTreeSet::new();
        for k in &parsed.known {
            if !k.outcome.is_failure() {
                return Err(format!(
                    "`{}`: outcome must be fail, error or timeout, not `{}` (a known failure is a failure)",
                    k.scenario, k.outcome
                ));
            }
            if k.reason.trim().is_empty() || k.link.trim().is_empty() {
                return Err(format!("`{}`: every known failure needs a reason and a link", k.scenario));
            }
            if !seen.insert(k.scenario.as_str()) {
                return Err(format!("`{}` is listed twice", k.scenario));
            }
        }
        Ok(parsed)
    }

    /// The file name for a target's expectations: the id with `:` and `@` turned into `-`.
    pub fn file_name(target: &str) -> String {
        let slug: String =
            target.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
        format!("{slug}.toml")
    }
}

/// What a run means once expectations are applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Failures that were listed, and failed as listed.
    pub expected: Vec<(String, String)>,
    /// Failures nobody listed: a new divergence (target, scenario, outcome, message).
    pub new: Vec<(String, String, Outcome, String)>,
    /// Listed failures that did not happen as listed (target, scenario, what happened instead).
    pub stale: Vec<(String, String, String)>,
    /// Listed failures whose scenario was not part of this run (a selection): not judged.
    pub not_run: Vec<(String, String)>,
}

impl Verdict {
    /// Whether the run meets its expectations.
    pub fn holds(&self) -> bool {
        self.new.is_empty() && self.stale.is_empty()
    }
}

/// Applies `files` to `results`. Targets without a file are held to "no failure at all".
/// `suite` is every scenario id of the suite, so that a listed id that no longer exists is stale
/// even when the run selected only some scenarios.
pub fn check(results: &Results, files: &[Expectations], suite: &BTreeSet<String>) -> Verdict {
    let mut verdict = Verdict::default();
    let by_target: BTreeMap<&str, &Expectations> = files.iter().map(|f| (f.target.as_str(), f)).collect();
    let run: BTreeMap<(&str, &str), &CaseResult> =
        results.results.iter().map(|r| ((r.target.as_str(), r.scenario.as_str()), r)).collect();
    for r in &results.results {
        let listed = by_target.get(r.target.as_str()).and_then(|f| f.known.iter().find(|k| k.scenario == r.scenario));
        match listed {
            // A pass that needed a retry still showed the failure: the entry is not stale.
            Some(k) if k.outcome == r.outcome || k.intermittent.contains(&r.outcome) || r.is_flaky() => {
                verdict.expected.push((r.target.clone(), r.scenario.clone()))
            }
            Some(k) => verdict.stale.push((
                r.target.clone(),
                r.scenario.clone(),
                format!("listed as `{}`, but this run says `{}`", k.outcome, r.outcome),
            )),
            None if r.outcome.is_failure() => verdict.new.push((
                r.target.clone(),
                r.scenario.clone(),
                r.outcome,
                r.detail.as_ref().map(|d| d.message.clone()).unwrap_or_default(),
            )),
            None => {}
        }
    }
    for file in files {
        for k in &file.known {
            if run.contains_key(&(file.target.as_str(), k.scenario.as_str())) {
                continue;
            }
            if !suite.contains(&k.scenario) {
                verdict.stale.push((file.target.clone(), k.scenario.clone(), "no scenario has this id".to_owned()));
            } else if results.header.targets.iter().any(|t| t.id == file.target) {
                verdict.not_run.push((file.target.clone(), k.scenario.clone()));
            }
        }
    }
    verdict
}

/// The verdict as text for the terminal.
pub fn render(verdict: &Verdict, files: &[(String, Expectations)]) -> String {
    let mut out = String::new();
    let file_of = |target: &str| {
        files
            .iter()
            .find(|(_, e)| e.target == target)
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| "its expectation file".into())
    };
    let _ = writeln!(
        out,
        "\nexpectations: {} as listed, {} new, {} stale{}",
        crate::plural(verdict.expected.len(), "known failure", "known failures"),
        verdict.new.len(),
        verdict.stale.len(),
        if verdict.not_run.is_empty() { String::new() } else { format!(", {} not run", verdict.not_run.len()) }
    );
    for (target, scenario, outcome, message) in &verdict.new {
        let _ = writeln!(out, "  NEW   {scenario} on {target}: {outcome}: {message}");
    }
    if !verdict.new.is_empty() {
        let _ = writeln!(
            out,
            "        a new divergence: fix the store, or list it in an expectation file with a reason and a link"
        );
    }
    for (target, scenario, what) in &verdict.stale {
        let _ = writeln!(out, "  STALE {scenario} on {target}: {what}; update or remove it in {}", file_of(target));
    }
    out
}

/// Whether an upstream URL belongs to the store named `store` (`connect-redis 9.0.0` owns
/// `github.com/tj/connect-redis/...`; express-session's MemoryStore owns `expressjs/session`).
fn names_store(url: &str, store: &str) -> bool {
    let name = store.split_whitespace().next().unwrap_or_default().to_lowercase();
    let repo = if name == "express-session" { "expressjs/session".to_owned() } else { name.clone() };
    !name.is_empty() && url.to_lowercase().contains(&repo)
}

/// Writes one expectation file per target with every failing result, keeping the reason and
/// link of entries already in `previous` (so hand-written reasons survive regeneration).
/// Returns the file text per target.
pub fn write(results: &Results, previous: &[Expectations], spec_link: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for target in &results.header.targets {
        let old = previous.iter().find(|e| e.target == target.id);
        // Failing results, plus those an intermittent entry expects to pass now and then.
        let intermittent = |r: &CaseResult| {
            old.and_then(|o| o.known.iter().find(|k| k.scenario == r.scenario))
                .is_some_and(|k| k.intermittent.contains(&r.outcome))
        };
        let mut failing: Vec<&CaseResult> = results
            .results
            .iter()
            .filter(|r| r.target == target.id && (r.outcome.is_failure() || intermittent(r)))
            .collect();
        failing.sort_by(|a, b| a.scenario.cmp(&b.scenario));
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# Known failures of {} ({} {} on {}{}) against spec {}.\n#\n# `sessionspec run --store {} --expectations THIS_FILE` passes while exactly these fail as\n# listed: any other failure is a new divergence, and a listed one that passes or fails\n# differently is stale; both fail the run. Written by `--write-expectations`; check every\n# reason and link before committing (reasons written by hand are kept on regeneration).\n",
            target.id,
            target.store,
            target.store_version,
            target.backend,
            target.backend_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default(),
            results.header.spec_version,
            target.id,
        );
        let _ = writeln!(text, "target = {}", quote(&target.id));
        for r in &failing {
            let kept = old.and_then(|o| o.known.iter().find(|k| k.scenario == r.scenario));
            let (outcome, also) = match kept {
                Some(k) if k.intermittent.contains(&r.outcome) || k.outcome == r.outcome => {
                    (k.outcome, k.intermittent.clone())
                }
                _ => (r.outcome, Vec::new()),
            };
            let (reason, link) = match kept {
                Some(k) => (k.reason.clone(), k.link.clone()),
                None => {
                    let message = r.detail.as_ref().map(|d| d.message.as_str()).unwrap_or("failed");
                    // An upstream issue only when it is this store's own; otherwise the requirement.
                    let link = r.refs.iter().find(|u| names_store(u, &target.store)).cloned().unwrap_or_else(|| {
                        format!("{spec_link}#{}", r.checks.first().map(|c| c.to_lowercase()).unwrap_or_default())
                    });
                    (format!("{} ({}): {}", r.checks.join(", "), r.level, one_line(message)), link)
                }
            };
            let _ =
                writeln!(text, "\n[[known]]\nscenario = {}\noutcome = {}", quote(&r.scenario), quote(outcome.name()));
            if !also.is_empty() {
                let names: Vec<String> = also.iter().map(|o| quote(o.name())).collect();
                let _ = writeln!(text, "intermittent = [{}]", names.join(", "));
            }
            let _ = writeln!(text, "reason = {}\nlink = {}", quote(&reason), quote(&link));
        }
        out.push((target.id.clone(), text, failing.len()));
    }
    out
}

fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > 300 {
        format!("{}...", line.chars().take(297).collect::<String>())
    } else {
        line.to_owned()
    }
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::{Footer, Harness, Header, Target};

    fn result(scenario: &str, outcome: Outcome) -> CaseResult {
        CaseResult {
            scenario: scenario.into(),
            area: "core".into(),
            title: "t".into(),
            position: "scenarios/core/x.yaml:1".into(),
            checks: vec!["GET-1".into()],
            level: "MUST".into(),
            refs: vec![],
            target: "node:x".into(),
            outcome,
            duration_ms: 1,
            attempts: 1,
            detail: None,
        }
    }

    fn results(rs: Vec<CaseResult>) -> Results {
        Results {
            header: Header {
                format: 1,
                harness: Harness { name: "sessionspec".into(), version: "0".into() },
                spec_version: "0.1.0".into(),
                suite_digest: "sha256:x".into(),
                started: Utc::now(),
                // Built from JSON so that fields added to `Target` later keep their defaults.
                targets: vec![
                    serde_json::from_value::<Target>(serde_json::json!({
                        "id": "node:x", "store": "x", "store_version": "1", "language": "javascript",
                        "backend": "memory", "backend_version": null, "capabilities": []
                    }))
                    .expect("a target"),
                ],
            },
            results: rs,
            footer: Some(Footer { finished: Utc::now(), counts: Default::default(), incomplete: false, reason: None }),
        }
    }

    #[test]
    fn strict_xfail() {
        let file = Expectations::parse(
            r#"
target = "node:x"
[[known]]
scenario = "a"
outcome = "fail"
reason = "r"
link = "https://example.org/1"
[[known]]
scenario = "b"
outcome = "fail"
reason = "r"
link = "l"
[[known]]
scenario = "gone"
outcome = "error"
reason = "r"
link = "l"
"#,
        )
        .unwrap();
        let suite: BTreeSet<String> = ["a", "b", "c", "d"].into_iter().map(String::from).collect();
        let run = results(vec![
            result("a", Outcome::Fail),
            result("b", Outcome::Pass),
            result("c", Outcome::Error),
            result("d", Outcome::NotApplicable),
        ]);
        let v = check(&run, &[file], &suite);
        assert_eq!(v.expected, [("node:x".to_owned(), "a".to_owned())]);
        assert_eq!(v.new.iter().map(|n| n.1.as_str()).collect::<Vec<_>>(), ["c"]);
        assert_eq!(v.stale.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), ["b", "gone"]);
        assert!(!v.holds());
    }

    #[test]
    fn intermittent_outcomes_are_expected_and_kept() {
        let file = Expectations::parse(
            "target = \"node:x\"\n[[known]]\nscenario = \"a\"\noutcome = \"fail\"\nintermittent = [\"pass\"]\nreason = \"race\"\nlink = \"l\"\n",
        )
        .unwrap();
        let suite: BTreeSet<String> = ["a"].into_iter().map(String::from).collect();
        for outcome in [Outcome::Fail, Outcome::Pass] {
            let v = check(&results(vec![result("a", outcome)]), std::slice::from_ref(&file), &suite);
            assert!(v.holds(), "{outcome}: {v:?}");
        }
        let v = check(&results(vec![result("a", Outcome::Error)]), std::slice::from_ref(&file), &suite);
        assert_eq!(v.stale.len(), 1, "an outcome neither listed nor intermittent is stale");
        let mut flaky = result("a", Outcome::Pass);
        flaky.attempts = 2;
        let v = check(&results(vec![flaky]), &[file], &suite);
        assert!(v.holds(), "a listed failure that passed only on a retry is not stale: {v:?}");
    }

    #[test]
    fn links_name_only_the_store_own_issues() {
        assert!(names_store("https://github.com/tj/connect-redis/issues/259", "connect-redis 9.0.0"));
        assert!(!names_store("https://github.com/tj/connect-redis/issues/346", "express-session MemoryStore 1.19.0"));
        assert!(names_store("https://github.com/expressjs/session/issues/76", "express-session MemoryStore 1.19.0"));
        assert!(!names_store("https://github.com/jdesboeufs/connect-mongo/issues/413", "connect-redis 9.0.0"));
        assert!(names_store(
            "https://github.com/voxpelli/node-connect-pg-simple/issues/25",
            "connect-pg-simple 10.0.0"
        ));
    }

    #[test]
    fn rejects_known_passes_and_missing_reasons() {
        let e = Expectations::parse(
            "target = \"t\"\n[[known]]\nscenario = \"a\"\noutcome = \"pass\"\nreason = \"r\"\nlink = \"l\"\n",
        )
        .unwrap_err();
        assert!(e.contains("outcome must be fail, error or timeout"), "{e}");
        let e = Expectations::parse(
            "target = \"t\"\n[[known]]\nscenario = \"a\"\noutcome = \"fail\"\nreason = \"\"\nlink = \"l\"\n",
        )
        .unwrap_err();
        assert!(e.contains("needs a reason and a link"), "{e}");
    }

    #[test]
    fn written_files_read_back_and_keep_reasons() {
        let run = results(vec![result("a", Outcome::Fail), result("b", Outcome::Pass)]);
        let previous = Expectations {
            target: "node:x".into(),
            known: vec![
                Known {
                    scenario: "a".into(),
                    outcome: Outcome::Fail,
                    intermittent: Vec::new(),
                    reason: "by hand".into(),
                    link: "L".into(),
                },
                Known {
                    scenario: "b".into(),
                    outcome: Outcome::Fail,
                    intermittent: vec![Outcome::Pass],
                    reason: "a race it loses now and then".into(),
                    link: "L".into(),
                },
            ],
        };
        let written = write(&run, &[previous], "spec/session-store.md");
        let back = Expectations::parse(&written[0].1).unwrap();
        assert_eq!(back.known.len(), 2, "the intermittent entry that passed this time is kept");
        assert_eq!(back.known[0].reason, "by hand");
        assert_eq!(
            (back.known[1].outcome, back.known[1].intermittent.as_slice()),
            (Outcome::Fail, &[Outcome::Pass][..])
        );
        assert_eq!(Expectations::file_name("node:knex-sqlite"), "node-knex-sqlite.toml");
    }
}

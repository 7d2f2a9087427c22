//! Where a store stands, in the terms a reader choosing a store asks about: MUST failures, SHOULD
//! failures, passes over the cases that apply to it, and the capabilities it lacks. The Markdown
//! summary, the site, its badges and its JSON all read this one computation.

use std::collections::BTreeSet;

use crate::model::{Outcome, Results, Target};

/// One target's standing in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The target id.
    pub target: String,
    /// Cases that passed (flaky ones included).
    pub passes: usize,
    /// Cases that apply to it: every case that was not "not applicable".
    pub applicable: usize,
    /// Cases that did not apply (a capability it lacks, or more real time than the budget).
    pub not_applicable: usize,
    /// Failing cases (fail, error or timeout) whose strongest requirement is a MUST.
    pub must_failures: usize,
    /// Failing cases whose strongest requirement is a SHOULD or a MAY.
    pub should_failures: usize,
    /// Cases that passed only on a retry.
    pub flaky: usize,
    /// The capabilities some scenario needed and the store does not declare, sorted.
    pub lacks: Vec<String>,
}

impl Standing {
    /// Computes the standing of `target` from `results`.
    pub fn of(results: &Results, target: &str) -> Standing {
        let mut s = Standing {
            target: target.to_owned(),
            passes: 0,
            applicable: 0,
            not_applicable: 0,
            must_failures: 0,
            should_failures: 0,
            flaky: 0,
            lacks: Vec::new(),
        };
        let mut lacks = BTreeSet::new();
        for r in results.results.iter().filter(|r| r.target == target) {
            match r.outcome {
                Outcome::NotApplicable => {
                    s.not_applicable += 1;
                    if let Some(d) = &r.detail {
                        lacks.extend(d.missing.iter().cloned());
                    }
                    continue;
                }
                Outcome::Pass => {
                    s.passes += 1;
                    s.flaky += usize::from(r.is_flaky());
                }
                _ if r.level == "MUST" => s.must_failures += 1,
                _ => s.should_failures += 1,
            }
            s.applicable += 1;
        }
        s.lacks = lacks.into_iter().collect();
        s
    }

    /// Every target of `results`, in column order.
    pub fn all(results: &Results) -> Vec<(Target, Standing)> {
        results.header.targets.iter().map(|t| (t.clone(), Standing::of(results, &t.id))).collect()
    }

    /// The standing in words: "conforms to every MUST it supports", "14 MUST failures".
    pub fn words(&self) -> String {
        match (self.must_failures, self.should_failures) {
            (0, 0) if self.applicable == 0 => "nothing applied to it".to_owned(),
            (0, 0) => "conforms to every requirement it supports".to_owned(),
            (0, n) => {
                format!("conforms to every MUST it supports; {}", crate::plural(n, "SHOULD failure", "SHOULD failures"))
            }
            (m, _) => crate::plural(m, "MUST failure", "MUST failures"),
        }
    }

    /// A rank for sorting a table of stores best first: fewer MUST failures, then fewer SHOULD
    /// failures, then more passes.
    pub fn rank(&self) -> (usize, usize, std::cmp::Reverse<usize>) {
        (self.must_failures, self.should_failures, std::cmp::Reverse(self.passes))
    }

    /// The colour of its badge: green with no failure, yellow with SHOULD failures only, red
    /// with a MUST failure.
    pub fn colour(&self) -> &'static str {
        match (self.must_failures, self.should_failures) {
            (0, 0) => "brightgreen",
            (0, _) => "yellow",
            _ => "red",
        }
    }
}

/// The family a target belongs to, for grouping: the language its store is written in, named
/// the way a reader knows it; the stores run as tower-sessions stores (`tower:` targets) apart.
pub fn family(target: &Target) -> &'static str {
    if target.id.starts_with("tower:") {
        return "tower-sessions stores (Rust, through the tower-sessions adapter)";
    }
    match target.language.as_str() {
        "rust" => "Rust stores (sessionspec's reference stores)",
        "javascript" | "js" | "node" => "npm stores (express-session, through the express adapter)",
        _ => "Other stores (through an adapter)",
    }
}

/// The store as a reader names it: `connect-redis 9.0.0 on redis 7.0.15`.
pub fn label(target: &Target) -> String {
    format!(
        "{} {} on {}{}",
        target.store,
        target.store_version,
        target.backend,
        target.backend_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let base = Standing {
            target: "t".into(),
            passes: 3,
            applicable: 3,
            not_applicable: 0,
            must_failures: 0,
            should_failures: 0,
            flaky: 0,
            lacks: vec![],
        };
        assert_eq!(base.words(), "conforms to every requirement it supports");
        let should = Standing { should_failures: 2, ..base.clone() };
        assert_eq!(should.words(), "conforms to every MUST it supports; 2 SHOULD failures");
        assert_eq!(should.colour(), "yellow");
        let must = Standing { must_failures: 14, should_failures: 1, ..base };
        assert_eq!(must.words(), "14 MUST failures");
        assert_eq!(must.colour(), "red");
    }
}

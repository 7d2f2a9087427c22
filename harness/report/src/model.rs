//! The results model: what a run found, as one canonical JSON-lines file. A header (harness,
//! suite, targets), one record per scenario × target, and a footer with counts and an explicit
//! `incomplete` flag. Every rendering reads this and nothing else.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The version of this file format; readers refuse files with a different major version.
pub const FORMAT_VERSION: u32 = 1;

/// One line of a results file.
// Records are built one at a time to be written or just read; their size never matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    /// The first line.
    Header(Header),
    /// One scenario × target.
    Result(CaseResult),
    /// The last line.
    Footer(Footer),
}

/// What ran, on what, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The results format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The harness's name and version.
    pub harness: Harness,
    /// The spec version the suite was checked against.
    pub spec_version: String,
    /// `sha256:` digest of the scenario files and the spec.
    pub suite_digest: String,
    /// When the run started.
    pub started: DateTime<Utc>,
    /// The targets, in column order.
    pub targets: Vec<Target>,
}

/// The harness that produced a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Harness {
    /// `sessionspec`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A store on a backend: one column of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The column id (`memory`, `redis`, `postgres@13`).
    pub id: String,
    /// The store's name.
    pub store: String,
    /// The store implementation's version.
    pub store_version: String,
    /// The language it is written in.
    pub language: String,
    /// The backend's name.
    pub backend: String,
    /// The backend's self-reported version.
    pub backend_version: Option<String>,
    /// How the backend was provided, when the harness provided it (`container
    /// sessionspec/redis:7 (local image; ...)`, `url (...)`, `local process (...)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Declared capabilities.
    pub capabilities: Vec<String>,
}

/// How a scenario went on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every expectation held.
    Pass,
    /// An expectation did not hold: the store answered, but not as the spec requires.
    Fail,
    /// The store lacks a capability the scenario needs, or the scenario needs more real time
    /// than the budget on a store whose server decides expiry.
    NotApplicable,
    /// The store (or its backend or adapter) failed where the scenario expected success.
    Error,
    /// A step or the scenario did not finish within its bound.
    Timeout,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 5] =
        [Outcome::Pass, Outcome::Fail, Outcome::NotApplicable, Outcome::Error, Outcome::Timeout];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NotApplicable => "not-applicable",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
        }
    }

    /// Whether this outcome means the store did not conform.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Fail | Outcome::Error | Outcome::Timeout)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One scenario on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The scenario id.
    pub scenario: String,
    /// Its area.
    pub area: String,
    /// Its title.
    pub title: String,
    /// Its file and the line of its id (`scenarios/core/get-missing.yaml:1`).
    pub position: String,
    /// The requirement IDs it checks.
    pub checks: Vec<String>,
    /// The strongest level among them (`MUST`, `SHOULD`, `MAY`).
    pub level: String,
    /// Upstream references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// The target's id.
    pub target: String,
    /// How it went.
    pub outcome: Outcome,
    /// How long it took, in milliseconds (the last attempt).
    pub duration_ms: u64,
    /// How many times it ran: more than once when `--retries` re-ran a failure. A case that
    /// passed only on a later attempt is *flaky*: its detail holds the first failure.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub attempts: u32,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl CaseResult {
    /// Whether it passed only after failing: a pass, but not one to rely on.
    pub fn is_flaky(&self) -> bool {
        self.outcome == Outcome::Pass && self.attempts > 1
    }
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detail {
    /// The failing step's position (`file:line`), when a step failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The failing step's operation (`get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// What went wrong, in a sentence.
    pub message: String,
    /// The expected value, pretty-printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The actual value, pretty-printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// For not-applicable: the capabilities the store lacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The error kind, when the store returned an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Diagnostic output from the store (an adapter's stderr, a history excerpt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footer {
    /// When it finished.
    pub finished: DateTime<Utc>,
    /// Results per outcome.
    pub counts: BTreeMap<Outcome, usize>,
    /// True when the run stopped before every case ran (interrupted, or a target could not be
    /// reached). An incomplete file is never a conformance claim.
    pub incomplete: bool,
    /// Why it is incomplete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A whole results file.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// Its header.
    pub header: Header,
    /// Its results, in file order.
    pub results: Vec<CaseResult>,
    /// Its footer; `None` when the file was cut off (which also means incomplete).
    pub footer: Option<Footer>,
}

impl Results {
    /// Whether the run is incomplete (no footer, or the footer says so).
    pub fn incomplete(&self) -> bool {
        self.footer.as_ref().is_none_or(|f| f.incomplete)
    }

    /// Results per outcome.
    pub fn counts(&self) -> BTreeMap<Outcome, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.results {
            *counts.entry(r.outcome).or_insert(0) += 1;
        }
        counts
    }

    /// Results per outcome for one target.
    pub fn target_counts(&self, target: &str) -> BTreeMap<Outcome, usize> {
        let mut counts = BTreeMap::new();
        for r in self.results.iter().filter(|r| r.target == target) {
            *counts.entry(r.outcome).or_insert(0) += 1;
        }
        counts
    }

    /// Why the run is incomplete, when it is.
    pub fn incomplete_reason(&self) -> Option<String> {
        self.incomplete().then(|| {
            self.footer
                .as_ref()
                .and_then(|f| f.reason.clone())
                .unwrap_or_else(|| "the results file has no footer".into())
        })
    }

    /// One target's summary cell: `(passes, applicable cases, " · 1 fail · 27 n/a")`.
    pub fn tally(&self, target: &str) -> (usize, usize, String) {
        let counts = self.target_counts(target);
        let n = |o: Outcome| counts.get(&o).copied().unwrap_or(0);
        let applicable = n(Outcome::Pass) + n(Outcome::Fail) + n(Outcome::Error) + n(Outcome::Timeout);
        let mut rest = String::new();
        for (o, label) in [
            (Outcome::Fail, "fail"),
            (Outcome::Error, "error"),
            (Outcome::Timeout, "timeout"),
            (Outcome::NotApplicable, "n/a"),
        ] {
            if n(o) > 0 {
                rest.push_str(&format!(" · {} {label}", n(o)));
            }
        }
        (n(Outcome::Pass), applicable, rest)
    }

    /// Whether any result is a failure.
    pub fn has_failures(&self) -> bool {
        self.results.iter().any(|r| r.outcome.is_failure())
    }
}

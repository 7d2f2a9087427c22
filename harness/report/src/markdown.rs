//! The Markdown rendering, written for GitHub at about 1,000 px: first a summary table a reader
//! choosing a store takes in at a glance (MUST failures, SHOULD failures, passes over applicable
//! cases, what it lacks), then one section per store family with every failure, its written
//! reason (from the expectation files), the requirement and the diff. Every emoji has its word
//! beside it. The full scenario × store matrix is the site's (`sessionspec site`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::expectations::Expectations;
use crate::model::{CaseResult, Outcome, Results};
use crate::standing::{self, Standing};

/// Where links point.
#[derive(Debug, Clone)]
pub struct Links {
    /// The path from the Markdown file's directory to the repository root (`../`, or empty).
    pub root: String,
}

impl Links {
    /// An expectation file's link as seen from the rendering: links written relative to
    /// `reports/expectations/` (`../../spec/...`) start from the repository root instead.
    pub fn known_link(&self, link: &str) -> String {
        match link.strip_prefix("../../") {
            Some(rest) => format!("{}{rest}", self.root),
            None => link.to_owned(),
        }
    }
}

/// An outcome as an emoji with its word.
pub fn cell(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅ pass",
        Outcome::Fail => "❌ fail",
        Outcome::Error => "⚠️ error",
        Outcome::Timeout => "⏱️ timeout",
        Outcome::NotApplicable => "➖ n/a",
    }
}

/// Renders the page. `known` gives the written reasons of known failures.
pub fn render(results: &Results, links: &Links, known: &[Expectations]) -> String {
    let mut out = String::new();
    let header = &results.header;
    let root = &links.root;
    let _ = writeln!(out, "# Session store compatibility\n");
    let _ = writeln!(
        out,
        "Produced by {} {} against spec {} (suite `{}`), started {}. Every figure below is computed from the results file; [spec/session-store.md]({root}spec/session-store.md) says what each requirement means.\n",
        header.harness.name,
        header.harness.version,
        header.spec_version,
        short_digest(&header.suite_digest),
        header.started.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(reason) = results.incomplete_reason() {
        let _ = writeln!(out, "> **Incomplete run:** {reason}. These results are not a conformance claim.\n");
    }

    // The summary: one row per store, best first.
    let mut stores = Standing::all(results);
    stores.sort_by_key(|(_, s)| s.rank());
    let _ = writeln!(out, "## Which store\n");
    let _ = writeln!(
        out,
        "A MUST failure breaks what the spec requires; a SHOULD failure departs from what it recommends. \"Applicable\" leaves out the scenarios a store cannot run because it lacks a capability (listed in the last column).\n"
    );
    let _ = writeln!(
        out,
        "| store | MUST failures | SHOULD failures | passes / applicable | what it lacks |\n|---|---|---|---|---|"
    );
    for (t, s) in &stores {
        let _ = writeln!(
            out,
            "| [{}](#{}) {} | {} | {} | {}/{} | {} |",
            t.id,
            anchor(&t.id),
            escape(&standing::label(t)),
            count_cell(s.must_failures),
            count_cell(s.should_failures),
            s.passes,
            s.applicable,
            lacks(&s.lacks)
        );
    }
    out.push('\n');

    // One section per family, stores in column order.
    let mut families: BTreeMap<&str, Vec<&(crate::Target, Standing)>> = BTreeMap::new();
    let all = Standing::all(results);
    for entry in &all {
        families.entry(standing::family(&entry.0)).or_default().push(entry);
    }
    let known_of = |target: &str, scenario: &str| {
        known.iter().filter(|e| e.target == target).flat_map(|e| e.known.iter()).find(|k| k.scenario == scenario)
    };
    for (family, members) in families {
        let _ = writeln!(out, "## {family}\n");
        for (t, s) in members {
            let _ = writeln!(out, "<a id=\"{}\"></a>\n### {}: {}\n", anchor(&t.id), t.id, escape(&standing::label(t)));
            let _ = writeln!(
                out,
                "**{}** · {}/{} applicable cases pass · {} not applicable{}\n",
                s.words(),
                s.passes,
                s.applicable,
                s.not_applicable,
                if s.flaky > 0 { format!(" · {} flaky", s.flaky) } else { String::new() }
            );
            if !s.lacks.is_empty() {
                let names: Vec<String> = s.lacks.iter().map(|c| format!("`{c}`")).collect();
                let _ = writeln!(out, "Does not support: {}.\n", names.join(", "));
            }
            let mut failing: Vec<&CaseResult> =
                results.results.iter().filter(|r| r.target == t.id && r.outcome.is_failure()).collect();
            failing.sort_by_key(|r| (r.level != "MUST", r.area.clone(), r.scenario.clone()));
            for r in failing {
                let file = r.position.rsplit_once(':').map(|(f, _)| f).unwrap_or(&r.position);
                let checks: Vec<String> = r
                    .checks
                    .iter()
                    .map(|c| format!("[{c}]({root}spec/session-store.md#{})", c.to_lowercase()))
                    .collect();
                let _ = writeln!(
                    out,
                    "- {} ({}) [`{}`]({root}{file}) {}: {}",
                    cell(r.outcome),
                    r.level,
                    r.scenario,
                    checks.join(" "),
                    escape(&r.title)
                );
                match known_of(&t.id, &r.scenario) {
                    Some(k) => {
                        let _ = writeln!(out, "  - Why: {} ([link]({}))", escape(&k.reason), links.known_link(&k.link));
                    }
                    None => {
                        let _ = writeln!(out, "  - Why: not yet explained (no expectation file lists it)");
                    }
                }
                for u in &r.refs {
                    let _ = writeln!(out, "  - Upstream: {u}");
                }
                if let Some(d) = &r.detail {
                    let at = d.step.as_deref().unwrap_or(&r.position);
                    let _ = writeln!(
                        out,
                        "  - Found at `{at}`{}: {}",
                        d.operation.as_deref().map(|o| format!(" (`{o}`)")).unwrap_or_default(),
                        escape(d.message.lines().next().unwrap_or(""))
                    );
                    if let (Some(e), Some(a)) = (&d.expected, &d.actual) {
                        let diff: String = crate::summary::diff(e, a, false)
                            .lines()
                            .skip(2)
                            .map(|l| format!("    {}\n", &l[2.min(l.len())..]))
                            .collect();
                        let _ = writeln!(
                            out,
                            "\n    <details><summary>diff</summary>\n\n    ```diff\n{diff}    ```\n    </details>\n"
                        );
                    }
                }
            }
            out.push('\n');
        }
    }
    out
}

fn count_cell(n: usize) -> String {
    if n == 0 { "✅ none".to_owned() } else { format!("❌ {n}") }
}

fn lacks(capabilities: &[String]) -> String {
    match capabilities.len() {
        0 => "nothing".to_owned(),
        1..=4 => capabilities.join(", "),
        n => format!("{} and {} more", capabilities[..3].join(", "), n - 3),
    }
}

/// The anchor of a store's section (`node:redis` is `store-node-redis`).
pub fn anchor(target: &str) -> String {
    format!("store-{}", slug(target))
}

fn short_digest(digest: &str) -> &str {
    let end = digest.char_indices().nth(19).map(|(i, _)| i).unwrap_or(digest.len());
    &digest[..end]
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ").replace('<', "&lt;")
}

fn slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

//! The Markdown compatibility matrix: rows are scenarios grouped by area, columns are targets,
//! and a per-target summary row on top. Every cell that is not a pass links to its detail
//! below; every scenario links to its file and every requirement to its place in the spec.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{CaseResult, Outcome, Results};

/// Where links point.
#[derive(Debug, Clone)]
pub struct Links {
    /// The path from the Markdown file's directory to the repository root (`../`, or empty).
    pub root: String,
}

/// Renders the matrix.
pub fn render(results: &Results, links: &Links) -> String {
    let mut out = String::new();
    let header = &results.header;
    let root = &links.root;
    let _ = writeln!(out, "# Session store compatibility matrix\n");
    let _ = writeln!(
        out,
        "Produced by {} {} against spec {} (suite `{}`), started {}.\n",
        header.harness.name,
        header.harness.version,
        header.spec_version,
        short_digest(&header.suite_digest),
        header.started.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(reason) = results.incomplete_reason() {
        let _ = writeln!(out, "> **Incomplete run:** {reason}. These results are not a conformance claim.\n");
    }
    let _ = writeln!(
        out,
        "Cells: ✅ pass · ❌ fail (the store answered, not as the spec requires) · ⚠️ error (the store failed) · ⏱️ timeout · ➖ not applicable (the store lacks a capability the scenario needs). The level column is the strongest level among the requirements a scenario checks.\n"
    );

    // Targets.
    let _ = write!(out, "| |");
    for t in &header.targets {
        let _ = write!(out, " {} |", t.id);
    }
    let _ = write!(out, "\n|---|");
    for _ in &header.targets {
        let _ = write!(out, "---|");
    }
    let _ = write!(out, "\n| store |");
    for t in &header.targets {
        let _ = write!(out, " {} {} ({}) |", t.store, t.store_version, t.language);
    }
    let _ = write!(out, "\n| backend |");
    for t in &header.targets {
        let _ = write!(
            out,
            " {}{} |",
            t.backend,
            t.backend_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default()
        );
    }
    if header.targets.iter().any(|t| t.provider.is_some()) {
        let _ = write!(out, "\n| provider |");
        for t in &header.targets {
            let _ = write!(out, " {} |", t.provider.as_deref().map(escape).unwrap_or_default());
        }
    }
    let _ = write!(out, "\n| **summary** |");
    for t in &header.targets {
        let (passed, applicable, rest) = results.tally(&t.id);
        let cell = format!("**{passed}/{applicable} pass**{rest}");
        let _ = write!(out, " {cell} |");
    }
    out.push_str("\n\n");

    // Rows by area.
    let mut by_scenario: BTreeMap<(&str, &str), Vec<&CaseResult>> = BTreeMap::new();
    for r in &results.results {
        by_scenario.entry((r.area.as_str(), r.scenario.as_str())).or_default().push(r);
    }
    let mut details = Vec::new();
    let mut area = "";
    for ((row_area, scenario), cells) in &by_scenario {
        if *row_area != area {
            area = row_area;
            let _ = write!(out, "\n## {area}\n\n| scenario | level | checks |");
            for t in &header.targets {
                let _ = write!(out, " {} |", t.id);
            }
            let _ = write!(out, "\n|---|---|---|");
            for _ in &header.targets {
                let _ = write!(out, "---|");
            }
            out.push('\n');
        }
        let first = cells[0];
        let file = first.position.rsplit_once(':').map(|(f, _)| f).unwrap_or(&first.position);
        let checks: Vec<String> =
            first.checks.iter().map(|c| format!("[{c}]({root}spec/session-store.md#{})", c.to_lowercase())).collect();
        let refs: String = first.refs.iter().enumerate().map(|(i, r)| format!(" [[{}]]({r})", i + 1)).collect();
        let _ = write!(
            out,
            "| [{scenario}]({root}{file}) {}{refs} | {} | {} |",
            escape(&first.title),
            first.level,
            checks.join(" ")
        );
        for t in &header.targets {
            let cell = match cells.iter().find(|r| r.target == t.id) {
                None => "·".to_owned(),
                Some(r) if r.is_flaky() => format!("✅ (flaky, {} attempts)", r.attempts),
                Some(r) if r.outcome == Outcome::Pass => "✅".to_owned(),
                Some(r) => {
                    let anchor = format!("{}--{}", slug(&r.scenario), slug(&r.target));
                    details.push((anchor.clone(), *r));
                    let symbol = match r.outcome {
                        Outcome::Fail => "❌",
                        Outcome::Error => "⚠️",
                        Outcome::Timeout => "⏱️",
                        Outcome::NotApplicable => "➖",
                        Outcome::Pass => unreachable!(),
                    };
                    if r.outcome == Outcome::NotApplicable {
                        symbol.to_owned()
                    } else {
                        format!("[{symbol}](#{anchor})")
                    }
                }
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }

    let failures: Vec<&(String, &CaseResult)> =
        details.iter().filter(|(_, r)| r.outcome != Outcome::NotApplicable).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Details\n");
        for (anchor, r) in failures {
            let _ = writeln!(out, "<a id=\"{anchor}\"></a>\n### {} on {}: {}\n", r.scenario, r.target, r.outcome);
            if let Some(d) = &r.detail {
                let at = d.step.as_deref().unwrap_or(&r.position);
                let _ = writeln!(
                    out,
                    "At `{at}`{}: {}\n",
                    d.operation.as_deref().map(|o| format!(" (`{o}`)")).unwrap_or_default(),
                    escape(&d.message)
                );
                if let (Some(e), Some(a)) = (&d.expected, &d.actual) {
                    let _ = writeln!(
                        out,
                        "```diff\n{}```\n",
                        crate::summary::diff(e, a, false)
                            .lines()
                            .skip(2)
                            .map(|l| format!("{}\n", &l[2.min(l.len())..]))
                            .collect::<String>()
                    );
                }
            }
            for r in &r.refs {
                let _ = writeln!(out, "Upstream: {r}\n");
            }
        }
    }
    out
}

fn short_digest(digest: &str) -> &str {
    let end = digest.char_indices().nth(19).map(|(i, _)| i).unwrap_or(digest.len());
    &digest[..end]
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

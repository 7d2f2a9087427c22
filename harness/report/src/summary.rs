//! The terminal summary: counts per target, then every case that did not pass, with the
//! failing step's position and an expected/actual diff. Colour only when asked for.

use std::fmt::Write as _;

use owo_colors::OwoColorize;
use similar::{ChangeTag, TextDiff};

use crate::model::{CaseResult, Outcome, Results};

/// Renders the summary. `color` turns on ANSI colours; `show_not_applicable` lists
/// not-applicable cases with their reasons too.
pub fn render(results: &Results, color: bool, show_not_applicable: bool) -> String {
    let mut out = String::new();
    let header = &results.header;
    let scenarios = {
        let mut ids: Vec<&str> = results.results.iter().map(|r| r.scenario.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let _ = writeln!(
        out,
        "{} {} · spec {} · suite {} · {} × {}",
        header.harness.name,
        header.harness.version,
        header.spec_version,
        header.suite_digest.get(..19).unwrap_or(&header.suite_digest),
        crate::plural(scenarios, "scenario", "scenarios"),
        crate::plural(header.targets.len(), "target", "targets")
    );
    let width = header.targets.iter().map(|t| t.id.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(
        out,
        "\n{:width$}  {:>5} {:>5} {:>5} {:>5} {:>7}",
        "target", "pass", "fail", "n/a", "error", "timeout"
    );
    for target in &header.targets {
        let c = results.target_counts(&target.id);
        let n = |o: Outcome| c.get(&o).copied().unwrap_or(0);
        let line = format!(
            "{:width$}  {:>5} {:>5} {:>5} {:>5} {:>7}",
            target.id,
            n(Outcome::Pass),
            n(Outcome::Fail),
            n(Outcome::NotApplicable),
            n(Outcome::Error),
            n(Outcome::Timeout)
        );
        let failing = n(Outcome::Fail) + n(Outcome::Error) + n(Outcome::Timeout) > 0;
        let _ = writeln!(out, "{}", paint(&line, color, if failing { Paint::Red } else { Paint::Green }));
    }

    let mut shown: Vec<&CaseResult> = results
        .results
        .iter()
        .filter(|r| {
            r.outcome.is_failure() || r.is_flaky() || (show_not_applicable && r.outcome == Outcome::NotApplicable)
        })
        .collect();
    shown.sort_by(|a, b| (&a.area, &a.scenario, &a.target).cmp(&(&b.area, &b.scenario, &b.target)));
    for r in shown {
        out.push('\n');
        out.push_str(&case(r, color));
    }
    let failures = results.results.iter().filter(|r| r.outcome.is_failure()).count();
    let verdict = if failures == 0 {
        paint("\nevery applicable case passed", color, Paint::Green)
    } else {
        paint(
            &format!("\n{} failed, errored or timed out", crate::plural(failures, "case", "cases")),
            color,
            Paint::Red,
        )
    };
    let _ = writeln!(out, "{verdict}");
    if let Some(reason) = results.incomplete_reason() {
        let _ = writeln!(
            out,
            "\n{}",
            paint(&format!("INCOMPLETE: {reason}. These results are not a conformance claim."), color, Paint::Yellow)
        );
    }
    out
}

/// One case as the summary shows it: outcome, scenario, target, level and requirements, the
/// title, the failing step's `file:line` and operation, the message, an expected/actual diff and
/// the store's log.
pub fn case(r: &CaseResult, color: bool) -> String {
    let mut out = String::new();
    let label = match r.outcome {
        Outcome::Fail => paint("FAIL", color, Paint::Red),
        Outcome::Error => paint("ERROR", color, Paint::Red),
        Outcome::Timeout => paint("TIMEOUT", color, Paint::Yellow),
        Outcome::NotApplicable => paint("N/A", color, Paint::Dim),
        Outcome::Pass => paint("FLAKY", color, Paint::Yellow),
    };
    let _ = writeln!(out, "{label} {} on {} ({} {})", r.scenario, r.target, r.level, r.checks.join(", "));
    let _ = writeln!(out, "  {}", r.title);
    let Some(d) = &r.detail else { return out };
    let at = d.step.as_deref().unwrap_or(&r.position);
    let op = d.operation.as_deref().map(|o| format!(" {o}")).unwrap_or_default();
    let _ = writeln!(out, "  at {at}{op}: {}", d.message);
    if let (Some(expected), Some(actual)) = (&d.expected, &d.actual) {
        out.push_str(&diff(expected, actual, color));
    }
    if let Some(log) = &d.log {
        for line in log.lines() {
            let _ = writeln!(out, "  | {line}");
        }
    }
    out
}

/// A line diff of expected against actual, `-` for expected and `+` for actual.
pub fn diff(expected: &str, actual: &str, color: bool) -> String {
    let mut out = String::from("  --- expected\n  +++ actual\n");
    for change in TextDiff::from_lines(expected, actual).iter_all_changes() {
        let line = change.to_string_lossy();
        let line = line.trim_end_matches('\n');
        let text = match change.tag() {
            ChangeTag::Delete => paint(&format!("  -{line}"), color, Paint::Red),
            ChangeTag::Insert => paint(&format!("  +{line}"), color, Paint::Green),
            ChangeTag::Equal => format!("   {line}"),
        };
        out.push_str(&text);
        out.push('\n');
    }
    out
}

enum Paint {
    Red,
    Green,
    Yellow,
    Dim,
}

fn paint(text: &str, color: bool, paint: Paint) -> String {
    if !color {
        return text.to_owned();
    }
    match paint {
        Paint::Red => text.red().to_string(),
        Paint::Green => text.green().to_string(),
        Paint::Yellow => text.yellow().to_string(),
        Paint::Dim => text.dimmed().to_string(),
    }
}

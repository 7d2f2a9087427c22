//! What changed between two runs: new failures, fixes, other changes of outcome, scenarios and
//! targets that appeared or went away. Rendered as text for the terminal and as Markdown for a
//! pull-request comment. It compares results files only; it never runs anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::model::{CaseResult, Outcome, Results};

/// One case whose outcome differs between the two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The target id.
    pub target: String,
    /// The scenario id.
    pub scenario: String,
    /// Its level (`MUST`, `SHOULD`, `MAY`).
    pub level: String,
    /// The old outcome; `None` when the old run did not have this case.
    pub before: Option<Outcome>,
    /// The new outcome.
    pub after: Outcome,
    /// The new run's message, when it did not pass.
    pub message: Option<String>,
}

/// Everything that differs between two runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Cases that did not fail before and fail now (including failing cases of new scenarios).
    pub new_failures: Vec<Change>,
    /// Cases that failed before and pass now.
    pub fixes: Vec<Change>,
    /// Every other change of outcome (a failure of another kind, pass to not applicable, ...).
    pub other: Vec<Change>,
    /// Scenario ids only the new run has.
    pub new_scenarios: Vec<String>,
    /// Scenario ids only the old run has.
    pub removed_scenarios: Vec<String>,
    /// Target ids only the new run has.
    pub new_targets: Vec<String>,
    /// Target ids only the old run has.
    pub removed_targets: Vec<String>,
}

impl Diff {
    /// Whether the runs say the same.
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }
}

/// Compares `old` with `new`, case by case (scenario × target).
pub fn compare(old: &Results, new: &Results) -> Diff {
    let index = |r: &Results| -> BTreeMap<(String, String), CaseResult> {
        r.results.iter().map(|c| ((c.target.clone(), c.scenario.clone()), c.clone())).collect()
    };
    let (before, after) = (index(old), index(new));
    let scenarios = |r: &Results| r.results.iter().map(|c| c.scenario.clone()).collect::<BTreeSet<_>>();
    let targets = |r: &Results| r.header.targets.iter().map(|t| t.id.clone()).collect::<BTreeSet<_>>();
    let (old_s, new_s) = (scenarios(old), scenarios(new));
    let (old_t, new_t) = (targets(old), targets(new));
    let mut diff = Diff {
        new_scenarios: new_s.difference(&old_s).cloned().collect(),
        removed_scenarios: old_s.difference(&new_s).cloned().collect(),
        new_targets: new_t.difference(&old_t).cloned().collect(),
        removed_targets: old_t.difference(&new_t).cloned().collect(),
        ..Diff::default()
    };
    for ((target, scenario), now) in &after {
        // A target new to this run is reported as such, not as a column of new failures.
        if !old_t.contains(target) {
            continue;
        }
        let was = before.get(&(target.clone(), scenario.clone())).map(|c| c.outcome);
        if was == Some(now.outcome) {
            continue;
        }
        let change = Change {
            target: target.clone(),
            scenario: scenario.clone(),
            level: now.level.clone(),
            before: was,
            after: now.outcome,
            message: now.detail.as_ref().filter(|_| now.outcome != Outcome::Pass).map(|d| d.message.clone()),
        };
        let failed = was.is_some_and(Outcome::is_failure);
        if now.outcome.is_failure() && !failed {
            diff.new_failures.push(change);
        } else if failed && now.outcome == Outcome::Pass {
            diff.fixes.push(change);
        } else if was.is_some() {
            diff.other.push(change);
        }
    }
    diff
}

fn outcome(o: Option<Outcome>) -> &'static str {
    o.map(Outcome::name).unwrap_or("absent")
}

/// The diff as text for the terminal.
pub fn render_text(diff: &Diff) -> String {
    let mut out = String::new();
    if diff.is_empty() {
        out.push_str("no change: every case has the same outcome in both runs\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{}, {}, {}",
        crate::plural(diff.new_failures.len(), "new failure", "new failures"),
        crate::plural(diff.fixes.len(), "fix", "fixes"),
        crate::plural(diff.other.len(), "other change", "other changes")
    );
    for c in &diff.new_failures {
        let _ = writeln!(
            out,
            "  NEW FAILURE {} on {} ({}): {} -> {}{}",
            c.scenario,
            c.target,
            c.level,
            outcome(c.before),
            c.after,
            c.message.as_deref().map(|m| format!(": {}", first_line(m))).unwrap_or_default()
        );
    }
    for c in &diff.fixes {
        let _ =
            writeln!(out, "  FIXED       {} on {} ({}): {} -> pass", c.scenario, c.target, c.level, outcome(c.before));
    }
    for c in &diff.other {
        let _ = writeln!(out, "  CHANGED     {} on {}: {} -> {}", c.scenario, c.target, outcome(c.before), c.after);
    }
    for (label, list) in [
        ("new scenarios", &diff.new_scenarios),
        ("removed scenarios", &diff.removed_scenarios),
        ("new targets", &diff.new_targets),
        ("removed targets", &diff.removed_targets),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "{label}: {}", list.join(", "));
        }
    }
    out
}

/// The diff as Markdown for a pull-request comment.
pub fn render_markdown(diff: &Diff, old: &Results, new: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### sessionspec: what changed\n\nFrom the run of {} (suite `{}`) to the run of {} (suite `{}`).\n",
        old.header.started.format("%Y-%m-%d %H:%M UTC"),
        short(&old.header.suite_digest),
        new.header.started.format("%Y-%m-%d %H:%M UTC"),
        short(&new.header.suite_digest),
    );
    if diff.is_empty() {
        out.push_str("No change: every case has the same outcome in both runs.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "**{}** · {} · {}\n",
        crate::plural(diff.new_failures.len(), "new failure", "new failures"),
        crate::plural(diff.fixes.len(), "fix", "fixes"),
        crate::plural(diff.other.len(), "other change", "other changes")
    );
    let table = |out: &mut String, title: &str, changes: &[Change]| {
        if changes.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "#### {title}\n\n| scenario | target | level | before | now | message |\n|---|---|---|---|---|---|"
        );
        for c in changes {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                c.scenario,
                c.target,
                c.level,
                outcome(c.before),
                c.after,
                c.message.as_deref().map(|m| cell(first_line(m))).unwrap_or_default()
            );
        }
        out.push('\n');
    };
    table(&mut out, "New failures", &diff.new_failures);
    table(&mut out, "Fixed", &diff.fixes);
    table(&mut out, "Other changes", &diff.other);
    for (label, list) in [
        ("New scenarios", &diff.new_scenarios),
        ("Removed scenarios", &diff.removed_scenarios),
        ("New targets", &diff.new_targets),
        ("Removed targets", &diff.removed_targets),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|s| format!("`{s}`")).collect();
            let _ = writeln!(out, "**{label}:** {}\n", names.join(", "));
        }
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Detail, Header};

    fn results(cases: &[(&str, &str, Outcome)], targets: &[&str]) -> Results {
        let header: Header = serde_json::from_value(serde_json::json!({
            "format": 1, "harness": {"name": "sessionspec", "version": "0"}, "spec_version": "0.1.0",
            "suite_digest": "sha256:x", "started": "2026-12-01T00:00:00Z",
            "targets": targets.iter().map(|t| serde_json::json!({
                "id": t, "store": t, "store_version": "1", "language": "rust", "backend": "memory",
                "backend_version": null, "capabilities": []
            })).collect::<Vec<_>>()
        }))
        .unwrap();
        Results {
            header,
            results: cases
                .iter()
                .map(|(s, t, o)| CaseResult {
                    scenario: (*s).into(),
                    area: "core".into(),
                    title: "t".into(),
                    position: "p:1".into(),
                    checks: vec![],
                    level: "MUST".into(),
                    refs: vec![],
                    target: (*t).into(),
                    outcome: *o,
                    duration_ms: 0,
                    attempts: 1,
                    detail: o.is_failure().then(|| Detail { message: "got 1".into(), ..Detail::default() }),
                })
                .collect(),
            footer: None,
        }
    }

    #[test]
    fn sorts_changes() {
        use Outcome::*;
        let old = results(&[("a", "m", Pass), ("b", "m", Fail), ("c", "m", Fail), ("gone", "m", Pass)], &["m", "old"]);
        let new = results(
            &[("a", "m", Fail), ("b", "m", Pass), ("c", "m", Error), ("fresh", "m", Timeout), ("a", "x", Fail)],
            &["m", "x"],
        );
        let d = compare(&old, &new);
        let ids = |v: &[Change]| v.iter().map(|c| c.scenario.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&d.new_failures), ["a", "fresh"]);
        assert_eq!(ids(&d.fixes), ["b"]);
        assert_eq!(ids(&d.other), ["c"]);
        assert_eq!(d.new_scenarios, ["fresh"]);
        assert_eq!(d.removed_scenarios, ["gone"]);
        assert_eq!(
            (d.new_targets.as_slice(), d.removed_targets.as_slice()),
            (&["x".to_owned()][..], &["old".to_owned()][..])
        );
        let text = render_text(&d);
        assert!(text.starts_with("2 new failures, 1 fix, 1 other change\n"), "{text}");
        assert!(text.contains("NEW FAILURE a on m (MUST): pass -> fail: got 1"), "{text}");
        let md = render_markdown(&d, &old, &new);
        assert!(md.contains("#### New failures\n\n| scenario |"), "{md}");
        assert!(md.contains("| `fresh` | m | MUST | absent | timeout | got 1 |"), "{md}");
        assert!(compare(&new, &new).is_empty());
        assert!(render_text(&compare(&new, &new)).starts_with("no change"));
    }
}

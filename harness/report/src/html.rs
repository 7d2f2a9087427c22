//! The compatibility matrix as one static HTML page: the same rows, columns and details as the
//! Markdown matrix, with known failures (expectation files) marked and explained. Self-contained:
//! no script, no external style, so it can be opened from disk or published as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::expectations::Expectations;
use crate::markdown::Links;
use crate::model::{CaseResult, Outcome, Results};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#1b1f24}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.c{text-align:center;white-space:nowrap}.pass{background:#dafbe1}.fail{background:#ffebe9}\
.error{background:#fff1c2}.timeout{background:#fde2c8}.na{background:#f6f8fa;color:#8c959f}.known{outline:2px dashed #9a6700;outline-offset:-3px}\
code,pre{font:12px ui-monospace,monospace}pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:24em}\
.muted{color:#57606a}a{color:#0969da}h3{margin-top:2em}";

/// Renders the page. `known` marks the cells an expectation file lists.
pub fn render(results: &Results, links: &Links, known: &[Expectations]) -> String {
    let header = &results.header;
    let root = &links.root;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Session store compatibility matrix</title>\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(out, "<h1>Session store compatibility matrix</h1>");
    let _ = writeln!(
        out,
        "<p class=\"muted\">Produced by {} {} against spec {} (suite <code>{}</code>), started {}.</p>",
        esc(&header.harness.name),
        esc(&header.harness.version),
        esc(&header.spec_version),
        esc(header.suite_digest.get(..19).unwrap_or(&header.suite_digest)),
        header.started.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(reason) = results.incomplete_reason() {
        let _ = writeln!(out, "<p><strong>Incomplete run:</strong> {}. Not a conformance claim.</p>", esc(&reason));
    }
    let _ = writeln!(
        out,
        "<p>Cells: ✅ pass · ❌ fail (the store answered, not as the spec requires) · ⚠️ error (the store failed) · \
⏱️ timeout · ➖ not applicable (a capability the scenario needs is not declared). A dashed frame marks a known \
failure listed in the target's expectation file, with its reason on hover and below.</p>"
    );

    let known_of = |target: &str, scenario: &str| {
        known.iter().filter(|e| e.target == target).flat_map(|e| e.known.iter()).find(|k| k.scenario == scenario)
    };

    // Targets and summary.
    out.push_str("<table><tr><th></th>");
    for t in &header.targets {
        let _ = write!(out, "<th>{}</th>", esc(&t.id));
    }
    out.push_str("</tr><tr><th>store</th>");
    for t in &header.targets {
        let _ = write!(out, "<td>{} {} ({})</td>", esc(&t.store), esc(&t.store_version), esc(&t.language));
    }
    out.push_str("</tr><tr><th>backend</th>");
    for t in &header.targets {
        let _ = write!(out, "<td>{} {}</td>", esc(&t.backend), esc(t.backend_version.as_deref().unwrap_or("")));
    }
    out.push_str("</tr><tr><th>summary</th>");
    for t in &header.targets {
        let (passed, applicable, rest) = results.tally(&t.id);
        let mut cell = format!("<strong>{passed}/{applicable} pass</strong>{rest}");
        let listed = results
            .results
            .iter()
            .filter(|r| r.target == t.id && known_of(&t.id, &r.scenario).is_some_and(|k| k.outcome == r.outcome))
            .count();
        if listed > 0 {
            let _ = write!(cell, "<br><span class=\"muted\">{listed} known</span>");
        }
        let _ = write!(out, "<td>{cell}</td>");
    }
    out.push_str("</tr><tr><th>capabilities</th>");
    for t in &header.targets {
        let _ = write!(out, "<td class=\"muted\">{}</td>", esc(&t.capabilities.join(", ")));
    }
    out.push_str("</tr></table>\n");

    // Rows by area.
    let mut by_scenario: BTreeMap<(&str, &str), Vec<&CaseResult>> = BTreeMap::new();
    for r in &results.results {
        by_scenario.entry((r.area.as_str(), r.scenario.as_str())).or_default().push(r);
    }
    let mut details: Vec<(String, &CaseResult)> = Vec::new();
    let mut area = "";
    for ((row_area, scenario), cells) in &by_scenario {
        if *row_area != area {
            if !area.is_empty() {
                out.push_str("</table>\n");
            }
            area = row_area;
            let _ = write!(
                out,
                "<h2 id=\"area-{}\">{}</h2>\n<table><tr><th>scenario</th><th>level</th><th>checks</th>",
                slug(area),
                esc(area)
            );
            for t in &header.targets {
                let _ = write!(out, "<th>{}</th>", esc(&t.id));
            }
            out.push_str("</tr>\n");
        }
        let first = cells[0];
        let file = first.position.rsplit_once(':').map(|(f, _)| f).unwrap_or(&first.position);
        let checks: Vec<String> = first
            .checks
            .iter()
            .map(|c| format!("<a href=\"{}spec/session-store.md#{}\">{}</a>", esc(root), c.to_lowercase(), esc(c)))
            .collect();
        let refs: String =
            first.refs.iter().enumerate().map(|(i, r)| format!(" <a href=\"{}\">[{}]</a>", esc(r), i + 1)).collect();
        let _ = write!(
            out,
            "<tr><td><a href=\"{}{}\"><code>{}</code></a> {}{}</td><td>{}</td><td>{}</td>",
            esc(root),
            esc(file),
            esc(scenario),
            esc(&first.title),
            refs,
            esc(&first.level),
            checks.join(" ")
        );
        for t in &header.targets {
            let Some(r) = cells.iter().find(|r| r.target == t.id) else {
                out.push_str("<td class=\"c na\">·</td>");
                continue;
            };
            let (class, symbol) = match r.outcome {
                Outcome::Pass => ("pass", "✅"),
                Outcome::Fail => ("fail", "❌"),
                Outcome::Error => ("error", "⚠️"),
                Outcome::Timeout => ("timeout", "⏱️"),
                Outcome::NotApplicable => ("na", "➖"),
            };
            let listed = known_of(&t.id, scenario).filter(|k| k.outcome == r.outcome);
            let title = match (&r.detail, listed) {
                (_, Some(k)) => format!("known: {}", k.reason),
                (Some(d), None) => d.message.clone(),
                (None, None) => r.outcome.name().to_owned(),
            };
            let class = if listed.is_some() { format!("{class} known") } else { class.to_owned() };
            if r.outcome.is_failure() {
                let anchor = format!("{}--{}", slug(&r.scenario), slug(&r.target));
                let _ = write!(
                    out,
                    "<td class=\"c {class}\" title=\"{}\"><a href=\"#{anchor}\">{symbol}</a></td>",
                    esc(&title)
                );
                details.push((anchor, *r));
            } else {
                let _ = write!(out, "<td class=\"c {class}\" title=\"{}\">{symbol}</td>", esc(&title));
            }
        }
        out.push_str("</tr>\n");
    }
    if !area.is_empty() {
        out.push_str("</table>\n");
    }

    if !details.is_empty() {
        out.push_str("<h2 id=\"details\">Details</h2>\n");
        for (anchor, r) in details {
            let _ = writeln!(
                out,
                "<h3 id=\"{anchor}\"><code>{}</code> on {}: {}</h3>",
                esc(&r.scenario),
                esc(&r.target),
                r.outcome.name()
            );
            if let Some(k) = known_of(&r.target, &r.scenario).filter(|k| k.outcome == r.outcome) {
                let _ = writeln!(
                    out,
                    "<p><strong>Known divergence:</strong> {} <a href=\"{}\">{}</a></p>",
                    esc(&k.reason),
                    esc(&k.link),
                    esc(&k.link)
                );
            }
            if let Some(d) = &r.detail {
                let at = d.step.as_deref().unwrap_or(&r.position);
                let _ = writeln!(
                    out,
                    "<p>At <code>{}</code>{}: {}</p>",
                    esc(at),
                    d.operation.as_deref().map(|o| format!(" (<code>{}</code>)", esc(o))).unwrap_or_default(),
                    esc(&d.message)
                );
                if let (Some(e), Some(a)) = (&d.expected, &d.actual) {
                    let _ = writeln!(out, "<pre>{}</pre>", esc(&crate::summary::diff(e, a, false)));
                }
                if let Some(log) = &d.log {
                    let _ = writeln!(out, "<pre>{}</pre>", esc(log));
                }
            }
            for link in &r.refs {
                let _ = writeln!(out, "<p>Upstream: <a href=\"{}\">{}</a></p>", esc(link), esc(link));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// `text` safe inside HTML text and attribute values (the one escaper of the HTML renderings).
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn slug(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }
}

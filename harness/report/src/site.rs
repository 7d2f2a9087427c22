//! The static site: the results read by someone choosing a store. An index answering "which
//! store should I pick" (one row and one stacked bar per store), a page per store, requirement
//! and scenario, the backend-version matrix and each behaviour's history across store versions,
//! the full matrix with a filter (a plain table without JavaScript), a performance chart from
//! the bench's JSON, and a badge (SVG and shields.io endpoint JSON) per store. Pages are
//! returned as text; writing them is the caller's. Nothing here runs a store.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::expectations::{Expectations, Known};
use crate::html::esc;
use crate::model::{CaseResult, Outcome, Results, Target};
use crate::standing::{self, Standing};

/// A requirement's text, from the spec the suite was checked against.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// `MUST`, `MUST NOT`, `SHOULD`, ...
    pub keyword: String,
    /// The first paragraph of its statement.
    pub statement: String,
    /// The capability it applies under, if any.
    pub profile: Option<String>,
}

/// Everything the site is built from.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The (merged) results.
    pub results: &'a Results,
    /// Expectation files: the written reasons of known failures.
    pub known: &'a [Expectations],
    /// Requirement texts by id.
    pub requirements: &'a BTreeMap<String, Requirement>,
    /// The base URL source files are linked under (`https://github.com/o/r/blob/main/`).
    pub source: &'a str,
    /// The JSON `sessionspec bench --json` wrote, for the performance page.
    pub bench: Option<&'a serde_json::Value>,
}

/// One file of the site: its path relative to the site root, and its text.
#[derive(Debug, Clone)]
pub struct Page {
    /// `index.html`, `stores/node-redis.html`, `badges/node-redis.svg`.
    pub path: String,
    /// The content.
    pub text: String,
}

const CSS: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24}\
main{max-width:1200px;margin:0 auto;padding:0 16px 48px}nav{background:#24292f;padding:8px 16px}\
nav a{color:#fff;margin-right:16px;text-decoration:none;display:inline-block}\
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}a{color:#0969da}code,pre{font:13px ui-monospace,monospace}\
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:30em}.muted{color:#57606a}\
.pass{background:#dafbe1}.fail{background:#ffebe9}.error{background:#fff1c2}.timeout{background:#fde2c8}.na{color:#8c959f}\
.known{outline:2px dashed #9a6700;outline-offset:-3px}.bar{vertical-align:middle}\
.matrix td,.matrix th{font-size:12px;padding:2px 4px;white-space:nowrap}.matrix td.t{white-space:normal;min-width:16em}\
form.filter{display:flex;flex-wrap:wrap;gap:8px;align-items:end}form.filter label{display:flex;flex-direction:column;font-size:13px}\
.scroll{overflow-x:auto}\
@media (max-width:700px){table.stores,table.stores tbody,table.stores tr,table.stores td{display:block;width:auto}\
table.stores tr:first-child{display:none}table.stores tr{border:1px solid #d0d7de;margin:0 0 10px;padding:4px}\
table.stores td{border:0;padding:2px 4px}table.stores td[data-label]::before{content:attr(data-label) \": \";font-weight:600}}";

const FILTER_JS: &str = r#"// Narrows the matrix to the rows and columns the form asks for; without this script the
// matrix is a plain table and the form does nothing.
(function () {
  var form = document.getElementById('filter');
  var table = document.getElementById('matrix');
  if (!form || !table) { return; }
  form.hidden = false;
  function apply() {
    var store = form.store.value, area = form.area.value, level = form.level.value;
    var outcome = form.outcome.value, text = form.text.value.trim().toLowerCase();
    var heads = table.rows[0].cells, show = [];
    for (var c = 0; c < heads.length; c++) {
      var t = heads[c].getAttribute('data-target');
      show.push(!t || !store || t === store);
      heads[c].hidden = !show[c];
    }
    var shown = 0;
    for (var r = 1; r < table.rows.length; r++) {
      var row = table.rows[r], cells = row.cells, ok = true;
      if (area && row.getAttribute('data-area') !== area) { ok = false; }
      if (level && row.getAttribute('data-level') !== level) { ok = false; }
      if (text && row.textContent.toLowerCase().indexOf(text) < 0) { ok = false; }
      if (ok && outcome) {
        var any = false;
        for (var k = 0; k < cells.length; k++) {
          if (show[k] && cells[k].getAttribute('data-outcome') === outcome) { any = true; }
        }
        ok = any;
      }
      for (var j = 0; j < cells.length; j++) { cells[j].hidden = !show[j]; }
      row.hidden = !ok;
      if (ok) { shown++; }
    }
    document.getElementById('shown').textContent = shown + ' of ' + (table.rows.length - 1) + ' scenarios shown';
  }
  form.addEventListener('input', apply);
  form.addEventListener('submit', function (e) { e.preventDefault(); apply(); });
  apply();
})();
"#;

/// Builds every page of the site.
pub fn build(input: &Input<'_>) -> Vec<Page> {
    let site = Site::new(input);
    let mut pages = vec![
        Page { path: "site.css".into(), text: CSS.into() },
        Page { path: "matrix.js".into(), text: FILTER_JS.into() },
        site.index(),
        site.matrix(),
        site.versions(),
        site.performance(),
        site.requirement_index(),
        site.scenario_index(),
    ];
    for (t, s) in &site.stores {
        pages.push(site.store(t, s));
        pages.push(Page { path: format!("badges/{}.svg", slug(&t.id)), text: badge_svg(s) });
        pages.push(Page { path: format!("badges/{}.json", slug(&t.id)), text: badge_json(s) });
    }
    for id in site.requirement_ids() {
        pages.push(site.requirement(&id));
    }
    for scenario in site.scenarios.keys() {
        pages.push(site.scenario(scenario));
    }
    pages
}

struct Site<'a> {
    input: &'a Input<'a>,
    stores: Vec<(Target, Standing)>,
    /// Results by scenario, then target.
    scenarios: BTreeMap<&'a str, BTreeMap<&'a str, &'a CaseResult>>,
}

impl<'a> Site<'a> {
    fn new(input: &'a Input<'a>) -> Site<'a> {
        let mut scenarios: BTreeMap<&str, BTreeMap<&str, &CaseResult>> = BTreeMap::new();
        for r in &input.results.results {
            scenarios.entry(r.scenario.as_str()).or_default().insert(r.target.as_str(), r);
        }
        Site { input, stores: Standing::all(input.results), scenarios }
    }

    fn known(&self, target: &str, scenario: &str) -> Option<&'a Known> {
        self.input
            .known
            .iter()
            .filter(|e| e.target == target)
            .flat_map(|e| e.known.iter())
            .find(|k| k.scenario == scenario)
    }

    fn requirement_ids(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = self.input.requirements.keys().cloned().collect();
        for r in &self.input.results.results {
            ids.extend(r.checks.iter().cloned());
        }
        ids
    }

    fn page(&self, path: &str, title: &str, body: &str) -> Page {
        let up = "../".repeat(path.matches('/').count());
        let h = &self.input.results.header;
        let text = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{} · sessionspec</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"{up}site.css\"></head><body>\n\
<nav><a href=\"{up}index.html\">Which store</a><a href=\"{up}matrix.html\">Matrix</a><a href=\"{up}requirements/index.html\">Requirements</a>\
<a href=\"{up}scenarios/index.html\">Scenarios</a><a href=\"{up}versions.html\">Versions</a><a href=\"{up}performance.html\">Performance</a></nav>\n\
<main>\n{body}\n<p class=\"muted\">{} {}, spec {}, suite <code>{}</code>, run started {}.{}</p>\n</main></body></html>\n",
            esc(title),
            esc(&h.harness.name),
            esc(&h.harness.version),
            esc(&h.spec_version),
            esc(h.suite_digest.get(..19).unwrap_or(&h.suite_digest)),
            h.started.format("%Y-%m-%d %H:%M UTC"),
            self.input
                .results
                .incomplete_reason()
                .map(|r| format!(" <strong>Incomplete run: {}; not a conformance claim.</strong>", esc(&r)))
                .unwrap_or_default()
        );
        Page { path: path.into(), text }
    }

    fn index(&self) -> Page {
        let mut body = String::from("<h1>Which session store should I pick?</h1>\n");
        body.push_str(
            "<p>Each store ran the same scenarios. A <strong>MUST failure</strong> breaks what the spec requires; a \
<strong>SHOULD failure</strong> departs from what it recommends. Passes count over the scenarios that apply to the store: \
a scenario needing a capability the store lacks is not applicable. Best first.</p>\n",
        );
        let _ = writeln!(
            body,
            "<p class=\"muted\">Bars: {} pass, {} SHOULD failure, {} MUST failure, {} not applicable.</p>",
            swatch("#2da44e"),
            swatch("#d4a72c"),
            swatch("#cf222e"),
            swatch("#d0d7de")
        );
        body.push_str(
            "<table class=\"stores\" id=\"stores\"><tr><th>store</th><th>version</th><th>backend</th><th>verdict</th>\
<th>MUST failures</th><th>SHOULD failures</th><th>passes / applicable</th><th>what it lacks</th><th>all cases</th></tr>\n",
        );
        let mut ranked: Vec<&(Target, Standing)> = self.stores.iter().collect();
        ranked.sort_by_key(|(_, s)| s.rank());
        for (t, s) in ranked {
            let (version, client) = split_version(&t.store_version);
            let _ = writeln!(
                body,
                "<tr><td data-label=\"store\"><a href=\"stores/{}.html\">{}</a><br><span class=\"muted\">{}</span></td>\
<td data-label=\"version\">{}{}</td><td data-label=\"backend\">{} {}</td><td data-label=\"verdict\">{}</td>\
<td data-label=\"MUST failures\">{}</td><td data-label=\"SHOULD failures\">{}</td><td data-label=\"passes\">{} / {}</td>\
<td data-label=\"lacks\">{}</td><td data-label=\"cases\">{}</td></tr>",
                slug(&t.id),
                esc(&t.id),
                esc(&t.store),
                esc(version),
                client.map(|c| format!("<br><span class=\"muted\">{}</span>", esc(c))).unwrap_or_default(),
                esc(&t.backend),
                esc(t.backend_version.as_deref().unwrap_or("")),
                esc(&s.words()),
                count(s.must_failures),
                count(s.should_failures),
                s.passes,
                s.applicable,
                if s.lacks.is_empty() { "nothing".to_owned() } else { esc(&s.lacks.join(", ")) },
                bar(s)
            );
        }
        body.push_str("</table>\n");
        body.push_str(
            "<p>Each store's page lists every failure with its reason, what it does not support and how to run the suite on it \
yourself. The <a href=\"matrix.html\">matrix</a> shows every scenario on every store; <a href=\"versions.html\">versions</a> \
shows how behaviour changed across store and backend versions.</p>\n",
        );
        self.page("index.html", "Which session store should I pick?", &body)
    }

    fn store(&self, t: &Target, s: &Standing) -> Page {
        let id = slug(&t.id);
        let mut body = format!("<h1>{}: {}</h1>\n", esc(&t.id), esc(&standing::label(t)));
        let _ = writeln!(
            body,
            "<p><img src=\"../badges/{id}.svg\" alt=\"sessionspec: {}\"> <strong>{}</strong>: {} of {} applicable cases pass, \
{} MUST {}, {} SHOULD {}, {} not applicable{}.</p>",
            esc(&badge_message(s)),
            esc(&s.words()),
            s.passes,
            s.applicable,
            s.must_failures,
            if s.must_failures == 1 { "failure" } else { "failures" },
            s.should_failures,
            if s.should_failures == 1 { "failure" } else { "failures" },
            s.not_applicable,
            if s.flaky > 0 { format!(", {} flaky (passed on a retry)", s.flaky) } else { String::new() }
        );
        let _ = writeln!(
            body,
            "<p class=\"muted\">Language: {}. Backend: {} {}.{} Declared capabilities: {}.</p>",
            esc(&t.language),
            esc(&t.backend),
            esc(t.backend_version.as_deref().unwrap_or("")),
            t.provider.as_deref().map(|p| format!(" Provided by: {}.", esc(p))).unwrap_or_default(),
            esc(&t.capabilities.join(", "))
        );
        let mut failing: Vec<&CaseResult> =
            self.input.results.results.iter().filter(|r| r.target == t.id && r.outcome.is_failure()).collect();
        failing.sort_by_key(|r| (r.level != "MUST", r.area.clone(), r.scenario.clone()));
        let _ = writeln!(body, "<h2 id=\"failures\">Failures ({})</h2>", failing.len());
        if failing.is_empty() {
            body.push_str("<p>None: every scenario that applies to this store passed.</p>\n");
        }
        for r in failing {
            let _ = writeln!(
                body,
                "<h3 id=\"{}\">{} {} <a href=\"../scenarios/{}.html\"><code>{}</code></a> ({})</h3>\n<p>{}</p>",
                slug(&r.scenario),
                emoji(r.outcome),
                r.outcome,
                slug(&r.scenario),
                esc(&r.scenario),
                esc(&r.level),
                esc(&r.title)
            );
            match self.known(&t.id, &r.scenario) {
                Some(k) => {
                    let _ = writeln!(
                        body,
                        "<p><strong>Why:</strong> {} (<a href=\"{}\">{}</a>)</p>",
                        esc(&k.reason),
                        esc(&self.link(&k.link)),
                        esc(&k.link)
                    );
                }
                None => {
                    body.push_str("<p><strong>Why:</strong> not yet explained (no expectation file lists it).</p>\n")
                }
            }
            for c in &r.checks {
                let text = self.input.requirements.get(c).map(|q| format!("{}: {}", q.keyword, q.statement));
                let _ = writeln!(
                    body,
                    "<p><a href=\"../requirements/{}.html\">{}</a> {}</p>",
                    slug(c),
                    esc(c),
                    text.map(|t| esc(&t)).unwrap_or_default()
                );
            }
            body.push_str(&detail_html(r));
            for u in &r.refs {
                let _ = writeln!(body, "<p>Upstream: <a href=\"{}\">{}</a></p>", esc(u), esc(u));
            }
        }
        let _ = writeln!(body, "<h2 id=\"unsupported\">Not supported</h2>");
        if s.lacks.is_empty() {
            body.push_str("<p>Every capability a scenario needed is declared.</p>\n");
        } else {
            let na: Vec<&CaseResult> = self
                .input
                .results
                .results
                .iter()
                .filter(|r| r.target == t.id && r.outcome == Outcome::NotApplicable)
                .collect();
            body.push_str("<table><tr><th>capability</th><th>scenarios it leaves out</th></tr>\n");
            for cap in &s.lacks {
                let n = na.iter().filter(|r| r.detail.as_ref().is_some_and(|d| d.missing.contains(cap))).count();
                let _ = writeln!(body, "<tr><td><code>{}</code></td><td>{n}</td></tr>", esc(cap));
            }
            body.push_str("</table>\n");
            let other = na.iter().filter(|r| r.detail.as_ref().is_none_or(|d| d.missing.is_empty())).count();
            if other > 0 {
                let _ = writeln!(
                    body,
                    "<p>{other} more not applicable for another reason (more real time than the budget on a store whose server decides expiry).</p>"
                );
            }
        }
        body.push_str(&self.history_of(t));
        let _ = writeln!(
            body,
            "<h2 id=\"run\">Run it yourself</h2>\n<pre>git clone {repo}\ncd sessionspec\njust services   # starts Redis, PostgreSQL, MariaDB, the MongoDB-compatible server\njust npm        # the npm stores, when the store is one\ncargo run -p sessionspec -- run --store {id} --expectations reports/expectations/{file}</pre>\n\
<p>Without the expectation file the run exits 1 on every failure above; with it, only on a new one. \
<a href=\"../badges/{slug}.json\">badges/{slug}.json</a> is the <a href=\"https://shields.io/badges/endpoint-badge\">shields.io endpoint</a> \
for this store: <code>https://img.shields.io/endpoint?url=…/badges/{slug}.json</code>.</p>",
            repo = esc(self.input.source.split("/blob/").next().unwrap_or(self.input.source)),
            id = esc(&t.id),
            file = esc(&Expectations::file_name(&t.id)),
            slug = id
        );
        self.page(&format!("stores/{id}.html"), &t.id, &body)
    }

    /// The same store in other versions: each behaviour that differs, by version.
    fn history_of(&self, t: &Target) -> String {
        let family = self.versions_of(t);
        if family.len() < 2 {
            return String::new();
        }
        let mut out = format!(
            "<h2 id=\"history\">Across versions</h2>\n<p>The same store in {} versions; the <a href=\"../versions.html#{}\">versions page</a> has every behaviour that differs.</p>\n",
            family.len(),
            slug(&history_key(t))
        );
        out.push_str("<ul>");
        for v in &family {
            let s = self.stores.iter().find(|(x, _)| x.id == v.id).map(|(_, s)| s.words()).unwrap_or_default();
            let _ = write!(out, "<li><a href=\"{}.html\">{}</a>: {}</li>", slug(&v.id), esc(&v.store_version), esc(&s));
        }
        out.push_str("</ul>\n");
        out
    }

    /// Targets of the same store and client on the same backend, oldest version first.
    fn versions_of(&self, t: &Target) -> Vec<&Target> {
        let key = history_key(t);
        let mut same: Vec<&Target> = self.stores.iter().map(|(x, _)| x).filter(|x| history_key(x) == key).collect();
        same.sort_by_key(|x| version_key(split_version(&x.store_version).0));
        same.dedup_by_key(|x| x.store_version.clone());
        same
    }

    fn link(&self, link: &str) -> String {
        match link.strip_prefix("../../") {
            Some(rest) if rest.starts_with("spec/session-store.md#") => {
                format!("../requirements/{}.html", slug(&rest["spec/session-store.md#".len()..].to_uppercase()))
            }
            Some(rest) => format!("{}{rest}", self.input.source),
            None => link.to_owned(),
        }
    }

    fn requirement_index(&self) -> Page {
        let mut body = String::from(
            "<h1>Requirements</h1>\n<table><tr><th>requirement</th><th>level</th><th>statement</th><th>failing stores</th></tr>\n",
        );
        for id in self.requirement_ids() {
            let q = self.input.requirements.get(&id);
            let failing: BTreeSet<&str> = self
                .input
                .results
                .results
                .iter()
                .filter(|r| r.outcome.is_failure() && r.checks.contains(&id))
                .map(|r| r.target.as_str())
                .collect();
            let _ = writeln!(
                body,
                "<tr><td><a href=\"{}.html\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                slug(&id),
                esc(&id),
                esc(q.map(|q| q.keyword.as_str()).unwrap_or("")),
                esc(q.map(|q| q.statement.as_str()).unwrap_or("")),
                failing.len()
            );
        }
        body.push_str("</table>\n");
        self.page("requirements/index.html", "Requirements", &body)
    }

    fn requirement(&self, id: &str) -> Page {
        let q = self.input.requirements.get(id);
        let mut body = format!("<h1>{}</h1>\n", esc(id));
        match q {
            Some(q) => {
                let _ = writeln!(
                    body,
                    "<p><strong>{}</strong>: {}</p>{}",
                    esc(&q.keyword),
                    esc(&q.statement),
                    q.profile
                        .as_ref()
                        .map(|p| format!("<p class=\"muted\">Applies to stores declaring <code>{}</code>.</p>", esc(p)))
                        .unwrap_or_default()
                );
            }
            None => body.push_str("<p>This requirement is not in the spec given to the site.</p>\n"),
        }
        let _ = writeln!(
            body,
            "<p><a href=\"{}spec/session-store.md#{}\">In the spec</a></p>",
            esc(self.input.source),
            id.to_lowercase()
        );
        let scenarios: Vec<&str> = self
            .scenarios
            .iter()
            .filter(|(_, cells)| cells.values().next().is_some_and(|r| r.checks.iter().any(|c| c == id)))
            .map(|(s, _)| *s)
            .collect();
        let _ = writeln!(body, "<h2>Scenarios checking it ({})</h2>", scenarios.len());
        body.push_str(&self.outcome_table(&scenarios, true));
        self.page(&format!("requirements/{}.html", slug(id)), id, &body)
    }

    fn scenario_index(&self) -> Page {
        let mut body = String::from(
            "<h1>Scenarios</h1>\n<table><tr><th>scenario</th><th>area</th><th>level</th><th>title</th><th>passes</th><th>failures</th></tr>\n",
        );
        for (id, cells) in &self.scenarios {
            let first = cells.values().next().expect("a scenario has a result");
            let pass = cells.values().filter(|r| r.outcome == Outcome::Pass).count();
            let fail = cells.values().filter(|r| r.outcome.is_failure()).count();
            let _ = writeln!(
                body,
                "<tr><td><a href=\"{}.html\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{pass}</td><td>{fail}</td></tr>",
                slug(id),
                esc(id),
                esc(&first.area),
                esc(&first.level),
                esc(&first.title)
            );
        }
        body.push_str("</table>\n");
        self.page("scenarios/index.html", "Scenarios", &body)
    }

    fn scenario(&self, id: &str) -> Page {
        let cells = &self.scenarios[id];
        let first = cells.values().next().expect("a scenario has a result");
        let file = first.position.rsplit_once(':').map(|(f, _)| f).unwrap_or(&first.position);
        let mut body = format!("<h1><code>{}</code></h1>\n<p>{}</p>\n", esc(id), esc(&first.title));
        let checks: Vec<String> = first
            .checks
            .iter()
            .map(|c| {
                let text = self.input.requirements.get(c).map(|q| format!(" {}: {}", q.keyword, q.statement));
                format!(
                    "<li><a href=\"../requirements/{}.html\">{}</a>{}</li>",
                    slug(c),
                    esc(c),
                    esc(&text.unwrap_or_default())
                )
            })
            .collect();
        let _ = writeln!(
            body,
            "<p>Area <strong>{}</strong>, level <strong>{}</strong>. The scenario: <a href=\"{}{}\">{}</a>.</p>\n<p>It checks:</p><ul>{}</ul>",
            esc(&first.area),
            esc(&first.level),
            esc(self.input.source),
            esc(file),
            esc(&first.position),
            checks.join("")
        );
        for u in &first.refs {
            let _ = writeln!(body, "<p>Upstream: <a href=\"{}\">{}</a></p>", esc(u), esc(u));
        }
        body.push_str("<h2>On each store</h2>\n<table><tr><th>store</th><th>outcome</th><th>why</th></tr>\n");
        for (t, _) in &self.stores {
            let Some(r) = cells.get(t.id.as_str()) else { continue };
            let why = match (self.known(&t.id, id), &r.detail) {
                (Some(k), _) if r.outcome.is_failure() => format!("known: {}", k.reason),
                (_, Some(d)) if r.outcome != Outcome::Pass => d.message.lines().next().unwrap_or("").to_owned(),
                _ if r.is_flaky() => format!("flaky: passed on attempt {}", r.attempts),
                _ => String::new(),
            };
            let link = if r.outcome.is_failure() {
                format!("../stores/{}.html#{}", slug(&t.id), slug(id))
            } else {
                format!("../stores/{}.html", slug(&t.id))
            };
            let _ = writeln!(
                body,
                "<tr><td><a href=\"{link}\">{}</a></td><td class=\"{}\">{} {}</td><td>{}</td></tr>",
                esc(&t.id),
                class(r.outcome),
                emoji(r.outcome),
                r.outcome,
                esc(&why)
            );
        }
        body.push_str("</table>\n");
        self.page(&format!("scenarios/{}.html", slug(id)), id, &body)
    }

    /// Rows of scenarios, a column per store, each cell linking to the store's page.
    fn outcome_table(&self, scenarios: &[&str], nested: bool) -> String {
        let up = if nested { "../" } else { "" };
        let mut out = String::from("<div class=\"scroll\"><table class=\"matrix\"><tr><th>scenario</th>");
        for (t, _) in &self.stores {
            let _ = write!(out, "<th>{}</th>", esc(&t.id));
        }
        out.push_str("</tr>\n");
        for s in scenarios {
            let cells = &self.scenarios[s];
            let _ = write!(out, "<tr><td class=\"t\"><a href=\"{up}scenarios/{}.html\">{}</a></td>", slug(s), esc(s));
            for (t, _) in &self.stores {
                match cells.get(t.id.as_str()) {
                    Some(r) => {
                        let _ = write!(
                            out,
                            "<td class=\"{}\">{} {}</td>",
                            class(r.outcome),
                            emoji(r.outcome),
                            short(r.outcome)
                        );
                    }
                    None => out.push_str("<td>·</td>"),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table></div>\n");
        out
    }

    fn matrix(&self) -> Page {
        let mut body = String::from("<h1>Every scenario on every store</h1>\n");
        let areas: BTreeSet<&str> =
            self.scenarios.values().filter_map(|c| c.values().next()).map(|r| r.area.as_str()).collect();
        let option = |v: &str| format!("<option value=\"{}\">{}</option>", esc(v), esc(v));
        let _ = writeln!(
            body,
            "<form class=\"filter\" id=\"filter\" hidden><label>store<select name=\"store\"><option value=\"\">all</option>{}</select></label>\
<label>area<select name=\"area\"><option value=\"\">all</option>{}</select></label>\
<label>level<select name=\"level\"><option value=\"\">all</option>{}{}</select></label>\
<label>outcome<select name=\"outcome\"><option value=\"\">any</option>{}</select></label>\
<label>text<input name=\"text\" type=\"search\" placeholder=\"scenario, title, requirement\"></label><span id=\"shown\" class=\"muted\"></span></form>",
            self.stores.iter().map(|(t, _)| option(&t.id)).collect::<String>(),
            areas.iter().map(|a| option(a)).collect::<String>(),
            option("MUST"),
            option("SHOULD"),
            Outcome::ALL.iter().map(|o| option(o.name())).collect::<String>()
        );
        body.push_str("<p class=\"muted\">Without JavaScript the form stays hidden and this is the whole table. Cells: ✅ pass, ❌ fail, ⚠️ error, ⏱️ timeout, ➖ not applicable; a dashed frame marks a known failure (its reason is on the store's page).</p>\n");
        body.push_str(
            "<div class=\"scroll\"><table class=\"matrix\" id=\"matrix\"><tr><th>scenario</th><th>level</th>",
        );
        for (t, _) in &self.stores {
            let _ = write!(
                body,
                "<th data-target=\"{}\"><a href=\"stores/{}.html\">{}</a></th>",
                esc(&t.id),
                slug(&t.id),
                esc(&t.id)
            );
        }
        body.push_str("</tr>\n");
        for (id, cells) in &self.scenarios {
            let first = cells.values().next().expect("a scenario has a result");
            let _ = write!(
                body,
                "<tr data-area=\"{}\" data-level=\"{}\"><td class=\"t\"><a href=\"scenarios/{}.html\">{}</a> {} <span class=\"muted\">{}</span></td><td>{}</td>",
                esc(&first.area),
                esc(&first.level),
                slug(id),
                esc(id),
                esc(&first.title),
                esc(&first.checks.join(" ")),
                esc(&first.level)
            );
            for (t, _) in &self.stores {
                match cells.get(t.id.as_str()) {
                    Some(r) => {
                        let known = r.outcome.is_failure() && self.known(&t.id, id).is_some();
                        let text = format!("{} {}", emoji(r.outcome), short(r.outcome));
                        let text = if r.outcome.is_failure() {
                            format!("<a href=\"stores/{}.html#{}\">{text}</a>", slug(&t.id), slug(id))
                        } else {
                            text
                        };
                        let _ = write!(
                            body,
                            "<td data-outcome=\"{}\" class=\"{}{}\">{text}</td>",
                            r.outcome,
                            class(r.outcome),
                            if known { " known" } else { "" }
                        );
                    }
                    None => body.push_str("<td>·</td>"),
                }
            }
            body.push_str("</tr>\n");
        }
        body.push_str("</table></div>\n<script src=\"matrix.js\"></script>\n");
        self.page("matrix.html", "Matrix", &body)
    }

    fn versions(&self) -> Page {
        let mut body = String::from("<h1>Versions</h1>\n");
        // Backend versions: the same store on several backend versions (`postgres@13`, ...).
        let mut by_store: BTreeMap<(&str, &str), Vec<&(Target, Standing)>> = BTreeMap::new();
        for entry in &self.stores {
            by_store.entry((entry.0.store.as_str(), entry.0.store_version.as_str())).or_default().push(entry);
        }
        body.push_str("<h2 id=\"backends\">Backend versions</h2>\n");
        let several: Vec<_> = by_store
            .iter()
            .filter(|(_, v)| v.iter().map(|(t, _)| t.backend_version.clone()).collect::<BTreeSet<_>>().len() > 1)
            .collect();
        if several.is_empty() {
            body.push_str("<p>These results hold each store on one backend version. <code>just matrix</code> runs every backend version of <code>harness/backends/matrix.toml</code>; give its results files to <code>sessionspec site</code> to see them side by side here.</p>\n");
        }
        for ((store, version), entries) in several {
            let _ = writeln!(
                body,
                "<h3>{} {}</h3><table><tr><th>backend</th><th>verdict</th><th>passes / applicable</th></tr>",
                esc(store),
                esc(version)
            );
            for (t, s) in entries {
                let _ = writeln!(
                    body,
                    "<tr><td><a href=\"stores/{}.html\">{} {}</a></td><td>{}</td><td>{} / {}</td></tr>",
                    slug(&t.id),
                    esc(&t.backend),
                    esc(t.backend_version.as_deref().unwrap_or("")),
                    esc(&s.words()),
                    s.passes,
                    s.applicable
                );
            }
            body.push_str("</table>\n");
        }
        // Store versions: each behaviour across the versions of one store.
        body.push_str("<h2 id=\"stores\">Store versions</h2>\n");
        let mut seen = BTreeSet::new();
        let mut any = false;
        for (t, _) in &self.stores {
            let key = history_key(t);
            if !seen.insert(key.clone()) {
                continue;
            }
            let family = self.versions_of(t);
            if family.len() < 2 {
                continue;
            }
            any = true;
            let _ = writeln!(
                body,
                "<h3 id=\"{}\">{}</h3>\n<p>{} versions: {}. Only the scenarios whose outcome differs between versions; \"since\" names the first version from which it holds through the newest.</p>",
                slug(&key),
                esc(&key),
                family.len(),
                family
                    .iter()
                    .map(|v| format!("<a href=\"stores/{}.html\">{}</a>", slug(&v.id), esc(&v.store_version)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            body.push_str("<table><tr><th>scenario</th><th>level</th>");
            for v in &family {
                let _ = write!(body, "<th>{}</th>", esc(split_version(&v.store_version).0));
            }
            body.push_str("<th>history</th></tr>\n");
            for (id, cells) in &self.scenarios {
                let outcomes: Vec<Option<Outcome>> =
                    family.iter().map(|v| cells.get(v.id.as_str()).map(|r| r.outcome)).collect();
                if outcomes.iter().collect::<BTreeSet<_>>().len() < 2 {
                    continue;
                }
                let first = cells.values().next().expect("a result");
                let _ = write!(
                    body,
                    "<tr><td><a href=\"scenarios/{}.html\">{}</a></td><td>{}</td>",
                    slug(id),
                    esc(id),
                    esc(&first.level)
                );
                for o in &outcomes {
                    match o {
                        Some(o) => {
                            let _ = write!(body, "<td class=\"{}\">{} {}</td>", class(*o), emoji(*o), short(*o));
                        }
                        None => body.push_str("<td>·</td>"),
                    }
                }
                // A race some version loses only sometimes (an intermittent entry) says nothing
                // about a change between versions.
                let racy = family.iter().any(|v| self.known(&v.id, id).is_some_and(|k| !k.intermittent.is_empty()));
                let words = if racy {
                    "varies from run to run (a race listed as intermittent), not a change between versions".to_owned()
                } else {
                    history_words(&family, &outcomes)
                };
                let _ = writeln!(body, "<td>{}</td></tr>", esc(&words));
            }
            body.push_str("</table>\n");
        }
        if !any {
            body.push_str("<p>These results hold one version of each store.</p>\n");
        }
        self.page("versions.html", "Versions", &body)
    }

    fn performance(&self) -> Page {
        let mut body = String::from("<h1>Performance</h1>\n");
        let Some(bench) = self.input.bench else {
            body.push_str("<p>No benchmark figures were given to this site (<code>sessionspec site --bench FILE</code> takes the JSON of <code>sessionspec bench --json FILE</code>).</p>\n");
            return self.page("performance.html", "Performance", &body);
        };
        let rows = bench.get("rows").and_then(|r| r.as_array()).cloned().unwrap_or_default();
        let _ = writeln!(
            body,
            "<p>Pairs per second (one upsert with expiry and one read of the same id), median of {} runs, {}; each store beside the bare-driver loop on the same server, the native tool and its npm peer where measured. Longer is faster.</p>",
            bench.get("runs").and_then(|v| v.as_u64()).unwrap_or(0),
            esc(bench.pointer("/machine/runtime").and_then(|v| v.as_str()).unwrap_or("")),
        );
        // One chart per family and client count.
        let mut groups: BTreeMap<(String, u64), Vec<Bar>> = BTreeMap::new();
        for r in &rows {
            let family = r.get("family").and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let clients = r.get("clients").and_then(|v| v.as_u64()).unwrap_or(0);
            let name = r.get("workload").and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let role = r
                .get("role")
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                .unwrap_or_default();
            let pps = r.pointer("/median/pairs_per_sec").and_then(|v| v.as_f64()).unwrap_or(0.0);
            groups.entry((family, clients)).or_default().push((name, role, pps));
        }
        if groups.is_empty() {
            body.push_str("<p>The benchmark JSON holds no rows.</p>\n");
        }
        for ((family, clients), entries) in groups {
            let _ = writeln!(
                body,
                "<h2>{} · {} {}</h2>",
                esc(&family),
                clients,
                if clients == 1 { "client" } else { "clients" }
            );
            body.push_str(&chart(&entries));
        }
        self.page("performance.html", "Performance", &body)
    }
}

/// One bar of a chart: workload, its role, pairs per second.
type Bar = (String, String, f64);

/// A horizontal bar chart as inline SVG, with the figure written beside each bar.
fn chart(entries: &[Bar]) -> String {
    let max = entries.iter().map(|e| e.2).fold(0.0_f64, f64::max).max(1.0);
    let row = 22;
    let height = row * entries.len() + 4;
    let mut out = format!(
        "<svg role=\"img\" aria-label=\"pairs per second\" width=\"100%\" viewBox=\"0 0 720 {height}\" style=\"max-width:720px\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"system-ui,sans-serif\" font-size=\"12\">"
    );
    for (i, (name, role, pps)) in entries.iter().enumerate() {
        let y = i * row + 2;
        let w = (pps / max * 380.0).max(1.0);
        let colour = if role.contains("store") { "#0969da" } else { "#8c959f" };
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"230\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"{colour}\"><title>{}: {:.0} pairs/s</title></rect><text x=\"{:.1}\" y=\"{}\">{:.0}/s</text>",
            y + 13,
            esc(&format!("{name} ({role})")),
            esc(name),
            pps,
            236.0 + w,
            y + 13,
            pps
        );
    }
    out.push_str("</svg>\n");
    out
}

fn detail_html(r: &CaseResult) -> String {
    let Some(d) = &r.detail else { return String::new() };
    let mut out = format!(
        "<p>At <code>{}</code>{}: {}</p>\n",
        esc(d.step.as_deref().unwrap_or(&r.position)),
        d.operation.as_deref().map(|o| format!(" (<code>{}</code>)", esc(o))).unwrap_or_default(),
        esc(&d.message)
    );
    if let (Some(e), Some(a)) = (&d.expected, &d.actual) {
        let _ = writeln!(out, "<pre>{}</pre>", esc(&crate::summary::diff(e, a, false)));
    }
    if let Some(log) = &d.log {
        let log: String = log.chars().take(4000).collect();
        let _ = writeln!(out, "<details><summary>log</summary><pre>{}</pre></details>", esc(&log));
    }
    out
}

/// One stacked bar: pass, SHOULD failure, MUST failure, not applicable, over every case.
fn bar(s: &Standing) -> String {
    let total = (s.passes + s.must_failures + s.should_failures + s.not_applicable).max(1) as f64;
    let mut x = 0.0;
    let mut out = format!(
        "<svg class=\"bar\" role=\"img\" width=\"160\" height=\"14\" viewBox=\"0 0 160 14\" xmlns=\"http://www.w3.org/2000/svg\"><title>{} pass, {} SHOULD failures, {} MUST failures, {} not applicable</title>",
        s.passes, s.should_failures, s.must_failures, s.not_applicable
    );
    for (n, colour) in [
        (s.passes, "#2da44e"),
        (s.should_failures, "#d4a72c"),
        (s.must_failures, "#cf222e"),
        (s.not_applicable, "#d0d7de"),
    ] {
        let w = n as f64 / total * 160.0;
        if n > 0 {
            let _ = write!(out, "<rect x=\"{x:.2}\" width=\"{w:.2}\" height=\"14\" fill=\"{colour}\"/>");
        }
        x += w;
    }
    out.push_str("</svg>");
    out
}

fn swatch(colour: &str) -> String {
    format!(
        "<svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{colour}\"/></svg>"
    )
}

/// The badge's message: `0 MUST failures`, `14 MUST failures`, `2 SHOULD failures`.
pub fn badge_message(s: &Standing) -> String {
    match (s.must_failures, s.should_failures) {
        (0, 0) => format!("{}/{} pass", s.passes, s.applicable),
        (0, n) => crate::plural(n, "SHOULD failure", "SHOULD failures"),
        (m, _) => crate::plural(m, "MUST failure", "MUST failures"),
    }
}

/// The shields.io endpoint JSON of a store.
pub fn badge_json(s: &Standing) -> String {
    let value = serde_json::json!({
        "schemaVersion": 1,
        "label": "sessionspec",
        "message": badge_message(s),
        "color": s.colour(),
    });
    format!("{}\n", serde_json::to_string_pretty(&value).expect("JSON serializes"))
}

/// The badge as SVG, drawn here (no service needed).
pub fn badge_svg(s: &Standing) -> String {
    let label = "sessionspec";
    let message = badge_message(s);
    let colour = match s.colour() {
        "brightgreen" => "#4c1",
        "yellow" => "#dfb317",
        _ => "#e05d44",
    };
    // About 7 px per character of 11 px Verdana.
    let lw = label.len() * 7 + 10;
    let mw = message.len() * 7 + 10;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" aria-label=\"{label}: {m}\"><title>{label}: {m}</title>\
<rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{colour}\"/>\
<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
<text x=\"{lx}\" y=\"14\">{label}</text><text x=\"{mx}\" y=\"14\">{m}</text></g></svg>\n",
        w = lw + mw,
        m = esc(&message),
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

/// `9.0.0 (ioredis 5.8.2)` is version `9.0.0` with client `ioredis 5.8.2`.
fn split_version(version: &str) -> (&str, Option<&str>) {
    match version.split_once(" (") {
        Some((v, rest)) => (v, Some(rest.trim_end_matches(')'))),
        None => (version, None),
    }
}

/// What the versions of one store share: its name, its client's name (not the client's version:
/// connect-redis 8 on node-redis 4 and 9 on node-redis 5 are one history, with ioredis another)
/// and its backend.
fn history_key(t: &Target) -> String {
    let client = split_version(&t.store_version).1.map(|c| {
        let name: Vec<&str> = c.split(' ').take_while(|w| !w.starts_with(|ch: char| ch.is_ascii_digit())).collect();
        format!(" with {}", name.join(" "))
    });
    format!("{}{} on {}", t.store, client.unwrap_or_default(), t.backend)
}

fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse().unwrap_or(0)).collect()
}

/// "passes since 9.0.0", "fails since 8.1.0", "changed: ...".
fn history_words(family: &[&Target], outcomes: &[Option<Outcome>]) -> String {
    let Some(Some(last)) = outcomes.last() else { return "not run on the newest version".into() };
    let mut since = outcomes.len() - 1;
    while since > 0 && outcomes[since - 1] == Some(*last) {
        since -= 1;
    }
    let what = match last {
        Outcome::Pass => "passes",
        Outcome::NotApplicable => "not applicable",
        o if o.is_failure() => "fails",
        _ => "differs",
    };
    format!("{what} since {}", split_version(&family[since].store_version).0)
}

fn count(n: usize) -> String {
    if n == 0 { "✅ none".into() } else { format!("❌ {n}") }
}

fn emoji(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::Error => "⚠️",
        Outcome::Timeout => "⏱️",
        Outcome::NotApplicable => "➖",
    }
}

fn short(o: Outcome) -> &'static str {
    match o {
        Outcome::NotApplicable => "n/a",
        o => o.name(),
    }
}

fn class(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Error => "error",
        Outcome::Timeout => "timeout",
        Outcome::NotApplicable => "na",
    }
}

/// A file-name-safe form of an id: `node:redis` is `node-redis`, `core.get-missing` stays.
pub fn slug(text: &str) -> String {
    text.chars()
        .map(
            |c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_says_since_which_version() {
        let t = |v: &str| -> Target {
            serde_json::from_value(serde_json::json!({
                "id": v, "store": "connect-redis", "store_version": v, "language": "javascript",
                "backend": "redis", "backend_version": null, "capabilities": []
            }))
            .unwrap()
        };
        let (a, b, c) = (t("7.1.1"), t("8.1.0"), t("9.0.0"));
        let family = [&a, &b, &c];
        use Outcome::*;
        assert_eq!(history_words(&family, &[Some(Fail), Some(Fail), Some(Pass)]), "passes since 9.0.0");
        assert_eq!(history_words(&family, &[Some(Pass), Some(Fail), Some(Fail)]), "fails since 8.1.0");
        assert_eq!(split_version("9.0.0 (ioredis 5.8.2)"), ("9.0.0", Some("ioredis 5.8.2")));
        let on = |v: &str| -> Target { Target { store_version: v.into(), ..a.clone() } };
        assert_eq!(history_key(&on("8.1.0 (node-redis 4.7.1)")), history_key(&on("9.0.0 (node-redis 5.9.0)")));
        assert_ne!(history_key(&on("8.1.0 (ioredis 5.9.2)")), history_key(&on("8.1.0 (node-redis 4.7.1)")));
        assert_ne!(history_key(&on("8.1.0 (ioredis 5.9.2)")), history_key(&on("8.1.0")));
        assert!(version_key("10.0.0") > version_key("9.1.0"));
    }

    /// The published results: every page under 500 KB, and each store's badge, JSON and page
    /// say the same.
    #[test]
    fn the_published_site_is_small_and_its_badges_match_the_pages() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reports");
        let results = crate::jsonl::read(&root.join("compatibility.jsonl")).expect("the published results");
        let mut known = Vec::new();
        for entry in std::fs::read_dir(root.join("expectations")).unwrap() {
            known.push(Expectations::read(&entry.unwrap().path()).expect("a valid expectation file"));
        }
        let requirements = BTreeMap::new();
        let pages = build(&Input {
            results: &results,
            known: &known,
            requirements: &requirements,
            source: "https://x/",
            bench: None,
        });
        let by_path: BTreeMap<&str, &str> = pages.iter().map(|p| (p.path.as_str(), p.text.as_str())).collect();
        for p in &pages {
            assert!(p.text.len() < 500 * 1024, "{} is {} bytes", p.path, p.text.len());
        }
        assert!(by_path.contains_key("index.html") && by_path.contains_key("matrix.html"));
        for t in &results.header.targets {
            let s = Standing::of(&results, &t.id);
            let id = slug(&t.id);
            let json: serde_json::Value = serde_json::from_str(by_path[format!("badges/{id}.json").as_str()]).unwrap();
            let message = json["message"].as_str().unwrap();
            assert_eq!(message, badge_message(&s));
            assert!(by_path[format!("badges/{id}.svg").as_str()].contains(&format!(">{message}</text>")), "{id}");
            let page = by_path[format!("stores/{id}.html").as_str()];
            assert!(page.contains(&format!("alt=\"sessionspec: {message}\"")), "{id}");
            assert!(page.contains(&format!("Failures ({})", s.must_failures + s.should_failures)), "{id}");
        }
    }
}

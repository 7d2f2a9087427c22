#!/usr/bin/env node
'use strict';
// Proves that check-site.js can fail: copies a generated site into a temporary directory,
// plants one fault for each of its checks (a console error, an uncaught exception, a missing
// stylesheet, a broken link, a broken anchor, an id used twice, a page over 500 KB, a filter
// that ignores the outcome list, one that shows a row not matching the text, a console error
// while filtering, a filter that ignores the store list, a store table wider than the view,
// and broken links and anchors in a Markdown file), runs the checker on the copy and expects
// it to exit 1 reporting every planted fault and nothing else.
//
//   node self-test.js SITE_DIR
//
// Exits 0 when it does, 1 otherwise.

const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { spawnSync } = require('node:child_process');

const site = process.argv[2];
if (!site || !fs.existsSync(path.join(site, 'index.html'))) {
  console.error('usage: node self-test.js SITE_DIR (a site built by sessionspec site)');
  process.exit(2);
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sessionspec-site-self-test-'));
const copy = path.join(work, 'site');
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
fs.cpSync(site, copy, { recursive: true });

// Replaces `from` by `to` in one file of the copy; the fault must really be planted.
function plant(file, from, to) {
  const full = path.join(copy, file);
  const text = fs.readFileSync(full, 'utf8');
  const at = typeof from === 'string' ? text.indexOf(from) : text.search(from);
  if (at < 0) { throw new Error(`cannot plant a fault in ${file}: ${from} not found`); }
  fs.writeFileSync(full, text.replace(from, to));
}

// [what is planted, the problem line the checker must print (one at least)].
const expected = [];
// [pattern]: further lines a fault may cause (a missing stylesheet is also a failed load).
const allowed = [];

plant('scenarios/index.html', '</main>', '<script>console.error("planted console error")</script></main>');
expected.push(['console.error', /^scenarios\/index\.html: console error: .*planted console error/]);
plant('requirements/index.html', '</main>', '<script>throw new Error("planted exception")</script></main>');
expected.push(['uncaught exception', /^requirements\/index\.html: console error: .*planted exception/]);
plant('versions.html', 'href="site.css"', 'href="planted-missing.css"');
expected.push(['missing stylesheet', /^versions\.html: link to missing planted-missing\.css$/]);
allowed.push(/^versions\.html: console error: .*planted-missing\.css/);
plant('index.html', 'href="stores/', 'href="stores/planted-missing-');
expected.push(['broken link', /^index\.html: link to missing stores\/planted-missing-/]);
plant('matrix.html', /href="(stores\/[^"#]+)#[^"]+"/, 'href="$1#planted-missing-anchor"');
expected.push(['broken anchor', /^matrix\.html: no #planted-missing-anchor in stores\//]);
plant('performance.html', '</main>', '<p id="planted-twice"></p><p id="planted-twice"></p></main>');
expected.push(['id used twice', /^performance\.html: id used more than once: planted-twice$/]);
plant('scenarios/index.html', '</body>', `<!-- ${'x'.repeat(520 * 1024)} --></body>`);
expected.push(['page over 500 KB', /^scenarios\/index\.html: \d+ bytes, over 500 KB$/]);
plant('matrix.js', 'if (ok && outcome)', 'if (ok && outcome && false)');
expected.push(['filter ignoring the outcome', /^matrix filter outcome fail shows (\d+) of \1 rows: it does not narrow$/]);
plant('matrix.js', 'if (text && row', 'if (text && r > 1 && row');
expected.push(['filter showing a row that does not match', /^matrix filter text "expiry" shows \d+ rows \(1 not matching\), \d+ match$/]);
plant('matrix.js', "var shown = 0;", "var shown = 0; if (form.text.value === 'expiry') { console.error('planted error while filtering'); }");
expected.push(['console error while filtering', /^matrix\.html, filtered: console error: .*planted error while filtering/]);
plant('matrix.js', 'show.push(!t || !store || t === store)', 'show.push(true)');
expected.push(['filter ignoring the store', /^matrix filter store \S+ shows the columns \[.*\], rows up to \d+ cells; want scenario, level, /]);
fs.appendFileSync(path.join(copy, 'site.css'), 'table.stores{min-width:1500px}');
expected.push(['table too wide at 1,400 px', /^index at 1400 px: the store table spans -?\d+\.\.\d+ px, wider than the \d+ px view$/]);
expected.push(['table too wide at 390 px', /^index at 390 px: the store table spans -?\d+\.\.\d+ px, wider than the \d+ px view$/]);
allowed.push(/^index at (1400|390) px: (the page is \d+ px wide|the screenshot is )/);

const md = path.join(work, 'planted.md');
fs.writeFileSync(path.join(work, 'other.md'), '# Other\n\n## Real heading\n');
fs.writeFileSync(md, [
  '# Planted', '', '## Real heading', '', '## Real heading', '',
  'Fine: [same file](#real-heading), [the second](#real-heading-1 "title"), [other](other.md#real-heading),',
  '[a directory](site/), `[in code](nowhere.md)`, [external](https://example.org/nowhere).', '',
  '```', '[in a fence](nowhere.md)', '```', '',
  'Broken: [missing file](missing.md), [missing anchor](#no-such-heading "with a title"), [by reference][ref],',
  '<a href="other.md#nor-this">html</a>.', '',
  '[ref]: other.md#nowhere', '',
].join('\n'));
expected.push(['Markdown: missing file', /planted\.md: link missing\.md: .* does not exist$/]);
expected.push(['Markdown: missing anchor (link with a title)', /planted\.md: link #no-such-heading: no anchor #no-such-heading in /]);
expected.push(['Markdown: missing anchor (reference link)', /planted\.md: link other\.md#nowhere: no anchor #nowhere in /]);
expected.push(['Markdown: missing anchor (HTML link)', /planted\.md: link other\.md#nor-this: no anchor #nor-this in /]);

const started = Date.now();
const run = spawnSync(process.execPath, [path.join(__dirname, 'check-site.js'), copy, '--markdown', md], { encoding: 'utf8' });
const lines = run.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^\d+ problems:$/.test(l));
const failures = [];
if (run.status !== 1) { failures.push(`check-site.js exited ${run.status}, not 1`); }
for (const [what, pattern] of expected) {
  if (!lines.some((l) => pattern.test(l))) { failures.push(`not reported: ${what} (${pattern})`); }
}
for (const line of lines) {
  if (![...expected.map((e) => e[1]), ...allowed].some((p) => p.test(line))) { failures.push(`reported, not planted: ${line}`); }
}
if (failures.length > 0) {
  console.error(`self-test of check-site.js failed:\n  ${failures.join('\n  ')}\nits output:\n${run.stdout}${run.stderr}`);
  process.exit(1);
}
console.log(`check-site.js self-test: ${expected.length} planted faults, each reported, nothing else (${((Date.now() - started) / 1000).toFixed(1)} s):`);
console.log(`  ${lines.map((l) => (l.length > 160 ? `${l.slice(0, 157)}...` : l)).join('\n  ')}`);

#!/usr/bin/env node
'use strict';
// Opens every page of a generated site in Debian's chromium (headless, through chromedriver's
// WebDriver endpoint) and checks what a reader meets:
// - every page loads (complete, titled) with no console error (console.error, uncaught
//   exception, failed load of a stylesheet, script or image), no id twice, none over 500 KB;
// - every relative link, stylesheet, script and image of every page resolves to a file in the
//   site, and every #anchor of a link to an element with that id on the target page;
// - the matrix filter, used as a reader uses it (keys typed into its lists and its text field,
//   as a chromedriver click on an option fires no input event), narrows the rows to exactly the
//   rows that match, and one store shows one store column;
// - at 1,400 px and 390 px the index's store table fits the view (no element of it, and nothing
//   on the page, wider than the view) and, in a window as tall as the table, is wholly on the
//   screenshot (the PNG's own size is checked).
// It then checks the relative links and anchors of Markdown files (inline, reference and HTML
// links; GitHub's heading anchors and <a id>). Node's own fetch; no npm package.
//
//   node check-site.js SITE_DIR [--markdown FILE.md]... [--screenshots DIR]
//
// Exits 0 when every check holds, 1 with the list of problems otherwise, 2 on bad usage.
// self-test.js plants one fault per check in a copy of a site and expects each to be reported.

const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { pathToFileURL, fileURLToPath } = require('node:url');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
const MAX_PAGE = 500 * 1024;

function usage(message) {
  console.error(`error: ${message}\nusage: node check-site.js SITE_DIR [--markdown FILE.md]... [--screenshots DIR]`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { site: null, markdown: [], screenshots: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--markdown') { args.markdown.push(argv[++i]); }
    else if (argv[i] === '--screenshots') { args.screenshots = argv[++i]; }
    else if (argv[i].startsWith('-')) { usage(`unknown option ${argv[i]}`); }
    else if (!args.site) { args.site = argv[i]; }
    else { usage(`unexpected argument ${argv[i]}`); }
  }
  if (!args.site || !fs.existsSync(path.join(args.site, 'index.html'))) {
    usage(`${args.site || 'SITE_DIR'}: no index.html there (build it with sessionspec site)`);
  }
  for (const md of args.markdown) { if (!md || !fs.existsSync(md)) { usage(`--markdown ${md}: no such file`); } }
  return args;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
    server.on('error', reject);
  });
}

async function webdriver(base, method, route, body) {
  const res = await fetch(base + route, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) {
    throw new Error(`${method} ${route}: ${JSON.stringify(json.value).slice(0, 500)}`);
  }
  return json.value;
}

// Waits for chromedriver to answer /status, for at most 20 s.
async function ready(base, driver) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (driver.exitCode !== null) { throw new Error(`chromedriver exited with ${driver.exitCode}: ${driver.stderrTail}`); }
    try {
      const status = await webdriver(base, 'GET', '/status');
      if (status.ready) { return; }
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`chromedriver did not become ready within 20 s: ${driver.stderrTail}`);
}

function listPages(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) { out.push(...listPages(full)); }
    else if (entry.name.endsWith('.html')) { out.push(full); }
  }
  return out.sort();
}

// A PNG's width and height, from its IHDR chunk.
function pngSize(buffer) {
  if (buffer.length < 24 || buffer.toString('latin1', 12, 16) !== 'IHDR') { return null; }
  return { width: buffer.readUInt32BE(16), height: buffer.readUInt32BE(20) };
}

// GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -;
// a link's text stands for the link; a repeated heading gets -1, -2, ...
function githubSlug(heading) {
  return heading.trim().toLowerCase().replace(/<[^>]+>/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
}

// Fenced blocks and inline code spans hold no links.
function withoutCode(text) {
  const lines = [];
  let fence = null;
  for (const line of text.split('\n')) {
    const f = /^\s*(```+|~~~+)/.exec(line);
    if (fence) { if (f && f[1][0] === fence[0] && f[1].length >= fence.length) { fence = null; } lines.push(''); continue; }
    if (f) { fence = f[1]; lines.push(''); continue; }
    lines.push(line.replace(/(`+)[\s\S]*?\1/g, ''));
  }
  return lines.join('\n');
}

const anchorCache = new Map();
function markdownAnchors(file) {
  if (anchorCache.has(file)) { return anchorCache.get(file); }
  const text = withoutCode(fs.readFileSync(file, 'utf8'));
  const anchors = new Set();
  for (const m of text.matchAll(/<a\s[^>]*?(?:id|name)="([^"]+)"/g)) { anchors.add(m[1]); }
  const seen = new Map();
  for (const line of text.split('\n')) {
    const h = /^#{1,6} (.*?)\s*#*\s*$/.exec(line);
    if (!h) { continue; }
    const slug = githubSlug(h[1]);
    const n = seen.get(slug) || 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

function htmlIds(file) {
  return new Set([...fs.readFileSync(file, 'utf8').matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]));
}

// The relative links of a Markdown file: inline [text](dest "title"), reference definitions
// [label]: dest, and HTML href/src attributes.
function markdownLinks(text) {
  const links = [];
  for (const m of text.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) { links.push(m[1]); }
  for (const m of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/gm)) { links.push(m[1]); }
  for (const m of text.matchAll(/\s(?:href|src)="([^"]*)"/g)) { links.push(m[1]); }
  return links.map((l) => l.replace(/^<(.*)>$/, '$1'));
}

function checkMarkdown(file, problems) {
  const links = markdownLinks(withoutCode(fs.readFileSync(file, 'utf8')));
  let checked = 0;
  for (const link of links) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('//')) { continue; }
    checked++;
    const hash = link.indexOf('#');
    const target = hash < 0 ? link : link.slice(0, hash);
    const anchor = hash < 0 ? '' : decodeURIComponent(link.slice(hash + 1));
    const resolved = target ? path.resolve(path.dirname(file), decodeURIComponent(target.split('?')[0])) : path.resolve(file);
    if (!fs.existsSync(resolved)) { problems.push(`${file}: link ${link}: ${resolved} does not exist`); continue; }
    if (!anchor) { continue; }
    let anchors = null;
    if (resolved.endsWith('.md')) { anchors = markdownAnchors(resolved); }
    else if (resolved.endsWith('.html')) { anchors = htmlIds(resolved); }
    else if (/^L\d+(-L\d+)?$/.test(anchor)) {
      const lines = fs.readFileSync(resolved, 'utf8').split('\n').length;
      const last = Number(anchor.split('-').pop().slice(1));
      if (last > lines) { problems.push(`${file}: link ${link}: ${resolved} has ${lines} lines`); }
      continue;
    } else { problems.push(`${file}: link ${link}: cannot check the anchor of ${resolved}`); continue; }
    if (!anchors.has(anchor)) { problems.push(`${file}: link ${link}: no anchor #${anchor} in ${resolved}`); }
  }
  return checked;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const site = path.resolve(args.site);
  const problems = [];
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // A process group of its own: chromedriver and the browsers it starts end together.
  const driver = spawn('chromedriver', [`--port=${port}`], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  driver.stderrTail = ''; // read, so that a chatty chromedriver never blocks on a full pipe
  driver.stderr.on('data', (d) => { driver.stderrTail = (driver.stderrTail + d).slice(-2000); });
  driver.on('error', (e) => usage(`cannot start chromedriver (apt-get install chromium chromium-driver): ${e.message}`));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sessionspec-chromium-'));
  // However this process ends (an exception, a closed stdout, a signal), chromedriver and the
  // browser profile go too.
  process.on('exit', () => {
    try { process.kill(-driver.pid, 'SIGKILL'); } catch { /* already gone */ }
    try { fs.rmSync(profile, { recursive: true, force: true }); } catch { /* the browser still writing */ }
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) { process.on(signal, () => process.exit(1)); }
  let session = null;
  try {
    await ready(base, driver);
    const created = await webdriver(base, 'POST', '/session', {
      capabilities: { alwaysMatch: {
        browserName: 'chrome',
        'goog:chromeOptions': { binary: '/usr/bin/chromium', args: [...FLAGS, `--user-data-dir=${profile}`] },
        'goog:loggingPrefs': { browser: 'ALL' },
      } },
    });
    session = `/session/${created.sessionId}`;
    const exec = (script, ...a) => webdriver(base, 'POST', `${session}/execute/sync`, { script, args: a });
    const go = (url) => webdriver(base, 'POST', `${session}/url`, { url });
    const logs = () => webdriver(base, 'POST', `${session}/se/log`, { type: 'browser' });
    const size = (width, height) => webdriver(base, 'POST', `${session}/window/rect`, { width, height });
    const find = async (css) => (await webdriver(base, 'POST', `${session}/element`, { using: 'css selector', value: css }))[ELEMENT];
        const consoleErrors = async (where) => {
      for (const entry of await logs()) {
        if (entry.level === 'SEVERE') { problems.push(`${where}: console error: ${entry.message}`); }
      }
    };
    const type = async (css, text) => webdriver(base, 'POST', `${session}/element/${await find(css)}/value`, { text });

    // Every page: loads, no console error, no id twice; collect its ids and relative links.
    await size(1400, 1000);
    const pages = listPages(site);
    const ids = new Map();
    const links = [];
    await logs(); // what the blank start page logged
    for (const file of pages) {
      const name = path.relative(site, file);
      await go(pathToFileURL(file).href);
      const found = await exec(`return {
        state: document.readyState, title: document.title, url: location.href,
        ids: Array.from(document.querySelectorAll('[id]'), (e) => e.id),
        links: Array.from(document.querySelectorAll('a[href], link[href], img[src], script[src], iframe[src], source[src]'),
          (e) => e.href || e.src) };`);
      if (found.state !== 'complete' || !found.title || found.url !== pathToFileURL(file).href) {
        problems.push(`${name}: did not load (state ${found.state}, title "${found.title}", at ${found.url})`);
      }
      const idSet = new Set(found.ids);
      if (idSet.size !== found.ids.length) {
        const twice = found.ids.filter((id, i) => found.ids.indexOf(id) !== i);
        problems.push(`${name}: id${twice.length > 1 ? 's' : ''} used more than once: ${[...new Set(twice)].slice(0, 5).join(', ')}`);
      }
      ids.set(file, idSet);
      for (const href of found.links) { links.push([file, href]); }
      await consoleErrors(name);
      const bytes = fs.statSync(file).size;
      if (bytes > MAX_PAGE) { problems.push(`${name}: ${bytes} bytes, over 500 KB`); }
    }
    let relative = 0;
    let anchored = 0;
    for (const [from, href] of links) {
      if (!href.startsWith('file:')) { continue; }
      relative++;
      const url = new URL(href);
      const target = fileURLToPath(url);
      const name = path.relative(site, from);
      if (!target.startsWith(site + path.sep)) { problems.push(`${name}: link ${href} leaves the site`); continue; }
      if (!fs.existsSync(target) || !fs.statSync(target).isFile()) {
        problems.push(`${name}: link to missing ${path.relative(site, target)}`);
        continue;
      }
      const anchor = decodeURIComponent(url.hash.slice(1));
      if (!anchor) { continue; }
      anchored++;
      if (!(ids.get(target) || new Set()).has(anchor)) {
        problems.push(`${name}: no #${anchor} in ${path.relative(site, target)}`);
      }
    }

    // The filter narrows the matrix, used as a reader uses it; each case on a fresh page.
    const matrix = pathToFileURL(path.join(site, 'matrix.html')).href;
    const rows = `const rows = Array.from(document.getElementById('matrix').rows).slice(1);
      const shown = rows.filter((r) => r.getClientRects().length > 0);`;
    const filter = [];
    for (const [label, act, matches] of [
      // Keys, not a click on the option: chromedriver's click fires no input event, a reader's choice does.
      ['outcome fail', () => type('#filter select[name=outcome]', 'fail'),
        `(r) => Array.from(r.cells).some((c) => c.getAttribute('data-outcome') === 'fail')`],
      ['text "expiry"', () => type('#filter input[name=text]', 'expiry'),
        `(r) => r.textContent.toLowerCase().includes('expiry')`],
    ]) {
      await go(matrix);
      const before = await exec(`${rows} return { all: rows.length, shown: shown.length,
        form: document.getElementById('filter').getClientRects().length > 0 };`);
      if (!before.form) { problems.push('matrix: the filter form is not shown'); break; }
      if (before.shown !== before.all) { problems.push(`matrix: ${before.shown} of ${before.all} rows shown before filtering`); }
      await act();
      const after = await exec(`${rows} const matches = ${matches};
        return { shown: shown.length, want: rows.filter(matches).length, wrong: shown.filter((r) => !matches(r)).length,
          says: document.getElementById('shown').textContent };`);
      if (!(after.shown > 0 && after.shown < before.all)) {
        problems.push(`matrix filter ${label} shows ${after.shown} of ${before.all} rows: it does not narrow`);
      } else if (after.shown !== after.want || after.wrong > 0) {
        problems.push(`matrix filter ${label} shows ${after.shown} rows (${after.wrong} not matching), ${after.want} match`);
      }
      if (!after.says.startsWith(`${after.shown} of ${before.all} `)) {
        problems.push(`matrix filter ${label}: shows ${after.shown} of ${before.all} rows, the page says "${after.says}"`);
      }
      filter.push(`${label} ${before.all} -> ${after.shown} rows`);
    }
    await go(matrix);
    const store = await exec(`return document.querySelector('#filter select[name=store]').options[1].value;`);
    await type('#filter select[name=store]', store);
    const columns = await exec(`const visible = (e) => e.getClientRects().length > 0;
      const rows = Array.from(document.getElementById('matrix').rows);
      return { chosen: document.querySelector('#filter select[name=store]').value,
        head: Array.from(rows[0].cells).filter(visible).map((c) => c.getAttribute('data-target') || ''),
        widest: Math.max(...rows.slice(1).filter(visible).map((r) => Array.from(r.cells).filter(visible).length)) };`);
    if (columns.chosen !== store) { problems.push(`matrix filter: typing ${store} into the store list chose "${columns.chosen}"`); }
    else if (columns.head.length !== 3 || columns.head[2] !== store || columns.widest !== 3) {
      problems.push(`matrix filter store ${store} shows the columns [${columns.head}], rows up to ${columns.widest} cells; want scenario, level, ${store}`);
    }
    filter.push(`store ${store} ${columns.head.length} columns`);
    await consoleErrors('matrix.html, filtered');
    console.log(`matrix filter: ${filter.join('; ')}`);

    // The index's store table, whole, at a desktop and a phone width.
    const measure = `const t = document.getElementById('stores'); const r = t.getBoundingClientRect();
      let left = r.left, right = r.right;
      for (const e of t.querySelectorAll('*')) {
        for (const b of e.getClientRects()) { left = Math.min(left, b.left); right = Math.max(right, b.right); }
      }
      return { left, right, top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, width: r.width,
        view: document.documentElement.clientWidth, page: document.documentElement.scrollWidth,
        inner: window.innerHeight, scroll: window.scrollY, ratio: window.devicePixelRatio };`;
    for (const width of [1400, 390]) {
      await size(width, 900);
      await go(pathToFileURL(path.join(site, 'index.html')).href);
      const first = await exec(measure);
      // Tall enough that the whole table is on the screenshot; measured again at that size.
      await size(width, Math.ceil(first.bottom) + 200);
      const box = await exec(measure);
      const where = `index at ${width} px`;
      if (box.left < -0.5 || box.right > box.view + 0.5) {
        problems.push(`${where}: the store table spans ${Math.round(box.left)}..${Math.round(box.right)} px, wider than the ${box.view} px view`);
      }
      if (box.page > box.view) { problems.push(`${where}: the page is ${box.page} px wide, the view ${box.view} px (horizontal scrolling)`); }
      if (box.scroll !== 0 || box.inner < box.bottom) {
        problems.push(`${where}: the window shows 0..${box.inner} px from ${box.scroll}, the table spans ${box.top}..${box.bottom}`);
      }
      await consoleErrors(`index.html at ${width} px`);
      const png = Buffer.from(await webdriver(base, 'GET', `${session}/screenshot`), 'base64');
      const shot = pngSize(png);
      if (!shot || shot.width < box.right * box.ratio || shot.height < box.bottom * box.ratio) {
        problems.push(`${where}: the screenshot is ${shot ? `${shot.width}x${shot.height}` : 'not a PNG'}, the table ends at ${Math.round(box.right)}x${Math.round(box.bottom)}`);
      }
      if (args.screenshots) {
        fs.mkdirSync(args.screenshots, { recursive: true });
        fs.writeFileSync(path.join(args.screenshots, `index-${width}.png`), png);
      }
      console.log(`${where}: store table ${Math.round(box.width)} px wide in a ${box.view} px view, rows down to ${Math.round(box.bottom)} px; screenshot ${shot ? `${shot.width}x${shot.height}` : 'unreadable'}`);
    }

    let mdLinks = 0;
    for (const md of args.markdown) { mdLinks += checkMarkdown(md, problems); }
    console.log(`${pages.length} pages loaded, ${relative} relative links (${anchored} with an anchor) checked; ${mdLinks} relative Markdown links in ${args.markdown.length} files checked`);
  } finally {
    if (session) { await webdriver(base, 'DELETE', session).catch(() => {}); }
    try { process.kill(-driver.pid, 'SIGKILL'); } catch { /* already gone */ }
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (problems.length > 0) {
    console.error(`${problems.length} problems:\n  ${problems.slice(0, 200).join('\n  ')}`);
    process.exit(1);
  }
  console.log('every check holds');
}

main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });

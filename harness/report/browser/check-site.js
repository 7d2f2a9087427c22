#!/usr/bin/env node
'use strict';
// Opens every page of a generated site in Debian's chromium (headless, through chromedriver's
// WebDriver endpoint) and checks what a reader meets: no console error on any page, every
// relative link and anchor resolves, the matrix filter narrows the table, and at 1,400 px and
// 390 px the index's store table fits the width and is wholly on the screenshot. It then checks
// the relative links and anchors of Markdown files. Node's own fetch; no npm package.
//
//   node check-site.js SITE_DIR --markdown FILE.md... [--screenshots DIR]
//
// Exits 0 when every check holds, 1 with the list of problems otherwise, 2 on bad usage.

const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { pathToFileURL, fileURLToPath } = require('node:url');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

function usage(message) {
  console.error(`error: ${message}\nusage: node check-site.js SITE_DIR [--markdown FILE.md]... [--screenshots DIR]`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { site: null, markdown: [], screenshots: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--markdown') { args.markdown.push(argv[++i]); }
    else if (argv[i] === '--screenshots') { args.screenshots = argv[++i]; }
    else if (!args.site) { args.site = argv[i]; }
    else { usage(`unexpected argument ${argv[i]}`); }
  }
  if (!args.site || !fs.existsSync(path.join(args.site, 'index.html'))) {
    usage(`${args.site || 'SITE_DIR'}: no index.html there (build it with sessionspec site)`);
  }
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
    if (driver.exitCode !== null) { throw new Error(`chromedriver exited with ${driver.exitCode}`); }
    try {
      const status = await webdriver(base, 'GET', '/status');
      if (status.ready) { return; }
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('chromedriver did not become ready within 20 s');
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

// GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -.
function githubSlug(heading) {
  return heading.trim().toLowerCase().replace(/<[^>]+>/g, '').replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function markdownAnchors(file) {
  const text = fs.readFileSync(file, 'utf8');
  const anchors = new Set();
  for (const m of text.matchAll(/<a id="([^"]+)"/g)) { anchors.add(m[1]); }
  let inFence = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) { inFence = !inFence; continue; }
    const h = !inFence && /^#{1,6} (.*)$/.exec(line);
    if (h) { anchors.add(githubSlug(h[1])); }
  }
  return anchors;
}

function checkMarkdown(file, problems) {
  const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
  let checked = 0;
  for (const link of links) {
    if (/^[a-z]+:/i.test(link)) { continue; }
    checked++;
    const [target, anchor] = link.split('#');
    const resolved = target ? path.resolve(path.dirname(file), decodeURIComponent(target)) : path.resolve(file);
    if (!fs.existsSync(resolved)) { problems.push(`${file}: link ${link}: ${resolved} does not exist`); continue; }
    if (anchor && resolved.endsWith('.md') && !markdownAnchors(resolved).has(anchor)) {
      problems.push(`${file}: link ${link}: no anchor #${anchor} in ${resolved}`);
    }
  }
  return checked;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const site = path.resolve(args.site);
  const problems = [];
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const driver = spawn('chromedriver', [`--port=${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  driver.on('error', (e) => usage(`cannot start chromedriver (apt-get install chromium chromium-driver): ${e.message}`));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sessionspec-chromium-'));
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

    // Every page: no console error; collect its ids and relative links.
    await size(1400, 1000);
    const pages = listPages(site);
    const ids = new Map();
    const links = [];
    for (const file of pages) {
      await go(pathToFileURL(file).href);
      const found = await exec(`return {
        ids: Array.from(document.querySelectorAll('[id]'), (e) => e.id),
        links: Array.from(document.querySelectorAll('a[href], link[href], img[src], script[src]'), (e) => e.href || e.src),
        bytes: document.documentElement.outerHTML.length };`);
      ids.set(file, new Set(found.ids));
      for (const href of found.links) { links.push([file, href]); }
      for (const entry of await logs()) {
        if (entry.level === 'SEVERE') { problems.push(`${path.relative(site, file)}: console error: ${entry.message}`); }
      }
      const bytes = fs.statSync(file).size;
      if (bytes > 500 * 1024) { problems.push(`${path.relative(site, file)}: ${bytes} bytes, over 500 KB`); }
    }
    let relative = 0;
    for (const [from, href] of links) {
      if (!href.startsWith('file:')) { continue; }
      relative++;
      const url = new URL(href);
      const target = fileURLToPath(url);
      if (!target.startsWith(site)) { problems.push(`${path.relative(site, from)}: link ${href} leaves the site`); continue; }
      if (!fs.existsSync(target)) { problems.push(`${path.relative(site, from)}: link to missing ${path.relative(site, target)}`); continue; }
      const anchor = decodeURIComponent(url.hash.slice(1));
      if (anchor && !(ids.get(target) || new Set()).has(anchor)) {
        problems.push(`${path.relative(site, from)}: no #${anchor} in ${path.relative(site, target)}`);
      }
    }

    // The filter narrows the matrix.
    await go(pathToFileURL(path.join(site, 'matrix.html')).href);
    const visible = `return Array.from(document.querySelectorAll('#matrix tr')).slice(1).filter((r) => !r.hidden).length;`;
    const all = await exec(visible);
    const narrowed = await exec(`const f = document.getElementById('filter');
      f.outcome.value = 'fail'; f.dispatchEvent(new Event('input'));
      return Array.from(document.querySelectorAll('#matrix tr')).slice(1).filter((r) => !r.hidden).length;`);
    const byText = await exec(`const f = document.getElementById('filter');
      f.outcome.value = ''; f.text.value = 'expiry'; f.dispatchEvent(new Event('input'));
      return Array.from(document.querySelectorAll('#matrix tr')).slice(1).filter((r) => !r.hidden).length;`);
    const columns = await exec(`const f = document.getElementById('filter');
      f.text.value = ''; f.store.value = f.store.options[1].value; f.dispatchEvent(new Event('input'));
      return Array.from(document.querySelectorAll('#matrix tr:first-child th')).filter((c) => !c.hidden).length;`);
    if (!(narrowed > 0 && narrowed < all)) { problems.push(`matrix filter outcome=fail shows ${narrowed} of ${all} rows`); }
    if (!(byText > 0 && byText < all)) { problems.push(`matrix filter text=expiry shows ${byText} of ${all} rows`); }
    if (columns !== 3) { problems.push(`matrix filter by one store shows ${columns} header cells, not 3 (scenario, level, the store)`); }
    console.log(`matrix filter: ${all} rows; outcome fail ${narrowed}; text "expiry" ${byText}; one store ${columns} columns`);

    // The index's store table, whole, at a desktop and a phone width.
    for (const width of [1400, 390]) {
      await size(width, 900);
      await go(pathToFileURL(path.join(site, 'index.html')).href);
      const box = await exec(`const r = document.getElementById('stores').getBoundingClientRect();
        return { left: r.left, right: r.right, bottom: r.bottom + window.scrollY, view: document.documentElement.clientWidth };`);
      if (box.left < 0 || box.right > box.view + 0.5) {
        problems.push(`index at ${width} px: the store table spans ${box.left}..${box.right}, wider than the ${box.view} px view`);
      }
      // Tall enough that the whole table is on the screenshot.
      await size(width, Math.ceil(box.bottom) + 200);
      const inner = await exec('return window.innerHeight;');
      if (inner < box.bottom) { problems.push(`index at ${width} px: the window is ${inner} px high, the table ends at ${box.bottom}`); }
      if (args.screenshots) {
        fs.mkdirSync(args.screenshots, { recursive: true });
        const png = await webdriver(base, 'GET', `${session}/screenshot`);
        fs.writeFileSync(path.join(args.screenshots, `index-${width}.png`), Buffer.from(png, 'base64'));
      }
      console.log(`index at ${width} px: store table ${Math.round(box.right - box.left)} px wide in ${box.view}, ${Math.round(box.bottom)} px down`);
    }

    let mdLinks = 0;
    for (const md of args.markdown) { mdLinks += checkMarkdown(md, problems); }
    console.log(`${pages.length} pages loaded, ${relative} relative links checked, ${mdLinks} Markdown links checked`);
  } finally {
    if (session) { await webdriver(base, 'DELETE', session).catch(() => {}); }
    driver.kill();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (problems.length > 0) {
    console.error(`${problems.length} problems:\n  ${problems.slice(0, 200).join('\n  ')}`);
    process.exit(1);
  }
  console.log('every check holds');
}

main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });

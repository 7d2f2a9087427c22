'use strict';
// Every failure the published table shows for an npm store must be the store's, not the
// adapter's. Each entry of reports/expectations/node-*.toml is reproduced here by calling the
// store directly, with plain JSON objects and plain callbacks: none of the adapter's
// conversions (no live Session, no createSession, no mutation afterwards). An entry that no
// direct call reproduces is the adapter's bug: fix the adapter and drop the entry.
//
// An entry without a reproduction yet is listed as a `todo` test (reported, never passing);
// presets whose backend is not configured (SESSIONSPEC_*_URL) are skipped, and say so.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const clock = require('../lib/clock');

const EXPECTATIONS = path.join(__dirname, '..', '..', '..', 'reports', 'expectations');
const BACKENDS = {
  redis: 'SESSIONSPEC_REDIS_URL',
  pg: 'SESSIONSPEC_POSTGRES_URL',
  'knex-postgres': 'SESSIONSPEC_POSTGRES_URL',
  'knex-mysql': 'SESSIONSPEC_MYSQL_URL',
  mongo: 'SESSIONSPEC_MONGO_URL',
};

/** The entries of an expectation file: `[{scenario, outcome}]` (the file's own simple TOML). */
function entries(text) {
  const known = [];
  let current = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '[[known]]') {
      current = {};
      known.push(current);
    } else if (current) {
      const m = /^(\w+)\s*=\s*"(.*)"\s*$/.exec(line);
      if (m) {
        current[m[1]] = m[2];
      }
    }
  }
  return known;
}

/**
 * `store[method](...args, cb)` as a promise: the callback's first call, as a direct caller sees
 * it, or the rejection of the promise the method returned when the callback never comes.
 */
function call(store, method, ...args) {
  return new Promise((resolve, reject) => {
    const returned = store[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
    if (returned && typeof returned.then === 'function') {
      returned.then(undefined, (err) => reject(Object.assign(err, { withoutCallback: true })));
    }
  });
}

/**
 * `set` of a session the spec says to reject with `invalid`: the store accepts it, or fails with
 * an error that does not say `invalid` (no npm store marks its errors), which is what the entry
 * lists.
 */
async function notInvalid(store, sid, session) {
  const err = await call(store, 'set', sid, session).then(() => null, (e) => e);
  assert.ok(err === null || err.sessionspecKind !== 'invalid', `set failed with invalid: ${err}`);
}

const iso = (ms) => new clock.RealDate(ms).toISOString();

/**
 * Reproductions by scenario id: each gets `{store, now, advance}` for a fresh instance and must
 * show the failure the entry lists with a direct call (an assertion of what the store does
 * where the spec says otherwise).
 */
const REPRODUCTIONS = {
  // SET-5: the store does not reject a session without a cookie object with `invalid`.
  'core.set-rejects-missing-cookie': async ({ store }) => {
    await notInvalid(store, 'nocookie', { n: 1 });
  },
  // SET-4: the store does not reject a cookie.expires that is not a time with `invalid`.
  'core.set-rejects-malformed-expires': async ({ store }) => {
    await notInvalid(store, 'malformed', { cookie: { expires: 'not a date', originalMaxAge: null }, n: 1 });
  },
  // TOUCH-5: touch keeps the stored cookie instead of the one it was given.
  'touch.rewrites-cookie': async ({ store, now }) => {
    await call(store, 'set', 'a', { cookie: { expires: iso(now() + 3600000), originalMaxAge: 3600000 }, n: 1 });
    await call(store, 'touch', 'a', { cookie: { expires: iso(now() + 7200000), originalMaxAge: 7200000 }, n: 1 });
    const found = await call(store, 'get', 'a');
    const stored = JSON.parse(JSON.stringify(found.cookie));
    assert.ok(stored.originalMaxAge !== 7200000 || stored.expires !== iso(now() + 7200000), `the stored cookie is the touched one: ${JSON.stringify(stored)}`);
  },
  'touch.rewrites-whole-cookie': async ({ store, now, advance }) => {
    const cookie = { expires: iso(now() + 3600000), originalMaxAge: 3600000, path: '/', httpOnly: true };
    await call(store, 'set', 'a', { cookie, user: 'alice' });
    await advance(1000);
    const touched = { ...cookie, expires: iso(now() + 3600000), secure: true };
    await call(store, 'touch', 'a', { cookie: touched, user: 'mallory' });
    const found = JSON.parse(JSON.stringify(await call(store, 'get', 'a')));
    assert.notDeepEqual(found, { cookie: touched, user: 'alice' }, 'touch stored the whole cookie and nothing else');
  },
  // ALL-3: all returns sessions without their sids beside them.
  'core.all-entries-carry-sid': async ({ store, now }) => {
    await call(store, 'set', 'first', { cookie: { expires: iso(now() + 3600000) }, n: 1 });
    await call(store, 'set', 'second', { cookie: { expires: iso(now() + 3600000) }, n: 2 });
    const listed = await call(store, 'all');
    assert.ok(Array.isArray(listed), 'an object keyed by sid carries them');
    for (const session of listed) {
      assert.ok(!Object.values(session).includes('first') && !Object.values(session).includes('second'), `a sid in ${JSON.stringify(session)}`);
    }
  },
  // LENGTH-1: length counts expired records.
  'core.length-counts-live': async ({ store, now, advance }) => {
    for (const [sid, ms] of [['a', 3600000], ['b', 3600000], ['c', 2000]]) {
      await call(store, 'set', sid, { cookie: { expires: iso(now() + ms) } });
    }
    await advance(3000);
    assert.equal(await call(store, 'length'), 3, 'the expired session is counted');
  },
  'core.length-after-writes': async ({ store, now }) => {
    await call(store, 'set', 'a', { cookie: { expires: iso(now() + 3600000) } });
    await call(store, 'set', 'a', { cookie: { expires: iso(now() + 3600000) }, again: true });
    await call(store, 'set', 'b', { cookie: { expires: iso(now() + 3600000) } });
    await call(store, 'set', 'c', { cookie: { expires: iso(now() - 1000) } });
    await call(store, 'destroy', 'b');
    assert.notEqual(await call(store, 'length'), 1, 'length counts the live sid only');
  },
  // MW-3 with a plain JSON cookie: expiry from cookie.maxAge, which JSON does not have.
  'regressions.connect-session-knex-53-expiry-from-max-age': async ({ store, now, advance }) => {
    await call(store, 'set', 'a', { cookie: { expires: iso(now() + 2000), originalMaxAge: 2000, path: '/', httpOnly: true }, n: 1 });
    await advance(3000);
    const found = await call(store, 'get', 'a');
    assert.ok(found, 'the session outlived its cookie.expires');
  },
  'expiry.original-max-age-ignored': async ({ store, now, advance }) => {
    await call(store, 'set', 'short', { cookie: { expires: iso(now() + 2000), originalMaxAge: 86400000 }, n: 1 });
    await advance(3000);
    const found = await call(store, 'get', 'short');
    assert.ok(found, 'the session outlived its cookie.expires');
  },
  // EXPIRY-3: no fallback ttl, a session without expires never expires.
  'expiry.no-expires-expires-eventually': async ({ store, advance }) => {
    await call(store, 'set', 'a', { cookie: { originalMaxAge: null }, n: 1 });
    await advance(400 * 86400000);
    assert.ok(await call(store, 'get', 'a'), 'still there 400 days later');
  },
};

// The presets' shared clients (pools, connections) end with their `shutdown`, as the adapter's do.
const opened = new Set();
test.after(async () => {
  for (const factory of opened) {
    if (factory.shutdown) {
      await factory.shutdown();
    }
  }
});

for (const file of fs.readdirSync(EXPECTATIONS).filter((f) => f.startsWith('node-') && f.endsWith('.toml')).sort()) {
  const preset = file.slice('node-'.length, -'.toml'.length);
  const known = entries(fs.readFileSync(path.join(EXPECTATIONS, file), 'utf8'));
  const variable = BACKENDS[preset];
  for (const entry of known) {
    const reproduce = REPRODUCTIONS[entry.scenario];
    const name = `node:${preset} ${entry.scenario} (${entry.outcome}) is the store's`;
    if (!reproduce) {
      test(name, { todo: 'no direct-call reproduction yet' }, () => {});
      continue;
    }
    const skip = variable && !process.env[variable] ? `${variable} is not set` : false;
    test(name, { skip }, async () => {
      const factory = require(`../lib/presets/${preset}`);
      opened.add(factory);
      const virtual = (factory.capabilities || []).includes('virtual-clock');
      let at = clock.RealDate.now();
      if (virtual) {
        clock.set(iso(at));
      }
      const now = () => at;
      // As the harness does: a virtual clock moves at once; on a store whose server keeps
      // time, real time passes (within the harness's real-time budget of 5 s).
      const advance = async (ms) => {
        at += ms;
        if (virtual) {
          clock.set(iso(at));
        } else if (ms <= 5000) {
          await new Promise((resolve) => setTimeout(resolve, ms));
        } else {
          throw new Error(`node:${preset} has no virtual clock, and ${ms} ms is beyond the real-time budget`);
        }
      };
      const namespace = `repro_${preset.replace(/-/g, '_')}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
      const handle = await factory.open({ namespace, options: {}, emit() {}, log() {} });
      try {
        await reproduce({ store: handle.store, now, advance });
      } finally {
        clock.set(null);
        if (typeof handle.store.close === 'function') {
          await handle.store.close();
        }
        if (handle.close) {
          await handle.close();
        }
        await factory.drop(namespace);
      }
    });
  }
}

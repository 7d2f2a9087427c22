'use strict';
// The community stores' published failures (reports/expectations/js-*.toml) reproduced by calling
// each store directly, through its factory file here, with plain JSON sessions and plain
// callbacks, as stores/express-adapter/test/reproductions.test.js does for the npm stores (whose
// helpers and shared reproductions this file reuses). An entry without a reproduction is a
// `todo` test; a store whose backend is not configured is skipped, and says so.
//
// Run: cd stores/community && node --test test/  (after npm ci; no sessionspec package needed)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const ADAPTER = path.join(__dirname, '..', '..', 'express-adapter');
const clock = require(path.join(ADAPTER, 'lib', 'clock'));
const { call, failure, session, within, expectationEntries, reproductionClock, closeInstance } = require(path.join(ADAPTER, 'test', 'reproductions', 'helpers'));
const shared = Object.assign({}, ...['core', 'expiry', 'touch', 'lifecycle', 'serialization'].map((area) => require(path.join(ADAPTER, 'test', 'reproductions', area))));

const EXPECTATIONS = path.join(__dirname, '..', '..', '..', 'reports', 'expectations');
const BACKENDS = {
  'connect-memcached': 'SESSIONSPEC_MEMCACHED',
  'connect-mongodb-session': 'SESSIONSPEC_MONGO_URL',
  'express-mysql-session': 'SESSIONSPEC_MYSQL_URL',
  'connect-session-sequelize': 'SESSIONSPEC_POSTGRES_URL',
};
const HOUR = 3600000;
const MINUTE = 60000;

/** MW-1 with plain JSON cookies: touches every `every` ms, then the session outlives its last expiry. */
async function touchesOutlive({ store, now, advance }, { ms, every, touches, after }) {
  await call(store, 'set', 'a', session(now, ms, { cookie: { originalMaxAge: ms }, n: 1 }));
  for (let i = 0; i < touches; i += 1) {
    await advance(every);
    await call(store, 'touch', 'a', session(now, ms, { cookie: { originalMaxAge: ms }, n: 1 }));
  }
  await advance(after);
  assert.ok(await call(store, 'get', 'a'), 'the session outlived the cookie.expires of its last touch');
}

/** session-file-store: get returns its `__lastAccess` bookkeeping member with the session. */
async function lastAccessReturned({ store, now }, data) {
  await call(store, 'set', 'a', session(now, HOUR, data));
  const found = await call(store, 'get', 'a');
  assert.equal(typeof found.__lastAccess, 'number', `no __lastAccess in ${JSON.stringify(found)}`);
}

/** session-file-store: get of a sid with no file fails with fs's ENOENT instead of absent. */
async function missingGetFails(store, sid) {
  const err = await failure(store, 'get', sid);
  assert.equal(err.code, 'ENOENT');
}

/** session-file-store: expiry is `__lastAccess` + originalMaxAge (else 3600 s), not cookie.expires. */
async function expiredStillFound({ store, now, advance }, first, second) {
  await call(store, 'set', 'a', session(now, first, { n: 1 }));
  if (second !== undefined) {
    await call(store, 'set', 'a', session(now, second, { n: 2 }));
  }
  await advance(3000);
  assert.ok(await call(store, 'get', 'a'), 'the session outlived its cookie.expires');
}

// Entries a plain JSON direct call does not reproduce, and why.
const BSON_NULLS = 'not with plain JSON: called directly with a plain JSON cookie, get returns no null members; with express-session\'s live Cookie (as express-session, and the sessionspec package, hand it over) get returns partitioned, priority, secure, domain and sameSite as null: the store and driver under express-session\'s objects, not under plain JSON';
const TODO = {
  'connect-mongodb-session': Object.fromEntries([
    'concurrency.many-writers-many-sids', 'concurrency.set-then-get-in-parallel', 'concurrency.sets-across-instances',
    'concurrency.sets-many-sids-none-lost', 'concurrency.sets-one-sid-expiry-follows-data', 'concurrency.sets-one-sid-one-winner',
    'concurrency.sets-while-destroying-others', 'regressions.aspnet-session-60-lost-writes',
    'regressions.connect-redis-333-concurrent-sessions-merge', 'serialization.dates-stay-strings', 'serialization.types-round-trip',
  ].map((id) => [id, BSON_NULLS])),
};

/** Reproductions per store, by scenario id. */
const REPRODUCTIONS = {
  memorystore: {
    ...pick(shared, [
      'core.set-rejects-missing-cookie', 'core.set-rejects-malformed-expires', 'core.length-counts-live',
      'core.length-after-writes', 'expiry.original-max-age-ignored', 'expiry.set-slides-expiry',
      'expiry.set-slides-for-hours', 'regressions.connect-session-knex-53-expiry-from-max-age',
    ]),
    // IDS-2: ids lists an expired session (a plain JSON cookie gives it the one-day LRU maxAge).
    'core.ids-hides-expired': async ({ store, now, advance }) => {
      await call(store, 'set', 'live', session(now, HOUR));
      await call(store, 'set', 'dead', session(now, 2000));
      await advance(3000);
      assert.deepEqual((await call(store, 'ids')).sort(), ['dead', 'live']);
    },
    // LENGTH-2: length counts the expired session that all skips.
    'core.length-agrees-with-all-and-ids': async ({ store, now }) => {
      await call(store, 'set', 'a', session(now, HOUR));
      await call(store, 'set', 'b', session(now, HOUR));
      await call(store, 'set', 'c', session(now, -1000));
      assert.equal(await call(store, 'length'), 3);
    },
    // MW-1: touches with plain JSON cookies also leave the one-day LRU maxAge.
    'touch.slides-for-hours': (ctx) => touchesOutlive(ctx, { ms: 15 * MINUTE, every: 10 * MINUTE, touches: 12, after: 16 * MINUTE }),
    'touch.stops-then-expires': (ctx) => touchesOutlive(ctx, { ms: 2000, every: 1000, touches: 1, after: 3000 }),
  },
  'connect-sqlite3': pick(shared, [
    'core.set-rejects-missing-cookie', 'core.set-rejects-malformed-expires', 'core.length-counts-live',
    'core.length-after-writes', 'core.all-entries-carry-sid', 'expiry.original-max-age-ignored',
    'expiry.set-slides-expiry', 'expiry.set-slides-for-hours', 'regressions.connect-session-knex-53-expiry-from-max-age',
    'touch.rewrites-cookie', 'touch.rewrites-whole-cookie', 'touch.touch-then-set-keeps-new-expiry',
    'regressions.connect-mongo-351-touch-leaves-stale-cookie',
  ]),
  'express-mysql-session': {
    ...pick(shared, [
      'core.set-rejects-missing-cookie', 'core.set-rejects-malformed-expires', 'touch.rewrites-cookie',
      'touch.rewrites-whole-cookie', 'touch.touch-then-set-keeps-new-expiry',
      'regressions.connect-mongo-351-touch-leaves-stale-cookie', 'touch.expired-stays-expired',
      'regressions.connect-mongo-459-touch-after-expiry', 'lifecycle.closed-operations-fail',
      'lifecycle.closed-get-is-not-absent', 'lifecycle.close-one-instance-only',
    ]),
    // SER-7: `abc` and `abc ` are one key under the column's PAD SPACE collation.
    'serialization.sid-trailing-space': (ctx) => shared['serialization.sid-trailing-space'](ctx),
    // SER-5: session_id is VARCHAR(128); a 255-byte sid is too long for it.
    'serialization.sid-255-bytes': async ({ store, now }) => {
      const err = await failure(store, 'set', 's'.repeat(255), session(now, HOUR, { n: 1 }));
      assert.match(err.message, /Data too long for column 'session_id'/);
    },
  },
  'connect-session-sequelize': {
    ...pick(shared, [
      'core.set-rejects-missing-cookie', 'core.set-rejects-malformed-expires', 'core.length-counts-live',
      'core.length-after-writes', 'expiry.original-max-age-ignored', 'expiry.set-slides-expiry',
      'expiry.set-slides-for-hours', 'regressions.connect-session-knex-53-expiry-from-max-age',
      'expiry.no-expires-expires-eventually', 'touch.rewrites-cookie', 'touch.rewrites-whole-cookie',
      'touch.touch-then-set-keeps-new-expiry', 'regressions.connect-mongo-351-touch-leaves-stale-cookie',
    ]),
    // GET-2, SET-3: get never compares the expires column with the time.
    'record.load-after-expiry-date': (ctx) => expiredStillFound(ctx, 2000),
    'record.save-expired-record': (ctx) => expiredStillFound(ctx, HOUR, -HOUR),
    'expiry.get-expired-is-absent': (ctx) => expiredStillFound(ctx, 2000),
    'core.get-leaves-expiry-alone': (ctx) => expiredStillFound(ctx, 2000),
    // SER-5: the model's sid is STRING(36).
    'serialization.sid-255-bytes': async ({ store, now }) => {
      const err = await failure(store, 'set', 's'.repeat(255), session(now, HOUR, { n: 1 }));
      assert.match(err.message, /value too long for type character varying\(36\)/);
    },
  },
  'connect-mongodb-session': {
    ...pick(shared, ['core.set-rejects-missing-cookie', 'core.set-rejects-malformed-expires']),
    // ALL-*: all hands cursor.toArray a callback, which the mongodb 6 driver ignores (it returns
    // a promise): the callback never comes. Waited for as long as the harness's step (8 s).
    ...Object.fromEntries([
      'core.all-entries-carry-sid', 'core.all-expired-before-live', 'core.all-hides-expired', 'core.all-lists-live',
      'core.all-reflects-latest-writes', 'ownership.all-returns-copies', 'regressions.express-session-700-all-shape',
    ].map((id) => [id, async ({ store, now }) => {
      await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
      const state = await within(call(store, 'all'), 8000);
      assert.ok(!state.settled, `all answered: ${state.ok ? JSON.stringify(state.value) : state.err}`);
    }])),
  },
  'session-file-store': {
    ...pick(shared, [
      'core.set-rejects-missing-cookie', 'core.set-rejects-malformed-expires', 'core.length-counts-live',
      'core.length-after-writes', 'expiry.original-max-age-ignored',
    ]),
    // GET-6, SET-6, SER-1: get returns `__lastAccess`, a member never set.
    'ownership.get-returns-a-copy': (ctx) => lastAccessReturned(ctx, { cookie: { originalMaxAge: HOUR }, cart: { items: [{ sku: 'x1', qty: 2 }] }, n: 1 }),
    'ownership.set-stores-a-copy': (ctx) => lastAccessReturned(ctx, { cookie: { originalMaxAge: HOUR, path: '/' }, user: { name: 'alice', roles: ['admin', 'editor'] }, n: 1 }),
    'serialization.reserved-member-names': (ctx) => lastAccessReturned(ctx, { cookie: { originalMaxAge: HOUR }, save: 's', touch: 1, valueOf: 2 }),
    'core.set-then-get': (ctx) => lastAccessReturned(ctx, { n: 1 }),
    // DESTROY-2, GET-1: after destroy (or with no file at all), get fails with ENOENT.
    'record.delete-missing-id': async ({ store, now }) => {
      await call(store, 'destroy', 'never-saved').catch(() => {});
      await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
      await call(store, 'destroy', 'a');
      await missingGetFails(store, 'a');
    },
    'core.get-missing': ({ store }) => missingGetFails(store, 'never-set'),
    'regressions.connect-pg-simple-26-fresh-namespace': ({ store }) => missingGetFails(store, 'a'),
    // GET-2, SET-3: a session whose cookie.expires has passed is still returned.
    'record.load-after-expiry-date': (ctx) => expiredStillFound(ctx, 2000),
    'record.save-expired-record': (ctx) => expiredStillFound(ctx, HOUR, -HOUR),
    'expiry.get-expired-is-absent': (ctx) => expiredStillFound(ctx, 2000),
    // TOUCH-3: touch reads the file first and fails with ENOENT when there is none.
    'touch.missing-is-noop': async ({ store, now }) => {
      const err = await failure(store, 'touch', 'ghost', session(now, HOUR, { n: 1 }));
      assert.equal(err.code, 'ENOENT');
    },
    'regressions.connect-mongo-390-touch-missing-errors': async ({ store, now }) => {
      const err = await failure(store, 'touch', 'never-set', session(now, HOUR, { n: 1 }));
      assert.equal(err.code, 'ENOENT');
    },
    'touch.destroyed-stays-destroyed': async ({ store, now }) => {
      await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
      await call(store, 'destroy', 'a');
      const err = await failure(store, 'touch', 'a', session(now, 2 * HOUR, { n: 1 }));
      assert.equal(err.code, 'ENOENT');
    },
    // The same causes behind many more entries (their reasons name them): a get of a sid with
    // no file fails with ENOENT (after destroy, clear, or before the first set) ...
    ...Object.fromEntries([
      ['core.destroy-removes', 'destroy'], ['core.destroy-exact-sid', 'destroy'], ['core.destroy-pattern-sids', 'destroy'],
      ['core.destroy-missing', 'none'], ['concurrency.get-during-first-set', 'none'], ['core.clear-removes-everything', 'clear'],
      ['core.clear-then-works', 'clear'], ['core.clear-twice', 'clear'],
    ].map(([id, how]) => [id, async ({ store, now }) => {
      if (how !== 'none') {
        await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
        await (how === 'destroy' ? call(store, 'destroy', 'a') : call(store, 'clear'));
      }
      await missingGetFails(store, 'a');
    }])),
    'core.clear-then-touch': async ({ store, now }) => {
      await call(store, 'set', 'a', session(now, 2000, { n: 1 }));
      await call(store, 'clear');
      const err = await failure(store, 'touch', 'a', session(now, HOUR, { n: 1 }));
      assert.equal(err.code, 'ENOENT');
    },
    // ... every session read back carries `__lastAccess` (the concurrency claims compare whole
    // sessions, so each of their read-backs differs from what was written) ...
    ...Object.fromEntries([
      'serialization.dates-stay-strings', 'serialization.large-payload-overwritten', 'serialization.types-round-trip',
      'touch.rewrites-whole-cookie', 'concurrency.many-writers-many-sids', 'concurrency.set-then-get-in-parallel',
      'concurrency.sets-across-instances', 'concurrency.sets-many-sids-none-lost', 'concurrency.sets-one-sid-expiry-follows-data',
      'concurrency.sets-one-sid-one-winner', 'regressions.aspnet-session-60-lost-writes',
      'regressions.connect-redis-333-concurrent-sessions-merge',
    ].map((id) => [id, (ctx) => lastAccessReturned(ctx, { n: 1 })])),
    // ... and expiry is `__lastAccess` + originalMaxAge (else 3600 s), never cookie.expires.
    ...Object.fromEntries([
      'core.get-leaves-expiry-alone', 'core.set-expired-cookie', 'expiry.expired-write-ends-live-session',
      'expiry.set-after-expiry-starts-over', 'expiry.set-moves-expiry-both-ways', 'expiry.virtual-clock-decides-expiry',
      'namespaces.writes-own-only', 'regressions.connect-mongo-459-touch-after-expiry',
      'regressions.connect-pg-simple-25-clock-skew', 'regressions.connect-pg-simple-54-save-follows-cookie',
      'regressions.connect-redis-292-negative-ttl-on-save', 'touch.expired-stays-expired', 'touch.past-expiry-ends-session',
      'touch.repeated-touches', 'touch.shortens-expiry',
    ].map((id) => [id, (ctx) => expiredStillFound(ctx, 2000)])),
    // SER-7 and friends: the sid is the file name; `/` in it names a missing directory.
    'serialization.sid-punctuation': async ({ store, now }) => {
      const err = await failure(store, 'set', 'a/b', session(now, HOUR, { n: 1 }));
      assert.equal(err.code, 'ENOENT');
    },
    'serialization.sid-255-bytes': async ({ store, now }) => {
      const err = await failure(store, 'set', 's'.repeat(255), session(now, HOUR, { n: 1 }));
      assert.equal(err.code, 'ENAMETOOLONG');
    },
  },
};

function pick(table, ids) {
  return Object.fromEntries(ids.map((id) => {
    assert.ok(table[id], `no shared reproduction for ${id}`);
    return [id, table[id]];
  }));
}

for (const file of fs.readdirSync(EXPECTATIONS).filter((f) => f.startsWith('js-') && f.endsWith('.toml')).sort()) {
  const store = file.slice('js-'.length, -'.toml'.length);
  const table = REPRODUCTIONS[store] || {};
  const variable = BACKENDS[store];
  for (const entry of expectationEntries(path.join(EXPECTATIONS, file))) {
    const spec = table[entry.scenario];
    const reproduction = typeof spec === 'function' ? { run: spec } : spec;
    const name = `js:${store} ${entry.scenario} (${entry.outcome}) is the store's`;
    if (!reproduction) {
      test(name, { todo: (TODO[store] && TODO[store][entry.scenario]) || 'no direct-call reproduction yet' }, () => {});
      continue;
    }
    const skip = variable && !process.env[variable] ? `${variable} is not set` : false;
    test(name, { skip }, async () => {
      const factory = require(`../${store}`);
      const { now, advance } = reproductionClock(factory, `js:${store}`);
      process.env.SESSIONSPEC_WORK_DIR = process.env.SESSIONSPEC_WORK_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'community-repro-'));
      const namespace = `repro_${store.replace(/-/g, '_')}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
      const handles = [];
      const open = async () => {
        const opened = await factory.open({ namespace, options: {}, emit() {}, log() {} });
        handles.push(opened);
        return opened;
      };
      const close = closeInstance;
      try {
        const handle = await open();
        await reproduction.run({ preset: store, factory, namespace, store: handle.store, handle, now, advance, open, close });
      } finally {
        clock.set(null);
        for (const opened of handles.filter((h) => !h.closed)) {
          await close(opened).catch(() => {}); // teardown only
        }
        await factory.drop(namespace);
      }
    });
  }
}

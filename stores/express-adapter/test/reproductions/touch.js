'use strict';
// Touch: TOUCH-3 (a missing or destroyed sid is a no-op), TOUCH-4 (an expired session stays
// expired), TOUCH-5 (the stored cookie becomes the one touch was given).

const assert = require('node:assert/strict');
const { call, iso, session, touchMissingFails } = require('./helpers');

const HOUR = 3600000;

/** TOUCH-5: after a touch with a new cookie, get still returns the cookie of the last set. */
async function touchKeepsOldCookie({ store, now, advance }, { first, wait, second }) {
  await call(store, 'set', 'a', session(now, first, { cookie: { originalMaxAge: first }, n: 1 }));
  if (wait) {
    await advance(wait);
  }
  const touchedExpires = iso(now() + second);
  await call(store, 'touch', 'a', session(now, second, { cookie: { originalMaxAge: second }, n: 1 }));
  const found = JSON.parse(JSON.stringify(await call(store, 'get', 'a')));
  assert.notEqual(found.cookie.expires, touchedExpires, 'get returns the touched cookie');
  return found;
}

/** TOUCH-4: a touch after expiry (record still stored) brings the session back. */
async function touchRevives({ store, now, advance }, { getFirst = false } = {}) {
  await call(store, 'set', 'a', session(now, 1000, { n: 1 }));
  if (getFirst) {
    assert.equal((await call(store, 'get', 'a')).n, 1);
  }
  await advance(2000);
  assert.equal(await call(store, 'get', 'a') ?? null, null, 'expired before the touch');
  await call(store, 'touch', 'a', session(now, HOUR, { n: 1 }));
  const found = await call(store, 'get', 'a');
  assert.ok(found && found.n === 1, `the touch did not revive it: ${JSON.stringify(found)}`);
}

module.exports = {
  // TOUCH-5: touch keeps the stored cookie instead of the one it was given.
  'touch.rewrites-cookie': async (ctx) => {
    const found = await touchKeepsOldCookie(ctx, { first: HOUR, second: 2 * HOUR });
    assert.equal(found.cookie.originalMaxAge, HOUR, 'the stored originalMaxAge is the old one');
  },
  'touch.rewrites-whole-cookie': async ({ store, now, advance }) => {
    const cookie = { expires: iso(now() + HOUR), originalMaxAge: HOUR, path: '/', httpOnly: true };
    await call(store, 'set', 'a', { cookie, user: 'alice' });
    await advance(1000);
    const touched = { ...cookie, expires: iso(now() + HOUR), secure: true };
    await call(store, 'touch', 'a', { cookie: touched, user: 'mallory' });
    const found = JSON.parse(JSON.stringify(await call(store, 'get', 'a')));
    assert.notDeepEqual(found, { cookie: touched, user: 'alice' }, 'touch stored the whole cookie and nothing else');
  },
  'touch.touch-then-set-keeps-new-expiry': (ctx) => touchKeepsOldCookie(ctx, { first: 2000, second: HOUR }),
  'regressions.connect-mongo-351-touch-leaves-stale-cookie': (ctx) =>
    touchKeepsOldCookie(ctx, { first: 600000, wait: 300000, second: 600000 }),
  // TOUCH-5 (connect-redis #259): a save built from what get returns after a touch writes the old
  // expiry back. On Redis real time passes: the set's 2 s cookie, touched 1 s later.
  'regressions.connect-redis-259-save-after-touch': async ({ store, now, advance }) => {
    await call(store, 'set', 'a', session(now, 2000, { cookie: { originalMaxAge: 2000 }, n: 1 }));
    await advance(1000);
    const touchedExpires = iso(now() + 2000);
    await call(store, 'touch', 'a', session(now, 2000, { cookie: { originalMaxAge: 2000 }, n: 1 }));
    const loaded = JSON.parse(JSON.stringify(await call(store, 'get', 'a')));
    assert.notEqual(loaded.cookie.expires, touchedExpires, 'get returns the touched expiry');
    assert.ok(Date.parse(loaded.cookie.expires) < Date.parse(touchedExpires), 'the loaded cookie is the older one');
  },
  // TOUCH-4: touch of an expired session still stored revives it.
  'touch.expired-stays-expired': (ctx) => touchRevives(ctx),
  'regressions.connect-mongo-459-touch-after-expiry': (ctx) => touchRevives(ctx, { getFirst: true }),
  'touch.expired-record-stays-expired': {
    options: { 'auto-remove': 'disabled' },
    run: (ctx) => touchRevives(ctx),
  },
  // AR-6: with auto-remove disabled, a touch days after expiry revives the kept document.
  'auto-remove.disabled-keeps-records-for-days': {
    options: { 'auto-remove': 'disabled' },
    run: async ({ store, now, advance }) => {
      await call(store, 'set', 'a', session(now, 1000, { n: 1 }));
      await advance(3 * 86400000);
      await call(store, 'touch', 'a', session(now, HOUR, { n: 1 }));
      const found = await call(store, 'get', 'a');
      assert.ok(found && found.n === 1, `the touch did not revive it: ${JSON.stringify(found)}`);
    },
  },
  // TOUCH-3: touch of a sid with no record fails (connect-mongo) instead of succeeding.
  'touch.missing-is-noop': ({ store, now }) => touchMissingFails(store, 'ghost', now),
  'touch.missing-leaves-no-record': ({ store, now }) => touchMissingFails(store, 'ghost', now),
  'regressions.connect-mongo-390-touch-missing-errors': ({ store, now }) => touchMissingFails(store, 'never-set', now),
  'touch.destroyed-stays-destroyed': async ({ store, now }) => {
    await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
    await call(store, 'destroy', 'a');
    await touchMissingFails(store, 'a', now);
  },
  // CLEAR-3: after clear, touch fails where on a fresh namespace it would succeed.
  'core.clear-then-touch': async ({ store, now }) => {
    await call(store, 'set', 'a', session(now, 2000, { n: 1 }));
    await call(store, 'clear');
    await touchMissingFails(store, 'a', now);
  },
  // EV-4: a touch of a missing sid errors rather than succeeding silently.
  'events.touch-missing-is-silent': ({ store, now }) => touchMissingFails(store, 'ghost', now),
  // EV-4: touch of an expired, still stored document writes it and emits `touch`.
  'events.touch-expired-is-silent': async ({ store, now, advance }) => {
    await call(store, 'set', 'a', session(now, 1000, { n: 1 }));
    await advance(2000);
    const events = [];
    store.on('touch', (sid) => events.push(sid));
    await call(store, 'touch', 'a', session(now, HOUR, { n: 1 }));
    assert.deepEqual(events, ['a'], 'a touch event for the expired session');
  },
};

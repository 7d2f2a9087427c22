'use strict';
// Expiry: MW-2/MW-3 (the expiry comes from cookie.expires, also for a plain JSON cookie) and
// EXPIRY-3 (a session without expires expires eventually).

const assert = require('node:assert/strict');
const { call, session } = require('./helpers');

/**
 * MW-3 with a plain JSON cookie, which has no `maxAge` getter: connect-session-knex takes the
 * expiry from cookie.maxAge, falls back to a day, and the session outlives its cookie.expires.
 * `sets` are the cookie lengths of the sets, `every` the time between them.
 */
async function outlivesExpires({ store, now, advance }, { sets, every, after }) {
  for (const [i, ms] of sets.entries()) {
    if (i > 0) {
      await advance(every);
    }
    await call(store, 'set', 'a', session(now, ms, { cookie: { originalMaxAge: ms, path: '/', httpOnly: true }, n: i }));
  }
  await advance(after);
  const found = await call(store, 'get', 'a');
  assert.ok(found, 'the session outlived its cookie.expires');
  assert.equal(found.n, sets.length - 1);
}

module.exports = {
  // MW-3 with a plain JSON cookie: expiry from cookie.maxAge, which JSON does not have.
  'regressions.connect-session-knex-53-expiry-from-max-age': (ctx) => outlivesExpires(ctx, { sets: [2000], after: 3000 }),
  'expiry.original-max-age-ignored': async ({ store, now, advance }) => {
    await call(store, 'set', 'short', session(now, 2000, { cookie: { originalMaxAge: 86400000 }, n: 1 }));
    await advance(3000);
    const found = await call(store, 'get', 'short');
    assert.ok(found, 'the session outlived its cookie.expires');
  },
  // MW-2: sets slide the expiry; the session expires at the last set's expiry (here it does not).
  'expiry.set-slides-expiry': (ctx) => outlivesExpires(ctx, { sets: [2000, 2000, 2000], every: 1000, after: 3000 }),
  'expiry.set-slides-for-hours': (ctx) =>
    outlivesExpires(ctx, { sets: Array(7).fill(900000), every: 600000, after: 16 * 60000 }),
  // EXPIRY-3: no fallback ttl, a session without expires never expires.
  'expiry.no-expires-expires-eventually': async ({ store, advance }) => {
    await call(store, 'set', 'a', { cookie: { originalMaxAge: null }, n: 1 });
    await advance(400 * 86400000);
    assert.ok(await call(store, 'get', 'a'), 'still there 400 days later');
  },
};

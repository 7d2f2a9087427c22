'use strict';
// Core operations: set validation, corrupt payloads, all, length, one completion per call.

const assert = require('node:assert/strict');
const { call, attempt, reportsTwice, session } = require('./helpers');

/**
 * `set` of a session the spec says to reject with `invalid`: the store accepts it, or fails with
 * an error that does not say `invalid` (no npm store marks its errors), which is what the entry
 * lists.
 */
async function notInvalid(store, sid, value) {
  const err = await call(store, 'set', sid, value).then(() => null, (e) => e);
  assert.ok(err === null || err.sessionspecKind !== 'invalid', `set failed with invalid: ${err}`);
}

/**
 * GET-4/GET-5 on connect-pg-simple: a get of a payload it cannot parse deletes the row and
 * reports the session absent, where the spec wants a serialize error and the record kept.
 */
async function pgDeletesCorrupt({ store, now, tamper, record }, sid = 'a') {
  await call(store, 'set', sid, session(now, 3600000, { n: 1 }));
  await tamper(sid, 'garbage');
  const got = await attempt(store, 'get', sid);
  assert.ok(got.ok, `get failed: ${got.err}`);
  assert.equal(got.value ?? null, null, 'get reports the corrupt session absent');
  assert.equal(await record(sid), null, 'the record is deleted');
}

/** A damaged record, then the failure each store shows for a get of it. */
async function corruptGet(ctx) {
  const { preset, store, now, tamper } = ctx;
  if (preset === 'pg') {
    await pgDeletesCorrupt(ctx);
    return;
  }
  await call(store, 'set', 'a', session(now, 3600000, { n: 1 }));
  await tamper('a', 'garbage');
  await reportsTwice(store, 'get', ['a']);
}

module.exports = {
  // SET-5: the store does not reject a session without a cookie object with `invalid`.
  'core.set-rejects-missing-cookie': async ({ store }) => {
    await notInvalid(store, 'nocookie', { n: 1 });
  },
  // SET-4: the store does not reject a cookie.expires that is not a time with `invalid`.
  'core.set-rejects-malformed-expires': async ({ store }) => {
    await notInvalid(store, 'malformed', { cookie: { expires: 'not a date', originalMaxAge: null }, n: 1 });
  },
  // GET-4, GET-5, ERROR-1, ERROR-2: a get of a damaged record (pg deletes it; knex reports twice).
  'core.get-corrupt-payload-fails': corruptGet,
  'core.corrupt-payload-stays': corruptGet,
  'core.corrupt-payload-destroyable': corruptGet,
  'core.failure-leaves-store-usable': async (ctx) => {
    const { store, now } = ctx;
    await call(store, 'set', 'good', session(now, 3600000, { n: 2 }));
    await corruptGet(ctx);
  },
  // ERROR-3: every call completes once; connect-session-knex 5's get of a damaged record also
  // rejects the promise it returns after calling back.
  'core.operations-complete-once': async ({ store, now, tamper }) => {
    await call(store, 'set', 'a', session(now, 3600000, { n: 2 }));
    await tamper('a', 'garbage');
    await reportsTwice(store, 'get', ['a']);
  },
  // ALL-4, ERROR-3: all over a damaged record reports its error twice (connect-session-knex 5).
  'core.all-fails-on-corrupt-entry': async ({ store, now, tamper }) => {
    await call(store, 'set', 'a', session(now, 3600000, { n: 1 }));
    await call(store, 'set', 'b', session(now, 3600000, { n: 2 }));
    await tamper('b', 'garbage');
    await reportsTwice(store, 'all', []);
  },
  // ALL-3: all returns sessions without their sids beside them.
  'core.all-entries-carry-sid': async ({ store, now }) => {
    await call(store, 'set', 'first', session(now, 3600000, { n: 1 }));
    await call(store, 'set', 'second', session(now, 3600000, { n: 2 }));
    const listed = await call(store, 'all');
    assert.ok(Array.isArray(listed), 'an object keyed by sid carries them');
    for (const s of listed) {
      assert.ok(!Object.values(s).includes('first') && !Object.values(s).includes('second'), `a sid in ${JSON.stringify(s)}`);
    }
  },
  // LENGTH-1: length counts expired records.
  'core.length-counts-live': async ({ store, now, advance }) => {
    for (const [sid, ms] of [['a', 3600000], ['b', 3600000], ['c', 2000]]) {
      await call(store, 'set', sid, session(now, ms));
    }
    await advance(3000);
    assert.equal(await call(store, 'length'), 3, 'the expired session is counted');
  },
  'core.length-after-writes': async ({ store, now }) => {
    await call(store, 'set', 'a', session(now, 3600000));
    await call(store, 'set', 'a', session(now, 3600000, { again: true }));
    await call(store, 'set', 'b', session(now, 3600000));
    await call(store, 'destroy', 'b');
    // An expired record is counted until something removes it; on node:mongo the server's TTL
    // monitor (SecantusDB's sweeps every second) may do so between the write and the count. So
    // up to three expired records, each counted at once after its write.
    for (let i = 0; i < 3; i++) {
      await call(store, 'set', `c${i}`, session(now, -1000));
      if ((await call(store, 'length')) !== 1) {
        return;
      }
    }
    assert.fail('length counted the live sid only after each of three expired writes');
  },
};

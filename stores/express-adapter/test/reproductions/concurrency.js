'use strict';
// Concurrency: CONC-6 (instances opened at once all work), CONC-1/CONC-2 (racing writes leave
// one whole session), CONC-3 (a touch racing a destroy neither errors nor revives).
//
// Every entry here but connect-mongo #471 is a race the store loses only sometimes (listed as
// intermittent): each reproduction retries on fresh namespaces or sids, up to `TRIES` times (or as said),
// until the race is lost once, and fails if it never is.

const assert = require('node:assert/strict');
const { call, attempt, session, touchMissingFails, unhandledDuring } = require('./helpers');

const HOUR = 3600000;
const TRIES = 10;

// What each store's loser of the table-creation race fails with.
const TABLE_RACE = /already exists|duplicate key value violates unique constraint "pg_type_typname_nsp_index"/;

/** Repeats `once(i)` until it returns failures (a non-empty array); asserts one attempt did. */
async function untilLost(once, what, tries = TRIES) {
  for (let i = 0; i < tries; i += 1) {
    const failures = await once(i);
    if (failures.length > 0) {
      return failures;
    }
  }
  assert.fail(`${what}: the race was never lost in ${tries} tries`);
}

/**
 * CONC-6: `count` instances opened at once on a fresh namespace, each setting (and getting) its
 * own sid right away; the instances all create the missing table, and a loser's set fails.
 */
async function openAtOnce({ open, fresh, now }, count, i) {
  const namespace = fresh(`at_once${i}`);
  let outcomes = [];
  // connect-session-knex 4's loser also leaves the returned promise rejected, unhandled.
  const unhandled = await unhandledDuring(async () => {
    const handles = await Promise.all(Array.from({ length: count }, () => open({}, namespace)));
    outcomes = await Promise.all(handles.map(async (h, j) => {
      const set = await attempt(h.store, 'set', `x${j}`, session(now, HOUR, { n: String(j) }));
      return set.ok ? attempt(h.store, 'get', `x${j}`) : set;
    }));
  });
  return [...outcomes.filter((o) => !o.ok).map((o) => o.err), ...unhandled];
}

// connect-session-knex's Postgres set once the table exists: update, then insert when nothing
// was updated, so two first writes of one sid can both insert.
const UPSERT_RACE = /duplicate key value violates unique constraint "sessions_pkey"/;

/** Each failure is a loser of the table-creation race (or of `also`). */
function tableRace(failures, also = null) {
  for (const err of failures) {
    assert.ok(TABLE_RACE.test(err.message) || (also && also.test(err.message)), `not a race: ${err.message}`);
  }
}

module.exports = {
  // CONC-6: the table-creation race of instances opened together (knex, pg).
  'concurrency.instances-open-at-once': {
    fresh: true,
    run: async (ctx) => tableRace(await untilLost((i) => openAtOnce(ctx, 10, i), 'ten instances at once')),
  },
  'concurrency.instances-open-at-once-share': {
    fresh: true,
    run: async (ctx) => tableRace(await untilLost((i) => openAtOnce(ctx, 8, i), 'eight instances at once')),
  },
  // CONC-1: sets through three instances opened one after another, before any table exists.
  'concurrency.sets-across-instances': {
    fresh: true,
    run: async ({ open, fresh, now }) => tableRace(await untilLost(async (i) => {
      const namespace = fresh(`across${i}`);
      const main = await open({}, namespace);
      const b = await open({}, namespace);
      const c = await open({}, namespace);
      const writes = [[main, 'main', 1], [b, 'b', 2], [c, 'c', 3], [main, 'main', 4], [b, 'b', 5]];
      const outcomes = await Promise.all(writes.map(([h, from, n]) =>
        attempt(h.store, 'set', 'shared', session(now, HOUR, { from, n }))));
      return outcomes.filter((o) => !o.ok).map((o) => o.err);
    }, 'sets across three instances'), UPSERT_RACE),
  },
  // CONC-1, CONC-2: connect-session-knex's Postgres set (update, then insert when nothing was
  // updated) lets two first writes of one sid both insert; one fails on the primary key.
  'concurrency.many-writers-many-sids': async ({ store, now }) => {
    await call(store, 'get', 'warm-up'); // the table exists: only the writes race
    const failures = await untilLost(async (i) => {
      const writes = [];
      for (let w = 0; w < 10; w += 1) {
        for (let k = 0; k < 5; k += 1) {
          writes.push(attempt(store, 'set', `t${i}k${k}`, session(now, HOUR, { w, copy: String(w) })));
        }
      }
      return (await Promise.all(writes)).filter((o) => !o.ok).map((o) => o.err);
    }, 'ten writers on five sids', 100); // each try takes some 40 ms, and few are lost
    for (const err of failures) {
      assert.match(err.message, UPSERT_RACE);
    }
  },
  // CONC-3: when the destroy lands first, connect-mongo's touch fails instead of succeeding.
  'concurrency.touch-destroy-race': async ({ store, now }) => {
    const failures = await untilLost(async (i) => {
      const rounds = await Promise.all(Array.from({ length: 20 }, async (_, j) => {
        const sid = `r${i}s${j}`;
        await call(store, 'set', sid, session(now, HOUR, { n: j }));
        return Promise.all([
          attempt(store, 'touch', sid, session(now, 2 * HOUR, { n: j })),
          attempt(store, 'destroy', sid),
          attempt(store, 'touch', sid, session(now, 3 * HOUR, { n: j })),
        ]);
      }));
      return rounds.flat().filter((o) => !o.ok).map((o) => o.err);
    }, 'touches racing destroys');
    for (const err of failures) {
      assert.match(err.message, /Unable to find the session to touch/);
    }
  },
  // CONC-3, TOUCH-3 (connect-mongo #471): a touch after the logout's destroy fails. The
  // concurrent pair may go either way; the touch after it is the entry's failure every time.
  'regressions.connect-mongo-471-touch-racing-logout': async ({ store, now }) => {
    await call(store, 'set', 'a', session(now, HOUR, { user: 'alice' }));
    await Promise.all([attempt(store, 'destroy', 'a'), attempt(store, 'touch', 'a', session(now, HOUR, { user: 'alice' }))]);
    await touchMissingFails(store, 'a', now);
    assert.equal(await call(store, 'get', 'a') ?? null, null, 'no resurrection');
  },
};

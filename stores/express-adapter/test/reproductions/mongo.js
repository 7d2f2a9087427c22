'use strict';
// Options of connect-mongo (touch-after, timestamps, serializer) and connect-redis (name): TA-1..4
// and EV-3/EV-4 (touchAfter skips only a session carrying get's lastModified), TS-2/TS-3 and
// EXPIRY-5 (updatedAt from the database server's clock), SERDE-3 (stringify switch), NAME-3.

const assert = require('node:assert/strict');
const { call, iso, session, unhandledDuring } = require('./helpers');

const HOUR = 3600000;
const MINUTE = 60000;

/** `touch` with the events it emits, as a direct caller sees them. */
async function touchEvents(store, sid, value) {
  const events = [];
  const listener = (touched) => events.push(touched);
  store.on('touch', listener);
  try {
    await call(store, 'touch', sid, value);
  } finally {
    store.off('touch', listener);
  }
  return events;
}

/**
 * TS-2/TS-3, EXPIRY-5: connect-mongo stamps updatedAt with $currentDate, the server's clock;
 * after `ms` on the virtual clock it lags the write's time by about that much.
 */
async function updatedLags({ now, record }, ms) {
  const raw = await record('a');
  const lag = now() - Date.parse(raw.fields.updatedAt);
  assert.ok(lag > ms - 1000, `updatedAt ${raw.fields.updatedAt} is within a second of the write (${iso(now())})`);
}

/** SERDE-3: a session stored as JSON text, read by a stringify: false instance, comes back a string. */
async function readAsString({ store, now, open }, data) {
  await call(store, 'set', 'a', session(now, HOUR, data));
  const other = await open({ serializer: 'document' });
  const found = await call(other.store, 'get', 'a');
  assert.equal(typeof found, 'string', `get returns ${JSON.stringify(found)}`);
  return other;
}

const touchAfter = (value, run) => ({ options: { 'touch-after': value }, run });

module.exports = {
  // TA-4: with touchAfter, get returns connect-mongo's lastModified as a session member.
  'touch-after.no-bookkeeping-member': touchAfter('1m', async ({ store, now }) => {
    await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
    const found = await call(store, 'get', 'a');
    assert.ok('lastModified' in found, `no lastModified in ${JSON.stringify(found)}`);
  }),
  // TA-1: a touch inside the window (its session without lastModified) is not skipped.
  'touch-after.skips-within-window': touchAfter('10s', async ({ store, now, advance }) => {
    await call(store, 'set', 'a', session(now, 3000, { n: 1 }));
    await advance(1000);
    await call(store, 'touch', 'a', session(now, HOUR, { n: 1 }));
    await advance(3000);
    assert.ok(await call(store, 'get', 'a'), 'the touch moved the expiry: the session outlives its set');
  }),
  'touch-after.skip-cannot-shorten': touchAfter('10s', async ({ store, now }) => {
    await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
    await call(store, 'touch', 'a', session(now, -1000, { n: 1 }));
    assert.equal(await call(store, 'get', 'a') ?? null, null, 'the touch wrote its past expiry');
  }),
  'touch-after.skip-leaves-record': touchAfter('1m', async ({ store, now, advance, record }) => {
    await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
    const before = await record('a');
    await advance(2000);
    await call(store, 'touch', 'a', session(now, 2 * HOUR, { n: 1 }));
    const after = await record('a');
    assert.ok(Date.parse(after.expires) - Date.parse(before.expires) > 1000, `expires ${before.expires} -> ${after.expires}`);
  }),
  // TA-3: a touch 30 s after a set, inside its window, is not skipped.
  'touch-after.set-starts-new-window': touchAfter('1m', async ({ store, now, advance }) => {
    await call(store, 'set', 'a', session(now, 10 * MINUTE, { n: 1 }));
    await advance(50000);
    await call(store, 'set', 'a', session(now, 10 * MINUTE, { n: 2 }));
    await advance(30000);
    await call(store, 'touch', 'a', session(now, HOUR, { n: 2 }));
    await advance(10 * MINUTE);
    assert.ok(await call(store, 'get', 'a'), 'the touch extended the session past the set\'s expiry');
  }),
  // TA-2: a touch 30 s after a touch, inside its window, is not skipped.
  'touch-after.touch-starts-new-window': touchAfter('1m', async ({ store, now, advance }) => {
    await call(store, 'set', 'a', session(now, 10 * MINUTE, { n: 1 }));
    await advance(2 * MINUTE);
    await call(store, 'touch', 'a', session(now, 20 * MINUTE, { n: 1 }));
    await advance(30000);
    await call(store, 'touch', 'a', session(now, HOUR, { n: 1 }));
    await advance(20 * MINUTE);
    assert.ok(await call(store, 'get', 'a'), 'the second touch extended the session');
  }),
  // EV-4, EV-3: a touch inside the window writes and emits touch.
  'events.skipped-touch-is-silent': touchAfter('1m', async ({ store, now, advance }) => {
    await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
    await advance(10000);
    assert.deepEqual(await touchEvents(store, 'a', session(now, HOUR, { n: 1 })), ['a']);
  }),
  'regressions.connect-mongo-246-touch-event-every-request': touchAfter('1m', async ({ store, now }) => {
    await call(store, 'set', 'a', session(now, HOUR, { n: 1 }));
    assert.deepEqual(await touchEvents(store, 'a', session(now, HOUR, { n: 1 })), ['a']);
  }),
  // TS-2, TS-3, EXPIRY-5: updatedAt from the server's clock, not the virtual one.
  'timestamps.later-set-moves-updated': {
    options: { timestamps: true },
    run: async (ctx) => {
      await call(ctx.store, 'set', 'a', session(ctx.now, HOUR, { n: 1 }));
      await ctx.advance(3000);
      await call(ctx.store, 'set', 'a', session(ctx.now, HOUR, { n: 2 }));
      await updatedLags(ctx, 3000);
    },
  },
  'timestamps.touch-moves-updated': {
    options: { timestamps: true },
    run: async (ctx) => {
      await call(ctx.store, 'set', 'a', session(ctx.now, HOUR, { n: 1 }));
      await ctx.advance(3000);
      await call(ctx.store, 'touch', 'a', session(ctx.now, 2 * HOUR, { n: 1 }));
      await updatedLags(ctx, 3000);
    },
  },
  'expiry.virtual-clock-drives-timestamps': {
    options: { timestamps: true },
    run: async (ctx) => {
      await call(ctx.store, 'set', 'a', session(ctx.now, 24 * HOUR, { n: 1 }));
      await ctx.advance(3 * HOUR);
      await call(ctx.store, 'set', 'a', session(ctx.now, 24 * HOUR, { n: 2 }));
      await updatedLags(ctx, 3 * HOUR);
    },
  },
  // SERDE-3: a stringify: false instance reads a stringify: true session as a string.
  'serializer.json-read-as-document': { options: { serializer: 'json' }, run: (ctx) => readAsString(ctx, { n: 1 }) },
  'regressions.connect-mongo-427-stringify-switch': {
    options: { serializer: 'json' },
    run: (ctx) => readAsString(ctx, { user: 'alice' }),
  },
  // NAME-3: connect-redis's ids scans `prefix*` unescaped: the store named a*b lists axb's s1.
  'naming.pattern-characters-literal': {
    options: { name: 'axb' },
    run: async ({ store, now, open }) => {
      await call(store, 'set', 's1', session(now, HOUR, { n: 1 }));
      const star = await open({ name: 'a*b' });
      assert.deepEqual(await call(star.store, 'ids'), ['s1']);
    },
  },
  // CLOSE-3: connect-mongo's open starts creating its TTL index and its close does not wait for
  // it, so an instance closed right after it opened (as the scenario's third instance is, at the
  // case's end) leaves "Cannot use a session that has ended" unhandled (connect-mongo #413).
  'namespaces.startup-leaves-others': {
    fresh: true,
    run: async ({ open, close, fresh }) => {
      const unhandled = await unhandledDuring(async () => {
        for (let i = 0; i < 5; i += 1) {
          await close(await open({}, fresh(`third${i}`)));
        }
      }, 1000);
      const messages = unhandled.map((r) => String((r && r.message) || r));
      assert.ok(messages.some((m) => /Cannot use a session that has ended/.test(m)), `unhandled: ${JSON.stringify(messages)}`);
    },
  },
};

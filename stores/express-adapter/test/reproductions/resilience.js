'use strict';
// Resilience, through a TCP fault proxy (helpers.faultProxy) between the store and its server:
// RES-1 (operations fail within the step's 8 s bound while the server is down or silent), RES-3
// (the instance recovers), RES-4 (a store opened during an outage works once the server is back)
// and, on connect-session-knex 5, ERROR-3 (a failed call reports twice).

const assert = require('node:assert/strict');
const { call, attempt, reports, reportsTwice, within, unhandledDuring, session, sleep, faultProxy } = require('./helpers');

const HOUR = 3600000;
const BOUND = 8000; // the steps' timeout in the resilience scenarios

const VARIABLES = {
  redis: 'SESSIONSPEC_REDIS_URL',
  pg: 'SESSIONSPEC_POSTGRES_URL',
  'knex-postgres': 'SESSIONSPEC_POSTGRES_URL',
  'knex-mysql': 'SESSIONSPEC_MYSQL_URL',
  mongo: 'SESSIONSPEC_MONGO_URL',
};

/**
 * A fault proxy in front of the preset's server, and `openVia(options)`: an instance opened as
 * the adapter opens one, with the preset's SESSIONSPEC_*_URL pointing at the proxy while it
 * opens (the presets read it at open; their admin clients, which create and drop namespaces,
 * connect first, to the server itself). The proxy is healed and closed after the instances.
 */
async function proxied(ctx) {
  const variable = VARIABLES[ctx.preset];
  const real = process.env[variable];
  const url = new URL(real);
  const proxy = await ctx.factory.backend().then(() => faultProxy(url.hostname, Number(url.port)));
  ctx.after(async () => {
    await proxy.heal();
    await proxy.close();
  });
  url.host = `127.0.0.1:${proxy.port}`;
  const openVia = async (options = {}, namespace = undefined) => {
    process.env[variable] = url.toString();
    try {
      return await ctx.open(options, namespace);
    } finally {
      process.env[variable] = real;
    }
  };
  return { proxy, openVia };
}

/**
 * The server is down: new connections refused, open ones reset (the scenarios' outage); then a
 * pause, as between the harness's steps, for the clients to see their connections gone.
 */
async function outage(proxy) {
  proxy.refuse();
  proxy.reset();
  await sleep(200);
}

/**
 * Heals the proxy and waits (at most 5 s, as the scenarios' `eventually`) for the instance to
 * answer again, so that closing it at the end does not meet a client still reconnecting (a
 * node-redis client's quit during its reconnection waits indefinitely).
 */
async function heal(proxy, store) {
  await proxy.heal();
  await within(call(store, 'get', 'a'), 5000);
}

/** RES-1: `promise` neither resolves nor rejects within the bound. */
async function hangs(promise, what) {
  const state = await within(promise, BOUND);
  assert.ok(!state.settled, `${what} settled within ${BOUND} ms: ${state.ok ? 'ok' : state.err}`);
}

/**
 * node:redis-readme (the client as connect-redis's readme makes it, no `error` listener): when
 * the outage resets its connection, node-redis emits `error` with nobody listening and the
 * exception is uncaught (an application's process ends there; here it is caught to be seen).
 * Then the client never recovers: with `during`, a `get` during the outage waits past the bound,
 * and after the server is back a `set` still does. With `openDuring`, that `set` is on a second
 * instance opened during the outage (its open returns at once: connect() is not awaited).
 */
async function readmeClientCrashes(ctx, { during = false, openDuring = false } = {}) {
  const { proxy, openVia } = await proxied(ctx);
  let { store } = await openVia();
  await call(store, 'set', 'a', session(ctx.now, HOUR, { n: 1 }));
  const seen = await unhandledDuring(async () => {
    await outage(proxy);
    if (openDuring) {
      ({ store } = await openVia({}, ctx.fresh('late')));
    }
    if (during) {
      await hangs(call(store, 'get', 'a'), 'get during the outage');
    }
  }, 1000, 'uncaughtException');
  assert.ok(seen.length > 0, 'no uncaught exception');
  assert.match(String(seen[0] && seen[0].message), /Socket closed unexpectedly|ECONNRESET|ECONNREFUSED/);
  await proxy.heal();
  await hangs(call(store, 'set', 'b', session(ctx.now, HOUR, { n: 2 })), 'set after the server is back');
}

/** Runs `attemptOnce` up to `tries` times, until it returns true; asserts one did. */
async function retried(tries, what, attemptOnce) {
  for (let i = 0; i < tries; i += 1) {
    if (await attemptOnce(i)) {
      return;
    }
  }
  assert.fail(`${what}: not seen in ${tries} tries`);
}

module.exports = {
  // RES-1: with a server that accepts and never answers, get waits past the bound (no query
  // timeout in node-redis, node-postgres, mysql2 under knex, or the mongodb driver).
  'resilience.blackhole-operations-fail': {
    fresh: true, // the instance is opened through the proxy
    run: async (ctx) => {
      const { proxy, openVia } = await proxied(ctx);
      const { store } = await openVia();
      await call(store, 'set', 'a', session(ctx.now, HOUR, { n: 1 }));
      proxy.blackhole();
      await hangs(call(store, 'get', 'a'), 'get');
      await heal(proxy, store);
    },
  },
  // RES-1 while the server is down: node-redis queues the set offline, the mongodb driver waits
  // 30 s for server selection (both past the bound); connect-session-knex 5's get fails in time
  // but reports its error twice (ERROR-3).
  'resilience.outage-operations-fail': {
    variants: { 'redis-readme': (ctx) => readmeClientCrashes(ctx, { during: true }) },
    fresh: true, // the instance is opened through the proxy
    run: async (ctx) => {
      const { proxy, openVia } = await proxied(ctx);
      const { store } = await openVia();
      await call(store, 'set', 'a', session(ctx.now, HOUR, { n: 1 }));
      await outage(proxy);
      if (ctx.preset === 'redis') {
        await hangs(call(store, 'set', 'b', session(ctx.now, HOUR, { n: 2 })), 'set');
      } else if (ctx.preset === 'mongo') {
        // The scenario's get, set and destroy in turn: the first call sometimes fails at once
        // (ECONNREFUSED from a new pool connection, in 4 of 6 direct runs), and then the next
        // waits for the driver's server selection; one of them waits past the bound.
        const steps = [['get', 'a'], ['set', 'b', session(ctx.now, HOUR, { n: 2 })], ['destroy', 'a']];
        const outcomes = [];
        for (const [method, ...args] of steps) {
          const state = await within(call(store, method, ...args), BOUND);
          outcomes.push(`${method}: ${state.settled ? (state.ok ? 'ok' : state.err.message) : 'waiting'}`);
          if (!state.settled) {
            break;
          }
        }
        assert.match(outcomes.at(-1), /: waiting$/, `every call settled within ${BOUND} ms: ${outcomes.join('; ')}`);
      } else {
        await reportsTwice(store, 'get', ['a']);
      }
      await heal(proxy, store);
    },
  },
  // RES-4: opening while the server is down.
  'resilience.open-during-outage': {
    variants: { 'redis-readme': (ctx) => readmeClientCrashes(ctx, { openDuring: true }) },
    fresh: true,
    run: async (ctx) => {
      const { proxy, openVia } = await proxied(ctx);
      await outage(proxy);
      if (ctx.preset === 'redis') {
        // The README setup awaits client.connect(), which keeps reconnecting.
        const opening = openVia();
        await hangs(opening, 'open (client.connect)');
        await proxy.heal();
        await within(opening, 5000); // connected now: tracked, and closed at the end
      } else {
        // connect-session-knex starts creating its table at construction, in a promise (`ready`)
        // that every operation awaits first: opened during the outage, that promise fails with
        // the connection error, unhandled until an operation awaits it (RES-6), and stays failed,
        // so every operation after the server is back fails with that same error
        // (connect-session-knex #49; the scenario's `set` for 5 s after `heal:`).
        let store;
        const seen = await unhandledDuring(async () => ({ store } = await openVia()), 1000);
        assert.ok(seen.length > 0, 'no unhandled rejection');
        assert.match(`${seen[0].code} ${seen[0].message}`, /ECONNREFUSED/);
        await proxy.heal();
        // For 5 s (Date is the reproduction clock, which stands still: count the pauses).
        for (let tries = 0; tries < 10; tries += 1) {
          const outcome = await attempt(store, 'set', 'a', session(ctx.now, HOUR, { n: 1 }));
          assert.ok(!outcome.ok, `set succeeded after ${tries} failed tries: the store recovered`);
          assert.match(`${outcome.err.code} ${outcome.err.message}`, /ECONNREFUSED/);
          await sleep(500);
        }
      }
    },
  },
  // RES-3 after every connection is reset. connect-session-knex 5: the get that meets the reset
  // connection reports "Connection lost" (or the pg equivalent) twice. Whether the reset lands on
  // a connection in use depends on timing (the knex-mysql entry is intermittent), so up to 5
  // resets are tried, each during a burst of gets.
  'resilience.reset-recovers': {
    variants: { 'redis-readme': (ctx) => readmeClientCrashes(ctx) },
    fresh: true, // the instance is opened through the proxy
    todo: {
      mongo: 'not reproduced by a direct call: after each of 9 resets (0, 0.5 and 1.5 s pauses before the next call) connect-mongo\'s get and set succeeded within 0.1 s; what waited past 8 s in the harness is not found yet',
    },
    run: async (ctx) => {
      const { proxy, openVia } = await proxied(ctx);
      const { store } = await openVia();
      await call(store, 'set', 'a', session(ctx.now, HOUR, { n: 1 }));
      await retried(5, 'a reset call reporting twice', async () => {
        const burst = Array.from({ length: 8 }, () => reports(store, 'get', ['a']));
        proxy.reset();
        const all = await Promise.all(burst);
        const failed = all.filter((r) => r.calls.some(([err]) => err));
        for (const r of failed) {
          assert.equal(r.calls.length, 1);
          assert.ok(r.returned && r.returned.settled && !r.returned.ok, 'the returned promise did not also reject');
        }
        return failed.length > 0;
      });
    },
  },
  // RES-2: writes racing a 2 s cut (reset, then refused for 2 s): connect-session-knex 5's
  // failed sets report their error twice (ERROR-3).
  'resilience.cut-no-lost-writes': {
    variants: { 'redis-readme': (ctx) => readmeClientCrashes(ctx) },
    fresh: true, // the instance is opened through the proxy
    todo: {
      mongo: 'not reproduced by a direct call: in 6 rounds of the same cut, connect-mongo\'s four writes failed within 0.5 s and the set after them returned when the server came back (about 2 s); what waited past 8 s in the harness is not found yet',
    },
    run: async (ctx) => {
      const { proxy, openVia } = await proxied(ctx);
      const { store } = await openVia();
      await call(store, 'set', 'before', session(ctx.now, HOUR, { n: 0 }));
      await outage(proxy);
      const healing = sleep(2000).then(() => proxy.heal());
      const writes = await Promise.all(Array.from({ length: 4 }, (_, i) =>
        reports(store, 'set', [`w${i}`, session(ctx.now, HOUR, { n: i })])));
      await healing;
      const failed = writes.filter((r) => r.calls.some(([err]) => err));
      assert.ok(failed.length > 0, 'every write during the cut succeeded');
      for (const r of failed) {
        assert.equal(r.calls.length, 1);
        assert.ok(r.returned && r.returned.settled && !r.returned.ok, 'the returned promise did not also reject');
      }
      assert.equal((await attempt(store, 'get', 'before')).ok, true);
    },
  },
};

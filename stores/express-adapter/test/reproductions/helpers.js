'use strict';
// Helpers shared by the direct-call reproductions (test/reproductions.test.js): calling a store
// method with a plain callback, counting how a call reports, catching unhandled rejections, and
// a small TCP fault proxy for the resilience entries.

const assert = require('node:assert/strict');
const net = require('node:net');
const clock = require('../../lib/clock');

const iso = (ms) => new clock.RealDate(ms).toISOString();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

/** `call`, settled: `{ok: true, value}` or `{ok: false, err}`. */
function attempt(store, method, ...args) {
  return call(store, method, ...args).then((value) => ({ ok: true, value }), (err) => ({ ok: false, err }));
}

/** The error `call` fails with; an assertion failure when it succeeds. */
async function failure(store, method, ...args) {
  const outcome = await attempt(store, method, ...args);
  assert.ok(!outcome.ok, `${method} succeeded with ${JSON.stringify(outcome.value)}`);
  return outcome.err;
}

/**
 * Every way one call reports: each call of its callback (`calls`, as `[err, value]`) and how the
 * promise it returns settles (`returned`: null when it returns none), once `wait` ms have passed
 * after the first report, so that a late second report is seen too.
 */
async function reports(store, method, args, wait = 200) {
  const calls = [];
  let first;
  const reported = new Promise((resolve) => {
    first = resolve;
  });
  const value = store[method](...args, (...cbArgs) => {
    calls.push(cbArgs);
    first();
  });
  let returned = null;
  if (value && typeof value.then === 'function') {
    returned = { settled: false };
    value.then(
      (v) => Object.assign(returned, { settled: true, ok: true, value: v }),
      (err) => Object.assign(returned, { settled: true, ok: false, err }),
    );
  }
  await Promise.race([reported, sleep(5000)]);
  await sleep(wait);
  return { calls, returned };
}

/**
 * ERROR-3 on connect-session-knex 5: a call that fails reports its error twice, to the callback
 * and as the rejection of the promise the async method returns (which express-session ignores,
 * so in an app it is an unhandled rejection).
 */
async function reportsTwice(store, method, args) {
  const { calls, returned } = await reports(store, method, args);
  assert.equal(calls.length, 1, `the callback was called ${calls.length} times`);
  assert.ok(calls[0][0] instanceof Error, `the callback got no error: ${JSON.stringify(calls[0])}`);
  assert.ok(returned && returned.settled && !returned.ok, 'the returned promise did not also reject');
  assert.equal(returned.err, calls[0][0], 'the promise rejects with the error the callback got');
}

/** How `promise` stands after `ms`: `{settled: false}`, or settled as `{settled, ok, value|err}`. */
async function within(promise, ms) {
  const state = { settled: false };
  promise.then((value) => Object.assign(state, { settled: true, ok: true, value }), (err) => Object.assign(state, { settled: true, ok: false, err }));
  const started = clock.RealDate.now(); // Date may be the virtual clock, which stands still
  while (!state.settled && clock.RealDate.now() - started < ms) {
    await sleep(50);
  }
  return state;
}

/**
 * Runs `fn` while collecting the process's unhandled rejections (or, with `event`
 * 'uncaughtException', its uncaught exceptions) instead of letting node:test count them as this
 * test's failure (its own listeners are set aside and put back after), and waits `settle` ms
 * after it for late ones. Returns what was seen.
 */
async function unhandledDuring(fn, settle = 300, event = 'unhandledRejection') {
  const seen = [];
  const saved = process.listeners(event);
  process.removeAllListeners(event);
  const listener = (reason) => seen.push(reason);
  process.on(event, listener);
  try {
    await fn();
    await sleep(settle);
  } finally {
    process.off(event, listener);
    for (const l of saved) {
      process.on(event, l);
    }
  }
  return seen;
}

/** A plain JSON session whose cookie expires `ms` from `now()`, plus `data` (`cookie` extends it). */
function session(now, ms, data = {}) {
  const { cookie, ...rest } = data;
  return { cookie: { expires: iso(now() + ms), ...cookie }, ...rest };
}

/** TOUCH-3 on connect-mongo: a touch that matches no document fails instead of succeeding. */
async function touchMissingFails(store, sid, now) {
  const err = await call(store, 'touch', sid, session(now, 3600000, { n: 1 })).then(() => null, (e) => e);
  assert.ok(err, 'the touch of a missing sid succeeded');
  assert.match(err.message, /Unable to find the session to touch/);
}

/**
 * A TCP proxy on 127.0.0.1 in front of `host:port`, with the harness's faults (harness/faults):
 * `refuse` (the port stops listening; open connections keep working), `reset` (every open
 * connection is reset, both sides), `blackhole` (connections are accepted and nothing is
 * forwarded either way; held bytes flow on heal), and `heal`.
 */
async function faultProxy(host, port) {
  const server = net.createServer();
  const pairs = new Set();
  let blackhole = false;
  let listening = false;
  let at = 0;

  // One direction of a pair: held while blackholed (or before the upstream exists).
  function pump(from, way, pair) {
    from.on('data', (chunk) => {
      if (blackhole || !pair.upstream) {
        pair.held.push([way, chunk]);
      } else {
        (way === 'toClient' ? pair.client : pair.upstream).write(chunk);
      }
    });
  }

  function connectUpstream(pair) {
    const upstream = net.connect(port, host);
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    pair.client.on('error', () => upstream.destroy());
    upstream.on('close', () => pair.client.destroy());
    pair.client.on('close', () => {
      upstream.destroy();
      pairs.delete(pair);
    });
    pump(upstream, 'toClient', pair);
    flush(pair);
  }

  function flush(pair) {
    for (const [way, chunk] of pair.held.splice(0)) {
      (way === 'toClient' ? pair.client : pair.upstream).write(chunk);
    }
  }

  server.on('connection', (client) => {
    const pair = { client, upstream: null, held: [] };
    pairs.add(pair);
    pump(client, 'toServer', pair);
    client.on('error', () => {});
    client.on('close', () => pairs.delete(pair));
    if (!blackhole) {
      connectUpstream(pair);
    }
  });

  async function listen() {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    at = server.address().port;
    listening = true;
  }

  await listen();
  return {
    port: at,
    refuse() {
      if (listening) {
        listening = false;
        server.close();
      }
    },
    reset() {
      for (const pair of pairs) {
        for (const socket of [pair.client, pair.upstream].filter(Boolean)) {
          // RST on an open socket; one already half closed is only destroyed (Node 20's
          // resetAndDestroy on such a socket can leave its handle open, and the process with it).
          if (socket.readyState === 'open') {
            socket.resetAndDestroy();
          } else {
            socket.destroy();
          }
        }
      }
      pairs.clear();
    },
    blackhole() {
      blackhole = true;
    },
    async heal() {
      blackhole = false;
      for (const pair of pairs) {
        if (pair.client.destroyed) {
          continue;
        }
        if (!pair.upstream) {
          connectUpstream(pair);
        } else {
          flush(pair);
        }
      }
      if (!listening) {
        await listen();
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        if (pair.upstream) {
          pair.upstream.destroy();
        }
      }
      pairs.clear();
      if (listening) {
        listening = false;
        await new Promise((resolve) => server.close(resolve));
      }
    },
  };
}

/** The entries of an expectation file: `[{scenario, outcome}]` (the file's own simple TOML). */
function expectationEntries(file) {
  const known = [];
  let current = null;
  for (const line of require('node:fs').readFileSync(file, 'utf8').split('\n')) {
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
 * The clock of one reproduction, as the harness keeps it: `now()` and `advance(ms)`. A store that
 * takes its time from `Date` (virtual-clock) sees the adapter's fake clock move at once; on one
 * whose server keeps time, real time passes, up to `budget` ms a step (the harness's real-time
 * budget). Call `clock.set(null)` (lib/clock) when done.
 */
function reproductionClock(factory, label, budget = Infinity) {
  const virtual = (factory.capabilities || []).includes('virtual-clock');
  let at = clock.RealDate.now();
  if (virtual) {
    clock.set(iso(at));
  }
  return {
    now: () => at,
    async advance(ms) {
      at += ms;
      if (virtual) {
        clock.set(iso(at));
      } else if (ms <= budget) {
        await sleep(ms);
      } else {
        throw new Error(`${label} has no virtual clock, and ${ms} ms is beyond the real-time budget`);
      }
    },
  };
}

/** Closes an instance as the adapter does: the store's own close, then the factory's. */
async function closeInstance(handle) {
  handle.closed = true;
  if (typeof handle.store.close === 'function') {
    await handle.store.close();
  }
  if (handle.close) {
    await handle.close();
  }
}

/**
 * The instances a reproduction opens on `factory` (on `base`, or another namespace, dropped
 * too), what else it set up (`after`), and the teardown of all of it: each instance it did not
 * close is closed, the `after` callbacks run, every namespace used is dropped.
 */
function instances(factory, base) {
  const namespaces = new Set([base]);
  const handles = [];
  const cleanups = [];
  return {
    async open(options = {}, namespace = base) {
      namespaces.add(namespace);
      const handle = await factory.open({ namespace, options, emit() {}, log() {} });
      handles.push(handle);
      return handle;
    },
    after: (fn) => cleanups.push(fn),
    async teardown() {
      for (const handle of handles.filter((h) => !h.closed)) {
        // Teardown only: an instance the reproduction left broken may fail to close.
        await closeInstance(handle).catch(() => {});
      }
      for (const fn of cleanups) {
        await fn();
      }
      for (const namespace of namespaces) {
        await factory.drop(namespace);
      }
    },
  };
}

/** CLOSE-4's operations in flight during close, as `lifecycle.operation-during-close` has them. */
function duringClose(now) {
  return [
    ['set', 'b', session(now, 3600000, { n: 2 })],
    ['get', 'a'],
    ['touch', 'a', session(now, 2 * 3600000, { n: 1 })],
    ['destroy', 'c'],
  ];
}

/** The 40 of `lifecycle.many-operations-during-close`. */
function manyDuringClose(now) {
  return Array.from({ length: 20 }, (_, i) => [['set', `s${i}`, session(now, 3600000, { n: i })], ['get', 'a']]).flat();
}

module.exports = { instances, duringClose, manyDuringClose, expectationEntries, reproductionClock, closeInstance, iso, sleep, call, attempt, failure, reports, reportsTwice, within, unhandledDuring, session, touchMissingFails, faultProxy };

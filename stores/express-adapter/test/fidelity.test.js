'use strict';
// The adapter hands each npm store what express-session hands it in a real app. For every preset,
// a real express-session middleware (in this process, over HTTP) drives the preset's store and
// records each call; the adapter then makes the same call from the JSON the harness would send,
// and the two calls must agree: the argument's prototypes, own members, JSON and `cookie.maxAge`,
// what the store then holds, and what express-session builds from what `get` returns.
//
// Presets whose backend is not configured (SESSIONSPEC_*_URL) are skipped, and say so.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const session = require('express-session');

const { Cookie } = session;
const { toExpressSession, loadAsExpressSession, callStore } = require('../lib/express');

const PRESETS = {
  memory: null,
  redis: 'SESSIONSPEC_REDIS_URL',
  pg: 'SESSIONSPEC_POSTGRES_URL',
  'knex-sqlite': null,
  'knex-postgres': 'SESSIONSPEC_POSTGRES_URL',
  'knex-mysql': 'SESSIONSPEC_MYSQL_URL',
  mongo: 'SESSIONSPEC_MONGO_URL',
};

/** What a store can tell about a session argument, whoever built it. */
function describe(value) {
  const chain = [];
  for (let p = Object.getPrototypeOf(value); p; p = Object.getPrototypeOf(p)) {
    chain.push(p.constructor && p.constructor.name);
  }
  const cookie = value.cookie;
  return {
    chain,
    ownKeys: Object.keys(value).sort(),
    json: JSON.parse(JSON.stringify(value)),
    liveCookie: cookie ? cookie instanceof Cookie : null,
    cookieJsonKeys: cookie ? Object.keys(JSON.parse(JSON.stringify(cookie))).sort() : null,
    maxAge: cookie ? typeof cookie.maxAge : null,
    expiresIsDate: cookie ? cookie.expires instanceof Date : null,
  };
}

/** The store, recording the argument of each set and touch as `describe` sees it. */
function recording(store, calls) {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if ((prop === 'set' || prop === 'touch') && typeof value === 'function') {
        return function recorded(sid, sess, cb) {
          calls.push({ method: prop, sid, seen: describe(sess), json: JSON.parse(JSON.stringify(sess)) });
          return value.call(target, sid, sess, cb);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** One request to `server`, with `cookie` if given; resolves to the response's sid cookie. */
function request(server, path, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.address().port, path, headers: cookie ? { cookie } : {} },
      (res) => {
        res.resume();
        res.on('end', () => {
          const set = res.headers['set-cookie'];
          resolve(set ? set[0].split(';')[0] : cookie);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// The presets' shared clients (pools, connections) end with their `shutdown`, as the adapter's do.
const opened = new Set();
test.after(async () => {
  for (const factory of opened) {
    if (factory.shutdown) {
      await factory.shutdown();
    }
  }
});

for (const [preset, variable] of Object.entries(PRESETS)) {
  const skip = variable && !process.env[variable] ? `${variable} is not set` : false;
  test(`the adapter hands node:${preset} what express-session hands it`, { skip }, async () => {
    const factory = require(`../lib/presets/${preset}`);
    opened.add(factory);
    const namespace = `fidelity_${preset.replace(/-/g, '_')}_${process.pid}`;
    const handle = await factory.open({ namespace, options: {}, emit() {}, log() {} });
    const calls = [];
    const store = recording(handle.store, calls);
    let loaded = null;
    const middleware = session({
      store,
      secret: 'fidelity',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 3600000 },
    });
    const server = http.createServer((req, res) => {
      middleware(req, res, () => {
        if (req.url === '/plain') {
          req.session.user = 'bob';
        } else if (req.url === '/write') {
          req.session.user = 'alice';
          req.session.nested = { list: [1, { empty: {} }], none: null };
          // Reserved names an application can assign: own properties of the live Session.
          req.session.constructor = 'a constructor';
          req.session.toString = 'a toString';
          req.session.valueOf = 7;
        } else if (!loaded) {
          loaded = describe(req.session);
        }
        res.end('ok');
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const cookie = await request(server, '/write');
      // What the store holds after the adapter's set equals what it holds after the app's.
      const [appSet] = calls; // the app's first set, of its session with reserved members
      const sid2 = `${appSet.sid}-adapter`;
      await callStore(handle.store, 'set', [sid2, toExpressSession(sid2, appSet.json)], () => {});
      const byApp = await callStore(handle.store, 'get', [appSet.sid], () => {});
      const byAdapter = await callStore(handle.store, 'get', [sid2], () => {});
      const cookieless = (s) => ({ ...JSON.parse(JSON.stringify(s)), cookie: undefined });
      assert.deepEqual(cookieless(byAdapter), cookieless(byApp));
      assert.equal(byAdapter.cookie.originalMaxAge, byApp.cookie.originalMaxAge);

      // express-session hashes the stored session, reserved members included, but its Session
      // leaves them out, so it sees a change and sets the session again.
      await request(server, '/read', cookie);
      const plain = await request(server, '/plain');
      await request(server, '/read', plain); // unmodified: express-session touches
      assert.deepEqual(calls.map((c) => c.method), ['set', 'set', 'set', handle.store.touch ? 'touch' : 'set']);

      for (const call of calls) {
        // The harness sends the JSON; the adapter rebuilds what the app handed the store.
        const adapted = describe(toExpressSession(call.sid, call.json));
        assert.deepEqual(adapted, call.seen, `${call.method}: the adapter's argument differs from express-session's`);
      }

      // What express-session builds from what get returns, the adapter builds too.
      const rebuilt = describe(loadAsExpressSession(handle.store, appSet.sid, byApp));
      assert.deepEqual({ ...rebuilt, maxAge: null, json: null }, { ...loaded, maxAge: null, json: null });
      assert.equal(rebuilt.maxAge, 'number');
    } finally {
      server.close();
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

'use strict';
// express-session's MemoryStore: one store per namespace, shared by the instances opened on it.

const { MemoryStore } = require('express-session');
const { onlyOptions, checkNamespace, flipMiddle, GARBAGE, packageVersion } = require('../options');

const stores = new Map(); // namespace -> MemoryStore

function storeOf(namespace) {
  return stores.get(namespace);
}

module.exports = {
  name: 'express-session MemoryStore',
  version: packageVersion('express-session'),
  homepage: 'https://github.com/expressjs/session',
  // No close, no ids, no fallback ttl: MemoryStore has none of them.
  capabilities: ['touch', 'all', 'length', 'clear', 'virtual-clock', 'raw-inspection', 'shared-namespace'],
  async backend() {
    return { name: 'memory' };
  },
  async open({ namespace, options }) {
    checkNamespace(namespace);
    onlyOptions(options, [], 'MemoryStore');
    if (!stores.has(namespace)) {
      stores.set(namespace, new MemoryStore());
    }
    return { store: stores.get(namespace) };
  },
  async drop(namespace) {
    stores.delete(namespace);
  },
  raw: {
    async record(namespace, _options, sid) {
      const store = storeOf(namespace);
      const text = store && store.sessions[sid];
      if (text === undefined) {
        return null;
      }
      let expires = null;
      try {
        const parsed = JSON.parse(text);
        if (parsed && parsed.cookie && typeof parsed.cookie.expires === 'string') {
          expires = parsed.cookie.expires;
        }
      } catch {
        // a tampered payload has no readable expiry
      }
      return { key: sid, payload: text, expires, fields: {} };
    },
    async count(namespace) {
      const store = storeOf(namespace);
      return store ? Object.keys(store.sessions).length : 0;
    },
    async tamper(namespace, _options, sid, how) {
      const store = storeOf(namespace);
      if (!store || store.sessions[sid] === undefined) {
        throw Object.assign(new Error(`no record for \`${sid}\` to tamper with`), { sessionspecKind: 'not-found' });
      }
      store.sessions[sid] = how === 'garbage' ? GARBAGE : flipMiddle(store.sessions[sid]);
    },
  },
};

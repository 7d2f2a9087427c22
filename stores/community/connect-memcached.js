'use strict';
// connect-memcached (https://github.com/balbuzard/connect-memcached) on memcached
// (SESSIONSPEC_MEMCACHED, default 127.0.0.1:11211; run.sh starts Debian's memcached): keys
// prefixed `{namespace}:`. Expiry is memcached's own TTL on the server's clock, so no
// virtual-clock. Its length counts every item of the server and its clear flushes the whole
// server: neither is per namespace, so neither is declared (a clear would empty the namespaces of
// scenarios running beside it). drop removes nothing: memcached cannot list keys by prefix, and
// the keys expire by TTL.

const session = require('express-session');
const MemcachedStore = require('connect-memcached')(session);
const { noOptions, checked, versionOf } = require('./common');

const hosts = () => process.env.SESSIONSPEC_MEMCACHED || '127.0.0.1:11211';

module.exports = {
  name: 'connect-memcached',
  version: versionOf('connect-memcached'),
  homepage: 'https://github.com/balbuzard/connect-memcached',
  capabilities: ['touch', 'shared-namespace'],
  async backend() {
    const store = new MemcachedStore({ hosts: [hosts()] });
    try {
      const stats = await new Promise((resolve, reject) =>
        store.client.stats((err, s) => (err ? reject(err) : resolve(s))));
      const first = [].concat(stats)[0] || {};
      return { name: 'memcached', version: String(first.version || 'unknown') };
    } finally {
      store.client.end();
    }
  },
  async open({ namespace, options }) {
    noOptions(options, 'connect-memcached');
    // The memcached client's pool holds 10 connections by default; the suite's concurrency
    // scenarios run 50 operations at once on one instance.
    const store = new MemcachedStore({ hosts: [hosts()], prefix: `${checked(namespace)}:`, poolSize: 64 });
    return {
      store,
      async close() {
        store.client.end();
      },
    };
  },
  async drop() {},
};

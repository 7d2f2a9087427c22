'use strict';
// memorystore (https://github.com/roccomuso/memorystore): an LRU memory store with expiry. One
// store per namespace. Its expiry is lru-cache's, decided with Date.now(), so it takes the
// adapter's virtual clock. The checkPeriod prune runs on Node timers (not faked): left off.

const session = require('express-session');
const MemoryStore = require('memorystore')(session);
const { noOptions, checked, versionOf } = require('./common');

const stores = new Map();

module.exports = {
  name: 'memorystore',
  version: versionOf('memorystore'),
  homepage: 'https://github.com/roccomuso/memorystore',
  capabilities: ['touch', 'all', 'length', 'clear', 'ids', 'virtual-clock', 'shared-namespace'],
  async backend() {
    return { name: 'memory' };
  },
  async open({ namespace, options }) {
    noOptions(options, 'memorystore');
    if (!stores.has(checked(namespace))) stores.set(namespace, new MemoryStore({}));
    return { store: stores.get(namespace) };
  },
  async drop(namespace) {
    const store = stores.get(namespace);
    if (store) store.stopInterval();
    stores.delete(namespace);
  },
};

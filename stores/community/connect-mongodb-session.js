'use strict';
// connect-mongodb-session (https://github.com/mongodb-js/connect-mongodb-session) with the
// mongodb driver it depends on: one database per namespace, collection `sessions`. get compares
// `expires` with `new Date` in JavaScript: the virtual clock applies. The TTL index removes
// records on the server's clock later, which no scenario relies on here.

const session = require('express-session');
const MongoDBStore = require('connect-mongodb-session')(session);
const { MongoClient } = require('mongodb');
const { noOptions, checked, versionOf, url, adminUrl } = require('./common');

// This file's own client (version, drop), never the store's.
function client() {
  return new MongoClient(adminUrl('SESSIONSPEC_MONGO_URL'));
}

module.exports = {
  name: 'connect-mongodb-session',
  version: versionOf('connect-mongodb-session'),
  homepage: 'https://github.com/mongodb-js/connect-mongodb-session',
  backendKind: 'mongo',
  capabilities: ['all', 'clear', 'virtual-clock', 'shared-namespace'],
  async backend() {
    const c = client();
    try {
      const info = await c.db('admin').command({ buildInfo: 1 });
      return { name: 'mongo', version: info.version };
    } finally {
      await c.close();
    }
  },
  async open({ namespace, options, log }) {
    noOptions(options, 'connect-mongodb-session');
    const store = new MongoDBStore({ uri: url('SESSIONSPEC_MONGO_URL'), databaseName: checked(namespace), collection: 'sessions' });
    // As its README sets it up: an `error` listener, and no waiting for `connected` (an app
    // serves requests at once; the driver connects at the first operation). Waiting here made a
    // store opened during an outage time out in this file, not in the store.
    store.on('error', (err) => log(`connect-mongodb-session: ${err.message}`));
    return {
      store,
      async close() {
        await store.client.close();
      },
    };
  },
  async drop(namespace) {
    const c = client();
    try {
      await c.db(checked(namespace)).dropDatabase();
    } finally {
      await c.close();
    }
  },
};

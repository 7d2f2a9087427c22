'use strict';
// connect-sqlite3 (https://github.com/rawberg/connect-sqlite3) on the sqlite3 driver: one
// database file per namespace under SESSIONSPEC_WORK_DIR, table `sessions`. Expiry is compared
// with Date.now() in JavaScript when reading (`expired >= ?`): the virtual clock applies.

const fs = require('node:fs');
const path = require('node:path');
const session = require('express-session');
const SQLiteStore = require('connect-sqlite3')(session);
const { noOptions, checked, versionOf } = require('./common');

function dirOf() {
  const dir = path.join(process.env.SESSIONSPEC_WORK_DIR || require('node:os').tmpdir(), 'sqlite3');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

module.exports = {
  name: 'connect-sqlite3',
  version: versionOf('connect-sqlite3'),
  homepage: 'https://github.com/rawberg/connect-sqlite3',
  capabilities: ['touch', 'all', 'length', 'clear', 'virtual-clock', 'shared-namespace'],
  async backend() {
    return { name: 'sqlite', version: require('sqlite3').VERSION };
  },
  async open({ namespace, options }) {
    noOptions(options, 'connect-sqlite3');
    const store = new SQLiteStore({ dir: dirOf(), db: `${checked(namespace)}.db`, table: 'sessions' });
    return {
      store,
      async close() {
        await new Promise((resolve) => store.db.close(() => resolve()));
      },
    };
  },
  async drop(namespace) {
    fs.rmSync(path.join(dirOf(), `${checked(namespace)}.db`), { force: true });
  },
};

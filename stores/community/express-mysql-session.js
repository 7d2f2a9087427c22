'use strict';
// express-mysql-session (https://github.com/chill117/express-mysql-session) on MariaDB through
// its mysql2 pool: one table per namespace (`{namespace}`) in the URL's database, created by the
// store (createDatabaseTable). Expiry is compared with Date.now() in JavaScript on read: the
// virtual clock applies. The clearExpired sweep runs on Node timers and is turned off.

const session = require('express-session');
const MySQLStore = require('express-mysql-session')(session);
const { noOptions, checked, versionOf, url, adminUrl } = require('./common');

// The store's connection options, or with `urlOf = adminUrl` this file's own (version, drop).
function connection(urlOf = url) {
  const u = new URL(urlOf('SESSIONSPEC_MYSQL_URL'));
  return {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1) || 'test',
  };
}

module.exports = {
  name: 'express-mysql-session',
  version: versionOf('express-mysql-session'),
  homepage: 'https://github.com/chill117/express-mysql-session',
  backendKind: 'mariadb',
  capabilities: ['touch', 'all', 'length', 'clear', 'close', 'virtual-clock', 'shared-namespace'],
  async backend() {
    const mysql = require('mysql2/promise');
    const c = await mysql.createConnection(connection(adminUrl));
    try {
      const [rows] = await c.query('SELECT VERSION() AS v');
      return { name: 'mariadb', version: rows[0].v.split('-')[0] };
    } finally {
      await c.end();
    }
  },
  async open({ namespace, options }) {
    noOptions(options, 'express-mysql-session');
    const store = new MySQLStore({
      ...connection(),
      clearExpired: false,
      schema: { tableName: checked(namespace) },
    });
    await store.onReady();
    return { store };
  },
  async drop(namespace) {
    const mysql = require('mysql2/promise');
    const c = await mysql.createConnection(connection(adminUrl));
    try {
      await c.query('DROP TABLE IF EXISTS ??', [checked(namespace)]);
    } finally {
      await c.end();
    }
  },
};

'use strict';
// connect-session-knex 5 on SQLite (better-sqlite3), PostgreSQL or MySQL/MariaDB (mysql2). One
// namespace is a database file, a schema or a database; the table is `sessions` or the `name`
// option. Each instance has its own knex pool, destroyed when the instance closes (the store
// itself has no close). Expiry is decided with Node's Date: it takes the virtual clock.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const knexFactory = require('knex');
const { pgEnsureSchema, pgDropSchema, mysqlEnsureDatabase, mysqlDropDatabase, quotePg, quoteMysql } = require('./sql');
const { onlyOptions, baseName, checkNamespace, backendUrl, adminUrl, flipMiddle, GARBAGE, packageVersion } = require('./options');

function workDir() {
  const dir = process.env.SESSIONSPEC_WORK_DIR || path.join(os.tmpdir(), 'sessionspec-express-adapter');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const DIALECTS = {
  sqlite: {
    backend: 'sqlite',
    async version() {
      const Database = require('better-sqlite3');
      const db = new Database(':memory:');
      const { v } = db.prepare('SELECT sqlite_version() AS v').get();
      db.close();
      return v;
    },
    file(namespace) {
      return path.join(workDir(), `express-adapter-${checkNamespace(namespace)}.sqlite`);
    },
    async prepare() {},
    connect(namespace) {
      return knexFactory({ client: 'better-sqlite3', connection: { filename: this.file(namespace) }, useNullAsDefault: true });
    },
    async drop(namespace) {
      for (const suffix of ['', '-wal', '-shm', '-journal']) {
        fs.rmSync(this.file(namespace) + suffix, { force: true });
      }
    },
    table(options) {
      return quotePg(baseName(options, 'sessions'));
    },
    // SQLite keeps any text in a json column.
    damaged: (text) => ({ sql: '?', value: text }),
    expires: (row) => new Date(row.expired.endsWith('Z') ? row.expired : `${row.expired.replace(' ', 'T')}Z`),
  },
  postgres: {
    backend: 'postgres',
    admin: null,
    pool() {
      if (!this.admin) {
        const { Pool } = require('pg');
        this.admin = new Pool({ connectionString: adminUrl('SESSIONSPEC_POSTGRES_URL', 'knex-postgres'), max: 2 });
        this.admin.on('error', () => {});
      }
      return this.admin;
    },
    async version() {
      const { rows } = await this.pool().query('SHOW server_version');
      return rows[0].server_version.split(' ')[0];
    },
    async prepare(namespace) {
      await pgEnsureSchema(this.pool(), namespace);
    },
    connect(namespace, urlOf = backendUrl) {
      return knexFactory({
        client: 'pg',
        connection: urlOf('SESSIONSPEC_POSTGRES_URL', 'knex-postgres'),
        searchPath: [namespace],
        pool: { min: 0, max: 4 },
      });
    },
    async drop(namespace) {
      await pgDropSchema(this.pool(), namespace);
    },
    table(options, namespace) {
      return `${quotePg(namespace)}.${quotePg(baseName(options, 'sessions'))}`;
    },
    // A json column only holds valid JSON: the damaged text goes in as a JSON string.
    damaged: (text) => ({ sql: 'to_json(?::text)', value: text }),
    expires: (row) => new Date(row.expired),
  },
  mysql: {
    backend: 'mysql',
    admin: null,
    async conn() {
      if (!this.admin) {
        const mysql = require('mysql2/promise');
        this.admin = mysql.createPool({ uri: adminUrl('SESSIONSPEC_MYSQL_URL', 'knex-mysql'), connectionLimit: 2 });
      }
      return this.admin;
    },
    async version() {
      const [rows] = await (await this.conn()).query('SELECT VERSION() AS v');
      return rows[0].v;
    },
    async prepare(namespace) {
      await mysqlEnsureDatabase(await this.conn(), namespace);
    },
    connect(namespace, urlOf = backendUrl) {
      const url = new URL(urlOf('SESSIONSPEC_MYSQL_URL', 'knex-mysql'));
      url.pathname = `/${namespace}`;
      return knexFactory({ client: 'mysql2', connection: url.toString(), pool: { min: 0, max: 4 } });
    },
    async drop(namespace) {
      await mysqlDropDatabase(await this.conn(), namespace);
    },
    table(options, namespace) {
      return `${quoteMysql(namespace)}.${quoteMysql(baseName(options, 'sessions'))}`;
    },
    // MariaDB's JSON type checks json_valid: the damaged text goes in as a JSON string.
    damaged: (text) => ({ sql: 'JSON_QUOTE(?)', value: text }),
    // Written by connect-session-knex as `YYYY-MM-DD HH:MM:SS` in UTC.
    expires: (row) => (row.expired instanceof Date ? row.expired : new Date(`${String(row.expired).replace(' ', 'T')}Z`)),
  },
};

// One knex per namespace for raw inspection, separate from the instances' own, straight to the
// server (never through a fault proxy).
const inspectors = new Map();

function inspector(dialect, namespace) {
  if (!inspectors.has(namespace)) {
    inspectors.set(namespace, dialect.connect(namespace, adminUrl));
  }
  return inspectors.get(namespace);
}

async function forgetInspector(namespace) {
  const knex = inspectors.get(namespace);
  inspectors.delete(namespace);
  if (knex) {
    await knex.destroy();
  }
}

// The store of each major: 5 exports a class taking `tableName`; 4 is a function of
// express-session returning a class taking `tablename`, with its cleanup timer on the class.
function storeOf(pkg) {
  const m = require(pkg);
  if (m.ConnectSessionKnexStore) {
    return {
      create: (knex, table, onDbCleanupError) => new m.ConnectSessionKnexStore({ knex, tableName: table, onDbCleanupError }),
      stop: (store) => clearTimeout(store.nextDbCleanup),
    };
  }
  const KnexStore = m(require('express-session'));
  return {
    create: (knex, table, onDbCleanupError) => new KnexStore({ knex, tablename: table, onDbCleanupError }),
    stop: () => clearTimeout(KnexStore.nextDbCleanup),
  };
}

// `kind` is the dialect; `pkg` the npm name (an alias for an older major).
function preset(kind, pkg = 'connect-session-knex') {
  const dialect = DIALECTS[kind];
  const flavour = storeOf(pkg);
  return {
    name: 'connect-session-knex',
    version: packageVersion(pkg),
    homepage: 'https://github.com/gx0r/connect-session-knex',
    backendKind: { sqlite: null, postgres: 'postgres', mysql: 'mariadb' }[kind], // SQLite: a file, no server
    // No close (v5 has none), no ids, no ttl option (the fallback is a fixed day).
    capabilities: ['touch', 'all', 'length', 'clear', 'naming', 'virtual-clock', 'raw-inspection', 'shared-namespace'],
    async backend() {
      return { name: dialect.backend, version: await dialect.version() };
    },
    async open({ namespace, options, log }) {
      onlyOptions(options, ['name'], 'connect-session-knex');
      checkNamespace(namespace);
      await dialect.prepare(namespace);
      const knex = dialect.connect(namespace);
      if (kind === 'sqlite') {
        // Several instances share one file: wait for a lock rather than fail at once.
        await knex.raw('PRAGMA busy_timeout = 5000');
      }
      const store = flavour.create(knex, baseName(options, 'sessions'), (err) =>
        log(`connect-session-knex cleanup: ${err && err.message}`));
      return {
        store,
        async close() {
          flavour.stop(store);
          await store.ready.catch(() => {});
          await knex.destroy();
        },
      };
    },
    async drop(namespace) {
      checkNamespace(namespace);
      await forgetInspector(namespace);
      await dialect.drop(namespace);
    },
    async shutdown() {
      for (const namespace of [...inspectors.keys()]) {
        await forgetInspector(namespace);
      }
      if (dialect.admin) {
        // The pool that creates and drops schemas and databases.
        const admin = dialect.admin;
        dialect.admin = null;
        await admin.end();
      }
    },
    raw: {
      async record(namespace, options, sid) {
        const knex = inspector(dialect, namespace);
        const rows = await knex.raw(`SELECT sess, expired FROM ${dialect.table(options, namespace)} WHERE sid = ?`, [sid]).then(rowsOf, missingTable);
        if (!rows || rows.length === 0) {
          return null;
        }
        const payload = typeof rows[0].sess === 'string' ? rows[0].sess : JSON.stringify(rows[0].sess);
        return { key: sid, payload, expires: dialect.expires(rows[0]).toISOString(), fields: {} };
      },
      async count(namespace, options) {
        const knex = inspector(dialect, namespace);
        const rows = await knex.raw(`SELECT count(*) AS n FROM ${dialect.table(options, namespace)}`).then(rowsOf, missingTable);
        return rows ? Number(rows[0].n) : 0;
      },
      async tamper(namespace, options, sid, how) {
        const knex = inspector(dialect, namespace);
        const rows = await knex.raw(`SELECT sess FROM ${dialect.table(options, namespace)} WHERE sid = ?`, [sid]).then(rowsOf);
        if (rows.length === 0) {
          throw Object.assign(new Error(`no record for \`${sid}\` to tamper with`), { sessionspecKind: 'not-found' });
        }
        const text = typeof rows[0].sess === 'string' ? rows[0].sess : JSON.stringify(rows[0].sess);
        const { sql, value } = dialect.damaged(how === 'garbage' ? GARBAGE : flipMiddle(text));
        await knex.raw(`UPDATE ${dialect.table(options, namespace)} SET sess = ${sql} WHERE sid = ?`, [value, sid]);
      },
    },
  };
}

/** The rows of a knex.raw result, whatever the dialect. */
function rowsOf(result) {
  if (Array.isArray(result)) {
    return Array.isArray(result[0]) ? result[0] : result; // mysql2: [rows, fields]; sqlite: rows
  }
  return result.rows; // pg
}

function missingTable(err) {
  if (/no such table|does not exist|doesn't exist/i.test(String(err && err.message))) {
    return null; // the store has not created its table yet: nothing is stored
  }
  throw err;
}

module.exports = { preset };

'use strict';
// connect-pg-simple, in the version a preset names. A schema per namespace (`{namespace}`), table `session` or the `name`
// option: the layout the reference Postgres store uses. The store gets a connection string and
// owns its pool, so its close() ends it. Every time it compares comes from Node's Date: it takes
// the virtual clock.

const session = require('express-session');
const { Pool } = require('pg');
const { pgEnsureSchema, pgDropSchema, quotePg } = require('./sql');
const { onlyOptions, baseName, checkNamespace, backendUrl, adminUrl, durationSeconds, flipMiddle, GARBAGE, packageVersion } = require('./options');

let admin = null;

function adminPool() {
  if (!admin) {
    admin = new Pool({ connectionString: adminUrl('SESSIONSPEC_POSTGRES_URL', 'pg'), max: 2 });
    admin.on('error', () => {});
  }
  return admin;
}

function table(namespace, options) {
  return `${quotePg(checkNamespace(namespace))}.${quotePg(baseName(options, 'session'))}`;
}

// `pkg` is the npm name (an alias for an older major).
function preset(pkg) {
  const PgStore = require(pkg)(session);
  return {
    name: 'connect-pg-simple',
    backendKind: 'postgres',
    version: packageVersion(pkg),
    homepage: 'https://github.com/voxpelli/node-connect-pg-simple',
    // No all, length, clear or ids: connect-pg-simple does not implement them.
    capabilities: ['touch', 'close', 'ttl', 'disable-touch', 'naming', 'virtual-clock', 'raw-inspection', 'shared-namespace'],
    async backend() {
      const { rows } = await adminPool().query('SHOW server_version');
      return { name: 'postgres', version: rows[0].server_version.split(' ')[0] };
    },
    async open({ namespace, options, log }) {
      onlyOptions(options, ['ttl', 'disable-touch', 'name'], 'connect-pg-simple');
      await pgEnsureSchema(adminPool(), checkNamespace(namespace));
      const store = new PgStore({
        conString: backendUrl('SESSIONSPEC_POSTGRES_URL', 'pg'),
        schemaName: namespace,
        tableName: baseName(options, 'session'),
        createTableIfMissing: true,
        errorLog: (...args) => log(`connect-pg-simple: ${args.map(String).join(' ')}`),
        ...(options.ttl !== undefined ? { ttl: durationSeconds(options.ttl, 'ttl', 'connect-pg-simple') } : {}),
        ...(options['disable-touch'] ? { disableTouch: true } : {}),
      });
      return { store };
    },
    async drop(namespace) {
      await pgDropSchema(adminPool(), checkNamespace(namespace));
    },
    async shutdown() {
      // The admin pool is shared by every preset of this file: the next one opens a new pool.
      const pool = admin;
      admin = null;
      if (pool) {
        await pool.end();
      }
    },
    raw: {
      async record(namespace, options, sid) {
        const { rows } = await adminPool().query(
          `SELECT sess::text AS payload, (extract(epoch FROM expire AT TIME ZONE current_setting('TimeZone')) * 1000)::float8 AS ms FROM ${table(namespace, options)} WHERE sid = $1`,
          [sid],
        ).catch(missingTable);
        if (!rows || rows.length === 0) {
          return null;
        }
        return { key: sid, payload: rows[0].payload, expires: new Date(rows[0].ms).toISOString(), fields: {} };
      },
      async count(namespace, options) {
        const { rows } = await adminPool().query(`SELECT count(*)::int AS n FROM ${table(namespace, options)}`).catch(missingTable);
        return rows ? rows[0].n : 0;
      },
      async tamper(namespace, options, sid, how) {
        // The `sess` column is json: it only holds valid JSON, so the damaged text is stored as a
        // JSON string, which connect-pg-simple then receives as a string it cannot parse.
        const pool = adminPool();
        const { rows } = await pool.query(`SELECT sess::text AS payload FROM ${table(namespace, options)} WHERE sid = $1`, [sid]);
        if (rows.length === 0) {
          throw Object.assign(new Error(`no record for \`${sid}\` to tamper with`), { sessionspecKind: 'not-found' });
        }
        const damaged = how === 'garbage' ? GARBAGE : flipMiddle(rows[0].payload);
        await pool.query(`UPDATE ${table(namespace, options)} SET sess = to_json($1::text) WHERE sid = $2`, [damaged, sid]);
      },
    },
  };
}

module.exports = { preset };

function missingTable(err) {
  if (err.code === '42P01') {
    return { rows: null }; // the store has not created its table yet: nothing is stored
  }
  throw err;
}

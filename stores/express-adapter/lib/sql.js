'use strict';
// Namespaces in SQL servers: a PostgreSQL schema or a MySQL database per namespace, marked with a
// comment when created so that `drop` removes only what an adapter created, also after the
// process that created it has died.

const MARK = 'sessionspec namespace';

// Instances of one namespace always live in one process: one creation per namespace at a time.
const ensured = new Map();

function once(key, create) {
  if (!ensured.has(key)) {
    const p = create();
    ensured.set(key, p);
    p.catch(() => ensured.delete(key));
  }
  return ensured.get(key);
}

/** Creates the PostgreSQL schema `namespace` (marked), unless it exists with the mark. */
function pgEnsureSchema(pool, namespace) {
  return once(`pg:${namespace}`, () => pgCreateSchema(pool, namespace));
}

async function pgCreateSchema(pool, namespace) {
  const found = await pool.query('SELECT obj_description(oid, \'pg_namespace\') AS mark FROM pg_namespace WHERE nspname = $1', [namespace]);
  if (found.rows.length > 0) {
    if (found.rows[0].mark !== MARK) {
      throw Object.assign(new Error(`schema \`${namespace}\` exists and was not created by sessionspec; it is left alone`), { sessionspecKind: 'conflict' });
    }
    return;
  }
  // One transaction, so nobody sees the schema without its mark.
  await pool.query(`BEGIN; CREATE SCHEMA "${namespace}"; COMMENT ON SCHEMA "${namespace}" IS '${MARK}'; COMMIT`);
}

/** Drops the schema `namespace` if sessionspec created it. */
async function pgDropSchema(pool, namespace) {
  ensured.delete(`pg:${namespace}`);
  const found = await pool.query('SELECT obj_description(oid, \'pg_namespace\') AS mark FROM pg_namespace WHERE nspname = $1', [namespace]);
  if (found.rows.length > 0 && found.rows[0].mark === MARK) {
    await pool.query(`DROP SCHEMA "${namespace}" CASCADE`);
  }
}

/** Creates the MySQL database `namespace` (marked), unless it exists with the mark. */
function mysqlEnsureDatabase(conn, namespace) {
  return once(`mysql:${namespace}`, () => mysqlCreateDatabase(conn, namespace));
}

async function mysqlCreateDatabase(conn, namespace) {
  const [rows] = await conn.query('SELECT SCHEMA_COMMENT AS mark FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [namespace]);
  if (rows.length > 0) {
    if (rows[0].mark !== MARK) {
      throw Object.assign(new Error(`database \`${namespace}\` exists and was not created by sessionspec; it is left alone`), { sessionspecKind: 'conflict' });
    }
    return;
  }
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${namespace}\` COMMENT '${MARK}'`);
}

/** Quotes a PostgreSQL or SQLite identifier. */
function quotePg(name) {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a MySQL identifier. */
function quoteMysql(name) {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Drops the MySQL database `namespace` if sessionspec created it. */
async function mysqlDropDatabase(conn, namespace) {
  ensured.delete(`mysql:${namespace}`);
  const [rows] = await conn.query('SELECT SCHEMA_COMMENT AS mark FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [namespace]);
  if (rows.length > 0 && rows[0].mark === MARK) {
    await conn.query(`DROP DATABASE \`${namespace}\``);
  }
}

/** Forgets that `key` was created (after a drop). */
function forget(key) {
  ensured.delete(key);
}

module.exports = { forget, quotePg, quoteMysql, once, pgEnsureSchema, pgDropSchema, mysqlEnsureDatabase, mysqlDropDatabase, MARK };

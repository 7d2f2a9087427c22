'use strict';
// Namespaces in SQL servers: a PostgreSQL schema or a MySQL database per namespace, marked with a
// comment when created so that `drop` removes only what an adapter created, also after the
// process that created it has died.

const MARK = 'sessionspec namespace';

/** Creates the PostgreSQL schema `namespace` (marked), unless it exists with the mark. */
async function pgEnsureSchema(pool, namespace) {
  const found = await pool.query('SELECT obj_description(oid, \'pg_namespace\') AS mark FROM pg_namespace WHERE nspname = $1', [namespace]);
  if (found.rows.length > 0) {
    if (found.rows[0].mark !== MARK) {
      throw Object.assign(new Error(`schema \`${namespace}\` exists and was not created by sessionspec; it is left alone`), { sessionspecKind: 'conflict' });
    }
    return;
  }
  try {
    await pool.query(`CREATE SCHEMA "${namespace}"`);
    await pool.query(`COMMENT ON SCHEMA "${namespace}" IS '${MARK}'`);
  } catch (err) {
    if (err.code !== '42P06') { // created meanwhile by another instance of this namespace
      throw err;
    }
  }
}

/** Drops the schema `namespace` if sessionspec created it. */
async function pgDropSchema(pool, namespace) {
  const found = await pool.query('SELECT obj_description(oid, \'pg_namespace\') AS mark FROM pg_namespace WHERE nspname = $1', [namespace]);
  if (found.rows.length > 0 && found.rows[0].mark === MARK) {
    await pool.query(`DROP SCHEMA "${namespace}" CASCADE`);
  }
}

/** Creates the MySQL database `namespace` (marked), unless it exists with the mark. */
async function mysqlEnsureDatabase(conn, namespace) {
  const [rows] = await conn.query('SELECT SCHEMA_COMMENT AS mark FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [namespace]);
  if (rows.length > 0) {
    if (rows[0].mark !== MARK) {
      throw Object.assign(new Error(`database \`${namespace}\` exists and was not created by sessionspec; it is left alone`), { sessionspecKind: 'conflict' });
    }
    return;
  }
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${namespace}\` COMMENT '${MARK}'`);
}

/** Drops the MySQL database `namespace` if sessionspec created it. */
async function mysqlDropDatabase(conn, namespace) {
  const [rows] = await conn.query('SELECT SCHEMA_COMMENT AS mark FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [namespace]);
  if (rows.length > 0 && rows[0].mark === MARK) {
    await conn.query(`DROP DATABASE \`${namespace}\``);
  }
}

module.exports = { pgEnsureSchema, pgDropSchema, mysqlEnsureDatabase, mysqlDropDatabase, MARK };

//! The session table per dialect, as connect-session-knex 5 has knex create it: `sid` primary
//! key, `sess` JSON, `expired` NOT NULL with an index named `<table>_expired_index`. Where the
//! spec needs more than knex gives (byte-exact sids and 1 MiB sessions on MySQL, race-free
//! creation on PostgreSQL), the difference is marked. Nothing here drops or alters a table.

use sessionspec_contract::{ErrorKind, Result, StoreError};

use sessionspec_server_store::sqlx::sql;

use crate::store::SqlPool;
use crate::{Dialect, Ident, backend};

/// The index knex names for the `expired` column, or `None` when that name is too long.
fn index_name(table: &Ident, dialect: Dialect) -> Option<Ident> {
    dialect.ident(&format!("{}_expired_index", table.name())).ok()
}

/// Creates the table and its index when missing. Safe to run from many instances at once.
pub(crate) async fn create_table(pool: &SqlPool, schema: Option<&Ident>, table: &Ident, sid: &Ident) -> Result<()> {
    let dialect = pool.dialect();
    let t = dialect.qualified(schema, table);
    let s = dialect.quote(sid);
    let failed = |e| backend(&format!("cannot create the session table {t}"), e);
    match pool {
        SqlPool::Sqlite(pool) => {
            // SQLite serializes schema changes on the database file, so IF NOT EXISTS is enough.
            let index = index_name(table, dialect).ok_or_else(|| {
                StoreError::new(ErrorKind::Invalid, format!("table name `{}` is too long for its index", table.name()))
            })?;
            sqlx::query(sql(format!(
                "CREATE TABLE IF NOT EXISTS {t} ({s} varchar(255) NOT NULL PRIMARY KEY, \"sess\" json NOT NULL, \"expired\" datetime NOT NULL)"
            )))
            .execute(pool)
            .await
            .map_err(failed)?;
            sqlx::query(sql(format!("CREATE INDEX IF NOT EXISTS {} ON {t} (\"expired\")", index.quoted())))
                .execute(pool)
                .await
                .map_err(failed)?;
        }
        SqlPool::MySql(pool) => {
            let index = index_name(table, dialect).unwrap_or(Ident::new("expired_index")?);
            // Differences from knex, for the spec:
            // - `sid` is VARBINARY, not varchar(255): MySQL's and MariaDB's default collations
            //   ignore case, accents and (PAD SPACE) trailing spaces, and even utf8mb4_bin pads
            //   spaces, so `a`, `A` and `a ` would be one session (SER-7). Bytes compare
            //   exactly. 1020 bytes hold knex's 255 characters of 4-byte UTF-8.
            // - `sess` is LONGTEXT, not JSON. MariaDB's JSON is LONGTEXT plus a json_valid()
            //   check that rejects documents nested deeper than 32 levels, and MySQL's binary
            //   JSON stops at a depth of 100; sessions nest 100 levels inside the object (SER-3).
            //   knex reads and writes the column as text either way.
            // - `expired` is DATETIME(3), not DATETIME: knex's text form (`YYYY-MM-DD HH:MM:SS`,
            //   UTC) still fits, and the store keeps the cookie's milliseconds.
            // One CREATE holds the index too, so concurrent opens cannot half-create it; MySQL's
            // metadata locks make CREATE TABLE IF NOT EXISTS safe to race.
            sqlx::query(sql(format!(
                "CREATE TABLE IF NOT EXISTS {t} ({s} VARBINARY(1020) NOT NULL, \
                 `sess` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
                 `expired` DATETIME(3) NOT NULL, PRIMARY KEY ({s}), INDEX {} (`expired`)) DEFAULT CHARSET=utf8mb4",
                dialect.quote(&index)
            )))
            .execute(pool)
            .await
            .map_err(failed)?;
        }
        SqlPool::Postgres(pool) => {
            let constraint = match dialect.ident(&format!("{}_pkey", table.name())) {
                Ok(pkey) => format!("CONSTRAINT {} ", pkey.quoted()),
                Err(_) => String::new(),
            };
            let index = match index_name(table, dialect) {
                Some(i) => format!("CREATE INDEX {} ON {t} (\"expired\")", i.quoted()),
                None => format!("CREATE INDEX ON {t} (\"expired\")"),
            };
            let create = [
                sql(format!(
                    "CREATE TABLE {t} ({s} varchar(255) NOT NULL, \"sess\" json NOT NULL, \"expired\" timestamptz NOT NULL, {constraint}PRIMARY KEY ({s}))"
                )),
                sql(index),
            ];
            sessionspec_server_store::postgres::create_table_once(pool, CREATE_LOCK_CLASS, &t, create)
                .await
                .map_err(failed)?;
        }
    }
    Ok(())
}

/// A lock key class for table creation (the second key is the table name's hash).
const CREATE_LOCK_CLASS: i32 = 0x5e55_1012;

/// Whether the table exists (for `create_table: false`).
pub(crate) async fn table_exists(pool: &SqlPool, schema: Option<&Ident>, table: &Ident) -> Result<bool> {
    let failed = |e| backend("cannot look for the session table", e);
    let n: i64 = match pool {
        SqlPool::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
                .bind(table.name())
                .fetch_one(pool)
                .await
                .map_err(failed)?
        }
        SqlPool::MySql(pool) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
        )
        .bind(schema.map(Ident::name))
        .bind(table.name())
        .fetch_one(pool)
        .await
        .map_err(failed)?,
        SqlPool::Postgres(pool) => {
            let qualified = Dialect::Postgres.qualified(schema, table);
            let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
                .bind(qualified)
                .fetch_one(pool)
                .await
                .map_err(failed)?;
            i64::from(found.is_some())
        }
    };
    Ok(n > 0)
}

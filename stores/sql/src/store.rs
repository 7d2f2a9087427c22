//! The store logic the three dialects share: one [`SqlStore`] over an SQLite, MySQL/MariaDB or
//! PostgreSQL pool, with each dialect's statements built once from quoted identifiers. Nothing
//! here may format a value into SQL: values are always bound.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::{
    AutoRemove, ErrorKind, Listed, RawAccess, RawRecord, Result, Session, SharedClock, Store, StoreError, StoreOptions,
    Tamper, format_timestamp, parse_timestamp,
};
use sessionspec_server_store::sqlx::{is_retryable, sql};
use sessionspec_server_store::{DEFAULT_OPERATION_TIMEOUT, Operations, Sweep};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySql, MySqlPool};
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Database, Decode, Encode, Row, SqlStr, Type};

use crate::{DEFAULT_CLEANUP_INTERVAL, DEFAULT_SID_FIELD, DEFAULT_TABLE, DEFAULT_TTL, Dialect, Ident, backend};

/// How a [`SqlStore`] is set up. The defaults are connect-session-knex's.
#[derive(Debug, Clone)]
pub struct SqlStoreConfig {
    /// The schema (PostgreSQL) or database (MySQL) holding the table; `None` uses the
    /// connection's default. Ignored by SQLite, where a database is a file.
    pub schema_name: Option<String>,
    /// The table (`tableName`, default `sessions`).
    pub table_name: String,
    /// The session id column (`sidFieldName`, default `sid`).
    pub sid_field_name: String,
    /// Create the table and its index when missing (`createTable`, default on). Without it, a
    /// missing table makes opening fail.
    pub create_table: bool,
    /// How often expired rows are deleted (`cleanupInterval`, default 60 s); `None` disables it
    /// (connect-session-knex's `0`).
    pub cleanup_interval: Option<Duration>,
    /// The fallback time-to-live for a session whose cookie has no `expires`: one day, which
    /// connect-session-knex hard-codes.
    pub ttl: Duration,
    /// `touch` succeeds without writing.
    pub disable_touch: bool,
    /// The bound on each operation.
    pub operation_timeout: Duration,
}

impl Default for SqlStoreConfig {
    fn default() -> Self {
        SqlStoreConfig {
            schema_name: None,
            table_name: DEFAULT_TABLE.to_owned(),
            sid_field_name: DEFAULT_SID_FIELD.to_owned(),
            create_table: true,
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            ttl: DEFAULT_TTL,
            disable_touch: false,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }
}

impl SqlStoreConfig {
    /// The configuration for a scenario's options, or `unsupported` for an option this store
    /// does not have.
    pub fn from_options(options: &StoreOptions) -> Result<SqlStoreConfig> {
        options.check_supported(&crate::capabilities(), "SQL")?;
        let mut config = SqlStoreConfig::default();
        if let Some(name) = &options.name {
            config.table_name = name.clone();
        }
        if let Some(ttl) = options.ttl {
            config.ttl = ttl;
        }
        config.disable_touch = options.disable_touch;
        config.cleanup_interval = match options.auto_remove {
            Some(AutoRemove::Disabled) => None,
            _ => Some(options.auto_remove_interval.unwrap_or(DEFAULT_CLEANUP_INTERVAL)),
        };
        Ok(config)
    }
}

/// A pool of one of the three dialects.
#[derive(Debug, Clone)]
pub enum SqlPool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// MySQL or MariaDB.
    MySql(MySqlPool),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl SqlPool {
    /// The dialect this pool speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            SqlPool::Sqlite(_) => Dialect::Sqlite,
            SqlPool::MySql(_) => Dialect::MySql,
            SqlPool::Postgres(_) => Dialect::Postgres,
        }
    }

    async fn close(&self) {
        match self {
            SqlPool::Sqlite(p) => p.close().await,
            SqlPool::MySql(p) => p.close().await,
            SqlPool::Postgres(p) => p.close().await,
        }
    }

    fn max_connections(&self) -> u32 {
        match self {
            SqlPool::Sqlite(p) => p.options().get_max_connections(),
            SqlPool::MySql(p) => p.options().get_max_connections(),
            SqlPool::Postgres(p) => p.options().get_max_connections(),
        }
    }
}

impl From<SqlitePool> for SqlPool {
    fn from(pool: SqlitePool) -> Self {
        SqlPool::Sqlite(pool)
    }
}

impl From<MySqlPool> for SqlPool {
    fn from(pool: MySqlPool) -> Self {
        SqlPool::MySql(pool)
    }
}

impl From<PgPool> for SqlPool {
    fn from(pool: PgPool) -> Self {
        SqlPool::Postgres(pool)
    }
}

/// Runs `$body` with `$p` bound to the concrete pool, whatever the dialect: the body is
/// compiled once per driver, so every bound value must encode for all three.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            SqlPool::Sqlite($p) => $body,
            SqlPool::MySql($p) => $body,
            SqlPool::Postgres($p) => $body,
        }
    };
}

/// An instant as each dialect stores it, the way connect-session-knex writes it:
/// - SQLite: `Date#toISOString()` text (`2030-01-01T00:00:10.000Z`), which sorts in time order;
/// - MySQL: a `DATETIME` holding UTC wall-clock time (knex writes `YYYY-MM-DD HH:MM:SS` in UTC),
///   bound as a zone-less value so the session `time_zone` cannot shift it;
/// - PostgreSQL: a `timestamptz`, an absolute instant whatever the connection's `TimeZone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Instant(DateTime<Utc>);

impl Type<Sqlite> for Instant {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Instant {
    fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'_, Sqlite>>::encode(format_timestamp(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Instant {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Instant(parse_timestamp(&text)?))
    }
}

impl Type<MySql> for Instant {
    fn type_info() -> <MySql as Database>::TypeInfo {
        <NaiveDateTime as Type<MySql>>::type_info()
    }
    fn compatible(ty: &<MySql as Database>::TypeInfo) -> bool {
        <NaiveDateTime as Type<MySql>>::compatible(ty)
    }
}

impl Encode<'_, MySql> for Instant {
    fn encode_by_ref(&self, buf: &mut <MySql as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <NaiveDateTime as Encode<'_, MySql>>::encode(self.0.naive_utc(), buf)
    }
}

impl<'r> Decode<'r, MySql> for Instant {
    fn decode(value: <MySql as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Instant(<NaiveDateTime as Decode<'r, MySql>>::decode(value)?.and_utc()))
    }
}

impl Type<Postgres> for Instant {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Instant {
    fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'_, Postgres>>::encode(self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Instant {
    fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Instant(<DateTime<Utc> as Decode<'r, Postgres>>::decode(value)?))
    }
}

/// Every statement the store runs, built once from the checked, quoted identifiers. Each takes
/// its parameters in the same order in every dialect:
/// get (sid, now), set (sid, sess, expired), create (sid, sess, expired, now), destroy (sid),
/// update (sess, expired, sid, now), touch_cookie (cookie, expired, sid, now), touch_expiry
/// (expired, sid, now),
/// all/length/ids/cleanup (now), raw_record (sid), tamper (payload, sid). MySQL's `create` is
/// two statements instead: `create_clear` (sid, now), then `create` (sid, sess, expired).
#[derive(Clone)]
pub(crate) struct Statements {
    pub table: String,
    pub get: SqlStr,
    pub set: SqlStr,
    pub create: SqlStr,
    pub create_clear: Option<SqlStr>,
    pub update: SqlStr,
    pub destroy: SqlStr,
    pub touch_cookie: SqlStr,
    pub touch_expiry: SqlStr,
    pub all: SqlStr,
    pub length: SqlStr,
    pub clear: SqlStr,
    pub ids: SqlStr,
    pub cleanup: SqlStr,
    pub raw_record: SqlStr,
    pub raw_count: SqlStr,
    pub tamper: SqlStr,
}

impl Statements {
    pub fn new(dialect: Dialect, schema: Option<&Ident>, table: &Ident, sid: &Ident) -> Statements {
        let t = dialect.qualified(schema, table);
        let s = dialect.quote(sid);
        let t = t.as_str();
        let s = s.as_str();
        match dialect {
            Dialect::Sqlite => Statements {
                table: t.to_owned(),
                get: sql(format!("SELECT \"sess\" FROM {t} WHERE {s} = ? AND \"expired\" > ?")),
                set: sql(format!(
                    "INSERT INTO {t} ({s}, \"sess\", \"expired\") VALUES (?, ?, ?) \
                     ON CONFLICT({s}) DO UPDATE SET \"sess\" = excluded.\"sess\", \"expired\" = excluded.\"expired\""
                )),
                // A live row makes the conflict update nothing (no row changes); unqualified
                // `expired` in the WHERE is the stored row's.
                create: sql(format!(
                    "INSERT INTO {t} ({s}, \"sess\", \"expired\") VALUES (?, ?, ?) \
                     ON CONFLICT({s}) DO UPDATE SET \"sess\" = excluded.\"sess\", \"expired\" = excluded.\"expired\" \
                     WHERE \"expired\" <= ?"
                )),
                create_clear: None,
                update: sql(format!("UPDATE {t} SET \"sess\" = ?, \"expired\" = ? WHERE {s} = ? AND \"expired\" > ?")),
                destroy: sql(format!("DELETE FROM {t} WHERE {s} = ?")),
                touch_cookie: sql(format!(
                    "UPDATE {t} SET \"sess\" = json_set(\"sess\", '$.cookie', json(?)), \"expired\" = ? WHERE {s} = ? AND \"expired\" > ?"
                )),
                touch_expiry: sql(format!("UPDATE {t} SET \"expired\" = ? WHERE {s} = ? AND \"expired\" > ?")),
                all: sql(format!("SELECT {s}, \"sess\" FROM {t} WHERE \"expired\" > ? ORDER BY {s}")),
                length: sql(format!("SELECT COUNT(*) FROM {t} WHERE \"expired\" > ?")),
                clear: sql(format!("DELETE FROM {t}")),
                ids: sql(format!("SELECT {s} FROM {t} WHERE \"expired\" > ? ORDER BY {s}")),
                cleanup: sql(format!("DELETE FROM {t} WHERE \"expired\" <= ?")),
                raw_record: sql(format!("SELECT {s}, \"sess\", \"expired\" FROM {t} WHERE {s} = ?")),
                raw_count: sql(format!("SELECT COUNT(*) FROM {t}")),
                tamper: sql(format!("UPDATE {t} SET \"sess\" = ? WHERE {s} = ?")),
            },
            // The sid column is VARBINARY (see `create_mysql`): it is read back through
            // CONVERT so that sids come out as text, and compared as bytes.
            Dialect::MySql => Statements {
                table: t.to_owned(),
                get: sql(format!("SELECT CAST(`sess` AS CHAR) FROM {t} WHERE {s} = ? AND `expired` > ?")),
                // VALUES() rather than MySQL 8's row alias: MariaDB has no row alias.
                set: sql(format!(
                    "INSERT INTO {t} ({s}, `sess`, `expired`) VALUES (?, ?, ?) \
                     ON DUPLICATE KEY UPDATE `sess` = VALUES(`sess`), `expired` = VALUES(`expired`)"
                )),
                // MySQL's upsert cannot say whether it changed a row (the driver counts found
                // rows, so an unchanged row counts as one): an expired leftover is deleted, which
                // changes nothing anyone can load, then a plain INSERT fails on a live row.
                create: sql(format!("INSERT INTO {t} ({s}, `sess`, `expired`) VALUES (?, ?, ?)")),
                create_clear: Some(sql(format!("DELETE FROM {t} WHERE {s} = ? AND `expired` <= ?"))),
                update: sql(format!("UPDATE {t} SET `sess` = ?, `expired` = ? WHERE {s} = ? AND `expired` > ?")),
                destroy: sql(format!("DELETE FROM {t} WHERE {s} = ?")),
                // JSON_EXTRACT(?, '$') turns the bound text into a JSON value, so JSON_SET stores
                // an object rather than a string (MariaDB has no CAST AS JSON). Outside strict
                // mode MariaDB's JSON_SET gives NULL for a document nested deeper than it handles
                // (32 levels), where strict mode fails: either way the session keeps its stored
                // cookie, and only its expiry moves (see `touch`).
                touch_cookie: sql(format!(
                    "UPDATE {t} SET `sess` = COALESCE(JSON_SET(`sess`, '$.cookie', JSON_EXTRACT(?, '$')), `sess`), \
                     `expired` = ? WHERE {s} = ? AND `expired` > ?"
                )),
                touch_expiry: sql(format!("UPDATE {t} SET `expired` = ? WHERE {s} = ? AND `expired` > ?")),
                all: sql(format!(
                    "SELECT CONVERT({s} USING utf8mb4), CAST(`sess` AS CHAR) FROM {t} WHERE `expired` > ? ORDER BY {s}"
                )),
                length: sql(format!("SELECT COUNT(*) FROM {t} WHERE `expired` > ?")),
                clear: sql(format!("DELETE FROM {t}")),
                ids: sql(format!("SELECT CONVERT({s} USING utf8mb4) FROM {t} WHERE `expired` > ? ORDER BY {s}")),
                cleanup: sql(format!("DELETE FROM {t} WHERE `expired` <= ?")),
                raw_record: sql(format!(
                    "SELECT CONVERT({s} USING utf8mb4), CAST(`sess` AS CHAR), `expired` FROM {t} WHERE {s} = ?"
                )),
                raw_count: sql(format!("SELECT COUNT(*) FROM {t}")),
                tamper: sql(format!("UPDATE {t} SET `sess` = ? WHERE {s} = ?")),
            },
            Dialect::Postgres => Statements {
                table: t.to_owned(),
                get: sql(format!("SELECT \"sess\"::text FROM {t} WHERE {s} = $1 AND \"expired\" > $2")),
                set: sql(format!(
                    "INSERT INTO {t} ({s}, \"sess\", \"expired\") VALUES ($1, $2::json, $3) \
                     ON CONFLICT ({s}) DO UPDATE SET \"sess\" = EXCLUDED.\"sess\", \"expired\" = EXCLUDED.\"expired\""
                )),
                // A live row makes the conflict update nothing; the row lock the conflict takes
                // makes two creates of one id land at most once.
                create: sql(format!(
                    "INSERT INTO {t} AS x ({s}, \"sess\", \"expired\") VALUES ($1, $2::json, $3) \
                     ON CONFLICT ({s}) DO UPDATE SET \"sess\" = EXCLUDED.\"sess\", \"expired\" = EXCLUDED.\"expired\" \
                     WHERE x.\"expired\" <= $4"
                )),
                create_clear: None,
                update: sql(format!(
                    "UPDATE {t} SET \"sess\" = $1::json, \"expired\" = $2 WHERE {s} = $3 AND \"expired\" > $4"
                )),
                destroy: sql(format!("DELETE FROM {t} WHERE {s} = $1")),
                // `sess` is `json` (text kept as written): the object is rebuilt member by member
                // in stored order rather than through `jsonb`, which reorders members and
                // rejects U+0000.
                touch_cookie: sql(format!(
                    "UPDATE {t} AS x SET \"expired\" = $2, \"sess\" = (\
                       SELECT json_object_agg(m.k, m.v ORDER BY m.n) FROM (\
                         SELECT e.key, CASE WHEN e.key = 'cookie' THEN $1::json ELSE e.value END, e.n \
                           FROM json_each(x.\"sess\") WITH ORDINALITY AS e(key, value, n) \
                         UNION ALL SELECT 'cookie', $1::json, 0 WHERE x.\"sess\" -> 'cookie' IS NULL\
                       ) AS m(k, v, n)\
                     ) WHERE x.{s} = $3 AND x.\"expired\" > $4"
                )),
                touch_expiry: sql(format!("UPDATE {t} SET \"expired\" = $1 WHERE {s} = $2 AND \"expired\" > $3")),
                all: sql(format!("SELECT {s}, \"sess\"::text FROM {t} WHERE \"expired\" > $1 ORDER BY {s}")),
                length: sql(format!("SELECT COUNT(*) FROM {t} WHERE \"expired\" > $1")),
                clear: sql(format!("DELETE FROM {t}")),
                ids: sql(format!("SELECT {s} FROM {t} WHERE \"expired\" > $1 ORDER BY {s}")),
                cleanup: sql(format!("DELETE FROM {t} WHERE \"expired\" <= $1")),
                raw_record: sql(format!("SELECT {s}, \"sess\"::text, \"expired\" FROM {t} WHERE {s} = $1")),
                raw_count: sql(format!("SELECT COUNT(*) FROM {t}")),
                tamper: sql(format!("UPDATE {t} SET \"sess\" = to_json($1::text) WHERE {s} = $2")),
            },
        }
    }
}

/// A session store in one SQL table, in any of the three dialects. Clones share the pool and the
/// cleanup, so closing one closes them all; the cleanup stops when the last clone is dropped.
#[derive(Clone)]
pub struct SqlStore {
    pool: SqlPool,
    owns_pool: bool,
    sql: Statements,
    config: SqlStoreConfig,
    clock: SharedClock,
    operations: Operations,
    cleanup: Arc<Sweep>,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.dialect())
            .field("table", &self.sql.table)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Opens a store on the caller's pool; closing the store leaves the pool open.
    pub async fn with_pool(pool: impl Into<SqlPool>, config: SqlStoreConfig, clock: SharedClock) -> Result<SqlStore> {
        SqlStore::open(pool.into(), false, config, clock).await
    }

    /// Opens a store on `pool`; with `owns_pool` the store closes it on [`Store::close`].
    pub(crate) async fn open(
        pool: SqlPool,
        owns_pool: bool,
        config: SqlStoreConfig,
        clock: SharedClock,
    ) -> Result<SqlStore> {
        if config.cleanup_interval.is_some_and(|i| i.is_zero()) {
            return Err(StoreError::new(
                ErrorKind::Invalid,
                "the cleanup interval must be positive (`cleanup_interval: None` disables it)",
            ));
        }
        let dialect = pool.dialect();
        let schema = match dialect {
            Dialect::Sqlite => None,
            _ => config.schema_name.as_deref().map(|s| dialect.ident(s)).transpose()?,
        };
        let table = dialect.ident(&config.table_name)?;
        let sid = dialect.ident(&config.sid_field_name)?;
        let prepared = async {
            if config.create_table {
                crate::schema::create_table(&pool, schema.as_ref(), &table, &sid).await
            } else if crate::schema::table_exists(&pool, schema.as_ref(), &table).await? {
                Ok(())
            } else {
                Err(StoreError::new(
                    ErrorKind::NotFound,
                    format!("missing {} table, and `create_table` is off", dialect.qualified(schema.as_ref(), &table)),
                ))
            }
        };
        sessionspec_server_store::bounded("preparing the session table", config.operation_timeout, prepared).await?;
        let operations = Operations::new(config.operation_timeout);
        let sql = Statements::new(dialect, schema.as_ref(), &table, &sid);
        let cleanup = match config.cleanup_interval {
            Some(interval) => SqlStore::start_cleanup(&pool, &sql, &clock, &operations, interval),
            None => Sweep::default(),
        };
        Ok(SqlStore { pool, owns_pool, sql, config, clock, operations, cleanup: Arc::new(cleanup) })
    }

    /// The dialect the store speaks.
    pub fn dialect(&self) -> Dialect {
        self.pool.dialect()
    }

    /// The qualified, quoted table this store uses.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// Deletes every expired row now; returns how many.
    pub async fn cleanup(&self) -> Result<u64> {
        let now = Instant(self.clock.now());
        let (pool, statement) = (&self.pool, &self.sql.cleanup);
        self.run("cleanup", || async move {
            on_pool!(pool, p => sqlx::query(statement.clone()).bind(now).execute(p).await.map(|r| r.rows_affected()))
        })
        .await
    }

    /// Deletes expired rows every interval on the store's clock until the store is closed or
    /// dropped. A failed sweep is retried at the next interval; expired rows stay invisible
    /// meanwhile.
    fn start_cleanup(
        pool: &SqlPool,
        sql: &Statements,
        clock: &SharedClock,
        operations: &Operations,
        interval: Duration,
    ) -> Sweep {
        let (pool, statement) = (pool.clone(), sql.cleanup.clone());
        Sweep::start(
            clock.clone(),
            operations.clone(),
            move || interval,
            move |now| {
                let (pool, statement) = (pool.clone(), statement.clone());
                async move { on_pool!(&pool, p => sqlx::query(statement).bind(Instant(now)).execute(p).await.map(|_| ())) }
            },
        )
    }

    fn now(&self) -> Instant {
        Instant(self.clock.now())
    }

    fn expiry(&self, session: &Session) -> Result<Instant> {
        Ok(Instant(session.expiry(self.clock.now(), self.config.ttl)?))
    }

    /// Runs one operation within the operation timeout, and again on another connection when
    /// the server dropped its connection or chose it as a deadlock victim, as many times as the
    /// pool has connections and once more (every statement here is idempotent).
    async fn run<T, F, Fut>(&self, operation: &str, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let retries = self.pool.max_connections() as usize + 1;
        self.operations.run(operation, retries, is_retryable, backend, attempt).await
    }
}

fn pairs<R: Row>(rows: Vec<R>) -> Result<Vec<(String, String)>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    rows.into_iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

fn raw_row<R: Row>(row: R) -> Result<(String, String, Instant), sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Instant: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

#[async_trait]
impl Store for SqlStore {
    fn raw(&self) -> Option<&dyn RawAccess> {
        Some(self)
    }

    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        let now = self.now();
        let (pool, statement) = (&self.pool, &self.sql.get);
        let text: Option<String> = self
            .run("get", || async move {
                on_pool!(pool, p => sqlx::query_scalar(statement.clone()).bind(sid).bind(now).fetch_optional(p).await)
            })
            .await?;
        // A payload that does not decode is reported and left in place (GET-4, GET-5).
        text.map(Session::from_json).transpose()
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        session.require_cookie()?;
        let expired = self.expiry(session)?;
        let json = session.to_json();
        let json = json.as_str();
        let (pool, statement) = (&self.pool, &self.sql.set);
        self.run("set", || async move {
            on_pool!(pool, p => sqlx::query(statement.clone()).bind(sid).bind(json).bind(expired).execute(p).await.map(|_| ()))
        })
        .await
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        let (pool, statement) = (&self.pool, &self.sql.destroy);
        self.run("destroy", || async move {
            on_pool!(pool, p => sqlx::query(statement.clone()).bind(sid).execute(p).await.map(|_| ()))
        })
        .await
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        self.operations.check_open("touch")?;
        if self.config.disable_touch {
            return Ok(());
        }
        let expired = self.expiry(session)?;
        let now = self.now();
        let cookie = session.as_map().get("cookie").map(Value::to_string);
        let cookie = cookie.as_deref();
        let pool = &self.pool;
        let (with_cookie, expiry_only) = (&self.sql.touch_cookie, &self.sql.touch_expiry);
        // One statement moves the expiry and stores the cookie together, and only for a live
        // row: a concurrent set is never overwritten by a stale copy (CONC-4) and an expired
        // row stays expired (TOUCH-4), where connect-session-knex would skip browser-session
        // cookies altogether.
        self.run("touch", || async move {
            let move_expiry = || async move {
                on_pool!(pool, p => sqlx::query(expiry_only.clone())
                    .bind(expired)
                    .bind(sid)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|_| ()))
            };
            let Some(cookie) = cookie else { return move_expiry().await };
            let rewritten = on_pool!(pool, p => sqlx::query(with_cookie.clone())
                .bind(cookie)
                .bind(expired)
                .bind(sid)
                .bind(now)
                .execute(p)
                .await
                .map(|_| ()));
            // Some sessions the table holds are beyond what the database's JSON functions take
            // apart: U+0000 in PostgreSQL, deep nesting in MySQL and MariaDB. Such a
            // session keeps its stored cookie and only its expiry moves (TOUCH-5 is a SHOULD;
            // TOUCH-1 holds).
            match rewritten {
                Err(sqlx::Error::Database(e)) if crate::is_beyond_json_functions(e.as_ref()) => move_expiry().await,
                other => other,
            }
        })
        .await
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        let now = self.now();
        let (pool, statement) = (&self.pool, &self.sql.all);
        let rows = self
            .run("all", || async move {
                on_pool!(pool, p => sqlx::query(statement.clone()).bind(now).fetch_all(p).await.and_then(pairs))
            })
            .await?;
        rows.into_iter().map(|(sid, text)| Ok(Listed { sid: Some(sid), session: Session::from_json(text)? })).collect()
    }

    async fn length(&self) -> Result<u64> {
        let now = self.now();
        let (pool, statement) = (&self.pool, &self.sql.length);
        let n: i64 = self
            .run("length", || async move {
                on_pool!(pool, p => sqlx::query_scalar(statement.clone()).bind(now).fetch_one(p).await)
            })
            .await?;
        Ok(n as u64)
    }

    async fn clear(&self) -> Result<()> {
        let (pool, statement) = (&self.pool, &self.sql.clear);
        self.run(
            "clear",
            || async move { on_pool!(pool, p => sqlx::query(statement.clone()).execute(p).await.map(|_| ())) },
        )
        .await
    }

    async fn ids(&self) -> Result<Vec<String>> {
        let now = self.now();
        let (pool, statement) = (&self.pool, &self.sql.ids);
        self.run("ids", || async move {
            on_pool!(pool, p => sqlx::query_scalar(statement.clone()).bind(now).fetch_all(p).await)
        })
        .await
    }

    async fn create(&self, sid: &str, session: &Session) -> Result<String> {
        session.require_cookie()?;
        let expired = self.expiry(session)?;
        let now = self.now();
        let json = session.to_json();
        let json = json.as_str();
        let (pool, statement, clear) = (&self.pool, &self.sql.create, &self.sql.create_clear);
        let stored = self
            .run("create", || async move {
                let result = match clear {
                    Some(clear) => {
                        on_pool!(pool, p => sqlx::query(clear.clone()).bind(sid).bind(now).execute(p).await.map(|_| ()))?;
                        on_pool!(pool, p => sqlx::query(statement.clone())
                            .bind(sid)
                            .bind(json)
                            .bind(expired)
                            .execute(p)
                            .await
                            .map(|r| r.rows_affected()))
                    }
                    None => on_pool!(pool, p => sqlx::query(statement.clone())
                        .bind(sid)
                        .bind(json)
                        .bind(expired)
                        .bind(now)
                        .execute(p)
                        .await
                        .map(|r| r.rows_affected())),
                };
                match result {
                    Ok(changed) => Ok(changed > 0),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await?;
        if stored {
            Ok(sid.to_owned())
        } else {
            Err(StoreError::new(ErrorKind::Conflict, format!("a session is already stored under `{sid}`")))
        }
    }

    /// One `UPDATE` of the live row: a row deleted or expired meanwhile stays gone.
    async fn update(&self, sid: &str, session: &Session) -> Result<bool> {
        session.require_cookie()?;
        let expired = self.expiry(session)?;
        let now = self.now();
        let json = session.to_json();
        let json = json.as_str();
        let (pool, statement) = (&self.pool, &self.sql.update);
        self.run("update", || async move {
            on_pool!(pool, p => sqlx::query(statement.clone())
                .bind(json)
                .bind(expired)
                .bind(sid)
                .bind(now)
                .execute(p)
                .await
                .map(|r| r.rows_affected() > 0))
        })
        .await
    }

    /// [`SqlStore::cleanup`]: every row whose expiry passed on the store's clock.
    async fn delete_expired(&self) -> Result<()> {
        self.cleanup().await.map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        self.operations.close();
        self.cleanup.stop();
        if self.owns_pool {
            self.pool.close().await;
        }
        Ok(())
    }
}

#[async_trait]
impl RawAccess for SqlStore {
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>> {
        let (pool, statement) = (&self.pool, &self.sql.raw_record);
        let row = self
            .run("raw", || async move {
                on_pool!(pool, p => match sqlx::query(statement.clone()).bind(sid).fetch_optional(p).await {
                    Ok(Some(row)) => raw_row(row).map(Some),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                })
            })
            .await?;
        let Some((key, sess, Instant(expires))) = row else { return Ok(None) };
        let mut fields = Map::new();
        fields.insert("expired".into(), Value::String(format_timestamp(expires)));
        Ok(Some(RawRecord { key, payload: Value::String(sess), expires: Some(expires), fields }))
    }

    async fn count(&self) -> Result<u64> {
        let (pool, statement) = (&self.pool, &self.sql.raw_count);
        let n: i64 = self
            .run("raw-count", || async move {
                on_pool!(pool, p => sqlx::query_scalar(statement.clone()).fetch_one(p).await)
            })
            .await?;
        Ok(n as u64)
    }

    /// SQLite and MySQL store the damaged text as it is. PostgreSQL's `json` column cannot hold
    /// text that is not JSON, so there the damaged text is stored as a JSON string: valid JSON,
    /// but not a session object.
    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()> {
        let damaged = sessionspec_server_store::damaged_payload(self, sid, tamper).await?;
        let damaged = damaged.as_str();
        let (pool, statement) = (&self.pool, &self.sql.tamper);
        self.run("tamper", || async move {
            on_pool!(pool, p => sqlx::query(statement.clone()).bind(damaged).bind(sid).execute(p).await.map(|_| ()))
        })
        .await
    }
}

//! sessionspec's reference PostgreSQL session store, with connect-pg-simple 10's table layout so
//! a Rust service and an Express app can share one session table.
//!
//! Every query is parameterised and every identifier quoted: no session id or option can change
//! what a query does. Expiry is decided by the store's clock, passed as a parameter, never by the
//! database's `now()`; a store never closes a pool it was handed.
#![warn(missing_docs)]

mod factory;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::{
    ErrorKind, EventKind, EventSink, Listed, RawAccess, RawRecord, Result, Session, SharedClock, Store, StoreError,
    StoreEvent, Tamper, format_timestamp,
};
use sessionspec_server_store::sqlx::{error_kind, is_retryable, parse_url, sql};
use sessionspec_server_store::{Operations, Sweep};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Row, SqlStr};

pub use factory::{PgFactory, description};
pub use sessionspec_server_store::{DEFAULT_OPERATION_TIMEOUT, Ident};

#[cfg(feature = "tower-sessions")]
sessionspec_tower_sessions::session_store!(PgStore);

/// connect-pg-simple's default table name.
pub const DEFAULT_TABLE: &str = "session";
/// The fallback time-to-live for a cookie without `expires` (connect-pg-simple's one day).
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);
/// How often expired rows are pruned (connect-pg-simple's `pruneSessionInterval`, 15 minutes).
pub const DEFAULT_PRUNE_INTERVAL: Duration = Duration::from_secs(900);
/// The `application_name` the store's own pools announce, unless the URL sets one.
pub const APPLICATION_NAME: &str = "sessionspec-store-postgres";

/// When expired rows are deleted (connect-pg-simple's `pruneSessionInterval` and
/// `pruneSessionRandomizedInterval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    /// The delay between two prunes.
    pub interval: Duration,
    /// Whether each delay is drawn from `[0.5, 1.5] × interval`, so that many processes sharing a
    /// table do not prune at the same instant (connect-pg-simple's default). Without it every
    /// delay is exactly `interval`.
    pub randomized: bool,
}

impl Default for Prune {
    fn default() -> Self {
        Prune { interval: DEFAULT_PRUNE_INTERVAL, randomized: true }
    }
}

/// How a [`PgStore`] is set up. The defaults are connect-pg-simple's.
#[derive(Debug, Clone)]
pub struct PgStoreConfig {
    /// The schema holding the table (`schemaName`); `None` leaves it to the `search_path`.
    pub schema_name: Option<String>,
    /// The table (`tableName`, default `session`).
    pub table_name: String,
    /// Create the table and its index when missing (`createTableIfMissing`, default off).
    pub create_table_if_missing: bool,
    /// The fallback time-to-live for a session whose cookie has no `expires` (`ttl`, one day).
    pub ttl: Duration,
    /// `touch` succeeds without writing (`disableTouch`).
    pub disable_touch: bool,
    /// The periodic prune; `None` disables it (`pruneSessionInterval: false`).
    pub prune: Option<Prune>,
    /// The bound on each operation.
    pub operation_timeout: Duration,
    /// Where `create`, `update`, `set`, `touch` and `destroy` events go.
    pub events: EventSink,
}

impl Default for PgStoreConfig {
    fn default() -> Self {
        PgStoreConfig {
            schema_name: None,
            table_name: DEFAULT_TABLE.to_owned(),
            create_table_if_missing: false,
            ttl: DEFAULT_TTL,
            disable_touch: false,
            prune: Some(Prune::default()),
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            events: EventSink::discard(),
        }
    }
}

/// The pool settings the store uses for pools it creates, and recommends for pools handed to it
/// (`sessionspec_server_store::sqlx::pool_options`: 16 connections, a 5 s acquire timeout, no
/// health check before each use).
pub fn pool_options() -> PgPoolOptions {
    sessionspec_server_store::sqlx::pool_options()
}

/// Connection options from a URL, announcing [`APPLICATION_NAME`] unless the URL names itself.
pub fn connect_options(url: &str) -> Result<PgConnectOptions> {
    let options: PgConnectOptions = parse_url("PostgreSQL", url)?;
    Ok(if options.get_application_name().is_none() { options.application_name(APPLICATION_NAME) } else { options })
}

/// Every statement the store runs, built once from the quoted identifiers.
///
/// Times are bound as `timestamp` values holding UTC wall-clock time (a [`NaiveDateTime`]), and
/// the `expire` column is `timestamp without time zone`. Comparing `timestamp` with `timestamp`
/// involves no time zone, so neither the connection's `TimeZone` (which a pool handed to the
/// store may set to anything) nor daylight saving can shift an expiry. connect-pg-simple writes
/// `to_timestamp(...)`, a `timestamptz` that PostgreSQL converts to the connection's `TimeZone`
/// on the way into the column: the two agree when the Express app's connections run in UTC.
#[derive(Clone)]
struct Statements {
    table: String,
    get: SqlStr,
    set: SqlStr,
    create: SqlStr,
    update: SqlStr,
    destroy: SqlStr,
    touch_cookie: SqlStr,
    touch_expiry: SqlStr,
    all: SqlStr,
    length: SqlStr,
    clear: SqlStr,
    ids: SqlStr,
    prune: SqlStr,
    raw_record: SqlStr,
    raw_count: SqlStr,
    tamper: SqlStr,
}

impl Statements {
    fn new(table: &str) -> Statements {
        let t = table;
        Statements {
            table: t.to_owned(),
            get: sql(format!("SELECT sess::text FROM {t} WHERE sid = $1 AND expire > $2")),
            // `xmax = 0` holds only for a row this statement inserted: it tells `create` from `update`.
            set: sql(format!(
                "INSERT INTO {t} (sid, sess, expire) VALUES ($1, $2::json, $3) \
                 ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire \
                 RETURNING (xmax = 0)"
            )),
            // Stores only when no row is there or the row there has expired at $4: a live row
            // makes the conflict update nothing, and the statement returns no row. The row lock
            // the conflict takes makes two creates of one id land at most once.
            create: sql(format!(
                "INSERT INTO {t} AS s (sid, sess, expire) VALUES ($1, $2::json, $3) \
                 ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire \
                 WHERE s.expire <= $4 RETURNING 1"
            )),
            // Replaces a live row only: a row deleted or expired meanwhile stays gone.
            update: sql(format!("UPDATE {t} SET sess = $1::json, expire = $2 WHERE sid = $3 AND expire > $4")),
            destroy: sql(format!("DELETE FROM {t} WHERE sid = $1")),
            // One statement replaces the stored cookie and the expiry together, so a concurrent
            // `set` is never overwritten by a stale copy of the data. `sess` is `json` (text kept
            // as written), so the object is rebuilt member by member in stored order instead of
            // going through `jsonb`, which would reorder members and reject U+0000.
            touch_cookie: sql(format!(
                "UPDATE {t} AS s SET expire = $2, sess = (\
                   SELECT json_object_agg(m.k, m.v ORDER BY m.n) FROM (\
                     SELECT e.key, CASE WHEN e.key = 'cookie' THEN $1::json ELSE e.value END, e.n \
                       FROM json_each(s.sess) WITH ORDINALITY AS e(key, value, n) \
                     UNION ALL SELECT 'cookie', $1::json, 0 WHERE s.sess -> 'cookie' IS NULL\
                   ) AS m(k, v, n)\
                 ) WHERE s.sid = $3 AND s.expire > $4"
            )),
            touch_expiry: sql(format!("UPDATE {t} SET expire = $1 WHERE sid = $2 AND expire > $3")),
            all: sql(format!("SELECT sid, sess::text FROM {t} WHERE expire > $1 ORDER BY sid")),
            length: sql(format!("SELECT COUNT(*) FROM {t} WHERE expire > $1")),
            clear: sql(format!("DELETE FROM {t}")),
            ids: sql(format!("SELECT sid FROM {t} WHERE expire > $1 ORDER BY sid")),
            prune: sql(format!("DELETE FROM {t} WHERE expire <= $1")),
            raw_record: sql(format!("SELECT sid, sess::text, expire FROM {t} WHERE sid = $1")),
            raw_count: sql(format!("SELECT COUNT(*) FROM {t}")),
            tamper: sql(format!("UPDATE {t} SET sess = to_json($1::text) WHERE sid = $2")),
        }
    }
}

/// The table and index connect-pg-simple's `table.sql` creates. Its names are kept exactly for
/// the default table; another table gets names derived from its own, because index names are
/// per schema and two session tables in one schema would otherwise collide. A derived name too
/// long for PostgreSQL is left to PostgreSQL to choose.
fn create_table_sql(schema: Option<&Ident>, table: &Ident) -> [SqlStr; 3] {
    let qualified = qualified(schema, table);
    let (pkey, index) = if table.name() == DEFAULT_TABLE {
        (Ident::postgres("session_pkey").ok(), Ident::postgres("IDX_session_expire").ok())
    } else {
        let derived = |name: String| Ident::postgres(&name).ok();
        (derived(format!("{}_pkey", table.name())), derived(format!("IDX_{}_expire", table.name())))
    };
    let pkey = match pkey {
        Some(name) => format!(
            "ALTER TABLE {qualified} ADD CONSTRAINT {} PRIMARY KEY (\"sid\") NOT DEFERRABLE INITIALLY IMMEDIATE",
            name.quoted()
        ),
        None => format!("ALTER TABLE {qualified} ADD PRIMARY KEY (\"sid\")"),
    };
    let index = match index {
        Some(name) => format!("CREATE INDEX {} ON {qualified} (\"expire\")", name.quoted()),
        None => format!("CREATE INDEX ON {qualified} (\"expire\")"),
    };
    [
        sql(format!(
            "CREATE TABLE {qualified} (\"sid\" varchar NOT NULL COLLATE \"default\", \"sess\" json NOT NULL, \"expire\" timestamp(6) NOT NULL)"
        )),
        sql(pkey),
        sql(index),
    ]
}

fn qualified(schema: Option<&Ident>, table: &Ident) -> String {
    match schema {
        Some(s) => format!("{}.{}", s.quoted(), table.quoted()),
        None => table.quoted(),
    }
}

/// The advisory lock class under which the table is created (the other key is the table's name).
const CREATE_LOCK_CLASS: i32 = 0x5e55_1011;

/// A session store in one PostgreSQL table. Clones share the pool and the prune, so closing
/// one closes them all; the prune stops when the last clone is dropped.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    owns_pool: bool,
    sql: Statements,
    config: PgStoreConfig,
    clock: SharedClock,
    operations: Operations,
    prune: Arc<Sweep>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("table", &self.sql.table).field("config", &self.config).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Opens a store on a pool of its own, connected to `url`; [`PgStore::close`] closes it.
    pub async fn connect(url: &str, config: PgStoreConfig, clock: SharedClock) -> Result<PgStore> {
        let (pool, _version) =
            sessionspec_server_store::postgres::connect(connect_options(url)?, pool_options()).await?;
        match PgStore::open(pool.clone(), true, config, clock).await {
            Ok(store) => Ok(store),
            Err(e) => {
                pool.close().await;
                Err(e)
            }
        }
    }

    /// Opens a store on the caller's pool; closing the store leaves the pool open.
    pub async fn with_pool(pool: PgPool, config: PgStoreConfig, clock: SharedClock) -> Result<PgStore> {
        PgStore::open(pool, false, config, clock).await
    }

    async fn open(pool: PgPool, owns_pool: bool, config: PgStoreConfig, clock: SharedClock) -> Result<PgStore> {
        if config.prune.is_some_and(|p| p.interval.is_zero()) {
            return Err(StoreError::new(
                ErrorKind::Invalid,
                "the prune interval must be positive (`prune: None` disables it)",
            ));
        }
        let schema = config.schema_name.as_deref().map(Ident::postgres).transpose()?;
        let table = Ident::postgres(&config.table_name)?;
        let qualified = qualified(schema.as_ref(), &table);
        if config.create_table_if_missing {
            let create = create_table_sql(schema.as_ref(), &table);
            let work = async {
                sessionspec_server_store::postgres::create_table_once(&pool, CREATE_LOCK_CLASS, &qualified, create)
                    .await
                    .map_err(|e| backend(&format!("cannot create the session table {qualified}"), e))
            };
            sessionspec_server_store::bounded("creating the session table", config.operation_timeout, work).await?;
        }
        let operations = Operations::new(config.operation_timeout);
        let sql = Statements::new(&qualified);
        let prune = match config.prune {
            Some(prune) => PgStore::start_prune(&pool, &sql, &clock, &operations, prune),
            None => Sweep::default(),
        };
        Ok(PgStore { pool, owns_pool, sql, config, clock, operations, prune: Arc::new(prune) })
    }

    /// The schema-qualified, quoted table this store uses.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Deletes every expired row now (connect-pg-simple's `pruneSessions`); returns how many.
    pub async fn prune(&self) -> Result<u64> {
        let now = self.now();
        self.run("prune", || async move {
            sqlx::query(self.sql.prune.clone()).bind(now).execute(&self.pool).await.map(|r| r.rows_affected())
        })
        .await
    }

    /// Runs the prune on the store's clock until the store is closed or dropped. A failed prune
    /// is retried at the next interval; expired rows stay invisible meanwhile.
    fn start_prune(
        pool: &PgPool,
        sql: &Statements,
        clock: &SharedClock,
        operations: &Operations,
        prune: Prune,
    ) -> Sweep {
        let (pool, statement) = (pool.clone(), sql.prune.clone());
        let delay = move || if prune.randomized { jittered(prune.interval) } else { prune.interval };
        Sweep::start(clock.clone(), operations.clone(), delay, move |now| {
            let (pool, statement) = (pool.clone(), statement.clone());
            async move { sqlx::query(statement).bind(utc_wall_time(now)).execute(&pool).await }
        })
    }

    fn now(&self) -> NaiveDateTime {
        utc_wall_time(self.clock.now())
    }

    fn expiry(&self, session: &Session) -> Result<NaiveDateTime> {
        Ok(utc_wall_time(session.expiry(self.clock.now(), self.config.ttl)?))
    }

    fn emit(&self, kind: EventKind, sid: &str) {
        self.config.events.emit(StoreEvent::new(kind, sid));
    }

    /// Runs one operation within the operation timeout, and again on another connection when
    /// the server dropped its connection or chose it as a deadlock victim, as many times as the
    /// pool has connections and once more (every statement here is idempotent).
    async fn run<T, F, Fut>(&self, operation: &str, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let retries = self.pool.options().get_max_connections() as usize + 1;
        self.operations.run(operation, retries, is_retryable, backend, attempt).await
    }
}

/// `at` as UTC wall-clock time, the form the `expire` column holds (see [`Statements`]).
fn utc_wall_time(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc()
}

/// A delay drawn uniformly from `[0.5, 1.5] × interval`.
fn jittered(interval: Duration) -> Duration {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    interval.mul_f64(0.5 + unit)
}

/// Maps a driver error to a store error. A data exception (SQLSTATE class 22) can only come
/// from the JSON functions taking a stored payload apart, as `touch` does: the payload is not a
/// session object, which is a `serialize` failure like `get`'s.
fn backend(context: &str, error: sqlx::Error) -> StoreError {
    let kind = error_kind(&error, |e| e.code().is_some_and(|c| c.starts_with("22")));
    StoreError::new(kind, context.to_owned()).with_source(error)
}

#[async_trait]
impl Store for PgStore {
    fn raw(&self) -> Option<&dyn RawAccess> {
        Some(self)
    }

    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        let now = self.now();
        let text: Option<String> = self
            .run("get", || async move {
                sqlx::query_scalar(self.sql.get.clone()).bind(sid).bind(now).fetch_optional(&self.pool).await
            })
            .await?;
        // A payload that does not decode is reported and left in place (GET-4, GET-5), where
        // connect-pg-simple deletes the row.
        text.map(Session::from_json).transpose()
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        session.require_cookie()?;
        let expire = self.expiry(session)?;
        let json = session.to_json();
        let json = json.as_str();
        let inserted: bool = self
            .run("set", || async move {
                sqlx::query_scalar(self.sql.set.clone()).bind(sid).bind(json).bind(expire).fetch_one(&self.pool).await
            })
            .await?;
        self.emit(if inserted { EventKind::Create } else { EventKind::Update }, sid);
        self.emit(EventKind::Set, sid);
        Ok(())
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.run(
            "destroy",
            || async move { sqlx::query(self.sql.destroy.clone()).bind(sid).execute(&self.pool).await },
        )
        .await?;
        self.emit(EventKind::Destroy, sid);
        Ok(())
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        self.operations.check_open("touch")?;
        if self.config.disable_touch {
            return Ok(());
        }
        let expire = self.expiry(session)?;
        let now = self.now();
        let cookie = session.as_map().get("cookie").map(Value::to_string);
        let cookie = cookie.as_deref();
        // The expiry filter keeps an expired row expired (TOUCH-4), where connect-pg-simple
        // would revive it until the next prune.
        let touched = self
            .run("touch", || async move {
                let expiry_only =
                    || sqlx::query(self.sql.touch_expiry.clone()).bind(expire).bind(sid).bind(now).execute(&self.pool);
                let result = match cookie {
                    Some(cookie) => {
                        let rewritten = sqlx::query(self.sql.touch_cookie.clone())
                            .bind(cookie)
                            .bind(expire)
                            .bind(sid)
                            .bind(now)
                            .execute(&self.pool)
                            .await;
                        // PostgreSQL's JSON functions cannot take a session holding U+0000 apart
                        // (22P05), though `json` stores it: such a session keeps its stored
                        // cookie and only its expiry moves (TOUCH-5 is a SHOULD; TOUCH-1 holds).
                        match rewritten {
                            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("22P05") => {
                                expiry_only().await
                            }
                            other => other,
                        }
                    }
                    None => expiry_only().await,
                };
                result.map(|r| r.rows_affected())
            })
            .await?;
        if touched > 0 {
            self.emit(EventKind::Touch, sid);
        }
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        let now = self.now();
        let rows = self
            .run("all", || async move { sqlx::query(self.sql.all.clone()).bind(now).fetch_all(&self.pool).await })
            .await?;
        rows.into_iter()
            .map(|row| {
                let sid: String = row.try_get(0).map_err(|e| backend("all", e))?;
                let text: String = row.try_get(1).map_err(|e| backend("all", e))?;
                Ok(Listed { sid: Some(sid), session: Session::from_json(text)? })
            })
            .collect()
    }

    async fn length(&self) -> Result<u64> {
        let now = self.now();
        let n: i64 = self
            .run("length", || async move {
                sqlx::query_scalar(self.sql.length.clone()).bind(now).fetch_one(&self.pool).await
            })
            .await?;
        Ok(n as u64)
    }

    async fn clear(&self) -> Result<()> {
        self.run("clear", || async move { sqlx::query(self.sql.clear.clone()).execute(&self.pool).await }).await?;
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>> {
        let now = self.now();
        self.run(
            "ids",
            || async move { sqlx::query_scalar(self.sql.ids.clone()).bind(now).fetch_all(&self.pool).await },
        )
        .await
    }

    async fn update(&self, sid: &str, session: &Session) -> Result<bool> {
        session.require_cookie()?;
        let expire = self.expiry(session)?;
        let now = self.now();
        let json = session.to_json();
        let json = json.as_str();
        let updated = self
            .run("update", || async move {
                sqlx::query(self.sql.update.clone())
                    .bind(json)
                    .bind(expire)
                    .bind(sid)
                    .bind(now)
                    .execute(&self.pool)
                    .await
            })
            .await?
            .rows_affected()
            > 0;
        if updated {
            self.emit(EventKind::Update, sid);
            self.emit(EventKind::Set, sid);
        }
        Ok(updated)
    }

    async fn create(&self, sid: &str, session: &Session) -> Result<String> {
        session.require_cookie()?;
        let expire = self.expiry(session)?;
        let now = self.now();
        let json = session.to_json();
        let json = json.as_str();
        let stored: Option<i32> = self
            .run("create", || async move {
                sqlx::query_scalar(self.sql.create.clone())
                    .bind(sid)
                    .bind(json)
                    .bind(expire)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
            })
            .await?;
        if stored.is_none() {
            return Err(StoreError::new(ErrorKind::Conflict, format!("a session is already stored under `{sid}`")));
        }
        self.emit(EventKind::Create, sid);
        self.emit(EventKind::Set, sid);
        Ok(sid.to_owned())
    }

    /// [`PgStore::prune`]: every row whose expiry passed on the store's clock.
    async fn delete_expired(&self) -> Result<()> {
        self.prune().await.map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        self.operations.close();
        self.prune.stop();
        if self.owns_pool {
            self.pool.close().await;
        }
        Ok(())
    }
}

#[async_trait]
impl RawAccess for PgStore {
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>> {
        let row = self
            .run("raw", || async move {
                sqlx::query(self.sql.raw_record.clone()).bind(sid).fetch_optional(&self.pool).await
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let key: String = row.try_get(0).map_err(|e| backend("raw", e))?;
        let sess: String = row.try_get(1).map_err(|e| backend("raw", e))?;
        let expire: NaiveDateTime = row.try_get(2).map_err(|e| backend("raw", e))?;
        let expires = expire.and_utc();
        let mut fields = Map::new();
        fields.insert("expire".into(), Value::String(format_timestamp(expires)));
        Ok(Some(RawRecord { key, payload: Value::String(sess), expires: Some(expires), fields }))
    }

    async fn count(&self) -> Result<u64> {
        let n: i64 =
            self.run("raw-count", || async move {
                sqlx::query_scalar(self.sql.raw_count.clone()).fetch_one(&self.pool).await
            })
            .await?;
        Ok(n as u64)
    }

    /// The `sess` column is `json`, so it cannot hold text that is not JSON: the damaged text is
    /// stored as a JSON string, which is valid JSON but not a session object.
    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()> {
        let damaged = sessionspec_server_store::damaged_payload(self, sid, tamper).await?;
        let damaged = damaged.as_str();
        self.run("tamper", || async move {
            sqlx::query(self.sql.tamper.clone()).bind(damaged).bind(sid).execute(&self.pool).await
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_one_and_a_half() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(900));
            assert!(d >= Duration::from_secs(450) && d <= Duration::from_secs(1350), "{d:?}");
        }
    }

    #[test]
    fn the_default_table_gets_connect_pg_simple_names() {
        let table = Ident::postgres("session").unwrap();
        let [create, pkey, index] = create_table_sql(Some(&Ident::postgres("app").unwrap()), &table);
        assert_eq!(
            create.as_str(),
            "CREATE TABLE \"app\".\"session\" (\"sid\" varchar NOT NULL COLLATE \"default\", \"sess\" json NOT NULL, \"expire\" timestamp(6) NOT NULL)"
        );
        assert!(pkey.as_str().contains("ADD CONSTRAINT \"session_pkey\" PRIMARY KEY (\"sid\")"));
        assert_eq!(index.as_str(), "CREATE INDEX \"IDX_session_expire\" ON \"app\".\"session\" (\"expire\")");
    }
}

//! The SQLite dialect. Rows: `sid varchar(255) primary key`, `sess json` (JSON text),
//! `expired datetime` holding `Date#toISOString()` text, indexed, as connect-session-knex
//! creates them; ISO text in UTC compares in time order, so expiry is a plain comparison.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::{
    AutoRemove, Capability, CapabilitySet, ErrorKind, Listed, Namespace, OpenContext, RawAccess, RawRecord, Result,
    Session, SharedClock, Store, StoreDescription, StoreError, StoreFactory, StoreOptions, Tamper, format_timestamp,
    parse_timestamp,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr, SqlStr};

use crate::{DEFAULT_CLEANUP_INTERVAL, DEFAULT_SID_FIELD, DEFAULT_TABLE, DEFAULT_TTL, Ident, backend};

/// Opens SQLite stores: one database file per namespace in a directory, removed again when
/// the namespace is dropped.
pub struct SqliteFactory {
    dir: PathBuf,
    created: Mutex<BTreeSet<Namespace>>,
    description: StoreDescription,
}

impl SqliteFactory {
    /// A factory keeping its files in `dir`, which must exist.
    pub async fn new(dir: PathBuf) -> Result<SqliteFactory> {
        let version = sqlx::query_scalar::<_, String>("SELECT sqlite_version()")
            .fetch_one(
                &SqlitePool::connect_with(
                    SqliteConnectOptions::from_str("sqlite::memory:").map_err(|e| backend("sqlite", e))?,
                )
                .await
                .map_err(|e| backend("cannot start SQLite", e))?,
            )
            .await
            .map_err(|e| backend("cannot ask SQLite its version", e))?;
        Ok(SqliteFactory { dir, created: Mutex::default(), description: description(Some(version)) })
    }

    fn path(&self, namespace: &Namespace) -> PathBuf {
        self.dir.join(format!("{namespace}.sqlite"))
    }
}

/// What the SQLite store is and can do.
pub fn description(backend_version: Option<String>) -> StoreDescription {
    use Capability::*;
    StoreDescription {
        name: "sql-sqlite".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        language: "rust".into(),
        backend: "sqlite".into(),
        backend_version,
        capabilities: [
            Touch,
            All,
            Length,
            Clear,
            Ids,
            Close,
            VirtualClock,
            Ttl,
            DisableTouch,
            AutoRemoveInterval,
            AutoRemoveDisabled,
            Naming,
            RawInspection,
            SharedNamespace,
        ]
        .into_iter()
        .collect::<CapabilitySet>(),
    }
}

#[async_trait]
impl StoreFactory for SqliteFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        self.created.lock().expect("lock").insert(context.namespace.clone());
        let path = self.path(&context.namespace);
        let store = SqliteStore::open(&path, context.options, context.clock).await?;
        Ok(Box::new(store))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        if !self.created.lock().expect("lock").remove(namespace) {
            return Ok(());
        }
        let path = self.path(namespace);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(
                        StoreError::new(ErrorKind::Backend, format!("cannot remove {}", file.display())).with_source(e)
                    );
                }
            }
        }
        Ok(())
    }
}

/// Every statement the store runs, built once from the checked, quoted identifiers.
struct Statements {
    create_table: SqlStr,
    create_index: SqlStr,
    get: SqlStr,
    set: SqlStr,
    destroy: SqlStr,
    touch_cookie: SqlStr,
    touch_expiry: SqlStr,
    all: SqlStr,
    length: SqlStr,
    clear: SqlStr,
    ids: SqlStr,
    cleanup: SqlStr,
    raw_record: SqlStr,
    raw_count: SqlStr,
    tamper: SqlStr,
}

impl Statements {
    fn new(table: &Ident, sid: &Ident) -> Result<Statements> {
        let index = Ident::new(&format!("{}_expired_index", table.name()))?;
        let (t, s, i) = (table.quoted(), sid.quoted(), index.quoted());
        Ok(Statements {
            create_table: sql(format!(
                "CREATE TABLE IF NOT EXISTS {t} ({s} varchar(255) NOT NULL PRIMARY KEY, \"sess\" json NOT NULL, \"expired\" datetime NOT NULL)"
            )),
            create_index: sql(format!("CREATE INDEX IF NOT EXISTS {i} ON {t} (\"expired\")")),
            get: sql(format!("SELECT \"sess\" FROM {t} WHERE {s} = ? AND \"expired\" > ?")),
            set: sql(format!(
                "INSERT INTO {t} ({s}, \"sess\", \"expired\") VALUES (?, ?, ?) \
                 ON CONFLICT({s}) DO UPDATE SET \"sess\" = excluded.\"sess\", \"expired\" = excluded.\"expired\""
            )),
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
        })
    }
}

/// Statement text built only from [`Ident::quoted`] names and fixed SQL: safe by construction.
fn sql(text: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

/// A session store in one SQLite table.
pub struct SqliteStore {
    pool: SqlitePool,
    sql: Statements,
    options: StoreOptions,
    clock: SharedClock,
    closed: Arc<Mutex<bool>>,
    cleanup: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path` and its table.
    pub async fn open(path: &std::path::Path, options: StoreOptions, clock: SharedClock) -> Result<SqliteStore> {
        for unsupported in [
            Capability::Encryption,
            Capability::TransformId,
            Capability::AutoRemoveNative,
            Capability::TouchAfter,
            Capability::Timestamps,
            Capability::Serializer,
        ] {
            if options.required_capabilities().contains(&unsupported) {
                return Err(StoreError::new(
                    ErrorKind::Unsupported,
                    format!("the SQLite store does not support `{unsupported}`"),
                ));
            }
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(|e| backend(&format!("cannot open {}", path.display()), e))?;
        let table = Ident::new(options.name.as_deref().unwrap_or(DEFAULT_TABLE))?;
        let sid = Ident::new(DEFAULT_SID_FIELD)?;
        let statements = Statements::new(&table, &sid)?;
        sqlx::query(statements.create_table.clone())
            .execute(&pool)
            .await
            .map_err(|e| backend("cannot create the sessions table", e))?;
        sqlx::query(statements.create_index.clone())
            .execute(&pool)
            .await
            .map_err(|e| backend("cannot create the expiry index", e))?;
        let store =
            SqliteStore { pool, sql: statements, options, clock, closed: Arc::default(), cleanup: Mutex::default() };
        if store.options.auto_remove != Some(AutoRemove::Disabled) {
            store.start_cleanup();
        }
        Ok(store)
    }

    fn start_cleanup(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let interval = self.options.auto_remove_interval.unwrap_or(DEFAULT_CLEANUP_INTERVAL);
        let pool = self.pool.clone();
        let clock = self.clock.clone();
        let closed = self.closed.clone();
        let sql = self.sql.cleanup.clone();
        let handle = runtime.spawn(async move {
            loop {
                clock.sleep(interval).await;
                if *closed.lock().expect("lock") {
                    return;
                }
                // A failed sweep is retried at the next interval; expired rows stay invisible meanwhile.
                let _ = sqlx::query(sql.clone()).bind(format_timestamp(clock.now())).execute(&pool).await;
            }
        });
        *self.cleanup.lock().expect("lock") = Some(handle);
    }

    fn check_open(&self, operation: &str) -> Result<()> {
        if *self.closed.lock().expect("lock") { Err(StoreError::closed(operation)) } else { Ok(()) }
    }

    fn now(&self) -> String {
        format_timestamp(self.clock.now())
    }

    fn expiry(&self, session: &Session) -> Result<String> {
        Ok(format_timestamp(session.expiry(self.clock.now(), self.options.ttl.unwrap_or(DEFAULT_TTL))?))
    }
}

fn decode(text: &str) -> Result<Session> {
    Session::from_json(text)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        self.check_open("get")?;
        let row: Option<String> = sqlx::query_scalar(self.sql.get.clone())
            .bind(sid)
            .bind(self.now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend("get", e))?;
        row.map(|text| decode(&text)).transpose()
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        self.check_open("set")?;
        sqlx::query(self.sql.set.clone())
            .bind(sid)
            .bind(session.to_json())
            .bind(self.expiry(session)?)
            .execute(&self.pool)
            .await
            .map_err(|e| backend("set", e))?;
        Ok(())
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.check_open("destroy")?;
        sqlx::query(self.sql.destroy.clone()).bind(sid).execute(&self.pool).await.map_err(|e| backend("destroy", e))?;
        Ok(())
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        self.check_open("touch")?;
        if self.options.disable_touch {
            return Ok(());
        }
        let expires = self.expiry(session)?;
        // One statement: the new expiry and the new cookie land together, and a concurrent set
        // of the data is never overwritten by a stale copy.
        let result = match session.as_map().get("cookie") {
            Some(cookie) => {
                sqlx::query(self.sql.touch_cookie.clone())
                    .bind(cookie.to_string())
                    .bind(expires)
                    .bind(sid)
                    .bind(self.now())
                    .execute(&self.pool)
                    .await
            }
            None => {
                sqlx::query(self.sql.touch_expiry.clone())
                    .bind(expires)
                    .bind(sid)
                    .bind(self.now())
                    .execute(&self.pool)
                    .await
            }
        };
        result.map_err(|e| backend("touch", e))?;
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        self.check_open("all")?;
        let rows = sqlx::query(self.sql.all.clone())
            .bind(self.now())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend("all", e))?;
        rows.into_iter()
            .map(|row| {
                let sid: String = row.try_get(0).map_err(|e| backend("all", e))?;
                let text: String = row.try_get(1).map_err(|e| backend("all", e))?;
                Ok(Listed { sid: Some(sid), session: decode(&text)? })
            })
            .collect()
    }

    async fn length(&self) -> Result<u64> {
        self.check_open("length")?;
        let n: i64 = sqlx::query_scalar(self.sql.length.clone())
            .bind(self.now())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| backend("length", e))?;
        Ok(n as u64)
    }

    async fn clear(&self) -> Result<()> {
        self.check_open("clear")?;
        sqlx::query(self.sql.clear.clone()).execute(&self.pool).await.map_err(|e| backend("clear", e))?;
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>> {
        self.check_open("ids")?;
        sqlx::query_scalar(self.sql.ids.clone())
            .bind(self.now())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend("ids", e))
    }

    async fn close(&self) -> Result<()> {
        *self.closed.lock().expect("lock") = true;
        if let Some(cleanup) = self.cleanup.lock().expect("lock").take() {
            cleanup.abort();
        }
        self.pool.close().await;
        Ok(())
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        Some(self)
    }
}

#[async_trait]
impl RawAccess for SqliteStore {
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>> {
        self.check_open("raw")?;
        let row = sqlx::query(self.sql.raw_record.clone())
            .bind(sid)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend("raw", e))?;
        let Some(row) = row else { return Ok(None) };
        let key: String = row.try_get(0).map_err(|e| backend("raw", e))?;
        let sess: String = row.try_get(1).map_err(|e| backend("raw", e))?;
        let expired: String = row.try_get(2).map_err(|e| backend("raw", e))?;
        let expires: Option<DateTime<Utc>> = parse_timestamp(&expired).ok();
        let mut fields = Map::new();
        fields.insert("expired".into(), Value::String(expired));
        Ok(Some(RawRecord { key, payload: Value::String(sess), expires, fields }))
    }

    async fn count(&self) -> Result<u64> {
        self.check_open("raw-count")?;
        let n: i64 = sqlx::query_scalar(self.sql.raw_count.clone())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| backend("raw-count", e))?;
        Ok(n as u64)
    }

    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()> {
        let record = self
            .record(sid)
            .await?
            .ok_or_else(|| StoreError::new(ErrorKind::NotFound, format!("no row for `{sid}`")))?;
        let text = record.payload.as_str().unwrap_or_default().to_owned();
        let damaged = match tamper {
            Tamper::FlipByte => {
                let mut bytes = text.into_bytes();
                let middle = bytes.len() / 2;
                bytes[middle] = if bytes[middle] == b'{' { b'[' } else { b'{' };
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => "\u{1}not json, not ciphertext".to_owned(),
        };
        sqlx::query(self.sql.tamper.clone())
            .bind(damaged)
            .bind(sid)
            .execute(&self.pool)
            .await
            .map_err(|e| backend("tamper", e))?;
        Ok(())
    }
}

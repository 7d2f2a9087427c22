//! The SQLite dialect. Rows: `sid varchar(255) primary key`, `sess json` (JSON text),
//! `expired datetime` holding `Date#toISOString()` text, indexed, as connect-session-knex
//! creates them; ISO text in UTC compares in time order, so expiry is a plain comparison.
//! The harness gets one database file per namespace and removes only files it created.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sessionspec_contract::{
    ErrorKind, Namespace, OpenContext, Result, SharedClock, Store, StoreDescription, StoreError, StoreFactory,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::store::{SqlPool, SqlStore, SqlStoreConfig};
use crate::{backend, description};

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
        Ok(SqliteFactory {
            dir,
            created: Mutex::default(),
            description: description("sql-sqlite", "sqlite", Some(version)),
        })
    }

    fn path(&self, namespace: &Namespace) -> PathBuf {
        self.dir.join(format!("{namespace}.sqlite"))
    }
}

impl SqlStore {
    /// Opens (creating when missing) the SQLite database file at `path` on a pool of the store's
    /// own: WAL journal, `synchronous = NORMAL`, a 5 s busy timeout. [`Store::close`] closes it.
    pub async fn open_sqlite(path: &Path, config: SqlStoreConfig, clock: SharedClock) -> Result<SqlStore> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        // Switching a new file to WAL takes an exclusive lock and fails at once, without the busy
        // timeout, when another instance is opening the same file (CONC-6): such an open is
        // tried again, with a short pause, until the operation timeout.
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        let pool = loop {
            let attempt = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .test_before_acquire(false)
                .connect_with(connect.clone())
                .await;
            match attempt {
                Ok(pool) => break pool,
                Err(e) if is_locked(&e) && started.elapsed() + pause < config.operation_timeout => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(e) => return Err(backend(&format!("cannot open {}", path.display()), e)),
            }
        };
        let pool = SqlPool::Sqlite(pool);
        match SqlStore::open(pool.clone(), true, config, clock).await {
            Ok(store) => Ok(store),
            Err(e) => {
                if let SqlPool::Sqlite(p) = pool {
                    p.close().await;
                }
                Err(e)
            }
        }
    }
}

/// SQLITE_BUSY or one of its extended codes: another connection holds the lock this one needs.
fn is_locked(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("5" | "261" | "517" | "773")))
}

impl SqliteFactory {
    /// What [`StoreFactory::open`] opens, as its own type: for using the store directly
    /// (its `tower-sessions` implementation among others).
    pub async fn open_store(&self, context: OpenContext) -> Result<SqlStore> {
        let config = SqlStoreConfig::from_options(&context.options)?;
        self.created.lock().expect("lock").insert(context.namespace.clone());
        let path = self.path(&context.namespace);
        let store = SqlStore::open_sqlite(&path, config, context.clock).await?;
        Ok(store)
    }
}

#[async_trait]
impl StoreFactory for SqliteFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.open_store(context).await?))
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

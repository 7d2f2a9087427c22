//! The catalog of stores sessionspec can run against, and how to reach their backends.
//!
//! A name on the command line (`memory`, `sql-sqlite`) becomes a [`Target`] here. A store whose
//! backend is missing is an error naming what is missing: never a silent skip.
#![warn(missing_docs)]

mod provide;

pub mod adapter;

use std::path::PathBuf;
use std::sync::Arc;

use sessionspec_runner::Target;

pub use provide::{BackendRequest, Progress, ProvideError, Provisioned, backend_of, provision, stores_of};

/// One store the catalog knows.
#[derive(Debug, Clone, Copy)]
pub struct StoreKind {
    /// Its name on the command line and in reports.
    pub name: &'static str,
    /// One line about it.
    pub summary: &'static str,
    /// What it needs to run, for `sessionspec list stores`.
    pub needs: &'static str,
    /// Whether it runs with no server (part of the default selection).
    pub embedded: bool,
}

/// Every store the catalog knows, in listing order.
pub const STORES: &[StoreKind] = &[
    StoreKind {
        name: "memory",
        summary: "reference in-memory store (sessionspec-store-memory)",
        needs: "nothing",
        embedded: true,
    },
    StoreKind {
        name: "sql-sqlite",
        summary: "reference SQL store on SQLite, connect-session-knex layout (sessionspec-store-sql)",
        needs: "nothing: a database file per scenario in a temporary directory",
        embedded: true,
    },
    StoreKind {
        name: "postgres",
        summary: "reference PostgreSQL store, connect-pg-simple table layout (sessionspec-store-postgres)",
        needs: "a PostgreSQL server: --postgres-url or SESSIONSPEC_POSTGRES_URL (a schema per scenario)",
        embedded: false,
    },
    StoreKind {
        name: "sql-postgres",
        summary: "reference SQL store on PostgreSQL, connect-session-knex layout (sessionspec-store-sql)",
        needs: "a PostgreSQL server: --postgres-url or SESSIONSPEC_POSTGRES_URL (a schema per scenario)",
        embedded: false,
    },
    StoreKind {
        name: "sql-mysql",
        summary: "reference SQL store on MySQL/MariaDB, connect-session-knex layout (sessionspec-store-sql)",
        needs: "a MySQL or MariaDB server: --mysql-url or SESSIONSPEC_MYSQL_URL (a database per scenario)",
        embedded: false,
    },
    StoreKind {
        name: "redis",
        summary: "reference Redis store, connect-redis key layout (sessionspec-store-redis)",
        needs: "a Redis server: --redis-url or SESSIONSPEC_REDIS_URL",
        embedded: false,
    },
    StoreKind {
        name: "mongo",
        summary: "reference MongoDB store, connect-mongo document layout (sessionspec-store-mongo)",
        needs: "a MongoDB-compatible server: --mongo-url or SESSIONSPEC_MONGO_URL (a database per scenario)",
        embedded: false,
    },
    StoreKind {
        name: "node:memory",
        summary: "express-session's MemoryStore through the express adapter (stores/express-adapter)",
        needs: "Node.js 20 and `npm ci` in stores/express-adapter",
        embedded: false,
    },
    StoreKind {
        name: "node:redis",
        summary: "connect-redis 9 (node-redis 5) through the express adapter",
        needs: "Node.js, `npm ci` in stores/express-adapter, a Redis server: --redis-url or SESSIONSPEC_REDIS_URL",
        embedded: false,
    },
    StoreKind {
        name: "node:pg",
        summary: "connect-pg-simple 10 through the express adapter",
        needs: "Node.js, `npm ci` in stores/express-adapter, a PostgreSQL server: --postgres-url or SESSIONSPEC_POSTGRES_URL",
        embedded: false,
    },
    StoreKind {
        name: "node:knex-sqlite",
        summary: "connect-session-knex 5 on SQLite (better-sqlite3) through the express adapter",
        needs: "Node.js and `npm ci` in stores/express-adapter (a database file per scenario)",
        embedded: false,
    },
    StoreKind {
        name: "node:knex-postgres",
        summary: "connect-session-knex 5 on PostgreSQL through the express adapter",
        needs: "Node.js, `npm ci` in stores/express-adapter, a PostgreSQL server: --postgres-url or SESSIONSPEC_POSTGRES_URL",
        embedded: false,
    },
    StoreKind {
        name: "node:knex-mysql",
        summary: "connect-session-knex 5 on MySQL/MariaDB (mysql2) through the express adapter",
        needs: "Node.js, `npm ci` in stores/express-adapter, a MySQL or MariaDB server: --mysql-url or SESSIONSPEC_MYSQL_URL",
        embedded: false,
    },
    StoreKind {
        name: "node:mongo",
        summary: "connect-mongo 6 (mongodb driver 7) through the express adapter",
        needs: "Node.js, `npm ci` in stores/express-adapter, a MongoDB-compatible server: --mongo-url or SESSIONSPEC_MONGO_URL",
        embedded: false,
    },
];

/// The stores `sessionspec run` uses when none is named.
pub fn embedded() -> Vec<&'static str> {
    STORES.iter().filter(|s| s.embedded).map(|s| s.name).collect()
}

/// Where targets find their backends. URLs come from flags or `SESSIONSPEC_*_URL` variables;
/// the harness creates one namespace per scenario inside each and drops only what it created.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// A directory for file-based stores (SQLite); a fresh temporary one when `None`.
    pub work_dir: Option<PathBuf>,
    /// Redis (`redis://127.0.0.1:6379/`).
    pub redis_url: Option<String>,
    /// PostgreSQL (`postgres://postgres@127.0.0.1:5432/postgres`).
    pub postgres_url: Option<String>,
    /// MySQL or MariaDB (`mysql://root@127.0.0.1:3306/test`).
    pub mysql_url: Option<String>,
    /// MongoDB or a wire-compatible server (`mongodb://127.0.0.1:27017/?directConnection=true`).
    pub mongo_url: Option<String>,
}

impl Backends {
    /// The URL for `store`, or an error saying which flag or variable provides it.
    pub fn require<'a>(url: &'a Option<String>, store: &str, flag: &str, env: &str) -> Result<&'a str, TargetError> {
        url.as_deref().ok_or_else(|| TargetError::Unavailable {
            store: store.to_owned(),
            reason: format!("no server URL: pass {flag} URL or set {env} (harness/backends/services.sh starts local servers and prints them)"),
        })
    }
}

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No store has that name.
    #[error("unknown store `{name}`; known stores: {known}")]
    UnknownStore {
        /// The name given.
        name: String,
        /// The names known.
        known: String,
    },
    /// The store's backend is not available.
    #[error("store `{store}` cannot run: {reason}")]
    Unavailable {
        /// The store.
        store: String,
        /// What is missing and how to provide it.
        reason: String,
    },
}

/// Targets that are set up, and what must live as long as they run.
pub struct Resolved {
    /// The targets, in the order asked for.
    pub targets: Vec<Target>,
    /// Temporary directories removed when this is dropped.
    _temp: Vec<tempfile::TempDir>,
}

/// Sets up the named stores.
pub async fn resolve(names: &[String], backends: &Backends) -> Result<Resolved, TargetError> {
    let mut targets = Vec::new();
    let mut temp = Vec::new();
    for name in names {
        let target = match name.as_str() {
            "memory" => Target::new(Arc::new(sessionspec_store_memory::MemoryFactory::new())),
            "sql-sqlite" => {
                let dir = match &backends.work_dir {
                    Some(dir) => dir.clone(),
                    None => {
                        let t = tempfile::Builder::new().prefix("sessionspec-sqlite-").tempdir().map_err(|e| {
                            TargetError::Unavailable {
                                store: name.clone(),
                                reason: format!("cannot create a temporary directory for SQLite files: {e}"),
                            }
                        })?;
                        let path = t.path().to_owned();
                        temp.push(t);
                        path
                    }
                };
                let factory = sessionspec_store_sql::SqliteFactory::new(dir)
                    .await
                    .map_err(|e| TargetError::Unavailable { store: name.clone(), reason: e.chain() })?;
                Target::new(Arc::new(factory))
            }
            "postgres" => {
                let url =
                    Backends::require(&backends.postgres_url, name, "--postgres-url", "SESSIONSPEC_POSTGRES_URL")?;
                let factory = sessionspec_store_postgres::PgFactory::connect(url)
                    .await
                    .map_err(|e| TargetError::Unavailable { store: name.clone(), reason: e.chain() })?;
                Target::new(Arc::new(factory))
            }
            "sql-postgres" => {
                let url =
                    Backends::require(&backends.postgres_url, name, "--postgres-url", "SESSIONSPEC_POSTGRES_URL")?;
                let factory = sessionspec_store_sql::PostgresFactory::connect(url)
                    .await
                    .map_err(|e| TargetError::Unavailable { store: name.clone(), reason: e.chain() })?;
                Target::new(Arc::new(factory))
            }
            "sql-mysql" => {
                let url = Backends::require(&backends.mysql_url, name, "--mysql-url", "SESSIONSPEC_MYSQL_URL")?;
                let factory = sessionspec_store_sql::MySqlFactory::connect(url)
                    .await
                    .map_err(|e| TargetError::Unavailable { store: name.clone(), reason: e.chain() })?;
                Target::new(Arc::new(factory))
            }
            "redis" => {
                let url = Backends::require(&backends.redis_url, name, "--redis-url", "SESSIONSPEC_REDIS_URL")?;
                let factory = sessionspec_store_redis::RedisFactory::connect(url)
                    .await
                    .map_err(|e| TargetError::Unavailable { store: name.clone(), reason: e.chain() })?;
                Target::new(Arc::new(factory))
            }
            "mongo" => {
                let url = Backends::require(&backends.mongo_url, name, "--mongo-url", "SESSIONSPEC_MONGO_URL")?;
                let factory = sessionspec_store_mongo::MongoFactory::connect(url)
                    .await
                    .map_err(|e| TargetError::Unavailable { store: name.clone(), reason: e.chain() })?;
                Target::new(Arc::new(factory))
            }
            adapter_target if adapter::handles(adapter_target) => {
                adapter::resolve(adapter_target, backends, &mut temp).await?
            }
            other => {
                return Err(TargetError::UnknownStore {
                    name: other.to_owned(),
                    known: STORES.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                });
            }
        };
        targets.push(target);
    }
    Ok(Resolved { targets, _temp: temp })
}

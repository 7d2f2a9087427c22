//! The tower-sessions stores this workspace runs, each at the pinned version of Cargo.lock, on a
//! backend of this machine: the one list the binary, the tests and the report read.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use sessionspec_contract::{ErrorKind, Namespace, Result, StoreError};

use sessionspec_tower_adapter::{Backend, PerNamespace, RecordStore, Shared, TowerFactory, v11, v14, v15};

/// One store of the table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Its name after `tower:` (`sqlx-postgres`).
    pub name: &'static str,
    /// The crate.
    pub krate: &'static str,
    /// The crate's version (as pinned in Cargo.toml and Cargo.lock).
    pub version: &'static str,
    /// The tower-sessions-core version it implements.
    pub trait_version: &'static str,
    /// The backend it stores into.
    pub backend: &'static str,
}

/// Every store of the table.
pub const STORES: &[Entry] = &[
    Entry {
        name: "memory",
        krate: "tower-sessions-memory-store",
        version: "0.15.0",
        trait_version: v15::VERSION,
        backend: "memory",
    },
    Entry {
        name: "moka",
        krate: "tower-sessions-moka-store",
        version: "0.15.0",
        trait_version: v14::VERSION,
        backend: "moka",
    },
    Entry {
        name: "redis",
        krate: "tower-sessions-redis-store",
        version: "0.16.0",
        trait_version: v14::VERSION,
        backend: "redis",
    },
    Entry {
        name: "sqlx-sqlite",
        krate: "tower-sessions-sqlx-store",
        version: "0.15.0",
        trait_version: v14::VERSION,
        backend: "sqlite",
    },
    Entry {
        name: "sqlx-postgres",
        krate: "tower-sessions-sqlx-store",
        version: "0.15.0",
        trait_version: v14::VERSION,
        backend: "postgres",
    },
    Entry {
        name: "sqlx-mysql",
        krate: "tower-sessions-sqlx-store",
        version: "0.15.0",
        trait_version: v14::VERSION,
        backend: "mysql",
    },
    Entry {
        name: "rusqlite",
        krate: "tower-sessions-rusqlite-store",
        version: "0.14.0",
        trait_version: v14::VERSION,
        backend: "sqlite",
    },
    Entry {
        name: "file",
        krate: "tower-sessions-file-store",
        version: "0.3.0",
        trait_version: v15::VERSION,
        backend: "file",
    },
    Entry {
        name: "sled",
        krate: "tower-sessions-sled-store",
        version: "0.2.0",
        trait_version: v14::VERSION,
        backend: "sled",
    },
    Entry {
        name: "mongodb",
        krate: "tower-sessions-mongodb-store",
        version: "0.11.0",
        trait_version: v11::VERSION,
        backend: "mongodb",
    },
];

fn backend_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Backend, format!("{what}: {e}"))
}

fn url(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// The factory of the store named `name` (`tower:` stripped), connected to its backend.
pub async fn factory(name: &str) -> Result<TowerFactory> {
    let entry = STORES.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = STORES.iter().map(|e| e.name).collect();
        StoreError::new(
            ErrorKind::Invalid,
            format!("no tower-sessions store `{name}`; expected one of {}", names.join(", ")),
        )
    })?;
    let backend: Box<dyn Backend> = match name {
        "memory" => Box::new(PerNamespace(|_: &Namespace| async {
            Ok(Arc::new(v15::Plain(tower_sessions_memory_store::MemoryStore::default())) as Arc<dyn RecordStore>)
        })),
        "moka" => Box::new(PerNamespace(|_: &Namespace| async {
            Ok(Arc::new(v14::Plain(tower_sessions_moka_store::MokaStore::new(Some(10_000)))) as Arc<dyn RecordStore>)
        })),
        "redis" => {
            use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
            let url = url("SESSIONSPEC_REDIS_URL", "redis://127.0.0.1:6379/");
            let config = Config::from_url(&url).map_err(|e| backend_error(&url, e))?;
            let pool = Pool::new(config, None, None, None, 2).map_err(|e| backend_error(&url, e))?;
            let _connection = pool.init().await.map_err(|e| backend_error(&url, e))?;
            let store: Arc<dyn RecordStore> = Arc::new(v14::Plain(tower_sessions_redis_store::RedisStore::new(pool)));
            Box::new(Shared(store))
        }
        "sqlx-sqlite" => {
            use tower_sessions_sqlx_store::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
            let dir = tempfile::tempdir().map_err(|e| backend_error("temporary directory", e))?;
            let options = SqliteConnectOptions::new().filename(dir.path().join("sessions.db")).create_if_missing(true);
            let pool = SqlitePoolOptions::new().connect_with(options).await.map_err(|e| backend_error("sqlite", e))?;
            Box::new(Sql { pool: SqlPool::Sqlite(pool), _dir: Some(dir) })
        }
        "sqlx-postgres" => {
            let url = url("SESSIONSPEC_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres");
            let pool =
                tower_sessions_sqlx_store::sqlx::PgPool::connect(&url).await.map_err(|e| backend_error(&url, e))?;
            Box::new(Sql { pool: SqlPool::Postgres(pool), _dir: None })
        }
        "sqlx-mysql" => {
            let url = url("SESSIONSPEC_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
            let pool =
                tower_sessions_sqlx_store::sqlx::MySqlPool::connect(&url).await.map_err(|e| backend_error(&url, e))?;
            Box::new(Sql { pool: SqlPool::MySql(pool), _dir: None })
        }
        "rusqlite" => Box::new(PerNamespace(|_: &Namespace| async {
            let conn = tower_sessions_rusqlite_store::tokio_rusqlite::Connection::open_in_memory()
                .await
                .map_err(|e| backend_error("sqlite", e))?;
            let store = tower_sessions_rusqlite_store::RusqliteStore::new(conn);
            store.migrate().await.map_err(|e| backend_error("sqlite", e))?;
            Ok(Arc::new(v14::Deleting(store)) as Arc<dyn RecordStore>)
        })),
        "file" => {
            let dir = tempfile::tempdir().map_err(|e| backend_error("temporary directory", e))?;
            Box::new(Files(dir))
        }
        "sled" => {
            let db = sled::Config::new().temporary(true).open().map_err(|e| backend_error("sled", e))?;
            Box::new(Sled(db))
        }
        "mongodb" => {
            let url = url("SESSIONSPEC_MONGO_URL", "mongodb://127.0.0.1:27017");
            let client = tower_sessions_mongodb_store::mongodb::Client::with_uri_str(&url)
                .await
                .map_err(|e| backend_error(&url, e))?;
            Box::new(Mongo(client))
        }
        _ => unreachable!("every catalog entry has a backend"),
    };
    let version = format!("{} (tower-sessions-core {})", entry.version, entry.trait_version);
    TowerFactory::new(entry.krate, &version, entry.backend, backend).await
}

enum SqlPool {
    Sqlite(tower_sessions_sqlx_store::sqlx::SqlitePool),
    Postgres(tower_sessions_sqlx_store::sqlx::PgPool),
    MySql(tower_sessions_sqlx_store::sqlx::MySqlPool),
}

/// A table per namespace (`with_table_name`), created by the store's own `migrate`.
struct Sql {
    pool: SqlPool,
    /// The SQLite database's directory, removed with the factory.
    _dir: Option<tempfile::TempDir>,
}

/// The schema (PostgreSQL) or database (MySQL) the sqlx stores keep their tables in by default.
const SQLX_SCHEMA: &str = "tower_sessions";

#[async_trait]
impl Backend for Sql {
    async fn open(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>> {
        use tower_sessions_sqlx_store::{MySqlStore, PostgresStore, SqliteStore};
        let table = namespace.as_str();
        let invalid = |e: String| StoreError::new(ErrorKind::Invalid, e);
        Ok(match &self.pool {
            SqlPool::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone()).with_table_name(table).map_err(invalid)?;
                store.migrate().await.map_err(|e| backend_error("migrate", e))?;
                Arc::new(v14::Deleting(store))
            }
            SqlPool::Postgres(pool) => {
                let store = PostgresStore::new(pool.clone()).with_table_name(table).map_err(invalid)?;
                store.migrate().await.map_err(|e| backend_error("migrate", e))?;
                Arc::new(v14::Deleting(store))
            }
            SqlPool::MySql(pool) => {
                let store = MySqlStore::new(pool.clone()).with_table_name(table).map_err(invalid)?;
                store.migrate().await.map_err(|e| backend_error("migrate", e))?;
                Arc::new(v14::Deleting(store))
            }
        })
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        use tower_sessions_sqlx_store::sqlx::{self, Executor};
        let (schema, table) = (SQLX_SCHEMA, namespace.as_str());
        let result = match &self.pool {
            SqlPool::Sqlite(pool) => {
                pool.execute(sqlx::raw_sql(&format!("drop table if exists \"{table}\""))).await.map(drop)
            }
            SqlPool::Postgres(pool) => {
                pool.execute(sqlx::raw_sql(&format!("drop table if exists \"{schema}\".\"{table}\""))).await.map(drop)
            }
            SqlPool::MySql(pool) => {
                pool.execute(sqlx::raw_sql(&format!("drop table if exists `{schema}`.`{table}`"))).await.map(drop)
            }
        };
        result.map_err(|e| backend_error("drop table", e))
    }
}

/// A folder per namespace.
struct Files(tempfile::TempDir);

impl Files {
    fn folder(&self, namespace: &Namespace) -> PathBuf {
        self.0.path().join(namespace.as_str())
    }
}

#[async_trait]
impl Backend for Files {
    async fn open(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>> {
        let folder = self.folder(namespace);
        std::fs::create_dir_all(&folder).map_err(|e| backend_error("session folder", e))?;
        Ok(Arc::new(v15::Deleting(tower_sessions_file_store::FileSessionStorage::new_in_folder(folder))))
    }
    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        match std::fs::remove_dir_all(self.folder(namespace)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(backend_error("session folder", e)),
            _ => Ok(()),
        }
    }
}

/// A tree per namespace of one temporary database.
struct Sled(sled::Db);

#[async_trait]
impl Backend for Sled {
    async fn open(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>> {
        let tree = self.0.open_tree(namespace.as_str()).map_err(|e| backend_error("sled", e))?;
        Ok(Arc::new(v14::Deleting(tower_sessions_sled_store::SledStore::new(tree))))
    }
    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.0.drop_tree(namespace.as_str()).map(drop).map_err(|e| backend_error("sled", e))
    }
}

/// A database per namespace (the store's collection is always `sessions`).
struct Mongo(tower_sessions_mongodb_store::mongodb::Client);

#[async_trait]
impl Backend for Mongo {
    async fn open(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>> {
        let store = tower_sessions_mongodb_store::MongoDBStore::new(self.0.clone(), namespace.as_str().to_owned());
        Ok(Arc::new(v11::Deleting(store)))
    }
    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.0.database(namespace.as_str()).drop(None).await.map_err(|e| backend_error("drop database", e))
    }
}

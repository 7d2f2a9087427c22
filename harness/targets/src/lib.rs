//! The catalog of stores sessionspec can run against, and how to reach their backends.
//!
//! A name on the command line (`memory`, `sql-sqlite`) becomes a [`Target`] here. A store whose
//! backend is missing is an error naming what is missing: never a silent skip.
#![warn(missing_docs)]

mod faults;
mod provide;
mod tower;

pub mod adapter;

use std::path::PathBuf;
use std::sync::Arc;

use sessionspec_runner::Target;

pub use faults::ProxiedServers;
pub use provide::{BackendRequest, Progress, ProvideError, Provisioned, backend_of, provision, stores_of};
pub use sessionspec_containers::{BackendKind, ServerControl};

/// How a store of the catalog opens: the crate and backend behind its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Opens {
    /// The reference in-memory store (sessionspec-store-memory).
    Memory,
    /// The reference SQL store on SQLite, a database file per scenario.
    SqlSqlite,
    /// The reference SQL store on PostgreSQL.
    SqlPostgres,
    /// The reference SQL store on MySQL or MariaDB.
    SqlMysql,
    /// The reference PostgreSQL store (connect-pg-simple's layout).
    Postgres,
    /// The reference Redis store.
    Redis,
    /// The reference MongoDB store.
    Mongo,
    /// An npm store through the express adapter's preset of this name.
    NodePreset(&'static str),
    /// A tower-sessions store through the adapter of ecosystem/tower (`sessionspec-tower NAME`).
    Tower(&'static str),
    /// A reference store (the `Opens` named) as a tower-sessions store, through its
    /// `tower-sessions` feature and the same record mapping as the stores of ecosystem/tower.
    TowerReference(&'static Opens),
}

/// Whose a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A reference store of this project, in Rust.
    Reference,
    /// An npm store users know, through the express adapter.
    Npm,
    /// A tower-sessions store from crates.io, through the adapter of ecosystem/tower.
    Tower,
}

impl Family {
    /// `reference` or `npm`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Reference => "reference",
            Family::Npm => "npm",
            Family::Tower => "tower",
        }
    }
}

/// One store the catalog knows.
#[derive(Debug, Clone, Copy)]
pub struct StoreKind {
    /// Its name on the command line and in reports.
    pub name: &'static str,
    /// One line about it.
    pub summary: &'static str,
    /// Whose it is.
    pub family: Family,
    /// The server it runs on, if any.
    pub backend: Option<BackendKind>,
    /// How it opens.
    pub opens: Opens,
    /// For a variant of a catalog store kept for the published table (an earlier major version,
    /// or the same store with another client): the catalog name of the store it varies
    /// (`node:redis` for `node:redis-7`), in `list stores --json`: `just test-npm` runs the npm
    /// stores that vary none, `just test-npm-variants` the variants, `just reports` all.
    pub variant_of: Option<&'static str>,
}

const fn reference(name: &'static str, summary: &'static str, backend: Option<BackendKind>, opens: Opens) -> StoreKind {
    StoreKind { name, summary, family: Family::Reference, backend, opens, variant_of: None }
}

const fn npm(
    name: &'static str,
    summary: &'static str,
    backend: Option<BackendKind>,
    preset: &'static str,
) -> StoreKind {
    StoreKind { name, summary, family: Family::Npm, backend, opens: Opens::NodePreset(preset), variant_of: None }
}

/// A variant of the npm store `current` of the catalog: an earlier major, or another client.
const fn npm_variant(
    name: &'static str,
    summary: &'static str,
    backend: Option<BackendKind>,
    preset: &'static str,
    current: &'static str,
) -> StoreKind {
    StoreKind { variant_of: Some(current), ..npm(name, summary, backend, preset) }
}

const fn tower(
    name: &'static str,
    summary: &'static str,
    backend: Option<BackendKind>,
    store: &'static str,
) -> StoreKind {
    StoreKind { name, summary, family: Family::Tower, backend, opens: Opens::Tower(store), variant_of: None }
}

const fn tower_reference(
    name: &'static str,
    summary: &'static str,
    backend: Option<BackendKind>,
    store: &'static Opens,
) -> StoreKind {
    StoreKind { name, summary, family: Family::Tower, backend, opens: Opens::TowerReference(store), variant_of: None }
}

/// Every store the catalog knows, in listing order: the one list of store names. Scripts read
/// it through `sessionspec list stores --json`.
pub const STORES: &[StoreKind] = &[
    reference("memory", "reference in-memory store (sessionspec-store-memory)", None, Opens::Memory),
    reference(
        "sql-sqlite",
        "reference SQL store on SQLite, connect-session-knex layout (sessionspec-store-sql)",
        None,
        Opens::SqlSqlite,
    ),
    reference(
        "postgres",
        "reference PostgreSQL store, connect-pg-simple table layout (sessionspec-store-postgres)",
        Some(BackendKind::Postgres),
        Opens::Postgres,
    ),
    reference(
        "sql-postgres",
        "reference SQL store on PostgreSQL, connect-session-knex layout (sessionspec-store-sql)",
        Some(BackendKind::Postgres),
        Opens::SqlPostgres,
    ),
    reference(
        "sql-mysql",
        "reference SQL store on MySQL/MariaDB, connect-session-knex layout (sessionspec-store-sql)",
        Some(BackendKind::Mariadb),
        Opens::SqlMysql,
    ),
    reference(
        "redis",
        "reference Redis store, connect-redis key layout (sessionspec-store-redis)",
        Some(BackendKind::Redis),
        Opens::Redis,
    ),
    reference(
        "mongo",
        "reference MongoDB store, connect-mongo document layout (sessionspec-store-mongo)",
        Some(BackendKind::Mongo),
        Opens::Mongo,
    ),
    npm("node:memory", "express-session's MemoryStore through the express adapter", None, "memory"),
    npm("node:redis", "connect-redis 9 (node-redis 5) through the express adapter", Some(BackendKind::Redis), "redis"),
    npm("node:pg", "connect-pg-simple 10 through the express adapter", Some(BackendKind::Postgres), "pg"),
    npm(
        "node:knex-sqlite",
        "connect-session-knex 5 on SQLite (better-sqlite3) through the express adapter",
        None,
        "knex-sqlite",
    ),
    npm(
        "node:knex-postgres",
        "connect-session-knex 5 on PostgreSQL through the express adapter",
        Some(BackendKind::Postgres),
        "knex-postgres",
    ),
    npm(
        "node:knex-mysql",
        "connect-session-knex 5 on MySQL/MariaDB (mysql2) through the express adapter",
        Some(BackendKind::Mariadb),
        "knex-mysql",
    ),
    npm(
        "node:mongo",
        "connect-mongo 6 (mongodb driver 7) through the express adapter",
        Some(BackendKind::Mongo),
        "mongo",
    ),
    // Variants: earlier majors (each behaviour's history across versions) and another client.
    npm_variant(
        "node:redis-8",
        "connect-redis 8 (node-redis 5) through the express adapter",
        Some(BackendKind::Redis),
        "redis-8",
        "node:redis",
    ),
    npm_variant(
        "node:redis-7",
        "connect-redis 7 (node-redis 5) through the express adapter",
        Some(BackendKind::Redis),
        "redis-7",
        "node:redis",
    ),
    npm_variant(
        "node:redis-ioredis",
        "connect-redis 8 with ioredis 5 through the express adapter (9 takes node-redis only)",
        Some(BackendKind::Redis),
        "redis-ioredis",
        "node:redis",
    ),
    npm_variant(
        "node:redis-readme",
        "connect-redis 9 (node-redis 5) set up as its readme shows: a client with no `error` listener, its connect() not awaited",
        Some(BackendKind::Redis),
        "redis-readme",
        "node:redis",
    ),
    npm_variant(
        "node:pg-9",
        "connect-pg-simple 9 through the express adapter",
        Some(BackendKind::Postgres),
        "pg-9",
        "node:pg",
    ),
    npm_variant(
        "node:knex-sqlite-4",
        "connect-session-knex 4 on SQLite (better-sqlite3) through the express adapter",
        None,
        "knex-sqlite-4",
        "node:knex-sqlite",
    ),
    // The names after `tower:` are those of ecosystem/tower's catalog (`sessionspec-tower --list`).
    tower("tower:memory", "tower-sessions-memory-store 0.15", None, "memory"),
    tower("tower:moka", "tower-sessions-moka-store 0.15", None, "moka"),
    tower("tower:redis", "tower-sessions-redis-store 0.16 (fred)", Some(BackendKind::Redis), "redis"),
    tower("tower:sqlx-sqlite", "tower-sessions-sqlx-store 0.15 on SQLite", None, "sqlx-sqlite"),
    tower(
        "tower:sqlx-postgres",
        "tower-sessions-sqlx-store 0.15 on PostgreSQL",
        Some(BackendKind::Postgres),
        "sqlx-postgres",
    ),
    tower(
        "tower:sqlx-mysql",
        "tower-sessions-sqlx-store 0.15 on MySQL/MariaDB",
        Some(BackendKind::Mariadb),
        "sqlx-mysql",
    ),
    tower("tower:rusqlite", "tower-sessions-rusqlite-store 0.14 (tokio-rusqlite)", None, "rusqlite"),
    tower("tower:file", "tower-sessions-file-store 0.3, a file per session", None, "file"),
    tower("tower:sled", "tower-sessions-sled-store 0.2", None, "sled"),
    tower("tower:mongodb", "tower-sessions-mongodb-store 0.11 (mongodb driver 2)", Some(BackendKind::Mongo), "mongodb"),
    // This repository's reference stores through their `tower-sessions` feature, in process.
    tower_reference(
        "tower:reference-redis",
        "reference Redis store as a tower-sessions store",
        Some(BackendKind::Redis),
        &Opens::Redis,
    ),
    tower_reference(
        "tower:reference-postgres",
        "reference PostgreSQL store as a tower-sessions store",
        Some(BackendKind::Postgres),
        &Opens::Postgres,
    ),
    tower_reference(
        "tower:reference-sql-sqlite",
        "reference SQL store on SQLite as a tower-sessions store",
        None,
        &Opens::SqlSqlite,
    ),
    tower_reference(
        "tower:reference-sql-postgres",
        "reference SQL store on PostgreSQL as a tower-sessions store",
        Some(BackendKind::Postgres),
        &Opens::SqlPostgres,
    ),
    tower_reference(
        "tower:reference-sql-mysql",
        "reference SQL store on MySQL/MariaDB as a tower-sessions store",
        Some(BackendKind::Mariadb),
        &Opens::SqlMysql,
    ),
    tower_reference(
        "tower:reference-mongo",
        "reference MongoDB store as a tower-sessions store",
        Some(BackendKind::Mongo),
        &Opens::Mongo,
    ),
];

/// Stores that are not in the catalog but that `--store` accepts, for listings.
pub const OTHER_STORES: &[(&str, &str)] = &[
    ("exec:COMMAND", "any store behind an adapter speaking the stdio protocol (spec/adapter-protocol.md)"),
    (
        "./FILE.js",
        "an express-session store factory file, run through the express adapter built into sessionspec (needs Node.js and express-session)",
    ),
];

impl StoreKind {
    /// Looks a store up by name.
    pub fn find(name: &str) -> Option<&'static StoreKind> {
        STORES.iter().find(|s| s.name == name)
    }

    /// Whether it runs with nothing but this binary (part of the default selection).
    pub fn embedded(&self) -> bool {
        self.family == Family::Reference && self.backend.is_none()
    }

    /// What it needs to run, for `sessionspec list stores`.
    pub fn needs(&self) -> String {
        // A reference store run as a tower-sessions store needs what the reference store needs.
        if let Opens::TowerReference(store) = self.opens {
            return StoreKind { family: Family::Reference, opens: *store, ..*self }.needs();
        }
        let server = self.backend.map(|kind| {
            let (flag, env) = url_source(kind);
            format!("a {} server: {flag} or {env}", kind.product())
        });
        match (self.family, server) {
            (Family::Reference, None) if self.opens == Opens::SqlSqlite => {
                "nothing: a database file per scenario in a temporary directory".to_owned()
            }
            (Family::Reference, None) => "nothing".to_owned(),
            (Family::Reference, Some(server)) => server,
            (Family::Tower, server) => {
                let adapter = "ecosystem/tower's adapter built (`just tower-build`), or SESSIONSPEC_TOWER_ADAPTER";
                match server {
                    Some(server) => format!("{adapter}; {server}"),
                    None => adapter.to_owned(),
                }
            }
            (Family::Npm, server) => {
                let node = "Node.js 20+ and this repository's stores/express-adapter after `npm ci` (or SESSIONSPEC_EXPRESS_ADAPTER)";
                match server {
                    Some(server) => format!("{node}; {server}"),
                    None => node.to_owned(),
                }
            }
        }
    }

    /// What the store is and can do, known without opening it: the reference stores' own
    /// descriptions. `None` for the npm stores, whose adapter declares them when it starts.
    pub fn description(&self) -> Option<sessionspec_contract::StoreDescription> {
        Some(match self.opens {
            Opens::Memory => sessionspec_store_memory::description(),
            Opens::SqlSqlite => sessionspec_store_sql::description(self.name, "sqlite", None),
            Opens::SqlPostgres => sessionspec_store_sql::description(self.name, "postgres", None),
            Opens::SqlMysql => sessionspec_store_sql::description(self.name, "mysql", None),
            Opens::Postgres => sessionspec_store_postgres::description(None),
            Opens::Redis => sessionspec_store_redis::description(None),
            Opens::Mongo => sessionspec_store_mongo::description(None),
            Opens::NodePreset(_) | Opens::Tower(_) | Opens::TowerReference(_) => return None,
        })
    }
}

/// The flag and environment variable that give the URL of a backend kind's server.
pub fn url_source(kind: BackendKind) -> (&'static str, &'static str) {
    match kind {
        BackendKind::Postgres => ("--postgres-url", "SESSIONSPEC_POSTGRES_URL"),
        BackendKind::Redis => ("--redis-url", "SESSIONSPEC_REDIS_URL"),
        BackendKind::Mariadb => ("--mysql-url", "SESSIONSPEC_MYSQL_URL"),
        BackendKind::Mongo => ("--mongo-url", "SESSIONSPEC_MONGO_URL"),
    }
}

/// The environment variable an adapter reads for the server URL of its own housekeeping: the
/// server itself, where [`url_source`]'s variable may name a fault proxy in front of it.
pub fn admin_url_variable(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Postgres => "SESSIONSPEC_POSTGRES_ADMIN_URL",
        BackendKind::Redis => "SESSIONSPEC_REDIS_ADMIN_URL",
        BackendKind::Mariadb => "SESSIONSPEC_MYSQL_ADMIN_URL",
        BackendKind::Mongo => "SESSIONSPEC_MONGO_ADMIN_URL",
    }
}

/// The stores `sessionspec run` uses when none is named.
pub fn embedded() -> Vec<&'static str> {
    STORES.iter().filter(|s| s.embedded()).map(|s| s.name).collect()
}

/// The closest catalog name to `name`, when one is close enough to be a typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    STORES
        .iter()
        .map(|s| (strsim::levenshtein(name, s.name), s.name))
        .filter(|(d, known)| *d <= 2.max(known.len() / 4))
        .min()
        .map(|(_, known)| known)
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
    /// Put a fault proxy (sessionspec-faults) between each server-backed store and its server,
    /// one per store, for scenarios that cause faults. The store is handed the proxy's URL.
    pub fault_proxies: bool,
    /// The backend kind an `exec:` store or a store file uses, as declared (`--store-backend` or
    /// a factory's `backendKind`; [`provision`] fills it in per store from what it read once).
    pub store_backend: Option<BackendKind>,
    /// The server URLs that [`Backends::url`] no longer gives because a fault proxy stands in
    /// their place: an adapter gets them as `SESSIONSPEC_<KIND>_ADMIN_URL` for its own work
    /// (creating and dropping namespaces, raw inspection), which no fault must touch. Filled in
    /// by the fault proxy; empty otherwise.
    pub admin_urls: Vec<(BackendKind, String)>,
    /// The servers this run started (containers), each with its control: a store on one of
    /// them gets `backend:` steps through its fault proxy. Empty for servers it did not start.
    pub servers: Vec<(BackendKind, ServerControl)>,
}

impl Backends {
    /// The URL given for a backend kind's server, if any.
    pub fn url(&self, kind: BackendKind) -> &Option<String> {
        match kind {
            BackendKind::Postgres => &self.postgres_url,
            BackendKind::Redis => &self.redis_url,
            BackendKind::Mariadb => &self.mysql_url,
            BackendKind::Mongo => &self.mongo_url,
        }
    }

    /// The URL given for a backend kind's server, to set it.
    pub fn url_mut(&mut self, kind: BackendKind) -> &mut Option<String> {
        match kind {
            BackendKind::Postgres => &mut self.postgres_url,
            BackendKind::Redis => &mut self.redis_url,
            BackendKind::Mariadb => &mut self.mysql_url,
            BackendKind::Mongo => &mut self.mongo_url,
        }
    }

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
    #[error("unknown store `{name}`{}; known stores: {known}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownStore {
        /// The name given.
        name: String,
        /// The closest known name, when the name looks like a typo of it.
        suggestion: Option<String>,
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

/// Sets up the named stores: catalog names, `exec:COMMAND` and express-session factory files.
pub async fn resolve(names: &[String], backends: &Backends) -> Result<Resolved, TargetError> {
    let mut targets = Vec::new();
    let mut temp = Vec::new();
    for name in names {
        let (proxied, faults) = if backends.fault_proxies {
            // The server a store uses: its catalog backend, or the one an `exec:` store or a
            // store file declares. None declared: no proxy, so the fault scenarios are not
            // applicable to it (a store that keeps sessions in a file would pass them untouched).
            let kind = match StoreKind::find(name) {
                Some(kind) => kind.backend,
                None => backends.store_backend,
            };
            let kinds: Vec<BackendKind> = kind.into_iter().collect();
            faults::proxy(name, backends, &kinds).await?
        } else {
            (backends.clone(), None)
        };
        let backends = &proxied;
        let target = match StoreKind::find(name) {
            Some(kind) => open(kind, backends, &mut temp).await?,
            None if adapter::handles(name) => adapter::resolve(name, backends, &mut temp).await?,
            None => {
                return Err(TargetError::UnknownStore {
                    name: name.clone(),
                    suggestion: suggest(name).map(str::to_owned),
                    known: STORES
                        .iter()
                        .map(|s| s.name)
                        .chain(OTHER_STORES.iter().map(|(n, _)| *n))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        let target = match faults {
            Some(f) => target.with_faults(f),
            None => target,
        };
        targets.push(target);
    }
    Ok(Resolved { targets, _temp: temp })
}

/// Opens one catalog store on the backends given.
async fn open(kind: &StoreKind, backends: &Backends, temp: &mut Vec<tempfile::TempDir>) -> Result<Target, TargetError> {
    let name = kind.name;
    let unavailable =
        |e: sessionspec_contract::StoreError| TargetError::Unavailable { store: name.to_owned(), reason: e.chain() };
    let url = || match kind.backend {
        Some(backend) => {
            let (flag, env) = url_source(backend);
            Backends::require(backends.url(backend), name, flag, env).map(str::to_owned)
        }
        None => Ok(String::new()),
    };
    let factory: Arc<dyn sessionspec_contract::StoreFactory> = match kind.opens {
        Opens::Memory => Arc::new(sessionspec_store_memory::MemoryFactory::new()),
        Opens::SqlSqlite => {
            let dir = work_dir(name, backends, temp)?;
            Arc::new(sessionspec_store_sql::SqliteFactory::new(dir).await.map_err(unavailable)?)
        }
        Opens::Postgres => {
            Arc::new(sessionspec_store_postgres::PgFactory::connect(&url()?).await.map_err(unavailable)?)
        }
        Opens::SqlPostgres => {
            Arc::new(sessionspec_store_sql::PostgresFactory::connect(&url()?).await.map_err(unavailable)?)
        }
        Opens::SqlMysql => Arc::new(sessionspec_store_sql::MySqlFactory::connect(&url()?).await.map_err(unavailable)?),
        Opens::Redis => Arc::new(sessionspec_store_redis::RedisFactory::connect(&url()?).await.map_err(unavailable)?),
        Opens::Mongo => Arc::new(sessionspec_store_mongo::MongoFactory::connect(&url()?).await.map_err(unavailable)?),
        Opens::NodePreset(preset) => {
            url()?;
            return adapter::preset(kind, preset, backends, temp).await;
        }
        Opens::Tower(store) => {
            url()?;
            return adapter::tower(kind, store, backends, temp).await;
        }
        Opens::TowerReference(opens) => {
            let krate = "sessionspec-store-sql";
            let factory = match opens {
                Opens::Redis => {
                    let f = sessionspec_store_redis::RedisFactory::connect(&url()?).await.map_err(unavailable)?;
                    tower::reference("sessionspec-store-redis", f).await
                }
                Opens::Postgres => {
                    let f = sessionspec_store_postgres::PgFactory::connect(&url()?).await.map_err(unavailable)?;
                    tower::reference("sessionspec-store-postgres", f).await
                }
                Opens::Mongo => {
                    let f = sessionspec_store_mongo::MongoFactory::connect(&url()?).await.map_err(unavailable)?;
                    tower::reference("sessionspec-store-mongo", f).await
                }
                Opens::SqlSqlite => {
                    let dir = work_dir(name, backends, temp)?;
                    let f = sessionspec_store_sql::SqliteFactory::new(dir).await.map_err(unavailable)?;
                    tower::reference(krate, f).await
                }
                Opens::SqlPostgres => {
                    let f = sessionspec_store_sql::PostgresFactory::connect(&url()?).await.map_err(unavailable)?;
                    tower::reference(krate, f).await
                }
                Opens::SqlMysql => {
                    let f = sessionspec_store_sql::MySqlFactory::connect(&url()?).await.map_err(unavailable)?;
                    tower::reference(krate, f).await
                }
                other => unreachable!("no tower-sessions implementation for {other:?}"),
            };
            // The column is the catalog's name; the store is named by its crate, as the others.
            let factory = Arc::new(factory.map_err(unavailable)?);
            return Ok(Target { id: name.to_owned(), factory, faults: None });
        }
    };
    Ok(Target::new(factory))
}

/// The directory for file-based stores: the backends' work directory, or a fresh temporary one
/// that lives as long as the targets.
pub(crate) fn work_dir(
    store: &str,
    backends: &Backends,
    temp: &mut Vec<tempfile::TempDir>,
) -> Result<PathBuf, TargetError> {
    if let Some(dir) = &backends.work_dir {
        return Ok(dir.clone());
    }
    let t = tempfile::Builder::new().prefix("sessionspec-").tempdir().map_err(|e| TargetError::Unavailable {
        store: store.to_owned(),
        reason: format!("cannot create a temporary directory: {e}"),
    })?;
    let path = t.path().to_owned();
    temp.push(t);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_stores_call_themselves_by_their_catalog_name() {
        for kind in STORES {
            if let Some(description) = kind.description() {
                assert_eq!(description.name, kind.name, "the store's own description and the catalog agree");
            }
        }
        assert!(STORES.iter().all(|s| s.family == Family::Reference || s.description().is_none()));
    }

    #[test]
    fn names_are_unique_and_typos_find_them() {
        let mut names: Vec<&str> = STORES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STORES.len());
        assert_eq!(suggest("sql-sqlit"), Some("sql-sqlite"));
        assert_eq!(suggest("nodes:redis"), Some("node:redis"));
        assert_eq!(suggest("cassandra"), None);
    }
}

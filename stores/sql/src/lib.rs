//! sessionspec's reference SQL session store on SQLite, MySQL/MariaDB and PostgreSQL, with
//! connect-session-knex's table layout so a Rust service and an Express app can share one table.
//!
//! Every query is parameterised and every identifier quoted after validation: no session id
//! or option can change what a query does. Expiry is compared against the store's clock,
//! passed as a parameter, never the database's `now()`.
#![warn(missing_docs)]

mod mysql;
mod postgres;
mod schema;
mod sqlite;
mod store;

use std::time::Duration;

use sessionspec_contract::{Capability, CapabilitySet, Result, StoreDescription, StoreError};
use sessionspec_server_store::OPERATIONS;
use sessionspec_server_store::sqlx::error_kind;

pub use mysql::{MySqlFactory, mysql_pool_options};
pub use postgres::{PostgresFactory, postgres_pool_options};
pub use sessionspec_server_store::{DEFAULT_OPERATION_TIMEOUT, Ident};
pub use sqlite::SqliteFactory;
pub use store::{SqlPool, SqlStore, SqlStoreConfig};

#[cfg(feature = "tower-sessions")]
sessionspec_tower_sessions::session_store!(SqlStore);

/// The fallback time-to-live for a cookie without `expires` (connect-session-knex's one day).
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);
/// How often expired rows are deleted (connect-session-knex's `cleanupInterval` default).
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);
/// The default table name.
pub const DEFAULT_TABLE: &str = "sessions";
/// The default name of the session id column.
pub const DEFAULT_SID_FIELD: &str = "sid";

/// The SQL dialects the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// MySQL 5.7+ or MariaDB 10.2+.
    MySql,
    /// PostgreSQL 9.5+.
    Postgres,
}

impl Dialect {
    /// `name` checked against the dialect's limits as well as [`Ident::new`]'s: PostgreSQL
    /// truncates names over 63 bytes without saying so, and MySQL rejects names ending in a space.
    pub fn ident(self, name: &str) -> Result<Ident> {
        match self {
            Dialect::Sqlite => Ident::new(name),
            Dialect::MySql => Ident::mysql(name),
            Dialect::Postgres => Ident::postgres(name),
        }
    }

    /// `ident` quoted for the dialect: backticks on MySQL, double quotes elsewhere.
    pub fn quote(self, ident: &Ident) -> String {
        match self {
            Dialect::MySql => ident.backquoted(),
            Dialect::Sqlite | Dialect::Postgres => ident.quoted(),
        }
    }

    /// `schema.table`, quoted, or just the table.
    pub fn qualified(self, schema: Option<&Ident>, table: &Ident) -> String {
        match schema {
            Some(s) => format!("{}.{}", self.quote(s), self.quote(table)),
            None => self.quote(table),
        }
    }
}

/// What the SQL store can do besides [`OPERATIONS`], on every dialect: the record-store
/// operations, expiry on the store's clock, and the options it honours (any other is refused
/// with `unsupported`).
const CAPABILITIES: [Capability; 8] = {
    use Capability::*;
    [Create, DeleteExpired, VirtualClock, Ttl, DisableTouch, AutoRemoveInterval, AutoRemoveDisabled, Naming]
};

pub(crate) fn capabilities() -> CapabilitySet {
    OPERATIONS.into_iter().chain(CAPABILITIES).collect()
}

/// What the SQL store is and can do, on a backend (`sqlite`, `mysql`, `mariadb`, `postgres`);
/// needs no server.
pub fn description(name: &str, backend: &str, backend_version: Option<String>) -> StoreDescription {
    sessionspec_server_store::description(name, env!("CARGO_PKG_VERSION"), backend, backend_version, capabilities())
}

/// Maps a driver error to a store error. The JSON functions `touch` uses fail when the stored
/// payload is not a session object; that is a `serialize` failure, as it is for `get`.
pub(crate) fn backend(context: &str, error: sqlx::Error) -> StoreError {
    StoreError::new(error_kind(&error, is_payload_error), context.to_owned()).with_source(error)
}

/// Whether the database rejected a stored payload as JSON: PostgreSQL's data exceptions (class
/// 22), SQLite's "malformed JSON", MySQL's invalid-JSON errors (3140, 3141, 3146).
fn is_payload_error(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(e) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(e.number(), 3140 | 3141 | 3146);
    }
    if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return error.message().contains("malformed JSON");
    }
    error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some_and(|e| e.code().starts_with("22"))
}

/// Whether the database's JSON functions refused a valid stored session they cannot take apart:
/// PostgreSQL's U+0000 (22P05), MySQL's depth limit of 100 (3157), MariaDB's of 32 (4040).
pub(crate) fn is_beyond_json_functions(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(e) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(e.number(), 3157 | 4040);
    }
    error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some_and(|e| e.code() == "22P05")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_quotes_and_checks_its_own_way() {
        let ident = Dialect::MySql.ident("a`; DROP TABLE x; --").unwrap();
        assert_eq!(Dialect::MySql.quote(&ident), "`a``; DROP TABLE x; --`");
        assert_eq!(Dialect::Sqlite.quote(&ident), "\"a`; DROP TABLE x; --\"");
        assert!(Dialect::MySql.ident("trailing ").is_err());
        assert!(Dialect::Sqlite.ident("trailing ").is_ok());
        assert!(Dialect::Postgres.ident(&"é".repeat(40)).is_err());
        let (db, t) = (Ident::new("db").unwrap(), Ident::new("t").unwrap());
        assert_eq!(Dialect::MySql.qualified(Some(&db), &t), "`db`.`t`");
        assert_eq!(Dialect::Postgres.qualified(Some(&db), &t), "\"db\".\"t\"");
    }
}

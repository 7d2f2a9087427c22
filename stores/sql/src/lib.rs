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

use sessionspec_contract::{Capability, CapabilitySet, ErrorKind, Result, StoreDescription, StoreError};

pub use mysql::{MySqlFactory, mysql_pool_options};
pub use postgres::{PostgresFactory, postgres_pool_options};
pub use sqlite::SqliteFactory;
pub use store::{DEFAULT_OPERATION_TIMEOUT, SqlPool, SqlStore, SqlStoreConfig};

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
    /// `schema.table`, quoted, or just the table.
    pub fn qualified(self, schema: Option<&Ident>, table: &Ident) -> String {
        match schema {
            Some(s) => format!("{}.{}", s.quoted_in(self), table.quoted_in(self)),
            None => table.quoted_in(self),
        }
    }
}

/// A checked SQL identifier, quoted for use in statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    name: String,
}

impl Ident {
    /// Accepts 1-63 characters with no NUL and no control characters. Anything else (quotes,
    /// spaces, dots) is kept literally inside the quotes.
    pub fn new(name: &str) -> Result<Ident> {
        let ok = !name.is_empty() && name.chars().count() <= 63 && !name.chars().any(char::is_control);
        if ok {
            Ok(Ident { name: name.to_owned() })
        } else {
            Err(StoreError::new(
                ErrorKind::Invalid,
                format!(
                    "`{}` is not a usable SQL identifier: 1-63 characters, no control characters",
                    name.escape_debug()
                ),
            ))
        }
    }

    /// [`Ident::new`], plus the dialect's own limits: PostgreSQL truncates names over 63 bytes
    /// without saying so, and MySQL rejects names ending in a space.
    pub fn for_dialect(name: &str, dialect: Dialect) -> Result<Ident> {
        let ident = Ident::new(name)?;
        let problem = match dialect {
            Dialect::Postgres if name.len() > 63 => Some("PostgreSQL names are at most 63 bytes"),
            Dialect::MySql if name.ends_with(' ') => Some("MySQL names cannot end with a space"),
            _ => None,
        };
        match problem {
            Some(why) => {
                Err(StoreError::new(ErrorKind::Invalid, format!("`{name}` is not a usable identifier: {why}")))
            }
            None => Ok(ident),
        }
    }

    /// The name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name in double quotes, inner double quotes doubled (SQLite and Postgres).
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.name.replace('"', "\"\""))
    }

    /// The name quoted for `dialect`: backticks with inner backticks doubled on MySQL, double
    /// quotes elsewhere. (MySQL's `ANSI_QUOTES` mode is not assumed.)
    pub fn quoted_in(&self, dialect: Dialect) -> String {
        match dialect {
            Dialect::MySql => format!("`{}`", self.name.replace('`', "``")),
            Dialect::Sqlite | Dialect::Postgres => self.quoted(),
        }
    }
}

/// What the SQL store is and can do, on a backend (`sqlite`, `mysql`, `mariadb`, `postgres`).
pub fn description(name: &str, backend: &str, backend_version: Option<String>) -> StoreDescription {
    use Capability::*;
    StoreDescription {
        name: name.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        language: "rust".into(),
        backend: backend.into(),
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

/// Maps a driver error to a store error. The JSON functions `touch` uses fail when the stored
/// payload is not a session object; that is a `serialize` failure, as it is for `get`.
pub(crate) fn backend(context: &str, error: sqlx::Error) -> StoreError {
    let kind = match &error {
        sqlx::Error::PoolTimedOut => ErrorKind::Timeout,
        sqlx::Error::PoolClosed => ErrorKind::Closed,
        sqlx::Error::Database(e) if is_payload_error(e.as_ref()) => ErrorKind::Serialize,
        _ => ErrorKind::Backend,
    };
    StoreError::new(kind, context.to_owned()).with_source(error)
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

/// Whether the statement may simply run again: the connection it ran on is gone (the server
/// restarted, or an administrator killed the connection) and the pool will hand out another, or
/// the server rolled it back as a deadlock victim (a touch meeting the cleanup's range delete on
/// InnoDB).
pub(crate) fn is_retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: class 08 (connection exception), 57P01-57P03 (shutdown, terminated
            // backend), 40P01 (deadlock). MySQL/MariaDB: 1053 server shutdown, 1927 connection
            // killed, 2006/2013 server gone away / lost connection, reported under SQLSTATE 08S01
            // or 70100; 1213 deadlock under 40001.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "70100" | "40P01" | "40001")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_not_trusted() {
        assert_eq!(Ident::new("sessions").unwrap().quoted(), "\"sessions\"");
        assert_eq!(Ident::new("a\"; DROP TABLE x; --").unwrap().quoted(), "\"a\"\"; DROP TABLE x; --\"");
        assert!(Ident::new("").is_err());
        assert!(Ident::new("a\0b").is_err());
    }

    #[test]
    fn mysql_identifiers_double_backticks() {
        let ident = Ident::for_dialect("a`; DROP TABLE x; --", Dialect::MySql).unwrap();
        assert_eq!(ident.quoted_in(Dialect::MySql), "`a``; DROP TABLE x; --`");
        assert_eq!(Ident::new("a\"b").unwrap().quoted_in(Dialect::MySql), "`a\"b`");
        assert!(Ident::for_dialect("trailing ", Dialect::MySql).is_err());
        assert!(Ident::for_dialect(&"é".repeat(40), Dialect::Postgres).is_err());
        assert_eq!(Dialect::MySql.qualified(Some(&Ident::new("db").unwrap()), &Ident::new("t").unwrap()), "`db`.`t`");
    }
}

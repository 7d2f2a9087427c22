//! sessionspec's reference SQL session store, with connect-session-knex's table layout so a
//! Rust service and an Express app can share one table.
//!
//! Every query is parameterised and every identifier quoted after validation: no session id
//! or option can change what a query does. Expiry is compared against the store's clock,
//! passed as a parameter, never the database's `now()`.
#![warn(missing_docs)]

mod sqlite;

use std::time::Duration;

use sessionspec_contract::{ErrorKind, Result, StoreError};

pub use sqlite::{SqliteFactory, SqliteStore};

/// The fallback time-to-live for a cookie without `expires` (connect-session-knex's one day).
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);
/// How often expired rows are deleted (connect-session-knex's `cleanupInterval` default).
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);
/// The default table name.
pub const DEFAULT_TABLE: &str = "sessions";
/// The default name of the session id column.
pub const DEFAULT_SID_FIELD: &str = "sid";

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
                format!("`{name}` is not a usable SQL identifier: 1-63 characters, no control characters"),
            ))
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
}

/// Maps a driver error to a store error.
pub(crate) fn backend(context: &str, error: sqlx::Error) -> StoreError {
    let kind = match &error {
        sqlx::Error::PoolTimedOut => ErrorKind::Timeout,
        sqlx::Error::PoolClosed => ErrorKind::Closed,
        _ => ErrorKind::Backend,
    };
    StoreError::new(kind, context.to_owned()).with_source(error)
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
}

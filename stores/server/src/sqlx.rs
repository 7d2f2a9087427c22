//! The sqlx plumbing of the SQL stores: the pool settings, which failures a statement may simply
//! run again after, statement text from quoted names, and the first connection to a server,
//! whose failure says where and why. It never formats a value into a statement.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sessionspec_contract::{ErrorKind, Result, StoreError};
use sqlx::pool::PoolOptions;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Connection, Database, Decode, Executor, IntoArguments, Pool, SqlSafeStr, SqlStr, Type,
};

use crate::{CONNECT_TIMEOUT, ConnectFailure, redact_password, redact_url};

/// The settings of the pools the stores create, and recommend for pools handed to them: sized for
/// concurrent use, a bounded wait for a connection, and no health check before each use (that
/// check cost sqlx 20-28% of its throughput here; a dead connection is replaced by the store's
/// retry instead).
pub fn pool_options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(16)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
}

/// Statement text built only from quoted identifiers and fixed SQL: safe by construction.
pub fn sql(text: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

/// Connection options from `url`, or an `invalid` error showing the URL without its password.
pub fn parse_url<O: FromStr<Err = sqlx::Error>>(server: &str, url: &str) -> Result<O> {
    O::from_str(url).map_err(|e| {
        let cause = match e {
            sqlx::Error::Configuration(cause) => cause.to_string(),
            other => other.to_string(),
        };
        StoreError::new(
            ErrorKind::Invalid,
            format!("`{}` is not a usable {server} URL: {}", redact_url(url), redact_password(&cause, url)),
        )
    })
}

/// A pool of `pool`'s settings on the server `options` point at, and what the server answers
/// to `version` (a statement returning its version as text). One connection is made first, within
/// [`CONNECT_TIMEOUT`], and asked the version: a refused connection, a host that does not resolve
/// or a login the server turns down fails at once, worded by `failure`, instead of as a pool's
/// "timed out" after its acquire timeout. The pool connects as it is used.
pub async fn connect<DB>(
    failure: &ConnectFailure,
    options: <DB::Connection as Connection>::Options,
    pool: PoolOptions<DB>,
    version: &'static str,
) -> Result<(Pool<DB>, String)>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    String: Type<DB> + for<'r> Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    failure.resolve().await?;
    let mut first = match tokio::time::timeout(CONNECT_TIMEOUT, DB::Connection::connect_with(&options)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return Err(connect_failed(failure, &e)),
        Err(_) => return Err(failure.no_answer(CONNECT_TIMEOUT)),
    };
    let answer: String = sqlx::query_scalar(version)
        .fetch_one(&mut first)
        .await
        .map_err(|e| failure.because(ErrorKind::Backend, &format!("it did not tell its version: {e}")))?;
    let _ = first.close().await;
    Ok((pool.connect_lazy_with(options), answer))
}

/// What a failed connection attempt means, without the driver's wrapping.
fn connect_failed(failure: &ConnectFailure, error: &sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Io(e) => failure.io(e),
        sqlx::Error::Database(e) => failure.answered(e.message()),
        sqlx::Error::Tls(e) => failure.because(ErrorKind::Backend, &format!("TLS failed: {e}")),
        other => failure.because(ErrorKind::Backend, &other.to_string()),
    }
}

/// Whether a statement may simply run again: the connection it ran on is gone (the server
/// restarted, or an administrator killed the connection) and the pool will hand out another, or
/// the server rolled it back as a deadlock victim (a touch meeting the cleanup's range delete on
/// InnoDB). Every statement the stores run is idempotent.
pub fn is_retryable(error: &sqlx::Error) -> bool {
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

/// How many more times a namespace's statement runs when its pooled connection was closed.
pub const NAMESPACE_RETRIES: usize = 4;

/// Runs `statement` again while it fails as [`is_retryable`] says, at most `retries` more times:
/// for the harness's own statements (namespaces), which have no store operation around them. A
/// pool may hold several connections a server restart closed, each failing once.
pub async fn retrying<T, F, Fut>(retries: usize, statement: F) -> Result<T, sqlx::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut failures = 0;
    loop {
        match statement().await {
            Err(e) if failures < retries && is_retryable(&e) => failures += 1,
            other => return other,
        }
    }
}

/// The kind a driver error has once it reaches the store's caller: a pool that gave no connection
/// in time is `timeout`, a closed pool `closed`, a stored payload the database's JSON functions
/// refused (`is_payload`) `serialize`, anything else `backend`.
pub fn error_kind(error: &sqlx::Error, is_payload: impl Fn(&dyn sqlx::error::DatabaseError) -> bool) -> ErrorKind {
    match error {
        sqlx::Error::PoolTimedOut => ErrorKind::Timeout,
        sqlx::Error::PoolClosed => ErrorKind::Closed,
        sqlx::Error::Database(e) if is_payload(e.as_ref()) => ErrorKind::Serialize,
        _ => ErrorKind::Backend,
    }
}

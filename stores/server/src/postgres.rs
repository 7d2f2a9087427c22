//! What both PostgreSQL stores do alike: connect (one connection first, so a failure says where
//! and why), give each harness namespace a schema of its own, and create a table exactly once
//! when many instances open at once. It drops only schemas it created, and never alters a table.

use std::collections::BTreeSet;

use sessionspec_contract::{ErrorKind, Namespace, Result, StoreError};
use sqlx::SqlStr;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::sqlx::sql;
use crate::{ConnectFailure, Endpoint, Ident};

/// Where `options` connect to.
pub fn endpoint(options: &PgConnectOptions) -> Endpoint {
    match options.get_socket() {
        Some(socket) => Endpoint::Socket(socket.clone()),
        None => Endpoint::tcp(options.get_host(), options.get_port()),
    }
}

/// A pool of `pool`'s settings on the server `options` point at, and the server's version. One
/// connection is made first and asked the version, so that a server that cannot be reached or
/// refuses the login fails here, within the connect timeout, naming where and why; the pool
/// itself connects as it is used.
pub async fn connect(options: PgConnectOptions, pool: PgPoolOptions) -> Result<(PgPool, String)> {
    let failure = ConnectFailure::new("PostgreSQL", endpoint(&options));
    let (pool, version) = crate::sqlx::connect(&failure, options, pool, "SHOW server_version").await?;
    // `15.20 (Debian 15.20-0+deb12u1)`: the number is the version; the rest is packaging.
    Ok((pool, version.split_whitespace().next().unwrap_or_default().to_owned()))
}

/// Harness namespaces as schemas, each created on first use and dropped afterwards. A schema
/// that already existed belongs to someone else: it is refused, never used or dropped.
#[derive(Debug, Default)]
pub struct Schemas {
    created: tokio::sync::Mutex<BTreeSet<Namespace>>,
}

impl Schemas {
    /// The namespace's schema, created the first time it is asked for.
    pub async fn ensure(&self, pool: &PgPool, namespace: &Namespace) -> Result<Ident> {
        let schema = Ident::postgres(namespace.as_str())?;
        let mut created = self.created.lock().await;
        if created.contains(namespace) {
            return Ok(schema);
        }
        let create = || sqlx::query(sql(format!("CREATE SCHEMA {}", schema.quoted()))).execute(pool);
        // A pooled connection the server (or the network) closed fails on first use: again on
        // a fresh one, as the stores' operations do (RES-3).
        let result = crate::sqlx::retrying(crate::sqlx::NAMESPACE_RETRIES, create).await;
        match result {
            Ok(_) => {
                created.insert(namespace.clone());
                Ok(schema)
            }
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P06") => Err(StoreError::new(
                ErrorKind::Conflict,
                format!("schema `{namespace}` already exists and was not created by this harness; it is left alone"),
            )),
            Err(e) => Err(StoreError::backend(format!("cannot create schema `{namespace}`"), e)),
        }
    }

    /// Drops the namespace's schema with everything in it, if [`Schemas::ensure`] created it.
    pub async fn drop(&self, pool: &PgPool, namespace: &Namespace) -> Result<()> {
        let mut created = self.created.lock().await;
        if !created.contains(namespace) {
            return Ok(());
        }
        let schema = Ident::postgres(namespace.as_str())?;
        let drop = || sqlx::query(sql(format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.quoted()))).execute(pool);
        crate::sqlx::retrying(crate::sqlx::NAMESPACE_RETRIES, drop)
            .await
            .map_err(|e| StoreError::backend(format!("cannot drop schema `{namespace}`"), e))?;
        created.remove(namespace);
        Ok(())
    }
}

/// Runs `create` (the statements creating the table `qualified` and its indexes) in one
/// transaction, unless the table exists. `CREATE TABLE IF NOT EXISTS` alone races on
/// PostgreSQL's type catalogue when instances open at once, in this process or others, so the
/// transaction first takes an advisory lock keyed by `lock_class` and the table's name.
pub async fn create_table_once(
    pool: &PgPool,
    lock_class: i32,
    qualified: &str,
    create: impl IntoIterator<Item = SqlStr>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(lock_class)
        .bind(qualified)
        .execute(&mut *tx)
        .await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT to_regclass($1)::text").bind(qualified).fetch_one(&mut *tx).await?;
    if exists.is_none() {
        for statement in create {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
    }
    tx.commit().await
}

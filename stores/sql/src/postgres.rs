//! The PostgreSQL dialect with connect-session-knex's layout (`expired timestamptz`), and how
//! the harness opens it: a schema per namespace, created on first use and dropped afterwards. It
//! drops only schemas it created itself, and refuses to work in a schema that already existed.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sessionspec_contract::{
    ErrorKind, Namespace, OpenContext, Result, SharedClock, Store, StoreDescription, StoreError, StoreFactory,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::store::{SqlPool, SqlStore, SqlStoreConfig, sql};
use crate::{Dialect, Ident, backend, description};

/// The pool settings the store uses for pools it creates, and recommends for pools handed to it:
/// sized for concurrent use, a bounded wait for a connection, and no health check before each
/// use (that check cost sqlx 20-28% here; a dead connection is replaced by the store's retry).
pub fn postgres_pool_options() -> PgPoolOptions {
    PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(5)).test_before_acquire(false)
}

fn connect_options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::new(ErrorKind::Invalid, "not a usable PostgreSQL URL").with_source(e))
}

impl SqlStore {
    /// Opens a PostgreSQL store on a pool of its own, connected to `url`; [`Store::close`] closes
    /// it.
    pub async fn connect_postgres(url: &str, config: SqlStoreConfig, clock: SharedClock) -> Result<SqlStore> {
        let pool = postgres_pool_options()
            .connect_with(connect_options(url)?)
            .await
            .map_err(|e| backend("cannot connect to PostgreSQL", e))?;
        match SqlStore::open(SqlPool::Postgres(pool.clone()), true, config, clock).await {
            Ok(store) => Ok(store),
            Err(e) => {
                pool.close().await;
                Err(e)
            }
        }
    }
}

/// Opens PostgreSQL stores on one shared pool, each namespace in a schema of its own. The pool
/// belongs to the factory: closing a store leaves it open for the others.
pub struct PostgresFactory {
    pool: PgPool,
    created: tokio::sync::Mutex<BTreeSet<Namespace>>,
    description: StoreDescription,
}

impl PostgresFactory {
    /// Connects to the server at `url`.
    pub async fn connect(url: &str) -> Result<PostgresFactory> {
        let pool = postgres_pool_options()
            .connect_with(connect_options(url)?)
            .await
            .map_err(|e| backend("cannot connect to PostgreSQL", e))?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&pool)
            .await
            .map_err(|e| backend("cannot ask PostgreSQL its version", e))?;
        // `15.20 (Debian 15.20-0+deb12u1)`: the number is the version; the rest is packaging.
        let version = version.split_whitespace().next().unwrap_or_default().to_owned();
        Ok(PostgresFactory {
            pool,
            created: tokio::sync::Mutex::default(),
            description: description("sql-postgres", "postgres", Some(version)),
        })
    }

    /// The factory's pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl StoreFactory for PostgresFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let mut config = SqlStoreConfig::from_options(&context.options)?;
        let schema = Ident::for_dialect(context.namespace.as_str(), Dialect::Postgres)?;
        {
            let mut created = self.created.lock().await;
            if !created.contains(&context.namespace) {
                let statement = sql(format!("CREATE SCHEMA {}", schema.quoted()));
                match sqlx::query(statement).execute(&self.pool).await {
                    Ok(_) => {
                        created.insert(context.namespace.clone());
                    }
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P06") => {
                        return Err(StoreError::new(
                            ErrorKind::Conflict,
                            format!(
                                "schema `{}` already exists and was not created by this harness; it is left alone",
                                context.namespace
                            ),
                        ));
                    }
                    Err(e) => return Err(backend(&format!("cannot create schema `{}`", context.namespace), e)),
                }
            }
        }
        config.schema_name = Some(schema.name().to_owned());
        Ok(Box::new(SqlStore::with_pool(self.pool.clone(), config, context.clock).await?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let mut created = self.created.lock().await;
        if !created.contains(namespace) {
            return Ok(());
        }
        let schema = Ident::for_dialect(namespace.as_str(), Dialect::Postgres)?;
        sqlx::query(sql(format!("DROP SCHEMA {} CASCADE", schema.quoted())))
            .execute(&self.pool)
            .await
            .map_err(|e| backend(&format!("cannot drop schema `{namespace}`"), e))?;
        created.remove(namespace);
        Ok(())
    }
}

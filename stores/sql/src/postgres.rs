//! The PostgreSQL dialect with connect-session-knex's layout (`expired timestamptz`), and how
//! the harness opens it: a schema per namespace, created on first use and dropped afterwards. It
//! drops only schemas it created itself, and refuses to work in a schema that already existed.

use async_trait::async_trait;
use sessionspec_contract::{Namespace, OpenContext, Result, SharedClock, Store, StoreDescription, StoreFactory};
use sessionspec_server_store::postgres::Schemas;
use sessionspec_server_store::sqlx::parse_url;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::description;
use crate::store::{SqlPool, SqlStore, SqlStoreConfig};

/// The pool settings the store uses for pools it creates, and recommends for pools handed to it
/// (`sessionspec_server_store::sqlx::pool_options`: 16 connections, a 5 s acquire timeout, no
/// health check before each use).
pub fn postgres_pool_options() -> PgPoolOptions {
    sessionspec_server_store::sqlx::pool_options()
}

/// A pool on the server at `url` and the server's version; a server that cannot be reached or
/// refuses the login fails within two seconds, naming where and why.
async fn connect(url: &str) -> Result<(PgPool, String)> {
    let options: PgConnectOptions = parse_url("PostgreSQL", url)?;
    sessionspec_server_store::postgres::connect(options, postgres_pool_options()).await
}

impl SqlStore {
    /// Opens a PostgreSQL store on a pool of its own, connected to `url`; [`Store::close`] closes
    /// it.
    pub async fn connect_postgres(url: &str, config: SqlStoreConfig, clock: SharedClock) -> Result<SqlStore> {
        let (pool, _version) = connect(url).await?;
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
    schemas: Schemas,
    description: StoreDescription,
}

impl PostgresFactory {
    /// Connects to the server at `url`.
    pub async fn connect(url: &str) -> Result<PostgresFactory> {
        let (pool, version) = connect(url).await?;
        Ok(PostgresFactory {
            pool,
            schemas: Schemas::default(),
            description: description("sql-postgres", "postgres", Some(version)),
        })
    }

    /// The factory's pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PostgresFactory {
    /// What [`StoreFactory::open`] opens, as its own type: for using the store directly
    /// (its `tower-sessions` implementation among others).
    pub async fn open_store(&self, context: OpenContext) -> Result<SqlStore> {
        let mut config = SqlStoreConfig::from_options(&context.options)?;
        let schema = self.schemas.ensure(&self.pool, &context.namespace).await?;
        config.schema_name = Some(schema.name().to_owned());
        SqlStore::with_pool(self.pool.clone(), config, context.clock).await
    }
}

#[async_trait]
impl StoreFactory for PostgresFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.open_store(context).await?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.schemas.drop(&self.pool, namespace).await
    }
}

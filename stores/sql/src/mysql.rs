//! The MySQL/MariaDB dialect and how the harness opens it: a database per namespace, created on
//! first use and dropped afterwards. It drops only databases it created itself, and refuses to
//! work in a database that already existed, since everything in it belongs to someone else.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sessionspec_contract::{
    ErrorKind, Namespace, OpenContext, Result, SharedClock, Store, StoreDescription, StoreError, StoreFactory,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPool, MySqlPoolOptions};

use crate::store::{SqlPool, SqlStore, SqlStoreConfig, sql};
use crate::{Dialect, Ident, backend, description};

/// The pool settings the store uses for pools it creates, and recommends for pools handed to it:
/// sized for concurrent use, a bounded wait for a connection, and no health check before each
/// use (that check cost sqlx 20-28% here; a dead connection is replaced by the store's retry).
pub fn mysql_pool_options() -> MySqlPoolOptions {
    MySqlPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(5)).test_before_acquire(false)
}

/// MySQL's error number for "database exists".
const ER_DB_CREATE_EXISTS: u16 = 1007;

impl SqlStore {
    /// Opens a MySQL/MariaDB store on a pool of its own, connected to `url`; [`Store::close`]
    /// closes it.
    pub async fn connect_mysql(url: &str, config: SqlStoreConfig, clock: SharedClock) -> Result<SqlStore> {
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|e| StoreError::new(ErrorKind::Invalid, "not a usable MySQL URL").with_source(e))?;
        let pool =
            mysql_pool_options().connect_with(options).await.map_err(|e| backend("cannot connect to MySQL", e))?;
        let owned = SqlPool::MySql(pool.clone());
        match SqlStore::open(owned, true, config, clock).await {
            Ok(store) => Ok(store),
            Err(e) => {
                pool.close().await;
                Err(e)
            }
        }
    }
}

/// Opens MySQL/MariaDB stores on one shared pool, each namespace in a database of its own. The
/// pool belongs to the factory: closing a store leaves it open for the others.
pub struct MySqlFactory {
    pool: MySqlPool,
    created: tokio::sync::Mutex<BTreeSet<Namespace>>,
    description: StoreDescription,
}

impl MySqlFactory {
    /// Connects to the server at `url` (its database is only where the connections start).
    pub async fn connect(url: &str) -> Result<MySqlFactory> {
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|e| StoreError::new(ErrorKind::Invalid, "not a usable MySQL URL").with_source(e))?;
        let pool =
            mysql_pool_options().connect_with(options).await.map_err(|e| backend("cannot connect to MySQL", e))?;
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&pool)
            .await
            .map_err(|e| backend("cannot ask MySQL its version", e))?;
        let backend_name = if version.to_ascii_lowercase().contains("mariadb") { "mariadb" } else { "mysql" };
        Ok(MySqlFactory {
            pool,
            created: tokio::sync::Mutex::default(),
            description: description("sql-mysql", backend_name, Some(version)),
        })
    }

    /// The factory's pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }
}

#[async_trait]
impl StoreFactory for MySqlFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let mut config = SqlStoreConfig::from_options(&context.options)?;
        let database = Ident::for_dialect(context.namespace.as_str(), Dialect::MySql)?;
        {
            let mut created = self.created.lock().await;
            if !created.contains(&context.namespace) {
                let statement =
                    sql(format!("CREATE DATABASE {} CHARACTER SET utf8mb4", database.quoted_in(Dialect::MySql)));
                match sqlx::query(statement).execute(&self.pool).await {
                    Ok(_) => {
                        created.insert(context.namespace.clone());
                    }
                    Err(sqlx::Error::Database(e))
                        if e.try_downcast_ref::<MySqlDatabaseError>().map(MySqlDatabaseError::number)
                            == Some(ER_DB_CREATE_EXISTS) =>
                    {
                        return Err(StoreError::new(
                            ErrorKind::Conflict,
                            format!(
                                "database `{}` already exists and was not created by this harness; it is left alone",
                                context.namespace
                            ),
                        ));
                    }
                    Err(e) => return Err(backend(&format!("cannot create database `{}`", context.namespace), e)),
                }
            }
        }
        config.schema_name = Some(database.name().to_owned());
        Ok(Box::new(SqlStore::with_pool(self.pool.clone(), config, context.clock).await?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let mut created = self.created.lock().await;
        if !created.contains(namespace) {
            return Ok(());
        }
        let database = Ident::for_dialect(namespace.as_str(), Dialect::MySql)?;
        sqlx::query(sql(format!("DROP DATABASE {}", database.quoted_in(Dialect::MySql))))
            .execute(&self.pool)
            .await
            .map_err(|e| backend(&format!("cannot drop database `{namespace}`"), e))?;
        created.remove(namespace);
        Ok(())
    }
}

//! The MySQL/MariaDB dialect and how the harness opens it: a database per namespace, created on
//! first use and dropped afterwards. It drops only databases it created itself, and refuses to
//! work in a database that already existed, since everything in it belongs to someone else.

use std::collections::BTreeSet;

use async_trait::async_trait;
use sessionspec_contract::{
    ErrorKind, Namespace, OpenContext, Result, SharedClock, Store, StoreDescription, StoreError, StoreFactory,
};
use sessionspec_server_store::sqlx::{NAMESPACE_RETRIES, parse_url, sql};
use sessionspec_server_store::{ConnectFailure, Endpoint};
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPool, MySqlPoolOptions};

use crate::store::{SqlPool, SqlStore, SqlStoreConfig};
use crate::{Dialect, backend, description};

/// The pool settings the store uses for pools it creates, and recommends for pools handed to it
/// (`sessionspec_server_store::sqlx::pool_options`: 16 connections, a 5 s acquire timeout, no
/// health check before each use).
pub fn mysql_pool_options() -> MySqlPoolOptions {
    sessionspec_server_store::sqlx::pool_options()
}

/// A pool on the server at `url` and the server's version. One connection is made first and asked
/// the version, so that a server that cannot be reached or refuses the login fails within two
/// seconds, naming where and why; the pool connects as it is used.
async fn connect(url: &str) -> Result<(MySqlPool, String)> {
    let options: MySqlConnectOptions = parse_url("MySQL", url)?;
    let endpoint = match options.get_socket() {
        Some(socket) => Endpoint::Socket(socket.clone()),
        None => Endpoint::tcp(options.get_host(), options.get_port()),
    };
    let failure = ConnectFailure::new("MySQL", endpoint);
    sessionspec_server_store::sqlx::connect(&failure, options, mysql_pool_options(), "SELECT VERSION()").await
}

/// MySQL's error number for "database exists".
const ER_DB_CREATE_EXISTS: u16 = 1007;

impl SqlStore {
    /// Opens a MySQL/MariaDB store on a pool of its own, connected to `url`; [`Store::close`]
    /// closes it.
    pub async fn connect_mysql(url: &str, config: SqlStoreConfig, clock: SharedClock) -> Result<SqlStore> {
        let (pool, _version) = connect(url).await?;
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
        let (pool, version) = connect(url).await?;
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

impl MySqlFactory {
    /// What [`StoreFactory::open`] opens, as its own type: for using the store directly
    /// (its `tower-sessions` implementation among others).
    pub async fn open_store(&self, context: OpenContext) -> Result<SqlStore> {
        let mut config = SqlStoreConfig::from_options(&context.options)?;
        let database = Dialect::MySql.ident(context.namespace.as_str())?;
        {
            let mut created = self.created.lock().await;
            if !created.contains(&context.namespace) {
                let create = || {
                    let statement = sql(format!("CREATE DATABASE {} CHARACTER SET utf8mb4", database.backquoted()));
                    sqlx::query(statement).execute(&self.pool)
                };
                // A pooled connection the server (or the network) closed fails on first use.
                let result = sessionspec_server_store::sqlx::retrying(NAMESPACE_RETRIES, create).await;
                match result {
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
        SqlStore::with_pool(self.pool.clone(), config, context.clock).await
    }
}

#[async_trait]
impl StoreFactory for MySqlFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.open_store(context).await?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let mut created = self.created.lock().await;
        if !created.contains(namespace) {
            return Ok(());
        }
        let database = Dialect::MySql.ident(namespace.as_str())?;
        // A pooled connection the server (or the network) closed fails on first use: once more.
        let drop =
            || sqlx::query(sql(format!("DROP DATABASE IF EXISTS {}", database.backquoted()))).execute(&self.pool);
        sessionspec_server_store::sqlx::retrying(NAMESPACE_RETRIES, drop)
            .await
            .map_err(|e| backend(&format!("cannot drop database `{namespace}`"), e))?;
        created.remove(namespace);
        Ok(())
    }
}

//! How the harness opens Postgres stores: a schema per namespace, created on first use and
//! dropped afterwards. It drops only schemas it created itself, and refuses to work in a schema
//! that already existed, since everything in it belongs to someone else.

use std::collections::BTreeSet;

use async_trait::async_trait;
use sessionspec_contract::{
    AutoRemove, Capability, CapabilitySet, ErrorKind, Namespace, OpenContext, Result, Store, StoreDescription,
    StoreError, StoreFactory, StoreOptions,
};
use sqlx::postgres::PgPool;

use crate::{DEFAULT_PRUNE_INTERVAL, DEFAULT_TABLE, Ident, PgStore, PgStoreConfig, Prune, backend, sql};

/// What the Postgres store is and can do.
pub fn description(backend_version: Option<String>) -> StoreDescription {
    use Capability::*;
    StoreDescription {
        name: "postgres".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        language: "rust".into(),
        backend: "postgres".into(),
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
            Events,
            Naming,
            RawInspection,
            SharedNamespace,
        ]
        .into_iter()
        .collect::<CapabilitySet>(),
    }
}

/// Opens Postgres stores on one shared pool, each namespace in a schema of its own. The pool
/// belongs to the factory: closing a store leaves it open for the others.
pub struct PgFactory {
    pool: PgPool,
    created: tokio::sync::Mutex<BTreeSet<Namespace>>,
    description: StoreDescription,
}

impl PgFactory {
    /// Connects to the server at `url`.
    pub async fn connect(url: &str) -> Result<PgFactory> {
        let pool = crate::pool_options()
            .connect_with(crate::connect_options(url)?)
            .await
            .map_err(|e| backend("cannot connect to PostgreSQL", e))?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&pool)
            .await
            .map_err(|e| backend("cannot ask PostgreSQL its version", e))?;
        // `15.20 (Debian 15.20-0+deb12u1)`: the number is the version; the rest is packaging.
        let version = version.split_whitespace().next().unwrap_or_default().to_owned();
        Ok(PgFactory { pool, created: tokio::sync::Mutex::default(), description: description(Some(version)) })
    }

    /// The factory's pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the namespace's schema the first time it is asked for.
    async fn ensure_schema(&self, namespace: &Namespace) -> Result<Ident> {
        let schema = Ident::new(namespace.as_str())?;
        let mut created = self.created.lock().await;
        if !created.contains(namespace) {
            let statement = sql(format!("CREATE SCHEMA {}", schema.quoted()));
            match sqlx::query(statement).execute(&self.pool).await {
                Ok(_) => {
                    created.insert(namespace.clone());
                }
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P06") => {
                    return Err(StoreError::new(
                        ErrorKind::Conflict,
                        format!(
                            "schema `{namespace}` already exists and was not created by this harness; it is left alone"
                        ),
                    ));
                }
                Err(e) => return Err(backend(&format!("cannot create schema `{namespace}`"), e)),
            }
        }
        Ok(schema)
    }
}

/// The store configuration for a scenario's options.
fn config(namespace: &Ident, options: &StoreOptions) -> Result<PgStoreConfig> {
    for unsupported in [
        Capability::Encryption,
        Capability::TransformId,
        Capability::AutoRemoveNative,
        Capability::TouchAfter,
        Capability::Timestamps,
        Capability::Serializer,
    ] {
        if options.required_capabilities().contains(&unsupported) {
            return Err(StoreError::new(
                ErrorKind::Unsupported,
                format!("the Postgres store does not support `{unsupported}`"),
            ));
        }
    }
    // An explicit interval sweep must remove a row within the interval (AR-4), so it runs
    // exactly on time; only the default prune gets connect-pg-simple's jitter.
    let prune = match (options.auto_remove, options.auto_remove_interval) {
        (Some(AutoRemove::Disabled), _) => None,
        (Some(AutoRemove::Interval), interval) | (None, interval @ Some(_)) => {
            Some(Prune { interval: interval.unwrap_or(DEFAULT_PRUNE_INTERVAL), randomized: false })
        }
        _ => Some(Prune::default()),
    };
    let mut config = PgStoreConfig {
        schema_name: Some(namespace.name().to_owned()),
        table_name: options.name.clone().unwrap_or_else(|| DEFAULT_TABLE.to_owned()),
        create_table_if_missing: true,
        disable_touch: options.disable_touch,
        prune,
        ..PgStoreConfig::default()
    };
    if let Some(ttl) = options.ttl {
        config.ttl = ttl;
    }
    Ok(config)
}

#[async_trait]
impl StoreFactory for PgFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let schema = self.ensure_schema(&context.namespace).await?;
        let mut config = config(&schema, &context.options)?;
        config.events = context.events;
        Ok(Box::new(PgStore::with_pool(self.pool.clone(), config, context.clock).await?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let mut created = self.created.lock().await;
        if !created.contains(namespace) {
            return Ok(());
        }
        let schema = Ident::new(namespace.as_str())?;
        sqlx::query(sql(format!("DROP SCHEMA {} CASCADE", schema.quoted())))
            .execute(&self.pool)
            .await
            .map_err(|e| backend(&format!("cannot drop schema `{namespace}`"), e))?;
        created.remove(namespace);
        Ok(())
    }
}

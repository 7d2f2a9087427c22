//! How the harness opens Postgres stores: a schema per namespace, created on first use and
//! dropped afterwards. It drops only schemas it created itself, and refuses to work in a schema
//! that already existed, since everything in it belongs to someone else.

use async_trait::async_trait;
use sessionspec_contract::{
    AutoRemove, Capability, CapabilitySet, Namespace, OpenContext, Result, Store, StoreDescription, StoreFactory,
    StoreOptions,
};
use sessionspec_server_store::OPERATIONS;
use sessionspec_server_store::postgres::Schemas;
use sqlx::postgres::PgPool;

use crate::{DEFAULT_PRUNE_INTERVAL, DEFAULT_TABLE, Ident, PgStore, PgStoreConfig, Prune};

/// What the Postgres store can do besides [`OPERATIONS`]: the record-store operations, the
/// options it honours (any other is refused with `unsupported`), expiry on the store's clock,
/// and events.
const CAPABILITIES: [Capability; 9] = {
    use Capability::*;
    [Create, DeleteExpired, VirtualClock, Events, Ttl, DisableTouch, AutoRemoveInterval, AutoRemoveDisabled, Naming]
};

fn capabilities() -> CapabilitySet {
    OPERATIONS.into_iter().chain(CAPABILITIES).collect()
}

/// What the Postgres store is and can do; needs no server.
pub fn description(backend_version: Option<String>) -> StoreDescription {
    sessionspec_server_store::description(
        "postgres",
        env!("CARGO_PKG_VERSION"),
        "postgres",
        backend_version,
        capabilities(),
    )
}

/// Opens Postgres stores on one shared pool, each namespace in a schema of its own. The pool
/// belongs to the factory: closing a store leaves it open for the others.
pub struct PgFactory {
    pool: PgPool,
    schemas: Schemas,
    description: StoreDescription,
}

impl PgFactory {
    /// Connects to the server at `url`. A server that cannot be reached or refuses the login
    /// fails within two seconds, with a message naming where and why.
    pub async fn connect(url: &str) -> Result<PgFactory> {
        let options = crate::connect_options(url)?;
        let (pool, version) = sessionspec_server_store::postgres::connect(options, crate::pool_options()).await?;
        Ok(PgFactory { pool, schemas: Schemas::default(), description: description(Some(version)) })
    }

    /// The factory's pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The store configuration for a scenario's options.
fn config(namespace: &Ident, options: &StoreOptions) -> Result<PgStoreConfig> {
    options.check_supported(&capabilities(), "Postgres")?;
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

impl PgFactory {
    /// What [`StoreFactory::open`] opens, as its own type: for using the store directly
    /// (its `tower-sessions` implementation among others).
    pub async fn open_store(&self, context: OpenContext) -> Result<PgStore> {
        let schema = self.schemas.ensure(&self.pool, &context.namespace).await?;
        let mut config = config(&schema, &context.options)?;
        config.events = context.events;
        PgStore::with_pool(self.pool.clone(), config, context.clock).await
    }
}

#[async_trait]
impl StoreFactory for PgFactory {
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

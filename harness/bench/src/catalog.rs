//! Which workloads a store name stands for: the store itself, opened by its factory, and the
//! bare-driver loops it is compared with, chosen by how the store catalog (sessionspec-targets)
//! opens it. A store without bare loops is measured alone.

use std::sync::Arc;

use sessionspec_contract::{StoreDescription, StoreFactory};
use sessionspec_targets::{Backends, Opens, Resolved, TargetError};

use crate::{Goal, MongoBare, RedisBare, RedisConnection, SqlBare, SqlFlavor, StoreWorkload, Workload};

/// Workloads ready to run, and what must live as long as they do.
pub struct Catalog {
    /// The workloads, stores first within each family.
    pub workloads: Vec<Box<dyn Workload>>,
    /// Targets resolved by `sessionspec-targets` (their temporary directories).
    _resolved: Vec<Resolved>,
}

/// Why the workloads for a store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// Unknown store, or its backend is missing.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A bare loop could not be set up.
    #[error("cannot set up the bare loops for `{store}`: {reason}")]
    Baseline {
        /// The store.
        store: String,
        /// Why.
        reason: String,
    },
}

/// The workloads for the named stores, in order.
pub async fn workloads(names: &[String], backends: &Backends) -> Result<Catalog, CatalogError> {
    let mut workloads: Vec<Box<dyn Workload>> = Vec::new();
    let mut resolved = Vec::new();
    for name in names {
        match sessionspec_targets::StoreKind::find(name).map(|k| k.opens) {
            Some(Opens::Redis) => workloads.extend(redis(backends).await?),
            Some(Opens::Mongo) => workloads.extend(mongo(backends).await?),
            Some(opens @ (Opens::Postgres | Opens::SqlPostgres | Opens::SqlMysql)) => {
                let r = sessionspec_targets::resolve(std::slice::from_ref(name), backends).await?;
                for target in &r.targets {
                    workloads.push(Box::new(StoreWorkload::new(&target.id, target.factory.clone())));
                    workloads.push(Box::new(sql_bare(name, opens, backends, target.factory.describe())?));
                }
                resolved.push(r);
            }
            _ => {
                let r = sessionspec_targets::resolve(std::slice::from_ref(name), backends).await?;
                for target in &r.targets {
                    workloads.push(Box::new(StoreWorkload::new(&target.id, target.factory.clone())));
                }
                resolved.push(r);
            }
        }
    }
    Ok(Catalog { workloads, _resolved: resolved })
}

/// The bare `sqlx` loop a SQL store is compared with: same server, same layout, same pool
/// settings.
fn sql_bare(name: &str, opens: Opens, backends: &Backends, store: &StoreDescription) -> Result<SqlBare, CatalogError> {
    let (flavor, url) = match opens {
        Opens::Postgres => (SqlFlavor::PgSimple, &backends.postgres_url),
        Opens::SqlPostgres => (SqlFlavor::KnexPostgres, &backends.postgres_url),
        _ => (SqlFlavor::KnexMySql, &backends.mysql_url),
    };
    let url = url
        .as_deref()
        .ok_or_else(|| CatalogError::Baseline { store: name.to_owned(), reason: "no server URL".into() })?;
    let server = match &store.backend_version {
        Some(v) => format!("{} {v}", store.backend),
        None => store.backend.clone(),
    };
    Ok(SqlBare::new(flavor, name, url, server))
}

/// The Redis store and four bare `redis` crate loops. The store is opened without an event
/// sink, as by an application that does not listen: then `set` is a plain `SET`.
async fn redis(backends: &Backends) -> Result<Vec<Box<dyn Workload>>, CatalogError> {
    let url = Backends::require(&backends.redis_url, "redis", "--redis-url", "SESSIONSPEC_REDIS_URL")?;
    let unavailable = |reason: String| TargetError::Unavailable { store: "redis".into(), reason };
    let factory = sessionspec_store_redis::RedisFactory::connect(url)
        .await
        .map_err(|e| unavailable(e.chain()))?
        .with_events(false);
    let version = factory.describe().backend_version.clone();
    let bare = |connection, goals| {
        RedisBare::new(url, connection, goals, version.clone())
            .map(|b| Box::new(b) as Box<dyn Workload>)
            .map_err(|e| CatalogError::Baseline { store: "redis".into(), reason: format!("{e:#}") })
    };
    // The goals: 0.9 of the bare loop, and at 32 clients, where a loop on one shared
    // multiplexed connection pipelines every client's commands, 0.8 of such a loop.
    let pipelined = Goal { ratio: 0.8, clients: Some(32) };
    Ok(vec![
        Box::new(StoreWorkload::new("redis", Arc::new(factory))),
        // The redis crate's own reconnecting connection, what an application using the crate
        // directly runs. It is a multiplexed connection inside, so at 32 clients it pipelines.
        bare(RedisConnection::Manager, vec![Goal { ratio: 0.9, clients: Some(1) }, pipelined])?,
        // The raw driver's best at 32 clients, pipelining on one connection: the store's
        // connection kind, without the store's reconnection and timeouts.
        bare(RedisConnection::Multiplexed, vec![pipelined])?,
        bare(RedisConnection::PerClient, Vec::new())?,
        // The multiplexed loop plus the JSON work any application does (no goal): the part of
        // the store's cost that is not the store's own.
        bare(RedisConnection::MultiplexedJson, Vec::new())?,
    ])
}

/// The Mongo store and the bare `mongodb` crate loop doing its upsert and read on the same
/// server. The store should cost at most a tenth of the loop's throughput.
async fn mongo(backends: &Backends) -> Result<Vec<Box<dyn Workload>>, CatalogError> {
    let url = Backends::require(&backends.mongo_url, "mongo", "--mongo-url", "SESSIONSPEC_MONGO_URL")?;
    let factory = sessionspec_store_mongo::MongoFactory::connect(url)
        .await
        .map_err(|e| TargetError::Unavailable { store: "mongo".into(), reason: e.chain() })?;
    let version = factory.describe().backend_version.clone();
    let bare = MongoBare::new(url, vec![Goal { ratio: 0.9, clients: None }], version)
        .await
        .map_err(|e| CatalogError::Baseline { store: "mongo".into(), reason: format!("{e:#}") })?;
    Ok(vec![Box::new(StoreWorkload::new("mongo", Arc::new(factory))), Box::new(bare)])
}

//! This repository's reference stores run as tower-sessions stores: each store's `tower-sessions`
//! implementation (`SessionStore` + `ExpiredDeletion`) under the same session-to-record mapping
//! as the stores of crates.io (`sessionspec-tower-adapter`), in process. Never a shortcut around
//! that implementation: every operation goes through the tower-sessions traits.

use std::sync::Arc;

use async_trait::async_trait;
use sessionspec_contract::{Namespace, OpenContext, Result, StoreFactory};
use sessionspec_tower_adapter::{Backend, RecordStore, TowerFactory, v15};

/// A reference factory whose stores are tower-sessions stores.
#[async_trait]
pub(crate) trait OpensRecords: StoreFactory {
    async fn records(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>>;
}

macro_rules! opens_records {
    ($($factory:ty),*) => {$(
        #[async_trait]
        impl OpensRecords for $factory {
            async fn records(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>> {
                let store = self.open_store(OpenContext::plain(namespace.clone())).await?;
                Ok(Arc::new(v15::Deleting(store)))
            }
        }
    )*};
}

opens_records!(
    sessionspec_store_redis::RedisFactory,
    sessionspec_store_postgres::PgFactory,
    sessionspec_store_sql::SqliteFactory,
    sessionspec_store_sql::PostgresFactory,
    sessionspec_store_sql::MySqlFactory,
    sessionspec_store_mongo::MongoFactory
);

/// Each namespace is the reference factory's own (a key prefix, schema, database or file),
/// removed by the factory.
struct Reference<F>(F);

#[async_trait]
impl<F: OpensRecords> Backend for Reference<F> {
    async fn open(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>> {
        self.0.records(namespace).await
    }
    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.0.drop_namespace(namespace).await
    }
}

/// `factory`, a reference store's of crate `krate`, as a tower-sessions store.
pub(crate) async fn reference<F: OpensRecords + 'static>(krate: &str, factory: F) -> Result<TowerFactory> {
    let description = factory.describe().clone();
    let version = format!("{} (feature tower-sessions, tower-sessions-core {})", description.version, v15::VERSION);
    TowerFactory::new(krate, &version, &description.backend, Box::new(Reference(factory))).await
}

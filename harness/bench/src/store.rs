//! Any store, driven through the contract's `Store` trait: the factory opens one instance per
//! run in a fresh namespace, every client shares it (as an application's request handlers
//! share one store), and the namespace is dropped afterwards.

use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use sessionspec_contract::{Namespace, OpenContext, Session, Store, StoreFactory};

use crate::{Pairs, Role, RunContext, Workload};

/// A store opened by its factory.
pub struct StoreWorkload {
    name: String,
    family: String,
    factory: Arc<dyn StoreFactory>,
}

impl StoreWorkload {
    /// The store `factory` opens, in the comparison family `family` (usually its name).
    pub fn new(family: &str, factory: Arc<dyn StoreFactory>) -> StoreWorkload {
        StoreWorkload { name: family.to_owned(), family: family.to_owned(), factory }
    }
}

#[async_trait]
impl Workload for StoreWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    fn family(&self) -> &str {
        &self.family
    }

    fn role(&self) -> Role {
        Role::Store
    }

    fn detail(&self) -> String {
        let d = self.factory.describe();
        let backend = match &d.backend_version {
            Some(v) => format!("{} {v}", d.backend),
            None => d.backend.clone(),
        };
        format!(
            "store `{}` {} through the Store trait, one instance shared by all clients, on {backend}",
            d.name, d.version
        )
    }

    async fn start(&self, run: &RunContext) -> anyhow::Result<Arc<dyn Pairs>> {
        let namespace = Namespace::new(run.namespace.clone()).map_err(|e| anyhow::anyhow!("{}", e.chain()))?;
        let store = self
            .factory
            .open(OpenContext::plain(namespace.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.chain()))?;
        Ok(Arc::new(StorePairs {
            store,
            factory: self.factory.clone(),
            namespace,
            session: run.payload.session.clone(),
        }))
    }
}

struct StorePairs {
    store: Box<dyn Store>,
    factory: Arc<dyn StoreFactory>,
    namespace: Namespace,
    session: Session,
}

#[async_trait]
impl Pairs for StorePairs {
    async fn pair(&self, _client: usize, id: &str) -> anyhow::Result<()> {
        self.store.set(id, &self.session).await.map_err(|e| anyhow::anyhow!("set: {}", e.chain()))?;
        match self.store.get(id).await.map_err(|e| anyhow::anyhow!("get: {}", e.chain()))? {
            Some(_) => Ok(()),
            None => bail!("get `{id}` found nothing right after set"),
        }
    }

    async fn finish(&self) -> anyhow::Result<()> {
        self.store.close().await.map_err(|e| anyhow::anyhow!("close: {}", e.chain()))?;
        self.factory
            .drop_namespace(&self.namespace)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.chain()))
            .with_context(|| format!("dropping namespace `{}`", self.namespace))
    }
}

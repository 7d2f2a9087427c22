//! Stores that mishandle an outage of their server. Each [`OutageDefect`] wraps any
//! server-backed store's factory and changes only what happens when an operation fails, so the
//! resilience scenarios (scenarios/resilience/) must catch it through a fault proxy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sessionspec_contract::{
    ErrorKind, Listed, Namespace, OpenContext, RawAccess, Result, Session, Store, StoreDescription, StoreError,
    StoreFactory,
};

/// One way to mishandle an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageDefect {
    /// A failed operation is tried again, without end, until the server answers (breaks RES-1).
    RetriesForever,
    /// A failed write reports success (breaks RES-2 and ERROR-1).
    SwallowsErrors,
    /// After its first backend error the store fails every operation, even once the server is
    /// back (breaks RES-3, as connect-session-knex #49).
    StaysBroken,
}

impl OutageDefect {
    /// Every outage defect.
    pub const ALL: [OutageDefect; 3] =
        [OutageDefect::RetriesForever, OutageDefect::SwallowsErrors, OutageDefect::StaysBroken];

    /// Its kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            OutageDefect::RetriesForever => "retries-forever",
            OutageDefect::SwallowsErrors => "swallows-errors",
            OutageDefect::StaysBroken => "stays-broken",
        }
    }

    /// `inner` with this defect.
    pub fn wrap(self, inner: Arc<dyn StoreFactory>) -> Arc<dyn StoreFactory> {
        let mut description = inner.describe().clone();
        description.name = format!("broken-{}", self.name());
        Arc::new(OutageFactory { defect: self, inner, description })
    }
}

struct OutageFactory {
    defect: OutageDefect,
    inner: Arc<dyn StoreFactory>,
    description: StoreDescription,
}

#[async_trait]
impl StoreFactory for OutageFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let inner = self.inner.open(context).await?;
        Ok(Box::new(OutageStore { defect: self.defect, inner, broken: AtomicBool::new(false) }))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }
}

struct OutageStore {
    defect: OutageDefect,
    inner: Box<dyn Store>,
    broken: AtomicBool,
}

impl OutageStore {
    /// Runs `op` with the defect around it.
    async fn with<T, F, Fut>(&self, write: bool, op: F) -> Result<T>
    where
        T: Default,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::new(ErrorKind::Backend, "the store failed earlier and never recovers"));
        }
        loop {
            let result = op().await;
            let Err(e) = &result else { return result };
            let outage = matches!(e.kind(), ErrorKind::Backend | ErrorKind::Timeout);
            match self.defect {
                OutageDefect::RetriesForever if outage => tokio::time::sleep(Duration::from_millis(50)).await,
                OutageDefect::SwallowsErrors if outage && write => return Ok(T::default()),
                OutageDefect::StaysBroken if outage => {
                    self.broken.store(true, Ordering::SeqCst);
                    return result;
                }
                _ => return result,
            }
        }
    }
}

#[async_trait]
impl Store for OutageStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        self.with(false, || self.inner.get(sid)).await
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        self.with(true, || self.inner.set(sid, session)).await
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.with(true, || self.inner.destroy(sid)).await
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        self.with(true, || self.inner.touch(sid, session)).await
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        self.with(false, || self.inner.all()).await
    }

    async fn length(&self) -> Result<u64> {
        self.with(false, || self.inner.length()).await
    }

    async fn clear(&self) -> Result<()> {
        self.with(true, || self.inner.clear()).await
    }

    async fn ids(&self) -> Result<Vec<String>> {
        self.with(false, || self.inner.ids()).await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        self.inner.raw()
    }
}

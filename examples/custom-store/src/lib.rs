//! A small session store of its own: sessions in a map, expiry decided by the clock the
//! application (or the test harness) gives it. It implements the sessionspec contract and
//! declares only what it does, so the suite holds it to exactly that.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sessionspec_contract::{
    Capability, CapabilitySet, ErrorKind, Listed, Namespace, OpenContext, Result, Session, SharedClock, Store,
    StoreDescription, StoreError, StoreFactory,
};

/// How long a session whose cookie has no `expires` lives, unless the `ttl` option says.
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);

type Sessions = Arc<Mutex<BTreeMap<String, (Session, DateTime<Utc>)>>>;

/// Opens map stores; instances opened on one namespace share its sessions.
pub struct MapFactory {
    description: StoreDescription,
    namespaces: Mutex<HashMap<Namespace, Sessions>>,
}

impl Default for MapFactory {
    fn default() -> Self {
        use Capability::*;
        MapFactory {
            description: StoreDescription {
                name: "custom-store".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                language: "rust".into(),
                backend: "memory".into(),
                backend_version: None,
                capabilities: [Touch, All, Length, Clear, Ids, VirtualClock, Ttl, SharedNamespace]
                    .into_iter()
                    .collect::<CapabilitySet>(),
            },
            namespaces: Mutex::default(),
        }
    }
}

#[async_trait]
impl StoreFactory for MapFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        // Refuse what we cannot honour instead of ignoring it.
        let missing = self.description.capabilities.missing(&context.options.required_capabilities());
        if let Some(capability) = missing.first() {
            return Err(StoreError::new(ErrorKind::Unsupported, format!("option needing `{capability}`")));
        }
        let sessions = self.namespaces.lock().unwrap().entry(context.namespace).or_default().clone();
        let ttl = context.options.ttl.unwrap_or(DEFAULT_TTL);
        Ok(Box::new(MapStore { sessions, clock: context.clock, ttl }))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.namespaces.lock().unwrap().remove(namespace);
        Ok(())
    }
}

/// One store instance.
pub struct MapStore {
    sessions: Sessions,
    clock: SharedClock,
    ttl: Duration,
}

impl MapStore {
    fn live(&self, expires: &DateTime<Utc>) -> bool {
        // The planted bug of the `broken` feature: expired sessions stay visible to `get`.
        cfg!(feature = "broken") || *expires > self.clock.now()
    }
}

#[async_trait]
impl Store for MapStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        let sessions = self.sessions.lock().unwrap();
        Ok(sessions.get(sid).filter(|(_, expires)| self.live(expires)).map(|(s, _)| s.clone()))
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        if session.cookie().is_none() {
            return Err(StoreError::new(ErrorKind::Invalid, "a session needs a cookie object"));
        }
        let expires = session.expiry(self.clock.now(), self.ttl)?;
        self.sessions.lock().unwrap().insert(sid.to_owned(), (session.clone(), expires));
        Ok(())
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.sessions.lock().unwrap().remove(sid);
        Ok(())
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        let expires = session.expiry(self.clock.now(), self.ttl)?;
        let now = self.clock.now();
        // The stored session takes the touched cookie, so a later set made from it keeps the
        // new expiry; its data stays as stored.
        if let Some((stored, at)) = self.sessions.lock().unwrap().get_mut(sid).filter(|(_, e)| *e > now) {
            stored.replace_cookie(session);
            *at = expires;
        }
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        let now = self.clock.now();
        let sessions = self.sessions.lock().unwrap();
        Ok(sessions
            .iter()
            .filter(|(_, (_, expires))| *expires > now)
            .map(|(sid, (session, _))| Listed { sid: Some(sid.clone()), session: session.clone() })
            .collect())
    }

    async fn length(&self) -> Result<u64> {
        Ok(self.all().await?.len() as u64)
    }

    async fn clear(&self) -> Result<()> {
        self.sessions.lock().unwrap().clear();
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>> {
        Ok(self.all().await?.into_iter().filter_map(|l| l.sid).collect())
    }
}

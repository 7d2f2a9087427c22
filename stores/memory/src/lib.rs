//! sessionspec's reference in-memory session store.
//!
//! It implements the spec and nothing more, so it is the place to read what the spec means.
//! It must never hold a lock across an await, and never let a sweep outlive `close`.
#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::{
    AutoRemove, Capability, CapabilitySet, ErrorKind, EventKind, EventSink, Listed, Namespace, OpenContext, RawAccess,
    RawRecord, Result, Serializer, Session, SharedClock, Store, StoreDescription, StoreError, StoreEvent, StoreFactory,
    StoreOptions, Tamper, format_timestamp,
};

/// The fallback time-to-live for a cookie without `expires`, when `ttl` is not set.
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);
/// How often expired sessions are swept, when `auto-remove-interval` is not set.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// What is stored for one session.
#[derive(Debug, Clone)]
struct Entry {
    /// The session as stored: JSON text (`serializer: json`, the default) or an object.
    payload: Value,
    expires: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The last write (set, or a touch that wrote), for `touch-after`.
    last_modified: DateTime<Utc>,
}

type Sessions = Arc<Mutex<BTreeMap<String, Entry>>>;

/// Opens memory stores. Instances opened on the same namespace and name share their sessions.
#[derive(Default)]
pub struct MemoryFactory {
    spaces: Mutex<HashMap<(Namespace, String), Sessions>>,
    description: Option<StoreDescription>,
}

impl MemoryFactory {
    /// A factory with no sessions yet.
    pub fn new() -> Self {
        MemoryFactory { spaces: Mutex::default(), description: Some(description()) }
    }
}

/// What the memory store is and can do.
pub fn description() -> StoreDescription {
    use Capability::*;
    StoreDescription {
        name: "memory".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        language: "rust".into(),
        backend: "memory".into(),
        backend_version: None,
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
            TouchAfter,
            AutoRemoveInterval,
            AutoRemoveDisabled,
            Timestamps,
            Serializer,
            Events,
            Naming,
            RawInspection,
            SharedNamespace,
        ]
        .into_iter()
        .collect::<CapabilitySet>(),
    }
}

#[async_trait]
impl StoreFactory for MemoryFactory {
    fn describe(&self) -> &StoreDescription {
        self.description.as_ref().expect("built by MemoryFactory::new")
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let name = context.options.name.clone().unwrap_or_else(|| "sessions".into());
        let sessions = self.spaces.lock().expect("lock").entry((context.namespace.clone(), name)).or_default().clone();
        Ok(Box::new(MemoryStore::with_sessions(sessions, context.options, context.clock, context.events)?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.spaces.lock().expect("lock").retain(|(ns, _), _| ns != namespace);
        Ok(())
    }
}

/// An in-memory session store.
pub struct MemoryStore {
    sessions: Sessions,
    options: StoreOptions,
    clock: SharedClock,
    events: EventSink,
    closed: Arc<Mutex<bool>>,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl MemoryStore {
    /// A store of its own.
    pub fn new(options: StoreOptions, clock: SharedClock, events: EventSink) -> Result<Self> {
        MemoryStore::with_sessions(Sessions::default(), options, clock, events)
    }

    fn with_sessions(sessions: Sessions, options: StoreOptions, clock: SharedClock, events: EventSink) -> Result<Self> {
        options.check_supported(&description().capabilities, "memory")?;
        let store = MemoryStore { sessions, options, clock, events, closed: Arc::default(), sweeper: Mutex::default() };
        if store.options.auto_remove != Some(AutoRemove::Disabled) {
            store.start_sweeper();
        }
        Ok(store)
    }

    /// Sweeps expired sessions every interval on the store's clock. Needs a tokio runtime.
    fn start_sweeper(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let interval = self.options.auto_remove_interval.unwrap_or(DEFAULT_SWEEP_INTERVAL);
        let sessions = Arc::downgrade(&self.sessions);
        let clock = self.clock.clone();
        let closed = self.closed.clone();
        // The first wait is armed now, not when the task first runs: a clock advanced in
        // between must still wake it.
        let mut next = clock.sleep(interval);
        let handle = runtime.spawn(async move {
            loop {
                next.await;
                next = clock.sleep(interval);
                if *closed.lock().expect("lock") {
                    return;
                }
                // The store's sessions outlive a sweeper only while some instance holds them.
                let Some(sessions) = sessions.upgrade() else { return };
                let now = clock.now();
                sessions.lock().expect("lock").retain(|_, e| e.expires > now);
            }
        });
        *self.sweeper.lock().expect("lock") = Some(handle);
    }

    fn ttl(&self) -> Duration {
        self.options.ttl.unwrap_or(DEFAULT_TTL)
    }

    fn check_open(&self, operation: &str) -> Result<()> {
        if *self.closed.lock().expect("lock") { Err(StoreError::closed(operation)) } else { Ok(()) }
    }

    fn emit(&self, kind: EventKind, sid: &str) {
        self.events.emit(StoreEvent::new(kind, sid));
    }

    fn encode(&self, session: &Session) -> Value {
        match self.options.serializer {
            Some(Serializer::Document) => session.clone().into_value(),
            _ => Value::String(session.to_json()),
        }
    }

    fn decode(payload: &Value) -> Result<Session> {
        match payload {
            Value::String(text) => Session::from_json(text),
            Value::Object(_) => Session::from_value(payload.clone()),
            _ => Err(StoreError::new(ErrorKind::Serialize, "stored payload is neither JSON text nor an object")),
        }
    }

    /// The live (unexpired) entries, decoded.
    fn live(&self) -> Result<Vec<(String, Session)>> {
        let now = self.clock.now();
        let sessions = self.sessions.lock().expect("lock");
        sessions
            .iter()
            .filter(|(_, e)| e.expires > now)
            .map(|(k, e)| Ok((k.clone(), MemoryStore::decode(&e.payload)?)))
            .collect()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        self.check_open("get")?;
        let now = self.clock.now();
        let entry = self.sessions.lock().expect("lock").get(sid).cloned();
        match entry {
            Some(e) if e.expires > now => MemoryStore::decode(&e.payload).map(Some),
            _ => Ok(None),
        }
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        self.check_open("set")?;
        session.require_cookie()?;
        let now = self.clock.now();
        let expires = session.expiry(now, self.ttl())?;
        let payload = self.encode(session);
        let existed = {
            let mut sessions = self.sessions.lock().expect("lock");
            let created_at = sessions.get(sid).map(|e| e.created_at).unwrap_or(now);
            let entry = Entry { payload, expires, created_at, updated_at: now, last_modified: now };
            sessions.insert(sid.to_owned(), entry).is_some()
        };
        self.emit(if existed { EventKind::Update } else { EventKind::Create }, sid);
        self.emit(EventKind::Set, sid);
        Ok(())
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.check_open("destroy")?;
        self.sessions.lock().expect("lock").remove(sid);
        self.emit(EventKind::Destroy, sid);
        Ok(())
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        self.check_open("touch")?;
        if self.options.disable_touch {
            return Ok(());
        }
        let now = self.clock.now();
        let expires = session.expiry(now, self.ttl())?;
        let wrote = {
            let mut sessions = self.sessions.lock().expect("lock");
            match sessions.get_mut(sid) {
                Some(entry) if entry.expires > now => {
                    let recent = self.options.touch_after.is_some_and(|window| {
                        now - entry.last_modified < TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX)
                    });
                    if recent {
                        false
                    } else {
                        let mut stored = MemoryStore::decode(&entry.payload)?;
                        stored.replace_cookie(session);
                        entry.payload = self.encode(&stored);
                        entry.expires = expires;
                        entry.updated_at = now;
                        entry.last_modified = now;
                        true
                    }
                }
                _ => false,
            }
        };
        if wrote {
            self.emit(EventKind::Touch, sid);
        }
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        self.check_open("all")?;
        Ok(self.live()?.into_iter().map(|(sid, session)| Listed { sid: Some(sid), session }).collect())
    }

    async fn length(&self) -> Result<u64> {
        self.check_open("length")?;
        let now = self.clock.now();
        Ok(self.sessions.lock().expect("lock").values().filter(|e| e.expires > now).count() as u64)
    }

    async fn clear(&self) -> Result<()> {
        self.check_open("clear")?;
        self.sessions.lock().expect("lock").clear();
        Ok(())
    }

    async fn ids(&self) -> Result<Vec<String>> {
        self.check_open("ids")?;
        let now = self.clock.now();
        Ok(self
            .sessions
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, e)| e.expires > now)
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn close(&self) -> Result<()> {
        *self.closed.lock().expect("lock") = true;
        if let Some(sweeper) = self.sweeper.lock().expect("lock").take() {
            sweeper.abort();
        }
        Ok(())
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        Some(self)
    }
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        if let Some(sweeper) = self.sweeper.get_mut().ok().and_then(Option::take) {
            sweeper.abort();
        }
    }
}

#[async_trait]
impl RawAccess for MemoryStore {
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>> {
        self.check_open("raw")?;
        Ok(self.sessions.lock().expect("lock").get(sid).map(|e| {
            let mut fields = Map::new();
            if self.options.timestamps {
                fields.insert("createdAt".into(), Value::String(format_timestamp(e.created_at)));
                fields.insert("updatedAt".into(), Value::String(format_timestamp(e.updated_at)));
            }
            fields.insert("lastModified".into(), Value::String(format_timestamp(e.last_modified)));
            RawRecord { key: sid.to_owned(), payload: e.payload.clone(), expires: Some(e.expires), fields }
        }))
    }

    async fn count(&self) -> Result<u64> {
        self.check_open("raw-count")?;
        Ok(self.sessions.lock().expect("lock").len() as u64)
    }

    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()> {
        let mut sessions = self.sessions.lock().expect("lock");
        let entry = sessions
            .get_mut(sid)
            .ok_or_else(|| StoreError::new(ErrorKind::NotFound, format!("no record for `{sid}`")))?;
        entry.payload = match (tamper, &entry.payload) {
            (Tamper::FlipByte, Value::String(text)) => Value::String(tamper.damage(text)),
            _ => Value::String(Tamper::GARBAGE.into()),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sessionspec_contract::{Clock, VirtualClock};

    use super::*;

    fn session(value: Value) -> Session {
        Session::from_value(value).unwrap()
    }

    #[tokio::test]
    async fn expired_sessions_are_hidden_and_swept() {
        let clock = VirtualClock::starting_now();
        let options = StoreOptions { auto_remove_interval: Some(Duration::from_secs(60)), ..StoreOptions::default() };
        let store = MemoryStore::new(options, clock.shared(), EventSink::discard()).unwrap();
        let expires = format_timestamp(clock.now() + TimeDelta::seconds(10));
        store.set("a", &session(json!({"cookie": {"expires": expires}, "n": 1}))).await.unwrap();
        assert!(store.get("a").await.unwrap().is_some());
        clock.advance(Duration::from_secs(10));
        assert_eq!(store.get("a").await.unwrap(), None, "expired at the boundary");
        assert_eq!(store.count().await.unwrap(), 1, "not swept yet");
        clock.advance(Duration::from_secs(60));
        for _ in 0..100 {
            if store.count().await.unwrap() == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the sweep did not remove the expired session");
    }

    #[tokio::test]
    async fn closed_store_refuses_operations() {
        let store = MemoryStore::new(
            StoreOptions::default(),
            sessionspec_contract::SystemClock::shared(),
            EventSink::discard(),
        )
        .unwrap();
        store.close().await.unwrap();
        store.close().await.unwrap();
        assert_eq!(store.get("a").await.unwrap_err().kind(), ErrorKind::Closed);
    }
}

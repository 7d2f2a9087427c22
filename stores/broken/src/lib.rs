//! Deliberately broken stores. Each [`Defect`] wraps the reference memory store and breaks one
//! requirement of the spec, so tests can show the suite catches it. Nothing here is for real
//! use; every defect must stay small and obvious.
#![warn(missing_docs)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;
use sessionspec_contract::{
    Capability, ErrorKind, EventKind, EventSink, Listed, Namespace, OpenContext, RawAccess, Result, Session,
    SharedClock, Store, StoreDescription, StoreError, StoreFactory,
};
use sessionspec_store_memory::MemoryFactory;

/// One way to break a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// `get` returns a session whose expiry has passed while its record is still stored.
    GetReturnsExpired,
    /// `destroy` of an id with no session fails with `not-found`.
    DestroyMissingErrors,
    /// `touch` succeeds without moving the expiry.
    TouchDoesNothing,
    /// `touch` of an expired or missing session writes it back (an upsert).
    TouchRevives,
    /// `length` counts expired records too.
    LengthCountsExpired,
    /// `all` lists expired records too.
    AllIncludesExpired,
    /// `set` ignores `cookie.expires` and always applies the fallback ttl.
    SetIgnoresExpires,
    /// `set` merges the new session into the stored one, reading and writing separately (the
    /// connect-redis 6.1.0 merge feature): concurrent sets mix, removed members survive.
    SetMerges,
    /// The `touch-after` window is ignored: every touch writes.
    TouchAfterIgnored,
    /// `set` of a new session emits `update` instead of `create`.
    EventsCreateAsUpdate,
    /// Claims `encryption` but stores the plaintext and reads anything back.
    PlaintextEncryption,
    /// `close` succeeds but the store keeps working.
    ClosedStillWorks,
    /// `all` stops listing at the first expired record it meets instead of skipping it.
    AllStopsAtFirstExpired,
    /// A second `close` fails: closing is not idempotent.
    CloseTwiceFails,
    /// The session ends `cookie.expires` minus 2 s: off by more than the precision window.
    ExpiresTwoSecondsEarly,
    /// Not a defect, a control: the time to live is rounded down to whole seconds (the session
    /// may end up to 1 s before `cookie.expires`), which the spec's precision window allows, so
    /// the suite must pass it.
    FloorRoundedTtl,
    /// Not a defect, a control: the time to live is rounded up to whole seconds.
    CeilRoundedTtl,
}

impl Defect {
    /// Every defect.
    pub const ALL: [Defect; 17] = [
        Defect::GetReturnsExpired,
        Defect::DestroyMissingErrors,
        Defect::TouchDoesNothing,
        Defect::TouchRevives,
        Defect::LengthCountsExpired,
        Defect::AllIncludesExpired,
        Defect::SetIgnoresExpires,
        Defect::SetMerges,
        Defect::TouchAfterIgnored,
        Defect::EventsCreateAsUpdate,
        Defect::PlaintextEncryption,
        Defect::ClosedStillWorks,
        Defect::AllStopsAtFirstExpired,
        Defect::CloseTwiceFails,
        Defect::ExpiresTwoSecondsEarly,
        Defect::FloorRoundedTtl,
        Defect::CeilRoundedTtl,
    ];

    /// Whether the suite must pass this store: a control within what the spec allows.
    pub fn allowed(self) -> bool {
        matches!(self, Defect::FloorRoundedTtl | Defect::CeilRoundedTtl)
    }

    /// The session's expiry in milliseconds since the epoch, as this store keeps it, for one
    /// written at `now_ms` with `cookie.expires` at `expires_ms`; `None` when it keeps it right.
    fn kept_expiry(self, now_ms: i64, expires_ms: i64) -> Option<i64> {
        let ttl = expires_ms - now_ms;
        match self {
            Defect::ExpiresTwoSecondsEarly => Some(expires_ms - 2000),
            Defect::FloorRoundedTtl => Some(now_ms + ttl.div_euclid(1000) * 1000),
            Defect::CeilRoundedTtl => Some(now_ms + (ttl + 999).div_euclid(1000) * 1000),
            _ => None,
        }
    }

    /// Its kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Defect::GetReturnsExpired => "get-returns-expired",
            Defect::DestroyMissingErrors => "destroy-missing-errors",
            Defect::TouchDoesNothing => "touch-does-nothing",
            Defect::TouchRevives => "touch-revives",
            Defect::LengthCountsExpired => "length-counts-expired",
            Defect::AllIncludesExpired => "all-includes-expired",
            Defect::SetIgnoresExpires => "set-ignores-expires",
            Defect::SetMerges => "set-merges",
            Defect::TouchAfterIgnored => "touch-after-ignored",
            Defect::EventsCreateAsUpdate => "events-create-as-update",
            Defect::PlaintextEncryption => "plaintext-encryption",
            Defect::ClosedStillWorks => "closed-still-works",
            Defect::AllStopsAtFirstExpired => "all-stops-at-first-expired",
            Defect::CloseTwiceFails => "close-twice-fails",
            Defect::ExpiresTwoSecondsEarly => "expires-two-seconds-early",
            Defect::FloorRoundedTtl => "floor-rounded-ttl",
            Defect::CeilRoundedTtl => "ceil-rounded-ttl",
        }
    }
}

/// Opens broken stores over a memory store.
pub struct BrokenFactory {
    defect: Defect,
    inner: MemoryFactory,
    description: StoreDescription,
}

impl BrokenFactory {
    /// A factory of stores with `defect`.
    pub fn new(defect: Defect) -> BrokenFactory {
        let mut description = sessionspec_store_memory::description();
        description.name = format!("broken-{}", defect.name());
        if defect == Defect::PlaintextEncryption {
            description.capabilities.insert(Capability::Encryption);
        }
        BrokenFactory { defect, inner: MemoryFactory::new(), description }
    }
}

#[async_trait]
impl StoreFactory for BrokenFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, mut context: OpenContext) -> Result<Box<dyn Store>> {
        match self.defect {
            Defect::TouchAfterIgnored => context.options.touch_after = None,
            Defect::PlaintextEncryption => context.options.encryption = None,
            Defect::EventsCreateAsUpdate => {
                let sink = context.events.clone();
                context.events = EventSink::new(move |mut e| {
                    if e.kind == EventKind::Create {
                        e.kind = EventKind::Update;
                    }
                    sink.emit(e)
                });
            }
            _ => {}
        }
        let clock = context.clock.clone();
        let inner = self.inner.open(context).await?;
        Ok(Box::new(BrokenStore {
            defect: self.defect,
            inner: Arc::from(inner),
            seen: Mutex::default(),
            clock,
            expiries: Mutex::default(),
            closes: Mutex::default(),
        }))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }
}

struct BrokenStore {
    defect: Defect,
    inner: Arc<dyn Store>,
    seen: Mutex<BTreeSet<String>>,
    clock: SharedClock,
    /// Expiries kept differently from `cookie.expires` (the rounding defects), by sid.
    expiries: Mutex<HashMap<String, i64>>,
    closes: Mutex<u32>,
}

impl BrokenStore {
    fn raw_access(&self) -> &dyn RawAccess {
        self.inner.raw().expect("the memory store has raw access")
    }

    /// Records the expiry this store keeps for a write of `session` to `sid`.
    fn keep_expiry(&self, sid: &str, session: &Session) {
        let now = self.clock.now().timestamp_millis();
        if let Ok(Some(expires)) = session.expires() {
            if let Some(kept) = self.defect.kept_expiry(now, expires.timestamp_millis()) {
                self.expiries.lock().expect("lock").insert(sid.to_owned(), kept);
            }
        }
    }

    /// Whether the expiry this store keeps for `sid` has passed (the rounding defects).
    fn kept_expired(&self, sid: &str) -> bool {
        let now = self.clock.now().timestamp_millis();
        self.expiries.lock().expect("lock").get(sid).is_some_and(|kept| *kept <= now)
    }

    /// The stored session of `sid`, expired or not.
    async fn stored(&self, sid: &str) -> Result<Option<Session>> {
        match self.raw_access().record(sid).await? {
            Some(record) => match record.payload {
                Value::String(text) => Session::from_json(text).map(Some),
                other => Session::from_value(other).map(Some),
            },
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Store for BrokenStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        match self.defect {
            Defect::GetReturnsExpired => self.stored(sid).await,
            _ if self.kept_expired(sid) => Ok(None),
            _ => self.inner.get(sid).await,
        }
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        self.seen.lock().expect("lock").insert(sid.to_owned());
        match self.defect {
            Defect::SetIgnoresExpires => {
                let mut stripped = session.clone();
                if let Some(Value::Object(cookie)) = stripped.as_map_mut().get_mut("cookie") {
                    cookie.remove("expires");
                }
                self.inner.set(sid, &stripped).await
            }
            Defect::SetMerges => {
                let mut merged = self.inner.get(sid).await?.unwrap_or_else(|| session.clone());
                // The gap between read and write is where concurrent sets interleave.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                for (k, v) in session.as_map() {
                    merged.as_map_mut().insert(k.clone(), v.clone());
                }
                self.inner.set(sid, &merged).await
            }
            _ => {
                self.inner.set(sid, session).await?;
                self.keep_expiry(sid, session);
                Ok(())
            }
        }
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        if self.defect == Defect::DestroyMissingErrors && self.raw_access().record(sid).await?.is_none() {
            return Err(StoreError::new(ErrorKind::NotFound, format!("no session `{sid}` to destroy")));
        }
        self.inner.destroy(sid).await
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        match self.defect {
            Defect::TouchDoesNothing => Ok(()),
            Defect::TouchRevives => {
                let mut revived = self.stored(sid).await?.unwrap_or_else(|| session.clone());
                revived.replace_cookie(session);
                self.inner.set(sid, &revived).await
            }
            _ if self.kept_expired(sid) => Ok(()),
            _ => {
                let live = self.inner.get(sid).await?.is_some();
                self.inner.touch(sid, session).await?;
                if live {
                    self.keep_expiry(sid, session);
                }
                Ok(())
            }
        }
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        if self.defect == Defect::AllStopsAtFirstExpired {
            // Walks the records in sid order and takes the first expired one for the end.
            let mut listed = Vec::new();
            let seen: Vec<String> = self.seen.lock().expect("lock").iter().cloned().collect();
            for sid in seen {
                if self.stored(&sid).await?.is_none() {
                    continue; // destroyed or cleared: no record to meet
                }
                match self.inner.get(&sid).await? {
                    Some(session) => listed.push(Listed { sid: Some(sid), session }),
                    None => break,
                }
            }
            return Ok(listed);
        }
        if self.defect != Defect::AllIncludesExpired {
            let mut listed = self.inner.all().await?;
            listed.retain(|l| l.sid.as_deref().is_none_or(|sid| !self.kept_expired(sid)));
            return Ok(listed);
        }
        let mut listed = Vec::new();
        // The memory store lists live ids only, so the ids this instance has set stand in for
        // a listing of every stored record.
        let seen: Vec<String> = self.seen.lock().expect("lock").iter().cloned().collect();
        for sid in seen {
            if let Some(session) = self.stored(&sid).await? {
                listed.push(Listed { sid: Some(sid), session });
            }
        }
        Ok(listed)
    }

    async fn length(&self) -> Result<u64> {
        match self.defect {
            Defect::LengthCountsExpired => self.raw_access().count().await,
            _ => self.inner.length().await,
        }
    }

    async fn clear(&self) -> Result<()> {
        self.inner.clear().await
    }

    async fn ids(&self) -> Result<Vec<String>> {
        self.inner.ids().await
    }

    async fn close(&self) -> Result<()> {
        match self.defect {
            Defect::ClosedStillWorks => Ok(()),
            Defect::CloseTwiceFails => {
                let closes = {
                    let mut closes = self.closes.lock().expect("lock");
                    *closes += 1;
                    *closes
                };
                if closes > 1 {
                    return Err(StoreError::new(ErrorKind::Backend, "the store is already closed"));
                }
                self.inner.close().await
            }
            _ => self.inner.close().await,
        }
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        self.inner.raw()
    }
}

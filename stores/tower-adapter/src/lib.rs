//! Puts any tower-sessions `SessionStore` under the sessionspec suite: a session becomes a
//! `Record` (`cookie.expires` to `expiry_date`, the whole session to `data`), and the store
//! becomes a sessionspec `StoreFactory` (run in process, or served over the adapter protocol by
//! `sessionspec_store_adapter::serve_stdio`, as ecosystem/tower does).
//! It must never change what the store answers: values and errors go out as the store gave them.
#![warn(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::{
    Capability, CapabilitySet, ErrorKind, Namespace, OpenContext, Result, Session, Store, StoreDescription, StoreError,
    StoreFactory,
};
use sha2::{Digest, Sha256};

#[cfg(feature = "core15")]
pub mod broken;
mod versions;

#[cfg(feature = "core11")]
pub use versions::v11;
#[cfg(feature = "core14")]
pub use versions::v14;
#[cfg(feature = "core15")]
pub use versions::v15;

/// A record as every tower-sessions-core version has it: `Record { id, data, expiry_date }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `Id(i128)`.
    pub id: i128,
    /// The session's members, `cookie` included.
    pub data: HashMap<String, Value>,
    /// When the record expires.
    pub expiry_date: time::OffsetDateTime,
}

/// A tower-sessions `SessionStore` of any trait version, seen through one interface. Errors are
/// the store's own, as text, with the kind its `session_store::Error` variant maps to.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// `SessionStore::create`, which may move `record.id`. `None` when the trait version has none.
    async fn create(&self, record: &mut Record) -> Option<Result<()>>;
    /// `SessionStore::save`.
    async fn save(&self, record: &Record) -> Result<()>;
    /// `SessionStore::load`.
    async fn load(&self, id: i128) -> Result<Option<Record>>;
    /// `SessionStore::delete`.
    async fn delete(&self, id: i128) -> Result<()>;
    /// `ExpiredDeletion::delete_expired`. `None` when the store does not implement it.
    async fn delete_expired(&self) -> Option<Result<()>>;
    /// Whether `create` is the trait's (a version that has it), and `delete_expired` exists.
    fn operations(&self) -> (bool, bool);
}

/// The id a scenario's sid stands for in `namespace`: namespaces on one backend never share ids,
/// and the same sid in the same namespace is always the same id.
pub fn record_id(namespace: &Namespace, sid: &str) -> i128 {
    let digest = Sha256::new().chain_update(namespace.as_str()).chain_update([0]).chain_update(sid).finalize();
    i128::from_le_bytes(digest[..16].try_into().expect("16 bytes"))
}

fn to_time(at: DateTime<Utc>) -> Result<time::OffsetDateTime> {
    let nanos = at.timestamp_nanos_opt().ok_or_else(|| StoreError::new(ErrorKind::Invalid, "expiry out of range"))?;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|e| StoreError::new(ErrorKind::Invalid, format!("expiry out of range: {e}")))
}

/// What a store needs for one namespace, and how to remove what it made there.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The store for `namespace`: every instance opened on it shares this one.
    async fn open(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>>;
    /// Removes the namespace's table, tree, folder or database, when it has one of its own.
    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()>;
}

/// A fresh store per namespace; dropping the namespace drops the store.
pub struct PerNamespace<F>(pub F);

#[async_trait]
impl<F, Fut> Backend for PerNamespace<F>
where
    F: Fn(&Namespace) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<Arc<dyn RecordStore>>> + Send,
{
    async fn open(&self, namespace: &Namespace) -> Result<Arc<dyn RecordStore>> {
        (self.0)(namespace).await
    }
    async fn drop_namespace(&self, _: &Namespace) -> Result<()> {
        Ok(())
    }
}

/// One store over one keyspace for every namespace: namespaces differ by their ids, which the
/// factory deletes when the harness drops the namespace.
pub struct Shared(pub Arc<dyn RecordStore>);

#[async_trait]
impl Backend for Shared {
    async fn open(&self, _: &Namespace) -> Result<Arc<dyn RecordStore>> {
        Ok(self.0.clone())
    }
    async fn drop_namespace(&self, _: &Namespace) -> Result<()> {
        Ok(())
    }
}

struct Space {
    store: Arc<dyn RecordStore>,
    /// Ids written in the namespace, deleted at drop on backends that share one keyspace.
    ids: Mutex<HashSet<i128>>,
    /// Sids whose session `create` stored under another id than theirs, as tower-sessions gives
    /// the client a cookie with the new id: later operations of the sid use that id.
    moved: Mutex<HashMap<String, i128>>,
}

/// A tower-sessions store as a sessionspec `StoreFactory`.
pub struct TowerFactory {
    description: StoreDescription,
    backend: Box<dyn Backend>,
    spaces: tokio::sync::Mutex<HashMap<Namespace, Arc<Space>>>,
}

impl TowerFactory {
    /// `backend` as the store `name` (its crate, as reports name it) at `version` (say which
    /// tower-sessions-core version it was run through), on `backend_name`. `create` and
    /// `delete-expired` are declared when the store has them.
    pub async fn new(name: &str, version: &str, backend_name: &str, backend: Box<dyn Backend>) -> Result<TowerFactory> {
        let probe = backend.open(&Namespace::new("probe")?).await?;
        let (create, delete_expired) = probe.operations();
        backend.drop_namespace(&Namespace::new("probe")?).await?;
        // tower-sessions has no touch: `touch` here is the load then save an application does.
        let mut capabilities: CapabilitySet =
            [Capability::Touch, Capability::TouchBySave, Capability::SharedNamespace].into_iter().collect();
        if create {
            capabilities.insert(Capability::Create);
        }
        if delete_expired {
            capabilities.insert(Capability::DeleteExpired);
        }
        Ok(TowerFactory {
            description: StoreDescription {
                name: name.to_owned(),
                version: version.to_owned(),
                language: "rust".into(),
                backend: backend_name.to_owned(),
                backend_version: None,
                capabilities,
            },
            backend,
            spaces: tokio::sync::Mutex::default(),
        })
    }
}

#[async_trait]
impl StoreFactory for TowerFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        context.options.check_supported(&self.description.capabilities, &self.description.name)?;
        let mut spaces = self.spaces.lock().await;
        let space = match spaces.get(&context.namespace) {
            Some(space) => space.clone(),
            None => {
                let store = self.backend.open(&context.namespace).await?;
                let space = Arc::new(Space { store, ids: Mutex::default(), moved: Mutex::default() });
                spaces.insert(context.namespace.clone(), space.clone());
                space
            }
        };
        Ok(Box::new(TowerStore {
            space,
            namespace: context.namespace,
            ttl: context.options.ttl.unwrap_or(Duration::from_secs(86_400)),
        }))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let space = self.spaces.lock().await.remove(namespace);
        if let Some(space) = space {
            let ids: Vec<i128> = space.ids.lock().expect("lock").drain().collect();
            for id in ids {
                space.store.delete(id).await?;
            }
        }
        self.backend.drop_namespace(namespace).await
    }
}

struct TowerStore {
    space: Arc<Space>,
    namespace: Namespace,
    ttl: Duration,
}

impl TowerStore {
    fn id(&self, sid: &str) -> i128 {
        let moved = self.space.moved.lock().expect("lock").get(sid).copied();
        let id = moved.unwrap_or_else(|| record_id(&self.namespace, sid));
        self.space.ids.lock().expect("lock").insert(id);
        id
    }

    /// The record of `session`. A session without a `cookie` has none (tower-sessions always
    /// has an expiry), so it fails with `invalid` here, before the store sees anything.
    fn record(&self, sid: &str, session: &Session) -> Result<Record> {
        session.require_cookie()?;
        let expiry = session.expiry(Utc::now(), self.ttl)?;
        let data = session.as_map().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(Record { id: self.id(sid), data, expiry_date: to_time(expiry)? })
    }
}

fn session_of(record: Record) -> Session {
    Session::from_map(record.data.into_iter().collect::<Map<String, Value>>())
}

#[async_trait]
impl Store for TowerStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        Ok(self.space.store.load(self.id(sid)).await?.map(session_of))
    }

    /// What a request of tower-sessions does: the session it loaded is saved; one that loaded
    /// nothing is new and goes to `create` (trait versions without it: `save`), which may store
    /// it under another id. tower-sessions never calls `save` for an id that did not load, and
    /// stores rely on that (the Redis store saves with `XX`, the file store opens an existing
    /// file).
    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        let mut record = self.record(sid, session)?;
        if self.space.store.load(record.id).await?.is_some() {
            return self.space.store.save(&record).await;
        }
        let asked = record.id;
        match self.space.store.create(&mut record).await {
            None => self.space.store.save(&record).await,
            Some(result) => {
                result?;
                if record.id != asked {
                    self.space.ids.lock().expect("lock").insert(record.id);
                    self.space.moved.lock().expect("lock").insert(sid.to_owned(), record.id);
                }
                Ok(())
            }
        }
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.space.store.delete(self.id(sid)).await
    }

    /// tower-sessions has no touch: an application saves the record with its new expiry.
    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        let Some(stored) = self.space.store.load(self.id(sid)).await? else { return Ok(()) };
        let mut moved = session_of(stored);
        moved.replace_cookie(session);
        self.space.store.save(&self.record(sid, &moved)?).await
    }

    async fn create(&self, sid: &str, session: &Session) -> Result<String> {
        let mut record = self.record(sid, session)?;
        let asked = record.id;
        self.space.store.create(&mut record).await.unwrap_or_else(|| Err(StoreError::unsupported("create")))?;
        self.space.ids.lock().expect("lock").insert(record.id);
        // A store that moved the record names the new id; it stands for no sid of the scenario.
        Ok(if record.id == asked { sid.to_owned() } else { format!("id:{}", record.id) })
    }

    async fn delete_expired(&self) -> Result<()> {
        self.space.store.delete_expired().await.unwrap_or_else(|| Err(StoreError::unsupported("delete-expired")))
    }
}

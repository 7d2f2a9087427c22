//! sessionspec's reference MongoDB session store. It keeps connect-mongo 6's document layout
//! (`_id`, `session`, `expires`, `lastModified`, `createdAt`, `updatedAt`), so a Rust service and
//! an Express app can share one collection, and follows the spec where connect-mongo does not.
//!
//! Expiry is decided by the store's clock in every query, never by the server's; the TTL index
//! only removes what is already invisible. No operation may read-modify-write a session without a
//! compare-and-swap, and no background task may outlive `close`.
#![warn(missing_docs)]

mod config;
mod document;
mod error;
mod factory;
mod index;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt as _;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{ClientOptions, CollectionOptions};
use mongodb::{Client, Collection};
use serde_json::{Map, Value};
use sessionspec_contract::{
    AutoRemove, ErrorKind, EventKind, Listed, RawAccess, RawRecord, Result, Serializer, Session, Store, StoreError,
    StoreEvent, Tamper,
};
use sessionspec_crypto::{decrypt_session, encrypt_session};
use sessionspec_server_store::{DEFAULT_OPERATION_TIMEOUT, bounded, redact_password, redact_url};
use tokio::task::{AbortHandle, JoinHandle};

pub use config::{
    DEFAULT_AUTO_REMOVE_INTERVAL, DEFAULT_COLLECTION, DEFAULT_DATABASE, DEFAULT_TTL, MongoStoreConfig, Startup,
    TransformId,
};
pub use factory::{MongoFactory, description};
pub use index::TTL_INDEX_NAME;

#[cfg(feature = "tower-sessions")]
sessionspec_tower_sessions::session_store!(MongoStore);

use crate::document::{CREATED_AT, EXPIRES, ID, LAST_MODIFIED, SESSION, UPDATED_AT, bson_date};

/// How many compare-and-swaps a touch tries with the new cookie before it moves the expiry only.
const TOUCH_ATTEMPTS: usize = 3;
/// How often a set retries after two upserts of one new id raced (duplicate key).
const SET_ATTEMPTS: usize = 3;
/// How long `close` waits for an index creation the server has already received.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Where the start-up work (the TTL index) stands.
enum StartupState {
    /// Running in a task of its own.
    Running(JoinHandle<Result<()>>),
    /// Finished with an error, or never started: the next operation runs it again.
    Retry,
    /// Done.
    Done,
}

/// A session store on one MongoDB collection. Clones share the client, the start-up work and the
/// sweep, so closing one closes them all; the background tasks stop when the last clone is
/// dropped.
#[derive(Clone)]
pub struct MongoStore {
    inner: Arc<Shared>,
}

impl fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore")
            .field("collection", &self.inner.collection.namespace())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What the clones of one store share.
struct Shared {
    client: Client,
    owns_client: bool,
    collection: Collection<Document>,
    config: MongoStoreConfig,
    closed: AtomicBool,
    ready: AtomicBool,
    startup: tokio::sync::Mutex<StartupState>,
    /// Whether start-up may still send an index creation, and whether one is in flight.
    gate: Arc<index::CreationGate>,
    /// Cancels the start-up task, wherever its handle is being awaited.
    startup_abort: Mutex<Option<AbortHandle>>,
    /// Tasks to stop when the store is dropped: the start-up work and the interval sweep.
    tasks: Mutex<Vec<AbortHandle>>,
    sweeper: Mutex<Option<JoinHandle<()>>>,
}

impl MongoStore {
    /// Connects to `url` (a `mongodb://` or `mongodb+srv://` connection string) with a client of
    /// the store's own, which `close` shuts down, and opens the store as
    /// [`MongoStore::with_client`] does. The database is the config's, else the URL's, else
    /// [`DEFAULT_DATABASE`].
    pub async fn connect(url: &str, config: MongoStoreConfig) -> Result<MongoStore> {
        let client = client(url, client_options(url).await?)?;
        MongoStore::open(client, true, config).await
    }

    /// Opens the store on a client the caller keeps: `close` leaves it open. With
    /// [`Startup::Wait`] (the default) this returns once the TTL index is in place.
    pub async fn with_client(client: Client, config: MongoStoreConfig) -> Result<MongoStore> {
        MongoStore::open(client, false, config).await
    }

    async fn open(client: Client, owns_client: bool, config: MongoStoreConfig) -> Result<MongoStore> {
        let db_name = match &config.db_name {
            Some(name) => name.clone(),
            None => {
                client.default_database().map(|db| db.name().to_owned()).unwrap_or_else(|| DEFAULT_DATABASE.to_owned())
            }
        };
        config.validate(&db_name)?;
        let mut options = CollectionOptions::default();
        options.write_concern = config.write_concern.clone();
        let collection =
            client.database(&db_name).collection_with_options::<Document>(&config.collection_name, options);
        let mut shared = Shared {
            client,
            owns_client,
            collection,
            closed: AtomicBool::new(false),
            ready: AtomicBool::new(config.auto_remove != AutoRemove::Native),
            startup: tokio::sync::Mutex::new(StartupState::Retry),
            gate: Arc::default(),
            startup_abort: Mutex::default(),
            tasks: Mutex::default(),
            sweeper: Mutex::default(),
            config,
        };
        let native = shared.config.auto_remove == AutoRemove::Native;
        if native {
            let collection = shared.collection.clone();
            let gate = shared.gate.clone();
            let task = tokio::spawn(async move { index::ensure_ttl(&collection, &gate).await });
            shared.tasks.lock().expect("lock").push(task.abort_handle());
            *shared.startup_abort.lock().expect("lock") = Some(task.abort_handle());
            *shared.startup.get_mut() = StartupState::Running(task);
        }
        let store = MongoStore { inner: Arc::new(shared) };
        if native
            && store.inner.config.startup == Startup::Wait
            && let Err(e) = store.ready("open").await
        {
            store.close().await?;
            return Err(e);
        }
        if store.inner.config.auto_remove == AutoRemove::Interval {
            store.start_sweeper();
        }
        Ok(store)
    }

    /// The collection the store keeps its sessions in.
    pub fn collection(&self) -> &Collection<Document> {
        &self.inner.collection
    }

    /// Deletes expired documents every `auto_remove_interval` on the store's clock.
    fn start_sweeper(&self) {
        let collection = self.inner.collection.clone();
        let clock = self.inner.config.clock.clone();
        let every = self.inner.config.auto_remove_interval;
        let task = tokio::spawn(async move {
            loop {
                clock.sleep(every).await;
                let filter = MongoStore::expired(clock.now());
                // A failed sweep is retried at the next interval; expired sessions stay invisible
                // meanwhile, so nothing is lost by not reporting it here.
                let _ = collection.delete_many(filter).await;
            }
        });
        self.inner.tasks.lock().expect("lock").push(task.abort_handle());
        *self.inner.sweeper.lock().expect("lock") = Some(task);
    }

    /// Waits for the start-up work; runs it again when it failed before.
    async fn ready(&self, operation: &str) -> Result<()> {
        if self.inner.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut state = self.inner.startup.lock().await;
        if self.inner.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::closed(operation));
        }
        let result = match std::mem::replace(&mut *state, StartupState::Retry) {
            StartupState::Running(task) => match task.await {
                Ok(result) => result,
                Err(e) if e.is_cancelled() => return Err(StoreError::closed(operation)),
                Err(e) => Err(StoreError::new(ErrorKind::Backend, "the store's start-up task panicked").with_source(e)),
            },
            StartupState::Retry | StartupState::Done => {
                index::ensure_ttl(&self.inner.collection, &self.inner.gate).await
            }
        };
        if result.is_ok() {
            *state = StartupState::Done;
            self.inner.ready.store(true, Ordering::Release);
        }
        result
    }

    fn check_open(&self, operation: &str) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) { Err(StoreError::closed(operation)) } else { Ok(()) }
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.config.clock.now()
    }

    fn emit(&self, kind: EventKind, sid: &str) {
        self.inner.config.events.emit(StoreEvent::new(kind, sid));
    }

    fn key(&self, sid: &str) -> String {
        match &self.inner.config.transform_id {
            Some(transform) => transform.apply(sid),
            None => sid.to_owned(),
        }
    }

    /// Matches documents whose session is unexpired at `now`; documents without `expires`
    /// (written by other software) never expire, as in connect-mongo.
    fn live(now: DateTime<Utc>) -> Document {
        doc! {"$or": [{EXPIRES: {"$exists": false}}, {EXPIRES: {"$gt": bson_date(now)}}]}
    }

    /// Matches documents whose `expires` has passed at `now`: what the sweep and
    /// `delete_expired` remove.
    fn expired(now: DateTime<Utc>) -> Document {
        doc! {EXPIRES: {"$lte": bson_date(now)}}
    }

    fn expiry(&self, session: &Session, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        session.expiry(now, self.inner.config.ttl)
    }

    /// The `session` field to store.
    fn encode(&self, session: &Session) -> Result<Bson> {
        if let Some(cipher) = &self.inner.config.cipher {
            return Ok(Bson::String(encrypt_session(cipher.as_ref(), session)));
        }
        match self.inner.config.serializer {
            Serializer::Document => Ok(Bson::Document(document::json_object_to_document(session.as_map())?)),
            _ => Ok(Bson::String(session.to_json())),
        }
    }

    /// The session in a stored `session` field.
    fn decode(&self, payload: Option<&Bson>) -> Result<Session> {
        let Some(cipher) = &self.inner.config.cipher else { return document::decode_plain(payload) };
        match payload {
            Some(Bson::String(text)) => decrypt_session(cipher.as_ref(), text),
            Some(other) => Err(StoreError::new(
                ErrorKind::Decrypt,
                format!(
                    "the stored session is {}, not ciphertext: it was written without encryption",
                    document::bson_type(other)
                ),
            )),
            None => Err(StoreError::new(ErrorKind::Decrypt, "the stored document has no `session` field to decrypt")),
        }
    }

    /// The bookkeeping fields every write sets.
    fn write_fields(&self, fields: &mut Document, now: DateTime<Utc>) {
        if self.inner.config.touch_after.is_some() {
            fields.insert(LAST_MODIFIED, bson_date(now));
        }
        if self.inner.config.timestamps {
            fields.insert(UPDATED_AT, bson_date(now));
        }
    }

    /// What `set`, `create` and `update` write for `session` at `now`: the session, its expiry
    /// and the bookkeeping fields; a session without a cookie is refused.
    fn session_fields(&self, session: &Session, now: DateTime<Utc>) -> Result<Document> {
        session.require_cookie()?;
        let expires = self.expiry(session, now)?;
        let mut fields = doc! {SESSION: self.encode(session)?, EXPIRES: bson_date(expires)};
        self.write_fields(&mut fields, now);
        Ok(fields)
    }

    async fn set_once(&self, key: &str, update: &Document) -> mongodb::error::Result<bool> {
        let result = self.inner.collection.update_one(doc! {ID: key}, update.clone()).upsert(true).await?;
        Ok(result.upserted_id.is_some())
    }
}

/// Whether a document's session is unexpired at `now`, as connect-mongo's filter decides it: a
/// document without `expires` never expires; one whose `expires` is not a date never matched
/// `$gt: now`, so it counts as expired.
fn is_live(doc: &Document, now: DateTime<Utc>) -> bool {
    match doc.get(EXPIRES) {
        None => true,
        Some(Bson::DateTime(at)) => at.timestamp_millis() > now.timestamp_millis(),
        Some(_) => false,
    }
}

/// Whether the document was written less than `window` before `now` (touch-after).
fn written_within(doc: &Document, now: DateTime<Utc>, window: TimeDelta) -> bool {
    match doc.get(LAST_MODIFIED) {
        Some(Bson::DateTime(at)) => now.timestamp_millis() - at.timestamp_millis() < window.num_milliseconds(),
        _ => false,
    }
}

/// A filter condition matching a field exactly as it was read: `$eq` takes a document value
/// literally, and a field that was absent must still be absent.
fn unchanged(value: Option<&Bson>) -> Bson {
    match value {
        Some(value) => Bson::Document(doc! {"$eq": value.clone()}),
        None => Bson::Document(doc! {"$exists": false}),
    }
}

/// The client options of the connection string `url`, or an `invalid` error showing it without
/// its password.
pub(crate) async fn client_options(url: &str) -> Result<ClientOptions> {
    ClientOptions::parse(url).await.map_err(|e| {
        // The parser's message may quote the string it rejected, password included.
        let detail = redact_password(&e.kind.to_string(), url);
        StoreError::new(
            ErrorKind::Invalid,
            format!("`{}` is not a usable MongoDB connection string: {detail}", redact_url(url)),
        )
    })
}

/// A client with `options`, parsed from `url`. It connects as it is used.
pub(crate) fn client(url: &str, options: ClientOptions) -> Result<Client> {
    Client::with_options(options).map_err(|e| {
        let detail = redact_password(&e.kind.to_string(), url);
        StoreError::new(
            ErrorKind::Invalid,
            format!("cannot build a MongoDB client for `{}`: {detail}", redact_url(url)),
        )
    })
}

#[async_trait]
impl Store for MongoStore {
    /// Reads by `_id` alone and decides expiry here: an `_id` equality is the one query every
    /// server answers from its primary index, whatever else it can plan.
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("get", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("get")?;
            self.ready("get").await?;
            let found = self
                .inner
                .collection
                .find_one(doc! {ID: self.key(sid)})
                .projection(doc! {SESSION: 1, EXPIRES: 1})
                .await
                .map_err(|e| error::backend("reading a session", e))?;
            match found {
                Some(doc) if is_live(&doc, self.now()) => self.decode(doc.get(SESSION)).map(Some),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("set", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("set")?;
            let now = self.now();
            let fields = self.session_fields(session, now)?;
            let mut update = doc! {"$set": fields};
            if self.inner.config.timestamps {
                update.insert("$setOnInsert", doc! {CREATED_AT: bson_date(now)});
            }
            self.ready("set").await?;
            let key = self.key(sid);
            let mut attempt = 0;
            let created = loop {
                attempt += 1;
                match self.set_once(&key, &update).await {
                    Ok(created) => break created,
                    // Two upserts of one new id raced and this one lost: the document exists now,
                    // so the next attempt is a plain update.
                    Err(e) if error::code(&e) == Some(error::codes::DUPLICATE_KEY) && attempt < SET_ATTEMPTS => {}
                    Err(e) => return Err(error::backend("writing a session", e)),
                }
            };
            self.emit(if created { EventKind::Create } else { EventKind::Update }, sid);
            self.emit(EventKind::Set, sid);
            Ok(())
        })
        .await
    }

    /// One upsert whose filter matches only an expired document under the id (connect-mongo's
    /// notion of expired: `expires` present and not after now). With no document there it
    /// inserts; with a live one the insert fails on the `_id` index, which is the conflict.
    async fn create(&self, sid: &str, session: &Session) -> Result<String> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("create", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("create")?;
            let now = self.now();
            let mut fields = self.session_fields(session, now)?;
            if self.inner.config.timestamps {
                fields.insert(CREATED_AT, bson_date(now));
            }
            self.ready("create").await?;
            let key = self.key(sid);
            let filter = doc! {ID: &key, EXPIRES: {"$exists": true, "$not": {"$gt": bson_date(now)}}};
            match self.inner.collection.update_one(filter, doc! {"$set": fields}).upsert(true).await {
                Ok(_) => {}
                Err(e) if error::code(&e) == Some(error::codes::DUPLICATE_KEY) => {
                    return Err(StoreError::new(
                        ErrorKind::Conflict,
                        format!("a session is already stored under `{sid}`"),
                    ));
                }
                Err(e) => return Err(error::backend("creating a session", e)),
            }
            self.emit(EventKind::Create, sid);
            self.emit(EventKind::Set, sid);
            Ok(sid.to_owned())
        })
        .await
    }

    /// One update, never an upsert, whose filter matches only a live document under the id:
    /// a document deleted or expired meanwhile stays gone.
    async fn update(&self, sid: &str, session: &Session) -> Result<bool> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("update", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("update")?;
            let now = self.now();
            let fields = self.session_fields(session, now)?;
            self.ready("update").await?;
            let mut filter = MongoStore::live(now);
            filter.insert(ID, self.key(sid));
            let result = self
                .inner
                .collection
                .update_one(filter, doc! {"$set": fields})
                .await
                .map_err(|e| error::backend("updating a session", e))?;
            let updated = result.matched_count > 0;
            if updated {
                self.emit(EventKind::Update, sid);
                self.emit(EventKind::Set, sid);
            }
            Ok(updated)
        })
        .await
    }

    /// Deletes every document whose `expires` has passed on the store's clock, as the interval
    /// sweep does; documents without `expires` never expire.
    async fn delete_expired(&self) -> Result<()> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("delete-expired", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("delete-expired")?;
            self.ready("delete-expired").await?;
            match self.inner.collection.delete_many(MongoStore::expired(self.now())).await {
                Ok(_) => Ok(()),
                Err(e) if error::code(&e) == Some(error::codes::NAMESPACE_NOT_FOUND) => Ok(()),
                Err(e) => Err(error::backend("deleting expired sessions", e)),
            }
        })
        .await
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("destroy", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("destroy")?;
            self.ready("destroy").await?;
            self.inner
                .collection
                .delete_one(doc! {ID: self.key(sid)})
                .await
                .map_err(|e| error::backend("deleting a session", e))?;
            self.emit(EventKind::Destroy, sid);
            Ok(())
        })
        .await
    }

    /// Moves the expiry and stores the given cookie, leaving the data as the latest `set` wrote
    /// it. It reads the document, decides expiry and the touch-after window here, and writes
    /// with a compare-and-swap on everything it read (payload, `expires`, `lastModified`), so a
    /// concurrent `set` always keeps its data and an expired session is never revived. After
    /// repeated contention it moves only the expiry; a touch that still loses every race was
    /// overtaken by the writes that won, which set the expiry themselves.
    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("touch", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("touch")?;
            if self.inner.config.disable_touch {
                return Ok(());
            }
            let now = self.now();
            let expires = self.expiry(session, now)?;
            self.ready("touch").await?;
            let key = self.key(sid);
            let window = self.inner.config.touch_after.map(|w| TimeDelta::from_std(w).unwrap_or(TimeDelta::MAX));
            let mut fields = doc! {EXPIRES: bson_date(expires)};
            self.write_fields(&mut fields, now);

            for attempt in 0..=TOUCH_ATTEMPTS {
                let found = self
                    .inner
                    .collection
                    .find_one(doc! {ID: &key})
                    .projection(doc! {SESSION: 1, EXPIRES: 1, LAST_MODIFIED: 1})
                    .await
                    .map_err(|e| error::backend("reading a session to touch", e))?;
                // Missing, expired, or written within the touch-after window: nothing to do.
                let Some(found) = found else { return Ok(()) };
                if !is_live(&found, now) || window.is_some_and(|w| written_within(&found, now, w)) {
                    return Ok(());
                }
                let mut swap = doc! {ID: &key};
                for field in [EXPIRES, LAST_MODIFIED] {
                    swap.insert(field, unchanged(found.get(field)));
                }
                let mut update_fields = fields.clone();
                if attempt < TOUCH_ATTEMPTS {
                    let stored = found.get(SESSION).cloned().unwrap_or(Bson::Null);
                    let mut current = self.decode(Some(&stored))?;
                    current.replace_cookie(session);
                    update_fields.insert(SESSION, self.encode(&current)?);
                    swap.insert(SESSION, unchanged(Some(&stored)));
                }
                let result = self
                    .inner
                    .collection
                    .update_one(swap, doc! {"$set": update_fields})
                    .await
                    .map_err(|e| error::backend("touching a session", e))?;
                if result.matched_count > 0 {
                    self.emit(EventKind::Touch, sid);
                    return Ok(());
                }
            }
            Ok(())
        })
        .await
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("all", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("all")?;
            self.ready("all").await?;
            let docs: Vec<Document> = self
                .inner
                .collection
                .find(MongoStore::live(self.now()))
                .projection(doc! {ID: 1, SESSION: 1})
                .await
                .map_err(|e| error::backend("listing sessions", e))?
                .try_collect()
                .await
                .map_err(|e| error::backend("listing sessions", e))?;
            let with_ids = self.inner.config.transform_id.is_none();
            docs.into_iter()
                .map(|doc| {
                    let sid = match (with_ids, doc.get(ID)) {
                        (true, Some(Bson::String(sid))) => Some(sid.clone()),
                        _ => None,
                    };
                    Ok(Listed { sid, session: self.decode(doc.get(SESSION))? })
                })
                .collect()
        })
        .await
    }

    async fn length(&self) -> Result<u64> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("length", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("length")?;
            self.ready("length").await?;
            self.inner
                .collection
                .count_documents(MongoStore::live(self.now()))
                .await
                .map_err(|e| error::backend("counting sessions", e))
        })
        .await
    }

    async fn clear(&self) -> Result<()> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("clear", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("clear")?;
            self.ready("clear").await?;
            // Delete the documents, never drop the collection: dropping would drop the TTL index.
            match self.inner.collection.delete_many(doc! {}).await {
                Ok(_) => Ok(()),
                Err(e) if error::code(&e) == Some(error::codes::NAMESPACE_NOT_FOUND) => Ok(()),
                Err(e) => Err(error::backend("clearing sessions", e)),
            }
        })
        .await
    }

    async fn ids(&self) -> Result<Vec<String>> {
        // No driver timeout bounds a server that accepts and never answers: one timer per operation.
        bounded("ids", DEFAULT_OPERATION_TIMEOUT, async move {
            self.check_open("ids")?;
            if self.inner.config.transform_id.is_some() {
                return Err(StoreError::new(
                    ErrorKind::Unsupported,
                    "`ids` is unsupported with `transform-id`: stored keys are digests that cannot be turned back into ids",
                ));
            }
            self.ready("ids").await?;
            let docs: Vec<Document> = self
                .inner.collection
                .find(MongoStore::live(self.now()))
                .projection(doc! {ID: 1})
                .await
                .map_err(|e| error::backend("listing session ids", e))?
                .try_collect()
                .await
                .map_err(|e| error::backend("listing session ids", e))?;
            Ok(docs.into_iter().filter_map(|doc| doc.get_str(ID).ok().map(str::to_owned)).collect())
        })
        .await
    }

    /// Stops the sweep and the start-up work, waiting until both have stopped, then shuts the
    /// client down if the store opened it. Start-up is cancelled, except for an index creation
    /// the server has already received: that one is awaited (at most [`CLOSE_WAIT`]), so that
    /// nothing the store started lands after `close` returns (connect-mongo #413).
    async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let sweeper = self.inner.sweeper.lock().expect("lock").take();
        if let Some(task) = sweeper {
            task.abort();
            let _ = task.await;
        }
        let creating = self.inner.gate.close();
        let abort = self.inner.startup_abort.lock().expect("lock").take();
        if let (Some(abort), false) = (&abort, creating) {
            // Also reaches an operation that is awaiting the start-up task right now.
            abort.abort();
        }
        let startup = {
            let mut state = self.inner.startup.lock().await;
            match std::mem::replace(&mut *state, StartupState::Retry) {
                StartupState::Running(task) => Some(task),
                other => {
                    *state = other;
                    None
                }
            }
        };
        if let Some(mut task) = startup {
            if !creating {
                task.abort();
            }
            if tokio::time::timeout(CLOSE_WAIT, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
        if self.inner.owns_client {
            self.inner.client.clone().shutdown().await;
        }
        Ok(())
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        Some(self)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

#[async_trait]
impl RawAccess for MongoStore {
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>> {
        self.check_open("raw")?;
        let found = self
            .inner
            .collection
            .find_one(doc! {ID: self.key(sid)})
            .await
            .map_err(|e| error::backend("reading a raw document", e))?;
        Ok(found.map(|doc| {
            let key = match doc.get(ID) {
                Some(Bson::String(s)) => s.clone(),
                Some(other) => document::raw_json(other).to_string(),
                None => String::new(),
            };
            let payload = doc.get(SESSION).map(document::raw_json).unwrap_or(Value::Null);
            let expires = match doc.get(EXPIRES) {
                Some(Bson::DateTime(at)) => document::from_bson_date(*at),
                _ => None,
            };
            let fields: Map<String, Value> = doc
                .iter()
                .filter(|(k, _)| ![ID, SESSION, EXPIRES].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), document::raw_json(v)))
                .collect();
            RawRecord { key, payload, expires, fields }
        }))
    }

    async fn count(&self) -> Result<u64> {
        self.check_open("raw-count")?;
        self.inner.collection.count_documents(doc! {}).await.map_err(|e| error::backend("counting raw documents", e))
    }

    async fn indexes(&self) -> Result<Vec<Value>> {
        self.check_open("indexes")?;
        self.ready("indexes").await?;
        Ok(index::list(&self.inner.collection)
            .await?
            .iter()
            .map(|ix| document::raw_json(&Bson::Document(ix.clone())))
            .collect())
    }

    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()> {
        self.check_open("tamper")?;
        let key = self.key(sid);
        let found = self
            .inner
            .collection
            .find_one(doc! {ID: &key})
            .await
            .map_err(|e| error::backend("reading a document to tamper with", e))?
            .ok_or_else(|| StoreError::new(ErrorKind::NotFound, format!("no document for `{sid}`")))?;
        let damaged = match (tamper, found.get(SESSION)) {
            (Tamper::FlipByte, Some(Bson::String(text))) if self.inner.config.cipher.is_some() => {
                Bson::String(flip_ciphertext(text))
            }
            (Tamper::FlipByte, Some(Bson::String(text))) => Bson::String(tamper.damage(text)),
            (Tamper::FlipByte, Some(Bson::Document(doc))) => {
                // A document has no bytes of its own: damage its JSON text and store that.
                let text = Value::Object(document::document_to_json_object(doc)?).to_string();
                Bson::String(tamper.damage(&text))
            }
            _ => Bson::String(Tamper::GARBAGE.to_owned()),
        };
        self.inner
            .collection
            .update_one(doc! {ID: &key}, doc! {"$set": {SESSION: damaged}})
            .await
            .map_err(|e| error::backend("tampering with a document", e))?;
        Ok(())
    }
}

/// Flips one bit in the middle of base64 ciphertext's decoded bytes, so the encoding stays valid
/// and decryption fails; text that is not base64 is damaged as text.
fn flip_ciphertext(text: &str) -> String {
    match STANDARD.decode(text) {
        Ok(mut bytes) if !bytes.is_empty() => {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            STANDARD.encode(bytes)
        }
        _ => Tamper::FlipByte.damage(text),
    }
}

//! The session store contract that sessionspec checks.
//!
//! This crate says what a store is (the [`Store`] trait), what it stores ([`Session`]), how it
//! fails ([`StoreError`]), what it can do ([`Capability`]), what it reports ([`StoreEvent`]) and
//! which time it goes by ([`Clock`]). It must stay small: no runner, no scenarios, no backends.
//!
//! A store in a few lines: a map whose expiry follows the clock the harness hands it.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! use async_trait::async_trait;
//! use sessionspec_contract::{
//!     Capability, Namespace, OpenContext, Result, Session, SharedClock, Store, StoreDescription, StoreFactory,
//! };
//!
//! struct MapStore {
//!     clock: SharedClock,
//!     sessions: Mutex<HashMap<String, (Session, chrono::DateTime<chrono::Utc>)>>,
//! }
//!
//! #[async_trait]
//! impl Store for MapStore {
//!     async fn get(&self, sid: &str) -> Result<Option<Session>> {
//!         let now = self.clock.now();
//!         Ok(self.sessions.lock().unwrap().get(sid).filter(|(_, at)| *at > now).map(|(s, _)| s.clone()))
//!     }
//!     async fn set(&self, sid: &str, session: &Session) -> Result<()> {
//!         let expires = session.expiry(self.clock.now(), std::time::Duration::from_secs(86_400))?;
//!         self.sessions.lock().unwrap().insert(sid.to_owned(), (session.clone(), expires));
//!         Ok(())
//!     }
//!     async fn destroy(&self, sid: &str) -> Result<()> {
//!         self.sessions.lock().unwrap().remove(sid);
//!         Ok(())
//!     }
//! }
//!
//! struct MapFactory(StoreDescription);
//!
//! #[async_trait]
//! impl StoreFactory for MapFactory {
//!     fn describe(&self) -> &StoreDescription {
//!         &self.0
//!     }
//!     async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
//!         Ok(Box::new(MapStore { clock: context.clock, sessions: Mutex::default() }))
//!     }
//!     async fn drop_namespace(&self, _: &Namespace) -> Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let factory = MapFactory(StoreDescription {
//!     name: "map".into(),
//!     version: "0.1.0".into(),
//!     language: "rust".into(),
//!     backend: "memory".into(),
//!     backend_version: None,
//!     capabilities: [Capability::VirtualClock].into_iter().collect(),
//! });
//! let store = factory.open(OpenContext::plain(Namespace::new("example")?)).await?;
//! let session = Session::from_value(serde_json::json!({"cookie": {"expires": "2999-01-01T00:00:00.000Z"}, "n": 1}))?;
//! store.set("a", &session).await?;
//! assert_eq!(store.get("a").await?, Some(session));
//! # Ok::<(), sessionspec_contract::StoreError>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]

mod capability;
mod clock;
mod error;
mod event;
mod options;
mod quick_json;
mod session;
mod store;

pub use capability::{Capability, CapabilitySet};
pub use clock::{Clock, SharedClock, SystemClock, VirtualClock};
pub use error::{ErrorKind, Result, StoreError};
pub use event::{EventKind, EventSink, StoreEvent};
pub use options::{AutoRemove, Caller, EncryptionOptions, IdTransform, Serializer, StoreOptions, duration};
pub use session::{Session, format_timestamp, parse_timestamp};
pub use store::{Listed, Namespace, OpenContext, RawAccess, RawRecord, Store, StoreDescription, StoreFactory, Tamper};

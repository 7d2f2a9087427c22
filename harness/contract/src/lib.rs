//! The session store contract that sessionspec checks.
//!
//! This crate says what a store is (the [`Store`] trait), what it stores ([`Session`]), how it
//! fails ([`StoreError`]), what it can do ([`Capability`]), what it reports ([`StoreEvent`]) and
//! which time it goes by ([`Clock`]). It must stay small: no runner, no scenarios, no backends.
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
pub use options::{AutoRemove, EncryptionOptions, IdTransform, Serializer, StoreOptions, duration};
pub use session::{Session, format_timestamp, parse_timestamp};
pub use store::{Listed, Namespace, OpenContext, RawAccess, RawRecord, Store, StoreDescription, StoreFactory, Tamper};

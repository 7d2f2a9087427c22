//! The store trait and how a harness opens stores. A store never knows it is being tested: the
//! harness opens it through its [`StoreFactory`] in a fresh [`Namespace`], drives it through
//! [`Store`], and drops the namespace afterwards.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{CapabilitySet, ErrorKind, EventSink, Result, Session, SharedClock, StoreError, StoreOptions, SystemClock};

/// A session store, modelled on express-session's `Store`.
///
/// `get`, `set` and `destroy` are required. The others default to an
/// [`ErrorKind::Unsupported`] error; a store that implements one declares the matching
/// [`crate::Capability`]. Every method may be called concurrently from several tasks.
#[async_trait]
pub trait Store: Send + Sync {
    /// The session stored under `sid`, or `None` if there is none or it has expired.
    async fn get(&self, sid: &str) -> Result<Option<Session>>;

    /// Stores `session` under `sid`, replacing any session there.
    async fn set(&self, sid: &str, session: &Session) -> Result<()>;

    /// Removes the session stored under `sid`. Removing a missing session succeeds.
    async fn destroy(&self, sid: &str) -> Result<()>;

    /// Moves the expiry of the session stored under `sid` to that of `session`'s cookie,
    /// without rewriting its data. Touching a missing or expired session does nothing.
    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        let _ = (sid, session);
        Err(StoreError::unsupported("touch"))
    }

    /// Every unexpired session.
    async fn all(&self) -> Result<Vec<Listed>> {
        Err(StoreError::unsupported("all"))
    }

    /// How many unexpired sessions there are.
    async fn length(&self) -> Result<u64> {
        Err(StoreError::unsupported("length"))
    }

    /// Removes every session.
    async fn clear(&self) -> Result<()> {
        Err(StoreError::unsupported("clear"))
    }

    /// The ids of every unexpired session.
    async fn ids(&self) -> Result<Vec<String>> {
        Err(StoreError::unsupported("ids"))
    }

    /// Stores `session` under `sid` when no session is stored there. When one is, it stores it
    /// under a fresh id of its choosing or fails with [`ErrorKind::Conflict`], and never replaces
    /// the session under `sid`. Returns the id the session was stored under.
    async fn create(&self, sid: &str, session: &Session) -> Result<String> {
        let _ = (sid, session);
        Err(StoreError::unsupported("create"))
    }

    /// Replaces the session stored under `sid` with `session`, in one step, when an unexpired
    /// session is stored there; stores nothing otherwise. Returns whether it wrote. A record
    /// store's `save` of what a request loaded: a session deleted or expired meanwhile stays
    /// gone (CONC-3), where [`Store::set`] would store it again.
    async fn update(&self, sid: &str, session: &Session) -> Result<bool> {
        let _ = (sid, session);
        Err(StoreError::unsupported("update"))
    }

    /// Removes every expired record and no unexpired one.
    async fn delete_expired(&self) -> Result<()> {
        Err(StoreError::unsupported("delete-expired"))
    }

    /// Releases the store's resources: timers stop, connections the store opened are closed.
    /// Later operations fail with [`ErrorKind::Closed`]; closing twice succeeds.
    async fn close(&self) -> Result<()> {
        Ok(())
    }

    /// Raw access to what is stored, for stores that declare `raw-inspection`.
    fn raw(&self) -> Option<&dyn RawAccess> {
        None
    }
}

/// One session listed by [`Store::all`].
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Its id, when the store reports it.
    pub sid: Option<String>,
    /// The session.
    pub session: Session,
}

/// What is physically stored, bypassing expiry: for checks like "the stored bytes never contain
/// the plaintext" or "auto-remove deleted the record".
#[async_trait]
pub trait RawAccess: Send + Sync {
    /// The record stored for `sid` (after any id transformation), expired or not.
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>>;

    /// How many records are stored, expired ones included.
    async fn count(&self) -> Result<u64>;

    /// The backend's indexes on the session records, as JSON objects with at least `name` and
    /// `key`, plus `expireAfterSeconds` for TTL indexes. Stores that declare `indexes`.
    async fn indexes(&self) -> Result<Vec<Value>> {
        Err(StoreError::unsupported("indexes"))
    }

    /// Damages the stored payload of `sid` in the way `tamper` says.
    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()>;
}

/// A stored record as the backend holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// The key, `_id` or primary key the record is stored under.
    pub key: String,
    /// The stored session payload: a string (JSON text or ciphertext) or a structured document.
    pub payload: Value,
    /// The stored expiry, if the record has one.
    pub expires: Option<DateTime<Utc>>,
    /// Other stored fields (`createdAt`, `updatedAt`, `lastModified`, a TTL in milliseconds…).
    pub fields: Map<String, Value>,
}

impl RawRecord {
    /// The record as one JSON object: `key`, `payload`, `expires` and the other fields.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("key".into(), Value::String(self.key.clone()));
        out.insert("payload".into(), self.payload.clone());
        out.insert(
            "expires".into(),
            self.expires.map(|t| Value::String(crate::format_timestamp(t))).unwrap_or(Value::Null),
        );
        for (k, v) in &self.fields {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }
}

/// How [`RawAccess::tamper`] damages a stored payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// Change one byte in the middle of the payload's underlying bytes (for ciphertext: the
    /// decoded bytes), keeping its outer encoding valid.
    FlipByte,
    /// Replace the payload with text that is neither valid JSON nor valid ciphertext.
    Garbage,
}

impl Tamper {
    /// The kebab-case name used in scenarios.
    pub fn name(self) -> &'static str {
        match self {
            Tamper::FlipByte => "flip-byte",
            Tamper::Garbage => "garbage",
        }
    }

    /// Looks a tampering up by name.
    pub fn from_name(name: &str) -> Option<Tamper> {
        [Tamper::FlipByte, Tamper::Garbage].into_iter().find(|t| t.name() == name)
    }

    /// The text [`Tamper::Garbage`] stores: neither valid JSON nor valid ciphertext (base64).
    pub const GARBAGE: &'static str = "\u{1}not json, not ciphertext";

    /// `text` damaged this way, for a store that keeps a payload as text. [`Tamper::FlipByte`]
    /// swaps the character in the middle for another ASCII one (`{` for anything but `{`, which
    /// becomes `[`), so the text stays UTF-8 and its JSON breaks or changes.
    pub fn damage(self, text: &str) -> String {
        match self {
            Tamper::FlipByte => {
                let mut chars: Vec<char> = text.chars().collect();
                let middle = chars.len() / 2;
                match chars.get_mut(middle) {
                    Some(c) => *c = if *c == '{' { '[' } else { '{' },
                    None => chars.push('{'),
                }
                chars.into_iter().collect()
            }
            Tamper::Garbage => Tamper::GARBAGE.to_owned(),
        }
    }
}

/// A name that isolates one scenario's records from every other's: a key prefix, a table, a
/// collection or a database. Lower-case ASCII letters, digits and `_`, starting with a letter,
/// at most 48 bytes, so it is a valid identifier in every backend without quoting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    /// Checks and wraps a namespace name.
    ///
    /// ```
    /// use sessionspec_contract::Namespace;
    ///
    /// assert_eq!(Namespace::new("ss4k2_17").unwrap().as_str(), "ss4k2_17");
    /// assert!(Namespace::new("Has-Dash").is_err());
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Namespace> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= 48
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Namespace(name))
        } else {
            Err(StoreError::new(
                ErrorKind::Invalid,
                format!("namespace `{name}` must be 1-48 of [a-z0-9_], starting with a letter"),
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a store is and runs on, as reports show it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreDescription {
    /// The store's name, as selected on the command line (`memory`, `sql-sqlite`, `redis`).
    pub name: String,
    /// The implementation's version.
    pub version: String,
    /// The language it is written in (`rust`, `javascript`).
    pub language: String,
    /// The backend it stores into (`memory`, `sqlite`, `redis`, `postgres`).
    pub backend: String,
    /// The backend's self-reported version, when it has one.
    pub backend_version: Option<String>,
    /// What the store can do.
    pub capabilities: CapabilitySet,
}

/// Everything a store needs to open in a scenario's namespace.
#[derive(Debug, Clone)]
pub struct OpenContext {
    /// The scenario's namespace; several instances may be opened on one.
    pub namespace: Namespace,
    /// The scenario's store options.
    pub options: StoreOptions,
    /// The clock to decide expiry by (stores that declare `virtual-clock`).
    pub clock: SharedClock,
    /// Where to send events (stores that declare `events`).
    pub events: EventSink,
}

impl OpenContext {
    /// What an application opens: `namespace` with default options, the system clock and no
    /// event listener. Change a field with struct update syntax for anything else.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionspec_contract::{Namespace, OpenContext, StoreOptions};
    ///
    /// let context = OpenContext {
    ///     options: StoreOptions { ttl: Some(Duration::from_secs(600)), ..StoreOptions::default() },
    ///     ..OpenContext::plain(Namespace::new("app").unwrap())
    /// };
    /// assert_eq!(context.options.ttl, Some(Duration::from_secs(600)));
    /// ```
    pub fn plain(namespace: Namespace) -> OpenContext {
        OpenContext {
            namespace,
            options: StoreOptions::default(),
            clock: SystemClock::shared(),
            events: EventSink::discard(),
        }
    }
}

/// Opens stores in namespaces and drops the namespaces afterwards. One factory stands for one
/// store implementation on one backend.
#[async_trait]
pub trait StoreFactory: Send + Sync {
    /// What the store is.
    fn describe(&self) -> &StoreDescription;

    /// Opens a store instance in `context.namespace`, creating what the namespace needs on
    /// first use.
    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>>;

    /// Removes everything the factory created for `namespace`, and nothing else.
    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()>;

    /// Lets go of what the factory holds once a run is over, such as the processes of an
    /// adapter (asked to shut down, and stopped when they do not). The default holds nothing.
    async fn shutdown(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_text_changes_in_the_middle_and_stays_utf8() {
        assert_eq!(Tamper::FlipByte.damage(r#"{"a":1}"#), r#"{"a{:1}"#);
        assert_eq!(Tamper::FlipByte.damage("ab{cd"), "ab[cd");
        assert_eq!(Tamper::FlipByte.damage("éé€"), "é{€");
        assert_eq!(Tamper::FlipByte.damage(""), "{");
        assert_eq!(Tamper::Garbage.damage(r#"{"a":1}"#), Tamper::GARBAGE);
        assert!(serde_json::from_str::<Value>(Tamper::GARBAGE).is_err());
    }
}

//! What a Mongo store is configured with: connect-mongo 6's options under their sessionspec
//! names, each defaulting as connect-mongo does. Building a config touches no server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mongodb::options::{Acknowledgment, WriteConcern};
use sessionspec_contract::{
    AutoRemove, ErrorKind, EventSink, Result, Serializer, SharedClock, StoreError, SystemClock,
};
use sessionspec_crypto::Cipher;

/// connect-mongo's default collection name.
pub const DEFAULT_COLLECTION: &str = "sessions";
/// connect-mongo's default fallback time-to-live (14 days) for a cookie without `expires`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(14 * 86_400);
/// connect-mongo's default sweep interval (10 minutes) for `auto-remove: interval`.
pub const DEFAULT_AUTO_REMOVE_INTERVAL: Duration = Duration::from_secs(600);
/// The database used when neither the config nor the connection URL names one (the driver's
/// and connect-mongo's `test`).
pub const DEFAULT_DATABASE: &str = "test";

/// How session ids become document `_id`s (connect-mongo's `transformId`).
#[derive(Clone)]
#[non_exhaustive]
pub enum TransformId {
    /// The lower-case hexadecimal SHA-256 digest of the id's UTF-8 bytes.
    Sha256,
    /// A function of the caller's choosing. It must be deterministic and injective enough for the
    /// application; the store cannot recover ids from it, so `ids` is unsupported.
    Custom(Arc<dyn Fn(&str) -> String + Send + Sync>),
}

impl TransformId {
    pub(crate) fn apply(&self, sid: &str) -> String {
        match self {
            TransformId::Sha256 => {
                use sha2::Digest as _;
                let digest = sha2::Sha256::digest(sid.as_bytes());
                digest.iter().map(|b| format!("{b:02x}")).collect()
            }
            TransformId::Custom(f) => f(sid),
        }
    }
}

impl fmt::Debug for TransformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransformId::Sha256 => f.write_str("Sha256"),
            TransformId::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Whether opening a store waits for its start-up work (the TTL index in `native` mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Startup {
    /// Opening returns once the index is in place, or fails with the reason (a conflicting
    /// index is [`ErrorKind::Conflict`]).
    #[default]
    Wait,
    /// Opening returns at once and the index is created in the background, as connect-mongo
    /// does; operations wait for it, a failure is retried by the next operation, and `close`
    /// cancels it cleanly (connect-mongo #413).
    Background,
}

/// The configuration of a [`crate::MongoStore`]. Every setting has connect-mongo 6's default.
#[derive(Clone)]
pub struct MongoStoreConfig {
    pub(crate) db_name: Option<String>,
    pub(crate) collection_name: String,
    pub(crate) ttl: Duration,
    pub(crate) auto_remove: AutoRemove,
    pub(crate) auto_remove_interval: Duration,
    pub(crate) touch_after: Option<Duration>,
    pub(crate) disable_touch: bool,
    pub(crate) timestamps: bool,
    pub(crate) serializer: Serializer,
    pub(crate) transform_id: Option<TransformId>,
    pub(crate) write_concern: Option<WriteConcern>,
    pub(crate) cipher: Option<Arc<dyn Cipher>>,
    pub(crate) clock: SharedClock,
    pub(crate) events: EventSink,
    pub(crate) startup: Startup,
}

impl Default for MongoStoreConfig {
    fn default() -> Self {
        MongoStoreConfig {
            db_name: None,
            collection_name: DEFAULT_COLLECTION.to_owned(),
            ttl: DEFAULT_TTL,
            auto_remove: AutoRemove::Native,
            auto_remove_interval: DEFAULT_AUTO_REMOVE_INTERVAL,
            touch_after: None,
            disable_touch: false,
            timestamps: false,
            serializer: Serializer::Json,
            transform_id: None,
            write_concern: None,
            cipher: None,
            clock: SystemClock::shared(),
            events: EventSink::discard(),
            startup: Startup::Wait,
        }
    }
}

impl MongoStoreConfig {
    /// connect-mongo's defaults.
    pub fn new() -> Self {
        MongoStoreConfig::default()
    }

    /// The database (connect-mongo's `dbName`); by default the one in the connection URL, else
    /// [`DEFAULT_DATABASE`].
    pub fn db_name(mut self, name: impl Into<String>) -> Self {
        self.db_name = Some(name.into());
        self
    }

    /// The collection (connect-mongo's `collectionName`, default [`DEFAULT_COLLECTION`]).
    pub fn collection_name(mut self, name: impl Into<String>) -> Self {
        self.collection_name = name.into();
        self
    }

    /// The fallback time-to-live for a cookie without `expires` (connect-mongo's `ttl`, default
    /// 14 days). It never overrides a cookie's `expires`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How expired documents leave the collection (connect-mongo's `autoRemove`, default
    /// `native`).
    pub fn auto_remove(mut self, mode: AutoRemove) -> Self {
        self.auto_remove = mode;
        self
    }

    /// How often the `interval` sweep runs (connect-mongo's `autoRemoveInterval`, default 10
    /// minutes). Must not be zero.
    pub fn auto_remove_interval(mut self, every: Duration) -> Self {
        self.auto_remove_interval = every;
        self
    }

    /// Lazy touch (connect-mongo's `touchAfter`): a touch within `window` of the session's
    /// last write writes nothing. The window is kept in the document's `lastModified` field,
    /// never in the session.
    pub fn touch_after(mut self, window: Duration) -> Self {
        self.touch_after = Some(window);
        self
    }

    /// `touch` succeeds without writing anything.
    pub fn disable_touch(mut self, disable: bool) -> Self {
        self.disable_touch = disable;
        self
    }

    /// Documents carry `createdAt` (first write) and `updatedAt` (every write), as with
    /// connect-mongo's `timestamps`.
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }

    /// The stored form of the session: a JSON string (connect-mongo's `stringify: true`, the
    /// default) or a BSON document (`stringify: false`).
    pub fn serializer(mut self, serializer: Serializer) -> Self {
        self.serializer = serializer;
        self
    }

    /// Transform ids before they become `_id`s (connect-mongo's `transformId`).
    pub fn transform_id(mut self, transform: TransformId) -> Self {
        self.transform_id = Some(transform);
        self
    }

    /// The write concern of every write, index creation included (connect-mongo's
    /// `writeOperationOptions`). It must be acknowledged: the Rust driver refuses `w: 0`, and
    /// the store needs the server's answer to tell `create` from `update` and to know whether a
    /// touch found its session.
    pub fn write_concern(mut self, concern: WriteConcern) -> Self {
        self.write_concern = Some(concern);
        self
    }

    /// Encrypt the `session` field with `cipher` (connect-mongo's `cryptoAdapter`); `_id`,
    /// `expires` and the timestamps stay readable. See `sessionspec-crypto`'s `AesGcmCipher`
    /// for connect-mongo's `createWebCryptoAdapter` format.
    pub fn cipher(mut self, cipher: Arc<dyn Cipher>) -> Self {
        self.cipher = Some(cipher);
        self
    }

    /// The clock expiry is decided by (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Where `create`, `update`, `set`, `touch` and `destroy` events go (default: nowhere).
    pub fn events(mut self, events: EventSink) -> Self {
        self.events = events;
        self
    }

    /// Whether opening waits for start-up work (default [`Startup::Wait`]).
    pub fn startup(mut self, startup: Startup) -> Self {
        self.startup = startup;
        self
    }

    /// Checks what can be checked without a server.
    pub(crate) fn validate(&self, db_name: &str) -> Result<()> {
        let invalid = |message: String| Err(StoreError::new(ErrorKind::Invalid, message));
        const DB_FORBIDDEN: &[char] = &['/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?', '\0'];
        if db_name.is_empty() || db_name.len() >= 64 || db_name.contains(DB_FORBIDDEN) {
            return invalid(format!(
                "`{db_name}` is not a usable MongoDB database name: 1-63 bytes without / \\ . space \" $ * < > : | ?"
            ));
        }
        let coll = &self.collection_name;
        if coll.is_empty() || coll.contains(['$', '\0']) || coll.starts_with("system.") {
            return invalid(format!(
                "`{coll}` is not a usable MongoDB collection name: non-empty, without $ or NUL, not starting with `system.`"
            ));
        }
        if db_name.len() + 1 + coll.len() > 255 {
            return invalid(format!("the namespace `{db_name}.{coll}` is longer than MongoDB's 255 bytes"));
        }
        if let Some(concern) = &self.write_concern
            && concern.w == Some(Acknowledgment::Nodes(0))
            && concern.journal != Some(true)
        {
            return invalid(
                "an unacknowledged write concern (`w: 0`) is not supported: the driver refuses it, and the \
                 store needs acknowledged writes to report create, update and touch"
                    .to_owned(),
            );
        }
        if self.auto_remove == AutoRemove::Interval && self.auto_remove_interval.is_zero() {
            return invalid("`auto-remove-interval` must be longer than zero".to_owned());
        }
        Ok(())
    }
}

impl fmt::Debug for MongoStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStoreConfig")
            .field("db_name", &self.db_name)
            .field("collection_name", &self.collection_name)
            .field("ttl", &self.ttl)
            .field("auto_remove", &self.auto_remove)
            .field("auto_remove_interval", &self.auto_remove_interval)
            .field("touch_after", &self.touch_after)
            .field("disable_touch", &self.disable_touch)
            .field("timestamps", &self.timestamps)
            .field("serializer", &self.serializer)
            .field("transform_id", &self.transform_id)
            .field("write_concern", &self.write_concern)
            // The cipher's own Debug redacts its key.
            .field("cipher", &self.cipher)
            .field("startup", &self.startup)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_ids_are_lower_hex_digests() {
        assert_eq!(
            TransformId::Sha256.apply("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn names_are_checked() {
        let config = MongoStoreConfig::new();
        assert!(config.validate("app").is_ok());
        for bad in ["", "a.b", "a b", "a$", &"x".repeat(64)] {
            assert_eq!(config.validate(bad).unwrap_err().kind(), ErrorKind::Invalid, "{bad:?}");
        }
        for bad in ["", "a$b", "system.users"] {
            let config = MongoStoreConfig::new().collection_name(bad);
            assert_eq!(config.validate("app").unwrap_err().kind(), ErrorKind::Invalid, "{bad:?}");
        }
        let zero = MongoStoreConfig::new().auto_remove(AutoRemove::Interval).auto_remove_interval(Duration::ZERO);
        assert_eq!(zero.validate("app").unwrap_err().kind(), ErrorKind::Invalid);
        let unacknowledged = MongoStoreConfig::new().write_concern(WriteConcern::nodes(0));
        assert_eq!(unacknowledged.validate("app").unwrap_err().kind(), ErrorKind::Invalid);
        assert!(MongoStoreConfig::new().write_concern(WriteConcern::majority()).validate("app").is_ok());
    }
}

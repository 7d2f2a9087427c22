//! sessionspec's reference Redis session store, storage-compatible with connect-redis 9: one
//! string key `prefix + sid` per session holding the session's JSON text, expiring by the key's
//! TTL on the server's clock.
//!
//! It must never touch a key outside its prefix: every bulk operation is a `SCAN` whose `MATCH`
//! pattern is the escaped prefix (never `KEYS`), and no sid or prefix is ever read as a pattern.
#![warn(missing_docs)]

mod connection;
mod factory;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sessionspec_contract::{ErrorKind, EventSink, Session, StoreError};

pub use factory::{RedisFactory, description, namespace_prefix};
pub use store::RedisStore;

#[cfg(feature = "tower-sessions")]
sessionspec_tower_sessions::session_store!(RedisStore);

/// connect-redis's key prefix.
pub const DEFAULT_PREFIX: &str = "sess:";
/// connect-redis's fallback time-to-live for a cookie without `expires` (one day).
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);
/// connect-redis's `scanCount`: the `COUNT` hint of each `SCAN` call.
pub const DEFAULT_SCAN_COUNT: u32 = 100;
/// The bound on one operation, reconnection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a session lives in Redis.
#[derive(Clone)]
pub enum Ttl {
    /// The fallback for a session whose cookie has no `expires`; a cookie's `expires` always
    /// wins (connect-redis's numeric `ttl`, and the spec's `ttl` option). Zero means such a
    /// session is not kept at all.
    Fallback(Duration),
    /// A policy that decides every session's lifetime and overrides its cookie (connect-redis's
    /// function `ttl`). It is not the spec's `ttl`: a key can outlive the browser's cookie
    /// (connect-redis #251). Zero means the session is not kept.
    Function(Arc<dyn Fn(&Session) -> Duration + Send + Sync>),
}

impl Default for Ttl {
    fn default() -> Self {
        Ttl::Fallback(DEFAULT_TTL)
    }
}

impl fmt::Debug for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ttl::Fallback(d) => f.debug_tuple("Fallback").field(d).finish(),
            Ttl::Function(_) => f.write_str("Function(..)"),
        }
    }
}

/// Turns sessions into the bytes stored under their keys and back (connect-redis's
/// `serializer`). Implementations must fail with [`ErrorKind::Serialize`] on bytes they cannot
/// decode into a JSON object, never return a partial session.
pub trait SessionSerializer: Send + Sync {
    /// The bytes to store for `session`.
    fn serialize(&self, session: &Session) -> Result<Vec<u8>, StoreError>;
    /// The session stored as `bytes` (the value as read, handed over).
    fn deserialize(&self, bytes: Vec<u8>) -> Result<Session, StoreError>;
}

/// JSON text, as `JSON.stringify` and `JSON.parse` in connect-redis's default serializer.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

impl SessionSerializer for JsonSerializer {
    fn serialize(&self, session: &Session) -> Result<Vec<u8>, StoreError> {
        Ok(session.to_json().into_bytes())
    }

    fn deserialize(&self, bytes: Vec<u8>) -> Result<Session, StoreError> {
        // Checked now, decoded when the application first reads it.
        Session::from_json_bytes(bytes)
    }
}

/// What a [`RedisStore`] does; the defaults are connect-redis's.
#[derive(Clone)]
pub struct RedisConfig {
    /// Prepended to every sid to make its key (`sess:`). Taken literally, also in `SCAN`
    /// patterns; may be empty.
    pub prefix: String,
    /// How long sessions live (a one-day fallback).
    pub ttl: Ttl,
    /// Store keys without a TTL and make `touch` do nothing (connect-redis's `disableTTL`).
    /// Sessions then never expire, which the spec does not allow (GET-2): for parity only.
    pub disable_ttl: bool,
    /// `touch` succeeds without writing (connect-redis's `disableTouch`).
    pub disable_touch: bool,
    /// Whether a touch also stores the cookie it is given (spec TOUCH-5), at the price of a
    /// read before the conditional write. Off, a touch only moves the key's TTL, as in
    /// connect-redis.
    pub touch_rewrites_cookie: bool,
    /// The `COUNT` hint of each `SCAN` call behind `all`, `length`, `clear` and `ids`.
    pub scan_count: u32,
    /// How sessions are stored (JSON text).
    pub serializer: Arc<dyn SessionSerializer>,
    /// The bound on one operation, waiting for a reconnection included; then it fails with
    /// [`ErrorKind::Timeout`].
    pub timeout: Duration,
    /// Where `create`, `update`, `set`, `touch` and `destroy` events go. With a sink, a `set`
    /// runs as a small script that also reports whether the key existed; without one it is a
    /// plain `SET`.
    pub events: Option<EventSink>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl: Ttl::default(),
            disable_ttl: false,
            disable_touch: false,
            touch_rewrites_cookie: true,
            scan_count: DEFAULT_SCAN_COUNT,
            serializer: Arc::new(JsonSerializer),
            timeout: DEFAULT_TIMEOUT,
            events: None,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("disable_ttl", &self.disable_ttl)
            .field("disable_touch", &self.disable_touch)
            .field("touch_rewrites_cookie", &self.touch_rewrites_cookie)
            .field("scan_count", &self.scan_count)
            .field("timeout", &self.timeout)
            .field("events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

/// `prefix` as a `SCAN MATCH` pattern that matches exactly the keys starting with it: every
/// glob metacharacter is escaped, then `*` is appended.
pub fn prefix_pattern(prefix: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 1);
    for &b in prefix.as_bytes() {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\' | b'^') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'*');
    out
}

/// Maps a driver error to a store error: timeouts to [`ErrorKind::Timeout`], the rest to
/// [`ErrorKind::Backend`]. The driver's message names the command, never a password.
pub(crate) fn backend(operation: &str, error: redis::RedisError) -> StoreError {
    let kind = if error.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Backend };
    StoreError::new(kind, format!("redis {operation} failed")).with_source(error)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn prefix_pattern_escapes_every_glob_character() {
        assert_eq!(prefix_pattern("sess:"), b"sess:*");
        assert_eq!(prefix_pattern("a*b?[c]\\^"), b"a\\*b\\?\\[c\\]\\\\\\^*");
        assert_eq!(prefix_pattern(""), b"*");
    }

    #[test]
    fn json_serializer_round_trips_and_rejects_non_objects() {
        let session = Session::from_value(json!({"cookie": {"expires": null}, "n": [1, {}], "s": "é😀"})).unwrap();
        let bytes = JsonSerializer.serialize(&session).unwrap();
        assert_eq!(JsonSerializer.deserialize(bytes).unwrap(), session);
        for bad in [&b"[1]"[..], b"\"text\"", b"{", b"\x01not json"] {
            assert_eq!(JsonSerializer.deserialize(bad.to_vec()).unwrap_err().kind(), ErrorKind::Serialize);
        }
    }
}

//! tower-sessions on top of sessionspec's contract: the one mapping from a contract [`Store`] to
//! tower-sessions' `SessionStore` and `ExpiredDeletion`, so that each reference store becomes a
//! tower-sessions store with [`session_store!`] and keeps its express-session storage layout.
//!
//! It never stores a record in a shape express-session could not load: every session written
//! has a `cookie` object whose `expires` is the record's `expiry_date`.
//!
//! | tower-sessions | contract [`Store`] |
//! |---|---|
//! | `Id` | the sid: `Id`'s `Display` (22 characters of base64url), read back by `FromStr` |
//! | `save(record)` | `update(sid, session)`: `data` with `cookie.expires` = `expiry_date`, written only over a live session (a store without `update`: `set`) |
//! | `load(id)` | `get(sid)`: `data` = the session (its `cookie` included), `expiry_date` = `cookie.expires` |
//! | `delete(id)` | `destroy(sid)` |
//! | `create(record)` | `create(sid, session)`; on `conflict`, a fresh `Id` and again |
//! | `delete_expired()` | `delete_expired()` |
#![warn(missing_docs)]

use std::collections::HashMap;
use std::error::Error as _;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::{ErrorKind, Session, Store, StoreError, format_timestamp};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{Error, Result};

pub use tower_sessions_core;

/// What [`session_store!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
}

/// How many fresh ids [`create`] tries after the first collides before it gives up. A random
/// 128-bit id collides about never: a store that keeps answering `conflict` is broken.
pub const CREATE_ATTEMPTS: usize = 8;

/// How long a session Express wrote with a browser-session cookie (no `expires`) counts as
/// lasting when loaded: the reference stores' fallback time-to-live, one day. The store itself
/// keeps it by its own fallback.
pub const BROWSER_SESSION_TTL: TimeDelta = TimeDelta::days(1);

/// Implements tower-sessions' `SessionStore` and `ExpiredDeletion` for a type implementing
/// [`Store`], by this crate's [`save`], [`load`], [`delete`], [`create`] and
/// [`delete_expired`]. A store crate writes it once for its own type (the orphan rule keeps the
/// impls there):
///
/// ```ignore
/// sessionspec_tower_sessions::session_store!(RedisStore);
/// ```
///
/// tower-sessions also wants the type to be `Debug` (and `Clone` for `SessionManagerLayer`).
#[macro_export]
macro_rules! session_store {
    ($store:ty) => {
        #[$crate::__private::async_trait]
        impl $crate::tower_sessions_core::SessionStore for $store {
            async fn create(
                &self,
                record: &mut $crate::tower_sessions_core::session::Record,
            ) -> $crate::tower_sessions_core::session_store::Result<()> {
                $crate::create(self, record).await
            }

            async fn save(
                &self,
                record: &$crate::tower_sessions_core::session::Record,
            ) -> $crate::tower_sessions_core::session_store::Result<()> {
                $crate::save(self, record).await
            }

            async fn load(
                &self,
                id: &$crate::tower_sessions_core::session::Id,
            ) -> $crate::tower_sessions_core::session_store::Result<
                ::std::option::Option<$crate::tower_sessions_core::session::Record>,
            > {
                $crate::load(self, id).await
            }

            async fn delete(
                &self,
                id: &$crate::tower_sessions_core::session::Id,
            ) -> $crate::tower_sessions_core::session_store::Result<()> {
                $crate::delete(self, id).await
            }
        }

        #[$crate::__private::async_trait]
        impl $crate::tower_sessions_core::ExpiredDeletion for $store {
            async fn delete_expired(&self) -> $crate::tower_sessions_core::session_store::Result<()> {
                $crate::delete_expired(self).await
            }
        }
    };
}

/// The sid a record is stored under: the `Id`'s `Display`, 22 characters of base64url.
pub fn sid(id: &Id) -> String {
    id.to_string()
}

/// The `Id` of a sid [`sid`] wrote; a `Decode` error for anything else.
pub fn id(sid: &str) -> Result<Id> {
    sid.parse().map_err(|e| Error::Decode(format!("`{sid}` is not a tower-sessions id: {e}")))
}

/// The session stored for `record`: its `data`, with a `cookie` whose `expires` is the record's
/// `expiry_date` (ISO 8601, milliseconds, `Z`). A record without a `cookie` gets the one
/// express-session writes (`originalMaxAge` the milliseconds until expiry, `httpOnly`, path
/// `/`), so an Express app sharing the store can load it; a `cookie` that is not an object is an
/// `Encode` error.
pub fn session(record: &Record) -> Result<Session> {
    let expiry = to_chrono(record.expiry_date)?;
    let expires = Value::String(format_timestamp(expiry));
    let mut map = Map::with_capacity(record.data.len() + 1);
    match record.data.get("cookie") {
        Some(Value::Object(cookie)) => {
            let mut cookie = cookie.clone();
            cookie.insert("expires".to_owned(), expires);
            map.insert("cookie".to_owned(), Value::Object(cookie));
        }
        Some(other) => {
            return Err(Error::Encode(format!(
                "the session's `cookie` member is {other}, not an object: express-session keeps its cookie there"
            )));
        }
        None => {
            let max_age = (expiry - Utc::now()).num_milliseconds();
            let mut cookie = Map::with_capacity(4);
            cookie.insert("originalMaxAge".to_owned(), Value::from(max_age));
            cookie.insert("expires".to_owned(), expires);
            cookie.insert("httpOnly".to_owned(), Value::Bool(true));
            cookie.insert("path".to_owned(), Value::String("/".to_owned()));
            map.insert("cookie".to_owned(), Value::Object(cookie));
        }
    }
    for (key, value) in &record.data {
        if key != "cookie" {
            map.insert(key.clone(), value.clone());
        }
    }
    Ok(Session::from_map(map))
}

/// The record of a session loaded for `id`: its members (the `cookie` included) are the data,
/// `cookie.expires` the expiry date ([`BROWSER_SESSION_TTL`] from now for a cookie without one).
pub fn record(id: Id, session: Session) -> Result<Record> {
    let expiry = match session.expires() {
        Ok(Some(at)) => at,
        Ok(None) => Utc::now() + BROWSER_SESSION_TTL,
        Err(e) => return Err(Error::Decode(message(&e))),
    };
    let Value::Object(map) = session.into_value() else { unreachable!("a session is a JSON object") };
    let data: HashMap<String, Value> = map.into_iter().collect();
    Ok(Record { id, data, expiry_date: to_time(expiry)? })
}

/// `SessionStore::save`: [`Store::update`] of [`session`]`(record)` under [`sid`]`(record.id)`.
///
/// tower-sessions saves only a record its request loaded (a new one goes to `create`), so a
/// record deleted or expired since (a logout in a parallel request) is not written again: the
/// logout stands (CONC-3). A store without `update` gets [`Store::set`], which writes it again.
pub async fn save<S: Store + ?Sized>(store: &S, record: &Record) -> Result<()> {
    let session = session(record)?;
    let sid = sid(&record.id);
    match store.update(&sid, &session).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            store.set(&sid, &session).await.map_err(|e| error(e, Error::Encode))
        }
        Err(e) => Err(error(e, Error::Encode)),
    }
}

/// `SessionStore::load`: [`Store::get`], as [`record`] reads it.
pub async fn load<S: Store + ?Sized>(store: &S, id: &Id) -> Result<Option<Record>> {
    let found = store.get(&sid(id)).await.map_err(|e| error(e, Error::Decode))?;
    found.map(|session| record(*id, session)).transpose()
}

/// `SessionStore::delete`: [`Store::destroy`].
pub async fn delete<S: Store + ?Sized>(store: &S, id: &Id) -> Result<()> {
    store.destroy(&sid(id)).await.map_err(|e| error(e, Error::Backend))
}

/// `SessionStore::create`: [`Store::create`], which never replaces a live session. When the id
/// is taken (`conflict`) the record gets a fresh `Id` and is created again, as tower-sessions'
/// bundled stores do, up to [`CREATE_ATTEMPTS`] times; when the store chose another id, the
/// record gets that one.
pub async fn create<S: Store + ?Sized>(store: &S, record: &mut Record) -> Result<()> {
    let session = session(record)?;
    for _ in 0..CREATE_ATTEMPTS {
        let wanted = sid(&record.id);
        match store.create(&wanted, &session).await {
            Ok(stored) if stored == wanted => return Ok(()),
            Ok(stored) => {
                record.id = id(&stored)?;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Conflict => record.id = Id::default(),
            Err(e) => return Err(error(e, Error::Encode)),
        }
    }
    Err(Error::Backend(format!("create: {CREATE_ATTEMPTS} fresh ids in a row were taken")))
}

/// `ExpiredDeletion::delete_expired`: [`Store::delete_expired`].
pub async fn delete_expired<S: Store + ?Sized>(store: &S) -> Result<()> {
    store.delete_expired().await.map_err(|e| error(e, Error::Backend))
}

/// `e` as a tower-sessions error with the store's message and its causes: `serialize`, `invalid`
/// and `decrypt` errors become `codec` (`Encode` when writing, `Decode` when reading), every other
/// kind `Backend`.
pub fn error(e: StoreError, codec: fn(String) -> Error) -> Error {
    match e.kind() {
        ErrorKind::Serialize | ErrorKind::Invalid | ErrorKind::Decrypt => codec(message(&e)),
        _ => Error::Backend(message(&e)),
    }
}

/// The error's text followed by its causes, `: `-separated.
fn message(e: &StoreError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn to_chrono(at: OffsetDateTime) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(at.unix_timestamp(), at.nanosecond())
        .ok_or_else(|| Error::Encode(format!("expiry date {at} is out of range")))
}

fn to_time(at: DateTime<Utc>) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(at.timestamp())
        .and_then(|t| t.replace_nanosecond(at.timestamp_subsec_nanos()))
        .map_err(|e| Error::Decode(format!("expiry date {} is out of range: {e}", format_timestamp(at))))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn an_id_is_its_display_and_back() {
        let id = Id(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let sid = sid(&id);
        assert_eq!(sid.len(), 22);
        assert_eq!(super::id(&sid).unwrap(), id);
        assert!(matches!(super::id("not an id"), Err(Error::Decode(_))));
    }

    #[test]
    fn a_record_without_a_cookie_gets_express_sessions_cookie() {
        let expiry = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let record = Record { id: Id(1), data: HashMap::from([("n".to_owned(), json!(1))]), expiry_date: expiry };
        let session = session(&record).unwrap();
        let cookie = session.cookie().unwrap();
        assert_eq!(cookie["httpOnly"], json!(true));
        assert_eq!(cookie["path"], json!("/"));
        let max_age = cookie["originalMaxAge"].as_i64().unwrap();
        assert!((3_599_000..=3_600_000).contains(&max_age), "{max_age}");
        assert_eq!(cookie["expires"], json!(format_timestamp(to_chrono(expiry).unwrap())));
        assert_eq!(session.as_map()["n"], json!(1));
    }

    #[test]
    fn a_cookie_keeps_its_members_and_says_the_expiry_date() {
        let data = HashMap::from([
            (
                "cookie".to_owned(),
                json!({"originalMaxAge": 1000, "expires": "2000-01-01T00:00:00.000Z", "secure": true}),
            ),
            ("user".to_owned(), json!("ada")),
        ]);
        let record = Record { id: Id(2), data, expiry_date: at("2030-05-06T07:08:09.123456Z") };
        let session = session(&record).unwrap();
        assert_eq!(
            session.into_value(),
            json!({"cookie": {"originalMaxAge": 1000, "expires": "2030-05-06T07:08:09.123Z", "secure": true}, "user": "ada"})
        );
    }

    #[test]
    fn a_cookie_that_is_not_an_object_is_an_encode_error() {
        let data = HashMap::from([("cookie".to_owned(), json!("chocolate"))]);
        let record = Record { id: Id(3), data, expiry_date: OffsetDateTime::now_utc() };
        assert!(matches!(session(&record), Err(Error::Encode(_))));
    }

    #[test]
    fn a_loaded_session_is_a_record_expiring_with_its_cookie() {
        let stored = Session::from_value(json!({"cookie": {"expires": "2030-05-06T07:08:09.123Z"}, "n": 1})).unwrap();
        let record = record(Id(4), stored).unwrap();
        assert_eq!(record.id, Id(4));
        assert_eq!(record.expiry_date, at("2030-05-06T07:08:09.123Z"));
        assert_eq!(record.data["n"], json!(1));
        assert_eq!(record.data["cookie"], json!({"expires": "2030-05-06T07:08:09.123Z"}));

        let bad = Session::from_value(json!({"cookie": {"expires": "soon"}})).unwrap();
        assert!(matches!(super::record(Id(5), bad), Err(Error::Decode(_))));
    }

    #[test]
    fn errors_keep_the_stores_message() {
        let e = StoreError::new(ErrorKind::Serialize, "stored session is not valid JSON");
        match error(e, Error::Decode) {
            Error::Decode(text) => assert_eq!(text, "serialize: stored session is not valid JSON"),
            other => panic!("{other:?}"),
        }
        let e = StoreError::new(ErrorKind::Timeout, "redis get failed");
        assert!(matches!(error(e, Error::Decode), Error::Backend(text) if text == "timeout: redis get failed"));
    }
}

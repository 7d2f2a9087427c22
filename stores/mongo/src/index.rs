//! The TTL index of `auto-remove: native`: `{expires: 1}` with `expireAfterSeconds: 0`, named
//! `expires_1` as connect-mongo names it. Creating it must be idempotent and race-free across
//! processes, and an existing index that differs must be reported as a conflict, never retried
//! forever or papered over.

use std::sync::Mutex;
use std::time::Duration;

use futures::TryStreamExt as _;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use sessionspec_contract::{ErrorKind, Result, StoreError};

use crate::document::EXPIRES;
use crate::error::{self, codes};

/// The name MongoDB gives an index on `{expires: 1}`.
pub const TTL_INDEX_NAME: &str = "expires_1";

/// How many times creation is retried after losing a race to another process.
const ATTEMPTS: u32 = 5;

/// The collection's indexes as the server lists them; none when the collection does not exist.
pub(crate) async fn list(collection: &Collection<Document>) -> Result<Vec<Document>> {
    // The driver's `list_indexes` parses into `IndexModel`, which drops fields; the raw
    // command keeps every field the server reports.
    let db = collection.client().database(collection.namespace().db.as_str());
    match db.run_cursor_command(doc! {"listIndexes": collection.name()}).await {
        Ok(cursor) => cursor.try_collect().await.map_err(|e| error::backend("listing indexes", e)),
        Err(e) if error::code(&e) == Some(codes::NAMESPACE_NOT_FOUND) => Ok(Vec::new()),
        Err(e) => Err(error::backend("listing indexes", e)),
    }
}

/// What an existing index on `expires` (or named `expires_1`) is, compared with the TTL index.
enum Existing {
    /// The TTL index the store needs.
    Matching,
    /// An index that takes its key or its name but differs; the text says how.
    Conflicting(String),
}

fn is_expires_key(key: Option<&Bson>) -> bool {
    let Some(Bson::Document(key)) = key else { return false };
    key.len() == 1 && key.get(EXPIRES).and_then(number).is_some_and(|n| n == 1.0)
}

fn number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(f) => Some(*f),
        _ => None,
    }
}

fn describe(index: &Document) -> String {
    let name = index.get_str("name").unwrap_or("?");
    let key = index.get("key").map(|k| k.to_string()).unwrap_or_else(|| "?".into());
    let ttl = match index.get("expireAfterSeconds") {
        Some(v) => format!("expireAfterSeconds: {v}"),
        None => "no expireAfterSeconds (not a TTL index)".into(),
    };
    let partial = if index.contains_key("partialFilterExpression") { ", a partialFilterExpression" } else { "" };
    format!("`{name}` on {key} with {ttl}{partial}")
}

fn examine(indexes: &[Document]) -> Option<Existing> {
    let mut found = None;
    for index in indexes {
        let on_expires = is_expires_key(index.get("key"));
        let named = index.get_str("name") == Ok(TTL_INDEX_NAME);
        if !on_expires && !named {
            continue;
        }
        let ttl_zero = index.get("expireAfterSeconds").and_then(number) == Some(0.0);
        let partial = index.contains_key("partialFilterExpression");
        if on_expires && ttl_zero && !partial {
            return Some(Existing::Matching);
        }
        found = Some(Existing::Conflicting(describe(index)));
    }
    found
}

fn conflict(collection: &Collection<Document>, existing: &str) -> StoreError {
    StoreError::new(
        ErrorKind::Conflict,
        format!(
            "collection `{}` already has index {existing}, but `auto-remove: native` needs the TTL index \
             `{TTL_INDEX_NAME}` on {{expires: 1}} with expireAfterSeconds: 0. Drop or change that index \
             (collMod), or open the store with `auto-remove: interval` or `disabled`",
            collection.namespace()
        ),
    )
}

/// Decides, between start-up work and `close`, whether an index creation may still be sent.
/// A creation the server has received completes on the server whatever the client does, so
/// `close` must either stop start-up before it sends one, or wait for the one in flight;
/// otherwise the index (and the collection) could appear after `close` returned.
#[derive(Debug, Default)]
pub(crate) struct CreationGate(Mutex<GateState>);

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    creating: bool,
}

impl CreationGate {
    /// Whether a creation may be sent now; if so, it counts as in flight until `leave`.
    fn enter(&self) -> bool {
        let mut state = self.0.lock().expect("lock");
        state.creating = !state.closed;
        state.creating
    }

    fn leave(&self) {
        self.0.lock().expect("lock").creating = false;
    }

    /// Lets no creation start from now on; says whether one is in flight.
    pub(crate) fn close(&self) -> bool {
        let mut state = self.0.lock().expect("lock");
        state.closed = true;
        state.creating
    }
}

/// Marks the creation finished however its future ends (completed, failed or dropped).
struct InFlight<'a>(&'a CreationGate);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Makes sure the TTL index exists. Safe to run from many processes at once: the server treats
/// identical creations as one, and a creation that loses a race is checked again by listing.
pub(crate) async fn ensure_ttl(collection: &Collection<Document>, gate: &CreationGate) -> Result<()> {
    // `background: true` as connect-mongo sends it. MongoDB has ignored the option since 4.2,
    // but a server that compares it (SecantusDB 0.7.0b3) would otherwise see connect-mongo's
    // request for the same index as a conflicting one.
    #[allow(deprecated)]
    let model = IndexModel::builder()
        .keys(doc! {EXPIRES: 1})
        .options(IndexOptions::builder().expire_after(Duration::ZERO).background(true).build())
        .build();
    let mut last_error = None;
    for attempt in 0..ATTEMPTS {
        match examine(&list(collection).await?) {
            Some(Existing::Matching) => return Ok(()),
            Some(Existing::Conflicting(existing)) => return Err(conflict(collection, &existing)),
            None => {}
        }
        if !gate.enter() {
            return Err(StoreError::closed("index creation"));
        }
        let in_flight = InFlight(gate);
        let created = collection.create_index(model.clone()).await;
        drop(in_flight);
        match created {
            Ok(_) => return Ok(()),
            Err(e) if error::code(&e).is_some_and(codes::is_index_race) => {
                // Another process created the collection or an index meanwhile: look again.
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt + 1))).await;
            }
            Err(e) => return Err(error::backend("creating the TTL index", e)),
        }
    }
    Err(match last_error {
        Some(e) => error::backend("creating the TTL index kept racing with other processes", e),
        None => StoreError::new(ErrorKind::Backend, "creating the TTL index kept racing with other processes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_stops_new_creations_and_reports_one_in_flight() {
        let gate = CreationGate::default();
        assert!(gate.enter());
        assert!(gate.close(), "a creation is in flight");
        gate.leave();
        assert!(!gate.enter(), "no creation starts after close");
        assert!(!gate.close());
    }

    #[test]
    fn recognises_the_ttl_index_and_conflicts() {
        let id = doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"};
        let ttl = doc! {"v": 2, "key": {"expires": 1}, "name": "expires_1", "expireAfterSeconds": 0};
        let ttl_long = doc! {"v": 2, "key": {"expires": 1}, "name": "expires_1", "expireAfterSeconds": Bson::Int64(0)};
        let plain = doc! {"v": 2, "key": {"expires": 1}, "name": "expires_1"};
        let other_ttl = doc! {"v": 2, "key": {"expires": 1}, "name": "expiry", "expireAfterSeconds": 3600};
        let name_taken = doc! {"v": 2, "key": {"expires": -1}, "name": "expires_1"};
        assert!(examine(std::slice::from_ref(&id)).is_none());
        assert!(matches!(examine(&[id.clone(), ttl.clone()]), Some(Existing::Matching)));
        assert!(matches!(examine(&[ttl_long]), Some(Existing::Matching)));
        for bad in [plain, other_ttl, name_taken] {
            let Some(Existing::Conflicting(text)) = examine(&[id.clone(), bad.clone()]) else {
                panic!("{bad} is a conflict")
            };
            assert!(text.contains(bad.get_str("name").unwrap()), "{text}");
        }
        // A matching index wins over an unrelated conflicting one on the same key.
        assert!(matches!(examine(&[doc! {"key": {"expires": 1}, "name": "x"}, ttl]), Some(Existing::Matching)));
    }
}

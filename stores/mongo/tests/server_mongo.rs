//! The Mongo store against a real server (SESSIONSPEC_MONGO_URL; `harness/backends/mongo/secantus.sh
//! up` starts one): connect-mongo's document layout both ways, twenty instances starting at once,
//! close while the TTL index is being created, a conflicting index, the interval sweep and
//! encryption at rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures::future::join_all;
use mongodb::bson::{Bson, DateTime as BsonDateTime, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};
use serde_json::{Value, json};
use sessionspec_contract::{
    AutoRemove, Clock, ErrorKind, EventKind, EventSink, Serializer, Session, Store, StoreEvent, VirtualClock,
    format_timestamp,
};
use sessionspec_crypto::AesGcmCipher;
use sessionspec_store_mongo::{MongoStore, MongoStoreConfig, Startup, TTL_INDEX_NAME};

fn url() -> String {
    std::env::var("SESSIONSPEC_MONGO_URL").unwrap_or_else(|_| {
        panic!(
            "SESSIONSPEC_MONGO_URL is not set: these tests need a MongoDB-compatible server; \
             run `eval \"$(harness/backends/mongo/secantus.sh up)\"` first"
        )
    })
}

async fn client() -> Client {
    Client::with_uri_str(url()).await.expect("a client for SESSIONSPEC_MONGO_URL")
}

/// A database of this test's own, dropped when the guard is dropped by `finish`.
struct Scratch {
    client: Client,
    db: String,
}

impl Scratch {
    async fn new(label: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let db = format!("sstest_{}_{}_{label}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        Scratch { client: client().await, db }
    }

    fn config(&self) -> MongoStoreConfig {
        MongoStoreConfig::new().db_name(&self.db)
    }

    fn sessions(&self) -> Collection<Document> {
        self.client.database(&self.db).collection("sessions")
    }

    async fn ttl_indexes(&self) -> Vec<Document> {
        let cursor = self.client.database(&self.db).run_cursor_command(doc! {"listIndexes": "sessions"}).await;
        let Ok(cursor) = cursor else { return Vec::new() };
        let indexes: Vec<Document> = futures::TryStreamExt::try_collect(cursor).await.unwrap();
        indexes.into_iter().filter(|ix| ix.contains_key("expireAfterSeconds")).collect()
    }

    async fn finish(self) {
        self.client.database(&self.db).drop().await.expect("drop the scratch database");
    }
}

fn session(value: Value) -> Session {
    Session::from_value(value).unwrap()
}

fn in_an_hour(clock: &VirtualClock) -> String {
    format_timestamp(clock.now() + chrono::TimeDelta::hours(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_look_like_connect_mongo_and_theirs_read_back() {
    let scratch = Scratch::new("layout").await;
    let clock = VirtualClock::starting_now();
    let config = scratch.config().clock(clock.shared()).timestamps(true).touch_after(Duration::from_secs(60));
    let store = MongoStore::with_client(scratch.client.clone(), config).await.unwrap();
    let written = session(
        json!({"cookie": {"originalMaxAge": 3600000, "expires": in_an_hour(&clock), "httpOnly": true, "path": "/"}, "user": "alice"}),
    );
    store.set("sid-1", &written).await.unwrap();

    let stored = scratch.sessions().find_one(doc! {"_id": "sid-1"}).await.unwrap().expect("stored");
    let mut names: Vec<&str> = stored.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["_id", "createdAt", "expires", "lastModified", "session", "updatedAt"]);
    let Some(Bson::String(text)) = stored.get("session") else { panic!("session is JSON text: {stored}") };
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), written.clone().into_value());
    let now = BsonDateTime::from_millis(clock.now().timestamp_millis());
    assert_eq!(stored.get_datetime("expires").unwrap().timestamp_millis(), now.timestamp_millis() + 3_600_000);
    for field in ["lastModified", "updatedAt", "createdAt"] {
        assert_eq!(stored.get_datetime(field).unwrap(), &now, "{field}");
    }
    // touch-after's window stays in the document: get returns exactly what was set (TA-4).
    assert_eq!(store.get("sid-1").await.unwrap(), Some(written));

    // What connect-mongo 6 writes: JSON text by default, a document with BSON dates under
    // `stringify: false`, `lastModified` under `touchAfter`.
    let expires = BsonDateTime::from_millis(clock.now().timestamp_millis() + 60_000);
    scratch
        .sessions()
        .insert_many([
            doc! {"_id": "cm-text", "session": r#"{"cookie":{"originalMaxAge":60000,"expires":"2031-01-01T00:00:00.000Z"},"n":1}"#,
                  "expires": expires, "lastModified": now},
            doc! {"_id": "cm-doc", "session": {"cookie": {"originalMaxAge": 60000, "expires": BsonDateTime::from_millis(1_924_992_000_000_i64)}, "n": 2},
                  "expires": expires},
        ])
        .await
        .unwrap();
    assert_eq!(
        store.get("cm-text").await.unwrap().unwrap().into_value(),
        json!({"cookie": {"originalMaxAge": 60000, "expires": "2031-01-01T00:00:00.000Z"}, "n": 1})
    );
    assert_eq!(
        store.get("cm-doc").await.unwrap().unwrap().into_value(),
        json!({"cookie": {"originalMaxAge": 60000, "expires": "2031-01-01T00:00:00.000Z"}, "n": 2})
    );
    store.close().await.unwrap();
    scratch.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_instances_at_once_all_open_and_leave_one_ttl_index() {
    let scratch = Scratch::new("twenty").await;
    let url = url();
    let opened = join_all((0..20).map(|_| MongoStore::connect(&url, scratch.config()))).await;
    let stores: Vec<MongoStore> = opened.into_iter().map(|r| r.expect("every instance opens")).collect();
    let cookie = json!({"expires": format_timestamp(chrono::Utc::now() + chrono::TimeDelta::hours(1))});
    for (i, store) in stores.iter().enumerate() {
        store.set(&format!("s{i}"), &session(json!({"cookie": cookie, "i": i}))).await.unwrap();
    }
    for i in 0..20 {
        assert_eq!(stores[(i + 1) % 20].get(&format!("s{i}")).await.unwrap().unwrap().as_map()["i"], json!(i));
    }
    for store in &stores {
        store.close().await.unwrap();
    }
    let ttl = scratch.ttl_indexes().await;
    assert_eq!(ttl.len(), 1, "exactly one TTL index: {ttl:?}");
    assert_eq!(ttl[0].get_str("name").unwrap(), TTL_INDEX_NAME);
    assert_eq!(ttl[0].get_document("key").unwrap(), &doc! {"expires": 1});
    scratch.finish().await;
}

/// connect-mongo #413: `close` right after construction, while the TTL index is still being
/// created, rejected with "Cannot use a session that has ended" and crashed the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_during_index_creation_neither_fails_nor_leaks() {
    let scratch = Scratch::new("close413").await;
    for round in 0..20 {
        let config = scratch.config().collection_name(format!("c{round}")).startup(Startup::Background);
        let store = MongoStore::with_client(scratch.client.clone(), config).await.expect("opening returns at once");
        store.close().await.expect("close while the index is being created");
        store.close().await.expect("close twice");
        assert_eq!(store.get("a").await.expect_err("closed").kind(), ErrorKind::Closed);
    }
    // With a client of its own, close also shuts the client down, after the same cancellation.
    let store = MongoStore::connect(&url(), scratch.config().startup(Startup::Background)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), store.close()).await.expect("close finishes").unwrap();
    scratch.finish().await;
}

/// The same with start-up work that cannot finish: a server that accepts connections and never
/// answers. `close` must cancel the work, not wait for it, and leave no task behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_cancels_start_up_work_that_hangs() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let hanging = format!("mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=600000");
    let client = Client::with_uri_str(&hanging).await.unwrap();
    let runtime = tokio::runtime::Handle::current();
    // The driver starts its monitor tasks (and a short-lived one) with the client: count from
    // when the number has held still for a while.
    let baseline = settled_task_count(&runtime).await;
    // Kept open until the end: dropping a store also cancels its tasks, and this is about close.
    let mut stores = Vec::new();
    for _ in 0..5 {
        let config = MongoStoreConfig::new().db_name("never").startup(Startup::Background);
        let store = MongoStore::with_client(client.clone(), config).await.expect("opening returns at once");
        assert!(runtime.metrics().num_alive_tasks() > baseline, "the index is being created in a task");
        tokio::time::timeout(Duration::from_secs(10), store.close())
            .await
            .expect("close cancels instead of waiting for the server")
            .expect("close succeeds");
        assert_eq!(store.get("a").await.expect_err("closed").kind(), ErrorKind::Closed);
        stores.push(store);
    }
    let alive = settled_task_count(&runtime).await;
    assert!(alive <= baseline, "{alive} tasks alive after close, {baseline} before opening");
    drop(stores);
    drop(silent);
}

/// The number of live tasks once it has not changed for ten polls in a row (bounded).
async fn settled_task_count(runtime: &tokio::runtime::Handle) -> usize {
    let mut last = runtime.metrics().num_alive_tasks();
    let mut steady = 0;
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = runtime.metrics().num_alive_tasks();
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
        if steady == 10 {
            break;
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_expires_index_with_other_options_is_a_named_conflict() {
    let scratch = Scratch::new("conflict").await;
    let other = IndexModel::builder()
        .keys(doc! {"expires": 1})
        .options(IndexOptions::builder().expire_after(Duration::from_secs(3600)).build())
        .build();
    scratch.sessions().create_index(other).await.unwrap();

    let error = MongoStore::with_client(scratch.client.clone(), scratch.config()).await.expect_err("a conflict");
    assert_eq!(error.kind(), ErrorKind::Conflict, "{}", error.chain());
    for part in ["expires_1", "expireAfterSeconds: 3600", "expireAfterSeconds: 0", &scratch.db] {
        assert!(error.message().contains(part), "the message names {part:?}: {}", error.message());
    }

    // Opened without waiting, every operation reports the same conflict, and once the operator
    // fixes the index the store recovers without being reopened (ERROR-2).
    let config = scratch.config().startup(Startup::Background);
    let store = MongoStore::with_client(scratch.client.clone(), config).await.unwrap();
    assert_eq!(store.get("a").await.unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(store.get("a").await.unwrap_err().kind(), ErrorKind::Conflict);
    scratch.sessions().drop_index(TTL_INDEX_NAME).await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), None);
    assert_eq!(scratch.ttl_indexes().await[0].get("expireAfterSeconds").map(|v| v.to_string()), Some("0".into()));
    store.close().await.unwrap();

    // A plain index on `expires` is as much a conflict as a TTL index with another delay.
    scratch.sessions().drop_index(TTL_INDEX_NAME).await.unwrap();
    scratch.sessions().create_index(IndexModel::builder().keys(doc! {"expires": 1}).build()).await.unwrap();
    let error = MongoStore::with_client(scratch.client.clone(), scratch.config()).await.expect_err("a conflict");
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert!(error.message().contains("not a TTL index"), "{}", error.message());
    scratch.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_sweep_removes_expired_documents_and_stops_on_close() {
    let scratch = Scratch::new("sweep").await;
    let clock = VirtualClock::starting_now();
    let config = scratch
        .config()
        .clock(clock.shared())
        .auto_remove(AutoRemove::Interval)
        .auto_remove_interval(Duration::from_secs(60));
    let store = MongoStore::with_client(scratch.client.clone(), config).await.unwrap();
    let soon = |clock: &VirtualClock| json!({"cookie": {"expires": format_timestamp(clock.now() + chrono::TimeDelta::seconds(10))}});
    store.set("short", &session(soon(&clock))).await.unwrap();
    store.set("long", &session(json!({"cookie": {"expires": in_an_hour(&clock)}}))).await.unwrap();
    assert!(scratch.ttl_indexes().await.is_empty(), "interval mode creates no TTL index");

    clock.advance(Duration::from_secs(10));
    assert_eq!(store.get("short").await.unwrap(), None, "expired sessions are invisible at once");
    assert_eq!(scratch.sessions().count_documents(doc! {}).await.unwrap(), 2, "but stay until the sweep");
    clock.advance(Duration::from_secs(50));
    let mut left = 2;
    for _ in 0..500 {
        left = scratch.sessions().count_documents(doc! {}).await.unwrap();
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(left, 1, "the sweep after one interval removes the expired document only");
    assert!(store.get("long").await.unwrap().is_some());

    store.set("later", &session(soon(&clock))).await.unwrap();
    store.close().await.unwrap();
    // close awaited the sweeper's end: however far the clock moves, nothing sweeps any more.
    clock.advance(Duration::from_secs(3600));
    tokio::task::yield_now().await;
    assert_eq!(scratch.sessions().count_documents(doc! {}).await.unwrap(), 2);
    scratch.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_sessions_round_trip_without_plaintext_at_rest() {
    let scratch = Scratch::new("crypto").await;
    let secret = "a secret that must never show";
    let cipher = Arc::new(tokio::task::spawn_blocking(move || AesGcmCipher::new(secret)).await.unwrap().unwrap());
    let events = Arc::new(std::sync::Mutex::new(Vec::<StoreEvent>::new()));
    let sink = {
        let events = events.clone();
        EventSink::new(move |e| events.lock().unwrap().push(e))
    };
    let config = scratch.config().cipher(cipher.clone()).serializer(Serializer::Document).events(sink);
    let store = MongoStore::with_client(scratch.client.clone(), config).await.unwrap();
    let marker = "MARKER-7f3a-plaintext";
    let written = session(
        json!({"cookie": {"expires": format_timestamp(chrono::Utc::now() + chrono::TimeDelta::hours(1))}, "note": marker, "emoji": "🦀"}),
    );
    store.set("enc", &written).await.unwrap();
    store.set("enc", &written).await.unwrap();
    assert_eq!(
        events.lock().unwrap().iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::Create, EventKind::Set, EventKind::Update, EventKind::Set]
    );

    let stored = scratch.sessions().find_one(doc! {"_id": "enc"}).await.unwrap().unwrap();
    let Some(Bson::String(ciphertext)) = stored.get("session") else { panic!("ciphertext is a string: {stored}") };
    let bytes = base64::engine::general_purpose::STANDARD.decode(ciphertext).expect("base64, as connect-mongo writes");
    assert!(!stored.to_string().contains(marker));
    assert!(!String::from_utf8_lossy(&bytes).contains(marker));
    assert!(stored.get_datetime("expires").is_ok(), "expiry stays readable for the TTL index");
    assert_eq!(store.get("enc").await.unwrap(), Some(written));

    let wrong = Arc::new(AesGcmCipher::builder("another secret").iterations(1_000).build().unwrap());
    let other = MongoStore::with_client(scratch.client.clone(), scratch.config().cipher(wrong)).await.unwrap();
    let error = other.get("enc").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decrypt);
    assert!(!error.chain().contains(secret) && !format!("{error:?}").contains(secret));
    let plain = MongoStore::with_client(scratch.client.clone(), scratch.config()).await.unwrap();
    plain.set("plain", &session(json!({"cookie": {}, "n": 1}))).await.unwrap();
    assert_eq!(store.get("plain").await.unwrap_err().kind(), ErrorKind::Decrypt, "plaintext where ciphertext belongs");
    assert_eq!(scratch.sessions().count_documents(doc! {}).await.unwrap(), 2, "failed reads remove nothing");
    for s in [store, other, plain] {
        s.close().await.unwrap();
    }
    scratch.finish().await;
}

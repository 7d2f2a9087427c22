//! Direct-call reproductions of the tower-sessions store failures we publish.
//!
//! Every failure in `reports/expectations/tower-*.toml` must be reproducible without the
//! sessionspec harness, the adapter protocol or the sid-to-`Id` mapping. Each test here is that
//! evidence for one published behaviour: it calls the store's own `SessionStore` /
//! `ExpiredDeletion` methods on a hand-built `Record { id, data, expiry_date }` and asserts that
//! the behaviour happens as published. A test that starts failing means upstream changed the
//! behaviour and the published expectation is stale.
//!
//! The comment above each test quotes the crate source (paths relative to
//! `~/.cargo/registry/src/*/`, versions as pinned in `Cargo.toml`) that explains the behaviour.
//!
//! Servers: Redis at `SESSIONSPEC_REDIS_URL` (default `redis://127.0.0.1:6379/`), MariaDB/MySQL
//! at `SESSIONSPEC_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`);
//! `eval "$(harness/backends/services.sh)"` provides both. A missing server fails the test
//! loudly, naming the variable; nothing is skipped.

use std::collections::HashMap;
use std::sync::Arc;

use core14::SessionStore as _;
use core15::SessionStore as _;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// A tower-sessions-core 0.14 record (the trait of sled, redis, sqlx).
fn record14(expiry_date: OffsetDateTime, data: &[(&str, Value)]) -> core14::session::Record {
    core14::session::Record {
        id: core14::session::Id::default(),
        data: data.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<HashMap<_, _>>(),
        expiry_date,
    }
}

/// A tower-sessions-core 0.15 record (the trait of memory, file).
fn record15(expiry_date: OffsetDateTime, data: &[(&str, Value)]) -> core15::session::Record {
    core15::session::Record {
        id: core15::session::Id::default(),
        data: data.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<HashMap<_, _>>(),
        expiry_date,
    }
}

fn in_an_hour() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::hours(1)
}

fn an_hour_ago() -> OffsetDateTime {
    OffsetDateTime::now_utc() - Duration::hours(1)
}

fn env_url(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

// ---------------------------------------------------------------------------------------------
// sled-store 0.2
// ---------------------------------------------------------------------------------------------

fn sled_store() -> tower_sessions_sled_store::SledStore {
    let db = sled::Config::new().temporary(true).open().expect("temporary sled database");
    tower_sessions_sled_store::SledStore::new(db.open_tree("sessions").expect("sled tree"))
}

// GET-2. tower-sessions-sled-store-0.2.0/src/lib.rs:44-58: `load` decodes whatever the tree
// holds under the id and returns it; `expiry_date` is only looked at by `delete_expired`
// (lib.rs:101), never by `load`.
#[tokio::test]
async fn sled_load_returns_an_expired_record() {
    let store = sled_store();
    let record = record14(an_hour_ago(), &[("n", Value::from(1))]);
    store.save(&record).await.unwrap();

    let loaded = store.load(&record.id).await.unwrap();
    assert_eq!(loaded, Some(record), "sled load filters out an expired record now: GET-2 is stale");
}

// CREATE-2 (tower-sessions #180). tower-sessions-sled-store-0.2.0/src/lib.rs:31-67 implements
// `save`, `load`, `delete` only, so `create` is tower-sessions-core-0.14.0/src/session_store.rs:
// 117-119 -> `default_create` (session_store.rs:139-149), which is `store.save(record)`: a blind
// insert (lib.rs:37-38) over whatever the id holds, keeping the id.
#[tokio::test]
async fn sled_create_replaces_the_record_on_its_id() {
    let store = sled_store();
    let mut first = record14(in_an_hour(), &[("owner", Value::from("first"))]);
    store.create(&mut first).await.unwrap();

    let mut second = record14(in_an_hour(), &[("owner", Value::from("second"))]);
    second.id = first.id;
    store.create(&mut second).await.expect("sled create on a taken id returns Ok");

    assert_eq!(second.id, first.id, "sled create moves a colliding record now: CREATE-2 is stale");
    let loaded = store.load(&first.id).await.unwrap().expect("a record on the id");
    assert_eq!(loaded.data["owner"], Value::from("second"), "the first record is gone, replaced");
}

// ---------------------------------------------------------------------------------------------
// file-store 0.3
// ---------------------------------------------------------------------------------------------

// GET-2. tower-sessions-file-store-0.3.0/src/lib.rs:107-120: `load` opens the id's file and
// returns what `serde_json` reads from it; `expiry_date` is only compared in `delete_expired`
// (lib.rs:175), never in `load`.
#[tokio::test]
async fn file_load_returns_an_expired_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = tower_sessions_file_store::FileSessionStorage::new_in_folder(dir.path().to_owned());
    let mut record = record15(an_hour_ago(), &[("n", Value::from(1))]);
    store.create(&mut record).await.unwrap();

    let loaded = store.load(&record.id).await.unwrap();
    assert_eq!(loaded, Some(record), "file load filters out an expired record now: GET-2 is stale");
}

// tower-sessions-file-store-0.3.0/src/lib.rs:96-105: `save` opens the existing file with
// `.truncate(true)` and then `serde_json::to_writer`s into the unbuffered `File` (many small
// writes, no temporary file, no lock); lib.rs:107-120: `load` reads the same file with
// `serde_json::from_reader`. A `load` that runs between the truncate and the last write reads an
// empty or partial document and fails with Backend("Failed to serialize/decode") (lib.rs:117),
// although the session exists all along. Bounded: at most 200 rounds, stops at the first error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_load_racing_save_fails_to_decode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(tower_sessions_file_store::FileSessionStorage::new_in_folder(dir.path().to_owned()));
    // A record of some size, so a write takes many `write` calls.
    let data: Vec<(String, Value)> = (0..200).map(|i| (format!("key{i}"), Value::from("x".repeat(50)))).collect();
    let data: Vec<(&str, Value)> = data.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let mut record = record15(in_an_hour(), &data);
    store.create(&mut record).await.unwrap();

    let mut first_error = None;
    let mut rounds = 0;
    while rounds < 200 && first_error.is_none() {
        rounds += 1;
        let (saver, loader) = (Arc::clone(&store), Arc::clone(&store));
        let to_save = record.clone();
        let id = record.id;
        let save = tokio::spawn(async move { saver.save(&to_save).await.err().map(|e| ("save", e)) });
        let load = tokio::spawn(async move { loader.load(&id).await.err().map(|e| ("load", e)) });
        let (save, load) = (save.await.unwrap(), load.await.unwrap());
        first_error = load.or(save);
    }

    let (operation, error) =
        first_error.expect("200 rounds of concurrent save and load on one id all succeeded: the race is gone");
    eprintln!("file store: round {rounds}: {operation} failed: {error:?}");
    assert!(
        operation == "load"
            && matches!(&error, core15::session_store::Error::Backend(m) if m == "Failed to serialize/decode"),
        "expected load to fail with Backend(\"Failed to serialize/decode\"), got {operation}: {error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// redis-store 0.16 (fred 10)
// ---------------------------------------------------------------------------------------------

type Redis = tower_sessions_redis_store::RedisStore<tower_sessions_redis_store::fred::prelude::Pool>;

async fn redis_store() -> Redis {
    use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
    let url = env_url("SESSIONSPEC_REDIS_URL", "redis://127.0.0.1:6379/");
    let fail = |e: &dyn std::fmt::Display| -> ! {
        panic!("Redis at {url} (set SESSIONSPEC_REDIS_URL, or run harness/backends/services.sh): {e}")
    };
    let config = Config::from_url(&url).unwrap_or_else(|e| fail(&e));
    let pool = Pool::new(config, None, None, None, 1).unwrap_or_else(|e| fail(&e));
    pool.init().await.unwrap_or_else(|e| fail(&e));
    tower_sessions_redis_store::RedisStore::new(pool)
}

/// What fred 10 says when a `SET` answers nil and the store asked for a `bool`.
const REDIS_NIL_AS_BOOL: &str = "Parse Error: Could not convert to bool.";

fn is_redis_nil_as_bool(result: &core14::session_store::Result<()>) -> bool {
    matches!(result, Err(core14::session_store::Error::Backend(m)) if m == REDIS_NIL_AS_BOOL)
}

// tower-sessions-redis-store-0.16.0/src/lib.rs:64-86: `save_with_options` returns the reply of
// `SET key value EXAT .. {NX|XX}` as a `bool`; lib.rs:105-108: `save` uses XX. When the key does
// not exist, SET XX answers nil, and fred-10.1.0/src/modules/response.rs:285-300 (`FromValue for
// bool`, without the `default-nil-types` feature, which nothing in Cargo.lock enables) turns nil
// into `Error::new_parse("Could not convert to bool.")`. So a `save` after (or racing) a `delete`
// fails with that parse error instead of reporting the session gone; tower-sessions-stores #19,
// fixed upstream by PR #67, not in 0.16.0.
#[tokio::test]
async fn redis_save_after_delete_fails_with_a_parse_error() {
    let store = redis_store().await;
    let mut record = record14(in_an_hour(), &[("n", Value::from(1))]);
    store.create(&mut record).await.unwrap();
    store.delete(&record.id).await.unwrap();

    let saved = store.save(&record).await;
    let after = store.load(&record.id).await;
    store.delete(&record.id).await.unwrap();

    assert!(is_redis_nil_as_bool(&saved), "expected Backend({REDIS_NIL_AS_BOOL:?}), got {saved:?}");
    assert_eq!(after.unwrap(), None, "save XX must not have written the deleted key");
}

// tower-sessions-redis-store-0.16.0/src/lib.rs:94-103: `create` loops `if
// !self.save_with_options(record, Some(SetOptions::NX)).await? { record.id = Id::default(); }`,
// meant to move a colliding record to a fresh id. But SET NX on an existing key answers nil,
// which fred turns into the parse error (see above) *before* the `!`, so the `?` returns it:
// `create` on a taken id (and the second of two creates racing on one fresh id) fails with
// Backend("Parse Error: Could not convert to bool.") and never moves the id.
#[tokio::test]
async fn redis_create_on_a_taken_id_fails_with_a_parse_error() {
    let store = redis_store().await;
    let mut first = record14(in_an_hour(), &[("owner", Value::from("first"))]);
    store.create(&mut first).await.unwrap();

    let mut second = record14(in_an_hour(), &[("owner", Value::from("second"))]);
    second.id = first.id;
    let created = store.create(&mut second).await;
    let kept = store.load(&first.id).await;
    store.delete(&first.id).await.unwrap();
    if second.id != first.id {
        store.delete(&second.id).await.unwrap();
    }

    assert!(is_redis_nil_as_bool(&created), "expected Backend({REDIS_NIL_AS_BOOL:?}), got {created:?}");
    assert_eq!(second.id, first.id, "create did not move the record to a new id");
    assert_eq!(kept.unwrap().expect("the first record").data["owner"], Value::from("first"));
}

// ---------------------------------------------------------------------------------------------
// sqlx-store 0.15 on MySQL/MariaDB
// ---------------------------------------------------------------------------------------------

/// A `MySqlStore` on a fresh table of the `tower_sessions` database, with the pool to drop it.
async fn mysql_store() -> (tower_sessions_sqlx_store::MySqlStore, tower_sessions_sqlx_store::sqlx::MySqlPool, String) {
    let url = env_url("SESSIONSPEC_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
    let pool = tower_sessions_sqlx_store::sqlx::MySqlPool::connect(&url).await.unwrap_or_else(|e| {
        panic!("MySQL/MariaDB at {url} (set SESSIONSPEC_MYSQL_URL, or run harness/backends/services.sh): {e}")
    });
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let table = format!("repro_{}_{nanos}", std::process::id());
    let store = tower_sessions_sqlx_store::MySqlStore::new(pool.clone()).with_table_name(&table).unwrap();
    store.migrate().await.expect("migrate");
    (store, pool, table)
}

async fn mysql_drop(pool: &tower_sessions_sqlx_store::sqlx::MySqlPool, table: &str) {
    use tower_sessions_sqlx_store::sqlx::{self, Executor};
    pool.execute(sqlx::raw_sql(&format!("drop table if exists `tower_sessions`.`{table}`"))).await.unwrap();
}

fn backend_message<T: std::fmt::Debug>(result: &core14::session_store::Result<T>) -> &str {
    match result {
        Err(core14::session_store::Error::Backend(m)) => m,
        other => panic!("expected a Backend error, got {other:?}"),
    }
}

// tower-sessions-sqlx-store-0.15.0/src/mysql_store.rs:96-107: `migrate` creates `data blob not
// null` (BLOB: at most 65,535 bytes); mysql_store.rs:131-155: `save` inserts the rmp-encoded
// record into it. With the server's default strict sql_mode (kept by sqlx), a record whose
// encoding exceeds 65,535 bytes is refused with MySQL error 1406.
#[tokio::test]
async fn mysql_save_of_a_record_over_64k_fails_data_too_long() {
    let (store, pool, table) = mysql_store().await;
    let record = record14(in_an_hour(), &[("big", Value::from("x".repeat(70_000)))]);

    let saved = store.save(&record).await;
    let loaded = store.load(&record.id).await;
    mysql_drop(&pool, &table).await;

    let message = backend_message(&saved);
    assert!(
        message.contains("1406 (22001): Data too long for column 'data'"),
        "expected error 1406 Data too long for column 'data', got {message:?}"
    );
    assert_eq!(loaded.unwrap(), None);
}

// tower-sessions-sqlx-store-0.15.0/src/mysql_store.rs:102: `expiry_date timestamp(6) not null`.
// A TIMESTAMP ends at 2038-01-19 03:14:07 UTC, so an expiry_date after that cannot be stored.
// mysql_store.rs:150 binds the `OffsetDateTime`, which sqlx-mysql-0.8.6/src/types/time.rs:15-32
// sends as a binary MYSQL_TYPE_TIMESTAMP parameter. Observed on MariaDB 10.11 (sql_mode
// STRICT_TRANS_TABLES, kept by sqlx): the out-of-range TIMESTAMP parameter is *not* refused (a
// DATETIME-typed parameter would be, with 1292 Incorrect datetime value); the row is written
// without error or warning and its expiry_date is the time of the save. So `save` returns Ok and
// `load`, which requires `expiry_date > now` (mysql_store.rs:201), returns None from then on.
#[tokio::test]
async fn mysql_save_with_expiry_after_2038_is_ok_but_load_returns_none() {
    use tower_sessions_sqlx_store::sqlx;
    let (store, pool, table) = mysql_store().await;
    let expiry = time::Date::from_calendar_date(2099, time::Month::January, 1).unwrap().midnight().assume_utc();
    let record = record14(expiry, &[("n", Value::from(1))]);

    let before = OffsetDateTime::now_utc();
    let saved = store.save(&record).await;
    let loaded = store.load(&record.id).await;
    let stored: Result<Option<OffsetDateTime>, _> =
        sqlx::query_scalar(&format!("select expiry_date from `tower_sessions`.`{table}` where id = ?"))
            .bind(record.id.to_string())
            .fetch_optional(&pool)
            .await;
    mysql_drop(&pool, &table).await;

    saved.expect("save of an expiry_date in 2099 returns Ok");
    assert_eq!(loaded.unwrap(), None, "load of the record just saved returns None");
    let stored = stored.unwrap().expect("the row was written");
    assert!(
        (stored - before).abs() < Duration::minutes(1),
        "expected the row's expiry_date to be the time of the save ({before}), got {stored}"
    );
}

// ---------------------------------------------------------------------------------------------
// Refreshing expiry across a delete: load, (delete), save
// ---------------------------------------------------------------------------------------------

// What tower-sessions does on a request that refreshes a session's expiry is `load` the record,
// then `save` it with the new expiry_date. When a `delete` (a logout, another request) lands
// between the two, a store whose `save` is a blind upsert writes the deleted record back.
// tower-sessions-memory-store-0.15.0/src/lib.rs:36-39: `save` is `HashMap::insert`.
#[tokio::test]
async fn memory_save_after_delete_brings_the_record_back() {
    let store = tower_sessions_memory_store::MemoryStore::default();
    let mut record = record15(in_an_hour(), &[("n", Value::from(1))]);
    store.create(&mut record).await.unwrap();

    let mut loaded = store.load(&record.id).await.unwrap().expect("the record loads");
    store.delete(&record.id).await.unwrap();
    loaded.expiry_date = in_an_hour() + Duration::hours(1);
    store.save(&loaded).await.unwrap();

    assert_eq!(store.load(&record.id).await.unwrap(), Some(loaded), "the deleted record is back");
}

// The same with tower-sessions-sqlx-store-0.15.0/src/sqlite_store.rs:97-121: `save` is `insert
// .. on conflict(id) do update set ..`, an upsert that inserts the row `delete` removed.
#[tokio::test]
async fn sqlite_save_after_delete_brings_the_record_back() {
    use tower_sessions_sqlx_store::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new().filename(dir.path().join("sessions.db")).create_if_missing(true);
    let pool = SqlitePoolOptions::new().connect_with(options).await.unwrap();
    let store = tower_sessions_sqlx_store::SqliteStore::new(pool);
    store.migrate().await.unwrap();
    let mut record = record14(in_an_hour(), &[("n", Value::from(1))]);
    store.create(&mut record).await.unwrap();

    let mut loaded = store.load(&record.id).await.unwrap().expect("the record loads");
    store.delete(&record.id).await.unwrap();
    loaded.expiry_date = in_an_hour() + Duration::hours(1);
    store.save(&loaded).await.unwrap();

    let back = store.load(&record.id).await.unwrap().expect("the deleted record is back");
    assert_eq!(back.data, loaded.data);
}

// The opposite on redis-store 0.16: `save` is SET .. XX (lib.rs:105-108), which does not write a
// key that is gone, so the deleted record stays deleted; the `save` itself fails with the parse
// error of the nil reply (see `redis_save_after_delete_fails_with_a_parse_error`).
#[tokio::test]
async fn redis_save_after_delete_does_not_bring_the_record_back() {
    let store = redis_store().await;
    let mut record = record14(in_an_hour(), &[("n", Value::from(1))]);
    store.create(&mut record).await.unwrap();

    let mut loaded = store.load(&record.id).await.unwrap().expect("the record loads");
    store.delete(&record.id).await.unwrap();
    loaded.expiry_date = in_an_hour() + Duration::hours(1);
    let saved = store.save(&loaded).await;
    let after = store.load(&record.id).await;
    store.delete(&record.id).await.unwrap();

    assert!(is_redis_nil_as_bool(&saved), "expected Backend({REDIS_NIL_AS_BOOL:?}), got {saved:?}");
    assert_eq!(after.unwrap(), None, "the deleted record stays deleted");
}

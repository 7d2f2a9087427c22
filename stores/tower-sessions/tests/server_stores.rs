//! The four reference stores as tower-sessions stores, on real servers (SESSIONSPEC_REDIS_URL,
//! SESSIONSPEC_POSTGRES_URL, SESSIONSPEC_MYSQL_URL: `eval "$(harness/backends/services.sh)"`;
//! SESSIONSPEC_MONGO_URL: `eval "$(harness/backends/mongo/secantus.sh up)"`). Each test opens its
//! own key prefix, table or database and removes it afterwards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rstest::rstest;
use serde_json::json;
use sessionspec_contract::{Store, SystemClock, format_timestamp, parse_timestamp};
use sessionspec_store_mongo::{MongoStore, MongoStoreConfig};
use sessionspec_store_postgres::{PgStore, PgStoreConfig};
use sessionspec_store_redis::{RedisConfig, RedisStore};
use sessionspec_store_sql::{SqlStore, SqlStoreConfig};
use sqlx::{AssertSqlSafe, Executor};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::{ExpiredDeletion, SessionStore};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Redis,
    Postgres,
    SqlSqlite,
    SqlPostgres,
    SqlMySql,
    Mongo,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} must name a server: eval \"$(harness/backends/services.sh)\" and \
             eval \"$(harness/backends/mongo/secantus.sh up)\" find or start them"
        )
    })
}

/// A name no other test or run uses.
fn unique(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("sstower_{}_{}_{label}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Every reference store through one type, as an application would hold one of them.
#[derive(Debug)]
enum Opened {
    Redis(RedisStore),
    Postgres(PgStore),
    Sql(SqlStore, Option<tempfile::TempDir>),
    Mongo(MongoStore),
}

impl Opened {
    async fn open(backend: Backend) -> Opened {
        let table = unique("t");
        let clock = SystemClock::shared;
        let sql = || SqlStoreConfig { table_name: table.clone(), cleanup_interval: None, ..SqlStoreConfig::default() };
        match backend {
            Backend::Redis => {
                let config = RedisConfig { prefix: format!("{}:", unique("p")), ..RedisConfig::default() };
                Opened::Redis(RedisStore::connect(&env("SESSIONSPEC_REDIS_URL"), config).await.unwrap())
            }
            Backend::Postgres => {
                let config = PgStoreConfig {
                    table_name: table.clone(),
                    create_table_if_missing: true,
                    prune: None,
                    ..PgStoreConfig::default()
                };
                Opened::Postgres(PgStore::connect(&env("SESSIONSPEC_POSTGRES_URL"), config, clock()).await.unwrap())
            }
            Backend::SqlSqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = SqlStore::open_sqlite(&dir.path().join("s.sqlite"), sql(), clock()).await.unwrap();
                Opened::Sql(store, Some(dir))
            }
            Backend::SqlPostgres => {
                let store = SqlStore::connect_postgres(&env("SESSIONSPEC_POSTGRES_URL"), sql(), clock()).await;
                Opened::Sql(store.unwrap(), None)
            }
            Backend::SqlMySql => {
                let store = SqlStore::connect_mysql(&env("SESSIONSPEC_MYSQL_URL"), sql(), clock()).await;
                Opened::Sql(store.unwrap(), None)
            }
            Backend::Mongo => {
                let config = MongoStoreConfig::new().db_name(unique("db"));
                Opened::Mongo(MongoStore::connect(&env("SESSIONSPEC_MONGO_URL"), config).await.unwrap())
            }
        }
    }

    /// The store as the contract sees it.
    fn contract(&self) -> &dyn Store {
        match self {
            Opened::Redis(s) => s,
            Opened::Postgres(s) => s,
            Opened::Sql(s, _) => s,
            Opened::Mongo(s) => s,
        }
    }

    async fn save(&self, record: &Record) {
        match self {
            Opened::Redis(s) => SessionStore::save(s, record).await,
            Opened::Postgres(s) => SessionStore::save(s, record).await,
            Opened::Sql(s, _) => SessionStore::save(s, record).await,
            Opened::Mongo(s) => SessionStore::save(s, record).await,
        }
        .unwrap()
    }

    async fn create(&self, record: &mut Record) {
        match self {
            Opened::Redis(s) => SessionStore::create(s, record).await,
            Opened::Postgres(s) => SessionStore::create(s, record).await,
            Opened::Sql(s, _) => SessionStore::create(s, record).await,
            Opened::Mongo(s) => SessionStore::create(s, record).await,
        }
        .unwrap()
    }

    async fn load(&self, id: &Id) -> Option<Record> {
        match self {
            Opened::Redis(s) => SessionStore::load(s, id).await,
            Opened::Postgres(s) => SessionStore::load(s, id).await,
            Opened::Sql(s, _) => SessionStore::load(s, id).await,
            Opened::Mongo(s) => SessionStore::load(s, id).await,
        }
        .unwrap()
    }

    async fn delete(&self, id: &Id) {
        match self {
            Opened::Redis(s) => SessionStore::delete(s, id).await,
            Opened::Postgres(s) => SessionStore::delete(s, id).await,
            Opened::Sql(s, _) => SessionStore::delete(s, id).await,
            Opened::Mongo(s) => SessionStore::delete(s, id).await,
        }
        .unwrap()
    }

    async fn delete_expired(&self) {
        match self {
            Opened::Redis(s) => ExpiredDeletion::delete_expired(s).await,
            Opened::Postgres(s) => ExpiredDeletion::delete_expired(s).await,
            Opened::Sql(s, _) => ExpiredDeletion::delete_expired(s).await,
            Opened::Mongo(s) => ExpiredDeletion::delete_expired(s).await,
        }
        .unwrap()
    }

    /// Removes the table or database the store made (Redis keys expire by themselves), and
    /// closes the store.
    async fn finish(self) {
        match &self {
            Opened::Postgres(s) => {
                s.pool().execute(AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", s.table()))).await.unwrap();
            }
            Opened::Sql(s, None) => {
                let (url, is_mysql) = match s.dialect() {
                    sessionspec_store_sql::Dialect::MySql => (env("SESSIONSPEC_MYSQL_URL"), true),
                    _ => (env("SESSIONSPEC_POSTGRES_URL"), false),
                };
                let drop = format!("DROP TABLE IF EXISTS {}", s.table());
                if is_mysql {
                    let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
                    pool.execute(AssertSqlSafe(drop)).await.unwrap();
                    pool.close().await;
                } else {
                    let pool = sqlx::PgPool::connect(&url).await.unwrap();
                    pool.execute(AssertSqlSafe(drop)).await.unwrap();
                    pool.close().await;
                }
            }
            Opened::Mongo(s) => {
                let db = s.collection().namespace().db;
                s.collection().client().database(&db).drop().await.unwrap();
            }
            Opened::Redis(_) | Opened::Sql(_, Some(_)) => {}
        }
        self.contract().close().await.unwrap();
    }
}

fn in_(d: time::Duration) -> OffsetDateTime {
    OffsetDateTime::now_utc() + d
}

/// tower-sessions' own `Record` for `data` expiring at `expiry_date`, under a fresh id.
fn record(data: serde_json::Value, expiry_date: OffsetDateTime) -> Record {
    let data: HashMap<String, serde_json::Value> = serde_json::from_value(data).unwrap();
    Record { id: Id::default(), data, expiry_date }
}

/// What tower-sessions' `SessionManagerLayer` and `continuously_delete_expired` ask of a store.
fn is_a_tower_store<S: SessionStore + ExpiredDeletion + Clone>() {}

#[test]
fn every_reference_store_is_a_tower_store() {
    is_a_tower_store::<RedisStore>();
    is_a_tower_store::<PgStore>();
    is_a_tower_store::<SqlStore>();
    is_a_tower_store::<MongoStore>();
}

#[rstest]
#[case::redis(Backend::Redis)]
#[case::postgres(Backend::Postgres)]
#[case::sql_sqlite(Backend::SqlSqlite)]
#[case::sql_postgres(Backend::SqlPostgres)]
#[case::sql_mysql(Backend::SqlMySql)]
#[case::mongo(Backend::Mongo)]
#[tokio::test]
async fn a_saved_record_is_an_express_session_and_loads_back(#[case] backend: Backend) {
    let store = Opened::open(backend).await;
    let expiry = in_(time::Duration::hours(1));
    let mut saved = record(json!({"user": "ada", "n": [1, 2]}), expiry);
    store.create(&mut saved).await;

    // What an Express app sharing the store reads: the data and express-session's cookie.
    let sid = saved.id.to_string();
    let session = store.contract().get(&sid).await.unwrap().expect("the session is stored under the id's text");
    let cookie = session.cookie().expect("a cookie").clone();
    let expires = parse_timestamp(cookie["expires"].as_str().unwrap()).unwrap();
    assert_eq!(cookie["expires"], json!(format_timestamp(expires)), "ISO 8601 with milliseconds and Z");
    assert_eq!(i128::from(expires.timestamp_millis()), expiry.unix_timestamp_nanos() / 1_000_000);
    assert_eq!(cookie["httpOnly"], json!(true));
    assert_eq!(cookie["path"], json!("/"));
    let max_age = cookie["originalMaxAge"].as_i64().unwrap();
    assert!((3_590_000..=3_600_000).contains(&max_age), "originalMaxAge {max_age}");
    assert_eq!(session.as_map()["user"], json!("ada"));
    assert_eq!(session.as_map()["n"], json!([1, 2]));

    // And what tower-sessions reads back: the same data, the cookie as a member, the expiry to
    // the millisecond.
    let loaded = store.load(&saved.id).await.expect("the record loads");
    assert_eq!(loaded.id, saved.id);
    assert_eq!(loaded.data["user"], json!("ada"));
    assert_eq!(loaded.data["cookie"], serde_json::Value::Object(cookie.clone()));
    assert_eq!(loaded.expiry_date.unix_timestamp_nanos(), expiry.unix_timestamp_nanos() / 1_000_000 * 1_000_000);

    // Saved again later, the cookie keeps its members and says the new expiry.
    let mut later = loaded.clone();
    later.expiry_date = in_(time::Duration::hours(2));
    store.save(&later).await;
    let session = store.contract().get(&sid).await.unwrap().unwrap();
    assert_eq!(session.cookie().unwrap()["originalMaxAge"], json!(max_age));
    assert_eq!(session.expires().unwrap().unwrap().timestamp(), later.expiry_date.unix_timestamp());

    store.delete(&saved.id).await;
    assert!(store.load(&saved.id).await.is_none());
    assert!(store.contract().get(&sid).await.unwrap().is_none());
    store.finish().await;
}

#[rstest]
#[case::redis(Backend::Redis)]
#[case::postgres(Backend::Postgres)]
#[case::sql_sqlite(Backend::SqlSqlite)]
#[case::sql_postgres(Backend::SqlPostgres)]
#[case::sql_mysql(Backend::SqlMySql)]
#[case::mongo(Backend::Mongo)]
#[tokio::test]
async fn create_of_a_taken_id_takes_a_new_one_and_leaves_the_first(#[case] backend: Backend) {
    let store = Opened::open(backend).await;
    let mut first = record(json!({"user": "ada"}), in_(time::Duration::hours(1)));
    let taken = first.id;
    store.create(&mut first).await;
    assert_eq!(first.id, taken, "a free id is kept");

    let mut second = record(json!({"user": "grace"}), in_(time::Duration::hours(1)));
    second.id = taken;
    store.create(&mut second).await;
    assert_ne!(second.id, taken, "a taken id is replaced");
    assert_eq!(store.load(&taken).await.unwrap().data["user"], json!("ada"));
    assert_eq!(store.load(&second.id).await.unwrap().data["user"], json!("grace"));

    // An expired leftover (where the backend keeps one: Redis drops the key) does not hold its id.
    let mut gone = record(json!({"user": "gone"}), in_(time::Duration::milliseconds(-1000)));
    let expired = sessionspec_tower_sessions::session(&gone).unwrap();
    store.contract().set(&gone.id.to_string(), &expired).await.unwrap();
    let mut again = record(json!({"user": "again"}), in_(time::Duration::hours(1)));
    again.id = gone.id;
    store.create(&mut again).await;
    assert_eq!(again.id, gone.id);
    assert_eq!(store.load(&gone.id).await.unwrap().data["user"], json!("again"));
    gone.id = again.id;

    for id in [taken, second.id, gone.id] {
        store.delete(&id).await;
    }
    store.finish().await;
}

#[rstest]
#[case::redis(Backend::Redis)]
#[case::postgres(Backend::Postgres)]
#[case::sql_sqlite(Backend::SqlSqlite)]
#[case::sql_postgres(Backend::SqlPostgres)]
#[case::sql_mysql(Backend::SqlMySql)]
#[case::mongo(Backend::Mongo)]
#[tokio::test]
async fn a_record_loads_until_its_expiry_date_and_delete_expired_keeps_the_live(#[case] backend: Backend) {
    let store = Opened::open(backend).await;
    let mut short = record(json!({"n": 1}), in_(time::Duration::milliseconds(1500)));
    let mut live = record(json!({"n": 2}), in_(time::Duration::hours(1)));
    store.create(&mut short).await;
    store.create(&mut live).await;
    assert!(store.load(&short.id).await.is_some());

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while OffsetDateTime::now_utc() <= short.expiry_date {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.load(&short.id).await.is_none(), "expired at its expiry date");
    store.delete_expired().await;
    if let Some(raw) = store.contract().raw() {
        assert!(raw.record(&short.id.to_string()).await.unwrap().is_none(), "delete_expired removed it");
    }
    assert_eq!(store.load(&live.id).await.unwrap().data["n"], json!(2));

    store.delete(&live.id).await;
    store.finish().await;
}

#[rstest]
#[case::redis(Backend::Redis)]
#[case::postgres(Backend::Postgres)]
#[case::sql_sqlite(Backend::SqlSqlite)]
#[case::sql_postgres(Backend::SqlPostgres)]
#[case::sql_mysql(Backend::SqlMySql)]
#[case::mongo(Backend::Mongo)]
#[tokio::test]
async fn save_writes_only_over_a_record_still_there(#[case] backend: Backend) {
    let store = Opened::open(backend).await;
    // A record that was never created: tower-sessions would `create` it, and `save` stores nothing.
    let never = record(json!({"n": 0}), in_(time::Duration::hours(1)));
    store.save(&never).await;
    assert!(store.load(&never.id).await.is_none(), "save of a record never created stored it");

    // A request loaded the record; a logout deleted it; the request saves what it loaded with a
    // new expiry (CONC-3): the logout stands.
    let mut kept = record(json!({"user": "ada"}), in_(time::Duration::hours(1)));
    store.create(&mut kept).await;
    let mut loaded = store.load(&kept.id).await.expect("created");
    store.delete(&kept.id).await;
    loaded.expiry_date = in_(time::Duration::hours(2));
    store.save(&loaded).await;
    assert!(store.load(&kept.id).await.is_none(), "save after delete brought the session back");

    // Over a record still there, save writes data and expiry.
    let mut live = record(json!({"user": "grace"}), in_(time::Duration::hours(1)));
    store.create(&mut live).await;
    let mut changed = live.clone();
    changed.data.insert("user".to_owned(), json!("hopper"));
    changed.expiry_date = in_(time::Duration::hours(3));
    store.save(&changed).await;
    let now = store.load(&live.id).await.expect("still there");
    assert_eq!(now.data["user"], json!("hopper"));
    assert_eq!(now.expiry_date.unix_timestamp(), changed.expiry_date.unix_timestamp());

    store.delete(&live.id).await;
    store.finish().await;
}

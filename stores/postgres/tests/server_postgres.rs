//! The Postgres store against a real server (SESSIONSPEC_POSTGRES_URL): the table layout and
//! rows connect-pg-simple 10 uses, injection through names and sids, time zones, reconnection
//! after the server drops connections, pool ownership and the prune's lifecycle. Each test works
//! in a schema of its own and drops it afterwards.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use futures::future::join_all;
use rstest::rstest;
use serde_json::{Value, json};
use sessionspec_contract::{
    Clock, ErrorKind, Namespace, OpenContext, Session, Store, StoreFactory, StoreOptions, Tamper, VirtualClock,
    format_timestamp,
};
use sessionspec_store_postgres::{PgFactory, PgStore, PgStoreConfig, Prune, connect_options, pool_options};
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Executor};

fn url() -> String {
    std::env::var("SESSIONSPEC_POSTGRES_URL").expect(
        "SESSIONSPEC_POSTGRES_URL must name a PostgreSQL server for the server_ tests \
         (eval \"$(harness/backends/services.sh)\" finds or starts one)",
    )
}

/// A schema of the test's own, dropped when the guard goes.
struct Scratch {
    admin: PgPool,
    schema: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Scratch {
    async fn new() -> Scratch {
        let admin = pool_options().max_connections(4).connect_with(connect_options(&url()).unwrap()).await.unwrap();
        let schema = format!("sspg_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        admin.execute(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))).await.unwrap();
        admin.execute(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\""))).await.unwrap();
        Scratch { admin, schema }
    }

    fn config(&self) -> PgStoreConfig {
        PgStoreConfig {
            schema_name: Some(self.schema.clone()),
            create_table_if_missing: true,
            prune: None,
            ..PgStoreConfig::default()
        }
    }

    async fn drop(self) {
        self.admin.execute(AssertSqlSafe(format!("DROP SCHEMA \"{}\" CASCADE", self.schema))).await.unwrap();
        self.admin.close().await;
    }
}

fn session(value: Value) -> Session {
    Session::from_value(value).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    sessionspec_contract::parse_timestamp(text).unwrap()
}

/// The table connect-pg-simple's table.sql creates, described from the catalog: columns with
/// their types and collations, constraints and index definitions (schema name masked).
async fn describe(admin: &PgPool, schema: &str, table: &str) -> Vec<String> {
    let qualified = format!("\"{schema}\".\"{table}\"");
    let mut out: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
         || COALESCE(' COLLATE ' || c.collname, '') \
         FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation \
         WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(&qualified)
    .fetch_all(admin)
    .await
    .unwrap();
    let constraints: Vec<String> = sqlx::query_scalar(
        "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass ORDER BY conname",
    )
    .bind(&qualified)
    .fetch_all(admin)
    .await
    .unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(admin)
    .await
    .unwrap();
    out.extend(constraints);
    out.extend(indexes.into_iter().map(|i| i.replace(&format!("\"{schema}\""), "S").replace(schema, "S")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_connect_pg_simples_table_layout() {
    let scratch = Scratch::new().await;
    let store = PgStore::connect(&url(), scratch.config(), VirtualClock::starting_now().shared()).await.unwrap();
    store.close().await.unwrap();

    // connect-pg-simple 10's table.sql, run in a schema of its own for comparison.
    let reference = format!("{}_ref", scratch.schema);
    let admin = &scratch.admin;
    admin.execute(AssertSqlSafe(format!("CREATE SCHEMA \"{reference}\""))).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!(
            "CREATE TABLE \"{reference}\".\"session\" (\"sid\" varchar NOT NULL COLLATE \"default\", \
             \"sess\" json NOT NULL, \"expire\" timestamp(6) NOT NULL); \
             ALTER TABLE \"{reference}\".\"session\" ADD CONSTRAINT \"session_pkey\" PRIMARY KEY (\"sid\") NOT DEFERRABLE INITIALLY IMMEDIATE; \
             CREATE INDEX \"IDX_session_expire\" ON \"{reference}\".\"session\" (\"expire\");"
        )))
        .await
        .unwrap();
    let ours = describe(admin, &scratch.schema, "session").await;
    let theirs = describe(admin, &reference, "session").await;
    admin.execute(AssertSqlSafe(format!("DROP SCHEMA \"{reference}\" CASCADE"))).await.unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        [
            "sid character varying NOT NULL COLLATE default",
            "sess json NOT NULL",
            "expire timestamp(6) without time zone NOT NULL",
            "session_pkey PRIMARY KEY (sid)",
            "CREATE INDEX \"IDX_session_expire\" ON S.session USING btree (expire)",
            "CREATE UNIQUE INDEX session_pkey ON S.session USING btree (sid)",
        ]
    );
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_connect_pg_simples_both_ways() {
    let scratch = Scratch::new().await;
    let clock = VirtualClock::new(at("2030-01-01T00:00:00.000Z"));
    let store = PgStore::connect(&url(), scratch.config(), clock.shared()).await.unwrap();
    let table = store.table().to_owned();

    // Written by the store: the session's JSON text, and the cookie's expiry as UTC wall time.
    let s = session(
        json!({"cookie": {"originalMaxAge": 10000, "expires": "2030-01-01T00:00:10.250Z", "httpOnly": true, "path": "/"}, "user": "ada"}),
    );
    store.set("written-by-rust", &s).await.unwrap();
    let (sess, expire): (String, NaiveDateTime) =
        sqlx::query_as(AssertSqlSafe(format!("SELECT sess::text, expire FROM {table} WHERE sid = $1")))
            .bind("written-by-rust")
            .fetch_one(&scratch.admin)
            .await
            .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&sess).unwrap(), s.clone().into_value());
    assert_eq!(sess, s.to_json());
    assert_eq!(expire.to_string(), "2030-01-01 00:00:10.250");

    // Written as connect-pg-simple does (session object JSON-encoded by pg, expiry through
    // to_timestamp of whole seconds, on a connection in UTC): read back by the store.
    let express = json!({"cookie": {"originalMaxAge": 60000, "expires": "2030-01-01T00:01:00.000Z", "httpOnly": true, "path": "/"}, "views": 3});
    let mut conn = scratch.admin.acquire().await.unwrap();
    conn.execute("SET TimeZone TO 'UTC'").await.unwrap();
    for (sid, expires_s) in [("written-by-node", 1_893_456_060_i64), ("expired-by-node", 1_893_455_990)] {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (sess, expire, sid) SELECT $1::json, to_timestamp($2), $3 \
             ON CONFLICT (sid) DO UPDATE SET sess=$1::json, expire=to_timestamp($2)"
        )))
        .bind(express.to_string())
        .bind(expires_s as f64)
        .bind(sid)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    drop(conn);
    assert_eq!(store.get("written-by-node").await.unwrap().unwrap().into_value(), express);
    assert_eq!(store.get("expired-by-node").await.unwrap(), None, "to_timestamp(2029-12-31T23:59:50Z) is past");
    clock.advance(Duration::from_secs(59));
    assert!(store.get("written-by-node").await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.get("written-by-node").await.unwrap(), None);
    store.close().await.unwrap();
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_does_not_depend_on_the_connections_time_zone() {
    let scratch = Scratch::new().await;
    // A caller's pool whose connections run fourteen hours ahead of UTC.
    let pool = pool_options()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move { conn.execute("SET TimeZone TO 'Pacific/Kiritimati'").await.map(|_| ()) })
        })
        .connect_with(connect_options(&url()).unwrap())
        .await
        .unwrap();
    let tz: String = sqlx::query_scalar("SHOW TimeZone").fetch_one(&pool).await.unwrap();
    assert_eq!(tz, "Pacific/Kiritimati");
    let clock = VirtualClock::new(at("2030-06-01T12:00:00.000Z"));
    let store = PgStore::with_pool(pool.clone(), scratch.config(), clock.shared()).await.unwrap();
    store.set("a", &session(json!({"cookie": {"expires": "2030-06-01T12:00:10.000Z"}}))).await.unwrap();
    let expire: NaiveDateTime =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT expire FROM {} WHERE sid = 'a'", store.table())))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(expire.to_string(), "2030-06-01 12:00:10");
    clock.advance(Duration::from_secs(9));
    assert!(store.get("a").await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.get("a").await.unwrap(), None);
    store.close().await.unwrap();
    pool.close().await;
    scratch.drop().await;
}

#[rstest]
#[case::quote("it's")]
#[case::double_quote("say \"hi\"")]
#[case::percent("100%")]
#[case::underscore("a_b")]
#[case::backslash("back\\slash")]
#[case::semicolon("x'; DROP TABLE session; --")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sids_are_data_never_sql(#[case] sid: &str) {
    let scratch = Scratch::new().await;
    let store = PgStore::connect(&url(), scratch.config(), VirtualClock::starting_now().shared()).await.unwrap();
    let live = session(json!({"cookie": {"expires": format_timestamp(Utc::now() + TimeDelta::hours(1))}, "who": sid}));
    // Neighbours a pattern or a prefix would also hit.
    for other in ["axb", "100", "a", "it", "other"] {
        store
            .set(other, &session(json!({"cookie": {"expires": format_timestamp(Utc::now() + TimeDelta::hours(1))}})))
            .await
            .unwrap();
    }
    store.set(sid, &live).await.unwrap();
    assert_eq!(store.get(sid).await.unwrap().unwrap(), live);
    assert!(store.ids().await.unwrap().contains(&sid.to_owned()));
    store.destroy(sid).await.unwrap();
    assert_eq!(store.get(sid).await.unwrap(), None);
    assert_eq!(store.length().await.unwrap(), 5, "destroy of {sid:?} removed another session");
    store.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[case::quote("se\"ssion")]
#[case::injection("t\"; DROP TABLE x; --")]
#[case::dots_and_spaces("my sessions.v2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_and_schema_names_are_quoted(#[case] name: &str) {
    let scratch = Scratch::new().await;
    let schema = format!("{}{name}", scratch.schema);
    let config = PgStoreConfig {
        schema_name: Some(schema.clone()),
        table_name: name.to_owned(),
        create_table_if_missing: true,
        prune: None,
        ..PgStoreConfig::default()
    };
    let quoted_schema = format!("\"{}\"", schema.replace('"', "\"\""));
    scratch.admin.execute(AssertSqlSafe(format!("CREATE SCHEMA {quoted_schema}"))).await.unwrap();
    let store = PgStore::connect(&url(), config, VirtualClock::starting_now().shared()).await.unwrap();
    store
        .set("a", &session(json!({"cookie": {"expires": format_timestamp(Utc::now() + TimeDelta::hours(1))}})))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename FROM pg_tables WHERE schemaname = $1")
        .bind(&schema)
        .fetch_all(&scratch.admin)
        .await
        .unwrap();
    assert_eq!(tables, [name.to_owned()]);
    assert_eq!(store.length().await.unwrap(), 1);
    store.close().await.unwrap();
    scratch.admin.execute(AssertSqlSafe(format!("DROP SCHEMA {quoted_schema} CASCADE"))).await.unwrap();
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_rewrites_the_cookie_and_keeps_data_text() {
    let scratch = Scratch::new().await;
    let clock = VirtualClock::starting_now();
    let store = PgStore::connect(&url(), scratch.config(), clock.shared()).await.unwrap();
    let in_1h = format_timestamp(clock.now() + TimeDelta::hours(1));
    let in_2h = format_timestamp(clock.now() + TimeDelta::hours(2));
    let data = json!({"z": "quote \" and \\", "cookie": {"expires": in_1h}, "a": [1.0, 5e-324, 9007199254740991_i64], "": {"$x.y": null}});
    store.set("s", &session(data.clone())).await.unwrap();
    store
        .touch("s", &session(json!({"cookie": {"expires": in_2h, "originalMaxAge": 7_200_000}, "z": "ignored"})))
        .await
        .unwrap();
    let mut expected = data.clone();
    expected["cookie"] = json!({"expires": in_2h, "originalMaxAge": 7_200_000});
    assert_eq!(store.get("s").await.unwrap().unwrap().into_value(), expected);
    clock.advance(Duration::from_secs(3600 + 60));
    assert!(store.get("s").await.unwrap().is_some(), "the touch moved the expiry");
    // A touch of an expired row does not bring it back.
    clock.advance(Duration::from_secs(3600));
    store
        .touch("s", &session(json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(1))}})))
        .await
        .unwrap();
    assert_eq!(store.get("s").await.unwrap(), None);
    store.close().await.unwrap();
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_of_a_session_holding_u0000_still_moves_the_expiry() {
    let scratch = Scratch::new().await;
    let clock = VirtualClock::starting_now();
    let store = PgStore::connect(&url(), scratch.config(), clock.shared()).await.unwrap();
    let data =
        json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(1))}, "z": "nul \u{0} inside"});
    store.set("s", &session(data.clone())).await.unwrap();
    assert_eq!(store.get("s").await.unwrap().unwrap().into_value(), data);
    let in_2h = clock.now() + TimeDelta::hours(2);
    store.touch("s", &session(json!({"cookie": {"expires": format_timestamp(in_2h)}}))).await.unwrap();
    let record = store.raw().unwrap().record("s").await.unwrap().unwrap();
    assert_eq!(record.expires, Some(in_2h));
    assert_eq!(store.get("s").await.unwrap().unwrap().into_value(), data, "the data and the old cookie stay");
    store.close().await.unwrap();
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_payload_is_an_error_and_stays() {
    let scratch = Scratch::new().await;
    let store = PgStore::connect(&url(), scratch.config(), VirtualClock::starting_now().shared()).await.unwrap();
    store
        .set("s", &session(json!({"cookie": {"expires": format_timestamp(Utc::now() + TimeDelta::hours(1))}})))
        .await
        .unwrap();
    store.raw().unwrap().tamper("s", Tamper::Garbage).await.unwrap();
    for _ in 0..2 {
        assert_eq!(store.get("s").await.unwrap_err().kind(), ErrorKind::Serialize);
    }
    assert_eq!(store.all().await.unwrap_err().kind(), ErrorKind::Serialize);
    assert!(store.raw().unwrap().record("s").await.unwrap().is_some(), "the row was deleted");
    store.close().await.unwrap();
    scratch.drop().await;
}

/// Terminates the server backends of every connection announcing `application_name`, and waits
/// (bounded) until the server no longer lists them.
async fn terminate(admin: &PgPool, application_name: &str) -> i64 {
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
    )
    .bind(application_name)
    .fetch_one(admin)
    .await
    .unwrap();
    for _ in 0..200 {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
            .bind(application_name)
            .fetch_one(admin)
            .await
            .unwrap();
        if left == 0 {
            return killed;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the terminated backends of {application_name} are still listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_drops_its_connections() {
    let scratch = Scratch::new().await;
    let name = format!("{}_reconnect", scratch.schema);
    let pool = pool_options()
        .max_connections(4)
        .connect_with(connect_options(&url()).unwrap().application_name(&name))
        .await
        .unwrap();
    let store =
        PgStore::with_pool(pool.clone(), scratch.config(), VirtualClock::starting_now().shared()).await.unwrap();
    let s = session(json!({"cookie": {"expires": format_timestamp(Utc::now() + TimeDelta::hours(1))}, "n": 1}));
    // Open several connections, all idle in the pool afterwards.
    let sets = (0..4).map(|i| {
        let (store, s) = (&store, &s);
        async move { store.set(&format!("s{i}"), s).await }
    });
    for r in join_all(sets).await {
        r.unwrap();
    }
    assert!(terminate(&scratch.admin, &name).await >= 1);
    // Every operation still works: dead connections are replaced, not reported.
    for i in 0..4 {
        assert_eq!(store.get(&format!("s{i}")).await.unwrap().unwrap(), s);
    }
    store.set("after", &s).await.unwrap();
    assert_eq!(store.length().await.unwrap(), 5);
    store.close().await.unwrap();
    pool.close().await;
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_closes_only_a_pool_the_store_created() {
    let scratch = Scratch::new().await;
    let pool = pool_options().max_connections(2).connect_with(connect_options(&url()).unwrap()).await.unwrap();
    let borrowed =
        PgStore::with_pool(pool.clone(), scratch.config(), VirtualClock::starting_now().shared()).await.unwrap();
    borrowed.close().await.unwrap();
    assert!(!pool.is_closed());
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
    assert_eq!(borrowed.get("x").await.unwrap_err().kind(), ErrorKind::Closed);
    borrowed.close().await.unwrap();

    let owned = PgStore::connect(&url(), scratch.config(), VirtualClock::starting_now().shared()).await.unwrap();
    let own_pool = owned.pool().clone();
    owned.close().await.unwrap();
    assert!(own_pool.is_closed());
    assert_eq!(owned.set("x", &session(json!({"cookie": {}}))).await.unwrap_err().kind(), ErrorKind::Closed);
    pool.close().await;
    scratch.drop().await;
}

async fn rows(admin: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"))).fetch_one(admin).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prune_runs_on_the_stores_clock_and_stops_on_close() {
    let scratch = Scratch::new().await;
    let clock = VirtualClock::starting_now();
    let config = PgStoreConfig {
        prune: Some(Prune { interval: Duration::from_secs(60), randomized: false }),
        ..scratch.config()
    };
    let store = PgStore::connect(&url(), config, clock.shared()).await.unwrap();
    let table = store.table().to_owned();
    let soon = |secs| session(json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::seconds(secs))}}));
    store.set("short", &soon(10)).await.unwrap();
    store.set("long", &soon(3600)).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let mut pruned = false;
    for _ in 0..200 {
        if rows(&scratch.admin, &table).await == 1 {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(pruned, "the prune did not remove the expired row within the interval");

    store.set("later", &soon(10)).await.unwrap();
    store.close().await.unwrap();
    clock.advance(Duration::from_secs(7200));
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(rows(&scratch.admin, &table).await, 2, "a prune ran after close");
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_touch_writes_nothing_and_ttl_is_the_fallback() {
    let scratch = Scratch::new().await;
    let clock = VirtualClock::starting_now();
    let config = PgStoreConfig { disable_touch: true, ttl: Duration::from_secs(120), ..scratch.config() };
    let store = PgStore::connect(&url(), config, clock.shared()).await.unwrap();
    store.set("s", &session(json!({"cookie": {"originalMaxAge": null}}))).await.unwrap();
    let before = store.raw().unwrap().record("s").await.unwrap().unwrap();
    assert_eq!(before.expires, Some(clock.now() + TimeDelta::seconds(120)));
    store
        .touch("s", &session(json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(5))}})))
        .await
        .unwrap();
    assert_eq!(store.raw().unwrap().record("s").await.unwrap().unwrap(), before);
    store.close().await.unwrap();
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_factory_leaves_a_schema_it_did_not_create() {
    let scratch = Scratch::new().await;
    let factory = PgFactory::connect(&url()).await.unwrap();
    // A namespace whose schema someone else already has, holding their data.
    let namespace = Namespace::new(scratch.schema.clone()).unwrap();
    scratch
        .admin
        .execute(AssertSqlSafe(format!(
            "CREATE TABLE \"{0}\".\"session\" (sid varchar PRIMARY KEY, sess json NOT NULL, expire timestamp NOT NULL); \
             INSERT INTO \"{0}\".\"session\" VALUES ('theirs', '{{}}', '2100-01-01')",
            scratch.schema
        )))
        .await
        .unwrap();
    let context = |ns: &Namespace| OpenContext {
        namespace: ns.clone(),
        options: StoreOptions::default(),
        clock: VirtualClock::starting_now().shared(),
        events: sessionspec_contract::EventSink::discard(),
    };
    let refused = factory.open(context(&namespace)).await.err().expect("opened a schema it did not create");
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    factory.drop_namespace(&namespace).await.unwrap();
    assert_eq!(rows(&scratch.admin, &format!("\"{}\".\"session\"", scratch.schema)).await, 1);

    // Its own namespace: created on open, dropped afterwards.
    let own = Namespace::new(format!("{}_own", scratch.schema)).unwrap();
    let store = factory.open(context(&own)).await.unwrap();
    store.set("a", &session(json!({"cookie": {}}))).await.unwrap();
    store.close().await.unwrap();
    factory.drop_namespace(&own).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1")
        .bind(own.as_str())
        .fetch_one(&scratch.admin)
        .await
        .unwrap();
    assert_eq!(left, 0);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_at_once_create_the_table_once() {
    let scratch = Scratch::new().await;
    let url = url();
    let opens: Vec<_> =
        (0..8).map(|_| PgStore::connect(&url, scratch.config(), VirtualClock::starting_now().shared())).collect();
    let stores: Vec<PgStore> = join_all(opens).await.into_iter().map(Result::unwrap).collect();
    for (i, store) in stores.iter().enumerate() {
        store.set(&format!("s{i}"), &session(json!({"cookie": {}}))).await.unwrap();
    }
    assert_eq!(stores[0].length().await.unwrap(), 8);
    for store in stores {
        store.close().await.unwrap();
    }
    scratch.drop().await;
}

//! The SQL store against real MySQL/MariaDB and PostgreSQL servers (SESSIONSPEC_MYSQL_URL,
//! SESSIONSPEC_POSTGRES_URL), and SQLite files: the table layout and rows connect-session-knex 5
//! uses, byte-exact sids, injection through names and sids, reconnection after the server drops
//! connections, pool ownership and the cleanup's lifecycle. Each test works in a database or
//! schema of its own and drops it afterwards.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use rstest::rstest;
use serde_json::{Value, json};
use sessionspec_contract::{
    Clock, ErrorKind, Namespace, OpenContext, Session, Store, StoreFactory, VirtualClock, format_timestamp,
};
use sessionspec_store_sql::{
    MySqlFactory, PostgresFactory, SqlPool, SqlStore, SqlStoreConfig, mysql_pool_options, postgres_pool_options,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{AssertSqlSafe, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    MySql,
    Postgres,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} must name a server for the server_ tests (eval \"$(harness/backends/services.sh)\" finds or starts one)")
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database (MySQL) or schema (PostgreSQL) of the test's own, dropped by [`Scratch::drop`].
struct Scratch {
    server: Server,
    name: String,
    mysql: Option<MySqlPool>,
    postgres: Option<PgPool>,
}

impl Scratch {
    async fn new(server: Server) -> Scratch {
        let name = format!("sssql_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let mut scratch = Scratch { server, name: name.clone(), mysql: None, postgres: None };
        match server {
            Server::MySql => {
                let pool =
                    mysql_pool_options().max_connections(4).connect(&env("SESSIONSPEC_MYSQL_URL")).await.unwrap();
                pool.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`"))).await.unwrap();
                pool.execute(AssertSqlSafe(format!("CREATE DATABASE `{name}`"))).await.unwrap();
                scratch.mysql = Some(pool);
            }
            Server::Postgres => {
                let pool =
                    postgres_pool_options().max_connections(4).connect(&env("SESSIONSPEC_POSTGRES_URL")).await.unwrap();
                pool.execute(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))).await.unwrap();
                pool.execute(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\""))).await.unwrap();
                scratch.postgres = Some(pool);
            }
        }
        scratch
    }

    fn config(&self) -> SqlStoreConfig {
        SqlStoreConfig { schema_name: Some(self.name.clone()), cleanup_interval: None, ..SqlStoreConfig::default() }
    }

    /// A pool of the store's kind on the scratch database, announcing itself as `tag` where the
    /// server can tell (PostgreSQL's application_name; on MySQL the scratch database does).
    async fn pool(&self, tag: &str) -> SqlPool {
        match self.server {
            Server::MySql => {
                let options =
                    MySqlConnectOptions::from_str(&env("SESSIONSPEC_MYSQL_URL")).unwrap().database(&self.name);
                SqlPool::MySql(mysql_pool_options().max_connections(4).connect_with(options).await.unwrap())
            }
            Server::Postgres => {
                let options =
                    PgConnectOptions::from_str(&env("SESSIONSPEC_POSTGRES_URL")).unwrap().application_name(tag);
                SqlPool::Postgres(postgres_pool_options().max_connections(4).connect_with(options).await.unwrap())
            }
        }
    }

    async fn store(&self, config: SqlStoreConfig, clock: &VirtualClock) -> SqlStore {
        match self.server {
            Server::MySql => SqlStore::connect_mysql(&env("SESSIONSPEC_MYSQL_URL"), config, clock.shared()).await,
            Server::Postgres => {
                SqlStore::connect_postgres(&env("SESSIONSPEC_POSTGRES_URL"), config, clock.shared()).await
            }
        }
        .unwrap()
    }

    async fn execute(&self, statement: String) {
        match self.server {
            Server::MySql => self.mysql.as_ref().unwrap().execute(AssertSqlSafe(statement)).await.map(|_| ()),
            Server::Postgres => self.postgres.as_ref().unwrap().execute(AssertSqlSafe(statement)).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Every row of a one-column text query.
    async fn strings(&self, query: String) -> Vec<String> {
        match self.server {
            Server::MySql => {
                sqlx::query_scalar(AssertSqlSafe(query)).fetch_all(self.mysql.as_ref().unwrap()).await.unwrap()
            }
            Server::Postgres => {
                sqlx::query_scalar(AssertSqlSafe(query)).fetch_all(self.postgres.as_ref().unwrap()).await.unwrap()
            }
        }
    }

    async fn count(&self, table: &str) -> i64 {
        let n = match self.server {
            Server::MySql => self.strings(format!("SELECT CAST(COUNT(*) AS CHAR) FROM {table}")).await,
            Server::Postgres => self.strings(format!("SELECT COUNT(*)::text FROM {table}")).await,
        };
        n[0].parse().unwrap()
    }

    async fn drop(self) {
        match self.server {
            Server::MySql => self.execute(format!("DROP DATABASE `{}`", self.name)).await,
            Server::Postgres => self.execute(format!("DROP SCHEMA \"{}\" CASCADE", self.name)).await,
        }
    }
}

fn session(value: Value) -> Session {
    Session::from_value(value).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    sessionspec_contract::parse_timestamp(text).unwrap()
}

fn live(clock: &VirtualClock) -> Session {
    session(json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(1))}}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_table_is_knexs_with_byte_exact_sids() {
    let scratch = Scratch::new(Server::MySql).await;
    let store = scratch.store(scratch.config(), &VirtualClock::starting_now()).await;
    store.close().await.unwrap();
    let columns = scratch
        .strings(format!(
            "SELECT CONCAT(column_name, ' ', column_type, ' ', is_nullable, ' ', column_key) FROM information_schema.columns \
             WHERE table_schema = '{}' AND table_name = 'sessions' ORDER BY ordinal_position",
            scratch.name
        ))
        .await;
    // knex: sid varchar(255) primary key, sess json, expired datetime NOT NULL indexed. Here
    // sid is VARBINARY (bytes compare exactly), sess LONGTEXT (MariaDB's JSON alias checks a
    // nesting limit of 32) and expired keeps milliseconds.
    assert_eq!(columns[0], "sid varbinary(1020) NO PRI");
    assert_eq!(columns[1], "sess longtext NO ");
    assert_eq!(columns[2], "expired datetime(3) NO MUL");
    let indexes = scratch
        .strings(format!(
            "SELECT CONCAT(index_name, ' ', column_name) FROM information_schema.statistics \
             WHERE table_schema = '{}' AND table_name = 'sessions' ORDER BY index_name",
            scratch.name
        ))
        .await;
    assert_eq!(indexes, ["PRIMARY sid", "sessions_expired_index expired"]);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_table_is_knexs() {
    let scratch = Scratch::new(Server::Postgres).await;
    let store = scratch.store(scratch.config(), &VirtualClock::starting_now()).await;
    store.close().await.unwrap();
    let reference = format!("{}_knex", scratch.name);
    // What knex 3 runs for connect-session-knex 5's createTable on PostgreSQL.
    scratch.execute(format!("CREATE SCHEMA \"{reference}\"")).await;
    scratch
        .execute(format!(
            "create table \"{reference}\".\"sessions\" (\"sid\" varchar(255), \"sess\" json not null, \"expired\" timestamptz not null, \
             constraint \"sessions_pkey\" primary key (\"sid\"))"
        ))
        .await;
    scratch
        .execute(format!("create index \"sessions_expired_index\" on \"{reference}\".\"sessions\" (\"expired\")"))
        .await;
    let describe = |schema: String| {
        let scratch = &scratch;
        async move {
            let mut out = scratch
                .strings(format!(
                    "SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
                     FROM pg_attribute a WHERE a.attrelid = '\"{schema}\".\"sessions\"'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
                ))
                .await;
            out.extend(
                scratch
                    .strings(format!(
                        "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '\"{schema}\".\"sessions\"'::regclass"
                    ))
                    .await,
            );
            out.extend(
                scratch
                    .strings(format!(
                        "SELECT replace(indexdef, '{schema}', 'S') FROM pg_indexes WHERE schemaname = '{schema}' ORDER BY indexname"
                    ))
                    .await,
            );
            out
        }
    };
    let ours = describe(scratch.name.clone()).await;
    let theirs = describe(reference.clone()).await;
    scratch.execute(format!("DROP SCHEMA \"{reference}\" CASCADE")).await;
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        [
            "sid character varying(255) NOT NULL",
            "sess json NOT NULL",
            "expired timestamp with time zone NOT NULL",
            "sessions_pkey PRIMARY KEY (sid)",
            "CREATE INDEX sessions_expired_index ON S.sessions USING btree (expired)",
            "CREATE UNIQUE INDEX sessions_pkey ON S.sessions USING btree (sid)",
        ]
    );
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_knexs_both_ways(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::new(at("2030-01-01T00:00:00.000Z"));
    let store = scratch.store(scratch.config(), &clock).await;
    let table = store.table().to_owned();
    let s = session(
        json!({"cookie": {"originalMaxAge": 10000, "expires": "2030-01-01T00:00:10.250Z", "httpOnly": true, "path": "/"}, "user": "ada"}),
    );
    store.set("written-by-rust", &s).await.unwrap();
    let (sess, expired) = match server {
        Server::MySql => (
            scratch.strings(format!("SELECT CAST(sess AS CHAR) FROM {table} WHERE sid = 'written-by-rust'")).await,
            scratch.strings(format!("SELECT CAST(expired AS CHAR) FROM {table} WHERE sid = 'written-by-rust'")).await,
        ),
        Server::Postgres => (
            scratch.strings(format!("SELECT sess::text FROM {table} WHERE sid = 'written-by-rust'")).await,
            scratch
                .strings(format!(
                    "SELECT to_char(expired AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') FROM {table} WHERE sid = 'written-by-rust'"
                ))
                .await,
        ),
    };
    assert_eq!(serde_json::from_str::<Value>(&sess[0]).unwrap(), s.clone().into_value());
    assert_eq!(expired[0], "2030-01-01 00:00:10.250");

    // Rows as knex writes them: JSON text, and the expiry as ISO text cast to timestamptz
    // (PostgreSQL) or `YYYY-MM-DD HH:MM:SS` UTC text (MySQL).
    let express = json!({"cookie": {"originalMaxAge": 60000, "expires": "2030-01-01T00:01:00.000Z", "httpOnly": true, "path": "/"}, "views": 3});
    let payload = express.to_string().replace('\'', "''");
    for (sid, iso, mysql_text) in [
        ("written-by-node", "2030-01-01T00:01:00.000Z", "2030-01-01 00:01:00"),
        ("expired-by-node", "2029-12-31T23:59:50.000Z", "2029-12-31 23:59:50"),
    ] {
        match server {
            Server::MySql => {
                scratch
                    .execute(format!(
                        "insert into {table} (sid, expired, sess) values ('{sid}', '{mysql_text}', '{payload}') \
                         on duplicate key update expired=values(expired), sess=values(sess)"
                    ))
                    .await
            }
            Server::Postgres => {
                scratch
                    .execute(format!(
                        "with new_values (sid, expired, sess) as (values ('{sid}', '{iso}'::timestamp with time zone, '{payload}'::json)) \
                         insert into {table} (sid, expired, sess) select sid, expired, sess from new_values"
                    ))
                    .await
            }
        }
    }
    assert_eq!(store.get("written-by-node").await.unwrap().unwrap().into_value(), express);
    assert_eq!(store.get("expired-by-node").await.unwrap(), None);
    clock.advance(Duration::from_secs(59));
    assert!(store.get("written-by-node").await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.get("written-by-node").await.unwrap(), None);
    assert_eq!(store.length().await.unwrap(), 0, "length counts only live rows");
    store.close().await.unwrap();
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_sids_compare_byte_for_byte() {
    let scratch = Scratch::new(Server::MySql).await;
    let clock = VirtualClock::starting_now();
    let store = scratch.store(scratch.config(), &clock).await;
    let sids = ["a", "A", "a ", "á", "a\u{301}", "ss", "ß"];
    for (i, sid) in sids.iter().enumerate() {
        let s = session(json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(1))}, "i": i}));
        store.set(sid, &s).await.unwrap();
    }
    for (i, sid) in sids.iter().enumerate() {
        assert_eq!(store.get(sid).await.unwrap().unwrap().as_map()["i"], json!(i), "{sid:?}");
    }
    let mut ids = store.ids().await.unwrap();
    ids.sort();
    let mut expected: Vec<String> = sids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    store.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_nested_deeper_than_json_functions_go_still_work(
    #[values(Server::MySql, Server::Postgres)] server: Server,
) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let store = scratch.store(scratch.config(), &clock).await;
    let mut deep = json!("bottom");
    for _ in 0..120 {
        deep = json!({"d": deep});
    }
    let mut s = live(&clock).into_value();
    s["deep"] = deep;
    store.set("deep", &session(s.clone())).await.unwrap();
    assert_eq!(store.get("deep").await.unwrap().unwrap().into_value(), s);
    let later = clock.now() + TimeDelta::hours(3);
    store.touch("deep", &session(json!({"cookie": {"expires": format_timestamp(later)}}))).await.unwrap();
    assert_eq!(store.raw().unwrap().record("deep").await.unwrap().unwrap().expires, Some(later));
    assert_eq!(store.get("deep").await.unwrap().unwrap().into_value()["deep"], s["deep"]);
    store.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_mebibyte_session_round_trips(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let store = scratch.store(scratch.config(), &clock).await;
    let mut s = live(&clock).into_value();
    let used = serde_json::to_string(&s).unwrap().len() + r#","blob":"""#.len() + 1;
    s["blob"] = json!("é".repeat((1_048_576 - used) / 2));
    let s = session(s);
    assert!(s.to_json().len() <= 1_048_576 && s.to_json().len() > 1_048_000, "{}", s.to_json().len());
    store.set("big", &s).await.unwrap();
    assert_eq!(store.get("big").await.unwrap().unwrap(), s);
    store.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[case::mysql_quote(Server::MySql, "it's")]
#[case::mysql_double_quote(Server::MySql, "say \"hi\"")]
#[case::mysql_percent(Server::MySql, "100%")]
#[case::mysql_underscore(Server::MySql, "a_b")]
#[case::mysql_backslash(Server::MySql, "back\\slash")]
#[case::mysql_semicolon(Server::MySql, "x'; DROP TABLE sessions; --")]
#[case::postgres_quote(Server::Postgres, "it's")]
#[case::postgres_double_quote(Server::Postgres, "say \"hi\"")]
#[case::postgres_percent(Server::Postgres, "100%")]
#[case::postgres_underscore(Server::Postgres, "a_b")]
#[case::postgres_backslash(Server::Postgres, "back\\slash")]
#[case::postgres_semicolon(Server::Postgres, "x'; DROP TABLE sessions; --")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sids_are_data_never_sql(#[case] server: Server, #[case] sid: &str) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let store = scratch.store(scratch.config(), &clock).await;
    for other in ["axb", "100", "a", "it", "back", "other"] {
        store.set(other, &live(&clock)).await.unwrap();
    }
    let mine = session(json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(1))}, "who": sid}));
    store.set(sid, &mine).await.unwrap();
    assert_eq!(store.get(sid).await.unwrap().unwrap(), mine);
    assert!(store.ids().await.unwrap().contains(&sid.to_owned()));
    store.touch(sid, &live(&clock)).await.unwrap();
    store.destroy(sid).await.unwrap();
    assert_eq!(store.get(sid).await.unwrap(), None);
    assert_eq!(store.length().await.unwrap(), 6, "destroy of {sid:?} removed another session");
    store.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[case::mysql_backtick(Server::MySql, "se`ssions", "s`id")]
#[case::mysql_injection(Server::MySql, "t`; DROP TABLE x; --", "sid\"'")]
#[case::postgres_quote(Server::Postgres, "se\"ssions", "s\"id")]
#[case::postgres_injection(Server::Postgres, "t\"; DROP TABLE x; --", "sid`'")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_and_column_names_are_quoted(#[case] server: Server, #[case] table: &str, #[case] sid_field: &str) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let config =
        SqlStoreConfig { table_name: table.to_owned(), sid_field_name: sid_field.to_owned(), ..scratch.config() };
    let store = scratch.store(config, &clock).await;
    store.set("a", &live(&clock)).await.unwrap();
    store.touch("a", &live(&clock)).await.unwrap();
    assert_eq!(store.ids().await.unwrap(), ["a"]);
    let tables = match server {
        Server::MySql => {
            scratch
                .strings(format!(
                    "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = '{}'",
                    scratch.name
                ))
                .await
        }
        Server::Postgres => {
            scratch
                .strings(format!("SELECT tablename::text FROM pg_tables WHERE schemaname = '{}'", scratch.name))
                .await
        }
    };
    assert_eq!(tables, [table.to_owned()]);
    store.clear().await.unwrap();
    assert_eq!(store.length().await.unwrap(), 0);
    store.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_rewrites_the_cookie_even_around_u0000(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let store = scratch.store(scratch.config(), &clock).await;
    let in_2h = clock.now() + TimeDelta::hours(2);
    let plain = json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(1))}, "a": [1.0, 5e-324, 9007199254740991_i64], "q": "\"\\"});
    let nul =
        json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::hours(1))}, "z": "nul \u{0} inside"});
    store.set("plain", &session(plain.clone())).await.unwrap();
    store.set("nul", &session(nul.clone())).await.unwrap();
    let cookie = json!({"expires": format_timestamp(in_2h), "originalMaxAge": 7_200_000});
    for sid in ["plain", "nul"] {
        store.touch(sid, &session(json!({"cookie": cookie, "ignored": true}))).await.unwrap();
        assert_eq!(store.raw().unwrap().record(sid).await.unwrap().unwrap().expires, Some(in_2h), "{sid}");
    }
    let mut expected = plain.clone();
    expected["cookie"] = cookie.clone();
    assert_eq!(store.get("plain").await.unwrap().unwrap().into_value(), expected);
    // PostgreSQL's JSON functions refuse U+0000: there only the expiry moves.
    let got = store.get("nul").await.unwrap().unwrap().into_value();
    assert_eq!(got["z"], nul["z"]);
    store.close().await.unwrap();
    scratch.drop().await;
}

/// Kills every server connection of the store's pool and waits (bounded) until they are gone.
async fn kill_connections(scratch: &Scratch, tag: &str) {
    let (kill, left) = match scratch.server {
        Server::MySql => (
            format!(
                "SELECT CAST(id AS CHAR) FROM information_schema.processlist WHERE db = '{}' AND id <> CONNECTION_ID()",
                scratch.name
            ),
            format!("SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.processlist WHERE db = '{}'", scratch.name),
        ),
        Server::Postgres => (
            format!(
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE application_name = '{tag}' AND pid <> pg_backend_pid()"
            ),
            format!("SELECT COUNT(*)::text FROM pg_stat_activity WHERE application_name = '{tag}'"),
        ),
    };
    let ids = scratch.strings(kill).await;
    assert!(!ids.is_empty(), "the store's pool holds no connection to kill");
    if scratch.server == Server::MySql {
        for id in ids {
            scratch.execute(format!("KILL CONNECTION {id}")).await;
        }
    }
    for _ in 0..200 {
        if scratch.strings(left.clone()).await[0] == "0" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the killed connections are still listed");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_drops_its_connections(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let tag = format!("{}_reconnect", scratch.name);
    let pool = scratch.pool(&tag).await;
    let clock = VirtualClock::starting_now();
    let store = SqlStore::with_pool(pool.clone(), scratch.config(), clock.shared()).await.unwrap();
    let s = live(&clock);
    let sets = (0..4).map(|i| {
        let (store, s) = (&store, &s);
        async move { store.set(&format!("s{i}"), s).await }
    });
    for r in join_all(sets).await {
        r.unwrap();
    }
    kill_connections(&scratch, &tag).await;
    for i in 0..4 {
        assert_eq!(store.get(&format!("s{i}")).await.unwrap().unwrap(), s);
    }
    store.set("after", &s).await.unwrap();
    assert_eq!(store.length().await.unwrap(), 5);
    store.close().await.unwrap();
    match pool {
        SqlPool::MySql(p) => p.close().await,
        SqlPool::Postgres(p) => p.close().await,
        SqlPool::Sqlite(p) => p.close().await,
    }
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_closes_only_a_pool_the_store_created(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let pool = scratch.pool("owner_test").await;
    let borrowed = SqlStore::with_pool(pool.clone(), scratch.config(), clock.shared()).await.unwrap();
    borrowed.close().await.unwrap();
    let still_open = match &pool {
        SqlPool::MySql(p) => !p.is_closed() && sqlx::query("SELECT 1").execute(p).await.is_ok(),
        SqlPool::Postgres(p) => !p.is_closed() && sqlx::query("SELECT 1").execute(p).await.is_ok(),
        SqlPool::Sqlite(_) => unreachable!(),
    };
    assert!(still_open, "closing the store closed the caller's pool");
    assert_eq!(borrowed.get("x").await.unwrap_err().kind(), ErrorKind::Closed);

    // A store on a pool of its own closes it: the server sees its connections go.
    let owned = scratch.store(scratch.config(), &clock).await;
    owned.set("x", &live(&clock)).await.unwrap();
    owned.close().await.unwrap();
    assert_eq!(owned.set("x", &live(&clock)).await.unwrap_err().kind(), ErrorKind::Closed);
    owned.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_runs_on_the_stores_clock_and_stops_on_close(
    #[values(Server::MySql, Server::Postgres)] server: Server,
) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let config = SqlStoreConfig { cleanup_interval: Some(Duration::from_secs(60)), ..scratch.config() };
    let store = scratch.store(config, &clock).await;
    let table = store.table().to_owned();
    let soon = |secs| session(json!({"cookie": {"expires": format_timestamp(clock.now() + TimeDelta::seconds(secs))}}));
    store.set("short", &soon(10)).await.unwrap();
    store.set("long", &soon(3600)).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let mut cleaned = false;
    for _ in 0..200 {
        if scratch.count(&table).await == 1 {
            cleaned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(cleaned, "the cleanup did not remove the expired row within the interval");
    store.set("later", &soon(10)).await.unwrap();
    store.close().await.unwrap();
    clock.advance(Duration::from_secs(7200));
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(scratch.count(&table).await, 2, "a cleanup ran after close");
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_create_table_a_missing_table_is_an_error(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let config = SqlStoreConfig { create_table: false, ..scratch.config() };
    let clock = VirtualClock::starting_now();
    let result = match server {
        Server::MySql => SqlStore::connect_mysql(&env("SESSIONSPEC_MYSQL_URL"), config.clone(), clock.shared()).await,
        Server::Postgres => {
            SqlStore::connect_postgres(&env("SESSIONSPEC_POSTGRES_URL"), config.clone(), clock.shared()).await
        }
    };
    assert_eq!(result.expect_err("opened without a table").kind(), ErrorKind::NotFound);
    // Once the table exists, the same configuration opens.
    scratch.store(scratch.config(), &clock).await.close().await.unwrap();
    scratch.store(config, &clock).await.close().await.unwrap();
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_factory_leaves_a_namespace_it_did_not_create(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let factory: Box<dyn StoreFactory> = match server {
        Server::MySql => Box::new(MySqlFactory::connect(&env("SESSIONSPEC_MYSQL_URL")).await.unwrap()),
        Server::Postgres => Box::new(PostgresFactory::connect(&env("SESSIONSPEC_POSTGRES_URL")).await.unwrap()),
    };
    let theirs = match server {
        Server::MySql => format!("`{}`.`sessions`", scratch.name),
        Server::Postgres => format!("\"{}\".\"sessions\"", scratch.name),
    };
    scratch.execute(format!("CREATE TABLE {theirs} (sid varchar(255) PRIMARY KEY, sess text NOT NULL)")).await;
    scratch.execute(format!("INSERT INTO {theirs} VALUES ('theirs', '{{}}')")).await;
    let context =
        |ns: &Namespace| OpenContext { clock: VirtualClock::starting_now().shared(), ..OpenContext::plain(ns.clone()) };
    let namespace = Namespace::new(scratch.name.clone()).unwrap();
    let refused = factory.open(context(&namespace)).await.err().expect("opened a namespace it did not create");
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    factory.drop_namespace(&namespace).await.unwrap();
    assert_eq!(scratch.count(&theirs).await, 1);

    let own = Namespace::new(format!("{}_own", scratch.name)).unwrap();
    let store = factory.open(context(&own)).await.unwrap();
    store.set("a", &session(json!({"cookie": {}}))).await.unwrap();
    store.close().await.unwrap();
    factory.drop_namespace(&own).await.unwrap();
    let left = match server {
        Server::MySql => {
            scratch
                .strings(format!("SELECT schema_name FROM information_schema.schemata WHERE schema_name = '{own}'"))
                .await
        }
        Server::Postgres => {
            scratch.strings(format!("SELECT nspname::text FROM pg_namespace WHERE nspname = '{own}'")).await
        }
    };
    assert!(left.is_empty(), "{own} was not dropped");
    scratch.drop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_at_once_create_the_table_once(#[values(Server::MySql, Server::Postgres)] server: Server) {
    let scratch = Scratch::new(server).await;
    let clock = VirtualClock::starting_now();
    let opens = (0..8).map(|_| scratch.store(scratch.config(), &clock));
    let stores = join_all(opens).await;
    for (i, store) in stores.iter().enumerate() {
        store.set(&format!("s{i}"), &live(&clock)).await.unwrap();
    }
    assert_eq!(stores[0].length().await.unwrap(), 8);
    for store in stores {
        store.close().await.unwrap();
    }
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_are_knexs_and_u0000_survives_touch() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::new(at("2030-01-01T00:00:00.000Z"));
    let path = dir.path().join("sessions.sqlite");
    let config = SqlStoreConfig { cleanup_interval: None, ..SqlStoreConfig::default() };
    let store = SqlStore::open_sqlite(&path, config, clock.shared()).await.unwrap();
    let s = session(json!({"cookie": {"expires": "2030-01-01T00:00:10.250Z"}, "z": "nul \u{0} inside"}));
    store.set("a", &s).await.unwrap();
    let record = store.raw().unwrap().record("a").await.unwrap().unwrap();
    assert_eq!(record.fields["expired"], json!("2030-01-01T00:00:10.250Z"));
    store.touch("a", &session(json!({"cookie": {"expires": "2030-01-01T01:00:00.000Z"}}))).await.unwrap();
    let got = store.get("a").await.unwrap().unwrap().into_value();
    assert_eq!(got, json!({"cookie": {"expires": "2030-01-01T01:00:00.000Z"}, "z": "nul \u{0} inside"}));
    store.close().await.unwrap();
}

//! Storage compatibility (issue 4): the reference Postgres and SQL stores and the npm stores they
//! mirror (connect-pg-simple 10, connect-session-knex 5 through the express adapter) share one
//! table in one namespace and read, touch and destroy each other's sessions. Needs
//! SESSIONSPEC_POSTGRES_URL, SESSIONSPEC_MYSQL_URL, Node.js and `npm ci` in stores/express-adapter.
//!
//! As an application would meet it: the npm store runs first and creates its table (the
//! adapter's namespace, which it drops afterwards); the reference store is then opened through
//! its own API on that schema or database and uses the table as the npm store made it.

use chrono::{TimeDelta, Utc};
use rstest::rstest;
use serde_json::json;
use sessionspec_contract::{Namespace, OpenContext, Session, Store, SystemClock, format_timestamp};
use sessionspec_store_postgres::{PgStore, PgStoreConfig};
use sessionspec_store_sql::{SqlStore, SqlStoreConfig};
use sessionspec_targets::Backends;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs PostgreSQL and MySQL/MariaDB (eval \"$(harness/backends/services.sh)\")"
        )
    })
}

fn session(n: i64, expires_in: TimeDelta) -> Session {
    let expires = format_timestamp(Utc::now() + expires_in);
    Session::from_value(json!({
        "cookie": {"originalMaxAge": expires_in.num_milliseconds(), "expires": expires, "httpOnly": true, "path": "/"},
        "n": n,
        "user": {"name": "ada", "roles": ["admin"]},
    }))
    .expect("an object")
}

#[rstest]
#[case::connect_pg_simple("postgres", "node:pg")]
#[case::knex_postgres("sql-postgres", "node:knex-postgres")]
#[case::knex_mysql("sql-mysql", "node:knex-mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_and_npm_store_share_one_table(#[case] reference: &str, #[case] npm: &str) {
    let backends = Backends {
        postgres_url: Some(env("SESSIONSPEC_POSTGRES_URL")),
        mysql_url: Some(env("SESSIONSPEC_MYSQL_URL")),
        ..Backends::default()
    };
    let resolved = sessionspec_targets::resolve(&[npm.to_owned()], &backends).await.unwrap_or_else(|e| panic!("{e}"));
    let node_factory = &resolved.targets[0].factory;
    let namespace = Namespace::new(format!("interop_{}_{}", reference.replace('-', "_"), std::process::id())).unwrap();
    let node = node_factory.open(OpenContext::plain(namespace.clone())).await.expect("the npm store opens");
    node.set("first", &session(0, TimeDelta::hours(1))).await.expect("the npm store writes (and makes its table)");
    let rust: Box<dyn Store> = match reference {
        "postgres" => {
            let config = PgStoreConfig {
                schema_name: Some(namespace.to_string()),
                create_table_if_missing: true,
                ..PgStoreConfig::default()
            };
            Box::new(PgStore::connect(&env("SESSIONSPEC_POSTGRES_URL"), config, SystemClock::shared()).await.unwrap())
        }
        "sql-postgres" => {
            let config = SqlStoreConfig { schema_name: Some(namespace.to_string()), ..SqlStoreConfig::default() };
            Box::new(
                SqlStore::connect_postgres(&env("SESSIONSPEC_POSTGRES_URL"), config, SystemClock::shared())
                    .await
                    .unwrap(),
            )
        }
        _ => {
            let config = SqlStoreConfig { schema_name: Some(namespace.to_string()), ..SqlStoreConfig::default() };
            Box::new(
                SqlStore::connect_mysql(&env("SESSIONSPEC_MYSQL_URL"), config, SystemClock::shared()).await.unwrap(),
            )
        }
    };
    assert_eq!(
        rust.get("first").await.unwrap().expect("the reference reads the npm store's table").as_map()["n"],
        json!(0)
    );

    // Written by Rust, read by Node.
    rust.set("written-by-rust", &session(1, TimeDelta::hours(1))).await.unwrap();
    let read = node.get("written-by-rust").await.unwrap().expect("the npm store reads the reference's row");
    assert_eq!(read.as_map()["n"], json!(1));
    assert_eq!(read.as_map()["user"], json!({"name": "ada", "roles": ["admin"]}));

    // Written by Node, read by Rust, including its expiry.
    node.set("written-by-node", &session(2, TimeDelta::hours(1))).await.unwrap();
    let read = rust.get("written-by-node").await.unwrap().expect("the reference reads the npm store's row");
    assert_eq!(read.as_map()["n"], json!(2));
    assert_eq!(rust.ids().await.unwrap(), ["first", "written-by-node", "written-by-rust"]);

    // An expiry written by either is honoured by the other: a past cookie hides the session.
    node.set("expired-by-node", &session(3, TimeDelta::seconds(-30))).await.unwrap();
    assert_eq!(rust.get("expired-by-node").await.unwrap(), None, "the reference shows a session Node wrote expired");
    rust.set("expired-by-rust", &session(4, TimeDelta::seconds(-30))).await.unwrap();
    assert_eq!(node.get("expired-by-rust").await.unwrap(), None, "Node shows a session the reference wrote expired");

    // A touch by the reference keeps the row readable by Node; a destroy by Node is seen by Rust.
    rust.touch("written-by-node", &session(2, TimeDelta::hours(2))).await.unwrap();
    assert_eq!(node.get("written-by-node").await.unwrap().expect("still there").as_map()["n"], json!(2));
    node.destroy("written-by-rust").await.unwrap();
    assert_eq!(rust.get("written-by-rust").await.unwrap(), None);

    rust.close().await.unwrap();
    let _ = node.close().await;
    node_factory.drop_namespace(&namespace).await.expect("the npm side drops what it created");
}

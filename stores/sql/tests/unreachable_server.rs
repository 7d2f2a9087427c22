//! A server that cannot be reached fails connecting with one sentence naming where and why, never
//! with a pool's "timed out", the driver's internals or a password. Needs no server: port 1 on
//! the loopback is closed.

use futures::future::BoxFuture;
use sessionspec_contract::{ErrorKind, Result, StoreError, SystemClock};
use sessionspec_store_sql::{MySqlFactory, PostgresFactory, SqlStore, SqlStoreConfig};

/// Every way the store connects to a server, each tried on `url` of its dialect.
async fn failures(postgres_url: &str, mysql_url: &str) -> Vec<(&'static str, StoreError)> {
    let config = SqlStoreConfig::default;
    let attempts: Vec<(&str, BoxFuture<Result<()>>)> = vec![
        ("PostgresFactory", Box::pin(async { PostgresFactory::connect(postgres_url).await.map(drop) })),
        ("MySqlFactory", Box::pin(async { MySqlFactory::connect(mysql_url).await.map(drop) })),
        (
            "SqlStore::connect_postgres",
            Box::pin(async {
                SqlStore::connect_postgres(postgres_url, config(), SystemClock::shared()).await.map(drop)
            }),
        ),
        (
            "SqlStore::connect_mysql",
            Box::pin(async { SqlStore::connect_mysql(mysql_url, config(), SystemClock::shared()).await.map(drop) }),
        ),
    ];
    let mut out = Vec::new();
    for (what, attempt) in attempts {
        out.push((what, attempt.await.err().unwrap_or_else(|| panic!("{what} must not connect"))));
    }
    out
}

fn server(what: &str) -> &'static str {
    if what.contains("ostgres") { "PostgreSQL" } else { "MySQL" }
}

#[tokio::test]
async fn a_refused_connection_names_the_address_and_the_cause() {
    for (what, error) in
        failures("postgres://app:secret-pw@127.0.0.1:1/app", "mysql://app:secret-pw@127.0.0.1:1/app").await
    {
        assert_eq!(error.kind(), ErrorKind::Backend, "{what}");
        let expected = format!("cannot connect to {} at 127.0.0.1:1: connection refused", server(what));
        assert_eq!(error.chain(), expected, "{what}");
    }
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_named() {
    for (what, error) in
        failures("postgres://app@no-such-host.invalid/app", "mysql://app@no-such-host.invalid/app").await
    {
        let port = if server(what) == "MySQL" { 3306 } else { 5432 };
        let expected = format!(
            "cannot connect to {} at no-such-host.invalid:{port}: cannot resolve host `no-such-host.invalid`",
            server(what)
        );
        assert!(error.chain().starts_with(&expected), "{what}: {}", error.chain());
    }
}

#[tokio::test]
async fn an_unusable_url_is_shown_without_its_password() {
    let urls = ("postgres://app:secret-pw@127.0.0.1:notaport/app", "mysql://app:secret-pw@127.0.0.1:notaport/app");
    for (what, error) in failures(urls.0, urls.1).await {
        assert_eq!(error.kind(), ErrorKind::Invalid, "{what}");
        let scheme = if server(what) == "MySQL" { "mysql" } else { "postgres" };
        let expected = format!(
            "`{scheme}://app:****@127.0.0.1:notaport/app` is not a usable {} URL: invalid port number",
            server(what)
        );
        assert_eq!(error.chain(), expected, "{what}");
    }
}

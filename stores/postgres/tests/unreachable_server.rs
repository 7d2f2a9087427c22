//! A server that cannot be reached fails connecting with one sentence naming where and why, never
//! with a pool's "timed out", the driver's internals or a password. Needs no server: port 1 on
//! the loopback is closed.

use sessionspec_contract::{ErrorKind, StoreError, SystemClock};
use sessionspec_store_postgres::{PgFactory, PgStore, PgStoreConfig};

async fn failure(url: &str) -> Vec<StoreError> {
    let factory = PgFactory::connect(url).await.err().expect("the factory must not connect");
    let store = PgStore::connect(url, PgStoreConfig::default(), SystemClock::shared())
        .await
        .expect_err("the store must not connect");
    vec![factory, store]
}

#[tokio::test]
async fn a_refused_connection_names_the_address_and_the_cause() {
    for error in failure("postgres://app:secret-pw@127.0.0.1:1/app").await {
        assert_eq!(error.kind(), ErrorKind::Backend);
        assert_eq!(error.chain(), "cannot connect to PostgreSQL at 127.0.0.1:1: connection refused");
    }
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_named() {
    for error in failure("postgres://app@no-such-host.invalid/app").await {
        let text = error.chain();
        let expected =
            "cannot connect to PostgreSQL at no-such-host.invalid:5432: cannot resolve host `no-such-host.invalid`";
        assert!(text.starts_with(expected), "{text}");
    }
}

#[tokio::test]
async fn an_unusable_url_is_shown_without_its_password() {
    for error in failure("postgres://app:secret-pw@127.0.0.1:notaport/app").await {
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert_eq!(
            error.chain(),
            "`postgres://app:****@127.0.0.1:notaport/app` is not a usable PostgreSQL URL: invalid port number"
        );
    }
}

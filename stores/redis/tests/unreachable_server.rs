//! A server that cannot be reached fails connecting with one sentence naming where and why, never
//! with the driver's internals or a password. Needs no server: port 1 on the loopback is closed.

use sessionspec_contract::{ErrorKind, StoreError};
use sessionspec_store_redis::{RedisConfig, RedisFactory, RedisStore};

async fn failure(url: &str) -> Vec<StoreError> {
    let factory = RedisFactory::connect(url).await.err().expect("the factory must not connect");
    let store = RedisStore::connect(url, RedisConfig::default()).await.expect_err("the store must not connect");
    vec![factory, store]
}

#[tokio::test]
async fn a_refused_connection_names_the_address_and_the_cause() {
    for error in failure("redis://:secret-pw@127.0.0.1:1/").await {
        assert_eq!(error.kind(), ErrorKind::Backend);
        assert_eq!(error.chain(), "cannot connect to Redis at 127.0.0.1:1: connection refused");
    }
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_named() {
    for error in failure("redis://no-such-host.invalid:6379/").await {
        let text = error.chain();
        let expected =
            "cannot connect to Redis at no-such-host.invalid:6379: cannot resolve host `no-such-host.invalid`";
        assert!(text.starts_with(expected), "{text}");
    }
}

#[tokio::test]
async fn an_unusable_url_is_shown_without_its_password() {
    for error in failure("redis://user:secret-pw@127.0.0.1:notaport/").await {
        assert_eq!(error.kind(), ErrorKind::Invalid);
        let text = error.chain();
        assert!(text.starts_with("`redis://user:****@127.0.0.1:notaport/` is not a usable Redis URL"), "{text}");
        assert!(!text.contains("secret-pw"), "{text}");
    }
}

//! A server that cannot be reached fails connecting the factory with one sentence naming where and
//! why, at once rather than after server selection gives up, and never with the driver's topology
//! dump or a password. Needs no server: port 1 on the loopback is closed.

use sessionspec_contract::ErrorKind;
use sessionspec_store_mongo::MongoFactory;

#[tokio::test]
async fn a_refused_connection_names_the_address_and_the_cause() {
    let error = MongoFactory::connect("mongodb://app:secret-pw@127.0.0.1:1/").await.err().expect("must not connect");
    assert_eq!(error.kind(), ErrorKind::Backend);
    assert_eq!(error.chain(), "cannot connect to MongoDB at 127.0.0.1:1: connection refused");
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_named() {
    let error = MongoFactory::connect("mongodb://no-such-host.invalid/").await.err().expect("must not connect");
    let text = error.chain();
    let expected =
        "cannot connect to MongoDB at no-such-host.invalid:27017: cannot resolve host `no-such-host.invalid`";
    assert!(text.starts_with(expected), "{text}");
}

#[tokio::test]
async fn an_unusable_url_is_shown_without_its_password() {
    let error = MongoFactory::connect("mongodb://app:secret-pw@127.0.0.1:notaport/").await.err().expect("invalid");
    assert_eq!(error.kind(), ErrorKind::Invalid);
    let text = error.chain();
    assert!(
        text.starts_with("`mongodb://app:****@127.0.0.1:notaport/` is not a usable MongoDB connection string"),
        "{text}"
    );
    assert!(!text.contains("secret-pw"), "{text}");
}

//! Interop: the reference Rust store and the npm store write and read the same backend, in both
//! directions, on one namespace (same key layout). Needs SESSIONSPEC_REDIS_URL, Node.js and
//! `npm ci` in stores/express-adapter.
//!
//! Expressed as a Rust test driving both factories on one namespace rather than as a scenario
//! feature: a scenario runs against one target, and a second target inside a scenario would be a
//! runner change for a handful of pairs; here each pair is a few lines and fails with both sides
//! named.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;
use sessionspec_contract::{Namespace, OpenContext, Session, StoreFactory, format_timestamp};
use sessionspec_store_adapter::{AdapterConfig, AdapterFactory, node};

fn url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: eval \"$(harness/backends/services.sh)\" first"))
}

async fn npm(preset: &str, env: &str) -> AdapterFactory {
    let dir = node::preset_dir().unwrap_or_else(|why| panic!("{why}"));
    if let Err(why) = node::check_installed(&dir) {
        panic!("{why}");
    }
    let config: AdapterConfig = node::preset_config(preset, &dir).env(env, url(env));
    AdapterFactory::start(config).await.expect("the adapter starts")
}

fn session(n: i64) -> Session {
    let expires = format_timestamp(chrono::Utc::now() + TimeDelta::hours(1));
    Session::from_value(
        json!({"cookie": {"expires": expires, "originalMaxAge": 3_600_000}, "n": n, "user": {"name": "ada"}}),
    )
    .expect("an object")
}

async fn both_directions(reference: Arc<dyn StoreFactory>, npm: Arc<dyn StoreFactory>, namespace: Namespace) {
    let rust = reference.open(OpenContext::plain(namespace.clone())).await.expect("the reference store opens");
    let node = npm.open(OpenContext::plain(namespace.clone())).await.expect("the npm store opens");

    rust.set("written-by-rust", &session(1)).await.expect("reference set");
    let read = node.get("written-by-rust").await.expect("npm get").expect("the npm store sees the reference's session");
    assert_eq!(read, session(1).clone_with_expires_of(&read), "npm read of a reference write");

    node.set("written-by-node", &session(2)).await.expect("npm set");
    let read =
        rust.get("written-by-node").await.expect("reference get").expect("the reference sees the npm store's session");
    assert_eq!(read.as_map().get("n"), Some(&json!(2)));
    assert_eq!(read.as_map().get("user"), Some(&json!({"name": "ada"})));

    node.destroy("written-by-rust").await.expect("npm destroy");
    assert_eq!(
        rust.get("written-by-rust").await.expect("reference get"),
        None,
        "a destroy by one is seen by the other"
    );

    let _ = rust.close().await;
    let _ = node.close().await;
    npm.drop_namespace(&namespace).await.expect("npm drop");
    reference.drop_namespace(&namespace).await.expect("reference drop");
}

trait SameExpires {
    fn clone_with_expires_of(&self, other: &Session) -> Session;
}

impl SameExpires for Session {
    /// This session with `other`'s cookie, so that a comparison checks the data only.
    fn clone_with_expires_of(&self, other: &Session) -> Session {
        let mut s = self.clone();
        s.replace_cookie(other);
        s
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_reference_and_connect_redis_read_each_other() {
    let reference = sessionspec_store_redis::RedisFactory::connect(&url("SESSIONSPEC_REDIS_URL")).await.expect("redis");
    let npm = npm("redis", "SESSIONSPEC_REDIS_URL").await;
    let namespace = Namespace::new(format!("interop_redis_{}", std::process::id())).expect("a namespace");
    both_directions(Arc::new(reference), Arc::new(npm), namespace).await;
}

//! One collection shared with the real connect-mongo 6.0.0 (the express adapter's pinned copy,
//! run with `node`): each side reads the sessions the other wrote, with the JSON and document
//! serializers, with and without encryption (`createWebCryptoAdapter` and `AesGcmCipher` with one
//! secret), and connect-mongo starts on a collection whose TTL index this store created.
//!
//! Needs SESSIONSPEC_MONGO_URL, `node` on PATH and `npm ci` in stores/express-adapter.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mongodb::Client;
use rstest::rstest;
use serde_json::{Value, json};
use sessionspec_contract::{Serializer, Session, Store};
use sessionspec_crypto::AesGcmCipher;
use sessionspec_store_mongo::{MongoStore, MongoStoreConfig};

const SECRET: &str = "shared by connect-mongo and sessionspec";

/// Writes (`MODE=write`, the session as JSON in SESSION) or reads (`MODE=read`, printing the
/// session's JSON, or `null`) one session with connect-mongo, configured like the Rust store.
const CONNECT_MONGO: &str = r#"
const { MongoStore, createWebCryptoAdapter } = require('connect-mongo');
const env = process.env;
const options = {
  mongoUrl: env.SESSIONSPEC_MONGO_URL, dbName: env.DB, timestamps: true, touchAfter: 60,
  stringify: env.SERIALIZER !== 'document',
};
if (env.SECRET) options.cryptoAdapter = createWebCryptoAdapter({ secret: env.SECRET });
const store = MongoStore.create(options);
const finish = (error, value) => {
  if (error) { process.stderr.write(String(error && error.stack || error)); process.exitCode = 1; }
  else process.stdout.write(JSON.stringify(value === undefined ? 'written' : value));
  store.close();
};
if (env.MODE === 'write') {
  const session = JSON.parse(env.SESSION);
  // express-session hands stores a cookie whose `expires` is a Date.
  session.cookie.expires = new Date(session.cookie.expires);
  store.set(env.SID, session, (e) => finish(e));
} else {
  store.get(env.SID, finish);
}
"#;

fn url() -> String {
    std::env::var("SESSIONSPEC_MONGO_URL").unwrap_or_else(|_| {
        panic!("SESSIONSPEC_MONGO_URL is not set: run `eval \"$(harness/backends/mongo/secantus.sh up)\"` first")
    })
}

fn adapter_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../express-adapter");
    assert!(
        dir.join("node_modules/connect-mongo").is_dir(),
        "connect-mongo is not installed: run `npm ci` in {} (this test drives its pinned connect-mongo 6.0.0)",
        dir.display()
    );
    dir
}

fn connect_mongo(db: &str, serializer: &str, encrypted: bool, mode: &str, sid: &str, session: Option<&Value>) -> Value {
    let mut command = Command::new("node");
    command
        .arg("-e")
        .arg(CONNECT_MONGO)
        .current_dir(adapter_dir())
        .env("SESSIONSPEC_MONGO_URL", url())
        .env("DB", db)
        .env("SERIALIZER", serializer)
        .env("MODE", mode)
        .env("SID", sid)
        .env("SESSION", session.map(Value::to_string).unwrap_or_default());
    if encrypted {
        command.env("SECRET", SECRET);
    } else {
        command.env_remove("SECRET");
    }
    let out = command.output().unwrap_or_else(|e| {
        panic!("this test needs `node` (Node.js 20 or later) on PATH, and starting it failed: {e}")
    });
    assert!(out.status.success(), "connect-mongo failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("connect-mongo printed JSON")
}

#[rstest]
#[case::json_plain("json", false)]
#[case::json_encrypted("json", true)]
#[case::document_plain("document", false)]
#[case::document_encrypted("document", true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cross_between_connect_mongo_and_this_store(#[case] serializer: &str, #[case] encrypted: bool) {
    let db = format!("sstest_cm_{}_{serializer}_{encrypted}", std::process::id());
    let mut config = MongoStoreConfig::new().db_name(&db).timestamps(true).touch_after(Duration::from_secs(60));
    if serializer == "document" {
        config = config.serializer(Serializer::Document);
    }
    if encrypted {
        let cipher = tokio::task::spawn_blocking(|| AesGcmCipher::new(SECRET)).await.unwrap().unwrap();
        config = config.cipher(Arc::new(cipher));
    }
    // This store creates the collection and its TTL index first; connect-mongo must start on it.
    let store = MongoStore::connect(&url(), config).await.unwrap();
    let session = json!({
        "cookie": {"originalMaxAge": 3_600_000, "expires": "2031-01-01T00:00:00.000Z", "httpOnly": true, "path": "/"},
        "user": "ünï 🦀", "n": [1, 2.5, null], "nested": {"empty": {}}
    });
    store.set("from-rust", &Session::from_value(session.clone()).unwrap()).await.unwrap();

    let read = connect_mongo(&db, serializer, encrypted, "read", "from-rust", None);
    // connect-mongo copies its touchAfter bookkeeping into the sessions it returns.
    let mut expected = session.clone();
    expected["lastModified"] = read["lastModified"].clone();
    assert!(read["lastModified"].is_string(), "connect-mongo found lastModified: {read}");
    assert_eq!(read, expected);

    assert_eq!(connect_mongo(&db, serializer, encrypted, "write", "from-node", Some(&session)), json!("written"));
    assert_eq!(store.get("from-node").await.unwrap().map(Session::into_value), Some(session));

    store.close().await.unwrap();
    Client::with_uri_str(url()).await.unwrap().database(&db).drop().await.unwrap();
}

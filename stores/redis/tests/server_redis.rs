//! The Redis store against real servers: the shared one at SESSIONSPEC_REDIS_URL for layout,
//! options, literal names and namespaces, and a private `redis-server` this test starts on a
//! free port for what would disturb others (killing connections, pausing, restarting).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use redis::aio::ConnectionManager;
use rstest::rstest;
use serde_json::{Value, json};
use sessionspec_contract::{
    ErrorKind, EventKind, EventSink, Namespace, OpenContext, Session, Store, StoreEvent, StoreFactory, format_timestamp,
};
use sessionspec_store_redis::{RedisConfig, RedisFactory, RedisStore, Ttl, namespace_prefix};

fn url() -> String {
    std::env::var("SESSIONSPEC_REDIS_URL").expect(
        "SESSIONSPEC_REDIS_URL is not set: these tests need a Redis server \
         (eval \"$(harness/backends/services.sh)\" starts or finds one and exports it)",
    )
}

/// A prefix no other test or run uses.
fn unique_prefix(label: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("sstest_{}_{}_{n}_{label}:", std::process::id(), Utc::now().timestamp_micros())
}

async fn raw_connection(url: &str) -> ConnectionManager {
    ConnectionManager::new(redis::Client::open(url).unwrap()).await.expect("connect to Redis")
}

async fn store(prefix: &str, change: impl FnOnce(&mut RedisConfig)) -> RedisStore {
    let mut config = RedisConfig { prefix: prefix.to_owned(), ..RedisConfig::default() };
    change(&mut config);
    RedisStore::connect(&url(), config).await.expect("open the store")
}

fn session(value: Value) -> Session {
    Session::from_value(value).unwrap()
}

fn in_(seconds: i64) -> String {
    format_timestamp(Utc::now() + TimeDelta::seconds(seconds))
}

/// The keys matching `pattern`, by SCAN.
async fn scan(c: &mut ConnectionManager, pattern: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            keys.sort();
            keys.dedup();
            return keys;
        }
        cursor = next;
    }
}

async fn delete_prefix(c: &mut ConnectionManager, prefix: &str) {
    let keys = scan(c, &sessionspec_store_redis::prefix_pattern(prefix)).await;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query_async::<()>(c).await.unwrap();
    }
}

async fn pttl(c: &mut ConnectionManager, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(c).await.unwrap()
}

#[tokio::test]
async fn layout_matches_connect_redis() {
    let prefix = unique_prefix("layout");
    let mut raw = raw_connection(&url()).await;
    let store = store(&prefix, |_| {}).await;
    let written = session(json!({"cookie": {"expires": in_(3600), "originalMaxAge": 3_600_000}, "user": "ada"}));
    store.set("sid-1", &written).await.unwrap();

    let key = format!("{prefix}sid-1");
    let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut raw).await.unwrap();
    assert_eq!(kind, "string", "one string key per session, named prefix + sid");
    let text: String = redis::cmd("GET").arg(&key).query_async(&mut raw).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        written.clone().into_value(),
        "the value is the session's JSON"
    );
    let ttl = pttl(&mut raw, &key).await;
    assert!((3_590_000..=3_600_000).contains(&ttl), "the key's TTL is the cookie's remaining life, found {ttl} ms");

    // A session connect-redis wrote (JSON.stringify member order, EX seconds) reads back.
    let theirs = format!(
        r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{}","httpOnly":true,"path":"/"}},"views":3}}"#,
        in_(60)
    );
    redis::cmd("SET")
        .arg(format!("{prefix}from-node"))
        .arg(&theirs)
        .arg("EX")
        .arg(60)
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let read = store.get("from-node").await.unwrap().expect("a session written by connect-redis");
    assert_eq!(read.into_value(), serde_json::from_str::<Value>(&theirs).unwrap());
    assert_eq!(store.ids().await.unwrap(), vec!["from-node".to_owned(), "sid-1".to_owned()]);

    // No cookie.expires: the fallback ttl (one day by default).
    store.set("no-expires", &session(json!({"cookie": {"originalMaxAge": null}}))).await.unwrap();
    let ttl = pttl(&mut raw, &format!("{prefix}no-expires")).await;
    assert!((86_390_000..=86_400_000).contains(&ttl), "fallback ttl, found {ttl} ms");

    // A cookie already expired deletes the key, as connect-redis does.
    store.set("sid-1", &session(json!({"cookie": {"expires": in_(-5)}}))).await.unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut raw).await.unwrap();
    assert_eq!(exists, 0);
    store.close().await.unwrap();
    delete_prefix(&mut raw, &prefix).await;
}

#[tokio::test]
async fn options_ttl_function_disable_ttl_and_disable_touch() {
    let prefix = unique_prefix("options");
    let mut raw = raw_connection(&url()).await;
    let long = session(json!({"cookie": {"expires": in_(3600)}, "n": 1}));

    let by_function = store(&prefix, |c| c.ttl = Ttl::Function(Arc::new(|_| Duration::from_secs(120)))).await;
    by_function.set("f", &long).await.unwrap();
    let ttl = pttl(&mut raw, &format!("{prefix}f")).await;
    assert!((110_000..=120_000).contains(&ttl), "a ttl function overrides the cookie, found {ttl} ms");

    let fallback = store(&prefix, |c| c.ttl = Ttl::Fallback(Duration::from_secs(30))).await;
    fallback.set("fb", &session(json!({"cookie": {}}))).await.unwrap();
    fallback.set("fb2", &long).await.unwrap();
    assert!((20_000..=30_000).contains(&pttl(&mut raw, &format!("{prefix}fb")).await));
    assert!(pttl(&mut raw, &format!("{prefix}fb2")).await > 3_500_000, "a fallback never overrides expires");

    let no_ttl = store(&prefix, |c| c.disable_ttl = true).await;
    no_ttl.set("forever", &long).await.unwrap();
    assert_eq!(pttl(&mut raw, &format!("{prefix}forever")).await, -1, "disable_ttl stores keys without a TTL");
    no_ttl.touch("forever", &session(json!({"cookie": {"expires": in_(10)}}))).await.unwrap();
    assert_eq!(pttl(&mut raw, &format!("{prefix}forever")).await, -1, "and touch does nothing");

    let no_touch = store(&prefix, |c| c.disable_touch = true).await;
    no_touch.touch("fb2", &session(json!({"cookie": {"expires": in_(10)}}))).await.unwrap();
    assert!(pttl(&mut raw, &format!("{prefix}fb2")).await > 3_500_000, "disable_touch writes nothing");

    let expiry_only = store(&prefix, |c| c.touch_rewrites_cookie = false).await;
    expiry_only.touch("fb2", &session(json!({"cookie": {"expires": in_(600)}}))).await.unwrap();
    let ttl = pttl(&mut raw, &format!("{prefix}fb2")).await;
    assert!((590_000..=600_000).contains(&ttl), "touch moved the TTL, found {ttl} ms");
    let stored = expiry_only.get("fb2").await.unwrap().unwrap();
    assert_eq!(stored, long, "without cookie rewriting the stored cookie stays as set");
    delete_prefix(&mut raw, &prefix).await;
}

#[tokio::test]
async fn touch_rewrites_the_cookie_never_creates_and_loses_no_concurrent_set() {
    let prefix = unique_prefix("touch");
    let mut raw = raw_connection(&url()).await;
    let events: Arc<Mutex<Vec<StoreEvent>>> = Arc::default();
    let sink = events.clone();
    let store =
        Arc::new(store(&prefix, |c| c.events = Some(EventSink::new(move |e| sink.lock().unwrap().push(e)))).await);
    let kinds = || events.lock().unwrap().drain(..).map(|e| e.kind).collect::<Vec<_>>();

    store.touch("missing", &session(json!({"cookie": {"expires": in_(60)}}))).await.unwrap();
    assert_eq!(store.get("missing").await.unwrap(), None, "touch creates nothing");
    assert_eq!(kinds(), Vec::<EventKind>::new(), "a touch that writes nothing emits nothing");

    store.set("a", &session(json!({"cookie": {"expires": in_(60)}, "data": [1, 2]}))).await.unwrap();
    assert_eq!(kinds(), [EventKind::Create, EventKind::Set]);
    let new_cookie = json!({"expires": in_(600), "originalMaxAge": 600_000});
    store.touch("a", &session(json!({"cookie": new_cookie, "data": "other"}))).await.unwrap();
    assert_eq!(kinds(), [EventKind::Touch]);
    let read = store.get("a").await.unwrap().unwrap().into_value();
    assert_eq!(read, json!({"cookie": new_cookie, "data": [1, 2]}), "touch stores the cookie, keeps the data");
    assert!(pttl(&mut raw, &format!("{prefix}a")).await > 590_000);

    // Concurrent touches and sets: every set's data survives (CONC-4).
    for round in 0..50 {
        let (s, t) = (store.clone(), store.clone());
        let set =
            tokio::spawn(
                async move { s.set("a", &session(json!({"cookie": {"expires": in_(60)}, "data": round}))).await },
            );
        let touch = tokio::spawn(async move {
            t.touch("a", &session(json!({"cookie": {"expires": in_(120)}, "data": "stale"}))).await
        });
        set.await.unwrap().unwrap();
        touch.await.unwrap().unwrap();
        let data = store.get("a").await.unwrap().unwrap().as_map()["data"].clone();
        assert_eq!(data, json!(round), "round {round}: the set's data won");
    }
    store.set("a", &session(json!({"cookie": {"expires": in_(60)}}))).await.unwrap();
    kinds();
    store.set("a", &session(json!({"cookie": {"expires": in_(60)}}))).await.unwrap();
    store.destroy("a").await.unwrap();
    assert_eq!(kinds(), [EventKind::Update, EventKind::Set, EventKind::Destroy]);
    delete_prefix(&mut raw, &prefix).await;
}

#[rstest]
#[case::star("a*b:", "axb:")]
#[case::question("a?b:", "axb:")]
#[case::brackets("a[xy]b:", "axb:")]
#[case::backslash("a\\xb:", "axb:")]
#[case::caret("[^a]b:", "xb:")]
#[case::empty_suffix("a*", "ab")]
#[tokio::test]
async fn glob_characters_in_prefixes_are_literal(#[case] tricky: &str, #[case] neighbour: &str) {
    let base = unique_prefix("glob");
    let mut raw = raw_connection(&url()).await;
    let a = store(&format!("{base}{tricky}"), |_| {}).await;
    let b = store(&format!("{base}{neighbour}"), |_| {}).await;
    let s = session(json!({"cookie": {"expires": in_(60)}}));
    b.set("x", &s).await.unwrap();
    a.set("y", &s).await.unwrap();
    assert_eq!(a.ids().await.unwrap(), ["y"], "`{tricky}` must not list `{neighbour}`'s sessions");
    assert_eq!(a.length().await.unwrap(), 1);
    assert_eq!(a.all().await.unwrap().len(), 1);
    a.clear().await.unwrap();
    assert_eq!(b.ids().await.unwrap(), ["x"], "clear of `{tricky}` removed `{neighbour}`'s sessions");
    assert_eq!(a.length().await.unwrap(), 0);
    delete_prefix(&mut raw, &base).await;
}

#[tokio::test]
async fn sids_with_glob_characters_are_literal() {
    let prefix = unique_prefix("sids");
    let mut raw = raw_connection(&url()).await;
    let store = store(&prefix, |_| {}).await;
    let s = session(json!({"cookie": {"expires": in_(60)}}));
    let sids = ["*", "a*", "a?", "[ab]", "a\\", "ab", "a", "é:{}$ %", "'; DROP --"];
    for sid in sids {
        store.set(sid, &s).await.unwrap();
    }
    let mut expected: Vec<String> = sids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(store.ids().await.unwrap(), expected);
    store.destroy("*").await.unwrap();
    store.destroy("a?").await.unwrap();
    store.destroy("[ab]").await.unwrap();
    expected.retain(|s| !["*", "a?", "[ab]"].contains(&s.as_str()));
    assert_eq!(store.ids().await.unwrap(), expected, "destroy removed exactly the sids named");
    let listed: Vec<Option<String>> = store.all().await.unwrap().into_iter().map(|l| l.sid).collect();
    assert_eq!(listed, expected.iter().cloned().map(Some).collect::<Vec<_>>());
    delete_prefix(&mut raw, &prefix).await;
}

#[tokio::test]
async fn closed_store_fails_with_closed() {
    let store = store(&unique_prefix("closed"), |_| {}).await;
    store.close().await.unwrap();
    store.close().await.unwrap();
    let s = session(json!({"cookie": {}}));
    assert_eq!(store.get("a").await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(store.set("a", &s).await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(store.touch("a", &s).await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(store.ids().await.unwrap_err().kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn factory_namespaces_are_isolated_and_dropped_exactly() {
    let url = url();
    let factory = RedisFactory::connect(&url).await.unwrap();
    assert!(factory.describe().backend_version.as_deref().is_some_and(|v| v.starts_with(char::is_numeric)));
    let mut raw = raw_connection(&url).await;
    let token = format!("nsx{}", std::process::id());
    // `a`'s name is a prefix of the others'.
    let names = [format!("{token}_a"), format!("{token}_a_b"), format!("{token}_a0")];
    let mut stores = Vec::new();
    for name in &names {
        stores.push(factory.open(OpenContext::plain(Namespace::new(name.clone()).unwrap())).await.unwrap());
    }
    let s = session(json!({"cookie": {"expires": in_(60)}}));
    for store in &stores {
        store.set("b", &s).await.unwrap();
        store.set("_b", &s).await.unwrap();
    }
    // Keys right next to the namespace that are not in it.
    for key in [format!("{token}_a"), format!("{token}_a_b"), format!("{token}_ax:sess:b")] {
        redis::cmd("SET").arg(&key).arg("keep").query_async::<()>(&mut raw).await.unwrap();
    }
    assert_eq!(stores[0].ids().await.unwrap(), ["_b", "b"]);
    stores[0].clear().await.unwrap();
    assert_eq!(stores[1].length().await.unwrap(), 2, "clear in one namespace left the others alone");
    stores[0].set("b", &s).await.unwrap();
    factory.drop_namespace(&Namespace::new(names[0].clone()).unwrap()).await.unwrap();
    let left = scan(&mut raw, format!("{token}*").as_bytes()).await;
    let mut expected = vec![
        format!("{token}_a"),
        format!("{token}_a0:sess:_b"),
        format!("{token}_a0:sess:b"),
        format!("{token}_a_b"),
        format!("{token}_a_b:sess:_b"),
        format!("{token}_a_b:sess:b"),
        format!("{token}_ax:sess:b"),
    ];
    expected.sort();
    assert_eq!(left, expected, "drop_namespace deletes exactly its own keys");
    assert_eq!(namespace_prefix(&Namespace::new("n1").unwrap(), Some("a*b")), "n1:a*b:");
    for key in expected {
        redis::cmd("DEL").arg(key).query_async::<()>(&mut raw).await.unwrap();
    }
}

/// A redis-server of this test's own on a free port, killed when dropped.
struct PrivateServer {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl PrivateServer {
    fn start() -> PrivateServer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("sessionspec-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = PrivateServer { port, dir, child: None };
        server.spawn();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("these tests start a private redis-server: install Redis (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url()).unwrap();
        while Instant::now() < deadline {
            if let Ok(mut c) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the private redis-server on port {} did not answer within 10 s", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Retries `op` until it succeeds, for at most `bound`.
async fn eventually<T>(bound: Duration, mut op: impl AsyncFnMut() -> sessionspec_contract::Result<T>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("still failing after {bound:?}: {}", e.chain()),
        }
    }
}

/// The ids of the server's normal clients other than `admin`.
async fn other_clients(admin: &mut ConnectionManager) -> Vec<i64> {
    let me: i64 = redis::cmd("CLIENT").arg("ID").query_async(admin).await.unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("normal").query_async(admin).await.unwrap();
    let ids = list.lines().filter_map(|line| line.strip_prefix("id=")?.split(' ').next()?.parse::<i64>().ok());
    ids.filter(|&id| id != me).collect()
}

#[tokio::test]
async fn killed_connection_is_replaced_transparently() {
    let server = PrivateServer::start();
    let store = RedisStore::connect(&server.url(), RedisConfig::default()).await.unwrap();
    let s = session(json!({"cookie": {"expires": in_(60)}, "n": 1}));
    store.set("a", &s).await.unwrap();
    let mut admin = raw_connection(&server.url()).await;
    let before = other_clients(&mut admin).await;
    assert_eq!(before.len(), 1, "the store's one connection: {before:?}");
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(before[0]).query_async(&mut admin).await.unwrap();
    assert_eq!(killed, 1);
    // The first operation after the kill finds the connection dropped, and is sent again on a new one.
    assert_eq!(store.get("a").await.expect("get after CLIENT KILL"), Some(s.clone()));
    let after = other_clients(&mut admin).await;
    assert_eq!(after.len(), 1, "one new connection: {after:?}");
    assert_ne!(after, before, "a new connection");
    // Concurrent operations that all meet a dropped connection make one new connection between them.
    redis::cmd("CLIENT").arg("KILL").arg("ID").arg(after[0]).query_async::<i64>(&mut admin).await.unwrap();
    let reads = futures::future::join_all((0..16).map(|_| store.get("a"))).await;
    assert!(reads.into_iter().all(|r| r.expect("get after CLIENT KILL") == Some(s.clone())));
    let last = other_clients(&mut admin).await;
    assert_eq!(last.len(), 1, "still one connection: {last:?}");
}

#[tokio::test]
async fn store_recovers_after_the_server_restarts() {
    let mut server = PrivateServer::start();
    let config = RedisConfig { timeout: Duration::from_secs(1), ..RedisConfig::default() };
    let store = RedisStore::connect(&server.url(), config).await.unwrap();
    let s = session(json!({"cookie": {"expires": in_(60)}, "n": 1}));
    store.set("a", &s).await.unwrap();
    server.kill();
    let err = store.get("a").await.expect_err("the server is down");
    assert!(matches!(err.kind(), ErrorKind::Backend | ErrorKind::Timeout), "{}", err.chain());
    server.spawn();
    // The server kept nothing (no persistence): a set on the reconnected store works.
    eventually(Duration::from_secs(10), async || store.set("a", &s).await).await;
    assert_eq!(store.get("a").await.unwrap(), Some(s));
}

#[tokio::test]
async fn operations_time_out_when_the_server_hangs() {
    let server = PrivateServer::start();
    let config = RedisConfig { timeout: Duration::from_millis(300), ..RedisConfig::default() };
    let store = RedisStore::connect(&server.url(), config).await.unwrap();
    let s = session(json!({"cookie": {"expires": in_(60)}}));
    store.set("a", &s).await.unwrap();
    let mut admin = raw_connection(&server.url()).await;
    redis::cmd("CLIENT").arg("PAUSE").arg(2000).query_async::<()>(&mut admin).await.unwrap();
    // Paused for 2 s, the server would answer in the end: only the store's bound makes this fail.
    let err = store.get("a").await.expect_err("the server is paused");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{}", err.chain());
    assert_eq!(eventually(Duration::from_secs(10), async || store.get("a").await).await, Some(s));
}

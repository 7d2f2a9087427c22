//! The harness leaves unrelated data alone (issue 4): keys seeded in the Redis server, several of
//! them named like the run's own namespaces, are unchanged (value, type and expiry) after the
//! whole suite ran against the `redis` store, and the run leaves no key of its own behind.

use std::collections::BTreeMap;
use std::path::Path;

use redis::aio::MultiplexedConnection;
use sessionspec_runner::{RunOptions, Runner};
use sessionspec_scenario::Suite;
use sessionspec_targets::Backends;

/// What a key holds, as Redis would restore it, and its absolute expiry (-1: none).
#[derive(Debug, PartialEq)]
struct Snapshot {
    dump: Vec<u8>,
    expire_at_ms: i64,
}

async fn snapshot(c: &mut MultiplexedConnection, key: &str) -> Option<Snapshot> {
    let dump: Option<Vec<u8>> = redis::cmd("DUMP").arg(key).query_async(c).await.unwrap();
    let expire_at_ms: i64 = redis::cmd("PEXPIRETIME").arg(key).query_async(c).await.expect("Redis 7 (PEXPIRETIME)");
    dump.map(|dump| Snapshot { dump, expire_at_ms })
}

async fn scan(c: &mut MultiplexedConnection, pattern: &str) -> Vec<String> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_redis_leaves_unrelated_keys_unchanged() {
    let url = std::env::var("SESSIONSPEC_REDIS_URL").expect(
        "SESSIONSPEC_REDIS_URL is not set: this test needs a Redis server \
         (eval \"$(harness/backends/services.sh)\" starts or finds one and exports it)",
    );
    // The run's namespaces are `ss{token}_{n}`, so the seeds can sit right next to them.
    let token = sessionspec_runner::run_token();
    let ns = format!("ss{token}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (suite, problems) = Suite::load(&root.join("scenarios"), &root.join("spec"));
    assert!(problems.is_empty(), "the suite has problems: {problems:?}");
    let suite = suite.expect("a suite");
    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let in_ten_minutes = now.as_millis() as i64 + 600_000;

    // Seeds: next to the run's namespaces (`ss{token}_{n}:`), inside none of them.
    let mut strings = vec![
        format!("sess:{token}"),      // connect-redis's default prefix
        format!("{ns}:sess:a"),       // the token alone
        format!("{ns}_*:sess:a"),     // a glob character where the number goes
        format!("{ns}_[0-9]:sess:a"), // a glob class where the number goes
    ];
    // Around every namespace the run may create (one per case, numbered from 0); none of these
    // names can be a namespace (`-`, `X` and `.` are outside the namespace alphabet).
    for n in 0..suite.scenarios.len() {
        strings.push(format!("{ns}_{n}"));
        strings.push(format!("{ns}_{n}X:sess:a"));
        strings.push(format!("{ns}_{n}-b:sess:a"));
        strings.push(format!("{ns}_{n}sess:a"));
        strings.push(format!("x.{ns}_{n}:sess:a"));
    }
    for (i, key) in strings.iter().enumerate() {
        redis::cmd("SET")
            .arg(key)
            .arg(format!(r#"{{"cookie":{{}},"seed":{i}}}"#))
            .query_async::<()>(&mut c)
            .await
            .unwrap();
        if i % 2 == 0 {
            redis::cmd("PEXPIREAT").arg(key).arg(in_ten_minutes).query_async::<()>(&mut c).await.unwrap();
        }
    }
    // Other types, with names that are no namespace either.
    let hash = format!("{ns}_4X:hash");
    let list = format!("{ns}_5-list");
    let set = format!("{ns}_6set");
    let zset = format!("{ns}_7.zset");
    redis::cmd("HSET").arg(&hash).arg("sid").arg("v").query_async::<()>(&mut c).await.unwrap();
    redis::cmd("RPUSH").arg(&list).arg("a").arg("b").query_async::<()>(&mut c).await.unwrap();
    redis::cmd("SADD").arg(&set).arg("a").query_async::<()>(&mut c).await.unwrap();
    redis::cmd("ZADD").arg(&zset).arg(1).arg("a").query_async::<()>(&mut c).await.unwrap();
    redis::cmd("PEXPIREAT").arg(&list).arg(in_ten_minutes).query_async::<()>(&mut c).await.unwrap();
    let mut seeded: Vec<String> = strings.clone();
    seeded.extend([hash, list, set, zset]);
    seeded.sort();
    let mut before = BTreeMap::new();
    for key in &seeded {
        before.insert(key.clone(), snapshot(&mut c, key).await.expect("seeded"));
    }

    // The whole suite, as `sessionspec run --store redis` runs it, with this test's token.
    let backends = Backends { redis_url: Some(url.clone()), ..Backends::default() };
    let resolved = sessionspec_targets::resolve(&["redis".to_owned()], &backends).await.expect("the redis target");
    let runner = Runner::new(RunOptions { run_token: token.clone(), ..RunOptions::default() });
    let summary = runner.run(&suite.scenarios, &suite.spec, &resolved.targets, |_| {}).await;
    assert!(!summary.footer.incomplete, "the run did not finish: {:?}", summary.footer.reason);
    assert!(
        summary.results.iter().any(|r| r.outcome.name() == "pass"),
        "no scenario passed: the run did not exercise the store"
    );

    for key in &seeded {
        let after = snapshot(&mut c, key).await;
        assert_eq!(after.as_ref(), before.get(key), "`{key}` changed or vanished");
    }
    let mut left = scan(&mut c, &format!("{ns}*")).await;
    left.extend(scan(&mut c, &format!("*{ns}*")).await);
    left.extend(scan(&mut c, &format!("sess:{token}*")).await);
    left.sort();
    left.dedup();
    assert_eq!(left, seeded, "the run left keys of its own behind, or removed seeds");
    redis::cmd("DEL").arg(&seeded).query_async::<()>(&mut c).await.unwrap();
}

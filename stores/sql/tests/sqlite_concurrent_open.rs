//! SQLite instances opened at once on a fresh database file all open and share sessions (CONC-6):
//! switching a new file to WAL and creating its table race between the instances' pools.

use futures::future::join_all;
use serde_json::json;
use sessionspec_contract::{Session, Store, VirtualClock};
use sessionspec_store_sql::{SqlStore, SqlStoreConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_at_once_on_a_fresh_file_all_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::starting_now();
    for round in 0..30 {
        let path = dir.path().join(format!("fresh-{round}.sqlite"));
        let opens = (0..8).map(|_| SqlStore::open_sqlite(&path, SqlStoreConfig::default(), clock.shared()));
        let stores: Vec<SqlStore> = join_all(opens)
            .await
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("round {round}: {}", e.chain())))
            .collect();
        let session = Session::from_value(json!({"cookie": {}})).unwrap();
        for (i, store) in stores.iter().enumerate() {
            store.set(&format!("s{i}"), &session).await.unwrap();
        }
        assert_eq!(stores[0].length().await.unwrap(), 8);
        for store in stores {
            store.close().await.unwrap();
        }
    }
}

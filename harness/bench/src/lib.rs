//! sessionspec's store benchmark: each store, and bare-driver loops doing the same operations on
//! the same server, run in one process; one *pair* is an upsert with expiry plus a read of the
//! same id. It measures pairs per second and latency percentiles at several client counts,
//! takes medians over runs and compares each store with its baselines.
//!
//! It reports and never judges: no test asserts on a figure, and a missed goal is printed, not
//! failed. It writes only inside namespaces of its own and removes them after each run.
#![warn(missing_docs)]

mod catalog;
mod measure;
mod mongo_bare;
mod redis_bare;
mod report;
mod sql_bare;
mod store;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sessionspec_contract::{Session, format_timestamp};

pub use catalog::{Catalog, CatalogError, workloads};
pub use measure::{Settings, run};
pub use mongo_bare::MongoBare;
pub use redis_bare::{RedisBare, RedisConnection};
pub use report::{Machine, Ratio, Report, Row, Sample, render_table};
pub use sql_bare::{SqlBare, SqlFlavor};
pub use store::StoreWorkload;

/// One thing the benchmark measures: a store, or a bare-driver loop that is a store's baseline.
#[async_trait]
pub trait Workload: Send + Sync {
    /// Its row label, unique in a run (`redis`, `redis-bare-manager`).
    fn name(&self) -> &str;

    /// The store it measures or is a baseline for: ratios compare the store and the baselines of
    /// one family (`redis`).
    fn family(&self) -> &str;

    /// Whether it is the store or a baseline, and the goals a baseline sets the store.
    fn role(&self) -> Role;

    /// One line on what exactly runs (driver, connection kind, server version).
    fn detail(&self) -> String;

    /// Prepares one run for `run.clients` concurrent clients: connections, a fresh namespace.
    async fn start(&self, run: &RunContext) -> anyhow::Result<Arc<dyn Pairs>>;
}

/// A prepared run of a [`Workload`].
#[async_trait]
pub trait Pairs: Send + Sync {
    /// One pair for client number `client` (`0..clients`): an upsert of `id` with the payload
    /// and its expiry, then a read of `id`. A read that finds nothing is an error.
    async fn pair(&self, client: usize, id: &str) -> anyhow::Result<()>;

    /// Removes everything the run wrote and releases its connections.
    async fn finish(&self) -> anyhow::Result<()>;
}

/// What a workload is in the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "role")]
pub enum Role {
    /// The store under measurement.
    Store,
    /// A bare-driver loop the family's store is compared with.
    Baseline {
        /// The ratios the store should reach against this loop.
        goals: Vec<Goal>,
    },
}

/// "The store reaches at least `ratio` times this baseline's pairs per second", at every client
/// count or only at `clients`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goal {
    /// The smallest acceptable store/baseline ratio.
    pub ratio: f64,
    /// The client count it applies to; every count when `None`.
    pub clients: Option<usize>,
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// How many clients run pairs concurrently.
    pub clients: usize,
    /// A namespace of this run's own (`[a-z0-9_]`), for keys, tables or prefixes.
    pub namespace: String,
    /// The session every pair writes.
    pub payload: Arc<Payload>,
}

/// The session every pair writes, the same for stores and bare loops: an express-session
/// session of about 300 bytes whose cookie expires in a day.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The session, for stores.
    pub session: Session,
    /// Its JSON text, for bare loops.
    pub json: Vec<u8>,
    /// The time to live bare loops give it (the cookie's remaining lifetime at creation).
    pub ttl: Duration,
}

impl Payload {
    /// The benchmark's session, with a cookie expiring a day after `now`.
    pub fn express_session(now: DateTime<Utc>) -> Payload {
        let ttl = Duration::from_secs(86_400);
        let expires = now + chrono::TimeDelta::seconds(86_400);
        let value = json!({
            "cookie": {
                "originalMaxAge": 86_400_000,
                "expires": format_timestamp(expires),
                "secure": false,
                "httpOnly": true,
                "path": "/",
                "sameSite": "lax"
            },
            "csrfSecret": "tT2mGq0v9Xy3J6bKpLw8RzQe",
            "user": {"id": 4242, "name": "Ada Lovelace", "email": "ada@example.org", "roles": ["admin", "editor"]},
            "cart": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
            "views": 17,
            "flash": {}
        });
        let session = Session::from_value(value).expect("an object");
        let json = session.to_json().into_bytes();
        Payload { session, json, ttl }
    }
}

/// The id of pair number `index`: 32 hexadecimal characters, like express-session's ids in
/// length, spread over the keyspace.
pub fn pair_id(prefix: char, index: usize) -> String {
    // splitmix64: distinct inputs give distinct, well-spread outputs.
    let mut z = (index as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("{prefix}{:015x}{z:016x}", index)
}

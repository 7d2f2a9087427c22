//! Bare `redis` crate loops: the same pair the Redis store does (`SET key json PX ttl`, then
//! `GET key`, with keys as long as the store's), with nothing around it: the JSON is written once
//! and the read is not decoded. Each connection kind is a separate baseline. One more loop,
//! `redis-bare-json`, also encodes the session on every write and decodes every read as any
//! application must: no goal rests on it; it shows how much of a store's cost is that JSON work.

use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use sessionspec_contract::Session;

use crate::{Goal, Pairs, Role, RunContext, Workload};

/// How a bare loop's clients reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisConnection {
    /// One `ConnectionManager` shared by every client: the redis crate's reconnecting
    /// connection.
    Manager,
    /// One multiplexed connection shared by every client, without the manager around it: what
    /// the Redis store runs on, without its reconnection and timeouts.
    Multiplexed,
    /// One multiplexed connection per client: no pipelining across clients.
    PerClient,
    /// One multiplexed connection shared by every client, encoding the session on every `SET`
    /// and decoding every `GET` into a `Session`.
    MultiplexedJson,
}

impl RedisConnection {
    fn label(self) -> &'static str {
        match self {
            RedisConnection::Manager => "redis-bare-manager",
            RedisConnection::Multiplexed => "redis-bare-multiplexed",
            RedisConnection::PerClient => "redis-bare-per-client",
            RedisConnection::MultiplexedJson => "redis-bare-json",
        }
    }
}

/// A bare loop on one Redis server.
pub struct RedisBare {
    client: redis::Client,
    connection: RedisConnection,
    goals: Vec<Goal>,
    version: Option<String>,
}

impl RedisBare {
    /// A loop on the server at `url`, connected as `connection`, setting the Redis store `goals`.
    pub fn new(
        url: &str,
        connection: RedisConnection,
        goals: Vec<Goal>,
        version: Option<String>,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("not a usable Redis URL")?;
        Ok(RedisBare { client, connection, goals, version })
    }
}

#[async_trait]
impl Workload for RedisBare {
    fn name(&self) -> &str {
        self.connection.label()
    }

    fn family(&self) -> &str {
        "redis"
    }

    fn role(&self) -> Role {
        Role::Baseline { goals: self.goals.clone() }
    }

    fn detail(&self) -> String {
        let how = match self.connection {
            RedisConnection::Manager => "one ConnectionManager shared by all clients",
            RedisConnection::Multiplexed => "one MultiplexedConnection shared by all clients",
            RedisConnection::PerClient => "one MultiplexedConnection per client",
            RedisConnection::MultiplexedJson => {
                "one MultiplexedConnection shared by all clients, the session encoded and decoded on every pair"
            }
        };
        let server = self.version.as_deref().map(|v| format!("redis {v}")).unwrap_or_else(|| "redis".into());
        format!("redis crate, SET PX + GET, {how}, on {server}")
    }

    async fn start(&self, run: &RunContext) -> anyhow::Result<Arc<dyn Pairs>> {
        let connections = match self.connection {
            RedisConnection::Manager => Connections::Manager(ConnectionManager::new(self.client.clone()).await?),
            RedisConnection::Multiplexed | RedisConnection::MultiplexedJson => {
                Connections::Shared(self.client.get_multiplexed_async_connection().await?)
            }
            RedisConnection::PerClient => {
                let mut all = Vec::with_capacity(run.clients);
                for _ in 0..run.clients {
                    all.push(self.client.get_multiplexed_async_connection().await?);
                }
                Connections::PerClient(all)
            }
        };
        Ok(Arc::new(BarePairs {
            connections,
            prefix: format!("{}:sess:", run.namespace),
            namespace: run.namespace.clone(),
            json: run.payload.json.clone(),
            session: (self.connection == RedisConnection::MultiplexedJson).then(|| run.payload.session.clone()),
            ttl_ms: run.payload.ttl.as_millis() as u64,
            client: self.client.clone(),
        }))
    }
}

enum Connections {
    Manager(ConnectionManager),
    Shared(MultiplexedConnection),
    PerClient(Vec<MultiplexedConnection>),
}

struct BarePairs {
    connections: Connections,
    prefix: String,
    namespace: String,
    json: Vec<u8>,
    /// Set when every pair encodes this session and decodes what it reads.
    session: Option<Session>,
    ttl_ms: u64,
    client: redis::Client,
}

impl BarePairs {
    async fn pair_on<C: redis::aio::ConnectionLike>(&self, mut c: C, id: &str) -> anyhow::Result<()> {
        let key = format!("{}{id}", self.prefix);
        let encoded;
        let json = match &self.session {
            Some(session) => {
                encoded = session.to_json();
                encoded.as_bytes()
            }
            None => &self.json[..],
        };
        redis::cmd("SET").arg(&key).arg(json).arg("PX").arg(self.ttl_ms).query_async::<()>(&mut c).await?;
        let read: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(&mut c).await?;
        let Some(read) = read else { bail!("GET `{key}` found nothing right after SET") };
        if self.session.is_some() {
            // Decoded, not only checked: what an application that reads the session does.
            Session::from_json_bytes(read)?.as_map();
        }
        Ok(())
    }
}

#[async_trait]
impl Pairs for BarePairs {
    async fn pair(&self, client: usize, id: &str) -> anyhow::Result<()> {
        match &self.connections {
            Connections::Manager(c) => self.pair_on(c.clone(), id).await,
            Connections::Shared(c) => self.pair_on(c.clone(), id).await,
            Connections::PerClient(all) => self.pair_on(all[client % all.len()].clone(), id).await,
        }
    }

    async fn finish(&self) -> anyhow::Result<()> {
        delete_namespace(&self.client, &self.namespace).await
    }
}

/// Deletes the keys under `{namespace}:` (namespaces are `[a-z0-9_]`, no pattern characters).
pub(crate) async fn delete_namespace(client: &redis::Client, namespace: &str) -> anyhow::Result<()> {
    let mut c = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{namespace}:*");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL").arg(&keys).query_async::<()>(&mut c).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

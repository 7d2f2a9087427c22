//! Opening stores for the harness: each namespace becomes a key prefix (`{namespace}:sess:`, or
//! `{namespace}:{name}:` with the `name` option), and dropping it deletes exactly the keys under
//! `{namespace}:`. Namespace names never hold `:`, so no namespace's keys fall under another's.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sessionspec_contract::{
    Capability, CapabilitySet, ErrorKind, Namespace, OpenContext, Result, Store, StoreDescription, StoreError,
    StoreFactory,
};

use crate::{DEFAULT_TIMEOUT, DEFAULT_TTL, RedisConfig, RedisStore, Ttl, backend, prefix_pattern};

/// The options this store honours; any other makes `open` fail with `unsupported`.
const SUPPORTED: [Capability; 3] = [Capability::Ttl, Capability::DisableTouch, Capability::Naming];

/// Opens a connection manager on `url` whose connection attempts and responses are bounded by
/// `timeout`; the first connection is made before it returns.
pub(crate) async fn connect(url: &str, timeout: Duration) -> Result<ConnectionManager> {
    let client = redis::Client::open(url)
        .map_err(|e| StoreError::new(ErrorKind::Invalid, "not a usable Redis URL").with_source(e))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_max_delay(Duration::from_secs(1));
    match tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(backend("connect", e)),
        Err(_) => Err(StoreError::new(ErrorKind::Timeout, format!("redis connect did not finish within {timeout:?}"))),
    }
}

/// The key prefix of a store opened in `namespace` with the `name` option `name`.
pub fn namespace_prefix(namespace: &Namespace, name: Option<&str>) -> String {
    format!("{namespace}:{}:", name.unwrap_or("sess"))
}

/// Opens Redis stores on one server, one connection per store instance.
pub struct RedisFactory {
    url: String,
    admin: ConnectionManager,
    description: StoreDescription,
    timeout: Duration,
    events: bool,
}

impl RedisFactory {
    /// Connects to `url` and asks the server its version.
    pub async fn connect(url: &str) -> Result<RedisFactory> {
        let admin = connect(url, DEFAULT_TIMEOUT).await?;
        let info: String =
            tokio::time::timeout(DEFAULT_TIMEOUT, redis::cmd("INFO").arg("server").query_async(&mut admin.clone()))
                .await
                .map_err(|_| StoreError::new(ErrorKind::Timeout, "redis INFO did not answer"))?
                .map_err(|e| backend("INFO server", e))?;
        let version = info.lines().find_map(|line| line.strip_prefix("redis_version:")).map(|v| v.trim().to_owned());
        Ok(RedisFactory {
            url: url.to_owned(),
            admin,
            description: description(version),
            timeout: DEFAULT_TIMEOUT,
            events: true,
        })
    }

    /// Whether opened stores send events to the harness's sink (on by default). Off, a `set` is a
    /// plain `SET` instead of a script that also reports whether the key existed.
    pub fn with_events(mut self, on: bool) -> RedisFactory {
        self.events = on;
        self
    }

    /// The bound on each operation of opened stores.
    pub fn with_timeout(mut self, timeout: Duration) -> RedisFactory {
        self.timeout = timeout;
        self
    }

    /// The configuration a store opened with `context` gets.
    pub fn config(&self, context: &OpenContext) -> Result<RedisConfig> {
        let required = context.options.required_capabilities();
        if let Some(unsupported) = required.iter().find(|c| !SUPPORTED.contains(c)) {
            return Err(StoreError::new(
                ErrorKind::Unsupported,
                format!("the Redis store does not support `{unsupported}`"),
            ));
        }
        Ok(RedisConfig {
            prefix: namespace_prefix(&context.namespace, context.options.name.as_deref()),
            ttl: Ttl::Fallback(context.options.ttl.unwrap_or(DEFAULT_TTL)),
            disable_touch: context.options.disable_touch,
            timeout: self.timeout,
            events: self.events.then(|| context.events.clone()),
            ..RedisConfig::default()
        })
    }
}

/// What the Redis store is and can do. Expiry runs on the server's clock, so no `virtual-clock`.
pub fn description(backend_version: Option<String>) -> StoreDescription {
    use Capability::*;
    StoreDescription {
        name: "redis".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        language: "rust".into(),
        backend: "redis".into(),
        backend_version,
        capabilities: [
            Touch,
            All,
            Length,
            Clear,
            Ids,
            Close,
            Ttl,
            DisableTouch,
            Events,
            Naming,
            RawInspection,
            SharedNamespace,
        ]
        .into_iter()
        .collect::<CapabilitySet>(),
    }
}

#[async_trait]
impl StoreFactory for RedisFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let config = self.config(&context)?;
        let connection = connect(&self.url, self.timeout).await?;
        Ok(Box::new(RedisStore::new(connection, config)))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let pattern = prefix_pattern(&format!("{namespace}:"));
        let mut connection = self.admin.clone();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000);
            let scanned = scan.query_async::<(u64, Vec<Vec<u8>>)>(&mut connection);
            let (next, keys) = tokio::time::timeout(self.timeout, scanned)
                .await
                .map_err(|_| StoreError::new(ErrorKind::Timeout, "redis SCAN did not answer"))?
                .map_err(|e| backend("drop namespace", e))?;
            if !keys.is_empty() {
                tokio::time::timeout(self.timeout, redis::cmd("DEL").arg(&keys).query_async::<()>(&mut connection))
                    .await
                    .map_err(|_| StoreError::new(ErrorKind::Timeout, "redis DEL did not answer"))?
                    .map_err(|e| backend("drop namespace", e))?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

//! Opening stores for the harness: each namespace becomes a key prefix (`{namespace}:sess:`, or
//! `{namespace}:{name}:` with the `name` option), and dropping it deletes exactly the keys under
//! `{namespace}:`. Namespace names never hold `:`, so no namespace's keys fall under another's.

use std::time::Duration;

use async_trait::async_trait;
use sessionspec_contract::{
    Capability, CapabilitySet, ErrorKind, Namespace, OpenContext, Result, Store, StoreDescription, StoreError,
    StoreFactory,
};
use sessionspec_server_store::{CONNECT_TIMEOUT, OPERATIONS, redact_password, redact_url};

use crate::connection::Connection;
use crate::{DEFAULT_TIMEOUT, DEFAULT_TTL, RedisConfig, RedisStore, Ttl, prefix_pattern};

/// What the Redis store can do besides [`OPERATIONS`]: the record-store operations, events, and
/// the options it honours (any other is refused with `unsupported`). Expiry runs on the
/// server's clock, so no `virtual-clock`.
const CAPABILITIES: [Capability; 6] = {
    use Capability::*;
    [Create, DeleteExpired, Events, Ttl, DisableTouch, Naming]
};

fn capabilities() -> CapabilitySet {
    OPERATIONS.into_iter().chain(CAPABILITIES).collect()
}

/// A client for `url`, without connecting.
pub(crate) fn client(url: &str) -> Result<redis::Client> {
    redis::Client::open(url).map_err(|e| {
        let cause = redact_password(&e.to_string(), url);
        StoreError::new(ErrorKind::Invalid, format!("`{}` is not a usable Redis URL: {cause}", redact_url(url)))
    })
}

/// The key prefix of a store opened in `namespace` with the `name` option `name`.
pub fn namespace_prefix(namespace: &Namespace, name: Option<&str>) -> String {
    format!("{namespace}:{}:", name.unwrap_or("sess"))
}

/// Opens Redis stores on one server, one connection per store instance.
pub struct RedisFactory {
    client: redis::Client,
    admin: Connection,
    description: StoreDescription,
    timeout: Duration,
    events: bool,
}

impl RedisFactory {
    /// Connects to `url` and asks the server its version. A server that cannot be reached or
    /// refuses the login fails within two seconds, with a message naming where and why.
    pub async fn connect(url: &str) -> Result<RedisFactory> {
        let client = client(url)?;
        let admin = Connection::open(client.clone(), CONNECT_TIMEOUT).await?;
        let mut info = redis::cmd("INFO");
        info.arg("server");
        let info: String = tokio::time::timeout(DEFAULT_TIMEOUT, admin.query("INFO server", &info))
            .await
            .map_err(|_| StoreError::new(ErrorKind::Timeout, "redis INFO did not answer"))??;
        let version = info.lines().find_map(|line| line.strip_prefix("redis_version:")).map(|v| v.trim().to_owned());
        Ok(RedisFactory { client, admin, description: description(version), timeout: DEFAULT_TIMEOUT, events: true })
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
        context.options.check_supported(&capabilities(), "Redis")?;
        Ok(RedisConfig {
            prefix: namespace_prefix(&context.namespace, context.options.name.as_deref()),
            ttl: Ttl::Fallback(context.options.ttl.unwrap_or(DEFAULT_TTL)),
            disable_touch: context.options.disable_touch,
            timeout: self.timeout,
            events: self.events.then(|| context.events.clone()),
            ..RedisConfig::default()
        })
    }

    /// What [`StoreFactory::open`] opens, as its own type: for using the store directly
    /// (its `tower-sessions` implementation among others).
    pub async fn open_store(&self, context: OpenContext) -> Result<RedisStore> {
        let config = self.config(&context)?;
        RedisStore::open(self.client.clone(), config).await
    }
}

/// What the Redis store is and can do; needs no server.
pub fn description(backend_version: Option<String>) -> StoreDescription {
    sessionspec_server_store::description("redis", env!("CARGO_PKG_VERSION"), "redis", backend_version, capabilities())
}

#[async_trait]
impl StoreFactory for RedisFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.open_store(context).await?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let pattern = prefix_pattern(&format!("{namespace}:"));
        let timeout = |what: &str| StoreError::new(ErrorKind::Timeout, format!("redis {what} did not answer"));
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000);
            let (next, keys): (u64, Vec<Vec<u8>>) =
                tokio::time::timeout(self.timeout, self.admin.query("drop namespace", &scan))
                    .await
                    .map_err(|_| timeout("SCAN"))??;
            if !keys.is_empty() {
                let mut del = redis::cmd("DEL");
                del.arg(&keys);
                tokio::time::timeout(self.timeout, self.admin.query::<()>("drop namespace", &del))
                    .await
                    .map_err(|_| timeout("DEL"))??;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

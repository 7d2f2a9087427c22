//! The store's link to Redis: one multiplexed connection that every operation of every task
//! shares (their commands are pipelined), replaced by a new one when it drops.
//!
//! It never waits without a bound of its own making: connecting is bounded by the store's
//! timeout, and the operations that send commands bound them (one timer per operation, none per
//! command). Once closed it never connects again.

use std::future::Future;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, ConnectionAddr, FromRedisValue, RedisError, RedisResult};
use sessionspec_contract::{Result, StoreError};
use sessionspec_server_store::{ConnectFailure, Endpoint};

use crate::backend;

/// A shared multiplexed connection that reconnects when it finds itself dropped.
pub(crate) struct Connection {
    client: Client,
    config: AsyncConnectionConfig,
    /// The connection in use and how many times it was replaced; `None` once closed.
    current: RwLock<Option<Current>>,
    /// Held while connecting, so tasks that find the same dropped connection make one new one.
    replacing: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

#[derive(Clone)]
struct Current {
    generation: u64,
    connection: MultiplexedConnection,
}

impl Connection {
    /// Connects to `client`'s server; the attempt, and every later one, is bounded by `timeout`.
    /// A failure names the server and the cause.
    pub(crate) async fn open(client: Client, timeout: Duration) -> Result<Connection> {
        // No response timeout in the driver: each operation runs under one timer of the store's.
        let config = AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(None);
        let failure = ConnectFailure::new("Redis", endpoint(&client));
        failure.resolve().await?;
        let connection =
            match tokio::time::timeout(timeout, client.get_multiplexed_async_connection_with_config(&config)).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(e)) => return Err(connect_failed(&failure, &e, timeout)),
                Err(_) => return Err(failure.no_answer(timeout)),
            };
        Ok(Connection {
            client,
            config,
            current: RwLock::new(Some(Current { generation: 0, connection })),
            replacing: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        })
    }

    fn current(&self, operation: &str) -> Result<Current> {
        self.current.read().expect("lock").clone().ok_or_else(|| StoreError::closed(operation))
    }

    /// Runs `command` on the connection; when it fails because the connection dropped, once
    /// more on a new one (every command the store sends may be sent twice). Unbounded: callers
    /// put a timeout around it.
    pub(crate) async fn run<T, F, Fut>(&self, operation: &'static str, command: F) -> Result<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let Current { generation, mut connection } = self.current(operation)?;
        let mut retried = false;
        loop {
            // One await of `command` (a loop, not a second call in the error arm), so the
            // future holds one command future, not two.
            let result = command(connection).await;
            match result {
                Err(e) if e.is_unrecoverable_error() && !retried => {
                    retried = true;
                    // Boxed: connecting is a future of kilobytes, and rare; inline it would
                    // make every operation's future that much larger.
                    connection = Box::pin(self.replace(operation, generation)).await?;
                }
                other => return other.map_err(|e| backend(operation, e)),
            }
        }
    }

    /// Sends one command and converts its reply, as [`Connection::run`] does.
    pub(crate) async fn query<T: FromRedisValue>(&self, operation: &'static str, cmd: &Cmd) -> Result<T> {
        // `send_packed_command` directly: `query_async` would box the request future.
        self.run(operation, |mut c| async move {
            let reply = c.send_packed_command(cmd).await?.extract_error()?;
            Ok(redis::from_redis_value(reply)?)
        })
        .await
    }

    /// The connection after `generation`: a new one unless another task made it already.
    async fn replace(&self, operation: &str, generation: u64) -> Result<MultiplexedConnection> {
        let _replacing = self.replacing.lock().await;
        let current = self.current(operation)?;
        if current.generation != generation {
            return Ok(current.connection);
        }
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
            .map_err(|e| backend(operation, e))?;
        let mut slot = self.current.write().expect("lock");
        // Closed while connecting: the new connection is dropped here, unused.
        let current = slot.as_mut().ok_or_else(|| StoreError::closed(operation))?;
        *current = Current { generation: generation + 1, connection: connection.clone() };
        Ok(connection)
    }

    /// Drops this handle on the connection: later operations fail with `closed`, the ones
    /// running finish on the clones they hold.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.current.write().expect("lock").take();
    }

    /// Whether [`Connection::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Where `client` connects to.
fn endpoint(client: &Client) -> Endpoint {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => Endpoint::tcp(host, *port),
        ConnectionAddr::Unix(path) => Endpoint::Socket(path.clone()),
        // The enum grows with the driver's transports.
        other => Endpoint::Other(other.to_string()),
    }
}

/// What a failed first connection means, without the driver's doubled source chain.
fn connect_failed(failure: &ConnectFailure, error: &RedisError, bound: Duration) -> StoreError {
    if error.is_timeout() {
        return failure.no_answer(bound);
    }
    if let Some(io) = io_error(error) {
        return failure.io(io);
    }
    if error.is_connection_refusal() {
        return failure.io(&std::io::ErrorKind::ConnectionRefused.into());
    }
    // The server answered: a wrong password, a missing one, a database number out of range. The
    // driver's own text ends in its kind's debug name; the server's words are in the detail.
    let answer = match (error.kind(), error.detail()) {
        (redis::ErrorKind::AuthenticationFailed, Some(detail)) => format!("authentication failed: {detail}"),
        (redis::ErrorKind::AuthenticationFailed, None) => "authentication failed".to_owned(),
        (_, Some(detail)) => detail.to_owned(),
        (_, None) => error.to_string(),
    };
    failure.answered(&answer)
}

/// The I/O error behind `error`: the driver keeps it behind an `Arc` and does not expose it.
fn io_error(error: &RedisError) -> Option<&std::io::Error> {
    let source = std::error::Error::source(error)?;
    source.downcast_ref::<std::io::Error>().or_else(|| {
        source.downcast_ref::<std::sync::Arc<dyn std::error::Error + Send + Sync>>()?.downcast_ref::<std::io::Error>()
    })
}

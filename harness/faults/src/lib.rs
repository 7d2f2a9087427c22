//! A TCP proxy the harness controls, placed between a store and its database to cause faults:
//! refuse new connections, reset open ones, blackhole (accept, never answer), add latency, cut
//! for a while, heal. It forwards bytes and never reads or changes what they say.
//!
//! It must never outlive its [`Proxy`]: dropping the proxy stops the listener and resets every
//! connection it holds.
#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The longest `latency` or `cut` a proxy accepts: a scenario can never hold a store longer.
pub const MAX_FAULT_DURATION: Duration = Duration::from_secs(60);

/// A fault the proxy causes until it is healed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// New connections are refused (the port stops listening); open ones keep working.
    Refuse,
    /// Every open connection is reset, once, on both sides; new ones work.
    Reset,
    /// Connections are accepted and nothing is forwarded, either way, on open and new ones.
    Blackhole,
    /// Every chunk is forwarded this late, both ways.
    Latency(Duration),
    /// `Reset`, then `Refuse` for this long, then healed by the proxy itself.
    Cut(Duration),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Refuse => f.write_str("refuse"),
            Fault::Reset => f.write_str("reset"),
            Fault::Blackhole => f.write_str("blackhole"),
            Fault::Latency(d) => write!(f, "latency {}ms", d.as_millis()),
            Fault::Cut(d) => write!(f, "cut {}ms", d.as_millis()),
        }
    }
}

/// Why a fault could not be applied or the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// The proxy could not listen.
    #[error("the fault proxy cannot listen on {addr}: {source}")]
    Listen {
        /// Where it tried.
        addr: SocketAddr,
        /// Why not.
        source: io::Error,
    },
    /// A duration beyond [`MAX_FAULT_DURATION`].
    #[error("{fault}: a fault lasts at most {}s", MAX_FAULT_DURATION.as_secs())]
    TooLong {
        /// The fault asked for.
        fault: Fault,
    },
    /// The upstream address does not resolve.
    #[error("the fault proxy cannot resolve its upstream `{upstream}`: {reason}")]
    Upstream {
        /// The address given.
        upstream: String,
        /// Why not.
        reason: String,
    },
}

/// What the proxy does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mode {
    /// New connections are refused (`refuse`).
    pub refuse: bool,
    /// A `cut` is in force: new connections are refused until it ends or is healed.
    pub cut: bool,
    /// Nothing is forwarded.
    pub blackhole: bool,
    /// Forwarding delay.
    pub latency: Duration,
    /// Bumped by every reset: connections opened before it are reset.
    pub resets: u64,
    /// Numbers cuts: a cut's end clears only that cut, not a later one.
    cut_id: u64,
}

impl Mode {
    /// Whether no fault is in force.
    pub fn healthy(&self) -> bool {
        !self.refusing() && !self.blackhole && self.latency.is_zero()
    }

    /// Whether new connections are refused (by `refuse` or a `cut`).
    pub fn refusing(&self) -> bool {
        self.refuse || self.cut
    }
}

struct Shared {
    mode: watch::Sender<Mode>,
    open: AtomicUsize,
    upstream: SocketAddr,
}

/// A running proxy from a loopback port to an upstream server.
pub struct Proxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).field("upstream", &self.shared.upstream).finish()
    }
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Result<Proxy, FaultError> {
        let upstream_addr = tokio::net::lookup_host(upstream)
            .await
            .map_err(|e| FaultError::Upstream { upstream: upstream.to_owned(), reason: e.to_string() })?
            .next()
            .ok_or_else(|| FaultError::Upstream { upstream: upstream.to_owned(), reason: "no address".to_owned() })?;
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr().map_err(|source| FaultError::Listen { addr: upstream_addr, source })?;
        let (mode, _) = watch::channel(Mode::default());
        let shared = Arc::new(Shared { mode, open: AtomicUsize::new(0), upstream: upstream_addr });
        let accept = tokio::spawn(accept_loop(shared.clone(), listener, addr));
        Ok(Proxy { shared, addr, accept })
    }

    /// The address stores connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// What it does now.
    pub fn mode(&self) -> Mode {
        *self.shared.mode.borrow()
    }

    /// How many client connections are open through it.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Causes `fault`, on top of those in force. A `cut` ends by itself; the others last until
    /// [`Proxy::heal`].
    pub fn apply(&self, fault: Fault) -> Result<(), FaultError> {
        if let Fault::Latency(d) | Fault::Cut(d) = fault
            && d > MAX_FAULT_DURATION
        {
            return Err(FaultError::TooLong { fault });
        }
        let mut cut_id = 0;
        self.shared.mode.send_modify(|m| match fault {
            Fault::Refuse => m.refuse = true,
            Fault::Reset => m.resets += 1,
            Fault::Blackhole => m.blackhole = true,
            Fault::Latency(d) => m.latency = d,
            Fault::Cut(_) => {
                m.resets += 1;
                m.cut = true;
                m.cut_id += 1;
                cut_id = m.cut_id;
            }
        });
        if let Fault::Cut(d) = fault {
            let shared = Arc::downgrade(&self.shared);
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                if let Some(shared) = shared.upgrade() {
                    // Only this cut's outage ends here: other faults, and a later cut, stay.
                    shared.mode.send_if_modified(|m| {
                        let ours = m.cut && m.cut_id == cut_id;
                        if ours {
                            m.cut = false;
                        }
                        ours
                    });
                }
            });
        }
        Ok(())
    }

    /// Ends every fault: the port listens, held bytes flow, no delay.
    pub fn heal(&self) {
        self.shared.mode.send_modify(|m| {
            m.refuse = false;
            m.cut = false;
            m.blackhole = false;
            m.latency = Duration::ZERO;
        });
    }

    /// Waits until the proxy listens again after a `refuse` was healed or a `cut` ended, for at
    /// most `bound`; `false` when it does not in time.
    pub async fn wait_listening(&self, bound: Duration) -> bool {
        let mut rx = self.shared.mode.subscribe();
        let healed = tokio::time::timeout(bound, rx.wait_for(|m| !m.refusing())).await.is_ok();
        healed && tokio::time::timeout(bound, wait_connectable(self.addr)).await.is_ok()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Every connection task resets its sockets when it sees this.
        self.shared.mode.send_modify(|m| {
            m.resets += 1;
            m.blackhole = false;
        });
    }
}

async fn wait_connectable(addr: SocketAddr) {
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn listen(addr: SocketAddr) -> Result<TcpListener, FaultError> {
    let listen = || -> io::Result<TcpListener> {
        let socket = TcpSocket::new_v4()?;
        // The port is given up while refusing and taken again on heal.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(128)
    };
    listen().map_err(|source| FaultError::Listen { addr, source })
}

async fn accept_loop(shared: Arc<Shared>, first: TcpListener, addr: SocketAddr) {
    let mut rx = shared.mode.subscribe();
    let mut listener = Some(first);
    loop {
        let refuse = rx.borrow_and_update().refusing();
        if refuse {
            // A closed port is what a stopped server looks like: connect() fails at once.
            listener = None;
            if rx.wait_for(|m| !m.refusing()).await.is_err() {
                return;
            }
            continue;
        }
        let current = match &listener {
            Some(l) => l,
            None => match listen(addr) {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    // The port is briefly unavailable (TIME_WAIT): try again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            // A change of mode first: a connection waiting to be accepted when `refuse` comes
            // is not taken (and one taken anyway is reset by `connection`).
            biased;
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted = current.accept() => {
                if let Ok((client, _)) = accepted {
                    let shared = shared.clone();
                    shared.open.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        connection(&shared, client).await;
                        shared.open.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
        }
    }
}

/// Drops a socket with RST instead of FIN: what a crashed server or a broken network shows.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn connection(shared: &Shared, client: TcpStream) {
    let mut rx = shared.mode.subscribe();
    let born = rx.borrow_and_update().resets;
    // Accepted after `refuse` or a `cut` began, before the accept loop closed the port: such a
    // connection must not be served, or a client reconnecting at once after the reset that
    // usually follows would find the server up. Reset, as a refused connect shows.
    if rx.borrow().refusing() {
        reset(&client);
        return;
    }
    let reset_seen = |rx: &mut watch::Receiver<Mode>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|m| m.resets != born).await;
        }
    };
    // Blackholed: accepted, and held without an upstream until healed.
    let upstream = tokio::select! {
        _ = reset_seen(&mut rx) => {
            reset(&client);
            return;
        }
        ready = async {
            let mut rx = rx.clone();
            rx.wait_for(|m| !m.blackhole).await.is_ok()
        } => {
            if !ready {
                reset(&client);
                return;
            }
            match TcpStream::connect(shared.upstream).await {
                Ok(upstream) => upstream,
                Err(_) => {
                    reset(&client);
                    return;
                }
            }
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let reset_now = tokio::select! {
        _ = reset_seen(&mut rx) => true,
        _ = async {
            tokio::join!(
                pump(&mut client_read, &mut upstream_write, rx.clone()),
                pump(&mut upstream_read, &mut client_write, rx.clone()),
            )
        } => false,
    };
    if reset_now {
        reset(client_write.as_ref());
        reset(upstream_write.as_ref());
    }
}

/// Copies one direction, holding bytes while blackholed and delaying them by the latency.
async fn pump(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, mut rx: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        let latency = rx.borrow().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if rx.wait_for(|m| !m.blackhole).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_names_itself() {
        assert_eq!(Fault::Cut(Duration::from_secs(2)).to_string(), "cut 2000ms");
        assert_eq!(Fault::Blackhole.to_string(), "blackhole");
    }

    #[tokio::test]
    async fn faults_longer_than_the_bound_are_refused() {
        let proxy = Proxy::start("127.0.0.1:9").await.expect("starts without connecting upstream");
        let err = proxy.apply(Fault::Cut(MAX_FAULT_DURATION + Duration::from_secs(1))).unwrap_err();
        assert!(matches!(err, FaultError::TooLong { .. }), "{err}");
        assert!(proxy.mode().healthy(), "a refused fault changes nothing");
    }
}

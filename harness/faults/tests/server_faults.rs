//! Each fault against the real servers (`just services`: Redis, PostgreSQL, MariaDB on their
//! standard local ports, or `SESSIONSPEC_*_URL`), through each protocol's smallest real
//! exchange: Redis `PING`, PostgreSQL's one-byte answer to `SSLRequest`, the MariaDB greeting.
//! Each test shows the fault's effect, then that `heal` (or the end of a cut) undoes it.
//!
//! Absence of an answer can only be shown within a bound: those waits are `QUIET`, and every
//! wait for something to happen is bounded by `BOUND` and ends as soon as it happens.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sessionspec_faults::{Fault, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUND: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(500);

/// `host:port` of a server: the URL in `var` when set, else the standard local port.
fn server(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(url) => {
            let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
            let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
            rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
        }
        Err(_) => default.to_owned(),
    }
}

fn redis() -> String {
    server("SESSIONSPEC_REDIS_URL", "127.0.0.1:6379")
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    tokio::time::timeout(BOUND, TcpStream::connect(addr)).await.expect("connect answers within the bound")
}

/// One `PING` round trip on an open connection: `Ok(true)` for `+PONG`.
async fn ping(stream: &mut TcpStream, wait: Duration) -> Result<bool, String> {
    stream.write_all(b"PING\r\n").await.map_err(|e| format!("write: {e}"))?;
    read_pong(stream, wait).await
}

async fn read_pong(stream: &mut TcpStream, wait: Duration) -> Result<bool, String> {
    let mut buf = [0u8; 7];
    match tokio::time::timeout(wait, stream.read_exact(&mut buf)).await {
        Err(_) => Err("no answer".into()),
        Ok(Err(e)) => Err(format!("read: {:?}", e.kind())),
        Ok(Ok(_)) => Ok(&buf == b"+PONG\r\n"),
    }
}

#[tokio::test]
async fn redis_answers_through_the_healthy_proxy() {
    let proxy = Proxy::start(&redis()).await.unwrap();
    let mut c = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut c, BOUND).await, Ok(true));
    assert_eq!(proxy.open_connections(), 1);
}

#[tokio::test]
async fn refuse_closes_the_port_and_heal_opens_it() {
    let proxy = Proxy::start(&redis()).await.unwrap();
    let mut open = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut open, BOUND).await, Ok(true));
    proxy.apply(Fault::Refuse).unwrap();
    // The listener closes as the proxy's task sees the change: wait for it, bounded.
    let started = Instant::now();
    // A connect racing the close may be reset instead: only a refusal ends the wait.
    loop {
        match connect(proxy.addr()).await {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            _ if started.elapsed() < BOUND => tokio::time::sleep(Duration::from_millis(10)).await,
            other => panic!("the port was not refusing after {BOUND:?}: {other:?}"),
        }
    }
    assert_eq!(ping(&mut open, BOUND).await, Ok(true), "an open connection keeps working");
    proxy.heal();
    assert!(proxy.wait_listening(BOUND).await);
    let mut again = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut again, BOUND).await, Ok(true));
}

/// A client reconnecting at once after `refuse` then `reset` (node-redis does) must not find the
/// server: every connection made once `refuse` is applied is refused or reset, never served,
/// however soon after it comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_made_after_refuse_is_served() {
    for round in 0..50 {
        let proxy = Proxy::start(&redis()).await.unwrap();
        let mut open = connect(proxy.addr()).await.unwrap();
        assert_eq!(ping(&mut open, BOUND).await, Ok(true));
        proxy.apply(Fault::Refuse).unwrap();
        proxy.apply(Fault::Reset).unwrap();
        if let Ok(mut raced) = TcpStream::connect(proxy.addr()).await {
            let served = ping(&mut raced, QUIET).await;
            assert_ne!(served, Ok(true), "round {round}: a connection made after refuse was served");
        }
    }
}

#[tokio::test]
async fn reset_breaks_open_connections_and_new_ones_work() {
    let proxy = Proxy::start(&redis()).await.unwrap();
    let mut open = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut open, BOUND).await, Ok(true));
    proxy.apply(Fault::Reset).unwrap();
    // The reset arrives as RST: the next read ends in an error or end of stream, never PONG.
    let mut buf = [0u8; 16];
    let _ = open.write_all(b"PING\r\n").await;
    let read = tokio::time::timeout(BOUND, open.read(&mut buf)).await.expect("the reset arrives within the bound");
    match read {
        Ok(0) => {}
        Err(e) => {
            assert!(matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "unexpected error {e:?}")
        }
        Ok(n) => panic!("read {n} bytes from a reset connection: {:?}", &buf[..n]),
    }
    let mut fresh = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut fresh, BOUND).await, Ok(true), "a connection opened after the reset works");
}

#[tokio::test]
async fn blackhole_holds_every_byte_until_healed() {
    let proxy = Proxy::start(&redis()).await.unwrap();
    let mut open = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut open, BOUND).await, Ok(true));
    proxy.apply(Fault::Blackhole).unwrap();
    assert_eq!(ping(&mut open, QUIET).await, Err("no answer".into()), "an open connection gets no answer");
    let mut fresh = connect(proxy.addr()).await.expect("a blackhole still accepts");
    assert_eq!(ping(&mut fresh, QUIET).await, Err("no answer".into()), "a new connection gets no answer");
    proxy.heal();
    // The PINGs sent during the outage were held, not lost: their answers arrive now.
    assert_eq!(read_pong(&mut open, BOUND).await, Ok(true));
    assert_eq!(read_pong(&mut fresh, BOUND).await, Ok(true));
}

#[tokio::test]
async fn latency_delays_each_answer_until_healed() {
    let proxy = Proxy::start(&redis()).await.unwrap();
    let mut c = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut c, BOUND).await, Ok(true));
    let latency = Duration::from_millis(300);
    proxy.apply(Fault::Latency(latency)).unwrap();
    let started = Instant::now();
    assert_eq!(ping(&mut c, BOUND).await, Ok(true));
    // Both directions wait: a round trip takes at least twice the latency (a lower bound only).
    assert!(started.elapsed() >= latency * 2, "round trip took {:?}", started.elapsed());
    proxy.heal();
    assert!(proxy.mode().healthy());
    assert_eq!(ping(&mut c, BOUND).await, Ok(true));
}

#[tokio::test]
async fn cut_resets_refuses_and_heals_by_itself() {
    let proxy = Proxy::start(&redis()).await.unwrap();
    let mut open = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut open, BOUND).await, Ok(true));
    proxy.apply(Fault::Cut(Duration::from_millis(800))).unwrap();
    assert!(ping(&mut open, BOUND).await.is_err(), "the open connection is cut");
    // Healed by the proxy itself, with no `heal` call.
    assert!(proxy.wait_listening(BOUND).await, "the cut ended within the bound");
    assert!(proxy.mode().healthy());
    let mut fresh = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut fresh, BOUND).await, Ok(true));
}

#[tokio::test]
async fn the_end_of_a_cut_leaves_a_later_fault_in_force() {
    let proxy = Proxy::start(&redis()).await.unwrap();
    proxy.apply(Fault::Cut(Duration::from_millis(200))).unwrap();
    proxy.apply(Fault::Blackhole).unwrap();
    assert!(proxy.wait_listening(BOUND).await, "the cut ended within the bound");
    assert!(proxy.mode().blackhole, "the blackhole applied during the cut is healed only by heal");
    let mut c = connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut c, QUIET).await, Err("no answer".into()));
    proxy.heal();
    assert_eq!(read_pong(&mut c, BOUND).await, Ok(true));
}

/// PostgreSQL answers `SSLRequest` with one byte, `S` or `N`.
async fn pg_ssl_answer(addr: SocketAddr, wait: Duration) -> Result<u8, String> {
    let mut c = connect(addr).await.map_err(|e| format!("connect: {:?}", e.kind()))?;
    c.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await.map_err(|e| format!("write: {e}"))?;
    let mut b = [0u8; 1];
    match tokio::time::timeout(wait, c.read_exact(&mut b)).await {
        Err(_) => Err("no answer".into()),
        Ok(Err(e)) => Err(format!("read: {:?}", e.kind())),
        Ok(Ok(_)) => Ok(b[0]),
    }
}

#[tokio::test]
async fn postgres_through_refuse_blackhole_and_heal() {
    let proxy = Proxy::start(&server("SESSIONSPEC_POSTGRES_URL", "127.0.0.1:5432")).await.unwrap();
    let answer = pg_ssl_answer(proxy.addr(), BOUND).await.unwrap();
    assert!(answer == b'S' || answer == b'N', "PostgreSQL answered {answer}");
    proxy.apply(Fault::Blackhole).unwrap();
    assert_eq!(pg_ssl_answer(proxy.addr(), QUIET).await, Err("no answer".into()));
    proxy.heal();
    proxy.apply(Fault::Refuse).unwrap();
    let started = Instant::now();
    while pg_ssl_answer(proxy.addr(), BOUND).await.is_ok() {
        assert!(started.elapsed() < BOUND, "still answering after {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pg_ssl_answer(proxy.addr(), BOUND).await, Err("connect: ConnectionRefused".into()));
    proxy.heal();
    assert!(proxy.wait_listening(BOUND).await);
    assert_eq!(pg_ssl_answer(proxy.addr(), BOUND).await, Ok(answer));
}

/// The first packet MariaDB sends on connect: protocol version 10 after the 4-byte header.
async fn mariadb_greeting(c: &mut TcpStream, wait: Duration) -> Result<u8, String> {
    let mut head = [0u8; 5];
    match tokio::time::timeout(wait, c.read_exact(&mut head)).await {
        Err(_) => Err("no answer".into()),
        Ok(Err(e)) => Err(format!("read: {:?}", e.kind())),
        Ok(Ok(_)) => Ok(head[4]),
    }
}

#[tokio::test]
async fn mariadb_through_reset_latency_and_heal() {
    let proxy = Proxy::start(&server("SESSIONSPEC_MYSQL_URL", "127.0.0.1:3306")).await.unwrap();
    let mut c = connect(proxy.addr()).await.unwrap();
    assert_eq!(mariadb_greeting(&mut c, BOUND).await, Ok(10));
    proxy.apply(Fault::Reset).unwrap();
    let mut rest = [0u8; 256];
    let after = tokio::time::timeout(BOUND, async {
        loop {
            match c.read(&mut rest).await {
                Ok(0) => return "closed".to_owned(),
                Ok(_) => continue, // the rest of the greeting, sent before the reset
                Err(e) => return format!("{:?}", e.kind()),
            }
        }
    })
    .await
    .expect("the reset arrives within the bound");
    assert!(after == "closed" || after == "ConnectionReset", "{after}");
    proxy.apply(Fault::Latency(Duration::from_millis(200))).unwrap();
    let started = Instant::now();
    let mut slow = connect(proxy.addr()).await.unwrap();
    assert_eq!(mariadb_greeting(&mut slow, BOUND).await, Ok(10));
    assert!(started.elapsed() >= Duration::from_millis(200), "{:?}", started.elapsed());
    proxy.heal();
    let mut fresh = connect(proxy.addr()).await.unwrap();
    assert_eq!(mariadb_greeting(&mut fresh, BOUND).await, Ok(10));
}

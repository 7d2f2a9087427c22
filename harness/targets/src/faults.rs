//! Fault proxies between a target's store and its servers: one [`Proxy`] per server URL the
//! store is given, the store handed the proxy's URL instead of the server's. It never changes
//! a server; it only stands in front of it, on 127.0.0.1. Where the run started the server (a
//! container), the proxies also carry its control, for `backend:` steps.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sessionspec_faults::{Fault as ProxyFault, Proxy};
use sessionspec_runner::Faults;
use sessionspec_scenario::{BackendAction, Fault};

use crate::{BackendKind, Backends, ServerControl, TargetError};

/// The proxies of one target; every fault applies to all of them.
pub struct ProxiedServers {
    proxies: Vec<(BackendKind, Proxy)>,
    /// The controls of the servers behind the proxies that the run started.
    servers: Vec<ServerControl>,
}

impl ProxiedServers {
    /// Where each proxy listens and what it forwards to, for diagnostics.
    pub fn describe(&self) -> String {
        self.proxies
            .iter()
            .map(|(kind, p)| format!("{kind}: {} -> {}", p.addr(), p.upstream()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Faults for ProxiedServers {
    fn apply(&self, fault: Fault) -> Result<(), String> {
        let fault = match fault {
            Fault::Refuse => ProxyFault::Refuse,
            Fault::Reset => ProxyFault::Reset,
            Fault::Blackhole => ProxyFault::Blackhole,
            Fault::Latency(d) => ProxyFault::Latency(d),
            Fault::Cut(d) => ProxyFault::Cut(d),
            other => return Err(format!("the fault proxy cannot cause {other:?}")),
        };
        for (_, proxy) in &self.proxies {
            proxy.apply(fault).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn heal(&self, bound: Duration) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            for server in &self.servers {
                server.restore(bound).await?;
            }
            for (kind, proxy) in &self.proxies {
                proxy.heal();
                if !proxy.wait_listening(bound).await {
                    return Err(format!("the {kind} proxy at {} did not listen again within {bound:?}", proxy.addr()));
                }
            }
            Ok(())
        })
    }

    fn servers(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.container().to_owned()).collect()
    }

    fn backend(&self, action: BackendAction, bound: Duration) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.servers.is_empty() {
                return Err(format!("cannot {} a server the run did not start", action.name()));
            }
            for server in &self.servers {
                match action {
                    BackendAction::Stop => server.stop().await?,
                    BackendAction::Start => server.start(bound).await?,
                    BackendAction::Restart => server.restart(bound).await?,
                    BackendAction::Pause => server.pause().await?,
                    BackendAction::Unpause => server.unpause().await?,
                }
            }
            Ok(())
        })
    }
}

/// `backends` with the URL of each kind in `kinds` (each that has one) replaced by a fault
/// proxy's, and the proxies.
pub(crate) async fn proxy(
    store: &str,
    backends: &Backends,
    kinds: &[BackendKind],
) -> Result<(Backends, Option<Arc<ProxiedServers>>), TargetError> {
    let unavailable = |reason: String| TargetError::Unavailable { store: store.to_owned(), reason };
    let mut proxied = backends.clone();
    let mut proxies = Vec::new();
    for &kind in kinds {
        let Some(url) = backends.url(kind).clone() else { continue };
        let (host_port, rewrite) = split_authority(&url).map_err(|e| unavailable(format!("fault proxy: {e}")))?;
        let proxy = Proxy::start(&host_port).await.map_err(|e| unavailable(e.to_string()))?;
        *proxied.url_mut(kind) = Some(rewrite(&proxy.addr().to_string()));
        proxied.admin_urls.push((kind, url));
        proxies.push((kind, proxy));
    }
    if proxies.is_empty() {
        return Ok((proxied, None));
    }
    let servers = backends
        .servers
        .iter()
        .filter(|(kind, _)| proxies.iter().any(|(k, _)| k == kind))
        .map(|(_, control)| control.clone())
        .collect();
    Ok((proxied, Some(Arc::new(ProxiedServers { proxies, servers }))))
}

type Rewrite = Box<dyn Fn(&str) -> String + Send>;

/// The `host:port` a server URL points at (the scheme's default port when none is written),
/// and a function putting another `host:port` in its place.
fn split_authority(url: &str) -> Result<(String, Rewrite), String> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| "a server URL needs a scheme (`redis://...`)".to_owned())?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(i) => (&authority[..=i], &authority[i + 1..]),
        None => ("", authority),
    };
    if host_port.contains(',') {
        return Err("a URL naming several hosts cannot go through one proxy".to_owned());
    }
    let has_port = host_port.rsplit_once(':').is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()));
    let target = if has_port {
        host_port.to_owned()
    } else {
        let port = match scheme {
            "redis" | "rediss" => 6379,
            "postgres" | "postgresql" => 5432,
            "mysql" | "mariadb" => 3306,
            "mongodb" => 27017,
            other => return Err(format!("no default port known for `{other}://`: write the port")),
        };
        format!("{host_port}:{port}")
    };
    let (scheme, userinfo, tail) = (scheme.to_owned(), userinfo.to_owned(), tail.to_owned());
    Ok((target, Box::new(move |addr| format!("{scheme}://{userinfo}{addr}{tail}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_everything_but_the_address() {
        let (target, rewrite) =
            split_authority("postgres://postgres:p%40ss@127.0.0.1:5432/db?sslmode=disable").unwrap();
        assert_eq!(target, "127.0.0.1:5432");
        assert_eq!(rewrite("127.0.0.1:4000"), "postgres://postgres:p%40ss@127.0.0.1:4000/db?sslmode=disable");
        let (target, rewrite) = split_authority("redis://localhost").unwrap();
        assert_eq!(target, "localhost:6379");
        assert_eq!(rewrite("127.0.0.1:1"), "redis://127.0.0.1:1");
        let (target, _) = split_authority("mongodb://127.0.0.1:27017/?directConnection=true").unwrap();
        assert_eq!(target, "127.0.0.1:27017");
        assert!(split_authority("mongodb://a:1,b:2/").is_err());
        assert!(split_authority("127.0.0.1:6379").is_err());
    }
}

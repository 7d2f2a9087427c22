//! Providers: where a server-backed store's server comes from, decided before URLs are resolved.
//! Per backend, in order: an explicit URL, a container (harness/containers), a local process
//! (harness/backends/services.sh, mongo/secantus.sh), else "not available" with every reason.
//! It never skips a backend silently, and every container it starts is removed by
//! [`Provisioned::release`] (or by its run label on the way out when the run is cut short).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sessionspec_containers::{Backend, BackendKind, Fleet, ImagePolicy, Matrix, Server, ServerControl, Started, probe};
use sessionspec_contract::{Namespace, OpenContext, Result as StoreResult, Store, StoreDescription, StoreFactory};
use sessionspec_runner::Target;
use sessionspec_server_store::redact_url as redact;

use crate::{Backends, Resolved, TargetError};

/// The backend kind a store needs, from its catalog entry.
pub fn backend_of(store: &str) -> Option<BackendKind> {
    crate::StoreKind::find(store)?.backend
}

/// The catalog's stores that run on `kind`, but for the tower-sessions ones.
pub fn stores_of(kind: BackendKind) -> Vec<&'static str> {
    // The tower-sessions stores need ecosystem/tower's adapter built; `just test-tower` runs them.
    crate::STORES
        .iter()
        .filter(|s| s.family != crate::Family::Tower)
        .map(|s| s.name)
        .filter(|n| backend_of(n) == Some(kind))
        .collect()
}

/// What the command line asked of the backends.
#[derive(Debug, Clone)]
pub struct BackendRequest {
    /// The run id containers are labelled with (`org.sessionspec.run=<run>`).
    pub run: String,
    /// The backend matrix.
    pub matrix: Matrix,
    /// The versions asked for (`--backend`, `--matrix`), each with its explicit URL if given
    /// (`--backend postgres:15=URL`), in the matrix's order, without repeats.
    pub versions: Vec<(Backend, Option<String>)>,
    /// Which images containers run.
    pub images: ImagePolicy,
    /// Whether containers may be started at all.
    pub containers: bool,
    /// harness/backends, for the local-process step; `None` skips that step.
    pub scripts: Option<PathBuf>,
    /// The backend kind the stores outside the catalog (`exec:`, `./store.js`) need
    /// (`--store-backend`); a store file may declare its own instead ([`crate::adapter::declared_backend`]).
    pub store_backend: Option<BackendKind>,
}

impl BackendRequest {
    /// Adds `--backend` values: `kind`, `kind:version`, or `kind:version=URL`.
    pub fn select(&mut self, given: &str) -> Result<(), ProvideError> {
        let (selector, url) = match given.split_once('=') {
            Some((s, u)) => (s, Some(u.to_owned())),
            None => (given, None),
        };
        let found = self.matrix.select(selector).map_err(|e| ProvideError::Request(e.to_string()))?;
        if url.is_some() && found.len() != 1 {
            return Err(ProvideError::Request(format!(
                "--backend {selector}=URL: a URL serves one version; name it as kind:version"
            )));
        }
        for b in found {
            if let Some(entry) = self.versions.iter_mut().find(|(v, _)| v.key() == b.key()) {
                if url.is_some() {
                    entry.1 = url.clone();
                }
            } else {
                self.versions.push((b.clone(), url.clone()));
            }
        }
        self.sort();
        Ok(())
    }

    /// Columns follow the matrix's order (13, 15, 17), whatever order they were asked in.
    fn sort(&mut self) {
        let position = |b: &Backend| self.matrix.backends.iter().position(|m| m.key() == b.key());
        let mut versions = std::mem::take(&mut self.versions);
        versions.sort_by_key(|(b, _)| position(b));
        self.versions = versions;
    }

    /// Adds every version of the matrix (`--matrix`).
    pub fn select_all(&mut self) {
        for b in &self.matrix.backends {
            if !self.versions.iter().any(|(v, _)| v.key() == b.key()) {
                self.versions.push((b.clone(), None));
            }
        }
    }

    /// The stores to run when none is named: the catalog's stores of every kind asked for.
    pub fn default_stores(&self) -> Vec<String> {
        let kinds: Vec<BackendKind> = self.versions.iter().map(|(b, _)| b.kind).collect();
        crate::STORES
            .iter()
            .filter(|s| s.family != crate::Family::Tower)
            .map(|s| s.name)
            .filter(|n| backend_of(n).is_some_and(|k| kinds.contains(&k)))
            .map(str::to_owned)
            .collect()
    }
}

/// Why providing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvideError {
    /// The request makes no sense (an unknown version, a version no selected store uses).
    #[error("{0}")]
    Request(String),
    /// A store or backend cannot run.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Interrupted while starting backends; whatever was started has been removed.
    #[error("interrupted while starting backends")]
    Interrupted,
}

/// The targets of a run and what must live as long as they run: temporary directories and the
/// containers. Call [`Provisioned::release`] at the end.
pub struct Provisioned {
    /// The targets, one per store × backend version.
    pub targets: Vec<Target>,
    /// How each target's backend was provided, by target id (reports show it).
    pub providers: BTreeMap<String, String>,
    resolved: Vec<Resolved>,
    fleet: Option<Fleet>,
}

impl Provisioned {
    /// The label this run's containers carry (`org.sessionspec.run=<id>`), when it started any.
    pub fn run_label(&self) -> Option<String> {
        self.fleet.as_ref().map(|f| format!("{}={}", sessionspec_containers::RUN_LABEL, f.run()))
    }

    /// Shuts the targets' stores down (an adapter's processes exit or are stopped, with
    /// whatever they started), then removes the run's containers and temporary directories;
    /// returns how many containers.
    pub async fn release(mut self) -> Result<usize, String> {
        futures::future::join_all(self.targets.iter().map(|t| t.factory.shutdown())).await;
        self.resolved.clear();
        match self.fleet.take() {
            Some(fleet) => fleet.remove_all().await.map_err(|e| e.to_string()),
            None => Ok(0),
        }
    }
}

/// Something that wants to know how providing goes (one line per event, for stderr), and
/// whether to stop.
pub trait Progress: Sync {
    /// A line for the user.
    fn line(&self, text: &str);
    /// Whether the run was interrupted.
    fn interrupted(&self) -> bool;
}

/// One column group: a store on one backend (a version, or whatever the kind's URL gives).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// A version from the matrix.
    Version(String),
    /// The kind with no version asked: its URL, else its default version, else a local process.
    Kind(BackendKind),
}

/// How one backend is served.
#[derive(Debug, Clone)]
struct Served {
    url: String,
    /// `kind:version` when known (target ids get `@version`).
    version: Option<String>,
    provider: String,
    server: Option<Server>,
    /// The server's control, when the run started it in a container.
    control: Option<ServerControl>,
}

/// Provides every backend the named stores need, then resolves the stores on them: one target
/// per store × backend version. Containers start at once, in parallel; on any failure, what
/// was started is removed before returning.
pub async fn provision(
    stores: &[String],
    backends: &Backends,
    request: &BackendRequest,
    progress: &dyn Progress,
) -> Result<Provisioned, ProvideError> {
    // Which backend each store runs on, in the order asked.
    let mut kinds: BTreeMap<&str, Option<BackendKind>> = BTreeMap::new();
    for store in stores {
        kinds.insert(store.as_str(), crate::adapter::declared_backend(store, request.store_backend)?);
    }
    let kind_of = |store: &String| kinds.get(store.as_str()).copied().flatten();
    let mut columns: Vec<(String, Option<Need>)> = Vec::new();
    for store in stores {
        match kind_of(store) {
            None => columns.push((store.clone(), None)),
            Some(kind) => {
                let versions: Vec<&Backend> =
                    request.versions.iter().map(|(b, _)| b).filter(|b| b.kind == kind).collect();
                if versions.is_empty() {
                    columns.push((store.clone(), Some(Need::Kind(kind))));
                } else {
                    for b in versions {
                        columns.push((store.clone(), Some(Need::Version(b.key()))));
                    }
                }
            }
        }
    }
    for (b, _) in &request.versions {
        if !columns.iter().any(|(_, n)| n.as_ref() == Some(&Need::Version(b.key()))) {
            return Err(ProvideError::Request(format!(
                "--backend {}: no selected store runs on {} (its stores: {}); add --store, or declare the \
                 backend of an exec: or ./store.js store (--store-backend {})",
                b.key(),
                b.kind,
                stores_of(b.kind).join(", "),
                b.kind
            )));
        }
    }
    let mut needs: Vec<Need> = columns.iter().filter_map(|(_, n)| n.clone()).collect();
    needs.sort();
    needs.dedup();

    let mut shared = Shared { fleet: None, fleet_error: None };
    let served = serve(&columns, &needs, backends, request, progress, &mut shared).await;
    let fleet = shared.fleet;
    let served = match served {
        Ok(s) => s,
        Err(e) => {
            remove(fleet, progress).await;
            return Err(e);
        }
    };

    let mut provisioned = Provisioned { targets: Vec::new(), providers: BTreeMap::new(), resolved: Vec::new(), fleet };
    for (store, need) in &columns {
        // The kind was read once above (a store file's `backendKind` means starting Node.js).
        let mut for_store = Backends { store_backend: kind_of(store), ..backends.clone() };
        let serving = need.as_ref().map(|n| &served[n]);
        if let (Some(s), Some(kind)) = (serving, kind_of(store)) {
            *for_store.url_mut(kind) = Some(s.url.clone());
            if let Some(control) = &s.control {
                for_store.servers.push((kind, control.clone()));
            }
        }
        let resolved = match crate::resolve(std::slice::from_ref(store), &for_store).await {
            Ok(r) => r,
            Err(e) => {
                remove(provisioned.fleet.take(), progress).await;
                return Err(e.into());
            }
        };
        for mut target in resolved.targets.clone() {
            if let Some(s) = serving {
                if let Some(v) = &s.version {
                    target.id = format!("{}@{}", target.id, v.split_once(':').map_or(v.as_str(), |(_, v)| v));
                }
                if let Some(server) = &s.server {
                    target = describe_server(target, server);
                }
                provisioned.providers.insert(target.id.clone(), s.provider.clone());
            }
            provisioned.targets.push(target);
        }
        provisioned.resolved.push(resolved);
    }
    Ok(provisioned)
}

struct Shared {
    fleet: Option<Fleet>,
    fleet_error: Option<String>,
}

async fn remove(fleet: Option<Fleet>, progress: &dyn Progress) {
    if let Some(fleet) = fleet {
        match fleet.remove_all().await {
            Ok(n) if n > 0 => progress.line(&format!("removed {n} container(s) of run {}", fleet.run())),
            Ok(_) => {}
            Err(e) => progress.line(&format!("error: {e}")),
        }
    }
}

/// Serves every need: URLs first, then all containers at once, then local processes.
async fn serve(
    columns: &[(String, Option<Need>)],
    needs: &[Need],
    backends: &Backends,
    request: &BackendRequest,
    progress: &dyn Progress,
    shared: &mut Shared,
) -> Result<BTreeMap<Need, Served>, ProvideError> {
    let mut served = BTreeMap::new();
    let mut reasons: BTreeMap<Need, Vec<String>> = BTreeMap::new();
    let mut want_container: Vec<(Need, Backend)> = Vec::new();

    // 1. Explicit URLs.
    for need in needs {
        match need {
            Need::Kind(kind) => {
                let (flag, env) = crate::url_source(*kind);
                if let Some(url) = backends.url(*kind).clone() {
                    served.insert(
                        need.clone(),
                        Served {
                            url,
                            version: None,
                            provider: format!("url ({flag} or {env})"),
                            server: None,
                            control: None,
                        },
                    );
                    continue;
                }
                reasons.entry(need.clone()).or_default().push(format!("url: neither {flag} nor {env} is set"));
                match request.matrix.default_for(*kind) {
                    Some(b) => want_container.push((need.clone(), b.clone())),
                    None => reasons
                        .entry(need.clone())
                        .or_default()
                        .push(format!("container: the matrix has no default version of {kind}")),
                }
            }
            Need::Version(key) => {
                let (backend, url) = request.versions.iter().find(|(b, _)| &b.key() == key).expect("asked for");
                if let Some(url) = url {
                    let server = probe::ask(backend.kind, url, Duration::from_secs(10)).await.map_err(|e| {
                        ProvideError::Request(format!("--backend {key}=URL: {} does not answer: {e}", redact(url)))
                    })?;
                    if !server.is(backend) {
                        return Err(ProvideError::Request(format!(
                            "--backend {key}=URL: the server at {} is {server}, not {key}",
                            redact(url)
                        )));
                    }
                    let mut server = server;
                    match probe::check_environment(backend, url).await {
                        Ok(found) => server.detail = found.or(server.detail),
                        Err(e) => {
                            return Err(ProvideError::Request(format!(
                                "--backend {key}=URL: the server at {} is not {}: {e}",
                                redact(url),
                                backend.label()
                            )));
                        }
                    }
                    progress.line(&format!("backend {key}: url {}: {server}", redact(url)));
                    served.insert(
                        need.clone(),
                        Served {
                            url: backend.store_url(url),
                            version: Some(key.clone()),
                            provider: "url (--backend KIND:VERSION=URL)".into(),
                            server: Some(server),
                            control: None,
                        },
                    );
                    continue;
                }
                let (flag, env) = crate::url_source(backend.kind);
                if backends.url(backend.kind).is_some() {
                    progress.line(&format!(
                        "backend {key}: {flag}/{env} is not used for a version asked by --backend or --matrix; pass --backend {key}=URL to use your own server"
                    ));
                }
                want_container.push((need.clone(), backend.clone()));
            }
        }
    }

    // 2. Containers, all at once.
    if !want_container.is_empty() {
        if !request.containers {
            for (need, _) in &want_container {
                reasons.entry(need.clone()).or_default().push("container: containers are turned off".into());
            }
        } else {
            match Fleet::connect(&request.run, request.images).await {
                Ok(fleet) => {
                    progress.line(&format!(
                        "containers: {}; this run's containers carry the label {}={} and are removed when it ends",
                        fleet.engine(),
                        sessionspec_containers::RUN_LABEL,
                        fleet.run()
                    ));
                    shared.fleet = Some(fleet);
                }
                Err(e) => shared.fleet_error = Some(e.to_string()),
            }
            if let Some(fleet) = &shared.fleet {
                let interrupted = || progress.interrupted();
                let starts = want_container.iter().map(|(need, backend)| {
                    let interrupted = &interrupted;
                    async move { (need.clone(), fleet.start(backend, interrupted).await) }
                });
                for (need, result) in futures::future::join_all(starts).await {
                    match result {
                        Ok(started) => {
                            progress.line(&started_line(&started));
                            served.insert(need, served_by_container(&started));
                        }
                        Err(sessionspec_containers::ContainerError::Interrupted { .. }) => {}
                        Err(e) => reasons.entry(need).or_default().push(format!("container: {e}")),
                    }
                }
                if progress.interrupted() {
                    return Err(ProvideError::Interrupted);
                }
            } else {
                let why = shared.fleet_error.clone().unwrap_or_default();
                for (need, _) in &want_container {
                    reasons.entry(need.clone()).or_default().push(format!("container: {why}"));
                }
            }
        }
    }

    // 3. Local processes, for what is still missing.
    for (need, backend) in &want_container {
        if served.contains_key(need) {
            continue;
        }
        if progress.interrupted() {
            return Err(ProvideError::Interrupted);
        }
        match local_process(backend.kind, request.scripts.as_ref()).await {
            Ok((url, script)) => match probe::ask(backend.kind, &url, Duration::from_secs(10)).await {
                // A local process runs in the machine's own environment, never an environment entry's.
                Ok(server)
                    if matches!(need, Need::Version(_))
                        && server.is(backend)
                        && let Err(e) = probe::check_environment(backend, &url).await =>
                {
                    reasons
                        .entry(need.clone())
                        .or_default()
                        .push(format!("local process: {script} serves {server}, not {}: {e}", backend.label()))
                }
                Ok(server) if matches!(need, Need::Kind(_)) || server.is(backend) => {
                    progress.line(&format!("backend {}: local process ({script}): {server}", describe_need(need)));
                    let version = match need {
                        Need::Version(key) => Some(key.clone()),
                        Need::Kind(_) => None,
                    };
                    served.insert(
                        need.clone(),
                        Served {
                            url,
                            version,
                            provider: format!("local process ({script})"),
                            server: Some(server),
                            control: None,
                        },
                    );
                }
                Ok(server) => reasons
                    .entry(need.clone())
                    .or_default()
                    .push(format!("local process: {script} serves {server}, not {}", backend.key())),
                Err(e) => reasons
                    .entry(need.clone())
                    .or_default()
                    .push(format!("local process: {} does not answer: {e}", redact(&url))),
            },
            Err(e) => reasons.entry(need.clone()).or_default().push(format!("local process: {e}")),
        }
    }

    let missing_needs: Vec<&Need> = needs.iter().filter(|n| !served.contains_key(*n)).collect();
    let missing: Vec<String> = missing_needs
        .iter()
        .map(|n| {
            format!(
                "{} is not available:\n  - {}",
                describe_need(n),
                reasons.get(n).map(|r| r.join("\n  - ")).unwrap_or_default()
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(ProvideError::Target(TargetError::Unavailable {
            store: columns
                .iter()
                .filter(|(_, n)| n.as_ref().is_some_and(|n| missing_needs.contains(&n)))
                .map(|(s, _)| s.as_str())
                .fold(Vec::new(), |mut v, s| {
                    if !v.contains(&s) {
                        v.push(s);
                    }
                    v
                })
                .join("`, `"),
            reason: missing.join("\n"),
        }));
    }
    Ok(served)
}

fn describe_need(need: &Need) -> String {
    match need {
        Need::Version(key) => key.clone(),
        Need::Kind(kind) => kind.to_string(),
    }
}

fn started_line(s: &Started) -> String {
    format!(
        "backend {}: {} ready in {:.2} s: {} [container {}]",
        s.backend.key(),
        s.provider(),
        s.ready_in.as_secs_f64(),
        s.server,
        s.container
    )
}

fn served_by_container(s: &Started) -> Served {
    Served {
        url: s.url.clone(),
        version: Some(s.backend.key()),
        provider: s.provider(),
        server: Some(s.server.clone()),
        control: Some(s.control.clone()),
    }
}

/// Finds or starts the local server of `kind` with the project's scripts; its URL and the
/// script that gave it.
async fn local_process(kind: BackendKind, scripts: Option<&PathBuf>) -> Result<(String, String), String> {
    let Some(dir) = scripts else { return Err("harness/backends/ not found (run from the project)".into()) };
    let (script, args, var): (&str, &[&str], &str) = match kind {
        BackendKind::Postgres => ("services.sh", &["up", "postgres"], "SESSIONSPEC_POSTGRES_URL"),
        BackendKind::Redis => ("services.sh", &["up", "redis"], "SESSIONSPEC_REDIS_URL"),
        BackendKind::Mariadb => ("services.sh", &["up", "mysql"], "SESSIONSPEC_MYSQL_URL"),
        BackendKind::Mongo => ("mongo/secantus.sh", &["up"], "SESSIONSPEC_MONGO_URL"),
    };
    let path = dir.join(script);
    let shown = format!("harness/backends/{script} {}", args.join(" "));
    // The script's own explicit-URL step would hand the variable back unverified as ours.
    let mut command = tokio::process::Command::new("bash");
    command.arg(&path).args(args).env_remove(var).stdin(std::process::Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .map_err(|_| format!("{shown} did not finish within 180 s"))?
        .map_err(|e| format!("{shown} cannot run: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("export {var}=");
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim_matches(['\'', '"']).to_owned())
        .filter(|_| output.status.success());
    match url {
        Some(url) => Ok((url, shown)),
        None => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no output");
            Err(format!("{shown} failed ({}): {last}", output.status))
        }
    }
}

/// The target with the backend as its server reports itself. A store's own report is kept for
/// the kind's usual product (it asked the same server); a stand-in speaking another's protocol
/// (Valkey, SecantusDB) gets its own name and version, so it is never shown as the server it
/// stands in for; a store that reports no version gets the server's.
fn describe_server(target: Target, server: &Server) -> Target {
    let mut description = target.factory.describe().clone();
    let stand_in = !matches!(server.product.as_str(), "PostgreSQL" | "Redis" | "MariaDB" | "MongoDB");
    if stand_in {
        description.backend = server.backend_name();
        description.backend_version = Some(server.version_text());
    } else if let Some(environment) = &server.detail {
        // An environment entry: the version cell says which time zone or clock it ran with.
        let version = description.backend_version.take().unwrap_or_else(|| server.version.clone());
        description.backend_version = Some(format!("{version} ({environment})"));
    } else if description.backend_version.is_none() {
        description.backend_version = Some(server.version.clone());
    } else {
        return target;
    }
    Target { id: target.id, factory: Arc::new(Described { inner: target.factory, description }), faults: target.faults }
}

/// A factory shown with another description; everything else goes to the store's own.
struct Described {
    inner: Arc<dyn StoreFactory>,
    description: StoreDescription,
}

#[async_trait]
impl StoreFactory for Described {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> StoreResult<Box<dyn Store>> {
        self.inner.open(context).await
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> StoreResult<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_kind_has_a_reference_store_and_an_npm_store() {
        for kind in BackendKind::ALL {
            let stores = stores_of(kind);
            for family in [crate::Family::Reference, crate::Family::Npm] {
                assert!(
                    stores.iter().any(|s| crate::StoreKind::find(s).is_some_and(|k| k.family == family)),
                    "{kind}: {stores:?}"
                );
            }
        }
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(redact("postgres://u:se@cret@h:5/db"), "postgres://u:****@h:5/db");
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(redact("mysql://root@h/test"), "mysql://root@h/test");
    }
}

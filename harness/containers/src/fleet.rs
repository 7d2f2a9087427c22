//! The containers of one run: each backend version in a container of its own, started through
//! testcontainers, labelled with the run's id, awaited at the protocol level, and removed by
//! that label at the end. It never removes a container whose run label is not its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::control::ServerControl;
use crate::matrix::{Backend, BackendKind, split_image};
use crate::probe::{self, Server};

/// Carried by everything the project creates in Docker (the image scripts use it too).
pub const PROJECT_LABEL: &str = "org.sessionspec";
/// The run a container belongs to; removal goes by this label and only this one.
pub const RUN_LABEL: &str = "org.sessionspec.run";
/// The `kind:version` a container serves.
pub const BACKEND_LABEL: &str = "org.sessionspec.backend";

/// Which image runs a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImagePolicy {
    /// The official image when it is present or can be pulled, else the local one.
    Auto,
    /// Only the official image (pulled if missing).
    Official,
    /// Only the local image (never pulls).
    Local,
}

impl ImagePolicy {
    /// Every policy.
    pub const ALL: [ImagePolicy; 3] = [ImagePolicy::Auto, ImagePolicy::Official, ImagePolicy::Local];

    /// Its name (`auto`, `official`, `local`).
    pub fn name(self) -> &'static str {
        match self {
            ImagePolicy::Auto => "auto",
            ImagePolicy::Official => "official",
            ImagePolicy::Local => "local",
        }
    }

    /// Looks a policy up by name.
    pub fn from_name(name: &str) -> Option<ImagePolicy> {
        ImagePolicy::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// How long each kind of server gets from `docker start` to its first real answer. Generous:
/// on two cores, eleven servers start at once next to a compiler.
pub fn startup_timeout(kind: BackendKind) -> Duration {
    Duration::from_secs(match kind {
        BackendKind::Redis => 30,
        BackendKind::Postgres => 60,
        BackendKind::Mariadb | BackendKind::Mongo => 90,
    })
}

/// Why a container could not serve its backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// No Docker engine answers.
    #[error("no Docker engine answers at {host}: {reason} (harness/backends/docker-engine.sh installs and starts one)")]
    NoEngine {
        /// Where it was looked for.
        host: String,
        /// Why it did not answer.
        reason: String,
    },
    /// Neither image can run.
    #[error("{backend}: {reason}")]
    Image {
        /// `kind:version`.
        backend: String,
        /// What was tried.
        reason: String,
    },
    /// The container did not start, or its server did not answer in time.
    #[error("{backend}: {reason}")]
    Start {
        /// `kind:version`.
        backend: String,
        /// What happened, with the server's last log lines when it exited.
        reason: String,
    },
    /// The run was interrupted while the container was starting.
    #[error("{backend}: interrupted while starting")]
    Interrupted {
        /// `kind:version`.
        backend: String,
    },
    /// Removing the run's containers failed.
    #[error("removing the containers labelled {RUN_LABEL}={run}: {reason}")]
    Remove {
        /// The run id.
        run: String,
        /// Why.
        reason: String,
    },
}

/// A backend version serving in a container.
#[derive(Debug, Clone)]
pub struct Started {
    /// The matrix entry.
    pub backend: Backend,
    /// The image that ran (`sessionspec/postgres:15` or `postgres:15`).
    pub image: String,
    /// Why that image: `official image` or `local image (official postgres:15 cannot be
    /// pulled: ...)`.
    pub image_choice: String,
    /// The container's id (12 characters).
    pub container: String,
    /// Where stores reach it.
    pub url: String,
    /// What the server says it is.
    pub server: Server,
    /// From `docker create` to the first real answer.
    pub ready_in: Duration,
    /// Stops, starts, restarts, pauses and unpauses its server.
    pub control: ServerControl,
}

impl Started {
    /// One line for reports: `container sessionspec/postgres:15 (local image; official ...)`.
    /// An environment entry's checked environment is in [`Server::detail`].
    pub fn provider(&self) -> String {
        format!("container {} ({})", self.image, self.image_choice)
    }
}

/// The containers of one run.
pub struct Fleet {
    run: String,
    images: ImagePolicy,
    host: String,
    docker: Docker,
    engine: String,
    pull_timeout: Duration,
    containers: Mutex<Vec<ContainerAsync<GenericImage>>>,
}

impl Fleet {
    /// Connects to the Docker engine (`DOCKER_HOST`, else the local socket) for a run whose
    /// containers carry `org.sessionspec.run=<run>`. Fails fast when no engine answers.
    pub async fn connect(run: &str, images: ImagePolicy) -> Result<Fleet, ContainerError> {
        let host_env = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let engine_at = host_env.clone().unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        let no_engine = |reason: String| ContainerError::NoEngine { host: engine_at.clone(), reason };
        let docker = Docker::connect_with_defaults().map_err(|e| no_engine(e.to_string()))?;
        let bound = Duration::from_secs(5);
        let docker = match tokio::time::timeout(bound, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(no_engine(e.to_string())),
            Err(_) => return Err(no_engine(format!("no answer within {} s", bound.as_secs()))),
        };
        let engine = match tokio::time::timeout(bound, docker.version()).await {
            Ok(Ok(v)) => format!(
                "Docker {} (API {})",
                v.version.unwrap_or_else(|| "?".into()),
                v.api_version.unwrap_or_else(|| "?".into())
            ),
            Ok(Err(e)) => return Err(no_engine(e.to_string())),
            Err(_) => return Err(no_engine(format!("no answer within {} s", bound.as_secs()))),
        };
        Ok(Fleet {
            run: run.to_owned(),
            images,
            host: container_host(host_env.as_deref()),
            docker,
            engine,
            pull_timeout: Duration::from_secs(
                std::env::var("SESSIONSPEC_PULL_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(300),
            ),
            containers: Mutex::new(Vec::new()),
        })
    }

    /// The run id its containers are labelled with.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The engine, as `Docker 20.10.24 (API 1.41)`.
    pub fn engine(&self) -> &str {
        &self.engine
    }

    /// Starts `backend` and waits until it answers at the protocol level. `interrupted` is
    /// polled while waiting; a container already created stays labelled for [`Fleet::remove_all`].
    pub async fn start(
        &self,
        backend: &Backend,
        interrupted: &(dyn Fn() -> bool + Sync),
    ) -> Result<Started, ContainerError> {
        let key = backend.key();
        // A pull can take minutes; it creates no container, so it may be abandoned at once.
        let choosing = self.choose_image(backend);
        tokio::pin!(choosing);
        let (image, image_choice) = loop {
            tokio::select! {
                chosen = &mut choosing => break chosen?,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if interrupted() {
                        return Err(ContainerError::Interrupted { backend: key });
                    }
                }
            }
        };
        let official = image == backend.official;
        let (name, tag) = split_image(&image).expect("matrix images are checked when the matrix is parsed");
        let port = backend.port.tcp();
        let timeout = startup_timeout(backend.kind);
        let mut request = GenericImage::new(name, tag)
            .with_exposed_port(port)
            .with_label(PROJECT_LABEL, "1")
            .with_label(RUN_LABEL, &self.run)
            .with_label(BACKEND_LABEL, &key)
            .with_startup_timeout(timeout);
        if official {
            for (k, v) in official_env(backend.kind) {
                request = request.with_env_var(*k, *v);
            }
        }
        // An environment entry: its server arguments go after the image's own command (which
        // differs between the official and the local image), its variables into the container.
        let args = backend.server_args();
        if !args.is_empty() {
            let mut command = self.image_command(&image).await.map_err(|reason| ContainerError::Start {
                backend: key.clone(),
                reason: format!("{image}: cannot read its command to add {}: {reason}", args.join(" ")),
            })?;
            command.extend(args);
            request = request.with_cmd(command);
        }
        for (k, v) in backend.server_env() {
            request = request.with_env_var(k, v);
        }
        if self.host == "127.0.0.1" {
            // Published on the loopback only: these servers trust every client. On a port picked
            // here rather than by the engine, which would pick another one when a `backend:`
            // step restarts the container; the stores' URLs name this one.
            let host_port = free_loopback_port().map_err(|e| ContainerError::Start {
                backend: key.clone(),
                reason: format!("no free port on 127.0.0.1 to publish {port} on: {e}"),
            })?;
            request = request.with_host_config_modifier(move |config: &mut HostConfig| {
                config.publish_all_ports = Some(false);
                config.port_bindings = Some(HashMap::from([(
                    port.to_string(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(host_port.to_string()),
                    }]),
                )]));
            });
        }
        let started_at = Instant::now();
        let container = request.start().await.map_err(|e| ContainerError::Start {
            backend: key.clone(),
            reason: format!("{image} did not start: {e}"),
        })?;
        let id = container.id().chars().take(12).collect::<String>();
        let host_port = container.get_host_port_ipv4(port).await;
        self.containers.lock().expect("not poisoned").push(container);
        let host_port = host_port.map_err(|e| ContainerError::Start {
            backend: key.clone(),
            reason: format!("container {id} ({image}) has no published port {port}: {e}"),
        })?;
        let (admin_url, url) = urls(backend.kind, &self.host, host_port);
        let deadline = started_at + timeout;
        let mut last = String::new();
        let server = loop {
            if interrupted() {
                return Err(ContainerError::Interrupted { backend: key });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ContainerError::Start {
                    backend: key,
                    reason: format!(
                        "container {id} ({image}) did not answer within {} s; last attempt: {last}{}",
                        timeout.as_secs(),
                        self.log_tail(&id).await
                    ),
                });
            }
            match probe::ask(backend.kind, &admin_url, left.min(Duration::from_secs(2))).await {
                Ok(server) => break server,
                Err(e) => last = e,
            }
            if !self.is_running(&id).await {
                return Err(ContainerError::Start {
                    backend: key,
                    reason: format!("container {id} ({image}) exited before answering{}", self.log_tail(&id).await),
                });
            }
            // Polling the real condition: a refused or reset connection comes back at once.
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        probe::prepare(backend.kind, &admin_url)
            .await
            .map_err(|e| ContainerError::Start { backend: key.clone(), reason: format!("preparing {url}: {e}") })?;
        let mut server = server;
        if let Some(found) = probe::check_environment(backend, &admin_url).await.map_err(|e| ContainerError::Start {
            backend: key.clone(),
            reason: format!("container {id} ({image}) does not run in the environment its entry promises: {e}"),
        })? {
            server.detail = Some(found);
        }
        Ok(Started {
            backend: backend.clone(),
            image,
            image_choice,
            container: id.clone(),
            url: backend.store_url(&url),
            server,
            ready_in: started_at.elapsed(),
            control: ServerControl::new(self.docker.clone(), id, backend.kind, admin_url, backend.port, host_port),
        })
    }

    /// Removes every container of this run: those it holds, and any other carrying its run
    /// label (one whose start was cut short). Returns how many were removed.
    pub async fn remove_all(&self) -> Result<usize, ContainerError> {
        let held = std::mem::take(&mut *self.containers.lock().expect("not poisoned"));
        let mut removed = 0;
        let mut failed = Vec::new();
        for c in held {
            let id = c.id().to_owned();
            match c.rm().await {
                Ok(()) => removed += 1,
                Err(e) => failed.push(format!("{id}: {e}")),
            }
        }
        match remove_labelled(&self.docker, &self.run).await {
            Ok(n) => removed += n,
            Err(e) => failed.push(e),
        }
        if failed.is_empty() {
            Ok(removed)
        } else {
            Err(ContainerError::Remove { run: self.run.clone(), reason: failed.join("; ") })
        }
    }

    async fn choose_image(&self, backend: &Backend) -> Result<(String, String), ContainerError> {
        let key = backend.key();
        let image_err = |reason: String| ContainerError::Image { backend: key.clone(), reason };
        let build_hint = |local: &str| {
            format!("run harness/backends/images/build.sh {}", local.split_once('/').map_or(local, |(_, rest)| rest))
        };
        // libfaketime is in the local images only (build.sh adds it for clock_offset entries).
        if backend.clock_offset.is_some() {
            if self.images == ImagePolicy::Official {
                return Err(image_err(format!(
                    "clock_offset {} needs libfaketime, which only the local image {} has; use --images local or auto",
                    backend.clock_offset.as_deref().unwrap_or_default(),
                    backend.local
                )));
            }
            return if self.has_image(&backend.local).await {
                Ok((backend.local.clone(), "local image; the official one has no libfaketime for clock_offset".into()))
            } else {
                Err(image_err(format!(
                    "clock_offset needs the local image {}, which is not built: {}",
                    backend.local,
                    build_hint(&backend.local)
                )))
            };
        }
        match self.images {
            ImagePolicy::Local => {
                if self.has_image(&backend.local).await {
                    Ok((backend.local.clone(), "local image".into()))
                } else {
                    Err(image_err(format!(
                        "local image {} is not built: {}",
                        backend.local,
                        build_hint(&backend.local)
                    )))
                }
            }
            ImagePolicy::Official | ImagePolicy::Auto => {
                if self.has_image(&backend.official).await {
                    return Ok((backend.official.clone(), "official image".into()));
                }
                let pulled = self.pull(&backend.official).await;
                match pulled {
                    Ok(()) => Ok((backend.official.clone(), "official image, pulled".into())),
                    Err(why) if self.images == ImagePolicy::Official => {
                        Err(image_err(format!("official image {} cannot be pulled: {why}", backend.official)))
                    }
                    Err(why) => {
                        if self.has_image(&backend.local).await {
                            Ok((
                                backend.local.clone(),
                                format!("local image; official {} not pullable: {why}", backend.official),
                            ))
                        } else {
                            Err(image_err(format!(
                                "official image {} cannot be pulled ({why}) and local image {} is not built: {}",
                                backend.official,
                                backend.local,
                                build_hint(&backend.local)
                            )))
                        }
                    }
                }
            }
        }
    }

    /// The image's command (`Cmd`), to which an environment entry's server arguments are added.
    async fn image_command(&self, image: &str) -> Result<Vec<String>, String> {
        let inspected = self.docker.inspect_image(image).await.map_err(|e| e.to_string())?;
        match inspected.config.and_then(|c| c.cmd) {
            Some(cmd) if !cmd.is_empty() => Ok(cmd),
            _ => Err("the image has no command".into()),
        }
    }

    async fn has_image(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }

    async fn pull(&self, image: &str) -> Result<(), String> {
        let (name, tag) = split_image(image).map_err(str::to_owned)?;
        let options = CreateImageOptionsBuilder::new().from_image(name).tag(tag).build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        let pulling = async {
            while let Some(step) = stream.next().await {
                step.map_err(|e| short(&e.to_string()))?;
            }
            Ok(())
        };
        match tokio::time::timeout(self.pull_timeout, pulling).await {
            Ok(r) => r,
            Err(_) => Err(format!("no result within {} s (SESSIONSPEC_PULL_TIMEOUT)", self.pull_timeout.as_secs())),
        }
    }

    async fn is_running(&self, id: &str) -> bool {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => c.state.and_then(|s| s.running).unwrap_or(false),
            Err(_) => false,
        }
    }

    async fn log_tail(&self, id: &str) -> String {
        use testcontainers::bollard::query_parameters::LogsOptionsBuilder;
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).tail("15").build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut text = String::new();
        let read = async {
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
        if text.trim().is_empty() {
            String::new()
        } else {
            format!("; its last log lines:\n{}", text.lines().map(|l| format!("    {l}\n")).collect::<String>())
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let held = std::mem::take(&mut *self.containers.lock().unwrap_or_else(|p| p.into_inner()));
        if held.is_empty() {
            return;
        }
        // testcontainers removes a container on drop only from inside a runtime, and this drop
        // may run during a panic or after the runtime is gone: remove by label on a thread of
        // our own instead, and let the handles go without their own drop.
        for c in held {
            std::mem::forget(c);
        }
        if let Err(e) = remove_run_blocking(&self.run, Duration::from_secs(30)) {
            eprintln!("error: {e}");
        }
    }
}

/// Removes every container labelled `org.sessionspec.run=<run>` from a thread of its own,
/// waiting at most `bound`: for exit paths outside the async world (a second Ctrl-C, a panic).
pub fn remove_run_blocking(run: &str, bound: Duration) -> Result<usize, ContainerError> {
    let run_owned = run.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string()).and_then(
                |rt| {
                    rt.block_on(async {
                        let docker = Docker::connect_with_defaults().map_err(|e| e.to_string())?;
                        let docker = docker.negotiate_version().await.map_err(|e| e.to_string())?;
                        remove_labelled(&docker, &run_owned).await
                    })
                },
            );
        let _ = tx.send(result);
    });
    match rx.recv_timeout(bound) {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(reason)) => Err(ContainerError::Remove { run: run.to_owned(), reason }),
        Err(_) => Err(ContainerError::Remove {
            run: run.to_owned(),
            reason: format!("not done within {} s", bound.as_secs()),
        }),
    }
}

/// The ids of the containers carrying `org.sessionspec.run=<run>`, running or not.
pub async fn list_run(docker: &Docker, run: &str) -> Result<Vec<String>, String> {
    let filters = HashMap::from([("label", vec![format!("{RUN_LABEL}={run}")])]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let found = docker.list_containers(Some(options)).await.map_err(|e| e.to_string())?;
    Ok(found.into_iter().filter_map(|c| c.id).collect())
}

async fn remove_labelled(docker: &Docker, run: &str) -> Result<usize, String> {
    let mut removed = 0;
    for id in list_run(docker, run).await? {
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        match docker.remove_container(&id, Some(options)).await {
            Ok(()) => removed += 1,
            // Already gone (removed by its own handle meanwhile): what we wanted.
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => return Err(format!("{}: {e}", &id[..12.min(id.len())])),
        }
    }
    Ok(removed)
}

/// Where published ports are reached from this process: the engine's host for a remote
/// `tcp://` engine, else 127.0.0.1. testcontainers' own guess is not used: with a `/.dockerenv`
/// present it answers the bridge gateway, which this machine cannot always reach.
fn container_host(docker_host: Option<&str>) -> String {
    if let Some(host) = std::env::var("SESSIONSPEC_CONTAINER_HOST").ok().filter(|h| !h.is_empty()) {
        return host;
    }
    match docker_host.and_then(|h| h.strip_prefix("tcp://")) {
        Some(rest) => rest.split([':', '/']).next().filter(|h| !h.is_empty()).unwrap_or("127.0.0.1").to_owned(),
        None => "127.0.0.1".to_owned(),
    }
}

/// What the official images need to accept the same clients as the local ones (trust or
/// empty-password login, a `test` database); the local images ignore these.
fn official_env(kind: BackendKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        BackendKind::Postgres => &[("POSTGRES_HOST_AUTH_METHOD", "trust")],
        BackendKind::Mariadb => &[("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "1"), ("MARIADB_DATABASE", "test")],
        BackendKind::Redis | BackendKind::Mongo => &[],
    }
}

/// The URL to probe and prepare the server with, and the one stores get.
/// A port on 127.0.0.1 that nothing listens on now (the system's pick for port 0).
fn free_loopback_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn urls(kind: BackendKind, host: &str, port: u16) -> (String, String) {
    match kind {
        BackendKind::Postgres => {
            let url = format!("postgres://postgres@{host}:{port}/postgres");
            (url.clone(), url)
        }
        BackendKind::Redis => {
            let url = format!("redis://{host}:{port}/");
            (url.clone(), url)
        }
        BackendKind::Mariadb => (format!("mysql://root@{host}:{port}"), format!("mysql://root@{host}:{port}/test")),
        BackendKind::Mongo => {
            let url = format!("mongodb://{host}:{port}/?directConnection=true");
            (url.clone(), url)
        }
    }
}

/// The engine's pull error without the transport chain before its last clause (`no such host`,
/// `manifest unknown`), so that a report cell stays short.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or(text);
    let last = line.rsplit(": ").next().unwrap_or(line).trim();
    if last.chars().count() > 120 {
        format!("{}…", last.chars().take(120).collect::<String>())
    } else {
        last.to_owned()
    }
}

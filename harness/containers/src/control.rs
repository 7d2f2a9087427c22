//! Acting on a server in a container of the run: stop, start, restart, pause and unpause, for
//! the resilience scenarios' `backend:` steps. A start finishes once the server answers at the
//! protocol level again, on the host port it had: the stores and the fault proxies in front of
//! it keep their URLs.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::StopContainerOptionsBuilder;

use crate::matrix::BackendKind;
use crate::probe;

/// How long a stopping server gets before the engine kills it (what `docker stop` gives).
const STOP_GRACE_SECONDS: i32 = 10;
/// The bound on a Redis's snapshot before it stops.
const SNAPSHOT_BOUND: Duration = Duration::from_secs(10);

/// Stops, starts, restarts, pauses and unpauses one container's server. Clones act on the same
/// container and share what they know of its state.
#[derive(Clone)]
pub struct ServerControl {
    docker: Docker,
    container: String,
    kind: BackendKind,
    admin_url: String,
    port: u16,
    host_port: u16,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    stopped: bool,
    paused: bool,
}

impl fmt::Debug for ServerControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerControl")
            .field("container", &self.container)
            .field("kind", &self.kind)
            .field("host_port", &self.host_port)
            .finish_non_exhaustive()
    }
}

impl ServerControl {
    pub(crate) fn new(
        docker: Docker,
        container: String,
        kind: BackendKind,
        admin_url: String,
        port: u16,
        host_port: u16,
    ) -> ServerControl {
        ServerControl { docker, container, kind, admin_url, port, host_port, state: Arc::default() }
    }

    /// The container (12 characters of its id).
    pub fn container(&self) -> &str {
        &self.container
    }

    /// Shuts the server down as its operator would: SIGTERM, SIGKILL after 10 s. What it
    /// persists survives; a Redis (whose images here keep nothing on disk) first writes a
    /// snapshot, as one with save points does when it shuts down.
    pub async fn stop(&self) -> Result<(), String> {
        if self.kind == BackendKind::Redis {
            probe::snapshot(&self.admin_url, SNAPSHOT_BOUND).await?;
        }
        let options = StopContainerOptionsBuilder::new().t(STOP_GRACE_SECONDS).build();
        self.docker
            .stop_container(&self.container, Some(options))
            .await
            .map_err(|e| format!("stopping container {}: {e}", self.container))?;
        self.state.lock().expect("not poisoned").stopped = true;
        Ok(())
    }

    /// Starts the stopped server with its data, and waits until it answers, for at most `bound`.
    pub async fn start(&self, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        self.docker
            .start_container(&self.container, None)
            .await
            .map_err(|e| format!("starting container {}: {e}", self.container))?;
        self.state.lock().expect("not poisoned").stopped = false;
        let found = self.published_port().await?;
        if found != self.host_port {
            return Err(format!(
                "container {} came back on host port {found} instead of {}: its stores' URLs name the old one",
                self.container, self.host_port
            ));
        }
        self.wait_answering(deadline).await
    }

    /// Stops and starts the server, as [`ServerControl::stop`] and [`ServerControl::start`].
    pub async fn restart(&self, bound: Duration) -> Result<(), String> {
        self.stop().await?;
        self.start(bound).await
    }

    /// Freezes the server's processes: connections stay open and nothing answers.
    pub async fn pause(&self) -> Result<(), String> {
        self.freeze(true).await
    }

    /// Lets frozen processes go on.
    pub async fn unpause(&self) -> Result<(), String> {
        self.freeze(false).await
    }

    async fn freeze(&self, frozen: bool) -> Result<(), String> {
        let (done, doing) = if frozen {
            (self.docker.pause_container(&self.container).await, "pausing")
        } else {
            (self.docker.unpause_container(&self.container).await, "unpausing")
        };
        done.map_err(|e| format!("{doing} container {}: {e}", self.container))?;
        self.state.lock().expect("not poisoned").paused = frozen;
        Ok(())
    }

    /// Brings back a server this control stopped or paused, and waits until it answers.
    pub async fn restore(&self, bound: Duration) -> Result<(), String> {
        let state = *self.state.lock().expect("not poisoned");
        if state.paused {
            self.unpause().await?;
        }
        if state.stopped {
            self.start(bound).await?;
        }
        Ok(())
    }

    async fn published_port(&self) -> Result<u16, String> {
        let inspected = self
            .docker
            .inspect_container(&self.container, None)
            .await
            .map_err(|e| format!("inspecting container {}: {e}", self.container))?;
        let key = format!("{}/tcp", self.port);
        inspected
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| ports.get(&key).cloned().flatten())
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("container {} publishes no port {key}", self.container))
    }

    async fn wait_answering(&self, deadline: Instant) -> Result<(), String> {
        let mut last = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "container {}'s server did not answer again in time; last attempt: {last}",
                    self.container
                ));
            }
            match probe::ask(self.kind, &self.admin_url, left.min(Duration::from_secs(2))).await {
                Ok(_) => return Ok(()),
                Err(e) => last = e,
            }
            // Polling the real condition: a refused connection comes back at once.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

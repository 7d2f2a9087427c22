//! sessionspec's container provider: the backend matrix file, and one container per backend
//! version of a run, started through testcontainers, ready only once the server answers a real
//! request, and removed by the run's label whatever way the run ends.
//!
//! It never removes a container it did not start, never waits by sleeping for a fixed time, and
//! knows nothing of stores or the runner: it turns a matrix entry into a URL.
#![warn(missing_docs)]

mod control;
mod fleet;
pub mod matrix;
pub mod probe;

pub use control::ServerControl;
pub use fleet::{
    BACKEND_LABEL, ContainerError, Fleet, ImagePolicy, PROJECT_LABEL, RUN_LABEL, Started, list_run,
    remove_run_blocking, startup_timeout,
};
pub use matrix::{Backend, BackendKind, Matrix, MatrixError};
pub use probe::Server;

/// A fresh run id for container labels: the process id and the clock, so that concurrent runs
/// on one engine never share one.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

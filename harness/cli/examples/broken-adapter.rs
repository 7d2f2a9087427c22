//! One of the deliberately broken stores (stores/broken) served over the stdio adapter protocol:
//! `broken-adapter DEFECT`. It lets harness/cli/tests/adapter.rs show that a defect behind
//! `--store 'exec:...'` is caught as it is in-process. A test fixture, never shipped in the CLI.

use std::process::ExitCode;
use std::sync::Arc;

use sessionspec_broken_stores::{BrokenFactory, Defect};

#[tokio::main]
async fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(defect) = Defect::ALL.into_iter().find(|d| d.name() == name) else {
        let known: Vec<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
        eprintln!("usage: broken-adapter DEFECT, one of: {}", known.join(", "));
        return ExitCode::from(2);
    };
    match sessionspec_store_adapter::serve_stdio(Arc::new(BrokenFactory::new(defect))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broken-adapter: {e}");
            ExitCode::FAILURE
        }
    }
}

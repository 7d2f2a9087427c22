//! `sessionspec-tower NAME`: serves the tower-sessions store NAME of the catalog over the stdio
//! adapter protocol, for `sessionspec run --store 'exec:sessionspec-tower NAME'` (or `tower:NAME`).

use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let names: Vec<&str> = sessionspec_tower::catalog::STORES.iter().map(|e| e.name).collect();
    let name = match std::env::args().nth(1) {
        Some(name) if name == "--list" => {
            for e in sessionspec_tower::catalog::STORES {
                println!(
                    "{}\t{} {}\ttower-sessions-core {}\t{}",
                    e.name, e.krate, e.version, e.trait_version, e.backend
                );
            }
            return ExitCode::SUCCESS;
        }
        Some(name) => name,
        None => {
            eprintln!("usage: sessionspec-tower NAME | --list; NAME is one of {}", names.join(", "));
            return ExitCode::from(2);
        }
    };
    let factory = match sessionspec_tower::catalog::factory(&name).await {
        Ok(factory) => factory,
        Err(e) => {
            eprintln!("sessionspec-tower {name}: {e}");
            return ExitCode::from(2);
        }
    };
    match sessionspec_store_adapter::serve_stdio(Arc::new(factory)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessionspec-tower {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

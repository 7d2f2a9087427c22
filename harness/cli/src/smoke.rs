//! `sessionspec smoke`: checks within seconds that an adapter speaks the protocol. The checks
//! live in sessionspec_store_adapter::smoke; this file only parses flags and prints.

use clap::Args;
use sessionspec_targets::adapter;

use crate::run::BackendArgs;
use crate::{EXIT_BAD_INPUT, EXIT_FAILURES, EXIT_OK};

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The adapter: an express-session store factory file (`./my-store.js`, run through the
    /// built-in express adapter), `exec:<command line>` for an adapter in any language (e.g.
    /// 'exec:python3 my_adapter.py'), or a catalog `node:<preset>` store
    #[arg(value_name = "ADAPTER")]
    adapter: String,
    #[command(flatten)]
    backends: BackendArgs,
}

pub async fn smoke(args: SmokeArgs) -> anyhow::Result<u8> {
    let work = tempfile::Builder::new().prefix("sessionspec-smoke-").tempdir()?;
    let (config, _) = match adapter::config(&args.adapter, &args.backends.backends(), work.path()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    eprintln!("smoke: starting `{}`", config.command_line());
    let report = sessionspec_store_adapter::smoke::run(config).await;
    out!("{}", sessionspec_store_adapter::smoke::render(&report));
    Ok(if report.passed() { EXIT_OK } else { EXIT_FAILURES })
}

//! `sessionspec adapter STORE`: one of the catalog's Rust stores, served over the stdio adapter
//! protocol on stdin and stdout (sessionspec_store_adapter::serve_stdio does the serving). It
//! must write nothing on stdout but protocol messages: every diagnostic goes to stderr.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sessionspec_targets::{Family, STORES, StoreKind, adapter};

use crate::run::BackendArgs;
use crate::{EXIT_BAD_INPUT, EXIT_OK};

/// The long help of `sessionspec adapter`.
pub const LONG_ABOUT: &str = "\
Serve a built-in Rust store over the stdio adapter protocol (spec/adapter-protocol.md): requests \
on stdin, responses and events on stdout, diagnostics on stderr.

It is two things:
- A reference adapter, to check the protocol and the harness's client against: `sessionspec \
smoke 'exec:sessionspec adapter memory'` passes every check, and `sessionspec run --store \
'exec:sessionspec adapter memory'` gives every scenario the outcome `--store memory` gives it.
- The way to put a Rust store of another repository behind `--store 'exec:...'`: its \
repository builds a small binary whose main calls \
`sessionspec_store_adapter::serve_stdio(Arc::new(its_factory))`, as this command does for the \
catalog's stores, and runs `sessionspec run --store 'exec:path/to/that-binary'`.

Server-backed stores take their URLs from the flags below or the SESSIONSPEC_*_URL variables, \
which `sessionspec run` passes on to the adapters it starts. Exits 0 after `shutdown` or at the \
end of stdin, and 2 when the store cannot be set up (unknown name, no URL, server unreachable).";

#[derive(Debug, Args)]
pub struct AdapterArgs {
    /// The store to serve: memory, sql-sqlite, postgres, sql-postgres, sql-mysql, redis or mongo
    #[arg(value_name = "STORE")]
    store: String,
    /// Where file-based stores (sql-sqlite) keep their files; `sessionspec run` sets it for the
    /// adapters it starts [default: a temporary directory, removed at exit]
    #[arg(long, env = "SESSIONSPEC_WORK_DIR", hide_env_values = true, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    backends: BackendArgs,
}

pub fn main(args: AdapterArgs) -> anyhow::Result<u8> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the tokio runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: AdapterArgs) -> anyhow::Result<u8> {
    let served: Vec<&str> = STORES.iter().filter(|s| s.family == Family::Reference).map(|s| s.name).collect();
    if !served.contains(&args.store.as_str()) {
        let what = if StoreKind::find(&args.store).is_some() || adapter::handles(&args.store) {
            "is served by an adapter already".to_owned()
        } else {
            match sessionspec_targets::suggest(&args.store).filter(|name| served.contains(name)) {
                Some(name) => format!("is not a store (did you mean `{name}`?)"),
                None => "is not a store".to_owned(),
            }
        };
        eprintln!(
            "error: `{}` {what}; `sessionspec adapter` serves the catalog's Rust stores: {}",
            args.store,
            served.join(", ")
        );
        return Ok(EXIT_BAD_INPUT);
    }
    let mut backends = args.backends.backends();
    backends.work_dir = args.work_dir;
    let resolved = match sessionspec_targets::resolve(std::slice::from_ref(&args.store), &backends).await {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let factory = resolved.targets[0].factory.clone();
    sessionspec_store_adapter::serve_stdio(factory)
        .await
        .context("serving the adapter protocol on stdin and stdout")?;
    Ok(EXIT_OK)
}

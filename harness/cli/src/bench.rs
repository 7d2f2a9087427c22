//! `sessionspec bench`: measure stores against bare-driver loops on the same servers and print
//! pairs per second, latency percentiles and ratios. Figures are reported, never judged: a
//! missed goal does not change the exit code.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sessionspec_bench::{Settings, render_table};

use crate::run::BackendArgs;
use crate::{EXIT_BAD_INPUT, EXIT_OK};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A store to measure (repeatable), with the bare-driver loops it is compared with.
    /// `sessionspec list stores` shows them
    #[arg(short, long = "store", value_name = "NAME", required = true)]
    stores: Vec<String>,
    #[command(flatten)]
    backends: BackendArgs,
    /// Distinct session ids per run; each gets one pair (an upsert with expiry, then a read).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    ids: usize,
    /// Concurrent client counts to measure at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32", value_name = "N,N")]
    clients: Vec<usize>,
    /// Runs per workload and client count; the table shows medians. Five by default: with three,
    /// one slow run of a store or of its loop moves a ratio by a tenth.
    #[arg(long, default_value_t = 5, value_name = "N")]
    runs: usize,
    /// Untimed pairs on other ids before each run.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    warmup: usize,
    /// The most slices a run is cut into: the workloads compared take turns slice by slice, so
    /// a spell of slowness on the machine falls on all of them. Fewer where a slice would give a
    /// client fewer than 100 pairs (10,000 ids: 10 at 1 client, 3 at 32); 1 runs each
    /// workload's ids in one go.
    #[arg(long, default_value_t = 10, value_name = "N")]
    slices: usize,
    /// Measure only these workloads of the stores' (repeatable, by the names the table shows),
    /// e.g. to profile one of them
    #[arg(long = "only", value_name = "WORKLOAD")]
    only: Vec<String>,
    /// Tokio worker threads for the clients and the drivers. 1, the default, runs everything on
    /// one thread (a current-thread runtime): with worker threads on a machine whose cores the
    /// server shares, their wake-ups of one another cost each run a different amount (on 2 CPUs
    /// up to 20 µs of CPU per pair and a third of the throughput at 1 client), which is not the
    /// store's cost and lands on whichever workload draws it. More measures the runtime a
    /// multi-threaded application uses.
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,
    /// Also write the results as JSON to this file (`-` for stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Runs the benchmark on a runtime of the asked size.
pub fn main(args: BenchArgs) -> anyhow::Result<u8> {
    let runtime = match args.threads {
        0 => {
            eprintln!("error: --threads must be at least 1");
            return Ok(EXIT_BAD_INPUT);
        }
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .context("cannot start the tokio runtime")?;
    runtime.block_on(bench(args))
}

async fn bench(args: BenchArgs) -> anyhow::Result<u8> {
    if args.ids == 0 || args.runs == 0 || args.slices == 0 || args.clients.is_empty() || args.clients.contains(&0) {
        eprintln!("error: --ids, --runs, --slices and every --clients count must be at least 1");
        return Ok(EXIT_BAD_INPUT);
    }
    let mut catalog = match sessionspec_bench::workloads(&args.stores, &args.backends.backends()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    if !args.only.is_empty() {
        let names: Vec<String> = catalog.workloads.iter().map(|w| w.name().to_owned()).collect();
        if let Some(unknown) = args.only.iter().find(|o| !names.contains(o)) {
            eprintln!("error: no workload `{unknown}` among the stores' workloads: {}", names.join(", "));
            return Ok(EXIT_BAD_INPUT);
        }
        catalog.workloads.retain(|w| args.only.iter().any(|o| o == w.name()));
    }
    let settings = Settings {
        ids: args.ids,
        clients: args.clients.clone(),
        runs: args.runs,
        warmup: args.warmup,
        slices: args.slices,
    };
    let terminal = std::io::stderr().is_terminal();
    let report = sessionspec_bench::run(&catalog.workloads, &settings, |line| {
        if terminal {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    })
    .await?;
    if terminal {
        eprint!("\r\x1b[2K");
    }
    let json = serde_json::to_string_pretty(&report).context("cannot write the report as JSON")?;
    match args.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            outln!("{json}");
            return Ok(EXIT_OK);
        }
        Some(path) => {
            std::fs::write(path, format!("{json}\n")).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => {}
    }
    out!("{}", render_table(&report));
    Ok(EXIT_OK)
}

//! The `sessionspec` command line: argument parsing, exit codes and dispatch. Everything it
//! does is done by the library crates; this file only wires them to flags and files.

#[macro_use]
mod output;
mod adapter;
mod bench;
mod expect;
mod inspect;
mod matrix;
mod report;
mod run;
mod site;
mod smoke;
mod suite;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

// mimalloc instead of the system allocator: decoding sessions allocates a lot, and with glibc's
// malloc the benchmark measured the allocator as much as the stores (harness/bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Everything went as expected: every case passed or was not applicable; the lint is clean.
pub const EXIT_OK: u8 = 0;
/// At least one case failed, errored or timed out.
pub const EXIT_FAILURES: u8 = 1;
/// Bad input or usage: unknown flags, scenario or spec problems, an unknown or unreachable store.
pub const EXIT_BAD_INPUT: u8 = 2;
/// The run did not finish (interrupted, or cases without a result): not a conformance claim.
pub const EXIT_INCOMPLETE: u8 = 3;

const EXIT_CODES: &str = "\
Exit codes:
  0  all as expected: every case passed or was not applicable (lint: no problems)
  1  failures: at least one case failed, errored or timed out
  2  bad input or usage: bad flags, scenario or spec problems, unknown or unreachable store
  3  incomplete run: interrupted, or some cases produced no result

Environment (a flag given on the command line wins):
  SESSIONSPEC_SCENARIOS, SESSIONSPEC_SPEC      --scenarios, --spec (default: the suite built in)
  SESSIONSPEC_REDIS_URL, SESSIONSPEC_POSTGRES_URL, SESSIONSPEC_MYSQL_URL, SESSIONSPEC_MONGO_URL
                                               --redis-url, --postgres-url, --mysql-url, --mongo-url
  SESSIONSPEC_MATRIX, SESSIONSPEC_IMAGES       --matrix-file, --images
  SESSIONSPEC_WORK_DIR                         adapter --work-dir (set by run for exec: adapters)
  SESSIONSPEC_EXPRESS_ADAPTER    an express adapter package directory: the node:<preset> stores'
                                 (default: stores/express-adapter of the checkout you are in), and
                                 used instead of the built-in adapter for ./store.js files
  SESSIONSPEC_PULL_TIMEOUT       seconds to wait for an image pull (default 300)
  SESSIONSPEC_CONTAINER_HOST     the host published container ports are reached at
  DOCKER_HOST                    the Docker engine for containers (default: the local socket)
  NODE_PATH                      extended with the node_modules around a ./store.js file
  XDG_CACHE_HOME, HOME           where the built-in express adapter is unpacked (sessionspec/)
  NO_COLOR                       no colour in auto mode

Reports: `run` writes results.jsonl (the canonical record), matrix.md and junit.xml;
`report --format summary|markdown|html|junit|jsonl` renders or merges results files,
`report --diff OLD NEW` says what changed, `site RESULTS... --out DIR` builds the static site.
Documentation: README.md and spec/ in the sessionspec repository.";

/// A conformance test harness and spec suite for session stores (the express-session Store
/// family). It runs declarative YAML scenarios against stores and reports which requirements of
/// the spec each store meets.
#[derive(Debug, Parser)]
#[command(name = "sessionspec", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When to use colour on stdout and stderr.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios against stores and write the results, a Markdown matrix and JUnit XML.
    ///
    /// Runs the suite built into this binary unless --scenarios names another. With no --store,
    /// runs against the embedded stores (memory, sql-sqlite), which need no server. Results go to
    /// --out, else target/sessionspec/ in a sessionspec checkout (never its reports/), else
    /// ./sessionspec-results/.
    #[command(after_help = EXIT_CODES)]
    Run(run::RunArgs),
    /// List scenarios, stores, requirements or capabilities.
    List(inspect::ListArgs),
    /// Check every scenario against the spec and print coverage per requirement.
    ///
    /// Reports every problem with file:line:column: unknown keys, malformed durations, unknown
    /// capabilities and requirement IDs, duplicate ids, and MUST or SHOULD requirements no
    /// scenario checks. Exits 2 when there is any problem.
    #[command(after_help = EXIT_CODES)]
    Lint(inspect::LintArgs),
    /// Re-render one or more results files (merged): summary, markdown, html, junit or jsonl.
    #[command(after_help = EXIT_CODES)]
    Report(report::ReportArgs),
    /// Build the static site from results files: which store to pick, a page per store,
    /// requirement and scenario, versions, the matrix with a filter, badges.
    #[command(after_help = EXIT_CODES)]
    Site(site::SiteArgs),
    /// Check within seconds that an adapter speaks the stdio protocol (spec/adapter-protocol.md).
    ///
    /// Starts the adapter, reads its handshake, runs each declared operation once, checks that
    /// undeclared and unknown operations fail with `unsupported`, that events are well-formed,
    /// and that it drops its namespace and shuts down. Exits 1 when a check fails.
    #[command(after_help = EXIT_CODES)]
    Smoke(smoke::SmokeArgs),
    /// Print the JSON Schema of scenario files (kept in spec/scenario.schema.json).
    Schema,
    /// List the backend versions (harness/backends/matrix.toml) and the stores that run on each.
    ///
    /// With --github, print the GitHub Actions `strategy.matrix` as one line of JSON: one job
    /// per backend version, each running `sessionspec run --backend <backend>`.
    #[command(after_help = EXIT_CODES)]
    Matrix(matrix::MatrixArgs),
    /// Measure stores against bare-driver loops on the same servers (pairs/s, p50/p99, ratios).
    ///
    /// One pair is an upsert with expiry plus a read of the same id. Each store named with
    /// --store runs with the bare loops it is compared with, in one process, at each --clients
    /// count, --runs times (medians shown). Figures are reported, never judged: the exit code
    /// does not depend on them. Build with --release for meaningful figures.
    #[command(after_help = EXIT_CODES)]
    Bench(bench::BenchArgs),
    /// Serve a built-in Rust store over the stdio adapter protocol, for `--store 'exec:...'`.
    #[command(long_about = adapter::LONG_ABOUT, after_help = EXIT_CODES)]
    Adapter(adapter::AdapterArgs),
}

/// Where the suite lives.
#[derive(Debug, Clone, Args)]
pub struct SuiteArgs {
    /// A directory of scenarios to use instead of the suite built into this binary (one
    /// subdirectory per area)
    #[arg(long, env = "SESSIONSPEC_SCENARIOS", value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// A spec directory (session-store.md, capabilities.yaml) to check scenarios against
    /// instead of the built-in spec [default: spec/ beside --scenarios when there is one]
    #[arg(long, env = "SESSIONSPEC_SPEC", value_name = "DIR")]
    pub spec: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// How output is coloured, decided once.
#[derive(Debug, Clone, Copy)]
pub struct Colors {
    /// Colour on stdout.
    pub stdout: bool,
    /// Colour on stderr.
    pub stderr: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let colors = Colors {
        stdout: cli.color.enabled(std::io::stdout().is_terminal()),
        stderr: cli.color.enabled(std::io::stderr().is_terminal()),
    };
    let code = match cli.command {
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
            runtime.block_on(run::run(args, colors))
        }
        Command::Bench(args) => bench::main(args),
        Command::Adapter(args) => adapter::main(args),
        Command::Smoke(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
            runtime.block_on(smoke::smoke(args))
        }
        Command::List(args) => inspect::list(args),
        Command::Lint(args) => inspect::lint(args, colors),
        Command::Report(args) => report::report(args, colors),
        Command::Site(args) => site::site(args, colors),
        Command::Matrix(args) => matrix::matrix(args),
        Command::Schema => {
            out!("{}", sessionspec_scenario::schema::scenario_schema());
            Ok(EXIT_OK)
        }
    };
    match code {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

//! Backend versions on the command line: `run --backend kind:version`, `run --matrix`, the
//! `matrix` command (with `--github` for a CI job matrix), and the interrupt path that removes a
//! run's containers however it is stopped. The deciding is done in sessionspec-targets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, ValueEnum};
use sessionspec_containers::{BackendKind, ImagePolicy, Matrix};
use sessionspec_runner::Cancel;
use sessionspec_targets::{BackendRequest, Progress};

use crate::EXIT_OK;

/// Which server versions the server-backed stores run on.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Backend versions")]
pub struct VersionArgs {
    /// Run on this backend version (repeatable): `postgres:15`, every version of a kind
    /// (`redis`; the environment entries, such as `postgres:15-tz-kiritimati`, only by name or
    /// with --matrix), or your own server of that version (`postgres:15=postgres://...`). Each
    /// selected store runs once per version of its kind; with no --store, every store of the
    /// kinds named runs. `sessionspec matrix` lists the versions
    #[arg(long = "backend", value_name = "KIND[:VERSION][=URL]")]
    pub backends: Vec<String>,
    /// Run on every version in the backend matrix
    #[arg(long)]
    pub matrix: bool,
    /// The backend matrix file [default: the one built in, harness/backends/matrix.toml of this release]
    #[arg(long, env = "SESSIONSPEC_MATRIX", value_name = "FILE")]
    pub matrix_file: Option<PathBuf>,
    /// Which images containers run: the official image where it is present or can be pulled,
    /// else the local one (auto); only official; only local (harness/backends/images/build.sh)
    #[arg(long, env = "SESSIONSPEC_IMAGES", value_enum, default_value_t = Images::Auto)]
    pub images: Images,
    /// Never start containers: a backend comes from a URL or a local process
    #[arg(long)]
    pub no_containers: bool,
    /// The backend kind an `exec:` or `./store.js` store needs (postgres, redis, mariadb, mongo),
    /// unless its factory declares `backendKind`
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    pub store_backend: Option<BackendKind>,
}

fn parse_kind(name: &str) -> Result<BackendKind, String> {
    BackendKind::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = BackendKind::ALL.iter().map(|k| k.name()).collect();
        format!("`{name}` is no backend kind; the kinds are: {}", known.join(", "))
    })
}

/// `--images`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Images {
    /// Official where present or pullable, else local.
    Auto,
    /// Official images only.
    Official,
    /// Local images only.
    Local,
}

impl Images {
    fn policy(self) -> ImagePolicy {
        match self {
            Images::Auto => ImagePolicy::Auto,
            Images::Official => ImagePolicy::Official,
            Images::Local => ImagePolicy::Local,
        }
    }
}

impl VersionArgs {
    /// The request for sessionspec-targets: the versions asked for, and how to provide them.
    pub fn request(&self, root: Option<&Path>) -> anyhow::Result<BackendRequest> {
        let matrix = load_matrix(self.matrix_file.as_deref())?;
        let mut request = BackendRequest {
            run: sessionspec_containers::run_id(),
            matrix,
            versions: Vec::new(),
            images: self.images.policy(),
            containers: !self.no_containers,
            scripts: root.map(|r| r.join("harness/backends")).filter(|d| d.join("services.sh").is_file()),
            store_backend: self.store_backend,
        };
        if self.matrix {
            request.select_all();
        }
        for given in &self.backends {
            request.select(given)?;
        }
        Ok(request)
    }
}

/// The matrix file given, else the one built into the binary.
fn load_matrix(file: Option<&Path>) -> anyhow::Result<Matrix> {
    match file {
        Some(path) => Ok(Matrix::load(path)?),
        None => Ok(Matrix::built_in()),
    }
}

/// Watches for Ctrl-C (SIGINT) and SIGTERM from before any container starts until the run ends.
/// The first signal stops the run gracefully; a second stops the running cases at once (their
/// adapters are killed). Either way the run then ends the one usual way: containers removed,
/// the results file's footer written, exit 3. Only a third signal, for a run stuck in cleaning
/// up, removes the run's containers by label and quits at once, also with exit 3.
pub struct Interrupts {
    flag: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Interrupts {
    /// Starts watching; `cancel` stops the runner, `run` is the container run id.
    pub fn watch(cancel: Cancel, run: String) -> Interrupts {
        let flag = Arc::new(AtomicBool::new(false));
        let seen = flag.clone();
        let signals = Signals::new();
        let task = tokio::spawn(async move {
            let Some(mut signals) = signals else { return };
            let mut count = 0;
            while signals.next().await {
                count += 1;
                if count == 1 {
                    eprintln!(
                        "\ninterrupted: finishing the running cases' current steps and cleaning up (Ctrl-C again to quit now)"
                    );
                    seen.store(true, Ordering::SeqCst);
                    cancel.cancel();
                } else if count == 2 {
                    eprintln!(
                        "\ninterrupted again: stopping the running cases now and cleaning up (Ctrl-C once more to quit without cleaning up)"
                    );
                    cancel.abort();
                } else {
                    eprintln!("\ninterrupted a third time: removing this run's containers and quitting");
                    if let Err(e) = sessionspec_containers::remove_run_blocking(&run, Duration::from_secs(20)) {
                        eprintln!("error: {e}");
                    }
                    std::process::exit(i32::from(crate::EXIT_INCOMPLETE));
                }
            }
        });
        Interrupts { flag, task }
    }

    /// Whether a signal came.
    pub fn interrupted(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The signals that stop a run, registered once so that none arriving between two is lost.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Some(Signals { int: signal(SignalKind::interrupt()).ok()?, term: signal(SignalKind::terminate()).ok()? })
        }
        #[cfg(not(unix))]
        Some(Signals {})
    }

    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            tokio::select! {
                got = self.int.recv() => got.is_some(),
                got = self.term.recv() => got.is_some(),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.is_ok()
    }
}

impl Progress for Interrupts {
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }

    fn interrupted(&self) -> bool {
        Interrupts::interrupted(self)
    }
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Print the GitHub Actions `strategy.matrix` (JSON, one line): one job per backend version
    /// that a selected store runs on
    #[arg(long)]
    github: bool,
    /// Only versions these stores run on (repeatable): catalog names, `exec:COMMAND` or a
    /// `./store.js` file with its backend declared [default: every server-backed store]
    #[arg(short, long = "store", value_name = "NAME")]
    stores: Vec<String>,
    /// The backend kind the `exec:` and `./store.js` stores need, unless a factory declares `backendKind`
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    store_backend: Option<BackendKind>,
    /// The backend matrix file [default: the one built in, harness/backends/matrix.toml of this release]
    #[arg(long, env = "SESSIONSPEC_MATRIX", value_name = "FILE")]
    matrix_file: Option<PathBuf>,
}

/// `sessionspec matrix`.
pub fn matrix(args: MatrixArgs) -> anyhow::Result<u8> {
    let matrix = load_matrix(args.matrix_file.as_deref())?;
    let mut selected: Vec<(String, BackendKind)> = Vec::new();
    for s in &args.stores {
        if sessionspec_targets::StoreKind::find(s).is_none() && !sessionspec_targets::adapter::handles(s) {
            let hint = sessionspec_targets::suggest(s).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
            anyhow::bail!("unknown store `{s}`{hint}; `sessionspec list stores` shows them");
        }
        match sessionspec_targets::adapter::declared_backend(s, args.store_backend)? {
            Some(kind) => selected.push((s.clone(), kind)),
            None if sessionspec_targets::StoreKind::find(s).is_some() => {
                eprintln!("{s} needs no server, so it gets no job");
            }
            None => anyhow::bail!(
                "`{s}` declares no backend: pass --store-backend KIND, or export backendKind from the store file"
            ),
        }
    }
    let stores_for = |b: &sessionspec_containers::Backend| -> Vec<String> {
        if args.stores.is_empty() {
            return sessionspec_targets::stores_of(b.kind).into_iter().map(str::to_owned).collect();
        }
        selected.iter().filter(|(_, k)| *k == b.kind).map(|(s, _)| s.clone()).collect()
    };
    if args.github {
        let mut include = Vec::new();
        for b in &matrix.backends {
            let stores = stores_for(b);
            // GitHub's runners use the official images, and no official image has libfaketime.
            if b.clock_offset.is_some() {
                eprintln!(
                    "{}: its clock_offset needs the local image with libfaketime, which the CI jobs do not build, so it gets no job (harness/backends/matrix.sh runs it)",
                    b.key()
                );
                continue;
            }
            if stores.is_empty() {
                eprintln!("{}: no selected store runs on {}, so it gets no job", b.key(), b.kind);
                continue;
            }
            include.push(serde_json::json!({
                "backend": b.key(),
                "id": format!("{}-{}", b.kind, b.version),
                "kind": b.kind.name(),
                "version": b.version,
                "stores": stores.join(" "),
            }));
        }
        if include.is_empty() {
            // `{"include":[]}` makes GitHub fail the workflow with a message about the matrix, not the stores.
            anyhow::bail!("no backend version of the matrix serves the selected stores, so there is no job to run");
        }
        outln!("{}", serde_json::json!({ "include": include }));
    } else {
        outln!("{:<34} {:<20} {:<30} stores", "backend", "official image", "local image");
        for b in &matrix.backends {
            outln!(
                "{:<34} {:<20} {:<30} {}",
                format!("{}{}", b.key(), if b.default { " (default)" } else { "" }),
                b.official,
                b.local,
                stores_for(b).join(", ")
            );
            if let Some(label) = &b.label {
                outln!("    {label}");
            }
        }
    }
    Ok(EXIT_OK)
}

//! Stores behind the stdio adapter protocol: the catalog's `node:<preset>` stores (the npm stores
//! through the repository's stores/express-adapter), `exec:<command line>` for an adapter in any
//! language, and an express-session store factory file (`./my-store.js`) through the express
//! adapter built into sessionspec. Each becomes an [`AdapterFactory`]; the target id is the
//! catalog name, `exec:` plus the implementation's name from the handshake, or `js:` plus it.

use std::path::Path;
use std::sync::Arc;

use sessionspec_runner::Target;
use sessionspec_store_adapter::{AdapterConfig, AdapterFactory, node};

use crate::{BackendKind, Backends, Opens, StoreKind, TargetError};

/// Whether `name` is an adapter target outside the catalog: `exec:...` or a store factory file.
pub fn handles(name: &str) -> bool {
    name.starts_with("exec:") || node::is_store_file(name)
}

/// The backend kind a store needs: the catalog's for a catalog store; for `exec:` and a store
/// file, `given` (`--store-backend`), else, for a store file, the `backendKind` its factory
/// exports (`backendKind: 'redis'`), read by loading the file in Node.js. `None`: no server.
pub fn declared_backend(name: &str, given: Option<BackendKind>) -> Result<Option<BackendKind>, TargetError> {
    if let Some(kind) = StoreKind::find(name) {
        return Ok(kind.backend);
    }
    if given.is_some() || !node::is_store_file(name) {
        return Ok(given);
    }
    let unavailable = |reason: String| TargetError::Unavailable { store: name.to_owned(), reason };
    // The adapter's own checks first (the file, Node.js, express-session), with their advice.
    node::store_file_config(Path::new(name)).map_err(unavailable)?;
    let file = std::path::absolute(name).map_err(|e| unavailable(format!("{name}: {e}")))?;
    // Loading the file is what the adapter does first anyway. It exits once it has answered, so
    // a file that connects or starts timers when loaded cannot keep it waiting.
    const READ: &str = "const m = require(process.argv[1]); const f = m && m.default ? m.default : m; \
                        process.stdout.write(JSON.stringify((f && f.backendKind) ?? null), () => process.exit(0));";
    let output = std::process::Command::new("node")
        .args(["-e", READ])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| unavailable(format!("cannot run node to read the store file's backendKind: {e}")))?;
    if !output.status.success() {
        return Err(unavailable(format!(
            "node cannot load {}:\n{}",
            file.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    match serde_json::from_str::<Option<String>>(&text) {
        Ok(None) => Ok(None),
        Ok(Some(declared)) => BackendKind::from_name(&declared).map(Some).ok_or_else(|| {
            let known: Vec<&str> = BackendKind::ALL.iter().map(|k| k.name()).collect();
            unavailable(format!(
                "{}: backendKind `{declared}` is no backend kind; the kinds are: {}",
                file.display(),
                known.join(", ")
            ))
        }),
        Err(_) => {
            Err(unavailable(format!("{}: backendKind must be a string such as 'redis', not {text}", file.display())))
        }
    }
}

/// Starts the adapter `name` asks for (`exec:` or a factory file) and reads its handshake.
/// Files an adapter keeps (SQLite databases) go to the backends' work directory, or a temporary
/// one pushed onto `temp`.
pub async fn resolve(
    name: &str,
    backends: &Backends,
    temp: &mut Vec<tempfile::TempDir>,
) -> Result<Target, TargetError> {
    let work_dir = crate::work_dir(name, backends, temp)?;
    let (config, id) = config(name, backends, &work_dir)?;
    start(name, config, id).await
}

/// Starts a catalog `node:<preset>` store.
pub(crate) async fn preset(
    kind: &StoreKind,
    preset: &str,
    backends: &Backends,
    temp: &mut Vec<tempfile::TempDir>,
) -> Result<Target, TargetError> {
    let work_dir = crate::work_dir(kind.name, backends, temp)?;
    let unavailable = |reason: String| TargetError::Unavailable { store: kind.name.to_owned(), reason };
    let dir = node::preset_dir().map_err(unavailable)?;
    node::check_installed(&dir).map_err(unavailable)?;
    let config = with_backends(node::preset_config(preset, &dir), backends, &work_dir);
    start(kind.name, config, Some(kind.name.to_owned())).await
}

/// Starts a catalog `tower:<name>` store: ecosystem/tower's `sessionspec-tower NAME`, found at
/// SESSIONSPEC_TOWER_ADAPTER or where `just tower-build` puts it.
pub(crate) async fn tower(
    kind: &StoreKind,
    store: &str,
    backends: &Backends,
    temp: &mut Vec<tempfile::TempDir>,
) -> Result<Target, TargetError> {
    let work_dir = crate::work_dir(kind.name, backends, temp)?;
    let binary = tower_binary().map_err(|reason| TargetError::Unavailable { store: kind.name.to_owned(), reason })?;
    let config = AdapterConfig::new(binary.display().to_string(), [store]);
    start(kind.name, with_backends(config, backends, &work_dir), Some(kind.name.to_owned())).await
}

/// The tower-sessions adapter binary: SESSIONSPEC_TOWER_ADAPTER, else `ecosystem/tower/target/debug/sessionspec-tower`.
fn tower_binary() -> Result<std::path::PathBuf, String> {
    const DEFAULT: &str = "ecosystem/tower/target/debug/sessionspec-tower";
    let (path, source) = match std::env::var_os("SESSIONSPEC_TOWER_ADAPTER") {
        Some(path) => (std::path::PathBuf::from(path), "SESSIONSPEC_TOWER_ADAPTER"),
        None => (std::path::PathBuf::from(DEFAULT), "the default path"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no tower-sessions adapter at {} ({source}): build it with `just tower-build`, or set SESSIONSPEC_TOWER_ADAPTER",
            path.display()
        ))
    }
}

async fn start(name: &str, config: AdapterConfig, id: Option<String>) -> Result<Target, TargetError> {
    let factory = AdapterFactory::start(config)
        .await
        .map_err(|e| TargetError::Unavailable { store: name.to_owned(), reason: e.chain() })?;
    let id = id.unwrap_or_else(|| {
        let prefix = if name.starts_with("exec:") { "exec" } else { "js" };
        format!("{prefix}:{}", slug(&factory.handshake().name))
    });
    Ok(Target { id, factory: Arc::new(factory), faults: None })
}

/// How to start the adapter `name` (`node:<preset>`, `exec:<command line>` or a factory file),
/// and the target id when it is known before the handshake.
pub fn config(
    name: &str,
    backends: &Backends,
    work_dir: &Path,
) -> Result<(AdapterConfig, Option<String>), TargetError> {
    let unavailable = |reason: String| TargetError::Unavailable { store: name.to_owned(), reason };
    if let Some(kind) = StoreKind::find(name)
        && let Opens::NodePreset(preset) = kind.opens
    {
        let dir = node::preset_dir().map_err(unavailable)?;
        node::check_installed(&dir).map_err(unavailable)?;
        return Ok((with_backends(node::preset_config(preset, &dir), backends, work_dir), Some(name.to_owned())));
    }
    if let Some(line) = name.strip_prefix("exec:") {
        let config = AdapterConfig::from_command_line(line).map_err(unavailable)?;
        return Ok((with_backends(config, backends, work_dir), None));
    }
    if node::is_store_file(name) {
        let config = node::store_file_config(Path::new(name)).map_err(unavailable)?;
        return Ok((with_backends(config, backends, work_dir), None));
    }
    Err(unavailable(
        "an adapter is a catalog `node:<preset>` store, `exec:<command line>`, or an express-session store factory file (`./my-store.js`)"
            .to_owned(),
    ))
}

/// Passes the backend URLs and a work directory to the adapter's environment: the store's URL
/// (a fault proxy's, when one stands in front of the server) and, under a proxy, the server's
/// own for the adapter's housekeeping.
fn with_backends(mut config: AdapterConfig, backends: &Backends, work_dir: &Path) -> AdapterConfig {
    for kind in crate::BackendKind::ALL {
        if let Some(url) = backends.url(kind) {
            config = config.env(crate::url_source(kind).1, url.clone());
        }
    }
    for (kind, url) in &backends.admin_urls {
        config = config.env(crate::admin_url_variable(*kind), url.clone());
    }
    config.env("SESSIONSPEC_WORK_DIR", work_dir.display().to_string())
}

fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

//! Stores behind the stdio adapter protocol: `node:<preset>` for the npm stores through
//! stores/express-adapter, and `exec:<command line>` for an adapter in any language. Both become
//! an [`AdapterFactory`]; the target id is what the user typed for `node:`, and `exec:` plus the
//! implementation's name from the handshake for `exec:`.

use std::sync::Arc;

use sessionspec_runner::Target;
use sessionspec_store_adapter::{AdapterConfig, AdapterFactory, node};

use crate::{Backends, TargetError};

/// Whether `name` is an adapter target.
pub fn handles(name: &str) -> bool {
    name.starts_with("node:") || name.starts_with("exec:")
}

/// Starts the adapter `name` asks for and reads its handshake. Files an adapter keeps (SQLite
/// databases) go to the backends' work directory, or a temporary one pushed onto `temp`.
pub async fn resolve(
    name: &str,
    backends: &Backends,
    temp: &mut Vec<tempfile::TempDir>,
) -> Result<Target, TargetError> {
    let work_dir = match &backends.work_dir {
        Some(dir) => dir.clone(),
        None => {
            let t = tempfile::Builder::new().prefix("sessionspec-adapter-").tempdir().map_err(|e| {
                TargetError::Unavailable {
                    store: name.to_owned(),
                    reason: format!("cannot create a temporary directory: {e}"),
                }
            })?;
            let path = t.path().to_owned();
            temp.push(t);
            path
        }
    };
    let (config, id) = config(name, backends, &work_dir)?;
    let factory = AdapterFactory::start(config)
        .await
        .map_err(|e| TargetError::Unavailable { store: name.to_owned(), reason: e.chain() })?;
    let id = id.unwrap_or_else(|| format!("exec:{}", slug(&factory.handshake().name)));
    Ok(Target { id, factory: Arc::new(factory) })
}

/// How to start the adapter `name` (`node:<preset>` or `exec:<command line>`), and the target id
/// when it is known before the handshake.
pub fn config(
    name: &str,
    backends: &Backends,
    work_dir: &std::path::Path,
) -> Result<(AdapterConfig, Option<String>), TargetError> {
    let unavailable = |reason: String| TargetError::Unavailable { store: name.to_owned(), reason };
    if let Some(preset) = name.strip_prefix("node:") {
        let Some(preset) = node::preset(preset) else {
            return Err(TargetError::UnknownStore {
                name: name.to_owned(),
                known: node::PRESETS.iter().map(|p| format!("node:{}", p.name)).collect::<Vec<_>>().join(", "),
            });
        };
        let dir = node::package_dir();
        node::check_installed(&dir).map_err(unavailable)?;
        if let Some(env) = preset.backend_env {
            let (url, flag) = match env {
                "SESSIONSPEC_REDIS_URL" => (&backends.redis_url, "--redis-url"),
                "SESSIONSPEC_POSTGRES_URL" => (&backends.postgres_url, "--postgres-url"),
                "SESSIONSPEC_MYSQL_URL" => (&backends.mysql_url, "--mysql-url"),
                _ => (&backends.mongo_url, "--mongo-url"),
            };
            Backends::require(url, name, flag, env)?;
        }
        Ok((with_backends(node::config(preset, &dir), backends, work_dir), Some(name.to_owned())))
    } else if let Some(line) = name.strip_prefix("exec:") {
        let config = AdapterConfig::from_command_line(line).map_err(unavailable)?;
        Ok((with_backends(config, backends, work_dir), None))
    } else {
        Err(unavailable("an adapter target is `node:<preset>` or `exec:<command line>`".to_owned()))
    }
}

/// Passes the backend URLs and a work directory to the adapter's environment.
fn with_backends(mut config: AdapterConfig, backends: &Backends, work_dir: &std::path::Path) -> AdapterConfig {
    for (key, url) in [
        ("SESSIONSPEC_REDIS_URL", &backends.redis_url),
        ("SESSIONSPEC_POSTGRES_URL", &backends.postgres_url),
        ("SESSIONSPEC_MYSQL_URL", &backends.mysql_url),
        ("SESSIONSPEC_MONGO_URL", &backends.mongo_url),
    ] {
        if let Some(url) = url {
            config = config.env(key, url.clone());
        }
    }
    config.env("SESSIONSPEC_WORK_DIR", work_dir.display().to_string())
}

fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

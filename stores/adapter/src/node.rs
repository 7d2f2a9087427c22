//! The express-session adapter (stores/express-adapter) from the harness's side. A store
//! author's factory file runs through the copy of its JavaScript built into this crate, so a
//! `sessionspec` binary copied anywhere needs only Node.js and the author's own `express-session`.
//! The seed stores' presets (`node:<preset>`) run from this repository's copy, which holds
//! their pinned npm packages. Nothing here decides what a store does; it only starts adapters.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::AdapterConfig;

include!(concat!(env!("OUT_DIR"), "/express_adapter.rs"));

/// Names an express adapter package directory to use instead of the built-in copy and instead
/// of the checkout's `stores/express-adapter`.
pub const ADAPTER_ENV: &str = "SESSIONSPEC_EXPRESS_ADAPTER";

/// The package directory that holds the presets and their npm packages: `SESSIONSPEC_EXPRESS_ADAPTER`,
/// else `stores/express-adapter` of the sessionspec checkout around the current directory.
pub fn preset_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(ADAPTER_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    cwd.ancestors()
        .map(|d| d.join("stores").join("express-adapter"))
        .find(|d| d.join("bin").join("adapter.js").is_file())
        .ok_or_else(|| {
            format!(
                "the node:<preset> stores run the seed npm stores pinned in the sessionspec repository's \
                 stores/express-adapter; run from a checkout after `npm ci` there, or set {ADAPTER_ENV} to \
                 that directory. To test your own express-session store, pass its factory file: --store ./my-store.js"
            )
        })
}

/// Why the package at `dir` cannot run presets, if it cannot: no adapter, no `npm ci`, no Node.js.
pub fn check_installed(dir: &Path) -> Result<(), String> {
    if !dir.join("bin").join("adapter.js").is_file() {
        return Err(format!("the express adapter is not at {} (set {ADAPTER_ENV})", dir.display()));
    }
    if !dir.join("node_modules").join("express-session").is_dir() {
        return Err(format!("the express adapter's npm packages are not installed: run `npm ci` in {}", dir.display()));
    }
    node_on_path()
}

/// The adapter command for a preset: `node DIR/bin/adapter.js --preset NAME`.
pub fn preset_config(preset: &str, dir: &Path) -> AdapterConfig {
    AdapterConfig::new(
        "node",
        [dir.join("bin").join("adapter.js").display().to_string(), "--preset".to_owned(), preset.to_owned()],
    )
}

/// Whether a `--store` value names an express-session store factory file (`./my-store.js`).
pub fn is_store_file(name: &str) -> bool {
    !name.contains(':') && [".js", ".cjs", ".mjs"].iter().any(|ext| name.ends_with(ext))
}

/// The adapter command for an express-session store factory file: the built-in adapter (or
/// `SESSIONSPEC_EXPRESS_ADAPTER`'s) with `--store FILE`, loading `express-session` from where the
/// file's own `require` finds it, so the adapter and the store share one copy.
pub fn store_file_config(file: &Path) -> Result<AdapterConfig, String> {
    let file = std::path::absolute(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if !file.is_file() {
        return Err(format!("the store file {} does not exist", file.display()));
    }
    node_on_path()?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    let mut node_path: Vec<PathBuf> =
        std::env::var_os("NODE_PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    node_path.extend(dir.ancestors().map(|d| d.join("node_modules")).filter(|d| d.is_dir()));
    if !node_path.iter().any(|d| d.join("express-session").join("package.json").is_file()) {
        return Err(format!(
            "express-session is not installed where {} can load it: run `npm install express-session` in {} \
             (the express adapter hands your store the Session and Cookie of that copy)",
            file.display(),
            dir.display()
        ));
    }
    let package = match std::env::var_os(ADAPTER_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => built_in()?,
    };
    let mut config = AdapterConfig::new(
        "node",
        [
            package.join("bin").join("adapter.js").display().to_string(),
            "--store".to_owned(),
            file.display().to_string(),
        ],
    );
    let joined = std::env::join_paths(&node_path).map_err(|e| format!("cannot build NODE_PATH: {e}"))?;
    config = config.env("NODE_PATH", joined.to_string_lossy().into_owned());
    Ok(config)
}

/// Fails with what to install when `node` is not on PATH.
fn node_on_path() -> Result<(), String> {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join("node").is_file())).unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err("Node.js (`node`) is not on PATH: the express adapter runs your store in Node.js 20 or later".into())
    }
}

/// Writes the built-in adapter into the user's cache directory, once per content (a directory
/// named by its digest, written whole and then renamed into place), and returns it.
fn built_in() -> Result<PathBuf, String> {
    let mut hasher = Sha256::new();
    for (path, text) in EXPRESS_ADAPTER {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let digest = format!("{:x}", hasher.finalize());
    let cache = cache_dir().join("sessionspec");
    let dir = cache.join(format!("express-adapter-{}", &digest[..16]));
    if dir.join("bin").join("adapter.js").is_file() {
        return Ok(dir);
    }
    let failed = |e: std::io::Error| format!("cannot write the express adapter into {}: {e}", cache.display());
    std::fs::create_dir_all(&cache).map_err(failed)?;
    let staging = tempfile_dir(&cache).map_err(failed)?;
    for (path, text) in EXPRESS_ADAPTER {
        let target = staging.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(&target, text).map_err(failed)?;
    }
    match std::fs::rename(&staging, &dir) {
        Ok(()) => Ok(dir),
        // Another sessionspec wrote the same content first: use theirs.
        Err(_) if dir.join("bin").join("adapter.js").is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(failed(e))
        }
    }
}

/// `$XDG_CACHE_HOME`, else `~/.cache`, else the temporary directory.
fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

/// A fresh, empty directory inside `parent`.
fn tempfile_dir(parent: &Path) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = parent.join(format!(".express-adapter-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_adapter_is_the_package_in_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("express-adapter");
        assert!(EXPRESS_ADAPTER.iter().any(|(p, _)| *p == "bin/adapter.js"));
        for (path, text) in EXPRESS_ADAPTER {
            assert!(!path.contains("node_modules"), "{path}");
            assert_eq!(std::fs::read_to_string(root.join(path)).unwrap(), *text, "{path}");
        }
    }

    #[test]
    fn store_files_are_told_from_other_store_names() {
        assert!(is_store_file("./my-store.js"));
        assert!(is_store_file("stores/x.mjs"));
        assert!(!is_store_file("node:redis"));
        assert!(!is_store_file("exec:node a.js"));
        assert!(!is_store_file("memory"));
    }

    #[test]
    fn a_store_file_without_express_session_says_what_to_install_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store.js");
        std::fs::write(&file, "module.exports = {}").unwrap();
        match store_file_config(&file) {
            Err(e) if e.contains("not on PATH") => {} // no Node.js here: that message is the answer
            Err(e) => assert!(e.contains(&format!("`npm install express-session` in {}", dir.path().display())), "{e}"),
            Ok(c) => panic!("no express-session, yet {c:?}"),
        }
    }
}

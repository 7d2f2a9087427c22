//! Lists every scenario file and the two spec files the suite is checked against, so that
//! src/lib.rs can build them in with `include_str!`. It reads the directories the crate's
//! `scenarios` and `spec` links lead to (in a packaged crate, copies of them).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let scenarios = manifest.join("scenarios");
    let spec = manifest.join("spec");
    // A directory here makes cargo look at every file below it for changes.
    println!("cargo::rerun-if-changed={}", scenarios.display());
    println!("cargo::rerun-if-changed={}", spec.join("session-store.md").display());
    println!("cargo::rerun-if-changed={}", spec.join("capabilities.yaml").display());

    let mut files = Vec::new();
    walk(&scenarios, &mut files);
    files.sort();
    let mut out = String::from("/// Every scenario file: its path below scenarios/ and its text.\n");
    out.push_str("pub(crate) static SCENARIOS: &[(&str, &str)] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&scenarios).expect("below scenarios/");
        let shown: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let _ = writeln!(out, "    ({:?}, include_str!({:?})),", shown.join("/"), file.display().to_string());
    }
    out.push_str("];\n");
    for (name, file) in [("SPEC", "session-store.md"), ("CAPABILITIES", "capabilities.yaml")] {
        let path = spec.join(file);
        assert!(path.is_file(), "{} is missing", path.display());
        let _ = writeln!(out, "pub(crate) static {name}: &str = include_str!({:?});", path.display().to_string());
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("files.rs"), out).expect("OUT_DIR is writable");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(path);
        }
    }
}

//! Lists the express adapter's JavaScript (stores/express-adapter: package.json, bin/, lib/) so
//! that src/node.rs can build it in with `include_str!`; a binary copied anywhere can then run an
//! express-session store file without this repository. Never its node_modules.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("express-adapter");
    let mut files = vec![root.join("package.json")];
    for dir in ["bin", "lib"] {
        println!("cargo::rerun-if-changed={}", root.join(dir).display());
        walk(&root.join(dir), &mut files);
    }
    println!("cargo::rerun-if-changed={}", root.join("package.json").display());
    files.sort();
    let mut out = String::from("/// The express adapter's files: path below its package directory, and text.\n");
    out.push_str("pub(crate) static EXPRESS_ADAPTER: &[(&str, &str)] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&root).expect("below the package");
        let shown: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let _ = writeln!(out, "    ({:?}, include_str!({:?})),", shown.join("/"), file.display().to_string());
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("express_adapter.rs"), out).expect("OUT_DIR is writable");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().and_then(|e| e.to_str()) == Some("js") {
            out.push(path);
        }
    }
}

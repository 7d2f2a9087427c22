//! The binary copied anywhere works: in an empty directory outside the checkout, with no
//! scenarios/, spec/ or matrix file near it and none of sessionspec's variables set, `run` (the
//! embedded stores and an `exec:` store), `lint`, `list`, `smoke` and `matrix` exit 0 on the suite
//! built into it, and write nothing but their results. `SESSIONSPEC_BINARY` names the binary to
//! copy (`just test-all` sets it to the release build); by default it is the one under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn binary() -> PathBuf {
    std::env::var_os("SESSIONSPEC_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sessionspec").into())
}

/// A directory outside the checkout with a copy of the binary in it.
fn elsewhere() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("sessionspec-elsewhere-").tempdir().expect("a temporary directory");
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    assert!(!dir.path().canonicalize().unwrap().starts_with(&checkout), "the directory must be outside the checkout");
    let binary = binary();
    assert!(
        binary.is_absolute(),
        "SESSIONSPEC_BINARY must be an absolute path (tests run from their crate's directory), not {}",
        binary.display()
    );
    std::fs::copy(&binary, dir.path().join("sessionspec"))
        .unwrap_or_else(|e| panic!("copying {}: {e}", binary.display()));
    dir
}

fn sessionspec(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(dir.join("sessionspec"));
    command.args(args).current_dir(dir).env("XDG_CACHE_HOME", dir.join(".cache")).env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SESSIONSPEC_") {
            command.env_remove(key);
        }
    }
    command.output().expect("the copied binary runs")
}

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_copied_binary_runs_lints_lists_and_smokes_the_suite_built_into_it() {
    let dir = elsewhere();
    let suite = sessionspec_suite::suite();
    let d = dir.path();

    let lint = ok(&sessionspec(d, &["lint", "--quiet"]), "lint");
    assert!(lint.contains(&format!("{} scenarios (the suite built into sessionspec", suite.scenarios.len())), "{lint}");

    let listed = ok(&sessionspec(d, &["list"]), "list");
    assert_eq!(listed.lines().count(), suite.scenarios.len());
    for what in ["stores", "requirements", "capabilities"] {
        ok(&sessionspec(d, &["list", what]), what);
    }
    ok(&sessionspec(d, &["matrix"]), "matrix");

    let smoke = ok(&sessionspec(d, &["smoke", "exec:./sessionspec adapter memory"]), "smoke");
    assert!(smoke.contains("the adapter speaks the protocol"), "{smoke}");

    ok(&sessionspec(d, &["run", "--no-progress"]), "run on the embedded stores");
    let results = std::fs::read_to_string(d.join("sessionspec-results/results.jsonl")).expect("results written");
    let header: serde_json::Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    assert_eq!(header["suite_digest"], suite.digest.as_str(), "the results name the suite built in");

    let exec = sessionspec(d, &["run", "--no-progress", "--store", "exec:./sessionspec adapter memory", "-o", "exec"]);
    let summary = ok(&exec, "run on an exec: store");
    assert!(summary.contains("every applicable case passed"), "{summary}");

    // Nothing but the binary and the results directories: no stray files, no unpacked adapter
    // (no JavaScript store ran).
    let mut left: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["exec", "sessionspec", "sessionspec-results"]);
}

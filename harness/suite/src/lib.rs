//! The sessionspec conformance suite as data: every scenario file and the spec they check,
//! built into this crate at compile time, so the suite goes wherever a binary or a store
//! author's test goes, with no checkout beside it. It only hands out texts and checks them with
//! `sessionspec-scenario`; it never runs anything.
//!
//! ```
//! let suite = sessionspec_suite::suite();
//! assert!(suite.scenarios.iter().any(|s| s.id == "core.get-missing"));
//! assert!(suite.digest.starts_with("sha256:"));
//! ```
#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sessionspec_scenario::{Diagnostic, SourceFile, Spec, Suite};

include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// Where the built-in scenarios are said to be in messages and reports.
pub const SCENARIOS_DIR: &str = "scenarios";
/// Where the built-in spec is said to be.
pub const SPEC_DIR: &str = "spec";

/// The built-in scenario files, shown as `scenarios/<area>/<name>.yaml`.
///
/// ```
/// let files = sessionspec_suite::scenario_files();
/// assert!(files.iter().all(|f| f.file.starts_with("scenarios")));
/// ```
pub fn scenario_files() -> Vec<SourceFile> {
    SCENARIOS
        .iter()
        .map(|(relative, text)| SourceFile {
            file: Path::new(SCENARIOS_DIR).join(relative),
            relative: PathBuf::from(relative),
            text: Ok(Arc::from(*text)),
        })
        .collect()
}

/// The built-in spec: `spec/session-store.md` and `spec/capabilities.yaml`, checked.
///
/// ```
/// let spec = sessionspec_suite::spec().expect("the built-in spec is valid");
/// assert!(spec.requirement("GET-1").is_some());
/// ```
pub fn spec() -> Result<Spec, Vec<Diagnostic>> {
    Spec::parse(Path::new(SPEC_DIR), Arc::from(SPEC), Arc::from(CAPABILITIES))
}

/// Checks the built-in suite as `Suite::load` checks a directory, with the same problems and
/// the same digest as the files it was built from.
///
/// ```
/// let (suite, problems) = sessionspec_suite::load();
/// assert!(problems.is_empty());
/// assert!(suite.is_some());
/// ```
pub fn load() -> (Option<Suite>, Vec<Diagnostic>) {
    match spec() {
        Ok(spec) => Suite::from_files(Path::new(SCENARIOS_DIR), scenario_files(), spec),
        Err(problems) => (None, problems),
    }
}

/// The built-in suite. It is checked by this crate's tests, so it has no problems.
///
/// # Panics
///
/// If the suite built in has a problem, which the crate's tests rule out for every release.
pub fn suite() -> Suite {
    match load() {
        (Some(suite), problems) if problems.is_empty() => suite,
        (_, problems) => {
            let text: Vec<String> = problems.iter().map(|p| p.render(false)).collect();
            panic!("the built-in sessionspec suite has problems:\n{}", text.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_suite_is_the_suite_on_disk() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (disk, problems) = Suite::load(&manifest.join("scenarios"), &manifest.join("spec"));
        assert!(problems.is_empty(), "{problems:?}");
        let disk = disk.expect("loads");
        let built_in = suite();
        assert_eq!(built_in.digest, disk.digest, "the same files give the same digest");
        assert_eq!(built_in.scenarios.len(), disk.scenarios.len());
        assert_eq!(built_in.spec.requirements, disk.spec.requirements);
        let ids = |s: &Suite| s.scenarios.iter().map(|s| (s.id.clone(), s.path.clone())).collect::<Vec<_>>();
        assert_eq!(ids(&built_in), ids(&disk));
    }

    #[test]
    fn built_in_files_are_named_as_in_the_repository() {
        let suite = suite();
        let get = suite.scenarios.iter().find(|s| s.id == "core.get-missing").expect("a core scenario");
        assert_eq!(get.path, Path::new("scenarios/core/get-missing.yaml"));
        assert_eq!(get.file, get.path, "messages name the file as the repository does");
    }
}

//! A suite: every scenario file under a directory, checked against the spec, plus what only
//! shows across files (duplicate ids, requirement coverage) and the digest reports record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
use crate::load::load_text;
use crate::model::Scenario;
use crate::spec::{Level, Requirement, Spec};

/// The checked scenarios of a directory.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The directory they were read from.
    pub root: PathBuf,
    /// The spec they were checked against.
    pub spec: Spec,
    /// The scenarios that loaded without problems, in path order.
    pub scenarios: Vec<Scenario>,
    /// `sha256:` over every scenario file and the spec: what reports record as the suite's
    /// identity.
    pub digest: String,
}

/// How well the suite covers one requirement.
#[derive(Debug, Clone)]
pub struct Coverage<'a> {
    /// The requirement.
    pub requirement: &'a Requirement,
    /// Ids of the scenarios citing it.
    pub scenarios: Vec<&'a str>,
}

/// One scenario file: where it is and its text. The suite built into a binary and a directory
/// on disk both become a list of these.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file as messages show it (`scenarios/core/get-missing.yaml`).
    pub file: PathBuf,
    /// Its path below the scenarios directory (`core/get-missing.yaml`); the first component is
    /// its area.
    pub relative: PathBuf,
    /// Its text, or why it could not be read.
    pub text: Result<Arc<str>, String>,
}

impl Suite {
    /// Loads every `*.yaml` under `root` (one level of area directories) and checks it against
    /// the spec in `spec_dir`. Problems are returned alongside; files with problems are left out.
    pub fn load(root: &Path, spec_dir: &Path) -> (Option<Suite>, Vec<Diagnostic>) {
        let spec = match Spec::load(spec_dir) {
            Ok(spec) => spec,
            Err(problems) => return (None, problems),
        };
        match read_dir(root) {
            Ok(files) => Suite::from_files(root, files, spec),
            Err(d) => (None, vec![d]),
        }
    }

    /// Checks scenario files given with their texts against `spec`. `root` is the scenarios
    /// directory they belong to, as messages show it. Files with problems are left out.
    pub fn from_files(root: &Path, mut files: Vec<SourceFile>, spec: Spec) -> (Option<Suite>, Vec<Diagnostic>) {
        let mut problems = Vec::new();
        files.sort_by(|a, b| a.relative.cmp(&b.relative));
        if files.is_empty() {
            problems.push(Diagnostic::file(root, "no scenario files (*.yaml) found here"));
        }
        let mut scenarios = Vec::new();
        let mut hasher = Sha256::new();
        let mut first_seen: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
        let project_dir = root.file_name().map(PathBuf::from).unwrap_or_default();
        for source in &files {
            let file = &source.file;
            let relative = &source.relative;
            let mut components = relative.components();
            let area = match (components.next(), components.next()) {
                (Some(area), Some(_)) => Some(area.as_os_str().to_string_lossy().into_owned()),
                _ => {
                    problems.push(Diagnostic::file(
                        file,
                        "scenario files live in an area directory: scenarios/<area>/<name>.yaml",
                    ));
                    None
                }
            };
            let text = match &source.text {
                Ok(text) => text,
                Err(e) => {
                    problems.push(Diagnostic::file(file, format!("cannot read: {e}")));
                    continue;
                }
            };
            // Paths hash with `/` on every platform, so a suite has one digest everywhere.
            let hashed: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            hasher.update(hashed.join("/").as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
            let mut loaded = load_text(file, text, area.as_deref(), Some(&spec));
            problems.append(&mut loaded.problems);
            // Duplicate ids are found from the raw id even when the file has other problems.
            if let Some((id, location)) = loaded.id {
                if let Some((first_file, first_line)) = first_seen.get(&id) {
                    problems.push(Diagnostic::at(
                        file,
                        text,
                        location,
                        format!(
                            "duplicate id `{id}`: already used by {}:{first_line}; ids are never reused",
                            first_file.display()
                        ),
                    ));
                    continue;
                }
                first_seen.insert(id, (file.clone(), location.line));
            }
            scenarios.extend(loaded.scenario.map(|mut s| {
                s.path = project_dir.join(relative);
                s
            }));
        }
        hasher.update(spec.text.as_bytes());
        let digest = format!("sha256:{:x}", hasher.finalize());
        (Some(Suite { root: root.to_owned(), spec, scenarios, digest }), problems)
    }

    /// Coverage of every requirement, in spec order.
    pub fn coverage(&self) -> Vec<Coverage<'_>> {
        self.spec
            .requirements
            .iter()
            .map(|requirement| Coverage {
                requirement,
                scenarios: self
                    .scenarios
                    .iter()
                    .filter(|s| s.checks.contains(&requirement.id))
                    .map(|s| s.id.as_str())
                    .collect(),
            })
            .collect()
    }

    /// Problems with coverage: a MUST or SHOULD requirement no scenario checks.
    pub fn coverage_problems(&self) -> Vec<Diagnostic> {
        let spec_file = self.spec.dir.join(crate::spec::SPEC_FILE);
        self.coverage()
            .into_iter()
            .filter(|c| c.scenarios.is_empty() && c.requirement.level != Level::May)
            .map(|c| {
                let location = crate::yaml::Location { line: c.requirement.line, column: 1, offset: 0, len: 1 };
                Diagnostic {
                    file: spec_file.clone(),
                    location: Some(location),
                    message: format!(
                        "{} requirement `{}` has no scenario checking it",
                        c.requirement.level, c.requirement.id
                    ),
                    source: None,
                }
            })
            .collect()
    }

    /// The scenarios `selection` picks, in suite order.
    pub fn select(&self, selection: &Selection) -> Vec<&Scenario> {
        self.scenarios.iter().filter(|s| selection.matches(s)).collect()
    }
}

/// Reads every scenario file under `root` (`*.yaml`, `*.yml`), in path order.
pub fn read_dir(root: &Path) -> Result<Vec<SourceFile>, Diagnostic> {
    Ok(scenario_files(root)?
        .into_iter()
        .map(|file| SourceFile {
            relative: file.strip_prefix(root).unwrap_or(&file).to_owned(),
            text: std::fs::read_to_string(&file).map(Arc::from).map_err(|e| e.to_string()),
            file,
        })
        .collect())
}

/// Every `*.yaml` / `*.yml` file under `root`, sorted.
fn scenario_files(root: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(root, &mut files).map_err(|e| Diagnostic::file(root, format!("cannot read the scenario directory: {e}")))?;
    files.sort();
    Ok(files)
}

/// Which scenarios to run: all of the given filters must match (an empty filter matches all).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    ids: Option<GlobSet>,
    areas: Vec<String>,
    requirements: Vec<String>,
}

impl Selection {
    /// Everything.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Selects by id globs (`touch.*`), areas and requirement IDs.
    pub fn new(id_globs: &[String], areas: &[String], requirements: &[String]) -> Result<Selection, String> {
        let ids = if id_globs.is_empty() {
            None
        } else {
            let mut builder = GlobSetBuilder::new();
            for glob in id_globs {
                builder.add(Glob::new(glob).map_err(|e| format!("bad scenario glob `{glob}`: {e}"))?);
            }
            Some(builder.build().map_err(|e| e.to_string())?)
        };
        Ok(Selection { ids, areas: areas.to_vec(), requirements: requirements.to_vec() })
    }

    /// Whether `scenario` is selected.
    pub fn matches(&self, scenario: &Scenario) -> bool {
        self.ids.as_ref().is_none_or(|g| g.is_match(&scenario.id))
            && (self.areas.is_empty() || self.areas.contains(&scenario.area))
            && (self.requirements.is_empty() || scenario.checks.iter().any(|c| self.requirements.contains(c)))
    }
}

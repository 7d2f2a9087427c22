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
    /// Its text, or why it could not be read (with the position of a byte that is not UTF-8).
    pub text: Result<Arc<str>, Diagnostic>,
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
                Err(problem) => {
                    problems.push(problem.clone());
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

/// Every `*.yaml` file under `root`, read. What is not a regular file (a FIFO, a socket, a
/// device) is not opened but reported; a directory reached again through a symlink is reported
/// once and not walked again.
pub fn read_dir(root: &Path) -> Result<Vec<SourceFile>, Diagnostic> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    scenario_files(root, &mut found, &mut problems)?;
    found.sort();
    let mut files: Vec<SourceFile> = found
        .into_iter()
        .map(|file| SourceFile {
            relative: file.strip_prefix(root).unwrap_or(&file).to_owned(),
            text: read_source(&file),
            file,
        })
        .collect();
    files.extend(problems.into_iter().map(|(file, problem)| SourceFile {
        relative: file.strip_prefix(root).unwrap_or(&file).to_owned(),
        text: Err(problem),
        file,
    }));
    Ok(files)
}

/// The largest scenario file read: far more than any scenario needs, far less than memory.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads one scenario file: a regular file of at most [`MAX_FILE_BYTES`] of UTF-8 text. A byte
/// that is not UTF-8 is reported at its line and column.
pub fn read_source(path: &Path) -> Result<Arc<str>, Diagnostic> {
    use std::io::Read;
    let cannot = |e: std::io::Error| Diagnostic::file(path, format!("cannot read: {e}"));
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(Diagnostic::file(
            path,
            "not a regular file (a FIFO, socket or device?): skipped; scenario files are regular files",
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::file(
            path,
            format!("the file is {} bytes; a scenario file is at most {MAX_FILE_BYTES} bytes", metadata.len()),
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(cannot)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Diagnostic::file(path, format!("the file grew past {MAX_FILE_BYTES} bytes while being read")));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let source: Arc<str> = Arc::from(String::from_utf8_lossy(&bytes).into_owned());
        let location = crate::yaml::Location { line: 1, column: 1, offset: 0, len: 1 };
        return Err(Diagnostic::at(
            path,
            &source,
            location,
            "the file is UTF-16 (it starts with a UTF-16 byte order mark): scenario files are UTF-8 text",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Arc::from(text)),
        Err(e) => {
            let bytes = e.as_bytes();
            let offset = e.utf8_error().valid_up_to();
            let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
            let line = valid.matches('\n').count() + 1;
            let column = valid.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
            let location = crate::yaml::Location { line, column, offset, len: 1 };
            let source: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).into_owned());
            Err(Diagnostic::at(
                path,
                &source,
                location,
                format!("byte 0x{:02X} is not UTF-8: scenario files are UTF-8 text", bytes[offset]),
            ))
        }
    }
}

fn scenario_files(
    root: &Path,
    out: &mut Vec<PathBuf>,
    problems: &mut Vec<(PathBuf, Diagnostic)>,
) -> Result<(), Diagnostic> {
    fn walk(
        dir: &Path,
        seen: &mut Vec<PathBuf>,
        out: &mut Vec<PathBuf>,
        problems: &mut Vec<(PathBuf, Diagnostic)>,
    ) -> std::io::Result<()> {
        let real = std::fs::canonicalize(dir)?;
        if let Some(first) = seen.iter().find(|s| **s == real) {
            let message = format!("a symlink loop: this directory is {} again; not read twice", first.display());
            problems.push((dir.to_owned(), Diagnostic::file(dir, message)));
            return Ok(());
        }
        seen.push(real);
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            let is_yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    if let Err(e) = walk(&path, seen, out, problems) {
                        let message = format!("cannot read the directory: {e}");
                        problems.push((path.clone(), Diagnostic::file(&path, message)));
                    }
                }
                Ok(_) if is_yaml => out.push(path),
                Ok(_) => {}
                Err(e) if is_yaml || std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink()) => {
                    let message = format!("cannot read: {e}");
                    problems.push((path.clone(), Diagnostic::file(&path, message)));
                }
                Err(_) => {}
            }
        }
        Ok(())
    }
    walk(root, &mut Vec::new(), out, problems)
        .map_err(|e| Diagnostic::file(root, format!("cannot read the scenario directory: {e}")))
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

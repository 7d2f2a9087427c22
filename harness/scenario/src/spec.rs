//! The spec registry: requirement IDs and levels read from `spec/session-store.md`, and the
//! capability registry read from `spec/capabilities.yaml`. The linter checks scenarios against
//! both; the registry never invents a requirement the document does not state.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sessionspec_contract::Capability;

use crate::diagnostic::Diagnostic;
use crate::yaml::{self, Location};

/// The file holding the normative spec, inside the spec directory.
pub const SPEC_FILE: &str = "session-store.md";
/// The capability registry, inside the spec directory.
pub const CAPABILITIES_FILE: &str = "capabilities.yaml";

/// An RFC 2119 level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// MUST / MUST NOT.
    Must,
    /// SHOULD / SHOULD NOT.
    Should,
    /// MAY.
    May,
}

impl Level {
    /// `MUST`, `SHOULD` or `MAY`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One requirement of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Stable ID (`TOUCH-3`).
    pub id: String,
    /// Its level.
    pub level: Level,
    /// The level as written (`MUST NOT`).
    pub keyword: String,
    /// The capability a store must declare for it to apply; `None` for core requirements.
    pub profile: Option<Capability>,
    /// The first paragraph of its statement.
    pub statement: String,
    /// The line of its heading.
    pub line: usize,
}

impl Requirement {
    /// The anchor GitHub gives its heading.
    pub fn anchor(&self) -> String {
        self.id.to_lowercase()
    }
}

/// One entry of the capability registry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityEntry {
    /// Its name.
    pub name: String,
    /// One line on what it means.
    pub summary: String,
    /// Store options that need it.
    #[serde(default)]
    pub options: Vec<String>,
}

/// The spec: its version, requirements and capability registry.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// `Version:` of the spec document.
    pub version: String,
    /// Requirements in document order.
    pub requirements: Vec<Requirement>,
    /// The capability registry, in file order.
    pub capabilities: Vec<CapabilityEntry>,
    /// The spec document's text (for the suite digest).
    pub text: Arc<str>,
}

impl Spec {
    /// Reads `session-store.md` and `capabilities.yaml` from `dir`.
    pub fn load(dir: &Path) -> Result<Spec, Vec<Diagnostic>> {
        let spec_path = dir.join(SPEC_FILE);
        let caps_path = dir.join(CAPABILITIES_FILE);
        let text: Arc<str> = match std::fs::read_to_string(&spec_path) {
            Ok(t) => t.into(),
            Err(e) => {
                return Err(vec![Diagnostic::file(&spec_path, format!("cannot read the spec: {e}"))]);
            }
        };
        let capabilities: Arc<str> = match std::fs::read_to_string(&caps_path) {
            Ok(t) => t.into(),
            Err(e) => {
                return Err(vec![Diagnostic::file(&caps_path, format!("cannot read the capability registry: {e}"))]);
            }
        };
        Spec::parse(dir, text, capabilities)
    }

    /// Checks the texts of `session-store.md` and `capabilities.yaml`; `dir` is where they are
    /// said to be in messages (`spec` for the suite built into a binary).
    pub fn parse(dir: &Path, text: Arc<str>, capabilities: Arc<str>) -> Result<Spec, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let (version, requirements) = parse_spec(&dir.join(SPEC_FILE), &text, &mut problems);
        let capabilities = parse_capabilities(&dir.join(CAPABILITIES_FILE), &capabilities, &mut problems);
        if problems.is_empty() {
            Ok(Spec { dir: dir.to_owned(), version: version.unwrap_or_default(), requirements, capabilities, text })
        } else {
            Err(problems)
        }
    }

    /// The requirement with this ID.
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// The registry entry for this capability name.
    pub fn capability(&self, name: &str) -> Option<&CapabilityEntry> {
        self.capabilities.iter().find(|c| c.name == name)
    }
}

fn parse_spec(path: &Path, text: &Arc<str>, problems: &mut Vec<Diagnostic>) -> (Option<String>, Vec<Requirement>) {
    let lines: Vec<&str> = text.lines().collect();
    let offsets: Vec<usize> = text
        .lines()
        .scan(0usize, |pos, line| {
            let start = *pos;
            *pos += line.len() + 1;
            Some(start)
        })
        .collect();
    let at = |i: usize| Location { line: i + 1, column: 1, offset: offsets[i], len: lines[i].len().max(1) };
    let mut version = None;
    let mut requirements: Vec<Requirement> = Vec::new();
    let mut in_code = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(v) = line.strip_prefix("Version: ") {
            if version.is_some() {
                problems.push(Diagnostic::at(path, text, at(i), "a second `Version:` line; the spec has one version"));
            }
            version = Some(v.trim().to_owned());
            continue;
        }
        let Some(id) = line.strip_prefix("#### ") else {
            continue;
        };
        let id = id.trim();
        if !is_requirement_id(id) {
            problems.push(Diagnostic::at(
                path,
                text,
                at(i),
                format!(
                    "`{id}` is not a requirement ID: a level-4 heading holds only an ID like `TOUCH-3` (PREFIX-NUMBER)"
                ),
            ));
            continue;
        }
        if let Some(first) = requirements.iter().find(|r| r.id == id) {
            problems.push(Diagnostic::at(
                path,
                text,
                at(i),
                format!("requirement `{id}` is defined twice (first at line {})", first.line),
            ));
            continue;
        }
        let Some(level_line) = (i + 1..lines.len()).find(|&j| !lines[j].trim().is_empty()) else {
            problems.push(Diagnostic::at(path, text, at(i), format!("requirement `{id}` has no level line")));
            continue;
        };
        let Some((keyword, level, profile)) = parse_level(lines[level_line]) else {
            problems.push(Diagnostic::at(path, text, at(level_line), format!(
                "requirement `{id}`: expected a level line like `**MUST**`, `**SHOULD NOT**` or `**MAY** · profile `touch``"
            )));
            continue;
        };
        let profile = match profile {
            None => None,
            Some(name) => match Capability::from_name(&name) {
                Some(c) => Some(c),
                None => {
                    problems.push(Diagnostic::at(
                        path,
                        text,
                        at(level_line),
                        format!("requirement `{id}` names profile `{name}`, which is not a capability"),
                    ));
                    None
                }
            },
        };
        let statement: Vec<&str> = lines[level_line + 1..]
            .iter()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.trim())
            .collect();
        if statement.is_empty() {
            problems.push(Diagnostic::at(path, text, at(i), format!("requirement `{id}` has no statement")));
        }
        requirements.push(Requirement {
            id: id.to_owned(),
            level,
            keyword,
            profile,
            statement: statement.join(" "),
            line: i + 1,
        });
    }
    if version.is_none() {
        problems.push(Diagnostic::file(path, "the spec has no `Version: X.Y.Z` line"));
    }
    (version, requirements)
}

fn is_requirement_id(id: &str) -> bool {
    let Some((prefix, number)) = id.rsplit_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        && prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0')
}

fn parse_level(line: &str) -> Option<(String, Level, Option<String>)> {
    let rest = line.trim().strip_prefix("**")?;
    let (keyword, rest) = rest.split_once("**")?;
    let level = match keyword {
        "MUST" | "MUST NOT" => Level::Must,
        "SHOULD" | "SHOULD NOT" => Level::Should,
        "MAY" => Level::May,
        _ => return None,
    };
    let rest = rest.trim();
    if rest.is_empty() {
        return Some((keyword.to_owned(), level, None));
    }
    let profile = rest.strip_prefix("· profile `")?.strip_suffix('`')?;
    Some((keyword.to_owned(), level, Some(profile.to_owned())))
}

fn parse_capabilities(path: &Path, text: &Arc<str>, problems: &mut Vec<Diagnostic>) -> Vec<CapabilityEntry> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Registry {
        capabilities: Vec<CapabilityEntry>,
    }
    let node = match yaml::parse(text) {
        Ok(node) => node,
        Err(e) => {
            problems.push(match e.location {
                Some(l) => Diagnostic::at(path, text, l, e.message),
                None => Diagnostic::file(path, e.message),
            });
            return Vec::new();
        }
    };
    let registry: Registry = match serde_path_to_error::deserialize(node.to_json()) {
        Ok(r) => r,
        Err(e) => {
            let segments = crate::load::segments(e.path());
            let location = node.locate(&segments, e.inner().to_string().starts_with("unknown field"));
            problems.push(Diagnostic::at(path, text, location, e.inner().to_string()));
            return Vec::new();
        }
    };
    for (i, entry) in registry.capabilities.iter().enumerate() {
        let location = node.locate(&[yaml::Segment::Key("capabilities".into()), yaml::Segment::Index(i)], false);
        match Capability::from_name(&entry.name) {
            None => problems.push(Diagnostic::at(
                path,
                text,
                location,
                format!(
                    "capability `{}` is not one the store contract knows (harness/contract/src/capability.rs)",
                    entry.name
                ),
            )),
            Some(c) if Capability::ALL.get(i) != Some(&c) => problems.push(Diagnostic::at(
                path,
                text,
                location,
                format!(
                    "capability `{}` is out of order: the registry lists capabilities in the contract's order ({})",
                    entry.name,
                    Capability::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                ),
            )),
            Some(_) => {}
        }
    }
    for cap in Capability::ALL {
        if !registry.capabilities.iter().any(|e| e.name == cap.name()) {
            problems.push(Diagnostic::file(
                path,
                format!("capability `{cap}` of the store contract is missing from the registry"),
            ));
        }
    }
    registry.capabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_profiles() {
        assert_eq!(
            parse_level("**MUST NOT** · profile `touch`"),
            Some(("MUST NOT".into(), Level::Must, Some("touch".into())))
        );
        assert_eq!(parse_level("**SHOULD**"), Some(("SHOULD".into(), Level::Should, None)));
        assert_eq!(parse_level("**MUST** profile touch"), None);
        assert!(is_requirement_id("TOUCH-3") && is_requirement_id("MW-1"));
        assert!(!is_requirement_id("touch-3") && !is_requirement_id("TOUCH") && !is_requirement_id("TOUCH-03"));
    }

    #[test]
    fn reads_requirements_from_markdown() {
        let text: Arc<str> = "# Spec\nVersion: 1.2.0\n\n#### GET-1\n**MUST**\n\nA get of a missing id\nreturns nothing.\n\n*Rationale:* x\n\n#### TOUCH-2\n**SHOULD NOT** · profile `touch`\n\nTouch revives.\n".into();
        let mut problems = Vec::new();
        let (version, reqs) = parse_spec(Path::new("spec.md"), &text, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(version.as_deref(), Some("1.2.0"));
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].statement, "A get of a missing id returns nothing.");
        assert_eq!((reqs[1].level, reqs[1].profile), (Level::Should, Some(Capability::Touch)));
    }
}

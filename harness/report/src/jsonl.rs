//! Reading and writing results files. The writer flushes every record, so a run that dies
//! leaves a readable file without a footer, which readers treat as incomplete.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::model::{CaseResult, FORMAT_VERSION, Footer, Header, Record, Results};

/// A problem reading a results file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("{path}:{line}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What was expected.
        message: String,
    },
}

/// Writes a results file record by record.
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    /// Starts a file with its header.
    pub fn new(mut out: W, header: &Header) -> std::io::Result<Self> {
        write_record(&mut out, &Record::Header(header.clone()))?;
        Ok(Writer { out })
    }

    /// Appends one result.
    pub fn result(&mut self, result: &CaseResult) -> std::io::Result<()> {
        write_record(&mut self.out, &Record::Result(result.clone()))
    }

    /// Ends the file with its footer.
    pub fn finish(mut self, footer: &Footer) -> std::io::Result<W> {
        write_record(&mut self.out, &Record::Footer(footer.clone()))?;
        Ok(self.out)
    }
}

fn write_record(out: &mut impl Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Reads a results file.
pub fn read(path: &Path) -> Result<Results, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io { path: path.to_owned(), source })?;
    parse(path, std::io::BufReader::new(file))
}

/// Parses results from a reader; `path` names it in errors.
pub fn parse(path: &Path, reader: impl BufRead) -> Result<Results, ReadError> {
    let err = |line: usize, message: String| ReadError::Format { path: path.to_owned(), line, message };
    let mut header: Option<Header> = None;
    let mut results = Vec::new();
    let mut footer = None;
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|source| ReadError::Io { path: path.to_owned(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line)
            .map_err(|e| err(n, format!("not a results record ({e}); expected one JSON object per line with \"type\": header, result or footer")))?;
        match (record, &header, &footer) {
            (_, _, Some(_)) => return Err(err(n, "a record after the footer".into())),
            (Record::Header(h), None, _) => {
                if h.format != FORMAT_VERSION {
                    return Err(err(
                        n,
                        format!(
                            "results format {} is not supported (this harness reads format {FORMAT_VERSION})",
                            h.format
                        ),
                    ));
                }
                header = Some(h);
            }
            (Record::Header(_), Some(_), _) => return Err(err(n, "a second header".into())),
            (_, None, _) => return Err(err(n, "the first record must be the header".into())),
            (Record::Result(r), Some(_), None) => results.push(r),
            (Record::Footer(f), Some(_), None) => footer = Some(f),
        }
    }
    let header = header.ok_or_else(|| err(1, "the file is empty: expected a header record".into()))?;
    Ok(Results { header, results, footer })
}

/// Merges results files from several runs (one per CI job, say) into one: targets are
/// concatenated in order, then a store's columns are gathered where it first appears, so runs of
/// one backend version each (`postgres@13`, `sql-postgres@13` / `postgres@15`, ...) read as a
/// single `--matrix` run does (`postgres@13`, `postgres@15`, `sql-postgres@13`, ...). A target id
/// that appears twice keeps its first file's results. The merge is incomplete when any input
/// is, and its reason names each such input's targets.
pub fn merge(files: Vec<Results>) -> Result<Results, String> {
    let mut files = files.into_iter();
    let Some(mut merged) = files.next() else { return Err("nothing to merge".into()) };
    let mut incomplete: Vec<String> = Vec::new();
    let why = |r: &Results| {
        let ids: Vec<&str> = r.header.targets.iter().map(|t| t.id.as_str()).collect();
        let reason = r.footer.as_ref().and_then(|f| f.reason.clone()).unwrap_or_else(|| "no footer".into());
        format!("{}: {reason}", ids.join(", "))
    };
    if merged.incomplete() {
        incomplete.push(why(&merged));
    }
    for next in files {
        if next.header.suite_digest != merged.header.suite_digest {
            return Err(format!(
                "the runs used different suites ({} and {}): results of different suites cannot share a matrix",
                merged.header.suite_digest, next.header.suite_digest
            ));
        }
        if next.incomplete() {
            incomplete.push(why(&next));
        }
        for target in next.header.targets {
            if merged.header.targets.iter().any(|t| t.id == target.id) {
                continue;
            }
            merged.results.extend(next.results.iter().filter(|r| r.target == target.id).cloned());
            merged.header.targets.push(target);
        }
        merged.header.started = merged.header.started.min(next.header.started);
        match (&mut merged.footer, &next.footer) {
            (Some(a), Some(b)) => a.finished = a.finished.max(b.finished),
            (None, Some(b)) => merged.footer = Some(b.clone()),
            _ => {}
        }
    }
    let first: Vec<String> = merged.header.targets.iter().map(|t| t.store.clone()).collect();
    merged.header.targets.sort_by_key(|t| first.iter().position(|s| *s == t.store));
    let counts = merged.counts();
    let finished = merged.footer.as_ref().map(|f| f.finished).unwrap_or(merged.header.started);
    let reason = (!incomplete.is_empty()).then(|| format!("incomplete input runs ({})", incomplete.join("; ")));
    merged.footer = Some(Footer { finished, counts, incomplete: reason.is_some(), reason });
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseResult, Harness, Outcome, Target};
    use chrono::{TimeZone, Utc};

    /// One CI job's results: `store` on one backend version, `outcomes` per scenario.
    fn job(id: &str, version: &str, outcomes: &[(&str, Outcome)], footer: Option<&str>) -> Results {
        let (store, _) = id.split_once('@').unwrap();
        let at = |m| Utc.with_ymd_and_hms(2026, 1, 1, 0, m, 0).unwrap();
        Results {
            header: Header {
                format: FORMAT_VERSION,
                harness: Harness { name: "sessionspec".into(), version: "0.1.0".into() },
                spec_version: "0.1.0".into(),
                suite_digest: "sha256:same".into(),
                started: at(version.len() as u32),
                targets: vec![Target {
                    id: id.into(),
                    store: store.into(),
                    store_version: "0.1.0".into(),
                    language: "rust".into(),
                    backend: "postgres".into(),
                    backend_version: Some(format!("{version}.1")),
                    provider: Some(format!("container sessionspec/postgres:{version} (local image)")),
                    capabilities: vec![],
                }],
            },
            results: outcomes
                .iter()
                .map(|(scenario, outcome)| CaseResult {
                    scenario: (*scenario).into(),
                    area: "core".into(),
                    title: "t".into(),
                    position: format!("scenarios/{scenario}.yaml:1"),
                    checks: vec!["GET-1".into()],
                    level: "MUST".into(),
                    refs: vec![],
                    target: id.into(),
                    outcome: *outcome,
                    duration_ms: 1,
                    attempts: 1,
                    detail: None,
                })
                .collect(),
            footer: footer.map(|reason| Footer {
                finished: at(30),
                counts: Default::default(),
                incomplete: !reason.is_empty(),
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
            }),
        }
    }

    #[test]
    fn per_version_runs_merge_into_one_column_each_grouped_by_store() {
        use Outcome::*;
        let two = |a: Results, b: Results| {
            let mut a = a;
            a.header.targets.extend(b.header.targets);
            a.results.extend(b.results);
            a
        };
        let merged = merge(vec![
            two(
                job("postgres@13", "13", &[("core.a", Pass), ("core.b", Fail)], Some("")),
                job("sql-postgres@13", "13", &[("core.a", Pass)], Some("")),
            ),
            two(
                job("postgres@15", "15", &[("core.a", Pass), ("core.b", Pass)], Some("")),
                job("sql-postgres@15", "15", &[("core.a", Pass)], Some("")),
            ),
            job("postgres@17", "17", &[("core.a", Pass), ("core.b", Pass)], None),
        ])
        .unwrap();
        let ids: Vec<&str> = merged.header.targets.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["postgres@13", "postgres@15", "postgres@17", "sql-postgres@13", "sql-postgres@15"]);
        assert_eq!(merged.results.len(), 8);
        assert_eq!(merged.target_counts("postgres@13").get(&Fail), Some(&1));
        let footer = merged.footer.as_ref().unwrap();
        assert_eq!(footer.counts.get(&Pass), Some(&7));
        assert_eq!(footer.reason.as_deref(), Some("incomplete input runs (postgres@17: no footer)"));
        let md = crate::markdown::render(&merged, &crate::markdown::Links { root: String::new() }, &[]);
        // Each version is a store of its own in the summary; the failure is postgres@13's only.
        for id in ["postgres@13", "postgres@15", "postgres@17", "sql-postgres@13", "sql-postgres@15"] {
            assert!(md.contains(&format!("| [{id}](#store-")), "{id}: {md}");
        }
        assert!(md.contains("postgres 13.1"), "{md}");
        assert!(md.contains("- ❌ fail (MUST) [`core.b`](scenarios/core.b.yaml)"), "{md}");
    }

    #[test]
    fn a_first_file_without_footer_takes_a_later_one_and_stays_incomplete() {
        let merged = merge(vec![
            job("postgres@13", "13", &[("core.a", Outcome::Pass)], None),
            job("postgres@15", "15", &[("core.a", Outcome::Pass)], Some("")),
        ])
        .unwrap();
        let footer = merged.footer.unwrap();
        assert!(footer.incomplete);
        assert_eq!(footer.finished, Utc.with_ymd_and_hms(2026, 1, 1, 0, 30, 0).unwrap());
    }
}

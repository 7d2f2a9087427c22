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
/// concatenated in order; a target id that appears twice keeps its first file's results. The
/// merge is incomplete when any input is.
pub fn merge(files: Vec<Results>) -> Result<Results, String> {
    let mut files = files.into_iter();
    let Some(mut merged) = files.next() else { return Err("nothing to merge".into()) };
    let mut incomplete_reason = merged.incomplete().then(|| "an input run is incomplete".to_owned());
    for next in files {
        if next.header.suite_digest != merged.header.suite_digest {
            return Err(format!(
                "the runs used different suites ({} and {}): results of different suites cannot share a matrix",
                merged.header.suite_digest, next.header.suite_digest
            ));
        }
        if next.incomplete() {
            incomplete_reason = Some("an input run is incomplete".to_owned());
        }
        for target in next.header.targets {
            if merged.header.targets.iter().any(|t| t.id == target.id) {
                continue;
            }
            merged.results.extend(next.results.iter().filter(|r| r.target == target.id).cloned());
            merged.header.targets.push(target);
        }
        merged.header.started = merged.header.started.min(next.header.started);
        if let (Some(a), Some(b)) = (&mut merged.footer, &next.footer) {
            a.finished = a.finished.max(b.finished);
        }
    }
    let counts = merged.counts();
    let finished = merged.footer.as_ref().map(|f| f.finished).unwrap_or(merged.header.started);
    merged.footer =
        Some(Footer { finished, counts, incomplete: incomplete_reason.is_some(), reason: incomplete_reason });
    Ok(merged)
}

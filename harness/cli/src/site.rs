//! `sessionspec site RESULTS... --out DIR`: the static site of `sessionspec_report::site`, from
//! results files (merged), expectation files, the spec's requirement texts and, optionally, the
//! bench's JSON. This file only reads inputs and writes the pages.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sessionspec_report::expectations::Expectations;
use sessionspec_report::site::{self, Requirement};
use sessionspec_report::{jsonl, plural};

use crate::{Colors, EXIT_BAD_INPUT, EXIT_OK, SuiteArgs};

#[derive(Debug, Args)]
pub struct SiteArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    /// Results files (results.jsonl); several are merged, one store version or backend
    /// version per column.
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// The directory to write the site into (created; files of the same names are replaced).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Expectation files: the written reasons of known failures (repeatable).
    #[arg(long = "expectations", value_name = "FILE")]
    expectations: Vec<PathBuf>,
    /// The JSON of `sessionspec bench --json FILE`, drawn on the performance page.
    #[arg(long, value_name = "FILE")]
    bench: Option<PathBuf>,
    /// The base URL that scenario and spec files are linked under [default: this release's
    /// files in the repository]
    #[arg(long, value_name = "URL")]
    source_url: Option<String>,
}

pub fn site(args: SiteArgs, colors: Colors) -> anyhow::Result<u8> {
    let started = std::time::Instant::now();
    let mut files = Vec::new();
    for path in &args.results {
        files.push(jsonl::read(path)?);
    }
    let results = jsonl::merge(files).map_err(anyhow::Error::msg)?;
    let known = args.expectations.iter().map(|p| Expectations::read(p)).collect::<Result<Vec<_>, _>>()?;
    let locations = crate::suite::locate(&args.suite)?;
    let Some(suite) = crate::suite::load(&locations, colors.stderr) else {
        eprintln!("fix the spec problems above: the site quotes each requirement's text");
        return Ok(EXIT_BAD_INPUT);
    };
    let requirements: BTreeMap<String, Requirement> = suite
        .spec
        .requirements
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                Requirement {
                    keyword: r.keyword.clone(),
                    statement: r.statement.clone(),
                    profile: r.profile.map(|p| p.to_string()),
                },
            )
        })
        .collect();
    let bench = match &args.bench {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                serde_json::from_str::<serde_json::Value>(&text)
                    .with_context(|| format!("{}: not the JSON of `sessionspec bench --json`", path.display()))?,
            )
        }
        None => None,
    };
    let source = args.source_url.clone().unwrap_or_else(crate::suite::release_url);
    let pages = site::build(&site::Input {
        results: &results,
        known: &known,
        requirements: &requirements,
        source: &source,
        bench: bench.as_ref(),
    });
    let mut bytes = 0;
    for page in &pages {
        let path = args.out.join(&page.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &page.text).with_context(|| format!("cannot write {}", path.display()))?;
        bytes += page.text.len();
    }
    eprintln!(
        "wrote {} ({} KB, the largest {} KB) into {} in {} ms; open {}",
        plural(pages.len(), "file", "files"),
        bytes / 1024,
        pages.iter().map(|p| p.text.len()).max().unwrap_or(0) / 1024,
        args.out.display(),
        started.elapsed().as_millis(),
        args.out.join("index.html").display()
    );
    Ok(EXIT_OK)
}

//! `sessionspec report`: re-render results files, merging several into one matrix.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use sessionspec_report::{jsonl, markdown};

use crate::Colors;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results files (results.jsonl) to render; several are merged into one matrix.
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// The rendering.
    #[arg(long, value_enum, default_value_t = ReportFormat::Summary)]
    format: ReportFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// For markdown: the path from the output file's directory to the repository root, which
    /// links to scenarios and the spec start from [default: computed from --out]
    #[arg(long, value_name = "PATH")]
    link_root: Option<String>,
    /// For html and markdown: expectation files whose known failures are explained; for junit: known
    /// failures become skipped cases with their reason, stale entries failures (repeatable).
    #[arg(long = "expectations", value_name = "FILE")]
    expectations: Vec<PathBuf>,
    /// Compare two results files (OLD NEW): new failures, fixes, new scenarios. Rendered as
    /// text, or as Markdown for a pull-request comment with --format markdown; exits 1 when
    /// the new run has a failure the old one did not.
    #[arg(long)]
    diff: bool,
    /// For summary: list not-applicable cases too.
    #[arg(long)]
    show_not_applicable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// The terminal summary.
    Summary,
    /// The Markdown compatibility matrix.
    Markdown,
    /// The matrix as one static HTML page (known failures marked with --expectations).
    Html,
    /// JUnit XML.
    Junit,
    /// The (merged) results as JSON lines.
    Jsonl,
}

pub fn report(args: ReportArgs, colors: Colors) -> anyhow::Result<u8> {
    if args.diff {
        return diff(&args);
    }
    let mut files = Vec::new();
    for path in &args.results {
        files.push(jsonl::read(path)?);
    }
    let results = jsonl::merge(files).map_err(anyhow::Error::msg)?;
    let to_file = args.out.is_some();
    let text = match args.format {
        ReportFormat::Summary => {
            sessionspec_report::summary::render(&results, colors.stdout && !to_file, args.show_not_applicable)
        }
        ReportFormat::Markdown | ReportFormat::Html => {
            let root = match args.link_root.clone() {
                Some(root) => root,
                None => {
                    let dir = args.out.as_ref().and_then(|o| {
                        o.parent().map(|p| if p.as_os_str().is_empty() { PathBuf::from(".") } else { p.to_owned() })
                    });
                    match crate::suite::checkout()? {
                        Some(project) => {
                            crate::run::link_root(dir.as_deref().unwrap_or(Path::new(".")), Some(&project))
                        }
                        None => crate::suite::release_url(),
                    }
                }
            };
            let links = markdown::Links { root };
            let known = read_expectations(&args.expectations)?;
            if args.format == ReportFormat::Html {
                sessionspec_report::html::render(&results, &links, &known)
            } else {
                markdown::render(&results, &links, &known)
            }
        }
        ReportFormat::Junit => {
            let known = read_expectations(&args.expectations)?;
            // The results stand for the suite: an entry naming a scenario they lack is stale.
            let ids = results.results.iter().map(|r| r.scenario.clone()).collect();
            let verdict = sessionspec_report::expectations::check(&results, &known, &ids);
            let judged = sessionspec_report::junit::Judged { files: &known, verdict: &verdict };
            sessionspec_report::junit::render(&results, (!known.is_empty()).then_some(judged))
        }
        ReportFormat::Jsonl => {
            let mut out = Vec::new();
            let mut writer = jsonl::Writer::new(&mut out, &results.header)?;
            for r in &results.results {
                writer.result(r)?;
            }
            if let Some(f) = &results.footer {
                writer.finish(f)?;
            }
            String::from_utf8(out).expect("JSON is UTF-8")
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{text}"),
    }
    Ok(crate::run::exit_code(&results))
}

fn read_expectations(paths: &[PathBuf]) -> anyhow::Result<Vec<sessionspec_report::expectations::Expectations>> {
    Ok(paths.iter().map(|p| sessionspec_report::expectations::Expectations::read(p)).collect::<Result<Vec<_>, _>>()?)
}

fn diff(args: &ReportArgs) -> anyhow::Result<u8> {
    let [old, new] = args.results.as_slice() else {
        anyhow::bail!("--diff compares two results files, OLD and NEW; {} given", args.results.len());
    };
    let (old, new) = (jsonl::read(old)?, jsonl::read(new)?);
    let changes = sessionspec_report::diff::compare(&old, &new);
    let text = match args.format {
        ReportFormat::Summary => sessionspec_report::diff::render_text(&changes),
        ReportFormat::Markdown => sessionspec_report::diff::render_markdown(&changes, &old, &new),
        other => anyhow::bail!("--diff renders as summary (text) or markdown, not {other:?}"),
    };
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{text}"),
    }
    Ok(if changes.new_failures.is_empty() { crate::EXIT_OK } else { crate::EXIT_FAILURES })
}

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
    /// For html: expectation files whose known failures the page marks (repeatable).
    #[arg(long = "expectations", value_name = "FILE")]
    expectations: Vec<PathBuf>,
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
    let mut files = Vec::new();
    for path in &args.results {
        let results = jsonl::read(path)?;
        // An incomplete file is still rendered (what it holds is true), and the exit code says 3.
        if let Some(reason) = results.incomplete_reason() {
            eprintln!("warning: {} is incomplete: {reason}", path.display());
        }
        files.push(results);
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
            if args.format == ReportFormat::Html {
                let known = args
                    .expectations
                    .iter()
                    .map(|p| sessionspec_report::expectations::Expectations::read(p))
                    .collect::<Result<Vec<_>, _>>()?;
                sessionspec_report::html::render(&results, &links, &known)
            } else {
                markdown::render(&results, &links)
            }
        }
        ReportFormat::Junit => sessionspec_report::junit::render(&results),
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

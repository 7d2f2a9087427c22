//! `--expectations` and `--write-expectations` for `sessionspec run`: glue between the flags and
//! `sessionspec_report::expectations`. With expectation files, known failures keep the exit code
//! at 0 while new and stale ones make it 1.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sessionspec_report::Results;
use sessionspec_report::expectations::{self, Expectations};

use crate::{EXIT_FAILURES, EXIT_INCOMPLETE, EXIT_OK};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Known failures")]
pub struct ExpectArgs {
    /// An expectation file listing a target's known failures (repeatable): listed failures keep
    /// the exit code at 0; a new failure, or a listed one that passes or fails differently, makes
    /// it 1 (reports/expectations/*.toml)
    #[arg(long = "expectations", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write one expectation file per target into DIR from this run's failures, keeping the
    /// reasons and links of the files given with --expectations
    #[arg(long, value_name = "DIR")]
    pub write_expectations: Option<PathBuf>,
}

/// Reads every file given, so that a bad one stops the run before it starts.
pub fn load(args: &ExpectArgs) -> anyhow::Result<Vec<(String, Expectations)>> {
    args.files.iter().map(|path| Ok((path.display().to_string(), Expectations::read(path)?))).collect()
}

/// Applies the expectation files to the results, writes new files if asked, and returns the
/// exit code: `code` when no file was given. With `json`, stdout gets the verdict as one more
/// JSON line (`"type": "expectations"`) and the human rendering goes to stderr, so stdout stays
/// JSON lines (the npm package's `conformance()` reads it).
pub fn finish(
    args: &ExpectArgs,
    results: &Results,
    suite: &BTreeSet<String>,
    code: u8,
    json: bool,
) -> anyhow::Result<u8> {
    let files = load(args)?;
    let plain: Vec<Expectations> = files.iter().map(|(_, e)| e.clone()).collect();
    if let Some(dir) = &args.write_expectations {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (target, text, count) in expectations::write(results, &plain, "../../spec/session-store.md") {
            let path = dir.join(Expectations::file_name(&target));
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {}: {} of {target}; check each reason and link, then pass it with --expectations",
                path.display(),
                sessionspec_report::plural(count, "known failure", "known failures")
            );
        }
    }
    if files.is_empty() {
        return Ok(code);
    }
    let verdict = expectations::check(results, &plain, suite);
    if json {
        eprint!("{}", expectations::render(&verdict, &files));
        outln!("{}", verdict_json(&verdict));
    } else {
        out!("{}", expectations::render(&verdict, &files));
    }
    Ok(if results.incomplete() {
        EXIT_INCOMPLETE
    } else if verdict.holds() {
        EXIT_OK
    } else {
        EXIT_FAILURES
    })
}

/// The verdict as one JSON line: which failures were listed, which are new, which entries are stale.
fn verdict_json(verdict: &expectations::Verdict) -> serde_json::Value {
    let pair = |(target, scenario): &(String, String)| serde_json::json!({"target": target, "scenario": scenario});
    serde_json::json!({
        "type": "expectations",
        "expected": verdict.expected.iter().map(pair).collect::<Vec<_>>(),
        "new": verdict.new.iter().map(|(target, scenario, outcome, message)| serde_json::json!({
            "target": target, "scenario": scenario, "outcome": outcome, "message": message,
        })).collect::<Vec<_>>(),
        "stale": verdict.stale.iter().map(|(target, scenario, why)| serde_json::json!({
            "target": target, "scenario": scenario, "why": why,
        })).collect::<Vec<_>>(),
        "not_run": verdict.not_run.iter().map(pair).collect::<Vec<_>>(),
    })
}

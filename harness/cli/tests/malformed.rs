//! The malformed-input corpus (tests/malformed/): every file there, linted by the real binary,
//! gives exactly the problems tests/malformed/EXPECTED.toml lists, at the positions it lists; the
//! files under limits/, at the bounds lint allows, pass lint and run on the memory store. Every
//! run of the binary finishes within 30 s and peaks under 1 GiB resident (its own maxrss, from
//! wait4), without a panic (exit 101) or a signal (an abort, a stack overflow).
//!
//! One trial per file (libtest-mimic), so `cargo nextest run` lists and reports each.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};

const TIME_LIMIT: Duration = Duration::from_secs(30);

mod common;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn sessionspec(args: &[&std::ffi::OsStr]) -> Result<common::Finished, Failed> {
    Ok(common::sessionspec(args, &[], TIME_LIMIT)?)
}

/// What EXPECTED.toml says about one file.
struct Expected {
    lint: i32,
    errors: Vec<(String, String)>,
    run: Option<i32>,
}

fn expected_table() -> toml::Table {
    let path = corpus().join("EXPECTED.toml");
    let text = std::fs::read_to_string(&path).expect("tests/malformed/EXPECTED.toml");
    text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expected(entry: &toml::Value) -> Result<Expected, String> {
    let code = |key: &str| entry.get(key).and_then(toml::Value::as_integer).map(|c| c as i32);
    let lint = code("lint").ok_or("no `lint` exit code")?;
    let errors = entry
        .get("errors")
        .and_then(toml::Value::as_array)
        .ok_or("no `errors` list")?
        .iter()
        .map(|e| {
            let e = e.as_str().ok_or("an error is a string")?;
            let (position, message) = e.split_once(' ').ok_or("an error is `LINE:COLUMN MESSAGE`")?;
            Ok((position.to_owned(), message.to_owned()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Expected { lint, errors, run: code("run") })
}

/// A scenarios directory holding `file` as demo/NAME beside a passing scenario, and a spec of
/// one requirement (GET-1, which the passing scenario checks).
fn workspace(file: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let demo = dir.path().join("scenarios/demo");
    std::fs::create_dir_all(&demo).unwrap();
    std::fs::copy(file, demo.join(file.file_name().unwrap())).unwrap();
    std::fs::copy(fixtures().join("run/demo/passes.yaml"), demo.join("passes.yaml")).unwrap();
    let spec = dir.path().join("spec");
    std::fs::create_dir_all(&spec).unwrap();
    std::fs::copy(fixtures().join("spec/capabilities.yaml"), spec.join("capabilities.yaml")).unwrap();
    std::fs::write(
        spec.join("session-store.md"),
        "# Spec\n\nVersion: 9.9.9\n\n#### GET-1\n**MUST**\n\nA get of an id never set returns nothing.\n",
    )
    .unwrap();
    dir
}

fn check(name: &str, expected: &Expected) -> Result<(), Failed> {
    let file = corpus().join(name);
    let dir = workspace(&file);
    let scenarios = dir.path().join("scenarios");
    let spec = dir.path().join("spec");
    let lint = sessionspec(&[
        "lint".as_ref(),
        "--scenarios".as_ref(),
        scenarios.as_os_str(),
        "--spec".as_ref(),
        spec.as_os_str(),
        "--quiet".as_ref(),
    ])?;

    // Every `error:` line, which must all be about the file.
    let linted = scenarios.join("demo").join(file.file_name().unwrap());
    let prefix = format!("error: {}:", linted.display());
    let mut found = Vec::new();
    for line in lint.stderr.lines().filter(|l| l.starts_with("error: ")) {
        let rest = line.strip_prefix(&prefix).ok_or_else(|| format!("an error not about {name}: {line}"))?;
        let mut parts = rest.splitn(3, ':');
        let (line_no, column, message) = (parts.next(), parts.next(), parts.next());
        match (line_no.and_then(|l| l.parse::<usize>().ok()), column.and_then(|c| c.parse::<usize>().ok()), message) {
            (Some(l), Some(c), Some(m)) => found.push((format!("{l}:{c}"), m.trim().to_owned())),
            _ => return Err(format!("an error without LINE:COLUMN: {line}").into()),
        }
    }
    let shown =
        |errors: &[(String, String)]| errors.iter().map(|(p, m)| format!("  {p} {m}")).collect::<Vec<_>>().join("\n");
    let matches = found.len() == expected.errors.len()
        && found.iter().zip(&expected.errors).all(|((fp, fm), (ep, em))| fp == ep && fm.contains(em.as_str()));
    if !matches {
        return Err(format!(
            "{name}: lint reports\n{}\nEXPECTED.toml lists\n{}\n(stderr:\n{})",
            shown(&found),
            shown(&expected.errors),
            lint.stderr
        )
        .into());
    }
    if lint.code != expected.lint {
        return Err(
            format!("{name}: lint exits {}, EXPECTED.toml says {}\n{}", lint.code, expected.lint, lint.stderr).into()
        );
    }
    let problems = lint.stderr.lines().find(|l| l.ends_with("found") && l.contains("problem"));
    match (found.len(), problems) {
        (0, None) => {}
        (1, Some("1 problem found")) => {}
        (n, Some(summary)) if summary == format!("{n} problems found") => {}
        (n, summary) => return Err(format!("{name}: {n} errors, summary line {summary:?}").into()),
    }
    eprintln!("{name}: lint exit {} in {:?}, peak {} KiB", lint.code, lint.elapsed, lint.max_rss_kib);

    let Some(run_code) = expected.run else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&file).unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .ok_or_else(|| format!("{name}: no `id:` line to select the case by"))?
        .trim();
    let out = dir.path().join("out");
    let run = sessionspec(&[
        "run".as_ref(),
        "--scenarios".as_ref(),
        scenarios.as_os_str(),
        "--spec".as_ref(),
        spec.as_os_str(),
        "--store".as_ref(),
        "memory".as_ref(),
        "-k".as_ref(),
        id.as_ref(),
        "--no-progress".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])?;
    if run.code != run_code {
        return Err(format!(
            "{name}: run exits {}, EXPECTED.toml says {run_code}\n{}{}",
            run.code, run.stdout, run.stderr
        )
        .into());
    }
    let results = sessionspec_report::jsonl::read(&out.join("results.jsonl")).map_err(|e| format!("{name}: {e}"))?;
    if results.incomplete() {
        return Err(format!("{name}: the results file is incomplete: {:?}", results.incomplete_reason()).into());
    }
    let cases: Vec<_> = results.results.iter().map(|r| (r.scenario.as_str(), r.target.as_str(), r.outcome)).collect();
    let want_pass = run_code == 0;
    let passed = cases.len() == 1 && cases[0].0 == id && cases[0].1 == "memory" && cases[0].2.is_failure() != want_pass;
    if !passed {
        return Err(format!("{name}: one result for {id} on memory was expected, found {cases:?}").into());
    }
    eprintln!("{name}: run exit {} in {:?}, peak {} KiB", run.code, run.elapsed, run.max_rss_kib);
    Ok(())
}

fn yaml_files(dir: &Path, relative: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("the corpus directory") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel = if relative.is_empty() { name.clone() } else { format!("{relative}/{name}") };
        if path.is_dir() {
            yaml_files(&path, &rel, out);
        } else if name.ends_with(".yaml") {
            out.push(rel);
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let table = expected_table();
    let mut files = Vec::new();
    yaml_files(&corpus(), "", &mut files);
    files.sort();

    let mut trials = Vec::new();
    // The table and the directory name the same files: nothing runs unchecked, nothing stale.
    let listed: Vec<String> = table.keys().cloned().collect();
    let unlisted: Vec<String> = files.iter().filter(|f| !table.contains_key(*f)).cloned().collect();
    let stale: Vec<String> = listed.iter().filter(|f| !files.contains(f)).cloned().collect();
    let count = files.len();
    trials.push(Trial::test("every_file_is_listed_in_expected_toml", move || {
        if count < 140 {
            return Err(format!("only {count} files in tests/malformed").into());
        }
        if !unlisted.is_empty() || !stale.is_empty() {
            return Err(format!("not in EXPECTED.toml: {unlisted:?}; in EXPECTED.toml, no file: {stale:?}").into());
        }
        Ok(())
    }));
    for file in files {
        let Some(entry) = table.get(&file) else { continue };
        let expected = match expected(entry) {
            Ok(e) => e,
            Err(e) => panic!("EXPECTED.toml [{file:?}]: {e}"),
        };
        let name = file.trim_end_matches(".yaml").replace(['/', '-'], "_");
        trials.push(Trial::test(name, move || check(&file, &expected)));
    }
    libtest_mimic::run(&args, trials).exit();
}

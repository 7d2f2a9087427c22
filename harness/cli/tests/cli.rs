//! The `sessionspec` binary as a user meets it: exit codes, error messages, summaries and
//! report renderings, as insta snapshots with volatile parts (times, digests, paths) redacted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn sessionspec(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessionspec"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SESSIONSPEC_SCENARIOS")
        .env_remove("SESSIONSPEC_SPEC")
        // Hermetic: what a developer's shell exports must not change these outputs.
        .env_remove("SESSIONSPEC_REDIS_URL")
        .env_remove("SESSIONSPEC_POSTGRES_URL")
        .env_remove("SESSIONSPEC_MYSQL_URL")
        .env_remove("SESSIONSPEC_MONGO_URL")
        .output()
        .expect("the binary runs")
}

/// `sessionspec run` on the fixtures' `run` scenarios and spec, with `args` after.
fn run_fixtures(args: &[&str]) -> Output {
    let mut all = vec!["run", "--scenarios", "run", "--spec", "spec"];
    all.extend_from_slice(args);
    sessionspec(&all, &fixtures())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({filters => vec![
            (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( UTC|Z)?", "[time]"),
            (r"sha256:[0-9a-f]+", "sha256:[digest]"),
            (r#"time="[0-9.]+""#, r#"time="[t]""#),
            (r#"timestamp="[^"]+""#, r#"timestamp="[t]""#),
            (r"/tmp/\.tmp\w+", "[out]"),
            // Links from a report in a temporary directory to the fixtures are absolute, so
            // they name wherever the checkout happens to be.
            (r"(/[^/\s()\[\]]+)*/harness/cli/tests/fixtures/", "[fixtures]/"),
            (r"sessionspec \d+\.\d+\.\d+", "sessionspec [version]"),
        ]}, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

#[test]
fn lint_reports_each_problem_with_file_line_and_column() {
    let out = sessionspec(&["lint", "--scenarios", "lint", "--spec", "spec", "--quiet"], &fixtures());
    assert_eq!(out.status.code(), Some(2), "lint exits with the bad-input code");
    let stderr = text(&out.stderr);
    for needle in [
        "unknown key `expcet`",
        "malformed duration `10 seconds`",
        "unknown capability `teleport`",
        "duplicate id `core.unknown-capability`",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    snapshot!("lint-errors", stderr);
}

#[test]
fn run_reports_failures_with_a_diff_and_exits_1() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = run_fixtures(&[
        "--store",
        "memory",
        "--no-progress",
        "--show-not-applicable",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    snapshot!("run-summary", text(&out.stdout));
    for file in ["results.jsonl", "matrix.md", "junit.xml"] {
        assert!(out_dir.path().join(file).is_file(), "{file} was not written");
    }
    let markdown = std::fs::read_to_string(out_dir.path().join("matrix.md")).unwrap();
    snapshot!("run-matrix", markdown);
    let junit = std::fs::read_to_string(out_dir.path().join("junit.xml")).unwrap();
    snapshot!("run-junit", junit);

    // Re-rendering the results file gives the same renderings.
    let results = out_dir.path().join("results.jsonl");
    let again = sessionspec(&["report", results.to_str().unwrap(), "--format", "junit"], &fixtures());
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(text(&again.stdout), junit);
}

#[test]
fn run_with_only_passing_scenarios_exits_0_and_json_lines_are_parseable() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = run_fixtures(&["-k", "demo.pass*", "--format", "json", "--out", out_dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let lines: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "result", "result", "footer"], "one result per embedded store");
    assert!(lines[1..3].iter().all(|l| l["outcome"] == "pass"));
    assert_eq!(lines[3]["incomplete"], false);
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let unknown = run_fixtures(&["--store", "mystery"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("unknown store `mystery`; known stores: memory, sql-sqlite"),
        "{}",
        text(&unknown.stderr)
    );

    let typo = run_fixtures(&["--store", "sql-sqlit"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        text(&typo.stderr).contains("unknown store `sql-sqlit` (did you mean `sql-sqlite`?)"),
        "{}",
        text(&typo.stderr)
    );
    assert!(text(&typo.stderr).contains("exec:COMMAND, ./FILE.js"), "stores outside the catalog are named too");

    let nothing = run_fixtures(&["-k", "nothing.*"]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(text(&nothing.stderr).contains("no scenario matches every filter given"));

    let area = run_fixtures(&["--area", "demp"]);
    assert_eq!(area.status.code(), Some(2));
    assert!(
        text(&area.stderr)
            .contains("--area `demp` is no area of the suite (did you mean `demo`?); the areas are: demo"),
        "{}",
        text(&area.stderr)
    );
    let requirement = run_fixtures(&["--requirement", "GET-99"]);
    assert_eq!(requirement.status.code(), Some(2));
    assert!(
        text(&requirement.stderr).contains("--requirement `GET-99` is no requirement of spec"),
        "{}",
        text(&requirement.stderr)
    );

    let usage = sessionspec(&["run", "--jobs", "many"], &fixtures());
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn an_incomplete_results_file_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let run = run_fixtures(&["-k", "demo.pass*", "--store", "memory", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0));
    let full = std::fs::read_to_string(out_dir.join("results.jsonl")).unwrap();
    let cut: String = full.lines().filter(|l| !l.contains("\"type\":\"footer\"")).map(|l| format!("{l}\n")).collect();
    let cut_path = dir.path().join("cut.jsonl");
    std::fs::write(&cut_path, cut).unwrap();
    let report = sessionspec(&["report", cut_path.to_str().unwrap()], &fixtures());
    assert_eq!(report.status.code(), Some(3));
    assert!(text(&report.stdout).contains("INCOMPLETE"), "{}", text(&report.stdout));
}

#[test]
fn help_answers_what_a_user_asks() {
    let top = sessionspec(&["--help"], &fixtures());
    assert_eq!(top.status.code(), Some(0));
    snapshot!("help", text(&top.stdout));
    let run = sessionspec(&["run", "--help"], &fixtures());
    snapshot!("help-run", text(&run.stdout));
}

#[test]
fn the_published_schema_is_current() {
    let out = sessionspec(&["schema"], &fixtures());
    let committed = std::fs::read_to_string(fixtures().join("../../../../spec/scenario.schema.json"))
        .expect("spec/scenario.schema.json exists: regenerate it with `just schema`");
    assert!(
        text(&out.stdout) == committed,
        "spec/scenario.schema.json is stale: regenerate it with `just schema` (sessionspec schema > spec/scenario.schema.json)"
    );
}

#[test]
fn bench_measures_a_store_in_slices_on_one_thread_and_refuses_zero_counts() {
    let out = sessionspec(
        &[
            "bench",
            "--store",
            "memory",
            "--ids",
            "300",
            "--runs",
            "2",
            "--warmup",
            "10",
            "--clients",
            "1,4",
            "--json",
            "-",
        ],
        &fixtures(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report is JSON");
    assert_eq!(report["machine"]["runtime"], "single-threaded");
    assert_eq!(report["slices"], serde_json::json!([3, 1]), "100 pairs a client at least: 3 slices at 1, 1 at 4");
    let rows: Vec<(String, u64, usize)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["workload"].as_str().unwrap().to_owned(),
                r["clients"].as_u64().unwrap(),
                r["runs"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(rows, [("memory".to_owned(), 1, 2), ("memory".to_owned(), 4, 2)]);
    assert!(report["rows"][0]["median"]["pairs_per_sec"].as_f64().unwrap() > 0.0);

    let threaded =
        sessionspec(&["bench", "--store", "memory", "--ids", "50", "--runs", "1", "--threads", "2"], &fixtures());
    assert_eq!(threaded.status.code(), Some(0), "{}", text(&threaded.stderr));
    assert!(text(&threaded.stdout).contains("tokio 2 worker threads"), "{}", text(&threaded.stdout));

    for zero in ["--slices", "--runs", "--threads"] {
        let refused = sessionspec(&["bench", "--store", "memory", zero, "0"], &fixtures());
        assert_eq!(refused.status.code(), Some(2), "{zero} 0");
        assert!(text(&refused.stderr).contains("must be at least 1"), "{zero}: {}", text(&refused.stderr));
    }
}

#[test]
fn matrix_github_plans_jobs_for_an_exec_or_file_store_by_its_declared_backend() {
    let dir = tempfile::tempdir().unwrap();
    let exec = "exec:sessionspec adapter redis";
    let planned = sessionspec(&["matrix", "--github", "--store", exec, "--store-backend", "redis"], dir.path());
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    let jobs: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("one line of JSON");
    let include = jobs["include"].as_array().expect("include");
    assert!(!include.is_empty());
    assert!(include.iter().all(|j| j["kind"] == "redis" && j["stores"] == exec), "{jobs}");

    // A store file declares its own backend kind. (The adapter's check wants express-session
    // beside the file; this file never loads it.)
    let express_session = dir.path().join("node_modules/express-session");
    std::fs::create_dir_all(&express_session).unwrap();
    std::fs::write(express_session.join("package.json"), "{}").unwrap();
    std::fs::write(dir.path().join("store.js"), "module.exports = { backendKind: 'mongo' };\n").unwrap();
    let declared = sessionspec(&["matrix", "--github", "--store", "./store.js"], dir.path());
    assert_eq!(declared.status.code(), Some(0), "{}", text(&declared.stderr));
    let jobs: serde_json::Value = serde_json::from_slice(&declared.stdout).unwrap();
    assert!(jobs["include"].as_array().unwrap().iter().all(|j| j["kind"] == "mongo"), "{jobs}");

    std::fs::write(dir.path().join("typo.js"), "module.exports = { backendKind: 'mongodb' };\n").unwrap();
    let typo = sessionspec(&["matrix", "--github", "--store", "./typo.js"], dir.path());
    assert_eq!(typo.status.code(), Some(2));
    assert!(text(&typo.stderr).contains("backendKind `mongodb` is no backend kind"), "{}", text(&typo.stderr));

    // Undeclared, or a store that needs no server: an error, never `{"include":[]}`.
    let undeclared = sessionspec(&["matrix", "--github", "--store", exec], dir.path());
    assert_eq!(undeclared.status.code(), Some(2));
    assert!(text(&undeclared.stderr).contains("declares no backend: pass --store-backend KIND"));
    let serverless = sessionspec(&["matrix", "--github", "--store", "memory"], dir.path());
    assert_eq!(serverless.status.code(), Some(2), "{}", text(&serverless.stdout));
    assert!(text(&serverless.stdout).is_empty());
    assert!(text(&serverless.stderr).contains("no job to run"), "{}", text(&serverless.stderr));
}

#[test]
fn json_output_ends_with_the_expectations_verdict_as_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("memory.toml");
    std::fs::write(
        &file,
        "target = \"memory\"\n\n[[known]]\nscenario = \"demo.never-there\"\noutcome = \"fail\"\nreason = \"r\"\nlink = \"l\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = run_fixtures(&[
        "--store",
        "memory",
        "-k",
        "demo.passes",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
        "--expectations",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1), "a stale entry fails the run: {}", text(&run.stderr));
    let records: Vec<serde_json::Value> =
        text(&run.stdout).lines().map(|l| serde_json::from_str(l).expect("stdout is JSON lines only")).collect();
    let verdict = records.last().expect("records");
    assert_eq!(verdict["type"], "expectations", "{verdict}");
    assert_eq!(verdict["stale"][0]["scenario"], "demo.never-there", "{verdict}");
    assert!(text(&run.stderr).contains("STALE demo.never-there on memory"), "the human verdict goes to stderr");
}

//! Adapters that break the protocol (tests/fixtures/adapters/misbehave.sh, one way each) never
//! take a run down: it ends with an exit code of the README's table (2 when the adapter cannot
//! even answer `hello`, else 1 for the cases it spoiled), writes a complete results file (its
//! footer), errors carry the adapter's stderr tail, nothing the adapter started is left running,
//! and the run stays within 60 s and 1 GiB resident without a panic or a signal.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rstest::rstest;
use sessionspec_report::Outcome;

mod common;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The processes the adapter wrote down that are still there (zombies, already dead, aside).
fn left_running(pids: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(pids) else { return Vec::new() };
    text.lines()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
                .unwrap_or(false)
        })
        .map(str::to_owned)
        .collect()
}

/// What a run with the adapter in `mode` must show.
enum Expect {
    /// `hello` fails: exit 2, no results, and stderr says so with this and the adapter's stderr.
    CannotRun(&'static str),
    /// Exit 1; at least one case errors, and its message holds one of these and the stderr tail.
    Errors(&'static [&'static str]),
    /// Exit 1; cases time out (the adapter stops answering).
    TimesOut,
    /// Exit 1, whatever the cases' outcomes (a flood is read, or it outlasts the step), and the
    /// run peaks under this many MiB: what the adapter floods is not kept.
    StaysUnder(i64),
    /// Exit 1 for the cases the store that keeps nothing fails, and no case errors: what the
    /// adapter did after its last answer spoils nothing.
    OnlyFails,
}

#[rstest]
#[case::exit_before_hello("exit-before-hello", 1, Expect::CannotRun("the adapter process exited with status 5"))]
#[case::exit_after_hello("exit-after-hello", 1, Expect::Errors(&["the adapter process exited with status 5"]))]
#[case::exit_at_first_request("exit", 1, Expect::Errors(&["the adapter process exited with status 7"]))]
#[case::exit_mid_scenario("exit", 3, Expect::Errors(&["the adapter process exited with status 7"]))]
#[case::exit_at_shutdown("exit-at-shutdown", 1, Expect::OnlyFails)]
#[case::garbage("garbage", 2, Expect::Errors(&["`this is not JSON` is not JSON"]))]
#[case::silence("silence", 2, Expect::TimesOut)]
#[case::wrong_seq("wrong-seq", 2, Expect::Errors(&["which the harness never sent"]))]
#[case::duplicate("duplicate", 2, Expect::Errors(&["a second response to seq"]))]
#[case::flood_lines("flood-lines", 2, Expect::StaysUnder(200))]
#[case::flood_no_newline("flood-no-newline", 2, Expect::Errors(&[
    "a line on stdout longer than 134217728 bytes",
    // Reading 128 MiB took longer than the hang check (a loaded machine): stopped as hung.
    "answered neither",
]))]
#[case::stderr_flood("stderr-flood", 2, Expect::Errors(&["[cut]"]))]
#[case::non_utf8_stdout("non-utf8-stdout", 2, Expect::Errors(&["a line on stdout that is not UTF-8"]))]
#[case::non_utf8_stderr("non-utf8-stderr", 2, Expect::Errors(&["misbehave: \u{FFFD}\u{FFFD} not UTF-8"]))]
#[case::ignores_eof_and_shutdown("ignore-eof", 1, Expect::OnlyFails)]
fn a_misbehaving_adapter_never_takes_the_run_down(#[case] mode: &str, #[case] at: u32, #[case] expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let (out, pids) = (dir.path().join("out"), dir.path().join("pids"));
    let store = format!("exec:'{}' {mode} {at}", fixtures().join("adapters/misbehave.sh").display());
    let (scenarios, spec) = (fixtures().join("run"), fixtures().join("spec"));
    let args: Vec<&OsStr> = vec![
        "run".as_ref(),
        "--scenarios".as_ref(),
        scenarios.as_os_str(),
        "--spec".as_ref(),
        spec.as_os_str(),
        "--store".as_ref(),
        store.as_ref(),
        "--step-timeout".as_ref(),
        // Short, for the silent adapter; the 140 MB flood must be read (or found hung) first.
        (if mode == "flood-no-newline" { "30s" } else { "2s" }).as_ref(),
        "--no-progress".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    let run = common::sessionspec(&args, &[("MISBEHAVE_PIDS", pids.as_os_str())], Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
    let shown = format!("{mode}: exit {}\n{}{}", run.code, run.stdout, run.stderr);
    eprintln!("{mode} at {at}: exit {} in {:?}, peak {} KiB", run.code, run.elapsed, run.max_rss_kib);

    // Let the kernel finish what the harness killed before looking.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(left_running(&pids), Vec::<String>::new(), "{mode}: processes left running\n{shown}");
    assert!(std::fs::read_to_string(&pids).is_ok_and(|p| !p.is_empty()), "{mode}: the adapter ran");

    if let Expect::CannotRun(needle) = expect {
        assert_eq!(run.code, 2, "{shown}");
        assert!(run.stderr.contains("cannot run") && run.stderr.contains(needle), "{shown}");
        assert!(run.stderr.contains(&format!("misbehave: {mode}")), "the stderr tail: {shown}");
        return;
    }
    assert_eq!(run.code, 1, "{shown}");
    let results =
        sessionspec_report::jsonl::read(&out.join("results.jsonl")).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert!(!results.incomplete(), "{mode}: the results are complete: {:?}\n{shown}", results.incomplete_reason());
    assert_eq!(results.results.len(), 3, "{mode}: a result per scenario\n{shown}");
    let count = |outcome: Outcome| results.results.iter().filter(|r| r.outcome == outcome).count();
    match expect {
        Expect::Errors(needles) => {
            let errors: Vec<&str> = results
                .results
                .iter()
                .filter(|r| r.outcome == Outcome::Error)
                .filter_map(|r| r.detail.as_ref().map(|d| d.message.as_str()))
                .collect();
            assert!(!errors.is_empty(), "{mode}: a case errors\n{shown}");
            for message in errors {
                assert!(needles.iter().any(|n| message.contains(n)), "{mode}: one of {needles:?} in {message}");
                let tail = message.split_once("the adapter's stderr ended with:\n").map(|(_, tail)| tail);
                assert!(tail.is_some_and(|t| t.contains("  misbehave: ")), "{mode}: the stderr tail in {message}");
                assert!(message.len() < 30 * 1024, "{mode}: a bounded message, {} bytes", message.len());
            }
        }
        Expect::TimesOut => assert!(count(Outcome::Timeout) >= 1, "{mode}: a case times out\n{shown}"),
        Expect::StaysUnder(mib) => assert!(run.max_rss_kib < mib * 1024, "{mode}: peaked at {} KiB", run.max_rss_kib),
        Expect::OnlyFails => {
            assert_eq!(count(Outcome::Error) + count(Outcome::Timeout), 0, "{mode}\n{shown}");
            assert!(count(Outcome::Fail) >= 1, "{mode}\n{shown}");
        }
        Expect::CannotRun(_) => unreachable!(),
    }
}

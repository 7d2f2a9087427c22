//! Fuzzing on stable Rust: scenario files made from the suite's own (scenarios/) and the
//! malformed corpus (harness/cli/tests/malformed/) by random byte, token and line mutations, and
//! files of random bytes, are read, parsed, checked and compiled without a panic, each within
//! a time bound. proptest draws a fixed number of cases per run; a failure is shrunk to a
//! small input and kept in fuzz.proptest-regressions beside this file, to be run first after.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;
use sessionspec_scenario::{Spec, load_file, load_text};

/// One input, however malformed, is done within this (a debug build; a few ms is usual).
const BOUND: Duration = Duration::from_secs(3);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::load(&root().join("spec")).expect("spec/ loads"))
}

/// The seed corpus: (area, bytes) of every scenario file and every malformed one.
fn seeds() -> &'static [(String, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out = Vec::new();
        collect(&root().join("scenarios"), &mut out);
        collect(&root().join("harness/cli/tests/malformed"), &mut out);
        assert!(out.len() > 300, "the seed corpus is there: {} files", out.len());
        out
    })
}

fn collect(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("a corpus directory").map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            let area = path.parent().and_then(Path::file_name).unwrap().to_string_lossy().into_owned();
            out.push((area, std::fs::read(&path).unwrap()));
        }
    }
}

/// Text that means something to YAML or to the scenario language.
const TOKENS: &[&str] = &[
    ":",
    " ",
    "\n",
    "\r\n",
    "\t",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!tag ",
    "!!str ",
    "? ",
    "|",
    ">-",
    "'",
    "\"",
    "#",
    "%YAML 1.2\n",
    "@",
    "`",
    "---\n",
    "...\n",
    "<<: ",
    "~",
    "null",
    "true",
    "no",
    "-0",
    "0x1F",
    "1e999",
    "-.inf",
    ".nan",
    "18446744073709551616",
    "-9223372036854775809",
    "\u{feff}",
    "é😀",
    "\u{0}",
    "\u{7f}",
    "\\",
    "expect: ",
    "session: ",
    "concurrently: ",
    "repeat: 1000",
    "steps: []",
    "on: ",
    "save: x",
    "{$nest: {depth: 112, key: k, leaf: 1}}",
    "{$repeat: {text: ab, times: 16777216}}",
    "{$time: +36500d}",
    "{$saved: x.y}",
    "{$var: i}",
    "${i}",
    "$${",
    "36500d",
    "-1s",
    "advance: 36500d",
    "one-of: ",
    "events: ",
    "$count",
    "$not",
    "requires: [",
    "checks: [",
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, Vec<u8>),
    Token(usize, usize),
    Delete(usize, usize),
    Replace(usize, u8),
    Duplicate(usize, usize),
    Truncate(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Mutation::Token(p, t)),
        (any::<usize>(), 1..64usize).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Replace(p, b)),
        (any::<usize>(), 1..256usize).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match m {
            Mutation::Insert(p, b) => {
                let i = at(*p, bytes.len());
                bytes.splice(i..i, b.iter().copied());
            }
            Mutation::Token(p, t) => {
                let i = at(*p, bytes.len());
                bytes.splice(i..i, TOKENS[*t].bytes());
            }
            Mutation::Delete(p, n) => {
                let i = at(*p, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Replace(p, b) => {
                if !bytes.is_empty() {
                    let i = p % bytes.len();
                    bytes[i] = *b;
                }
            }
            Mutation::Duplicate(p, n) => {
                let i = at(*p, bytes.len());
                let end = (i + n).min(bytes.len());
                let copy = bytes[i..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Mutation::Truncate(p) => {
                let i = at(*p, bytes.len());
                bytes.truncate(i);
            }
            Mutation::SwapLines(a, b) => {
                let mut lines: Vec<Vec<u8>> = bytes.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
                let n = lines.len();
                lines.swap(a % n, b % n);
                bytes = lines.join(&b'\n');
            }
        }
    }
    bytes
}

/// Loads `bytes` as a scenario file in `area`, from disk (the reader's checks included) and,
/// when it is UTF-8, from text; the time bound holds for each.
fn check(area: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(area).join("fuzzed.yaml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let start = Instant::now();
    let loaded = load_file(&path, Some(area), Some(spec()));
    let took = start.elapsed();
    prop_assert!(took < BOUND, "load_file took {took:?}");
    // Every problem has a position in the file or names the file.
    for problem in &loaded.problems {
        prop_assert!(!problem.message.is_empty());
        prop_assert_eq!(&problem.file, &path);
    }
    prop_assert!(
        loaded.scenario.is_some() == loaded.problems.is_empty(),
        "a scenario exactly when there is no problem"
    );
    if let Ok(text) = std::str::from_utf8(bytes) {
        let start = Instant::now();
        let again = load_text(&path, &Arc::from(text), Some(area), Some(spec()));
        prop_assert!(start.elapsed() < BOUND, "load_text took {:?}", start.elapsed());
        prop_assert_eq!(again.problems.len(), loaded.problems.len(), "the file and its text give the same problems");
    }
    Ok(())
}

/// A fixed number of cases for `just test`; PROPTEST_CASES asks for more (a longer local hunt).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(Config { cases: cases(600), ..Config::default() })]

    #[test]
    fn mutated_scenario_files_never_panic(seed in any::<prop::sample::Index>(), mutations in proptest::collection::vec(mutation(), 1..10)) {
        let (area, bytes) = seed.get(seeds());
        check(area, &apply(bytes.clone(), &mutations))?;
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), area in prop::sample::select(vec!["core", "touch", "x"])) {
        check(area, &bytes)?;
    }

    #[test]
    fn random_token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..200)) {
        let text: String = tokens.iter().map(|&t| TOKENS[t]).collect();
        check("core", text.as_bytes())?;
    }
}

#[test]
fn the_seed_corpus_loads_as_expected() {
    // The suite's own files (271 of them) have no problem.
    let mut clean = 0;
    for (area, bytes) in seeds() {
        let text = String::from_utf8_lossy(bytes);
        let loaded = load_text(Path::new("seed.yaml"), &Arc::from(text.as_ref()), Some(area), Some(spec()));
        clean += usize::from(loaded.problems.is_empty());
    }
    assert!(clean >= 271, "{clean} seeds load cleanly");
}

//! Fuzzing on stable Rust: results files made from real ones (tests/fixtures/, and a sample of
//! reports/compatibility.jsonl) by line edits (dropped, repeated, swapped, cut short), JSON edits
//! inside a record (a member replaced, removed or added) and byte edits are read by the reader
//! `sessionspec report` uses (`jsonl::parse`), and what it accepts is merged and rendered in
//! every format `report` writes, without a panic and within a time bound. proptest draws a fixed
//! number of cases per run; a failure is shrunk and kept in the
//! .proptest-regressions file beside this one, run first after.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};
use sessionspec_report::{html, jsonl, junit, markdown, summary};

/// One file, however damaged, is read and rendered within this (a debug build).
const BOUND: Duration = Duration::from_secs(5);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seed files, as lines.
fn seeds() -> &'static [Vec<String>] {
    static SEEDS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let read = |p: PathBuf| -> Vec<String> {
            std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .lines()
                .map(str::to_owned)
                .collect()
        };
        let mut seeds = vec![
            read(root().join("tests/fixtures/fixtures-run.jsonl")),
            read(root().join("tests/fixtures/adapter-died.jsonl")),
        ];
        // The committed compatibility results: the header, a few results of each outcome (with
        // their details and diffs), the footer.
        let all = read(root().join("../../reports/compatibility.jsonl"));
        let mut sample = vec![all[0].clone()];
        for outcome in ["pass", "fail", "error", "not-applicable", "timeout"] {
            let needle = format!("\"outcome\":\"{outcome}\"");
            sample.extend(all.iter().filter(|l| l.contains(&needle)).take(6).cloned());
        }
        sample.push(all.last().expect("a footer").clone());
        seeds.push(sample);
        seeds
    })
}

/// A fixed number of cases for `just test`; PROPTEST_CASES asks for more (a longer local hunt).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Reads `text` as a results file and renders what reads, as `sessionspec report` does.
fn check(text: &str) -> Result<(), TestCaseError> {
    let start = Instant::now();
    let path = Path::new("fuzzed.jsonl");
    match jsonl::parse(path, text.as_bytes()) {
        Ok(results) => {
            let _ = results.incomplete_reason();
            let links = markdown::Links { root: "../".to_owned() };
            let rendered = [
                summary::render(&results, false, true),
                summary::render(&results, true, false),
                markdown::render(&results, &links, &[]),
                html::render(&results, &links, &[]),
                junit::render(&results, None),
            ];
            prop_assert!(rendered.iter().all(|r| !r.is_empty()));
            // Merged with a clean file, as `report A B` does: merged, or refused with a reason.
            let clean = jsonl::parse(path, seeds()[0].join("\n").as_bytes()).expect("the seed reads");
            if let Err(reason) = jsonl::merge(vec![results, clean]) {
                prop_assert!(!reason.is_empty());
            }
        }
        Err(e) => prop_assert!(e.to_string().starts_with("fuzzed.jsonl"), "the error names the file: {}", e),
    }
    let took = start.elapsed();
    prop_assert!(took < BOUND, "{took:?} for one file");
    Ok(())
}

#[derive(Debug, Clone)]
enum LineEdit {
    Drop(usize),
    Repeat(usize),
    Swap(usize, usize),
    Cut(usize, usize),
    Insert(usize, String),
    Json(usize, String, Value),
    Byte(usize, usize, u8),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "pass",
            "fail",
            "error",
            "not-applicable",
            "timeout",
            "header",
            "result",
            "footer",
            "memory",
            "core.get-missing",
            "MUST",
            "GET-1",
            "2030-01-01T00:00:00Z",
            "",
            "<script>",
            "a|b",
            "\n",
            "`",
            "](x)",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((any::<String>(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// The members of a record worth changing (others are reached as `x`).
const MEMBERS: &[&str] = &[
    "type",
    "format",
    "scenario",
    "target",
    "outcome",
    "detail",
    "duration_ms",
    "attempts",
    "counts",
    "incomplete",
    "targets",
    "id",
    "requirements",
    "level",
    "checks",
    "diff",
    "message",
    "step",
    "harness",
    "started",
    "finished",
    "x",
];

fn line_edit() -> impl Strategy<Value = LineEdit> {
    prop_oneof![
        any::<usize>().prop_map(LineEdit::Drop),
        any::<usize>().prop_map(LineEdit::Repeat),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| LineEdit::Swap(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| LineEdit::Cut(a, b)),
        (any::<usize>(), any::<String>()).prop_map(|(a, s)| LineEdit::Insert(a, s)),
        (any::<usize>(), prop::sample::select(MEMBERS), json_value()).prop_map(|(a, k, v)| LineEdit::Json(
            a,
            k.to_owned(),
            v
        )),
        (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(a, b, c)| LineEdit::Byte(a, b, c)),
    ]
}

fn apply(mut lines: Vec<String>, edit: &LineEdit) -> Vec<String> {
    if lines.is_empty() {
        return lines;
    }
    let n = lines.len();
    match edit {
        LineEdit::Drop(a) => {
            lines.remove(a % n);
        }
        LineEdit::Repeat(a) => {
            let line = lines[a % n].clone();
            lines.insert(a % n, line);
        }
        LineEdit::Swap(a, b) => lines.swap(a % n, b % n),
        LineEdit::Cut(a, b) => {
            let line = &mut lines[a % n];
            let mut at = b % (line.len() + 1);
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            line.truncate(at);
        }
        LineEdit::Insert(a, s) => lines.insert(a % (n + 1), s.clone()),
        LineEdit::Json(a, key, v) => {
            // The member `key` of the record, or of its `detail`, replaced (or added); `x`
            // removes a member instead.
            let line = &mut lines[a % n];
            if let Ok(Value::Object(mut record)) = serde_json::from_str::<Value>(line) {
                let target = match record.get_mut("detail") {
                    Some(Value::Object(detail)) if a % 2 == 0 => detail,
                    _ => &mut record,
                };
                if key == "x" {
                    let first = target.keys().next().cloned();
                    if let Some(first) = first {
                        target.remove(&first);
                    }
                } else {
                    target.insert(key.clone(), v.clone());
                }
                *line = Value::Object(record).to_string();
            }
        }
        LineEdit::Byte(a, b, c) => {
            let mut bytes = lines[a % n].as_bytes().to_vec();
            if !bytes.is_empty() {
                let i = b % bytes.len();
                bytes[i] = *c;
            }
            lines[a % n] = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    lines
}

proptest! {
    #![proptest_config(Config { cases: cases(400), ..Config::default() })]

    #[test]
    fn damaged_results_files_never_panic(seed in any::<prop::sample::Index>(), edits in proptest::collection::vec(line_edit(), 1..5), newline in any::<bool>()) {
        let lines = edits.iter().fold(seed.get(seeds()).clone(), apply);
        let mut text = lines.join("\n");
        if newline {
            text.push('\n');
        }
        check(&text)?;
    }

    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec(json_value(), 0..8)) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        check(&text)?;
    }
}

#[test]
fn the_seeds_read_and_render() {
    for seed in seeds() {
        let text = format!("{}\n", seed.join("\n"));
        let results = jsonl::parse(Path::new("seed.jsonl"), text.as_bytes()).expect("a seed reads");
        assert!(!results.results.is_empty());
        check(&text).expect("a seed renders");
    }
}

//! Fuzzing on stable Rust: adapter protocol lines made from real ones (tests/fixtures/
//! protocol-lines.jsonl, recorded between the harness and `sessionspec adapter memory` in a run
//! of the suite) by byte mutations and by replacing, removing or adding JSON members, and random
//! lines, are read by both sides without a panic and within a time bound: the harness's reader
//! (`Incoming::decode`, then every `ok` value reader and the handshake reader) and an adapter's
//! (`Request::decode`). What reads back is written again and reads back the same. proptest draws
//! a fixed number of cases per run; a failure is shrunk and kept in the
//! .proptest-regressions file beside this one, run first after.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};
use sessionspec_store_adapter::protocol::{Handshake, Incoming, Request, value};

/// One line, however malformed, is read within this (a debug build; microseconds are usual).
const BOUND: Duration = Duration::from_secs(2);

fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protocol-lines.jsonl");
        let lines: Vec<String> =
            std::fs::read_to_string(path).expect("the recorded lines").lines().map(str::to_owned).collect();
        assert!(lines.len() >= 100, "{} recorded lines", lines.len());
        lines
    })
}

/// A fixed number of cases for `just test`; PROPTEST_CASES asks for more (a longer local hunt).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Reads `line` as the harness and as an adapter would.
fn check(line: &str) -> Result<(), TestCaseError> {
    let start = Instant::now();
    match Incoming::decode(line) {
        Ok(incoming) => {
            if let Incoming::Response { result: Ok(v), .. } = &incoming {
                // Whichever request this answers: each reader takes it or says why not.
                let _ = value::session(v);
                let _ = value::entries(v);
                let _ = value::count("length", v);
                let _ = value::ids(v);
                let _ = value::created(v);
                let _ = value::record(v);
                let _ = value::indexes(v);
                let _ = value::unit("close", v);
                if let Ok(handshake) = Handshake::decode(v) {
                    let again = Handshake::decode(&handshake.encode());
                    prop_assert_eq!(again.as_ref(), Ok(&handshake));
                }
            }
            let again = Incoming::decode(incoming.encode().trim_end());
            prop_assert_eq!(
                again.as_ref().ok(),
                Some(&incoming),
                "what the harness reads, written again, reads the same"
            );
        }
        Err(bad) => prop_assert!(!bad.malformed.to_string().is_empty()),
    }
    match Request::decode(line) {
        Ok((seq, request)) => {
            let again = Request::decode(request.encode(seq).trim_end());
            prop_assert_eq!(again.ok(), Some((seq, request)), "what an adapter reads, written again, reads the same");
        }
        Err(bad) => {
            // Its answer is a line the harness reads.
            let answer = bad.response().encode();
            prop_assert!(Incoming::decode(answer.trim_end()).is_ok(), "the answer to a bad request reads: {}", answer);
        }
    }
    let took = start.elapsed();
    prop_assert!(took < BOUND, "{took:?} for one line");
    Ok(())
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
            "",
            "i1",
            "a",
            "get",
            "hello",
            "set",
            "ok",
            "error",
            "seq",
            "2030-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "2030-02-30T00:00:00Z",
            "+1h",
            "serialize",
            "not-found",
            "touch",
            "create",
            "garbage",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop::sample::select(vec![
                        "seq",
                        "ok",
                        "error",
                        "kind",
                        "message",
                        "event",
                        "instance",
                        "sid",
                        "session",
                        "cookie",
                        "expires",
                        "protocol",
                        "implementation",
                        "backend",
                        "capabilities",
                        "name",
                        "version",
                        "key",
                        "payload",
                        "fields",
                        "x"
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// A change to a JSON value at one of its nodes (the number picks which, depth first).
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, Value),
    Remove(usize),
    Add(usize, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), json_value()).prop_map(|(p, v)| Edit::Replace(p, v)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), prop::sample::select(vec!["seq", "ok", "error", "event", "op", "sid", "extra"]), json_value())
            .prop_map(|(p, k, v)| Edit::Add(p, k.to_owned(), v)),
    ]
}

/// The JSON pointer of every node of `v`, depth first (`""` is `v` itself).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                pointers(item, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ => {}
    }
}

fn apply(mut v: Value, edit: &Edit) -> Value {
    let mut all = Vec::new();
    pointers(&v, String::new(), &mut all);
    let (Edit::Replace(p, _) | Edit::Remove(p) | Edit::Add(p, _, _)) = edit;
    let Some(target) = v.pointer_mut(&all[p % all.len()]) else { return v };
    match edit {
        Edit::Replace(_, new) => *target = new.clone(),
        Edit::Remove(p) => match target {
            Value::Object(map) if !map.is_empty() => {
                let key = map.keys().nth(p % map.len()).cloned().expect("a key");
                map.remove(&key);
            }
            Value::Array(items) if !items.is_empty() => {
                items.remove(p % items.len());
            }
            _ => {}
        },
        Edit::Add(_, key, new) => {
            if let Value::Object(map) = target {
                map.insert(key.clone(), new.clone());
            }
        }
    }
    v
}

fn mutate_bytes(line: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = line.as_bytes().to_vec();
    for &(p, op, b) in edits {
        let i = if bytes.is_empty() { 0 } else { p % (bytes.len() + 1) };
        match op % 4 {
            0 => bytes.insert(i, b),
            1 if i < bytes.len() => {
                bytes.remove(i);
            }
            2 if i < bytes.len() => bytes[i] = b,
            _ => bytes.truncate(i),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(Config { cases: cases(1500), ..Config::default() })]

    #[test]
    fn recorded_lines_read_back(seed in any::<prop::sample::Index>()) {
        check(seed.get::<String>(seeds()))?;
    }

    #[test]
    fn byte_mutated_lines_never_panic(seed in any::<prop::sample::Index>(), edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        check(&mutate_bytes(seed.get::<String>(seeds()), &edits))?;
    }

    #[test]
    fn json_mutated_lines_never_panic(seed in any::<prop::sample::Index>(), edits in proptest::collection::vec(edit(), 1..5)) {
        let value: Value = serde_json::from_str(seed.get::<String>(seeds())).expect("a recorded line is JSON");
        let mutated = edits.iter().fold(value, apply);
        check(&mutated.to_string())?;
    }

    #[test]
    fn random_json_never_panics(v in json_value()) {
        check(&v.to_string())?;
    }

    #[test]
    fn random_text_never_panics(line in any::<String>()) {
        check(&line)?;
    }
}

#[test]
fn the_corpus_has_both_sides_of_the_protocol() {
    let requests = seeds().iter().filter(|l| Request::decode(l).is_ok()).count();
    let messages = seeds().iter().filter(|l| Incoming::decode(l).is_ok()).count();
    assert!(requests >= 40 && messages >= 90, "{requests} requests, {messages} adapter messages");
}

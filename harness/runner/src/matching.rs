//! Matches actual values against a step's matcher and explains mismatches: where (a path like
//! `.session.cookie.expires`), what was expected and what was found.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};
use sessionspec_contract::{format_timestamp, parse_timestamp};
use sessionspec_scenario::{JsonType, Matcher};

use crate::values::{self, Bindings};

/// What a matcher is checked with.
pub struct MatchContext<'a> {
    /// The clock's time when checked.
    pub now: DateTime<Utc>,
    /// Loop variables.
    pub bindings: &'a Bindings,
    /// Saved values.
    pub saved: &'a HashMap<String, Value>,
}

/// Why a value did not match.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where in the value (`.session.n`, or empty for the whole value).
    pub path: String,
    /// What was expected there.
    pub expected: String,
    /// What was found there.
    pub found: String,
}

impl Mismatch {
    fn new(path: &str, expected: impl Into<String>, found: Option<&Value>) -> Mismatch {
        Mismatch {
            path: path.to_owned(),
            expected: expected.into(),
            found: found.map(short).unwrap_or_else(|| "nothing (the key is absent)".to_owned()),
        }
    }

    /// One sentence.
    pub fn sentence(&self) -> String {
        let at = if self.path.is_empty() { String::new() } else { format!(" at `{}`", self.path) };
        format!("mismatch{at}: expected {}, found {}", self.expected, self.found)
    }
}

/// A value in one line, cut if long.
pub fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Checks `actual` against `matcher`. `None` when it matches.
pub fn check(matcher: &Matcher, actual: Option<&Value>, path: &str, cx: &MatchContext<'_>) -> Option<Mismatch> {
    match matcher {
        Matcher::Absent => match actual {
            None | Some(Value::Null) => None,
            Some(v) => Some(Mismatch::new(path, "the key to be absent", Some(v))),
        },
        Matcher::Present => actual.is_none().then(|| Mismatch::new(path, "the key to be present", None)),
        Matcher::Any => None,
        _ => {
            let Some(value) = actual else {
                return Some(Mismatch::new(path, describe(matcher, cx), None));
            };
            check_value(matcher, value, path, cx)
        }
    }
}

fn check_value(matcher: &Matcher, value: &Value, path: &str, cx: &MatchContext<'_>) -> Option<Mismatch> {
    let mismatch = |expected: String| Some(Mismatch::new(path, expected, Some(value)));
    match matcher {
        Matcher::Scalar(expected) => {
            (!scalar_eq(expected, value)).then(|| Mismatch::new(path, short(expected), Some(value)))
        }
        Matcher::Text(t) => {
            let expected = values::text(t, cx.bindings);
            (value.as_str() != Some(&expected))
                .then(|| Mismatch::new(path, short(&Value::String(expected)), Some(value)))
        }
        Matcher::Literal(expected) => {
            (!deep_eq(expected, value)).then(|| Mismatch::new(path, short(expected), Some(value)))
        }
        Matcher::Object { entries, exact } => {
            let Value::Object(map) = value else { return mismatch("an object".into()) };
            for (key, m) in entries {
                if let Some(mm) = check(m, map.get(key), &format!("{path}.{key}"), cx) {
                    return Some(mm);
                }
            }
            if *exact && let Some(extra) = map.keys().find(|k| !entries.iter().any(|(e, _)| e == *k)) {
                return Some(Mismatch::new(&format!("{path}.{extra}"), "no such key ($exact)", map.get(extra)));
            }
            None
        }
        Matcher::Array(items) => {
            let Value::Array(actual) = value else { return mismatch(format!("an array of {} items", items.len())) };
            if actual.len() != items.len() {
                return mismatch(format!("an array of {} items", items.len()));
            }
            items.iter().zip(actual).enumerate().find_map(|(i, (m, v))| check(m, Some(v), &format!("{path}[{i}]"), cx))
        }
        Matcher::Absent | Matcher::Present | Matcher::Any => check(matcher, Some(value), path, cx),
        Matcher::Type(t) => {
            (JsonType::of(value) != *t).then(|| Mismatch::new(path, format!("a {}", t.name()), Some(value)))
        }
        Matcher::OneOf(options) => {
            if options.iter().any(|m| check(m, Some(value), path, cx).is_none()) {
                None
            } else {
                mismatch(describe(matcher, cx))
            }
        }
        Matcher::Unordered(items) | Matcher::Contains(items) => {
            let Value::Array(actual) = value else { return mismatch("an array".into()) };
            if matches!(matcher, Matcher::Unordered(_)) && actual.len() != items.len() {
                return mismatch(format!("an array of {} items in any order: {}", items.len(), describe(matcher, cx)));
            }
            if assign(items, actual, path, cx) { None } else { mismatch(describe(matcher, cx)) }
        }
        Matcher::Len(n) => {
            let len = match value {
                Value::Array(a) => Some(a.len()),
                Value::String(s) => Some(s.chars().count()),
                Value::Object(o) => Some(o.len()),
                _ => None,
            };
            (len != Some(*n)).then(|| {
                Mismatch::new(
                    path,
                    format!("length {n}"),
                    Some(&Value::String(match len {
                        Some(l) => format!("length {l}"),
                        None => short(value),
                    })),
                )
            })
        }
        Matcher::Time { offset, tolerance } => {
            let target = values::at_offset(cx.now, *offset);
            let expected = format!("a time within {} of {}", fmt_duration(*tolerance), format_timestamp(target));
            match value.as_str().map(parse_timestamp) {
                Some(Ok(t)) => {
                    let diff = (t - target).abs().to_std().unwrap_or(Duration::MAX);
                    (diff > *tolerance).then(|| Mismatch::new(path, expected, Some(value)))
                }
                _ => mismatch(expected),
            }
        }
        Matcher::NotContains(text) => {
            let rendered = value.to_string();
            if rendered.contains(text.as_str()) || value.as_str().is_some_and(|s| s.contains(text.as_str())) {
                return Some(Mismatch::new(path, format!("a value not containing {text:?}"), Some(value)));
            }
            hidden_in_encoding(value, text.as_bytes()).map(|encoding| {
                Mismatch::new(
                    path,
                    format!("a value not containing {text:?}, not even {encoding}-encoded"),
                    Some(value),
                )
            })
        }
        Matcher::ContainsText(text) => {
            let found =
                value.to_string().contains(text.as_str()) || value.as_str().is_some_and(|s| s.contains(text.as_str()));
            (!found).then(|| Mismatch::new(path, format!("a value containing {text:?}"), Some(value)))
        }
        Matcher::Saved { name, tolerance: None } => {
            let saved = values::lookup_saved(cx.saved, name);
            (!deep_eq(&saved, value))
                .then(|| Mismatch::new(path, format!("the value saved as `{name}`: {}", short(&saved)), Some(value)))
        }
        Matcher::Saved { name, tolerance: Some(tolerance) } => {
            let saved = values::lookup_saved(cx.saved, name);
            let expected =
                format!("a time within {} of the one saved as `{name}`: {}", fmt_duration(*tolerance), short(&saved));
            match (saved.as_str().map(parse_timestamp), value.as_str().map(parse_timestamp)) {
                (Some(Ok(at)), Some(Ok(t))) => {
                    let diff = (t - at).abs().to_std().unwrap_or(Duration::MAX);
                    (diff > *tolerance).then(|| Mismatch::new(path, expected, Some(value)))
                }
                _ => mismatch(expected),
            }
        }
        Matcher::Not(inner) => check(inner, Some(value), path, cx)
            .is_none()
            .then(|| Mismatch::new(path, describe(matcher, cx), Some(value))),
        Matcher::Count { of, is } => {
            let Value::Array(items) = value else { return mismatch("an array".into()) };
            let n = items.iter().filter(|item| check(of, Some(item), path, cx).is_none()).count();
            (n != *is).then(|| {
                Mismatch::new(
                    path,
                    describe(matcher, cx),
                    Some(&Value::String(format!("{n} matching items among {}", short(value)))),
                )
            })
        }
        Matcher::Gte(n) | Matcher::Lte(n) => {
            let (Some(a), Some(b)) = (value.as_f64(), n.as_f64()) else { return mismatch("a number".into()) };
            let ok = if matches!(matcher, Matcher::Gte(_)) { a >= b } else { a <= b };
            (!ok).then(|| Mismatch::new(path, describe(matcher, cx), Some(value)))
        }
    }
}

/// Where `needle` hides in an encoding inside `value`: the name of the encoding (`base64`,
/// `hex`) when some run of base64 or hex characters in one of its strings decodes to bytes
/// containing it. Catches plaintext that was only encoded, not encrypted.
fn hidden_in_encoding(value: &Value, needle: &[u8]) -> Option<&'static str> {
    match value {
        Value::String(s) => {
            let runs = |allowed: fn(u8) -> bool| {
                s.as_bytes().split(move |b| !allowed(*b)).filter(|r| r.len() >= needle.len()).collect::<Vec<_>>()
            };
            let found = |decoded: Vec<u8>| decoded.windows(needle.len().max(1)).any(|w| w == needle);
            let hex = runs(|b| b.is_ascii_hexdigit());
            if hex.iter().any(|run| (0..2).any(|skip| found(decode_hex(&run[skip.min(run.len())..])))) {
                return Some("hex");
            }
            let b64 = runs(|b| b.is_ascii_alphanumeric() || b"+/-_".contains(&b));
            if b64.iter().any(|run| (0..4).any(|skip| found(decode_base64(&run[skip.min(run.len())..])))) {
                return Some("base64");
            }
            None
        }
        Value::Array(items) => items.iter().find_map(|v| hidden_in_encoding(v, needle)),
        Value::Object(map) => map.values().find_map(|v| hidden_in_encoding(v, needle)),
        _ => None,
    }
}

/// Hex digits to bytes, pairwise; a trailing odd digit is ignored.
fn decode_hex(digits: &[u8]) -> Vec<u8> {
    let nibble = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
    digits.chunks_exact(2).map(|pair| nibble(pair[0]) << 4 | nibble(pair[1])).collect()
}

/// Base64 (standard or URL-safe alphabet, no padding) to bytes; a trailing partial group is
/// decoded as far as it goes.
fn decode_base64(text: &[u8]) -> Vec<u8> {
    let sextet = |b: u8| -> u32 {
        match b {
            b'A'..=b'Z' => u32::from(b - b'A'),
            b'a'..=b'z' => u32::from(b - b'a') + 26,
            b'0'..=b'9' => u32::from(b - b'0') + 52,
            b'+' | b'-' => 62,
            _ => 63,
        }
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for group in text.chunks(4) {
        let bits = group.iter().enumerate().fold(0u32, |acc, (i, b)| acc | sextet(*b) << (18 - 6 * i));
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        out.extend_from_slice(&bytes[..group.len().saturating_sub(1)]);
    }
    out
}

/// Finds a distinct actual item for each matcher (small arrays: backtracking is fine).
fn assign(matchers: &[Matcher], actual: &[Value], path: &str, cx: &MatchContext<'_>) -> bool {
    fn go(
        i: usize,
        matchers: &[Matcher],
        actual: &[Value],
        used: &mut Vec<bool>,
        path: &str,
        cx: &MatchContext<'_>,
    ) -> bool {
        if i == matchers.len() {
            return true;
        }
        for j in 0..actual.len() {
            if !used[j] && check(&matchers[i], Some(&actual[j]), path, cx).is_none() {
                used[j] = true;
                if go(i + 1, matchers, actual, used, path, cx) {
                    return true;
                }
                used[j] = false;
            }
        }
        false
    }
    go(0, matchers, actual, &mut vec![false; actual.len()], path, cx)
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
pub fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| deep_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w)))
        }
        _ => a == b,
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    deep_eq(a, b)
}

fn number_eq(x: &Number, y: &Number) -> bool {
    match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
        (Some(a), Some(b), _, _) => a == b,
        (_, _, Some(a), Some(b)) => a == b,
        _ => match (x.as_f64(), y.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    }
}

fn fmt_duration(d: Duration) -> String {
    sessionspec_contract::duration::format(d)
}

/// `actual` cut down to the parts `matcher` looks at, so a diff against [`display`] shows what
/// the scenario checks and nothing else: members a partial object pattern does not name are
/// left out, arrays of the expected length are cut item by item.
pub fn project(matcher: &Matcher, actual: &Value) -> Value {
    match (matcher, actual) {
        (Matcher::Object { entries, exact: false }, Value::Object(map)) => {
            let mut out = Map::new();
            for (key, m) in entries {
                if let Some(v) = map.get(key) {
                    out.insert(key.clone(), project(m, v));
                }
            }
            Value::Object(out)
        }
        (Matcher::Object { entries, exact: true }, Value::Object(map)) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let projected = match entries.iter().find(|(e, _)| e == k) {
                        Some((_, m)) => project(m, v),
                        None => v.clone(),
                    };
                    (k.clone(), projected)
                })
                .collect(),
        ),
        (Matcher::Array(items), Value::Array(values)) if items.len() == values.len() => {
            Value::Array(items.iter().zip(values).map(|(m, v)| project(m, v)).collect())
        }
        _ => actual.clone(),
    }
}

/// A matcher shown as JSON-like text for reports.
pub fn describe(matcher: &Matcher, cx: &MatchContext<'_>) -> String {
    let value = display(matcher, cx);
    match value {
        Value::String(s) if s.starts_with('<') => s,
        other => short(&other),
    }
}

/// A matcher as a JSON value for the expected side of a diff: literal parts as themselves,
/// patterns as `<...>` descriptions.
pub fn display(matcher: &Matcher, cx: &MatchContext<'_>) -> Value {
    let tag = |s: String| Value::String(format!("<{s}>"));
    match matcher {
        Matcher::Scalar(v) | Matcher::Literal(v) => v.clone(),
        Matcher::Text(t) => Value::String(values::text(t, cx.bindings)),
        Matcher::Object { entries, .. } => {
            let mut map = Map::new();
            // Patterns show only the members they name; `project` cuts the actual value the
            // same way, so the diff lines up.
            for (k, m) in entries {
                map.insert(k.clone(), display(m, cx));
            }
            Value::Object(map)
        }
        Matcher::Array(items) => Value::Array(items.iter().map(|m| display(m, cx)).collect()),
        Matcher::Absent => tag("absent".into()),
        Matcher::Present => tag("present".into()),
        Matcher::Any => tag("anything".into()),
        Matcher::Type(t) => tag(format!("any {}", t.name())),
        Matcher::OneOf(options) => {
            tag(format!("one of {}", options.iter().map(|m| short(&display(m, cx))).collect::<Vec<_>>().join(" | ")))
        }
        Matcher::Unordered(items) => tag(format!(
            "in any order: {}",
            items.iter().map(|m| short(&display(m, cx))).collect::<Vec<_>>().join(", ")
        )),
        Matcher::Contains(items) => {
            tag(format!("containing: {}", items.iter().map(|m| short(&display(m, cx))).collect::<Vec<_>>().join(", ")))
        }
        Matcher::Len(n) => tag(format!("length {n}")),
        Matcher::Time { offset, tolerance } => {
            tag(format!("time {} ± {}", format_timestamp(values::at_offset(cx.now, *offset)), fmt_duration(*tolerance)))
        }
        Matcher::NotContains(t) => tag(format!("not containing {t:?}")),
        Matcher::ContainsText(t) => tag(format!("containing {t:?}")),
        Matcher::Saved { name, tolerance: None } => values::lookup_saved(cx.saved, name),
        Matcher::Saved { name, tolerance: Some(t) } => {
            tag(format!("time {} ± {}", short(&values::lookup_saved(cx.saved, name)), fmt_duration(*t)))
        }
        Matcher::Not(inner) => tag(format!("not {}", short(&display(inner, cx)))),
        Matcher::Count { of, is } => tag(format!("exactly {is} items matching {}", short(&display(of, cx)))),
        Matcher::Gte(n) => tag(format!(">= {n}")),
        Matcher::Lte(n) => tag(format!("<= {n}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cx_check(matcher: &Matcher, value: &Value) -> Option<Mismatch> {
        let bindings = Bindings::default();
        let saved = HashMap::new();
        let cx = MatchContext { now: Utc::now(), bindings: &bindings, saved: &saved };
        check(matcher, Some(value), "", &cx)
    }

    #[test]
    fn not_contains_sees_through_base64_and_hex() {
        let m = Matcher::NotContains("MARKER-42".into());
        assert!(cx_check(&m, &json!({"payload": "v1:q83vASNFZ4mrze8BI0VniQ=="})).is_none());
        // "MARKER-42" in base64 (unpadded, after a prefix, off a 4-byte boundary) and in hex.
        let mm = cx_check(&m, &json!({"payload": "enc:xTUFSS0VSLTQy"})).expect("base64 seen");
        assert!(mm.expected.contains("base64"), "{}", mm.expected);
        let mm = cx_check(&m, &json!(["00", "4d41524b45522d3432"])).expect("hex seen");
        assert!(mm.expected.contains("hex"), "{}", mm.expected);
        assert!(cx_check(&m, &json!({"plain": "xx MARKER-42 xx"})).is_some());
    }

    #[test]
    fn count_counts_matching_items() {
        let ttl = Matcher::Object { entries: vec![("expireAfterSeconds".into(), Matcher::Present)], exact: false };
        let m = Matcher::Count { of: Box::new(ttl), is: 1 };
        assert!(cx_check(&m, &json!([{"name": "_id_"}, {"name": "expires_1", "expireAfterSeconds": 0}])).is_none());
        let two = json!([{"expireAfterSeconds": 0}, {"expireAfterSeconds": 0}]);
        assert!(cx_check(&m, &two).unwrap().found.contains("2 matching items"));
        assert!(cx_check(&m, &json!({})).is_some());
    }

    #[test]
    fn not_inverts() {
        let m = Matcher::Not(Box::new(Matcher::Scalar(json!(1))));
        assert!(cx_check(&m, &json!(2)).is_none());
        assert!(cx_check(&m, &json!(1)).is_some());
    }
}

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
            if *exact {
                if let Some(extra) = map.keys().find(|k| !entries.iter().any(|(e, _)| e == *k)) {
                    return Some(Mismatch::new(&format!("{path}.{extra}"), "no such key ($exact)", map.get(extra)));
                }
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
            (rendered.contains(text.as_str()) || value.as_str().is_some_and(|s| s.contains(text.as_str())))
                .then(|| Mismatch::new(path, format!("a value not containing {text:?}"), Some(value)))
        }
        Matcher::ContainsText(text) => {
            let found =
                value.to_string().contains(text.as_str()) || value.as_str().is_some_and(|s| s.contains(text.as_str()));
            (!found).then(|| Mismatch::new(path, format!("a value containing {text:?}"), Some(value)))
        }
        Matcher::Saved(name) => {
            let saved = cx.saved.get(name).cloned().unwrap_or(Value::Null);
            (!deep_eq(&saved, value))
                .then(|| Mismatch::new(path, format!("the value saved as `{name}`: {}", short(&saved)), Some(value)))
        }
        Matcher::Gte(n) | Matcher::Lte(n) => {
            let (Some(a), Some(b)) = (value.as_f64(), n.as_f64()) else { return mismatch("a number".into()) };
            let ok = if matches!(matcher, Matcher::Gte(_)) { a >= b } else { a <= b };
            (!ok).then(|| Mismatch::new(path, describe(matcher, cx), Some(value)))
        }
    }
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
        Matcher::Object { entries, exact } => {
            let mut map = Map::new();
            for (k, m) in entries {
                map.insert(k.clone(), display(m, cx));
            }
            if !*exact {
                map.insert("…".into(), tag("other keys allowed".into()));
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
        Matcher::Saved(name) => cx.saved.get(name).cloned().unwrap_or(Value::Null),
        Matcher::Gte(n) => tag(format!(">= {n}")),
        Matcher::Lte(n) => tag(format!("<= {n}")),
    }
}

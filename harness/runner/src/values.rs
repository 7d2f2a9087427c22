//! Builds the values a step sends (sessions, ids) from their templates: placeholders filled
//! from the loop variables, relative times resolved against the scenario's clock, saved values
//! substituted.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::format_timestamp;
use sessionspec_scenario::{Input, Offset, Text, TextPart};

/// What templates are filled from.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// Loop variables in scope.
    pub vars: HashMap<String, u64>,
}

/// The clock's time plus `offset`, saturating at the ends of the date range (the linter keeps
/// offsets within `duration::MAX`, so this does not happen for scenarios that lint).
pub fn at_offset(now: DateTime<Utc>, offset: Offset) -> DateTime<Utc> {
    TimeDelta::try_milliseconds(offset.0).and_then(|d| now.checked_add_signed(d)).unwrap_or(if offset.0 < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Fills a text's placeholders.
pub fn text(text: &Text, bindings: &Bindings) -> String {
    text.0
        .iter()
        .map(|part| match part {
            TextPart::Literal(s) => s.clone(),
            TextPart::Var(v) => bindings.vars.get(v).map(u64::to_string).unwrap_or_default(),
        })
        .collect()
}

/// Builds a value.
pub fn build(input: &Input, bindings: &Bindings, now: DateTime<Utc>, saved: &HashMap<String, Value>) -> Value {
    match input {
        Input::Literal(v) => v.clone(),
        Input::Object(entries) => Value::Object(
            entries.iter().map(|(k, v)| (k.clone(), build(v, bindings, now, saved))).collect::<Map<_, _>>(),
        ),
        Input::Array(items) => Value::Array(items.iter().map(|v| build(v, bindings, now, saved)).collect()),
        Input::Text(t) => Value::String(text(t, bindings)),
        Input::Var(v) => bindings.vars.get(v).map(|n| Value::from(*n)).unwrap_or(Value::Null),
        Input::Time(offset) => Value::String(format_timestamp(at_offset(now, *offset))),
        Input::Repeat { text, times } => Value::String(text.repeat(*times)),
        Input::Nest { depth, key, leaf } => {
            let mut value = build(leaf, bindings, now, saved);
            for _ in 0..*depth {
                let mut map = Map::new();
                map.insert(key.clone(), value);
                value = Value::Object(map);
            }
            value
        }
        Input::Saved(reference) => lookup_saved(saved, reference),
    }
}

/// The value a `$saved` reference names: `NAME`, or `NAME.member...` for a part of it (a
/// number selects an array item). `null` where nothing is there.
pub fn lookup_saved(saved: &HashMap<String, Value>, reference: &str) -> Value {
    let mut segments = reference.split('.');
    let mut value = segments.next().and_then(|name| saved.get(name));
    for segment in segments {
        value = value.and_then(|v| match v {
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            other => other.get(segment),
        });
    }
    value.cloned().unwrap_or(Value::Null)
}

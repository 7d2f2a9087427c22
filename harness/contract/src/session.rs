//! Sessions as express-session hands them to a store: a JSON object whose `cookie` member holds
//! `expires` (an ISO-8601 string, or absent for a browser-session cookie), `originalMaxAge` and
//! the other cookie fields. Everything else is the application's data and is opaque here.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ErrorKind, Result, StoreError};

/// A session: a JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Session(Map<String, Value>);

impl Session {
    /// Wraps a JSON object. Anything else is an [`ErrorKind::Invalid`] error.
    pub fn from_value(value: Value) -> Result<Session> {
        match value {
            Value::Object(map) => Ok(Session(map)),
            other => Err(StoreError::new(
                ErrorKind::Invalid,
                format!("a session must be a JSON object, found {}", json_type(&other)),
            )),
        }
    }

    /// Parses a session from its JSON text. Malformed text is an [`ErrorKind::Serialize`] error.
    pub fn from_json(text: &str) -> Result<Session> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| StoreError::new(ErrorKind::Serialize, "stored session is not valid JSON").with_source(e))?;
        Session::from_value(value).map_err(|e| StoreError::new(ErrorKind::Serialize, e.message()))
    }

    /// The session's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a JSON object always serializes")
    }

    /// The underlying object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The underlying object, mutably.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }

    /// The session as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    /// The `cookie` object, if there is one.
    pub fn cookie(&self) -> Option<&Map<String, Value>> {
        self.0.get("cookie").and_then(Value::as_object)
    }

    /// `cookie.expires`, parsed. `None` when the cookie has no expiry (absent or `null`); an
    /// [`ErrorKind::Invalid`] error when it is present but not an ISO-8601 time.
    pub fn expires(&self) -> Result<Option<DateTime<Utc>>> {
        match self.cookie().and_then(|c| c.get("expires")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse_timestamp(text).map(Some),
            Some(other) => Err(StoreError::new(
                ErrorKind::Invalid,
                format!("cookie.expires must be an ISO-8601 string, found {}", json_type(other)),
            )),
        }
    }

    /// When this session expires: `cookie.expires` if set, otherwise `now + ttl`.
    pub fn expiry(&self, now: DateTime<Utc>, ttl: Duration) -> Result<DateTime<Utc>> {
        match self.expires()? {
            Some(at) => Ok(at),
            None => Ok(now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX)),
        }
    }

    /// Replaces this session's cookie with `other`'s (what `touch` does to a stored session in
    /// stores that rewrite the cookie).
    pub fn replace_cookie(&mut self, other: &Session) {
        match other.0.get("cookie") {
            Some(cookie) => self.0.insert("cookie".to_owned(), cookie.clone()),
            None => self.0.remove("cookie"),
        };
    }
}

/// Parses an ISO-8601 / RFC 3339 time as JavaScript's `Date#toISOString` writes it.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::new(ErrorKind::Invalid, format!("`{text}` is not an ISO-8601 time")).with_source(e))
}

/// Writes a time as JavaScript's `Date#toISOString` does: UTC, milliseconds, `Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn expiry_prefers_cookie_then_ttl() {
        let now = parse_timestamp("2030-01-01T00:00:00.000Z").unwrap();
        let with = Session::from_value(json!({"cookie": {"expires": "2030-01-01T00:00:10.000Z"}})).unwrap();
        let without = Session::from_value(json!({"cookie": {"originalMaxAge": null}})).unwrap();
        assert_eq!(with.expiry(now, Duration::from_secs(60)).unwrap(), now + TimeDelta::seconds(10));
        assert_eq!(without.expiry(now, Duration::from_secs(60)).unwrap(), now + TimeDelta::seconds(60));
        assert_eq!(format_timestamp(now), "2030-01-01T00:00:00.000Z");
    }

    #[test]
    fn malformed_expires_is_invalid() {
        let bad = Session::from_value(json!({"cookie": {"expires": "tomorrow"}})).unwrap();
        assert_eq!(bad.expires().unwrap_err().kind(), ErrorKind::Invalid);
        assert_eq!(Session::from_value(json!([1])).unwrap_err().kind(), ErrorKind::Invalid);
        assert_eq!(Session::from_json("{").unwrap_err().kind(), ErrorKind::Serialize);
    }
}

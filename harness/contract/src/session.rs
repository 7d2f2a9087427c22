//! Sessions as express-session hands them to a store: a JSON object whose `cookie` member holds
//! `expires` (an ISO-8601 string, or absent for a browser-session cookie), `originalMaxAge` and
//! the other cookie fields. Everything else is the application's data and is opaque here.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{ErrorKind, Result, StoreError};

/// A session: a JSON object.
///
/// A session read from JSON text ([`Session::from_json`]) keeps that text and decodes it on first
/// use: a store's `get` checks the text (the same parser, so a session that would not decode is an
/// error there, never later) without building the object, and a session written back unchanged is
/// written as the text it was read from. [`Session::as_map_mut`] decodes it and drops the text.
#[derive(Clone)]
pub struct Session {
    /// The JSON text this session was read from, while nothing has changed it.
    text: Option<Box<str>>,
    /// The decoded object; always set when `text` is `None`.
    map: OnceLock<Map<String, Value>>,
}

impl Session {
    /// Wraps a JSON object. Anything else is an [`ErrorKind::Invalid`] error.
    ///
    /// ```
    /// use sessionspec_contract::{ErrorKind, Session};
    ///
    /// let s = Session::from_value(serde_json::json!({"cookie": {"originalMaxAge": null}, "user": "ada"})).unwrap();
    /// assert_eq!(s.as_map()["user"], "ada");
    /// assert_eq!(Session::from_value(serde_json::json!([1])).unwrap_err().kind(), ErrorKind::Invalid);
    /// ```
    pub fn from_value(value: Value) -> Result<Session> {
        match value {
            Value::Object(map) => Ok(Session::from_map(map)),
            other => Err(StoreError::new(
                ErrorKind::Invalid,
                format!("a session must be a JSON object, found {}", json_type(&other)),
            )),
        }
    }

    /// Wraps a JSON object.
    pub fn from_map(map: Map<String, Value>) -> Session {
        Session { text: None, map: OnceLock::from(map) }
    }

    /// A session from its JSON text. The text is checked now (a plain scan for the usual shape of
    /// a session, the decoder's own rules for anything else) and decoded on first use. Text that
    /// is not JSON is an [`ErrorKind::Serialize`] error; JSON that is not an object too.
    pub fn from_json(text: impl Into<String>) -> Result<Session> {
        let text: String = text.into();
        if !crate::quick_json::certainly_an_object(text.as_bytes()) {
            let mut reader = serde_json::Deserializer::from_str(&text);
            let found = reader.deserialize_any(Check).and_then(|found| reader.end().map(|()| found)).map_err(|e| {
                StoreError::new(ErrorKind::Serialize, "stored session is not valid JSON").with_source(e)
            })?;
            if found != OBJECT {
                return Err(StoreError::new(
                    ErrorKind::Serialize,
                    format!("a session must be a JSON object, found {found}"),
                ));
            }
        }
        Ok(Session { text: Some(text.into_boxed_str()), map: OnceLock::new() })
    }

    /// [`Session::from_json`] on bytes, which must be UTF-8.
    pub fn from_json_bytes(bytes: Vec<u8>) -> Result<Session> {
        let text = String::from_utf8(bytes)
            .map_err(|e| StoreError::new(ErrorKind::Serialize, "stored session is not UTF-8 text").with_source(e))?;
        Session::from_json(text)
    }

    /// The session's JSON text: the text it was read from if nothing changed it since.
    pub fn to_json(&self) -> String {
        match &self.text {
            Some(text) => String::from(&**text),
            None => {
                // Room for a typical session, so most encodings never grow the buffer.
                let mut out = String::with_capacity(512);
                crate::quick_json::write_object(&mut out, self.as_map());
                out
            }
        }
    }

    /// The underlying object (decoded now if this session was read from text and not yet used).
    pub fn as_map(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| {
            let text = self.text.as_deref().expect("a session holds its text or its object");
            // `from_json` checked the text with this parser's own rules.
            serde_json::from_str(text).expect("checked JSON object text decodes")
        })
    }

    /// The underlying object, mutably. The text it was read from, if any, is dropped.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        self.as_map();
        self.text = None;
        self.map.get_mut().expect("decoded above")
    }

    /// The session as a JSON value.
    pub fn into_value(mut self) -> Value {
        self.as_map();
        Value::Object(self.map.take().expect("decoded above"))
    }

    /// The `cookie` object, if there is one.
    pub fn cookie(&self) -> Option<&Map<String, Value>> {
        self.as_map().get("cookie").and_then(Value::as_object)
    }

    /// `cookie.expires`, parsed. `None` when the cookie has no expiry (absent or `null`); an
    /// [`ErrorKind::Invalid`] error when it is present but not an ISO-8601 time.
    ///
    /// ```
    /// use sessionspec_contract::Session;
    ///
    /// let s = Session::from_json(r#"{"cookie":{"expires":"2030-01-01T00:00:00.000Z"}}"#).unwrap();
    /// assert_eq!(s.expires().unwrap().unwrap().to_rfc3339(), "2030-01-01T00:00:00+00:00");
    /// let browser = Session::from_json(r#"{"cookie":{"expires":null}}"#).unwrap();
    /// assert_eq!(browser.expires().unwrap(), None);
    /// ```
    pub fn expires(&self) -> Result<Option<DateTime<Utc>>> {
        match self.cookie() {
            Some(cookie) => Session::cookie_expires(cookie),
            None => Ok(None),
        }
    }

    /// The `cookie` object, or an [`ErrorKind::Invalid`] error: express-session cannot load a
    /// session without one, so a store must not keep it (SET-5).
    ///
    /// ```
    /// use sessionspec_contract::{ErrorKind, Session};
    ///
    /// let without = Session::from_json(r#"{"user":"ada"}"#).unwrap();
    /// assert_eq!(without.require_cookie().unwrap_err().kind(), ErrorKind::Invalid);
    /// ```
    pub fn require_cookie(&self) -> Result<&Map<String, Value>> {
        self.cookie().ok_or_else(|| {
            StoreError::new(
                ErrorKind::Invalid,
                "a session needs a `cookie` object: express-session cannot load one without it",
            )
        })
    }

    /// `expires` of a `cookie` object, parsed, as [`Session::expires`] reads it: for a store that
    /// holds the cookie already and need not look it up again.
    pub fn cookie_expires(cookie: &Map<String, Value>) -> Result<Option<DateTime<Utc>>> {
        match cookie.get("expires") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse_timestamp(text).map(Some),
            Some(other) => Err(StoreError::new(
                ErrorKind::Invalid,
                format!("cookie.expires must be an ISO-8601 string, found {}", json_type(other)),
            )),
        }
    }

    /// When this session expires: `cookie.expires` if set, otherwise `now + ttl`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionspec_contract::Session;
    ///
    /// let now = chrono::Utc::now();
    /// let browser = Session::from_json(r#"{"cookie":{}}"#).unwrap();
    /// assert_eq!(browser.expiry(now, Duration::from_secs(60)).unwrap(), now + chrono::TimeDelta::seconds(60));
    /// ```
    pub fn expiry(&self, now: DateTime<Utc>, ttl: Duration) -> Result<DateTime<Utc>> {
        match self.expires()? {
            Some(at) => Ok(at),
            None => Ok(TimeDelta::from_std(ttl)
                .ok()
                .and_then(|ttl| now.checked_add_signed(ttl))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)),
        }
    }

    /// Replaces this session's cookie with `other`'s (what `touch` does to a stored session in
    /// stores that rewrite the cookie).
    pub fn replace_cookie(&mut self, other: &Session) {
        let cookie = other.as_map().get("cookie").cloned();
        let map = self.as_map_mut();
        match cookie {
            Some(cookie) => map.insert("cookie".to_owned(), cookie),
            None => map.remove("cookie"),
        };
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Session) -> bool {
        self.as_map() == other.as_map()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Session").field(self.as_map()).finish()
    }
}

impl Serialize for Session {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.as_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Session {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Session, D::Error> {
        Map::deserialize(deserializer).map(Session::from_map)
    }
}

/// What [`Check`] says of an object; anything else is described as [`json_type`] would.
const OBJECT: &str = "an object";

/// Reads a JSON value through the same `deserialize_any` calls that decoding a [`Value`] makes
/// (numbers converted, strings unescaped, the same depth limit), so text it accepts always
/// decodes, but builds nothing. It says what the value was.
struct Check;

/// One nested value, checked and dropped.
struct Nested;

impl<'de> Deserialize<'de> for Nested {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Nested, D::Error> {
        deserializer.deserialize_any(Check).map(|_| Nested)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<&'static str, E> {
        Ok("a boolean")
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<&'static str, E> {
        Ok("a number")
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<&'static str, E> {
        Ok("a number")
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<&'static str, E> {
        Ok("a number")
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<&'static str, E> {
        Ok("a string")
    }

    fn visit_unit<E>(self) -> std::result::Result<&'static str, E> {
        Ok("null")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<&'static str, A::Error> {
        while seq.next_element::<Nested>()?.is_some() {}
        Ok("an array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<&'static str, A::Error> {
        while map.next_entry::<Nested, Nested>()?.is_some() {}
        Ok(OBJECT)
    }
}

/// Parses an ISO-8601 / RFC 3339 time as JavaScript's `Date#toISOString` writes it.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>> {
    if let Some(at) = parse_iso_millis(text.as_bytes()) {
        return Ok(at);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::new(ErrorKind::Invalid, format!("`{text}` is not an ISO-8601 time")).with_source(e))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form `Date#toISOString` writes and nearly every stored cookie
/// holds, read without the general parser; `None` for anything else (other forms, leap seconds,
/// impossible dates), which the general parser then reads or rejects.
fn parse_iso_millis(text: &[u8]) -> Option<DateTime<Utc>> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1, b'.', f0, f1, f2, b'Z'] =
        *text
    else {
        return None;
    };
    let number = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let year = i32::try_from(number(&[y0, y1, y2, y3])?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, number(&[m0, m1])?, number(&[d0, d1])?)?;
    let (hour, minute, second) = (number(&[h0, h1])?, number(&[n0, n1])?, number(&[s0, s1])?);
    if second > 59 {
        return None;
    }
    let time = date.and_hms_milli_opt(hour, minute, second, number(&[f0, f1, f2])?)?;
    Some(time.and_utc())
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
        Value::Object(_) => OBJECT,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_float_reads_back_as_written() {
        // 17 significant digits: serde_json's default parser gives the float one unit off,
        // and every store that keeps JSON text was reported as changing the value.
        for written in [2.0496589366417888e231, 0.1, 1.7976931348623157e308, 5e-324, 123456789.12345678] {
            let text = Session::from_value(json!({ "n": written })).unwrap().to_json();
            let read = Session::from_json(text.clone()).unwrap();
            assert_eq!(read.as_map()["n"].as_f64(), Some(written), "{text}");
        }
    }

    #[test]
    fn a_session_without_a_cookie_object_is_invalid() {
        let with = Session::from_value(json!({"cookie": {"expires": null}})).unwrap();
        assert!(with.require_cookie().is_ok());
        for without in [json!({"n": 1}), json!({"cookie": "x"}), json!({"cookie": null})] {
            let error = Session::from_value(without).unwrap().require_cookie().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid);
        }
    }

    #[test]
    fn expiry_prefers_cookie_then_ttl() {
        let now = parse_timestamp("2030-01-01T00:00:00.000Z").unwrap();
        let with = Session::from_value(json!({"cookie": {"expires": "2030-01-01T00:00:10.000Z"}})).unwrap();
        let without = Session::from_value(json!({"cookie": {"originalMaxAge": null}})).unwrap();
        assert_eq!(with.expiry(now, Duration::from_secs(60)).unwrap(), now + TimeDelta::seconds(10));
        assert_eq!(without.expiry(now, Duration::from_secs(60)).unwrap(), now + TimeDelta::seconds(60));
        assert_eq!(format_timestamp(now), "2030-01-01T00:00:00.000Z");
    }

    /// The fast path reads what the general parser reads, and leaves it everything else.
    #[test]
    fn timestamps_read_alike_on_both_paths() {
        for text in [
            "2030-01-01T00:00:00.000Z",
            "1970-01-01T00:00:00.001Z",
            "2024-02-29T23:59:59.999Z",
            "0000-03-01T12:34:56.789Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            let general = DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
            assert_eq!(parse_iso_millis(text.as_bytes()), Some(general), "{text}");
            assert_eq!(format_timestamp(general), text);
        }
        for text in [
            "2023-02-29T00:00:00.000Z",
            "2030-13-01T00:00:00.000Z",
            "2030-01-01T24:00:00.000Z",
            "2030-01-01T00:60:00.000Z",
            "2016-12-31T23:59:60.000Z",
            "2030-01-01T00:00:00.000+00:00",
            "2030-01-01T00:00:00Z",
            "2030-01-01t00:00:00.000z",
            "2030-01-01T00:00:00.0a0Z",
            "+2030-01-01T00:00:00.00Z",
        ] {
            assert_eq!(parse_iso_millis(text.as_bytes()), None, "{text}");
            assert_eq!(
                parse_timestamp(text).ok(),
                DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc)),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_expires_is_invalid() {
        let bad = Session::from_value(json!({"cookie": {"expires": "tomorrow"}})).unwrap();
        assert_eq!(bad.expires().unwrap_err().kind(), ErrorKind::Invalid);
        assert_eq!(Session::from_value(json!([1])).unwrap_err().kind(), ErrorKind::Invalid);
        assert_eq!(Session::from_json("{").unwrap_err().kind(), ErrorKind::Serialize);
    }

    #[test]
    fn text_is_kept_until_the_session_changes() {
        // Members in sorted order: decoded maps keep insertion order only in builds where
        // serde_json's `preserve_order` is on.
        let text = r#"{"a":1.50,"cookie":{"expires":null},"views":1}"#;
        let mut session = Session::from_json(text).unwrap();
        assert_eq!(session.to_json(), text, "unchanged: written as read");
        assert_eq!(session.as_map()["views"], json!(1));
        assert_eq!(session.to_json(), text, "reading does not change it");
        session.as_map_mut().insert("views".into(), json!(2));
        assert_eq!(session.to_json(), r#"{"a":1.5,"cookie":{"expires":null},"views":2}"#);
        let mut other = Session::from_json(text).unwrap();
        other.replace_cookie(&Session::from_value(json!({"cookie": {"expires": "2030-01-01T00:00:00.000Z"}})).unwrap());
        assert_eq!(other.to_json(), r#"{"a":1.5,"cookie":{"expires":"2030-01-01T00:00:00.000Z"},"views":1}"#);
        assert_eq!(
            Session::from_json(text).unwrap(),
            Session::from_value(serde_json::from_str(text).unwrap()).unwrap()
        );
    }

    /// `from_json` accepts exactly the texts that decode into an object, so decoding later never
    /// fails.
    #[test]
    fn checking_agrees_with_decoding() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let texts = [
            r#"{"a":1e400}"#,
            r#"{"a":-1e400}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00x"}"#,
            r#"{"\ud83d\ude00":"\ud83d\ude00"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":"\x"}"#,
            r#"{"a":01}"#,
            r#"{"a":1,}"#,
            r#"{"a":1}   "#,
            r#"{"a":1} {}"#,
            r#"{"a":1,"a":2}"#,
            r#"[{"a":1}]"#,
            r#""text""#,
            "null",
            "",
            &deep,
        ];
        for text in texts {
            let decodes = serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object());
            let session = Session::from_json(text);
            assert_eq!(session.is_ok(), decodes, "{text:?}");
            if let Ok(session) = session {
                assert_eq!(session.into_value(), serde_json::from_str::<Value>(text).unwrap(), "{text:?}");
            }
        }
        assert_eq!(Session::from_json_bytes(vec![b'{', 0xff, b'}']).unwrap_err().kind(), ErrorKind::Serialize);
        assert!(Session::from_json("[1]").unwrap_err().message().ends_with("found an array"));
    }
}

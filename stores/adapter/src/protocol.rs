//! The adapter protocol's messages as the harness reads them (spec/adapter-protocol.md): the
//! handshake, responses and events, checked field by field so that a malformed message is
//! reported by its name and field, never as a bare JSON error. It never talks to a process.

use std::fmt;

use serde_json::{Map, Value};
use sessionspec_contract::{
    Capability, CapabilitySet, ErrorKind, EventKind, Listed, RawRecord, Session, StoreError, parse_timestamp,
};

/// The protocol version this harness speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// A message that breaks the protocol: which message, which field, what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {message}: {problem}")]
pub struct Malformed {
    /// The message, as people call it (`response to get (seq 4)`, `event`, `handshake`).
    pub message: String,
    /// The field and what was wrong with it.
    pub problem: String,
}

impl Malformed {
    fn new(message: impl Into<String>, problem: impl Into<String>) -> Malformed {
        Malformed { message: message.into(), problem: problem.into() }
    }

    fn field(message: &str, field: &str, expected: &str, found: Option<&Value>) -> Malformed {
        let found = match found {
            None => "nothing (the field is missing)".to_owned(),
            Some(v) => format!("{} `{}`", json_type(v), short(v)),
        };
        Malformed::new(message, format!("field `{field}` must be {expected}, found {found}"))
    }
}

/// What the adapter says about itself in answer to `hello`.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// The protocol version it speaks.
    pub protocol: u64,
    /// The implementation's name (`connect-redis`).
    pub name: String,
    /// The implementation's version (`9.0.0`).
    pub version: String,
    /// Its language (`javascript`).
    pub language: String,
    /// Where to read about it.
    pub homepage: Option<String>,
    /// The backend's name (`redis`).
    pub backend: String,
    /// The backend's self-reported version.
    pub backend_version: Option<String>,
    /// The declared capabilities.
    pub capabilities: CapabilitySet,
}

impl Handshake {
    /// Reads the `ok` value of the response to `hello`.
    pub fn decode(value: &Value) -> Result<Handshake, Malformed> {
        const M: &str = "handshake (the response to hello)";
        let obj = value.as_object().ok_or_else(|| Malformed::field(M, "ok", "an object", Some(value)))?;
        let protocol = obj
            .get("protocol")
            .and_then(Value::as_u64)
            .ok_or_else(|| Malformed::field(M, "ok.protocol", "a whole number", obj.get("protocol")))?;
        let implementation = obj
            .get("implementation")
            .and_then(Value::as_object)
            .ok_or_else(|| Malformed::field(M, "ok.implementation", "an object", obj.get("implementation")))?;
        let text = |o: &Map<String, Value>, key: &str, path: &str| -> Result<String, Malformed> {
            match o.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                other => Err(Malformed::field(M, path, "a non-empty string", other)),
            }
        };
        let optional = |o: &Map<String, Value>, key: &str, path: &str| -> Result<Option<String>, Malformed> {
            match o.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                other => Err(Malformed::field(M, path, "a string", other)),
            }
        };
        let name = text(implementation, "name", "ok.implementation.name")?;
        let version = text(implementation, "version", "ok.implementation.version")?;
        if ["main", "master", "trunk"].iter().any(|b| version.contains(b)) {
            return Err(Malformed::new(
                M,
                format!(
                    "field `ok.implementation.version` must be a released version, found `{version}` (a branch name says nothing about what was tested)"
                ),
            ));
        }
        let language = text(implementation, "language", "ok.implementation.language")?;
        let homepage = optional(implementation, "homepage", "ok.implementation.homepage")?;
        let backend = obj
            .get("backend")
            .and_then(Value::as_object)
            .ok_or_else(|| Malformed::field(M, "ok.backend", "an object", obj.get("backend")))?;
        let backend_name = text(backend, "name", "ok.backend.name")?;
        let backend_version = optional(backend, "version", "ok.backend.version")?;
        let list = obj.get("capabilities").and_then(Value::as_array).ok_or_else(|| {
            Malformed::field(M, "ok.capabilities", "an array of capability names", obj.get("capabilities"))
        })?;
        let mut capabilities = CapabilitySet::new();
        for (i, item) in list.iter().enumerate() {
            let name = item.as_str().ok_or_else(|| {
                Malformed::field(M, &format!("ok.capabilities[{i}]"), "a capability name", Some(item))
            })?;
            let capability = Capability::from_name(name).ok_or_else(|| {
                Malformed::new(
                    M,
                    format!(
                        "field `ok.capabilities[{i}]`: `{name}` is not a capability; known: {}",
                        Capability::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            capabilities.insert(capability);
        }
        Ok(Handshake {
            protocol,
            name,
            version,
            language,
            homepage,
            backend: backend_name,
            backend_version,
            capabilities,
        })
    }
}

/// One line the adapter wrote on stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to request `seq`: a value or a typed error.
    Response {
        /// The request's sequence number.
        seq: u64,
        /// What it produced.
        result: Result<Value, (ErrorKind, String)>,
    },
    /// Something a store instance emitted.
    Event {
        /// The instance that emitted it.
        instance: String,
        /// What happened.
        kind: EventKind,
        /// The session id, when the event has one.
        sid: Option<String>,
    },
    /// The adapter could not read one of the harness's requests (`seq: null`).
    Complaint {
        /// What it said.
        message: String,
    },
}

/// Why a line could not be read, and whether the request it answers is known.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// The response's `seq`, when it could be read: that request fails, the stream goes on.
    pub seq: Option<u64>,
    /// What was wrong.
    pub malformed: Malformed,
}

impl Incoming {
    /// Reads one line of the adapter's stdout.
    pub fn decode(line: &str) -> Result<Incoming, BadLine> {
        let bad = |seq, malformed| BadLine { seq, malformed };
        let value: Value = serde_json::from_str(line).map_err(|e| {
            bad(
                None,
                Malformed::new(
                    "line on stdout",
                    format!(
                        "`{}` is not JSON ({e}); stdout carries protocol messages only, diagnostics belong on stderr",
                        short_text(line)
                    ),
                ),
            )
        })?;
        let Some(obj) = value.as_object() else {
            return Err(bad(
                None,
                Malformed::new("line on stdout", format!("expected a JSON object, found {}", json_type(&value))),
            ));
        };
        if obj.contains_key("event") {
            return Self::event(obj).map_err(|m| bad(None, m));
        }
        let seq = match obj.get("seq") {
            Some(Value::Null) => {
                let message = obj
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_owned();
                return Ok(Incoming::Complaint { message });
            }
            Some(v) => {
                v.as_u64().ok_or_else(|| bad(None, Malformed::field("response", "seq", "a whole number", Some(v))))?
            }
            None => {
                return Err(bad(
                    None,
                    Malformed::new("message", "it has neither `seq` (a response) nor `event` (an event)"),
                ));
            }
        };
        let message = format!("response (seq {seq})");
        match (obj.get("ok"), obj.get("error")) {
            (Some(ok), None) => Ok(Incoming::Response { seq, result: Ok(ok.clone()) }),
            (None, Some(error)) => {
                let e = error
                    .as_object()
                    .ok_or_else(|| bad(Some(seq), Malformed::field(&message, "error", "an object", Some(error))))?;
                let kind_name = e.get("kind").and_then(Value::as_str).ok_or_else(|| {
                    bad(Some(seq), Malformed::field(&message, "error.kind", "an error kind", e.get("kind")))
                })?;
                let kind = ErrorKind::from_name(kind_name).ok_or_else(|| {
                    bad(
                        Some(seq),
                        Malformed::new(
                            &message,
                            format!(
                                "field `error.kind`: `{kind_name}` is not an error kind; known: {}",
                                ErrorKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                            ),
                        ),
                    )
                })?;
                let text = match e.get("message") {
                    Some(Value::String(s)) => s.clone(),
                    other => {
                        return Err(bad(Some(seq), Malformed::field(&message, "error.message", "a string", other)));
                    }
                };
                Ok(Incoming::Response { seq, result: Err((kind, text)) })
            }
            (Some(_), Some(_)) => Err(bad(
                Some(seq),
                Malformed::new(&message, "it has both `ok` and `error`; a response has exactly one"),
            )),
            (None, None) => Err(bad(
                Some(seq),
                Malformed::new(
                    &message,
                    "it has neither `ok` nor `error`; a response has exactly one (`ok: null` for no value)",
                ),
            )),
        }
    }

    fn event(obj: &Map<String, Value>) -> Result<Incoming, Malformed> {
        const M: &str = "event";
        let name = obj
            .get("event")
            .and_then(Value::as_str)
            .ok_or_else(|| Malformed::field(M, "event", "an event kind", obj.get("event")))?;
        let kind = EventKind::from_name(name).ok_or_else(|| {
            Malformed::new(
                M,
                format!(
                    "field `event`: `{name}` is not an event kind; known: {}",
                    EventKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let instance = obj
            .get("instance")
            .and_then(Value::as_str)
            .ok_or_else(|| Malformed::field(M, "instance", "the id of an open instance", obj.get("instance")))?
            .to_owned();
        let sid = match obj.get("sid") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            other => return Err(Malformed::field(M, "sid", "a string", other)),
        };
        Ok(Incoming::Event { instance, kind, sid })
    }
}

/// Reads the `ok` value of each operation into the contract's types.
pub mod value {
    use super::*;

    fn response(op: &str) -> String {
        format!("response to {op}")
    }

    /// `null` for operations without a value.
    pub fn unit(op: &str, v: &Value) -> Result<(), Malformed> {
        if v.is_null() { Ok(()) } else { Err(Malformed::field(&response(op), "ok", "null", Some(v))) }
    }

    /// `get`: a session object, or `null` for absent.
    pub fn session(v: &Value) -> Result<Option<Session>, Malformed> {
        match v {
            Value::Null => Ok(None),
            Value::Object(_) => Ok(Some(Session::from_value(v.clone()).expect("an object"))),
            other => Err(Malformed::field(&response("get"), "ok", "a session object or null", Some(other))),
        }
    }

    /// `all`: entries `{sid, session}`.
    pub fn entries(v: &Value) -> Result<Vec<Listed>, Malformed> {
        let m = response("all");
        let list = v.as_array().ok_or_else(|| Malformed::field(&m, "ok", "an array of entries", Some(v)))?;
        list.iter()
            .enumerate()
            .map(|(i, entry)| {
                let obj = entry.as_object().ok_or_else(|| {
                    Malformed::field(&m, &format!("ok[{i}]"), "an object {sid, session}", Some(entry))
                })?;
                let sid = match obj.get("sid") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    other => return Err(Malformed::field(&m, &format!("ok[{i}].sid"), "a string or null", other)),
                };
                let session = match obj.get("session") {
                    Some(s @ Value::Object(_)) => Session::from_value(s.clone()).expect("an object"),
                    other => return Err(Malformed::field(&m, &format!("ok[{i}].session"), "a session object", other)),
                };
                Ok(Listed { sid, session })
            })
            .collect()
    }

    /// `length` and `raw-count`: a count.
    pub fn count(op: &str, v: &Value) -> Result<u64, Malformed> {
        v.as_u64().ok_or_else(|| Malformed::field(&response(op), "ok", "a whole number", Some(v)))
    }

    /// `ids`: sids.
    pub fn ids(v: &Value) -> Result<Vec<String>, Malformed> {
        let m = response("ids");
        let list = v.as_array().ok_or_else(|| Malformed::field(&m, "ok", "an array of strings", Some(v)))?;
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Malformed::field(&m, &format!("ok[{i}]"), "a string", Some(s)))
            })
            .collect()
    }

    /// `raw`: a record or `null`.
    pub fn record(v: &Value) -> Result<Option<RawRecord>, Malformed> {
        let m = response("raw");
        if v.is_null() {
            return Ok(None);
        }
        let obj = v.as_object().ok_or_else(|| Malformed::field(&m, "ok", "a record object or null", Some(v)))?;
        let key = obj
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| Malformed::field(&m, "ok.key", "a string", obj.get("key")))?
            .to_owned();
        let payload = obj.get("payload").cloned().ok_or_else(|| Malformed::field(&m, "ok.payload", "a value", None))?;
        let expires = match obj.get("expires") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                parse_timestamp(s)
                    .map_err(|_| Malformed::field(&m, "ok.expires", "an ISO-8601 time or null", obj.get("expires")))?,
            ),
            other => return Err(Malformed::field(&m, "ok.expires", "an ISO-8601 time or null", other)),
        };
        let fields = match obj.get("fields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(f)) => f.clone(),
            other => return Err(Malformed::field(&m, "ok.fields", "an object", other)),
        };
        Ok(Some(RawRecord { key, payload, expires, fields }))
    }

    /// `indexes`: objects with at least `name` and `key`.
    pub fn indexes(v: &Value) -> Result<Vec<Value>, Malformed> {
        let m = response("indexes");
        let list = v.as_array().ok_or_else(|| Malformed::field(&m, "ok", "an array of index objects", Some(v)))?;
        for (i, index) in list.iter().enumerate() {
            let ok = index.get("name").is_some_and(Value::is_string) && index.get("key").is_some();
            if !ok {
                return Err(Malformed::field(&m, &format!("ok[{i}]"), "an object with `name` and `key`", Some(index)));
            }
        }
        Ok(list.clone())
    }
}

impl From<Malformed> for StoreError {
    fn from(m: Malformed) -> StoreError {
        StoreError::new(ErrorKind::Backend, format!("the adapter broke the protocol: {m}"))
    }
}

/// A request line.
pub fn request(seq: u64, op: &str, fields: Map<String, Value>) -> String {
    let mut obj = Map::new();
    obj.insert("seq".into(), Value::from(seq));
    obj.insert("op".into(), Value::from(op));
    obj.extend(fields);
    let mut line = Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn short(v: &Value) -> String {
    short_text(&v.to_string())
}

fn short_text(text: &str) -> String {
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text.to_owned()
    }
}

impl fmt::Display for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({}) on {}", self.name, self.version, self.language, self.backend)?;
        if let Some(v) = &self.backend_version {
            write!(f, " {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn malformed_messages_name_the_message_and_the_field() {
        let e = Incoming::decode(r#"{"seq":4,"error":{"kind":"oops","message":"x"}}"#).unwrap_err();
        assert_eq!(e.seq, Some(4));
        assert!(
            e.malformed
                .to_string()
                .starts_with("malformed response (seq 4): field `error.kind`: `oops` is not an error kind")
        );
        let e = Incoming::decode(r#"{"event":"set","sid":"a"}"#).unwrap_err();
        assert_eq!(
            e.malformed.to_string(),
            "malformed event: field `instance` must be the id of an open instance, found nothing (the field is missing)"
        );
        let e = Incoming::decode("hello world").unwrap_err();
        assert!(e.malformed.to_string().contains("diagnostics belong on stderr"), "{}", e.malformed);
        let e = Handshake::decode(
            &json!({"protocol": 1, "implementation": {"name": "x", "version": "main", "language": "js"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`ok.implementation.version` must be a released version"), "{e}");
        let e = Handshake::decode(&json!({
            "protocol": 1,
            "implementation": {"name": "x", "version": "1.0.0", "language": "js"},
            "backend": {"name": "memory"},
            "capabilities": ["touch", "teleport"]
        }))
        .unwrap_err();
        assert!(e.to_string().contains("`ok.capabilities[1]`: `teleport` is not a capability"), "{e}");
    }

    #[test]
    fn reads_responses_events_and_values() {
        assert_eq!(
            Incoming::decode(r#"{"seq":2,"ok":null}"#).unwrap(),
            Incoming::Response { seq: 2, result: Ok(Value::Null) }
        );
        assert_eq!(
            Incoming::decode(r#"{"event":"destroy","instance":"i1","sid":"a"}"#).unwrap(),
            Incoming::Event { instance: "i1".into(), kind: EventKind::Destroy, sid: Some("a".into()) }
        );
        let entries =
            value::entries(&json!([{"sid": "a", "session": {"n": 1}}, {"sid": null, "session": {}}])).unwrap();
        assert_eq!(entries[0].sid.as_deref(), Some("a"));
        assert_eq!(entries[1].sid, None);
        assert!(value::entries(&json!([{"sid": 1, "session": {}}])).unwrap_err().to_string().contains("`ok[0].sid`"));
        assert!(value::session(&json!("text")).is_err());
    }
}

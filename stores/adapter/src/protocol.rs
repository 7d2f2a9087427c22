//! The adapter protocol's messages (spec/adapter-protocol.md), one definition of each for both
//! sides: requests as the harness writes them and an adapter reads them; the handshake,
//! responses and events as an adapter writes them and the harness reads them. Every message is
//! read field by field, so that a malformed one is reported by its name and field, never as a
//! bare JSON error. It never talks to a process.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sessionspec_contract::{
    Capability, CapabilitySet, ErrorKind, EventKind, Listed, Namespace, RawRecord, Session, StoreDescription,
    StoreError, StoreOptions, Tamper, format_timestamp, parse_timestamp,
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
    /// What an adapter serving the store `description` describes says in answer to `hello`.
    pub fn of(description: &StoreDescription) -> Handshake {
        Handshake {
            protocol: PROTOCOL_VERSION,
            name: description.name.clone(),
            version: description.version.clone(),
            language: description.language.clone(),
            homepage: None,
            backend: description.backend.clone(),
            backend_version: description.backend_version.clone(),
            capabilities: description.capabilities.clone(),
        }
    }

    /// The store as the harness and its reports describe it.
    pub fn description(&self) -> StoreDescription {
        StoreDescription {
            name: self.name.clone(),
            version: self.version.clone(),
            language: self.language.clone(),
            backend: self.backend.clone(),
            backend_version: self.backend_version.clone(),
            capabilities: self.capabilities.clone(),
        }
    }

    /// The `ok` value of the response to `hello`, as [`Handshake::decode`] reads it.
    pub fn encode(&self) -> Value {
        let mut implementation = json!({"name": self.name, "version": self.version, "language": self.language});
        if let Some(homepage) = &self.homepage {
            implementation["homepage"] = Value::from(homepage.as_str());
        }
        let mut backend = json!({"name": self.backend});
        if let Some(version) = &self.backend_version {
            backend["version"] = Value::from(version.as_str());
        }
        json!({
            "protocol": self.protocol,
            "implementation": implementation,
            "backend": backend,
            "capabilities": self.capabilities.names(),
        })
    }

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

    /// The line an adapter writes for this message, `\n` included, as [`Incoming::decode`] reads
    /// it. A complaint carries the kind `invalid`: a request nobody can read is not valid.
    pub fn encode(&self) -> String {
        let message = match self {
            Incoming::Response { seq, result: Ok(value) } => json!({"seq": seq, "ok": value}),
            Incoming::Response { seq, result: Err((kind, message)) } => {
                json!({"seq": seq, "error": {"kind": kind.name(), "message": message}})
            }
            Incoming::Event { instance, kind, sid } => {
                let mut event = json!({"event": kind.name(), "instance": instance});
                if let Some(sid) = sid {
                    event["sid"] = Value::from(sid.as_str());
                }
                event
            }
            Incoming::Complaint { message } => {
                json!({"seq": null, "error": {"kind": ErrorKind::Invalid.name(), "message": message}})
            }
        };
        let mut line = message.to_string();
        line.push('\n');
        line
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

/// The `ok` value of each operation: read into the contract's types by the harness, written from
/// them by an adapter (`from_*`), so both sides name the same members.
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

    /// `create`: the id the session was stored under.
    pub fn created(v: &Value) -> Result<String, Malformed> {
        v.as_str().map(str::to_owned).ok_or_else(|| Malformed::field(&response("create"), "ok", "a string", Some(v)))
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

    /// The value of `get`: the session, or `null`.
    pub fn from_session(session: Option<&Session>) -> Value {
        session.map_or(Value::Null, |s| Value::Object(s.as_map().clone()))
    }

    /// The value of `all`.
    pub fn from_entries(entries: &[Listed]) -> Value {
        Value::Array(entries.iter().map(|e| json!({"sid": e.sid, "session": from_session(Some(&e.session))})).collect())
    }

    /// The value of `raw`: the record, or `null`.
    pub fn from_record(record: Option<&RawRecord>) -> Value {
        match record {
            None => Value::Null,
            Some(r) => json!({
                "key": r.key,
                "payload": r.payload,
                "expires": r.expires.map(format_timestamp),
                "fields": r.fields,
            }),
        }
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

/// A request from the harness: written by the harness with [`Request::encode`], read by an
/// adapter with [`Request::decode`].
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The first request.
    Hello {
        /// The protocol versions the harness speaks.
        protocols: Vec<u64>,
    },
    /// Opens a store instance in a namespace.
    Open {
        /// The id the harness chose for it.
        instance: String,
        /// The scenario's namespace.
        namespace: Namespace,
        /// The scenario's options.
        options: StoreOptions,
    },
    /// One operation on an open instance.
    Call {
        /// The instance's id.
        instance: String,
        /// What to do.
        operation: Operation,
    },
    /// Shows the adapter's client clock another time (stores that declare `virtual-clock`).
    Clock {
        /// The time every read of the clock returns from now on; `None` is the real time again.
        time: Option<DateTime<Utc>>,
    },
    /// Closes the namespace's instances and removes what the adapter created for it.
    Drop {
        /// The namespace.
        namespace: Namespace,
    },
    /// Asks whether the adapter is alive.
    Ping,
    /// Asks the adapter to finish the requests in flight, close every instance and exit.
    Shutdown,
}

/// An operation on an open store instance: the contract's [`sessionspec_contract::Store`] and
/// [`sessionspec_contract::RawAccess`] methods.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// The session stored under `sid`.
    Get {
        /// The session id.
        sid: String,
    },
    /// Stores a session.
    Set {
        /// The session id.
        sid: String,
        /// The session.
        session: Session,
    },
    /// Removes a session.
    Destroy {
        /// The session id.
        sid: String,
    },
    /// Moves a session's expiry.
    Touch {
        /// The session id.
        sid: String,
        /// The session carrying the new cookie.
        session: Session,
    },
    /// Every unexpired session.
    All,
    /// How many unexpired sessions there are.
    Length,
    /// Removes every session.
    Clear,
    /// The ids of the unexpired sessions.
    Ids,
    /// Closes the instance.
    Close,
    /// Stores a session under an id no session holds (`create`).
    Create {
        /// The session id asked for.
        sid: String,
        /// The session.
        session: Session,
    },
    /// Removes the expired records (`delete-expired`).
    DeleteExpired,
    /// The record stored for `sid`, expired or not (`raw-inspection`).
    Raw {
        /// The session id.
        sid: String,
    },
    /// How many records are stored (`raw-inspection`).
    RawCount,
    /// The backend's indexes (`indexes`).
    Indexes,
    /// Damages a stored payload (`raw-inspection`).
    Tamper {
        /// The session id.
        sid: String,
        /// How.
        how: Tamper,
    },
}

/// Every `op` of the protocol, in the order of spec/adapter-protocol.md.
pub const OPS: [&str; 21] = [
    "hello",
    "open",
    "get",
    "set",
    "destroy",
    "touch",
    "all",
    "length",
    "clear",
    "ids",
    "close",
    "create",
    "delete-expired",
    "raw",
    "raw-count",
    "indexes",
    "tamper",
    "clock",
    "drop",
    "ping",
    "shutdown",
];

impl Operation {
    /// Its `op`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Get { .. } => "get",
            Operation::Set { .. } => "set",
            Operation::Destroy { .. } => "destroy",
            Operation::Touch { .. } => "touch",
            Operation::All => "all",
            Operation::Length => "length",
            Operation::Clear => "clear",
            Operation::Ids => "ids",
            Operation::Close => "close",
            Operation::Create { .. } => "create",
            Operation::DeleteExpired => "delete-expired",
            Operation::Raw { .. } => "raw",
            Operation::RawCount => "raw-count",
            Operation::Indexes => "indexes",
            Operation::Tamper { .. } => "tamper",
        }
    }
}

impl Request {
    /// Its `op`.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Open { .. } => "open",
            Request::Call { operation, .. } => operation.name(),
            Request::Clock { .. } => "clock",
            Request::Drop { .. } => "drop",
            Request::Ping => "ping",
            Request::Shutdown => "shutdown",
        }
    }

    /// Its members besides `seq` and `op`.
    pub fn fields(&self) -> Map<String, Value> {
        let fields = match self {
            Request::Hello { protocols } => json!({"protocols": protocols}),
            Request::Open { instance, namespace, options } => json!({
                "instance": instance,
                "namespace": namespace.as_str(),
                "options": serde_json::to_value(options).expect("store options are strings, numbers and flags"),
            }),
            Request::Call { instance, operation } => {
                let mut fields = json!({"instance": instance});
                let (sid, session, how) = match operation {
                    Operation::Get { sid } | Operation::Destroy { sid } | Operation::Raw { sid } => {
                        (Some(sid), None, None)
                    }
                    Operation::Set { sid, session }
                    | Operation::Touch { sid, session }
                    | Operation::Create { sid, session } => (Some(sid), Some(session), None),
                    Operation::Tamper { sid, how } => (Some(sid), None, Some(how)),
                    Operation::All
                    | Operation::Length
                    | Operation::Clear
                    | Operation::Ids
                    | Operation::Close
                    | Operation::DeleteExpired
                    | Operation::RawCount
                    | Operation::Indexes => (None, None, None),
                };
                if let Some(sid) = sid {
                    fields["sid"] = Value::from(sid.as_str());
                }
                if let Some(session) = session {
                    fields["session"] = value::from_session(Some(session));
                }
                if let Some(how) = how {
                    fields["how"] = Value::from(how.name());
                }
                fields
            }
            Request::Clock { time } => json!({"time": time.map(format_timestamp)}),
            Request::Drop { namespace } => json!({"namespace": namespace.as_str()}),
            Request::Ping | Request::Shutdown => json!({}),
        };
        match fields {
            Value::Object(map) => map,
            _ => unreachable!("every request's fields are an object"),
        }
    }

    /// The request line, `\n` included.
    pub fn encode(&self, seq: u64) -> String {
        request(seq, self.op(), self.fields())
    }

    /// Reads one request line. Members the protocol does not define are ignored: a newer
    /// harness may add optional ones (spec/adapter-protocol.md, "Versioning").
    pub fn decode(line: &str) -> Result<(u64, Request), BadRequest> {
        let unreadable = |message: String| BadRequest { seq: None, kind: ErrorKind::Invalid, message };
        let value: Value = serde_json::from_str(line)
            .map_err(|e| unreadable(format!("a request is not JSON ({e}): `{}`", short_text(line))))?;
        let obj = value
            .as_object()
            .ok_or_else(|| unreadable(format!("a request must be a JSON object, found {}", json_type(&value))))?;
        let seq = obj.get("seq").and_then(Value::as_u64).ok_or_else(|| {
            unreadable(Malformed::field("request", "seq", "a whole number", obj.get("seq")).to_string())
        })?;
        let op = match obj.get("op") {
            Some(Value::String(op)) => op.as_str(),
            other => {
                return Err(BadRequest {
                    seq: Some(seq),
                    kind: ErrorKind::Invalid,
                    message: Malformed::field(&format!("request (seq {seq})"), "op", "a string", other).to_string(),
                });
            }
        };
        let f = Fields { obj, seq, op };
        let call = |operation: Operation| -> Result<Request, BadRequest> {
            Ok(Request::Call { instance: f.instance()?, operation })
        };
        let request = match op {
            "hello" => Request::Hello { protocols: f.protocols()? },
            "open" => Request::Open { instance: f.instance()?, namespace: f.namespace()?, options: f.options()? },
            "get" => call(Operation::Get { sid: f.text("sid")? })?,
            "set" => call(Operation::Set { sid: f.text("sid")?, session: f.session()? })?,
            "destroy" => call(Operation::Destroy { sid: f.text("sid")? })?,
            "touch" => call(Operation::Touch { sid: f.text("sid")?, session: f.session()? })?,
            "all" => call(Operation::All)?,
            "length" => call(Operation::Length)?,
            "clear" => call(Operation::Clear)?,
            "ids" => call(Operation::Ids)?,
            "close" => call(Operation::Close)?,
            "create" => call(Operation::Create { sid: f.text("sid")?, session: f.session()? })?,
            "delete-expired" => call(Operation::DeleteExpired)?,
            "raw" => call(Operation::Raw { sid: f.text("sid")? })?,
            "raw-count" => call(Operation::RawCount)?,
            "indexes" => call(Operation::Indexes)?,
            "tamper" => call(Operation::Tamper { sid: f.text("sid")?, how: f.tamper()? })?,
            "clock" => Request::Clock { time: f.time()? },
            "drop" => Request::Drop { namespace: f.namespace()? },
            "ping" => Request::Ping,
            "shutdown" => Request::Shutdown,
            other => {
                return Err(BadRequest {
                    seq: Some(seq),
                    kind: ErrorKind::Unsupported,
                    message: format!(
                        "unknown request `{}`; this adapter answers {}",
                        short_text(other),
                        OPS.join(", ")
                    ),
                });
            }
        };
        Ok((seq, request))
    }
}

/// A request line an adapter cannot act on, and its answer: an error with the request's `seq`,
/// or with `seq: null` when not even that could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct BadRequest {
    /// The request's `seq`, when it could be read.
    pub seq: Option<u64>,
    /// `unsupported` for an unknown `op`, `invalid` for anything else.
    pub kind: ErrorKind,
    /// What was wrong, naming the field.
    pub message: String,
}

impl BadRequest {
    /// The answer to the request.
    pub fn response(&self) -> Incoming {
        match self.seq {
            Some(seq) => Incoming::Response { seq, result: Err((self.kind, self.message.clone())) },
            None => Incoming::Complaint { message: self.message.clone() },
        }
    }
}

/// The members of one request, read with messages that name the request and the field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    seq: u64,
    op: &'a str,
}

impl Fields<'_> {
    fn bad(&self, field: &str, expected: &str) -> BadRequest {
        let message = format!("request `{}` (seq {})", self.op, self.seq);
        BadRequest {
            seq: Some(self.seq),
            kind: ErrorKind::Invalid,
            message: Malformed::field(&message, field, expected, self.obj.get(field)).to_string(),
        }
    }

    fn text(&self, field: &str) -> Result<String, BadRequest> {
        match self.obj.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(self.bad(field, "a string")),
        }
    }

    fn instance(&self) -> Result<String, BadRequest> {
        match self.obj.get("instance") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(self.bad("instance", "an instance id (a non-empty string)")),
        }
    }

    fn namespace(&self) -> Result<Namespace, BadRequest> {
        let expected = "a namespace: 1-48 of [a-z0-9_], starting with a letter";
        let text = self.text("namespace").map_err(|_| self.bad("namespace", expected))?;
        Namespace::new(text).map_err(|_| self.bad("namespace", expected))
    }

    fn session(&self) -> Result<Session, BadRequest> {
        match self.obj.get("session") {
            Some(Value::Object(map)) => Ok(Session::from_map(map.clone())),
            _ => Err(self.bad("session", "a session object")),
        }
    }

    fn options(&self) -> Result<StoreOptions, BadRequest> {
        let value = self.obj.get("options").ok_or_else(|| self.bad("options", "an object of store options"))?;
        // The contract's own decoding: the same kebab-case keys and duration strings the
        // harness writes, unknown keys refused.
        serde_json::from_value(value.clone()).map_err(|e| BadRequest {
            seq: Some(self.seq),
            kind: ErrorKind::Invalid,
            message: Malformed::new(
                format!("request `{}` (seq {})", self.op, self.seq),
                format!("field `options`: {e}"),
            )
            .to_string(),
        })
    }

    fn tamper(&self) -> Result<Tamper, BadRequest> {
        let expected = "`flip-byte` or `garbage`";
        let how = self.text("how").map_err(|_| self.bad("how", expected))?;
        Tamper::from_name(&how).ok_or_else(|| self.bad("how", expected))
    }

    fn time(&self) -> Result<Option<DateTime<Utc>>, BadRequest> {
        let expected = "an ISO-8601 time or null";
        match self.obj.get("time") {
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_timestamp(s).map(Some).map_err(|_| self.bad("time", expected)),
            _ => Err(self.bad("time", expected)),
        }
    }

    fn protocols(&self) -> Result<Vec<u64>, BadRequest> {
        let expected = "a non-empty array of protocol versions";
        let list =
            self.obj.get("protocols").and_then(Value::as_array).ok_or_else(|| self.bad("protocols", expected))?;
        let versions: Option<Vec<u64>> = list.iter().map(Value::as_u64).collect();
        versions.filter(|v| !v.is_empty()).ok_or_else(|| self.bad("protocols", expected))
    }
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
    fn every_request_reads_back_as_written() {
        let session = Session::from_value(json!({"cookie": {"expires": null, "originalMaxAge": null}, "n": [1, 2]}))
            .expect("an object");
        let options = StoreOptions {
            ttl: Some(std::time::Duration::from_millis(1500)),
            touch_after: Some(std::time::Duration::from_secs(90)),
            name: Some("sessions".into()),
            ..StoreOptions::default()
        };
        let call = |operation| Request::Call { instance: "i7".into(), operation };
        let requests = [
            Request::Hello { protocols: vec![PROTOCOL_VERSION] },
            Request::Open { instance: "i7".into(), namespace: Namespace::new("ns_1").unwrap(), options },
            call(Operation::Get { sid: "a".into() }),
            call(Operation::Set { sid: "a".into(), session: session.clone() }),
            call(Operation::Destroy { sid: "".into() }),
            call(Operation::Touch { sid: "a".into(), session: session.clone() }),
            call(Operation::All),
            call(Operation::Length),
            call(Operation::Clear),
            call(Operation::Ids),
            call(Operation::Close),
            call(Operation::Create { sid: "b".into(), session: session.clone() }),
            call(Operation::DeleteExpired),
            call(Operation::Raw { sid: "a".into() }),
            call(Operation::RawCount),
            call(Operation::Indexes),
            call(Operation::Tamper { sid: "a".into(), how: Tamper::FlipByte }),
            Request::Clock { time: Some(parse_timestamp("2030-01-01T00:00:05.000Z").unwrap()) },
            Request::Clock { time: None },
            Request::Drop { namespace: Namespace::new("ns_1").unwrap() },
            Request::Ping,
            Request::Shutdown,
        ];
        let mut ops: Vec<&str> = requests.iter().map(Request::op).collect();
        ops.dedup();
        assert_eq!(ops, OPS, "every op once, in the spec's order");
        for (seq, request) in requests.into_iter().enumerate() {
            let line = request.encode(seq as u64);
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'), "one line: {line}");
            assert_eq!(Request::decode(&line), Ok((seq as u64, request)), "{line}");
        }
        let newer = r#"{"seq": 3, "op": "ping", "plain-json": true}"#;
        assert_eq!(Request::decode(newer), Ok((3, Request::Ping)), "members the protocol does not define are ignored");
    }

    #[test]
    fn what_an_adapter_writes_the_harness_reads_back() {
        let messages = [
            Incoming::Response { seq: 1, result: Ok(json!({"n": 1})) },
            Incoming::Response { seq: 2, result: Err((ErrorKind::Decrypt, "wrong key".into())) },
            Incoming::Event { instance: "i1".into(), kind: EventKind::Touch, sid: Some("a".into()) },
            Incoming::Event { instance: "i1".into(), kind: EventKind::All, sid: None },
            Incoming::Complaint { message: "a request is not JSON".into() },
        ];
        for message in messages {
            assert_eq!(Incoming::decode(message.encode().trim_end()), Ok(message));
        }
        let handshake = Handshake {
            protocol: 1,
            name: "connect-x".into(),
            version: "1.2.3".into(),
            language: "rust".into(),
            homepage: Some("https://example.org".into()),
            backend: "redis".into(),
            backend_version: Some("7.0.15".into()),
            capabilities: [Capability::Touch, Capability::VirtualClock].into_iter().collect(),
        };
        assert_eq!(Handshake::decode(&handshake.encode()), Ok(handshake));
        let record = RawRecord {
            key: "sess:a".into(),
            payload: json!("{\"n\":1}"),
            expires: Some(parse_timestamp("2030-01-01T00:00:00.000Z").unwrap()),
            fields: [("ttl".to_owned(), json!(1000))].into_iter().collect(),
        };
        assert_eq!(value::record(&value::from_record(Some(&record))), Ok(Some(record)));
        assert_eq!(value::record(&value::from_record(None)), Ok(None));
        let entries = vec![
            Listed { sid: Some("a".into()), session: Session::from_value(json!({"n": 1})).unwrap() },
            Listed { sid: None, session: Session::from_value(json!({})).unwrap() },
        ];
        assert_eq!(value::entries(&value::from_entries(&entries)), Ok(entries));
    }

    #[test]
    fn unreadable_requests_say_what_is_wrong_and_where() {
        let cases = [
            ("not json", None, ErrorKind::Invalid, "a request is not JSON"),
            ("[]", None, ErrorKind::Invalid, "a request must be a JSON object, found an array"),
            (r#"{"op": "ping"}"#, None, ErrorKind::Invalid, "malformed request: field `seq` must be a whole number"),
            (r#"{"seq": 1}"#, Some(1), ErrorKind::Invalid, "malformed request (seq 1): field `op` must be a string"),
            (
                r#"{"seq": 2, "op": "fly"}"#,
                Some(2),
                ErrorKind::Unsupported,
                "unknown request `fly`; this adapter answers hello,",
            ),
            (
                r#"{"seq": 3, "op": "get", "instance": "", "sid": "a"}"#,
                Some(3),
                ErrorKind::Invalid,
                "field `instance` must be an instance id",
            ),
            (
                r#"{"seq": 4, "op": "set", "instance": "i1", "sid": "a", "session": [1]}"#,
                Some(4),
                ErrorKind::Invalid,
                "malformed request `set` (seq 4): field `session` must be a session object, found an array `[1]`",
            ),
            (
                r#"{"seq": 5, "op": "open", "instance": "i1", "namespace": "Bad", "options": {}}"#,
                Some(5),
                ErrorKind::Invalid,
                "field `namespace` must be a namespace",
            ),
            (
                r#"{"seq": 6, "op": "open", "instance": "i1", "namespace": "ok", "options": {"ttl": "1s", "colour": "red"}}"#,
                Some(6),
                ErrorKind::Invalid,
                "field `options`: unknown field `colour`",
            ),
            (
                r#"{"seq": 7, "op": "tamper", "instance": "i1", "sid": "a", "how": "smash"}"#,
                Some(7),
                ErrorKind::Invalid,
                "field `how` must be `flip-byte` or `garbage`",
            ),
            (
                r#"{"seq": 8, "op": "clock", "time": "tomorrow"}"#,
                Some(8),
                ErrorKind::Invalid,
                "field `time` must be an ISO-8601 time or null",
            ),
            (
                r#"{"seq": 9, "op": "clock"}"#,
                Some(9),
                ErrorKind::Invalid,
                "field `time` must be an ISO-8601 time or null",
            ),
            (
                r#"{"seq": 10, "op": "hello", "protocols": []}"#,
                Some(10),
                ErrorKind::Invalid,
                "field `protocols` must be a non-empty array",
            ),
        ];
        for (line, seq, kind, needle) in cases {
            let bad = Request::decode(line).expect_err(line);
            assert_eq!((bad.seq, bad.kind), (seq, kind), "{line}: {}", bad.message);
            assert!(bad.message.contains(needle), "{line}: {}", bad.message);
        }
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

//! The surface syntax of a scenario file, as serde types. These types are what the JSON Schema
//! in `spec/scenario.schema.json` is generated from; [`crate::compile`] turns them into the
//! checked [`crate::model`]. Free-form parts (session data, expectations) stay JSON here and are
//! compiled with their own error paths.

use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sessionspec_contract::{StoreOptions, duration};

/// A scenario file: one scenario.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "sessionspec scenario", description = "One sessionspec scenario: see spec/writing-scenarios.md")]
pub struct ScenarioDoc {
    /// Stable identifier, never reused: `<area>.<name>`, lower-case words separated by `-`,
    /// segments separated by `.`. The first segment is the directory the file is in.
    #[schemars(pattern(r"^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)+$"))]
    pub id: String,
    /// One line saying what the scenario shows, as a statement.
    pub title: String,
    /// The requirement IDs from spec/session-store.md this scenario checks.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Capabilities (spec/capabilities.yaml) a store needs for this scenario to apply.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Capabilities (spec/capabilities.yaml) that make this scenario not apply to a store
    /// declaring one: what it checks is then not the store's to do (`touch-by-save`).
    #[serde(default)]
    pub excludes: Vec<String>,
    /// `virtual` (default): the harness moves a virtual clock. `real`: wall-clock time.
    #[serde(default)]
    pub clock: ClockMode,
    /// Store options for this scenario.
    #[serde(default)]
    pub options: StoreOptions,
    /// Upstream issues or documents this scenario comes from (URLs).
    #[serde(default)]
    pub refs: Vec<String>,
    /// The steps, run in order.
    pub steps: Vec<StepDoc>,
}

/// Which clock a scenario runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// A virtual clock the harness moves with `advance` (server-clock stores wait for real,
    /// within the real-time budget).
    #[default]
    Virtual,
    /// The wall clock: `advance` waits for real.
    Real,
}

/// One step: exactly one operation key, plus modifiers.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(transform = exactly_one_operation)]
pub struct StepDoc {
    /// `get: SID`: read a session.
    pub get: Option<SidArg>,
    /// `set: {sid, session}`: store a session.
    pub set: Option<WriteArgs>,
    /// `touch: {sid, session}`: move a session's expiry.
    pub touch: Option<WriteArgs>,
    /// `destroy: SID`: remove a session.
    pub destroy: Option<SidArg>,
    /// `all:`: list the unexpired sessions, as `[{sid, session}]` (sid null when unknown).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub all: Option<Present>,
    /// `length:`: count the unexpired sessions.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub length: Option<Present>,
    /// `clear:`: remove every session.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub clear: Option<Present>,
    /// `ids:`: list the ids of the unexpired sessions.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub ids: Option<Present>,
    /// `close:`: close the store instance.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub close: Option<Present>,
    /// `create: {sid, session}`: store a session under an id no session holds (needs `create`);
    /// the value is the id it was stored under.
    pub create: Option<WriteArgs>,
    /// `delete-expired:`: remove the expired records (needs `delete-expired`).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub delete_expired: Option<Present>,
    /// `open: NAME` or `open: {as: NAME, options: {...}, namespace: SUFFIX}`: open another
    /// instance of the store, with the scenario's options overlaid: on the same namespace
    /// (needs `shared-namespace`), or with `namespace` on a second one, named after the
    /// scenario's with `_SUFFIX` appended, that starts empty.
    pub open: Option<OpenArg>,
    /// `advance: DURATION`: move the clock forward.
    pub advance: Option<DurationText>,
    /// `raw: SID`: the stored record, expired or not (needs `raw-inspection`).
    pub raw: Option<SidArg>,
    /// `raw-count:`: how many records are stored, expired ones included (needs `raw-inspection`).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub raw_count: Option<Present>,
    /// `indexes:`: the backend's indexes on the session records (needs `indexes`).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub indexes: Option<Present>,
    /// `tamper: {sid, how}`: damage a stored payload (needs `raw-inspection`).
    pub tamper: Option<TamperArgs>,
    /// `concurrently: [steps]` or `{repeat: N, as: VAR, steps: [...]}`: run steps at once,
    /// recording a history of their operations for `check`.
    pub concurrently: Option<ConcurrentlyDoc>,
    /// `check: CLAIM`: check a claim against the history recorded so far.
    pub check: Option<ClaimName>,
    /// `fault: refuse | reset | blackhole | {latency: D} | {cut: D}`: cause a fault between the
    /// store and its server (through the harness's fault proxy; the scenario does not apply to a
    /// store without one). Faults last until `heal:`, a cut until it ends, every one until the
    /// scenario ends.
    pub fault: Option<FaultDoc>,
    /// `heal:`: end every fault; the step finishes once the server can be reached again.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<()>")]
    pub heal: Option<Present>,
    /// `backend: stop | start | restart | pause | unpause`: act on the store's server itself
    /// (applies only where the harness runs that server, in a container of the run; the case
    /// runs alone in the run, as every store of that server sees it). Whatever the scenario
    /// leaves stopped or paused, `heal:` and the end of the scenario bring back.
    pub backend: Option<BackendAction>,
    /// `wait: DURATION`: let real time pass (at most 5s; the scenario's clock does not move),
    /// for a store to meet a fault before `heal:` ends it.
    pub wait: Option<DurationText>,
    /// What the step must produce. Default `ok`: it must succeed.
    #[schemars(with = "ExpectationSchema")]
    pub expect: Option<Value>,
    /// The store instance to run on (default `main`).
    pub on: Option<String>,
    /// Save the step's result under this name, for `{$saved: NAME}` later.
    pub save: Option<String>,
    /// The step's timeout (default: the runner's step timeout).
    pub timeout: Option<DurationText>,
    /// Retry the step until its expectation holds, for at most this long: for effects a
    /// backend applies asynchronously (a sweep, a TTL monitor).
    pub eventually: Option<DurationText>,
}

/// The operation keys of a step, in schema order.
pub const OPERATIONS: &[&str] = &[
    "get",
    "set",
    "touch",
    "destroy",
    "all",
    "length",
    "clear",
    "ids",
    "close",
    "create",
    "delete-expired",
    "open",
    "advance",
    "raw",
    "raw-count",
    "indexes",
    "tamper",
    "concurrently",
    "check",
    "fault",
    "heal",
    "backend",
    "wait",
];

fn exactly_one_operation(schema: &mut Schema) {
    let branches: Vec<Value> = OPERATIONS.iter().map(|op| serde_json::json!({ "required": [op] })).collect();
    schema.insert("oneOf".to_owned(), Value::Array(branches));
}

impl StepDoc {
    /// The operation keys present, in [`OPERATIONS`] order.
    pub fn operations(&self) -> Vec<&'static str> {
        let present = [
            self.get.is_some(),
            self.set.is_some(),
            self.touch.is_some(),
            self.destroy.is_some(),
            self.all.is_some(),
            self.length.is_some(),
            self.clear.is_some(),
            self.ids.is_some(),
            self.close.is_some(),
            self.create.is_some(),
            self.delete_expired.is_some(),
            self.open.is_some(),
            self.advance.is_some(),
            self.raw.is_some(),
            self.raw_count.is_some(),
            self.indexes.is_some(),
            self.tamper.is_some(),
            self.concurrently.is_some(),
            self.check.is_some(),
            self.fault.is_some(),
            self.heal.is_some(),
            self.backend.is_some(),
            self.wait.is_some(),
        ];
        OPERATIONS.iter().zip(present).filter(|(_, p)| *p).map(|(op, _)| *op).collect()
    }
}

/// Marks an operation key that takes no argument (`all:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present;

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Present>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match value {
        Value::Null => Ok(Some(Present)),
        Value::Object(map) if map.is_empty() => Ok(Some(Present)),
        other => Err(de::Error::custom(format!(
            "this operation takes no argument: write the key alone (`all:`), found `{other}`"
        ))),
    }
}

/// A session id: `get: a` or `get: {sid: a}`. May contain `${VAR}` inside `concurrently`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum SidArg {
    /// `get: a`
    Plain(String),
    /// `get: {sid: a}`
    Map {
        /// The session id.
        sid: String,
    },
}

impl SidArg {
    /// The id text.
    pub fn sid(&self) -> &str {
        match self {
            SidArg::Plain(sid) | SidArg::Map { sid } => sid,
        }
    }
}

impl<'de> Deserialize<'de> for SidArg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SidVisitor;
        impl<'de> Visitor<'de> for SidVisitor {
            type Value = SidArg;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a session id (a string) or `{sid: ID}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SidArg, E> {
                Ok(SidArg::Plain(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SidArg, E> {
                Err(E::custom(format!("a session id must be a string: quote it (\"{v}\")")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SidArg, E> {
                Err(E::custom(format!("a session id must be a string: quote it (\"{v}\")")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SidArg, A::Error> {
                let mut sid = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "sid" => sid = Some(map.next_value::<String>()?),
                        other => return Err(de::Error::unknown_field(other, &["sid"])),
                    }
                }
                sid.map(|sid| SidArg::Map { sid }).ok_or_else(|| de::Error::missing_field("sid"))
            }
        }
        deserializer.deserialize_any(SidVisitor)
    }
}

/// `{sid, session}` for `set` and `touch`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// The session id.
    pub sid: String,
    /// The session: a JSON object, usually with a `cookie`. `cookie.expires` may be written
    /// relative to the clock (`+10s`, `-1s`); `{$time: +1h}`, `{$repeat: {text, times}}`,
    /// `{$nest: {depth, key, leaf}}`, `{$var: NAME}`, `{$saved: NAME}` and `{$literal: X}`
    /// build values.
    pub session: Value,
}

/// `open: NAME` or `open: {as: NAME, options: {...}, namespace: SUFFIX}`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum OpenArg {
    /// `open: b`
    Plain(String),
    /// `open: {as: b, options: {...}, namespace: other}`
    Map {
        /// The instance name.
        #[serde(rename = "as")]
        name: String,
        /// Options overlaid on the scenario's.
        #[serde(default)]
        options: StoreOptions,
        /// Open on a second namespace: the scenario's name followed by `_` and this suffix
        /// (1-16 of `[a-z0-9_]`), so one is a prefix of the other. It starts empty and is
        /// dropped with the scenario's.
        #[serde(default)]
        #[schemars(pattern(r"^[a-z0-9_]{1,16}$"))]
        namespace: Option<String>,
    },
}

impl<'de> Deserialize<'de> for OpenArg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct OpenMap {
            #[serde(rename = "as")]
            name: String,
            #[serde(default)]
            options: StoreOptions,
            #[serde(default)]
            namespace: Option<String>,
        }
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::String(name) => Ok(OpenArg::Plain(name)),
            Value::Object(_) => {
                let map: OpenMap = serde_json::from_value(value).map_err(de::Error::custom)?;
                Ok(OpenArg::Map { name: map.name, options: map.options, namespace: map.namespace })
            }
            other => Err(de::Error::custom(format!(
                "expected an instance name or `{{as: NAME, options: {{...}}, namespace: SUFFIX}}`, found `{other}`"
            ))),
        }
    }
}

/// `{sid, how}` for `tamper`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TamperArgs {
    /// The session id whose stored payload to damage.
    pub sid: String,
    /// `flip-byte` (change one byte of the payload, keeping its encoding valid) or `garbage`
    /// (replace it with text that is neither JSON nor ciphertext).
    pub how: TamperHow,
}

/// How to damage a stored payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TamperHow {
    /// Change one byte of the payload, keeping its encoding valid.
    FlipByte,
    /// Replace the payload with text that is neither JSON nor ciphertext.
    Garbage,
}

/// `concurrently: [steps]` or `concurrently: {repeat: N, as: VAR, steps: [...]}`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum ConcurrentlyDoc {
    /// Run these steps at once.
    Steps(Vec<StepDoc>),
    /// Run `repeat` copies of `steps` at once, with `${VAR}` (default `i`) set to 0..repeat.
    Repeat(RepeatDoc),
}

/// `{repeat: N, as: VAR, steps: [...]}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatDoc {
    /// How many copies run at once (1-1000).
    #[schemars(range(min = 1, max = 1000))]
    pub repeat: u32,
    /// The variable holding the copy's number (default `i`).
    #[serde(default = "default_var", rename = "as")]
    pub var: String,
    /// The steps of each copy, run in order within the copy.
    pub steps: Vec<StepDoc>,
}

fn default_var() -> String {
    "i".to_owned()
}

impl<'de> Deserialize<'de> for ConcurrentlyDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConcurrentlyVisitor;
        impl<'de> Visitor<'de> for ConcurrentlyVisitor {
            type Value = ConcurrentlyDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of steps or `{repeat: N, as: VAR, steps: [...]}`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ConcurrentlyDoc, A::Error> {
                Vec::<StepDoc>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(ConcurrentlyDoc::Steps)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ConcurrentlyDoc, A::Error> {
                RepeatDoc::deserialize(de::value::MapAccessDeserializer::new(map)).map(ConcurrentlyDoc::Repeat)
            }
        }
        deserializer.deserialize_any(ConcurrentlyVisitor)
    }
}

/// A claim `check` verifies on the recorded history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimName {
    /// Every session written concurrently now holds exactly one of the values written to it
    /// by an acknowledged (or indeterminate) `set`: never a mix, never an older value.
    OneOfWritten,
    /// Every acknowledged `set` whose session was not destroyed later is readable.
    NoLostWrites,
    /// A session destroyed without a `set` racing or following the destroy stays destroyed,
    /// whatever `touch`es ran alongside.
    NoResurrection,
}

impl ClaimName {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            ClaimName::OneOfWritten => "one-of-written",
            ClaimName::NoLostWrites => "no-lost-writes",
            ClaimName::NoResurrection => "no-resurrection",
        }
    }
}

/// What a `backend:` step does to the store's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BackendAction {
    /// The server shuts down as its operator stops it (SIGTERM, then SIGKILL after 10 s).
    Stop,
    /// A stopped server starts again with its data; the step ends once it answers.
    Start,
    /// Stop, then start: the server keeps what it persists (Redis takes a snapshot first, as one
    /// configured with save points does at shutdown).
    Restart,
    /// The server's processes are frozen: connections stay open and nothing answers.
    Pause,
    /// Frozen processes go on.
    Unpause,
}

impl BackendAction {
    /// The action's name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            BackendAction::Stop => "stop",
            BackendAction::Start => "start",
            BackendAction::Restart => "restart",
            BackendAction::Pause => "pause",
            BackendAction::Unpause => "unpause",
        }
    }
}

/// A fault as written: `refuse`, `reset`, `blackhole`, `{latency: D}` or `{cut: D}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum FaultDoc {
    /// `refuse`, `reset` or `blackhole`.
    Kind(FaultKind),
    /// `{latency: D}`: every chunk forwarded D late, both ways.
    Latency {
        /// The delay.
        latency: DurationText,
    },
    /// `{cut: D}`: open connections reset, new ones refused for D, then healed by itself.
    Cut {
        /// How long the server is unreachable.
        cut: DurationText,
    },
}

/// A fault that takes no argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// New connections are refused (the port is closed); open ones keep working.
    Refuse,
    /// Every open connection is reset, once; new ones work.
    Reset,
    /// Connections are accepted and nothing is forwarded, either way.
    Blackhole,
}

impl<'de> Deserialize<'de> for FaultDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Timed {
            latency: Option<DurationText>,
            cut: Option<DurationText>,
        }
        let expected = "expected `refuse`, `reset`, `blackhole`, `{latency: DURATION}` or `{cut: DURATION}`";
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::String(_) => serde_json::from_value(value)
                .map(FaultDoc::Kind)
                .map_err(|_| de::Error::custom(format!("unknown fault: {expected}"))),
            Value::Object(_) => {
                let timed: Timed =
                    serde_json::from_value(value).map_err(|e| de::Error::custom(format!("{e}: {expected}")))?;
                match (timed.latency, timed.cut) {
                    (Some(latency), None) => Ok(FaultDoc::Latency { latency }),
                    (None, Some(cut)) => Ok(FaultDoc::Cut { cut }),
                    _ => Err(de::Error::custom(format!("a fault has exactly one of `latency` and `cut`: {expected}"))),
                }
            }
            other => Err(de::Error::custom(format!("{expected}, found `{other}`"))),
        }
    }
}

/// A duration as written in a scenario (`10s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::String(text) => duration::parse(&text).map(DurationText).map_err(de::Error::custom),
            other => Err(de::Error::custom(format!(
                "malformed duration `{other}`: expected a whole number followed by a unit (ms, s, m, h, d), like 500ms, 10s or 1m30s"
            ))),
        }
    }
}

impl JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        duration::Schema::json_schema(generator)
    }
}

/// The JSON Schema of an expectation (the value itself is compiled by [`crate::compile`]).
// Never built: it only describes expectations for the schema generator.
#[allow(clippy::large_enum_variant)]
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum ExpectationSchema {
    /// `ok` (the step succeeds) or `absent` (it returns nothing).
    Keyword(ExpectationKeyword),
    /// A map of checks.
    Checks(ExpectationChecks),
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
enum ExpectationKeyword {
    Ok,
    Absent,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct ExpectationChecks {
    /// The step returns a session (not absent) matching this.
    session: Option<Value>,
    /// The step's result matches this (`null` for absent).
    value: Option<Value>,
    /// The step fails with this error kind (`any` for any kind).
    error: Option<String>,
    /// With `error`: the error's text (its message and every cause) matches this, such as
    /// `{$not-contains: SECRET}`. Scenarios never assert what a message says, only what it must
    /// not reveal.
    message: Option<Value>,
    /// The step's result meets one of these expectations, each `ok`, `absent` or a map with
    /// one of `session`, `value` and `error`: `[ok, {error: closed}]`.
    one_of: Option<Vec<Value>>,
    /// Exactly these events are emitted since the previous step finished, in order: kinds
    /// (`create`) or `{kind, sid}`. `get` and `all` events (which stores MAY emit) are compared
    /// only when the list names that kind.
    events: Option<Vec<Value>>,
}

//! The checked scenario model the runner executes. Everything here has been validated: names
//! resolve, durations parse, matchers and value builders are well-formed.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Number, Value};
use sessionspec_contract::{Capability, ErrorKind, EventKind, StoreOptions, Tamper};

pub use crate::document::{BackendAction, ClaimName, ClockMode};
use crate::yaml::Location;

/// One scenario, checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Stable id (`core.get.missing`).
    pub id: String,
    /// One-line statement of what it shows.
    pub title: String,
    /// The area: the directory the file is in and the id's first segment.
    pub area: String,
    /// The file, as found (relative to the working directory when given relative): what
    /// diagnostics show, so terminals and editors can open it.
    pub file: PathBuf,
    /// The file relative to the project root (the scenarios directory's parent), like
    /// `scenarios/core/get-missing.yaml`: what reports show and link to.
    pub path: PathBuf,
    /// Where `id:` is in the file.
    pub location: Location,
    /// Requirement IDs it checks.
    pub checks: Vec<String>,
    /// Capabilities a store needs for it to apply (declared plus those its options need).
    pub requires: Vec<Capability>,
    /// Capabilities that make it not apply to a store declaring one.
    pub excludes: Vec<Capability>,
    /// The clock it runs on.
    pub clock: ClockMode,
    /// Store options.
    pub options: StoreOptions,
    /// Upstream references.
    pub refs: Vec<String>,
    /// The steps.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// `path:line` of a location in this scenario's file, as reports show it.
    pub fn position(&self, location: Location) -> String {
        format!("{}:{}", self.path.display(), location.line)
    }

    /// Whether any step causes or heals a fault or acts on the server: such a scenario needs a
    /// target with a fault proxy, and runs alone on it.
    pub fn uses_faults(&self) -> bool {
        self.any_step(&|op| matches!(op, Op::Fault(_) | Op::Heal | Op::Backend(_)))
    }

    /// Whether any step acts on the server itself (`backend:`): such a scenario needs a target
    /// whose server the harness runs, and runs alone in the run (every store on that server
    /// would see it).
    pub fn uses_backend(&self) -> bool {
        self.any_step(&|op| matches!(op, Op::Backend(_)))
    }

    fn any_step(&self, pred: &dyn Fn(&Op) -> bool) -> bool {
        fn any(steps: &[Step], pred: &dyn Fn(&Op) -> bool) -> bool {
            steps.iter().any(|s| match &s.op {
                Op::Concurrently(c) => any(&c.steps, pred),
                op => pred(op),
            })
        }
        any(&self.steps, pred)
    }

    /// The total time the scenario's `advance` steps move the clock (concurrent branches count
    /// once each, as they move the one clock).
    pub fn total_advance(&self) -> Duration {
        // Saturating: the linter rejects a total past `duration::MAX`, and must be able to add it up.
        self.steps.iter().fold(Duration::ZERO, |total, s| total.saturating_add(s.clock_advance()))
    }
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// What it must produce.
    pub expect: Expectation,
    /// The instance it runs on (`None`: the main instance).
    pub on: Option<Text>,
    /// Save its result under this name.
    pub save: Option<String>,
    /// Its own timeout.
    pub timeout: Option<Duration>,
    /// Retry until the expectation holds, for at most this long.
    pub eventually: Option<Duration>,
    /// Where the step starts in the file.
    pub location: Location,
}

impl Step {
    /// How far this step moves the clock: an `advance`, or the `advance`s inside `concurrently`
    /// (each copy counted). Saturating, so any scenario can be added up.
    pub fn clock_advance(&self) -> Duration {
        match &self.op {
            Op::Advance(d) => *d,
            Op::Concurrently(c) => c
                .steps
                .iter()
                .fold(Duration::ZERO, |total, s| total.saturating_add(s.clock_advance()))
                .saturating_mul(c.repeat),
            _ => Duration::ZERO,
        }
    }
}

/// An operation.
#[derive(Debug, Clone)]
pub enum Op {
    /// `get`.
    Get(Text),
    /// `set`.
    Set(Text, Input),
    /// `touch`.
    Touch(Text, Input),
    /// `destroy`.
    Destroy(Text),
    /// `all`.
    All,
    /// `length`.
    Length,
    /// `clear`.
    Clear,
    /// `ids`.
    Ids,
    /// `close`.
    Close,
    /// `create`.
    Create(Text, Input),
    /// `delete-expired`.
    DeleteExpired,
    /// `open` another instance, on the scenario's namespace or a second one.
    Open {
        /// Its name.
        name: Text,
        /// Options overlaid on the scenario's.
        options: StoreOptions,
        /// `None`: the scenario's namespace. `Some(suffix)`: a second namespace, named after
        /// the scenario's with `_suffix` appended.
        namespace: Option<String>,
    },
    /// `advance` the clock.
    Advance(Duration),
    /// `raw` record.
    Raw(Text),
    /// `raw-count`.
    RawCount,
    /// `indexes`.
    Indexes,
    /// `tamper` with a stored payload.
    Tamper(Text, Tamper),
    /// Steps run at once.
    Concurrently(Concurrent),
    /// Check a claim on the history.
    Check(ClaimName),
    /// Cause a fault between the store and its server.
    Fault(Fault),
    /// End every fault.
    Heal,
    /// Act on the store's server itself.
    Backend(BackendAction),
    /// Let real time pass; the clock does not move.
    Wait(Duration),
}

/// A fault the harness causes between a store and its server, through its fault proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// New connections are refused; open ones keep working.
    Refuse,
    /// Every open connection is reset, once; new ones work.
    Reset,
    /// Nothing is forwarded, either way, on open and new connections.
    Blackhole,
    /// Every chunk is forwarded this late.
    Latency(Duration),
    /// Open connections reset and new ones refused for this long, then healed.
    Cut(Duration),
}

impl Fault {
    /// The longest `latency` a scenario may add: a store's operations stay within step timeouts.
    pub const MAX_LATENCY: Duration = Duration::from_secs(5);
    /// The longest `cut` a scenario may cause: every cut ends well within the scenario timeout.
    pub const MAX_CUT: Duration = Duration::from_secs(20);
}

/// The longest `wait` a scenario may take.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

impl Op {
    /// Whether the harness carries the step out itself (the clock, concurrency, claims, faults,
    /// the server, waiting): no store operation runs, so it produces no value to `expect`.
    pub fn is_harness_step(&self) -> bool {
        match self {
            Op::Advance(_)
            | Op::Concurrently(_)
            | Op::Check(_)
            | Op::Fault(_)
            | Op::Heal
            | Op::Backend(_)
            | Op::Wait(_) => true,
            Op::Get(_)
            | Op::Set(..)
            | Op::Touch(..)
            | Op::Destroy(_)
            | Op::All
            | Op::Length
            | Op::Clear
            | Op::Ids
            | Op::Close
            | Op::Create(..)
            | Op::DeleteExpired
            | Op::Open { .. }
            | Op::Raw(_)
            | Op::RawCount
            | Op::Indexes
            | Op::Tamper(..) => false,
        }
    }

    /// The operation's key in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Get(_) => "get",
            Op::Set(..) => "set",
            Op::Touch(..) => "touch",
            Op::Destroy(_) => "destroy",
            Op::All => "all",
            Op::Length => "length",
            Op::Clear => "clear",
            Op::Ids => "ids",
            Op::Close => "close",
            Op::Create(..) => "create",
            Op::DeleteExpired => "delete-expired",
            Op::Open { .. } => "open",
            Op::Advance(_) => "advance",
            Op::Raw(_) => "raw",
            Op::RawCount => "raw-count",
            Op::Indexes => "indexes",
            Op::Tamper(..) => "tamper",
            Op::Concurrently(_) => "concurrently",
            Op::Check(_) => "check",
            Op::Fault(_) => "fault",
            Op::Heal => "heal",
            Op::Backend(_) => "backend",
            Op::Wait(_) => "wait",
        }
    }
}

/// Steps run at once: `repeat` copies of `steps` (each copy runs its steps in order), with
/// `${var}` set to the copy's number. A plain list is `repeat: 1` with each step its own copy.
#[derive(Debug, Clone)]
pub struct Concurrent {
    /// How many copies.
    pub repeat: u32,
    /// The variable name.
    pub var: String,
    /// When true, every step is its own branch (a plain list); otherwise each copy is a branch.
    pub each_step_a_branch: bool,
    /// The steps.
    pub steps: Vec<Step>,
}

/// Text that may hold `${VAR}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub Vec<TextPart>);

/// A piece of [`Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextPart {
    /// Literal text.
    Literal(String),
    /// A variable.
    Var(String),
}

impl Text {
    /// Plain text with no placeholders.
    pub fn literal(text: impl Into<String>) -> Text {
        Text(vec![TextPart::Literal(text.into())])
    }

    /// The text when it has no placeholders.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                TextPart::Literal(s) => out.push_str(s),
                TextPart::Var(_) => return None,
            }
        }
        Some(out)
    }

    /// The variables it uses.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            TextPart::Var(v) => Some(v.as_str()),
            TextPart::Literal(_) => None,
        })
    }
}

/// A value built when the step runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A fixed value.
    Literal(Value),
    /// An object with built members.
    Object(Vec<(String, Input)>),
    /// An array with built items.
    Array(Vec<Input>),
    /// A string with placeholders.
    Text(Text),
    /// A variable's number (`{$var: i}`).
    Var(String),
    /// The clock's time plus an offset, as an ISO-8601 string (`{$time: +10s}`).
    Time(Offset),
    /// `text` repeated `times` times (`{$repeat: {text, times}}`).
    Repeat {
        /// The text.
        text: String,
        /// How many times.
        times: usize,
    },
    /// `depth` objects nested under `key`, with `leaf` innermost (`{$nest: {depth, key, leaf}}`).
    Nest {
        /// How deep.
        depth: usize,
        /// The key at each level.
        key: String,
        /// The innermost value.
        leaf: Box<Input>,
    },
    /// A value saved by an earlier step (`{$saved: NAME}`), or a part of it
    /// (`{$saved: NAME.member}`).
    Saved(String),
}

/// A signed offset from the clock's current time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset(pub i64);

/// What a step must produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// Its result.
    pub result: ResultExpectation,
    /// The events emitted since the previous step finished, in order, when checked.
    pub events: Option<Vec<EventExpectation>>,
    /// When it fails: what its error text (message and causes) must match.
    pub message: Option<Matcher>,
    /// Whether the scenario wrote this expectation (`expect: ok` asserts success explicitly)
    /// rather than getting the default.
    pub written: bool,
}

impl Default for Expectation {
    fn default() -> Self {
        Expectation { result: ResultExpectation::Ok, events: None, message: None, written: false }
    }
}

/// What a step's result must be.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultExpectation {
    /// It succeeds; its value is not checked.
    Ok,
    /// It succeeds and returns nothing (`null`).
    Absent,
    /// It succeeds and returns a non-null value matching this.
    Found(Matcher),
    /// It succeeds and its value (possibly `null`) matches this.
    Value(Matcher),
    /// It fails with this kind (`None`: any kind).
    Error(Option<ErrorKind>),
    /// It meets at least one of these.
    OneOf(Vec<ResultExpectation>),
}

/// An expected event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventExpectation {
    /// Its kind.
    pub kind: EventKind,
    /// Its session id, when checked.
    pub sid: Option<Text>,
}

/// A pattern a JSON value is matched against. Objects match partially (extra keys are fine)
/// unless `$exact`; arrays match item by item, in order, with the same length.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// Equal to this scalar (numbers compare by value: `1` equals `1.0`).
    Scalar(Value),
    /// A string with placeholders, equal after substitution.
    Text(Text),
    /// An object whose listed keys match; with `exact`, no other keys.
    Object {
        /// Key patterns.
        entries: Vec<(String, Matcher)>,
        /// No other keys allowed.
        exact: bool,
    },
    /// An array matching item by item.
    Array(Vec<Matcher>),
    /// As an object member: the key is absent (or `null`: JSON cannot tell them apart once a
    /// store has dropped an `undefined`).
    Absent,
    /// As an object member: the key is present, with any value.
    Present,
    /// Anything.
    Any,
    /// A value of this JSON type.
    Type(JsonType),
    /// Any one of these.
    OneOf(Vec<Matcher>),
    /// An array holding items matching these, in any order, and nothing else.
    Unordered(Vec<Matcher>),
    /// An array holding items matching each of these, in any order, and possibly others.
    Contains(Vec<Matcher>),
    /// An array, string or object of this length.
    Len(usize),
    /// An ISO-8601 time within `tolerance` of the clock's time plus `offset`.
    Time {
        /// Offset from the clock's time when checked.
        offset: Offset,
        /// Allowed difference.
        tolerance: Duration,
    },
    /// A value whose JSON text does not contain this text.
    NotContains(String),
    /// A value whose JSON text contains this text.
    ContainsText(String),
    /// Equal to a saved value: `NAME`, or `NAME.member...` for a part of it. With a
    /// tolerance, an ISO-8601 time within that of the saved time.
    Saved {
        /// The saved name, possibly followed by `.member`s.
        name: String,
        /// For times: the allowed difference (`{$saved: NAME, $tolerance: 1s}`).
        tolerance: Option<Duration>,
    },
    /// A number at least this.
    Gte(Number),
    /// A number at most this.
    Lte(Number),
    /// Exactly this value, with no `$` interpretation.
    Literal(Value),
    /// Anything this does not match.
    Not(Box<Matcher>),
    /// An array with exactly `is` items matching `of` (`{$count: {of: MATCHER, is: N}}`).
    Count {
        /// What the counted items match.
        of: Box<Matcher>,
        /// How many items must match it.
        is: usize,
    },
}

/// JSON value types, for `{$type: ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// `null`
    Null,
    /// `true`/`false`
    Boolean,
    /// a number
    Number,
    /// a string
    String,
    /// an array
    Array,
    /// an object
    Object,
}

impl JsonType {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    /// The type of a value.
    pub fn of(value: &Value) -> JsonType {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }
}

//! Turns the surface syntax ([`crate::document`]) into the checked model ([`crate::model`]):
//! exactly one operation per step, placeholders in scope, saved names defined before use,
//! matchers and value builders well-formed. Every error carries the location it comes from.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};
use sessionspec_contract::{ErrorKind, EventKind, Tamper, duration};

use crate::document::{ConcurrentlyDoc, FaultDoc, FaultKind, OpenArg, StepDoc, TamperHow};
use crate::model::{
    Concurrent, EventExpectation, Expectation, Fault, Input, JsonType, MAX_WAIT, Matcher, Offset, Op,
    ResultExpectation, Step, Text, TextPart,
};
use crate::yaml::{Location, Node, Segment};

/// Collects errors and tracks what is in scope while compiling one scenario's steps.
pub(crate) struct Compiler<'a> {
    root: &'a Node,
    errors: Vec<(Location, String)>,
    vars: Vec<String>,
    saved: BTreeSet<String>,
    /// Instance names opened so far (`main` is always open); `None` once an `open` names one
    /// with a placeholder, after which any name may be open.
    opened: Option<BTreeSet<String>>,
    /// How many copies of the current step run (the product of the enclosing `repeat`s).
    copies: u64,
    /// Bytes `$repeat` generates in the whole scenario, copies counted.
    generated: u64,
    /// Maps and lists (written, or made by `$nest`) around the value being compiled, counted
    /// from the session or matched value itself.
    nesting: u64,
}

/// The deepest a value a scenario builds or matches may nest (maps and lists, `$nest` levels
/// counted): the JSON reader of the harness and its stores (serde_json) reads at most 127 levels,
/// and a session travels inside a few more (an adapter message, a results record's detail).
/// tests/malformed.rs in the CLI runs the deepest value against the memory store.
pub const MAX_VALUE_DEPTH: u64 = 112;
/// The most bytes one `$repeat` generates (16 MiB).
pub const MAX_REPEAT_BYTES: u64 = 16 * 1024 * 1024;
/// The most bytes all `$repeat`s of a scenario generate together, each counted once per copy
/// of its step that runs (64 MiB): with the copies the harness and a store keep, a case stays
/// well under a GiB.
pub const MAX_GENERATED_BYTES: u64 = 64 * 1024 * 1024;

type Path = Vec<Segment>;

fn key(path: &Path, name: &str) -> Path {
    let mut p = path.clone();
    p.push(Segment::Key(name.to_owned()));
    p
}

fn index(path: &Path, i: usize) -> Path {
    let mut p = path.clone();
    p.push(Segment::Index(i));
    p
}

const BUILDERS: &str = "$time, $repeat, $nest, $var, $saved, $literal";
const MATCHERS: &str = "$absent, $present, $any, $type, $one-of, $unordered, $contains, $len, $time (with $tolerance), \
                        $not-contains, $contains-text, $saved (with $tolerance), $gte, $lte, $literal, $exact, $not, $count, $repeat, $nest";

impl<'a> Compiler<'a> {
    pub(crate) fn new(root: &'a Node) -> Self {
        Compiler {
            root,
            errors: Vec::new(),
            vars: Vec::new(),
            saved: BTreeSet::new(),
            opened: Some(BTreeSet::from(["main".to_owned()])),
            copies: 1,
            generated: 0,
            nesting: 0,
        }
    }

    pub(crate) fn into_errors(self) -> Vec<(Location, String)> {
        self.errors
    }

    fn error(&mut self, path: &Path, message: impl Into<String>) {
        let location = self.root.locate(path, false);
        self.errors.push((location, message.into()));
    }

    /// Compiles the steps at `path` (`steps`, or a nested list), each doc paired with the index
    /// it has in the source.
    pub(crate) fn steps(&mut self, docs: Vec<(usize, StepDoc)>, path: &Path) -> Vec<Step> {
        docs.into_iter().filter_map(|(i, doc)| self.step(doc, &index(path, i))).collect()
    }

    fn step(&mut self, doc: StepDoc, path: &Path) -> Option<Step> {
        let location = self.root.locate(path, false);
        let operations = doc.operations();
        match operations.len() {
            1 => {}
            0 => {
                self.error(
                    path,
                    format!("a step needs one operation, expected one of: {}", crate::document::OPERATIONS.join(", ")),
                );
                return None;
            }
            _ => {
                self.error(path, format!("a step has exactly one operation, found {}", operations.join(", ")));
                return None;
            }
        }
        let op_name = operations[0];
        let op_path = key(path, op_name);
        let op = match doc.clone() {
            StepDoc { get: Some(sid), .. } => Op::Get(self.text(sid.sid(), &op_path)),
            StepDoc { set: Some(args), .. } => Op::Set(
                self.text(&args.sid, &key(&op_path, "sid")),
                self.session(&args.session, &key(&op_path, "session")),
            ),
            StepDoc { touch: Some(args), .. } => Op::Touch(
                self.text(&args.sid, &key(&op_path, "sid")),
                self.session(&args.session, &key(&op_path, "session")),
            ),
            StepDoc { destroy: Some(sid), .. } => Op::Destroy(self.text(sid.sid(), &op_path)),
            StepDoc { all: Some(_), .. } => Op::All,
            StepDoc { length: Some(_), .. } => Op::Length,
            StepDoc { clear: Some(_), .. } => Op::Clear,
            StepDoc { ids: Some(_), .. } => Op::Ids,
            StepDoc { close: Some(_), .. } => Op::Close,
            StepDoc { create: Some(args), .. } => Op::Create(
                self.text(&args.sid, &key(&op_path, "sid")),
                self.session(&args.session, &key(&op_path, "session")),
            ),
            StepDoc { delete_expired: Some(_), .. } => Op::DeleteExpired,
            StepDoc { open: Some(arg), .. } => match arg {
                OpenArg::Plain(name) => {
                    let name = self.text(&name, &op_path);
                    self.opens(&name);
                    Op::Open { name, options: Default::default(), namespace: None }
                }
                OpenArg::Map { name, options, namespace } => {
                    if let Some(suffix) = &namespace {
                        let valid = (1..=16).contains(&suffix.len())
                            && suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                        if !valid {
                            self.error(
                                &key(&op_path, "namespace"),
                                format!("namespace suffix `{suffix}` must be 1-16 of [a-z0-9_]"),
                            );
                        }
                    }
                    let name = self.text(&name, &key(&op_path, "as"));
                    self.opens(&name);
                    Op::Open { name, options, namespace }
                }
            },
            StepDoc { advance: Some(d), .. } => Op::Advance(d.0),
            StepDoc { raw: Some(sid), .. } => Op::Raw(self.text(sid.sid(), &op_path)),
            StepDoc { raw_count: Some(_), .. } => Op::RawCount,
            StepDoc { indexes: Some(_), .. } => Op::Indexes,
            StepDoc { tamper: Some(args), .. } => {
                let how = match args.how {
                    TamperHow::FlipByte => Tamper::FlipByte,
                    TamperHow::Garbage => Tamper::Garbage,
                };
                Op::Tamper(self.text(&args.sid, &key(&op_path, "sid")), how)
            }
            StepDoc { concurrently: Some(c), .. } => Op::Concurrently(self.concurrently(c, &op_path)),
            StepDoc { check: Some(claim), .. } => Op::Check(claim),
            StepDoc { fault: Some(fault), .. } => Op::Fault(self.fault(fault, &op_path)),
            StepDoc { heal: Some(_), .. } => Op::Heal,
            StepDoc { backend: Some(action), .. } => Op::Backend(action),
            StepDoc { wait: Some(d), .. } => {
                if d.0 > MAX_WAIT || d.0.is_zero() {
                    self.error(
                        &op_path,
                        format!(
                            "`wait` lasts more than 0 and at most {} (found {})",
                            duration::format(MAX_WAIT),
                            duration::format(d.0)
                        ),
                    );
                }
                Op::Wait(d.0)
            }
            _ => unreachable!("operations() found exactly one"),
        };
        let expect = match &doc.expect {
            Some(value) => self.expectation(value, &key(path, "expect")),
            None => Expectation::default(),
        };
        if op.is_harness_step() && doc.expect.is_some() {
            self.error(&key(path, "expect"), format!("`{op_name}` produces no value to check: leave out `expect`"));
        }
        let on = doc.on.as_deref().map(|name| self.text(name, &key(path, "on")));
        if let (Some(name), Some(opened)) = (on.as_ref().and_then(Text::as_literal), &self.opened)
            && !opened.contains(&name)
            && !matches!(op, Op::Open { .. })
        {
            let names = opened.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            self.error(
                &key(path, "on"),
                format!("no step before this one opens an instance `{name}` (open so far: {names}): add `open: {name}` first"),
            );
        }
        if let Some(name) = &doc.save {
            if op.is_harness_step() {
                self.error(&key(path, "save"), format!("`{op_name}` produces no value to save"));
            }
            if name.is_empty() {
                self.error(&key(path, "save"), "`save` takes a name to save the result under, like `first`");
            } else if name.contains('.') {
                self.error(
                    &key(path, "save"),
                    format!(
                        "`{name}` is not a name to save under: `.` separates a saved name from a member in `$saved`"
                    ),
                );
            }
            self.saved.insert(name.clone());
        }
        Some(Step {
            op,
            expect,
            on,
            save: doc.save,
            timeout: doc.timeout.map(|d| d.0),
            eventually: doc.eventually.map(|d| d.0),
            location,
        })
    }

    /// A fault, with its duration within the bounds that keep a scenario from hanging the run.
    fn fault(&mut self, doc: FaultDoc, path: &Path) -> Fault {
        let mut bounded = |d: Duration, name: &str, max: Duration| {
            if d > max || d.is_zero() {
                self.error(
                    &key(path, name),
                    format!(
                        "`{name}` lasts more than 0 and at most {} (found {})",
                        duration::format(max),
                        duration::format(d)
                    ),
                );
            }
            d
        };
        match doc {
            FaultDoc::Kind(FaultKind::Refuse) => Fault::Refuse,
            FaultDoc::Kind(FaultKind::Reset) => Fault::Reset,
            FaultDoc::Kind(FaultKind::Blackhole) => Fault::Blackhole,
            FaultDoc::Latency { latency } => Fault::Latency(bounded(latency.0, "latency", Fault::MAX_LATENCY)),
            FaultDoc::Cut { cut } => Fault::Cut(bounded(cut.0, "cut", Fault::MAX_CUT)),
        }
    }

    fn concurrently(&mut self, doc: ConcurrentlyDoc, path: &Path) -> Concurrent {
        match doc {
            ConcurrentlyDoc::Steps(steps) => {
                if steps.is_empty() {
                    self.error(path, "`concurrently` is empty: it needs at least two steps to run at once");
                } else if steps.len() < 2 {
                    self.error(path, "`concurrently` needs at least two steps to run at once");
                }
                let steps = self.steps(steps.into_iter().enumerate().collect(), path);
                Concurrent { repeat: 1, var: "i".into(), each_step_a_branch: true, steps }
            }
            ConcurrentlyDoc::Repeat(repeat) => {
                if !(1..=1000).contains(&repeat.repeat) {
                    self.error(&key(path, "repeat"), format!("`repeat` must be 1 to 1000, found {}", repeat.repeat));
                }
                if !is_var_name(&repeat.var) {
                    self.error(
                        &key(path, "as"),
                        format!("`{}` is not a variable name: expected [a-z_][a-z0-9_]*", repeat.var),
                    );
                }
                if repeat.steps.is_empty() {
                    self.error(&key(path, "steps"), "`steps` is empty: `concurrently` needs a step to repeat");
                }
                self.vars.push(repeat.var.clone());
                let outer = self.copies;
                self.copies = outer.saturating_mul(u64::from(repeat.repeat.clamp(1, 1000)));
                let steps = self.steps(repeat.steps.into_iter().enumerate().collect(), &key(path, "steps"));
                self.copies = outer;
                self.vars.pop();
                Concurrent { repeat: repeat.repeat, var: repeat.var, each_step_a_branch: false, steps }
            }
        }
    }

    /// Parses `${VAR}` placeholders; `$${` is a literal `${`.
    fn text(&mut self, raw: &str, path: &Path) -> Text {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = raw;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix("${") {
                literal.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix('{') {
                let Some(end) = tail.find('}') else {
                    self.error(
                        path,
                        format!(
                            "unclosed placeholder in `{raw}`: expected `${{NAME}}` (write `$${{` for a literal `${{`)"
                        ),
                    );
                    literal.push_str(&rest[pos..]);
                    rest = "";
                    break;
                };
                let name = &tail[..end];
                if !self.vars.iter().any(|v| v == name) {
                    let scope = if self.vars.is_empty() {
                        "no variables are in scope here (only inside `concurrently: {repeat, as, steps}`)".to_owned()
                    } else {
                        format!("in scope: {}", self.vars.join(", "))
                    };
                    self.error(path, format!("unknown variable `${{{name}}}` in `{raw}`: {scope}"));
                }
                if !literal.is_empty() {
                    parts.push(TextPart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(TextPart::Var(name.to_owned()));
                rest = &tail[end + 1..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(TextPart::Literal(literal));
        }
        Text(parts)
    }

    fn session(&mut self, value: &Value, path: &Path) -> Input {
        if !value.is_object() {
            self.error(path, format!("a session must be a map, found `{value}`"));
            return Input::Literal(value.clone());
        }
        self.input(value, path, true)
    }

    fn input(&mut self, value: &Value, path: &Path, top: bool) -> Input {
        let built = match value {
            Value::String(s) => {
                let text = self.text(s, path);
                match text.as_literal() {
                    Some(s) => Input::Literal(Value::String(s)),
                    None => Input::Text(text),
                }
            }
            Value::Array(items) => {
                self.nesting += 1;
                let items = items.iter().enumerate().map(|(i, v)| self.input(v, &index(path, i), false)).collect();
                self.nesting -= 1;
                Input::Array(items)
            }
            Value::Object(map) => {
                if let Some(builder) = self.builder(map, path) {
                    builder
                } else {
                    self.nesting += 1;
                    let mut entries = Vec::new();
                    for (k, v) in map {
                        let member_path = key(path, k);
                        let member = if top && k == "cookie" {
                            self.cookie(v, &member_path)
                        } else {
                            self.input(v, &member_path, false)
                        };
                        entries.push((k.clone(), member));
                    }
                    self.nesting -= 1;
                    Input::Object(entries)
                }
            }
            other => Input::Literal(other.clone()),
        };
        collapse(built)
    }

    fn cookie(&mut self, value: &Value, path: &Path) -> Input {
        let Value::Object(map) = value else {
            return self.input(value, path, false);
        };
        self.nesting += 1;
        let mut entries = Vec::new();
        for (k, v) in map {
            let member_path = key(path, k);
            let member = match (k.as_str(), v) {
                ("expires", Value::String(s)) if s.starts_with(['+', '-']) => match offset(s) {
                    Ok(o) => Input::Time(o),
                    Err(e) => {
                        self.error(&member_path, e);
                        Input::Literal(v.clone())
                    }
                },
                _ => self.input(v, &member_path, false),
            };
            entries.push((k.clone(), member));
        }
        self.nesting -= 1;
        collapse(Input::Object(entries))
    }

    /// A `{$builder: ...}` value, or `None` when `map` is plain data.
    fn builder(&mut self, map: &Map<String, Value>, path: &Path) -> Option<Input> {
        let dollar: Vec<&String> = map.keys().filter(|k| k.starts_with('$')).collect();
        if dollar.is_empty() {
            return None;
        }
        if map.len() != 1 {
            self.error(path, format!(
                "a value builder is a map with one `$` key (one of {BUILDERS}); wrap data whose keys start with `$` in `{{$literal: ...}}`"
            ));
            return Some(Input::Literal(Value::Object(map.clone())));
        }
        let (name, arg) = map.iter().next().expect("one entry");
        let arg_path = key(path, name);
        let input = match name.as_str() {
            "$time" => match arg.as_str().map(offset) {
                Some(Ok(o)) => Input::Time(o),
                Some(Err(e)) => {
                    self.error(&arg_path, e);
                    Input::Literal(Value::Null)
                }
                None => {
                    self.error(&arg_path, "`$time` takes an offset from the clock, like +10s or -1h");
                    Input::Literal(Value::Null)
                }
            },
            "$repeat" => match self.repeat_args(arg, &arg_path) {
                Some((text, times)) => Input::Repeat { text, times },
                None => Input::Literal(Value::Null),
            },
            "$nest" => match self.nest_args(arg, &arg_path) {
                Some((depth, nest_key, leaf)) => {
                    self.nesting += depth as u64;
                    let leaf = Box::new(self.input(leaf, &key(&arg_path, "leaf"), false));
                    self.nesting -= depth as u64;
                    Input::Nest { depth, key: nest_key, leaf }
                }
                None => Input::Literal(Value::Null),
            },
            "$var" => match arg.as_str() {
                Some(var) if self.vars.iter().any(|v| v == var) => Input::Var(var.to_owned()),
                _ => {
                    self.error(&arg_path, format!("`$var` names a variable in scope (in scope: {})", self.scope()));
                    Input::Literal(Value::Null)
                }
            },
            "$saved" => Input::Saved(self.saved_name(arg, &arg_path)),
            "$literal" => Input::Literal(arg.clone()),
            other => {
                self.error(path, format!("unknown value builder `{other}`, expected one of {BUILDERS}"));
                Input::Literal(Value::Null)
            }
        };
        Some(input)
    }

    /// The arguments of `$repeat`: `{text: STRING, times: N}`.
    fn repeat_args(&mut self, arg: &Value, path: &Path) -> Option<(String, usize)> {
        let text = arg.get("text").and_then(Value::as_str);
        let times = arg.get("times").and_then(Value::as_u64);
        let extra = arg.as_object().map(|m| m.keys().any(|k| k != "text" && k != "times")).unwrap_or(true);
        match (text, times) {
            (Some(text), Some(times)) if !extra && times <= MAX_REPEAT_BYTES => {
                let bytes = (text.len() as u64).saturating_mul(times);
                if bytes > MAX_REPEAT_BYTES {
                    self.error(
                        path,
                        format!(
                            "`$repeat` makes {bytes} bytes ({} × {times}); one generated value is at most {MAX_REPEAT_BYTES} bytes (16 MiB)",
                            text.len()
                        ),
                    );
                    return None;
                }
                let before = self.generated;
                self.generated = before.saturating_add(bytes.saturating_mul(self.copies));
                if self.generated > MAX_GENERATED_BYTES {
                    if before <= MAX_GENERATED_BYTES {
                        self.error(
                            path,
                            format!(
                                "the scenario's `$repeat`s make more than {MAX_GENERATED_BYTES} bytes (64 MiB) in all, each counted once per copy of its step ({})",
                                if self.copies == 1 {
                                    "this step has one copy".to_owned()
                                } else {
                                    format!("this step has {} copies", self.copies)
                                }
                            ),
                        );
                    }
                    return None;
                }
                Some((text.to_owned(), times as usize))
            }
            _ => {
                self.error(path, "`$repeat` takes `{text: STRING, times: N}` with N at most 16777216");
                None
            }
        }
    }

    /// The arguments of `$nest`: `{depth: N, key: STRING, leaf: VALUE}`.
    fn nest_args<'v>(&mut self, arg: &'v Value, path: &Path) -> Option<(usize, String, &'v Value)> {
        let depth = arg.get("depth").and_then(Value::as_u64);
        let nest_key = arg.get("key").and_then(Value::as_str);
        let leaf = arg.get("leaf");
        let extra =
            arg.as_object().map(|m| m.keys().any(|k| !["depth", "key", "leaf"].contains(&k.as_str()))).unwrap_or(true);
        match (depth, nest_key, leaf) {
            (Some(depth), Some(nest_key), Some(leaf)) if !extra && (1..=MAX_VALUE_DEPTH).contains(&depth) => {
                let total = self.nesting + depth + written_depth(leaf);
                if total > MAX_VALUE_DEPTH {
                    self.error(
                        path,
                        format!(
                            "this value nests {total} levels deep (the maps and lists around it, `$nest`'s {depth} and its leaf's); a value nests at most {MAX_VALUE_DEPTH}"
                        ),
                    );
                    return None;
                }
                Some((depth as usize, nest_key.to_owned(), leaf))
            }
            _ => {
                self.error(
                    path,
                    format!(
                        "`$nest` takes `{{depth: N, key: STRING, leaf: VALUE}}` with N from 1 to {MAX_VALUE_DEPTH}"
                    ),
                );
                None
            }
        }
    }

    /// Notes an instance opened under `name`.
    fn opens(&mut self, name: &Text) {
        match name.as_literal() {
            Some(name) => {
                if let Some(opened) = &mut self.opened {
                    opened.insert(name);
                }
            }
            None => self.opened = None,
        }
    }

    fn scope(&self) -> String {
        if self.vars.is_empty() { "none".to_owned() } else { self.vars.join(", ") }
    }

    /// A reference to a saved value: `NAME`, or `NAME.member.member` for a part of it.
    fn saved_name(&mut self, arg: &Value, path: &Path) -> String {
        match arg.as_str() {
            Some(reference) if self.saved.contains(reference.split('.').next().unwrap_or_default()) => {
                reference.to_owned()
            }
            Some(reference) => {
                let name = reference.split('.').next().unwrap_or_default();
                let known = if self.saved.is_empty() {
                    "no step before this one saves a result".to_owned()
                } else {
                    format!("saved so far: {}", self.saved.iter().cloned().collect::<Vec<_>>().join(", "))
                };
                self.error(path, format!("nothing is saved as `{name}` before this step ({known})"));
                name.to_owned()
            }
            None => {
                self.error(
                    path,
                    "`$saved` takes the name given to `save:` in an earlier step (`NAME` or `NAME.member`)",
                );
                String::new()
            }
        }
    }

    fn expectation(&mut self, value: &Value, path: &Path) -> Expectation {
        let expected =
            "expected `ok`, `absent`, or a map of `session`, `value`, `error`, `message`, `one-of` and `events`";
        match value {
            Value::String(s) if s == "ok" => Expectation { written: true, ..Expectation::default() },
            Value::String(s) if s == "absent" => {
                Expectation { result: ResultExpectation::Absent, written: true, ..Expectation::default() }
            }
            Value::Object(map) => {
                let mut result = ResultExpectation::Ok;
                let mut events = None;
                let mut message = None;
                for (k, v) in map {
                    let p = key(path, k);
                    match k.as_str() {
                        "session" | "value" | "error" => {
                            let r = self.result(k, v, &p);
                            result = self.set_result(result, r, &p);
                        }
                        "one-of" => {
                            let r = ResultExpectation::OneOf(self.alternatives(v, &p));
                            result = self.set_result(result, r, &p);
                        }
                        "message" => message = Some((self.matcher(v, &p), p)),
                        "events" => events = Some(self.events(v, &p)),
                        other => {
                            let location = self.root.locate(&p, true);
                            self.errors.push((location, format!("unknown key `{other}` in `expect`: {expected}")));
                        }
                    }
                }
                let message = message.map(|(m, p)| {
                    if !can_fail(&result) {
                        self.error(
                            &p,
                            "`message` checks an error's text: it goes with `error` (or a `one-of` with one)",
                        );
                    }
                    m
                });
                Expectation { result, events, message, written: true }
            }
            _ => {
                self.error(path, format!("{expected}, found `{value}`"));
                Expectation::default()
            }
        }
    }

    /// One of the result keys of `expect`: `session`, `value` or `error`.
    fn result(&mut self, name: &str, v: &Value, p: &Path) -> ResultExpectation {
        match name {
            "session" => ResultExpectation::Found(self.matcher(v, p)),
            "value" => ResultExpectation::Value(self.matcher(v, p)),
            _ => {
                let kind = match v.as_str() {
                    Some("any") => None,
                    Some(name) => match ErrorKind::from_name(name) {
                        Some(kind) => Some(kind),
                        None => {
                            let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
                            self.error(
                                p,
                                format!("unknown error kind `{name}`, expected one of: any, {}", kinds.join(", ")),
                            );
                            None
                        }
                    },
                    None => {
                        self.error(p, "`error` takes an error kind name (or `any`)");
                        None
                    }
                };
                ResultExpectation::Error(kind)
            }
        }
    }

    /// The alternatives of `one-of`: each `ok`, `absent` or a map with one of `session`,
    /// `value` and `error`.
    fn alternatives(&mut self, value: &Value, path: &Path) -> Vec<ResultExpectation> {
        let shape =
            "each alternative of `one-of` is `ok`, `absent` or a map with one of `session`, `value` and `error`";
        let Value::Array(items) = value else {
            self.error(path, "`one-of` takes a list of expectations, like `[ok, {error: closed}]`");
            return Vec::new();
        };
        if items.len() < 2 {
            self.error(path, "`one-of` needs at least two alternatives");
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            match item {
                Value::String(s) if s == "ok" => out.push(ResultExpectation::Ok),
                Value::String(s) if s == "absent" => out.push(ResultExpectation::Absent),
                Value::Object(map) if map.len() == 1 => {
                    let (k, v) = map.iter().next().expect("one entry");
                    if ["session", "value", "error"].contains(&k.as_str()) {
                        let r = self.result(k, v, &key(&p, k));
                        out.push(r);
                    } else {
                        self.error(&key(&p, k), format!("unknown key `{k}` in a `one-of` alternative: {shape}"));
                    }
                }
                _ => self.error(&p, format!("{shape}, found `{item}`")),
            }
        }
        out
    }

    fn set_result(&mut self, current: ResultExpectation, new: ResultExpectation, path: &Path) -> ResultExpectation {
        if current != ResultExpectation::Ok {
            self.error(path, "`expect` takes only one of `session`, `value`, `error` and `one-of`");
        }
        new
    }

    fn events(&mut self, value: &Value, path: &Path) -> Vec<EventExpectation> {
        let Value::Array(items) = value else {
            self.error(path, "`events` takes a list of event kinds (`[create, set]`) or `{kind, sid}` maps");
            return Vec::new();
        };
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let (kind_name, sid) = match item {
                Value::String(name) => (Some(name.as_str()), None),
                Value::Object(map) if map.keys().all(|k| k == "kind" || k == "sid") => {
                    let sid = match map.get("sid") {
                        Some(Value::String(s)) => Some(self.text(s, &key(&p, "sid"))),
                        Some(_) => {
                            self.error(&key(&p, "sid"), "an event's `sid` is a string");
                            None
                        }
                        None => None,
                    };
                    (map.get("kind").and_then(Value::as_str), sid)
                }
                _ => (None, None),
            };
            match kind_name.map(|n| (n, EventKind::from_name(n))) {
                Some((_, Some(kind))) => out.push(EventExpectation { kind, sid }),
                Some((name, None)) => {
                    self.error(&p, format!("unknown event kind `{name}`, expected one of: {}", names.join(", ")))
                }
                None => self.error(&p, "an event is a kind (`create`) or `{kind: KIND, sid: SID}`"),
            }
        }
        out
    }

    fn matcher(&mut self, value: &Value, path: &Path) -> Matcher {
        match value {
            Value::String(s) => {
                let text = self.text(s, path);
                match text.as_literal() {
                    Some(s) => Matcher::Scalar(Value::String(s)),
                    None => Matcher::Text(text),
                }
            }
            Value::Array(items) => {
                self.nesting += 1;
                let items = items.iter().enumerate().map(|(i, v)| self.matcher(v, &index(path, i))).collect();
                self.nesting -= 1;
                Matcher::Array(items)
            }
            Value::Object(map) => {
                if map.keys().any(|k| k.starts_with('$')) {
                    return self.operator(map, path);
                }
                self.nesting += 1;
                let entries = map.iter().map(|(k, v)| (k.clone(), self.matcher(v, &key(path, k)))).collect();
                self.nesting -= 1;
                Matcher::Object { entries, exact: false }
            }
            scalar => Matcher::Scalar(scalar.clone()),
        }
    }

    fn operator(&mut self, map: &Map<String, Value>, path: &Path) -> Matcher {
        let with_tolerance = |k: &str| map.contains_key(k) && map.keys().all(|m| m == k || m == "$tolerance");
        let (is_time, is_saved) = (with_tolerance("$time"), with_tolerance("$saved"));
        if map.len() != 1 && !is_time && !is_saved {
            self.error(path, format!(
                "a matcher is a map with one `$` key (one of {MATCHERS}); match data whose keys start with `$` with `{{$literal: ...}}`"
            ));
            return Matcher::Any;
        }
        let tolerance = match map.get("$tolerance") {
            None => std::time::Duration::from_secs(1),
            Some(Value::String(t)) => match duration::parse(t) {
                Ok(d) => d,
                Err(e) => {
                    self.error(&key(path, "$tolerance"), e);
                    std::time::Duration::from_secs(1)
                }
            },
            Some(_) => {
                self.error(&key(path, "$tolerance"), "`$tolerance` takes a duration, like 1s");
                std::time::Duration::from_secs(1)
            }
        };
        if is_saved {
            let name = self.saved_name(&map["$saved"], &key(path, "$saved"));
            return Matcher::Saved { name, tolerance: map.contains_key("$tolerance").then_some(tolerance) };
        }
        if is_time {
            let p = key(path, "$time");
            let offset = match map["$time"].as_str().map(offset) {
                Some(Ok(o)) => o,
                Some(Err(e)) => {
                    self.error(&p, e);
                    Offset(0)
                }
                None => {
                    self.error(&p, "`$time` takes an offset from the clock, like +10s, -1h or +0s");
                    Offset(0)
                }
            };
            return Matcher::Time { offset, tolerance };
        }
        let (name, arg) = map.iter().next().expect("one entry");
        let p = key(path, name);
        let flag = |this: &mut Self, m: Matcher| -> Matcher {
            if arg != &Value::Bool(true) {
                this.error(&p, format!("`{name}` takes `true`"));
            }
            m
        };
        match name.as_str() {
            "$absent" => flag(self, Matcher::Absent),
            "$present" => flag(self, Matcher::Present),
            "$any" => flag(self, Matcher::Any),
            "$type" => {
                let types = [
                    JsonType::Null,
                    JsonType::Boolean,
                    JsonType::Number,
                    JsonType::String,
                    JsonType::Array,
                    JsonType::Object,
                ];
                match types.iter().find(|t| Some(t.name()) == arg.as_str()) {
                    Some(t) => Matcher::Type(*t),
                    None => {
                        self.error(&p, "`$type` takes one of null, boolean, number, string, array, object");
                        Matcher::Any
                    }
                }
            }
            "$one-of" | "$unordered" | "$contains" => {
                let Value::Array(items) = arg else {
                    self.error(&p, format!("`{name}` takes a list of matchers"));
                    return Matcher::Any;
                };
                let items: Vec<Matcher> =
                    items.iter().enumerate().map(|(i, v)| self.matcher(v, &index(&p, i))).collect();
                match name.as_str() {
                    "$one-of" => Matcher::OneOf(items),
                    "$unordered" => Matcher::Unordered(items),
                    _ => Matcher::Contains(items),
                }
            }
            "$len" => match arg.as_u64() {
                Some(n) => Matcher::Len(n as usize),
                None => {
                    self.error(&p, "`$len` takes a whole number");
                    Matcher::Any
                }
            },
            "$not-contains" | "$contains-text" => match arg.as_str() {
                Some(text) if !text.is_empty() => {
                    if name == "$not-contains" {
                        Matcher::NotContains(text.to_owned())
                    } else {
                        Matcher::ContainsText(text.to_owned())
                    }
                }
                _ => {
                    self.error(&p, format!("`{name}` takes a non-empty string"));
                    Matcher::Any
                }
            },
            "$gte" | "$lte" => match arg {
                Value::Number(n) => {
                    if name == "$gte" {
                        Matcher::Gte(n.clone())
                    } else {
                        Matcher::Lte(n.clone())
                    }
                }
                _ => {
                    self.error(&p, format!("`{name}` takes a number"));
                    Matcher::Any
                }
            },
            "$literal" => Matcher::Literal(arg.clone()),
            "$not" => Matcher::Not(Box::new(self.matcher(arg, &p))),
            "$count" => {
                let of = arg.get("of");
                let is = arg.get("is").and_then(Value::as_u64);
                let extra = arg.as_object().map(|m| m.keys().any(|k| k != "of" && k != "is")).unwrap_or(true);
                match (of, is) {
                    (Some(of), Some(is)) if !extra => {
                        Matcher::Count { of: Box::new(self.matcher(of, &key(&p, "of"))), is: is as usize }
                    }
                    _ => {
                        self.error(&p, "`$count` takes `{of: MATCHER, is: N}`: an array with exactly N items matching");
                        Matcher::Any
                    }
                }
            }
            "$repeat" => match self.repeat_args(arg, &p) {
                Some((text, times)) => Matcher::Literal(Value::String(text.repeat(times))),
                None => Matcher::Any,
            },
            "$nest" => match self.nest_args(arg, &p) {
                Some((depth, nest_key, leaf)) => {
                    self.nesting += depth as u64;
                    let mut m = self.matcher(leaf, &key(&p, "leaf"));
                    self.nesting -= depth as u64;
                    for _ in 0..depth {
                        m = Matcher::Object { entries: vec![(nest_key.clone(), m)], exact: true };
                    }
                    m
                }
                None => Matcher::Any,
            },
            "$exact" => match self.matcher(arg, &p) {
                Matcher::Object { entries, .. } => Matcher::Object { entries, exact: true },
                _ => {
                    self.error(&p, "`$exact` takes a map");
                    Matcher::Any
                }
            },
            "$tolerance" => {
                self.error(path, "`$tolerance` goes with `$time` or `$saved`");
                Matcher::Any
            }
            other => {
                self.error(&p, format!("unknown matcher `{other}`, expected one of {MATCHERS}"));
                Matcher::Any
            }
        }
    }
}

/// Whether a result expectation accepts a failed step.
/// The maps and lists of a value as written (a builder or matcher inside counts as its own map:
/// the `$nest` check where it is compiled counts what it makes).
fn written_depth(value: &Value) -> u64 {
    match value {
        Value::Array(items) => 1 + items.iter().map(written_depth).max().unwrap_or(0),
        Value::Object(map) if map.len() == 1 && map.contains_key("$literal") => written_depth(&map["$literal"]),
        Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => 0,
        Value::Object(map) => 1 + map.values().map(written_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn can_fail(result: &ResultExpectation) -> bool {
    match result {
        ResultExpectation::Error(_) => true,
        ResultExpectation::OneOf(alternatives) => alternatives.iter().any(can_fail),
        _ => false,
    }
}

fn collapse(input: Input) -> Input {
    match input {
        Input::Object(entries) if entries.iter().all(|(_, v)| matches!(v, Input::Literal(_))) => {
            let map = entries
                .into_iter()
                .map(|(k, v)| match v {
                    Input::Literal(v) => (k, v),
                    _ => unreachable!(),
                })
                .collect();
            Input::Literal(Value::Object(map))
        }
        Input::Array(items) if items.iter().all(|v| matches!(v, Input::Literal(_))) => Input::Literal(Value::Array(
            items
                .into_iter()
                .map(|v| match v {
                    Input::Literal(v) => v,
                    _ => unreachable!(),
                })
                .collect(),
        )),
        other => other,
    }
}

/// Parses `+10s`, `-1h30m`, `+0s`.
pub(crate) fn offset(text: &str) -> Result<Offset, String> {
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1i64, &text[1..]),
        Some(b'-') => (-1i64, &text[1..]),
        _ => {
            return Err(format!("malformed time offset `{text}`: expected + or - and a duration, like +10s or -1h"));
        }
    };
    let d = duration::parse(rest)
        .map_err(|e| format!("malformed time offset `{text}`: {}", e.split_once(": ").map(|x| x.1).unwrap_or(&e)))?;
    let ms = i64::try_from(d.as_millis()).map_err(|_| format!("time offset `{text}` is too large"))?;
    Ok(Offset(sign * ms))
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sessionspec_contract::{Capability, ErrorKind};

    use crate::load::load_text;
    use crate::model::{Matcher, Op, ResultExpectation, Scenario};

    fn scenario(steps: &str) -> Result<Scenario, Vec<String>> {
        let text = format!("id: core.example\ntitle: an example\nchecks: [GET-1]\nsteps:\n{steps}");
        let loaded = load_text(Path::new("core/example.yaml"), &text.into(), Some("core"), None);
        loaded.scenario.ok_or_else(|| loaded.problems.iter().map(|p| p.message.clone()).collect())
    }

    fn problems(steps: &str) -> String {
        scenario(steps).expect_err("the scenario has problems").join("\n")
    }

    #[test]
    fn one_of_takes_alternative_results() {
        let s = scenario("  - get: a\n    expect: {one-of: [absent, {session: {n: 1}}, {error: closed}]}\n").unwrap();
        let ResultExpectation::OneOf(alternatives) = &s.steps[0].expect.result else { panic!("not one-of") };
        assert_eq!(alternatives.len(), 3);
        assert_eq!(alternatives[0], ResultExpectation::Absent);
        assert!(matches!(alternatives[1], ResultExpectation::Found(_)));
        assert_eq!(alternatives[2], ResultExpectation::Error(Some(ErrorKind::Closed)));
    }

    #[test]
    fn one_of_rejects_one_alternative_and_events_inside() {
        let text = problems("  - get: a\n    expect: {one-of: [{events: [get]}]}\n");
        assert!(text.contains("at least two alternatives"), "{text}");
        assert!(text.contains("unknown key `events` in a `one-of` alternative"), "{text}");
        let text = problems("  - get: a\n    expect: {one-of: [ok, absent], error: closed}\n");
        assert!(text.contains("only one of `session`, `value`, `error` and `one-of`"), "{text}");
    }

    #[test]
    fn message_goes_with_an_error() {
        let s = scenario("  - get: a\n    expect: {error: decrypt, message: {$not-contains: s3cret}}\n").unwrap();
        assert_eq!(s.steps[0].expect.message, Some(Matcher::NotContains("s3cret".into())));
        let s = scenario("  - get: a\n    expect: {one-of: [ok, {error: closed}], message: {$not-contains: x}}\n");
        assert!(s.is_ok());
        let text = problems("  - get: a\n    expect: {session: {}, message: {$not-contains: s3cret}}\n");
        assert!(text.contains("`message` checks an error's text"), "{text}");
    }

    #[test]
    fn not_count_repeat_and_nest_are_matchers() {
        let s = scenario(concat!(
            "  - get: a\n",
            "    expect: {value: {$not: {$len: 0}}}\n",
            "  - get: a\n",
            "    expect: {value: {$count: {of: {expireAfterSeconds: 0}, is: 1}}}\n",
            "  - get: a\n",
            "    expect: {session: {blob: {$repeat: {text: ab, times: 3}}, deep: {$nest: {depth: 2, key: k, leaf: {$type: string}}}}}\n",
        ))
        .unwrap();
        assert!(matches!(&s.steps[0].expect.result, ResultExpectation::Value(Matcher::Not(_))));
        assert!(matches!(&s.steps[1].expect.result, ResultExpectation::Value(Matcher::Count { is: 1, .. })));
        let ResultExpectation::Found(Matcher::Object { entries, .. }) = &s.steps[2].expect.result else {
            panic!("not an object pattern")
        };
        assert_eq!(entries[0].1, Matcher::Literal("ababab".into()));
        let Matcher::Object { entries: outer, exact: true } = &entries[1].1 else { panic!("not nested") };
        let Matcher::Object { entries: inner, exact: true } = &outer[0].1 else { panic!("not nested twice") };
        assert_eq!(inner[0].1, Matcher::Type(crate::model::JsonType::String));
        let text = problems("  - get: a\n    expect: {value: {$count: {of: {}, is: many}}}\n");
        assert!(text.contains("`$count` takes `{of: MATCHER, is: N}`"), "{text}");
    }

    #[test]
    fn saved_references_may_name_a_member() {
        let s = scenario(concat!(
            "  - get: a\n",
            "    save: first\n",
            "  - get: a\n",
            "    expect: {value: {payload: {$not: {$saved: first.payload}}}}\n",
        ))
        .unwrap();
        let ResultExpectation::Value(Matcher::Object { entries, .. }) = &s.steps[1].expect.result else {
            panic!("not an object pattern")
        };
        let saved = Matcher::Saved { name: "first.payload".into(), tolerance: None };
        assert_eq!(entries[0].1, Matcher::Not(Box::new(saved)));
        let s = scenario(
            "  - get: a\n    save: first\n  - get: a\n    expect: {value: {expires: {$saved: first.expires, $tolerance: 2s}}}\n",
        );
        let ResultExpectation::Value(Matcher::Object { entries, .. }) = &s.unwrap().steps[1].expect.result else {
            panic!("not an object pattern")
        };
        let tolerance = Some(std::time::Duration::from_secs(2));
        assert_eq!(entries[0].1, Matcher::Saved { name: "first.expires".into(), tolerance });
        let text = problems("  - get: a\n    expect: {value: {$saved: second.payload}}\n");
        assert!(text.contains("nothing is saved as `second`"), "{text}");
        let text = problems("  - get: a\n    save: a.b\n    expect: absent\n");
        assert!(text.contains("`.` separates a saved name"), "{text}");
    }

    #[test]
    fn open_on_a_second_namespace_needs_no_shared_namespace() {
        let s =
            scenario("  - open: {as: other, namespace: b}\n  - get: a\n    on: other\n    expect: absent\n").unwrap();
        assert!(matches!(&s.steps[0].op, Op::Open { namespace: Some(n), .. } if n == "b"));
        assert!(!s.requires.contains(&Capability::SharedNamespace));
        let text = problems("  - open: other\n  - get: a\n    on: other\n    expect: absent\n");
        assert!(text.contains("need capability `shared-namespace`"), "{text}");
        let text = problems("  - open: {as: other, namespace: Bad-Name}\n  - get: a\n    expect: absent\n");
        assert!(text.contains("namespace suffix `Bad-Name` must be 1-16 of [a-z0-9_]"), "{text}");
    }
}

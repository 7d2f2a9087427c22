//! Loads one scenario file: YAML into located nodes, nodes into the surface syntax (recovering
//! after each error so one run reports every problem in the file), then the checked model, then
//! the checks that need the spec (requirement IDs, capabilities, profiles).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use sessionspec_contract::Capability;

use crate::compile::Compiler;
use crate::diagnostic::Diagnostic;
use crate::document::ScenarioDoc;
use crate::model::{Expectation, Op, Scenario, Step};
use crate::spec::Spec;
use crate::yaml::{self, Location, Node, Segment};

/// What loading one file found.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The scenario, when the file has no problems.
    pub scenario: Option<Scenario>,
    /// Its `id` and where it is, whenever the file has one (for duplicate checks across files,
    /// even when the file has other problems).
    pub id: Option<(String, Location)>,
    /// The problems.
    pub problems: Vec<Diagnostic>,
}

/// Reads and checks one scenario file. `area` is the directory it sits in, when known.
pub fn load_file(path: &Path, area: Option<&str>, spec: Option<&Spec>) -> Loaded {
    match crate::suite::read_source(path) {
        Ok(text) => load_text(path, &text, area, spec),
        Err(problem) => Loaded { scenario: None, id: None, problems: vec![problem] },
    }
}

/// The stack a file is parsed and checked on. Parsing and checking recurse once per level of
/// nesting, and YAML may nest 64 levels: in a debug build that takes about 2 MiB, as much as a
/// test's or a tokio worker's whole stack (and more than a Windows main thread's). Reserved, not
/// used: only the pages touched are ever mapped.
const LOAD_STACK: usize = 16 * 1024 * 1024;

/// Checks one scenario given its text.
pub fn load_text(path: &Path, text: &Arc<str>, area: Option<&str>, spec: Option<&Spec>) -> Loaded {
    std::thread::scope(|scope| {
        let loading = std::thread::Builder::new()
            .name("sessionspec-load".into())
            .stack_size(LOAD_STACK)
            .spawn_scoped(scope, || load_on_this_stack(path, text, area, spec));
        match loading {
            Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: this one's stack is all there is.
            Err(_) => load_on_this_stack(path, text, area, spec),
        }
    })
}

fn load_on_this_stack(path: &Path, text: &Arc<str>, area: Option<&str>, spec: Option<&Spec>) -> Loaded {
    let root = match yaml::parse(text) {
        Ok(node) => node,
        Err(e) => {
            let d = match e.location {
                Some(l) => Diagnostic::at(path, text, l, format!("YAML syntax: {}", e.message)),
                None => Diagnostic::file(path, format!("YAML syntax: {}", e.message)),
            };
            return Loaded { scenario: None, id: None, problems: vec![d] };
        }
    };
    let id = match root.get("id") {
        Some((_, yaml::Node { location, value: yaml::NodeValue::String(id) })) => Some((id.clone(), *location)),
        _ => None,
    };
    let (scenario, problems) = check(path, text, &root, area, spec);
    Loaded { scenario, id, problems }
}

fn check(
    path: &Path,
    text: &Arc<str>,
    root: &Node,
    area: Option<&str>,
    spec: Option<&Spec>,
) -> (Option<Scenario>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let at = |problems: &mut Vec<Diagnostic>, segments: &[Segment], key_of_last: bool, message: String| {
        problems.push(Diagnostic::at(path, text, root.locate(segments, key_of_last), message));
    };
    if !matches!(root.value, yaml::NodeValue::Map(_)) {
        let empty = if root.value == yaml::NodeValue::Null { "the file holds no YAML value: " } else { "" };
        at(
            &mut problems,
            &[],
            false,
            format!("{empty}a scenario file is a map with id, title, checks, requires, options and steps"),
        );
        return (None, problems);
    }

    let (doc, step_indices) =
        surface(root, |segments, key_of_last, message| at(&mut problems, segments, key_of_last, message));
    let Some(doc) = doc else {
        return (None, problems);
    };

    let mut compiler = Compiler::new(root);
    let steps_path = vec![Segment::Key("steps".into())];
    let steps = compiler.steps(step_indices.into_iter().zip(doc.steps.clone()).collect(), &steps_path);
    for (location, message) in compiler.into_errors() {
        problems.push(Diagnostic::at(path, text, location, message));
    }

    let id_location = root.get("id").map(|(_, n)| n.location).unwrap_or_default();
    let mut scenario = Scenario {
        id: doc.id.clone(),
        title: doc.title.clone(),
        area: doc.id.split('.').next().unwrap_or_default().to_owned(),
        file: path.to_owned(),
        path: path.to_owned(),
        location: id_location,
        checks: doc.checks.clone(),
        requires: Vec::new(),
        excludes: Vec::new(),
        clock: doc.clock,
        options: doc.options.clone(),
        refs: doc.refs.clone(),
        steps,
    };
    // At the step whose `advance` takes the running total past the limit.
    let mut total = std::time::Duration::ZERO;
    for step in &scenario.steps {
        total = total.saturating_add(step.clock_advance());
        if total > sessionspec_contract::duration::MAX {
            problems.push(Diagnostic::at(
                path,
                text,
                step.location,
                "this step takes the clock past 36500d in all (the steps' `advance`s added up, repeats counted), the longest the harness handles",
            ));
            break;
        }
    }
    check_header(&doc, root, area, &mut |segments, key_of_last, message| {
        at(&mut problems, segments, key_of_last, message)
    });
    scenario.requires = check_capabilities(&doc, &scenario, spec, root, &mut |segments, message| {
        at(&mut problems, segments, false, message)
    });
    scenario.excludes = check_excludes(&doc, &scenario.requires, spec, &mut |segments, message| {
        at(&mut problems, segments, false, message)
    });
    if let Some(spec) = spec {
        check_requirements(&doc, &scenario, spec, root, &mut |segments, message| {
            at(&mut problems, segments, false, message)
        });
    }
    problems.sort_by_key(|d| d.location.map(|l| (l.line, l.column)));
    if problems.is_empty() { (Some(scenario), problems) } else { (None, problems) }
}

/// Deserializes the surface syntax, reporting each error and removing what caused it until the
/// rest deserializes. Returns the document and, for each remaining step, its index in the file.
fn surface(root: &Node, mut report: impl FnMut(&[Segment], bool, String)) -> (Option<ScenarioDoc>, Vec<usize>) {
    let mut json = root.to_json();
    let mut step_indices: Vec<usize> = match json.get("steps") {
        Some(Value::Array(items)) => (0..items.len()).collect(),
        _ => Vec::new(),
    };
    let mut removed: BTreeSet<String> = BTreeSet::new();
    for _ in 0..200 {
        let error = match serde_path_to_error::deserialize::<_, ScenarioDoc>(&json) {
            Ok(doc) => return (Some(doc), step_indices),
            Err(e) => e,
        };
        let mut path = segments(error.path());
        let message = error.inner().to_string();
        let unknown_key = message.starts_with("unknown field");
        // Paths inside a step refer to the current, possibly shortened, list: map back.
        if let [Segment::Key(k), Segment::Index(i), ..] = path.as_slice()
            && k == "steps"
            && let Some(original) = step_indices.get(*i)
        {
            path[1] = Segment::Index(*original);
        }
        let message = friendly(&message);
        let object = json.as_object_mut().expect("root is a map");
        match segments(error.path()).as_slice() {
            [Segment::Key(k), Segment::Index(i), ..] if k == "steps" && path.len() > 2 => {
                report(&path, unknown_key, message);
                if let Some(Value::Array(items)) = object.get_mut("steps") {
                    items.remove(*i);
                    step_indices.remove(*i);
                }
            }
            [Segment::Key(k), rest @ ..] => {
                let message = if rest.is_empty() { top_level_shape(k, &message) } else { message };
                report(&path, unknown_key, message);
                removed.insert(k.clone());
                object.remove(k);
            }
            _ => {
                // A missing top-level field: report it unless an earlier error removed it, then
                // put a placeholder in so the rest can be checked.
                let field = message.strip_prefix("missing key `").and_then(|m| m.split('`').next()).map(str::to_owned);
                match field {
                    Some(field) => {
                        if !removed.contains(&field) {
                            report(
                                &path,
                                false,
                                format!("missing key `{field}`: a scenario needs id, title, checks and steps"),
                            );
                        }
                        let placeholder =
                            if field == "steps" { Value::Array(Vec::new()) } else { Value::String(String::new()) };
                        object.insert(field, placeholder);
                    }
                    None => {
                        report(&path, false, message);
                        return (None, step_indices);
                    }
                }
            }
        }
    }
    (None, step_indices)
}

/// A top-level key's value of the wrong type, said with what the key takes.
fn top_level_shape(key: &str, message: &str) -> String {
    let Some(found) = message.strip_prefix("invalid type: ").and_then(|m| m.split(", expected").next()) else {
        return message.to_owned();
    };
    let takes = match key {
        "id" => "`id` takes a string, like `touch.missing-is-noop`",
        "title" => "`title` takes a string",
        "checks" => "`checks` takes a list of requirement IDs, like `[GET-1]`",
        "requires" => "`requires` takes a list of capability names, like `[touch]`",
        "excludes" => "`excludes` takes a list of capability names, like `[touch-by-save]`",
        "refs" => "`refs` takes a list of URLs",
        "steps" => "`steps` takes a list of steps, each a map like `- get: a`",
        "options" => "`options` takes a map of store options, like `{ttl: 1h}`",
        _ => return message.to_owned(),
    };
    format!("{takes}; found {found}")
}

/// serde's messages in the scenario's words, with a suggestion for a misspelt key or value.
fn friendly(message: &str) -> String {
    let mut message = message
        .replace("unknown field", "unknown key")
        .replace("unknown variant", "unknown value")
        .replace("missing field", "missing key")
        // serde names the Rust types; a scenario author knows the shapes.
        .replace("expected struct StepDoc", "expected a step: a map with one operation, like `get: a`")
        .replace("expected struct WriteArgs", "expected `{sid: ID, session: {...}}`")
        .replace("expected struct TamperArgs", "expected `{sid: ID, how: flip-byte}`")
        .replace("expected struct RepeatDoc", "expected `{repeat: N, as: VAR, steps: [...]}`")
        .replace("expected struct StoreOptions", "expected a map of store options");
    if let (Some(rest), Some((_, list))) = (message.split('`').nth(1), message.split_once("expected one of ")) {
        let known: Vec<&str> = list.split(", ").map(|k| k.trim_matches('`')).collect();
        if let Some(s) = suggest(rest, &known) {
            message = format!("{message} (did you mean `{s}`?)");
        }
    }
    // "data did not match any variant of untagged enum X" says nothing useful to a scenario author.
    if message.contains("did not match any variant") {
        return "this value has the wrong shape here; see spec/scenario.schema.json".to_owned();
    }
    message
}

/// Converts a serde path into node segments.
pub(crate) fn segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    path.iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => None,
        })
        .collect()
}

fn check_header(doc: &ScenarioDoc, root: &Node, area: Option<&str>, report: &mut impl FnMut(&[Segment], bool, String)) {
    let id_path = [Segment::Key("id".into())];
    let valid_id = doc.id.split('.').count() >= 2
        && doc.id.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .split('-')
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        });
    // An `id` of the wrong type is reported where it fails to deserialize.
    let id_is_text = matches!(root.get("id"), Some((_, Node { value: yaml::NodeValue::String(_), .. })));
    if id_is_text && !valid_id {
        report(
            &id_path,
            false,
            format!(
                "id `{}` is not valid: expected `<area>.<name>` of lower-case words joined by `-`, segments joined by `.` (like `touch.missing-is-noop`)",
                doc.id
            ),
        );
    }
    if let (Some(area), true) = (area, valid_id) {
        let first = doc.id.split('.').next().unwrap_or_default();
        if first != area {
            report(
                &id_path,
                false,
                format!("id `{}` must start with `{area}.`: the file is in scenarios/{area}/", doc.id),
            );
        }
    }
    let title = doc.title.trim();
    if root.get("title").is_some() {
        let lower = title.to_lowercase();
        if title.is_empty() {
            report(
                &[Segment::Key("title".into())],
                false,
                "the title is empty: say in one line what the scenario shows".into(),
            );
        } else if ["should ", "test ", "tests ", "check ", "checks "].iter().any(|p| lower.starts_with(p)) {
            report(
                &[Segment::Key("title".into())],
                false,
                format!(
                    "title `{title}` should state the behaviour (\"touch moves the expiry forward\"), not start with should/test/check"
                ),
            );
        }
    }
    if doc.checks.is_empty() && root.get("checks").is_none() {
        report(&[], false, "missing key `checks`: every scenario cites the requirement IDs it checks".into());
    }
    if matches!(root.get("checks"), Some((_, Node { value: yaml::NodeValue::Seq(items), .. })) if items.is_empty()) {
        report(
            &[Segment::Key("checks".into())],
            false,
            "`checks` is empty: every scenario cites the requirement IDs it checks, like `[GET-1]`".into(),
        );
    }
    for (i, r) in doc.refs.iter().enumerate() {
        if !(r.starts_with("https://") || r.starts_with("http://")) {
            report(
                &[Segment::Key("refs".into()), Segment::Index(i)],
                false,
                format!("ref `{r}` is not a URL: refs link to upstream issues"),
            );
        }
    }
}

/// Checks `requires` against the registry and against what the steps and options use; returns
/// the capabilities the scenario requires.
fn check_capabilities(
    doc: &ScenarioDoc,
    scenario: &Scenario,
    spec: Option<&Spec>,
    root: &Node,
    report: &mut impl FnMut(&[Segment], String),
) -> Vec<Capability> {
    let mut declared = capability_list("requires", &doc.requires, spec, report);
    let mut needed: Vec<(Capability, String, Vec<Segment>)> = Vec::new();
    for cap in doc.options.required_capabilities() {
        needed.push((cap, "its options".into(), vec![Segment::Key("options".into())]));
    }
    collect_step_needs(&scenario.steps, &mut needed, root);
    for (cap, why, path) in needed {
        if !declared.contains(&cap) && doc.requires.iter().all(|r| Capability::from_name(r).is_some()) {
            report(&path, format!("{why} need capability `{cap}`: add it to `requires`"));
        }
    }
    declared.sort();
    declared.dedup();
    declared
}

/// The capabilities named under `key` (`requires`, `excludes`), each checked against the
/// registry; an unknown name is reported with the nearest known one.
fn capability_list(
    key: &str,
    names: &[String],
    spec: Option<&Spec>,
    report: &mut impl FnMut(&[Segment], String),
) -> Vec<Capability> {
    let mut found = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let path = [Segment::Key(key.into()), Segment::Index(i)];
        let registered = spec.map(|s| s.capability(name).is_some()).unwrap_or(true);
        match Capability::from_name(name) {
            Some(c) if registered => found.push(c),
            _ => {
                let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                let hint = suggest(name, &known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                report(
                    &path,
                    format!("unknown capability `{name}`{hint}; spec/capabilities.yaml lists: {}", known.join(", ")),
                );
            }
        }
    }
    found
}

/// Checks `excludes` against the registry and against `requires` (a scenario cannot both need
/// and exclude one capability); returns the capabilities it excludes.
fn check_excludes(
    doc: &ScenarioDoc,
    requires: &[Capability],
    spec: Option<&Spec>,
    report: &mut impl FnMut(&[Segment], String),
) -> Vec<Capability> {
    let mut excluded = capability_list("excludes", &doc.excludes, spec, report);
    for (i, cap) in doc.excludes.iter().enumerate().filter_map(|(i, n)| Some((i, Capability::from_name(n)?))) {
        if requires.contains(&cap) {
            report(
                &[Segment::Key("excludes".into()), Segment::Index(i)],
                format!("`{cap}` is both required and excluded: no store could run this scenario"),
            );
        }
    }
    excluded.sort();
    excluded.dedup();
    excluded
}

fn collect_step_needs(steps: &[Step], needed: &mut Vec<(Capability, String, Vec<Segment>)>, root: &Node) {
    for step in steps {
        let path = locate_path(root, step);
        let cap = match &step.op {
            Op::Touch(..) => Some(Capability::Touch),
            Op::All => Some(Capability::All),
            Op::Length => Some(Capability::Length),
            Op::Clear => Some(Capability::Clear),
            Op::Ids => Some(Capability::Ids),
            Op::Close => Some(Capability::Close),
            Op::Create(..) => Some(Capability::Create),
            Op::DeleteExpired => Some(Capability::DeleteExpired),
            Op::Open { options, namespace, .. } => {
                for cap in options.required_capabilities() {
                    needed.push((cap, "the options of `open`".into(), path.clone()));
                }
                // An instance on a second namespace shares nothing with the scenario's.
                namespace.is_none().then_some(Capability::SharedNamespace)
            }
            Op::Raw(_) | Op::RawCount | Op::Tamper(..) => Some(Capability::RawInspection),
            Op::Indexes => Some(Capability::Indexes),
            Op::Concurrently(c) => {
                collect_step_needs(&c.steps, needed, root);
                None
            }
            _ => None,
        };
        if let Some(cap) = cap {
            needed.push((cap, format!("steps using `{}`", step.op.name()), path.clone()));
        }
        if let Expectation { events: Some(_), .. } = &step.expect {
            needed.push((Capability::Events, "`events` expectations".into(), path));
        }
    }
}

/// The node path of a step, found by its location (steps keep their source location).
fn locate_path(root: &Node, step: &Step) -> Vec<Segment> {
    fn find(node: &Node, target: yaml::Location, path: &mut Vec<Segment>) -> bool {
        if node.location == target {
            return true;
        }
        match &node.value {
            yaml::NodeValue::Map(entries) => {
                for (k, v) in entries {
                    path.push(Segment::Key(k.name.clone()));
                    if find(v, target, path) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            yaml::NodeValue::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Segment::Index(i));
                    if find(v, target, path) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            _ => false,
        }
    }
    let mut path = Vec::new();
    if find(root, step.location, &mut path) { path } else { Vec::new() }
}

fn check_requirements(
    doc: &ScenarioDoc,
    scenario: &Scenario,
    spec: &Spec,
    root: &Node,
    report: &mut impl FnMut(&[Segment], String),
) {
    let ids: Vec<&str> = spec.requirements.iter().map(|r| r.id.as_str()).collect();
    for (i, id) in doc.checks.iter().enumerate() {
        let path = [Segment::Key("checks".into()), Segment::Index(i)];
        match spec.requirement(id) {
            None => {
                let hint = suggest(id, &ids).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                report(&path, format!("unknown requirement `{id}`{hint}: spec/session-store.md defines no such ID"));
            }
            Some(req) => {
                if let Some(profile) = req.profile
                    && !scenario.requires.contains(&profile)
                    && Capability::ALL.contains(&profile)
                {
                    report(
                        &path,
                        format!("`{id}` belongs to profile `{profile}`, so the scenario must require `{profile}`"),
                    );
                }
            }
        }
    }
    // Only an empty list: a missing or mistyped `steps`, or steps dropped for their own errors,
    // are reported as what they are.
    if matches!(root.get("steps"), Some((_, Node { value: yaml::NodeValue::Seq(items), .. })) if items.is_empty()) {
        report(&[Segment::Key("steps".into())], "a scenario needs at least one step".into());
    }
    // What the file writes counts: a step whose `expect` or `check` has an error of its own
    // is not also reported as checking nothing.
    let asserts =
        scenario.steps.iter().any(step_asserts) || root.get("steps").is_some_and(|(_, steps)| writes_a_check(steps));
    if !asserts && !scenario.steps.is_empty() {
        report(&[Segment::Key("steps".into())], "no step checks anything: add an `expect` or a `check`".into());
    }
}

/// Whether a list of steps, as written, has a step with `expect` or `check` (inside
/// `concurrently` too).
fn writes_a_check(steps: &Node) -> bool {
    let yaml::NodeValue::Seq(items) = &steps.value else {
        return false;
    };
    items.iter().any(|step| {
        step.get("expect").is_some()
            || step.get("check").is_some()
            || step.get("concurrently").is_some_and(|(_, c)| match &c.value {
                yaml::NodeValue::Seq(_) => writes_a_check(c),
                _ => c.get("steps").is_some_and(|(_, inner)| writes_a_check(inner)),
            })
    })
}

/// Whether a step checks something beyond "it did not fail".
fn step_asserts(step: &Step) -> bool {
    match &step.op {
        Op::Check(_) => true,
        Op::Concurrently(c) => c.steps.iter().any(step_asserts),
        _ => step.expect.written,
    }
}

/// The closest known name, when one is close enough to be a typo.
fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    // A name that shares nothing with a known one (`<<` and `on`) is no typo of it.
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < name.chars().count().min(k.chars().count()))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

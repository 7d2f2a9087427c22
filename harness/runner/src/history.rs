//! A Jepsen-style history of the store operations a scenario ran, and the claims checked on it.
//! Every operation is recorded when invoked and when it completes; an operation that timed out
//! is indeterminate (`info`): it may or may not have taken effect. Claims are sound, not
//! complete: a reported violation is real, but a history that passes proves nothing more than
//! that this interleaving was fine.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use sessionspec_scenario::ClaimName;

use crate::matching::{deep_eq, short};

/// How a recorded operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// Still running.
    Pending,
    /// Acknowledged.
    Ok,
    /// Failed with this error kind: it took no effect.
    Fail(String),
    /// Timed out: it may or may not have taken effect.
    Info,
}

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct OpRecord {
    /// Its number in the history.
    pub index: usize,
    /// The branch that ran it (0 outside `concurrently`).
    pub process: usize,
    /// The operation (`set`, `touch`, `destroy`, `get`, `clear`...).
    pub f: &'static str,
    /// The session id, when it has one.
    pub sid: Option<String>,
    /// The session written, for `set`.
    pub value: Option<Value>,
    /// Logical time of the invocation.
    pub invoked: u64,
    /// Logical time of the completion.
    pub completed: Option<u64>,
    /// How it ended.
    pub outcome: OpOutcome,
}

/// The history of one scenario run.
#[derive(Debug, Default)]
pub struct History {
    ops: Mutex<Vec<OpRecord>>,
    tick: AtomicU64,
}

impl History {
    /// Records an invocation; returns its index for [`History::complete`].
    pub fn invoke(&self, process: usize, f: &'static str, sid: Option<&str>, value: Option<&Value>) -> usize {
        let invoked = self.tick.fetch_add(1, Ordering::SeqCst);
        let mut ops = self.ops.lock().expect("history lock");
        let index = ops.len();
        ops.push(OpRecord {
            index,
            process,
            f,
            sid: sid.map(str::to_owned),
            value: value.cloned(),
            invoked,
            completed: None,
            outcome: OpOutcome::Pending,
        });
        index
    }

    /// Records a completion.
    pub fn complete(&self, index: usize, outcome: OpOutcome) {
        let completed = self.tick.fetch_add(1, Ordering::SeqCst);
        let mut ops = self.ops.lock().expect("history lock");
        let op = &mut ops[index];
        op.completed = (outcome != OpOutcome::Info).then_some(completed);
        op.outcome = outcome;
    }

    /// A copy of the operations so far.
    pub fn snapshot(&self) -> Vec<OpRecord> {
        self.ops.lock().expect("history lock").clone()
    }
}

/// The session ids a claim needs read back at the end.
pub fn sids_of_interest(claim: ClaimName, ops: &[OpRecord]) -> Vec<String> {
    let set: BTreeSet<String> = ops
        .iter()
        .filter(|op| match claim {
            ClaimName::OneOfWritten | ClaimName::NoLostWrites => op.f == "set",
            ClaimName::NoResurrection => op.f == "destroy",
        })
        .filter_map(|op| op.sid.clone())
        .collect();
    set.into_iter().collect()
}

/// A violated claim: what is wrong and the operations that show it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// One paragraph.
    pub explanation: String,
    /// The operations on the session concerned, as text.
    pub witness: String,
}

/// Checks `claim` given the final value read back for each session of interest.
pub fn check(claim: ClaimName, ops: &[OpRecord], finals: &[(String, Option<Value>)]) -> Result<(), Violation> {
    for (sid, actual) in finals {
        let on_sid: Vec<&OpRecord> = ops.iter().filter(|op| op.sid.as_deref() == Some(sid)).collect();
        let destroyed = on_sid.iter().any(|op| op.f == "destroy") || ops.iter().any(|op| op.f == "clear");
        let violation = match claim {
            ClaimName::OneOfWritten if !destroyed => one_of_written(sid, &on_sid, actual.as_ref(), false),
            ClaimName::NoLostWrites if !destroyed => one_of_written(sid, &on_sid, actual.as_ref(), true),
            ClaimName::NoResurrection => no_resurrection(sid, &on_sid, actual.as_ref()),
            _ => None,
        };
        if let Some(explanation) = violation {
            return Err(Violation { explanation, witness: witness(&on_sid) });
        }
    }
    Ok(())
}

fn one_of_written(sid: &str, ops: &[&OpRecord], actual: Option<&Value>, must_exist: bool) -> Option<String> {
    let sets: Vec<&&OpRecord> =
        ops.iter().filter(|op| op.f == "set" && matches!(op.outcome, OpOutcome::Ok | OpOutcome::Info)).collect();
    if sets.is_empty() {
        return None;
    }
    // A set is superseded when another acknowledged set on the same id began after it ended:
    // the final value can then no longer be the superseded one.
    let candidates: Vec<&&&OpRecord> = sets
        .iter()
        .filter(|s| {
            !sets.iter().any(|other| {
                other.outcome == OpOutcome::Ok
                    && matches!((s.completed, Some(other.invoked)), (Some(end), Some(start)) if end < start)
            })
        })
        .collect();
    match actual {
        None if must_exist && sets.iter().any(|s| s.outcome == OpOutcome::Ok) => Some(format!(
            "session `{sid}` is gone: {} acknowledged set(s) wrote it and nothing destroyed it, yet get returns nothing (a lost write)",
            sets.iter().filter(|s| s.outcome == OpOutcome::Ok).count()
        )),
        None => None,
        Some(value) => {
            if candidates.iter().any(|s| s.value.as_ref().is_some_and(|w| deep_eq(w, value))) {
                None
            } else {
                Some(format!(
                    "session `{sid}` holds {}, which is none of the values its last concurrent sets wrote (ops {}): a mix of writes or a stale value",
                    short(value),
                    candidates.iter().map(|s| format!("#{}", s.index)).collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
}

fn no_resurrection(sid: &str, ops: &[&OpRecord], actual: Option<&Value>) -> Option<String> {
    let destroy = ops.iter().rev().find(|op| op.f == "destroy" && op.outcome == OpOutcome::Ok)?;
    let racing_set = ops.iter().any(|op| op.f == "set" && op.invoked > destroy.invoked);
    if racing_set || actual.is_none() {
        return None;
    }
    let touches: Vec<String> = ops.iter().filter(|op| op.f == "touch").map(|op| format!("#{}", op.index)).collect();
    Some(format!(
        "session `{sid}` came back: destroy #{} was acknowledged and no set ran alongside or after it (only touch {}), yet get returns {}",
        destroy.index,
        if touches.is_empty() { "none".to_owned() } else { touches.join(", ") },
        short(actual.expect("checked above"))
    ))
}

fn witness(ops: &[&OpRecord]) -> String {
    let mut out = String::from("history of the session (logical times: invoke -> complete):\n");
    for op in ops {
        let outcome = match &op.outcome {
            OpOutcome::Pending => "pending".to_owned(),
            OpOutcome::Ok => "ok".to_owned(),
            OpOutcome::Fail(kind) => format!("fail({kind})"),
            OpOutcome::Info => "info (timed out: may or may not have happened)".to_owned(),
        };
        let value = op.value.as_ref().map(|v| format!(" {}", short(v))).unwrap_or_default();
        let completed = op.completed.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
        let _ = writeln!(
            out,
            "  #{} process {} {}{value}: {} -> {completed} {outcome}",
            op.index,
            op.process,
            op.f,
            op.invoked,
            completed = completed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn history(ops: &[(&'static str, &str, Option<Value>, OpOutcome)]) -> Vec<OpRecord> {
        let h = History::default();
        let ids: Vec<usize> = ops.iter().map(|(f, sid, v, _)| h.invoke(1, f, Some(sid), v.as_ref())).collect();
        for (i, (_, _, _, outcome)) in ids.iter().zip(ops) {
            h.complete(*i, outcome.clone());
        }
        h.snapshot()
    }

    #[test]
    fn a_mix_of_concurrent_writes_violates_one_of_written() {
        let ops = history(&[
            ("set", "x", Some(json!({"a": 1, "b": 1})), OpOutcome::Ok),
            ("set", "x", Some(json!({"a": 2, "b": 2})), OpOutcome::Ok),
        ]);
        assert!(check(ClaimName::OneOfWritten, &ops, &[("x".into(), Some(json!({"a": 2, "b": 2})))]).is_ok());
        let err = check(ClaimName::OneOfWritten, &ops, &[("x".into(), Some(json!({"a": 1, "b": 2})))]).unwrap_err();
        assert!(err.explanation.contains("none of the values"), "{}", err.explanation);
    }

    #[test]
    fn a_superseded_write_is_not_a_valid_final_value() {
        let h = History::default();
        let first = h.invoke(0, "set", Some("x"), Some(&json!({"v": 1})));
        h.complete(first, OpOutcome::Ok);
        let second = h.invoke(0, "set", Some("x"), Some(&json!({"v": 2})));
        h.complete(second, OpOutcome::Ok);
        let ops = h.snapshot();
        assert!(check(ClaimName::NoLostWrites, &ops, &[("x".into(), Some(json!({"v": 1})))]).is_err());
        assert!(check(ClaimName::NoLostWrites, &ops, &[("x".into(), None)]).is_err());
        assert!(check(ClaimName::NoLostWrites, &ops, &[("x".into(), Some(json!({"v": 2})))]).is_ok());
    }

    #[test]
    fn a_touch_racing_a_destroy_must_not_resurrect() {
        let ops = history(&[("destroy", "x", None, OpOutcome::Ok), ("touch", "x", None, OpOutcome::Ok)]);
        assert!(check(ClaimName::NoResurrection, &ops, &[("x".into(), None)]).is_ok());
        let err = check(ClaimName::NoResurrection, &ops, &[("x".into(), Some(json!({"n": 1})))]).unwrap_err();
        assert!(err.explanation.contains("came back"));
        assert!(err.witness.contains("touch"));
    }
}

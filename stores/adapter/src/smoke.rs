//! `sessionspec smoke`: a few seconds' check that an adapter speaks the protocol: the handshake,
//! each declared operation once, typed errors for what it does not declare, well-formed events,
//! a clean drop and shutdown. It checks the protocol, not conformance: that is `sessionspec run`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;
use sessionspec_contract::{
    Capability, ErrorKind, EventSink, Namespace, OpenContext, Session, SharedClock, StoreEvent, StoreFactory,
    StoreOptions, SystemClock, Tamper, VirtualClock, format_timestamp,
};

use crate::{AdapterConfig, AdapterFactory};

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It held; what was seen.
    Pass(String),
    /// It did not; what is wrong and what to do.
    Fail(String),
    /// Not checked; why.
    Skip(String),
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked (`handshake`, `get (missing sid)`).
    pub name: String,
    /// How it went.
    pub verdict: Verdict,
}

/// Every check, in order.
#[derive(Debug, Clone, Default)]
pub struct Smoke {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Smoke {
    fn push(&mut self, name: impl Into<String>, verdict: Verdict) {
        self.checks.push(Check { name: name.into(), verdict });
    }

    fn result<T>(&mut self, name: &str, result: sessionspec_contract::Result<T>, ok: impl FnOnce(T) -> Verdict) {
        let verdict = match result {
            Ok(v) => ok(v),
            Err(e) => Verdict::Fail(format!("failed with `{}`: {}", e.kind(), e.chain())),
        };
        self.push(name, verdict);
    }

    /// Whether every check passed or was skipped.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| !matches!(c.verdict, Verdict::Fail(_)))
    }
}

/// Runs the smoke checks against the adapter `config` starts.
pub async fn run(config: AdapterConfig) -> Smoke {
    let mut smoke = Smoke::default();
    let factory = match AdapterFactory::start(config.clone()).await {
        Ok(f) => f,
        Err(e) => {
            smoke.push("handshake", Verdict::Fail(e.chain()));
            return smoke;
        }
    };
    let hs = factory.handshake().clone();
    smoke.push(
        "handshake",
        Verdict::Pass(format!("{hs}, protocol {}, capabilities: {}", hs.protocol, hs.capabilities.names().join(", "))),
    );
    let caps = hs.capabilities.clone();
    let has = |c: Capability| caps.contains(c);

    let namespace = Namespace::new(format!("smoke_{}", std::process::id())).expect("a valid namespace");
    let virtual_clock = VirtualClock::starting_now();
    let clock: SharedClock = if has(Capability::VirtualClock) { virtual_clock.shared() } else { SystemClock::shared() };
    let events: Arc<Mutex<Vec<StoreEvent>>> = Arc::default();
    let sink_events = events.clone();
    let context = OpenContext {
        namespace: namespace.clone(),
        options: StoreOptions::default(),
        clock: clock.clone(),
        events: EventSink::new(move |e| sink_events.lock().expect("lock").push(e)),
    };
    let store = match factory.open(context).await {
        Ok(s) => {
            smoke.push("open", Verdict::Pass(format!("an instance in namespace `{namespace}`")));
            s
        }
        Err(e) => {
            smoke.push("open", Verdict::Fail(e.chain()));
            let _ = factory.drop_namespace(&namespace).await;
            factory.shutdown().await;
            return smoke;
        }
    };
    let expires = format_timestamp(clock.now() + TimeDelta::hours(1));
    let session = Session::from_value(json!({"cookie": {"expires": expires, "originalMaxAge": 3_600_000}, "smoke": 1}))
        .expect("an object");

    smoke.result("set", store.set("smoke-a", &session).await, |()| Verdict::Pass("succeeded".into()));
    smoke.result("get", store.get("smoke-a").await, |got| match got {
        Some(s) if s.as_map().get("smoke") == Some(&json!(1)) => Verdict::Pass("returned the session just set".into()),
        Some(s) => Verdict::Fail(format!("returned a session without `smoke: 1`: {}", s.to_json())),
        None => Verdict::Fail("returned nothing (null) right after set".into()),
    });
    smoke.result("get (missing sid)", store.get("smoke-missing").await, |got| match got {
        None => Verdict::Pass("returned null".into()),
        Some(s) => Verdict::Fail(format!("returned {} for a sid never set", s.to_json())),
    });

    let process = factory.process_of(&namespace).await;
    let instance = "i1"; // the factory numbers instances from 1
    let ops: [(Capability, &str); 5] = [
        (Capability::Touch, "touch"),
        (Capability::All, "all"),
        (Capability::Length, "length"),
        (Capability::Ids, "ids"),
        (Capability::Clear, "clear"),
    ];
    for (capability, op) in ops {
        if has(capability) {
            let name = op.to_string();
            match op {
                "touch" => {
                    smoke.result(&name, store.touch("smoke-a", &session).await, |()| Verdict::Pass("succeeded".into()))
                }
                "all" => smoke.result(&name, store.all().await, |all| Verdict::Pass(format!("{} entries", all.len()))),
                "length" => smoke.result(&name, store.length().await, |n| Verdict::Pass(format!("{n}"))),
                "ids" => smoke.result(&name, store.ids().await, |ids| Verdict::Pass(format!("{ids:?}"))),
                _ => {}
            }
        } else if let Some(p) = &process {
            let reply = p
                .request(op, crate::json_map(json!({"instance": instance, "sid": "smoke-a", "session": session})))
                .await;
            let verdict = match reply {
                Err(e) if e.kind() == ErrorKind::Unsupported => {
                    Verdict::Pass("not declared; fails with `unsupported`".into())
                }
                Err(e) => Verdict::Fail(format!(
                    "not declared, and fails with `{}` ({}); an operation a store lacks fails with `unsupported`",
                    e.kind(),
                    e.message()
                )),
                Ok(v) => Verdict::Fail(format!(
                    "not declared, yet answered {v}; declare `{capability}` or fail it with `unsupported`"
                )),
            };
            smoke.push(format!("{op} (not declared)"), verdict);
        }
    }

    if has(Capability::RawInspection) {
        let raw = store.raw().expect("declared");
        smoke.result("raw", raw.record("smoke-a").await, |r| match r {
            Some(r) => Verdict::Pass(format!("record under key `{}`", r.key)),
            None => Verdict::Fail("no record for a session just set".into()),
        });
        smoke.result("raw-count", raw.count().await, |n| Verdict::Pass(format!("{n}")));
        if has(Capability::Indexes) {
            smoke.result("indexes", raw.indexes().await, |i| Verdict::Pass(format!("{} indexes", i.len())));
        }
        let _ = store.set("smoke-tamper", &session).await;
        smoke.result("tamper", raw.tamper("smoke-tamper", Tamper::Garbage).await, |()| {
            Verdict::Pass("succeeded".into())
        });
        let _ = store.destroy("smoke-tamper").await;
    }

    if let Some(p) = &process {
        let reply = p.request("sessionspec-smoke-unknown", crate::json_map(json!({}))).await;
        smoke.push(
            "unknown request",
            match reply {
                Err(e) if e.kind() == ErrorKind::Unsupported => Verdict::Pass("fails with `unsupported`".into()),
                Err(e) => Verdict::Fail(format!("fails with `{}`; an unknown `op` fails with `unsupported`", e.kind())),
                Ok(v) => Verdict::Fail(format!("answered {v}; an unknown `op` fails with `unsupported`")),
            },
        );
    }

    if has(Capability::VirtualClock) {
        virtual_clock.advance(Duration::from_secs(2 * 3600));
        smoke.result("clock", store.get("smoke-a").await, |got| match got {
            None => Verdict::Pass("after the clock moved 2h, the 1h session is gone".into()),
            Some(_) => Verdict::Fail(
                "after `clock` moved 2h past a session's 1h expiry, get still returns it: does the adapter fake `Date` from `clock`?"
                    .into(),
            ),
        });
    }

    smoke.result("destroy", store.destroy("smoke-a").await, |()| Verdict::Pass("succeeded".into()));
    let seen = events.lock().expect("lock").clone();
    if has(Capability::Events) {
        let with_sid = seen.iter().filter(|e| e.sid.is_some()).count();
        smoke.push(
            "events",
            if seen.iter().any(|e| e.sid.as_deref() == Some("smoke-a")) {
                Verdict::Pass(format!("{} events, {with_sid} with a sid", seen.len()))
            } else {
                Verdict::Fail(format!(
                    "declared, but no event named `smoke-a` after set and destroy ({} events)",
                    seen.len()
                ))
            },
        );
    } else if !seen.is_empty() {
        smoke.push("events", Verdict::Fail(format!("not declared, yet {} events arrived", seen.len())));
    }

    smoke.result("close", store.close().await, |()| Verdict::Pass("succeeded".into()));
    smoke.result("drop", factory.drop_namespace(&namespace).await, |()| {
        Verdict::Pass(format!("namespace `{namespace}` dropped"))
    });
    if let Some(p) = &process {
        let breaches = p.breaches();
        smoke.push(
            "protocol",
            if breaches.is_empty() {
                Verdict::Pass("every message well-formed".into())
            } else {
                Verdict::Fail(breaches.join("; "))
            },
        );
        let clean = p.shutdown(Duration::from_secs(5)).await;
        smoke.push(
            "shutdown",
            if clean {
                Verdict::Pass("exited".into())
            } else {
                Verdict::Fail("still running 5s after `shutdown`; it was killed".into())
            },
        );
    }
    smoke
}

/// The report as text, one line per check.
pub fn render(smoke: &Smoke) -> String {
    let mut out = String::new();
    for c in &smoke.checks {
        let (mark, text) = match &c.verdict {
            Verdict::Pass(t) => ("ok  ", t.clone()),
            Verdict::Fail(t) => ("FAIL", t.clone()),
            Verdict::Skip(t) => ("skip", t.clone()),
        };
        out.push_str(&format!("{mark} {:<26} {text}\n", c.name));
    }
    let failed = smoke.checks.iter().filter(|c| matches!(c.verdict, Verdict::Fail(_))).count();
    out.push_str(&if failed == 0 {
        format!(
            "\nthe adapter speaks the protocol ({} checks). Next: sessionspec run --store ...\n",
            smoke.checks.len()
        )
    } else {
        format!("\n{failed} of {} checks failed; see spec/adapter-protocol.md\n", smoke.checks.len())
    });
    out
}

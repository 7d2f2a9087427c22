//! Events a store emits while it works (connect-mongo's `create`, `update`, `set`, `touch`,
//! `destroy`). The harness records the events of each step; a store must emit an operation's
//! events before that operation completes, or the harness attributes them to the next step.

use std::fmt;
use std::sync::Arc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// A `set` created a session that did not exist.
    Create,
    /// A `set` replaced an existing session.
    Update,
    /// A `set` completed (after `create` or `update`).
    Set,
    /// A `touch` wrote a new expiry.
    Touch,
    /// A `destroy` completed.
    Destroy,
    /// A `get` completed.
    Get,
    /// An `all` completed.
    All,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 7] = [
        EventKind::Create,
        EventKind::Update,
        EventKind::Set,
        EventKind::Touch,
        EventKind::Destroy,
        EventKind::Get,
        EventKind::All,
    ];

    /// The lower-case name used in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Create => "create",
            EventKind::Update => "update",
            EventKind::Set => "set",
            EventKind::Touch => "touch",
            EventKind::Destroy => "destroy",
            EventKind::Get => "get",
            EventKind::All => "all",
        }
    }

    /// Looks a kind up by name.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event: its kind and the session id it concerns, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEvent {
    /// What happened.
    pub kind: EventKind,
    /// The session id, as the caller passed it (not transformed).
    pub sid: Option<String>,
}

impl StoreEvent {
    /// An event about one session.
    pub fn new(kind: EventKind, sid: &str) -> Self {
        StoreEvent { kind, sid: Some(sid.to_owned()) }
    }
}

/// Where a store sends its events. Cheap to clone; emitting never blocks.
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(StoreEvent) + Send + Sync>);

impl EventSink {
    /// A sink that calls `f` for every event.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use sessionspec_contract::{EventKind, EventSink, StoreEvent};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = EventSink::new({ let seen = seen.clone(); move |e| seen.lock().unwrap().push(e) });
    /// sink.emit(StoreEvent::new(EventKind::Set, "a"));
    /// assert_eq!(seen.lock().unwrap()[0].sid.as_deref(), Some("a"));
    /// ```
    pub fn new(f: impl Fn(StoreEvent) + Send + Sync + 'static) -> Self {
        EventSink(Arc::new(f))
    }

    /// A sink that drops every event.
    pub fn discard() -> Self {
        EventSink::new(|_| {})
    }

    /// Emits one event.
    pub fn emit(&self, event: StoreEvent) {
        (self.0)(event)
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink")
    }
}

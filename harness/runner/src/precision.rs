//! The spec's precision rule (spec/session-store.md, "Precision" and "How conformance is checked:
//! time"): whether a session is expired within 1 s of its expiry is implementation-defined, so a
//! probe on the wall clock that landed within 1 s of a boundary is reported as an error (the run
//! retries it), never as a failure. On a virtual clock probes land exactly where the scenario
//! put them, which is clear of every boundary.

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sessionspec_contract::{Session, StoreOptions};

/// How close to a boundary whether a session is expired is implementation-defined.
pub(crate) const WINDOW: TimeDelta = TimeDelta::seconds(1);

/// The instants at which a case's sessions may change state: each write's expiry (its
/// `cookie.expires`, or the write's time plus the fallback `ttl`) and the end of each write's
/// `touch-after` window.
#[derive(Debug, Default)]
pub(crate) struct Boundaries(Mutex<Vec<DateTime<Utc>>>);

impl Boundaries {
    /// Notes the boundaries a write of `session` at `at` makes under `options`.
    pub(crate) fn note_write(&self, at: DateTime<Utc>, session: &Value, options: &StoreOptions) {
        let mut found = Vec::new();
        let expires = Session::from_value(session.clone()).ok().and_then(|s| s.expires().ok().flatten());
        match (expires, options.ttl) {
            (Some(expires), _) => found.push(expires),
            (None, Some(ttl)) => found.extend(TimeDelta::from_std(ttl).ok().map(|t| at + t)),
            (None, None) => {}
        }
        if let Some(window) = options.touch_after.and_then(|t| TimeDelta::from_std(t).ok()) {
            found.push(at + window);
        }
        self.0.lock().expect("boundaries lock").extend(found);
    }

    /// A boundary within the window of a probe that ran from `from` to `to`, if any.
    pub(crate) fn near(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.lock().expect("boundaries lock").iter().copied().find(|b| *b > from - WINDOW && *b < to + WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_900_000_000_000 + ms).unwrap()
    }

    #[test]
    fn a_probe_within_one_second_of_an_expiry_is_near_it_and_one_clear_of_it_is_not() {
        let b = Boundaries::default();
        let expires = sessionspec_contract::format_timestamp(at(10_000));
        b.note_write(at(0), &json!({"cookie": {"expires": expires}}), &StoreOptions::default());
        assert_eq!(b.near(at(9_100), at(9_150)), Some(at(10_000)));
        assert_eq!(b.near(at(10_900), at(10_950)), Some(at(10_000)));
        assert_eq!(b.near(at(8_000), at(9_000)), None, "exactly 1 s before is clear");
        assert_eq!(b.near(at(11_000), at(11_500)), None, "exactly 1 s after is clear");
    }

    #[test]
    fn the_fallback_ttl_and_the_touch_after_window_are_boundaries_too() {
        let b = Boundaries::default();
        let options = StoreOptions {
            ttl: Some(Duration::from_secs(5)),
            touch_after: Some(Duration::from_secs(2)),
            ..StoreOptions::default()
        };
        b.note_write(at(0), &json!({"cookie": {"originalMaxAge": null}}), &options);
        assert_eq!(b.near(at(4_500), at(4_600)), Some(at(5_000)));
        assert_eq!(b.near(at(2_300), at(2_400)), Some(at(2_000)));
        assert_eq!(b.near(at(3_100), at(3_900)), None);
    }
}

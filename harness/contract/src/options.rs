//! Store options: the knobs a scenario may set for the store it runs against. Each option needs
//! a capability; a store without it makes the scenario not applicable. Durations are written as
//! in scenario files (`1500ms`, `10s`, `5m`, `2h`, `14d`), here and in the adapter protocol.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Capability, CapabilitySet, ErrorKind, Result, StoreError};

/// Options a scenario sets for the store under test. All default to "not set": the store's own
/// default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StoreOptions {
    /// Time-to-live for a session whose cookie has no `expires` (needs `ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "duration::option")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<duration::Schema>"))]
    pub ttl: Option<Duration>,
    /// `touch` succeeds without writing anything (needs `disable-touch`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_touch: bool,
    /// Skip a touch within this long of the last write (needs `touch-after`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "duration::option")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<duration::Schema>"))]
    pub touch_after: Option<Duration>,
    /// How expired sessions are removed from storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_remove: Option<AutoRemove>,
    /// How often the `interval` sweep runs (needs `auto-remove-interval`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "duration::option")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<duration::Schema>"))]
    pub auto_remove_interval: Option<Duration>,
    /// Records carry `createdAt` and `updatedAt` (needs `timestamps`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub timestamps: bool,
    /// The stored form of the session (needs `serializer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serializer: Option<Serializer>,
    /// How session ids are transformed before they are stored (needs `transform-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_id: Option<IdTransform>,
    /// Encrypt stored payloads (needs `encryption`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionOptions>,
    /// The base name of the key prefix, table or collection, inside the scenario's namespace
    /// (needs `naming`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who calls the store (spec/session-store.md, "Two callers"); needs no capability. A store
    /// that only ever receives a session's JSON, as every Rust store does, sees no difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
}

/// Who hands a session to `set` and `touch`, and receives what `get` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Caller {
    /// express-session's middleware: a live `Session` whose cookie is a live `Cookie` (the default).
    ExpressSession,
    /// A plain JSON object, as fastify-session or an application calling the store directly hands it.
    Json,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl StoreOptions {
    /// The capabilities a store needs to honour these options: a store refuses options whose
    /// capabilities it does not declare.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionspec_contract::{Capability, StoreOptions};
    ///
    /// let options = StoreOptions { touch_after: Some(Duration::from_secs(5)), ..StoreOptions::default() };
    /// assert_eq!(options.required_capabilities(), [Capability::TouchAfter]);
    /// ```
    pub fn required_capabilities(&self) -> Vec<Capability> {
        let mut caps = Vec::new();
        if self.ttl.is_some() {
            caps.push(Capability::Ttl);
        }
        if self.disable_touch {
            caps.push(Capability::DisableTouch);
        }
        if self.touch_after.is_some() {
            caps.push(Capability::TouchAfter);
        }
        match self.auto_remove {
            Some(AutoRemove::Native) => caps.push(Capability::AutoRemoveNative),
            Some(AutoRemove::Interval) => caps.push(Capability::AutoRemoveInterval),
            Some(AutoRemove::Disabled) => caps.push(Capability::AutoRemoveDisabled),
            None => {}
        }
        if self.auto_remove_interval.is_some() {
            caps.push(Capability::AutoRemoveInterval);
        }
        if self.timestamps {
            caps.push(Capability::Timestamps);
        }
        if self.serializer.is_some() {
            caps.push(Capability::Serializer);
        }
        if self.transform_id.is_some() {
            caps.push(Capability::TransformId);
        }
        if self.encryption.is_some() {
            caps.push(Capability::Encryption);
        }
        if self.name.is_some() {
            caps.push(Capability::Naming);
        }
        caps.sort();
        caps.dedup();
        caps
    }

    /// Fails with [`ErrorKind::Unsupported`] when one of these options needs a capability that is
    /// not in `capabilities`: a store checks its options against its own declaration, so what
    /// it refuses and what it declares cannot disagree. `store` names it in the message.
    ///
    /// ```
    /// use sessionspec_contract::{Capability, CapabilitySet, ErrorKind, StoreOptions};
    ///
    /// let declared: CapabilitySet = [Capability::Ttl].into_iter().collect();
    /// let options = StoreOptions { timestamps: true, ..StoreOptions::default() };
    /// let refused = options.check_supported(&declared, "map").unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::Unsupported);
    /// assert_eq!(refused.message(), "the map store does not support `timestamps`");
    /// ```
    pub fn check_supported(&self, capabilities: &CapabilitySet, store: &str) -> Result<()> {
        match capabilities.missing(&self.required_capabilities()).first() {
            Some(missing) => {
                Err(StoreError::new(ErrorKind::Unsupported, format!("the {store} store does not support `{missing}`")))
            }
            None => Ok(()),
        }
    }

    /// These options with every field set in `over` replacing the one here.
    pub fn overlay(&self, over: &StoreOptions) -> StoreOptions {
        StoreOptions {
            ttl: over.ttl.or(self.ttl),
            disable_touch: over.disable_touch || self.disable_touch,
            touch_after: over.touch_after.or(self.touch_after),
            auto_remove: over.auto_remove.or(self.auto_remove),
            auto_remove_interval: over.auto_remove_interval.or(self.auto_remove_interval),
            timestamps: over.timestamps || self.timestamps,
            serializer: over.serializer.or(self.serializer),
            transform_id: over.transform_id.or(self.transform_id),
            encryption: over.encryption.clone().or_else(|| self.encryption.clone()),
            name: over.name.clone().or_else(|| self.name.clone()),
            caller: over.caller.or(self.caller),
        }
    }
}

/// How expired sessions leave storage (connect-mongo's `autoRemove`). Whatever the mode, `get`
/// never returns an expired session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AutoRemove {
    /// The backend's own expiry mechanism (a TTL index).
    Native,
    /// A periodic sweep run by the store every `auto-remove-interval`.
    Interval,
    /// Nothing removes expired records; they stay until overwritten, destroyed or cleared.
    Disabled,
}

/// The stored form of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Serializer {
    /// A JSON string (connect-mongo's `stringify: true`, every SQL and Redis store).
    Json,
    /// A native structured document (connect-mongo's `stringify: false`, a JSON column).
    Document,
}

/// A transformation applied to session ids before they are stored (connect-mongo's
/// `transformId`). Scenarios cannot pass code, so the choices are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum IdTransform {
    /// The lower-case hexadecimal SHA-256 digest of the id: ids are not stored in the clear.
    Sha256,
}

/// Encryption at rest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EncryptionOptions {
    /// The secret the key is derived from. Never printed: `Debug` redacts it.
    pub secret: String,
}

impl fmt::Debug for EncryptionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionOptions").field("secret", &"[redacted]").finish()
    }
}

/// Durations as scenario files write them.
pub mod duration {
    use std::time::Duration;

    const UNITS: [(&str, u64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

    /// The longest duration a scenario may write: 36500 days (about 100 years). Every time the
    /// harness computes (the clock plus all advances plus an offset) then stays far inside what
    /// the date types hold, so date arithmetic cannot overflow.
    pub const MAX: Duration = Duration::from_millis(36_500 * 86_400_000);

    /// Parses `1500ms`, `10s`, `5m`, `2h`, `14d` or a sum of them (`1m30s`), at most [`MAX`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionspec_contract::duration;
    ///
    /// assert_eq!(duration::parse("1m30s"), Ok(Duration::from_secs(90)));
    /// assert!(duration::parse("soon").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Duration, String> {
        let expected = "expected a whole number followed by a unit (ms, s, m, h, d), like 500ms, 10s, 1m30s or 14d";
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(format!("malformed duration `{text}`: {expected}"));
        }
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("malformed duration `{text}`: {expected}"));
            }
            let (number, tail) = rest.split_at(digits);
            let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (unit, tail) = tail.split_at(unit_len);
            let Some((_, millis)) = UNITS.iter().find(|(name, _)| *name == unit) else {
                return Err(format!("malformed duration `{text}`: {expected}"));
            };
            let number: u64 = number
                .parse()
                .map_err(|_| format!("duration `{text}` is longer than 36500d, the longest the harness handles"))?;
            total = number
                .checked_mul(*millis)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(|| format!("duration `{text}` is longer than 36500d, the longest the harness handles"))?;
            rest = tail;
        }
        let total = Duration::from_millis(total);
        if total > MAX {
            return Err(format!("duration `{text}` is longer than 36500d, the longest the harness handles"));
        }
        Ok(total)
    }

    /// Writes a duration in the largest unit that divides it (`90s` stays `90s`, `60000ms` is `1m`).
    pub fn format(duration: Duration) -> String {
        let ms = duration.as_millis() as u64;
        if ms == 0 {
            return "0s".to_owned();
        }
        for (unit, size) in UNITS {
            if ms.is_multiple_of(size) {
                return format!("{}{unit}", ms / size);
            }
        }
        unreachable!("every whole number of milliseconds is divisible by 1")
    }

    /// The JSON Schema of a duration string.
    #[cfg(feature = "schema")]
    #[derive(schemars::JsonSchema)]
    #[schemars(description = "A duration: whole numbers with units ms, s, m, h, d (500ms, 10s, 1m30s, 14d)")]
    #[allow(dead_code)]
    pub struct Schema(#[schemars(pattern(r"^([0-9]+(ms|s|m|h|d))+$"))] String);

    /// `serde(with = ...)` for `Option<Duration>`.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes as a duration string.
        pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(d) => s.serialize_str(&super::format(*d)),
                None => s.serialize_none(),
            }
        }

        /// Deserializes from a duration string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => super::parse(&text).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_and_formats() {
            assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
            assert_eq!(parse("1500ms"), Ok(Duration::from_millis(1500)));
            assert_eq!(parse("14d"), Ok(Duration::from_secs(14 * 86_400)));
            assert_eq!(format(Duration::from_secs(90)), "90s");
            assert_eq!(format(Duration::from_secs(3600)), "1h");
            assert_eq!(format(Duration::from_millis(1500)), "1500ms");
            for bad in ["", "10", "s", "10x", "1.5s", "-1s", "10 s"] {
                assert!(parse(bad).is_err(), "{bad:?} parsed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_beyond_the_declared_capabilities_are_refused() {
        let declared: CapabilitySet = [Capability::Ttl, Capability::Naming].into_iter().collect();
        let honoured = StoreOptions { ttl: Some(Duration::from_secs(1)), name: Some("t".into()), ..Default::default() };
        assert!(honoured.check_supported(&declared, "test").is_ok());
        let refused = StoreOptions { timestamps: true, ..honoured };
        let error = refused.check_supported(&declared, "test").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unsupported);
        assert_eq!(error.message(), "the test store does not support `timestamps`");
    }
}

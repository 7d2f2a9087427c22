//! Capabilities: what a store declares it can do. A scenario that requires a capability the
//! store lacks is not applicable to it, never failed. The names here must match the registry in
//! `spec/capabilities.yaml` (a test in the scenario crate checks both ways).

use std::collections::BTreeSet;
use std::fmt;

macro_rules! capabilities {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// One thing a store can do beyond the required `get`, `set` and `destroy`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Capability {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Capability {
            /// Every capability, in a stable order.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)*];

            /// The kebab-case name used in scenarios, reports and the adapter protocol.
            pub fn name(self) -> &'static str {
                match self {
                    $(Capability::$variant => $name,)*
                }
            }
        }
    };
}

capabilities! {
    /// `touch` resets a session's expiry without rewriting its data.
    Touch => "touch",
    /// `all` lists the unexpired sessions.
    All => "all",
    /// `length` counts the unexpired sessions.
    Length => "length",
    /// `clear` removes every session.
    Clear => "clear",
    /// `ids` lists the ids of the unexpired sessions.
    Ids => "ids",
    /// `close` releases the store's resources; later operations fail with `closed`.
    Close => "close",
    /// `create` stores a session under an id no session holds, never replacing one (record stores).
    Create => "create",
    /// `delete-expired` removes the expired records and nothing else (record stores).
    DeleteExpired => "delete-expired",
    /// `touch` is not the store's own operation: the caller loads the session and saves it with
    /// the new expiry (record stores, whose trait has no touch). A write landing between that
    /// load and save is undone by the caller, whatever the store does, so scenarios about how
    /// the store's touch races a write exclude it.
    TouchBySave => "touch-by-save",
    /// Expiry is decided by the client clock the store is given, so the harness can move it.
    VirtualClock => "virtual-clock",
    /// The fallback time-to-live for a cookie without `expires` can be configured (`ttl`).
    Ttl => "ttl",
    /// `touch` can be turned off (`disable-touch`): it then succeeds without writing.
    DisableTouch => "disable-touch",
    /// Lazy touch (`touch-after`): a touch within the window after the last write is skipped.
    TouchAfter => "touch-after",
    /// Expired sessions are removed by the backend's own expiry index (`auto-remove: native`).
    AutoRemoveNative => "auto-remove-native",
    /// Expired sessions are removed by a periodic sweep (`auto-remove: interval`).
    AutoRemoveInterval => "auto-remove-interval",
    /// Automatic removal can be turned off (`auto-remove: disabled`).
    AutoRemoveDisabled => "auto-remove-disabled",
    /// Records carry `createdAt` and `updatedAt` (`timestamps`).
    Timestamps => "timestamps",
    /// The stored form can be chosen between a JSON string and a native document (`serializer`).
    Serializer => "serializer",
    /// Session ids are transformed before they are stored (`transform-id`).
    TransformId => "transform-id",
    /// The store emits events (create, update, set, touch, destroy).
    Events => "events",
    /// Stored payloads are encrypted at rest (`encryption`).
    Encryption => "encryption",
    /// The key prefix, table or collection name can be chosen (`name`).
    Naming => "naming",
    /// The harness can read and tamper with what is stored (raw records and their count).
    RawInspection => "raw-inspection",
    /// The harness can list the backend's indexes on the session records.
    Indexes => "indexes",
    /// Several store instances opened on one namespace share their sessions.
    SharedNamespace => "shared-namespace",
}

impl Capability {
    /// Looks a capability up by its kebab-case name.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.iter().copied().find(|c| c.name() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities, ordered by name for stable output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySet(BTreeSet<Capability>);

impl CapabilitySet {
    /// The empty set.
    pub fn new() -> Self {
        CapabilitySet::default()
    }

    /// Whether `capability` is in the set.
    pub fn contains(&self, capability: Capability) -> bool {
        self.0.contains(&capability)
    }

    /// Adds `capability`.
    pub fn insert(&mut self, capability: Capability) {
        self.0.insert(capability);
    }

    /// Removes `capability`.
    pub fn remove(&mut self, capability: Capability) {
        self.0.remove(&capability);
    }

    /// Those of `required` that are not in the set, in order.
    ///
    /// ```
    /// use sessionspec_contract::{Capability, CapabilitySet};
    ///
    /// let declared: CapabilitySet = [Capability::Touch, Capability::All].into_iter().collect();
    /// assert_eq!(declared.missing(&[Capability::Touch, Capability::Length]), [Capability::Length]);
    /// assert_eq!(declared.names(), ["touch", "all"]);
    /// ```
    pub fn missing<'a>(&self, required: impl IntoIterator<Item = &'a Capability>) -> Vec<Capability> {
        required.into_iter().copied().filter(|c| !self.contains(*c)).collect()
    }

    /// The capabilities in order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        self.0.iter().copied()
    }

    /// Their names in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(Capability::name).collect()
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        CapabilitySet(iter.into_iter().collect())
    }
}

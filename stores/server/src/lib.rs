//! What sessionspec's server-backed reference stores share, so that each piece is written once:
//! [`Operations`] bounds every operation in time with its retries and refuses work after close,
//! [`Sweep`] deletes expired records periodically on the store's clock, [`ConnectFailure`] says
//! why a server cannot be reached, [`Ident`] checks and quotes SQL names.
//!
//! It knows no store's layout or options, and never puts a password into a message. What belongs
//! to the contract itself (a session's cookie, how tampering damages a payload, which options a
//! declaration allows) lives in `sessionspec-contract`, not here.
#![warn(missing_docs)]

mod connect;
mod ident;
mod operation;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlx")]
pub mod sqlx;
mod sweep;

use sessionspec_contract::{
    Capability, CapabilitySet, ErrorKind, RawAccess, Result, StoreDescription, StoreError, Tamper,
};

pub use connect::{CONNECT_TIMEOUT, ConnectFailure, Endpoint, redact_password, redact_text, redact_url, redact_urls};
pub use ident::Ident;
pub use operation::{DEFAULT_OPERATION_TIMEOUT, Operations, bounded, timeout};
pub use sweep::Sweep;

/// What every server-backed reference store can do beyond `get`, `set` and `destroy`: all the
/// optional operations, raw inspection of what it stores, and several instances on one namespace.
pub const OPERATIONS: [Capability; 8] = {
    use Capability::*;
    [Touch, All, Length, Clear, Ids, Close, RawInspection, SharedNamespace]
};

/// A reference store's description: `name` as `--store` selects it, `version` its crate's,
/// written in Rust, on `backend` (reporting `backend_version`), able to do `capabilities`.
pub fn description(
    name: &str,
    version: &str,
    backend: &str,
    backend_version: Option<String>,
    capabilities: CapabilitySet,
) -> StoreDescription {
    StoreDescription {
        name: name.into(),
        version: version.into(),
        language: "rust".into(),
        backend: backend.into(),
        backend_version,
        capabilities,
    }
}

/// The payload stored for `sid`, as text, damaged as `tamper` says: what a store keeping JSON text
/// writes back to tamper with a record. Fails with `not-found` when nothing is stored for `sid`.
pub async fn damaged_payload(raw: &(impl RawAccess + ?Sized), sid: &str, tamper: Tamper) -> Result<String> {
    let record = raw
        .record(sid)
        .await?
        .ok_or_else(|| StoreError::new(ErrorKind::NotFound, format!("nothing is stored for `{sid}`")))?;
    Ok(tamper.damage(record.payload.as_str().unwrap_or_default()))
}

//! Driver errors as store errors. The kinds follow what happened (a shut-down client is
//! `closed`, an exceeded time limit `timeout`, everything else from the server `backend`); the
//! text never carries a connection string's password.

use std::time::Duration;

use mongodb::error::{Error, ErrorKind as DriverKind, WriteFailure};
use sessionspec_contract::{ErrorKind, StoreError};
use sessionspec_server_store::ConnectFailure;

/// Server error codes the store reacts to.
pub(crate) mod codes {
    /// The collection or database does not exist.
    pub const NAMESPACE_NOT_FOUND: i32 = 26;
    /// A collection was created concurrently.
    pub const NAMESPACE_EXISTS: i32 = 48;
    /// `maxTimeMS` ran out.
    pub const MAX_TIME_MS_EXPIRED: i32 = 50;
    /// An index of that name already exists (with the same key).
    pub const INDEX_ALREADY_EXISTS: i32 = 68;
    /// An index with that key or name exists with other options.
    pub const INDEX_OPTIONS_CONFLICT: i32 = 85;
    /// An index with that name exists with another key.
    pub const INDEX_KEY_SPECS_CONFLICT: i32 = 86;
    /// An identical index build was started by someone else and is still running.
    pub const INDEX_BUILD_ALREADY_IN_PROGRESS: i32 = 276;
    /// A duplicate key: two upserts of one new `_id` raced.
    pub const DUPLICATE_KEY: i32 = 11000;

    /// Codes after which creating an index is worth another look at what exists.
    pub fn is_index_race(code: i32) -> bool {
        matches!(
            code,
            NAMESPACE_EXISTS
                | INDEX_ALREADY_EXISTS
                | INDEX_OPTIONS_CONFLICT
                | INDEX_KEY_SPECS_CONFLICT
                | INDEX_BUILD_ALREADY_IN_PROGRESS
                | DUPLICATE_KEY
        )
    }
}

/// The server's error code, when the error came from a command or a write.
pub(crate) fn code(error: &Error) -> Option<i32> {
    match error.kind.as_ref() {
        DriverKind::Command(e) => Some(e.code),
        DriverKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        DriverKind::Write(WriteFailure::WriteConcernError(e)) => Some(e.code),
        _ => None,
    }
}

/// A store error for a failed driver call made while `doing` something.
pub(crate) fn backend(doing: &str, error: Error) -> StoreError {
    let kind = match error.kind.as_ref() {
        DriverKind::Shutdown => ErrorKind::Closed,
        _ if code(&error) == Some(codes::MAX_TIME_MS_EXPIRED) => ErrorKind::Timeout,
        _ => ErrorKind::Backend,
    };
    StoreError::new(kind, format!("MongoDB failed {doing}")).with_source(error)
}

/// What a failed first contact with a server means, in the store's words rather than the driver's
/// (whose messages carry topology dumps and retry labels).
pub(crate) fn connect_failed(failure: &ConnectFailure, error: &Error, bound: Duration) -> StoreError {
    match error.kind.as_ref() {
        DriverKind::Io(e) => failure.io(e),
        DriverKind::ServerSelection { .. } => failure.no_answer(bound),
        DriverKind::Authentication { message, .. } => failure.answered(&format!("authentication failed: {message}")),
        DriverKind::Command(e) => failure.answered(&format!("{} ({})", e.message, e.code_name)),
        other => failure.because(ErrorKind::Backend, &other.to_string()),
    }
}

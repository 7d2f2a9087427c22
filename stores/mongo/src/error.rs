//! Driver errors as store errors. The kinds follow what happened (a shut-down client is
//! `closed`, an exceeded time limit `timeout`, everything else from the server `backend`); the
//! text never carries a connection string's password.

use mongodb::error::{Error, ErrorKind as DriverKind, WriteFailure};
use sessionspec_contract::{ErrorKind, StoreError};

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

/// `url` with the password of its user info replaced by `****`, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    let user_info = &rest[..at];
    let user = user_info.split(':').next().unwrap_or_default();
    let masked = if user_info.contains(':') { format!("{user}:****") } else { user.to_owned() };
    format!("{}{masked}{}", &url[..scheme_end], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact_url("mongodb://u:p%40ss@h:1/db?x=1"), "mongodb://u:****@h:1/db?x=1");
        assert_eq!(redact_url("mongodb+srv://u:p@cluster.example.net"), "mongodb+srv://u:****@cluster.example.net");
        assert_eq!(redact_url("mongodb://h:27017/?directConnection=true"), "mongodb://h:27017/?directConnection=true");
        assert_eq!(redact_url("mongodb://user@h/"), "mongodb://user@h/");
    }
}

//! Store errors: a closed set of kinds that scenarios assert on, a message for people and a
//! source chain for debugging. Messages must never carry secrets (encryption keys, passwords).

use std::fmt;

/// The result type of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What kind of failure a store reports. Scenarios match on these, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The session or record does not exist where the operation needs it to.
    NotFound,
    /// The caller passed something the contract does not allow (for example a session
    /// without a `cookie` object, or an unusable option).
    Invalid,
    /// The session could not be serialized, or what is stored could not be deserialized.
    Serialize,
    /// What is stored could not be decrypted: a wrong key, a tampered ciphertext, or plaintext
    /// where ciphertext was expected.
    Decrypt,
    /// The backend (database, server, adapter process) failed.
    Backend,
    /// What already exists in the backend conflicts with what the store needs (for example an
    /// index of the same name with other options).
    Conflict,
    /// The operation did not finish within its bound.
    Timeout,
    /// The store does not implement this operation or option.
    Unsupported,
    /// The store was closed before the operation.
    Closed,
}

impl ErrorKind {
    /// Every kind, in a stable order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::NotFound,
        ErrorKind::Invalid,
        ErrorKind::Serialize,
        ErrorKind::Decrypt,
        ErrorKind::Backend,
        ErrorKind::Conflict,
        ErrorKind::Timeout,
        ErrorKind::Unsupported,
        ErrorKind::Closed,
    ];

    /// The kebab-case name used in scenarios, reports and the adapter protocol.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Serialize => "serialize",
            ErrorKind::Decrypt => "decrypt",
            ErrorKind::Backend => "backend",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Closed => "closed",
        }
    }

    /// Looks a kind up by its kebab-case name.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error from a store operation.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StoreError {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// An error of `kind` with a message for people. Scenarios match on the kind only.
    ///
    /// ```
    /// use sessionspec_contract::{ErrorKind, StoreError};
    ///
    /// let e = StoreError::new(ErrorKind::Invalid, "a session needs a cookie object");
    /// assert_eq!(e.kind(), ErrorKind::Invalid);
    /// assert_eq!(e.to_string(), "invalid: a session needs a cookie object");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StoreError { kind, message: message.into(), source: None }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind scenarios match on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message followed by every cause in the source chain, separated by `: `.
    pub fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            next = cause.source();
        }
        out
    }

    /// Shorthand for a [`ErrorKind::Backend`] error wrapping `source`.
    pub fn backend(context: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::new(ErrorKind::Backend, context).with_source(source)
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error naming the operation.
    pub fn unsupported(operation: &str) -> Self {
        StoreError::new(ErrorKind::Unsupported, format!("this store does not implement {operation}"))
    }

    /// Shorthand for an [`ErrorKind::Closed`] error naming the operation.
    pub fn closed(operation: &str) -> Self {
        StoreError::new(ErrorKind::Closed, format!("{operation} called after close"))
    }
}

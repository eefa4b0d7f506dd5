//! The one error type of the core, with the small, stable set of kinds of CONTRACT.md section 8.
//!
//! Every surface maps [`ErrorKind`] onto its own idiom (a Python exception class, a JS `code`), so
//! the kinds are a public contract: adding one is a breaking change for every binding.
//! SQLite failures are classified here and only here, by SQLite's extended result code, never by
//! matching message text.

use std::fmt;

/// What went wrong, as every surface names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The execution, item, workflow, token or tenant does not exist (or is another tenant's).
    NotFound,
    /// An appended sequence is already used in that execution.
    SequenceConflict,
    /// A create of an id that exists.
    Conflict,
    /// A fenced queue call whose lease is no longer the current one.
    LeaseLost,
    /// Input the store refuses: a malformed id, a non-object state for a patch, a bad option.
    InvalidArgument,
    /// SQLite failed: busy past the timeout, disk full, I/O error, corrupt file, schema too new.
    /// The call wrote nothing, unless [`Error::outcome_unknown`] says otherwise.
    Database,
    /// JSON that cannot be encoded or decoded.
    Serialization,
}

impl ErrorKind {
    /// Every kind, for tests that check a binding maps each of them.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::NotFound,
        ErrorKind::SequenceConflict,
        ErrorKind::Conflict,
        ErrorKind::LeaseLost,
        ErrorKind::InvalidArgument,
        ErrorKind::Database,
        ErrorKind::Serialization,
    ];

    /// The stable code string shared by all surfaces (`"NOT_FOUND"`, ...).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::SequenceConflict => "SEQUENCE_CONFLICT",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::LeaseLost => "LEASE_LOST",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::Database => "DATABASE",
            ErrorKind::Serialization => "SERIALIZATION",
        }
    }

    /// The kind named by a code string; the inverse of [`ErrorKind::code`].
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error of the core: a kind and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The call may have been written after all (see [`Error::outcome_unknown`]).
    outcome_unknown: bool,
    /// The engine said the failure is transient (a lock timeout, a serialization failure, a
    /// deadlock): the same call may succeed if made again.
    retryable: bool,
    /// The constraint of the schema the statement broke, as the engine reported it.
    constraint: Option<Constraint>,
    /// A rule that was run one statement at a time found it needs a transaction, before it wrote
    /// anything: the engine runs the call again inside one (`Database::write_one`). Never seen by
    /// a caller.
    needs_transaction: bool,
}

/// Which kind of schema constraint a statement broke, whatever engine reported it: the rules
/// that turn a broken constraint into their own error (an import's Conflict) ask this instead of
/// reading an engine's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Constraint {
    Unique,
    ForeignKey,
    Check,
    NotNull,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            outcome_unknown: false,
            retryable: false,
            constraint: None,
            needs_transaction: false,
        }
    }

    /// Whether the call's outcome is unknown: its commit failed in a way that may still leave it
    /// in the file (the data reached the file but could not be made durable, and the store could
    /// not clear it), so that it may be found there once the process restarts. Every other error
    /// means the call wrote nothing. The message says so too, in every surface.
    pub fn outcome_unknown(&self) -> bool {
        self.outcome_unknown
    }

    /// This error, for a call whose outcome is unknown.
    pub(crate) fn with_unknown_outcome(self, why: &str) -> Self {
        Error {
            message: format!("{}; the outcome is unknown: {why}", self.message),
            outcome_unknown: true,
            retryable: false,
            ..self
        }
    }

    /// Whether the failure is transient, so that the same call may succeed if made again: a lock
    /// held past the busy timeout, a serialization failure or deadlock the engine's own retries
    /// did not outlast, a lost connection, a server restarting. Every retryable error wrote nothing
    /// (one whose outcome is unknown is never retryable: making it again could apply it twice).
    pub fn retryable(&self) -> bool {
        self.retryable
    }

    pub(crate) fn with_retry(self) -> Self {
        Error { retryable: true, ..self }
    }

    /// See the field: raised only before the call wrote anything.
    pub(crate) fn needs_transaction() -> Self {
        Error { needs_transaction: true, ..Error::internal("a rule run one statement at a time needs a transaction") }
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn is_needs_transaction(&self) -> bool {
        self.needs_transaction
    }

    pub(crate) fn constraint(&self) -> Option<Constraint> {
        self.constraint
    }

    pub(crate) fn with_constraint(self, constraint: Constraint) -> Self {
        Error { constraint: Some(constraint), ..self }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code string of the kind (`"NOT_FOUND"`, ...).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Conflict, message)
    }

    pub(crate) fn lease_lost(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::LeaseLost, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn database(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Database, message)
    }

    /// A branch the code believes impossible was taken: reported, never silent.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Database, format!("internal error: {}", message.into()))
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::new(ErrorKind::Serialization, format!("invalid JSON: {err}"))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ffi::{self, ErrorCode};
        match &err {
            rusqlite::Error::SqliteFailure(failure, detail) => {
                let detail = detail.as_deref().unwrap_or("");
                let message = match failure.code {
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                        return Error::database(format!(
                            "database is busy: another connection held its lock past the busy timeout ({detail})"
                        ))
                        .with_retry();
                    }
                    ErrorCode::DiskFull => format!("disk full: {detail}"),
                    ErrorCode::SystemIoFailure => format!("I/O error: {detail}"),
                    ErrorCode::DatabaseCorrupt => format!("database file is corrupt: {detail}"),
                    ErrorCode::NotADatabase => {
                        "file is not a SQLite database (or is encrypted or truncated)".to_string()
                    }
                    ErrorCode::ReadOnly => format!("database is read-only: {detail}"),
                    ErrorCode::CannotOpen => format!("cannot open database file: {detail}"),
                    ErrorCode::ConstraintViolation => {
                        let constraint = match failure.extended_code {
                            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                                return Error::conflict(format!("record already exists ({detail})"))
                                    .with_constraint(Constraint::Unique);
                            }
                            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Constraint::ForeignKey,
                            ffi::SQLITE_CONSTRAINT_NOTNULL => Constraint::NotNull,
                            _ => Constraint::Check,
                        };
                        return Error::database(format!("constraint violated: {detail}")).with_constraint(constraint);
                    }
                    _ => format!("SQLite error {}: {detail}", failure.extended_code),
                };
                Error::database(message)
            }
            // A value refused while being bound (json_text): keep the core's own error.
            rusqlite::Error::ToSqlConversionFailure(cause) if cause.is::<Error>() => {
                cause.downcast_ref::<Error>().cloned().expect("checked by is::<Error>()")
            }
            rusqlite::Error::FromSqlConversionFailure(column, _, cause) => {
                Error::database(format!("stored value in column {column} is not readable: {cause}"))
            }
            _ => Error::database(err.to_string()),
        }
    }
}

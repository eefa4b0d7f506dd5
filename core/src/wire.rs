//! The JSON wire form of records, shared by every binding and the conformance runner.
//!
//! Records cross language boundaries as JSON objects with snake_case keys: exactly the serde form
//! of the Rust types (ids as lowercase hyphenated UUIDs, times as RFC 3339 in UTC). A value that
//! does not fit the record it should be is the caller's mistake: InvalidArgument, naming the
//! record and what was wrong, never a panic.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::workflow::ExecutionId;

/// Reads a record of type `T` (named `what` in errors) from its JSON form.
pub fn from_json<T: DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|err| Error::invalid(format!("invalid {what}: {err}")))
}

/// The JSON form of a record.
pub fn to_json<T: Serialize + ?Sized>(record: &T) -> Result<Value> {
    Ok(serde_json::to_value(record)?)
}

/// Parses an execution id (`exec_<hex>` or any UUID form).
pub fn execution_id(text: &str) -> Result<ExecutionId> {
    text.parse()
}

/// Parses a UUID (a work item id, an event id): InvalidArgument naming `what` otherwise.
pub fn uuid(what: &str, text: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|_| Error::invalid(format!("malformed {what} {text:?}: expected a UUID")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkflowExecution;

    #[test]
    fn a_record_that_does_not_fit_is_an_invalid_argument() {
        let err = from_json::<WorkflowExecution>("execution", serde_json::json!({"execution_id": 3})).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(err.message().starts_with("invalid execution"), "{err}");
        assert_eq!(uuid("item id", "nope").unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
    }
}

//! Core errors as Python exceptions. The classes live in `jetstate/_errors.py` (so that they can
//! also derive from `LookupError` / `ValueError`, carry a `code` and be documented in Python); this
//! is the one place that maps a core error kind onto them.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use jetstate::{Error, ErrorKind};

fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::SequenceConflict => "SequenceConflictError",
        ErrorKind::Conflict => "ConflictError",
        ErrorKind::LeaseLost => "LeaseLostError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Database => "DatabaseError",
        ErrorKind::Serialization => "SerializationError",
    }
}

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE.get_or_try_init(py, || py.import("jetstate._errors").map(Bound::unbind)).map(|module| module.bind(py))
}

/// The Python exception for a core error: the subclass of `JetstateError` named after its kind.
pub fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let class = errors_module(py)
        .and_then(|module| module.getattr(class_name(err.kind())))
        .and_then(|class| class.cast_into::<PyType>().map_err(PyErr::from));
    let raised = match class {
        Ok(class) => PyErr::from_type(class, err.message().to_string()),
        Err(import_failed) => return import_failed,
    };
    // The flags only when set: the classes default both to False.
    let value = raised.value(py);
    let flagged = [("retryable", err.retryable()), ("outcome_unknown", err.outcome_unknown())]
        .into_iter()
        .filter(|(_, set)| *set)
        .try_for_each(|(name, _)| value.setattr(name, true));
    match flagged {
        Ok(()) => raised,
        Err(failed) => failed,
    }
}

/// A `SerializationError` raised from the binding itself (a Python value that is not JSON).
pub fn serialization(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py_err(py, Error::new(ErrorKind::Serialization, message))
}

/// An `InvalidArgumentError` raised from the binding itself.
pub fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py_err(py, Error::new(ErrorKind::InvalidArgument, message))
}

/// Lets `?` turn core results into Python exceptions where the GIL is held.
pub trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for jetstate::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|err| to_py_err(py, err))
    }
}

//! Python values <-> JSON values, and the other small types that cross (times, durations, ids).
//!
//! JSON crosses as plain Python objects: dict (string keys), list (or tuple, on the way in), str,
//! int, float, bool, None. Anything else on the way in is a `SerializationError` and nothing is
//! written, as `json.dumps` would refuse it: NaN and infinities, integers beyond 64 bits, strings
//! with lone surrogates, non-string keys. Nesting deeper than the core stores
//! ([`jetstate::MAX_JSON_DEPTH`]) is the core's `InvalidArgument`, as on every surface; checking it
//! here also bounds this recursion, so no input can overflow the stack.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeDelta, Utc};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::{Map, Number, Value};

use crate::errors::{invalid, serialization};

/// A Python object as a JSON value.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at(obj, 0)
}

fn to_value_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    let py = obj.py();
    // `depth` counts the arrays and objects around `obj`; `obj` itself, if one, is the next level.
    let too_deep = || {
        let limit = jetstate::MAX_JSON_DEPTH;
        invalid(py, format!("JSON nested deeper than {limit} levels is refused: it could not be read back"))
    };
    let is_container =
        obj.is_instance_of::<PyDict>() || obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>();
    if is_container && depth >= jetstate::MAX_JSON_DEPTH {
        return Err(too_deep());
    }
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(flag) = obj.cast::<PyBool>() {
        Ok(Value::Bool(flag.is_true()))
    } else if obj.is_instance_of::<PyInt>() {
        if let Ok(n) = obj.extract::<i64>() {
            Ok(Value::from(n))
        } else if let Ok(n) = obj.extract::<u64>() {
            Ok(Value::from(n))
        } else {
            Err(serialization(py, format!("integer {} does not fit in 64 bits", obj.repr()?)))
        }
    } else if let Ok(float) = obj.cast::<PyFloat>() {
        Number::from_f64(float.value()).map(Value::Number).ok_or_else(|| {
            serialization(py, format!("{} is not a JSON number", obj.repr().map(|r| r.to_string()).unwrap_or_default()))
        })
    } else if let Ok(text) = obj.cast::<PyString>() {
        let text = text.to_cow().map_err(|_| serialization(py, "a string with lone surrogates is not valid UTF-8"))?;
        Ok(Value::String(text.into_owned()))
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        let mut fields = Map::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(serialization(py, format!("JSON object keys must be str, not {}", key.get_type().name()?)));
            };
            let key = key.to_cow().map_err(|_| serialization(py, "a key with lone surrogates is not valid UTF-8"))?;
            fields.insert(key.into_owned(), to_value_at(&value, depth + 1)?);
        }
        Ok(Value::Object(fields))
    } else if let Ok(list) = obj.cast::<PyList>() {
        list.iter().map(|item| to_value_at(&item, depth + 1)).collect::<PyResult<_>>().map(Value::Array)
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.iter().map(|item| to_value_at(&item, depth + 1)).collect::<PyResult<_>>().map(Value::Array)
    } else {
        Err(serialization(py, format!("object of type {} is not JSON serializable", obj.get_type().name()?)))
    }
}

/// A JSON value as a Python object.
pub fn to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    match value {
        Value::Null => Ok(py.None()),
        Value::Bool(flag) => flag.into_py_any(py),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_py_any(py),
            (None, Some(u)) => u.into_py_any(py),
            _ => n.as_f64().unwrap_or(f64::NAN).into_py_any(py),
        },
        Value::String(text) => text.into_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            Ok(list.into_any().unbind())
        }
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (key, item) in fields {
                dict.set_item(key, to_py(py, item)?)?;
            }
            Ok(dict.into_any().unbind())
        }
    }
}

/// A timezone-aware `datetime` as a UTC instant; a naive one is refused, since which instant it
/// names depends on where the program runs.
pub fn to_time(obj: &Bound<'_, PyAny>) -> PyResult<DateTime<Utc>> {
    let py = obj.py();
    if let Ok(at) = obj.extract::<DateTime<FixedOffset>>() {
        return Ok(at.with_timezone(&Utc));
    }
    if obj.extract::<NaiveDateTime>().is_ok() {
        return Err(invalid(
            py,
            "expected a timezone-aware datetime (e.g. datetime.now(timezone.utc)), got a naive one",
        ));
    }
    Err(invalid(py, format!("expected a datetime, got {}", obj.get_type().name()?)))
}

/// A time in the wire form (RFC 3339, UTC), as the core reads it.
pub fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A duration given as a `timedelta` or as seconds (int or float); negative ones are refused.
pub fn to_duration(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let py = obj.py();
    let seconds = if let Ok(delta) = obj.extract::<TimeDelta>() {
        delta.num_microseconds().map(|us| us as f64 / 1e6).unwrap_or(f64::INFINITY)
    } else if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
        obj.extract::<f64>()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a timedelta or a number of seconds, not {}",
            obj.get_type().name()?
        )));
    };
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| invalid(py, format!("{what} must be a finite, non-negative duration, got {seconds} s")))
}

/// Parses an execution id (`exec_<hex>` or any UUID form).
pub fn execution_id(py: Python<'_>, text: &str) -> PyResult<jetstate::ExecutionId> {
    jetstate::wire::execution_id(text).map_err(|err| crate::errors::to_py_err(py, err))
}

/// Parses a work item id.
pub fn item_id(py: Python<'_>, text: &str) -> PyResult<jetstate::WorkItemId> {
    jetstate::wire::uuid("work item id", text).map_err(|err| crate::errors::to_py_err(py, err))
}

/// A string argument: a Python `str` holding valid Unicode. One with lone surrogates (which no
/// UTF-8 text can hold) is an `InvalidArgumentError`, not the `UnicodeEncodeError` pyo3 raises for
/// `&str`; anything but a `str` is a `TypeError`.
pub struct Text(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for Text {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let Ok(text) = obj.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!("expected str, got {}", obj.get_type().name()?)));
        };
        match text.to_cow() {
            Ok(text) => Ok(Text(text.into_owned())),
            Err(_) => Err(invalid(obj.py(), "a string with lone surrogates is not valid Unicode text")),
        }
    }
}

/// An `int` argument in `min..=max`. Another type is a `TypeError`, as in Python; an int out of
/// range is an `InvalidArgumentError` (a `ValueError`) naming the bounds, never an
/// `OverflowError`: the store refuses the value, as every surface does.
fn int_in(obj: Borrowed<'_, '_, PyAny>, min: i128, max: i128) -> PyResult<i128> {
    if !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("expected int, got {}", obj.get_type().name()?)));
    }
    match obj.extract::<i128>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(obj.py(), format!("{} is out of range: expected an int from {min} to {max}", obj.repr()?))),
    }
}

/// A count (a limit, an offset, attempts): an `int` from 0 to 2^32 - 1.
#[derive(Debug, Clone, Copy)]
pub struct Count(pub u32);

impl<'a, 'py> FromPyObject<'a, 'py> for Count {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        int_in(obj, 0, i128::from(u32::MAX)).map(|n| Count(n as u32))
    }
}

/// A sequence or a lease token: an `int` that fits in 64 bits, signed.
#[derive(Debug, Clone, Copy)]
pub struct Int(pub i64);

impl<'a, 'py> FromPyObject<'a, 'py> for Int {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        int_in(obj, i128::from(i64::MIN), i128::from(i64::MAX)).map(|n| Int(n as i64))
    }
}

/// Named settings (an enqueue's options, a queue's settings, a retention policy) from a dict, as
/// the core's JSON form: a `timedelta` (or a number of seconds given to a name the core knows as
/// `NAME_ms`) under `name` becomes milliseconds under `name_ms`, a `datetime` its RFC 3339 text,
/// nested dicts alike; every other value as JSON. None is the empty object.
pub fn settings_to_wire(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Object(Map::new()));
    }
    let Ok(dict) = obj.cast::<PyDict>() else {
        return Err(PyTypeError::new_err(format!("{what} must be a dict, not {}", obj.get_type().name()?)));
    };
    let mut fields = Map::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let key: String = key.extract().map_err(|_| PyTypeError::new_err(format!("{what}: keys must be str")))?;
        if value.is_none() {
            continue;
        }
        if value.extract::<TimeDelta>().is_ok() {
            let duration = to_duration(&value, &key)?;
            fields.insert(format!("{key}_ms"), Value::from(duration.as_secs_f64() * 1000.0));
        } else if value.extract::<DateTime<FixedOffset>>().is_ok() || value.extract::<NaiveDateTime>().is_ok() {
            fields.insert(key, Value::String(rfc3339(&to_time(&value)?)));
        } else if value.is_instance_of::<PyDict>() {
            fields.insert(key.clone(), settings_to_wire(&value, &key)?);
        } else {
            fields.insert(key, to_value(&value)?);
        }
    }
    Ok(Value::Object(fields))
}

/// The reverse of [`settings_to_wire`] for results: a number under `name_ms` becomes a
/// `timedelta` under `name`; nested objects alike.
pub fn settings_to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    let Value::Object(fields) = value else { return to_py(py, value) };
    let dict = PyDict::new(py);
    for (key, item) in fields {
        match (key.strip_suffix("_ms"), item) {
            (Some(name), Value::Number(ms)) => {
                let micros = (ms.as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                dict.set_item(name, TimeDelta::microseconds(micros))?;
            }
            (Some(name), Value::Null) => dict.set_item(name, py.None())?,
            (_, Value::Object(_)) => dict.set_item(key, settings_to_py(py, item)?)?,
            _ => dict.set_item(key, to_py(py, item)?)?,
        }
    }
    Ok(dict.into_any().unbind())
}

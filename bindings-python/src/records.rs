//! The records a store hands out and takes in, as read-only Python classes.
//!
//! Each class wraps the core's own record, so handing records out costs no conversion until an
//! attribute is read, and handing one back in (`store.create_execution(execution)`) costs none at
//! all. Attributes follow the JSON wire form's names (`tests/conformance/README.md`): ids are `str`,
//! times are timezone-aware `datetime`s in UTC, JSON values are plain Python objects, statuses are
//! their snake_case names. Every record has a readable `repr`, `==`, and `to_dict()`; records a
//! caller builds (executions, events, snapshots, items, definitions, tenants) also have a
//! constructor and `replace(**changes)`, and may be given as a dict of the wire form instead.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrozenSet, PyList};
use pyo3::IntoPyObjectExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::convert::{self, Count, Int, Text};
use crate::errors::OrRaise;

/// How a field of a core record reads from Python.
pub trait ToPy {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>>;

    /// The same, from a value the caller no longer needs: results of calls go this way, so that
    /// a record (a 1,000-event history: its kinds' JSON trees) is moved into its Python object
    /// rather than copied.
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>>
    where
        Self: Sized,
    {
        self.to_py(py)
    }
}

macro_rules! to_py_as_is {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.clone().into_py_any(py)
            }
        }
    )*};
}
to_py_as_is!(String, i32, u32, i64, u64, bool, f64, DateTime<Utc>);

/// Enums read as their wire (snake_case) names.
macro_rules! to_py_by_name {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                convert::to_py(py, &jetstate::wire::to_json(self).or_raise(py)?)
            }
        }
    )*};
}
to_py_by_name!(
    jetstate::WorkflowStatus,
    jetstate::WorkItemStatus,
    jetstate::EnqueueOutcome,
    jetstate::TenantStatus,
    jetstate::SessionType,
    jetstate::TenantLimits
);

impl ToPy for uuid::Uuid {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.hyphenated().to_string().into_py_any(py)
    }
}

impl ToPy for jetstate::ExecutionId {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.0.to_py(py)
    }
}

impl ToPy for jetstate::TenantId {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.0.to_py(py)
    }
}

impl ToPy for Value {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::to_py(py, self)
    }
}

impl<T: ToPy> ToPy for Option<T> {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Some(value) => value.to_py(py),
            None => Ok(py.None()),
        }
    }

    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Some(value) => value.into_py(py),
            None => Ok(py.None()),
        }
    }
}

impl<T: ToPy> ToPy for Vec<T> {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let list = PyList::empty(py);
        for item in self {
            list.append(item.to_py(py)?)?;
        }
        Ok(list.into_any().unbind())
    }

    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let items = self.into_iter().map(|item| item.into_py(py)).collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any().unbind())
    }
}

impl ToPy for HashMap<String, Value> {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let dict = PyDict::new(py);
        for (key, value) in self {
            dict.set_item(key, convert::to_py(py, value)?)?;
        }
        Ok(dict.into_any().unbind())
    }
}

impl ToPy for HashSet<String> {
    fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        PyFrozenSet::new(py, self)?.into_py_any(py)
    }
}

/// Declares a Python record class around a core record: attributes for the listed fields, `repr`,
/// `==`, `to_dict()`. `input` records also get `replace(**changes)` and may be given as dicts.
macro_rules! record {
    ($(#[$meta:meta])* $kind:ident $name:ident($inner:ty) { $($field:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[pyclass(frozen, module = "jetstate")]
        #[derive(Clone)]
        pub struct $name(pub $inner);

        impl ToPy for $inner {
            fn to_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.clone().into_py(py)
            }

            fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                Ok(Py::new(py, $name(self))?.into_any())
            }
        }

        #[pymethods]
        impl $name {
            $(
                #[getter]
                fn $field(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                    self.0.$field.to_py(py)
                }
            )+

            /// The fields as a dict, with the values the attributes give.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let dict = PyDict::new(py);
                $(dict.set_item(stringify!($field), self.0.$field.to_py(py)?)?;)+
                Ok(dict)
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let fields: Vec<String> = vec![$(
                    format!("{}={}", stringify!($field), self.0.$field.to_py(py)?.bind(py).repr()?)
                ),+];
                Ok(format!("{}({})", stringify!($name), fields.join(", ")))
            }

            fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
                other.cast::<$name>().is_ok_and(|other| other.get().0 == self.0)
            }

            #[classattr]
            fn __match_args__() -> Vec<&'static str> {
                vec![$(stringify!($field)),+]
            }
        }

        record!(@$kind $name($inner));
    };
    (@output $name:ident($inner:ty)) => {};
    (@input $name:ident($inner:ty)) => {
        impl InputRecord for $name {
            type Inner = $inner;
            const WHAT: &'static str = stringify!($name);
            fn inner(&self) -> &$inner {
                &self.0
            }
        }

        #[pymethods]
        impl $name {
            /// A copy with the given fields changed (values as in the wire form or as the
            /// attributes give them); the record itself is immutable.
            #[pyo3(signature = (**changes))]
            fn replace(&self, py: Python<'_>, changes: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
                let mut wire = jetstate::wire::to_json(&self.0).or_raise(py)?;
                if let (Some(changes), Value::Object(fields)) = (changes, &mut wire) {
                    for (key, value) in changes.iter() {
                        let key: String = key.extract()?;
                        if !fields.contains_key(&key) && !Self::__match_args__().contains(&key.as_str()) {
                            return Err(crate::errors::invalid(py, format!("{} has no field {key:?}", stringify!($name))));
                        }
                        fields.insert(key, field_value(&value)?);
                    }
                }
                jetstate::wire::from_json(stringify!($name), wire).or_raise(py).map($name)
            }
        }
    };
}

/// A record a caller hands in: the record class itself, or a dict of its wire form.
pub trait InputRecord: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync + Clone {
    type Inner: DeserializeOwned + Clone;
    const WHAT: &'static str;
    fn inner(&self) -> &Self::Inner;
}

/// Reads a record argument: an instance of its class, or a dict of the wire form, whose
/// top-level times may be `datetime`s (every other value must be JSON).
pub fn input<R>(obj: &Bound<'_, PyAny>) -> PyResult<R::Inner>
where
    R: InputRecord,
{
    let py = obj.py();
    if let Ok(record) = obj.cast::<R>() {
        return Ok(record.get().inner().clone());
    }
    let Ok(dict) = obj.cast::<PyDict>() else {
        return Err(crate::errors::invalid(
            py,
            format!("expected a {} or a dict of its fields, got {}", R::WHAT, obj.get_type().name()?),
        ));
    };
    let mut fields = serde_json::Map::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let key: String = key.extract().map_err(|_| crate::errors::serialization(py, "record keys must be str"))?;
        fields.insert(key, field_value(&value)?);
    }
    jetstate::wire::from_json(R::WHAT, Value::Object(fields)).or_raise(py)
}

/// One field of a record handed in: a `datetime` becomes its RFC 3339 form, a frozenset a list;
/// anything else must be JSON.
fn field_value(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(at) = convert::to_time(value) {
        return Ok(Value::String(convert::rfc3339(&at)));
    }
    convert::to_value(value)
}

record! {
    /// A registered workflow definition: its IR at one version.
    input WorkflowDefinition(jetstate::WorkflowDefinition) { workflow_id, version, ir, created_at, tenant_id }
}

record! {
    /// One execution of a workflow, with its current state.
    input WorkflowExecution(jetstate::WorkflowExecution) {
        execution_id, workflow_id, workflow_version, status, initial_input, current_state,
        started_at, updated_at, completed_at, session_type,
    }
}

record! {
    /// One event of an execution's append-only log; `kind` is a dict with a string `type`.
    input Event(jetstate::StoredEvent) { id, execution_id, sequence, kind, created_at }
}

record! {
    /// A snapshot of an execution's state at a sequence.
    input Snapshot(jetstate::Snapshot) { id, execution_id, at_sequence, state, created_at }
}

record! {
    /// A unit of work for a worker: a node of an execution to run.
    input WorkItem(jetstate::WorkItem) {
        id, execution_id, node_id, queue_type, payload, attempt, max_attempts, created_at,
        lease_expires_at, worker_id, tenant_id,
    }
}

record! {
    /// A tenant: every record of a tenant's view belongs to it.
    input Tenant(jetstate::Tenant) { id, name, status, policy, limits, created_at, updated_at }
}

record! {
    /// A claimed item with its fencing token and the lease's expiry.
    output Lease(jetstate::Lease) { item, token, expires_at }
}

record! {
    /// A work item with its queue state.
    output QueueEntry(jetstate::QueueEntry) {
        item, status, last_error, retry_after, lease_token, updated_at, priority, run_at, unique_key, partition_key,
        progress, claimed_at,
    }
}

record! {
    /// What an enqueue did: the id of the item that stands for the request, and its `outcome`
    /// ("enqueued", "duplicate": another item holds the key and was kept, "replaced": a pending
    /// holder took the new payload).
    output Enqueued(jetstate::Enqueued) { id, outcome }
}

record! {
    /// What a reclaim pass did: items whose leases expired, retried or moved to the dead-letter queue.
    output ReclaimResult(jetstate::ReclaimResult) { retryable, exhausted }
}

record! {
    /// An API token's public record (the secret itself is never stored).
    output ApiToken(jetstate::ApiToken) { id, name, role, created_at, expires_at, tenant_id }
}

record! {
    /// An API token with its revocation and last use.
    output TokenRecord(jetstate::TokenRecord) { info, revoked_at, last_used_at }
}

record! {
    /// An execution's state rebuilt from its latest snapshot and the events after it.
    output MaterializedState(jetstate::MaterializedState) {
        current_state, status, completed_nodes, active_nodes, last_sequence,
    }
}

// ── Constructors of the records a caller builds ───────────────────────────────────────────────

fn json_or_null(value: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    value.map(convert::to_value).transpose().map(Option::unwrap_or_default)
}

#[pymethods]
impl WorkflowDefinition {
    #[new]
    #[pyo3(signature = (workflow_id, version, ir=None))]
    fn py_new(workflow_id: Text, version: Text, ir: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(WorkflowDefinition(jetstate::WorkflowDefinition {
            workflow_id: workflow_id.0,
            version: version.0,
            ir: json_or_null(ir)?,
            created_at: jetstate::clock::system_now(),
            tenant_id: jetstate::DEFAULT_TENANT.to_string(),
        }))
    }
}

#[pymethods]
impl WorkflowExecution {
    #[new]
    #[pyo3(signature = (workflow_id, workflow_version, initial_input=None, *, execution_id=None))]
    fn py_new(
        py: Python<'_>,
        workflow_id: String,
        workflow_version: String,
        initial_input: Option<&Bound<'_, PyAny>>,
        execution_id: Option<&str>,
    ) -> PyResult<Self> {
        let mut execution =
            jetstate::WorkflowExecution::new(workflow_id, workflow_version, json_or_null(initial_input)?);
        if let Some(id) = execution_id {
            execution.execution_id = convert::execution_id(py, id)?;
        }
        Ok(WorkflowExecution(execution))
    }
}

#[pymethods]
impl Event {
    #[new]
    fn py_new(py: Python<'_>, execution_id: Text, sequence: Int, kind: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Event(jetstate::StoredEvent {
            id: uuid::Uuid::new_v4(),
            execution_id: convert::execution_id(py, &execution_id.0)?,
            sequence: sequence.0,
            kind: convert::to_value(kind)?,
            created_at: jetstate::clock::system_now(),
        }))
    }
}

#[pymethods]
impl Snapshot {
    #[new]
    fn py_new(py: Python<'_>, execution_id: Text, at_sequence: Int, state: &Bound<'_, PyAny>) -> PyResult<Self> {
        let execution_id = convert::execution_id(py, &execution_id.0)?;
        Ok(Snapshot(jetstate::Snapshot::new(execution_id, at_sequence.0, convert::to_value(state)?)))
    }
}

#[pymethods]
impl WorkItem {
    #[new]
    #[pyo3(signature = (execution_id, node_id, queue_type, payload=None, *, max_attempts=Count(3)))]
    fn py_new(
        py: Python<'_>,
        execution_id: Text,
        node_id: Text,
        queue_type: Text,
        payload: Option<&Bound<'_, PyAny>>,
        max_attempts: Count,
    ) -> PyResult<Self> {
        let execution_id = convert::execution_id(py, &execution_id.0)?;
        let mut item = jetstate::WorkItem::new(execution_id, node_id.0, queue_type.0, json_or_null(payload)?);
        item.max_attempts = max_attempts.0;
        Ok(WorkItem(item))
    }
}

#[pymethods]
impl Tenant {
    #[new]
    #[pyo3(signature = (id, name, *, status=None, policy=None, limits=None))]
    fn py_new(
        py: Python<'_>,
        id: Text,
        name: Text,
        status: Option<Text>,
        policy: Option<&Bound<'_, PyAny>>,
        limits: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let now = jetstate::clock::system_now();
        let wire = serde_json::json!({
            "id": id.0, "name": name.0, "status": status.map_or_else(|| "active".to_string(), |s| s.0),
            "policy": json_or_null(policy)?, "limits": json_or_null(limits)?,
            "created_at": now, "updated_at": now,
        });
        jetstate::wire::from_json("Tenant", wire).or_raise(py).map(Tenant)
    }
}

/// Registers the record classes on the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<WorkflowDefinition>()?;
    module.add_class::<WorkflowExecution>()?;
    module.add_class::<Event>()?;
    module.add_class::<Snapshot>()?;
    module.add_class::<WorkItem>()?;
    module.add_class::<Tenant>()?;
    module.add_class::<Lease>()?;
    module.add_class::<QueueEntry>()?;
    module.add_class::<Enqueued>()?;
    module.add_class::<ReclaimResult>()?;
    module.add_class::<ApiToken>()?;
    module.add_class::<TokenRecord>()?;
    module.add_class::<MaterializedState>()?;
    Ok(())
}

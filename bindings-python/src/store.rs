//! `Store` and `AsyncStore`: one list of operations ([`operations!`]), two surfaces.
//!
//! Each operation is written once, as a function that converts its Python arguments (GIL held)
//! into a [`Call`]; the macro makes of it a method of `Store` (run now, GIL released) and a
//! method of `AsyncStore` (run on the core's pool, an asyncio future returned). So the two
//! surfaces cannot drift apart, and both hold no rule: every rule is the core's.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::Value;

use jetstate::{Options, WorkItemStatus, WorkflowStatus};

use crate::call::Call;
use crate::convert::{self, settings_to_py, settings_to_wire, to_duration, to_time, to_value, Count, Int, Text};
use crate::errors::OrRaise;
use crate::records::{self, input, ToPy};

/// A jetstate store: one SQLite file (or memory) holding workflow definitions, executions, their
/// event logs and snapshots, a leased work queue, API tokens and tenants.
///
/// `Store(path=None, *, durability="full", lease=30, backoff_base=1, backoff_cap=64,
/// backoff_jitter=False, busy_timeout=5, clock=None, read_only=False)`: `path` None or ":memory:"
/// is a private in-memory store; durations are timedeltas or seconds; `clock`, a timezone-aware
/// datetime, runs the store on a manual clock standing at that instant (for tests).
///
/// Methods block the calling thread, with the GIL released, until the store answers; a store may
/// be shared by any number of threads. Under asyncio, use `AsyncStore`.
#[pyclass(frozen, module = "jetstate")]
pub struct Store {
    inner: jetstate::Store,
}

/// The native half of `jetstate.AsyncStore` (`jetstate/_async.py`, which makes each method a
/// coroutine, as `asyncio.create_task` wants): methods that return asyncio futures.
#[pyclass(frozen, module = "jetstate", name = "_AsyncStore")]
pub struct AsyncStore {
    inner: jetstate::Store,
}

/// The options of `Store(...)` / `AsyncStore.open(...)`, and the name of each in the core's
/// JSON form of options (`wire::options`, which checks every value).
const OPTIONS: [(&str, &str); 8] = [
    ("durability", "durability"),
    ("lease", "lease_ms"),
    ("backoff_base", "backoff_base_ms"),
    ("backoff_cap", "backoff_cap_ms"),
    ("backoff_jitter", "backoff_jitter"),
    ("busy_timeout", "busy_timeout_ms"),
    ("clock", "clock"),
    ("read_only", "read_only"),
];

/// Reads the options given in Python (durations as timedeltas or seconds, the clock as a
/// datetime, None for the default) into the core's options. An unknown name is a TypeError, as
/// for any Python call.
fn options(py: Python<'_>, given: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut wire = serde_json::Map::new();
    for (key, value) in given.into_iter().flat_map(|given| given.iter()) {
        let key: String = key.extract()?;
        let Some(&(_, name)) = OPTIONS.iter().find(|(option, _)| *option == key) else {
            let names: Vec<&str> = OPTIONS.iter().map(|(option, _)| *option).collect();
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "unexpected option {key:?} (the options are {})",
                names.join(", ")
            )));
        };
        let value = match name {
            _ if value.is_none() => continue,
            "clock" => Value::String(convert::rfc3339(&to_time(&value)?)),
            _ if name.ends_with("_ms") => Value::from(to_duration(&value, &key)?.as_secs_f64() * 1000.0),
            _ => to_value(&value)?,
        };
        wire.insert(name.to_string(), value);
    }
    jetstate::wire::options(&Value::Object(wire)).or_raise(py)
}

fn open(path: Option<PathBuf>, options: Options) -> jetstate::Result<jetstate::Store> {
    match path {
        Some(path) if path.as_os_str() != ":memory:" => jetstate::Store::open(path, options),
        _ => jetstate::Store::open_in_memory(options),
    }
}

fn describe(store: &jetstate::Store, class: &str) -> String {
    let location = store.location().to_string();
    match store.tenant() {
        Some(tenant) => format!("{class}({location:?}, tenant={:?})", tenant.0),
        None => format!("{class}({location:?})"),
    }
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (path=None, **options))]
    fn py_new(py: Python<'_>, path: Option<PathBuf>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Store> {
        let options = self::options(py, options)?;
        let inner = py.detach(|| open(path, options)).or_raise(py)?;
        Ok(Store { inner })
    }

    /// The view of one tenant: every call through it reads and writes that tenant's records only.
    fn for_tenant(&self, tenant: Text) -> Store {
        Store { inner: self.inner.for_tenant(tenant.0) }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        py.detach(|| self.inner.close()).or_raise(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        describe(&self.inner, "Store")
    }
}

#[pymethods]
impl AsyncStore {
    /// Opens (creating if needed) a store, off the event loop's thread; the options of `Store`.
    #[classmethod]
    #[pyo3(signature = (path=None, **options))]
    fn open(
        _cls: &Bound<'_, pyo3::types::PyType>,
        py: Python<'_>,
        path: Option<PathBuf>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let options = self::options(py, options)?;
        Call::new(move || open(path, options), |py, inner| AsyncStore { inner }.into_py_any(py)).submit(py)
    }

    /// The view of one tenant: every call through it reads and writes that tenant's records only.
    fn for_tenant(&self, tenant: Text) -> AsyncStore {
        AsyncStore { inner: self.inner.for_tenant(tenant.0) }
    }

    /// The sync `Store` over the same database (for code that is not a coroutine).
    #[getter]
    fn sync(&self) -> Store {
        Store { inner: self.inner.clone() }
    }

    fn __repr__(&self) -> String {
        describe(&self.inner, "AsyncStore")
    }
}

/// Declares the operations once; makes each a method of `Store` (run now) and of `AsyncStore`
/// (run on the pool, a future returned). Each body builds the [`Call`] from `$store` (a clone of
/// the handle, moved into the call) and the Python arguments.
macro_rules! operations {
    ($(
        $(#[doc = $doc:literal])*
        $(#[signature = ($($sig:tt)*)])?
        fn $name:ident($py:ident, $store:ident $(, $arg:ident : $ty:ty)* $(,)?) $body:block
    )*) => {
        mod build {
            use super::*;
            $(
                #[allow(clippy::too_many_arguments)]
                pub fn $name($py: Python<'_>, $store: jetstate::Store $(, $arg: $ty)*) -> PyResult<Call> $body
            )*
        }

        #[pymethods]
        impl Store {
            $(
                $(#[doc = $doc])*
                $(#[pyo3(signature = ($($sig)*))])?
                #[allow(clippy::too_many_arguments)]
                fn $name(&self, py: Python<'_> $(, $arg: $ty)*) -> PyResult<Py<PyAny>> {
                    build::$name(py, self.inner.clone() $(, $arg)*)?.now(py)
                }
            )*
        }

        #[pymethods]
        impl AsyncStore {
            $(
                $(#[doc = $doc])*
                $(#[pyo3(signature = ($($sig)*))])?
                #[allow(clippy::too_many_arguments)]
                fn $name(&self, py: Python<'_> $(, $arg: $ty)*) -> PyResult<Py<PyAny>> {
                    build::$name(py, self.inner.clone() $(, $arg)*)?.submit(py)
                }
            )*
        }
    };
}

/// Finishing conversions, by what a call returns.
fn nothing(py: Python<'_>, _: ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

fn record<T: ToPy>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>> {
    value.into_py(py)
}

fn plain<T: for<'py> IntoPyObject<'py>>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>> {
    value.into_py_any(py)
}

fn ids(py: Python<'_>, ids: Vec<uuid::Uuid>) -> PyResult<Py<PyAny>> {
    ids.iter().map(|id| id.hyphenated().to_string()).collect::<Vec<_>>().into_py_any(py)
}

fn status<T: serde::de::DeserializeOwned>(py: Python<'_>, name: Option<String>, what: &str) -> PyResult<Option<T>> {
    name.map(|name| jetstate::wire::from_json(what, Value::String(name)).or_raise(py)).transpose()
}

fn lease(lease: Option<&Bound<'_, PyAny>>) -> PyResult<Option<std::time::Duration>> {
    lease.map(|lease| to_duration(lease, "lease")).transpose()
}

fn names(queue_types: &[Text]) -> Vec<&str> {
    queue_types.iter().map(|t| t.0.as_str()).collect()
}

/// A result in the core's JSON form as Python dicts, durations as timedeltas (`settings_to_py`).
fn settings<T: serde::Serialize>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>> {
    settings_to_py(py, &jetstate::wire::to_json(&value).or_raise(py)?)
}

/// One entry of a batch enqueue: an item (a record or its dict), `(item, options)`, or a dict
/// `{"item": ..., "options": {...}}`; options as `enqueue`'s keyword arguments.
fn job(entry: &Bound<'_, PyAny>) -> PyResult<(jetstate::WorkItem, jetstate::EnqueueOptions)> {
    let py = entry.py();
    let (item, options) = if let Ok(pair) = entry.cast::<PyTuple>() {
        match pair.len() {
            2 => (pair.get_item(0)?, Some(pair.get_item(1)?)),
            n => {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!("a job is (item, options), not {n} values")))
            }
        }
    } else if let Some(item) = entry.cast::<PyDict>().ok().and_then(|dict| dict.get_item("item").ok().flatten()) {
        let options = entry.cast::<PyDict>()?.get_item("options")?;
        (item, options)
    } else {
        (entry.clone(), None)
    };
    let item = input::<records::WorkItem>(&item)?;
    let options = match options {
        None => jetstate::EnqueueOptions::default(),
        Some(options) => jetstate::wire::enqueue_options(&settings_to_wire(&options, "options")?).or_raise(py)?,
    };
    Ok((item, options))
}

/// A lease to complete: `(item_id, token)`, a dict `{"item_id", "token"}`, or a `Lease`.
fn lease_ref(entry: &Bound<'_, PyAny>) -> PyResult<(uuid::Uuid, i64)> {
    let py = entry.py();
    if let Ok(lease) = entry.cast::<records::Lease>() {
        let lease = &lease.get().0;
        return Ok((lease.item.id, lease.token));
    }
    let (id, token): (Text, Int) = if let Ok(dict) = entry.cast::<PyDict>() {
        let field = |name: &str| {
            dict.get_item(name)?.ok_or_else(|| pyo3::exceptions::PyTypeError::new_err(format!("a lease needs {name}")))
        };
        (field("item_id")?.extract()?, field("token")?.extract()?)
    } else {
        entry.extract()?
    };
    Ok((convert::item_id(py, &id.0)?, token.0))
}

operations! {
    // ── The store itself ─────────────────────────────────────────────────────────────────────

    /// Closes the store: later calls raise `DatabaseError`. Idempotent.
    fn close(_py, store) {
        Ok(Call::new(move || store.close(), nothing))
    }

    /// Copies the store to a new file `dest` while writers may run; returns its size in bytes.
    fn backup(_py, store, dest: PathBuf) {
        Ok(Call::new(move || store.backup(&dest), plain))
    }

    /// The store, or one execution with its events, snapshots, items and definition, as JSON
    /// Lines text (the format of `jetstate export`): one consistent snapshot.
    #[signature = (execution_id=None)]
    fn export_jsonl(py, store, execution_id: Option<Text>) {
        let id = execution_id.map(|id| convert::execution_id(py, &id.0)).transpose()?;
        Ok(Call::new(
            move || {
                let mut out = Vec::new();
                store.export(id.as_ref(), &mut out, &mut |_| {})?;
                Ok(String::from_utf8_lossy(&out).into_owned())
            },
            plain,
        ))
    }

    /// Writes the rows of an export into the store in one transaction (all or nothing);
    /// returns the rows imported per table.
    fn import_jsonl(_py, store, text: Text) {
        Ok(Call::new(
            move || store.import(&mut text.0.as_bytes(), text.0.len() as u64, &mut |_| {}).and_then(|c| jetstate::wire::to_json(&c)),
            |py, v| convert::to_py(py, &v),
        ))
    }

    /// Counts for an operator: executions by status, queue depths, dead letters, file size.
    fn summary(_py, store) {
        Ok(Call::new(move || store.summary().and_then(|s| jetstate::wire::to_json(&s)), |py, v| convert::to_py(py, &v)))
    }

    /// How many write calls this store has committed since it was opened, and in how many
    /// commits: calls made at once share commits (`{"calls": ..., "commits": ...}`).
    fn write_stats(_py, store) {
        Ok(Call::new(move || jetstate::wire::to_json(&store.write_stats()), |py, v| convert::to_py(py, &v)))
    }

    // ── Workflow definitions ─────────────────────────────────────────────────────────────────

    /// Registers (or replaces) a workflow definition at its version.
    fn store_workflow(_py, store, definition: &Bound<'_, PyAny>) {
        let definition = input::<records::WorkflowDefinition>(definition)?;
        Ok(Call::new(move || store.store_workflow(&definition), nothing))
    }

    /// The definition of `workflow_id` at `version`, or None.
    fn get_workflow(_py, store, workflow_id: Text, version: Text) {
        Ok(Call::new(move || store.get_workflow(&workflow_id.0, &version.0), record))
    }

    // ── Executions ───────────────────────────────────────────────────────────────────────────

    /// Creates an execution. Its id already used: `ConflictError`.
    fn create_execution(_py, store, execution: &Bound<'_, PyAny>) {
        let execution = input::<records::WorkflowExecution>(execution)?;
        Ok(Call::new(move || store.create_execution(&execution), nothing))
    }

    /// The execution, or None.
    fn get_execution(py, store, execution_id: Text) {
        let id = convert::execution_id(py, &execution_id.0)?;
        Ok(Call::new(move || store.get_execution(&id), record))
    }

    /// Sets the status (a terminal one also sets `completed_at`).
    fn update_execution_status(py, store, execution_id: Text, status: Text) {
        let id = convert::execution_id(py, &execution_id.0)?;
        let status: WorkflowStatus = self::status(py, Some(status.0), "status")?.expect("given");
        Ok(Call::new(move || store.update_execution_status(&id, status), nothing))
    }

    /// Replaces the execution's current state.
    fn update_execution_current_state(py, store, execution_id: Text, current_state: &Bound<'_, PyAny>) {
        let id = convert::execution_id(py, &execution_id.0)?;
        let state = to_value(current_state)?;
        Ok(Call::new(move || store.update_execution_current_state(&id, &state), nothing))
    }

    /// Appends `value` to the array at `key` of the current state (an object), creating it.
    fn patch_append_array(py, store, execution_id: Text, key: Text, value: &Bound<'_, PyAny>) {
        let id = convert::execution_id(py, &execution_id.0)?;
        let value = to_value(value)?;
        Ok(Call::new(move || store.patch_append_array(&id, &key.0, value), nothing))
    }

    /// Executions, newest first, optionally of one status.
    #[signature = (status=None, limit=Count(100), offset=Count(0))]
    fn list_executions(py, store, status: Option<Text>, limit: Count, offset: Count) {
        let status: Option<WorkflowStatus> = self::status(py, status.map(|t| t.0), "status")?;
        Ok(Call::new(move || store.list_executions(status, limit.0, offset.0), record))
    }

    // ── Events and snapshots ─────────────────────────────────────────────────────────────────

    /// Appends one event at its own sequence; returns the sequence. Taken: `SequenceConflictError`.
    fn append_event(_py, store, event: &Bound<'_, PyAny>) {
        let event = input::<records::Event>(event)?;
        Ok(Call::new(move || store.append_event_raw(&event), plain))
    }

    /// Appends events atomically: all or none.
    fn append_events(_py, store, events: Vec<Bound<'_, PyAny>>) {
        let events = events.iter().map(input::<records::Event>).collect::<PyResult<Vec<_>>>()?;
        Ok(Call::new(move || store.append_events_raw(&events), nothing))
    }

    /// Appends an event of `kind` (a dict with a string "type") at the next sequence; returns it.
    fn append_next_event(py, store, execution_id: Text, kind: &Bound<'_, PyAny>) {
        let id = convert::execution_id(py, &execution_id.0)?;
        let kind = to_value(kind)?;
        Ok(Call::new(move || store.append_next_raw(&id, vec![kind]), |py, mut written| {
            written.pop().expect("one event written").into_py(py)
        }))
    }

    /// Appends events of `kinds` at the next sequences, atomically; returns them.
    fn append_next_events(py, store, execution_id: Text, kinds: Vec<Bound<'_, PyAny>>) {
        let id = convert::execution_id(py, &execution_id.0)?;
        let kinds = kinds.iter().map(to_value).collect::<PyResult<Vec<_>>>()?;
        Ok(Call::new(move || store.append_next_raw(&id, kinds), record))
    }

    /// Every event of the execution, in sequence order.
    fn get_events(py, store, execution_id: Text) {
        let id = convert::execution_id(py, &execution_id.0)?;
        Ok(Call::new(move || store.get_events_raw(&id, 0), record))
    }

    /// Events with a sequence above `since`, in order.
    fn get_events_since(py, store, execution_id: Text, since: Int) {
        let id = convert::execution_id(py, &execution_id.0)?;
        Ok(Call::new(move || store.get_events_raw(&id, since.0), record))
    }

    /// The highest sequence written; 0 when there is none.
    fn latest_sequence(py, store, execution_id: Text) {
        let id = convert::execution_id(py, &execution_id.0)?;
        Ok(Call::new(move || store.latest_sequence(&id), plain))
    }

    /// Writes a snapshot (one at the same sequence is replaced).
    fn write_snapshot(_py, store, snapshot: &Bound<'_, PyAny>) {
        let snapshot = input::<records::Snapshot>(snapshot)?;
        Ok(Call::new(move || store.write_snapshot(&snapshot), nothing))
    }

    /// The latest snapshot, or None.
    fn latest_snapshot(py, store, execution_id: Text) {
        let id = convert::execution_id(py, &execution_id.0)?;
        Ok(Call::new(move || store.latest_snapshot(&id), record))
    }

    /// The execution's state rebuilt from its latest snapshot and the events after it.
    fn materialize(py, store, execution_id: Text) {
        let id = convert::execution_id(py, &execution_id.0)?;
        Ok(Call::new(move || store.materialize(&id), record))
    }

    // ── The work queue ───────────────────────────────────────────────────────────────────────

    /// Enqueues an item; returns its id.
    fn enqueue_work_item(_py, store, item: &Bound<'_, PyAny>) {
        let item = input::<records::WorkItem>(item)?;
        Ok(Call::new(move || store.enqueue_work_item(&item), |py, id| plain(py, id.hyphenated().to_string())))
    }

    /// Enqueues items atomically; returns their ids.
    fn enqueue_work_items(_py, store, items: Vec<Bound<'_, PyAny>>) {
        let items = items.iter().map(input::<records::WorkItem>).collect::<PyResult<Vec<_>>>()?;
        Ok(Call::new(move || store.enqueue_work_items(&items), ids))
    }

    /// The item with its queue state, or None.
    fn get_work_item(py, store, item_id: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.get_work_item(&id), record))
    }

    /// Items with their queue state, oldest first, optionally of one status.
    #[signature = (status=None, limit=Count(100), offset=Count(0))]
    fn list_work_items(py, store, status: Option<Text>, limit: Count, offset: Count) {
        let status: Option<WorkItemStatus> = self::status(py, status.map(|t| t.0), "status")?;
        Ok(Call::new(move || store.list_work_items(status, limit.0, offset.0), record))
    }

    /// Claims the oldest claimable item of `queue_types` for `worker_id`, or returns None.
    fn claim_work_item(_py, store, worker_id: Text, queue_types: Vec<Text>) {
        Ok(Call::new(
            move || store.claim_work_item(&worker_id.0, &queue_types.iter().map(|t| t.0.as_str()).collect::<Vec<_>>()),
            record,
        ))
    }

    /// Like `claim_work_item`, with a fencing token (and an optional lease length): a `Lease`.
    #[signature = (worker_id, queue_types, lease=None)]
    fn claim_fenced(_py, store, worker_id: Text, queue_types: Vec<Text>, lease: Option<&Bound<'_, PyAny>>) {
        let lease = self::lease(lease)?;
        Ok(Call::new(
            move || store.claim_fenced(&worker_id.0, &queue_types.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), lease),
            record,
        ))
    }

    /// Extends the lease `worker_id` holds on the item. Not its holder: `LeaseLostError`.
    fn renew_lease(py, store, item_id: Text, worker_id: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.renew_lease(&id, &worker_id.0), nothing))
    }

    /// Extends the lease of fencing `token`; returns the new expiry. A `progress` value (any
    /// JSON) is kept on the item for operators (`QueueEntry.progress`).
    #[signature = (item_id, token, lease=None, progress=None)]
    fn renew_fenced(py, store, item_id: Text, token: Int, lease: Option<&Bound<'_, PyAny>>, progress: Option<&Bound<'_, PyAny>>) {
        let id = convert::item_id(py, &item_id.0)?;
        let lease = self::lease(lease)?;
        let progress = progress.map(to_value).transpose()?;
        Ok(Call::new(
            move || match &progress {
                None => store.renew_fenced(&id, token.0, lease),
                Some(progress) => store.renew_with_progress(&id, token.0, progress, lease),
            },
            plain,
        ))
    }

    /// Enqueues `item` with options: `run_at` (a datetime: not claimable before it), `priority`
    /// (-32768 to 32767, lower runs first), `unique_key` (at most one live item of the tenant's
    /// queue type holds it), `on_duplicate` ("keep", "replace" or "refuse"), `unique_for` (how
    /// long a completed item keeps its key), `partition_key`. Returns an `Enqueued`: the id of the
    /// item that stands for the request, and its `outcome` ("enqueued", "duplicate", "replaced").
    #[signature = (item, *, run_at=None, priority=None, unique_key=None, on_duplicate=None, unique_for=None, partition_key=None)]
    fn enqueue(
        py,
        store,
        item: &Bound<'_, PyAny>,
        run_at: Option<&Bound<'_, PyAny>>,
        priority: Option<Int>,
        unique_key: Option<Text>,
        on_duplicate: Option<Text>,
        unique_for: Option<&Bound<'_, PyAny>>,
        partition_key: Option<Text>,
    ) {
        let item = input::<records::WorkItem>(item)?;
        let mut wire = serde_json::Map::new();
        if let Some(at) = run_at {
            wire.insert("run_at".into(), Value::String(convert::rfc3339(&to_time(at)?)));
        }
        if let Some(priority) = priority {
            wire.insert("priority".into(), Value::from(priority.0));
        }
        for (name, text) in [("unique_key", unique_key), ("on_duplicate", on_duplicate), ("partition_key", partition_key)] {
            if let Some(text) = text {
                wire.insert(name.into(), Value::String(text.0));
            }
        }
        if let Some(window) = unique_for {
            wire.insert("unique_for_ms".into(), Value::from(to_duration(window, "unique_for")?.as_secs_f64() * 1000.0));
        }
        let options = jetstate::wire::enqueue_options(&Value::Object(wire)).or_raise(py)?;
        Ok(Call::new(move || store.enqueue(&item, &options), record))
    }

    /// Enqueues several items, each an item, `(item, options)` or `{"item": ..., "options": {...}}`
    /// (options as `enqueue`'s), all or none, in one commit; returns an `Enqueued` for each.
    fn enqueue_batch(_py, store, items: Vec<Bound<'_, PyAny>>) {
        let jobs = items.iter().map(job).collect::<PyResult<Vec<_>>>()?;
        Ok(Call::new(move || store.enqueue_batch(&jobs), record))
    }

    /// Appends events of `kinds` at the execution's next sequences and enqueues `items` (as for
    /// `enqueue_batch`) in one commit, all or nothing: `{"events": [...], "enqueued": [...]}`.
    fn append_and_enqueue(py, store, execution_id: Text, kinds: Vec<Bound<'_, PyAny>>, items: Vec<Bound<'_, PyAny>>) {
        let id = convert::execution_id(py, &execution_id.0)?;
        let kinds = kinds.iter().map(to_value).collect::<PyResult<Vec<_>>>()?;
        let jobs = items.iter().map(job).collect::<PyResult<Vec<_>>>()?;
        Ok(Call::new(move || store.append_and_enqueue(&id, kinds, &jobs), |py, (events, enqueued)| {
            let dict = PyDict::new(py);
            dict.set_item("events", events.into_py(py)?)?;
            dict.set_item("enqueued", enqueued.into_py(py)?)?;
            Ok(dict.into_any().unbind())
        }))
    }

    /// Claims up to `max` items of `queue_types` in one transaction, each under its own lease:
    /// a list of `Lease`s, in the claim's order (priority, then run time).
    #[signature = (worker_id, queue_types, max, lease=None)]
    fn claim_batch(_py, store, worker_id: Text, queue_types: Vec<Text>, max: Count, lease: Option<&Bound<'_, PyAny>>) {
        let lease = self::lease(lease)?;
        Ok(Call::new(move || store.claim_batch(&worker_id.0, &names(&queue_types), max.0 as usize, lease), record))
    }

    /// `claim_batch`, waiting up to `timeout` (a timedelta or seconds) for items to become
    /// claimable: returns as soon as a claim takes some, or `[]` at the timeout. Never blocks an
    /// event loop (`AsyncStore`); cancelling the awaiting task, or Ctrl-C (`Store`), ends the wait.
    #[signature = (worker_id, queue_types, *, max=Count(1), lease=None, timeout=None)]
    fn claim_wait(
        _py,
        store,
        worker_id: Text,
        queue_types: Vec<Text>,
        max: Count,
        lease: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) {
        let lease = self::lease(lease)?;
        let timeout = timeout.map(|t| to_duration(t, "timeout")).transpose()?.unwrap_or_default();
        Ok(Call::waiting(
            move |cancel| store.claim_wait(&worker_id.0, &names(&queue_types), max.0 as usize, lease, timeout, Some(cancel)),
            record,
        ))
    }

    /// Completes several fenced items in one commit; each lease is a `Lease`, `(item_id, token)`
    /// or `{"item_id", "token"}`. Returns, per lease, whether it is completed under that token
    /// (True) or its lease was lost (False: left as it is).
    fn complete_batch(_py, store, leases: Vec<Bound<'_, PyAny>>) {
        let leases = leases.iter().map(lease_ref).collect::<PyResult<Vec<_>>>()?;
        Ok(Call::new(move || store.complete_batch(&leases), plain))
    }

    /// Cancels a pending or claimed item (its holder's next renew or complete raises
    /// `LeaseLostError`); returns the status it had.
    fn cancel_work_item(py, store, item_id: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.cancel_work_item(&id), record))
    }

    /// Marks a claimed item done.
    fn complete_work_item(py, store, item_id: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.complete_work_item(&id), nothing))
    }

    /// Marks the item done if `token` is still its lease. Otherwise: `LeaseLostError`.
    fn complete_fenced(py, store, item_id: Text, token: Int) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.complete_fenced(&id, token.0), nothing))
    }

    /// Records a failed attempt: retried after a backoff, or dead-lettered when none are left.
    fn fail_work_item(py, store, item_id: Text, error: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.fail_work_item(&id, &error.0), nothing))
    }

    /// `fail_work_item` if `token` is still the item's lease. Otherwise: `LeaseLostError`.
    fn fail_fenced(py, store, item_id: Text, token: Int, error: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.fail_fenced(&id, token.0, &error.0), nothing))
    }

    /// Releases every expired lease: items with attempts left are retried, the rest dead-lettered.
    fn reclaim_expired_leases(_py, store) {
        Ok(Call::new(move || store.reclaim_expired_leases(), record))
    }

    /// Moves the item to the dead-letter queue with `error`.
    fn move_to_dead_letter(py, store, item_id: Text, error: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.move_to_dead_letter(&id, &error.0), nothing))
    }

    /// Puts a dead-lettered item back in the queue with fresh attempts.
    fn requeue_dead_letter(py, store, item_id: Text) {
        let id = convert::item_id(py, &item_id.0)?;
        Ok(Call::new(move || store.requeue_dead_letter(&id), nothing))
    }

    /// Requeues every dead-lettered item; returns how many.
    fn requeue_all_dead_letters(_py, store) {
        Ok(Call::new(move || store.requeue_all_dead_letters(), plain))
    }

    /// Deletes every dead-lettered item; returns how many.
    fn purge_dead_letters(_py, store) {
        Ok(Call::new(move || store.purge_dead_letters(), plain))
    }

    // ── Queue settings and retention ─────────────────────────────────────────────────────────

    /// Sets a queue type's settings, a dict: `paused`, `concurrency` (at most that many claimed
    /// at once), `partition_concurrency` (per partition key), `rate_limit` (`{"claims": n,
    /// "period": timedelta}`). They hold for every tenant's items of the type.
    fn configure_queue(py, store, queue_type: Text, settings: &Bound<'_, PyAny>) {
        let settings = jetstate::wire::queue_settings(&settings_to_wire(settings, "settings")?).or_raise(py)?;
        Ok(Call::new(move || store.configure_queue(&queue_type.0, &settings), nothing))
    }

    /// Pauses a queue type: claims skip it; its items wait.
    fn pause_queue(_py, store, queue_type: Text) {
        Ok(Call::new(move || store.pause_queue(&queue_type.0), nothing))
    }

    /// Resumes a paused queue type.
    fn resume_queue(_py, store, queue_type: Text) {
        Ok(Call::new(move || store.resume_queue(&queue_type.0), nothing))
    }

    /// A queue type's settings, as the dict `configure_queue` takes.
    fn queue_settings(_py, store, queue_type: Text) {
        Ok(Call::new(move || store.queue_settings(&queue_type.0), settings))
    }

    /// Every queue type with items or settings: its settings and its items by state.
    fn list_queues(_py, store) {
        Ok(Call::new(move || store.list_queues(), settings))
    }

    /// Deletes what `policy` (a dict) lets go: `finished_items_after` and `dead_letters_after`
    /// (timedeltas), `keep_finished_items`, `finished_executions_after`, `keep_finished_executions`;
    /// nothing live. `dry_run`: counts only. Returns what it deleted (or would).
    #[signature = (policy, dry_run=false)]
    fn prune(py, store, policy: &Bound<'_, PyAny>, dry_run: bool) {
        let policy: jetstate::RetentionPolicy =
            jetstate::wire::from_json("policy", settings_to_wire(policy, "policy")?).or_raise(py)?;
        Ok(Call::new(move || store.prune(&policy, dry_run), settings))
    }

    /// Stores a retention policy (as `prune` takes) that `reclaim_expired_leases` applies as it
    /// runs; None removes it.
    fn set_retention(py, store, policy: Option<&Bound<'_, PyAny>>) {
        let policy: Option<jetstate::RetentionPolicy> = match policy {
            None => None,
            Some(policy) => Some(jetstate::wire::from_json("policy", settings_to_wire(policy, "policy")?).or_raise(py)?),
        };
        Ok(Call::new(move || store.set_retention(policy.as_ref()), nothing))
    }

    /// The stored retention policy, or None.
    fn retention(_py, store) {
        Ok(Call::new(move || store.retention(), |py, policy| match policy {
            None => Ok(py.None()),
            Some(policy) => settings(py, policy),
        }))
    }

    // ── API tokens ───────────────────────────────────────────────────────────────────────────

    /// Creates a token: returns `(secret, ApiToken)`. Only a hash of the secret is stored.
    #[signature = (name, role, expires_at=None)]
    fn create_token(_py, store, name: Text, role: Text, expires_at: Option<&Bound<'_, PyAny>>) {
        let expires_at = expires_at.map(to_time).transpose()?;
        Ok(Call::new(
            move || match expires_at {
                Some(at) => store.create_token_expiring(&name.0, &role.0, at),
                None => store.create_token(&name.0, &role.0),
            },
            |py, (secret, info)| (secret, info.into_py(py)?).into_py_any(py),
        ))
    }

    /// The token's record if the secret is valid (not revoked, not expired), else None.
    fn validate_token(_py, store, token: Text) {
        Ok(Call::new(move || store.validate_token(&token.0), record))
    }

    /// Revokes the token with this id.
    fn revoke_token(_py, store, id: Text) {
        Ok(Call::new(move || store.revoke_token(&id.0), nothing))
    }

    /// Every token's record, with revocation and last use.
    fn list_tokens(_py, store) {
        Ok(Call::new(move || store.list_tokens(), record))
    }

    // ── Tenants ──────────────────────────────────────────────────────────────────────────────

    /// Creates a tenant. Its id already used: `ConflictError`.
    fn create_tenant(_py, store, tenant: &Bound<'_, PyAny>) {
        let tenant = input::<records::Tenant>(tenant)?;
        Ok(Call::new(move || store.create_tenant(&tenant), nothing))
    }

    /// The tenant, or None.
    fn get_tenant(_py, store, id: Text) {
        Ok(Call::new(move || store.get_tenant(&jetstate::TenantId(id.0)), record))
    }

    /// Every tenant.
    fn list_tenants(_py, store) {
        Ok(Call::new(move || store.list_tenants(), record))
    }

    /// Updates a tenant's name, status, policy and limits.
    fn update_tenant(_py, store, tenant: &Bound<'_, PyAny>) {
        let tenant = input::<records::Tenant>(tenant)?;
        Ok(Call::new(move || store.update_tenant(&tenant), nothing))
    }
}

/// What both surfaces share that does not wait on SQLite: properties and the manual clock.
macro_rules! in_place {
    ($($class:ident),*) => {$(
        #[pymethods]
        impl $class {
            /// The tenant this view is confined to; None for the unscoped store.
            #[getter(tenant)]
            fn tenant_view(&self) -> Option<String> {
                self.inner.tenant().map(|t| t.0.clone())
            }

            /// "full" or "normal".
            #[getter]
            fn durability(&self) -> &'static str {
                self.inner.durability().as_str()
            }

            /// Whether the store has been closed.
            #[getter]
            fn closed(&self) -> bool {
                self.inner.is_closed()
            }

            /// The store's current time (its manual clock's, if it has one).
            fn now(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.inner.now().into_py_any(py)
            }

            /// Moves a manual clock forward by `by` (a timedelta or seconds).
            fn advance_clock(&self, by: &Bound<'_, PyAny>) -> PyResult<()> {
                self.inner.clock().advance(to_duration(by, "by")?).or_raise(by.py())
            }

            /// Sets a manual clock to `at` (a timezone-aware datetime).
            fn set_clock(&self, at: &Bound<'_, PyAny>) -> PyResult<()> {
                self.inner.clock().set(to_time(at)?).or_raise(at.py())
            }
        }
    )*};
}

in_place!(Store, AsyncStore);

//! The `jetstate` Python package's native module: a translation layer over the sync core, and
//! nothing more. Every rule lives in the core; this file converts arguments (with the GIL held),
//! releases the GIL while the core works (`py.detach`), and converts the answer back.
//!
//! Invariants kept here:
//! - SQLite never runs with the GIL held, so other Python threads run meanwhile.
//! - No input panics: conversions return Python exceptions (`errors.rs`); a panic in the core
//!   would surface as pyo3's `PanicException`, never as an abort.
//! - `AsyncStore` (Python, `jetstate/_async.py`) runs these same methods on the core's call pool
//!   through [`submit`], so the event loop's thread never waits on SQLite.

mod convert;
mod errors;
mod records;

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;

use jetstate::{Clock, Durability, Options, WorkItemStatus, WorkflowStatus};

use crate::convert::{to_duration, to_time, to_value};
use crate::errors::OrRaise;
use crate::records::{input, ToPy};

/// A jetstate store: one SQLite file (or memory) holding workflow definitions, executions, their
/// event logs and snapshots, a leased work queue, API tokens and tenants.
///
/// Methods block the calling thread (with the GIL released) until the store answers; use
/// `AsyncStore` under asyncio. A store may be shared by any number of threads.
#[pyclass(frozen, module = "jetstate")]
struct Store {
    inner: jetstate::Store,
}

/// Runs a core call with the GIL released, and raises its error as a Python exception.
fn run<T: Send>(py: Python<'_>, call: impl FnOnce() -> jetstate::Result<T> + Send) -> PyResult<T> {
    py.detach(call).or_raise(py)
}

fn status<T: serde::de::DeserializeOwned>(py: Python<'_>, name: Option<&str>, what: &str) -> PyResult<Option<T>> {
    name.map(|name| jetstate::wire::from_json(what, serde_json::Value::String(name.to_string())).or_raise(py))
        .transpose()
}

fn lease(lease: Option<&Bound<'_, PyAny>>) -> PyResult<Option<std::time::Duration>> {
    lease.map(|lease| to_duration(lease, "lease")).transpose()
}

#[pymethods]
impl Store {
    /// Opens (creating if needed) the store at `path`, or a private in-memory store when `path`
    /// is None or ":memory:". Durations are `timedelta`s or seconds. `clock`: a timezone-aware
    /// datetime to run on a manual clock standing at that instant (for tests); see `advance_clock`.
    #[new]
    #[pyo3(signature = (
        path=None, *, durability="full", lease=None, backoff_base=None, backoff_cap=None,
        backoff_jitter=false, busy_timeout=None, clock=None, read_only=false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        path: Option<PathBuf>,
        durability: &str,
        lease: Option<&Bound<'_, PyAny>>,
        backoff_base: Option<&Bound<'_, PyAny>>,
        backoff_cap: Option<&Bound<'_, PyAny>>,
        backoff_jitter: bool,
        busy_timeout: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
        read_only: bool,
    ) -> PyResult<Store> {
        let durability = match durability {
            "full" => Durability::Full,
            "normal" => Durability::Normal,
            other => {
                return Err(errors::invalid(py, format!("durability must be \"full\" or \"normal\", got {other:?}")))
            }
        };
        let mut options = Options::default().durability(durability).backoff_jitter(backoff_jitter).read_only(read_only);
        if let Some(lease) = lease {
            options = options.lease(to_duration(lease, "lease")?);
        }
        if backoff_base.is_some() || backoff_cap.is_some() {
            let defaults = Options::default();
            let base =
                backoff_base.map(|b| to_duration(b, "backoff_base")).transpose()?.unwrap_or(defaults.backoff_base);
            let cap = backoff_cap.map(|c| to_duration(c, "backoff_cap")).transpose()?.unwrap_or(defaults.backoff_cap);
            options = options.backoff(base, cap);
        }
        if let Some(timeout) = busy_timeout {
            options = options.busy_timeout(to_duration(timeout, "busy_timeout")?);
        }
        if let Some(start) = clock {
            options = options.clock(Clock::manual(to_time(start)?));
        }
        let in_memory = path.as_deref().is_none_or(|p| p.as_os_str() == ":memory:");
        let inner = run(py, move || match path {
            Some(path) if !in_memory => jetstate::Store::open(path, options),
            _ => jetstate::Store::open_in_memory(options),
        })?;
        Ok(Store { inner })
    }

    /// The view of one tenant: every call through it reads and writes that tenant's records only.
    fn for_tenant(&self, tenant: String) -> Store {
        Store { inner: self.inner.for_tenant(tenant) }
    }

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

    /// Whether `close()` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Closes the store: later calls raise `DatabaseError`. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let store = &self.inner;
        run(py, || store.close())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let location = match self.inner.location() {
            jetstate::Location::Memory => ":memory:".to_string(),
            jetstate::Location::File(path) => path.display().to_string(),
        };
        match self.inner.tenant() {
            Some(tenant) => format!("Store({location:?}, tenant={:?})", tenant.0),
            None => format!("Store({location:?})"),
        }
    }

    // ── Time ─────────────────────────────────────────────────────────────────────────────────

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

    // ── Workflow definitions ─────────────────────────────────────────────────────────────────

    /// Registers (or replaces) a workflow definition at its version.
    fn store_workflow(&self, py: Python<'_>, definition: &Bound<'_, PyAny>) -> PyResult<()> {
        let definition = input::<records::WorkflowDefinition>(definition)?;
        run(py, || self.inner.store_workflow(&definition))
    }

    /// The definition of `workflow_id` at `version`, or None.
    fn get_workflow(&self, py: Python<'_>, workflow_id: &str, version: &str) -> PyResult<Py<PyAny>> {
        run(py, || self.inner.get_workflow(workflow_id, version))?.to_py(py)
    }

    // ── Executions ───────────────────────────────────────────────────────────────────────────

    /// Creates an execution. Its id already used: `ConflictError`.
    fn create_execution(&self, py: Python<'_>, execution: &Bound<'_, PyAny>) -> PyResult<()> {
        let execution = input::<records::WorkflowExecution>(execution)?;
        run(py, || self.inner.create_execution(&execution))
    }

    /// The execution, or None.
    fn get_execution(&self, py: Python<'_>, execution_id: &str) -> PyResult<Py<PyAny>> {
        let id = convert::execution_id(py, execution_id)?;
        run(py, || self.inner.get_execution(&id))?.to_py(py)
    }

    /// Sets the status (a terminal one also sets `completed_at`).
    fn update_execution_status(&self, py: Python<'_>, execution_id: &str, status: &str) -> PyResult<()> {
        let id = convert::execution_id(py, execution_id)?;
        let status: WorkflowStatus = self::status(py, Some(status), "status")?.expect("given");
        run(py, || self.inner.update_execution_status(&id, status))
    }

    /// Replaces the execution's current state.
    fn update_execution_current_state(
        &self,
        py: Python<'_>,
        execution_id: &str,
        current_state: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = convert::execution_id(py, execution_id)?;
        let state = to_value(current_state)?;
        run(py, || self.inner.update_execution_current_state(&id, &state))
    }

    /// Appends `value` to the array at `key` of the current state (an object), creating it.
    fn patch_append_array(
        &self,
        py: Python<'_>,
        execution_id: &str,
        key: &str,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = convert::execution_id(py, execution_id)?;
        let value = to_value(value)?;
        run(py, || self.inner.patch_append_array(&id, key, value))
    }

    /// Executions, newest first, optionally of one status.
    #[pyo3(signature = (status=None, limit=100, offset=0))]
    fn list_executions(&self, py: Python<'_>, status: Option<&str>, limit: u32, offset: u32) -> PyResult<Py<PyAny>> {
        let status: Option<WorkflowStatus> = self::status(py, status, "status")?;
        run(py, || self.inner.list_executions(status, limit, offset))?.to_py(py)
    }

    // ── Events and snapshots ─────────────────────────────────────────────────────────────────

    /// Appends one event at its own sequence and returns it. Sequence taken: `SequenceConflictError`.
    fn append_event(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<i64> {
        let event = input::<records::Event>(event)?;
        let sequence = event.sequence;
        run(py, || self.inner.append_events_raw(std::slice::from_ref(&event)))?;
        Ok(sequence)
    }

    /// Appends events atomically: all or none.
    fn append_events(&self, py: Python<'_>, events: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let events = events.iter().map(input::<records::Event>).collect::<PyResult<Vec<_>>>()?;
        run(py, || self.inner.append_events_raw(&events))
    }

    /// Appends an event of `kind` (a dict with a string "type") at the next sequence; returns it.
    fn append_next_event(&self, py: Python<'_>, execution_id: &str, kind: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let id = convert::execution_id(py, execution_id)?;
        let kind = to_value(kind)?;
        let mut written = run(py, || self.inner.append_next_raw(&id, vec![kind]))?;
        written.pop().expect("one event written").to_py(py)
    }

    /// Appends events of `kinds` at the next sequences, atomically; returns them.
    fn append_next_events(
        &self,
        py: Python<'_>,
        execution_id: &str,
        kinds: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let id = convert::execution_id(py, execution_id)?;
        let kinds = kinds.iter().map(to_value).collect::<PyResult<Vec<_>>>()?;
        run(py, || self.inner.append_next_raw(&id, kinds))?.to_py(py)
    }

    /// Every event of the execution, in sequence order.
    fn get_events(&self, py: Python<'_>, execution_id: &str) -> PyResult<Py<PyAny>> {
        self.get_events_since(py, execution_id, 0)
    }

    /// Events with a sequence above `since`, in order.
    fn get_events_since(&self, py: Python<'_>, execution_id: &str, since: i64) -> PyResult<Py<PyAny>> {
        let id = convert::execution_id(py, execution_id)?;
        run(py, || self.inner.get_events_raw(&id, since))?.to_py(py)
    }

    /// The highest sequence written; 0 when there is none.
    fn latest_sequence(&self, py: Python<'_>, execution_id: &str) -> PyResult<i64> {
        let id = convert::execution_id(py, execution_id)?;
        run(py, || self.inner.latest_sequence(&id))
    }

    /// Writes a snapshot (one at the same sequence is replaced).
    fn write_snapshot(&self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<()> {
        let snapshot = input::<records::Snapshot>(snapshot)?;
        run(py, || self.inner.write_snapshot(&snapshot))
    }

    /// The latest snapshot, or None.
    fn latest_snapshot(&self, py: Python<'_>, execution_id: &str) -> PyResult<Py<PyAny>> {
        let id = convert::execution_id(py, execution_id)?;
        run(py, || self.inner.latest_snapshot(&id))?.to_py(py)
    }

    /// The execution's state rebuilt from its latest snapshot and the events after it.
    fn materialize(&self, py: Python<'_>, execution_id: &str) -> PyResult<Py<PyAny>> {
        let id = convert::execution_id(py, execution_id)?;
        run(py, || self.inner.materialize(&id))?.to_py(py)
    }

    // ── The work queue ───────────────────────────────────────────────────────────────────────

    /// Enqueues an item; returns its id.
    fn enqueue_work_item(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<String> {
        let item = input::<records::WorkItem>(item)?;
        Ok(run(py, || self.inner.enqueue_work_item(&item))?.hyphenated().to_string())
    }

    /// Enqueues items atomically; returns their ids.
    fn enqueue_work_items(&self, py: Python<'_>, items: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
        let items = items.iter().map(input::<records::WorkItem>).collect::<PyResult<Vec<_>>>()?;
        let ids = run(py, || self.inner.enqueue_work_items(&items))?;
        Ok(ids.iter().map(|id| id.hyphenated().to_string()).collect())
    }

    /// The item with its queue state, or None.
    fn get_work_item(&self, py: Python<'_>, item_id: &str) -> PyResult<Py<PyAny>> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.get_work_item(&id))?.to_py(py)
    }

    /// Items with their queue state, oldest first, optionally of one status.
    #[pyo3(signature = (status=None, limit=100, offset=0))]
    fn list_work_items(&self, py: Python<'_>, status: Option<&str>, limit: u32, offset: u32) -> PyResult<Py<PyAny>> {
        let status: Option<WorkItemStatus> = self::status(py, status, "status")?;
        run(py, || self.inner.list_work_items(status, limit, offset))?.to_py(py)
    }

    /// Claims the oldest claimable item of `queue_types` for `worker_id`, or returns None.
    fn claim_work_item(&self, py: Python<'_>, worker_id: &str, queue_types: Vec<String>) -> PyResult<Py<PyAny>> {
        let types: Vec<&str> = queue_types.iter().map(String::as_str).collect();
        run(py, || self.inner.claim_work_item(worker_id, &types))?.to_py(py)
    }

    /// Like `claim_work_item`, with a fencing token (and an optional lease length): a `Lease`.
    #[pyo3(signature = (worker_id, queue_types, lease=None))]
    fn claim_fenced(
        &self,
        py: Python<'_>,
        worker_id: &str,
        queue_types: Vec<String>,
        lease: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let types: Vec<&str> = queue_types.iter().map(String::as_str).collect();
        let lease = self::lease(lease)?;
        run(py, || self.inner.claim_fenced(worker_id, &types, lease))?.to_py(py)
    }

    /// Extends the lease `worker_id` holds on the item. Not its holder: `LeaseLostError`.
    fn renew_lease(&self, py: Python<'_>, item_id: &str, worker_id: &str) -> PyResult<()> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.renew_lease(&id, worker_id))
    }

    /// Extends the lease of fencing `token`; returns the new expiry.
    #[pyo3(signature = (item_id, token, lease=None))]
    fn renew_fenced(
        &self,
        py: Python<'_>,
        item_id: &str,
        token: i64,
        lease: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let id = convert::item_id(py, item_id)?;
        let lease = self::lease(lease)?;
        run(py, || self.inner.renew_fenced(&id, token, lease))?.into_py_any(py)
    }

    /// Marks a claimed item done.
    fn complete_work_item(&self, py: Python<'_>, item_id: &str) -> PyResult<()> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.complete_work_item(&id))
    }

    /// Marks the item done if `token` is still its lease. Otherwise: `LeaseLostError`.
    fn complete_fenced(&self, py: Python<'_>, item_id: &str, token: i64) -> PyResult<()> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.complete_fenced(&id, token))
    }

    /// Records a failed attempt: retried after a backoff, or dead-lettered when none are left.
    fn fail_work_item(&self, py: Python<'_>, item_id: &str, error: &str) -> PyResult<()> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.fail_work_item(&id, error))
    }

    /// `fail_work_item` if `token` is still the item's lease. Otherwise: `LeaseLostError`.
    fn fail_fenced(&self, py: Python<'_>, item_id: &str, token: i64, error: &str) -> PyResult<()> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.fail_fenced(&id, token, error))
    }

    /// Releases every expired lease: items with attempts left are retried, the rest dead-lettered.
    fn reclaim_expired_leases(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run(py, || self.inner.reclaim_expired_leases())?.to_py(py)
    }

    /// Moves the item to the dead-letter queue with `error`.
    fn move_to_dead_letter(&self, py: Python<'_>, item_id: &str, error: &str) -> PyResult<()> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.move_to_dead_letter(&id, error))
    }

    /// Puts a dead-lettered item back in the queue with fresh attempts.
    fn requeue_dead_letter(&self, py: Python<'_>, item_id: &str) -> PyResult<()> {
        let id = convert::item_id(py, item_id)?;
        run(py, || self.inner.requeue_dead_letter(&id))
    }

    /// Requeues every dead-lettered item; returns how many.
    fn requeue_all_dead_letters(&self, py: Python<'_>) -> PyResult<usize> {
        run(py, || self.inner.requeue_all_dead_letters())
    }

    /// Deletes every dead-lettered item; returns how many.
    fn purge_dead_letters(&self, py: Python<'_>) -> PyResult<usize> {
        run(py, || self.inner.purge_dead_letters())
    }

    // ── API tokens ───────────────────────────────────────────────────────────────────────────

    /// Creates a token: returns `(secret, ApiToken)`. Only a hash of the secret is stored.
    #[pyo3(signature = (name, role, expires_at=None))]
    fn create_token(
        &self,
        py: Python<'_>,
        name: &str,
        role: &str,
        expires_at: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(String, Py<PyAny>)> {
        let expires_at = expires_at.map(to_time).transpose()?;
        let (secret, info) = run(py, || match expires_at {
            Some(at) => self.inner.create_token_expiring(name, role, at),
            None => self.inner.create_token(name, role),
        })?;
        Ok((secret, info.to_py(py)?))
    }

    /// The token's record if the secret is valid (not revoked, not expired), else None.
    fn validate_token(&self, py: Python<'_>, token: &str) -> PyResult<Py<PyAny>> {
        run(py, || self.inner.validate_token(token))?.to_py(py)
    }

    /// Revokes the token with this id.
    fn revoke_token(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        run(py, || self.inner.revoke_token(id))
    }

    /// Every token's record, with revocation and last use.
    fn list_tokens(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run(py, || self.inner.list_tokens())?.to_py(py)
    }

    // ── Tenants ──────────────────────────────────────────────────────────────────────────────

    /// Creates a tenant. Its id already used: `ConflictError`.
    fn create_tenant(&self, py: Python<'_>, tenant: &Bound<'_, PyAny>) -> PyResult<()> {
        let tenant = input::<records::Tenant>(tenant)?;
        run(py, || self.inner.create_tenant(&tenant))
    }

    /// The tenant, or None.
    fn get_tenant(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        run(py, || self.inner.get_tenant(&jetstate::TenantId(id)))?.to_py(py)
    }

    /// Every tenant.
    fn list_tenants(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run(py, || self.inner.list_tenants())?.to_py(py)
    }

    /// Updates a tenant's name, status, policy and limits.
    fn update_tenant(&self, py: Python<'_>, tenant: &Bound<'_, PyAny>) -> PyResult<()> {
        let tenant = input::<records::Tenant>(tenant)?;
        run(py, || self.inner.update_tenant(&tenant))
    }

    // ── Operations ───────────────────────────────────────────────────────────────────────────

    /// Copies the store to a new file `dest` while writers may run; returns its size in bytes.
    fn backup(&self, py: Python<'_>, dest: PathBuf) -> PyResult<u64> {
        run(py, || self.inner.backup(&dest))
    }

    /// Counts for an operator: executions by status, queue depths, dead letters, file size.
    fn summary(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let summary = run(py, || self.inner.summary())?;
        convert::to_py(py, &jetstate::wire::to_json(&summary).or_raise(py)?)
    }
}

/// Runs `call(*args)` on the core's call pool and settles `future` on `event_loop` with its result
/// or exception, through `event_loop.call_soon_threadsafe(settle, future, ok, value)`. Returns at
/// once: the caller's thread (the event loop's) never waits for SQLite.
#[pyfunction]
fn submit(
    py: Python<'_>,
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
    settle: Py<PyAny>,
    call: Py<PyAny>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
) -> PyResult<()> {
    jetstate::backend::offload::spawn(move || {
        Python::attach(move |py| {
            let outcome = call.call(py, args.bind(py), kwargs.as_ref().map(|k| k.bind(py)));
            let (ok, value) = match outcome {
                Ok(value) => (true, value),
                Err(err) => (false, err.into_value(py).into_any()),
            };
            // The loop may have closed meanwhile; then no one awaits the answer.
            let _ = event_loop.call_method1(py, "call_soon_threadsafe", (settle, future, ok, value));
        })
    })
    .or_raise(py)
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Store>()?;
    records::register(module)?;
    module.add_function(wrap_pyfunction!(submit, module)?)?;
    module.add("MAX_JSON_DEPTH", jetstate::MAX_JSON_DEPTH)?;
    Ok(())
}

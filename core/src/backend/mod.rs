//! The async surface for the native engine: the engine's `StateBackend` trait, with exactly its
//! methods and signatures, and [`SqliteBackend`], which implements it over the sync [`Store`].
//!
//! This module holds no SQL and no rule. Each call clones the store handle and its arguments,
//! runs the sync method on the offload pool (`offload.rs`) and awaits the answer, so it works
//! under any executor and never blocks the caller's thread. Errors are mapped onto the trait's
//! four variants in [`to_backend_error`], the only place that does so.

pub mod offload;

use async_trait::async_trait;
use serde::de::Error as _;
use std::path::PathBuf;

use crate::error::{Error, ErrorKind};
use crate::event::{Event, EventSequence};
use crate::location::Location;
use crate::options::Options;
use crate::queue::{Cancel, EnqueueOptions, Enqueued, Lease, LeaseToken};
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::tenant::{Tenant, TenantId};
use crate::workflow::{ExecutionId, WorkflowExecution, WorkflowStatus};
use std::time::Duration;

pub use crate::queue::{ReclaimResult, WorkItem, WorkItemId};
pub use crate::registry::WorkflowDefinition;
pub use crate::tokens::ApiToken;

/// The trait's error: exactly the engine's four variants.
#[derive(Debug, thiserror::Error)]
pub enum StateBackendError {
    #[error("execution not found: {0}")]
    NotFound(String),

    #[error("optimistic concurrency conflict: sequence mismatch for {0}")]
    SequenceConflict(String),

    #[error("database error: {0}")]
    Database(String),

    #[error("serialization error: {0}")]
    Serialization(#[from] serde_json::Error),
}

pub type BackendResult<T> = Result<T, StateBackendError>;

/// Maps the core's kinds onto the trait's four variants. Conflict, LeaseLost and
/// InvalidArgument have no variant of their own: they go to the nearest one with a message that
/// starts with the kind's code, so that nothing is lost to a reader.
pub fn to_backend_error(err: Error) -> StateBackendError {
    let message = err.message().to_string();
    match err.kind() {
        ErrorKind::NotFound => StateBackendError::NotFound(message),
        ErrorKind::SequenceConflict => StateBackendError::SequenceConflict(message),
        ErrorKind::Serialization => StateBackendError::Serialization(serde_json::Error::custom(message)),
        ErrorKind::LeaseLost => StateBackendError::NotFound(format!("LEASE_LOST: {message}")),
        ErrorKind::Conflict => StateBackendError::Database(format!("CONFLICT: {message}")),
        ErrorKind::InvalidArgument => StateBackendError::Database(format!("INVALID_ARGUMENT: {message}")),
        ErrorKind::Database => StateBackendError::Database(message),
    }
}

impl From<Error> for StateBackendError {
    fn from(err: Error) -> Self {
        to_backend_error(err)
    }
}

/// Durable state storage, as the engine calls it. Every write is transactional per state
/// transition: fully applied or not at all.
#[async_trait]
pub trait StateBackend: Send + Sync {
    // ── Workflow definitions ─────────────────────────────────────────────

    /// Store a compiled workflow IR.
    async fn store_workflow(&self, def: WorkflowDefinition) -> BackendResult<()>;

    /// Load a workflow definition by id and version.
    async fn get_workflow(&self, workflow_id: &str, version: &str) -> BackendResult<Option<WorkflowDefinition>>;

    // ── Workflow executions ──────────────────────────────────────────────

    /// Create a new workflow execution record.
    async fn create_execution(&self, execution: WorkflowExecution) -> BackendResult<()>;

    /// Load a workflow execution by id.
    async fn get_execution(&self, id: &ExecutionId) -> BackendResult<Option<WorkflowExecution>>;

    /// Update the status of a workflow execution.
    async fn update_execution_status(&self, id: &ExecutionId, status: WorkflowStatus) -> BackendResult<()>;

    /// Update the current_state of a workflow execution (apply state patches).
    async fn update_execution_current_state(
        &self,
        id: &ExecutionId,
        current_state: &serde_json::Value,
    ) -> BackendResult<()>;

    /// Append a value to an array field in the execution's current_state.
    /// Creates the array if it doesn't exist.
    async fn patch_append_array(
        &self,
        execution_id: &ExecutionId,
        key: &str,
        value: serde_json::Value,
    ) -> BackendResult<()>;

    /// List executions, optionally filtered by status.
    async fn list_executions(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
        offset: u32,
    ) -> BackendResult<Vec<WorkflowExecution>>;

    // ── Event log ────────────────────────────────────────────────────────

    /// Append an event to the event log.
    /// Must be transactional — either fully written or not at all.
    async fn append_event(&self, event: Event) -> BackendResult<EventSequence>;

    /// Load all events for an execution, ordered by sequence.
    async fn get_events(&self, execution_id: &ExecutionId) -> BackendResult<Vec<Event>>;

    /// Load events since a given sequence number (exclusive).
    async fn get_events_since(
        &self,
        execution_id: &ExecutionId,
        since_sequence: EventSequence,
    ) -> BackendResult<Vec<Event>>;

    /// Get the latest event sequence for an execution.
    async fn latest_sequence(&self, execution_id: &ExecutionId) -> BackendResult<EventSequence>;

    // ── Snapshots ────────────────────────────────────────────────────────

    /// Write a snapshot.
    async fn write_snapshot(&self, snapshot: Snapshot) -> BackendResult<()>;

    /// Load the latest snapshot for an execution.
    async fn latest_snapshot(&self, execution_id: &ExecutionId) -> BackendResult<Option<Snapshot>>;

    // ── Queue ────────────────────────────────────────────────────────────

    /// Enqueue a work item for execution.
    async fn enqueue_work_item(&self, item: WorkItem) -> BackendResult<WorkItemId>;

    /// Claim the next available work item for a given queue type.
    /// Returns None if no items are available.
    async fn claim_work_item(&self, worker_id: &str, queue_types: &[&str]) -> BackendResult<Option<WorkItem>>;

    /// Renew the lease on a claimed work item (heartbeat).
    async fn renew_lease(&self, item_id: WorkItemId, worker_id: &str) -> BackendResult<()>;

    /// Mark a work item as completed and release the lease.
    async fn complete_work_item(&self, item_id: WorkItemId) -> BackendResult<()>;

    /// Mark a work item as failed. The scheduler will decide whether to retry.
    async fn fail_work_item(&self, item_id: WorkItemId, error: &str) -> BackendResult<()>;

    /// Reclaim work items whose lease has expired (worker crashed or stalled).
    ///
    /// For each expired item:
    /// - Increments `attempt`.
    /// - If `attempt < max_attempts`: resets to `pending` with optional backoff delay
    ///   via `retry_after`, and returns it in the `retryable` list.
    /// - If `attempt >= max_attempts`: moves to `dead_letter` and returns it in
    ///   the `exhausted` list.
    async fn reclaim_expired_leases(&self) -> BackendResult<ReclaimResult>;

    /// Move a failed work item to the dead-letter queue.
    async fn move_to_dead_letter(&self, item_id: WorkItemId, last_error: &str) -> BackendResult<()>;

    // ── API token auth ───────────────────────────────────────────────────

    /// Create a new API token. Returns `(plaintext_token, token_info)`.
    /// The plaintext token is only returned here; only its hash is stored.
    async fn create_token(&self, name: &str, role: &str) -> BackendResult<(String, ApiToken)>;

    /// Validate a plaintext API token. Returns the token info if valid and not revoked.
    async fn validate_token(&self, token: &str) -> BackendResult<Option<ApiToken>>;

    // ── Tenant management ───────────────────────────────────────────────

    /// Create a new tenant.
    async fn create_tenant(&self, _tenant: Tenant) -> BackendResult<()> {
        Err(StateBackendError::Database("tenant management not supported".into()))
    }

    /// Get a tenant by ID.
    async fn get_tenant(&self, _id: &TenantId) -> BackendResult<Option<Tenant>> {
        Ok(None)
    }

    /// List all tenants.
    async fn list_tenants(&self) -> BackendResult<Vec<Tenant>> {
        Ok(vec![])
    }

    /// Update tenant metadata (name, status, policy, limits).
    async fn update_tenant(&self, _tenant: Tenant) -> BackendResult<()> {
        Err(StateBackendError::Database("tenant management not supported".into()))
    }
}

/// [`StateBackend`] over an embedded SQLite file, through the sync [`Store`].
///
/// A tenant view (`for_tenant`) is a `SqliteBackend` too, confined to its tenant.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    store: Store,
}

/// The tenant view's type, under the name the engine's crate gives it.
pub type TenantScopedSqliteBackend = SqliteBackend;

impl SqliteBackend {
    /// Opens (creating and migrating) the database named by `url`: `sqlite://PATH`,
    /// `sqlite:PATH`, `sqlite::memory:` or a plain path; a `?mode=rwc` suffix is tolerated.
    pub async fn open(url: &str) -> Result<Self, Error> {
        SqliteBackend::open_with(url, Options::default()).await
    }

    /// [`SqliteBackend::open`] with options (durability, lease, backoff, clock).
    pub async fn open_with(url: &str, options: Options) -> Result<Self, Error> {
        let location = parse_url(url)?;
        let store = offload::run(move || Store::open_at(location, options)).await?;
        Ok(SqliteBackend { store })
    }
}

/// Materializes an execution through any [`StateBackend`] (the fold is `materializer::fold`):
/// NotFound if it does not exist.
pub async fn materialize(
    backend: &dyn StateBackend,
    execution_id: &ExecutionId,
) -> Result<crate::materializer::MaterializedState, StateBackendError> {
    let execution = backend
        .get_execution(execution_id)
        .await?
        .ok_or_else(|| StateBackendError::NotFound(format!("execution not found: {execution_id}")))?;
    let (base_state, base_sequence) = match backend.latest_snapshot(execution_id).await? {
        Some(snapshot) => (snapshot.state, snapshot.at_sequence),
        None => (execution.initial_input, 0),
    };
    let events = backend.get_events(execution_id).await?;
    Ok(crate::materializer::fold(base_state, base_sequence, &events, WorkflowStatus::Pending))
}

/// Cancels a waiting claim when the future awaiting it is dropped.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs a sync store call off the caller's thread.
async fn call<T: Send + 'static>(
    store: &Store,
    call: impl FnOnce(&Store) -> crate::Result<T> + Send + 'static,
) -> BackendResult<T> {
    let store = store.clone();
    offload::run(move || call(&store)).await.map_err(to_backend_error)
}

/// [`StateBackend`] over a PostgreSQL database, through the sync [`Store`]: the same rules and
/// statements' twins (`core/src/postgres`), for workers on several hosts.
///
/// A tenant view (`for_tenant`) is a `PostgresBackend` too, confined to its tenant.
#[cfg(feature = "postgres")]
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    store: Store,
}

/// The tenant view's type, named as [`TenantScopedSqliteBackend`] is.
#[cfg(feature = "postgres")]
pub type TenantScopedPostgresBackend = PostgresBackend;

#[cfg(feature = "postgres")]
impl PostgresBackend {
    /// Connects to the server named by `url` (`postgresql://` or `postgres://`, with libpq's
    /// parameters, `sslmode` among them, and `schema=NAME` for a store's own schema), migrating
    /// its schema on first use.
    pub async fn open(url: &str) -> Result<Self, Error> {
        PostgresBackend::open_with(url, Options::default()).await
    }

    /// [`PostgresBackend::open`] with options (durability, lease, backoff, clock).
    pub async fn open_with(url: &str, options: Options) -> Result<Self, Error> {
        let location = Location::from_path(url);
        if !matches!(location, Location::Postgres(_)) {
            return Err(Error::invalid(format!(
                "a PostgresBackend opens a postgresql:// or postgres:// URL, not {location}: a file is SqliteBackend's"
            )));
        }
        let store = offload::run(move || Store::open_at(location, options)).await?;
        Ok(PostgresBackend { store })
    }
}

/// Where a database URL points.
pub fn parse_url(url: &str) -> Result<Location, Error> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = match rest.split_once('?') {
        Some((path, query)) => {
            let known = query.split('&').all(|pair| matches!(pair, "" | "mode=rwc" | "mode=rw"));
            if !known {
                return Err(Error::invalid(format!(
                    "unsupported database URL parameters {query:?} in {url:?}: only mode=rwc is accepted"
                )));
            }
            path
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(Error::invalid(format!("database URL {url:?} names no path")));
    }
    match Location::from_path(PathBuf::from(path)) {
        Location::Postgres(url) => Err(Error::invalid(format!(
            "{url} names a PostgreSQL server: open it with PostgresBackend (or Store::open), not SqliteBackend"
        ))),
        location => Ok(location),
    }
}

/// The trait's methods over the sync [`Store`], and the handle's own (`from_store`, `store`,
/// `for_tenant`), for each backend type: one definition, so that the two engines' backends cannot
/// drift apart. Each call runs off the caller's thread.
macro_rules! state_backend_over_the_store {
    ($backend:ident) => {
        impl $backend {
            /// Wraps an open store.
            pub fn from_store(store: Store) -> Self {
                $backend { store }
            }

            /// The sync store underneath, for the calls beyond the trait (fenced queue calls,
            /// tokens' revocation, raw events).
            pub fn store(&self) -> &Store {
                &self.store
            }

            /// A view confined to `tenant_id` (the same type), itself a [`StateBackend`].
            pub fn for_tenant(&self, tenant_id: TenantId) -> Self {
                $backend { store: self.store.for_tenant(tenant_id) }
            }

            /// [`Store::enqueue`] (a run time, a priority, a unique key, a partition), off the
            /// caller's thread.
            pub async fn enqueue(&self, item: WorkItem, options: EnqueueOptions) -> crate::Result<Enqueued> {
                let store = self.store.clone();
                offload::run(move || store.enqueue(&item, &options)).await
            }

            /// [`Store::claim_batch`], off the caller's thread.
            pub async fn claim_batch(
                &self,
                worker_id: &str,
                queue_types: &[&str],
                max: usize,
                lease: Option<Duration>,
            ) -> crate::Result<Vec<Lease>> {
                let (store, worker_id) = (self.store.clone(), worker_id.to_owned());
                let queue_types: Vec<String> = queue_types.iter().map(|t| t.to_string()).collect();
                offload::run(move || {
                    let queue_types: Vec<&str> = queue_types.iter().map(String::as_str).collect();
                    store.claim_batch(&worker_id, &queue_types, max, lease)
                })
                .await
            }

            /// [`Store::claim_wait`]: waits on a thread of the pool for waiting claims, never the
            /// caller's. Dropping the future (a timeout of the caller's, a cancelled task) ends
            /// the wait at once; items a claim took before are not lost to it: they stay claimed
            /// under their lease, and reclaim counts them once it expires.
            pub async fn claim_wait(
                &self,
                worker_id: &str,
                queue_types: &[&str],
                max: usize,
                lease: Option<Duration>,
                timeout: Duration,
            ) -> crate::Result<Vec<Lease>> {
                let (store, worker_id) = (self.store.clone(), worker_id.to_owned());
                let queue_types: Vec<String> = queue_types.iter().map(|t| t.to_string()).collect();
                let cancel = CancelOnDrop(Cancel::new());
                let waiting = cancel.0.clone();
                let leases = offload::run_waiting(move || {
                    let queue_types: Vec<&str> = queue_types.iter().map(String::as_str).collect();
                    store.claim_wait(&worker_id, &queue_types, max, lease, timeout, Some(&waiting))
                })
                .await;
                drop(cancel);
                leases
            }

            /// [`Store::complete_batch`], off the caller's thread.
            pub async fn complete_batch(&self, leases: Vec<(WorkItemId, LeaseToken)>) -> crate::Result<Vec<bool>> {
                let store = self.store.clone();
                offload::run(move || store.complete_batch(&leases)).await
            }
        }

        #[async_trait]
        impl StateBackend for $backend {
            async fn store_workflow(&self, def: WorkflowDefinition) -> BackendResult<()> {
                call(&self.store, move |store| store.store_workflow(&def)).await
            }

            async fn get_workflow(
                &self,
                workflow_id: &str,
                version: &str,
            ) -> BackendResult<Option<WorkflowDefinition>> {
                let (workflow_id, version) = (workflow_id.to_owned(), version.to_owned());
                call(&self.store, move |store| store.get_workflow(&workflow_id, &version)).await
            }

            async fn create_execution(&self, execution: WorkflowExecution) -> BackendResult<()> {
                call(&self.store, move |store| store.create_execution(&execution)).await
            }

            async fn get_execution(&self, id: &ExecutionId) -> BackendResult<Option<WorkflowExecution>> {
                let id = id.clone();
                call(&self.store, move |store| store.get_execution(&id)).await
            }

            async fn update_execution_status(&self, id: &ExecutionId, status: WorkflowStatus) -> BackendResult<()> {
                let id = id.clone();
                call(&self.store, move |store| store.update_execution_status(&id, status)).await
            }

            async fn update_execution_current_state(
                &self,
                id: &ExecutionId,
                current_state: &serde_json::Value,
            ) -> BackendResult<()> {
                let (id, state) = (id.clone(), current_state.clone());
                call(&self.store, move |store| store.update_execution_current_state(&id, &state)).await
            }

            async fn patch_append_array(
                &self,
                execution_id: &ExecutionId,
                key: &str,
                value: serde_json::Value,
            ) -> BackendResult<()> {
                let (id, key) = (execution_id.clone(), key.to_owned());
                call(&self.store, move |store| store.patch_append_array(&id, &key, value)).await
            }

            async fn list_executions(
                &self,
                status: Option<WorkflowStatus>,
                limit: u32,
                offset: u32,
            ) -> BackendResult<Vec<WorkflowExecution>> {
                call(&self.store, move |store| store.list_executions(status, limit, offset)).await
            }

            async fn append_event(&self, event: Event) -> BackendResult<EventSequence> {
                call(&self.store, move |store| store.append_event(event)).await
            }

            async fn get_events(&self, execution_id: &ExecutionId) -> BackendResult<Vec<Event>> {
                let id = execution_id.clone();
                call(&self.store, move |store| store.get_events(&id)).await
            }

            async fn get_events_since(
                &self,
                execution_id: &ExecutionId,
                since_sequence: EventSequence,
            ) -> BackendResult<Vec<Event>> {
                let id = execution_id.clone();
                call(&self.store, move |store| store.get_events_since(&id, since_sequence)).await
            }

            async fn latest_sequence(&self, execution_id: &ExecutionId) -> BackendResult<EventSequence> {
                let id = execution_id.clone();
                call(&self.store, move |store| store.latest_sequence(&id)).await
            }

            async fn write_snapshot(&self, snapshot: Snapshot) -> BackendResult<()> {
                call(&self.store, move |store| store.write_snapshot(&snapshot)).await
            }

            async fn latest_snapshot(&self, execution_id: &ExecutionId) -> BackendResult<Option<Snapshot>> {
                let id = execution_id.clone();
                call(&self.store, move |store| store.latest_snapshot(&id)).await
            }

            async fn enqueue_work_item(&self, item: WorkItem) -> BackendResult<WorkItemId> {
                call(&self.store, move |store| store.enqueue_work_item(&item)).await
            }

            async fn claim_work_item(&self, worker_id: &str, queue_types: &[&str]) -> BackendResult<Option<WorkItem>> {
                let worker_id = worker_id.to_owned();
                let queue_types: Vec<String> = queue_types.iter().map(|t| t.to_string()).collect();
                call(&self.store, move |store| {
                    let queue_types: Vec<&str> = queue_types.iter().map(String::as_str).collect();
                    store.claim_work_item(&worker_id, &queue_types)
                })
                .await
            }

            async fn renew_lease(&self, item_id: WorkItemId, worker_id: &str) -> BackendResult<()> {
                let worker_id = worker_id.to_owned();
                call(&self.store, move |store| store.renew_lease(&item_id, &worker_id)).await
            }

            async fn complete_work_item(&self, item_id: WorkItemId) -> BackendResult<()> {
                call(&self.store, move |store| store.complete_work_item(&item_id)).await
            }

            async fn fail_work_item(&self, item_id: WorkItemId, error: &str) -> BackendResult<()> {
                let error = error.to_owned();
                call(&self.store, move |store| store.fail_work_item(&item_id, &error)).await
            }

            async fn reclaim_expired_leases(&self) -> BackendResult<ReclaimResult> {
                call(&self.store, |store| store.reclaim_expired_leases()).await
            }

            async fn move_to_dead_letter(&self, item_id: WorkItemId, last_error: &str) -> BackendResult<()> {
                let error = last_error.to_owned();
                call(&self.store, move |store| store.move_to_dead_letter(&item_id, &error)).await
            }

            async fn create_token(&self, name: &str, role: &str) -> BackendResult<(String, ApiToken)> {
                let (name, role) = (name.to_owned(), role.to_owned());
                call(&self.store, move |store| store.create_token(&name, &role)).await
            }

            async fn validate_token(&self, token: &str) -> BackendResult<Option<ApiToken>> {
                let token = token.to_owned();
                call(&self.store, move |store| store.validate_token(&token)).await
            }

            async fn create_tenant(&self, tenant: Tenant) -> BackendResult<()> {
                call(&self.store, move |store| store.create_tenant(&tenant)).await
            }

            async fn get_tenant(&self, id: &TenantId) -> BackendResult<Option<Tenant>> {
                let id = id.clone();
                call(&self.store, move |store| store.get_tenant(&id)).await
            }

            async fn list_tenants(&self) -> BackendResult<Vec<Tenant>> {
                call(&self.store, |store| store.list_tenants()).await
            }

            async fn update_tenant(&self, tenant: Tenant) -> BackendResult<()> {
                call(&self.store, move |store| store.update_tenant(&tenant)).await
            }
        }
    };
}

state_backend_over_the_store!(SqliteBackend);
#[cfg(feature = "postgres")]
state_backend_over_the_store!(PostgresBackend);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_every_accepted_form_parse() {
        let file = |p: &str| Location::File(PathBuf::from(p));
        assert_eq!(parse_url("sqlite:///tmp/a.db").unwrap(), file("/tmp/a.db"));
        assert_eq!(parse_url("sqlite://rel/a.db?mode=rwc").unwrap(), file("rel/a.db"));
        assert_eq!(parse_url("sqlite:a.db").unwrap(), file("a.db"));
        assert_eq!(parse_url("sqlite::memory:").unwrap(), Location::Memory);
        assert_eq!(parse_url("/plain/path.db").unwrap(), file("/plain/path.db"));
        assert_eq!(parse_url("sqlite://x.db?cache=shared").unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(parse_url("sqlite://").unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn every_kind_maps_to_a_variant_naming_it() {
        for kind in ErrorKind::ALL {
            let mapped = to_backend_error(Error::new(kind, "m"));
            let shown = mapped.to_string();
            match kind {
                ErrorKind::NotFound | ErrorKind::SequenceConflict | ErrorKind::Database | ErrorKind::Serialization => {}
                other => assert!(shown.contains(other.code()), "{shown}"),
            }
        }
    }
}

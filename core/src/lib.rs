//! jetstate: the durable state of a workflow or AI-agent engine, embedded in one SQLite file or,
//! with the `postgres` feature, on a PostgreSQL server.
//!
//! A registry of workflow definitions, executions with their state, an append-only event log with
//! snapshots, a work queue with leases, fencing tokens, retries and a dead-letter queue, API
//! tokens and tenants. One synchronous core ([`Store`]) holds every rule; the async
//! [`StateBackend`] surface ([`SqliteBackend`], and `PostgresBackend` with the `postgres`
//! feature) and the Python, Node and browser bindings are thin layers over it.
//!
//! ```
//! use jetstate::{Options, Store, WorkItem, WorkflowExecution};
//!
//! let store = Store::open_in_memory(Options::default())?;
//! let execution = WorkflowExecution::new("crawl", "1", serde_json::json!({}));
//! store.create_execution(&execution)?;
//! let item = WorkItem::new(execution.execution_id.clone(), "fetch", "default", serde_json::json!({"url": "https://example.com"}));
//! store.enqueue_work_item(&item)?;
//! let lease = store.claim_fenced("worker-1", &["default"], None)?.expect("an item is pending");
//! store.complete_fenced(&lease.item.id, lease.token)?;
//! # Ok::<(), jetstate::Error>(())
//! ```
//!
//! `core/DESIGN.md` lists the invariants, the SQLite pragmas relied on, and what each
//! durability promises.

pub mod backend;
pub mod clock;
mod database;
pub mod error;
pub mod event;
mod event_log;
mod executions;
mod location;
pub mod materializer;
pub mod options;
#[cfg(feature = "postgres")]
mod postgres;
pub mod queue;
mod registry;
/// The schema version and the file's application id (SQLite).
pub mod schema {
    pub use crate::sqlite::schema::{APPLICATION_ID, SCHEMA_VERSION};
}
pub mod snapshot;
mod sql;
mod sqlite;
pub mod store;
pub mod summary;
pub mod tenant;
pub mod tokens;
pub mod transfer;
pub mod wire;
pub mod workflow;

pub use backend::materialize;
pub use backend::{
    ApiToken, BackendResult, ReclaimResult, SqliteBackend, StateBackend, StateBackendError, TenantScopedSqliteBackend,
    WorkItem, WorkItemId, WorkflowDefinition,
};
#[cfg(feature = "postgres")]
pub use backend::{PostgresBackend, TenantScopedPostgresBackend};
pub use clock::Clock;
pub use error::{Error, ErrorKind, Result};
pub use event::{ApprovalDecision, Event, EventKind, EventSequence, ProvenanceMetadata};
pub use event_log::{StoredEvent, MAX_SEQUENCE};
pub use location::{Location, ServerUrl};
pub use materializer::{apply_events, should_snapshot, MaterializedState};
pub use options::{Durability, Options};
pub use queue::{
    Cancel, EnqueueOptions, EnqueueOutcome, Enqueued, Lease, LeaseToken, OnDuplicate, PruneReport, QueueEntry,
    QueueInfo, QueueSettings, RateLimit, RetentionPolicy, WorkItemStatus,
};
pub use snapshot::Snapshot;
pub use sql::MAX_JSON_DEPTH;
pub use sqlite::writer::WriteStats;
pub use store::Store;
pub use summary::Summary;
pub use tenant::{Tenant, TenantId, TenantLimits, TenantStatus, DEFAULT_TENANT};
pub use tokens::TokenRecord;
pub use transfer::{Progress, RowCounts};
pub use workflow::{ExecutionId, SessionType, WorkflowExecution, WorkflowStatus};

/// Re-exported so that users build ids and JSON values with the same versions as the core.
pub use {chrono, serde_json, uuid};

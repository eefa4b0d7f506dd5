//! The synchronous [`Store`]: every operation of the contract as a plain method, each one
//! transaction. It ties the rule modules together and holds no SQL of its own.
//!
//! A `Store` is cheap to clone (an `Arc`), `Send + Sync`, and safe to share across threads;
//! several processes may open the same file. A tenant view (`for_tenant`) is a `Store` too,
//! confined to one tenant.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock::{from_micros, to_micros, Clock};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, EventSequence};
use crate::event_log::{self, NewEvent, StoredEvent};
use crate::executions;
use crate::location::Location;
use crate::materializer::{self, MaterializedState};
use crate::options::{self, Durability, Options};
use crate::queue::wait::{self, Attempt, Notifier};
use crate::queue::{
    self, claim, limits, retention, Backoff, Cancel, EnqueueOptions, Enqueued, Holder, Lease, LeaseToken, PruneReport,
    QueueEntry, QueueInfo, QueueSettings, ReclaimResult, RetentionPolicy, WorkItem, WorkItemId, WorkItemStatus,
};
use crate::registry::{self, WorkflowDefinition};
use crate::snapshot::{self, Snapshot};
use crate::sql::Conn;
use crate::tenant::{self, Tenant, TenantId};
use crate::tokens::{self, ApiToken, TokenRecord};
use crate::transfer::{self, Progress, RowCounts};
use crate::workflow::{ExecutionId, WorkflowExecution, WorkflowStatus};

/// How often a waiting claim on a manual clock looks again (the clock moves only when told).
const MANUAL_CLOCK_LOOK: Duration = Duration::from_millis(5);

struct Shared {
    db: Database,
    options: Options,
    /// Wakes the waiting claims of this database in this process (`queue/wait.rs`).
    notifier: Arc<Notifier>,
    /// Queue types this handle's last claim of them found gated (paused or limited), and whether
    /// rate limited: their next claim goes to the gated path at once. A hint only
    /// (`claim::ClaimRequest::seen`); a type not here was open.
    gated: std::sync::Mutex<std::collections::HashMap<String, claim::Seen>>,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An embedded jetstate database. See the crate documentation for an example.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    /// `Some` for a tenant view: every call is confined to this tenant.
    tenant: Option<TenantId>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", self.shared.db.location())
            .field("durability", &self.shared.db.durability())
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path`; `":memory:"` opens a
    /// private in-memory database. A file that is not a jetstate database, or of a newer schema,
    /// is refused (Database) and left unmodified.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Store> {
        Store::open_at(Location::from_path(path), options)
    }

    /// Opens a private in-memory database.
    pub fn open_in_memory(options: Options) -> Result<Store> {
        Store::open_at(Location::Memory, options)
    }

    pub fn open_at(location: Location, options: Options) -> Result<Store> {
        options.validate()?;
        let db = Database::open(location, &options)?;
        let notifier = Notifier::shared(db.identity());
        let gated = std::sync::Mutex::default();
        Ok(Store { shared: Arc::new(Shared { db, options, notifier, gated }), tenant: None })
    }

    /// A view confined to `tenant`: it reads, lists, claims and changes only that tenant's rows,
    /// and writes new rows for it (a write when the tenant does not exist: NotFound).
    pub fn for_tenant(&self, tenant: impl Into<TenantId>) -> Store {
        Store { shared: Arc::clone(&self.shared), tenant: Some(tenant.into()) }
    }

    /// The tenant this view is confined to; `None` for the unscoped store.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    pub fn clock(&self) -> &Clock {
        &self.shared.options.clock
    }

    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    pub fn location(&self) -> &Location {
        self.shared.db.location()
    }

    pub fn durability(&self) -> Durability {
        self.shared.db.durability()
    }

    /// Closes the database for every clone and view of this store; later calls fail with a
    /// Database error. Idempotent.
    pub fn close(&self) -> Result<()> {
        self.shared.db.close()
    }

    /// How many write calls this store committed, and in how many commits (group commit lets
    /// one commit carry several callers' calls).
    pub fn write_stats(&self) -> crate::sqlite::writer::WriteStats {
        self.shared.db.write_stats()
    }

    pub fn is_closed(&self) -> bool {
        self.shared.db.is_closed()
    }

    /// Runs `calls` (calls of this store and its views, made by this thread) so that their writes
    /// share one transaction and one commit: each write is still atomic on its own (one that
    /// fails is rolled back alone, the others are kept), and each read sees the group's earlier
    /// writes, as if the calls ran one after the other. `Ok` with what `calls` returned once the
    /// group is committed; if `calls` returns an error or panics, or the commit fails, nothing of
    /// the group is written and the error is returned.
    ///
    /// A write that returned `Ok` inside `calls` is not durable yet: acknowledge none of them
    /// before `group` returned `Ok`. For a host with one thread that receives several calls at
    /// once (the browser's worker); threads that call concurrently share commits without asking.
    /// Other threads' calls wait while a group is open. Closing the store inside a group is
    /// refused.
    pub fn group<T>(&self, calls: impl FnOnce() -> Result<T>) -> Result<T> {
        self.shared.db.group(calls)
    }

    fn scope(&self) -> Option<&str> {
        self.tenant.as_ref().map(TenantId::as_str)
    }

    /// The time on the store's clock (on PostgreSQL with the system clock, the server's).
    fn now_micros(&self) -> Result<i64> {
        self.shared.db.now_micros(&self.shared.options.clock)
    }

    /// One atomic write; `work` gets the connection, the scope and the time of the call. An engine
    /// may make a call again after a transient failure (PostgreSQL), so `work` is `FnMut`.
    fn write<T>(&self, mut work: impl FnMut(&dyn Conn, Option<&str>, i64) -> Result<T>) -> Result<T> {
        self.shared.db.write(&self.shared.options.clock, |conn, now| work(conn, self.scope(), now))
    }

    /// [`Store::write`] for a rule that writes with one statement (see [`Database::write_one`]).
    fn write_one<T>(&self, mut work: impl FnMut(&dyn Conn, Option<&str>, i64) -> Result<T>) -> Result<T> {
        self.shared.db.write_one(&self.shared.options.clock, |conn, now| work(conn, self.scope(), now))
    }

    /// A read of one statement.
    fn read<T>(&self, mut work: impl FnMut(&dyn Conn, Option<&str>) -> Result<T>) -> Result<T> {
        self.shared.db.read(|conn| work(conn, self.scope()))
    }

    /// A read of several statements, in one snapshot.
    fn read_consistent<T>(&self, mut work: impl FnMut(&dyn Conn, Option<&str>) -> Result<T>) -> Result<T> {
        self.shared.db.read_consistent(|conn| work(conn, self.scope()))
    }

    fn backoff(&self) -> Backoff {
        let options = &self.shared.options;
        Backoff { base: options.backoff_base, cap: options.backoff_cap, jitter: options.backoff_jitter }
    }

    fn lease(&self, lease: Option<Duration>) -> Result<Duration> {
        match lease {
            None => Ok(self.shared.options.lease),
            Some(lease) => options::validate_lease(lease).map(|()| lease),
        }
    }

    // ── Workflow definitions ─────────────────────────────────────────────────────────────────

    /// Stores a definition; an existing (tenant, workflow_id, version) has its IR replaced.
    pub fn store_workflow(&self, def: &WorkflowDefinition) -> Result<()> {
        self.write(|conn, scope, _| registry::store(conn, scope, def))
    }

    pub fn get_workflow(&self, workflow_id: &str, version: &str) -> Result<Option<WorkflowDefinition>> {
        self.read(|conn, scope| registry::get(conn, scope, workflow_id, version))
    }

    // ── Executions ───────────────────────────────────────────────────────────────────────────

    /// Creates an execution. On Conflict (the id exists) the stored row is untouched.
    pub fn create_execution(&self, execution: &WorkflowExecution) -> Result<()> {
        self.write_one(|conn, scope, _| executions::create(conn, scope, execution))
    }

    pub fn get_execution(&self, id: &ExecutionId) -> Result<Option<WorkflowExecution>> {
        self.read(|conn, scope| executions::get(conn, scope, id))
    }

    /// Sets the status (a terminal one sets `completed_at`). Unknown execution: NotFound.
    pub fn update_execution_status(&self, id: &ExecutionId, status: WorkflowStatus) -> Result<()> {
        self.write(|conn, scope, now| executions::update_status(conn, scope, id, status, now))
    }

    /// Replaces the current state. Unknown execution: NotFound.
    pub fn update_execution_current_state(&self, id: &ExecutionId, state: &Value) -> Result<()> {
        self.write(|conn, scope, now| executions::update_current_state(conn, scope, id, state, now))
    }

    /// Appends `value` to the array at `key` of the state (created if absent), atomically.
    /// A state that is not an object or a key holding a non-array: InvalidArgument, state untouched.
    pub fn patch_append_array(&self, id: &ExecutionId, key: &str, value: Value) -> Result<()> {
        self.write(|conn, scope, now| executions::patch_append_array(conn, scope, id, key, &value, now))
    }

    /// Executions, newest `updated_at` first (ties by id), optionally of one status.
    pub fn list_executions(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<WorkflowExecution>> {
        self.read(|conn, scope| executions::list(conn, scope, status, limit, offset))
    }

    // ── Event log ────────────────────────────────────────────────────────────────────────────

    /// Appends an event at its own sequence. On SequenceConflict (the sequence is used) or
    /// NotFound (unknown execution) nothing is written.
    pub fn append_event(&self, event: Event) -> Result<EventSequence> {
        let sequence = event.sequence;
        self.append_events(vec![event])?;
        Ok(sequence)
    }

    /// Appends several events, possibly of several executions, all or nothing.
    pub fn append_events(&self, events: Vec<Event>) -> Result<()> {
        let new = events.into_iter().map(NewEvent::typed).collect::<Result<Vec<_>>>()?;
        self.append(&new)
    }

    /// One insert per event: a single event is one statement.
    fn append(&self, new: &[NewEvent]) -> Result<()> {
        let append = |conn: &dyn Conn, scope: Option<&str>, _| event_log::append(conn, scope, new);
        if new.len() == 1 {
            self.write_one(append)
        } else {
            self.write(append)
        }
    }

    /// Appends `kind` at the execution's next sequence (latest + 1), atomically: no gaps and no
    /// duplicates whatever the concurrency. Returns the event written.
    pub fn append_next_event(&self, execution_id: &ExecutionId, kind: EventKind) -> Result<Event> {
        let mut events = self.append_next_events(execution_id, vec![kind])?;
        events.pop().ok_or_else(|| Error::internal("one kind appended, no event returned"))
    }

    /// Appends `kinds` at the next sequences, all or nothing; returns the events written.
    pub fn append_next_events(&self, execution_id: &ExecutionId, kinds: Vec<EventKind>) -> Result<Vec<Event>> {
        let encoded = kinds.iter().map(EventKind::encode).collect::<Result<Vec<_>>>()?;
        self.append_next_encoded(execution_id, encoded, kinds, |id, sequence, kind, created_at| Event {
            id,
            execution_id: execution_id.clone(),
            sequence,
            kind,
            created_at,
        })
    }

    /// [`Store::append_events`] for kinds given as JSON (the bindings' path): each kind must be an
    /// object with a string `type`; it is stored exactly as given.
    pub fn append_events_raw(&self, events: &[StoredEvent]) -> Result<()> {
        let new = events.iter().map(NewEvent::raw).collect::<Result<Vec<_>>>()?;
        self.append(&new)
    }

    /// [`Store::append_event`] for a kind given as JSON, stored exactly as given: the bindings'
    /// `append_event`. Returns the event's sequence.
    pub fn append_event_raw(&self, event: &StoredEvent) -> Result<EventSequence> {
        self.append_events_raw(std::slice::from_ref(event)).map(|()| event.sequence)
    }

    /// [`Store::append_next_events`] for kinds given as JSON, stored exactly as given.
    pub fn append_next_raw(&self, execution_id: &ExecutionId, kinds: Vec<Value>) -> Result<Vec<StoredEvent>> {
        let encoded = kinds
            .iter()
            .map(|kind| Ok((crate::event::kind_type(kind)?.to_string(), crate::sql::json_text(kind)?)))
            .collect::<Result<Vec<_>>>()?;
        self.append_next_encoded(execution_id, encoded, kinds, |id, sequence, kind, created_at| StoredEvent {
            id,
            execution_id: execution_id.clone(),
            sequence,
            kind,
            created_at,
        })
    }

    /// The shared body of the next-sequence appends: writes the encoded kinds, then makes each
    /// record from its kind and the id, sequence and time it was given.
    fn append_next_encoded<K, R>(
        &self,
        execution_id: &ExecutionId,
        encoded: Vec<(String, String)>,
        kinds: Vec<K>,
        record: impl Fn(uuid::Uuid, EventSequence, K, DateTime<Utc>) -> R,
    ) -> Result<Vec<R>> {
        let (written, now) = self.write(|conn, scope, now| {
            event_log::append_next(conn, scope, execution_id, &encoded, now).map(|written| (written, now))
        })?;
        Ok(written
            .into_iter()
            .zip(kinds)
            .map(|((id, sequence), kind)| record(id, sequence, kind, from_micros(now)))
            .collect())
    }

    /// Events after `since` (exclusive), ascending, with kinds exactly as stored.
    pub fn get_events_raw(&self, execution_id: &ExecutionId, since: EventSequence) -> Result<Vec<StoredEvent>> {
        self.read(|conn, scope| event_log::since(conn, scope, execution_id, since))
    }

    /// [`Store::get_events_raw`] as the JSON text of the events' wire form, each kind spliced in as
    /// stored (the JavaScript surfaces' path: no parse and print of every kind).
    pub fn get_events_json(&self, execution_id: &ExecutionId, since: EventSequence) -> Result<String> {
        self.read(|conn, scope| event_log::since_json(conn, scope, execution_id, since))
    }

    /// All events of an execution, ascending (none for an unknown execution).
    pub fn get_events(&self, execution_id: &ExecutionId) -> Result<Vec<Event>> {
        self.get_events_since(execution_id, 0)
    }

    /// Events with sequence > `since`, ascending.
    pub fn get_events_since(&self, execution_id: &ExecutionId, since: EventSequence) -> Result<Vec<Event>> {
        self.read(|conn, scope| event_log::typed_since(conn, scope, execution_id, since))
    }

    /// The highest sequence of the execution; 0 when it has no events.
    pub fn latest_sequence(&self, execution_id: &ExecutionId) -> Result<EventSequence> {
        self.read(|conn, scope| event_log::latest_sequence(conn, scope, execution_id))
    }

    // ── Snapshots ────────────────────────────────────────────────────────────────────────────

    /// Writes a snapshot; one at the same `at_sequence` is replaced. Unknown execution: NotFound.
    pub fn write_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        self.write(|conn, scope, _| {
            executions::ensure_exists(conn, scope, &snapshot.execution_id)?;
            snapshot::write(conn, snapshot)
        })
    }

    /// The snapshot with the highest `at_sequence`, if any.
    pub fn latest_snapshot(&self, execution_id: &ExecutionId) -> Result<Option<Snapshot>> {
        self.read_consistent(|conn, scope| match executions::ensure_exists(conn, scope, execution_id) {
            // Another tenant's (or an unknown) execution has no snapshot to show.
            Err(err) if err.kind() == crate::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
            Ok(()) => snapshot::latest(conn, execution_id),
        })
    }

    // ── Materialization ──────────────────────────────────────────────────────────────────────

    /// The execution's state rebuilt from its latest snapshot and events, read in one
    /// transaction. Unknown execution: NotFound.
    pub fn materialize(&self, execution_id: &ExecutionId) -> Result<MaterializedState> {
        self.read_consistent(|conn, scope| {
            let execution = executions::get(conn, scope, execution_id)?
                .ok_or_else(|| Error::not_found(format!("execution not found: {execution_id}")))?;
            let (base, at) = match snapshot::latest(conn, execution_id)? {
                Some(snapshot) => (snapshot.state, snapshot.at_sequence),
                None => (execution.initial_input, 0),
            };
            let events = event_log::typed_since(conn, scope, execution_id, 0)?;
            Ok(materializer::fold(base, at, &events, WorkflowStatus::Pending))
        })
    }

    // ── Queue ────────────────────────────────────────────────────────────────────────────────

    /// Enqueues an item as pending. An existing id: Conflict, nothing written.
    pub fn enqueue_work_item(&self, item: &WorkItem) -> Result<WorkItemId> {
        self.enqueue(item, &EnqueueOptions::default()).map(|enqueued| enqueued.id)
    }

    /// Enqueues an item with `options` (a run time, a priority, a unique key, a partition): the
    /// answer names the item that now stands for it, and whether it was written or another one
    /// that holds its unique key was kept or replaced (`EnqueueOptions::on_duplicate`). An
    /// existing id: Conflict; bad options: InvalidArgument; nothing written either way.
    pub fn enqueue(&self, item: &WorkItem, options: &EnqueueOptions) -> Result<Enqueued> {
        let enqueue = |conn: &dyn Conn, scope: Option<&str>, now| queue::enqueue(conn, scope, item, options, now);
        // A plain item is one statement; a unique key may need to read and change its holder.
        let enqueued = if options.unique_key.is_none() { self.write_one(enqueue) } else { self.write(enqueue) }?;
        self.announce_work(std::iter::once(item));
        Ok(enqueued)
    }

    /// Enqueues several items (a fan-out), all or nothing: on any error none is enqueued.
    pub fn enqueue_work_items(&self, items: &[WorkItem]) -> Result<Vec<WorkItemId>> {
        let plain: Vec<(WorkItem, EnqueueOptions)> =
            items.iter().map(|item| (item.clone(), EnqueueOptions::default())).collect();
        Ok(self.enqueue_batch(&plain)?.into_iter().map(|enqueued| enqueued.id).collect())
    }

    /// Enqueues several items, each with its options, all or nothing, in one commit. Unique keys
    /// apply within the batch too: a later item whose key an earlier one took is a duplicate.
    pub fn enqueue_batch(&self, items: &[(WorkItem, EnqueueOptions)]) -> Result<Vec<Enqueued>> {
        let enqueue = |conn: &dyn Conn, scope: Option<&str>, now| queue::enqueue_many(conn, scope, items, now);
        // A single plain item is one statement.
        let enqueued = match items {
            [(_, options)] if options.unique_key.is_none() => self.write_one(enqueue),
            _ => self.write(enqueue),
        }?;
        self.announce_work(items.iter().map(|(item, _)| item));
        Ok(enqueued)
    }

    /// Appends `kinds` at the execution's next sequences and enqueues `items`, in one commit, all
    /// or nothing: an engine schedules nodes and records that it did (`node_scheduled`) at once.
    /// Kinds are JSON objects with a string `type`, stored as given.
    pub fn append_and_enqueue(
        &self,
        execution_id: &ExecutionId,
        kinds: Vec<Value>,
        items: &[(WorkItem, EnqueueOptions)],
    ) -> Result<(Vec<StoredEvent>, Vec<Enqueued>)> {
        let encoded = kinds
            .iter()
            .map(|kind| Ok((crate::event::kind_type(kind)?.to_string(), crate::sql::json_text(kind)?)))
            .collect::<Result<Vec<_>>>()?;
        let (written, enqueued, now) = self.write(|conn, scope, now| {
            let written = event_log::append_next(conn, scope, execution_id, &encoded, now)?;
            let enqueued = queue::enqueue_many(conn, scope, items, now)?;
            Ok((written, enqueued, now))
        })?;
        self.announce_work(items.iter().map(|(item, _)| item));
        let events = written
            .into_iter()
            .zip(kinds)
            .map(|((id, sequence), kind)| StoredEvent {
                id,
                execution_id: execution_id.clone(),
                sequence,
                kind,
                created_at: from_micros(now),
            })
            .collect();
        Ok((events, enqueued))
    }

    /// Wakes this process's waiting claims of this database.
    fn announce(&self) {
        self.shared.notifier.ring();
    }

    /// Wakes as many of this process's waiting claims of each item's queue type as it has new
    /// items, no more (their enqueue's statement NOTIFYs other processes on PostgreSQL).
    fn announce_work<'i>(&self, items: impl IntoIterator<Item = &'i WorkItem>) {
        let mut by_type: Vec<(&str, usize)> = Vec::new();
        for item in items {
            match by_type.iter_mut().find(|(queue_type, _)| *queue_type == item.queue_type) {
                Some((_, count)) => *count += 1,
                None => by_type.push((&item.queue_type, 1)),
            }
        }
        for (queue_type, count) in by_type {
            self.shared.notifier.ring_work(queue_type, count);
        }
    }

    /// The item with its queue status, last error, retry time and lease token.
    pub fn get_work_item(&self, id: &WorkItemId) -> Result<Option<QueueEntry>> {
        self.read(|conn, scope| queue::get(conn, scope, id))
    }

    /// Items with their queue status, oldest first, optionally of one status (for example the
    /// dead-letter queue). For inspection: it may read the whole table.
    pub fn list_work_items(&self, status: Option<WorkItemStatus>, limit: u32, offset: u32) -> Result<Vec<QueueEntry>> {
        self.read(|conn, scope| queue::list(conn, scope, status, limit, offset))
    }

    /// Claims the first eligible pending item of `queue_types` with the store's lease.
    pub fn claim_work_item(&self, worker_id: &str, queue_types: &[&str]) -> Result<Option<WorkItem>> {
        Ok(self.claim_fenced(worker_id, queue_types, None)?.map(|lease| lease.item))
    }

    /// Claims like [`Store::claim_work_item`] and returns the lease with its fencing token;
    /// `lease` overrides the store's lease length for this claim.
    pub fn claim_fenced(
        &self,
        worker_id: &str,
        queue_types: &[&str],
        lease: Option<Duration>,
    ) -> Result<Option<Lease>> {
        Ok(self.claim_batch(worker_id, queue_types, 1, lease)?.pop())
    }

    /// Claims up to `max` items of `queue_types` in one transaction, each under its own lease
    /// and token, in the claim's order (priority, then run time): fewer, or none, when fewer are
    /// claimable or the queues' limits admit fewer. `max` 0: InvalidArgument.
    pub fn claim_batch(
        &self,
        worker_id: &str,
        queue_types: &[&str],
        max: usize,
        lease: Option<Duration>,
    ) -> Result<Vec<Lease>> {
        let single = match queue_types {
            [queue_type] => Some(*queue_type),
            _ => None,
        };
        let lease = self.lease(lease)?;
        let mut seen = single
            .and_then(|queue_type| lock(&self.shared.gated).get(queue_type).copied())
            .unwrap_or(claim::Seen::Open);
        // Twice at most: a claim made with a stale hint says so, and the second is told.
        loop {
            let request = claim::ClaimRequest { worker_id, queue_types, max, lease, seen };
            let claim = |conn: &dyn Conn, scope: Option<&str>, now| claim::claim(conn, scope, &request, now);
            // One open queue type is claimed by one statement; several, or a gated one, are
            // sought first, under locks (the rule asks for a transaction when it finds it needs one).
            let claimed =
                if single.is_some() && seen == claim::Seen::Open { self.write_one(claim) } else { self.write(claim) }?;
            if let Some(queue_type) = single {
                if claimed.seen != seen {
                    let mut gated = lock(&self.shared.gated);
                    match claimed.seen {
                        claim::Seen::Open => gated.remove(queue_type),
                        other => gated.insert(queue_type.to_string(), other),
                    };
                }
            }
            if !claimed.again || claimed.seen == seen {
                return Ok(claimed.leases);
            }
            seen = claimed.seen;
        }
    }

    /// [`Store::claim_batch`], waiting up to `timeout` for items to become claimable when none
    /// is: it returns as soon as a claim takes something, with nothing at the timeout, or at once
    /// with nothing when `cancel` is cancelled (from another thread). An enqueue of this process
    /// wakes it at once; another process's is seen by polling on SQLite (`queue/wait.rs` says how
    /// often and why) and by LISTEN/NOTIFY on PostgreSQL.
    pub fn claim_wait(
        &self,
        worker_id: &str,
        queue_types: &[&str],
        max: usize,
        lease: Option<Duration>,
        timeout: Duration,
        cancel: Option<&Cancel>,
    ) -> Result<Vec<Lease>> {
        let lease = self.lease(lease)?;
        if max == 0 {
            return Err(Error::invalid("a claim takes at least one item (max 0 asks for none)"));
        }
        if timeout.is_zero() {
            // One try, no wait: nothing to watch or time (a host without threads or clocks to
            // wait with, the browser's worker, waits between such tries itself).
            return self.claim_batch(worker_id, queue_types, max, Some(lease));
        }
        let mut watch = self.shared.db.watch(&self.shared.notifier)?;
        // Whether one of the queue types is gated, as this handle's claims found them.
        let gated = || {
            let gated = lock(&self.shared.gated);
            queue_types.len() > 1 || queue_types.iter().any(|queue_type| gated.contains_key(*queue_type))
        };
        wait::wait_for(
            &self.shared.notifier,
            queue_types,
            timeout,
            cancel,
            |cause| {
                // Told (the first try, an enqueue): claim at once, and if nothing was there, read
                // only when to look again. Looked (another process committed something, or it is
                // time): a read first, so that a claim (a write, SQLite's lock) is made only when
                // there is work.
                let (taken, next_due, now) = if cause == wait::Cause::Told {
                    let taken = self.claim_batch(worker_id, queue_types, max, Some(lease))?;
                    if !taken.is_empty() {
                        return Ok(Attempt { taken, next_due: None, gated: false });
                    }
                    let now = self.now_micros()?;
                    let next_due = match queue_types {
                        [_] => self.read(|conn, scope| limits::next_due(conn, scope, queue_types, now))?,
                        _ => self.read_consistent(|conn, scope| limits::next_due(conn, scope, queue_types, now))?,
                    };
                    (taken, next_due, now)
                } else {
                    let now = self.now_micros()?;
                    let (ready, next_due) = self.read_consistent(|conn, scope| {
                        let ready = claim::any_ready(conn, scope, queue_types, now)?;
                        let next_due = if ready { None } else { limits::next_due(conn, scope, queue_types, now)? };
                        Ok((ready, next_due))
                    })?;
                    let taken =
                        if ready { self.claim_batch(worker_id, queue_types, max, Some(lease))? } else { Vec::new() };
                    (taken, next_due, now)
                };
                let next_due = next_due.map(|at| Duration::from_micros(u64::try_from(at - now).unwrap_or(0)));
                // A manual clock moves only when told: look again soon rather than sleep by it.
                let next_due = match self.clock().is_manual() {
                    true => Some(next_due.map_or(MANUAL_CLOCK_LOOK, |due| due.min(MANUAL_CLOCK_LOOK))),
                    false => next_due,
                };
                Ok(Attempt { taken, next_due, gated: gated() })
            },
            || watch.changed(),
        )
    }

    /// Extends the live lease held by `worker_id` to now + lease. Otherwise NotFound.
    pub fn renew_lease(&self, id: &WorkItemId, worker_id: &str) -> Result<()> {
        let lease = self.lease(None)?;
        self.write(|conn, scope, now| queue::renew(conn, scope, id, Holder::Worker(worker_id), lease, None, now))
            .map(|_| ())
    }

    /// Extends the live lease `token` to now + lease; returns the new expiry. LeaseLost unless
    /// that lease is current and live; nothing changes then.
    pub fn renew_fenced(&self, id: &WorkItemId, token: LeaseToken, lease: Option<Duration>) -> Result<DateTime<Utc>> {
        let lease = self.lease(lease)?;
        self.write(|conn, scope, now| queue::renew(conn, scope, id, Holder::Token(token), lease, None, now))
    }

    /// [`Store::renew_fenced`], recording `progress` (any JSON value) for operators to see on the
    /// item (`QueueEntry::progress`). Nothing changes when the lease is not live (LeaseLost).
    pub fn renew_with_progress(
        &self,
        id: &WorkItemId,
        token: LeaseToken,
        progress: &Value,
        lease: Option<Duration>,
    ) -> Result<DateTime<Utc>> {
        let lease = self.lease(lease)?;
        self.write(|conn, scope, now| queue::renew(conn, scope, id, Holder::Token(token), lease, Some(progress), now))
    }

    /// Completes the current claim. Unknown item: NotFound; an item not claimed (reclaimed,
    /// failed, dead-lettered): LeaseLost, not moved; completing a completed item changes nothing.
    pub fn complete_work_item(&self, id: &WorkItemId) -> Result<()> {
        self.write_one(|conn, scope, now| queue::finish(conn, scope, id, Holder::AnyClaim, None, now))?;
        self.announce_slot();
        Ok(())
    }

    /// Completes the item if lease `token` is still its current one; otherwise LeaseLost and
    /// nothing changes.
    pub fn complete_fenced(&self, id: &WorkItemId, token: LeaseToken) -> Result<()> {
        self.write_one(|conn, scope, now| queue::finish(conn, scope, id, Holder::Token(token), None, now))?;
        self.announce_slot();
        Ok(())
    }

    /// Fails the current claim, keeping `error`. Same outcomes as [`Store::complete_work_item`].
    pub fn fail_work_item(&self, id: &WorkItemId, error: &str) -> Result<()> {
        self.write_one(|conn, scope, now| queue::finish(conn, scope, id, Holder::AnyClaim, Some(error), now))?;
        self.announce_slot();
        Ok(())
    }

    /// Fails the item if lease `token` is still its current one; otherwise LeaseLost.
    pub fn fail_fenced(&self, id: &WorkItemId, token: LeaseToken, error: &str) -> Result<()> {
        self.write_one(|conn, scope, now| queue::finish(conn, scope, id, Holder::Token(token), Some(error), now))?;
        self.announce_slot();
        Ok(())
    }

    /// Completes several fenced items in one commit. Each answer says whether that item is
    /// completed under its token (by this call, or already by the same lease) or its lease was
    /// lost (reclaimed, cancelled, claimed again: left as it is). An unknown item: NotFound, and
    /// none is completed.
    pub fn complete_batch(&self, leases: &[(WorkItemId, LeaseToken)]) -> Result<Vec<bool>> {
        // One statement on PostgreSQL (see `queue::complete_batch`).
        let settled = self.write_one(|conn, scope, now| queue::complete_batch(conn, scope, leases, now))?;
        self.announce_slot();
        Ok(settled)
    }

    /// Cancels an item: a pending one is never claimed; a claimed one's holder gets LeaseLost at
    /// its next renew or complete, telling it to stop. Returns the status the item had. A
    /// cancelled item: nothing changes; a finished one: InvalidArgument; unknown: NotFound.
    pub fn cancel_work_item(&self, id: &WorkItemId) -> Result<WorkItemStatus> {
        let before = self.write(|conn, scope, now| queue::cancel(conn, scope, id, now))?;
        self.announce_slot();
        Ok(before)
    }

    /// A finished or cancelled claim frees a slot of a limited queue: the waiting claims of
    /// gated queue types look again (the others wait for work, which this is not).
    fn announce_slot(&self) {
        self.shared.notifier.ring_slot();
    }

    /// Reclaims every expired lease (see the `queue` module), in one transaction; in the same
    /// transaction, when a retention policy is stored ([`Store::set_retention`]), prunes one step
    /// of what it lets go (so that the call is one commit: it either did both or neither).
    pub fn reclaim_expired_leases(&self) -> Result<ReclaimResult> {
        let backoff = self.backoff();
        let reclaimed = self.write(|conn, scope, now| {
            let reclaimed = queue::reclaim(conn, scope, backoff, now)?;
            if let Some(policy) = retention::stored(conn)? {
                retention::prune_step(conn, scope, &policy, now, false)?;
            }
            Ok(reclaimed)
        })?;
        if !reclaimed.retryable.is_empty() {
            self.announce();
        }
        Ok(reclaimed)
    }

    /// Moves an item to the dead-letter queue with `error`, payload kept. A completed item:
    /// InvalidArgument, not moved.
    pub fn move_to_dead_letter(&self, id: &WorkItemId, error: &str) -> Result<()> {
        self.write(|conn, scope, now| queue::move_to_dead_letter(conn, scope, id, error, now))
    }

    /// Sends a dead-lettered item back to the queue to be tried afresh (pending, attempt 0, its
    /// payload and last error kept). Not dead-lettered, or unknown: NotFound, nothing changes.
    pub fn requeue_dead_letter(&self, id: &WorkItemId) -> Result<()> {
        self.write(|conn, scope, now| queue::requeue_dead_letters(conn, scope, Some(id), now))?;
        self.announce_everywhere();
        Ok(())
    }

    /// Sends every dead-lettered item (of the view's tenant) back to the queue; returns how many.
    pub fn requeue_all_dead_letters(&self) -> Result<usize> {
        let moved = self.write(|conn, scope, now| queue::requeue_dead_letters(conn, scope, None, now))?;
        self.announce_everywhere();
        Ok(moved)
    }

    /// [`Store::announce`], and to other processes on PostgreSQL (a notification of its own:
    /// for the rare writes whose statements do not send one).
    fn announce_everywhere(&self) {
        self.announce();
        self.shared.db.notify_others();
    }

    // ── Queue settings and retention ─────────────────────────────────────────────────────────

    /// Sets every setting of a queue type: paused, concurrency limits, rate limit (see
    /// [`QueueSettings`]); they hold for every tenant's items of that type, from the next claim.
    /// Bad settings (a limit of 0): InvalidArgument, nothing changes. Through a tenant view other
    /// than `default`'s: InvalidArgument (queue settings are the store's).
    pub fn configure_queue(&self, queue_type: &str, settings: &QueueSettings) -> Result<()> {
        self.manages_queues()?;
        self.write(|conn, _, now| limits::configure(conn, queue_type, settings, now))?;
        self.announce_everywhere();
        Ok(())
    }

    /// Pauses a queue type: claims skip it, its items wait; nothing is lost.
    pub fn pause_queue(&self, queue_type: &str) -> Result<()> {
        self.set_paused(queue_type, true)
    }

    /// Resumes a paused queue type; waiting claims are woken.
    pub fn resume_queue(&self, queue_type: &str) -> Result<()> {
        self.set_paused(queue_type, false)
    }

    fn set_paused(&self, queue_type: &str, paused: bool) -> Result<()> {
        self.manages_queues()?;
        self.write(|conn, _, now| {
            let settings = QueueSettings { paused, ..limits::settings(conn, queue_type)? };
            limits::configure(conn, queue_type, &settings, now)
        })?;
        self.announce_everywhere();
        Ok(())
    }

    fn manages_queues(&self) -> Result<()> {
        match self.scope() {
            Some(tenant) if tenant != crate::tenant::DEFAULT_TENANT => Err(Error::invalid(format!(
                "the view of tenant {tenant} cannot change queue settings: they hold for every tenant; use the \
                 unscoped store"
            ))),
            _ => Ok(()),
        }
    }

    /// The settings of a queue type (the defaults when none were set).
    pub fn queue_settings(&self, queue_type: &str) -> Result<QueueSettings> {
        self.read(|conn, _| limits::settings(conn, queue_type))
    }

    /// Every queue type with items or settings: its settings and its items by state (ready,
    /// scheduled, claimed, ...); through a view, the view's tenant's items. For inspection.
    pub fn list_queues(&self) -> Result<Vec<QueueInfo>> {
        let now = self.now_micros()?;
        self.read_consistent(|conn, scope| limits::list(conn, scope, now))
    }

    /// Deletes what `policy` lets go: finished items and finished executions (with their events
    /// and snapshots) past an age or a count; nothing live. Runs in steps of a bounded size, each
    /// its own transaction, until nothing more goes. `dry_run`: counts, writes nothing. Through a
    /// view, the view's tenant's rows only.
    pub fn prune(&self, policy: &RetentionPolicy, dry_run: bool) -> Result<PruneReport> {
        policy.validate()?;
        if dry_run {
            let now = self.now_micros()?;
            return self.read_consistent(|conn, scope| retention::prune_step(conn, scope, policy, now, true));
        }
        let mut report = PruneReport::default();
        loop {
            let step = self.write(|conn, scope, now| retention::prune_step(conn, scope, policy, now, false))?;
            report.add(step);
            if !step.full() {
                return Ok(report);
            }
        }
    }

    /// Stores a retention policy that `reclaim_expired_leases` applies as it runs (one step per
    /// reclaim); None removes it. Through a tenant view other than `default`'s: InvalidArgument.
    pub fn set_retention(&self, policy: Option<&RetentionPolicy>) -> Result<()> {
        self.manages_queues()?;
        if let Some(policy) = policy {
            policy.validate()?;
        }
        self.write(|conn, _, now| retention::store(conn, policy, now))
    }

    /// The stored retention policy, if any.
    pub fn retention(&self) -> Result<Option<RetentionPolicy>> {
        self.read(|conn, _| retention::stored(conn))
    }

    /// Deletes every dead-lettered item (of the view's tenant); returns how many.
    pub fn purge_dead_letters(&self) -> Result<usize> {
        self.write(|conn, scope, _| queue::purge_dead_letters(conn, scope))
    }

    // ── Tokens ───────────────────────────────────────────────────────────────────────────────

    /// Creates a token that does not expire; the plaintext is returned here only.
    pub fn create_token(&self, name: &str, role: &str) -> Result<(String, ApiToken)> {
        self.write(|conn, scope, now| tokens::create(conn, scope, name, role, None, now))
    }

    /// Creates a token that stops validating at `expires_at`.
    pub fn create_token_expiring(
        &self,
        name: &str,
        role: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(String, ApiToken)> {
        self.write(|conn, scope, now| tokens::create(conn, scope, name, role, Some(to_micros(&expires_at)), now))
    }

    /// The token's info if it is live (not revoked, not expired); records its use.
    pub fn validate_token(&self, token: &str) -> Result<Option<ApiToken>> {
        self.write(|conn, scope, now| tokens::validate(conn, scope, token, now))
    }

    /// Revokes a token by id; it never validates again. Unknown id: NotFound.
    pub fn revoke_token(&self, id: &str) -> Result<()> {
        self.write(|conn, scope, now| tokens::revoke(conn, scope, id, now))
    }

    pub fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(tokens::list)
    }

    // ── Tenants ──────────────────────────────────────────────────────────────────────────────

    /// Whether this store may manage tenant `id`. The unscoped store and the view of `default`
    /// (the engine's administrative view: it registers tenants through
    /// `for_tenant(TenantId::default())`) manage every tenant; any other view only its own, and
    /// other tenants are invisible to it.
    fn manages(&self, id: &TenantId) -> bool {
        match &self.tenant {
            None => true,
            Some(own) => own.as_str() == tenant::DEFAULT_TENANT || own == id,
        }
    }

    /// Creates a tenant. An existing id: Conflict. Through a view other than `default`'s, only
    /// the view's own tenant (another: InvalidArgument).
    pub fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        if !self.manages(&tenant.id) {
            return Err(Error::invalid(format!(
                "the view of tenant {} cannot create tenant {}: only the unscoped store and the view of \
                 the default tenant manage other tenants",
                self.scope().unwrap_or_default(),
                tenant.id
            )));
        }
        self.write(|conn, _, _| tenant::create(conn, tenant))
    }

    pub fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        if !self.manages(id) {
            return Ok(None);
        }
        self.read(|conn, _| tenant::get(conn, id.as_str()))
    }

    /// Every tenant the store manages (see [`Store::create_tenant`]), in id order.
    pub fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let mut tenants = self.read(|conn, _| tenant::list(conn))?;
        tenants.retain(|t| self.manages(&t.id));
        Ok(tenants)
    }

    /// Replaces a tenant's name, status, policy and limits; sets `updated_at`. Unknown (or not
    /// managed by this view): NotFound.
    pub fn update_tenant(&self, tenant: &Tenant) -> Result<()> {
        if !self.manages(&tenant.id) {
            return Err(Error::not_found(format!("tenant not found: {}", tenant.id)));
        }
        self.write(|conn, _, now| tenant::update(conn, tenant, now))
    }

    /// Copies the database to a new file at `dest` (SQLite's online backup): a consistent
    /// snapshot, safe while writers run; the copy is a jetstate file like the original. An
    /// existing `dest` is refused (InvalidArgument) and left alone. Returns the copy's size in
    /// bytes. A view copies the whole database, not only its tenant's rows.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<u64> {
        self.shared.db.backup(dest.as_ref(), &mut |_| {})
    }

    /// [`Store::backup`], reporting pages copied as it goes (for a progress bar). The copy is
    /// still one snapshot: every step reads in the same read transaction.
    pub fn backup_with_progress(&self, dest: impl AsRef<Path>, progress: &mut dyn FnMut(Progress)) -> Result<u64> {
        self.shared.db.backup(dest.as_ref(), progress)
    }

    // ── Export and import (the `transfer` module has the format and its rules) ────────────────

    /// Writes the store, or one execution of it (with its events, snapshots, work items and
    /// workflow definition), as JSON Lines to `out`: one consistent snapshot. Through a view,
    /// only the view's tenant. An unknown execution: NotFound. Returns the rows per table.
    pub fn export(
        &self,
        execution: Option<&ExecutionId>,
        out: &mut dyn std::io::Write,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RowCounts> {
        let now = self.now_micros()?;
        self.read_consistent(|conn, scope| transfer::export(conn, scope, execution, now, out, progress))
    }

    /// Writes the rows of an export (see [`Store::export`]) into this store, in one transaction:
    /// all of them, or on any error (a malformed line, an existing key, a missing reference)
    /// none, with the error naming the line. `total_bytes` (0 if unknown) scales `progress`.
    /// Refused through a tenant view: an export may hold several tenants.
    pub fn import(
        &self,
        input: &mut dyn std::io::BufRead,
        total_bytes: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RowCounts> {
        if let Some(tenant) = &self.tenant {
            return Err(Error::invalid(format!(
                "import into the whole store, not a tenant view ({tenant}): an export may hold several tenants"
            )));
        }
        self.write(|conn, _, _| transfer::import(conn, input, total_bytes, progress))
    }

    /// SQLite's `PRAGMA integrity_check` of the whole database: `["ok"]` when the file is sound,
    /// else the problems it found (at most 100). Reads every page, so it takes a while on a
    /// large store; writers go on meanwhile.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.shared.db.integrity_check()
    }

    /// The store at a glance (executions by status, queue depth, expired leases, dead letters,
    /// the oldest pending item), read in one snapshot. Through a view, the view's tenant only.
    pub fn summary(&self) -> Result<crate::summary::Summary> {
        let now = self.now_micros()?;
        self.read_consistent(|conn, scope| crate::summary::read(conn, scope, now))
    }

    /// The time on the store's clock.
    /// (On PostgreSQL, should the server be out of reach, this host's clock.)
    pub fn now(&self) -> DateTime<Utc> {
        from_micros(self.now_micros().unwrap_or_else(|_| self.shared.options.clock.now_micros()))
    }
}

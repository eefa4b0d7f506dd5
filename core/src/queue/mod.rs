//! The work queue: items, leases with fencing tokens, reclaim with attempts and backoff, the
//! dead-letter queue, and what services need beside them (scheduled items, priorities, unique
//! keys, batches, cancellation, per-queue limits, waiting for work, retention). CONTRACT.md
//! section 3 is the specification; in short:
//!
//! ```text
//! enqueue -> pending --claim--> claimed --complete--> completed
//!               ^                  |  \--fail------> failed
//!               +--reclaim---------+ (attempt+1 < max)
//!                  reclaim (attempt+1 >= max), move_to_dead_letter --> dead_letter
//!            pending, claimed --cancel--> cancelled
//! ```
//!
//! Invariants, each kept by one write transaction (under SQLite's write lock; on PostgreSQL under
//! the row locks its statements take):
//! * at most one live lease per item: a claim takes only a `pending` item and makes it `claimed`
//!   in the same transaction;
//! * every claim of an item takes a new `lease_token` (the previous one plus one), so a token
//!   names exactly one lease and a fenced call with a stale token changes nothing (LeaseLost);
//! * an expired lease is never re-leased silently: the item stays `claimed` until reclaim counts
//!   the attempt and either re-queues it with a backoff or dead-letters it;
//! * a claim takes items in (priority, run_at, id) order through a partial index of pending items
//!   (`claim.rs`): its cost does not grow with the number of pending items;
//! * every decision about one item reads it under its row lock (`FOR UPDATE` on PostgreSQL), so
//!   the write that follows acts on the state decided on;
//! * a unique key is held by at most one live item of a tenant's queue type: the partial unique
//!   index `work_items_unique` refuses a second holder, whatever the concurrency;
//! * a store where a tenant other than `default` exists has the index of tenant views' claims
//!   (`work_items_pending_by_tenant`, see [`index_tenant_views`]).
//!
//! The decisions about one item (who may complete or renew it, what a duplicate enqueue does) and
//! the backoff's growth are plain functions beside the SQL, so that each engine serves the same
//! rules with its own statements. Reclaim, which touches every expired lease at once, decides in
//! its one statement (the attempt threshold) and reads the backoff from a table that Rust computes.

pub(crate) mod claim;
pub(crate) mod limits;
pub(crate) mod retention;
pub(crate) mod wait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::clock::{duration_micros, from_micros, to_micros};
use crate::error::{Error, Result};
use crate::registry::default_tenant_string;
use crate::sql::{params, Conn, Engine, JsonText, Row, Statement};
use crate::tenant::{self, Scope};
use crate::workflow::ExecutionId;

pub use limits::{QueueInfo, QueueSettings, RateLimit};
pub use retention::{PruneReport, RetentionPolicy};
pub use wait::Cancel;

pub type WorkItemId = uuid::Uuid;

/// The fencing token of one lease: each claim of an item takes the next number.
pub type LeaseToken = i64;

/// A unit of work dispatched to a worker queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub id: WorkItemId,
    pub execution_id: ExecutionId,
    pub node_id: String,
    pub queue_type: String,
    pub payload: serde_json::Value,
    pub attempt: u32,
    /// Attempts allowed before the item moves to the dead-letter queue.
    pub max_attempts: u32,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub worker_id: Option<String>,
    #[serde(default = "default_tenant_string")]
    pub tenant_id: String,
}

impl WorkItem {
    /// A new item for `queue_type`: a fresh id, no attempt made yet, three allowed (the engine's
    /// default), created now (system time), tenant `default`. Adjust fields before enqueueing.
    pub fn new(
        execution_id: ExecutionId,
        node_id: impl Into<String>,
        queue_type: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        WorkItem {
            id: uuid::Uuid::new_v4(),
            execution_id,
            node_id: node_id.into(),
            queue_type: queue_type.into(),
            payload,
            attempt: 0,
            max_attempts: 3,
            created_at: crate::clock::system_now(),
            lease_expires_at: None,
            worker_id: None,
            tenant_id: default_tenant_string(),
        }
    }
}

/// Result of reclaiming expired leases.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ReclaimResult {
    /// Items reset to `pending`, to be retried after their backoff.
    pub retryable: Vec<WorkItem>,
    /// Items that exhausted their attempts and moved to the dead-letter queue.
    pub exhausted: Vec<WorkItem>,
}

/// Where an item is in the queue's state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkItemStatus {
    Pending,
    Claimed,
    Completed,
    Failed,
    DeadLetter,
    /// Cancelled by [`crate::Store::cancel_work_item`]: never claimed again; a holder's next
    /// renew or complete gets LeaseLost.
    Cancelled,
}

impl WorkItemStatus {
    pub const ALL: [WorkItemStatus; 6] = [
        WorkItemStatus::Pending,
        WorkItemStatus::Claimed,
        WorkItemStatus::Completed,
        WorkItemStatus::Failed,
        WorkItemStatus::DeadLetter,
        WorkItemStatus::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            WorkItemStatus::Pending => "pending",
            WorkItemStatus::Claimed => "claimed",
            WorkItemStatus::Completed => "completed",
            WorkItemStatus::Failed => "failed",
            WorkItemStatus::DeadLetter => "dead_letter",
            WorkItemStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the item is done with: no claim, renew or completion will move it again (only an
    /// operator's requeue of a dead letter does).
    pub fn is_finished(&self) -> bool {
        !matches!(self, WorkItemStatus::Pending | WorkItemStatus::Claimed)
    }
}

impl std::str::FromStr for WorkItemStatus {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        WorkItemStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| Error::invalid(format!("unknown work item status {text:?}")))
    }
}

/// An item with the queue's bookkeeping: what `get_work_item` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueEntry {
    pub item: WorkItem,
    pub status: WorkItemStatus,
    /// The error given to fail / dead-letter, or why reclaim moved it.
    pub last_error: Option<String>,
    /// Not claimable before this time: the time it was scheduled for (`EnqueueOptions::run_at`),
    /// or the end of reclaim's backoff.
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub retry_after: Option<DateTime<Utc>>,
    /// The token of the latest claim (0 if never claimed).
    pub lease_token: LeaseToken,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub updated_at: DateTime<Utc>,
    /// Lower runs first (0 unless enqueued with another).
    pub priority: i32,
    /// Its place in the claims' order (priority, run_at, id): its `created_at`, the time it was
    /// scheduled for, or the end of its latest retry backoff.
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub run_at: DateTime<Utc>,
    pub unique_key: Option<String>,
    pub partition_key: Option<String>,
    /// What the holder's last renew reported.
    pub progress: Option<serde_json::Value>,
    /// When its current (or last) lease was taken.
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub claimed_at: Option<DateTime<Utc>>,
}

/// A claimed item and the token that fences its lease.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lease {
    pub item: WorkItem,
    pub token: LeaseToken,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub expires_at: DateTime<Utc>,
}

/// What an enqueue does when the item's unique key is held by another item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDuplicate {
    /// Keep the holder, enqueue nothing, and return the holder's id flagged as a duplicate.
    #[default]
    Keep,
    /// If the holder is still pending, replace its payload, run time and priority with the new
    /// item's (flagged as replaced); a holder already claimed or completed is kept as with `Keep`.
    Replace,
    /// Refuse the enqueue: Conflict, nothing written.
    Refuse,
}

impl std::str::FromStr for OnDuplicate {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "keep" => Ok(OnDuplicate::Keep),
            "replace" => Ok(OnDuplicate::Replace),
            "refuse" => Ok(OnDuplicate::Refuse),
            _ => Err(Error::invalid(format!(
                "unknown on_duplicate {text:?}: expected \"keep\", \"replace\" or \"refuse\""
            ))),
        }
    }
}

/// What an enqueue may ask for beside the item itself (the item's record keeps exactly the
/// engine's fields). `EnqueueOptions::default()` is a plain enqueue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnqueueOptions {
    /// Not claimable before this time (by the store's clock). None: at once.
    pub run_at: Option<DateTime<Utc>>,
    /// Lower runs first; from -32,768 to 32,767; 0 by default.
    pub priority: i32,
    /// At most one live item of the tenant's queue type holds a key (see [`OnDuplicate`]): from
    /// its enqueue until it is finished, or for `unique_for` after its completion.
    pub unique_key: Option<String>,
    pub on_duplicate: OnDuplicate,
    /// How long a completed item keeps holding its unique key (None: released at completion).
    pub unique_for: Option<Duration>,
    /// The partition a per-partition concurrency limit counts the item in (a tenant, a user).
    pub partition_key: Option<String>,
}

/// The longest unique or partition key, in bytes: keys are indexed, and an index entry must stay
/// small (PostgreSQL refuses entries past a third of a page).
pub const MAX_KEY_BYTES: usize = 512;

/// How far ahead an item may be scheduled.
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

impl EnqueueOptions {
    /// Refuses what cannot be stored or makes no sense, before anything is written.
    pub(crate) fn validate(&self, now: i64) -> Result<()> {
        if !(i32::from(i16::MIN)..=i32::from(i16::MAX)).contains(&self.priority) {
            return Err(Error::invalid(format!(
                "priority {} is out of range: from {} to {} (lower runs first)",
                self.priority,
                i16::MIN,
                i16::MAX
            )));
        }
        for (name, key) in [("unique_key", &self.unique_key), ("partition_key", &self.partition_key)] {
            match key {
                Some(key) if key.is_empty() => return Err(Error::invalid(format!("an empty {name} is refused"))),
                Some(key) if key.len() > MAX_KEY_BYTES => {
                    return Err(Error::invalid(format!(
                        "{name} of {} bytes is refused: at most {MAX_KEY_BYTES}",
                        key.len()
                    )))
                }
                _ => {}
            }
        }
        if let Some(run_at) = &self.run_at {
            let at = to_micros(run_at);
            let earliest = to_micros(&crate::clock::from_micros(946_684_800_000_000)); // 2000-01-01
            if at < earliest || at > now.saturating_add(duration_micros(MAX_SCHEDULE_AHEAD)) {
                return Err(Error::invalid(format!(
                    "run_at {} is refused: an item is scheduled between 2000-01-01 and 10 years from now",
                    run_at.to_rfc3339()
                )));
            }
        }
        match self.unique_for {
            Some(_) if self.unique_key.is_none() => {
                Err(Error::invalid("unique_for applies to an item with a unique_key"))
            }
            Some(window) if window.is_zero() || window > MAX_SCHEDULE_AHEAD => {
                Err(Error::invalid(format!("unique_for of {window:?} is refused: more than zero, at most 10 years")))
            }
            _ => Ok(()),
        }
    }
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnqueueOutcome {
    /// The item was written.
    Enqueued,
    /// Another item holds the unique key and was kept: `id` is that item's.
    Duplicate,
    /// Another item held the unique key while pending, and took the new payload, run time and
    /// priority: `id` is that item's.
    Replaced,
}

/// The answer of an enqueue: the id of the item that now stands for the request, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enqueued {
    pub id: WorkItemId,
    pub outcome: EnqueueOutcome,
}

/// Backoff settings, from the store's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub jitter: bool,
}

// ── Rules ────────────────────────────────────────────────────────────────────────────────────

/// Delay before retry number `attempt` (1 for the first retry): `base * 2^(attempt-1)`, capped.
/// (Jitter, when enabled, is drawn by reclaim's statement from [delay/2, delay].)
pub(crate) fn backoff_delay(backoff: Backoff, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(100);
    let nanos = backoff.base.as_nanos().saturating_mul(1u128 << doublings);
    if nanos >= backoff.cap.as_nanos() {
        backoff.cap
    } else {
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Who is calling a complete / fail / renew: the trait's unfenced calls name a worker or nobody;
/// fenced calls name the lease token they were given.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holder<'a> {
    /// Unfenced complete / fail: acts on the current claim, whoever holds it.
    AnyClaim,
    /// Unfenced renew: the worker that holds the live lease.
    Worker(&'a str),
    /// Fenced call: exactly this lease.
    Token(LeaseToken),
}

/// The state an item is in when a holder calls.
struct Current {
    status: WorkItemStatus,
    worker_id: Option<String>,
    lease_token: LeaseToken,
    lease_expires_at: Option<i64>,
}

/// Decides whether `holder` may finish the item (complete or fail into `target`).
/// `Ok(true)`: do it; `Ok(false)`: already done by this same claim, nothing to change.
fn may_finish(id: &WorkItemId, current: &Current, holder: Holder<'_>, target: WorkItemStatus) -> Result<bool> {
    match holder {
        Holder::Token(token) if token != current.lease_token => Err(Error::lease_lost(format!(
            "lease {token} of work item {id} is no longer current (the item was claimed again or \
             never with this token)"
        ))),
        Holder::Token(_) | Holder::AnyClaim | Holder::Worker(_) => match current.status {
            WorkItemStatus::Claimed => Ok(true),
            status if status == target => Ok(false),
            status => Err(Error::lease_lost(format!(
                "work item {id} is {}, not claimed: its lease was lost (reclaimed, dead-lettered, \
                 cancelled or finished)",
                status.as_str()
            ))),
        },
    }
}

/// Decides whether `holder` may renew the lease at `now`.
fn may_renew(id: &WorkItemId, current: &Current, holder: Holder<'_>, now: i64) -> Result<()> {
    let live = current.status == WorkItemStatus::Claimed && current.lease_expires_at.is_some_and(|at| at > now);
    match holder {
        Holder::Token(token) if live && token == current.lease_token => Ok(()),
        Holder::Token(token) => Err(Error::lease_lost(format!(
            "lease {token} of work item {id} is not live: it expired, was reclaimed, cancelled or superseded"
        ))),
        Holder::Worker(worker) if live && current.worker_id.as_deref() == Some(worker) => Ok(()),
        Holder::Worker(worker) => {
            Err(Error::not_found(format!("no live lease on work item {id} held by worker {worker:?}")))
        }
        Holder::AnyClaim => Err(Error::internal("renew needs a worker or a lease token")),
    }
}

/// What an enqueue does about the item holding its unique key (`holder`, in `status`).
#[derive(Debug, PartialEq, Eq)]
enum DuplicateAction {
    Keep,
    Replace,
    Refuse,
}

fn on_duplicate(mode: OnDuplicate, status: WorkItemStatus) -> DuplicateAction {
    match (mode, status) {
        (OnDuplicate::Refuse, _) => DuplicateAction::Refuse,
        (OnDuplicate::Replace, WorkItemStatus::Pending) => DuplicateAction::Replace,
        (OnDuplicate::Replace | OnDuplicate::Keep, _) => DuplicateAction::Keep,
    }
}

// ── SQL ──────────────────────────────────────────────────────────────────────────────────────

/// The columns every read of an item takes, in [`from_row`]'s order; `columns!(item)`: the
/// record's own and its status, which [`item_from_row`] reads (the first twelve).
macro_rules! columns {
    () => {
        concat!(
            columns!(item),
            ", last_error, retry_after, lease_token, updated_at, priority, run_at, unique_key, partition_key, \
             progress, claimed_at"
        )
    };
    (item) => {
        "id, execution_id, node_id, queue_type, payload, attempt, max_attempts, \
         created_at, lease_expires_at, worker_id, tenant_id, status"
    };
}
pub(crate) use columns;

/// A key among the ids of a JSON list ([`id_list`]), as a predicate: `id <ids!(...)>`.
/// PostgreSQL's is `= ANY (ARRAY(...))`, sought by key whatever the planner guesses of the list's
/// length (see [`complete_batch`]).
macro_rules! ids {
    (sqlite, $param:literal) => {
        concat!("IN (SELECT unhex(replace(value, '-', '')) FROM json_each(", $param, "))")
    };
    (postgres, $param:literal) => {
        concat!("= ANY (ARRAY(SELECT (jsonb_array_elements_text(", $param, "::jsonb))::uuid))")
    };
}
pub(crate) use ids;

/// The record and its status, from a row that starts with `columns!(item)`.
fn item_from_row(row: &Row<'_>) -> Result<(WorkItem, WorkItemStatus)> {
    let id: WorkItemId = row.get(0)?;
    let status = row.str(11)?;
    let status = status
        .parse()
        .map_err(|_| Error::database(format!("stored status {status:?} of work item {id} is not known")))?;
    let item = WorkItem {
        id,
        execution_id: ExecutionId(row.get(1)?),
        node_id: row.get(2)?,
        queue_type: row.get(3)?,
        payload: row.get(4)?,
        attempt: row.get(5)?,
        max_attempts: row.get(6)?,
        created_at: from_micros(row.get(7)?),
        lease_expires_at: row.get::<Option<i64>>(8)?.map(from_micros),
        worker_id: row.get(9)?,
        tenant_id: row.get(10)?,
    };
    Ok((item, status))
}

pub(crate) fn from_row(row: &Row<'_>) -> Result<QueueEntry> {
    let (item, status) = item_from_row(row)?;
    Ok(QueueEntry {
        item,
        status,
        last_error: row.get(12)?,
        retry_after: row.get::<Option<i64>>(13)?.map(from_micros),
        lease_token: row.get(14)?,
        updated_at: from_micros(row.get(15)?),
        priority: row.get(16)?,
        run_at: from_micros(row.get(17)?),
        unique_key: row.get(18)?,
        partition_key: row.get(19)?,
        progress: row.get(20)?,
        claimed_at: row.get::<Option<i64>>(21)?.map(from_micros),
    })
}

fn not_found(id: &WorkItemId) -> Error {
    Error::not_found(format!("work item not found: {id}"))
}

/// Enqueues a pending item (whatever lease fields it carries), with `options`.
///
/// An item belongs to its execution's tenant, so that no view can queue work that a worker would
/// then run against another tenant's execution: the execution must exist and be visible where
/// the item is written (NotFound otherwise: through a view, another tenant's execution is as
/// absent as an unknown one). Through the unscoped store an item that names no tenant other
/// than `default` takes its execution's; one that names another tenant than its execution's is
/// refused (InvalidArgument). An id that exists: Conflict. A unique key another item holds: as
/// `options.on_duplicate` says.
///
/// One statement: the insert reads the execution it refers to, and the database's keys refuse a
/// taken id or unique key; only a refusal reads further, to say why (and, for a unique key, to
/// keep, replace or refuse, which writes a second statement: an item with a unique key is
/// enqueued inside a transaction, see `Store::enqueue`).
pub(crate) fn enqueue(
    conn: &dyn Conn,
    scope: Scope<'_>,
    item: &WorkItem,
    options: &EnqueueOptions,
    now: i64,
) -> Result<Enqueued> {
    const INSERT: Statement = Statement {
        sqlite: "INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload,
                     status, attempt, max_attempts, created_at, updated_at, priority, run_at, retry_after,
                     unique_key, unique_for, partition_key)
                 SELECT ?1, tenant_id, id, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?10, ?11, coalesce(?12, ?9), ?12,
                        ?13, ?14, ?15
                 FROM executions WHERE id = ?3 AND (?2 IS NULL OR tenant_id = ?2)
                 ON CONFLICT DO NOTHING",
        // The insert NOTIFYs the store's waiting claims in other processes when it writes a row
        // (PostgreSQL folds equal notifications of one transaction into one): no statement more.
        postgres: "WITH inserted AS (
                       INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload,
                           status, attempt, max_attempts, created_at, updated_at, priority, run_at, retry_after,
                           unique_key, unique_for, partition_key)
                       SELECT $1::uuid, tenant_id, id, $4::text, $5::text, $6::text, 'pending', $7::bigint,
                              $8::bigint, $9::bigint, $10::bigint, $11::bigint, coalesce($12::bigint, $9::bigint),
                              $12::bigint, $13::text, $14::bigint, $15::text
                       FROM executions WHERE id = $3 AND ($2::text IS NULL OR tenant_id = $2)
                       FOR KEY SHARE
                       ON CONFLICT DO NOTHING
                       RETURNING 1)
                   SELECT pg_notify('jetstate_work', current_schema())::text FROM inserted",
    };
    let required = checked(scope, item, options, now)?;
    let run_at = options.run_at.as_ref().map(to_micros);
    let unique_for = options.unique_for.map(duration_micros);
    let insert = || {
        conn.execute(
            &INSERT,
            params![
                item.id,
                required,
                item.execution_id.0,
                item.node_id,
                item.queue_type,
                JsonText(&item.payload),
                item.attempt,
                item.max_attempts,
                to_micros(&item.created_at),
                now,
                options.priority,
                run_at,
                options.unique_key,
                unique_for,
                options.partition_key,
            ],
        )
    };
    if insert()? == 1 {
        return Ok(Enqueued { id: item.id, outcome: EnqueueOutcome::Enqueued });
    }
    let Some(key) = &options.unique_key else { return refused_enqueue(conn, scope, item, required) };
    // The key may be what refused it.
    let Some(holder) = unique_holder(conn, scope, item, key)? else {
        return refused_enqueue(conn, scope, item, required);
    };
    if holder.status == WorkItemStatus::Completed && holder.lapsed(now) {
        // A completed holder whose window has passed lets the key go; then the insert is tried again.
        release_key(conn, &holder.id)?;
        if insert()? == 1 {
            return Ok(Enqueued { id: item.id, outcome: EnqueueOutcome::Enqueued });
        }
        return refused_enqueue(conn, scope, item, required);
    }
    if holder.id == item.id {
        return Err(Error::conflict(format!("work item already exists: {}", item.id)));
    }
    match on_duplicate(options.on_duplicate, holder.status) {
        DuplicateAction::Keep => Ok(Enqueued { id: holder.id, outcome: EnqueueOutcome::Duplicate }),
        DuplicateAction::Refuse => Err(Error::conflict(format!(
            "unique key {key:?} of queue {:?} is held by work item {} ({})",
            item.queue_type,
            holder.id,
            holder.status.as_str()
        ))),
        DuplicateAction::Replace => {
            replace_pending(conn, &holder.id, item, options, now)?;
            Ok(Enqueued { id: holder.id, outcome: EnqueueOutcome::Replaced })
        }
    }
}

/// What an enqueue checks before it writes: a queue type, storable options, a tenant the caller
/// may write. Returns the tenant the execution must belong to: the view's, or the one the item
/// names; `None` when the unscoped store's item names only the default.
fn checked<'a>(scope: Scope<'a>, item: &'a WorkItem, options: &EnqueueOptions, now: i64) -> Result<Option<&'a str>> {
    if item.queue_type.is_empty() {
        return Err(Error::invalid("a work item needs a queue_type"));
    }
    options.validate(now)?;
    let tenant_id = tenant::tenant_for_write(scope, &item.tenant_id)?;
    Ok(match scope {
        Some(view) => Some(view),
        None if tenant_id == tenant::DEFAULT_TENANT => None,
        None => Some(tenant_id),
    })
}

/// Enqueues `items` (see [`enqueue`]), in order; the caller's transaction makes them all or
/// nothing. On PostgreSQL a batch of items without unique keys is inserted by one statement: one
/// round trip for the batch, not one per item. Only when it inserts fewer than all does the
/// first item left out get [`enqueue`]'s own reading of why (its error ends the call).
pub(crate) fn enqueue_many(
    conn: &dyn Conn,
    scope: Scope<'_>,
    items: &[(WorkItem, EnqueueOptions)],
    now: i64,
) -> Result<Vec<Enqueued>> {
    const INSERT_ROWS: &str = "
        WITH inserted AS (
            INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
                max_attempts, created_at, updated_at, priority, run_at, retry_after, partition_key)
            SELECT r.id, e.tenant_id, e.id, r.node_id, r.queue_type, r.payload, 'pending', r.attempt,
                   r.max_attempts, r.created_at, $2::bigint, r.priority, coalesce(r.run_at, r.created_at), r.run_at,
                   r.partition_key
            FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, required text, execution_id uuid, node_id text,
                     queue_type text, payload text, attempt bigint, max_attempts bigint, created_at bigint,
                     priority bigint, run_at bigint, partition_key text)
            JOIN executions e ON e.id = r.execution_id AND (r.required IS NULL OR e.tenant_id = r.required)
            FOR KEY SHARE OF e
            ON CONFLICT DO NOTHING
            RETURNING id)
        SELECT i.id FROM inserted i, (SELECT pg_notify('jetstate_work', current_schema())) notified";
    const ROWS: Statement = Statement { sqlite: "", postgres: INSERT_ROWS };
    let plain = items.iter().all(|(_, options)| options.unique_key.is_none());
    if conn.engine() == Engine::Sqlite || items.len() < 2 || !plain {
        return items.iter().map(|(item, options)| enqueue(conn, scope, item, options, now)).collect();
    }
    let mut rows = Vec::with_capacity(items.len());
    for (item, options) in items {
        let required = checked(scope, item, options, now)?;
        rows.push(serde_json::json!({
            "id": item.id,
            "required": required,
            "execution_id": item.execution_id.0,
            "node_id": item.node_id,
            "queue_type": item.queue_type,
            "payload": crate::sql::json_text(&item.payload)?,
            "attempt": item.attempt,
            "max_attempts": item.max_attempts,
            "created_at": to_micros(&item.created_at),
            "priority": options.priority,
            "run_at": options.run_at.as_ref().map(to_micros),
            "partition_key": options.partition_key,
        }));
    }
    let rows = serde_json::Value::from(rows).to_string();
    let mut inserted: std::collections::HashSet<WorkItemId> =
        conn.rows(&ROWS, params![rows, now], |row| row.get(0))?.into_iter().collect();
    let mut enqueued = Vec::with_capacity(items.len());
    for (item, options) in items {
        // Each id inserted answers one item: a second item of the batch with the same id finds
        // it taken.
        if !inserted.remove(&item.id) {
            // Left out: a taken id (perhaps by an earlier item of the batch), or an execution
            // that is not there for this tenant.
            return Err(refused_enqueue(conn, scope, item, checked(scope, item, options, now)?)
                .err()
                .unwrap_or_else(|| Error::internal("an item left out of a batch insert was found insertable")));
        }
        enqueued.push(Enqueued { id: item.id, outcome: EnqueueOutcome::Enqueued });
    }
    Ok(enqueued)
}

/// The item that holds a unique key, as an enqueue's refusal finds it.
struct KeyHolder {
    id: WorkItemId,
    status: WorkItemStatus,
    updated_at: i64,
    unique_for: Option<i64>,
}

impl KeyHolder {
    /// Whether a completed holder's window has passed.
    fn lapsed(&self, now: i64) -> bool {
        self.unique_for.is_some_and(|window| self.updated_at.saturating_add(window) <= now)
    }
}

/// The holder of `key` in the queue type of `item`, for the tenant of its execution, locked.
fn unique_holder(conn: &dyn Conn, scope: Scope<'_>, item: &WorkItem, key: &str) -> Result<Option<KeyHolder>> {
    const HOLDER: Statement = Statement {
        sqlite: "SELECT w.id, w.status, w.updated_at, w.unique_for FROM work_items w
                 JOIN executions e ON e.id = ?1 AND (?2 IS NULL OR e.tenant_id = ?2)
                 WHERE w.tenant_id = e.tenant_id AND w.queue_type = ?3 AND w.unique_key = ?4
                   AND (w.status = 'pending' OR w.status = 'claimed'
                        OR (w.status = 'completed' AND w.unique_for IS NOT NULL))",
        postgres: "SELECT w.id, w.status, w.updated_at, w.unique_for FROM work_items w
                   JOIN executions e ON e.id = $1 AND ($2::text IS NULL OR e.tenant_id = $2)
                   WHERE w.tenant_id = e.tenant_id AND w.queue_type = $3 AND w.unique_key = $4
                     AND (w.status IN ('pending', 'claimed') OR (w.status = 'completed' AND w.unique_for IS NOT NULL))
                   FOR UPDATE OF w",
    };
    conn.row(&HOLDER, params![item.execution_id.0, scope, item.queue_type, key], |row| {
        Ok(KeyHolder {
            id: row.get(0)?,
            status: row.str(1)?.parse()?,
            updated_at: row.get(2)?,
            unique_for: row.get(3)?,
        })
    })
}

/// A completed item stops holding its unique key (its window has passed).
fn release_key(conn: &dyn Conn, id: &WorkItemId) -> Result<()> {
    const RELEASE: Statement = Statement {
        sqlite: "UPDATE work_items SET unique_for = NULL WHERE id = ?1 AND status = 'completed'",
        postgres: "UPDATE work_items SET unique_for = NULL WHERE id = $1 AND status = 'completed'",
    };
    conn.execute(&RELEASE, params![id]).map(drop)
}

/// A pending holder of a unique key takes a new enqueue's payload, run time and priority.
fn replace_pending(
    conn: &dyn Conn,
    id: &WorkItemId,
    item: &WorkItem,
    options: &EnqueueOptions,
    now: i64,
) -> Result<()> {
    const REPLACE: Statement = Statement {
        sqlite: "UPDATE work_items SET payload = ?2, run_at = coalesce(?3, run_at), retry_after = ?3, priority = ?5,
                     updated_at = ?4
                 WHERE id = ?1 AND status = 'pending'",
        postgres: "UPDATE work_items SET payload = $2, run_at = coalesce($3, run_at), retry_after = $3, priority = $5,
                       updated_at = $4
                   WHERE id = $1 AND status = 'pending'",
    };
    let run_at = options.run_at.as_ref().map(to_micros);
    let replaced = conn.execute(&REPLACE, params![id, JsonText(&item.payload), run_at, now, options.priority])?;
    if replaced != 1 {
        return Err(Error::internal(format!("the pending holder {id} of a unique key changed under its lock")));
    }
    Ok(())
}

/// Why [`enqueue`] inserted nothing: the id exists, or the execution is not there for it.
fn refused_enqueue(conn: &dyn Conn, scope: Scope<'_>, item: &WorkItem, required: Option<&str>) -> Result<Enqueued> {
    const EXISTS: Statement = Statement {
        sqlite: "SELECT 1 FROM work_items WHERE id = ?1",
        postgres: "SELECT 1 FROM work_items WHERE id = $1",
    };
    const OWNER: Statement = Statement {
        sqlite: "SELECT tenant_id FROM executions WHERE id = ?1",
        postgres: "SELECT tenant_id FROM executions WHERE id = $1",
    };
    if conn.row(&EXISTS, params![item.id], |_| Ok(()))?.is_some() {
        return Err(Error::conflict(format!("work item already exists: {}", item.id)));
    }
    let owner: Option<String> = conn.row(&OWNER, params![item.execution_id.0], |row| row.get(0))?;
    match (owner, scope, required) {
        (Some(owner), None, Some(named)) => Err(Error::invalid(format!(
            "work item {} names tenant {named:?}, but its execution {} belongs to tenant {owner:?}",
            item.id, item.execution_id
        ))),
        // Unknown, or another tenant's seen through a view: not there.
        _ => Err(Error::not_found(format!(
            "execution not found: {} (a work item is queued for an execution of its tenant)",
            item.execution_id
        ))),
    }
}

pub(crate) fn get(conn: &dyn Conn, scope: Scope<'_>, id: &WorkItemId) -> Result<Option<QueueEntry>> {
    const GET: Statement = Statement {
        sqlite: concat!("SELECT ", columns!(), " FROM work_items WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)"),
        postgres: concat!(
            "SELECT ",
            columns!(),
            " FROM work_items WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)"
        ),
    };
    conn.row(&GET, params![id, scope], from_row)
}

/// Items in (created_at, id) order, optionally of one status: for inspection (the dead-letter
/// queue, stuck claims), not for the hot path. A status filter reads the table in key order and
/// skips other rows rather than keep one more index that every state change would write.
pub(crate) fn list(
    conn: &dyn Conn,
    scope: Scope<'_>,
    status: Option<WorkItemStatus>,
    limit: u32,
    offset: u32,
) -> Result<Vec<QueueEntry>> {
    const LIST: Statement = Statement {
        sqlite: concat!(
            "SELECT ",
            columns!(),
            " FROM work_items WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR tenant_id = ?2)
             ORDER BY created_at, id LIMIT ?3 OFFSET ?4"
        ),
        postgres: concat!(
            "SELECT ",
            columns!(),
            " FROM work_items WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR tenant_id = $2)
             ORDER BY created_at, id LIMIT $3 OFFSET $4"
        ),
    };
    conn.rows(&LIST, params![status.map(|s| s.as_str()), scope, i64::from(limit), i64::from(offset)], from_row)
}

/// The item as a holder's call finds it, locked for the rest of the call.
fn current(conn: &dyn Conn, scope: Scope<'_>, id: &WorkItemId) -> Result<Current> {
    const CURRENT: Statement = Statement {
        sqlite: "SELECT status, worker_id, lease_token, lease_expires_at FROM work_items
                 WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        postgres: "SELECT status, worker_id, lease_token, lease_expires_at FROM work_items
                   WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2) FOR UPDATE",
    };
    conn.row(&CURRENT, params![id, scope], |row| {
        Ok(Current {
            status: row.str(0)?.parse()?,
            worker_id: row.get(1)?,
            lease_token: row.get(2)?,
            lease_expires_at: row.get(3)?,
        })
    })?
    .ok_or_else(|| not_found(id))
}

/// The index tenant views' claims seek: a tenant's pending items in the claim's order. Every
/// enqueue and claim writes it and the unscoped store never reads it, so a SQLite store keeps it
/// only once a tenant other than `default` exists (the rule [`index_tenant_views`] keeps, wherever
/// a tenant is created). In a store of one tenant every item is `default`'s, and a view of
/// `default` seeks `work_items_open` like the store itself. (PostgreSQL's schema has the index
/// from the start: building it later would lock the queue's table while it is built.)
const TENANT_VIEW_INDEX: &str = "CREATE INDEX IF NOT EXISTS work_items_pending_by_tenant
     ON work_items (tenant_id, queue_type, priority, run_at, id) WHERE status = 'pending'";

/// Creates [`TENANT_VIEW_INDEX`] if a tenant other than `default` exists. Called in the
/// transaction that creates tenants (and by migrations), so the rule holds at every commit.
pub(crate) fn index_tenant_views(conn: &dyn Conn) -> Result<()> {
    const OTHERS: Statement = Statement {
        sqlite: "SELECT EXISTS (SELECT 1 FROM tenants WHERE id <> ?1)",
        postgres: "SELECT EXISTS (SELECT 1 FROM tenants WHERE id <> $1)",
    };
    const CREATE: Statement = Statement { sqlite: TENANT_VIEW_INDEX, postgres: "" };
    if conn.engine() == Engine::Postgres {
        return Ok(());
    }
    if conn.value::<bool>(&OTHERS, params![tenant::DEFAULT_TENANT])? {
        conn.execute(&CREATE, params![])?;
    }
    Ok(())
}

/// Extends a live lease to `now + lease`; returns the new expiry. `progress`, when given,
/// replaces what the holder last reported.
pub(crate) fn renew(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: &WorkItemId,
    holder: Holder<'_>,
    lease: Duration,
    progress: Option<&serde_json::Value>,
    now: i64,
) -> Result<DateTime<Utc>> {
    const RENEW: Statement = Statement {
        sqlite: "UPDATE work_items SET lease_expires_at = ?2, updated_at = ?3, progress = coalesce(?4, progress)
                 WHERE id = ?1",
        postgres: "UPDATE work_items SET lease_expires_at = $2, updated_at = $3, progress = coalesce($4, progress)
                   WHERE id = $1",
    };
    let current = current(conn, scope, id)?;
    may_renew(id, &current, holder, now)?;
    let expires_at = now.saturating_add(duration_micros(lease));
    conn.execute(&RENEW, params![id, expires_at, now, progress.map(JsonText)])?;
    Ok(from_micros(expires_at))
}

/// Completes (`error` = None) or fails (`error` = Some) a claimed item and releases its lease.
pub(crate) fn finish(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: &WorkItemId,
    holder: Holder<'_>,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    let target = if error.is_some() { WorkItemStatus::Failed } else { WorkItemStatus::Completed };
    let token = match holder {
        Holder::Token(token) => Some(token),
        Holder::AnyClaim | Holder::Worker(_) => None,
    };
    // The common case in one statement: the item is claimed (under this token, for a fenced
    // call). Exactly then `may_finish` says "do it"; any other state reads the item and lets
    // `may_finish` say what it is (a repeat, a lost lease, an unknown item).
    let finished = conn.execute(&FINISH, params![id, target.as_str(), error, now, token, scope])?;
    if finished == 1 {
        return Ok(());
    }
    let current = current(conn, scope, id)?;
    match may_finish(id, &current, holder, target)? {
        false => Ok(()),
        true => Err(Error::internal(format!("work item {id} is claimed but was not finished"))),
    }
}

/// The finish of one claimed item: ?1 id, ?2 the status it goes to, ?3 its error, ?4 now, ?5 the
/// lease token (NULL: any claim), ?6 the tenant of a view.
const FINISH: Statement = Statement {
    sqlite: "UPDATE work_items SET status = ?2, last_error = ?3, lease_expires_at = NULL, updated_at = ?4
             WHERE id = ?1 AND status = 'claimed' AND (?5 IS NULL OR lease_token = ?5)
               AND (?6 IS NULL OR tenant_id = ?6)",
    postgres: "UPDATE work_items SET status = $2, last_error = $3, lease_expires_at = NULL, updated_at = $4
               WHERE id = $1 AND status = 'claimed' AND ($5::bigint IS NULL OR lease_token = $5)
                 AND ($6::text IS NULL OR tenant_id = $6)",
};

/// Completes several fenced items in one transaction. Each entry's answer says whether it is
/// completed under that token now (`true`: completed by this call, or already by this same
/// lease) or its lease was lost (`false`: reclaimed, cancelled, claimed again), in which case it
/// is left as it is. An unknown item (or another tenant's) is NotFound for the whole call, and
/// nothing is completed.
///
/// SQLite: each item is completed by the finish of one claimed item, under its token; only those
/// not completed are read, to say why. PostgreSQL: one statement does all of it (a call of one round trip, its own
/// transaction): it reads the items as they were, completes them unless one is unknown, and
/// answers both, so that what is decided below is decided on the state the update acted on. Its
/// items are sought by key as `= ANY (ARRAY(...))`: the planner takes a JSON list for a hundred
/// rows whatever its length, and against `IN (SELECT ...)` it chose to read the whole table into
/// a hash once the table was small enough (a complete of ten items then cost 0.9 ms on the
/// server, against 0.45 ms by key).
pub(crate) fn complete_batch(
    conn: &dyn Conn,
    scope: Scope<'_>,
    leases: &[(WorkItemId, LeaseToken)],
    now: i64,
) -> Result<Vec<bool>> {
    const COMPLETE: Statement = Statement {
        sqlite: "",
        postgres: "WITH given AS (
                       SELECT position, (lease ->> 0)::uuid AS lease_id, (lease ->> 1)::bigint AS lease_token_given
                       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS listed(lease, position)),
                   known AS (
                       SELECT id, status, lease_token FROM work_items
                       WHERE id = ANY (ARRAY(SELECT lease_id FROM given)) AND ($3::text IS NULL OR tenant_id = $3)),
                   done AS (
                       UPDATE work_items SET status = 'completed', last_error = NULL, lease_expires_at = NULL,
                           updated_at = $2
                       FROM given
                       WHERE work_items.id = ANY (ARRAY(SELECT lease_id FROM given))
                         AND work_items.id = given.lease_id AND work_items.lease_token = given.lease_token_given
                         AND work_items.status = 'claimed' AND ($3::text IS NULL OR work_items.tenant_id = $3)
                         AND NOT EXISTS (SELECT 1 FROM given g WHERE g.lease_id NOT IN (SELECT id FROM known))
                       RETURNING work_items.id, work_items.lease_token)
                   SELECT g.lease_id, g.lease_token_given,
                          EXISTS (SELECT 1 FROM done d WHERE d.id = g.lease_id AND d.lease_token = g.lease_token_given),
                          k.status, k.lease_token
                   FROM given g LEFT JOIN known k ON k.id = g.lease_id
                   ORDER BY g.position",
    };
    let list: Vec<serde_json::Value> =
        leases.iter().map(|(id, token)| serde_json::json!([id.to_string(), token])).collect();
    let list = serde_json::Value::from(list).to_string();
    // Whether an item not completed by this call is completed under this token all the same (by
    // the same lease, earlier), or its lease was lost.
    let settled = |id: &WorkItemId, token: LeaseToken, current: &Current| {
        match may_finish(id, current, Holder::Token(token), WorkItemStatus::Completed) {
            Ok(false) => Ok(true),
            // Claimed under this token, yet not completed by this call: it changed under it.
            Ok(true) => Ok(false),
            Err(err) if err.kind() == crate::ErrorKind::LeaseLost => Ok(false),
            Err(err) => Err(err),
        }
    };
    if conn.engine() == Engine::Postgres {
        let rows = conn.rows(&COMPLETE, params![list, now, scope], |row| {
            let status: Option<String> = row.get(3)?;
            Ok((
                row.get::<WorkItemId>(0)?,
                row.get::<LeaseToken>(1)?,
                row.get::<bool>(2)?,
                status,
                row.get::<Option<LeaseToken>>(4)?,
            ))
        })?;
        return rows
            .into_iter()
            .map(|(id, token, done, status, lease_token)| {
                let Some(status) = status else { return Err(not_found(&id)) };
                if done {
                    return Ok(true);
                }
                let current = Current {
                    status: status.parse()?,
                    worker_id: None,
                    lease_token: lease_token.unwrap_or(0),
                    lease_expires_at: None,
                };
                settled(&id, token, &current)
            })
            .collect();
    }
    // SQLite: the finish of one claimed item, lease by lease, in the writer's transaction (a
    // seek by the key each; one statement over the list made SQLite match every row against
    // every entry).
    leases
        .iter()
        .map(|(id, token)| {
            let completed = WorkItemStatus::Completed.as_str();
            if conn.execute(&FINISH, params![id, completed, None::<&str>, now, token, scope])? == 1 {
                return Ok(true);
            }
            settled(id, *token, &current(conn, scope, id)?)
        })
        .collect()
}

/// Cancels an item: a pending one is never claimed; a claimed one loses its lease at once (its
/// holder's next renew or complete is LeaseLost). Returns the status it had. Cancelling a
/// cancelled item changes nothing; a finished one (completed, failed, dead-lettered) is
/// InvalidArgument, unchanged; an unknown one NotFound.
pub(crate) fn cancel(conn: &dyn Conn, scope: Scope<'_>, id: &WorkItemId, now: i64) -> Result<WorkItemStatus> {
    const CANCEL: Statement = Statement {
        sqlite: "UPDATE work_items SET status = 'cancelled', lease_expires_at = NULL,
                     last_error = coalesce(last_error, 'cancelled'), updated_at = ?2
                 WHERE id = ?1",
        postgres: "UPDATE work_items SET status = 'cancelled', lease_expires_at = NULL,
                       last_error = coalesce(last_error, 'cancelled'), updated_at = $2
                   WHERE id = $1",
    };
    let current = current(conn, scope, id)?;
    match current.status {
        WorkItemStatus::Pending | WorkItemStatus::Claimed => {
            conn.execute(&CANCEL, params![id, now])?;
            Ok(current.status)
        }
        WorkItemStatus::Cancelled => Ok(current.status),
        finished => {
            Err(Error::invalid(format!("work item {id} is {}: a finished item is not cancelled", finished.as_str())))
        }
    }
}

/// Moves an item to the dead-letter queue, keeping its payload and the error. A completed item
/// is not moved (InvalidArgument); an unknown one is NotFound.
pub(crate) fn move_to_dead_letter(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: &WorkItemId,
    error: &str,
    now: i64,
) -> Result<()> {
    const MOVE: Statement = Statement {
        sqlite: "UPDATE work_items SET status = 'dead_letter', last_error = ?2, lease_expires_at = NULL,
                     updated_at = ?3
                 WHERE id = ?1",
        postgres: "UPDATE work_items SET status = 'dead_letter', last_error = $2, lease_expires_at = NULL,
                       updated_at = $3
                   WHERE id = $1",
    };
    let current = current(conn, scope, id)?;
    if current.status == WorkItemStatus::Completed {
        return Err(Error::invalid(format!("work item {id} is completed; a completed item is not dead-lettered")));
    }
    conn.execute(&MOVE, params![id, error, now])?;
    Ok(())
}

/// Sends dead-lettered items back to the queue: pending, attempt 0, claimable now, their payload
/// and last error kept; their next claim takes a new lease token as usual. `id` None: every
/// dead-lettered item of the scope. Returns how many moved; a given id that is not dead-lettered
/// (or not found in the scope) is NotFound. An item whose unique key another item took meanwhile
/// is Conflict, and nothing moves.
pub(crate) fn requeue_dead_letters(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: Option<&WorkItemId>,
    now: i64,
) -> Result<usize> {
    macro_rules! set {
        ($now:literal) => {
            concat!(
                "UPDATE work_items SET status = 'pending', attempt = 0, retry_after = NULL, worker_id = NULL,
                     lease_expires_at = NULL, run_at = ",
                $now,
                ", updated_at = ",
                $now
            )
        };
    }
    // One item: a seek by its key (an `id = ?` inside an OR could not use the key).
    const ONE: Statement = Statement {
        sqlite: concat!(set!("?1"), " WHERE id = ?2 AND status = 'dead_letter' AND (?3 IS NULL OR tenant_id = ?3)"),
        postgres: concat!(
            set!("$1"),
            " WHERE id = $2 AND status = 'dead_letter' AND ($3::text IS NULL OR tenant_id = $3)"
        ),
    };
    const ALL: Statement = Statement {
        sqlite: concat!(set!("?1"), " WHERE status = 'dead_letter' AND (?2 IS NULL OR tenant_id = ?2)"),
        postgres: concat!(set!("$1"), " WHERE status = 'dead_letter' AND ($2::text IS NULL OR tenant_id = $2)"),
    };
    let taken = |err: Error| match err.kind() {
        crate::ErrorKind::Conflict => Error::conflict(
            "a dead-lettered item's unique key is held by another item now: it was not requeued (nothing moved)",
        ),
        _ => err,
    };
    match id {
        Some(id) => {
            let moved = conn.execute(&ONE, params![now, id, scope]).map_err(taken)?;
            if moved == 0 {
                return Err(Error::not_found(format!("no dead-lettered work item {id}")));
            }
            Ok(moved)
        }
        None => conn.execute(&ALL, params![now, scope]).map_err(taken),
    }
}

/// Deletes every dead-lettered item of the scope; returns how many.
pub(crate) fn purge_dead_letters(conn: &dyn Conn, scope: Scope<'_>) -> Result<usize> {
    const PURGE: Statement = Statement {
        sqlite: "DELETE FROM work_items WHERE status = 'dead_letter' AND (?1 IS NULL OR tenant_id = ?1)",
        postgres: "DELETE FROM work_items WHERE status = 'dead_letter' AND ($1::text IS NULL OR tenant_id = $1)",
    };
    conn.execute(&PURGE, params![scope])
}

/// The delay before each retry, as reclaim's statement reads it: element `i` is the delay (in
/// microseconds) after `i + 1` attempts, up to the first that reaches the cap; later attempts use
/// the last element. The exponential rule stays here, in [`backoff_delay`].
fn backoff_table(backoff: Backoff) -> String {
    let mut delays = Vec::new();
    for attempt in 1..=64u32 {
        let delay = backoff_delay(backoff, attempt);
        delays.push(duration_micros(delay));
        if delay >= backoff.cap {
            break;
        }
    }
    serde_json::Value::from(delays).to_string()
}

/// The end of a re-queued item's backoff, inside [`RECLAIM`] (SQLite's text, then
/// PostgreSQL's): now plus the table's delay for the attempt; with jitter (a seed given), minus an
/// offset in [0, delay/2] mixed from the seed and the row (its creation time and lease token), so
/// that the same expression gives the same time wherever the statement reads it, and items that
/// failed together retry apart. Integers stay below 2^42: no overflow into reals.
macro_rules! retry_at {
    (sqlite) => {
        "?1 + (SELECT delay - CASE WHEN ?4 IS NULL THEN 0
                  ELSE (abs(created_at % 1000003) * 1000033 + lease_token % 1000003 * 7919 + ?4) % (delay / 2 + 1) END
              FROM (SELECT json_extract(?3, '$[' || min(attempt, json_array_length(?3) - 1) || ']') AS delay))"
    };
    (postgres) => {
        "$1 + backoff.t[least(attempt, backoff.n - 1) + 1]
            - CASE WHEN $4::bigint IS NULL THEN 0
              ELSE (abs(created_at % 1000003) * 1000033 + lease_token % 1000003 * 7919 + $4)
                   % (backoff.t[least(attempt, backoff.n - 1) + 1] / 2 + 1) END"
    };
}

/// Reclaim in one statement, in expiry order: ?1 now, ?2 tenant scope, ?3 the backoff table, ?4
/// the jitter's seed (NULL: no jitter). For each expired lease: the attempt is counted; below
/// `max_attempts` the item goes back to pending and runs when its backoff ends (`retry_after` and
/// `run_at`: it queues behind the items due before then, and no claim reads past it while it
/// waits); otherwise it is dead-lettered. The expired holder's name stays in `last_error`. SQLite
/// reads the claimed items of `work_items_open` (`OR FAIL`: see `claim.rs`). PostgreSQL reads the
/// backoff table once, into an array (a one-row join; a subscript per row, where a jsonb lookup
/// and a cast cost more), and locks each expired row as it updates it: a reclaimer
/// racing another, or a complete, waits for that row and then sees it no longer claimed, so the
/// sets stay disjoint. It returns the records and their statuses alone (`columns!(item)`): what
/// the result holds, and a thousand expired leases' rows cross the wire and are read.
const RECLAIM: Statement = Statement {
    sqlite: concat!(
        "UPDATE OR FAIL work_items INDEXED BY work_items_open
         SET attempt = attempt + 1,
             status = CASE WHEN attempt + 1 < max_attempts THEN 'pending' ELSE 'dead_letter' END,
             retry_after = CASE WHEN attempt + 1 < max_attempts THEN ",
        retry_at!(sqlite),
        " END,
             run_at = CASE WHEN attempt + 1 < max_attempts THEN ",
        retry_at!(sqlite),
        " ELSE run_at END,
             last_error = 'lease of worker \"' || coalesce(worker_id, '') || '\" expired; ' || CASE
                 WHEN attempt + 1 < max_attempts
                 THEN 'attempt ' || (attempt + 1) || ' of ' || max_attempts || ' used, retrying'
                 ELSE 'all ' || max_attempts || ' attempts used' END,
             worker_id = NULL, lease_expires_at = NULL, updated_at = ?1
         WHERE status = 'claimed' AND lease_expires_at <= ?1 AND (?2 IS NULL OR tenant_id = ?2)
         RETURNING ",
        columns!(item)
    ),
    postgres: concat!(
        "UPDATE work_items
         SET attempt = attempt + 1,
             status = CASE WHEN attempt + 1 < max_attempts THEN 'pending' ELSE 'dead_letter' END,
             retry_after = CASE WHEN attempt + 1 < max_attempts THEN ",
        retry_at!(postgres),
        " END,
             run_at = CASE WHEN attempt + 1 < max_attempts THEN ",
        retry_at!(postgres),
        " ELSE run_at END,
             last_error = 'lease of worker \"' || coalesce(worker_id, '') || '\" expired; ' || CASE
                 WHEN attempt + 1 < max_attempts
                 THEN 'attempt ' || (attempt + 1) || ' of ' || max_attempts || ' used, retrying'
                 ELSE 'all ' || max_attempts || ' attempts used' END,
             worker_id = NULL, lease_expires_at = NULL, updated_at = $1
         FROM (SELECT t, cardinality(t) AS n
               FROM (SELECT ARRAY(SELECT delay::bigint
                                  FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS d(delay, i)
                                  ORDER BY i) AS t) delays) backoff
         WHERE status = 'claimed' AND lease_expires_at <= $1 AND ($2::text IS NULL OR tenant_id = $2)
         RETURNING ",
        columns!(item)
    ),
};

/// Reclaims every item whose lease expired at or before `now` (in the scope): counts the attempt,
/// then re-queues it with a backoff or dead-letters it. One statement in the caller's transaction:
/// two reclaimers racing take disjoint sets, and an item completed meanwhile is not claimed, so
/// not touched. Each list is in (created_at, id) order.
pub(crate) fn reclaim(conn: &dyn Conn, scope: Scope<'_>, backoff: Backoff, now: i64) -> Result<ReclaimResult> {
    let seed = backoff.jitter.then(|| i64::from(rand_u31()));
    let entries = conn.rows(&RECLAIM, params![now, scope, backoff_table(backoff), seed], item_from_row)?;
    let mut result = ReclaimResult::default();
    for (item, status) in entries {
        match status {
            WorkItemStatus::Pending => result.retryable.push(item),
            WorkItemStatus::DeadLetter => result.exhausted.push(item),
            other => return Err(Error::internal(format!("reclaim left an item {}", other.as_str()))),
        }
    }
    for list in [&mut result.retryable, &mut result.exhausted] {
        list.sort_by_key(|item| (item.created_at, item.id));
    }
    Ok(result)
}

/// A random number below 2^31, from the OS.
fn rand_u31() -> u32 {
    let mut bytes = [0u8; 4];
    // Without the OS's randomness the jitter still spreads items by their own numbers.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes) >> 1
}

/// Ids as the JSON list the statements that take several items read (`json_each`,
/// `jsonb_array_elements_text`).
pub(crate) fn id_list(ids: impl IntoIterator<Item = WorkItemId>) -> String {
    let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    serde_json::Value::from(ids).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(jitter: bool) -> Backoff {
        Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(64), jitter }
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let delays: Vec<u64> = (1..=9).map(|attempt| backoff_delay(backoff(false), attempt).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(backoff_delay(backoff(false), u32::MAX), Duration::from_secs(64));
        assert_eq!(backoff_delay(backoff(false), 0), Duration::from_secs(1));
    }

    #[test]
    fn the_backoff_table_ends_at_the_cap() {
        let table: Vec<i64> = serde_json::from_str(&backoff_table(backoff(false))).expect("a JSON list");
        assert_eq!(table, vec![1, 2, 4, 8, 16, 32, 64].into_iter().map(|s| s * 1_000_000).collect::<Vec<i64>>());
        let tiny = Backoff { base: Duration::from_millis(3), cap: Duration::from_millis(3), jitter: false };
        assert_eq!(backoff_table(tiny), "[3000]");
    }

    #[test]
    fn reclaim_seeks_the_expired_leases_and_never_sorts() {
        let steps = crate::sqlite::schema::query_plan(RECLAIM.sqlite);
        assert!(steps.iter().all(|step| !step.contains("TEMP B-TREE")), "reclaim sorts: {steps:?}");
        let seek = "USING INDEX work_items_open (status=? AND lease_expires_at<?)";
        assert!(steps.iter().any(|step| step.contains(seek)), "reclaim does not seek {seek}: {steps:?}");
    }

    #[test]
    fn a_duplicate_is_replaced_only_while_pending() {
        use WorkItemStatus::*;
        assert_eq!(on_duplicate(OnDuplicate::Replace, Pending), DuplicateAction::Replace);
        assert_eq!(on_duplicate(OnDuplicate::Replace, Claimed), DuplicateAction::Keep);
        assert_eq!(on_duplicate(OnDuplicate::Replace, Completed), DuplicateAction::Keep);
        assert_eq!(on_duplicate(OnDuplicate::Keep, Pending), DuplicateAction::Keep);
        assert_eq!(on_duplicate(OnDuplicate::Refuse, Claimed), DuplicateAction::Refuse);
    }

    #[test]
    fn enqueue_options_refuse_what_cannot_be_stored() {
        let now = to_micros(&crate::clock::system_now());
        let ok = EnqueueOptions::default();
        assert!(ok.validate(now).is_ok());
        let bad = [
            EnqueueOptions { priority: 40_000, ..ok.clone() },
            EnqueueOptions { priority: -32_769, ..ok.clone() },
            EnqueueOptions { unique_key: Some("k".repeat(10 * 1024 * 1024)), ..ok.clone() },
            EnqueueOptions { unique_key: Some(String::new()), ..ok.clone() },
            EnqueueOptions { unique_for: Some(Duration::from_secs(5)), ..ok.clone() },
            EnqueueOptions { unique_key: Some("k".into()), unique_for: Some(Duration::ZERO), ..ok.clone() },
            EnqueueOptions {
                run_at: Some(chrono::DateTime::parse_from_rfc3339("2226-01-01T00:00:00Z").unwrap().into()),
                ..ok.clone()
            },
            EnqueueOptions {
                run_at: Some(chrono::DateTime::parse_from_rfc3339("1926-01-01T00:00:00Z").unwrap().into()),
                ..ok.clone()
            },
        ];
        for options in bad {
            assert_eq!(options.validate(now).unwrap_err().kind(), crate::ErrorKind::InvalidArgument, "{options:?}");
        }
        assert!(EnqueueOptions { priority: -32_768, ..ok.clone() }.validate(now).is_ok());
    }
}

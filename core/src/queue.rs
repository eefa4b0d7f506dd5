//! The work queue: items, leases with fencing tokens, reclaim with attempts and backoff, and the
//! dead-letter queue. CONTRACT.md section 3 is the specification; in short:
//!
//! ```text
//! enqueue -> pending --claim--> claimed --complete--> completed
//!               ^                  |  \--fail------> failed
//!               +--reclaim---------+ (attempt+1 < max)
//!                  reclaim (attempt+1 >= max), move_to_dead_letter --> dead_letter
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
//! * a claim seeks the first pending item of each queue type in (created_at, id) order through a
//!   partial index of pending items: its cost does not grow with the number of pending items; on
//!   PostgreSQL the seek skips rows other claims have locked (`FOR UPDATE SKIP LOCKED`), so that
//!   workers on many connections claim side by side, never the same item, never queued behind
//!   one lock;
//! * every decision about one item reads it under its row lock (`FOR UPDATE` on PostgreSQL), so
//!   the write that follows acts on the state decided on;
//! * a store where a tenant other than `default` exists has the index of tenant views' claims
//!   (`work_items_pending_by_tenant`, see [`index_tenant_views`]).
//!
//! The decisions about one item (who may complete or renew it) and the backoff's growth are plain
//! functions beside the SQL, so that another SQL engine can serve the same rules with its own
//! statements. Reclaim, which touches every expired lease at once, decides in its one statement
//! (the attempt threshold) and reads the backoff from a table that Rust computes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use std::time::Duration;

use crate::clock::{duration_micros, from_micros, to_micros};
use crate::error::{Error, Result};
use crate::registry::default_tenant_string;
use crate::sql::{params, Conn, Engine, JsonText, Row, Statement};
use crate::tenant::{self, Scope};
use crate::workflow::ExecutionId;

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
}

impl WorkItemStatus {
    pub const ALL: [WorkItemStatus; 5] = [
        WorkItemStatus::Pending,
        WorkItemStatus::Claimed,
        WorkItemStatus::Completed,
        WorkItemStatus::Failed,
        WorkItemStatus::DeadLetter,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            WorkItemStatus::Pending => "pending",
            WorkItemStatus::Claimed => "claimed",
            WorkItemStatus::Completed => "completed",
            WorkItemStatus::Failed => "failed",
            WorkItemStatus::DeadLetter => "dead_letter",
        }
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
    /// Not claimable before this time (set by reclaim's backoff).
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub retry_after: Option<DateTime<Utc>>,
    /// The token of the latest claim (0 if never claimed).
    pub lease_token: LeaseToken,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub updated_at: DateTime<Utc>,
}

/// A claimed item and the token that fences its lease.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lease {
    pub item: WorkItem,
    pub token: LeaseToken,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub expires_at: DateTime<Utc>,
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
                "work item {id} is {}, not claimed: its lease was lost (reclaimed, dead-lettered \
                 or finished)",
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
            "lease {token} of work item {id} is not live: it expired, was reclaimed or was superseded"
        ))),
        Holder::Worker(worker) if live && current.worker_id.as_deref() == Some(worker) => Ok(()),
        Holder::Worker(worker) => {
            Err(Error::not_found(format!("no live lease on work item {id} held by worker {worker:?}")))
        }
        Holder::AnyClaim => Err(Error::internal("renew needs a worker or a lease token")),
    }
}

// ── SQL ──────────────────────────────────────────────────────────────────────────────────────

/// The columns every read of an item takes, in [`from_row`]'s order.
macro_rules! columns {
    () => {
        "id, execution_id, node_id, queue_type, payload, attempt, max_attempts, \
         created_at, lease_expires_at, worker_id, tenant_id, status, last_error, retry_after, \
         lease_token, updated_at"
    };
}

fn from_row(row: &Row<'_>) -> Result<QueueEntry> {
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
    Ok(QueueEntry {
        item,
        status,
        last_error: row.get(12)?,
        retry_after: row.get::<Option<i64>>(13)?.map(from_micros),
        lease_token: row.get(14)?,
        updated_at: from_micros(row.get(15)?),
    })
}

fn not_found(id: &WorkItemId) -> Error {
    Error::not_found(format!("work item not found: {id}"))
}

/// Enqueues a pending item (whatever lease fields it carries). An id that exists: Conflict.
///
/// An item belongs to its execution's tenant, so that no view can queue work that a worker would
/// then run against another tenant's execution: the execution must exist and be visible where
/// the item is written (NotFound otherwise: through a view, another tenant's execution is as
/// absent as an unknown one). Through the unscoped store an item that names no tenant other
/// than `default` takes its execution's; one that names another tenant than its execution's is
/// refused (InvalidArgument). One statement: the insert reads the execution it refers to, and
/// only a refusal reads further, to say why.
pub(crate) fn enqueue(conn: &dyn Conn, scope: Scope<'_>, item: &WorkItem, now: i64) -> Result<WorkItemId> {
    const INSERT: Statement = Statement {
        sqlite: "INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload,
                     status, attempt, max_attempts, created_at, updated_at)
                 SELECT ?1, tenant_id, id, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?10
                 FROM executions WHERE id = ?3 AND (?2 IS NULL OR tenant_id = ?2)
                 ON CONFLICT (id) DO NOTHING",
        postgres: "INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload,
                       status, attempt, max_attempts, created_at, updated_at)
                   SELECT $1::uuid, tenant_id, id, $4::text, $5::text, $6::text, 'pending', $7::bigint,
                          $8::bigint, $9::bigint, $10::bigint
                   FROM executions WHERE id = $3 AND ($2::text IS NULL OR tenant_id = $2)
                   FOR KEY SHARE
                   ON CONFLICT (id) DO NOTHING",
    };
    if item.queue_type.is_empty() {
        return Err(Error::invalid("a work item needs a queue_type"));
    }
    let tenant_id = tenant::tenant_for_write(scope, &item.tenant_id)?;
    // The tenant the execution must belong to: the view's, or the one the item names; `None`
    // when the unscoped store's item names only the default.
    let required = match scope {
        Some(view) => Some(view),
        None if tenant_id == tenant::DEFAULT_TENANT => None,
        None => Some(tenant_id),
    };
    let inserted = conn.execute(
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
        ],
    )?;
    if inserted == 1 {
        return Ok(item.id);
    }
    refused_enqueue(conn, scope, item, required)
}

/// Why [`enqueue`] inserted nothing: the id exists, or the execution is not there for it.
fn refused_enqueue(conn: &dyn Conn, scope: Scope<'_>, item: &WorkItem, required: Option<&str>) -> Result<WorkItemId> {
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

/// The index tenant views' claims seek: a tenant's pending items in (created_at, id) order. Every
/// enqueue and claim writes it and the unscoped store never reads it, so a SQLite store keeps it
/// only once a tenant other than `default` exists (the rule [`index_tenant_views`] keeps, wherever
/// a tenant is created). In a store of one tenant every item is `default`'s, and a view of
/// `default` seeks `work_items_open` like the store itself. (PostgreSQL's schema has the index
/// from the start: building it later would lock the queue's table while it is built.)
const TENANT_VIEW_INDEX: &str = "CREATE INDEX IF NOT EXISTS work_items_pending_by_tenant
     ON work_items (tenant_id, queue_type, created_at, id) WHERE status = 'pending'";

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

/// Where a claim seeks the head of a queue type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seek {
    /// The unscoped store: `work_items_open`.
    Store,
    /// A tenant view: `work_items_pending_by_tenant`.
    Tenant,
    /// A view of `default` in a store of one tenant (no index for views): `work_items_open`,
    /// where every item is `default`'s; the tenant test only guards the rule.
    OnlyTenant,
}

impl Seek {
    /// The seek for `scope`, or None when the view's tenant can hold no item: without the index
    /// for views no tenant but `default` exists, and an item's tenant must exist.
    fn of(conn: &dyn Conn, scope: Scope<'_>) -> Result<Option<Seek>> {
        const INDEXED: Statement = Statement {
            sqlite: "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = ?1)",
            postgres: "SELECT $1::text IS NOT NULL",
        };
        let Some(tenant) = scope else { return Ok(Some(Seek::Store)) };
        let indexed = conn.value::<bool>(&INDEXED, params!["work_items_pending_by_tenant"])?;
        Ok(match (indexed, tenant == tenant::DEFAULT_TENANT) {
            (true, _) => Some(Seek::Tenant),
            (false, true) => Some(Seek::OnlyTenant),
            (false, false) => None,
        })
    }

    /// The head of one queue type: its first pending item whose retry time has come, in
    /// (created_at, id) order. Parameters: ?1 queue type, ?2 now, ?3 tenant (views only; NULL
    /// for the store). A pending item has no lease expiry (a CHECK of the table):
    /// `lease_expires_at IS NULL` is what lets a seek of SQLite's `work_items_open` reach
    /// `queue_type`. PostgreSQL's seek skips the items other claims hold locked.
    fn sql(self) -> Statement<'static> {
        /// The seek of `work_items_open`, with `$tenant` as a further test of each row.
        macro_rules! open_seek {
            ($tenant:literal) => {
                concat!(
                    "SELECT created_at, id FROM work_items INDEXED BY work_items_open
                     WHERE status = 'pending' AND lease_expires_at IS NULL AND queue_type = ?1
                       AND (retry_after IS NULL OR retry_after <= ?2)",
                    $tenant,
                    " ORDER BY created_at, id LIMIT 1"
                )
            };
        }
        macro_rules! postgres_seek {
            ($tenant:literal) => {
                concat!(
                    "SELECT created_at, id FROM work_items
                     WHERE status = 'pending' AND queue_type = $1 AND (retry_after IS NULL OR retry_after <= $2)",
                    $tenant,
                    " ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
                )
            };
        }
        match self {
            Seek::Store => Statement { sqlite: open_seek!(""), postgres: postgres_seek!(" AND $3::text IS NULL") },
            Seek::OnlyTenant => {
                Statement { sqlite: open_seek!(" AND tenant_id = ?3"), postgres: postgres_seek!(" AND tenant_id = $3") }
            }
            Seek::Tenant => Statement {
                sqlite: "SELECT created_at, id FROM work_items INDEXED BY work_items_pending_by_tenant
                         WHERE status = 'pending' AND tenant_id = ?3 AND queue_type = ?1
                           AND (retry_after IS NULL OR retry_after <= ?2)
                         ORDER BY created_at, id LIMIT 1",
                postgres: postgres_seek!(" AND tenant_id = $3"),
            },
        }
    }

    /// A claim from one queue type in one statement: the head this seek finds is claimed.
    fn claim_one(self) -> Statement<'static> {
        static SQL: LazyLock<[(String, String); 3]> = LazyLock::new(|| {
            [Seek::Store, Seek::Tenant, Seek::OnlyTenant].map(|seek| {
                let head = seek.sql();
                (
                    claim_sql(Engine::Sqlite, &format!("(SELECT id FROM ({}))", head.sqlite)),
                    claim_sql(Engine::Postgres, &format!("(SELECT id FROM ({}) head)", head.postgres)),
                )
            })
        });
        let (sqlite, postgres) = &SQL[self as usize];
        Statement { sqlite, postgres }
    }
}

/// The claim itself: the pending item `which` names becomes claimed under a new lease token.
/// Parameters, shared by every claim statement: ?1 queue type, ?2 now, ?3 tenant (views only),
/// ?4 worker, ?5 lease expiry, ?6 the item (when `which` is `?6`).
///
/// `OR FAIL`, here and in reclaim: SQLite runs `RETURNING` as a trigger, and a statement with a
/// trigger and constraints that abort keeps a statement journal inside our explicit transaction (a
/// copy of every page it touches, to undo the statement alone). We never need that undo: a call
/// whose statement fails is rolled back whole by the writer (its transaction, or its savepoint in
/// a batch). With `FAIL` no journal is kept: about 8,000 fewer instructions per claim (callgrind).
fn claim_sql(engine: Engine, which: &str) -> String {
    match engine {
        Engine::Sqlite => format!(
            "UPDATE OR FAIL work_items
             SET status = 'claimed', worker_id = ?4, lease_expires_at = ?5, lease_token = lease_token + 1,
                 updated_at = ?2
             WHERE id = {which} AND status = 'pending'
             RETURNING {}",
            columns!()
        ),
        Engine::Postgres => format!(
            "UPDATE work_items
             SET status = 'claimed', worker_id = $4, lease_expires_at = $5, lease_token = lease_token + 1,
                 updated_at = $2
             WHERE id = {which} AND status = 'pending'
             RETURNING {}",
            columns!()
        ),
    }
}

/// The claim of an item already found (several queue types: the first of their heads). ?1 is
/// NULL here; PostgreSQL is told its type all the same (see `sql.rs`).
static CLAIM_BY_ID: LazyLock<(String, String)> = LazyLock::new(|| {
    (
        claim_sql(Engine::Sqlite, "?6"),
        claim_sql(Engine::Postgres, "$6 AND $1::text IS NULL AND ($3::text IS NULL OR tenant_id = $3)"),
    )
});

/// Claims the first eligible pending item of `queue_types` for `worker_id`.
pub(crate) fn claim(
    conn: &dyn Conn,
    scope: Scope<'_>,
    worker_id: &str,
    queue_types: &[&str],
    lease: Duration,
    now: i64,
) -> Result<Option<Lease>> {
    let Some(seek) = Seek::of(conn, scope)? else { return Ok(None) };
    let expires_at = now.saturating_add(duration_micros(lease));
    let claimed =
        if let [queue_type] = queue_types {
            // The common case, one queue type: seek and claim in one statement.
            conn.row(&seek.claim_one(), params![queue_type, now, scope, worker_id, expires_at], from_row)?
        } else {
            let Some(id) = first_head(conn, seek, scope, queue_types, now)? else { return Ok(None) };
            let (sqlite, postgres) = &*CLAIM_BY_ID;
            let claim = conn.row(
                &Statement { sqlite, postgres },
                params![None::<&str>, now, scope, worker_id, expires_at, id],
                from_row,
            )?;
            Some(claim.ok_or_else(|| {
                Error::internal("the pending item found by the claim vanished inside its transaction")
            })?)
        };
    Ok(claimed.map(|entry| Lease { token: entry.lease_token, expires_at: from_micros(expires_at), item: entry.item }))
}

/// The first claimable item over several queue types: one index seek per type, each already in
/// (created_at, id) order; the first of the heads wins. (`IN (...)` over several types would make
/// SQLite sort the candidates.)
fn first_head(
    conn: &dyn Conn,
    seek: Seek,
    scope: Scope<'_>,
    queue_types: &[&str],
    now: i64,
) -> Result<Option<WorkItemId>> {
    let statement = seek.sql();
    let mut first: Option<(i64, WorkItemId)> = None;
    for (index, queue_type) in queue_types.iter().enumerate() {
        if queue_types[..index].contains(queue_type) {
            continue;
        }
        let head: Option<(i64, WorkItemId)> =
            conn.row(&statement, params![queue_type, now, scope], |row| Ok((row.get(0)?, row.get(1)?)))?;
        if let Some(head) = head {
            if first.as_ref().is_none_or(|best| head < *best) {
                first = Some(head);
            }
        }
    }
    Ok(first.map(|(_, id)| id))
}

/// Extends a live lease to `now + lease`; returns the new expiry.
pub(crate) fn renew(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: &WorkItemId,
    holder: Holder<'_>,
    lease: Duration,
    now: i64,
) -> Result<DateTime<Utc>> {
    const RENEW: Statement = Statement {
        sqlite: "UPDATE work_items SET lease_expires_at = ?2, updated_at = ?3 WHERE id = ?1",
        postgres: "UPDATE work_items SET lease_expires_at = $2, updated_at = $3 WHERE id = $1",
    };
    let current = current(conn, scope, id)?;
    may_renew(id, &current, holder, now)?;
    let expires_at = now.saturating_add(duration_micros(lease));
    conn.execute(&RENEW, params![id, expires_at, now])?;
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
    const FINISH: Statement = Statement {
        sqlite: "UPDATE work_items SET status = ?2, last_error = ?3, lease_expires_at = NULL, updated_at = ?4
                 WHERE id = ?1 AND status = 'claimed' AND (?5 IS NULL OR lease_token = ?5)
                   AND (?6 IS NULL OR tenant_id = ?6)",
        postgres: "UPDATE work_items SET status = $2, last_error = $3, lease_expires_at = NULL, updated_at = $4
                   WHERE id = $1 AND status = 'claimed' AND ($5::bigint IS NULL OR lease_token = $5)
                     AND ($6::text IS NULL OR tenant_id = $6)",
    };
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

/// Sends dead-lettered items back to the queue: pending, attempt 0, no retry delay, their
/// payload and last error kept; their next claim takes a new lease token as usual. `id` None:
/// every dead-lettered item of the scope. Returns how many moved; a given id that is not
/// dead-lettered (or not found in the scope) is NotFound.
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
                     lease_expires_at = NULL, updated_at = ",
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
    match id {
        Some(id) => {
            let moved = conn.execute(&ONE, params![now, id, scope])?;
            if moved == 0 {
                return Err(Error::not_found(format!("no dead-lettered work item {id}")));
            }
            Ok(moved)
        }
        None => conn.execute(&ALL, params![now, scope]),
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

/// Reclaim in one statement, in expiry order: ?1 now, ?2 tenant scope, ?3 the backoff table, ?4
/// jitter. For each expired lease: the attempt is counted; below `max_attempts` the item goes
/// back to pending after the table's delay for that attempt (with jitter, a delay drawn from
/// [delay/2, delay]); otherwise it is dead-lettered. The expired holder's name stays in
/// `last_error`. SQLite reads the claimed items of `work_items_open` (`OR FAIL`: see
/// [`claim_sql`]); PostgreSQL skips the items a concurrent call holds locked (a complete racing
/// the reclaim: the next reclaim sees what it left).
const RECLAIM: Statement = Statement {
    sqlite: concat!(
        "UPDATE OR FAIL work_items INDEXED BY work_items_open
         SET attempt = attempt + 1,
             status = CASE WHEN attempt + 1 < max_attempts THEN 'pending' ELSE 'dead_letter' END,
             retry_after = CASE WHEN attempt + 1 < max_attempts THEN ?1 + (
                 SELECT CASE WHEN ?4 THEN delay - ((random() & 9223372036854775807) % (delay / 2 + 1)) ELSE delay END
                 FROM (SELECT json_extract(?3, '$[' || min(attempt, json_array_length(?3) - 1) || ']') AS delay)
             ) END,
             last_error = 'lease of worker \"' || coalesce(worker_id, '') || '\" expired; ' || CASE
                 WHEN attempt + 1 < max_attempts
                 THEN 'attempt ' || (attempt + 1) || ' of ' || max_attempts || ' used, retrying'
                 ELSE 'all ' || max_attempts || ' attempts used' END,
             worker_id = NULL, lease_expires_at = NULL, updated_at = ?1
         WHERE status = 'claimed' AND lease_expires_at <= ?1 AND (?2 IS NULL OR tenant_id = ?2)
         RETURNING ",
        columns!()
    ),
    postgres: concat!(
        "UPDATE work_items
         SET attempt = attempt + 1,
             status = CASE WHEN attempt + 1 < max_attempts THEN 'pending' ELSE 'dead_letter' END,
             retry_after = CASE WHEN attempt + 1 < max_attempts THEN $1 + (
                 SELECT CASE WHEN $4::boolean THEN delay - floor(random() * (delay / 2 + 1))::bigint ELSE delay END
                 FROM (SELECT ($3::jsonb ->> least(attempt, jsonb_array_length($3::jsonb) - 1)::integer)::bigint
                       AS delay) backoff
             ) END,
             last_error = 'lease of worker \"' || coalesce(worker_id, '') || '\" expired; ' || CASE
                 WHEN attempt + 1 < max_attempts
                 THEN 'attempt ' || (attempt + 1) || ' of ' || max_attempts || ' used, retrying'
                 ELSE 'all ' || max_attempts || ' attempts used' END,
             worker_id = NULL, lease_expires_at = NULL, updated_at = $1
         FROM (SELECT id AS expired_id FROM work_items
               WHERE status = 'claimed' AND lease_expires_at <= $1 AND ($2::text IS NULL OR tenant_id = $2)
               ORDER BY lease_expires_at FOR UPDATE SKIP LOCKED) expired
         WHERE id = expired.expired_id
         RETURNING ",
        columns!()
    ),
};

/// Reclaims every item whose lease expired at or before `now` (in the scope): counts the attempt,
/// then re-queues it with a backoff or dead-letters it. One statement in the caller's transaction:
/// two reclaimers racing take disjoint sets, and an item completed meanwhile is not claimed, so not
/// touched. Each list is in (created_at, id) order.
pub(crate) fn reclaim(conn: &dyn Conn, scope: Scope<'_>, backoff: Backoff, now: i64) -> Result<ReclaimResult> {
    let entries = conn.rows(&RECLAIM, params![now, scope, backoff_table(backoff), backoff.jitter], from_row)?;
    let mut result = ReclaimResult::default();
    for entry in entries {
        match entry.status {
            WorkItemStatus::Pending => result.retryable.push(entry.item),
            WorkItemStatus::DeadLetter => result.exhausted.push(entry.item),
            other => return Err(Error::internal(format!("reclaim left an item {}", other.as_str()))),
        }
    }
    for list in [&mut result.retryable, &mut result.exhausted] {
        list.sort_by_key(|item| (item.created_at, item.id));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sqlite::schema::query_plan as plan;

    #[test]
    fn claims_and_reclaims_seek_an_index_and_never_sort() {
        // The seek, not just the index: a claim that sought only `status` would read every pending
        // item of every queue type.
        const PENDING: &str = "work_items_open (status=? AND lease_expires_at=? AND queue_type=?)";
        const IN_TENANT: &str = "work_items_pending_by_tenant (tenant_id=? AND queue_type=?)";
        const EXPIRED: &str = "work_items_open (status=? AND lease_expires_at<?)";
        let mut statements = vec![(RECLAIM.sqlite.to_string(), EXPIRED)];
        for (seek, expected) in [(Seek::Store, PENDING), (Seek::Tenant, IN_TENANT), (Seek::OnlyTenant, PENDING)] {
            statements.push((seek.sql().sqlite.to_string(), expected));
            statements.push((seek.claim_one().sqlite.to_string(), expected));
        }
        for (sql, seek) in statements {
            let steps = plan(&sql);
            assert!(steps.iter().all(|step| !step.contains("TEMP B-TREE")), "{sql} sorts: {steps:?}");
            assert!(
                steps.iter().any(|step| step.contains(&format!("USING INDEX {seek}"))),
                "{sql} does not seek {seek}: {steps:?}"
            );
        }
    }

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
}

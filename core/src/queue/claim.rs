//! Claims: which pending items a worker takes, in what order, and under which limits.
//!
//! A claim takes up to `max` claimable items (pending, `retry_after` passed) of its queue types,
//! in (priority, run_at, id) order across them, each under a new lease token. The seek reads a
//! partial index of pending items in that order, so its cost does not grow with the number of
//! pending items. `run_at` is an item's creation time, or the time it is scheduled for, or the end
//! of its retry backoff: an item that must wait sorts by when it may run, behind the due items of
//! its priority, so a seek reads past only the waiting items of more urgent priorities.
//!
//! Two paths:
//! * **open queues** (no row in `queues` that pauses or limits them), one queue type: one
//!   statement seeks and claims (a guard in it keeps out gated queue types). On PostgreSQL the
//!   seek skips rows other claims hold locked (`FOR UPDATE SKIP LOCKED`): workers on many
//!   connections claim side by side, never the same item, never queued behind one lock;
//! * **several queue types, or a gated one** (paused, concurrency or rate limited): inside a
//!   transaction, per queue type, its gate is read under the queue row's lock (`limits.rs`): a
//!   paused type gives nothing, a limited one only what its limits admit (serialized behind that
//!   lock, so that no two claims count the same free slot); the candidates of every type are
//!   merged in order and claimed by id. A claim of one item of one gated type decides its gate
//!   inside its claim statement ([`claim_gated_one`]); on PostgreSQL that statement goes out with
//!   the lock and the COMMIT, since a round trip is most of what a claim costs there.

use std::sync::LazyLock;

use crate::clock::{duration_micros, from_micros};
use crate::error::{Error, Result};
use crate::sql::{params, Conn, Engine, Statement};
use crate::tenant::{self, Scope};

use super::limits::{self, Gate};
use super::{columns, from_row, id_list, ids, Lease, QueueEntry, WorkItemId};

/// What a claim asks for.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest<'a> {
    pub worker_id: &'a str,
    pub queue_types: &'a [&'a str],
    /// At most this many items (at least 1).
    pub max: usize,
    pub lease: std::time::Duration,
    /// What the caller's last claim of this (single) queue type found it to be: a gated one goes
    /// to the gated path at once rather than try the one-statement claim first, and on
    /// PostgreSQL a gated one without a rate limit is claimed by a statement that records no rate
    /// grant. A hint only: the queue row decides.
    pub seen: Seen,
}

/// What a claim found a (single) queue type to be, as its claims last saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Seen {
    /// No row of `queues` gates it.
    #[default]
    Open,
    /// Paused, or concurrency limited, without a rate limit.
    Gated,
    /// Rate limited (and maybe more).
    Rated,
}

impl Seen {
    /// A queue type whose row gates it (`gated`: paused or limited) or not, rate limited or not.
    pub(crate) fn of(gated: bool, rated: bool) -> Seen {
        match (gated, rated) {
            (_, true) => Seen::Rated,
            (true, false) => Seen::Gated,
            (false, false) => Seen::Open,
        }
    }
}

/// What a claim took, and what it found its (single) queue type to be: the caller's next hint.
pub(crate) struct Claimed {
    pub leases: Vec<Lease>,
    pub seen: Seen,
    /// The claim took nothing because its hint was wrong (a rate limit was set on a queue type
    /// seen without one): make it again with `seen`.
    pub again: bool,
}

/// Where a claim seeks the head of a queue type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seek {
    /// The unscoped store: `work_items_open`.
    Store,
    /// A tenant view: `work_items_pending_by_tenant`.
    Tenant,
    /// A view of `default` in a store of one tenant (no index for views): `work_items_open`,
    /// where every item is `default`'s; the tenant test only guards the rule.
    OnlyTenant,
}

/// What a seek reads of each candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Its id: the seek inside a claim statement.
    Id,
    /// Its place in the order and its partition: a candidate merged with others.
    Candidate,
}

/// Whether a seek keeps out queue types whose row in `queues` gates them (the one-statement
/// claim, which then finds nothing there and lets the gated path decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    OpenOnly,
    None,
}

impl Seek {
    /// The seek for `scope`, or None when the view's tenant can hold no item: without the index
    /// for views no tenant but `default` exists, and an item's tenant must exist.
    pub(crate) fn of(conn: &dyn Conn, scope: Scope<'_>) -> Result<Option<Seek>> {
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

    /// The first `?4` claimable items of one queue type, in the claim's order. Parameters: ?1 queue
    /// type, ?2 now, ?3 tenant (views only; NULL for the store), ?4 how many. A pending item has
    /// no lease expiry (a CHECK of the table): `lease_expires_at IS NULL` is what lets a seek of
    /// SQLite's `work_items_open` reach `queue_type`. PostgreSQL's seek of an open queue skips
    /// the items other claims hold locked; a gated queue's needs not (its claims queue behind the
    /// queue row's lock).
    fn sql(self, engine: Engine, reads: Reads, guard: Guard, lock: bool) -> String {
        let columns = match reads {
            Reads::Id => "id",
            Reads::Candidate => "priority, run_at, id, partition_key",
        };
        match engine {
            Engine::Sqlite => {
                let (index, tenant) = match self {
                    Seek::Store => ("work_items_open", ""),
                    Seek::OnlyTenant => ("work_items_open", " AND tenant_id = ?3"),
                    Seek::Tenant => ("work_items_pending_by_tenant", " AND tenant_id = ?3"),
                };
                let open = match self {
                    Seek::Tenant => "",
                    Seek::Store | Seek::OnlyTenant => " AND lease_expires_at IS NULL",
                };
                let guard = match guard {
                    Guard::None => "",
                    Guard::OpenOnly => {
                        " AND NOT EXISTS (SELECT 1 FROM queues WHERE queue_type = ?1 AND (paused <> 0
                              OR concurrency IS NOT NULL OR partition_concurrency IS NOT NULL OR rate_limit IS NOT NULL))"
                    }
                };
                format!(
                    "SELECT {columns} FROM work_items INDEXED BY {index}
                     WHERE status = 'pending'{open} AND queue_type = ?1{tenant}
                       AND (retry_after IS NULL OR retry_after <= ?2){guard}
                     ORDER BY priority, run_at, id LIMIT ?4"
                )
            }
            Engine::Postgres => {
                let tenant = match self {
                    Seek::Store => " AND $3::text IS NULL",
                    Seek::OnlyTenant | Seek::Tenant => " AND tenant_id = $3",
                };
                let guard = match guard {
                    Guard::None => "",
                    Guard::OpenOnly => {
                        " AND NOT EXISTS (SELECT 1 FROM queues WHERE queue_type = $1 AND (paused
                              OR concurrency IS NOT NULL OR partition_concurrency IS NOT NULL OR rate_limit IS NOT NULL))"
                    }
                };
                let lock = if lock { " FOR UPDATE SKIP LOCKED" } else { "" };
                format!(
                    "SELECT {columns} FROM work_items
                     WHERE status = 'pending' AND queue_type = $1{tenant}
                       AND (retry_after IS NULL OR retry_after <= $2){guard}
                     ORDER BY priority, run_at, id LIMIT $4::bigint{lock}"
                )
            }
        }
    }
}

/// The claim itself: the pending items `which` names become claimed, each under a new lease
/// token. Parameters: ?1 queue type, ?2 now, ?3 tenant (views only), ?4 how many, ?5 worker,
/// ?6 lease expiry; for a claim by id, ?1 the ids as a JSON list instead.
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
             SET status = 'claimed', worker_id = ?5, lease_expires_at = ?6, lease_token = lease_token + 1,
                 claimed_at = ?2, updated_at = ?2
             WHERE {which} AND status = 'pending'
             RETURNING {}",
            columns!()
        ),
        Engine::Postgres => format!(
            "UPDATE work_items
             SET status = 'claimed', worker_id = $5, lease_expires_at = $6, lease_token = lease_token + 1,
                 claimed_at = $2, updated_at = $2
             WHERE {which} AND status = 'pending'
             RETURNING {}",
            columns!()
        ),
    }
}

/// Every statement of the claims, built once: per seek, the one-statement claim of one item and
/// of several; the seek of candidates (open, and gated); and the claim by ids.
struct ClaimSql {
    /// Per seek (`Seek as usize`): (claim one, claim several, candidates of an open queue,
    /// candidates of a gated queue, whether any is claimable, claim several of a gated queue under
    /// its lock, claim one of a gated queue that decides its gate itself, the same for a queue
    /// without a rate limit (PostgreSQL's records no rate grant; SQLite's is the same)), each
    /// (SQLite, PostgreSQL).
    seeks: [[(String, String); 8]; 3],
    by_ids: (String, String),
}

static SQL: LazyLock<ClaimSql> = LazyLock::new(|| {
    let seeks = [Seek::Store, Seek::Tenant, Seek::OnlyTenant].map(|seek| {
        let id_seek = |engine| seek.sql(engine, Reads::Id, Guard::OpenOnly, true);
        let one = (
            claim_sql(Engine::Sqlite, &format!("id = (SELECT id FROM ({}))", id_seek(Engine::Sqlite))),
            claim_sql(Engine::Postgres, &format!("id = (SELECT id FROM ({}) head)", id_seek(Engine::Postgres))),
        );
        // PostgreSQL: the heads in a CTE, which runs once. (`id IN (subquery with LIMIT ... FOR
        // UPDATE SKIP LOCKED)` may run its subquery again for each row the UPDATE scans, and then
        // claim more than the limit.)
        let many = (
            claim_sql(Engine::Sqlite, &format!("id IN (SELECT id FROM ({}))", id_seek(Engine::Sqlite))),
            format!(
                "WITH head AS ({}) {}",
                id_seek(Engine::Postgres),
                claim_sql(Engine::Postgres, "id IN (SELECT id FROM head)")
            ),
        );
        let open = (
            seek.sql(Engine::Sqlite, Reads::Candidate, Guard::None, true),
            seek.sql(Engine::Postgres, Reads::Candidate, Guard::None, true),
        );
        let gated = (
            seek.sql(Engine::Sqlite, Reads::Candidate, Guard::None, false),
            seek.sql(Engine::Postgres, Reads::Candidate, Guard::None, false),
        );
        let any = (
            format!("SELECT EXISTS ({})", seek.sql(Engine::Sqlite, Reads::Id, Guard::None, false)),
            format!("SELECT EXISTS ({})", seek.sql(Engine::Postgres, Reads::Id, Guard::None, false)),
        );
        let gated_seek = |engine| seek.sql(engine, Reads::Id, Guard::None, false);
        // PostgreSQL's also records the claims in the queue's rate log (`limits::record_ctes`):
        // one statement, which goes out with the COMMIT.
        let gated_many = (
            claim_sql(Engine::Sqlite, &format!("id IN (SELECT id FROM ({}))", gated_seek(Engine::Sqlite))),
            format!(
                "WITH head AS ({}), claimed AS ({}), {}, {} SELECT * FROM claimed",
                gated_seek(Engine::Postgres),
                claim_sql(Engine::Postgres, "id IN (SELECT id FROM head)"),
                limits::LAST_GRANT,
                limits::record_ctes("(SELECT count(*) FROM claimed)", "$2")
            ),
        );
        // PostgreSQL's, for a rate-limited queue type: its rate grant recorded by the statement
        // itself; for one without: none recorded, and nothing claimed should it have a rate limit
        // after all (the caller's hint was stale, and it claims again with the other).
        let postgres_gated_one = |rated: bool| {
            // The last grant is read once, by the check and the record alike.
            let (last, rate, record) = match rated {
                true => (
                    format!("{},\n", limits::LAST_GRANT),
                    concat!(
                        "(q.rate_limit IS NULL OR coalesce(",
                        limits::looked_back_on!(postgres, "(SELECT n FROM last_grant)"),
                        " <= $2 - q.rate_period, true))"
                    )
                    .to_string(),
                    format!(",\n{}", limits::record_ctes("(SELECT count(*) FROM claimed)", "$2")),
                ),
                false => (String::new(), "q.rate_limit IS NULL".to_string(), String::new()),
            };
            format!(
                "WITH {}gate AS (
                     SELECT NOT q.paused
                            AND (q.concurrency IS NULL OR q.concurrency >
                                 (SELECT count(*) FROM work_items WHERE status = 'claimed' AND queue_type = $1))
                            AND {} AS admits,
                            q.partition_concurrency
                     FROM queues q WHERE q.queue_type = $1),
                 head AS (
                     SELECT seek.id FROM ({}) seek
                     WHERE coalesce((SELECT admits FROM gate), true)
                       AND (seek.partition_key IS NULL OR (SELECT partition_concurrency FROM gate) IS NULL
                            OR (SELECT partition_concurrency FROM gate) > (
                                SELECT count(*) FROM work_items c
                                WHERE c.status = 'claimed' AND c.queue_type = $1
                                  AND c.partition_key = seek.partition_key))
                     ORDER BY seek.priority, seek.run_at, seek.id
                     LIMIT 1),
                 claimed AS ({}){}
                 SELECT * FROM claimed",
                last,
                rate,
                seek.sql(Engine::Postgres, Reads::Candidate, Guard::None, false),
                claim_sql(Engine::Postgres, "id = (SELECT id FROM head)"),
                record,
            )
        };
        // The claim of one item of a gated queue type, its gate decided in the statement itself
        // (see `claim_gated_one`). SQLite's also answers, per row, whether the queue type is gated,
        // its last rate grant and its rate limit (its rate grant is recorded by the next
        // statement: SQLite writes one table per statement); PostgreSQL's runs after the
        // statement that locks the queue row, and records its rate grant itself.
        let gated_one = (
            format!(
                "WITH gate AS (
                     SELECT NOT q.paused
                            AND (q.concurrency IS NULL OR q.concurrency >
                                 (SELECT count(*) FROM work_items INDEXED BY work_items_open
                                  WHERE status = 'claimed' AND queue_type = ?1))
                            AND (q.rate_limit IS NULL OR coalesce({} <= ?2 - q.rate_period, 1)) AS admits,
                            q.partition_concurrency AS per_partition
                     FROM queues q WHERE q.queue_type = ?1),
                 running AS MATERIALIZED (
                     SELECT partition_key, count(*) AS claimed FROM work_items INDEXED BY work_items_open
                     WHERE status = 'claimed' AND queue_type = ?1 AND partition_key IS NOT NULL
                       AND (SELECT per_partition FROM gate) IS NOT NULL
                     GROUP BY partition_key)
                 {}
                 , (SELECT paused OR concurrency IS NOT NULL OR partition_concurrency IS NOT NULL
                           OR rate_limit IS NOT NULL FROM queues WHERE queue_type = ?1),
                   {},
                   (SELECT rate_limit FROM queues WHERE queue_type = ?1)",
                limits::looked_back_on!(sqlite, limits::last_grant!(sqlite)),
                claim_sql(
                    Engine::Sqlite,
                    &format!(
                        "id = (SELECT seek.id FROM ({}) seek
                               WHERE coalesce((SELECT admits FROM gate), 1)
                                 AND (seek.partition_key IS NULL OR (SELECT per_partition FROM gate) IS NULL
                                      OR (SELECT per_partition FROM gate) > coalesce(
                                          (SELECT claimed FROM running r WHERE r.partition_key = seek.partition_key), 0))
                               ORDER BY seek.priority, seek.run_at, seek.id
                               LIMIT 1)",
                        seek.sql(Engine::Sqlite, Reads::Candidate, Guard::None, false)
                    )
                ),
                limits::last_grant!(sqlite),
            ),
            postgres_gated_one(true),
        );
        let gated_one_unrated = (gated_one.0.clone(), postgres_gated_one(false));
        [one, many, open, gated, any, gated_many, gated_one, gated_one_unrated]
    });
    let by_ids = (
        claim_sql(Engine::Sqlite, concat!("id ", ids!(sqlite, "?1"), " AND (?3 IS NULL OR tenant_id = ?3)")),
        claim_sql(
            Engine::Postgres,
            concat!(
                "id ",
                ids!(postgres, "$1"),
                " AND ($3::text IS NULL OR tenant_id = $3) AND $4::bigint IS NOT NULL"
            ),
        ),
    );
    ClaimSql { seeks, by_ids }
});

fn statement(pair: &(String, String)) -> Statement<'_> {
    Statement { sqlite: &pair.0, postgres: &pair.1 }
}

/// A pending item as a seek finds it: its place in the claim's order, and its partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Candidate {
    pub priority: i64,
    pub run_at: i64,
    pub id: WorkItemId,
    pub partition_key: Option<String>,
}

/// Up to `limit` claimable items of `queue_type`, in the claim's order.
pub(crate) fn candidates(
    conn: &dyn Conn,
    seek: Seek,
    scope: Scope<'_>,
    queue_type: &str,
    gated: bool,
    limit: usize,
    now: i64,
) -> Result<Vec<Candidate>> {
    let mut found = Vec::new();
    each_candidate(conn, seek, scope, queue_type, gated, limit, now, &mut |candidate| {
        found.push(candidate);
        Ok(true)
    })?;
    Ok(found)
}

/// Hands up to `limit` claimable items of `queue_type` to `each`, in the claim's order, until it
/// returns false: the seek reads no further than the caller needs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn each_candidate(
    conn: &dyn Conn,
    seek: Seek,
    scope: Scope<'_>,
    queue_type: &str,
    gated: bool,
    limit: usize,
    now: i64,
    each: &mut dyn FnMut(Candidate) -> Result<bool>,
) -> Result<()> {
    let sql = &SQL.seeks[seek as usize][if gated { 3 } else { 2 }];
    conn.query(&statement(sql), params![queue_type, now, scope, limit], &mut |row| {
        each(Candidate { priority: row.get(0)?, run_at: row.get(1)?, id: row.get(2)?, partition_key: row.get(3)? })
    })
}

/// Whether any item of `queue_types` is claimable now (paused or limited queues aside): a read,
/// which a waiting claim makes before it takes the writer's lock for a claim.
pub(crate) fn any_ready(conn: &dyn Conn, scope: Scope<'_>, queue_types: &[&str], now: i64) -> Result<bool> {
    let Some(seek) = Seek::of(conn, scope)? else { return Ok(false) };
    let sql = &SQL.seeks[seek as usize][4];
    for queue_type in queue_types {
        if conn.value::<bool>(&statement(sql), params![queue_type, now, scope, 1])? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Claims up to `request.max` items of `request.queue_types` for `request.worker_id` (see the
/// module). Fewer, or none, when fewer are claimable; in the claim's order.
pub(crate) fn claim(conn: &dyn Conn, scope: Scope<'_>, request: &ClaimRequest<'_>, now: i64) -> Result<Claimed> {
    if request.max == 0 {
        return Err(Error::invalid("a claim takes at least one item (max 0 asks for none)"));
    }
    let nothing = |seen| Ok(Claimed { leases: Vec::new(), seen, again: false });
    let Some(seek) = Seek::of(conn, scope)? else { return nothing(request.seen) };
    let gated_hint = request.seen != Seen::Open;
    let mut seen = request.seen;
    let expires_at = now.saturating_add(duration_micros(request.lease));
    let mut types: Vec<&str> = Vec::with_capacity(request.queue_types.len());
    for queue_type in request.queue_types {
        if !types.contains(queue_type) {
            types.push(queue_type);
        }
    }
    let claim_params = |queue_type: &str, max: usize| -> Vec<crate::sql::Value<'static>> {
        vec![
            crate::sql::Value::Text(queue_type.to_string().into()),
            crate::sql::Value::Integer(now),
            scope.map_or(crate::sql::Value::Null, |t| crate::sql::Value::Text(t.to_string().into())),
            crate::sql::Value::Integer(i64::try_from(max).unwrap_or(i64::MAX)),
            crate::sql::Value::Text(request.worker_id.to_string().into()),
            crate::sql::Value::Integer(expires_at),
        ]
    };
    // A claim statement, run as any other or as the call's last (`Conn::query_last`).
    let run_as = |last: bool, sql: &(String, String), values: &[crate::sql::Value<'_>]| -> Result<Vec<QueueEntry>> {
        let params: Vec<&dyn crate::sql::Param> = values.iter().map(|v| v as &dyn crate::sql::Param).collect();
        if last {
            conn.rows_last(&statement(sql), &params, from_row)
        } else {
            conn.rows(&statement(sql), &params, from_row)
        }
    };
    let run = |sql: &(String, String), values: &[crate::sql::Value<'_>]| run_as(false, sql, values);
    if let [queue_type] = types[..] {
        if gated_hint && conn.commits_each_statement() {
            return Err(Error::needs_transaction());
        }
        if !gated_hint {
            // The common case, one open queue type: seek and claim in one statement.
            let [one, many, ..] = &SQL.seeks[seek as usize];
            let claimed = run(if request.max == 1 { one } else { many }, &claim_params(queue_type, request.max))?;
            if !claimed.is_empty() {
                return Ok(Claimed { leases: leases(claimed, expires_at), seen: Seen::Open, again: false });
            }
            // Nothing: the queue is empty, or a row of `queues` gates it and the guard kept it out.
            match limits::gate(conn, queue_type, false)? {
                None => return nothing(Seen::Open),
                Some(gate) if gate.paused => return nothing(gate.seen()),
                Some(_) if conn.commits_each_statement() => return Err(Error::needs_transaction()),
                Some(gate) => seen = gate.seen(),
            }
        }
        if request.max == 1 {
            let params = claim_params(queue_type, limits::PARTITION_SCAN);
            let sql = &SQL.seeks[seek as usize][if seen == Seen::Rated { 6 } else { 7 }];
            return claim_gated_one(conn, sql, seen, queue_type, &params, now, expires_at);
        }
        // One gated queue type, under its row's lock: what its limits admit, claimed at once
        // unless partitions must be counted item by item.
        let Some(gate) = limits::gate(conn, queue_type, true)? else {
            let found = candidates(conn, seek, scope, queue_type, false, request.max, now)?;
            return claim_chosen(
                conn,
                scope,
                request,
                found.into_iter().map(|c| (c, 0)).collect(),
                &[None],
                &types,
                now,
                expires_at,
            )
            .map(|leases| Claimed { leases, seen: Seen::Open, again: false });
        };
        let seen = gate.seen();
        let taken = match limits::budget(conn, queue_type, &gate, request.max, now)? {
            limits::Budget::None => Vec::new(),
            limits::Budget::Items(budget) => {
                // On PostgreSQL the claim records its rate grants itself, and its COMMIT goes with
                // it: a gated claim is two round trips (the lock with the counts, then this).
                let records_itself = conn.engine() == Engine::Postgres;
                let claimed = run_as(records_itself, &SQL.seeks[seek as usize][5], &claim_params(queue_type, budget))?;
                if !records_itself {
                    limits::record(conn, queue_type, &gate, claimed.len(), now)?;
                }
                leases(claimed, expires_at)
            }
            limits::Budget::PerPartition(budget, running) => {
                let found = limits::admit_partitions(conn, seek, scope, queue_type, &gate, budget, running, now)?;
                let chosen = found.into_iter().map(|c| (c, 0)).collect();
                claim_chosen(conn, scope, request, chosen, &[Some(gate)], &types, now, expires_at)?
            }
        };
        return Ok(Claimed { leases: taken, seen, again: false });
    }
    if conn.commits_each_statement() {
        return Err(Error::needs_transaction());
    }
    let mut chosen: Vec<(Candidate, usize)> = Vec::new();
    let mut gates: Vec<Option<Gate>> = Vec::with_capacity(types.len());
    for (index, queue_type) in types.iter().enumerate() {
        let gate = limits::gate(conn, queue_type, true)?;
        let found = match &gate {
            None => candidates(conn, seek, scope, queue_type, false, request.max, now)?,
            Some(gate) => limits::admit(conn, seek, scope, queue_type, gate, request.max, now)?,
        };
        chosen.extend(found.into_iter().map(|candidate| (candidate, index)));
        gates.push(gate);
    }
    let leases = claim_chosen(conn, scope, request, chosen, &gates, &types, now, expires_at)?;
    Ok(Claimed { leases, seen: Seen::Open, again: false })
}

/// The claim of one item of a gated queue type: one statement decides its gate (paused, the
/// claimed items under the concurrency limit, the grant the rate log looks back on, the first candidate
/// whose partition is under its limit within [`limits::PARTITION_SCAN`]) and claims.
///
/// * PostgreSQL: one round trip. BEGIN, the queue row's lock, the claim (which records its rate
///   grant) and COMMIT go out together (`Conn::query_last`); the claim runs once the lock
///   statement has ended, so its snapshot holds every claim committed before the lock was
///   granted, as the invariants of `limits.rs` ask. `sql` is the statement for a rate-limited
///   queue type when `hint` says it is one, else the one that records no grant (a tenth less work
///   on the server), which claims nothing from a rate-limited type: then `again` asks the caller
///   to claim again with the hint corrected.
/// * SQLite: the writer holds the file; the claim answers whether the type is gated and where its
///   rate log stands, and a rated claim records its grant after it.
///
/// `params`: the claim's, the seek reading up to `PARTITION_SCAN` candidates.
fn claim_gated_one(
    conn: &dyn Conn,
    sql: &(String, String),
    hint: Seen,
    queue_type: &str,
    params: &[crate::sql::Value<'_>],
    now: i64,
    expires_at: i64,
) -> Result<Claimed> {
    const LOCK: Statement = Statement {
        sqlite: "",
        postgres: "SELECT paused OR concurrency IS NOT NULL OR partition_concurrency IS NOT NULL
                       OR rate_limit IS NOT NULL, rate_limit IS NOT NULL
                   FROM queues WHERE queue_type = $1 FOR UPDATE",
    };
    /// The columns SQLite's statement answers after the item's: gated, last rate grant, rate limit.
    const GATED: usize = 22;
    let params: Vec<&dyn crate::sql::Param> = params.iter().map(|v| v as &dyn crate::sql::Param).collect();
    let (mut seen, mut claimed) = (Seen::Open, Vec::new());
    if conn.engine() == Engine::Postgres {
        conn.query_last(&[(&LOCK, params![queue_type]), (&statement(sql), &params)], &mut |index, row| {
            match index {
                0 => seen = Seen::of(row.get(0)?, row.get(1)?),
                _ => claimed.push(from_row(row)?),
            }
            Ok(())
        })?;
        // The statement for a queue type without a rate limit claims nothing from one with.
        let again = hint != Seen::Rated && seen == Seen::Rated && claimed.is_empty();
        return Ok(Claimed { leases: leases(claimed, expires_at), seen, again });
    }
    let mut log = None;
    conn.query(&statement(sql), &params, &mut |row| {
        let gated = row.get::<Option<bool>>(GATED)?.unwrap_or(false);
        log = row.get::<Option<i64>>(GATED + 2)?.map(|limit| Ok::<_, Error>((row.get::<i64>(GATED + 1)?, limit)));
        seen = Seen::of(gated, log.is_some());
        claimed.push(from_row(row)?);
        Ok(true)
    })?;
    if let Some(log) = log {
        let (last_grant, limit) = log?;
        limits::record_at(conn, queue_type, last_grant, limit, claimed.len(), now)?;
    }
    if claimed.is_empty() {
        // Nothing claimed says nothing of the gate: the caller's hint stays.
        seen = if hint == Seen::Open { Seen::Gated } else { hint };
    }
    Ok(Claimed { leases: leases(claimed, expires_at), seen, again: false })
}

/// Claims the first `request.max` of `chosen` (candidates of `types[index]`, found under their
/// gates' locks) by id, and records the claims of rate-limited types.
#[allow(clippy::too_many_arguments)]
fn claim_chosen(
    conn: &dyn Conn,
    scope: Scope<'_>,
    request: &ClaimRequest<'_>,
    mut chosen: Vec<(Candidate, usize)>,
    gates: &[Option<Gate>],
    types: &[&str],
    now: i64,
    expires_at: i64,
) -> Result<Vec<Lease>> {
    chosen.sort();
    chosen.truncate(request.max);
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let (by_ids_sqlite, by_ids_postgres) = &SQL.by_ids;
    let claimed = conn.rows(
        &Statement { sqlite: by_ids_sqlite, postgres: by_ids_postgres },
        params![
            id_list(chosen.iter().map(|(candidate, _)| candidate.id)),
            now,
            scope,
            request.max,
            request.worker_id,
            expires_at
        ],
        from_row,
    )?;
    if claimed.len() != chosen.len() {
        return Err(Error::internal("an item chosen by a claim under its lock was no longer pending"));
    }
    for (index, gate) in gates.iter().enumerate() {
        let Some(gate) = gate else { continue };
        let taken = chosen.iter().filter(|(_, of)| *of == index).count();
        limits::record(conn, types[index], gate, taken, now)?;
    }
    Ok(leases(claimed, expires_at))
}

/// The leases of claimed rows, in the claim's order.
fn leases(mut claimed: Vec<QueueEntry>, expires_at: i64) -> Vec<Lease> {
    claimed.sort_by_key(|entry| (entry.priority, entry.run_at, entry.item.id));
    claimed
        .into_iter()
        .map(|entry| Lease { token: entry.lease_token, expires_at: from_micros(expires_at), item: entry.item })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sqlite::schema::query_plan as plan;

    #[test]
    fn claims_seek_an_index_and_never_sort() {
        // The seek, not just the index: a claim that sought only `status` would read every pending
        // item of every queue type.
        const PENDING: &str = "work_items_open (status=? AND lease_expires_at=? AND queue_type=?)";
        const IN_TENANT: &str = "work_items_pending_by_tenant (tenant_id=? AND queue_type=?)";
        let mut statements = Vec::new();
        for (seek, expected) in [(Seek::Store, PENDING), (Seek::Tenant, IN_TENANT), (Seek::OnlyTenant, PENDING)] {
            for sql in &SQL.seeks[seek as usize] {
                statements.push((sql.0.clone(), expected));
            }
        }
        for (sql, seek) in statements {
            let steps = plan(&sql);
            // The one-item gated claim groups a partition-limited type's claimed items by
            // partition (once, not per candidate): a grouping, never a sort of the candidates.
            let sorts =
                |step: &&String| step.contains("TEMP B-TREE") && step.as_str() != "USE TEMP B-TREE FOR GROUP BY";
            assert!(!steps.iter().any(|step| sorts(&step)), "{sql} sorts: {steps:?}");
            assert!(
                steps.iter().any(|step| step.contains(&format!("USING INDEX {seek}"))
                    || step.contains(&format!("USING COVERING INDEX {seek}"))),
                "{sql} does not seek {seek}: {steps:?}"
            );
        }
    }
}

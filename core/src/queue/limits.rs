//! Settings of a queue type (`queues`): paused, a concurrency limit (for the whole queue type, and
//! per partition key), a rate limit; and how a claim admits items under them.
//!
//! Invariants:
//! * a queue type never has more claimed items than its concurrency limit, nor a partition more
//!   than the partition limit, not even for an instant: every claim of a limited type reads its
//!   gate under the queue row's lock (`FOR UPDATE` on PostgreSQL; SQLite's one writer), counts the
//!   claimed items after taking it, and claims before letting it go; claims of open types never
//!   take it (their one-statement claim keeps gated types out);
//! * a queue type never grants more than `rate_limit` claims in any window of `rate_period`: its
//!   grants are a log (`queue_rate_grants`, numbered from 1 in grant order), and grant n is made
//!   only if grant n - `rate_limit` is absent or a whole period old. The log holds the last
//!   `rate_limit` grants at least (older ones are trimmed every [`TRIM_EVERY`] grants), and is
//!   read and appended to under the queue row's lock;
//! * limits are store-wide, across every tenant, worker, process and host; a limit changed while
//!   items are claimed holds from the next claim (items already claimed keep their leases).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use serde::Serialize;

use crate::clock::duration_micros;
use crate::error::{Error, Result};
use crate::sql::{params, Conn, Engine, Statement};
use crate::tenant::Scope;

use super::claim::{candidates, each_candidate, Candidate, Seek};

/// The number of queue type `?1`'s (`$1`'s) last rate grant, 0 if none: a scalar subquery.
macro_rules! last_grant {
    (sqlite) => {
        "(SELECT coalesce(max(seq), 0) FROM queue_rate_grants WHERE queue_type = ?1)"
    };
    (postgres) => {
        "(SELECT coalesce(max(seq), 0) FROM queue_rate_grants WHERE queue_type = $1)"
    };
}
pub(crate) use last_grant;

/// The rate rule's read: the time of the grant that the one after grant `$last` (an SQL
/// expression) looks back on, `rate_limit` places before it (`q` is the queue's row); NULL if
/// there is none. The next grant is made while this is NULL or a whole period old.
macro_rules! looked_back_on {
    (sqlite, $($last:tt)+) => {
        concat!(
            "(SELECT claimed_at FROM queue_rate_grants s WHERE s.queue_type = ?1 AND s.seq = ",
            $($last)+,
            " + 1 - q.rate_limit)"
        )
    };
    (postgres, $($last:tt)+) => {
        concat!(
            "(SELECT claimed_at FROM queue_rate_grants s WHERE s.queue_type = $1 AND s.seq = ",
            $($last)+,
            " + 1 - q.rate_limit)"
        )
    };
}
pub(crate) use looked_back_on;

/// At most this many claims per period: the log keeps this many grants per rate-limited queue.
pub const MAX_RATE_LIMIT: u32 = 100_000;

/// The rate log is trimmed when its count of grants passes a multiple of this: a grant costs one
/// row, and every this many, one delete of the grants the limit no longer looks back on.
pub(crate) const TRIM_EVERY: i64 = 64;

/// The most items a claim looks at past full partitions before it stops: a partitioned claim
/// reads candidates in order and skips those of partitions at their limit, so that one busy
/// partition with a deep backlog costs a bounded read, not the whole backlog. Items further back
/// wait for the next claim that finds a free slot nearer the front.
pub const PARTITION_SCAN: usize = 1_000;

/// At most `claims` claims in any window of `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub claims: u32,
    #[serde(rename = "period_ms", serialize_with = "serialize_ms")]
    pub period: Duration,
}

fn serialize_ms<S: serde::Serializer>(period: &Duration, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_f64(period.as_secs_f64() * 1000.0)
}

/// The settings of a queue type. `QueueSettings::default()`: open (not paused, no limit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueSettings {
    /// Claims skip a paused queue type; its items wait, nothing is lost.
    pub paused: bool,
    /// At most this many items of the queue type claimed at once, across every worker.
    pub concurrency: Option<u32>,
    /// At most this many items of one partition key claimed at once (items without a partition
    /// key are not counted by it).
    pub partition_concurrency: Option<u32>,
    pub rate_limit: Option<RateLimit>,
}

impl QueueSettings {
    pub(crate) fn validate(&self) -> Result<()> {
        for (name, limit) in [("concurrency", self.concurrency), ("partition_concurrency", self.partition_concurrency)]
        {
            if limit == Some(0) {
                return Err(Error::invalid(format!(
                    "a {name} limit of 0 is refused: pause the queue to stop its claims, or leave the limit unset"
                )));
            }
        }
        if let Some(rate) = self.rate_limit {
            if rate.claims == 0 || rate.claims > MAX_RATE_LIMIT {
                return Err(Error::invalid(format!(
                    "a rate limit of {} claims is refused: from 1 to {MAX_RATE_LIMIT} per period",
                    rate.claims
                )));
            }
            if rate.period < Duration::from_millis(1) || rate.period > Duration::from_secs(366 * 24 * 3600) {
                return Err(Error::invalid(format!(
                    "a rate period of {:?} is refused: from 1 ms to a year",
                    rate.period
                )));
            }
        }
        Ok(())
    }

    fn is_open(&self) -> bool {
        *self == QueueSettings::default()
    }
}

/// A queue type at a glance, for operators: its settings and its items by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueInfo {
    pub queue_type: String,
    pub settings: QueueSettings,
    /// Pending and claimable now.
    pub ready: u64,
    /// Pending, not claimable before their run time (scheduled, or waiting out a retry backoff).
    pub scheduled: u64,
    pub claimed: u64,
    pub completed: u64,
    pub failed: u64,
    pub dead_letter: u64,
    pub cancelled: u64,
}

/// A gated queue type's settings as a claim reads them, with where its rate log stands.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub paused: bool,
    concurrency: Option<i64>,
    partition_concurrency: Option<i64>,
    rate: Option<(i64, i64)>,
    /// The number of the queue type's last rate grant (0: none yet, or no rate limit).
    last_grant: i64,
    /// The time of the grant the next one looks back on, `rate_limit` places back (None: there
    /// is none, or no rate limit).
    oldest_grant: Option<i64>,
    /// The claimed items counted just after the lock was taken, when they came with it.
    counted: Option<Counted>,
}

impl Gate {
    /// What a claim finds the queue type to be (the caller's next hint).
    pub(crate) fn seen(&self) -> super::claim::Seen {
        super::claim::Seen::of(true, self.rate.is_some())
    }
}

/// A gated queue type's claimed items, in all and by partition.
#[derive(Debug, Clone, Default)]
struct Counted {
    claimed: i64,
    by_partition: HashMap<String, i64>,
}

/// The gate of `queue_type`, if a row of `queues` gates it (None: open). `lock`: take the queue
/// row's lock for the rest of the transaction (PostgreSQL; SQLite's writer holds the whole file).
/// A rate-limited gate comes with the time of the grant the next one looks back on: a claim of
/// one item decides its rate from this read alone.
pub(crate) fn gate(conn: &dyn Conn, queue_type: &str, lock: bool) -> Result<Option<Gate>> {
    const READ: Statement = Statement {
        sqlite: concat!(
            "SELECT q.paused, q.concurrency, q.partition_concurrency, q.rate_limit, q.rate_period, g.last, ",
            looked_back_on!(sqlite, "g.last"),
            " FROM queues q, (SELECT ",
            last_grant!(sqlite),
            " AS last) g WHERE q.queue_type = ?1"
        ),
        postgres: concat!(
            "SELECT q.paused, q.concurrency, q.partition_concurrency, q.rate_limit, q.rate_period, g.last, ",
            looked_back_on!(postgres, "g.last"),
            " FROM queues q, (SELECT ",
            last_grant!(postgres),
            " AS last) g WHERE q.queue_type = $1"
        ),
    };
    // PostgreSQL locks the row alone: a statement that waited for the lock re-reads the locked
    // row, not what it joined to it, so the rate log is read after (`RATE_IF_LIMITED`).
    const LOCK: Statement = Statement {
        sqlite: READ.sqlite,
        postgres: "SELECT paused, concurrency, partition_concurrency, rate_limit, rate_period, 0::bigint,
                          NULL::bigint
                   FROM queues WHERE queue_type = $1
                   FOR UPDATE",
    };
    // PostgreSQL only, sent with the lock: each runs once the lock is taken, in a snapshot of its
    // own (READ COMMITTED), so it counts every claim committed before; each counts only when
    // the queue has the limit it serves (an InitPlan, read before any row).
    const CLAIMED_IF_LIMITED: Statement = Statement {
        sqlite: "",
        postgres: "SELECT count(*) FROM work_items WHERE status = 'claimed' AND queue_type = $1
                     AND EXISTS (SELECT 1 FROM queues WHERE queue_type = $1 AND concurrency IS NOT NULL)",
    };
    const BY_PARTITION_IF_LIMITED: Statement = Statement {
        sqlite: "",
        postgres: "SELECT partition_key, count(*) FROM work_items
                   WHERE status = 'claimed' AND queue_type = $1 AND partition_key IS NOT NULL
                     AND EXISTS (SELECT 1 FROM queues WHERE queue_type = $1 AND partition_concurrency IS NOT NULL)
                   GROUP BY partition_key",
    };
    const RATE_IF_LIMITED: Statement = Statement {
        sqlite: "",
        postgres: concat!(
            "SELECT g.last, ",
            looked_back_on!(postgres, "g.last"),
            " FROM queues q, (SELECT ",
            last_grant!(postgres),
            " AS last) g WHERE q.queue_type = $1 AND q.rate_limit IS NOT NULL"
        ),
    };
    let from_row = |row: &crate::sql::Row<'_>| {
        let rate = match (row.get::<Option<i64>>(3)?, row.get::<Option<i64>>(4)?) {
            (Some(claims), Some(period)) => Some((claims, period)),
            _ => None,
        };
        Ok(Gate {
            paused: row.get(0)?,
            concurrency: row.get(1)?,
            partition_concurrency: row.get(2)?,
            rate,
            last_grant: row.get(5)?,
            oldest_grant: row.get(6)?,
            counted: None,
        })
    };
    let gate = if lock && conn.engine() == Engine::Postgres {
        // A round trip is dear on PostgreSQL: the counts a limit needs travel with the lock.
        let (mut gate, mut counted, mut log) = (None, Counted::default(), (0, None));
        conn.query_together(
            &[
                (&LOCK, params![queue_type]),
                (&CLAIMED_IF_LIMITED, params![queue_type]),
                (&BY_PARTITION_IF_LIMITED, params![queue_type]),
                (&RATE_IF_LIMITED, params![queue_type]),
            ],
            &mut |statement, row| {
                match statement {
                    0 => gate = Some(from_row(row)?),
                    1 => counted.claimed = row.get(0)?,
                    2 => drop(counted.by_partition.insert(row.get(0)?, row.get(1)?)),
                    _ => log = (row.get(0)?, row.get(1)?),
                }
                Ok(())
            },
        )?;
        gate.map(|gate| Gate { counted: Some(counted), last_grant: log.0, oldest_grant: log.1, ..gate })
    } else {
        conn.row(if lock { &LOCK } else { &READ }, params![queue_type], from_row)?
    };
    Ok(gate.filter(|gate| {
        gate.paused || gate.concurrency.is_some() || gate.partition_concurrency.is_some() || gate.rate.is_some()
    }))
}

/// How many items of `queue_type` are claimed now.
fn claimed(conn: &dyn Conn, queue_type: &str) -> Result<i64> {
    const CLAIMED: Statement = Statement {
        sqlite: "SELECT count(*) FROM work_items INDEXED BY work_items_open
                 WHERE status = 'claimed' AND queue_type = ?1",
        postgres: "SELECT count(*) FROM work_items WHERE status = 'claimed' AND queue_type = $1",
    };
    conn.value(&CLAIMED, params![queue_type])
}

/// How many items of each partition of `queue_type` are claimed now.
fn claimed_by_partition(conn: &dyn Conn, queue_type: &str) -> Result<HashMap<String, i64>> {
    const BY_PARTITION: Statement = Statement {
        sqlite: "SELECT partition_key, count(*) FROM work_items INDEXED BY work_items_open
                 WHERE status = 'claimed' AND queue_type = ?1 AND partition_key IS NOT NULL GROUP BY partition_key",
        postgres: "SELECT partition_key, count(*) FROM work_items
                   WHERE status = 'claimed' AND queue_type = $1 AND partition_key IS NOT NULL GROUP BY partition_key",
    };
    Ok(conn.rows(&BY_PARTITION, params![queue_type], |row| Ok((row.get(0)?, row.get(1)?)))?.into_iter().collect())
}

/// How many more claims the rate log grants now, up to `want`: grant last + i is made while the
/// grant `rate_limit` places before it is absent or a whole period old.
fn rate_allows(conn: &dyn Conn, queue_type: &str, gate: &Gate, want: i64, now: i64) -> Result<i64> {
    const LOOKED_BACK_ON: Statement = Statement {
        sqlite: "SELECT seq, claimed_at FROM queue_rate_grants WHERE queue_type = ?1 AND seq >= ?2 AND seq < ?3",
        postgres: "SELECT seq, claimed_at FROM queue_rate_grants WHERE queue_type = $1 AND seq >= $2 AND seq < $3",
    };
    let Some((limit, period)) = gate.rate else { return Ok(want) };
    let want = want.min(limit);
    let window_start = now.saturating_sub(period);
    if want == 1 {
        // The grant it looks back on came with the gate.
        return Ok(i64::from(gate.oldest_grant.is_none_or(|at| at <= window_start)));
    }
    let first = gate.last_grant + 1 - limit;
    let times: HashMap<i64, i64> = conn
        .rows(&LOOKED_BACK_ON, params![queue_type, first, first + want], |row| {
            Ok((row.get::<i64>(0)?, row.get::<i64>(1)?))
        })?
        .into_iter()
        .collect();
    let mut allowed = 0;
    while allowed < want {
        match times.get(&(first + allowed)) {
            Some(at) if *at > window_start => break,
            _ => allowed += 1,
        }
    }
    Ok(allowed)
}

/// How many items a claim of up to `want` may take from a gated queue type, under its lock.
pub(crate) enum Budget {
    /// None: paused, at its concurrency limit, or out of rate.
    None,
    /// This many, in the claim's order.
    Items(usize),
    /// At most this many, no more per partition than its limit allows (the claimed items of each
    /// partition, counted now).
    PerPartition(usize, HashMap<String, i64>),
}

/// What a gated queue type's limits admit now (see [`Budget`]). Runs with the queue row locked
/// ([`gate`] with `lock`).
pub(crate) fn budget(conn: &dyn Conn, queue_type: &str, gate: &Gate, want: usize, now: i64) -> Result<Budget> {
    if gate.paused {
        return Ok(Budget::None);
    }
    let mut budget = i64::try_from(want).unwrap_or(i64::MAX);
    if let Some(limit) = gate.concurrency {
        let claimed = match &gate.counted {
            Some(counted) => counted.claimed,
            None => claimed(conn, queue_type)?,
        };
        budget = budget.min(limit - claimed);
    }
    if budget > 0 {
        budget = rate_allows(conn, queue_type, gate, budget, now)?;
    }
    if budget <= 0 {
        return Ok(Budget::None);
    }
    let budget = usize::try_from(budget).unwrap_or(0);
    Ok(match gate.partition_concurrency {
        None => Budget::Items(budget),
        Some(_) => Budget::PerPartition(
            budget,
            match &gate.counted {
                Some(counted) => counted.by_partition.clone(),
                None => claimed_by_partition(conn, queue_type)?,
            },
        ),
    })
}

/// The candidates a claim of up to `want` items may take from a gated queue type: none if it is
/// paused; else as many as its concurrency, partition and rate limits admit, in order. Runs with
/// the queue row locked ([`gate`] with `lock`).
pub(crate) fn admit(
    conn: &dyn Conn,
    seek: Seek,
    scope: Scope<'_>,
    queue_type: &str,
    gate: &Gate,
    want: usize,
    now: i64,
) -> Result<Vec<Candidate>> {
    match budget(conn, queue_type, gate, want, now)? {
        Budget::None => Ok(Vec::new()),
        Budget::Items(budget) => candidates(conn, seek, scope, queue_type, true, budget, now),
        Budget::PerPartition(budget, running) => {
            admit_partitions(conn, seek, scope, queue_type, gate, budget, running, now)
        }
    }
}

/// The candidates of a partition-limited queue type, up to `budget`, skipping those of
/// partitions at their limit (reading at most [`PARTITION_SCAN`] candidates).
#[allow(clippy::too_many_arguments)]
pub(crate) fn admit_partitions(
    conn: &dyn Conn,
    seek: Seek,
    scope: Scope<'_>,
    queue_type: &str,
    gate: &Gate,
    budget: usize,
    mut running: HashMap<String, i64>,
    now: i64,
) -> Result<Vec<Candidate>> {
    let per_partition = gate.partition_concurrency.unwrap_or(i64::MAX);
    let mut admitted = Vec::with_capacity(budget);
    each_candidate(conn, seek, scope, queue_type, true, PARTITION_SCAN.max(budget), now, &mut |candidate| {
        if let Some(partition) = &candidate.partition_key {
            let count = running.entry(partition.clone()).or_insert(0);
            if *count >= per_partition {
                return Ok(true);
            }
            *count += 1;
        }
        admitted.push(candidate);
        // The seek stops once the budget is filled: a deep backlog costs only what is read.
        Ok(admitted.len() < budget)
    })?;
    Ok(admitted)
}

/// PostgreSQL's record of `taken` claims (an SQL expression) at time `at` in the rate log of
/// queue type `$1`, as data-modifying CTEs: the grants after the last one, numbered on from it;
/// when their count passes a multiple of [`TRIM_EVERY`], the grants the limit no longer looks back
/// on go (the test is a one-time filter: the other grants pay nothing for it). Nothing without a
/// rate limit. They follow [`LAST_GRANT`], read with the queue row locked by the same
/// transaction, so the last grant is the latest. [`record_at`] runs them alone; a gated claim
/// runs them inside its own statement (`claim.rs`).
pub(crate) fn record_ctes(taken: &str, at: &str) -> String {
    format!(
        "granted AS (
             INSERT INTO queue_rate_grants (queue_type, seq, claimed_at)
             SELECT $1, last_grant.n + taken.i, {at}
             FROM queues q, last_grant, generate_series(1, {taken}) AS taken(i)
             WHERE q.queue_type = $1 AND q.rate_limit IS NOT NULL),
         trimmed AS (
             DELETE FROM queue_rate_grants
             WHERE queue_type = $1
               AND (SELECT (n + {taken}) / {TRIM_EVERY} > n / {TRIM_EVERY} FROM last_grant)
               AND seq <= (SELECT last_grant.n + {taken} - q.rate_limit FROM last_grant, queues q
                           WHERE q.queue_type = $1))"
    )
}

/// PostgreSQL's CTE of the number of queue type `$1`'s last rate grant (0: none), `last_grant.n`.
pub(crate) const LAST_GRANT: &str = concat!("last_grant AS (SELECT ", last_grant!(postgres), " AS n)");

/// Records `taken` claims of a gated queue type in its rate log (nothing without a rate limit).
pub(crate) fn record(conn: &dyn Conn, queue_type: &str, gate: &Gate, taken: usize, now: i64) -> Result<()> {
    let Some((limit, _)) = gate.rate else { return Ok(()) };
    record_at(conn, queue_type, gate.last_grant, limit, taken, now)
}

/// [`record`], given the number of the last grant (read under the queue row's lock; PostgreSQL
/// reads it again in its statement) and the rate limit.
pub(crate) fn record_at(
    conn: &dyn Conn,
    queue_type: &str,
    last_grant: i64,
    limit: i64,
    taken: usize,
    now: i64,
) -> Result<()> {
    static RECORD: LazyLock<(&str, String)> = LazyLock::new(|| {
        (
            "WITH RECURSIVE taken(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM taken WHERE i < ?3)
             INSERT INTO queue_rate_grants (queue_type, seq, claimed_at)
             SELECT ?1, ?4 + i, ?2 FROM taken",
            // One statement: one round trip.
            format!("WITH {LAST_GRANT}, {} SELECT 1", record_ctes("$3::bigint", "$2")),
        )
    });
    // SQLite: a grant of one item, the common case, without the recursion.
    const RECORD_ONE: Statement = Statement {
        sqlite: "INSERT INTO queue_rate_grants (queue_type, seq, claimed_at) VALUES (?1, ?4 + 1, ?2)",
        postgres: "",
    };
    // SQLite writes one table per statement: the trim is a statement of its own.
    const TRIM: Statement =
        Statement { sqlite: "DELETE FROM queue_rate_grants WHERE queue_type = ?1 AND seq <= ?2", postgres: "" };
    if taken == 0 {
        return Ok(());
    }
    let taken = i64::try_from(taken).unwrap_or(i64::MAX);
    let record = match conn.engine() {
        Engine::Sqlite if taken == 1 => RECORD_ONE,
        _ => Statement { sqlite: RECORD.0, postgres: &RECORD.1 },
    };
    conn.execute(&record, params![queue_type, now, taken, last_grant])?;
    let last = last_grant + taken;
    if conn.engine() == Engine::Sqlite && last / TRIM_EVERY > last_grant / TRIM_EVERY {
        conn.execute(&TRIM, params![queue_type, last - limit])?;
    }
    Ok(())
}

// ── Settings ─────────────────────────────────────────────────────────────────────────────────

fn micros_to_duration(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// The settings of `queue_type` (the default when it has no row).
pub(crate) fn settings(conn: &dyn Conn, queue_type: &str) -> Result<QueueSettings> {
    const GET: Statement = Statement {
        sqlite: "SELECT paused, concurrency, partition_concurrency, rate_limit, rate_period FROM queues
                 WHERE queue_type = ?1",
        postgres: "SELECT paused, concurrency, partition_concurrency, rate_limit, rate_period FROM queues
                   WHERE queue_type = $1",
    };
    Ok(conn.row(&GET, params![queue_type], settings_from_row)?.unwrap_or_default())
}

fn settings_from_row(row: &crate::sql::Row<'_>) -> Result<QueueSettings> {
    let rate = match (row.get::<Option<u32>>(3)?, row.get::<Option<i64>>(4)?) {
        (Some(claims), Some(period)) => Some(RateLimit { claims, period: micros_to_duration(period) }),
        _ => None,
    };
    Ok(QueueSettings {
        paused: row.get(0)?,
        concurrency: row.get(1)?,
        partition_concurrency: row.get(2)?,
        rate_limit: rate,
    })
}

/// Sets every setting of `queue_type`. Settings equal to the default remove its row; a changed
/// rate limit starts its log afresh.
pub(crate) fn configure(conn: &dyn Conn, queue_type: &str, settings: &QueueSettings, now: i64) -> Result<()> {
    const UPSERT: Statement = Statement {
        sqlite: "INSERT INTO queues (queue_type, paused, concurrency, partition_concurrency, rate_limit, rate_period,
                     updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (queue_type) DO UPDATE SET paused = excluded.paused, concurrency = excluded.concurrency,
                     partition_concurrency = excluded.partition_concurrency, rate_limit = excluded.rate_limit,
                     rate_period = excluded.rate_period, updated_at = excluded.updated_at",
        postgres: "INSERT INTO queues (queue_type, paused, concurrency, partition_concurrency, rate_limit, rate_period,
                       updated_at)
                   VALUES ($1, $2::bigint <> 0, $3, $4, $5, $6, $7)
                   ON CONFLICT (queue_type) DO UPDATE SET paused = excluded.paused, concurrency = excluded.concurrency,
                       partition_concurrency = excluded.partition_concurrency, rate_limit = excluded.rate_limit,
                       rate_period = excluded.rate_period, updated_at = excluded.updated_at",
    };
    const FORGET_GRANTS: Statement = Statement {
        sqlite: "DELETE FROM queue_rate_grants WHERE queue_type = ?1",
        postgres: "DELETE FROM queue_rate_grants WHERE queue_type = $1",
    };
    const REMOVE: Statement = Statement {
        sqlite: "DELETE FROM queues WHERE queue_type = ?1",
        postgres: "DELETE FROM queues WHERE queue_type = $1",
    };
    if queue_type.is_empty() {
        return Err(Error::invalid("a queue type is a non-empty name"));
    }
    settings.validate()?;
    let before = self::settings(conn, queue_type)?;
    if before.rate_limit != settings.rate_limit {
        conn.execute(&FORGET_GRANTS, params![queue_type])?;
    }
    if settings.is_open() {
        conn.execute(&REMOVE, params![queue_type])?;
        return Ok(());
    }
    let rate = settings.rate_limit;
    conn.execute(
        &UPSERT,
        params![
            queue_type,
            settings.paused,
            settings.concurrency,
            settings.partition_concurrency,
            rate.map(|rate| rate.claims),
            rate.map(|rate| duration_micros(rate.period)),
            now,
        ],
    )?;
    Ok(())
}

/// Every queue type that has items or settings, with its settings and items by state (through a
/// view, the view's tenant's items only), in name order. For inspection: it counts whole tables.
pub(crate) fn list(conn: &dyn Conn, scope: Scope<'_>, now: i64) -> Result<Vec<QueueInfo>> {
    const COUNTS: Statement = Statement {
        sqlite: "SELECT queue_type, status, coalesce(retry_after <= ?2, 1), count(*) FROM work_items
                 WHERE (?1 IS NULL OR tenant_id = ?1)
                 GROUP BY 1, 2, 3",
        postgres: "SELECT queue_type, status, coalesce(retry_after <= $2, true), count(*) FROM work_items
                   WHERE ($1::text IS NULL OR tenant_id = $1)
                   GROUP BY 1, 2, 3",
    };
    const SETTINGS: Statement = Statement {
        sqlite: "SELECT paused, concurrency, partition_concurrency, rate_limit, rate_period, queue_type FROM queues",
        postgres: "SELECT paused, concurrency, partition_concurrency, rate_limit, rate_period, queue_type FROM queues",
    };
    let mut queues: std::collections::BTreeMap<String, QueueInfo> = std::collections::BTreeMap::new();
    for (settings, queue_type) in
        conn.rows(&SETTINGS, params![], |row| Ok((settings_from_row(row)?, row.get::<String>(5)?)))?
    {
        queues.insert(queue_type.clone(), QueueInfo { queue_type, settings, ..QueueInfo::default() });
    }
    let counts = conn.rows(&COUNTS, params![scope, now], |row| {
        Ok((row.get::<String>(0)?, row.get::<String>(1)?, row.get::<bool>(2)?, row.get::<u64>(3)?))
    })?;
    for (queue_type, status, due, count) in counts {
        let info = queues.entry(queue_type.clone()).or_insert_with(|| QueueInfo { queue_type, ..QueueInfo::default() });
        let slot = match status.as_str() {
            "pending" if due => &mut info.ready,
            "pending" => &mut info.scheduled,
            "claimed" => &mut info.claimed,
            "completed" => &mut info.completed,
            "failed" => &mut info.failed,
            "dead_letter" => &mut info.dead_letter,
            "cancelled" => &mut info.cancelled,
            other => return Err(Error::database(format!("stored status {other:?} is not known"))),
        };
        *slot += count;
    }
    Ok(queues.into_values().collect())
}

/// The earliest run time of a pending item of `queue_types` that is not claimable yet: when a
/// waiting claim should look again even if nothing else happens. It reads at most the first
/// [`DUE_SCAN`] pending items of each type in the claim's order (an index-only read): the head of
/// each priority's scheduled items is among them unless more urgent ones crowd it out, and the
/// waiting claim looks again at least every [`super::wait::LOOK_AGAIN`] anyway.
pub(crate) fn next_due(conn: &dyn Conn, scope: Scope<'_>, queue_types: &[&str], now: i64) -> Result<Option<i64>> {
    const NEXT: Statement = Statement {
        sqlite: "SELECT min(retry_after) FROM (SELECT retry_after FROM work_items INDEXED BY work_items_open
                     WHERE status = 'pending' AND lease_expires_at IS NULL AND queue_type = ?1
                       AND (?3 IS NULL OR tenant_id = ?3)
                     ORDER BY priority, run_at, id LIMIT ?4)
                 WHERE retry_after > ?2",
        postgres: "SELECT min(retry_after) FROM (SELECT retry_after FROM work_items
                       WHERE status = 'pending' AND queue_type = $1 AND ($3::text IS NULL OR tenant_id = $3)
                       ORDER BY priority, run_at, id LIMIT $4) head
                   WHERE retry_after > $2",
    };
    let mut next: Option<i64> = None;
    for queue_type in queue_types {
        let due: Option<i64> = conn.value(&NEXT, params![queue_type, now, scope, DUE_SCAN])?;
        next = match (next, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(next)
}

/// How many pending items of a queue type [`next_due`] reads at most.
pub const DUE_SCAN: usize = 1_000;

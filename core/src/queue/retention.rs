//! Retention: finished work items and finished executions (with their event logs and snapshots)
//! deleted by age or count, by an explicit call (`Store::prune`) or by a stored policy that
//! `reclaim_expired_leases` applies as it runs.
//!
//! Invariants:
//! * nothing live is touched: a pending or claimed item is never pruned, nor is an execution that
//!   is not finished (its log, its snapshots), whatever the policy;
//! * an execution is pruned whole (its row, events and snapshots in one transaction), so that no
//!   reader ever materializes half a history; its work items follow the rules for items;
//! * each step deletes at most [`CHUNK`] rows of a kind, so that a large backlog of old rows is
//!   pruned in many short transactions instead of one long one that would hold the writer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::duration_micros;
use crate::error::{Error, Result};
use crate::sql::{params, Conn, Statement};
use crate::tenant::Scope;

use super::ids;

/// Rows of a kind one prune step deletes at most.
pub const CHUNK: usize = 5_000;

/// What to keep. Every rule is optional; the default keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Finished items (completed, failed, cancelled) are deleted this long after their last change.
    #[serde(default, with = "ms", rename = "finished_items_after_ms")]
    pub finished_items_after: Option<Duration>,
    /// Dead-lettered items are deleted this long after they were dead-lettered.
    #[serde(default, with = "ms", rename = "dead_letters_after_ms")]
    pub dead_letters_after: Option<Duration>,
    /// At most this many finished items are kept (the most recently changed).
    #[serde(default)]
    pub keep_finished_items: Option<u64>,
    /// Finished executions (completed, failed, cancelled, limit_exceeded) are deleted with their
    /// events and snapshots this long after their last change.
    #[serde(default, with = "ms", rename = "finished_executions_after_ms")]
    pub finished_executions_after: Option<Duration>,
    /// At most this many finished executions are kept (the most recently changed).
    #[serde(default)]
    pub keep_finished_executions: Option<u64>,
}

/// Durations as milliseconds in the policy's JSON.
mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_some(&(duration.as_secs_f64() * 1000.0)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        let ms = Option::<f64>::deserialize(deserializer)?;
        ms.map(|ms| {
            Duration::try_from_secs_f64(ms / 1000.0)
                .map_err(|_| serde::de::Error::custom(format!("{ms} is not a non-negative number of milliseconds")))
        })
        .transpose()
    }
}

impl RetentionPolicy {
    pub(crate) fn validate(&self) -> Result<()> {
        for (name, age) in [
            ("finished_items_after", self.finished_items_after),
            ("dead_letters_after", self.dead_letters_after),
            ("finished_executions_after", self.finished_executions_after),
        ] {
            if let Some(age) = age {
                if age > Duration::from_secs(100 * 366 * 24 * 3600) {
                    return Err(Error::invalid(format!("{name} of {age:?} is refused: at most 100 years")));
                }
            }
        }
        for (name, count) in [
            ("keep_finished_items", self.keep_finished_items),
            ("keep_finished_executions", self.keep_finished_executions),
        ] {
            if count.is_some_and(|count| count > i64::MAX as u64) {
                return Err(Error::invalid(format!("{name} is too large")));
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        *self == RetentionPolicy::default()
    }
}

/// What a prune deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub work_items: u64,
    pub executions: u64,
    pub events: u64,
    pub snapshots: u64,
}

impl PruneReport {
    pub(crate) fn add(&mut self, other: PruneReport) {
        self.work_items += other.work_items;
        self.executions += other.executions;
        self.events += other.events;
        self.snapshots += other.snapshots;
    }

    /// Whether a step deleted a whole chunk of some kind, so that another step may find more.
    pub(crate) fn full(&self) -> bool {
        usize::try_from(self.work_items.max(self.executions)).unwrap_or(usize::MAX) >= CHUNK
    }
}

/// The items a rule prunes: ?1 tenant scope, ?2 age cutoff (NULL: no age rule), ?3 how many to
/// keep (NULL: no count rule), ?4 the chunk. Finished items go by the item rules; dead letters
/// by their own age (counted with the finished ones by the count rule).
const ITEMS: Statement = Statement {
    sqlite: "SELECT id FROM work_items
             WHERE (status = 'completed' OR status = 'failed' OR status = 'cancelled') AND (?1 IS NULL OR tenant_id = ?1)
               AND ((?2 IS NOT NULL AND updated_at <= ?2)
                    OR (?3 IS NOT NULL AND id IN (
                        SELECT id FROM work_items
                        WHERE (status = 'completed' OR status = 'failed' OR status = 'cancelled')
                          AND (?1 IS NULL OR tenant_id = ?1)
                        ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?3)))
             LIMIT ?4",
    postgres: "SELECT id FROM work_items
               WHERE status IN ('completed', 'failed', 'cancelled') AND ($1::text IS NULL OR tenant_id = $1)
                 AND (($2::bigint IS NOT NULL AND updated_at <= $2)
                      OR ($3::bigint IS NOT NULL AND id IN (
                          SELECT id FROM work_items
                          WHERE status IN ('completed', 'failed', 'cancelled') AND ($1::text IS NULL OR tenant_id = $1)
                          ORDER BY updated_at DESC, id DESC OFFSET $3)))
               LIMIT $4",
};

/// Dead letters past their age: ?1 tenant scope, ?2 cutoff, ?4 the chunk.
const DEAD: Statement = Statement {
    sqlite: "SELECT id FROM work_items WHERE status = 'dead_letter' AND (?1 IS NULL OR tenant_id = ?1)
               AND updated_at <= ?2 LIMIT ?4",
    postgres: "SELECT id FROM work_items WHERE status = 'dead_letter' AND ($1::text IS NULL OR tenant_id = $1)
                 AND updated_at <= $2 AND $3::bigint IS NULL LIMIT $4",
};

/// Finished executions a rule prunes: ?1 tenant scope, ?2 age cutoff, ?3 how many to keep, ?4 the
/// chunk.
const EXECUTIONS: Statement = Statement {
    sqlite: "SELECT id FROM executions
             WHERE status IN ('completed', 'failed', 'cancelled', 'limit_exceeded') AND (?1 IS NULL OR tenant_id = ?1)
               AND ((?2 IS NOT NULL AND updated_at <= ?2)
                    OR (?3 IS NOT NULL AND id IN (
                        SELECT id FROM executions
                        WHERE status IN ('completed', 'failed', 'cancelled', 'limit_exceeded')
                          AND (?1 IS NULL OR tenant_id = ?1)
                        ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?3)))
             LIMIT ?4",
    postgres: "SELECT id FROM executions
               WHERE status IN ('completed', 'failed', 'cancelled', 'limit_exceeded') AND ($1::text IS NULL OR tenant_id = $1)
                 AND (($2::bigint IS NOT NULL AND updated_at <= $2)
                      OR ($3::bigint IS NOT NULL AND id IN (
                          SELECT id FROM executions
                          WHERE status IN ('completed', 'failed', 'cancelled', 'limit_exceeded')
                            AND ($1::text IS NULL OR tenant_id = $1)
                          ORDER BY updated_at DESC, id DESC OFFSET $3)))
               LIMIT $4",
};

const DELETE_ITEMS: Statement = Statement {
    sqlite: concat!(
        "DELETE FROM work_items WHERE id ",
        ids!(sqlite, "?1"),
        " AND status <> 'pending' AND status <> 'claimed'"
    ),
    postgres: concat!(
        "DELETE FROM work_items WHERE id ",
        ids!(postgres, "$1"),
        " AND status NOT IN ('pending', 'claimed')"
    ),
};
const DELETE_EVENTS: Statement = Statement {
    sqlite: concat!("DELETE FROM events WHERE execution_id ", ids!(sqlite, "?1")),
    postgres: concat!("DELETE FROM events WHERE execution_id ", ids!(postgres, "$1")),
};
const DELETE_SNAPSHOTS: Statement = Statement {
    sqlite: concat!("DELETE FROM snapshots WHERE execution_id ", ids!(sqlite, "?1")),
    postgres: concat!("DELETE FROM snapshots WHERE execution_id ", ids!(postgres, "$1")),
};
const DELETE_EXECUTIONS: Statement = Statement {
    sqlite: concat!(
        "DELETE FROM executions WHERE id ",
        ids!(sqlite, "?1"),
        " AND status IN ('completed', 'failed', 'cancelled', 'limit_exceeded')"
    ),
    postgres: concat!(
        "DELETE FROM executions WHERE id ",
        ids!(postgres, "$1"),
        " AND status IN ('completed', 'failed', 'cancelled', 'limit_exceeded')"
    ),
};
const COUNT_EVENTS: Statement = Statement {
    sqlite: concat!("SELECT count(*) FROM events WHERE execution_id ", ids!(sqlite, "?1")),
    postgres: concat!("SELECT count(*) FROM events WHERE execution_id ", ids!(postgres, "$1")),
};
const COUNT_SNAPSHOTS: Statement = Statement {
    sqlite: concat!("SELECT count(*) FROM snapshots WHERE execution_id ", ids!(sqlite, "?1")),
    postgres: concat!("SELECT count(*) FROM snapshots WHERE execution_id ", ids!(postgres, "$1")),
};

fn cutoff(now: i64, age: Option<Duration>) -> Option<i64> {
    age.map(|age| now.saturating_sub(duration_micros(age)))
}

fn count(value: Option<u64>) -> Option<i64> {
    value.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// One step of a prune: at most [`CHUNK`] items and [`CHUNK`] executions (with their events and
/// snapshots) that `policy` lets go, deleted in the caller's transaction, or only counted when
/// `dry_run`. Returns what it deleted (or would).
pub(crate) fn prune_step(
    conn: &dyn Conn,
    scope: Scope<'_>,
    policy: &RetentionPolicy,
    now: i64,
    dry_run: bool,
) -> Result<PruneReport> {
    policy.validate()?;
    let mut report = PruneReport::default();
    let chunk = if dry_run { usize::MAX >> 1 } else { CHUNK };
    let id = |row: &crate::sql::Row<'_>| row.get::<uuid::Uuid>(0);
    let mut items = Vec::new();
    if policy.finished_items_after.is_some() || policy.keep_finished_items.is_some() {
        let cut = cutoff(now, policy.finished_items_after);
        items = conn.rows(&ITEMS, params![scope, cut, count(policy.keep_finished_items), chunk], id)?;
    }
    if let Some(age) = policy.dead_letters_after {
        let room = chunk.saturating_sub(items.len());
        if room > 0 {
            items.extend(conn.rows(&DEAD, params![scope, cutoff(now, Some(age)), None::<i64>, room], id)?);
        }
    }
    report.work_items = items.len() as u64;
    if !dry_run && !items.is_empty() {
        report.work_items = conn.execute(&DELETE_ITEMS, params![super::id_list(items)])? as u64;
    }
    if policy.finished_executions_after.is_some() || policy.keep_finished_executions.is_some() {
        let cut = cutoff(now, policy.finished_executions_after);
        let executions =
            conn.rows(&EXECUTIONS, params![scope, cut, count(policy.keep_finished_executions), chunk], id)?;
        if !executions.is_empty() {
            let list = super::id_list(executions.iter().copied());
            report.executions = executions.len() as u64;
            if dry_run {
                report.events = conn.value::<u64>(&COUNT_EVENTS, params![list])?;
                report.snapshots = conn.value::<u64>(&COUNT_SNAPSHOTS, params![list])?;
            } else {
                report.events = conn.execute(&DELETE_EVENTS, params![list])? as u64;
                report.snapshots = conn.execute(&DELETE_SNAPSHOTS, params![list])? as u64;
                report.executions = conn.execute(&DELETE_EXECUTIONS, params![list])? as u64;
            }
        }
    }
    Ok(report)
}

/// The stored policy, if any.
pub(crate) fn stored(conn: &dyn Conn) -> Result<Option<RetentionPolicy>> {
    const GET: Statement = Statement {
        sqlite: "SELECT policy FROM retention WHERE id = 1",
        postgres: "SELECT policy FROM retention WHERE id = 1",
    };
    conn.row(&GET, params![], |row| {
        serde_json::from_str(row.str(0)?)
            .map_err(|err| Error::database(format!("the stored retention policy is not readable: {err}")))
    })
}

/// Stores `policy` (None, or an empty policy: none), replacing the one stored.
pub(crate) fn store(conn: &dyn Conn, policy: Option<&RetentionPolicy>, now: i64) -> Result<()> {
    const SET: Statement = Statement {
        sqlite: "INSERT INTO retention (id, policy, updated_at) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
        postgres: "INSERT INTO retention (id, policy, updated_at) VALUES (1, $1, $2)
                   ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
    };
    const CLEAR: Statement =
        Statement { sqlite: "DELETE FROM retention WHERE id = 1", postgres: "DELETE FROM retention WHERE id = 1" };
    match policy.filter(|policy| !policy.is_empty()) {
        None => conn.execute(&CLEAR, params![]).map(drop),
        Some(policy) => {
            policy.validate()?;
            conn.execute(&SET, params![serde_json::to_string(policy)?, now]).map(drop)
        }
    }
}

//! A store at a glance, for operators and inspectors: executions by status, queue depth by queue
//! type and status, leases expired now, the oldest pending item, the schema version and size. Read
//! in one snapshot. These queries count whole tables: they are for inspection, not the hot path.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::from_micros;
use crate::error::Result;
use crate::sql::{params, Conn, Row, Statement};
use crate::tenant::Scope;

/// What a store holds, at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub schema_version: i64,
    /// The database file's size in bytes (its pages; the WAL beside it is not counted).
    pub database_bytes: u64,
    /// Execution status -> count.
    pub executions: BTreeMap<String, u64>,
    /// Queue type -> item status -> count.
    pub queues: BTreeMap<String, BTreeMap<String, u64>>,
    /// Claimed items whose lease has run out and that no reclaim has counted yet.
    pub expired_leases: u64,
    pub dead_letter: u64,
    /// When the oldest pending item was created.
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// A count as SQLite returns it (a signed integer), as the non-negative number it is.
fn count(row: &Row<'_>, index: usize) -> Result<u64> {
    Ok(u64::try_from(row.get::<i64>(index)?).unwrap_or(0))
}

/// The schema version and the bytes the store takes: the file's pages in SQLite; in
/// PostgreSQL the tables of the store's schema with their indexes and TOAST.
const STORAGE: Statement = Statement {
    sqlite: "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size())",
    postgres: "SELECT (SELECT max(version) FROM jetstate_schema)::bigint,
                      (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
                       WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r')::bigint",
};

const EXECUTIONS: Statement = Statement {
    sqlite: "SELECT status, count(*) FROM executions WHERE (?1 IS NULL OR tenant_id = ?1) GROUP BY status",
    postgres: "SELECT status, count(*) FROM executions WHERE ($1::text IS NULL OR tenant_id = $1) GROUP BY status",
};

const ITEMS: Statement = Statement {
    sqlite: "SELECT queue_type, status, count(*) FROM work_items WHERE (?1 IS NULL OR tenant_id = ?1)
             GROUP BY queue_type, status",
    postgres: "SELECT queue_type, status, count(*) FROM work_items WHERE ($1::text IS NULL OR tenant_id = $1)
               GROUP BY queue_type, status",
};

const EXPIRED: Statement = Statement {
    sqlite: "SELECT count(*) FROM work_items INDEXED BY work_items_open
             WHERE status = 'claimed' AND lease_expires_at <= ?1 AND (?2 IS NULL OR tenant_id = ?2)",
    postgres: "SELECT count(*) FROM work_items
               WHERE status = 'claimed' AND lease_expires_at <= $1 AND ($2::text IS NULL OR tenant_id = $2)",
};

const OLDEST: Statement = Statement {
    sqlite: "SELECT min(created_at) FROM work_items WHERE status = 'pending' AND (?1 IS NULL OR tenant_id = ?1)",
    postgres: "SELECT min(created_at) FROM work_items
               WHERE status = 'pending' AND ($1::text IS NULL OR tenant_id = $1)",
};

pub(crate) fn read(conn: &dyn Conn, scope: Scope<'_>, now: i64) -> Result<Summary> {
    let (schema_version, database_bytes) = conn
        .row(&STORAGE, params![], |row| Ok((row.get(0)?, count(row, 1)?)))?
        .ok_or_else(|| crate::error::Error::internal("the storage figures returned no row"))?;
    let mut summary = Summary { schema_version, database_bytes, ..Summary::default() };
    for (status, count) in conn.rows(&EXECUTIONS, params![scope], |row| Ok((row.get::<String>(0)?, count(row, 1)?)))? {
        summary.executions.insert(status, count);
    }
    let items =
        conn.rows(&ITEMS, params![scope], |row| Ok((row.get::<String>(0)?, row.get::<String>(1)?, count(row, 2)?)))?;
    for (queue, status, count) in items {
        if status == "dead_letter" {
            summary.dead_letter += count;
        }
        summary.queues.entry(queue).or_default().insert(status, count);
    }
    summary.expired_leases = u64::try_from(conn.value::<i64>(&EXPIRED, params![now, scope])?).unwrap_or(0);
    let oldest: Option<i64> = conn.value(&OLDEST, params![scope])?;
    summary.oldest_pending = oldest.map(from_micros);
    Ok(summary)
}

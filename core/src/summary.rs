//! A store at a glance, for operators and inspectors: executions by status, queue depth by queue
//! type and status, leases expired now, the oldest pending item, the schema version and size. Read
//! in one snapshot. These queries count whole tables: they are for inspection, not the hot path.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::clock::from_micros;
use crate::error::Result;
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
fn count(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
}

pub(crate) fn read(conn: &Connection, scope: Scope<'_>, now: i64) -> Result<Summary> {
    let mut summary = Summary {
        schema_version: conn.query_row("PRAGMA user_version", [], |row| row.get(0))?,
        database_bytes: conn.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |row| count(row, 0),
        )?,
        ..Summary::default()
    };
    let mut executions = conn.prepare_cached(
        "SELECT status, count(*) FROM executions WHERE (?1 IS NULL OR tenant_id = ?1) GROUP BY status",
    )?;
    for row in executions.query_map(params![scope], |row| Ok((row.get::<_, String>(0)?, count(row, 1)?)))? {
        let (status, count) = row?;
        summary.executions.insert(status, count);
    }
    let mut items = conn.prepare_cached(
        "SELECT queue_type, status, count(*) FROM work_items WHERE (?1 IS NULL OR tenant_id = ?1)
         GROUP BY queue_type, status",
    )?;
    let rows = items
        .query_map(params![scope], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, count(row, 2)?)))?;
    for row in rows {
        let (queue, status, count) = row?;
        if status == "dead_letter" {
            summary.dead_letter += count;
        }
        summary.queues.entry(queue).or_default().insert(status, count);
    }
    summary.expired_leases = conn
        .prepare_cached(
            "SELECT count(*) FROM work_items INDEXED BY work_items_open
             WHERE status = 'claimed' AND lease_expires_at <= ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        )?
        .query_row(params![now, scope], |row| count(row, 0))?;
    let oldest: Option<i64> = conn
        .prepare_cached(
            "SELECT min(created_at) FROM work_items WHERE status = 'pending' AND (?1 IS NULL OR tenant_id = ?1)",
        )?
        .query_row(params![scope], |row| row.get(0))?;
    summary.oldest_pending = oldest.map(from_micros);
    Ok(summary)
}

//! Snapshots: materialized state at a point of an execution's event log, and their SQL.
//!
//! Rule: at most one snapshot per (execution, at_sequence); writing the same `at_sequence` again
//! replaces it. The latest snapshot is the one with the highest `at_sequence`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::{from_micros, to_micros};
use crate::error::{Error, Result};
use crate::event::EventSequence;
use crate::sql::{params, Conn, JsonText, Statement};
use crate::workflow::ExecutionId;

/// Default number of events between snapshots.
pub const DEFAULT_SNAPSHOT_INTERVAL: i64 = 50;

/// The state of an execution as of event `at_sequence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: Uuid,
    pub execution_id: ExecutionId,
    pub at_sequence: EventSequence,
    pub state: serde_json::Value,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
}

impl Snapshot {
    /// A new snapshot with a fresh id, stamped with the system time.
    pub fn new(execution_id: ExecutionId, at_sequence: EventSequence, state: serde_json::Value) -> Self {
        Snapshot { id: Uuid::new_v4(), execution_id, at_sequence, state, created_at: crate::clock::system_now() }
    }
}

/// Writes (or replaces) the snapshot at its `at_sequence`. The caller has checked that the
/// execution exists in its scope.
pub(crate) fn write(conn: &dyn Conn, snapshot: &Snapshot) -> Result<()> {
    const UPSERT: Statement = Statement {
        sqlite: "INSERT INTO snapshots (execution_id, at_sequence, id, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (execution_id, at_sequence)
                 DO UPDATE SET id = excluded.id, state = excluded.state, created_at = excluded.created_at",
        postgres: "INSERT INTO snapshots (execution_id, at_sequence, id, state, created_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (execution_id, at_sequence)
                   DO UPDATE SET id = excluded.id, state = excluded.state, created_at = excluded.created_at",
    };
    if !(0..=crate::event_log::MAX_SEQUENCE).contains(&snapshot.at_sequence) {
        return Err(Error::invalid(format!(
            "snapshot at_sequence must be from 0 to 2^53 - 1 ({}), got {}",
            crate::event_log::MAX_SEQUENCE,
            snapshot.at_sequence
        )));
    }
    conn.execute(
        &UPSERT,
        params![
            snapshot.execution_id.0,
            snapshot.at_sequence,
            snapshot.id,
            JsonText(&snapshot.state),
            to_micros(&snapshot.created_at),
        ],
    )?;
    Ok(())
}

/// The snapshot with the highest `at_sequence`, if any.
pub(crate) fn latest(conn: &dyn Conn, execution_id: &ExecutionId) -> Result<Option<Snapshot>> {
    const LATEST: Statement = Statement {
        sqlite: "SELECT at_sequence, id, state, created_at FROM snapshots
                 WHERE execution_id = ?1 ORDER BY at_sequence DESC LIMIT 1",
        postgres: "SELECT at_sequence, id, state, created_at FROM snapshots
                   WHERE execution_id = $1 ORDER BY at_sequence DESC LIMIT 1",
    };
    conn.row(&LATEST, params![execution_id.0], |row| {
        Ok(Snapshot {
            execution_id: execution_id.clone(),
            at_sequence: row.get(0)?,
            id: row.get(1)?,
            state: row.get(2)?,
            created_at: from_micros(row.get(3)?),
        })
    })
}

//! Workflow executions and their SQL.
//!
//! Rules (CONTRACT.md section 2):
//! * creating an id that exists is a Conflict, the stored row untouched;
//! * updating an unknown execution (or another tenant's, through a view) is NotFound;
//! * moving to a terminal status sets `completed_at`; every update sets `updated_at`;
//! * `patch_append_array` is one atomic read-modify-write inside the caller's write transaction,
//!   so two callers appending at once both land; a non-object state or a non-array value under
//!   the key is InvalidArgument, the state untouched;
//! * listing is newest `updated_at` first, ties broken by id, served by an index per filter.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::clock::{from_micros, to_micros};
use crate::error::{Error, Result};
use crate::storage::JsonText;
use crate::tenant::{self, Scope, DEFAULT_TENANT};
use crate::workflow::{ExecutionId, SessionType, WorkflowExecution, WorkflowStatus};

const COLUMNS: &str = "id, workflow_id, workflow_version, status, initial_input, current_state, \
                       session_type, started_at, updated_at, completed_at";

struct StoredRow {
    execution: WorkflowExecution,
    status: String,
    session_type: Option<String>,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        execution: WorkflowExecution {
            execution_id: ExecutionId(row.get(0)?),
            workflow_id: row.get(1)?,
            workflow_version: row.get(2)?,
            status: WorkflowStatus::Pending,
            initial_input: row.get(4)?,
            current_state: row.get(5)?,
            started_at: from_micros(row.get(7)?),
            updated_at: from_micros(row.get(8)?),
            completed_at: row.get::<_, Option<i64>>(9)?.map(from_micros),
            session_type: None,
        },
        status: row.get(3)?,
        session_type: row.get(6)?,
    })
}

fn decode(row: StoredRow) -> Result<WorkflowExecution> {
    let mut execution = row.execution;
    execution.status = row.status.parse().map_err(|_| {
        Error::database(format!("stored status {:?} of {} is not a known status", row.status, execution.execution_id))
    })?;
    execution.session_type = row
        .session_type
        .map(|text| text.parse::<SessionType>())
        .transpose()
        .map_err(|err| Error::database(format!("stored session type is not known: {err}")))?;
    Ok(execution)
}

fn not_found(id: &ExecutionId) -> Error {
    Error::not_found(format!("execution not found: {id}"))
}

/// Inserts an execution for the scope's tenant (`default` when unscoped).
/// On Conflict (the id exists, in any tenant) nothing is written.
pub(crate) fn create(conn: &Connection, scope: Scope<'_>, execution: &WorkflowExecution) -> Result<()> {
    let tenant_id = scope.unwrap_or(DEFAULT_TENANT);
    tenant::ensure_exists(conn, tenant_id)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status,
                 initial_input, current_state, session_type, started_at, updated_at, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            execution.execution_id.0,
            tenant_id,
            execution.workflow_id,
            execution.workflow_version,
            execution.status.as_str(),
            JsonText(&execution.initial_input),
            JsonText(&execution.current_state),
            execution.session_type.map(|kind| kind.as_str()),
            to_micros(&execution.started_at),
            to_micros(&execution.updated_at),
            execution.completed_at.as_ref().map(to_micros),
        ])?;
    if inserted == 0 {
        return Err(Error::conflict(format!("execution already exists: {}", execution.execution_id)));
    }
    Ok(())
}

pub(crate) fn get(conn: &Connection, scope: Scope<'_>, id: &ExecutionId) -> Result<Option<WorkflowExecution>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM executions WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)"))?
        .query_row(params![id.0, scope], from_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// NotFound unless the execution exists in the scope. Events and snapshots check this first:
/// they belong to their execution's tenant.
pub(crate) fn ensure_exists(conn: &Connection, scope: Scope<'_>, id: &ExecutionId) -> Result<()> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM executions WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)")?
        .query_row(params![id.0, scope], |row| row.get(0))
        .optional()?;
    found.map(|_| ()).ok_or_else(|| not_found(id))
}

/// Sets the status; a terminal status also sets `completed_at`, a live one clears it.
pub(crate) fn update_status(
    conn: &Connection,
    scope: Scope<'_>,
    id: &ExecutionId,
    status: WorkflowStatus,
    now: i64,
) -> Result<()> {
    let completed_at = status.is_terminal().then_some(now);
    let updated = conn
        .prepare_cached(
            "UPDATE executions SET status = ?3, updated_at = ?4, completed_at = ?5
             WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        )?
        .execute(params![id.0, scope, status.as_str(), now, completed_at])?;
    if updated == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

pub(crate) fn update_current_state(
    conn: &Connection,
    scope: Scope<'_>,
    id: &ExecutionId,
    state: &Value,
    now: i64,
) -> Result<()> {
    let updated = conn
        .prepare_cached(
            "UPDATE executions SET current_state = ?3, updated_at = ?4
             WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        )?
        .execute(params![id.0, scope, JsonText(state), now])?;
    if updated == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Appends `value` to the array under `key` of the execution's state, creating the array if the
/// key is absent. Runs inside the caller's write transaction, so it cannot lose an update.
pub(crate) fn patch_append_array(
    conn: &Connection,
    scope: Scope<'_>,
    id: &ExecutionId,
    key: &str,
    value: Value,
    now: i64,
) -> Result<()> {
    let state: Option<Value> = conn
        .prepare_cached("SELECT current_state FROM executions WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)")?
        .query_row(params![id.0, scope], |row| row.get(0))
        .optional()?;
    let mut state = state.ok_or_else(|| not_found(id))?;
    let Value::Object(fields) = &mut state else {
        return Err(Error::invalid(format!("cannot append to {key:?}: the state of {id} is not a JSON object")));
    };
    match fields.entry(key.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
        Value::Array(items) => items.push(value),
        _ => {
            return Err(Error::invalid(format!(
                "cannot append to {key:?}: in the state of {id} it holds a value that is not an array"
            )))
        }
    }
    update_current_state(conn, scope, id, &state, now)
}

/// The listing statement for a filter combination: ?1 status, ?2 limit, ?3 offset, ?4 tenant.
fn list_sql(in_tenant: bool, by_status: bool) -> String {
    let filter = match (in_tenant, by_status) {
        (false, false) => "?1 IS NULL",
        (false, true) => "status = ?1",
        (true, false) => "tenant_id = ?4",
        (true, true) => "tenant_id = ?4 AND status = ?1",
    };
    format!("SELECT {COLUMNS} FROM executions WHERE {filter} ORDER BY updated_at DESC, id DESC LIMIT ?2 OFFSET ?3")
}

/// Executions, newest `updated_at` first, ties by id (descending), optionally of one status.
/// Each of the four statements is served in order by its own index (see the migration).
pub(crate) fn list(
    conn: &Connection,
    scope: Scope<'_>,
    status: Option<WorkflowStatus>,
    limit: u32,
    offset: u32,
) -> Result<Vec<WorkflowExecution>> {
    let sql = list_sql(scope.is_some(), status.is_some());
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = if scope.is_some() {
        stmt.query_map(params![status.map(|s| s.as_str()), limit, offset, scope], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        stmt.query_map(params![status.map(|s| s.as_str()), limit, offset], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    rows.into_iter().map(decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listing_reads_an_index_in_order() {
        for (in_tenant, by_status) in [(false, false), (false, true), (true, false), (true, true)] {
            let sql = list_sql(in_tenant, by_status);
            let steps = crate::schema::query_plan(&sql);
            assert!(steps.iter().all(|step| !step.contains("TEMP B-TREE")), "{sql} sorts: {steps:?}");
            assert!(steps.iter().any(|step| step.contains("INDEX executions_by_")), "{sql}: {steps:?}");
        }
    }
}

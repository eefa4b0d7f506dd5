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
//! * a read-modify-write of one execution holds that execution's lock ([`lock`]) and no other.

use serde_json::Value;

use crate::clock::{from_micros, to_micros};
use crate::error::{Error, Result};
use crate::sql::{params, Conn, JsonText, Row, Statement};
use crate::tenant::{self, Scope, DEFAULT_TENANT};
use crate::workflow::{ExecutionId, SessionType, WorkflowExecution, WorkflowStatus};

/// The columns every read of an execution takes, in [`from_row`]'s order.
macro_rules! columns {
    () => {
        "id, workflow_id, workflow_version, status, initial_input, current_state, \
         session_type, started_at, updated_at, completed_at"
    };
}

fn from_row(row: &Row<'_>) -> Result<WorkflowExecution> {
    let status: &str = row.str(3)?;
    let execution_id = ExecutionId(row.get(0)?);
    let status = status
        .parse()
        .map_err(|_| Error::database(format!("stored status {status:?} of {execution_id} is not a known status")))?;
    let session_type = row
        .get::<Option<String>>(6)?
        .map(|text| text.parse::<SessionType>())
        .transpose()
        .map_err(|err| Error::database(format!("stored session type is not known: {err}")))?;
    Ok(WorkflowExecution {
        execution_id,
        workflow_id: row.get(1)?,
        workflow_version: row.get(2)?,
        status,
        initial_input: row.get(4)?,
        current_state: row.get(5)?,
        started_at: from_micros(row.get(7)?),
        updated_at: from_micros(row.get(8)?),
        completed_at: row.get::<Option<i64>>(9)?.map(from_micros),
        session_type,
    })
}

pub(crate) fn not_found(id: &ExecutionId) -> Error {
    Error::not_found(format!("execution not found: {id}"))
}

/// Inserts an execution for the scope's tenant (`default` when unscoped).
/// On Conflict (the id exists, in any tenant) nothing is written.
pub(crate) fn create(conn: &dyn Conn, scope: Scope<'_>, execution: &WorkflowExecution) -> Result<()> {
    const INSERT: Statement = Statement {
        sqlite: "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status,
                     initial_input, current_state, session_type, started_at, updated_at, completed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (id) DO NOTHING",
        postgres: "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status,
                       initial_input, current_state, session_type, started_at, updated_at, completed_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                   ON CONFLICT (id) DO NOTHING",
    };
    let tenant_id = scope.unwrap_or(DEFAULT_TENANT);
    tenant::ensure_exists(conn, tenant_id)?;
    let inserted = conn.execute(
        &INSERT,
        params![
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
        ],
    )?;
    if inserted == 0 {
        return Err(Error::conflict(format!("execution already exists: {}", execution.execution_id)));
    }
    Ok(())
}

pub(crate) fn get(conn: &dyn Conn, scope: Scope<'_>, id: &ExecutionId) -> Result<Option<WorkflowExecution>> {
    const GET: Statement = Statement {
        sqlite: concat!("SELECT ", columns!(), " FROM executions WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)"),
        postgres: concat!(
            "SELECT ",
            columns!(),
            " FROM executions WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)"
        ),
    };
    conn.row(&GET, params![id.0, scope], from_row)
}

/// NotFound unless the execution exists in the scope. Events and snapshots check this first:
/// they belong to their execution's tenant. (What refers to the execution holds it by a foreign
/// key, whose check locks the execution's key on PostgreSQL until the call commits.)
pub(crate) fn ensure_exists(conn: &dyn Conn, scope: Scope<'_>, id: &ExecutionId) -> Result<()> {
    const EXISTS: Statement = Statement {
        sqlite: "SELECT 1 FROM executions WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        postgres: "SELECT 1 FROM executions WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
    };
    conn.row(&EXISTS, params![id.0, scope], |_| Ok(()))?.ok_or_else(|| not_found(id))
}

/// [`ensure_exists`], and the execution is the caller's alone until its transaction ends: the
/// lock of one execution that its read-modify-writes (the next sequence, an array append) take.
/// SQLite has one writer at a time, so its write transaction already is that lock; PostgreSQL
/// locks the execution's row, and nothing wider.
pub(crate) fn lock(conn: &dyn Conn, scope: Scope<'_>, id: &ExecutionId) -> Result<()> {
    const LOCK: Statement = Statement {
        sqlite: "SELECT 1 FROM executions WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        postgres: "SELECT 1 FROM executions WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2) FOR UPDATE",
    };
    conn.row(&LOCK, params![id.0, scope], |_| Ok(()))?.ok_or_else(|| not_found(id))
}

/// Sets the status; a terminal status also sets `completed_at`, a live one clears it.
pub(crate) fn update_status(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: &ExecutionId,
    status: WorkflowStatus,
    now: i64,
) -> Result<()> {
    const UPDATE: Statement = Statement {
        sqlite: "UPDATE executions SET status = ?3, updated_at = ?4, completed_at = ?5
                 WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        postgres: "UPDATE executions SET status = $3, updated_at = $4, completed_at = $5
                   WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
    };
    let completed_at = status.is_terminal().then_some(now);
    let updated = conn.execute(&UPDATE, params![id.0, scope, status.as_str(), now, completed_at])?;
    if updated == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

pub(crate) fn update_current_state(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: &ExecutionId,
    state: &Value,
    now: i64,
) -> Result<()> {
    const UPDATE: Statement = Statement {
        sqlite: "UPDATE executions SET current_state = ?3, updated_at = ?4
                 WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        postgres: "UPDATE executions SET current_state = $3, updated_at = $4
                   WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
    };
    let updated = conn.execute(&UPDATE, params![id.0, scope, JsonText(state), now])?;
    if updated == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Appends `value` to the array under `key` of the execution's state, creating the array if the
/// key is absent. Runs inside the caller's write transaction, reading the state under the
/// execution's lock ([`lock`]'s rule), so it cannot lose an update.
pub(crate) fn patch_append_array(
    conn: &dyn Conn,
    scope: Scope<'_>,
    id: &ExecutionId,
    key: &str,
    value: &Value,
    now: i64,
) -> Result<()> {
    const STATE: Statement = Statement {
        sqlite: "SELECT current_state FROM executions WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        postgres: "SELECT current_state FROM executions WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)
                   FOR UPDATE",
    };
    let state: Option<Value> = conn.row(&STATE, params![id.0, scope], |row| row.get(0))?;
    let mut state = state.ok_or_else(|| not_found(id))?;
    let Value::Object(fields) = &mut state else {
        return Err(Error::invalid(format!("cannot append to {key:?}: the state of {id} is not a JSON object")));
    };
    match fields.entry(key.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
        Value::Array(items) => items.push(value.clone()),
        _ => {
            return Err(Error::invalid(format!(
                "cannot append to {key:?}: in the state of {id} it holds a value that is not an array"
            )))
        }
    }
    update_current_state(conn, scope, id, &state, now)
}

/// The listing statements, by (in a tenant, by status): ?1 status, ?2 limit, ?3 offset, ?4 tenant.
const LISTS: [[Statement<'static>; 2]; 2] = {
    macro_rules! list {
        ($sqlite:literal, $postgres:literal) => {
            Statement {
                sqlite: concat!(
                    "SELECT ",
                    columns!(),
                    " FROM executions WHERE ",
                    $sqlite,
                    " ORDER BY updated_at DESC, id DESC LIMIT ?2 OFFSET ?3"
                ),
                postgres: concat!(
                    "SELECT ",
                    columns!(),
                    " FROM executions WHERE ",
                    $postgres,
                    " ORDER BY updated_at DESC, id DESC LIMIT $2 OFFSET $3"
                ),
            }
        };
    }
    [
        [list!("?1 IS NULL", "$1::text IS NULL"), list!("status = ?1", "status = $1")],
        [
            list!("tenant_id = ?4", "$1::text IS NULL AND tenant_id = $4"),
            list!("tenant_id = ?4 AND status = ?1", "tenant_id = $4 AND status = $1"),
        ],
    ]
};

fn list_sql(in_tenant: bool, by_status: bool) -> &'static Statement<'static> {
    &LISTS[usize::from(in_tenant)][usize::from(by_status)]
}

/// Executions, newest `updated_at` first, ties by id (descending), optionally of one status.
/// Each of the four statements is served in order by its own index (see the migrations).
pub(crate) fn list(
    conn: &dyn Conn,
    scope: Scope<'_>,
    status: Option<WorkflowStatus>,
    limit: u32,
    offset: u32,
) -> Result<Vec<WorkflowExecution>> {
    let statement = list_sql(scope.is_some(), status.is_some());
    conn.rows(statement, params![status.map(|s| s.as_str()), i64::from(limit), i64::from(offset), scope], from_row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listing_reads_an_index_in_order() {
        for (in_tenant, by_status) in [(false, false), (false, true), (true, false), (true, true)] {
            let sql = list_sql(in_tenant, by_status).sqlite;
            let steps = crate::sqlite::schema::query_plan(sql);
            assert!(steps.iter().all(|step| !step.contains("TEMP B-TREE")), "{sql} sorts: {steps:?}");
            assert!(steps.iter().any(|step| step.contains("INDEX executions_by_")), "{sql}: {steps:?}");
        }
    }
}

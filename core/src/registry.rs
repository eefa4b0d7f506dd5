//! The registry of workflow definitions (compiled IR as JSON) and its SQL.
//!
//! Rule: a definition is keyed by (tenant, workflow_id, version); storing an existing key
//! replaces its IR (and `created_at`), so that re-deploying a version is idempotent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{from_micros, to_micros};
use crate::error::{Error, Result};
use crate::sql::{params, Conn, JsonText, Statement};
use crate::tenant::{self, Scope, DEFAULT_TENANT};

/// A workflow definition stored in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDefinition {
    pub workflow_id: String,
    pub version: String,
    /// The canonical IR JSON value.
    pub ir: serde_json::Value,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    /// Tenant that owns this definition.
    #[serde(default = "default_tenant_string")]
    pub tenant_id: String,
}

pub(crate) fn default_tenant_string() -> String {
    DEFAULT_TENANT.to_string()
}

/// Stores a definition, replacing the IR of an existing key. A missing tenant: NotFound.
pub(crate) fn store(conn: &dyn Conn, scope: Scope<'_>, def: &WorkflowDefinition) -> Result<()> {
    const UPSERT: Statement = Statement {
        sqlite: "INSERT INTO workflow_definitions (tenant_id, workflow_id, version, ir, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, workflow_id, version)
                 DO UPDATE SET ir = excluded.ir, created_at = excluded.created_at",
        postgres: "INSERT INTO workflow_definitions (tenant_id, workflow_id, version, ir, created_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (tenant_id, workflow_id, version)
                   DO UPDATE SET ir = excluded.ir, created_at = excluded.created_at",
    };
    if def.workflow_id.is_empty() || def.version.is_empty() {
        return Err(Error::invalid("a workflow definition needs a workflow_id and a version"));
    }
    let tenant_id = tenant::tenant_for_write(scope, &def.tenant_id)?;
    tenant::ensure_exists(conn, tenant_id)?;
    conn.execute(
        &UPSERT,
        params![tenant_id, def.workflow_id, def.version, JsonText(&def.ir), to_micros(&def.created_at)],
    )?;
    Ok(())
}

/// Loads a definition. Unscoped, the `default` tenant's definition is looked up first, then any
/// tenant's (the engine's view spans tenants); through a view, only the view's tenant's.
pub(crate) fn get(
    conn: &dyn Conn,
    scope: Scope<'_>,
    workflow_id: &str,
    version: &str,
) -> Result<Option<WorkflowDefinition>> {
    const GET: Statement = Statement {
        sqlite: "SELECT tenant_id, ir, created_at FROM workflow_definitions
                 WHERE workflow_id = ?1 AND version = ?2 AND (?3 IS NULL OR tenant_id = ?3)
                 ORDER BY tenant_id <> 'default', tenant_id LIMIT 1",
        postgres: "SELECT tenant_id, ir, created_at FROM workflow_definitions
                   WHERE workflow_id = $1 AND version = $2 AND ($3::text IS NULL OR tenant_id = $3)
                   ORDER BY tenant_id <> 'default', tenant_id LIMIT 1",
    };
    conn.row(&GET, params![workflow_id, version, scope], |row| {
        Ok(WorkflowDefinition {
            workflow_id: workflow_id.to_string(),
            version: version.to_string(),
            tenant_id: row.get(0)?,
            ir: row.get(1)?,
            created_at: from_micros(row.get(2)?),
        })
    })
}

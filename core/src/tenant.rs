//! Tenants: the records, their SQL, and the scope every tenant-confined call carries.
//!
//! Rule (CONTRACT.md section 5): a view for tenant T sees and changes only T's rows; writing
//! through a view whose tenant does not exist is an error. The unscoped store writes tenant
//! `default` unless a record names its tenant, and its reads span all tenants. Tenant `default`
//! exists in every database from its creation (inserted by the migration).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::clock::{from_micros, to_micros};
use crate::error::{Error, Result};
use crate::sql::{params, Conn, JsonText, Row, Statement};

/// The tenant of single-tenant deployments, and of records that name none.
pub const DEFAULT_TENANT: &str = "default";

/// Identifier of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(pub String);

impl TenantId {
    pub fn default_tenant() -> Self {
        TenantId(DEFAULT_TENANT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TenantId {
    fn from(id: &str) -> Self {
        TenantId(id.to_string())
    }
}

impl From<String> for TenantId {
    fn from(id: String) -> Self {
        TenantId(id)
    }
}

/// Lifecycle status of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
    Archived,
}

impl TenantStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Archived => "archived",
        }
    }

    /// Lenient parse kept for the engine's code: anything unknown reads as `Active`.
    /// Use `str::parse` for a strict one.
    pub fn parse(text: &str) -> Self {
        text.parse().unwrap_or(TenantStatus::Active)
    }
}

impl std::str::FromStr for TenantStatus {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "active" => Ok(TenantStatus::Active),
            "suspended" => Ok(TenantStatus::Suspended),
            "archived" => Ok(TenantStatus::Archived),
            _ => Err(Error::invalid(format!("unknown tenant status {text:?}: expected active, suspended or archived"))),
        }
    }
}

/// Per-tenant resource and cost limits (stored; enforcing them is the engine's business).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_executions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_workflows: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_month: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_per_month_usd: Option<f64>,
}

/// A tenant record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub status: TenantStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<TenantLimits>,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub updated_at: DateTime<Utc>,
}

/// The tenant a call is confined to: `None` for the unscoped (engine's) store.
pub(crate) type Scope<'a> = Option<&'a str>;

/// The tenant a new record is written to: the view's tenant; through the unscoped store, the
/// record's own (or `default`). A record naming another tenant than its view is refused.
pub(crate) fn tenant_for_write<'a>(scope: Scope<'a>, named: &'a str) -> Result<&'a str> {
    match scope {
        None => Ok(if named.is_empty() { DEFAULT_TENANT } else { named }),
        Some(view) if named == view || named.is_empty() || named == DEFAULT_TENANT => Ok(view),
        Some(view) => Err(Error::invalid(format!(
            "record names tenant {named:?} but is written through the view of tenant {view:?}"
        ))),
    }
}

pub(crate) fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "malformed tenant id {id:?}: expected 1 to 256 characters, no control characters"
        )));
    }
    Ok(())
}

/// Fails with NotFound unless tenant `id` exists: every insert checks this first, so that a
/// write for a missing tenant says so instead of tripping a foreign key.
pub(crate) fn ensure_exists(conn: &dyn Conn, id: &str) -> Result<()> {
    const EXISTS: Statement =
        Statement { sqlite: "SELECT 1 FROM tenants WHERE id = ?1", postgres: "SELECT 1 FROM tenants WHERE id = $1" };
    match conn.row(&EXISTS, params![id], |_| Ok(()))? {
        Some(()) => Ok(()),
        None => Err(Error::not_found(format!("tenant not found: {id}"))),
    }
}

macro_rules! columns {
    () => {
        "id, name, status, policy, limits, created_at, updated_at"
    };
}

fn from_row(row: &Row<'_>) -> Result<Tenant> {
    let limits: Option<String> = row.get(4)?;
    Ok(Tenant {
        id: TenantId(row.get(0)?),
        name: row.get(1)?,
        status: TenantStatus::parse(row.str(2)?),
        policy: row.get(3)?,
        limits: limits.map(|text| serde_json::from_str(&text)).transpose()?,
        created_at: from_micros(row.get(5)?),
        updated_at: from_micros(row.get(6)?),
    })
}

fn validate(tenant: &Tenant) -> Result<()> {
    validate_id(tenant.id.as_str())?;
    if let Some(policy) = &tenant.policy {
        if policy.is_null() {
            return Err(Error::invalid("tenant policy must not be JSON null; omit it instead"));
        }
    }
    Ok(())
}

pub(crate) fn create(conn: &dyn Conn, tenant: &Tenant) -> Result<()> {
    const INSERT: Statement = Statement {
        sqlite: "INSERT INTO tenants (id, name, status, policy, limits, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
        postgres: "INSERT INTO tenants (id, name, status, policy, limits, created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    };
    validate(tenant)?;
    let limits = tenant.limits.as_ref().map(crate::sql::json_text).transpose()?;
    let inserted = conn.execute(
        &INSERT,
        params![
            tenant.id.as_str(),
            tenant.name,
            tenant.status.as_str(),
            tenant.policy.as_ref().map(JsonText),
            limits,
            to_micros(&tenant.created_at),
            to_micros(&tenant.updated_at),
        ],
    )?;
    if inserted == 0 {
        return Err(Error::conflict(format!("tenant already exists: {}", tenant.id)));
    }
    crate::queue::index_tenant_views(conn)
}

pub(crate) fn get(conn: &dyn Conn, id: &str) -> Result<Option<Tenant>> {
    const GET: Statement = Statement {
        sqlite: concat!("SELECT ", columns!(), " FROM tenants WHERE id = ?1"),
        postgres: concat!("SELECT ", columns!(), " FROM tenants WHERE id = $1"),
    };
    conn.row(&GET, params![id], from_row)
}

pub(crate) fn list(conn: &dyn Conn) -> Result<Vec<Tenant>> {
    const LIST: Statement = Statement {
        sqlite: concat!("SELECT ", columns!(), " FROM tenants ORDER BY id"),
        postgres: concat!("SELECT ", columns!(), " FROM tenants ORDER BY id"),
    };
    conn.rows(&LIST, params![], from_row)
}

pub(crate) fn update(conn: &dyn Conn, tenant: &Tenant, now: i64) -> Result<()> {
    const UPDATE: Statement = Statement {
        sqlite: "UPDATE tenants SET name = ?2, status = ?3, policy = ?4, limits = ?5, updated_at = ?6
                 WHERE id = ?1",
        postgres: "UPDATE tenants SET name = $2, status = $3, policy = $4, limits = $5, updated_at = $6
                   WHERE id = $1",
    };
    validate(tenant)?;
    let limits = tenant.limits.as_ref().map(crate::sql::json_text).transpose()?;
    let updated = conn.execute(
        &UPDATE,
        params![
            tenant.id.as_str(),
            tenant.name,
            tenant.status.as_str(),
            tenant.policy.as_ref().map(JsonText),
            limits,
            now
        ],
    )?;
    if updated == 0 {
        return Err(Error::not_found(format!("tenant not found: {}", tenant.id)));
    }
    Ok(())
}

//! API tokens: creation, validation, expiry and revocation, and their SQL.
//!
//! Rules (CONTRACT.md section 2):
//! * a token is `jst_` followed by 64 hex digits: 256 bits from the operating system's random
//!   source; the plaintext is returned once, at creation, and never stored;
//! * only its SHA-256 is stored; validation looks the hash up (a lookup by a hash of a
//!   high-entropy secret reveals nothing useful through timing) and then compares the stored
//!   hash in constant time;
//! * a token is live while not revoked and not expired (by the store's clock); validating a
//!   live token records its last use; a view sees only its tenant's tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::{from_micros, to_micros};
use crate::error::{Error, Result};
use crate::registry::default_tenant_string;
use crate::sql::{params, Conn, Row, Statement};
use crate::tenant::{self, Scope, DEFAULT_TENANT};

/// The fixed prefix of every plaintext token, so that leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "jst_";

/// Metadata of an API token; never holds the plaintext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: String,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default = "default_tenant_string")]
    pub tenant_id: String,
}

/// A token's metadata with its revocation and use, for listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    pub info: ApiToken,
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub last_used_at: Option<DateTime<Utc>>,
}

fn hash(plaintext: &str) -> [u8; 32] {
    Sha256::digest(plaintext.as_bytes()).into()
}

fn new_plaintext() -> Result<String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|err| Error::database(format!("the operating system's random source failed: {err}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(secret)))
}

/// Creates a token for the scope's tenant (`default` unscoped); returns the plaintext, once.
pub(crate) fn create(
    conn: &dyn Conn,
    scope: Scope<'_>,
    name: &str,
    role: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(String, ApiToken)> {
    const INSERT: Statement = Statement {
        sqlite: "INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        postgres: "INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)",
    };
    if name.is_empty() || role.is_empty() {
        return Err(Error::invalid("a token needs a name and a role"));
    }
    let tenant_id = scope.unwrap_or(DEFAULT_TENANT);
    tenant::ensure_exists(conn, tenant_id)?;
    let plaintext = new_plaintext()?;
    let id = uuid::Uuid::new_v4();
    conn.execute(&INSERT, params![id, tenant_id, name, role, hash(&plaintext).as_slice(), now, expires_at])?;
    let info = ApiToken {
        id: id.to_string(),
        name: name.to_string(),
        role: role.to_string(),
        created_at: from_micros(now),
        expires_at: expires_at.map(from_micros),
        tenant_id: tenant_id.to_string(),
    };
    Ok((plaintext, info))
}

macro_rules! columns {
    () => {
        "id, name, role, created_at, expires_at, tenant_id, revoked_at, last_used_at"
    };
}

fn from_row(row: &Row<'_>) -> Result<TokenRecord> {
    Ok(TokenRecord {
        info: ApiToken {
            id: row.get::<uuid::Uuid>(0)?.to_string(),
            name: row.get(1)?,
            role: row.get(2)?,
            created_at: from_micros(row.get(3)?),
            expires_at: row.get::<Option<i64>>(4)?.map(from_micros),
            tenant_id: row.get(5)?,
        },
        revoked_at: row.get::<Option<i64>>(6)?.map(from_micros),
        last_used_at: row.get::<Option<i64>>(7)?.map(from_micros),
    })
}

pub(crate) fn validate(conn: &dyn Conn, scope: Scope<'_>, plaintext: &str, now: i64) -> Result<Option<ApiToken>> {
    if !plaintext.starts_with(TOKEN_PREFIX) || plaintext.len() > 256 {
        return Ok(None);
    }
    let presented = hash(plaintext);
    const FIND: Statement = Statement {
        sqlite: concat!(
            "SELECT ",
            columns!(),
            ", token_hash FROM api_tokens WHERE token_hash = ?1 AND (?2 IS NULL OR tenant_id = ?2)"
        ),
        postgres: concat!(
            "SELECT ",
            columns!(),
            ", token_hash FROM api_tokens WHERE token_hash = $1 AND ($2::text IS NULL OR tenant_id = $2)"
        ),
    };
    const USED: Statement = Statement {
        sqlite: "UPDATE api_tokens SET last_used_at = ?2 WHERE token_hash = ?1",
        postgres: "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1",
    };
    let found =
        conn.row(&FIND, params![presented.as_slice(), scope], |row| Ok((from_row(row)?, row.get::<Vec<u8>>(8)?)))?;
    let Some((record, stored)) = found else { return Ok(None) };
    if !bool::from(stored.as_slice().ct_eq(presented.as_slice())) {
        return Ok(None);
    }
    let expired = record.info.expires_at.is_some_and(|at| to_micros(&at) <= now);
    if record.revoked_at.is_some() || expired {
        return Ok(None);
    }
    conn.execute(&USED, params![presented.as_slice(), now])?;
    Ok(Some(record.info))
}

fn parse_id(id: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id).map_err(|_| Error::invalid(format!("malformed token id {id:?}: expected a UUID")))
}

/// Revokes a token: it never validates again. Revoking twice keeps the first time.
/// An unknown token (or another tenant's): NotFound.
pub(crate) fn revoke(conn: &dyn Conn, scope: Scope<'_>, id: &str, now: i64) -> Result<()> {
    const REVOKE: Statement = Statement {
        sqlite: "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?3)
                 WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
        postgres: "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $3)
                   WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
    };
    let id = parse_id(id)?;
    let updated = conn.execute(&REVOKE, params![id, scope, now])?;
    if updated == 0 {
        return Err(Error::not_found(format!("token not found: {id}")));
    }
    Ok(())
}

/// Every token of the scope, oldest first (ties in creation order).
pub(crate) fn list(conn: &dyn Conn, scope: Scope<'_>) -> Result<Vec<TokenRecord>> {
    // Ties of creation time in the order of writing: SQLite's rowid, PostgreSQL's `position`.
    const LIST: Statement = Statement {
        sqlite: concat!(
            "SELECT ",
            columns!(),
            " FROM api_tokens WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY created_at, rowid"
        ),
        postgres: concat!(
            "SELECT ",
            columns!(),
            " FROM api_tokens WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY created_at, position"
        ),
    };
    conn.rows(&LIST, params![scope], from_row)
}

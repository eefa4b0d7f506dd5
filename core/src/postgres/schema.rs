//! The schema on PostgreSQL and its migrations.
//!
//! A store is the set of jetstate's tables in one schema of a database (`public` unless the URL
//! names another), recognised by its `jetstate_schema` table, which holds the versions applied.
//! Opening:
//! * an empty schema (or none yet) is initialised;
//! * an older store is migrated forward;
//! * a store of a newer version is refused, and nothing is written to it;
//! * a schema that holds tables of jetstate's names without `jetstate_schema` is refused (it is
//!   another application's), and nothing is written to it.
//!
//! All of it runs in one transaction under an advisory lock keyed by the schema's name, so that
//! two processes opening a fresh database at once end with one schema: the second waits, then
//! finds the first one's work and has nothing to do.

use super::driver::Client;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::sqlite::schema::SCHEMA_VERSION;
use crate::tenant::DEFAULT_TENANT;

use super::error;

/// The migrations, by the schema version each brings a store to. The versions are the logical
/// schema's, shared with SQLite (an export names its version); PostgreSQL's first file brings a
/// new store straight to version 3.
const MIGRATIONS: &[(i64, &str)] = &[
    (3, include_str!("../../migrations/postgres/0003_initial.sql")),
    (4, include_str!("../../migrations/postgres/0004_queue_options.sql")),
    (5, include_str!("../../migrations/postgres/0005_queue_rate_grants.sql")),
];

/// The schema name, quoted as an identifier.
pub(crate) fn quoted(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// Brings the store in `schema` to [`SCHEMA_VERSION`], or refuses it (see the module).
pub(crate) fn migrate(client: &Client, schema: &str, clock: &Clock, read_only: bool) -> Result<()> {
    client.batch_execute("BEGIN").map_err(error)?;
    match migrate_in(client, schema, clock, read_only) {
        Ok(()) => client.batch_execute("COMMIT").map_err(error),
        Err(err) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(err)
        }
    }
}

/// The migration's statements, inside its transaction.
fn migrate_in(tx: &Client, schema: &str, clock: &Clock, read_only: bool) -> Result<()> {
    // Keyed by the schema, so that stores in other schemas of the database do not wait.
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('jetstate:' || $1, 0))", &[&schema]).map_err(error)?;
    let exists: bool = tx
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", &[&schema])
        .map_err(error)?
        .get(0);
    let tables: Vec<String> = if exists {
        tx.query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v')",
            &[&schema],
        )
        .map_err(error)?
        .iter()
        .map(|row| row.get(0))
        .collect()
    } else {
        Vec::new()
    };
    let version: i64 = if tables.iter().any(|t| t == "jetstate_schema") {
        tx.query_one(&format!("SELECT coalesce(max(version), 0) FROM {}.jetstate_schema", quoted(schema)), &[])
            .map_err(error)?
            .get(0)
    } else {
        const OURS: [&str; 11] = [
            "tenants",
            "workflow_definitions",
            "executions",
            "events",
            "snapshots",
            "work_items",
            "api_tokens",
            "queues",
            "queue_rate_slots",
            "queue_rate_grants",
            "retention",
        ];
        if let Some(theirs) = tables.iter().find(|t| OURS.contains(&t.as_str())) {
            return Err(Error::database(format!(
                "schema {schema:?} holds a table {theirs:?} of another application, not a jetstate store; it was \
                 left unmodified (name a schema of jetstate's own with ?schema=NAME)"
            )));
        }
        0
    };
    if version > SCHEMA_VERSION {
        return Err(Error::database(format!(
            "database schema version {version} is newer than this library's ({SCHEMA_VERSION}); upgrade jetstate to \
             open it (the store was left unmodified)"
        )));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if read_only {
        return Err(Error::database(format!(
            "the store in schema {schema:?} is at version {version}, not {SCHEMA_VERSION}: open it read-write once to \
             migrate it"
        )));
    }
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA {}", quoted(schema))).map_err(error)?;
    }
    tx.batch_execute(&format!("SET LOCAL search_path TO {}", quoted(schema))).map_err(error)?;
    let now = clock.now_micros();
    for (to, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
        tx.batch_execute(sql).map_err(|err| {
            let err = error(err);
            Error::database(format!("migration to schema version {to} failed: {}", err.message()))
        })?;
        tx.execute("INSERT INTO jetstate_schema (version, applied_at) VALUES ($1, $2)", &[to, &now]).map_err(error)?;
    }
    tx.execute(
        "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ($1, 'Default', 'active', $2, $2)
         ON CONFLICT (id) DO NOTHING",
        &[&DEFAULT_TENANT, &now],
    )
    .map_err(error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_migration_is_the_schema_version() {
        assert_eq!(MIGRATIONS.last().map(|(to, _)| *to), Some(SCHEMA_VERSION));
        assert!(MIGRATIONS.windows(2).all(|pair| pair[0].0 < pair[1].0), "in order");
    }
}

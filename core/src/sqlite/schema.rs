//! The schema and its versioned migrations.
//!
//! A jetstate file is recognised by `PRAGMA application_id` and carries its schema version in
//! `PRAGMA user_version`. Opening a file:
//! * an empty file (no tables, no application id) is initialised;
//! * an older jetstate file is migrated forward, all steps in one transaction;
//! * a file of a newer version, a SQLite file of another application, or a file that is not
//!   SQLite at all is refused with a clear error, and nothing is written to it.
//!
//! The identification only reads: it runs before any pragma that writes (such as switching the
//! journal to WAL), so a refused file is left byte for byte as it was.

use rusqlite::{params, Connection, TransactionBehavior};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::tenant::DEFAULT_TENANT;

/// `application_id` of every jetstate file: the bytes "JETS".
pub const APPLICATION_ID: i32 = 0x4A45_5453;

/// The migrations, in order; migration `n` (1-based) brings a file to schema version `n`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_queue_status_check.sql"),
    include_str!("../../migrations/sqlite/0003_queue_open_index.sql"),
    include_str!("../../migrations/sqlite/0004_queue_options.sql"),
    include_str!("../../migrations/sqlite/0005_queue_rate_grants.sql"),
];

/// The schema version this library writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What a file holds, read before anything is written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileState {
    /// No tables and no application id: a new or empty file.
    Empty,
    /// A jetstate file at the given schema version.
    Jetstate(i64),
}

fn inspect(conn: &Connection) -> Result<FileState> {
    // The first read of the header is where SQLite notices a file that is not a database.
    let application_id: i32 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
    match application_id {
        APPLICATION_ID => Ok(FileState::Jetstate(version)),
        0 if objects == 0 && version == 0 => Ok(FileState::Empty),
        _ => Err(Error::database(
            "file is a SQLite database of another application, not a jetstate database; \
             it was left unmodified",
        )),
    }
}

/// Refuses files this library must not touch. Only reads.
pub(crate) fn check_file(conn: &Connection) -> Result<()> {
    match inspect(conn)? {
        FileState::Jetstate(version) if version > SCHEMA_VERSION => Err(Error::database(format!(
            "database schema version {version} is newer than this library's ({SCHEMA_VERSION}); \
             upgrade jetstate to open it (the file was left unmodified)"
        ))),
        _ => Ok(()),
    }
}

/// For a read-only open, which cannot migrate: the file must be a jetstate database of exactly
/// this library's schema version. Only reads.
pub(crate) fn check_current(conn: &Connection) -> Result<()> {
    match inspect(conn)? {
        FileState::Empty => {
            Err(Error::database("file is empty, not a jetstate database (a read-only open cannot create one)"))
        }
        FileState::Jetstate(version) if version < SCHEMA_VERSION => Err(Error::database(format!(
            "database schema version {version} is older than this library's ({SCHEMA_VERSION}); open it read-write \
             once to migrate it"
        ))),
        FileState::Jetstate(_) => Ok(()),
    }
}

/// Brings the file to [`SCHEMA_VERSION`]: every pending migration, the version stamp and the
/// default tenant in one immediate transaction, so that two processes opening a new file at once
/// migrate it exactly once and a crash leaves either the old schema or the new one.
pub(crate) fn migrate(conn: &mut Connection, clock: &Clock) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let from = match inspect(&tx)? {
        FileState::Empty => 0,
        FileState::Jetstate(version) if version > SCHEMA_VERSION => {
            return Err(Error::database(format!(
                "database schema version {version} is newer than this library's ({SCHEMA_VERSION})"
            )))
        }
        FileState::Jetstate(version) => version,
    };
    if from == SCHEMA_VERSION {
        return Ok(()); // dropping `tx` rolls back the empty transaction
    }
    for sql in &MIGRATIONS[from as usize..] {
        tx.execute_batch(sql)?;
    }
    crate::queue::index_tenant_views(&*tx as &Connection)?;
    let now = clock.now_micros();
    tx.execute(
        "INSERT OR IGNORE INTO tenants (id, name, status, created_at, updated_at)
         VALUES (?1, 'Default', 'active', ?2, ?2)",
        params![DEFAULT_TENANT, now],
    )?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// `PRAGMA integrity_check`: `["ok"]`, or the problems found.
pub(crate) fn integrity_check(conn: &Connection) -> Result<Vec<String>> {
    let mut statement = conn.prepare("PRAGMA integrity_check")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The steps of SQLite's plan for `sql` on a freshly migrated database, for tests that check a
/// statement reads an index instead of sorting.
#[cfg(test)]
pub(crate) fn query_plan(sql: &str) -> Vec<String> {
    let mut conn = Connection::open_in_memory().expect("memory db");
    migrate(&mut conn, &Clock::system()).expect("migrated");
    // A second tenant, so that the index of tenant views' claims exists too.
    conn.execute(
        "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('t', 'T', 'active', 0, 0)",
        [],
    )
    .expect("a tenant");
    crate::queue::index_tenant_views(&conn).expect("indexed");
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explainable");
    // The plan is fixed when the statement is prepared; the values bound do not change it.
    let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
    let rows = stmt.query_map(rusqlite::params_from_iter(unbound), |row| row.get::<_, String>(3)).expect("plan");
    rows.map(|row| row.expect("plan row")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        // File names carry the number; the list must hold them in order with no gaps.
        let first = MIGRATIONS[0];
        assert!(first.contains("schema, version 1"), "migration 1 is the initial schema");
        assert_eq!(SCHEMA_VERSION, MIGRATIONS.len() as i64);
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        let clock = Clock::system();
        migrate(&mut conn, &clock).expect("first migration");
        migrate(&mut conn, &clock).expect("second migration does nothing");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let tenants: i64 = conn.query_row("SELECT count(*) FROM tenants", [], |row| row.get(0)).expect("count");
        assert_eq!(tenants, 1);
    }

    #[test]
    fn foreign_files_and_newer_versions_are_refused() {
        let conn = Connection::open_in_memory().expect("memory db");
        conn.execute_batch("CREATE TABLE theirs (x)").expect("foreign table");
        assert_eq!(check_file(&conn).unwrap_err().kind(), crate::ErrorKind::Database);

        let conn = Connection::open_in_memory().expect("memory db");
        conn.pragma_update(None, "application_id", APPLICATION_ID).expect("id");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("version");
        let err = check_file(&conn).unwrap_err();
        assert!(err.message().contains("newer"), "{err}");
    }

    #[test]
    fn a_version_1_file_is_migrated_with_its_queue_intact() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        conn.execute_batch(MIGRATIONS[0]).expect("version 1");
        conn.execute_batch(
            "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('default', 'Default', 'active', 1, 1);
             INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
                 max_attempts, created_at, lease_token, updated_at)
             VALUES (x'01', 'default', x'02', 'n', 'q', '{}', 'claimed', 1, 3, 5, 7, 6);
             -- Rows no version of this library wrote, which version 3's CHECKs refuse: a claimed
             -- item without a lease expiry (above), a pending one with a stale expiry.
             INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
                 max_attempts, created_at, lease_expires_at, updated_at)
             VALUES (x'03', 'default', x'02', 'n', 'q', '{}', 'pending', 0, 3, 8, 9, 8);",
        )
        .expect("a version 1 queue");
        conn.pragma_update(None, "application_id", APPLICATION_ID).expect("ours");
        conn.pragma_update(None, "user_version", 1).expect("version 1");
        migrate(&mut conn, &Clock::system()).expect("migrated");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let kept = |id: u8| -> (String, i64, i64, Option<i64>) {
            conn.query_row(
                "SELECT status, lease_token, attempt, lease_expires_at FROM work_items WHERE id = ?1",
                [[id]],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .expect("the item is still there")
        };
        // Mended by version 3: the claimed item's lease has run out (at its last update), so the
        // next reclaim counts its attempt; the pending item is claimable again.
        assert_eq!(kept(1), ("claimed".to_string(), 7, 1, Some(6)));
        assert_eq!(kept(3), ("pending".to_string(), 0, 0, None));
        let refused = conn.execute("UPDATE work_items SET status = 'lost' WHERE id = x'01'", []);
        assert!(refused.is_err(), "the status CHECK still holds");
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'work_items'",
                [],
                |row| row.get(0),
            )
            .expect("indexes");
        assert_eq!(indexes, 3, "the key, work_items_open and work_items_unique (one tenant: no index for views)");
        let refused = conn.execute("UPDATE work_items SET lease_expires_at = 1 WHERE id = x'03'", []);
        assert!(refused.is_err(), "a pending item has no lease expiry");
        let refused = conn.execute("UPDATE work_items SET lease_expires_at = NULL WHERE id = x'01'", []);
        assert!(refused.is_err(), "a claimed item has one");
        // The point of version 2: writing an item builds no ephemeral table.
        let mut explain = conn.prepare("EXPLAIN UPDATE work_items SET status = ?2 WHERE id = ?1").expect("explain");
        let ops: Vec<String> = explain
            .query_map([rusqlite::types::Null, rusqlite::types::Null], |row| row.get::<_, String>(1))
            .expect("steps")
            .map(|op| op.expect("op"))
            .collect();
        assert!(!ops.iter().any(|op| op == "OpenEphemeral"), "{ops:?}");
    }

    /// Version 5 turns the rate ring into a log: the slot at the ring's position is grant 1, the
    /// one before it the latest; a ring not yet full keeps its grants' order, numbered up to the
    /// limit, so that the next grant looks back on one that was never made.
    #[test]
    fn a_version_4_rate_ring_becomes_a_log_in_grant_order() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        for migration in &MIGRATIONS[..4] {
            conn.execute_batch(migration).expect("up to version 4");
        }
        conn.execute_batch(
            "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('default', 'Default', 'active', 1, 1);
             -- Wrapped: position 1 of 3, so slot 1 is the oldest, slot 0 the latest.
             INSERT INTO queues (queue_type, rate_limit, rate_period, rate_granted, updated_at)
                 VALUES ('full', 3, 1000, 1, 1);
             INSERT INTO queue_rate_slots (queue_type, slot, claimed_at)
                 VALUES ('full', 0, 30), ('full', 1, 10), ('full', 2, 20);
             -- Not yet full: 2 grants of 5.
             INSERT INTO queues (queue_type, rate_limit, rate_period, rate_granted, updated_at)
                 VALUES ('young', 5, 1000, 2, 1);
             INSERT INTO queue_rate_slots (queue_type, slot, claimed_at) VALUES ('young', 0, 1), ('young', 1, 2);",
        )
        .expect("version 4 rings");
        conn.pragma_update(None, "application_id", APPLICATION_ID).expect("ours");
        conn.pragma_update(None, "user_version", 4).expect("version 4");
        migrate(&mut conn, &Clock::system()).expect("migrated");
        let log: Vec<(String, i64, i64)> = conn
            .prepare("SELECT queue_type, seq, claimed_at FROM queue_rate_grants ORDER BY queue_type, seq")
            .expect("query")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("rows")
            .map(|row| row.expect("row"))
            .collect();
        let grant = |queue: &str, seq, at| (queue.to_string(), seq, at);
        assert_eq!(
            log,
            [
                grant("full", 1, 10),
                grant("full", 2, 20),
                grant("full", 3, 30),
                grant("young", 4, 1),
                grant("young", 5, 2)
            ]
        );
        let columns: i64 = conn
            .query_row("SELECT count(*) FROM pragma_table_info('queues') WHERE name = 'rate_granted'", [], |row| {
                row.get(0)
            })
            .expect("columns");
        assert_eq!(columns, 0, "the ring's position is gone");
    }

    #[test]
    fn a_file_of_several_tenants_keeps_the_index_of_tenant_views_across_later_versions() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        conn.execute_batch(MIGRATIONS[0]).expect("version 1");
        conn.execute_batch(MIGRATIONS[1]).expect("version 2");
        conn.execute_batch(
            "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('default', 'Default', 'active', 1, 1);
             INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('acme', 'Acme', 'active', 1, 1);",
        )
        .expect("two tenants");
        conn.pragma_update(None, "application_id", APPLICATION_ID).expect("ours");
        conn.pragma_update(None, "user_version", 2).expect("version 2");
        migrate(&mut conn, &Clock::system()).expect("migrated");
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'work_items' ORDER BY name")
            .expect("query")
            .query_map([], |row| row.get(0))
            .expect("rows")
            .map(|name| name.expect("name"))
            .collect();
        assert_eq!(
            names,
            ["sqlite_autoindex_work_items_1", "work_items_open", "work_items_pending_by_tenant", "work_items_unique"]
        );
    }
}

//! The floor: raw rusqlite doing the least SQL one operation needs, on jetstate's own schema (so
//! that it writes the same rows and indexes) and at the same pragmas. Each operation is one
//! statement and one commit; concurrent workloads give each worker a connection of its own.
//! No validation, no tenant checks, no typed records: what is left is what SQLite must do.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rusqlite::{params, Connection};
use serde_json::Value;

use crate::{event_kind, initial_input, payload, timed, Measured, EXPIRED_LEASES, HISTORY};

fn open(path: &Path, full: bool) -> Connection {
    let conn = Connection::open(path).expect("opens");
    conn.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).expect("wal");
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" }).expect("synchronous");
    conn.pragma_update(None, "foreign_keys", "ON").expect("foreign keys");
    conn
}

/// A new file with jetstate's schema, built by jetstate itself (setup, not measured), so that the
/// floor never lags behind a migration: an earlier copy of the first migration alone missed two.
fn create(path: &Path, full: bool) -> Connection {
    jetstate::Store::open(path, jetstate::Options::default()).expect("schema").close().expect("closed");
    open(path, full)
}

/// Setup: move the WAL's pages into the database file (see jetstate_side.rs).
fn checkpoint(conn: &Connection) {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
}

fn now() -> i64 {
    Utc::now().timestamp_micros()
}

fn new_execution(conn: &Connection) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let input = initial_input().to_string();
    conn.prepare_cached(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status, initial_input, current_state,
             started_at, updated_at)
         VALUES (?1, 'default', 'bench', '1', 'running', ?2, ?2, ?3, ?3)",
    )
    .expect("prepare")
    .execute(params![id, input, now()])
    .expect("insert execution");
    id
}

fn append(conn: &Connection, execution: uuid::Uuid, sequence: usize) {
    let kind = event_kind(sequence);
    conn.prepare_cached(
        "INSERT INTO events (execution_id, sequence, id, event_type, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .expect("prepare")
    .execute(params![execution, sequence as i64, uuid::Uuid::new_v4(), "node_completed", kind.to_string(), now()])
    .expect("append");
}

fn enqueue(conn: &Connection, execution: uuid::Uuid, n: usize) {
    conn.prepare_cached(
        "INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
             max_attempts, created_at, updated_at, run_at)
         VALUES (?1, 'default', ?2, ?3, 'q', ?4, 'pending', 0, 3, ?5, ?5, ?5)",
    )
    .expect("prepare")
    .execute(params![uuid::Uuid::new_v4(), execution, format!("node-{}", n % 10), payload(n).to_string(), now()])
    .expect("enqueue");
}

/// A work item as the operations return it: every field, the payload parsed.
type Item = (uuid::Uuid, uuid::Uuid, String, String, Value, i64, i64, i64, Option<i64>, Option<String>, String);

const ITEM_COLUMNS: &str = "id, execution_id, node_id, queue_type, payload, attempt, max_attempts, created_at, \
                            lease_expires_at, worker_id, tenant_id";

fn item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let payload: String = row.get(4)?;
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        serde_json::from_str(&payload).expect("payload"),
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

/// One statement: take the head of the queue and lease it; returns the whole item.
fn claim(conn: &Connection, worker: &str) -> Option<(uuid::Uuid, Item)> {
    let now = now();
    conn.prepare_cached(&format!(
        "UPDATE work_items SET status = 'claimed', worker_id = ?1, lease_expires_at = ?2,
             lease_token = lease_token + 1, updated_at = ?3
         WHERE id = (SELECT id FROM work_items INDEXED BY work_items_open
                     WHERE status = 'pending' AND lease_expires_at IS NULL AND queue_type = 'q' AND (retry_after IS NULL OR retry_after <= ?3)
                     ORDER BY priority, run_at, id LIMIT 1)
         RETURNING {ITEM_COLUMNS}"
    ))
    .expect("prepare")
    .query_row(params![worker, now + 30_000_000, now], |row| Ok((row.get(0)?, item(row)?)))
    .ok()
}

fn complete(conn: &Connection, id: uuid::Uuid) {
    conn.prepare_cached(
        "UPDATE work_items SET status = 'completed', lease_expires_at = NULL, updated_at = ?2 WHERE id = ?1",
    )
    .expect("prepare")
    .execute(params![id, now()])
    .expect("complete");
}

pub fn run(workload: &str, full: bool, dir: &Path, n: usize) -> Measured {
    let path = dir.join("floor.db");
    let conn = create(&path, full);
    match workload {
        "create_executions" => timed(|| {
            for _ in 0..n {
                new_execution(&conn);
            }
            n
        }),
        "append_one_writer" => {
            let execution = new_execution(&conn);
            timed(|| {
                for sequence in 1..=n {
                    append(&conn, execution, sequence);
                }
                n
            })
        }
        "append_8_writers" => {
            let executions: Vec<_> = (0..8).map(|_| new_execution(&conn)).collect();
            timed(|| {
                std::thread::scope(|scope| {
                    for execution in executions {
                        let path = path.clone();
                        scope.spawn(move || {
                            let conn = open(&path, full);
                            for sequence in 1..=n / 8 {
                                append(&conn, execution, sequence);
                            }
                        });
                    }
                });
                n / 8 * 8
            })
        }
        "read_history" => {
            let execution = new_execution(&conn);
            conn.execute_batch("BEGIN").expect("begin");
            for sequence in 1..=HISTORY {
                append(&conn, execution, sequence);
            }
            conn.execute_batch("COMMIT").expect("commit");
            checkpoint(&conn);
            timed(|| {
                let mut read = conn
                    .prepare_cached(
                        "SELECT sequence, id, kind, created_at FROM events WHERE execution_id = ?1 ORDER BY sequence",
                    )
                    .expect("prepare");
                for _ in 0..n {
                    let events: Vec<(i64, uuid::Uuid, Value, i64)> = read
                        .query_map([execution], |row| {
                            let text: String = row.get(2)?;
                            Ok((row.get(0)?, row.get(1)?, serde_json::from_str(&text).expect("kind"), row.get(3)?))
                        })
                        .expect("query")
                        .collect::<rusqlite::Result<_>>()
                        .expect("rows");
                    assert_eq!(events.len(), HISTORY);
                }
                n
            })
        }
        "queue_1_worker" => {
            let execution = new_execution(&conn);
            timed(|| {
                for k in 0..n {
                    enqueue(&conn, execution, k);
                    let (id, _) = claim(&conn, "worker").expect("an item");
                    complete(&conn, id);
                }
                n
            })
        }
        "queue_4_workers" => {
            let execution = new_execution(&conn);
            timed(|| {
                std::thread::scope(|scope| {
                    for w in 0..4 {
                        let path = path.clone();
                        scope.spawn(move || {
                            let conn = open(&path, full);
                            let worker = format!("worker-{w}");
                            let (mut enqueued, mut completed) = (0, 0);
                            while completed < n / 4 {
                                if enqueued < n / 4 {
                                    enqueue(&conn, execution, enqueued);
                                    enqueued += 1;
                                }
                                if let Some((id, _)) = claim(&conn, &worker) {
                                    complete(&conn, id);
                                    completed += 1;
                                }
                            }
                        });
                    }
                });
                n / 4 * 4
            })
        }
        "reclaim_1000" => {
            let execution = new_execution(&conn);
            let mut total = Measured { ops: 0, seconds: 0.0 };
            for _ in 0..n {
                conn.execute_batch("BEGIN").expect("begin");
                for k in 0..EXPIRED_LEASES {
                    enqueue(&conn, execution, k);
                }
                conn.execute_batch("COMMIT").expect("commit");
                conn.execute(
                    "UPDATE work_items SET status = 'claimed', worker_id = 'gone', lease_expires_at = 1, lease_token = 1
                     WHERE status = 'pending'",
                    [],
                )
                .expect("expire");
                checkpoint(&conn);
                let round = timed(|| {
                    // One statement: count the attempt, re-queue with a doubling backoff or dead-letter.
                    let now = now();
                    let mut reclaim = conn
                        .prepare_cached(&format!(
                            "UPDATE work_items INDEXED BY work_items_open
                             SET attempt = attempt + 1,
                                 status = CASE WHEN attempt + 1 < max_attempts THEN 'pending' ELSE 'dead_letter' END,
                                 retry_after = ?1 + min(64000000, 1000000 * (1 << attempt)),
                                 last_error = 'lease expired', worker_id = NULL, lease_expires_at = NULL,
                                 updated_at = ?1
                             WHERE status = 'claimed' AND lease_expires_at <= ?1
                             RETURNING {ITEM_COLUMNS}"
                        ))
                        .expect("prepare");
                    let rows: Vec<Item> = reclaim
                        .query_map([now], item)
                        .expect("reclaim")
                        .collect::<rusqlite::Result<_>>()
                        .expect("rows");
                    assert_eq!(rows.len(), EXPIRED_LEASES);
                    rows.len()
                });
                total.ops += round.ops;
                total.seconds += round.seconds;
                conn.execute(
                    "UPDATE work_items SET status = 'completed', retry_after = NULL WHERE status = 'pending'",
                    [],
                )
                .expect("clear");
            }
            total
        }
        "claim_1k_pending" | "claim_1m_pending" => {
            let execution = new_execution(&conn);
            let pending = if workload == "claim_1k_pending" { 1_000 } else { 1_000_000 };
            conn.execute_batch("BEGIN").expect("begin");
            for k in 0..pending {
                enqueue(&conn, execution, k);
            }
            conn.execute_batch("COMMIT").expect("commit");
            checkpoint(&conn);
            timed(|| {
                for _ in 0..n {
                    claim(&conn, "worker").expect("an item");
                }
                n
            })
        }
        other => panic!("unknown workload {other}"),
    }
}

//! The workloads on PostgreSQL: jetstate through `Arc<dyn StateBackend>` (`PostgresBackend`), the
//! same with each call on the caller's thread (`core`), and the floor: raw tokio-postgres (the
//! client library jetstate's engine uses) doing the least SQL one operation needs, one statement
//! and so one transaction per call, on jetstate's own schema, returning what the operation returns.
//! Each run gets the fresh schema its URL names (`bench/postgres.py` makes one per run). Setup that
//! the timed part does not measure uses raw SQL.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use jetstate::{Durability, Event, Options, PostgresBackend, StateBackend, Store, WorkItem};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

use crate::jetstate_side::{item, kind, workloads};
use crate::{event_kind, initial_input, payload, Measured, EXPIRED_LEASES, HISTORY};

pub fn run(implementation: &str, workload: &str, full: bool, url: &str, n: usize) -> Measured {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        match implementation {
            "jetstate" | "core" => jetstate(workload, full, url, n, implementation == "core").await,
            "floor" => floor(workload, full, url, n).await,
            other => panic!("unknown implementation {other}"),
        }
    })
}

/// A raw connection to the run's schema, at the run's durability.
async fn raw(url: &str, full: bool) -> Client {
    let (base, query) = url.split_once('?').expect("the run's URL names its schema");
    let schema =
        query.split('&').find_map(|pair| pair.strip_prefix("schema=")).expect("the run's URL names its schema");
    let (client, connection) = tokio_postgres::connect(base, NoTls).await.expect("raw connection");
    tokio::spawn(connection);
    let commit = if full { "on" } else { "off" };
    client
        .batch_execute(&format!("SET search_path TO \"{schema}\"; SET synchronous_commit = {commit}"))
        .await
        .expect("session");
    client
}

fn now() -> i64 {
    Utc::now().timestamp_micros()
}

// ── jetstate ─────────────────────────────────────────────────────────────────────────────────

async fn jetstate(workload: &str, full: bool, url: &str, n: usize, inline: bool) -> Measured {
    let durability = if full { Durability::Full } else { Durability::Normal };
    let pg = PostgresBackend::open_with(url, Options::default().durability(durability)).await.expect("opens");
    let backend: Arc<dyn StateBackend> =
        if inline { Arc::new(crate::inline::InlineBackend(pg.store().clone())) } else { Arc::new(pg.clone()) };
    let setup = raw(url, full).await;
    match workload {
        "create_executions" => workloads::create_executions(&backend, n).await,
        "append_one_writer" => workloads::append_one_writer(&backend, n).await,
        "append_8_writers" => workloads::append_8_writers(&backend, n).await,
        "read_history" => {
            let id = workloads::created(&backend).await;
            let events: Vec<Event> = (1..=HISTORY).map(|s| Event::new(id.clone(), s as i64, kind(s))).collect();
            pg.store().append_events(events).expect("history");
            analyze(&setup).await;
            workloads::read_history(&backend, &id, n).await
        }
        "queue_1_worker" => workloads::queue_1_worker(&backend, n).await,
        "queue_4_workers" => workloads::queue_4_workers(&backend, n).await,
        "reclaim_1000" => {
            let id = workloads::created(&backend).await;
            let mut total = Measured { ops: 0, seconds: 0.0 };
            for _ in 0..n {
                let items: Vec<WorkItem> = (0..EXPIRED_LEASES).map(|k| item(&id, k)).collect();
                pg.store().enqueue_work_items(&items).expect("enqueue");
                expire_leases(&setup).await;
                let round = workloads::reclaim(&backend).await;
                (total.ops, total.seconds) = (total.ops + round.ops, total.seconds + round.seconds);
                complete_all(&setup).await;
            }
            total
        }
        "claim_1k_pending" | "claim_1m_pending" => {
            let id = workloads::created(&backend).await;
            let pending = if workload == "claim_1k_pending" { 1_000 } else { 1_000_000 };
            insert_pending(&setup, id.0, pending).await;
            workloads::claims(&backend, n).await
        }
        "churn" => churn(&backend, pg.store(), &setup, n).await,
        other => panic!("unknown workload {other}"),
    }
}

/// `n` queue cycles, then what they left behind: dead tuples and sizes, printed to stderr as JSON
/// for the driver (`bench/postgres.py`) after autovacuum had its chance.
async fn churn(backend: &Arc<dyn StateBackend>, store: &Store, setup: &Client, n: usize) -> Measured {
    let measured = workloads::queue_1_worker(backend, n).await;
    drop(store.summary());
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let row = setup
        .query_one(
            "SELECT n_live_tup, n_dead_tup, autovacuum_count, pg_total_relation_size(relid),
                    pg_indexes_size(relid)
             FROM pg_stat_user_tables WHERE relname = 'work_items' AND schemaname = current_schema()",
            &[],
        )
        .await
        .expect("stats");
    let (live, dead, vacuums, total, indexes): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    eprintln!(
        "{}",
        serde_json::json!({"churn": {"cycles": n, "live": live, "dead": dead, "autovacuums": vacuums,
            "table_bytes": total, "index_bytes": indexes}})
    );
    measured
}

async fn analyze(setup: &Client) {
    setup.batch_execute("VACUUM ANALYZE").await.expect("vacuum analyze");
}

async fn expire_leases(setup: &Client) {
    setup
        .execute(
            "UPDATE work_items SET status = 'claimed', worker_id = 'gone', lease_expires_at = 1, lease_token = 1
             WHERE status = 'pending'",
            &[],
        )
        .await
        .expect("expire");
    analyze(setup).await;
}

async fn complete_all(setup: &Client) {
    setup
        .execute("UPDATE work_items SET status = 'completed', retry_after = NULL WHERE status = 'pending'", &[])
        .await
        .expect("clear");
}

/// `count` pending items, inserted by one statement, then analyzed.
async fn insert_pending(setup: &Client, execution: uuid::Uuid, count: usize) {
    let base = now() - 10_000_000;
    setup
        .execute(
            "INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
                 max_attempts, created_at, updated_at, run_at)
             SELECT gen_random_uuid(), 'default', $1, 'node-' || (k % 10), 'q', $2, 'pending', 0, 3, $3 + k, $3 + k, $3 + k
             FROM generate_series(0::bigint, $4::bigint - 1) k",
            &[&execution, &payload(0).to_string(), &base, &(count as i64)],
        )
        .await
        .expect("pending items");
    analyze(setup).await;
}

// ── The floor ────────────────────────────────────────────────────────────────────────────────

/// A work item as the operations return it: every field, the payload parsed.
type Item = (uuid::Uuid, uuid::Uuid, String, String, Value, i64, i64, i64, Option<i64>, Option<String>, String);

const ITEM_COLUMNS: &str = "id, execution_id, node_id, queue_type, payload, attempt, max_attempts, created_at, \
                            lease_expires_at, worker_id, tenant_id";

fn item_of(row: &tokio_postgres::Row) -> Item {
    let payload: String = row.get(4);
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        serde_json::from_str(&payload).expect("payload"),
        row.get(5),
        row.get(6),
        row.get(7),
        row.get(8),
        row.get(9),
        row.get(10),
    )
}

async fn new_execution(conn: &Client) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let input = initial_input().to_string();
    conn.execute(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status, initial_input, current_state,
             started_at, updated_at)
         VALUES ($1, 'default', 'bench', '1', 'running', $2, $2, $3, $3)",
        &[&id, &input, &now()],
    )
    .await
    .expect("insert execution");
    id
}

async fn append(conn: &Client, execution: uuid::Uuid, sequence: usize) {
    let kind = event_kind(sequence).to_string();
    conn.execute(
        "INSERT INTO events (execution_id, sequence, id, event_type, kind, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&execution, &(sequence as i64), &uuid::Uuid::new_v4(), &"node_completed", &kind, &now()],
    )
    .await
    .expect("append");
}

async fn enqueue(conn: &Client, execution: uuid::Uuid, n: usize) {
    conn.execute(
        "INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
             max_attempts, created_at, updated_at, run_at)
         VALUES ($1, 'default', $2, $3, 'q', $4, 'pending', 0, 3, $5, $5, $5)",
        &[&uuid::Uuid::new_v4(), &execution, &format!("node-{}", n % 10), &payload(n).to_string(), &now()],
    )
    .await
    .expect("enqueue");
}

/// One statement: take the head of the queue, skipping rows other claims hold, and lease it.
async fn claim(conn: &Client, worker: &str) -> Option<Item> {
    let now = now();
    let rows = conn
        .query(
            &format!(
                "UPDATE work_items SET status = 'claimed', worker_id = $1, lease_expires_at = $2,
                     lease_token = lease_token + 1, updated_at = $3
                 WHERE id = (SELECT id FROM work_items
                             WHERE status = 'pending' AND queue_type = 'q' AND (retry_after IS NULL OR retry_after <= $3)
                             ORDER BY priority, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING {ITEM_COLUMNS}"
            ),
            &[&worker, &(now + 30_000_000), &now],
        )
        .await
        .expect("claim");
    rows.first().map(item_of)
}

async fn complete(conn: &Client, id: uuid::Uuid) {
    conn.execute(
        "UPDATE work_items SET status = 'completed', lease_expires_at = NULL, updated_at = $2 WHERE id = $1",
        &[&id, &now()],
    )
    .await
    .expect("complete");
}

async fn floor(workload: &str, full: bool, url: &str, n: usize) -> Measured {
    // jetstate's schema, made by jetstate itself, so that the floor never lags a migration.
    Store::open(url, Options::default()).expect("the schema").close().expect("closed");
    let conn = raw(url, full).await;
    match workload {
        "create_executions" => {
            let began = Instant::now();
            for _ in 0..n {
                new_execution(&conn).await;
            }
            Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
        }
        "append_one_writer" => {
            let execution = new_execution(&conn).await;
            let began = Instant::now();
            for sequence in 1..=n {
                append(&conn, execution, sequence).await;
            }
            Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
        }
        "append_8_writers" => {
            let mut writers = Vec::new();
            for _ in 0..8 {
                writers.push((raw(url, full).await, new_execution(&conn).await));
            }
            let began = Instant::now();
            let tasks: Vec<_> = writers
                .into_iter()
                .map(|(conn, execution)| {
                    tokio::spawn(async move {
                        for sequence in 1..=n / 8 {
                            append(&conn, execution, sequence).await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("writer");
            }
            Measured { ops: n / 8 * 8, seconds: began.elapsed().as_secs_f64() }
        }
        "read_history" => {
            let execution = new_execution(&conn).await;
            conn.batch_execute("BEGIN").await.expect("begin");
            for sequence in 1..=HISTORY {
                append(&conn, execution, sequence).await;
            }
            conn.batch_execute("COMMIT").await.expect("commit");
            analyze(&conn).await;
            let read = conn
                .prepare("SELECT sequence, id, kind, created_at FROM events WHERE execution_id = $1 ORDER BY sequence")
                .await
                .expect("prepare");
            let began = Instant::now();
            for _ in 0..n {
                let rows = conn.query(&read, &[&execution]).await.expect("read");
                let events: Vec<(i64, uuid::Uuid, Value, i64)> = rows
                    .iter()
                    .map(|row| {
                        let text: String = row.get(2);
                        (row.get(0), row.get(1), serde_json::from_str(&text).expect("kind"), row.get(3))
                    })
                    .collect();
                assert_eq!(events.len(), HISTORY);
            }
            Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
        }
        "queue_1_worker" | "churn" => {
            let execution = new_execution(&conn).await;
            let began = Instant::now();
            for k in 0..n {
                enqueue(&conn, execution, k).await;
                let item = claim(&conn, "worker").await.expect("an item");
                complete(&conn, item.0).await;
            }
            Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
        }
        "queue_4_workers" => {
            let execution = new_execution(&conn).await;
            let mut conns = Vec::new();
            for _ in 0..4 {
                conns.push(raw(url, full).await);
            }
            let began = Instant::now();
            let tasks: Vec<_> = conns
                .into_iter()
                .enumerate()
                .map(|(w, conn)| {
                    tokio::spawn(async move {
                        let worker = format!("worker-{w}");
                        let (mut enqueued, mut completed) = (0, 0);
                        while completed < n / 4 {
                            if enqueued < n / 4 {
                                enqueue(&conn, execution, enqueued).await;
                                enqueued += 1;
                            }
                            if let Some(item) = claim(&conn, &worker).await {
                                complete(&conn, item.0).await;
                                completed += 1;
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("worker");
            }
            Measured { ops: n / 4 * 4, seconds: began.elapsed().as_secs_f64() }
        }
        "reclaim_1000" => {
            let execution = new_execution(&conn).await;
            let mut total = Measured { ops: 0, seconds: 0.0 };
            for _ in 0..n {
                conn.batch_execute("BEGIN").await.expect("begin");
                for k in 0..EXPIRED_LEASES {
                    enqueue(&conn, execution, k).await;
                }
                conn.batch_execute("COMMIT").await.expect("commit");
                expire_leases(&conn).await;
                let began = Instant::now();
                // One statement: count the attempt, re-queue with a doubling backoff or dead-letter.
                let rows = conn
                    .query(
                        &format!(
                            "UPDATE work_items
                             SET attempt = attempt + 1,
                                 status = CASE WHEN attempt + 1 < max_attempts THEN 'pending' ELSE 'dead_letter' END,
                                 retry_after = $1 + least(64000000, 1000000 * (1 << attempt::int)),
                                 last_error = 'lease expired', worker_id = NULL, lease_expires_at = NULL,
                                 updated_at = $1
                             WHERE status = 'claimed' AND lease_expires_at <= $1
                             RETURNING {ITEM_COLUMNS}"
                        ),
                        &[&now()],
                    )
                    .await
                    .expect("reclaim");
                let items: Vec<Item> = rows.iter().map(item_of).collect();
                assert_eq!(items.len(), EXPIRED_LEASES);
                total.ops += items.len();
                total.seconds += began.elapsed().as_secs_f64();
                complete_all(&conn).await;
            }
            total
        }
        "claim_1k_pending" | "claim_1m_pending" => {
            let execution = new_execution(&conn).await;
            let pending = if workload == "claim_1k_pending" { 1_000 } else { 1_000_000 };
            insert_pending(&conn, execution, pending).await;
            let began = Instant::now();
            for _ in 0..n {
                claim(&conn, "worker").await.expect("an item");
            }
            Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
        }
        other => panic!("unknown workload {other}"),
    }
}

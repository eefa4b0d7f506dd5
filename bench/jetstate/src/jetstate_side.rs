//! The workloads on jetstate, through `Arc<dyn StateBackend>` on a tokio runtime, as the engine
//! calls it. Setup that the timed part does not measure may use the sync store or raw SQL.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jetstate::{
    Durability, Event, EventKind, ExecutionId, Options, SqliteBackend, StateBackend, WorkItem, WorkflowExecution,
    WorkflowStatus, DEFAULT_TENANT,
};

use crate::{event_kind, initial_input, payload, Measured, EXPIRED_LEASES, HISTORY};

#[path = "../../workloads.rs"]
pub(crate) mod workloads;

pub(crate) fn execution() -> WorkflowExecution {
    WorkflowExecution {
        execution_id: ExecutionId::new(),
        workflow_id: "bench".into(),
        workflow_version: "1".into(),
        status: WorkflowStatus::Running,
        initial_input: initial_input(),
        current_state: initial_input(),
        started_at: Utc::now(),
        updated_at: Utc::now(),
        completed_at: None,
        session_type: None,
    }
}

pub(crate) fn kind(n: usize) -> EventKind {
    EventKind::from_json(event_kind(n))
}

pub(crate) fn item(execution_id: &ExecutionId, n: usize) -> WorkItem {
    WorkItem {
        id: uuid::Uuid::new_v4(),
        execution_id: execution_id.clone(),
        node_id: format!("node-{}", n % 10),
        queue_type: "q".into(),
        payload: payload(n),
        attempt: 0,
        max_attempts: 3,
        created_at: Utc::now(),
        lease_expires_at: None,
        worker_id: None,
        tenant_id: DEFAULT_TENANT.into(),
    }
}

/// Runs `workload` through `Arc<dyn StateBackend>`: the real `SqliteBackend`, or with `inline`
/// the measuring device that runs each call on the caller's thread.
pub fn run(workload: &str, full: bool, dir: &Path, n: usize, inline: bool) -> Measured {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run_async(workload, full, dir, n, inline))
}

fn record_batching(backend: &SqliteBackend) {
    let stats = backend.store().write_stats();
    *crate::CALLS_PER_COMMIT.lock().expect("not poisoned") = Some(stats.calls as f64 / stats.commits.max(1) as f64);
}

async fn run_async(workload: &str, full: bool, dir: &Path, n: usize, inline: bool) -> Measured {
    let path = dir.join("jetstate.db");
    let durability = if full { Durability::Full } else { Durability::Normal };
    let sqlite =
        SqliteBackend::open_with(&format!("sqlite://{}", path.display()), Options::default().durability(durability))
            .await
            .expect("opens");
    let backend: Arc<dyn StateBackend> =
        if inline { Arc::new(crate::inline::InlineBackend(sqlite.store().clone())) } else { Arc::new(sqlite.clone()) };
    let measured = match workload {
        "create_executions" => workloads::create_executions(&backend, n).await,
        "append_one_writer" => workloads::append_one_writer(&backend, n).await,
        "append_8_writers" => workloads::append_8_writers(&backend, n).await,
        "read_history" => {
            let id = workloads::created(&backend).await;
            let events: Vec<Event> = (1..=HISTORY).map(|s| Event::new(id.clone(), s as i64, kind(s))).collect();
            sqlite.store().append_events(events).expect("history");
            checkpoint_raw(&path);
            workloads::read_history(&backend, &id, n).await
        }
        "queue_1_worker" => workloads::queue_1_worker(&backend, n).await,
        "queue_4_workers" => workloads::queue_4_workers(&backend, n).await,
        "reclaim_1000" => {
            let id = workloads::created(&backend).await;
            let mut total = Measured { ops: 0, seconds: 0.0 };
            for _ in 0..n {
                let items: Vec<WorkItem> = (0..EXPIRED_LEASES).map(|k| item(&id, k)).collect();
                sqlite.store().enqueue_work_items(&items).expect("enqueue");
                expire_leases_raw(&path);
                checkpoint_raw(&path);
                let round = workloads::reclaim(&backend).await;
                (total.ops, total.seconds) = (total.ops + round.ops, total.seconds + round.seconds);
                // Take the re-queued items out of the way of the next round.
                complete_all_raw(&path);
            }
            total
        }
        "claim_1k_pending" | "claim_1m_pending" => {
            let id = workloads::created(&backend).await;
            let pending = if workload == "claim_1k_pending" { 1_000 } else { 1_000_000 };
            insert_pending_raw(&path, &id, pending);
            checkpoint_raw(&path);
            workloads::claims(&backend, n).await
        }
        other => panic!("unknown workload {other}"),
    };
    record_batching(&sqlite);
    measured
}

fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("raw connection");
    conn.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    conn
}

/// Setup: move the WAL's pages into the database file, so that no timed commit pays for the
/// checkpoint of an untimed bulk setup.
fn checkpoint_raw(path: &Path) {
    raw(path).query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
}

/// Setup: every pending item becomes claimed with a lease that expired long ago.
fn expire_leases_raw(path: &Path) {
    raw(path)
        .execute(
            "UPDATE work_items SET status = 'claimed', worker_id = 'gone', lease_expires_at = 1, lease_token = 1
             WHERE status = 'pending'",
            [],
        )
        .expect("expire");
}

fn complete_all_raw(path: &Path) {
    raw(path)
        .execute("UPDATE work_items SET status = 'completed', retry_after = NULL WHERE status = 'pending'", [])
        .expect("clear");
}

/// Setup: `count` pending items, inserted in one transaction.
fn insert_pending_raw(path: &Path, execution_id: &ExecutionId, count: usize) {
    let mut conn = raw(path);
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
                     max_attempts, created_at, updated_at, run_at)
                 VALUES (?1, 'default', ?2, ?3, 'q', ?4, 'pending', 0, 3, ?5, ?5, ?5)",
            )
            .expect("insert");
        let base = Utc::now().timestamp_micros() - 10_000_000;
        let body = payload(0).to_string();
        for k in 0..count {
            insert
                .execute(rusqlite::params![
                    uuid::Uuid::new_v4(),
                    execution_id.0,
                    format!("node-{}", k % 10),
                    body,
                    base + k as i64
                ])
                .expect("row");
        }
    }
    tx.commit().expect("commit");
}

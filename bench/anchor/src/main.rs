//! One benchmark run on the anchor, the native engine's current SQLite backend (crate
//! jamjet-state 0.4.0): `anchor-bench anchor <workload> <full|normal> <dir> <n>`, printing the
//! same JSON line as `bench/jetstate`. The workloads mirror `bench/jetstate/src/jetstate_side.rs`
//! call for call; setup that its API would take hours over (a million pending items, expired
//! leases) goes through its own connection pool, untimed.
//!
//! Durability: the anchor opens its pool at synchronous=FULL and offers no option. For `normal`,
//! the harness sets `PRAGMA synchronous=NORMAL` on every connection of its pool (it exposes the
//! pool), before the timed part.

use std::sync::Arc;

use chrono::Utc;
use jamjet_core::workflow::{ExecutionId, WorkflowExecution, WorkflowStatus};
use jamjet_state::{Event, EventKind, SqliteBackend, StateBackend, WorkItem};
use serde_json::json;

#[path = "../../workload_data.rs"]
mod workload_data;
#[path = "../../workloads.rs"]
mod workloads;

use workload_data::{event_kind, initial_input, payload, Measured, EXPIRED_LEASES};
/// sqlx's default pool size: the connections that get the durability pragma.
const POOL_CONNECTIONS: usize = 10;

fn kind(n: usize) -> EventKind {
    serde_json::from_value(event_kind(n)).expect("a catalogued kind")
}

fn execution() -> WorkflowExecution {
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

fn item(execution_id: &ExecutionId, n: usize) -> WorkItem {
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
        tenant_id: "default".into(),
    }
}

/// Setup: move the WAL's pages into the database file, so that no timed commit pays for the
/// checkpoint of an untimed bulk setup.
async fn checkpoint(pool: &sqlx::SqlitePool) {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await.expect("checkpoint");
}

/// Sets synchronous=NORMAL on every connection of the anchor's pool, holding them all at once so
/// that each one gets it.
async fn set_normal(backend: &SqliteBackend) {
    let pool = backend.pool();
    let mut held = Vec::new();
    for _ in 0..POOL_CONNECTIONS {
        let mut conn = pool.acquire().await.expect("a pooled connection");
        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await.expect("pragma");
        held.push(conn);
    }
}

async fn run(workload: &str, full: bool, dir: &std::path::Path, n: usize) -> Measured {
    let url = format!("sqlite://{}?mode=rwc", dir.join("anchor.db").display());
    let sqlite = SqliteBackend::open(&url).await.expect("the anchor opens");
    if !full {
        set_normal(&sqlite).await;
    }
    let pool = sqlite.pool();
    let backend: Arc<dyn StateBackend> = Arc::new(sqlite);
    match workload {
        "create_executions" => workloads::create_executions(&backend, n).await,
        "append_one_writer" => workloads::append_one_writer(&backend, n).await,
        "append_8_writers" => workloads::append_8_writers(&backend, n).await,
        "read_history" => {
            let id = workloads::created(&backend).await;
            for sequence in 1..=workload_data::HISTORY {
                backend.append_event(Event::new(id.clone(), sequence as i64, kind(sequence))).await.expect("history");
            }
            checkpoint(&pool).await;
            workloads::read_history(&backend, &id, n).await
        }
        "queue_1_worker" => workloads::queue_1_worker(&backend, n).await,
        "queue_4_workers" => workloads::queue_4_workers(&backend, n).await,
        "reclaim_1000" => {
            let id = workloads::created(&backend).await;
            let mut total = Measured { ops: 0, seconds: 0.0 };
            for _ in 0..n {
                let mut tx = pool.begin().await.expect("tx");
                for k in 0..EXPIRED_LEASES {
                    let item = item(&id, k);
                    sqlx::query(
                        "INSERT INTO work_items (id, execution_id, node_id, queue_type, payload_json, attempt, status,
                             created_at, max_attempts)
                         VALUES (?, ?, ?, 'q', ?, 0, 'claimed', ?, 3)",
                    )
                    .bind(item.id.to_string())
                    .bind(id.0.to_string())
                    .bind(item.node_id)
                    .bind(item.payload.to_string())
                    .bind(Utc::now().to_rfc3339())
                    .execute(&mut *tx)
                    .await
                    .expect("insert");
                }
                sqlx::query("UPDATE work_items SET worker_id = 'gone', lease_expires_at = '2000-01-01T00:00:00+00:00' WHERE status = 'claimed'")
                    .execute(&mut *tx)
                    .await
                    .expect("expire");
                tx.commit().await.expect("commit");
                checkpoint(&pool).await;
                let round = workloads::reclaim(&backend).await;
                (total.ops, total.seconds) = (total.ops + round.ops, total.seconds + round.seconds);
                sqlx::query("UPDATE work_items SET status = 'completed', retry_after = NULL WHERE status = 'pending'")
                    .execute(&pool)
                    .await
                    .expect("clear");
            }
            total
        }
        "claim_1k_pending" | "claim_1m_pending" => {
            let id = workloads::created(&backend).await;
            let pending = if workload == "claim_1k_pending" { 1_000 } else { 1_000_000 };
            let base = Utc::now() - chrono::Duration::seconds(10);
            let mut tx = pool.begin().await.expect("tx");
            for k in 0..pending {
                sqlx::query(
                    "INSERT INTO work_items (id, execution_id, node_id, queue_type, payload_json, attempt, status, created_at, max_attempts)
                     VALUES (?, ?, ?, 'q', '{\"step\": 0}', 0, 'pending', ?, 3)",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(id.0.to_string())
                .bind(format!("node-{}", k % 10))
                .bind((base + chrono::Duration::microseconds(k as i64)).to_rfc3339())
                .execute(&mut *tx)
                .await
                .expect("insert");
            }
            tx.commit().await.expect("commit");
            checkpoint(&pool).await;
            workloads::claims(&backend, n).await
        }
        other => panic!("unknown workload {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 || args[1] != "anchor" {
        eprintln!("usage: anchor-bench anchor <workload> <full|normal> <dir> <n>");
        std::process::exit(2);
    }
    let full = match args[3].as_str() {
        "full" => true,
        "normal" => false,
        other => panic!("unknown durability {other}"),
    };
    let n: usize = args[5].parse().expect("n is a number");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let measured = runtime.block_on(run(&args[2], full, std::path::Path::new(&args[4]), n));
    println!(
        "{}",
        json!({"implementation": "anchor", "workload": args[2], "durability": args[3], "ops": measured.ops, "seconds": measured.seconds, "peak_rss_kib": peak_rss_kib()})
    );
}

/// This process's peak resident memory in KiB (`VmHWM`, which, unlike `ru_maxrss`, starts afresh
/// at exec: a child forked from a big parent does not inherit the parent's mark).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

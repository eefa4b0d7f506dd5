//! The timed part of every workload that only calls the engine's `StateBackend` trait, written
//! once for both benchmark programs: `bench/jetstate` includes it beside jetstate's types and
//! `bench/anchor` (its own workspace: sqlx and rusqlite cannot share one) beside the anchor's, so
//! that the two measure exactly the same calls. The including module provides `StateBackend`,
//! `Event`, `ExecutionId`, `WorkflowExecution` and the record builders `execution()`, `item()`,
//! `kind()`; setup that is not timed (bulk rows, checkpoints) stays with each side.

use std::sync::Arc;
use std::time::Instant;

use super::{execution, item, kind, Event, ExecutionId, StateBackend, WorkflowExecution};
use crate::workload_data::{Measured, EXPIRED_LEASES, HISTORY};

type Backend = Arc<dyn StateBackend>;

/// A new execution, created through the backend (untimed).
pub async fn created(backend: &Backend) -> ExecutionId {
    let exec = execution();
    backend.create_execution(exec.clone()).await.expect("created");
    exec.execution_id
}

pub async fn create_executions(backend: &Backend, n: usize) -> Measured {
    let executions: Vec<WorkflowExecution> = (0..n).map(|_| execution()).collect();
    let began = Instant::now();
    for execution in executions {
        backend.create_execution(execution).await.expect("created");
    }
    Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
}

pub async fn append_one_writer(backend: &Backend, n: usize) -> Measured {
    let id = created(backend).await;
    let began = Instant::now();
    for sequence in 1..=n {
        backend.append_event(Event::new(id.clone(), sequence as i64, kind(sequence))).await.expect("append");
    }
    Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
}

pub async fn append_8_writers(backend: &Backend, n: usize) -> Measured {
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(created(backend).await);
    }
    let began = Instant::now();
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let backend = Arc::clone(backend);
            tokio::spawn(async move {
                for sequence in 1..=n / 8 {
                    backend
                        .append_event(Event::new(id.clone(), sequence as i64, kind(sequence)))
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    Measured { ops: n / 8 * 8, seconds: began.elapsed().as_secs_f64() }
}

/// Reads the [`HISTORY`]-event history of `id` (written by the caller's setup) `n` times.
pub async fn read_history(backend: &Backend, id: &ExecutionId, n: usize) -> Measured {
    let began = Instant::now();
    for _ in 0..n {
        assert_eq!(backend.get_events(id).await.expect("read").len(), HISTORY);
    }
    Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
}

pub async fn queue_1_worker(backend: &Backend, n: usize) -> Measured {
    let id = created(backend).await;
    let began = Instant::now();
    for k in 0..n {
        backend.enqueue_work_item(item(&id, k)).await.expect("enqueue");
        let claimed = backend.claim_work_item("worker", &["q"]).await.expect("claim").expect("an item");
        backend.complete_work_item(claimed.id).await.expect("complete");
    }
    Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
}

pub async fn queue_4_workers(backend: &Backend, n: usize) -> Measured {
    let id = created(backend).await;
    let began = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let (backend, id) = (Arc::clone(backend), id.clone());
            tokio::spawn(async move {
                let worker = format!("worker-{w}");
                let (mut enqueued, mut completed) = (0, 0);
                while completed < n / 4 {
                    if enqueued < n / 4 {
                        backend.enqueue_work_item(item(&id, enqueued)).await.expect("enqueue");
                        enqueued += 1;
                    }
                    if let Some(claimed) = backend.claim_work_item(&worker, &["q"]).await.expect("claim") {
                        backend.complete_work_item(claimed.id).await.expect("complete");
                        completed += 1;
                    }
                }
                completed
            })
        })
        .collect();
    let mut ops = 0;
    for task in tasks {
        ops += task.await.expect("worker");
    }
    Measured { ops, seconds: began.elapsed().as_secs_f64() }
}

/// One reclaim pass over the expired leases the caller's setup made.
pub async fn reclaim(backend: &Backend) -> Measured {
    let began = Instant::now();
    let reclaimed = backend.reclaim_expired_leases().await.expect("reclaim");
    assert_eq!(reclaimed.retryable.len(), EXPIRED_LEASES);
    Measured { ops: EXPIRED_LEASES, seconds: began.elapsed().as_secs_f64() }
}

/// `n` claims from the pending items the caller's setup inserted.
pub async fn claims(backend: &Backend, n: usize) -> Measured {
    let began = Instant::now();
    for _ in 0..n {
        backend.claim_work_item("worker", &["q"]).await.expect("claim").expect("an item");
    }
    Measured { ops: n, seconds: began.elapsed().as_secs_f64() }
}
